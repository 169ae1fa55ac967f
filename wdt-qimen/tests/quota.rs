//! What a sync costs in requests (the quota is the bottleneck), against a fixed simulator: a
//! first sync from 2024 stays within 1.1 × the floor, an idle incremental run of one window
//! costs exactly one request. Counts, not times.
#![cfg(feature = "simulator")]

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::NaiveDateTime;
use wdt_qimen::api::aftersales::MAX_PAGE_SIZE;
use wdt_qimen::limit::RateLimitConfig;
use wdt_qimen::simulator::Simulator;
use wdt_qimen::sync::{window, Batch, Checkpoint, CommitReport, Sink, StreamId, SyncConfig, SyncEngine, WindowBounds};
use wdt_qimen::time::{from_epoch_ms, parse_wdt};
use wdt_qimen::{Client, Refund, Route};

/// Keeps the checkpoint and the refund ids written.
#[derive(Default)]
struct Keep {
    checkpoint: Mutex<Option<Checkpoint>>,
    ids: Mutex<HashSet<i64>>,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

#[async_trait]
impl Sink<Refund> for Keep {
    type Error = Never;
    async fn load_checkpoint(&self, _: &StreamId) -> Result<Option<Checkpoint>, Never> {
        Ok(self.checkpoint.lock().unwrap().clone())
    }
    async fn commit(&self, batch: Batch<Refund>) -> Result<CommitReport, Never> {
        self.ids
            .lock()
            .unwrap()
            .extend(batch.records.iter().map(|r| r.refund_id));
        if let Some(c) = batch.checkpoint {
            *self.checkpoint.lock().unwrap() = Some(c);
        }
        Ok(CommitReport::default())
    }
    async fn reset_checkpoint(&self, _: &StreamId, c: &Checkpoint) -> Result<(), Never> {
        *self.checkpoint.lock().unwrap() = Some(c.clone());
        Ok(())
    }
}

/// One request per empty window, `ceil(n / 200)` per window holding `n` refunds.
fn floor(windows: &[WindowBounds], times: &[NaiveDateTime]) -> u64 {
    windows
        .iter()
        .map(|w| {
            let n = times.iter().filter(|t| w.from <= **t && **t <= w.to).count() as u64;
            n.div_ceil(u64::from(MAX_PAGE_SIZE)).max(1)
        })
        .sum()
}

#[tokio::test]
async fn a_first_sync_costs_close_to_the_floor_and_an_idle_run_one_request() {
    // 9 000 refunds from 2024 to November 2026, those finished before 2024-07 archived: windows
    // of two pages or more through Refund.search, of one or two through Refund.searchHistory.
    let archive_after = chrono::Utc::now().naive_utc() - parse_wdt("2024-07-01 00:00:00").unwrap();
    let sim = Simulator::builder()
        .seed(11)
        .refunds(9_000)
        .time_range(
            parse_wdt("2024-01-01 00:00:00").unwrap(),
            parse_wdt("2026-11-01 00:00:00").unwrap(),
        )
        .archive_after(archive_after)
        .start()
        .await;
    let client = Client::builder(Route::Native {
        url: sim.native_url(),
        wdt: sim.wdt_credentials(),
    })
    .rate_limit(RateLimitConfig::unlimited())
    .build()
    .unwrap();
    let cfg = SyncConfig::default();
    assert_eq!(
        cfg.page_size, MAX_PAGE_SIZE,
        "the default page size is the largest allowed"
    );
    let (start, max_window) = (cfg.start, cfg.max_window);
    let engine = SyncEngine::new(client, Keep::default(), cfg);

    let first = engine.run().await.unwrap();
    let requests = sim.stats().requests;
    let end = first.checkpoint.expect("a checkpoint");
    let archived: HashSet<u64> = sim.archived_ids().into_iter().collect();
    let (mut live, mut history) = (Vec::new(), Vec::new());
    for v in sim.snapshot() {
        let id: u64 = v["refund_id"].to_string().trim_matches('"').parse().unwrap();
        let ms: i64 = v["modified"].to_string().trim_matches('"').parse().unwrap();
        let t = from_epoch_ms(ms).unwrap();
        if archived.contains(&id) {
            &mut history
        } else {
            &mut live
        }
        .push(t);
    }
    assert!(!live.is_empty() && !history.is_empty(), "both methods hold refunds");
    let windows = window::plan(start, end, max_window);
    let floor = floor(&windows, &live) + floor(&windows, &history);
    assert_eq!(engine.sink().ids.lock().unwrap().len(), 9_000, "every refund read");
    assert_eq!(first.rereads, 0, "{first:?}");
    assert!(
        requests * 10 <= floor * 11,
        "a first sync cost {requests} requests, the floor is {floor}: more than 1.1 × ({first:?})"
    );

    let before = sim.stats().requests;
    let idle = engine.run().await.unwrap();
    assert_eq!(idle.windows_planned, 1, "{idle:?}");
    assert_eq!(sim.stats().requests - before, 1, "an idle run of one window: {idle:?}");
}
