//! What a status page reads against a real MariaDB: every stream's checkpoint, dead letters and
//! lease in one statement; the recent runs, bounded per stream, with the failure streak since
//! the last ok run, in another; and an unreachable database failing at once.

mod common;

use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;
use refund_sink_mysql::{LeaseOutcome, LeaseOwner, MySqlSink, RunEnd, RunOutcome, RunStart};
use wdt_qimen::sync::{Sink as _, StreamId};

const LIMIT: Duration = Duration::from_secs(10);

async fn runs(sink: &MySqlSink, stream: &StreamId, outcomes: &[RunOutcome]) {
    for o in outcomes {
        let id = sink
            .run_started(stream, RunStart::new(LeaseOwner::new("host-a", 7)))
            .await
            .unwrap();
        if *o != RunOutcome::Running {
            let mut end = RunEnd::new(*o);
            if *o == RunOutcome::Failed {
                end = end.error("it broke");
            }
            sink.run_finished(id, end).await.unwrap();
        }
    }
}

#[tokio::test]
async fn streams_runs_and_failure_streaks_are_read_in_two_statements() {
    let db = TestDb::new("overview").await;
    let sink = db.sink().build().await.unwrap();
    let live = stream();
    let other = StreamId::new("other-sid", "aftersales.refund.Refund.search");
    let quiet = StreamId::new("quiet-sid", "aftersales.refund.Refund.search");

    let states = sink.stream_states(LIMIT).await.unwrap();
    assert_eq!(states.streams, vec![], "nothing stored yet");

    sink.commit(batch(vec![refund(1, at(100, 0), 1)], Some(at(3000, 0))))
        .await
        .unwrap();
    let lease = match sink.lease(&live, Duration::from_secs(60)).await.unwrap() {
        LeaseOutcome::Acquired(l) => l,
        LeaseOutcome::HeldBy(h) => panic!("held by {h}"),
    };
    let mut conn = db.conn().await;
    conn.query_drop(
        "INSERT INTO wdt_sync_dead_letter (account, method, raw_sha256, reason, raw_json) VALUES \
         ('other-sid', 'aftersales.refund.Refund.search', 'x1', 'bad', '{}'), \
         ('other-sid', 'aftersales.refund.Refund.search', 'x2', 'bad', '{}')",
    )
    .await
    .unwrap();
    drop(conn);

    let states = sink.stream_states(LIMIT).await.unwrap();
    let ids: Vec<&StreamId> = states.streams.iter().map(|s| &s.stream).collect();
    assert_eq!(ids, vec![&other, &live], "sorted by account and method");
    let (o, l) = (&states.streams[0], &states.streams[1]);
    assert_eq!((o.checkpoint, o.dead_letters, o.lease.is_none()), (None, 2, true));
    assert_eq!(l.checkpoint, Some(at(3000, 0)));
    assert_eq!(l.dead_letters, 0);
    let row = l.lease.as_ref().expect("the lease row");
    assert!(row.live && row.released_at.is_none(), "{row:?}");
    assert_eq!(row.pid, i64::from(std::process::id()));
    assert!(row.expires_at > states.db_now, "{row:?} at {}", states.db_now);
    lease.release().await.unwrap();
    let states = sink.stream_states(LIMIT).await.unwrap();
    let row = states.streams[1].lease.as_ref().unwrap();
    assert!(!row.live && row.released_at.is_some(), "{row:?}");

    use RunOutcome::*;
    runs(&sink, &live, &[Failed, Ok, Failed, SkippedLease, Failed, Running]).await;
    runs(&sink, &other, &[Failed, Failed]).await;
    let read = sink
        .stream_runs(&[live.clone(), other.clone(), quiet.clone()], 24, 100, LIMIT)
        .await
        .unwrap();
    assert_eq!(read.len(), 3);
    let outcomes: Vec<RunOutcome> = read[0].runs.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        vec![Running, Failed, SkippedLease, Failed, Ok, Failed],
        "newest first"
    );
    assert_eq!(read[0].failure_streak, 2, "the failed runs since the last ok one");
    assert_eq!(read[0].failing_since, Some(read[0].runs[3].started_at));
    assert_eq!(read[0].runs[1].error.as_deref(), Some("it broke"));
    assert_eq!(
        (read[1].failure_streak, read[1].runs.len()),
        (2, 2),
        "never ok: every failure"
    );
    assert_eq!(read[1].failing_since, Some(read[1].runs[1].started_at));
    assert_eq!((read[2].failure_streak, read[2].runs.len()), (0, 0), "no runs");

    // Bounded per stream, newest kept.
    let read = sink
        .stream_runs(std::slice::from_ref(&live), 24, 2, LIMIT)
        .await
        .unwrap();
    let outcomes: Vec<RunOutcome> = read[0].runs.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, vec![Running, Failed]);
    assert_eq!(read[0].failure_streak, 2, "the streak is not bounded by the rows read");

    // Runs older than the hours asked for are left out, except the newest few.
    let mut conn = db.conn().await;
    conn.query_drop("UPDATE wdt_sync_run SET started_at = started_at - INTERVAL 3 DAY")
        .await
        .unwrap();
    drop(conn);
    runs(&sink, &other, &[Ok; 12]).await;
    let read = sink.stream_runs(&[live, other], 24, 100, LIMIT).await.unwrap();
    assert_eq!(read[0].runs.len(), 6, "all among the newest 10");
    assert_eq!(
        read[1].runs.len(),
        12,
        "only the runs of the last 24 h: {:?}",
        read[1].runs
    );
    assert_eq!(read[1].failure_streak, 0);
    db.drop_db().await;
}

#[tokio::test]
async fn a_database_gone_fails_at_once_naming_it() {
    let db = TestDb::new("overview_gone").await;
    let sink = db.sink().build().await.unwrap();
    let name = db.name.clone();
    db.drop_db().await;
    let e = sink.stream_states(LIMIT).await.unwrap_err();
    assert!(format!("{e:?}").contains(&name), "{e:?}");
    let e = sink.stream_runs(&[stream()], 24, 10, LIMIT).await.unwrap_err();
    assert!(format!("{e:?}").contains(&name), "{e:?}");
}
