//! Many accounts from one config file, synced at the same time in one process: each into its
//! own tables under its own checkpoint, and one failing never stops the others.

mod common;

use std::process::{Command, Output};

use common::{binary, db_url, TestDb};
use mysql_async::prelude::Queryable;
use wdt_qimen::simulator::Simulator;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

impl TestDb {
    /// Distinct refunds in the flat table with `prefix`.
    async fn refunds(&self, prefix: &str) -> i64 {
        let mut conn = self.pool.get_conn().await.unwrap();
        conn.query_first(format!(
            "SELECT COUNT(DISTINCT refund_id) FROM `{}`.`{prefix}aftersales_refund_refund_search`",
            self.name
        ))
        .await
        .unwrap()
        .unwrap()
    }

    async fn streams(&self, prefix: &str) -> Vec<String> {
        let mut conn = self.pool.get_conn().await.unwrap();
        // The live streams (one state row per data table; the periodic archive read keeps rows
        // of its own).
        conn.query(format!(
            "SELECT DISTINCT account FROM `{}`.`{prefix}wdt_sync_state` WHERE method NOT LIKE '%#history:%'",
            self.name
        ))
        .await
        .unwrap()
    }
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(binary());
    c.args(args)
        .env_remove("QIMEN_APP_KEY")
        .env_remove("WDT_SID")
        .env_remove("WDT_ROUTE")
        .env_remove("MYSQL_URL")
        .env_remove("ALERT_WEBHOOK")
        .env_remove("ALERT_ROBOT")
        .env_remove("ALERT_SECRET")
        .env("RUST_LOG", "error");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run the program")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_config_syncs_two_accounts_into_their_own_tables() {
    let db = TestDb::new("app_two_accounts").await;
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sync.toml");
    // The flag overrides the file's MySQL URL.
    let out = run(&["--config", config, "--mysql-url", &db_url(&db.name), "--once"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, refunds) in [("shop_a", 2000), ("shop_b", 1000)] {
        assert!(
            stdout.contains(&format!("{name}: synced {refunds} refunds")),
            "{name}'s report block: {stdout}"
        );
        assert!(stdout.contains(&format!("{name}: checkpoint: ")), "{stdout}");
        assert_eq!(db.refunds(&format!("{name}_")).await, refunds, "{name}'s table");
        assert_eq!(
            db.streams(&format!("{name}_")).await,
            [name],
            "{name}'s checkpoint stream"
        );
    }
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_with_a_wrong_secret_fails_alone_and_is_named() {
    let db = TestDb::new("app_one_fails").await;
    let gateway = Simulator::builder().refunds(50).start().await;
    let robot = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"errcode": 0})))
        .mount(&robot)
        .await;
    let text = format!(
        r#"
[mysql]
url = "{url}"

[defaults]
start = "2025-01-01 00:00:00"

[[account]]
name = "good"
route = "simulator"
table_prefix = "good_"
[account.simulator]
refunds = 200
until = "2025-03-01 00:00:00"

[[account]]
name = "bad"
route = "native"
table_prefix = "bad_"
[account.wdt]
url = "{native}"
sid = "{sid}"
app_key = "{key}"
app_secret_env = "WDT_APP_TEST_BAD_SECRET"
"#,
        url = db_url(&db.name),
        native = gateway.native_url(),
        sid = wdt_qimen::simulator::WDT_SID,
        key = wdt_qimen::simulator::WDT_APP_KEY,
    );
    let path = std::env::temp_dir().join(format!("wdt-app-{}-one-fails.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let out = run(
        &[
            "--config",
            path.to_str().unwrap(),
            "--alert-webhook",
            &robot.uri(),
            "--alert-robot",
            "dingtalk",
        ],
        &[("WDT_APP_TEST_BAD_SECRET", "not-the-secret:salt")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("good: synced 200 refunds"), "{stdout}");
    assert_eq!(db.refunds("good_").await, 200);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("wdt-refund-sync: bad: authentication failed")),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("wdt-refund-sync: 1 of 2 accounts failed: bad;")),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-secret"), "{stderr}");
    let alerts: Vec<String> = robot
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["markdown"]["text"].to_string())
        .collect();
    assert_eq!(alerts.len(), 1, "one alert, for the failed account: {alerts:?}");
    assert!(
        alerts[0].contains("[refund_sync] bad: sync failing") && alerts[0].contains("**cause**: authentication failed"),
        "{alerts:?}"
    );
    assert_eq!(gateway.stats().auth_failures, 1, "the wrong secret is not retried");
    // Each account's run history: the good one ok, the bad one failed with its one-line error.
    let mut conn = db.pool.get_conn().await.unwrap();
    for (prefix, outcome) in [("good_", "ok"), ("bad_", "failed")] {
        let runs: Vec<(String, Option<String>)> = conn
            .query(format!(
                "SELECT outcome, error FROM `{}`.`{prefix}wdt_sync_run`",
                db.name
            ))
            .await
            .unwrap();
        assert_eq!(runs.len(), 1, "{prefix}: {runs:?}");
        assert_eq!(runs[0].0, outcome, "{prefix}: {runs:?}");
        if outcome == "failed" {
            let error = runs[0].1.as_deref().unwrap_or_default();
            assert!(error.starts_with("authentication failed"), "{error}");
            assert!(!error.contains("not-the-secret"), "{error}");
        }
    }
    drop(conn);
    std::fs::remove_file(path).unwrap();
    db.drop().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_the_accounts_keep_running_until_a_signal_stops_them_all() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let db = TestDb::new("app_every").await;
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sync.toml");
    let mut child = Command::new(binary())
        .args([
            "--config",
            config,
            "--mysql-url",
            &db_url(&db.name),
            "run",
            "--every",
            "1h",
        ])
        .env_remove("MYSQL_URL")
        .env_remove("ALERT_WEBHOOK")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the program");
    // Both accounts finish their first run, then wait for the next interval.
    let mut done = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some((name, _)) = line.split_once(": checkpoint: ") {
            done.push(name.to_owned());
        }
        if done.len() == 2 {
            break;
        }
    }
    done.sort();
    assert_eq!(done, ["shop_a", "shop_b"]);
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    // A guard against a hang, not a measurement: the process waits an hour otherwise.
    let mut status = None;
    for _ in 0..600 {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let Some(status) = status else {
        child.kill().unwrap();
        panic!("the program did not stop at SIGTERM");
    };
    assert_eq!(status.code(), Some(0), "a signal ends a scheduled run cleanly");
    db.drop().await;
}

/// A config of two simulated accounts whose refund ids collide (the simulator numbers refunds
/// from the same start under every seed), each into the tables `prefix_a` / `prefix_b`.
fn colliding_accounts(url: &str, prefix_a: &str, prefix_b: &str) -> String {
    format!(
        r#"
[mysql]
url = "{url}"

[defaults]
start = "2025-01-01 00:00:00"
layout = "both"

[[account]]
name = "shop_a"
route = "simulator"
table_prefix = "{prefix_a}"
[account.simulator]
refunds = 300
seed = 1
until = "2025-03-01 00:00:00"

[[account]]
name = "shop_b"
route = "simulator"
table_prefix = "{prefix_b}"
[account.simulator]
refunds = 300
seed = 2
until = "2025-03-01 00:00:00"
"#
    )
}

/// Rows of `table` under `prefix` (only `account`'s when given) that the same table under
/// `other` lacks, compared on every column but the account.
async fn rows_missing(db: &TestDb, table: &str, columns: &[&str], from: (&str, &str), other: &str) -> i64 {
    let cols = columns
        .iter()
        .filter(|c| **c != "account")
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let (prefix, account) = from;
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT {cols} FROM `{db}`.`{prefix}{table}` WHERE account = '{account}' \
         EXCEPT SELECT {cols} FROM `{db}`.`{other}{table}`) d",
        db = db.name
    );
    let mut conn = db.pool.get_conn().await.unwrap();
    conn.query_first(sql).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_with_colliding_refund_ids_share_one_table_prefix() {
    use refund_sink_mysql::schema::{Table, FLAT_COLUMNS};

    let db = TestDb::new("app_shared_tables").await;
    let run_config = |name: &str, text: String| {
        let path = std::env::temp_dir().join(format!("wdt-app-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let out = run(&["--config", path.to_str().unwrap(), "--once"], &[]);
        std::fs::remove_file(path).unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let url = db_url(&db.name);
    let stdout = run_config("shared", colliding_accounts(&url, "shared_", "shared_"));
    for name in ["shop_a", "shop_b"] {
        assert!(stdout.contains(&format!("{name}: synced 300 refunds")), "{stdout}");
    }
    // The reference: each account in tables of its own.
    run_config("apart", colliding_accounts(&url, "ref_a_", "ref_b_"));

    let mut conn = db.pool.get_conn().await.unwrap();
    let collisions: i64 = conn
        .query_first(format!(
            "SELECT COUNT(*) FROM `{0}`.`shared_wdt_refund` a JOIN `{0}`.`shared_wdt_refund` b \
             ON a.refund_id = b.refund_id AND a.account = 'shop_a' AND b.account = 'shop_b'",
            db.name
        ))
        .await
        .unwrap()
        .unwrap();
    assert!(collisions > 50, "the two data sets share refund ids: {collisions}");
    let per_account: Vec<(String, i64)> = conn
        .query(format!(
            "SELECT account, COUNT(*) FROM `{}`.`shared_wdt_refund` GROUP BY account ORDER BY account",
            db.name
        ))
        .await
        .unwrap();
    assert_eq!(per_account, [("shop_a".to_owned(), 300), ("shop_b".to_owned(), 300)]);
    drop(conn);
    // Each account's rows in the shared tables are exactly those it writes alone.
    for (account, reference) in [("shop_a", "ref_a_"), ("shop_b", "ref_b_")] {
        for table in [
            Table::Flat,
            Table::Refund,
            Table::RefundDetail,
            Table::RefundAmountDetail,
        ] {
            let columns: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
            let name = table.to_string();
            let shared_n: i64 = {
                let mut conn = db.pool.get_conn().await.unwrap();
                conn.query_first(format!(
                    "SELECT COUNT(*) FROM `{}`.`shared_{name}` WHERE account = '{account}'",
                    db.name
                ))
                .await
                .unwrap()
                .unwrap()
            };
            let reference_n: i64 = {
                let mut conn = db.pool.get_conn().await.unwrap();
                conn.query_first(format!("SELECT COUNT(*) FROM `{}`.`{reference}{name}`", db.name))
                    .await
                    .unwrap()
                    .unwrap()
            };
            assert_eq!(shared_n, reference_n, "{account} {name}");
            assert!(reference_n > 0, "{account} {name}");
            assert_eq!(
                rows_missing(&db, &name, &columns, ("shared_", account), reference).await,
                0,
                "{account} {name}: rows the account's own tables do not have"
            );
        }
    }
    assert_eq!(FLAT_COLUMNS.last().map(|c| c.name), Some("account"));
    db.drop().await;
}

/// Every account of the process shares one MySQL pool of `mysql.pool_size` connections: twelve
/// accounts sync at once as a MySQL user allowed only two connections (each account with a
/// pool of its own would open several and be refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_accounts_share_one_bounded_pool_of_connections() {
    let db = TestDb::new("app_shared_pool").await;
    let user = format!("wdtpool_{}", std::process::id());
    let mut conn = db.pool.get_conn().await.unwrap();
    conn.query_drop(format!("DROP USER IF EXISTS '{user}'@'%'"))
        .await
        .unwrap();
    conn.query_drop(format!("CREATE USER '{user}'@'%' WITH MAX_USER_CONNECTIONS 2"))
        .await
        .unwrap();
    conn.query_drop(format!("GRANT ALL ON `{}`.* TO '{user}'@'%'", db.name))
        .await
        .unwrap();
    let mut url = url::Url::parse(&db_url(&db.name)).unwrap();
    url.set_username(&user).unwrap();
    url.set_password(None).unwrap();
    let mut text = format!(
        "[mysql]\nurl = \"{url}\"\npool_size = 2\n\n[defaults]\nstart = \"2025-01-01 00:00:00\"\nroute = \"simulator\"\n"
    );
    const ACCOUNTS: usize = 12;
    for i in 0..ACCOUNTS {
        text.push_str(&format!(
            "\n[[account]]\nname = \"a{i}\"\ntable_prefix = \"a{i}_\"\n[account.simulator]\nrefunds = 40\nseed = {i}\nuntil = \"2025-03-01 00:00:00\"\n"
        ));
    }
    let path = std::env::temp_dir().join(format!("wdt-app-{}-shared-pool.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let out = run(&["--config", path.to_str().unwrap(), "--once"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    for i in 0..ACCOUNTS {
        assert!(stdout.contains(&format!("a{i}: synced 40 refunds")), "{stdout}");
        assert_eq!(db.refunds(&format!("a{i}_")).await, 40, "a{i}'s table");
        let runs: Vec<String> = conn
            .query(format!("SELECT outcome FROM `{}`.`a{i}_wdt_sync_run`", db.name))
            .await
            .unwrap();
        assert_eq!(runs, ["ok"], "a{i}'s run history");
    }
    conn.query_drop(format!("DROP USER '{user}'@'%'")).await.unwrap();
    drop(conn);
    std::fs::remove_file(path).unwrap();
    db.drop().await;
}

/// A panic in one account's run (injected by the test-only env var, simulator route only) fails
/// that account with one line; the other account syncs, the panicking run is recorded failed,
/// and its lease is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_one_accounts_run_fails_that_account_alone() {
    let db = TestDb::new("app_panic").await;
    let text = format!(
        r#"
[mysql]
url = "{url}"

[defaults]
start = "2025-01-01 00:00:00"
route = "simulator"

[[account]]
name = "good"
table_prefix = "good_"
[account.simulator]
refunds = 100
until = "2025-03-01 00:00:00"

[[account]]
name = "boom"
table_prefix = "boom_"
[account.simulator]
refunds = 100
until = "2025-03-01 00:00:00"
"#,
        url = db_url(&db.name),
    );
    let path = std::env::temp_dir().join(format!("wdt-app-{}-panic.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let out = run(
        &["--config", path.to_str().unwrap(), "--once"],
        &[(wdt_refund_sync::run::TEST_PANIC_ENV, "boom")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("good: synced 100 refunds"), "{stdout}");
    assert_eq!(db.refunds("good_").await, 100);
    assert!(
        stderr
            .lines()
            .any(|l| l
                .starts_with("wdt-refund-sync: boom: the sync panicked during the run: test panic after 1 commits")),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("wdt-refund-sync: 1 of 2 accounts failed: boom;")),
        "{stderr}"
    );
    let mut conn = db.pool.get_conn().await.unwrap();
    let runs: Vec<(String, Option<String>)> = conn
        .query(format!("SELECT outcome, error FROM `{}`.`boom_wdt_sync_run`", db.name))
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].0, "failed", "{runs:?}");
    assert!(
        runs[0]
            .1
            .as_deref()
            .unwrap_or_default()
            .starts_with("the sync panicked during the run"),
        "{runs:?}"
    );
    let released: Vec<bool> = conn
        .query(format!(
            "SELECT released_at IS NOT NULL FROM `{}`.`boom_wdt_sync_lease`",
            db.name
        ))
        .await
        .unwrap();
    assert_eq!(released, [true], "the panicking run's lease is released");
    drop(conn);
    std::fs::remove_file(path).unwrap();
    db.drop().await;
}
