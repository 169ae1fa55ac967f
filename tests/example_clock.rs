//! The program when a stored checkpoint is ahead of the gateway's clock (left by a run on a host
//! whose clock was fast): it says so, moves the checkpoint back in MySQL, reads the skipped time
//! again, and a `--once` run exits with status 3.

mod common;

use std::process::Command;

use chrono::{NaiveDateTime, TimeDelta};
use common::{base_url, binary, db_url};
use mysql_async::prelude::Queryable;
use wdt_qimen::time::{format_wdt, to_beijing};

const SEED: &str = "8";
const REFUNDS: &str = "200";

fn run(db: &str, start: NaiveDateTime) -> std::process::Output {
    Command::new(binary())
        .args(["--route", "simulator", "--once", "--mysql-url", &db_url(db)])
        .args([
            "--start",
            &format_wdt(start),
            "--sim-refunds",
            REFUNDS,
            "--sim-seed",
            SEED,
        ])
        .env_remove("QIMEN_APP_KEY")
        .env_remove("WDT_SID")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the program")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_ahead_of_the_gateway_is_reported_moved_back_and_exits_3() {
    let pool = mysql_async::Pool::new(base_url().as_str());
    let mut conn = pool
        .get_conn()
        .await
        .expect("MariaDB must run at MYSQL_URL (see README)");
    let db = format!("example_clock_{}", std::process::id());
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
        .await
        .unwrap();
    conn.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
    let start = to_beijing(chrono::Utc::now()) - TimeDelta::days(5);

    let first = run(&db, start);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.contains("clock: in step with the gateway"), "{stdout}");
    // What a run on a host 6 minutes fast would have stored.
    let ahead = to_beijing(chrono::Utc::now()) + TimeDelta::minutes(6);
    let state = format!("`{db}`.wdt_sync_state");
    conn.exec_drop(format!("UPDATE {state} SET window_end = ?"), (ahead,))
        .await
        .unwrap();

    let second = run(&db, start);
    let stdout = String::from_utf8_lossy(&second.stdout);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(3), "{stdout}{stderr}");
    assert!(
        stdout.contains("checkpoint was ahead of the gateway's clock"),
        "{stdout}"
    );
    assert!(!stdout.contains("checkpoint: none yet"), "{stdout}");
    assert!(stdout.contains("behind the gateway's clock"), "{stdout}");
    assert!(
        stderr.contains("ahead of the gateway's clock"),
        "no warning logged: {stderr}"
    );
    let stored: NaiveDateTime = conn
        .query_first(format!("SELECT window_end FROM {state}"))
        .await
        .unwrap()
        .expect("a checkpoint row");
    assert!(
        stored <= to_beijing(chrono::Utc::now()),
        "the checkpoint {stored} is still ahead"
    );

    // Now nothing is ahead: a plain success.
    let third = run(&db, start);
    assert_eq!(
        third.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&third.stdout)
    );
    conn.query_drop(format!("DROP DATABASE `{db}`")).await.unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
}
