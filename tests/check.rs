//! `wdt-refund-sync check`, as a deploy pipeline runs it: one line per check, exit 0 when all
//! pass, non-zero naming what failed; nothing written.

mod common;

use std::process::{Command, Output};

use common::{base_url, binary, db_url};
use mysql_async::prelude::Queryable;
use wdt_qimen::simulator::Simulator;

fn check(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(binary());
    c.arg("check")
        .args(args)
        .env_remove("QIMEN_APP_KEY")
        .env_remove("WDT_SID")
        .env_remove("WDT_ROUTE")
        .env("RUST_LOG", "error");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run the program")
}

#[tokio::test]
async fn check_passes_on_a_fresh_database_without_creating_anything() {
    let pool = mysql_async::Pool::new(base_url().as_str());
    let mut conn = pool
        .get_conn()
        .await
        .expect("MariaDB must run at MYSQL_URL (see README)");
    let db = format!("app_check_{}", std::process::id());
    conn.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();

    let out = check(
        &[
            "--route",
            "simulator",
            "--sim-refunds",
            "10",
            "--mysql-url",
            &db_url(&db),
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "config, gateway, MySQL: {stdout}");
    assert!(lines[0].starts_with("ok   config: 1 account"), "{stdout}");
    assert!(lines[1].starts_with("ok   gateway: simulator"), "{stdout}");
    assert!(
        lines[2].starts_with("ok   MySQL: ") && lines[2].contains("the first run creates it"),
        "{stdout}"
    );
    let tables: Vec<String> = conn.query(format!("SHOW TABLES FROM `{db}`")).await.unwrap();
    assert!(tables.is_empty(), "check created {tables:?}");
    conn.query_drop(format!("DROP DATABASE `{db}`")).await.unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
}

#[tokio::test]
async fn check_fails_naming_a_wrong_secret_and_an_unreachable_mysql() {
    let sim = Simulator::builder().refunds(10).start().await;
    let out = check(
        &["--route", "native", "--wdt-url", &sim.native_url()],
        &[
            ("WDT_SID", wdt_qimen::simulator::WDT_SID),
            ("WDT_APP_KEY", wdt_qimen::simulator::WDT_APP_KEY),
            ("WDT_APP_SECRET", "not-the-secret:salt"),
            ("MYSQL_URL", "mysql://root:pw@127.0.0.1:9/test"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("FAIL gateway: native (") && l.contains("authentication failed")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("FAIL MySQL: ") && l.contains("127.0.0.1:9")),
        "{stdout}"
    );
    assert!(stderr.contains("wdt-refund-sync: 2 of 3 checks failed"), "{stderr}");
    assert!(
        !stdout.contains("not-the-secret") && !stdout.contains(":pw@"),
        "{stdout}"
    );
    assert_eq!(sim.stats().pages_served, 0);
    assert_eq!(sim.stats().auth_failures, 1, "one request, not retried");
}
