//! End to end against the real MariaDB: with refunds changing while they are paged (drift), one
//! sync and then a second leave the flat table exactly equal to the simulator's data: no refund
//! missing, none stale, no extra row (a detail line the drift removed is gone too).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use common::{base_url, db_url};
use mysql_async::prelude::Queryable;
use refund_sink_mysql::MySqlSink;
use wdt_qimen::limit::RateLimitConfig;
use wdt_qimen::retry::RetryConfig;
use wdt_qimen::simulator::Simulator;
use wdt_qimen::sync::{SyncConfig, SyncEngine};
use wdt_qimen::time::{from_epoch_ms, to_beijing, ShiftedClock};
use wdt_qimen::{Client, Route};

/// refund_id -> (modified, detail rec_ids; {0} for a refund without lines).
type Table = BTreeMap<i64, (NaiveDateTime, BTreeSet<i64>)>;

fn number(v: &serde_json::Value) -> i64 {
    v.to_string().trim_matches('"').parse().expect("an integer")
}

fn truth(sim: &Simulator) -> Table {
    sim.snapshot()
        .iter()
        .map(|v| {
            let lines: BTreeSet<i64> = v
                .get("detail_list")
                .and_then(|d| d.as_array())
                .map(|d| d.iter().map(|l| number(&l["rec_id"])).collect())
                .unwrap_or_default();
            let lines = if lines.is_empty() { BTreeSet::from([0]) } else { lines };
            (
                number(&v["refund_id"]),
                (from_epoch_ms(number(&v["modified"])).unwrap(), lines),
            )
        })
        .collect()
}

async fn stored(conn: &mut mysql_async::Conn, db: &str) -> Table {
    let rows: Vec<(i64, NaiveDateTime, i64)> = conn
        .query(format!(
            "SELECT refund_id, modified, detail_list_rec_id FROM `{db}`.aftersales_refund_refund_search"
        ))
        .await
        .unwrap();
    let mut out = Table::new();
    for (id, m, rec) in rows {
        let e = out.entry(id).or_insert_with(|| (m, BTreeSet::new()));
        assert_eq!(e.0, m, "rows of refund {id} disagree on modified");
        e.1.insert(rec);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_drift_two_syncs_leave_the_flat_table_equal_to_the_data() {
    let pool = mysql_async::Pool::new(base_url().as_str());
    let mut conn = pool
        .get_conn()
        .await
        .expect("MariaDB must run at MYSQL_URL (see README)");
    let db = format!("drift_mysql_{}", std::process::id());
    conn.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
    let url = db_url(&db);

    let now = to_beijing(chrono::Utc::now());
    // The gateway's clock, which the test moves forward instead of sleeping.
    let clock = std::sync::Arc::new(ShiftedClock::default());
    let sim = Simulator::builder()
        .clock(clock.clone())
        .seed(21)
        .refunds(1500)
        .time_range(now - TimeDelta::days(10), now - TimeDelta::hours(1))
        .drift(1)
        .start()
        .await;
    let client = Client::builder(Route::Qimen {
        url: sim.qimen_url(),
        qimen: sim.qimen_credentials(),
        wdt: sim.wdt_credentials(),
    })
    .clock(clock.clone())
    .rate_limit(RateLimitConfig::unlimited())
    .retry(RetryConfig::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5)))
    .build()
    .unwrap();
    let mut cfg = SyncConfig::default();
    cfg.start = now - TimeDelta::days(11);
    cfg.settle_lag = TimeDelta::zero();
    cfg.overlap = TimeDelta::seconds(5);
    cfg.page_size = 20;
    cfg.max_pages_per_window = 1000;
    cfg.batch_refunds = 200;
    let sink = MySqlSink::builder(&url).build().await.unwrap();
    let engine = SyncEngine::new(client, sink, cfg);

    let first = engine.run().await.unwrap();
    assert!(
        sim.stats().drifted_refunds > 0,
        "no drift happened: the test could not fail"
    );
    sim.set_drift(0);
    // Refunds drifted while the first run read lie after its end, which is up to a second (the
    // `Date` header's resolution) plus a round trip before the gateway's time.
    clock.advance(TimeDelta::seconds(5));
    let second = engine.run().await.unwrap();
    // Refunds that drifted before the first run saw them are read by the second.
    assert!(
        second.refunds > 0 && first.refunds + second.refunds >= 1500,
        "{first:?} {second:?}"
    );

    let (want, have) = (truth(&sim), stored(&mut conn, &db).await);
    let mut differences = Vec::new();
    for (id, w) in &want {
        match have.get(id) {
            None => differences.push(format!("{id} missing")),
            Some(h) if h != w => differences.push(format!("{id}: stored {h:?}, data {w:?}")),
            _ => {}
        }
    }
    differences.extend(
        have.keys()
            .filter(|k| !want.contains_key(k))
            .map(|k| format!("{k} extra")),
    );
    assert!(
        differences.is_empty(),
        "{} differences, first: {:?}",
        differences.len(),
        &differences[..differences.len().min(8)]
    );

    conn.query_drop(format!("DROP DATABASE `{db}`")).await.unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
}
