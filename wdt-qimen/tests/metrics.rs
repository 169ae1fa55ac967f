//! The SDK's metrics carry the labels a client or engine is given (default: `account` = the
//! `sid`), and move with requests, throttles and commits.
#![cfg(feature = "simulator")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use wdt_qimen::limit::RateLimitConfig;
use wdt_qimen::retry::{RetryConfig, Sleep};
use wdt_qimen::simulator::Simulator;
use wdt_qimen::sync::{Batch, Checkpoint, CommitReport, Sink, StreamId, SyncConfig, SyncEngine};
use wdt_qimen::telemetry::{MetricLabels, METRICS};
use wdt_qimen::{Client, Refund, RefundSearch, Route};

/// Sleeps not at all (the waits are only recorded by the metrics).
#[derive(Debug)]
struct NoSleep;

impl Sleep for NoSleep {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// Counts every record as inserted; keeps the checkpoint.
#[derive(Default)]
struct CountingSink(Mutex<Option<Checkpoint>>);

#[async_trait]
impl Sink<Refund> for CountingSink {
    type Error = std::io::Error;
    async fn load_checkpoint(&self, _: &StreamId) -> Result<Option<Checkpoint>, Self::Error> {
        Ok(self.0.lock().unwrap().clone())
    }
    async fn commit(&self, batch: Batch<Refund>) -> Result<CommitReport, Self::Error> {
        if let Some(c) = batch.checkpoint {
            *self.0.lock().unwrap() = Some(c);
        }
        let mut r = CommitReport::default();
        r.inserted = batch.records.len() as u64;
        Ok(r)
    }
    async fn reset_checkpoint(&self, _: &StreamId, _: &Checkpoint) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The sum of the samples of `name` whose labels include every pair of `labels`, and how many.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> (f64, usize) {
    let mut found = (0.0, 0);
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        let set = rest.trim_end_matches('}');
        if metric == name
            && labels
                .iter()
                .all(|(k, v)| set.split(',').any(|p| p == format!("{k}=\"{v}\"")))
        {
            found.0 += value.parse::<f64>().unwrap();
            found.1 += 1;
        }
    }
    found
}

#[test]
fn a_client_s_metrics_carry_its_labels_and_count_throttles_and_their_waits() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            let sim = Simulator::builder().refunds(50).start().await;
            let route = || Route::Native {
                url: sim.native_url(),
                wdt: sim.wdt_credentials(),
            };
            let labelled = Client::builder(route())
                .metric_labels(MetricLabels::account("shop_x").with("region", "east"))
                .rate_limit(RateLimitConfig::unlimited())
                .retry(RetryConfig::default().with_max_attempts(3))
                .sleep(Arc::new(NoSleep))
                .build()
                .unwrap();
            let search = RefundSearch::modified_between("2024-06-01 00:00:00", "2024-06-02 00:00:00").unwrap();
            sim.set_throttle_rate(1.0);
            assert!(labelled.refund_page(&search, 1).await.is_err(), "throttled three times");
            sim.set_throttle_rate(0.0);
            labelled.refund_page(&search, 1).await.unwrap();
            // Without labels: `account` is the sid.
            let plain = Client::builder(route())
                .rate_limit(RateLimitConfig::unlimited())
                .build()
                .unwrap();
            plain.refund_page(&search, 1).await.unwrap();
            // An engine takes its client's labels, or its own, and adds `stream`.
            let engine = SyncEngine::new(labelled.clone(), CountingSink::default(), SyncConfig::default())
                .with_metric_labels(MetricLabels::account("shop_y"));
            let report = engine.run().await.unwrap();
            assert_eq!(report.refunds, 50);
        })
    });
    let text = handle.render();
    let method = "aftersales.refund.Refund.search";
    let x = [
        ("account", "shop_x"),
        ("region", "east"),
        ("route", "native"),
        ("method", method),
    ];
    let with = |extra: (&'static str, &'static str)| {
        let mut l = x.to_vec();
        l.push(extra);
        l
    };
    assert_eq!(sample(&text, "wdt_throttles_total", &x).0, 3.0, "{text}");
    assert_eq!(
        sample(&text, "wdt_requests_total", &with(("result", "throttled"))).0,
        3.0
    );
    assert!(sample(&text, "wdt_requests_total", &with(("result", "ok"))).0 >= 2.0);
    assert_eq!(
        sample(&text, "wdt_retries_total", &x).0,
        2.0,
        "the third throttle gives up"
    );
    // Two waits before the retries, each at least the 30 s a throttle without a hint waits.
    assert_eq!(sample(&text, "wdt_throttle_wait_seconds_count", &x).0, 2.0, "{text}");
    assert!(sample(&text, "wdt_throttle_wait_seconds_sum", &x).0 >= 60.0, "{text}");
    let sid = wdt_qimen::simulator::WDT_SID;
    assert_eq!(
        sample(
            &text,
            "wdt_requests_total",
            &[("account", sid), ("route", "native"), ("result", "ok")]
        ),
        (1.0, 1),
        "{text}"
    );
    let stream = format!("{sid}/{method}");
    let y = [("account", "shop_y"), ("stream", stream.as_str())];
    assert_eq!(sample(&text, "wdt_sync_refunds_total", &y).0, 50.0, "{text}");
    assert!(sample(&text, "wdt_sync_commit_seconds_count", &y).0 >= 1.0, "{text}");
    let mut rows = y.to_vec();
    rows.push(("kind", "inserted"));
    assert!(sample(&text, "wdt_sync_rows_total", &rows).0 >= 50.0, "{text}");
    // Every metric it exported is in the list it documents.
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|b| METRICS.iter().any(|d| d.name == *b))
            .unwrap_or(name);
        assert!(METRICS.iter().any(|d| d.name == base), "{name} is not in METRICS");
    }
}
