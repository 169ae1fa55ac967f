//! Run history against a real MariaDB: ok, failed, skipped and abandoned runs, the lease's say
//! in abandoning, newest-first reads per stream, pruning, and the stored error line.

mod common;

use std::time::Duration;

use chrono::TimeDelta;
use common::*;
use mysql_async::prelude::Queryable;
use refund_sink_mysql::{LeaseOutcome, LeaseOwner, MySqlSink, RunCounts, RunEnd, RunId, RunOutcome, RunRow, RunStart};
use wdt_qimen::server_time::ClockOffset;
use wdt_qimen::sync::{StreamId, SyncReport};

const TABLE: &str = "wdt_sync_run";

fn owner(name: &str) -> LeaseOwner {
    LeaseOwner::new(name, 4242)
}

async fn run(sink: &MySqlSink, stream: Option<&StreamId>, id: RunId) -> RunRow {
    sink.recent_runs(stream, 1000)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("run {id} not found"))
}

#[tokio::test]
async fn an_ok_run_is_stored_with_its_counts_window_and_owner() {
    let db = TestDb::new("runs_ok").await;
    let sink = db.sink().build().await.unwrap();
    let stream = stream();
    let me = owner("host-a");
    let id = sink
        .run_started(
            &stream,
            RunStart::new(me.clone()).window(Some(at(0, 0)), Some(at(3600, 0))),
        )
        .await
        .unwrap();
    let started = run(&sink, Some(&stream), id).await;
    assert_eq!(started.outcome, RunOutcome::Running);
    assert_eq!((started.ended_at, started.counts.clone()), (None, None));
    assert_eq!(started.owner, me);
    assert_eq!(started.stream, stream);

    let mut report = SyncReport::default();
    report.pages = 12;
    report.refunds = 1_100;
    report.rows.inserted = 900;
    report.rows.updated = 150;
    report.rows.deleted = 3;
    report.rows.unchanged = 40;
    report.rows.skipped_older = 7;
    report.dead_letters = 2;
    report.retries = 5;
    report.throttles = 1;
    report.checkpoint = Some(at(3000, 0));
    report.clock_offset = ClockOffset::between(TimeDelta::milliseconds(1_200), TimeDelta::milliseconds(1_400));
    let end = RunEnd::from_report(&report).counts(RunCounts::from_report(&report).with_requests(14));
    sink.run_finished(id, end).await.unwrap();

    let done = run(&sink, Some(&stream), id).await;
    assert_eq!(done.outcome, RunOutcome::Ok);
    assert!(done.ended_at.unwrap() >= done.started_at);
    assert_eq!((done.window_from, done.window_to), (Some(at(0, 0)), Some(at(3000, 0))));
    let mut want = RunCounts::default();
    want.requests = Some(14);
    want.pages = 12;
    want.refunds = 1_100;
    want.rows_inserted = 900;
    want.rows_updated = 150;
    want.rows_deleted = 3;
    want.rows_unchanged = 40;
    want.rows_skipped = 7;
    want.dead_letters = 2;
    want.retries = 5;
    want.throttles = 1;
    want.clock_offset_ms = Some(1_300);
    want.clock_uncertainty_ms = Some(100);
    assert_eq!(done.counts, Some(want));
    assert_eq!(done.error, None);

    // An interrupted report ends as interrupted.
    report.interrupted = true;
    let id2 = sink.run_started(&stream, RunStart::new(me)).await.unwrap();
    sink.run_finished(id2, RunEnd::from_report(&report)).await.unwrap();
    assert_eq!(run(&sink, None, id2).await.outcome, RunOutcome::Interrupted);
    db.drop_db().await;
}

#[tokio::test]
async fn a_failed_run_stores_its_error_as_one_clipped_line() {
    let db = TestDb::new("runs_failed").await;
    let sink = db.sink().build().await.unwrap();
    let stream = stream();
    let id = sink.run_started(&stream, RunStart::new(owner("h"))).await.unwrap();
    // 1,200 characters of mixed widths across two lines, and a URL with a password.
    let body: String = (0..1_200).map(|i| if i % 3 == 0 { '退' } else { 'x' }).collect();
    let text = format!("mysql://app:hunter2@db/erp refused\n{body}");
    sink.run_finished(id, RunEnd::new(RunOutcome::Failed).error(text))
        .await
        .unwrap();

    let expected: String = format!("mysql://***@db/erp refused {body}")
        .chars()
        .take(999)
        .chain(['…'])
        .collect();
    let row = run(&sink, Some(&stream), id).await;
    assert_eq!(row.outcome, RunOutcome::Failed);
    assert_eq!(row.error.as_deref(), Some(expected.as_str()));
    assert_eq!(row.counts, None);
    // Stored exactly: the column holds the same characters.
    let stored = db
        .rows(&format!("SELECT `error`, CHAR_LENGTH(`error`) FROM `{TABLE}`"))
        .await;
    assert_eq!(stored, vec![vec![Some(expected), s("1000")]]);

    // From an error value: its sources are kept.
    let id = sink.run_started(&stream, RunStart::new(owner("h"))).await.unwrap();
    let io = std::io::Error::other("connection reset");
    let e = refund_sink_mysql::SinkError::Mysql {
        during: "committing",
        source: mysql_async::Error::Io(mysql_async::IoError::Io(io)),
    };
    sink.run_finished(id, RunEnd::failed(&e)).await.unwrap();
    let line = run(&sink, None, id).await.error.unwrap();
    assert!(
        line.starts_with("MySQL error while committing: ") && line.ends_with("connection reset"),
        "{line}"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn a_run_that_died_is_marked_abandoned_by_the_next_one() {
    let db = TestDb::new("runs_abandoned").await;
    let sink = db.sink().build().await.unwrap();
    let stream = stream();
    let other = StreamId::new("other-sid", "aftersales.refund.Refund.search");
    // Dies (kill -9) without recording its end; another stream's run is left alone.
    let dead = sink.run_started(&stream, RunStart::new(owner("host-a"))).await.unwrap();
    let elsewhere = sink.run_started(&other, RunStart::new(owner("host-a"))).await.unwrap();
    assert_eq!(run(&sink, None, dead).await.outcome, RunOutcome::Running);

    let next = sink.run_started(&stream, RunStart::new(owner("host-b"))).await.unwrap();
    let row = run(&sink, None, dead).await;
    assert_eq!(row.outcome, RunOutcome::Abandoned);
    assert_eq!(row.ended_at, None);
    let error = row.error.unwrap();
    assert!(
        error.contains("recorded no end") && error.ends_with(&format!("found by run {next}")),
        "{error}"
    );
    assert_eq!(run(&sink, None, next).await.outcome, RunOutcome::Running);
    assert_eq!(run(&sink, None, elsewhere).await.outcome, RunOutcome::Running);

    // A run of the same owner that did not record its end is stale too.
    let me = owner("host-c");
    let first = sink.run_started(&other, RunStart::new(me.clone())).await.unwrap();
    let second = sink.run_started(&other, RunStart::new(me)).await.unwrap();
    assert_eq!(run(&sink, None, first).await.outcome, RunOutcome::Abandoned);
    assert_eq!(run(&sink, None, elsewhere).await.outcome, RunOutcome::Abandoned);
    assert_eq!(run(&sink, None, second).await.outcome, RunOutcome::Running);

    // Even while the owner holds the stream's lease: a process runs a stream once at a time.
    let lease = sink
        .lease(&other, Duration::from_secs(60))
        .await
        .unwrap()
        .acquired()
        .unwrap();
    let held_first = sink
        .run_started(&other, RunStart::new(lease.owner().clone()))
        .await
        .unwrap();
    let held_second = sink
        .run_started(&other, RunStart::new(lease.owner().clone()))
        .await
        .unwrap();
    assert_eq!(run(&sink, None, second).await.outcome, RunOutcome::Abandoned);
    assert_eq!(run(&sink, None, held_first).await.outcome, RunOutcome::Abandoned);
    assert_eq!(run(&sink, None, held_second).await.outcome, RunOutcome::Running);
    lease.release().await.unwrap();

    // A run that did end keeps its outcome; a late end of an abandoned run is the truth.
    sink.run_finished(next, RunEnd::new(RunOutcome::Ok)).await.unwrap();
    sink.run_started(&stream, RunStart::new(owner("host-d"))).await.unwrap();
    assert_eq!(run(&sink, None, next).await.outcome, RunOutcome::Ok);
    sink.run_finished(dead, RunEnd::new(RunOutcome::Failed).error("late"))
        .await
        .unwrap();
    assert_eq!(run(&sink, None, dead).await.outcome, RunOutcome::Failed);
    db.drop_db().await;
}

#[tokio::test]
async fn a_copy_that_skips_a_leased_stream_does_not_abandon_the_holders_run() {
    let db = TestDb::new("runs_skip").await;
    let holder_sink = db.sink().build().await.unwrap();
    let copy = db.sink().build().await.unwrap();
    let stream = stream();
    let ttl = Duration::from_secs(60);
    let lease = holder_sink.lease(&stream, ttl).await.unwrap().acquired().unwrap();
    let running = holder_sink
        .run_started(&stream, RunStart::new(lease.owner().clone()))
        .await
        .unwrap();

    let held = match copy.lease(&stream, ttl).await.unwrap() {
        LeaseOutcome::HeldBy(h) => h,
        LeaseOutcome::Acquired(l) => panic!("{l:?}"),
    };
    let skipped = copy
        .run_started(&stream, RunStart::new(LeaseOwner::this_process()))
        .await
        .unwrap();
    copy.run_finished(skipped, RunEnd::skipped(&held)).await.unwrap();
    assert_eq!(run(&copy, None, running).await.outcome, RunOutcome::Running);
    let row = run(&copy, None, skipped).await;
    assert_eq!(row.outcome, RunOutcome::SkippedLease);
    assert!(
        row.error.as_deref().unwrap().starts_with("skipped: held by "),
        "{row:?}"
    );

    // Once the holder's lease is gone (it died and the lease was released or expired), the
    // next run abandons its row.
    drop(lease);
    let mut c = db.conn().await;
    c.query_drop("UPDATE `wdt_sync_lease` SET `expires_at` = NOW(6) - INTERVAL 1 SECOND")
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    let taker = copy.lease(&stream, ttl).await.unwrap().acquired().unwrap();
    copy.run_started(&stream, RunStart::new(taker.owner().clone()))
        .await
        .unwrap();
    assert_eq!(run(&copy, None, running).await.outcome, RunOutcome::Abandoned);
    db.drop_db().await;
}

#[tokio::test]
async fn recent_runs_come_newest_first_and_filter_by_exact_stream() {
    let db = TestDb::new("runs_recent").await;
    let sink = db.sink().build().await.unwrap();
    let a = StreamId::new("Shop1", "aftersales.refund.Refund.search");
    let a_lower = StreamId::new("shop1", "aftersales.refund.Refund.search");
    let mut ids_a = Vec::new();
    let mut all = Vec::new();
    for i in 0..6 {
        let stream = if i % 2 == 0 { &a } else { &a_lower };
        let id = sink.run_started(stream, RunStart::new(owner("h"))).await.unwrap();
        sink.run_finished(id, RunEnd::new(RunOutcome::Ok)).await.unwrap();
        if i % 2 == 0 {
            ids_a.push(id);
        }
        all.push(id);
    }
    let newest: Vec<RunId> = sink.recent_runs(None, 4).await.unwrap().iter().map(|r| r.id).collect();
    assert_eq!(newest, all.iter().rev().take(4).copied().collect::<Vec<_>>());
    let of_a = sink.recent_runs(Some(&a), 2).await.unwrap();
    assert_eq!(
        of_a.iter().map(|r| r.id).collect::<Vec<_>>(),
        ids_a.iter().rev().take(2).copied().collect::<Vec<_>>()
    );
    assert!(of_a.iter().all(|r| r.stream == a));
    let none = StreamId::new("Shop1 ", "aftersales.refund.Refund.search");
    assert!(sink.recent_runs(Some(&none), 10).await.unwrap().is_empty());
    db.drop_db().await;
}

#[tokio::test]
async fn pruning_deletes_old_runs_and_keeps_recent_ones() {
    let db = TestDb::new("runs_prune").await;
    let sink = db.sink().build().await.unwrap();
    let stream = stream();
    let mut ids = Vec::new();
    for _ in 0..4 {
        let id = sink.run_started(&stream, RunStart::new(owner("h"))).await.unwrap();
        sink.run_finished(id, RunEnd::new(RunOutcome::Ok)).await.unwrap();
        ids.push(id);
    }
    let mut c = db.conn().await;
    for (id, days) in [(ids[0], 200), (ids[1], 91), (ids[2], 89)] {
        c.exec_drop(
            format!("UPDATE `{TABLE}` SET `started_at` = NOW(6) - INTERVAL ? DAY WHERE `id` = ?"),
            (days, id.0),
        )
        .await
        .unwrap();
    }
    c.disconnect().await.unwrap();
    assert_eq!(sink.prune_runs(90).await.unwrap(), 2);
    let kept: Vec<RunId> = sink.recent_runs(None, 10).await.unwrap().iter().map(|r| r.id).collect();
    assert_eq!(kept, vec![ids[3], ids[2]]);
    assert_eq!(sink.prune_runs(90).await.unwrap(), 0);
    let e = sink.prune_runs(0).await.unwrap_err().to_string();
    assert!(e.contains("0 days") && e.contains("at least 1 day"), "{e}");
    db.drop_db().await;
}

#[tokio::test]
async fn ends_that_cannot_be_recorded_are_refused() {
    let db = TestDb::new("runs_bad").await;
    let sink = db.sink().build().await.unwrap();
    let id = sink.run_started(&stream(), RunStart::new(owner("h"))).await.unwrap();
    let e = sink
        .run_finished(id, RunEnd::new(RunOutcome::Running))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("`running`"), "{e}");
    let e = sink
        .run_finished(RunId(id.0 + 1000), RunEnd::new(RunOutcome::Ok))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("run {}", id.0 + 1000)) && e.contains("`wdt_sync_run`"),
        "{e}"
    );
    db.drop_db().await;
}
