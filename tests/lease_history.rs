//! One runner per stream and the run history, through the binary against MariaDB: twins on one
//! stream read it once, every run leaves a row (ok, failed, skipped, abandoned after kill -9),
//! and `status` prints what the database holds.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use chrono::NaiveDateTime;
use common::{binary, db_url, TestDb};
use mysql_async::prelude::Queryable;
use wdt_qimen::simulator::Simulator;
use wdt_qimen::time::{from_epoch_ms, parse_wdt};

const START: &str = "2025-01-01 00:00:00";
const UNTIL: &str = "2025-02-01 00:00:00";
const REFUNDS: usize = 300;
const SEED: u64 = 8;

impl TestDb {
    /// Each stored refund's `modified` (one per refund: every line of a refund carries it).
    async fn stored(&self) -> BTreeMap<i64, NaiveDateTime> {
        let mut conn = self.pool.get_conn().await.unwrap();
        let rows: Vec<(i64, NaiveDateTime, NaiveDateTime)> = conn
            .query(format!(
                "SELECT refund_id, MIN(modified), MAX(modified) FROM `{}`.aftersales_refund_refund_search GROUP BY refund_id",
                self.name
            ))
            .await
            .unwrap();
        rows.into_iter()
            .map(|(id, lo, hi)| {
                assert_eq!(lo, hi, "refund {id}: lines of two versions");
                (id, lo)
            })
            .collect()
    }

    /// The run history, oldest first: (outcome, refunds, requests, error).
    async fn runs(&self) -> Vec<(String, Option<u64>, Option<u64>, Option<String>)> {
        let mut conn = self.pool.get_conn().await.unwrap();
        conn.query(format!(
            "SELECT outcome, refunds, requests, error FROM `{}`.wdt_sync_run ORDER BY id",
            self.name
        ))
        .await
        .unwrap()
    }
}

/// The simulator's data: each refund's `modified`.
async fn truth() -> BTreeMap<i64, NaiveDateTime> {
    let sim = Simulator::builder()
        .seed(SEED)
        .refunds(REFUNDS)
        .time_range(parse_wdt(START).unwrap(), parse_wdt(UNTIL).unwrap())
        .start()
        .await;
    sim.snapshot()
        .iter()
        .map(|v| {
            let id: i64 = v["refund_id"].to_string().trim_matches('"').parse().unwrap();
            let ms: i64 = v["modified"].to_string().trim_matches('"').parse().unwrap();
            (id, from_epoch_ms(ms).unwrap())
        })
        .collect()
}

/// A single-account run on the simulator into `db`; slow answers (`latency`) keep it running.
fn command(db: &TestDb, latency: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(binary());
    c.args([
        "--route",
        "simulator",
        "--mysql-url",
        &db_url(&db.name),
        "--start",
        START,
    ])
    .args(["--sim-until", UNTIL, "--sim-refunds", &REFUNDS.to_string()])
    .args(["--sim-seed", &SEED.to_string(), "--sim-latency", latency])
    .args(["--page-size", "20", "--lag", "0s", "--max-window", "5days"])
    .args(extra)
    .env_remove("QIMEN_APP_KEY")
    .env_remove("WDT_SID")
    .env_remove("WDT_ROUTE")
    .env_remove("MYSQL_URL")
    .env("RUST_LOG", "error")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Starts two copies at once and waits for both.
fn twins(db: &TestDb, extra: &[&str]) -> [Output; 2] {
    let a = command(db, "20ms", extra).spawn().unwrap();
    let b = command(db, "20ms", extra).spawn().unwrap();
    [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twins_on_one_stream_read_it_once_and_the_other_skips_with_a_line() {
    let db = TestDb::new("lease_twins").await;
    let truth = truth().await;
    let outs = twins(&db, &["--once"]);
    for o in &outs {
        assert!(o.status.success(), "a skipped stream is not a failure: {}", text(o));
    }
    let skipped: Vec<&Output> = outs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stdout).contains("skipped: the stream "))
        .collect();
    assert_eq!(skipped.len(), 1, "{}\n---\n{}", text(&outs[0]), text(&outs[1]));
    let line = text(skipped[0]);
    assert!(line.contains(" is held by ") && line.contains(" until "), "{line}");
    assert!(line.contains("1 of 1 streams skipped"), "{line}");
    assert_eq!(db.stored().await, truth);
    let runs = db.runs().await;
    let mut outcomes: Vec<&str> = runs.iter().map(|r| r.0.as_str()).collect();
    outcomes.sort();
    assert_eq!(outcomes, ["ok", "skipped_lease"], "{runs:?}");
    let ok = runs.iter().find(|r| r.0 == "ok").unwrap();
    assert_eq!(ok.1, Some(REFUNDS as u64));
    assert!(ok.2.is_some_and(|n| n > 0), "requests counted: {ok:?}");
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_wait_for_lease_the_second_twin_runs_after_the_first_and_reads_only_the_overlap() {
    let db = TestDb::new("lease_wait").await;
    let truth = truth().await;
    let outs = twins(&db, &["--once", "--wait-for-lease", "--lease-ttl", "3s"]);
    for o in &outs {
        assert!(o.status.success(), "{}", text(o));
        assert!(!text(o).contains("skipped: the stream"), "{}", text(o));
    }
    assert_eq!(db.stored().await, truth);
    let runs = db.runs().await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| r.0 == "ok"), "{runs:?}");
    assert_eq!(runs[0].1, Some(REFUNDS as u64), "the first read everything: {runs:?}");
    let second = runs[1].1.unwrap();
    assert!(
        second < REFUNDS as u64 / 10,
        "the second read only the overlap: {runs:?}"
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_run_leaves_a_row_ok_failed_and_abandoned_after_kill_9() {
    let db = TestDb::new("lease_history").await;
    // A run killed mid-way (slow answers keep it running) records no end.
    let mut child = command(&db, "40ms", &["--once", "--lease-ttl", "2s"]).spawn().unwrap();
    let mut started = false;
    for _ in 0..200 {
        if db_has_running(&db).await {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(started, "the run recorded its start");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(db.runs().await[0].0, "running");
    // The next run takes over the dead one's lease once it expires, and marks its run abandoned.
    let o = command(&db, "0s", &["--once", "--wait-for-lease", "--lease-ttl", "2s"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let runs = db.runs().await;
    assert_eq!(runs[0].0, "abandoned", "{runs:?}");
    assert_eq!(runs[1].0, "ok", "{runs:?}");
    // A failing run: a trigger of the user's refuses every insert, so the first commit fails.
    let mut conn = db.pool.get_conn().await.unwrap();
    conn.query_drop(format!(
        "CREATE TRIGGER `{0}`.refuse BEFORE INSERT ON `{0}`.aftersales_refund_refund_search FOR EACH ROW \
         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by the test'",
        db.name
    ))
    .await
    .unwrap();
    conn.query_drop(format!("DELETE FROM `{}`.wdt_sync_state", db.name))
        .await
        .unwrap();
    conn.query_drop(format!(
        "DELETE FROM `{}`.aftersales_refund_refund_search WHERE modified >= '2025-01-19 00:00:00'",
        db.name
    ))
    .await
    .unwrap();
    drop(conn);
    let o = command(&db, "0s", &["--once"]).output().unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    let runs = db.runs().await;
    let last = runs.last().unwrap();
    assert_eq!(last.0, "failed", "{runs:?}");
    let error = last.3.as_deref().unwrap_or_default();
    assert!(error.contains("refused by the test"), "{error}");
    assert!(!error.contains('\n'));

    // `status` shows the checkpoint, the runs (newest first) and the dead letters waiting.
    let mut conn = db.pool.get_conn().await.unwrap();
    let account: String = conn
        .query_first(format!("SELECT account FROM `{}`.wdt_sync_run LIMIT 1", db.name))
        .await
        .unwrap()
        .unwrap();
    conn.query_drop(format!(
        "INSERT INTO `{}`.wdt_sync_dead_letter (account, method, record_key, raw_sha256, reason, raw_json) \
         VALUES ('{account}', 'aftersales.refund.Refund.search', 'r1', REPEAT('0', 64), 'bad', '{{}}')",
        db.name
    ))
    .await
    .unwrap();
    drop(conn);
    let mut status = command(&db, "0s", &["status", "--runs", "2"]);
    let o = status.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "account default", "{out}");
    assert_eq!(
        lines[1],
        format!("  stream: {account}/aftersales.refund.Refund.search"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("  checkpoint: 2025-01-") && lines[2].ends_with(" behind now"),
        "{out}"
    );
    assert!(lines[3].starts_with("  dead letters waiting: 1 "), "{out}");
    assert_eq!(lines[4], "  last runs (newest first):", "{out}");
    assert!(lines[5].trim_start().starts_with("failed "), "{out}");
    assert!(
        lines[5].contains("error: ") && lines[5].contains("refused by the test"),
        "{out}"
    );
    assert!(lines[6].trim_start().starts_with("ok "), "{out}");
    assert!(lines[6].contains(&format!(" {REFUNDS} refunds, ")), "{out}");
    assert_eq!(lines[7..], [""], "two runs asked for, then a blank line: {out}");
    db.drop().await;
}

async fn db_has_running(db: &TestDb) -> bool {
    let mut conn = db.pool.get_conn().await.unwrap();
    conn.query_first::<i64, _>(format!(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{}' AND table_name = 'wdt_sync_run'",
        db.name
    ))
    .await
    .unwrap()
        == Some(1)
        && conn
            .query_first::<i64, _>(format!(
                "SELECT COUNT(*) FROM `{}`.wdt_sync_run WHERE outcome = 'running'",
                db.name
            ))
            .await
            .unwrap()
            == Some(1)
}

/// Starts a slow run and waits until it has recorded its start.
async fn started_slow_run(db: &TestDb) -> std::process::Child {
    let mut child = command(db, "40ms", &["--once", "--lease-ttl", "2s"]).spawn().unwrap();
    for _ in 0..200 {
        if db_has_running(db).await {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    panic!("the run recorded no start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_taken_over_mid_run_stops_the_run_and_a_signal_records_interrupted() {
    let db = TestDb::new("lease_lost").await;
    let child = started_slow_run(&db).await;
    // Another runner takes the stream over (as after an expiry): the next renewal sees it.
    let mut conn = db.pool.get_conn().await.unwrap();
    conn.query_drop(format!(
        "UPDATE `{}`.wdt_sync_lease SET owner_host = 'thief', owner_pid = 1, owner_token = 'thief', \
         generation = generation + 1, expires_at = NOW(6) + INTERVAL 1 MINUTE",
        db.name
    ))
    .await
    .unwrap();
    drop(conn);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("was lost mid-run"), "{}", text(&o));
    let runs = db.runs().await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].0, "failed", "{runs:?}");
    assert!(
        runs[0].3.as_deref().unwrap_or_default().contains("lost mid-run"),
        "{runs:?}"
    );

    // The thief's lease released, a run stopped by SIGTERM ends `interrupted`.
    let mut conn = db.pool.get_conn().await.unwrap();
    conn.query_drop(format!("DELETE FROM `{}`.wdt_sync_lease", db.name))
        .await
        .unwrap();
    drop(conn);
    let child = started_slow_run(&db).await;
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let runs = db.runs().await;
    assert_eq!(runs.last().unwrap().0, "interrupted", "{runs:?}");
    db.drop().await;
}
