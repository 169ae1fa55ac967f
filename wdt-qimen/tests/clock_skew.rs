//! A host clock off the gateway's: the client measures the gateway's clock from the `Date`
//! header of every answer (errors and throttles included) and stamps its requests by it, so the
//! native route, which refuses timestamps more than 120 s off, keeps answering.
#![cfg(feature = "simulator")]

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use wdt_qimen::limit::RateLimitConfig;
use wdt_qimen::retry::RetryConfig;
use wdt_qimen::simulator::Simulator;
use wdt_qimen::time::{parse_wdt, ShiftedClock};
use wdt_qimen::{Client, ErrorKind, RefundSearch, Route};

fn t(s: &str) -> NaiveDateTime {
    parse_wdt(s).unwrap()
}

async fn sim() -> Simulator {
    Simulator::builder()
        .seed(3)
        .refunds(50)
        .time_range(t("2024-01-01 00:00:00"), t("2024-01-10 00:00:00"))
        .start()
        .await
}

fn client(sim: &Simulator, qimen: bool, host_ahead: TimeDelta) -> Client {
    let route = if qimen {
        Route::Qimen {
            url: sim.qimen_url(),
            qimen: sim.qimen_credentials(),
            wdt: sim.wdt_credentials(),
        }
    } else {
        Route::Native {
            url: sim.native_url(),
            wdt: sim.wdt_credentials(),
        }
    };
    Client::builder(route)
        .clock(Arc::new(ShiftedClock::new(host_ahead)))
        .rate_limit(RateLimitConfig::unlimited())
        .retry(
            RetryConfig::default()
                .with_backoff(Duration::from_millis(1), Duration::from_millis(2))
                .with_throttle_wait(Duration::from_millis(1), Duration::from_millis(2)),
        )
        .build()
        .unwrap()
}

fn search() -> RefundSearch {
    RefundSearch::modified_between("2024-01-01 00:00:00", "2024-01-10 00:00:00")
        .unwrap()
        .page_size(10)
        .unwrap()
}

fn near(offset: TimeDelta, want: TimeDelta) -> bool {
    (offset - want).abs() < TimeDelta::seconds(2)
}

#[tokio::test]
async fn a_host_clock_beyond_the_gateways_slack_is_corrected_after_the_first_answer() {
    // 7 minutes is beyond the native route's 120 s, 11 minutes beyond Qimen's 10.
    for (qimen, ahead) in [(false, TimeDelta::minutes(7)), (true, TimeDelta::minutes(11))] {
        let sim = sim().await;
        let client = client(&sim, qimen, ahead);
        assert_eq!(client.clock_offset(), None);
        // The first request is refused for its timestamp; its answer's Date corrects the retry.
        let page = client.refund_page(&search(), 1).await.unwrap();
        assert_eq!(page.items.len(), 10);
        assert_eq!(
            (sim.stats().auth_failures, client.stats().retries),
            (1, 1),
            "qimen={qimen}"
        );
        let offset = client.clock_offset().expect("measured");
        assert!(near(offset.estimate(), -ahead), "qimen={qimen}: {offset}");
        // Every later request is accepted at once.
        for no in 2..=5 {
            client.refund_page(&search(), no).await.unwrap();
        }
        assert_eq!(
            (sim.stats().auth_failures, client.stats().retries),
            (1, 1),
            "qimen={qimen}"
        );
    }
}

#[tokio::test]
async fn refusals_and_throttles_correct_the_stamps_but_only_an_accepted_answer_is_trusted() {
    let sim = sim().await;
    sim.set_throttle_rate(1.0);
    let client = Client::builder(Route::Native {
        url: sim.native_url(),
        wdt: sim.wdt_credentials(),
    })
    .clock(Arc::new(ShiftedClock::new(TimeDelta::minutes(-3))))
    .rate_limit(RateLimitConfig::unlimited())
    .retry(RetryConfig::default().with_max_attempts(1))
    .build()
    .unwrap();
    // Refused for the timestamp (3 minutes slow), then throttled: the refusal's Date stamped the
    // second request right (else it would be refused again), but no window follows it.
    let e = client.refund_page(&search(), 1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timestamp, "{e}");
    assert_eq!(client.clock_offset(), None, "a refused answer is not trusted");
    let e = client.refund_page(&search(), 1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Throttled, "{e}");
    sim.set_throttle_rate(0.0);
    sim.set_transient_rate(1.0);
    let e = client.refund_page(&search(), 1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    assert_eq!(client.clock_offset(), None, "a failed answer is not trusted");
    // An answer that accepted its (corrected) timestamp is.
    sim.set_transient_rate(0.0);
    client.refund_page(&search(), 1).await.unwrap();
    let offset = client.clock_offset().expect("trusted once accepted");
    assert!(near(offset.estimate(), TimeDelta::minutes(3)), "{offset}");
    assert_eq!(sim.stats().auth_failures, 1);
}

#[tokio::test]
async fn a_proxys_date_far_off_does_not_get_the_requests_refused() {
    // A proxy writes its own Date, two days ahead; the gateway and this host agree. Stamping
    // requests by that Date would get every one refused.
    for qimen in [false, true] {
        let sim = sim().await;
        sim.set_date_shift(TimeDelta::days(2));
        let client = client(&sim, qimen, TimeDelta::zero());
        for no in 1..=3 {
            client
                .refund_page(&search(), no)
                .await
                .unwrap_or_else(|e| panic!("qimen={qimen}, page {no}: {e}"));
        }
        assert_eq!(sim.stats().auth_failures, 0, "qimen={qimen}");
        assert_eq!(client.clock_offset(), None, "qimen={qimen}");
    }
}
