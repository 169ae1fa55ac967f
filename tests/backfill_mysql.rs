//! `wdt-refund-sync backfill` end to end against the real MariaDB: after a live sync, rows
//! deleted from a past range come back, the live checkpoint row stays as it was, a second
//! backfill of the range reads nothing, and bad ranges are refused naming the flag.

mod common;

use std::process::Output;

use chrono::NaiveDateTime;
use common::{base_url, db_url};
use mysql_async::prelude::Queryable;

const FROM: &str = "2025-01-20 00:00:00";
const TO: &str = "2025-02-10 00:00:00";

/// The single simulator account of a run without a config file, into `db`.
fn program(db: &str, args: &[&str]) -> Output {
    common::simulated_program(db, args)
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

type StateRow = (String, String, String, NaiveDateTime, NaiveDateTime);

async fn state(conn: &mut mysql_async::Conn, db: &str) -> Vec<StateRow> {
    conn.query(format!(
        "SELECT account, method, data_table, window_end, updated_at FROM `{db}`.wdt_sync_state ORDER BY method"
    ))
    .await
    .unwrap()
}

async fn in_range(conn: &mut mysql_async::Conn, db: &str) -> i64 {
    conn.query_first(format!(
        "SELECT COUNT(*) FROM `{db}`.aftersales_refund_refund_search WHERE modified BETWEEN '{FROM}' AND '{TO}'"
    ))
    .await
    .unwrap()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_restores_a_deleted_range_and_leaves_the_live_checkpoint() {
    let pool = mysql_async::Pool::new(base_url().as_str());
    let db = format!("app_backfill_{}", std::process::id());
    let mut conn = pool
        .get_conn()
        .await
        .expect("MariaDB must run at MYSQL_URL (see README)");
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
        .await
        .unwrap();
    conn.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();

    ok(&program(&db, &["run", "--once"]));
    // The live stream, and the periodic read of the recent archive under its own state row.
    let all = state(&mut conn, &db).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all[1].1.contains("#history:"), "{all:?}");
    let live = all[..1].to_vec();
    let rows = in_range(&mut conn, &db).await;
    assert!(rows > 50, "too few rows in the range: {rows}");
    conn.query_drop(format!(
        "DELETE FROM `{db}`.aftersales_refund_refund_search WHERE modified BETWEEN '{FROM}' AND '{TO}'"
    ))
    .await
    .unwrap();
    assert_eq!(in_range(&mut conn, &db).await, 0);

    let stdout = ok(&program(&db, &["backfill", "--from", FROM, "--to", TO]));
    assert!(
        stdout.contains(&format!(
            "\nbackfill {FROM} .. {TO} (Beijing), under its own checkpoint"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("in 4 windows"),
        "three weeks in windows of 7 days: {stdout}"
    );
    assert!(stdout.ends_with("backfill complete\n"), "{stdout}");
    assert_eq!(in_range(&mut conn, &db).await, rows, "the range's rows are back");
    let after: Vec<StateRow> = state(&mut conn, &db)
        .await
        .into_iter()
        .filter(|r| !r.1.contains("#history:"))
        .collect();
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(after[0], live[0], "the live checkpoint row changed");
    let (account, method, _, window_end, _) = &after[1];
    assert_eq!(account, &live[0].0);
    assert_eq!(
        method,
        &format!("{}#backfill:20250120T000000..20250210T000000", live[0].1)
    );
    assert_eq!(window_end.to_string(), TO);

    // The range is done: a second backfill (a new process, which has not measured the gateway's
    // clock yet) sends no request and writes nothing.
    let again = ok(&program(&db, &["backfill", "--from", FROM, "--to", TO]));
    assert!(again.contains("synced 0 refunds in 0 windows (0 pages"), "{again}");
    assert!(again.ends_with("backfill already complete: nothing read\n"), "{again}");
    let now: Vec<StateRow> = state(&mut conn, &db)
        .await
        .into_iter()
        .filter(|r| !r.1.contains("#history:"))
        .collect();
    assert_eq!(now, after);

    // `status` shows the backfill beside the live stream: its range, done, and its two runs.
    let status = ok(&program(&db, &["status"]));
    let range = format!("{FROM} .. {TO} (Beijing)");
    assert!(status.contains(&format!("\n  backfill {range}: done\n")), "{status}");
    assert!(
        status.contains(&format!("\n    stream: {}/{method}\n", live[0].0)),
        "{status}"
    );
    let backfill_block = &status[status.find("  backfill ").unwrap()..];
    let ok_runs = backfill_block
        .lines()
        .filter(|l| l.trim_start().starts_with("ok "))
        .count();
    assert_eq!(ok_runs, 2, "the backfill's two runs: {status}");
    // Half-way (its checkpoint moved back by hand, as after an interrupted backfill).
    conn.query_drop(format!(
        "UPDATE `{db}`.wdt_sync_state SET window_end = '2025-01-30 00:00:00' WHERE method LIKE '%#backfill:%'"
    ))
    .await
    .unwrap();
    let status = ok(&program(&db, &["status"]));
    assert!(
        status.contains(&format!(
            "\n  backfill {range}: at 2025-01-30 00:00:00 (its checkpoint), 48% of the range;"
        )),
        "{status}"
    );

    conn.query_drop(format!("DROP DATABASE `{db}`")).await.unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
}

#[test]
fn bad_ranges_and_unknown_accounts_are_refused_naming_the_flag() {
    // Refused before anything is connected: the database does not exist.
    let db = "app_backfill_never_created";
    let out = program(db, &["backfill", "--from", TO, "--to", FROM]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--to = {FROM}: not later than --from = {TO}")),
        "{stderr}"
    );
    let out = program(db, &["backfill", "--from", FROM, "--to", "2025-02-30 00:00:00"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--to"), "{stderr}");
    let out = program(db, &["backfill", "--from", FROM, "--to", TO, "--account", "shop_x"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--account = shop_x: no account has this name (there are: default)"),
        "{stderr}"
    );
}

/// An engine backfilling `[from, to]` of `sim` into `sink`, in windows of 5 days.
fn backfill_engine(
    sim: &wdt_qimen::simulator::Simulator,
    sink: refund_sink_mysql::MySqlSink,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> wdt_qimen::sync::SyncEngine<refund_sink_mysql::MySqlSink> {
    let client = wdt_qimen::Client::builder(wdt_qimen::Route::Qimen {
        url: sim.qimen_url(),
        qimen: sim.qimen_credentials(),
        wdt: sim.wdt_credentials(),
    })
    .rate_limit(wdt_qimen::limit::RateLimitConfig::unlimited())
    .build()
    .unwrap();
    let mut cfg = wdt_qimen::sync::SyncConfig::default();
    cfg.overlap = chrono::TimeDelta::seconds(5);
    cfg.max_window = chrono::TimeDelta::days(5);
    cfg.page_size = 50;
    wdt_qimen::sync::SyncEngine::new(client, sink, cfg).backfill(from, to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_that_failed_a_commit_resumes_from_its_own_checkpoint() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use wdt_qimen::sync::window;
    use wdt_qimen::time::parse_wdt;

    let pool = mysql_async::Pool::new(base_url().as_str());
    let db = format!("app_backfill_resume_{}", std::process::id());
    let mut conn = pool
        .get_conn()
        .await
        .expect("MariaDB must run at MYSQL_URL (see README)");
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
        .await
        .unwrap();
    conn.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
    let sim = wdt_qimen::simulator::Simulator::builder()
        .seed(8)
        .refunds(400)
        .time_range(
            parse_wdt("2025-01-01 00:00:00").unwrap(),
            parse_wdt("2025-03-01 00:00:00").unwrap(),
        )
        .start()
        .await;
    let (from, to) = (parse_wdt(FROM).unwrap(), parse_wdt(TO).unwrap());

    // Every window fits one commit: the third window's commit fails.
    let commits = Arc::new(AtomicU32::new(0));
    let counter = commits.clone();
    let failing = refund_sink_mysql::MySqlSink::builder(db_url(&db))
        .before_commit(Arc::new(move |_| {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            Box::pin(async move {
                if n == 3 {
                    Err("injected commit failure".into())
                } else {
                    Ok(())
                }
            })
        }))
        .build()
        .await
        .unwrap();
    let engine = backfill_engine(&sim, failing, from, to);
    engine.run().await.expect_err("the third commit fails");
    let rows = state(&mut conn, &db).await;
    assert_eq!(rows.len(), 1, "only the backfill's checkpoint: {rows:?}");
    assert!(rows[0].1.contains("#backfill:"), "{rows:?}");
    let stopped = rows[0].3;
    assert!(from < stopped && stopped < to, "{stopped}");

    let sink = refund_sink_mysql::MySqlSink::builder(db_url(&db))
        .build()
        .await
        .unwrap();
    let report = backfill_engine(&sim, sink, from, to).run().await.unwrap();
    let max = chrono::TimeDelta::days(5);
    let rest = window::plan(stopped - chrono::TimeDelta::seconds(5), to, max).len();
    assert_eq!(
        report.windows_planned as usize, rest,
        "resumed from its checkpoint: {report:?}"
    );
    assert!(rest < window::plan(from, to, max).len());
    assert_eq!(report.checkpoint, Some(to));
    let want = sim
        .snapshot()
        .iter()
        .filter_map(|v| wdt_qimen::time::from_epoch_ms(v["modified"].to_string().trim_matches('"').parse().unwrap()))
        .filter(|m| from <= *m && *m <= to)
        .count() as i64;
    let have: i64 = conn
        .query_first(format!(
            "SELECT COUNT(DISTINCT refund_id) FROM `{db}`.aftersales_refund_refund_search \
             WHERE modified BETWEEN '{FROM}' AND '{TO}'"
        ))
        .await
        .unwrap()
        .unwrap();
    assert!(want > 20, "too few refunds in the range: {want}");
    assert_eq!(have, want, "every refund of the range is stored");

    conn.query_drop(format!("DROP DATABASE `{db}`")).await.unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
}
