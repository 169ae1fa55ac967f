//! The config file and the settings, as start-up refuses them: the exit status 2, one line
//! naming the key, the value and the fix, and nothing attempted.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::{base_url, binary, db_url};
use mysql_async::prelude::Queryable;

/// Writes `text` to a config file of its own and returns its path.
fn config(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("wdt-app-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn program(args: &[&str]) -> Command {
    let mut c = Command::new(binary());
    c.args(args)
        .env_remove("QIMEN_APP_KEY")
        .env_remove("WDT_SID")
        .env_remove("WDT_ROUTE")
        .env_remove("MYSQL_URL")
        .env("RUST_LOG", "error");
    c
}

fn cause(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find(|l| l.starts_with("wdt-refund-sync: "))
        .unwrap_or_else(|| panic!("no one-line cause: {stderr}"))
        .to_owned()
}

const ACCOUNT: &str = "[[account]]\nname = \"shop_a\"\nroute = \"simulator\"\n";

#[test]
fn config_errors_are_refused_at_start_up_naming_the_key() {
    let cases = [
        (
            "unknown_key",
            format!("{ACCOUNT}page_sise = 50\n"),
            "page_sise: unknown field `page_sise`",
        ),
        (
            "bad_duration",
            format!("[schedule]\nevery = \"soon\"\n{ACCOUNT}"),
            "schedule.every = \"soon\": not a duration",
        ),
        (
            "missing_secret",
            "[[account]]\nname = \"shop_b\"\nroute = \"native\"\n[account.wdt]\nsid = \"s\"\napp_key = \"k\"\n\
             app_secret_env = \"WDT_APP_TEST_UNSET_SECRET\"\n"
                .to_owned(),
            "account \"shop_b\": wdt.app_secret_env = \"WDT_APP_TEST_UNSET_SECRET\": the env var \
             WDT_APP_TEST_UNSET_SECRET is not set",
        ),
        (
            "verify_without_interval",
            format!("[schedule]\nverify_days = 3\n{ACCOUNT}"),
            "schedule.verify_days = 3: there is no scheduled verify to apply it to",
        ),
        (
            "verify_bad_interval",
            format!("[schedule]\nverify_every = \"daily\"\n{ACCOUNT}"),
            "schedule.verify_every = \"daily\": not a duration",
        ),
        (
            "same_name",
            format!("{ACCOUNT}{ACCOUNT}"),
            "two accounts are named \"shop_a\"",
        ),
    ];
    for (name, text, expected) in cases {
        let path = config(name, &text);
        // MySQL on a port where nothing listens: a run that got that far would say so.
        let out = program(&[
            "--config",
            path.to_str().unwrap(),
            "--mysql-url",
            "mysql://root@127.0.0.1:9/test",
        ])
        .env_remove("WDT_APP_TEST_UNSET_SECRET")
        .output()
        .expect("run the program");
        let line = cause(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {line}");
        assert!(line.contains(expected), "{name}: {line}");
        assert!(line.contains("fix: "), "{name}: the fix is named: {line}");
        std::fs::remove_file(path).unwrap();
    }
}

#[tokio::test]
async fn without_create_tables_a_missing_table_is_named_and_none_is_created() {
    let pool = mysql_async::Pool::new(base_url().as_str());
    let mut conn = pool
        .get_conn()
        .await
        .expect("MariaDB must run at MYSQL_URL (see README)");
    let db = format!("app_no_create_{}", std::process::id());
    conn.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
    let url = db_url(&db);
    let path = config(
        "no_create",
        &format!("[mysql]\nurl = \"{url}\"\ncreate_tables = false\n{ACCOUNT}[account.simulator]\nrefunds = 10\n"),
    );
    for args in [
        vec!["--sim-refunds", "10", "--mysql-url", url.as_str(), "--no-create-tables"],
        vec!["--config", path.to_str().unwrap()],
    ] {
        let out = program(&args).output().expect("run the program");
        let line = cause(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {line}");
        assert!(
            line.contains("does not exist") && line.contains("--no-create-tables"),
            "{line}"
        );
    }
    let tables: Vec<String> = conn.query(format!("SHOW TABLES FROM `{db}`")).await.unwrap();
    assert!(tables.is_empty(), "tables were created: {tables:?}");
    std::fs::remove_file(path).unwrap();
    conn.query_drop(format!("DROP DATABASE `{db}`")).await.unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
}

/// A secret written by mistake where the name of its env var or file belongs (`app_secret_env
/// = "<the secret>"`, `mysql.url_file = "mysql://u:pw@…"`) is refused without being printed.
#[test]
fn a_secret_written_where_its_source_belongs_is_never_printed() {
    const SECRET: &str = "hunter2xyz";
    let wdt = "[[account]]\nname = \"shop_b\"\nroute = \"native\"\n[account.wdt]\nsid = \"s\"\napp_key = \"k\"\n";
    let cases = [
        (
            "secret_in_env",
            format!("{wdt}app_secret_env = \"{SECRET}:salt\"\n"),
            "wdt.app_secret_env",
        ),
        (
            "url_in_env",
            format!("[mysql]\nurl_env = \"mysql://root:{SECRET}@127.0.0.1:9/test\"\n{ACCOUNT}"),
            "mysql.url_env",
        ),
        (
            "url_in_file",
            format!("[mysql]\nurl_file = \"mysql://root:{SECRET}@127.0.0.1:9/test\"\n{ACCOUNT}"),
            "mysql.url_file",
        ),
    ];
    for (name, text, key) in cases {
        let path = config(name, &text);
        let out = program(&["--config", path.to_str().unwrap()])
            .output()
            .expect("run the program");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(SECRET), "{name}: the secret leaked: {all}");
        let line = cause(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {line}");
        assert!(line.contains(key), "{name}: the key is named: {line}");
        std::fs::remove_file(path).unwrap();
    }
}
