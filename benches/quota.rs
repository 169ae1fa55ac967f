//! Quota benchmark: how many requests a sync costs, beside the least it could cost.
//!
//! The quota (about one request per second per account) is what a sync spends, so requests are
//! the cost that matters. `cargo bench --bench quota` syncs a simulator holding a realistic
//! account (refunds spread from 2024-01-01 to an hour ago, the finished ones older than 90 days
//! archived, no drift) from 2024 into a sink that keeps nothing but its checkpoint, then runs
//! once more right away (an idle incremental run of one window), and prints, per account size
//! (QUOTA_BENCH_REFUNDS, a comma list, default `4988,20000`),
//! `quota first_sync_requests=… floor=… ratio=… idle_requests=…`.
//!
//! The floor is what a reader that knew the data beforehand would need: for every window of the
//! run and every method it reads (a first sync reads `Refund.search` and
//! `Refund.searchHistory`), one request for an empty window, `ceil(n / 200)` for one holding `n`
//! refunds (200 being the largest page the API allows). The goal is `ratio <= 1.1` and
//! `idle_requests = 1`. QUOTA_BENCH_PAGE_SIZE overrides the page size the engine reads with
//! (default: the engine's default); the floor stays at 200.

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{NaiveDateTime, TimeDelta};
use wdt_qimen::api::aftersales::MAX_PAGE_SIZE;
use wdt_qimen::limit::RateLimitConfig;
use wdt_qimen::simulator::Simulator;
use wdt_qimen::sync::{window, Batch, Checkpoint, CommitReport, Sink, StreamId, SyncConfig, SyncEngine};
use wdt_qimen::time::from_epoch_ms;
use wdt_qimen::{Client, Refund, Route};

/// Keeps the checkpoint only.
#[derive(Default)]
struct CheckpointOnly(Mutex<Option<Checkpoint>>);

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

#[async_trait]
impl Sink<Refund> for CheckpointOnly {
    type Error = Never;
    async fn load_checkpoint(&self, _: &StreamId) -> Result<Option<Checkpoint>, Never> {
        Ok(self.0.lock().unwrap().clone())
    }
    async fn commit(&self, batch: Batch<Refund>) -> Result<CommitReport, Never> {
        if let Some(c) = batch.checkpoint {
            *self.0.lock().unwrap() = Some(c);
        }
        Ok(CommitReport::default())
    }
    async fn reset_checkpoint(&self, _: &StreamId, c: &Checkpoint) -> Result<(), Never> {
        *self.0.lock().unwrap() = Some(c.clone());
        Ok(())
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The least number of requests that reads `windows` through a method holding refunds modified
/// at `times`, `page_size` a page.
fn floor(windows: &[wdt_qimen::sync::WindowBounds], times: &[NaiveDateTime], page_size: u64) -> u64 {
    windows
        .iter()
        .map(|w| {
            let n = times.iter().filter(|t| w.from <= **t && **t <= w.to).count() as u64;
            n.div_ceil(page_size).max(1)
        })
        .sum()
}

#[tokio::main]
async fn main() {
    let sizes = std::env::var("QUOTA_BENCH_REFUNDS").unwrap_or_else(|_| "4988,20000".into());
    for n in sizes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        measure(n.parse().expect("QUOTA_BENCH_REFUNDS: a comma list of refund counts")).await;
    }
}

/// Syncs an account of `refunds` refunds and prints its quota line.
async fn measure(refunds: usize) {
    let sim = Simulator::builder()
        .seed(7)
        .refunds(refunds)
        .archive_after(TimeDelta::days(90))
        .start()
        .await;
    let client = Client::builder(Route::Native {
        url: sim.native_url(),
        wdt: sim.wdt_credentials(),
    })
    .rate_limit(RateLimitConfig::unlimited())
    .build()
    .expect("a client of the simulator");
    let mut cfg = SyncConfig::default();
    cfg.page_size = env_or("QUOTA_BENCH_PAGE_SIZE", cfg.page_size);
    let (start, max_window, page_size) = (cfg.start, cfg.max_window, u64::from(MAX_PAGE_SIZE));
    let engine = SyncEngine::new(client, CheckpointOnly::default(), cfg);

    let before = sim.stats().requests;
    let first = engine.run().await.expect("the first sync");
    let first_sync_requests = sim.stats().requests - before;
    let end = first.checkpoint.expect("the first sync stores a checkpoint");

    // What the run read, by method: the archived refunds through the history method, the rest
    // through the live one.
    let archived: HashSet<u64> = sim.archived_ids().into_iter().collect();
    let (mut live, mut history) = (Vec::new(), Vec::new());
    for v in sim.snapshot() {
        let id: u64 = v["refund_id"].to_string().trim_matches('"').parse().expect("refund_id");
        let ms: i64 = v["modified"].to_string().trim_matches('"').parse().expect("modified");
        let t = from_epoch_ms(ms).expect("modified in range");
        if archived.contains(&id) {
            &mut history
        } else {
            &mut live
        }
        .push(t);
    }
    let windows = window::plan(start, end, max_window);
    let floor = floor(&windows, &live, page_size) + floor(&windows, &history, page_size);

    let before = sim.stats().requests;
    let idle = engine.run().await.expect("the idle run");
    let idle_requests = sim.stats().requests - before;
    assert_eq!(idle.windows_planned, 1, "the idle run plans one window: {idle:?}");

    println!(
        "quota first_sync_requests={first_sync_requests} floor={floor} ratio={:.3} idle_requests={idle_requests}",
        first_sync_requests as f64 / floor as f64
    );
}
