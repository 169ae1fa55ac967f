//! The program (`wdt-refund-sync`, also the `refund_sync` example) as a user meets it when
//! something is wrong: a one-line cause, a non-zero exit, and the failure posted to the alert
//! robot as a DingTalk Markdown message.

mod common;

use std::process::Command;

use common::binary;

use wiremock::matchers::{body_partial_json, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn an_unreachable_mysql_is_one_line_a_failure_exit_and_an_alert() {
    let robot = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_partial_json(serde_json::json!({"msgtype": "markdown"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"errcode": 0})))
        .expect(1)
        .mount(&robot)
        .await;
    // Port 9 (discard) on loopback: nothing listens there.
    let out = Command::new(binary())
        .args(["--route", "simulator", "--sim-refunds", "10"])
        .args(["--mysql-url", "mysql://root:topsecretpw@127.0.0.1:9/test"])
        .args(["--alert-webhook", &robot.uri(), "--alert-robot", "dingtalk"])
        .env_remove("ALERT_SECRET")
        .env_remove("QIMEN_APP_KEY")
        .env_remove("WDT_SID")
        .output()
        .expect("run the program");
    assert_eq!(out.status.code(), Some(1), "a failure, not a bad setting");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("wdt-refund-sync: "))
        .expect("a one-line cause");
    assert!(line.contains("MYSQL_URL") && line.contains("start MariaDB"), "{line}");
    assert!(!stderr.contains("topsecretpw"), "the password leaked: {stderr}");
    let posted = &robot.received_requests().await.expect("requests recorded")[0];
    let body: serde_json::Value = serde_json::from_slice(&posted.body).unwrap();
    let content = body["markdown"]["text"].as_str().unwrap();
    assert!(
        content.starts_with("### [refund_sync] default: sync failing") && content.contains("MySQL"),
        "{content}"
    );
    assert!(
        !content.contains("topsecretpw"),
        "the password leaked into the alert: {content}"
    );
}

#[test]
fn bad_settings_are_refused_with_the_setting_named() {
    let out = Command::new(binary())
        .args(["--page-size", "500"])
        .output()
        .expect("run the program");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--page-size") && stderr.contains("500"), "{stderr}");

    let out = Command::new(binary())
        .args(["--route", "native"])
        .env_remove("WDT_SID")
        .output()
        .expect("run the program");
    assert_eq!(
        out.status.code(),
        Some(2),
        "settings are refused before anything is attempted"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("WDT_SID is not set"), "{stderr}");
}

#[tokio::test]
async fn passwords_with_reserved_characters_and_the_webhook_token_are_never_printed() {
    let robot = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&robot)
        .await;
    let webhook = format!("{}/robot/send?access_token=tok3nXYZ", robot.uri());
    let secret_bits = [
        "to/p",
        "se#",
        "cr?et",
        "p?se",
        "tok3nXYZ",
        "access_token",
        "SECsigningsecret",
    ];
    for password in ["to/p?se#cr?et@x", "pw/with?all#of@them"] {
        let out = Command::new(binary())
            .args(["--route", "simulator", "--sim-refunds", "10"])
            .env("MYSQL_URL", format!("mysql://root:{password}@127.0.0.1:9/test"))
            .env("ALERT_WEBHOOK", &webhook)
            .env("ALERT_ROBOT", "dingtalk")
            .env("ALERT_SECRET", "SECsigningsecret")
            .env_remove("QIMEN_APP_KEY")
            .env_remove("WDT_SID")
            .output()
            .expect("run the program");
        assert!(!out.status.success());
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("wdt-refund-sync: "), "{text}");
        for bit in secret_bits.iter().chain(&["with?all", "of@them"]) {
            assert!(!text.contains(bit), "{bit:?} leaked: {text}");
        }
        if password.starts_with("to/p") {
            assert!(text.contains("percent-encode"), "the fix is named: {text}");
        }
    }
    // Each run posted its alert, and once more after the robot's 500.
    let posted = robot.received_requests().await.expect("requests recorded");
    assert_eq!(posted.len(), 4);

    // `--help` shows which env vars are read, never their values.
    let out = Command::new(binary())
        .arg("--help")
        .env("MYSQL_URL", "mysql://root:helpsecret@127.0.0.1/test")
        .env("ALERT_WEBHOOK", &webhook)
        .output()
        .expect("run the program");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("ALERT_WEBHOOK") && help.contains("MYSQL_URL"), "{help}");
    assert!(!help.contains("helpsecret") && !help.contains("tok3nXYZ"), "{help}");
}
