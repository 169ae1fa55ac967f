//! The sync engine against the simulator, with an in-memory sink: drift, faults, windows,
//! clusters across boundaries, checkpoints, the settle lag, re-reads, and a host clock that is
//! off the gateway's.
#![cfg(feature = "simulator")]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{NaiveDateTime, TimeDelta};
use wdt_qimen::limit::RateLimitConfig;
use wdt_qimen::retry::RetryConfig;
use wdt_qimen::simulator::{Damage, Simulator};
use wdt_qimen::sync::{
    window, Batch, Checkpoint, CommitReport, PagingOrder, Sink, StreamId, SyncConfig, SyncEngine, SyncError,
};
use wdt_qimen::time::{from_epoch_ms, to_beijing, Clock, ShiftedClock, SystemClock};
use wdt_qimen::{Client, Refund, Route};

/// An in-memory sink with the contract of `Sink`: newer wins, checkpoint with its batch.
#[derive(Default)]
struct MemSink {
    rows: Mutex<BTreeMap<i64, Refund>>,
    checkpoint: Mutex<Option<Checkpoint>>,
    /// The checkpoints of backfill streams (their method has `#backfill`), by method.
    backfills: Mutex<BTreeMap<String, Checkpoint>>,
    commits: AtomicUsize,
    /// Fail the commit with this number (1-based), once.
    fail_at: Option<usize>,
    dead: Mutex<Vec<String>>,
    /// The oldest `modified` of a record committed since this was last cleared.
    oldest_written: Mutex<Option<NaiveDateTime>>,
}

#[derive(Debug, thiserror::Error)]
#[error("injected sink failure")]
struct Injected;

#[async_trait]
impl Sink<Refund> for MemSink {
    type Error = Injected;
    async fn load_checkpoint(&self, stream: &StreamId) -> Result<Option<Checkpoint>, Injected> {
        if stream.method.contains("#backfill") {
            return Ok(self.backfills.lock().unwrap().get(&stream.method).cloned());
        }
        Ok(self.checkpoint.lock().unwrap().clone())
    }
    async fn commit(&self, batch: Batch<Refund>) -> Result<CommitReport, Injected> {
        let n = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail_at == Some(n) {
            return Err(Injected);
        }
        let mut rows = self.rows.lock().unwrap();
        let mut report = CommitReport::default();
        {
            let mut oldest = self.oldest_written.lock().unwrap();
            for m in batch.records.iter().filter_map(|r| r.modified) {
                *oldest = Some(oldest.map_or(m, |o| o.min(m)));
            }
        }
        for r in batch.records {
            match rows.get(&r.refund_id) {
                Some(old) if old.modified > r.modified => report.skipped_older += 1,
                Some(_) => {
                    report.updated += 1;
                    rows.insert(r.refund_id, r);
                }
                None => {
                    report.inserted += 1;
                    rows.insert(r.refund_id, r);
                }
            }
        }
        self.dead
            .lock()
            .unwrap()
            .extend(batch.dead_letters.into_iter().map(|d| d.raw_json));
        if let Some(c) = batch
            .checkpoint
            .clone()
            .filter(|_| batch.stream.method.contains("#backfill"))
        {
            let mut backfills = self.backfills.lock().unwrap();
            let old = backfills.insert(batch.stream.method.clone(), c.clone());
            assert!(
                old.is_none_or(|old| old.window_end <= c.window_end),
                "checkpoint moved backwards"
            );
        } else if let Some(c) = batch.checkpoint {
            let mut cp = self.checkpoint.lock().unwrap();
            assert!(
                cp.as_ref().is_none_or(|old| old.window_end <= c.window_end),
                "checkpoint moved backwards"
            );
            *cp = Some(c);
        }
        Ok(report)
    }
    async fn reset_checkpoint(&self, _: &StreamId, checkpoint: &Checkpoint) -> Result<(), Injected> {
        let mut cp = self.checkpoint.lock().unwrap();
        if cp.as_ref().is_some_and(|old| old.window_end > checkpoint.window_end) {
            *cp = Some(checkpoint.clone());
        }
        Ok(())
    }
}

fn now_beijing() -> NaiveDateTime {
    to_beijing(chrono::Utc::now())
}

/// A simulator of `refunds` refunds modified between `span` ago and an hour ago.
fn recent_data(seed: u64, refunds: usize, span: TimeDelta) -> wdt_qimen::simulator::SimulatorBuilder {
    let now = now_beijing();
    Simulator::builder()
        .seed(seed)
        .refunds(refunds)
        .time_range(now - span, now - TimeDelta::hours(1))
}

fn client(sim: &Simulator, qimen: bool) -> Client {
    client_with_clock(sim, qimen, Arc::new(SystemClock))
}

/// A client of `sim` whose host clock is `clock`.
fn client_with_clock(sim: &Simulator, qimen: bool, clock: Arc<dyn Clock>) -> Client {
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
        .clock(clock)
        .rate_limit(RateLimitConfig::unlimited().with_max_in_flight(1))
        .retry(
            RetryConfig::default()
                .with_max_attempts(50)
                .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
                .with_throttle_wait(Duration::from_millis(1), Duration::from_millis(5)),
        )
        .build()
        .unwrap()
}

fn cfg(start: NaiveDateTime, page_size: u32) -> SyncConfig {
    let mut c = SyncConfig::default();
    c.start = start;
    c.settle_lag = TimeDelta::zero();
    c.overlap = TimeDelta::seconds(5);
    c.page_size = page_size;
    c.max_pages_per_window = 1000;
    c.batch_refunds = 150;
    c
}

/// refund_id -> modified (Beijing) of the simulator's data.
fn truth(sim: &Simulator) -> BTreeMap<i64, Option<NaiveDateTime>> {
    sim.snapshot()
        .iter()
        .map(|v| {
            let id = v["refund_id"].to_string().trim_matches('"').parse::<i64>().unwrap();
            let ms = v["modified"].to_string().trim_matches('"').parse::<i64>().unwrap();
            (id, from_epoch_ms(ms))
        })
        .collect()
}

type Versions = BTreeMap<i64, Option<NaiveDateTime>>;

/// The first differences between the data and the store, for a readable failure.
fn differences(truth: &Versions, stored: &Versions) -> Vec<String> {
    let mut out = Vec::new();
    for (id, m) in truth {
        match stored.get(id) {
            None => out.push(format!("{id} missing (modified {m:?})")),
            Some(s) if s != m => out.push(format!("{id} stale: stored {s:?}, data {m:?}")),
            _ => {}
        }
    }
    out.extend(
        stored
            .keys()
            .filter(|k| !truth.contains_key(k))
            .map(|k| format!("{k} extra")),
    );
    out
}

fn assert_equal(truth: &Versions, stored: &Versions, what: &str) {
    let d = differences(truth, stored);
    assert!(
        d.is_empty(),
        "{what}: {} differences, first: {:?}",
        d.len(),
        &d[..d.len().min(10)]
    );
}

fn stored(sink: &MemSink) -> BTreeMap<i64, Option<NaiveDateTime>> {
    sink.rows
        .lock()
        .unwrap()
        .iter()
        .map(|(k, r)| (*k, r.modified))
        .collect()
}

async fn drift_case(
    order: PagingOrder,
    qimen: bool,
) -> (
    BTreeMap<i64, Option<NaiveDateTime>>,
    BTreeMap<i64, Option<NaiveDateTime>>,
) {
    let now = now_beijing();
    let clock = Arc::new(ShiftedClock::default());
    let sim = recent_data(7, 1500, TimeDelta::days(10))
        .drift(1)
        .clock(clock.clone())
        .start()
        .await;
    let mut c = cfg(now - TimeDelta::days(11), 20);
    c.paging = order;
    let engine = SyncEngine::new(client_with_clock(&sim, qimen, clock.clone()), MemSink::default(), c);
    engine.run().await.unwrap();
    sim.set_drift(0);
    // Refunds drifted while the run read lie after its end, which is up to a second (the
    // `Date` header's resolution) plus a round trip before the gateway's time; move past that
    // so the second run covers them (the settle lag does this in production).
    clock.advance(TimeDelta::seconds(5));
    let second = engine.run().await.unwrap();
    assert!(second.windows_done >= 1);
    (truth(&sim), stored(engine.sink()))
}

#[tokio::test]
async fn drift_safe_sync_ends_equal_to_the_data_on_both_routes() {
    for qimen in [true, false] {
        let (truth, stored) = drift_case(PagingOrder::DriftSafe, qimen).await;
        assert_equal(&truth, &stored, &format!("qimen={qimen}"));
    }
}

#[tokio::test]
async fn forward_paging_loses_refunds_on_the_same_data() {
    let (truth, stored) = drift_case(PagingOrder::Forward, true).await;
    let missing = truth.keys().filter(|k| !stored.contains_key(k)).count();
    assert!(
        missing > 0,
        "the control run lost nothing: the drift test could not fail"
    );
}

#[tokio::test]
async fn throttles_and_transient_faults_do_not_change_the_result() {
    let now = now_beijing();
    let sim = recent_data(11, 1000, TimeDelta::days(5))
        .throttle_rate(0.05)
        .transient_rate(0.05)
        .start()
        .await;
    let engine = SyncEngine::new(client(&sim, true), MemSink::default(), cfg(now - TimeDelta::days(6), 5));
    let report = engine.run().await.unwrap();
    assert_equal(&truth(&sim), &stored(engine.sink()), "after sync");
    assert!(report.retries > 0, "no fault was injected: {report:?}");
    let stats = sim.stats();
    assert!(stats.throttled > 0 && stats.transient_faults > 0, "{stats:?}");
}

#[tokio::test]
async fn a_start_more_than_30_days_back_is_cut_into_windows() {
    let now = now_beijing();
    let sim = recent_data(3, 600, TimeDelta::days(100)).start().await;
    let engine = SyncEngine::new(
        client(&sim, false),
        MemSink::default(),
        cfg(now - TimeDelta::days(101), 50),
    );
    let report = engine.run().await.unwrap();
    assert!(report.windows_done >= 4, "{report:?}");
    assert_equal(&truth(&sim), &stored(engine.sink()), "after sync");
}

#[tokio::test]
async fn clusters_in_one_second_across_window_boundaries_are_all_read() {
    let now = now_beijing();
    // Many refunds per second, tiny windows: boundaries fall inside clusters.
    let sim = Simulator::builder()
        .seed(5)
        .refunds(400)
        .time_range(now - TimeDelta::minutes(30), now - TimeDelta::minutes(10))
        .cluster_share(0.6)
        .start()
        .await;
    let mut c = cfg(now - TimeDelta::minutes(31), 10);
    c.max_window = TimeDelta::seconds(7);
    let engine = SyncEngine::new(client(&sim, true), MemSink::default(), c);
    engine.run().await.unwrap();
    assert_equal(&truth(&sim), &stored(engine.sink()), "after sync");
}

#[tokio::test]
async fn too_many_pages_bisects_and_still_reads_everything() {
    let now = now_beijing();
    let sim = recent_data(9, 500, TimeDelta::days(2)).start().await;
    let mut c = cfg(now - TimeDelta::days(3), 10);
    c.max_pages_per_window = 4;
    let engine = SyncEngine::new(client(&sim, false), MemSink::default(), c);
    let report = engine.run().await.unwrap();
    assert!(report.bisections > 0, "{report:?}");
    assert_equal(&truth(&sim), &stored(engine.sink()), "after sync");
}

#[tokio::test]
async fn a_failed_commit_leaves_the_checkpoint_before_its_window_and_a_rerun_completes() {
    let now = now_beijing();
    let sim = recent_data(13, 700, TimeDelta::days(60)).start().await;
    let sink = MemSink {
        fail_at: Some(4),
        ..MemSink::default()
    };
    let engine = SyncEngine::new(client(&sim, true), sink, cfg(now - TimeDelta::days(61), 20));
    let err = engine.run().await.unwrap_err();
    assert!(matches!(err, SyncError::Sink(_)), "{err}");
    let cp = engine.sink().checkpoint.lock().unwrap().clone();
    assert!(
        cp.is_some(),
        "the failure came before any window was done: the test checks nothing"
    );
    // Every refund before the checkpoint is stored: the checkpoint never passes missing data.
    if let Some(cp) = &cp {
        let stored = stored(engine.sink());
        for (id, m) in truth(&sim) {
            if m.is_some_and(|m| m < cp.window_end - TimeDelta::seconds(1)) {
                assert!(stored.contains_key(&id), "refund {id} before the checkpoint is missing");
            }
        }
    }
    *engine.sink().oldest_written.lock().unwrap() = None;
    engine.run().await.unwrap();
    assert_equal(&truth(&sim), &stored(engine.sink()), "after sync");
    // The rerun repeats nothing older than the checkpoint minus the overlap: at most the window
    // that failed.
    let oldest = *engine.sink().oldest_written.lock().unwrap();
    if let (Some(cp), Some(oldest)) = (cp, oldest) {
        assert!(
            oldest >= cp.window_end - TimeDelta::seconds(5),
            "the rerun rewrote {oldest}, before {cp:?}"
        );
    }
}

#[tokio::test]
async fn a_shutdown_signal_stops_after_the_commit_in_progress() {
    let now = now_beijing();
    let sim = recent_data(17, 900, TimeDelta::days(90)).start().await;
    let engine = SyncEngine::new(
        client(&sim, true),
        MemSink::default(),
        cfg(now - TimeDelta::days(91), 10),
    );
    let sink = engine.sink();
    let shutdown = async {
        while sink.commits.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let report = engine.run_until(shutdown).await.unwrap();
    assert!(report.interrupted, "{report:?}");
    let commits = sink.commits.load(Ordering::SeqCst) as u64;
    assert_eq!(report.commits, commits, "a commit was abandoned midway");
    assert!(report.windows_done < report.windows_planned, "{report:?}");
    // Whatever was committed is consistent: everything before the checkpoint is stored.
    if let Some(cp) = sink.checkpoint.lock().unwrap().clone() {
        let stored = stored(sink);
        for (id, m) in truth(&sim) {
            if m.is_some_and(|m| m < cp.window_end - TimeDelta::seconds(1)) {
                assert!(stored.contains_key(&id), "refund {id} before the checkpoint is missing");
            }
        }
    }
    // The next run finishes the job.
    let report = engine.run().await.unwrap();
    assert!(!report.interrupted);
    assert_equal(&truth(&sim), &stored(engine.sink()), "after the rerun");
}

/// `t` on a whole second.
fn whole_second(t: NaiveDateTime) -> NaiveDateTime {
    t - TimeDelta::nanoseconds(i64::from(t.and_utc().timestamp_subsec_nanos()))
}

#[tokio::test]
async fn a_host_clock_seven_minutes_fast_still_ends_equal_to_the_data_on_both_routes() {
    for qimen in [true, false] {
        let now = now_beijing();
        // The simulator plays the gateway: its clock is the server's. This host's is 7 minutes
        // fast, which Qimen accepts (10 minutes) and the native route does not (120 s).
        let server = Arc::new(ShiftedClock::default());
        let host = Arc::new(ShiftedClock::new(TimeDelta::minutes(7)));
        let sim = recent_data(23, 600, TimeDelta::days(3))
            .clock(server.clone())
            .start()
            .await;
        let engine = SyncEngine::new(
            client_with_clock(&sim, qimen, host.clone()),
            MemSink::default(),
            cfg(now - TimeDelta::days(4), 50),
        );
        let first = engine.run().await.unwrap();
        let offset = first.clock_offset.expect("the simulator's answers carry a Date header");
        assert!(
            (offset.estimate() + TimeDelta::minutes(7)).abs() < TimeDelta::seconds(2),
            "qimen={qimen}: measured {offset}"
        );
        let cp = first.checkpoint.expect("a checkpoint");
        assert!(
            cp <= to_beijing(server.now()),
            "qimen={qimen}: checkpoint {cp} is ahead of the gateway's clock"
        );
        // Refunds modified between the two runs, after the first run's end by the gateway's clock.
        assert_eq!(sim.modify_now(40), 40);
        for clock in [&server, &host] {
            clock.advance(TimeDelta::seconds(5));
        }
        let second = engine.run().await.unwrap();
        assert_eq!(second.checkpoint_ahead, None, "qimen={qimen}");
        assert_equal(&truth(&sim), &stored(engine.sink()), &format!("qimen={qimen}"));
    }
}

#[tokio::test]
async fn a_host_clock_stepped_between_runs_is_measured_again() {
    let now = now_beijing();
    // The host booted 5 minutes slow; NTP steps its clock right between two runs of one process.
    let server = Arc::new(ShiftedClock::default());
    let host = Arc::new(ShiftedClock::new(TimeDelta::minutes(-5)));
    let sim = recent_data(19, 300, TimeDelta::days(2))
        .clock(server.clone())
        .start()
        .await;
    let engine = SyncEngine::new(
        client_with_clock(&sim, false, host.clone()),
        MemSink::default(),
        cfg(now - TimeDelta::days(3), 50),
    );
    engine.run().await.unwrap();
    host.advance(TimeDelta::minutes(5));
    assert_eq!(sim.modify_now(20), 20);
    for clock in [&server, &host] {
        clock.advance(TimeDelta::seconds(5));
    }
    let second = engine.run().await.unwrap();
    let cp = second.checkpoint.expect("a checkpoint");
    assert!(
        cp <= to_beijing(server.now()),
        "checkpoint {cp} is ahead of the gateway's clock: planned by the offset before the step"
    );
    assert!(
        second.clock_offset.is_some_and(|o| o.correction().is_zero()),
        "{second:?}"
    );
    assert_equal(&truth(&sim), &stored(engine.sink()), "after the step");
}

#[tokio::test]
async fn a_proxys_date_far_off_the_gateways_clock_moves_no_window() {
    for (qimen, shift) in [(true, TimeDelta::days(2)), (false, TimeDelta::hours(-8))] {
        let now = now_beijing();
        // A proxy in front of the gateway writes its own Date, days ahead or hours behind; the
        // gateway (and this host) keep the right time and accept the host's timestamps.
        let clock = Arc::new(ShiftedClock::default());
        let sim = recent_data(33, 300, TimeDelta::days(2))
            .clock(clock.clone())
            .start()
            .await;
        sim.set_date_shift(shift);
        let engine = SyncEngine::new(
            client_with_clock(&sim, qimen, clock.clone()),
            MemSink::default(),
            cfg(now - TimeDelta::days(3), 50),
        );
        let first = engine.run().await.unwrap_or_else(|e| panic!("qimen={qimen}: {e}"));
        let cp = first.checkpoint.expect("a checkpoint");
        assert!(
            cp <= to_beijing(clock.now()),
            "qimen={qimen}: checkpoint {cp} follows the proxy's Date"
        );
        assert_eq!(first.clock_offset, None, "qimen={qimen}: {first:?}");
        assert_equal(&truth(&sim), &stored(engine.sink()), &format!("qimen={qimen}"));
    }
}

#[tokio::test]
async fn an_error_page_with_a_wrong_date_between_runs_moves_no_window() {
    let now = now_beijing();
    let clock = Arc::new(ShiftedClock::default());
    let sim = recent_data(35, 300, TimeDelta::days(2))
        .clock(clock.clone())
        .start()
        .await;
    let client = client_with_clock(&sim, false, clock.clone());
    let engine = SyncEngine::new(client.clone(), MemSink::default(), cfg(now - TimeDelta::days(3), 50));
    engine.run().await.unwrap();
    // Between runs, a proxy answers with error pages that carry its own clock, a day ahead.
    sim.set_transient_rate(1.0);
    sim.set_date_shift(TimeDelta::days(1));
    let search = wdt_qimen::RefundSearch::modified_between("2024-01-01 00:00:00", "2024-01-02 00:00:00").unwrap();
    client.refund_page(&search, 1).await.unwrap_err();
    sim.set_transient_rate(0.0);
    sim.set_date_shift(TimeDelta::zero());
    // (The clocks are not moved: a host clock that moves otherwise than the time elapsed drops
    // every measurement.)
    let second = engine.run().await.unwrap();
    let cp = second.checkpoint.expect("a checkpoint");
    assert!(
        cp <= to_beijing(clock.now()),
        "checkpoint {cp} planned by the error page's Date"
    );
    assert_equal(&truth(&sim), &stored(engine.sink()), "after the second run");
}

#[tokio::test]
async fn measuring_the_gateways_clock_costs_no_request_when_the_host_clock_is_in_step() {
    let now = now_beijing();
    // One window of one page.
    let sim = recent_data(27, 30, TimeDelta::days(1)).start().await;
    let engine = SyncEngine::new(
        client(&sim, true),
        MemSink::default(),
        cfg(now - TimeDelta::days(2), 100),
    );
    let report = engine.run().await.unwrap();
    // A first sync reads the window through Refund.search (its page 1 measured the clock and
    // is kept) and through Refund.searchHistory.
    assert_eq!(
        (sim.stats().requests, report.pages, report.history_windows),
        (2, 2, 1),
        "the page that measured the clock was not kept: {report:?}"
    );
    assert!(report.clock_offset.is_some());
    assert_equal(&truth(&sim), &stored(engine.sink()), "after sync");
    // Once measured, the client keeps measuring on the run's own requests; an incremental run
    // reads Refund.search only.
    engine.run().await.unwrap();
    assert_eq!(sim.stats().requests, 3);
}

#[tokio::test]
async fn a_checkpoint_left_ahead_of_the_gateways_clock_is_moved_back_and_what_it_skipped_is_read() {
    let now = now_beijing();
    let clock = Arc::new(ShiftedClock::default());
    let sim = recent_data(29, 400, TimeDelta::days(2))
        .clock(clock.clone())
        .start()
        .await;
    let engine = SyncEngine::new(
        client_with_clock(&sim, true, clock.clone()),
        MemSink::default(),
        cfg(now - TimeDelta::days(3), 50),
    );
    engine.run().await.unwrap();
    // A run on a host 6 minutes fast stored a checkpoint in the gateway's future; refunds
    // modified since then lie before it.
    let ahead = whole_second(to_beijing(clock.now())) + TimeDelta::minutes(6);
    *engine.sink().checkpoint.lock().unwrap() = Some(Checkpoint { window_end: ahead });
    assert_eq!(sim.modify_now(30), 30);
    clock.advance(TimeDelta::seconds(5));

    let report = engine.run().await.unwrap();
    let found = report.checkpoint_ahead.expect("the checkpoint ahead is reported");
    assert_eq!(found.stored, ahead);
    assert_eq!(found.reset_to, ahead - TimeDelta::minutes(10));
    assert!(found.gateway_time < ahead, "{found:?}");
    let cp = report.checkpoint.expect("a checkpoint");
    assert!(cp <= to_beijing(clock.now()), "checkpoint {cp} still ahead");
    assert!(report.lag.is_some(), "{report:?}");
    assert_eq!(
        engine.sink().checkpoint.lock().unwrap().clone(),
        Some(Checkpoint { window_end: cp })
    );
    assert_equal(&truth(&sim), &stored(engine.sink()), "after the run");
    // Nothing is ahead any more.
    assert_eq!(engine.run().await.unwrap().checkpoint_ahead, None);
}

#[tokio::test]
async fn the_settle_lag_leaves_the_newest_refunds_for_a_later_run() {
    let now = now_beijing();
    let clock = Arc::new(ShiftedClock::default());
    let sim = recent_data(31, 300, TimeDelta::days(1))
        .clock(clock.clone())
        .start()
        .await;
    let mut c = cfg(now - TimeDelta::days(2), 50);
    c.settle_lag = TimeDelta::minutes(2);
    let engine = SyncEngine::new(client_with_clock(&sim, false, clock.clone()), MemSink::default(), c);
    // Modified 30 s before the run: inside the 2-minute lag.
    assert_eq!(sim.modify_now(25), 25);
    clock.advance(TimeDelta::seconds(30));
    let report = engine.run().await.unwrap();
    let cp = report.checkpoint.expect("a checkpoint");
    assert!(
        cp <= to_beijing(clock.now()) - TimeDelta::minutes(2),
        "checkpoint {cp} is inside the lag"
    );
    let all = truth(&sim);
    let (newest, settled): (Versions, Versions) = all.iter().partition(|(_, m)| m.is_some_and(|m| m > cp));
    assert_eq!(newest.len(), 25, "the refunds modified inside the lag");
    let have = stored(engine.sink());
    assert!(
        newest.keys().all(|id| !have.contains_key(id)),
        "a refund modified inside the lag was read"
    );
    assert_equal(&settled, &have, "the settled refunds");
    // Once they are older than the lag, the next run reads them.
    clock.advance(TimeDelta::minutes(2));
    engine.run().await.unwrap();
    assert_equal(&all, &stored(engine.sink()), "after the lag passed");
}

#[tokio::test]
async fn a_pass_short_of_total_count_is_read_again_and_then_completes() {
    for qimen in [true, false] {
        let now = now_beijing();
        // 90 refunds on 5 pages; the first page after page 1 repeats a refund and drops one.
        let sim = recent_data(37, 90, TimeDelta::days(1)).unstable_pages(1).start().await;
        let engine = SyncEngine::new(
            client(&sim, qimen),
            MemSink::default(),
            cfg(now - TimeDelta::days(2), 20),
        );
        let report = engine.run().await.unwrap();
        assert_eq!(report.rereads, 1, "qimen={qimen}: {report:?}");
        assert_equal(&truth(&sim), &stored(engine.sink()), &format!("qimen={qimen}"));
    }
}

#[tokio::test]
async fn a_window_that_stays_short_fails_the_run_and_keeps_the_checkpoint_before_it() {
    let now = now_beijing();
    let sim = recent_data(41, 90, TimeDelta::days(1))
        .unstable_pages(usize::MAX)
        .start()
        .await;
    let c = cfg(now - TimeDelta::days(2), 20);
    let max_rereads = c.max_rereads;
    let engine = SyncEngine::new(client(&sim, false), MemSink::default(), c);
    match engine.run().await.unwrap_err() {
        SyncError::WindowIncomplete {
            distinct,
            expected,
            rereads,
            ..
        } => assert_eq!((distinct, expected, rereads), (89, 90, max_rereads)),
        other => panic!("expected WindowIncomplete, got {other}"),
    }
    assert_eq!(*engine.sink().checkpoint.lock().unwrap(), None);
    // Once the server pages consistently again, a rerun completes.
    sim.set_unstable_pages(0);
    engine.run().await.unwrap();
    assert_equal(&truth(&sim), &stored(engine.sink()), "after the rerun");
}

/// A native endpoint that serves `n` refunds in one second and announces `total` (or nothing)
/// as `total_count`, to see what the engine makes of a count it cannot trust.
struct LyingCount {
    n: usize,
    /// The `total_count` written, as JSON (any value, garbage included).
    total: Option<serde_json::Value>,
    modified_ms: i64,
    /// After the first answer, this many refunds leave the front of the window (drift).
    leave_after_first: usize,
    answers: AtomicUsize,
}

impl LyingCount {
    fn new(n: usize, total: Option<u64>, modified_ms: i64) -> Self {
        Self {
            n,
            total: total.map(serde_json::Value::from),
            modified_ms,
            leave_after_first: 0,
            answers: AtomicUsize::new(0),
        }
    }
}

impl wiremock::Respond for LyingCount {
    fn respond(&self, req: &wiremock::Request) -> wiremock::ResponseTemplate {
        let q: std::collections::HashMap<String, String> = req.url.query_pairs().into_owned().collect();
        let size: usize = q["page_size"].parse().unwrap();
        let no: usize = q["page_no"].parse().unwrap(); // native: 0-based
        let gone = if self.answers.fetch_add(1, Ordering::SeqCst) == 0 {
            0
        } else {
            self.leave_after_first
        };
        let order: Vec<serde_json::Value> = (gone + no * size..(gone + (no + 1) * size).min(self.n))
            .map(|i| serde_json::json!({"refund_id": 5000 + i, "modified": self.modified_ms}))
            .collect();
        let mut data = serde_json::json!({ "order": order });
        if let Some(t) = &self.total {
            data["total_count"] = t.clone();
        }
        wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({"status": 0, "data": data}))
    }
}

#[tokio::test]
async fn a_total_count_that_contradicts_the_pages_is_not_trusted() {
    let now = now_beijing();
    let modified = now - TimeDelta::hours(2);
    let modified_ms = wdt_qimen::time::from_beijing(modified).timestamp_millis();
    // 0 (a Qimen answer without a real count), too small, exactly one full page, absent.
    for total in [Some(0), Some(7), Some(20), None] {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .respond_with(LyingCount::new(53, total, modified_ms))
            .mount(&server)
            .await;
        let wdt = wdt_qimen::WdtCredentials::new("sid", "key", "secret:salt").unwrap();
        let client = Client::builder(Route::Native {
            url: format!("{}/openapi", server.uri()),
            wdt,
        })
        .rate_limit(RateLimitConfig::unlimited())
        .build()
        .unwrap();
        let engine = SyncEngine::new(client, MemSink::default(), cfg(now - TimeDelta::hours(3), 20));
        engine.run().await.unwrap();
        let stored = stored(engine.sink());
        assert_eq!(
            stored.len(),
            53,
            "total_count {total:?}: {} of 53 refunds stored",
            stored.len()
        );
    }
}

#[tokio::test]
async fn a_count_too_small_by_a_page_loses_nothing_even_when_refunds_leave_meanwhile() {
    // The server says 20 (one full page) but holds 30; after page 1 is read, its first 10 leave
    // the window, so refunds 21..30 shift onto page 1, which was already read.
    let now = now_beijing();
    let modified_ms = wdt_qimen::time::from_beijing(now - TimeDelta::hours(2)).timestamp_millis();
    let server = wiremock::MockServer::start().await;
    let responder = LyingCount {
        leave_after_first: 10,
        ..LyingCount::new(30, Some(20), modified_ms)
    };
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(responder)
        .mount(&server)
        .await;
    let wdt = wdt_qimen::WdtCredentials::new("sid", "key", "secret:salt").unwrap();
    let client = Client::builder(Route::Native {
        url: format!("{}/openapi", server.uri()),
        wdt,
    })
    .rate_limit(RateLimitConfig::unlimited())
    .build()
    .unwrap();
    let engine = SyncEngine::new(client, MemSink::default(), cfg(now - TimeDelta::hours(3), 20));
    engine.run().await.unwrap();
    let stored = stored(engine.sink());
    let missing: Vec<i64> = (5000..5030).filter(|id| !stored.contains_key(id)).collect();
    assert!(missing.is_empty(), "refunds lost: {missing:?}");
}

#[tokio::test]
async fn a_total_count_that_is_not_a_count_is_unknown_and_the_window_is_read_to_its_end() {
    let now = now_beijing();
    let modified_ms = wdt_qimen::time::from_beijing(now - TimeDelta::hours(2)).timestamp_millis();
    let huge: serde_json::Value = serde_json::from_str("184467440737095516160000").unwrap();
    let exponent: serde_json::Value = serde_json::from_str("1e3").unwrap();
    for total in [
        serde_json::json!(-1),
        serde_json::json!("-1"),
        serde_json::json!("3.0"),
        exponent,
        serde_json::json!("abc"),
        serde_json::Value::Null,
        huge,
        // A count that fits but is absurd: read as a count, and found out by the window reader.
        serde_json::json!(u64::MAX),
        serde_json::json!({"n": 53}),
    ] {
        let server = wiremock::MockServer::start().await;
        let responder = LyingCount {
            total: Some(total.clone()),
            ..LyingCount::new(53, None, modified_ms)
        };
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .respond_with(responder)
            .mount(&server)
            .await;
        let wdt = wdt_qimen::WdtCredentials::new("sid", "key", "secret:salt").unwrap();
        let client = Client::builder(Route::Native {
            url: format!("{}/openapi", server.uri()),
            wdt,
        })
        .rate_limit(RateLimitConfig::unlimited())
        .build()
        .unwrap();
        let engine = SyncEngine::new(client, MemSink::default(), cfg(now - TimeDelta::hours(3), 20));
        let report = engine
            .run()
            .await
            .unwrap_or_else(|e| panic!("total_count {total}: {e}"));
        assert_eq!(stored(engine.sink()).len(), 53, "total_count {total}");
        // Without a count the window is paged forward to its short third page, then read back.
        assert!(report.pages >= 3, "total_count {total}: {report:?}");
    }
}

#[tokio::test]
async fn records_stored_broken_become_dead_letters_and_the_window_still_completes() {
    let now = now_beijing();
    for qimen in [true, false] {
        let sim = recent_data(21, 120, TimeDelta::days(1)).start().await;
        let truth = truth(&sim);
        let ids: Vec<i64> = truth.keys().copied().collect();
        let (not_utf8, not_json) = (ids[10], ids[70]);
        sim.damage_refund(not_utf8 as u64, Damage::InvalidUtf8, None);
        sim.damage_refund(not_json as u64, Damage::BrokenJson, None);
        let engine = SyncEngine::new(
            client(&sim, qimen),
            MemSink::default(),
            cfg(now - TimeDelta::days(2), 20),
        );
        let report = engine.run().await.unwrap_or_else(|e| panic!("qimen={qimen}: {e}"));
        let mut want = truth.clone();
        want.remove(&not_utf8);
        want.remove(&not_json);
        assert_equal(&want, &stored(engine.sink()), &format!("qimen={qimen}"));
        // Each broken record is dead-lettered once, kept as received (bytes escaped).
        let dead = engine.sink().dead.lock().unwrap().clone();
        assert_eq!(dead.len(), 2, "qimen={qimen}: {dead:?}");
        assert!(dead
            .iter()
            .any(|d| d.starts_with(&format!(r#"{{"refund_id":{not_utf8},"#))
                && d.contains(r#""refund_no":"\xE5\xBC\xFF"#)));
        assert!(dead
            .iter()
            .any(|d| d.starts_with(&format!(r#"{{"refund_id":{not_json},"#)) && d.contains(r#""refund_no":""TK"#)));
        // A dead letter counts as read: the window's count check is met, nothing is re-read, and
        // the checkpoint moves past the window.
        assert_eq!(report.rereads, 0, "qimen={qimen}: {report:?}");
        assert!(engine.sink().checkpoint.lock().unwrap().is_some());
        assert!(report.retries > 0, "the damaged pages were read again: {report:?}");
    }
}

#[tokio::test]
async fn records_damaged_in_passing_are_read_again_and_stored() {
    let now = now_beijing();
    let sim = recent_data(22, 120, TimeDelta::days(1)).start().await;
    let truth = truth(&sim);
    let ids: Vec<i64> = truth.keys().copied().collect();
    sim.damage_refund(ids[5] as u64, Damage::InvalidUtf8, Some(1));
    sim.damage_refund(ids[90] as u64, Damage::BrokenJson, Some(2));
    let engine = SyncEngine::new(
        client(&sim, true),
        MemSink::default(),
        cfg(now - TimeDelta::days(2), 20),
    );
    let report = engine.run().await.unwrap();
    assert_equal(&truth, &stored(engine.sink()), "after sync");
    assert!(engine.sink().dead.lock().unwrap().is_empty());
    // What was stored is the intact copy: nothing was replaced by U+FFFD.
    let rows = engine.sink().rows.lock().unwrap();
    assert!(rows
        .values()
        .all(|r| !r.refund_no.as_deref().unwrap_or_default().contains('\u{FFFD}')));
    drop(rows);
    assert_eq!(sim.stats().damaged_records, 3);
    assert!(report.retries >= 3, "{report:?}");
}

/// Refund id → `modified` of the data modified within `[from, to]`.
fn truth_within(sim: &Simulator, from: NaiveDateTime, to: NaiveDateTime) -> Versions {
    truth(sim)
        .into_iter()
        .filter(|(_, m)| m.is_some_and(|m| from <= m && m <= to))
        .collect()
}

#[tokio::test]
async fn a_backfill_reads_its_range_under_its_own_checkpoint_and_leaves_the_live_one() {
    let now = now_beijing();
    let sim = recent_data(31, 600, TimeDelta::days(60)).start().await;
    let mut c = cfg(now - TimeDelta::days(61), 50);
    c.max_window = TimeDelta::days(7);
    let engine = SyncEngine::new(client(&sim, true), MemSink::default(), c);
    engine.run().await.unwrap();
    let live = engine
        .sink()
        .checkpoint
        .lock()
        .unwrap()
        .clone()
        .expect("a live checkpoint");
    let (from, to) = (
        whole_second(now - TimeDelta::days(40)),
        whole_second(now - TimeDelta::days(20)),
    );
    let range = truth_within(&sim, from, to);
    assert!(range.len() > 50, "too few refunds in the range: {}", range.len());
    engine
        .sink()
        .rows
        .lock()
        .unwrap()
        .retain(|id, _| !range.contains_key(id));

    let live_stream = engine.stream().clone();
    let backfill = engine.backfill(from, to);
    assert_eq!(backfill.stream().account, live_stream.account);
    assert_eq!(
        backfill.stream().method,
        format!(
            "{}#backfill:{}..{}",
            live_stream.method,
            from.format("%Y%m%dT%H%M%S"),
            to.format("%Y%m%dT%H%M%S")
        )
    );
    let report = backfill.run().await.unwrap();
    assert_eq!(report.checkpoint, Some(to), "{report:?}");
    assert_eq!(report.windows_planned, 3, "{report:?}");
    assert_eq!(
        *backfill.sink().checkpoint.lock().unwrap(),
        Some(live),
        "the live checkpoint moved"
    );
    let stored = stored(backfill.sink());
    for (id, m) in &range {
        assert_eq!(stored.get(id), Some(m), "refund {id} of the range is not back");
    }
    // Everything else is as the live sync left it.
    assert_equal(&truth(&sim), &stored, "after the backfill");
    assert!(report.pages > 0);

    // The range is done: a second backfill sends no request and writes nothing.
    let again = backfill.run().await.unwrap();
    assert_eq!(
        (again.pages, again.windows_planned, again.commits, again.refunds),
        (0, 0, 0, 0),
        "{again:?}"
    );
    assert_eq!(again.checkpoint, Some(to));
}

#[tokio::test]
async fn an_interrupted_backfill_resumes_from_its_own_checkpoint() {
    let now = now_beijing();
    let sim = recent_data(32, 600, TimeDelta::days(60)).start().await;
    let (from, to) = (
        whole_second(now - TimeDelta::days(45)),
        whole_second(now - TimeDelta::days(5)),
    );
    let mut c = cfg(now - TimeDelta::days(61), 20);
    c.max_window = TimeDelta::days(5);
    c.batch_refunds = 1000;
    // One commit per window: the fourth window's fails.
    let sink = MemSink {
        fail_at: Some(4),
        ..MemSink::default()
    };
    let engine = SyncEngine::new(client(&sim, false), sink, c).backfill(from, to);
    let err = engine.run().await.unwrap_err();
    assert!(matches!(err, SyncError::Sink(_)), "{err}");
    let cp = engine.sink().backfills.lock().unwrap().values().next().cloned();
    let cp = cp.expect("three windows were committed").window_end;
    assert!(from < cp && cp < to, "{cp}");
    assert_eq!(
        *engine.sink().checkpoint.lock().unwrap(),
        None,
        "the live checkpoint was written"
    );

    *engine.sink().oldest_written.lock().unwrap() = None;
    let report = engine.run().await.unwrap();
    // From its checkpoint (minus the overlap), not from `from`.
    let max = TimeDelta::days(5);
    assert_eq!(
        report.windows_planned as usize,
        window::plan(cp - TimeDelta::seconds(5), to, max).len(),
        "{report:?}"
    );
    assert!(report.windows_planned as usize + 3 <= window::plan(from, to, max).len());
    let oldest = engine.sink().oldest_written.lock().unwrap().expect("refunds written");
    assert!(
        oldest >= cp - TimeDelta::seconds(5),
        "the rerun rewrote {oldest}, before {cp}"
    );
    assert_eq!(report.checkpoint, Some(to));
    let stored = stored(engine.sink());
    for (id, m) in &truth_within(&sim, from, to) {
        assert_eq!(stored.get(id), Some(m), "refund {id} of the range is missing");
    }
}

#[test]
fn a_backfill_ending_before_it_starts_is_refused_naming_end() {
    let mut c = SyncConfig::default();
    c.end = Some(c.start);
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("end"), "{e}");
}
