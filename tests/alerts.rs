//! Alerts against a local fake robot: DingTalk's signed URL, the robot's `errcode` read, WeCom's
//! message shape, and a scheduled run that posts one alert for an account that keeps failing.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use wdt_refund_sync::alert::{Robot, RobotError, RobotKind};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A clock stopped at one instant.
#[derive(Debug)]
struct Stopped(DateTime<Utc>);

impl wdt_qimen::time::Clock for Stopped {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

const SECRET: &str = "SECtest0123456789abcdef";
const TOKEN: &str = "tok0123456789";

/// The log lines written while `f` runs on this thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || logs.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

async fn robot_answering(answer: serde_json::Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .mount(&server)
        .await;
    server
}

fn dingtalk(server: &MockServer) -> Robot {
    let webhook = format!("{}/robot/send?access_token={TOKEN}", server.uri());
    let at = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
    Robot::new(RobotKind::DingTalk, webhook, Some(SECRET.into())).with_clock(Arc::new(Stopped(at)))
}

#[tokio::test]
async fn a_dingtalk_robot_with_a_secret_gets_the_signed_url_and_a_markdown_message() {
    let server = robot_answering(serde_json::json!({"errcode": 0, "errmsg": "ok"})).await;
    dingtalk(&server)
        .send(
            "[refund_sync] shop_a: sync failing",
            "### [refund_sync] shop_a: sync failing\n- x",
        )
        .await
        .unwrap();
    let got = server.received_requests().await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].url.path(), "/robot/send");
    // The sign, computed apart from the program:
    //   printf '%s' $'1700000000000\nSECtest0123456789abcdef' \
    //     | openssl dgst -sha256 -hmac 'SECtest0123456789abcdef' -binary | base64
    //   = /lfnxUUu80FwVTsIlv2F1cMGBb+PxEKAwYh/bsRxXcc=
    // and URL-encoded (/ + = as %2F %2B %3D).
    assert_eq!(
        got[0].url.query(),
        Some(
            "access_token=tok0123456789&timestamp=1700000000000\
             &sign=%2FlfnxUUu80FwVTsIlv2F1cMGBb%2BPxEKAwYh%2FbsRxXcc%3D"
        )
    );
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "msgtype": "markdown",
            "markdown": {
                "title": "[refund_sync] shop_a: sync failing",
                "text": "### [refund_sync] shop_a: sync failing\n- x",
            }
        })
    );
}

#[tokio::test]
async fn an_errcode_is_a_failed_alert_posted_once_more_and_logged_without_the_url() {
    let server = robot_answering(serde_json::json!({"errcode": 310000, "errmsg": "sign not match"})).await;
    let logs = Logs::default();
    let guard = logs.capture();
    let e = dingtalk(&server).send("[refund_sync] t", "### t").await.unwrap_err();
    drop(guard);
    assert!(
        matches!(e, RobotError::Refused { errcode: 310000, ref errmsg, .. } if errmsg == "sign not match"),
        "{e:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2, "retried once");
    let logs = logs.text();
    assert!(
        logs.contains("errcode 310000") && logs.contains("sign not match"),
        "{logs}"
    );
    assert!(logs.contains("posted twice"), "{logs}");
    for hidden in [TOKEN, SECRET, "access_token", "sign=", server.uri().as_str()] {
        assert!(!logs.contains(hidden), "{hidden:?} in the log: {logs}");
        assert!(!e.to_string().contains(hidden), "{hidden:?} in the error: {e}");
    }
}

#[tokio::test]
async fn a_failed_post_that_succeeds_the_second_time_is_delivered() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"errcode": 0})))
        .mount(&server)
        .await;
    dingtalk(&server).send("t", "t").await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 2);

    // An answer that is not the robot's JSON is no delivery either.
    let html = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>portal login</html>"))
        .mount(&html)
        .await;
    let e = dingtalk(&html).send("t", "t").await.unwrap_err();
    assert!(matches!(e, RobotError::Answer { .. }), "{e:?}");
    assert_eq!(html.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_wecom_robot_gets_its_markdown_shape_at_its_webhook() {
    let server = robot_answering(serde_json::json!({"errcode": 0, "errmsg": "ok"})).await;
    let webhook = format!("{}/cgi-bin/webhook/send?key=k-123", server.uri());
    Robot::new(RobotKind::WeCom, webhook, None)
        .send("[refund_sync] a: sync recovered", "### [refund_sync] a: sync recovered")
        .await
        .unwrap();
    let got = server.received_requests().await.unwrap();
    assert_eq!(got[0].url.path(), "/cgi-bin/webhook/send");
    assert_eq!(got[0].url.query(), Some("key=k-123"));
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"msgtype": "markdown", "markdown": {"content": "### [refund_sync] a: sync recovered"}})
    );
    // WeCom refuses too, with its own codes.
    let refusing = robot_answering(serde_json::json!({"errcode": 93000, "errmsg": "invalid webhook url"})).await;
    let webhook = format!("{}/cgi-bin/webhook/send?key=k-123", refusing.uri());
    let e = Robot::new(RobotKind::WeCom, webhook, None)
        .send("t", "t")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("errcode 93000"), "{e}");
    assert!(!e.to_string().contains("k-123"), "{e}");
}

#[tokio::test]
async fn the_robot_kind_comes_from_the_webhook_s_host() {
    assert_eq!(
        RobotKind::of_host("https://oapi.dingtalk.com/robot/send?access_token=x"),
        Some(RobotKind::DingTalk)
    );
    assert_eq!(
        RobotKind::of_host("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x"),
        Some(RobotKind::WeCom)
    );
    assert_eq!(RobotKind::of_host("http://127.0.0.1:9/robot"), None);
}

/// The Markdown texts the fake DingTalk robot received.
async fn texts(robot: &MockServer) -> Vec<String> {
    robot
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            v["markdown"]["text"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_failing_at_every_run_is_alerted_once_and_the_good_one_never() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use common::{binary, db_url, TestDb};

    let db = TestDb::new("app_alert_once").await;
    let gateway = wdt_qimen::simulator::Simulator::builder().refunds(20).start().await;
    let robot = robot_answering(serde_json::json!({"errcode": 0, "errmsg": "ok"})).await;
    let text = format!(
        r#"
[mysql]
url = "{url}"

[schedule]
every = "1s"
# The default, 3 x every + lag, is 63s here: a run's own length would count as a stall.
max_lag = "10m"

[alerts]
robot = "dingtalk"
webhook_env = "TEST_ALERT_WEBHOOK"
secret_env = "TEST_ALERT_SECRET"

[defaults]
start = "2025-01-01 00:00:00"

[[account]]
name = "good"
route = "simulator"
table_prefix = "good_"
[account.simulator]
refunds = 20
until = "2025-03-01 00:00:00"

[[account]]
name = "bad"
route = "native"
table_prefix = "bad_"
[account.wdt]
url = "{native}"
sid = "{sid}"
app_key = "{key}"
app_secret_env = "TEST_ALERT_BAD_SECRET"
"#,
        url = db_url(&db.name),
        native = gateway.native_url(),
        sid = wdt_qimen::simulator::WDT_SID,
        key = wdt_qimen::simulator::WDT_APP_KEY,
    );
    let path = std::env::temp_dir().join(format!("wdt-app-{}-alert-once.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let webhook = format!("{}/robot/send?access_token={TOKEN}", robot.uri());
    let mut child = Command::new(binary())
        .args(["--config", path.to_str().unwrap(), "run"])
        .env_remove("MYSQL_URL")
        .env_remove("ALERT_WEBHOOK")
        .env_remove("ALERT_SECRET")
        .env_remove("ALERT_ROBOT")
        .env("TEST_ALERT_WEBHOOK", &webhook)
        .env("TEST_ALERT_SECRET", SECRET)
        .env("TEST_ALERT_BAD_SECRET", "not-the-secret:salt")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the program");
    // Four runs of the bad account fail, one every second. (The pipe is read to its end, so the
    // program never writes into a closed one.)
    let (tx, lines) = std::sync::mpsc::channel();
    let pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut stderr = Vec::new();
    let mut failures = 0;
    while failures < 4 {
        let line = lines.recv().expect("the program runs until stopped");
        if line.starts_with("bad: sync failed: authentication failed") {
            failures += 1;
        }
        stderr.push(line);
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    reader.join().unwrap();
    stderr.extend(lines.try_iter());
    assert_eq!(status.code(), Some(0), "{stderr:#?}");
    let texts = texts(&robot).await;
    assert_eq!(texts.len(), 1, "one alert across the failing runs: {texts:#?}");
    let t = &texts[0];
    assert!(t.starts_with("### [refund_sync] bad: sync failing\n"), "{t}");
    for part in [
        "- **account**: bad\n",
        "- **stream**: bad/aftersales.refund.Refund.search\n",
        "- **since**: ",
        "- **checkpoint**: none yet\n",
        "- **cause**: authentication failed",
    ] {
        assert!(t.contains(part), "{part:?} in {t}");
    }
    assert!(!t.contains("not-the-secret"), "{t}");
    let all = stderr.join("\n");
    for hidden in [TOKEN, SECRET, "not-the-secret"] {
        assert!(!all.contains(hidden), "{hidden:?} in stderr: {all}");
    }
    // Every request was signed as DingTalk's 加签 asks.
    for r in robot.received_requests().await.unwrap() {
        let q: Vec<(String, String)> = r
            .url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let ts: i64 = q.iter().find(|(k, _)| k == "timestamp").unwrap().1.parse().unwrap();
        let sign = &q.iter().find(|(k, _)| k == "sign").unwrap().1;
        assert_eq!(sign, &wdt_refund_sync::alert::robot::dingtalk_sign(ts, SECRET));
    }
    std::fs::remove_file(path).unwrap();
    db.drop().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_recovers_is_told_once_failing_and_once_recovered() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::mpsc;

    use common::{binary, db_url, TestDb};

    let db = TestDb::new("app_alert_recovery").await;
    let robot = robot_answering(serde_json::json!({"errcode": 0, "errmsg": "ok"})).await;
    let text = format!(
        r#"
[mysql]
url = "{url}"

[schedule]
every = "1s"
max_lag = "10m"

[alerts]
robot = "dingtalk"
webhook_env = "TEST_ALERT_WEBHOOK"

[[account]]
name = "shop"
route = "simulator"
start = "2025-01-01 00:00:00"
[account.simulator]
refunds = 20
until = "2025-03-01 00:00:00"
"#,
        url = db_url(&db.name),
    );
    let path = std::env::temp_dir().join(format!("wdt-app-{}-alert-recovery.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let webhook = format!("{}/robot/send?access_token={TOKEN}", robot.uri());
    let program = |args: &[&str]| {
        let mut c = Command::new(binary());
        c.args(["--config", path.to_str().unwrap()])
            .args(args)
            .env_remove("MYSQL_URL")
            .env_remove("ALERT_WEBHOOK")
            .env_remove("ALERT_SECRET")
            .env_remove("ALERT_ROBOT")
            .env("TEST_ALERT_WEBHOOK", &webhook)
            .env("RUST_LOG", "warn");
        c
    };
    // The scheduled run may not create tables, and none exist: every run fails.
    let mut child = program(&["--no-create-tables", "run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the program");
    let (tx, failures) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("sync failed: ") || line.starts_with("shop: sync failed: ") {
                let _ = tx.send(line);
            }
        }
    });
    let (tx, checkpoints) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("shop: checkpoint: ") {
                let _ = tx.send(line);
            }
        }
    });
    let first = failures.recv().unwrap();
    assert!(first.contains("does not exist"), "{first}");
    failures.recv().unwrap();
    failures.recv().unwrap();
    // Three failed runs, one alert.
    assert_eq!(texts(&robot).await.len(), 1);
    // Another run creates the tables; the scheduled run's next run succeeds.
    let once = program(&["run", "--once"]).output().unwrap();
    assert_eq!(once.status.code(), Some(0), "{}", String::from_utf8_lossy(&once.stderr));
    assert!(checkpoints.recv().is_ok(), "a run succeeds");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let texts = texts(&robot).await;
    assert_eq!(texts.len(), 2, "failing, recovered: {texts:#?}");
    assert!(
        texts[0].starts_with("### [refund_sync] shop: sync failing\n"),
        "{}",
        texts[0]
    );
    assert!(texts[0].contains("does not exist"), "{}", texts[0]);
    assert!(
        texts[1].starts_with("### [refund_sync] shop: sync recovered\n"),
        "{}",
        texts[1]
    );
    assert!(texts[1].contains("(lasted "), "{}", texts[1]);
    assert!(texts[1].contains("- **failed runs**: "), "{}", texts[1]);
    std::fs::remove_file(path).unwrap();
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_runs_of_a_failing_account_such_as_a_cronjob_s_are_alerted_once() {
    use std::process::Command;

    use common::{binary, db_url, TestDb};

    let db = TestDb::new("app_alert_cron").await;
    let gateway = wdt_qimen::simulator::Simulator::builder().refunds(5).start().await;
    let robot = robot_answering(serde_json::json!({"errcode": 0, "errmsg": "ok"})).await;
    let text = format!(
        r#"
[mysql]
url = "{url}"

[alerts]
robot = "wecom"
webhook_env = "TEST_ALERT_WEBHOOK"

[[account]]
name = "bad"
route = "native"
[account.wdt]
url = "{native}"
sid = "{sid}"
app_key = "{key}"
app_secret_env = "TEST_ALERT_BAD_SECRET"
"#,
        url = db_url(&db.name),
        native = gateway.native_url(),
        sid = wdt_qimen::simulator::WDT_SID,
        key = wdt_qimen::simulator::WDT_APP_KEY,
    );
    let path = std::env::temp_dir().join(format!("wdt-app-{}-alert-cron.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let webhook = format!("{}/cgi-bin/webhook/send?key=k-1", robot.uri());
    for _ in 0..3 {
        let out = Command::new(binary())
            .args(["--config", path.to_str().unwrap(), "run", "--once"])
            .env_remove("MYSQL_URL")
            .env_remove("ALERT_WEBHOOK")
            .env_remove("ALERT_SECRET")
            .env_remove("ALERT_ROBOT")
            .env("TEST_ALERT_WEBHOOK", &webhook)
            .env("TEST_ALERT_BAD_SECRET", "not-the-secret:salt")
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let got = robot.received_requests().await.unwrap();
    let contents: Vec<String> = got
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            v["markdown"]["content"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(contents.len(), 1, "one alert over three runs: {contents:#?}");
    assert!(
        contents[0].starts_with("### [refund_sync] bad: sync failing\n"),
        "{}",
        contents[0]
    );
    std::fs::remove_file(path).unwrap();
    db.drop().await;
}

/// Waits until the fake robot received `n` alerts (a bound on waiting, not a measurement).
async fn wait_alerts(robot: &MockServer, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        let got = texts(robot).await;
        if got.len() >= n || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_verify_that_finds_a_difference_is_alerted_once_and_once_when_it_matches_again() {
    use std::process::{Command, Stdio};

    use chrono::TimeDelta;
    use common::{binary, db_url, TestDb};
    use mysql_async::prelude::Queryable;
    use wdt_qimen::time::{format_wdt, to_beijing};

    let db = TestDb::new("app_alert_verify").await;
    let robot = robot_answering(serde_json::json!({"errcode": 0, "errmsg": "ok"})).await;
    // Refunds over the last three days, so the verify's last 7 days count them all.
    let now = to_beijing(Utc::now());
    let start = now - TimeDelta::days(3);
    let until = now - TimeDelta::hours(1);
    let text = format!(
        r#"
[mysql]
url = "{url}"

[schedule]
every = "1s"
max_lag = "10m"
verify_every = "1s"
verify_days = 7

[alerts]
robot = "dingtalk"
webhook_env = "TEST_ALERT_WEBHOOK"

[[account]]
name = "shop"
route = "simulator"
start = "{start}"
[account.simulator]
refunds = 60
until = "{until}"
"#,
        url = db_url(&db.name),
        start = format_wdt(start),
        until = format_wdt(until),
    );
    let path = std::env::temp_dir().join(format!("wdt-app-{}-alert-verify.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let webhook = format!("{}/robot/send?access_token={TOKEN}", robot.uri());
    let program = |args: &[&str]| {
        let mut c = Command::new(binary());
        c.args(["--config", path.to_str().unwrap()])
            .args(args)
            .env_remove("MYSQL_URL")
            .env_remove("ALERT_WEBHOOK")
            .env_remove("ALERT_SECRET")
            .env_remove("ALERT_ROBOT")
            .env("TEST_ALERT_WEBHOOK", &webhook)
            .env("RUST_LOG", "warn");
        c
    };
    // A first sync (its verify finds the tables complete: nothing to alert).
    let once = program(&["run", "--once"]).output().unwrap();
    assert_eq!(once.status.code(), Some(0), "{}", String::from_utf8_lossy(&once.stderr));
    let stdout = String::from_utf8_lossy(&once.stdout);
    assert!(stdout.contains("result: the range matches WDT"), "{stdout}");
    assert!(texts(&robot).await.is_empty());
    // One refund of two days ago (behind the live sync's overlap) disappears from the table.
    let flat = format!("`{}`.aftersales_refund_refund_search", db.name);
    let mut conn = db.pool.get_conn().await.unwrap();
    let id: i64 = conn
        .query_first(format!(
            "SELECT refund_id FROM {flat} WHERE modified < '{}' ORDER BY refund_id LIMIT 1",
            format_wdt(now - TimeDelta::days(1))
        ))
        .await
        .unwrap()
        .expect("a refund of more than a day ago");
    conn.query_drop(format!(
        "CREATE TABLE `{0}`.kept AS SELECT * FROM {flat} WHERE refund_id = {id}; DELETE FROM {flat} WHERE refund_id = {id}",
        db.name
    ))
    .await
    .unwrap();
    let mut child = program(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the program");
    let first = wait_alerts(&robot, 1).await;
    assert_eq!(first.len(), 1, "{first:#?}");
    // The refund is back: the next verify matches.
    conn.query_drop(format!("INSERT INTO {flat} SELECT * FROM `{}`.kept", db.name))
        .await
        .unwrap();
    let both = wait_alerts(&robot, 2).await;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let texts = texts(&robot).await;
    assert_eq!(texts.len(), 2, "differs, matches again: {both:#?} {texts:#?}");
    let t = &texts[0];
    assert!(
        t.starts_with("### [refund_sync] shop: verify found differences from WDT\n"),
        "{t}"
    );
    assert!(t.contains("- **account**: shop\n"), "{t}");
    assert!(t.contains("- **difference**: "), "{t}");
    assert!(
        t.contains(" (Beijing): Refund.search: WDT "),
        "the range and the counts: {t}"
    );
    assert!(
        t.contains(&format!("(1 missing, 0 stale, 0 extra); missing ids: {id}")),
        "{t}"
    );
    let t = &texts[1];
    assert!(
        t.starts_with("### [refund_sync] shop: verify matches WDT again\n"),
        "{t}"
    );
    assert!(t.contains("(lasted "), "{t}");
    assert!(t.contains(": matches WDT (Refund.search WDT "), "{t}");
    drop(conn);
    std::fs::remove_file(path).unwrap();
    db.drop().await;
}
