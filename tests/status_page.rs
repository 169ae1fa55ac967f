//! The `--http-addr` server of a running sync, over plain HTTP: `/health`, `/ready` (ready; MySQL
//! unreachable or dropped; a stream lagging over `--max-lag`), `/api/streams` after a sync of two
//! simulated accounts, `/metrics`, the page in both languages, and text from the database
//! rendered as text.

mod common;
mod served;

use common::{db_url, TestDb};
use mysql_async::prelude::Queryable;
use served::{stream, Served};

const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sync.toml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_show_in_the_json_the_probes_and_the_page() {
    let db = TestDb::new("page_two_accounts").await;
    let url = db_url(&db.name);
    let mut s = Served::start(&["--config", CONFIG, "--mysql-url", &url, "--every", "1h"]);
    let v = s.wait_runs(&["shop_a", "shop_b"], "ok").await;
    for (name, refunds) in [("shop_a", 2000), ("shop_b", 1000)] {
        let st = stream(&v, name);
        assert_eq!(st["stream_account"], name, "{st:#}");
        assert_eq!(st["method"], "aftersales.refund.Refund.search");
        assert_eq!(st["table_prefix"], format!("{name}_"));
        assert_eq!(st["last_run"]["refunds"], refunds, "{st:#}");
        assert_eq!(st["last_run"]["requests"], st["last_run"]["pages"], "{st:#}");
        assert!(st["last_run"]["duration_ms"].as_i64().is_some(), "{st:#}");
        assert!(st["checkpoint"].as_str().is_some(), "{st:#}");
        // The settle lag (1m) stays behind: the checkpoint is at least that far behind.
        let lag = st["lag_seconds"].as_i64().expect("a lag");
        assert!(lag >= 59, "{st:#}");
        assert_eq!(st["now_source"], "gateway", "the simulator's Date headers: {st:#}");
        assert!(st["clock_offset_ms"].as_i64().is_some(), "{st:#}");
        assert_eq!(st["failure_streak"], 0);
        assert_eq!(st["dead_letters"], 0);
        assert_eq!(st["running"], false);
        assert!(st["lease"]["owner"].as_str().is_some(), "a lease owner: {st:#}");
        assert_eq!(st["lease"]["owner"], st["last_run"]["owner"], "this process: {st:#}");
        let runs = st["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 1, "{st:#}");
        assert_eq!(runs[0]["refunds"], refunds);
    }
    assert_eq!(v["max_lag_seconds"], 3 * 3600 + 60, "3 x --every + lag");
    assert_eq!(v["problems"], serde_json::json!([]), "{v:#}");
    assert_eq!(v["recent_failures"], serde_json::json!([]), "{v:#}");

    let (status, health) = s.json("/health").await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")), "{health}");
    let (status, ready) = s.json("/ready").await;
    assert_eq!((status, ready["ready"].as_bool()), (200, Some(true)), "{ready}");
    let (status, metrics) = s.get("/metrics", None).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("wdt_sync_refunds_total"), "{metrics}");
    let (status, _) = s.get("/nowhere", None).await;
    assert_eq!(status, 404);

    let (status, en) = s.get("/", None).await;
    assert_eq!(status, 200);
    for text in [
        "shop_a",
        "shop_b",
        "Checkpoint",
        "Lease owner",
        "<svg class=\"chart\"",
        "2000 refunds",
    ] {
        assert!(en.contains(text), "{text:?} not on the page:\n{en}");
    }
    let (_, zh) = s.get("/", Some("zh-CN,zh;q=0.9,en;q=0.5")).await;
    for text in ["<html lang=\"zh-CN\">", "检查点", "租约持有者", "成功", "shop_a"] {
        assert!(zh.contains(text), "{text:?} not on the Chinese page:\n{zh}");
    }
    assert!(!zh.contains("Checkpoint"), "{zh}");

    // Text from the database is text: a stream's name and a run's error written by someone else.
    let mut conn = db.pool.get_conn().await.unwrap();
    conn.query_drop(format!(
        "INSERT INTO `{0}`.`shop_a_wdt_sync_state` (account, method, data_table, window_end, updated_at) \
         VALUES ('<script>alert(1)</script>', 'm&m\"', 'aftersales_refund_refund_search', '2025-01-01 00:00:00', NOW()); \
         INSERT INTO `{0}`.`shop_a_wdt_sync_run` (account, method, host, pid, token, started_at, ended_at, outcome, error) \
         VALUES ('<script>alert(1)</script>', 'm&m\"', '<b>h</b>', 1, 't', NOW(6), NOW(6), 'failed', \
         '<img src=x onerror=alert(2)> broke')",
        db.name
    ))
    .await
    .unwrap();
    drop(conn);
    let (_, page) = s.get("/", None).await;
    assert!(
        !page.contains("<script") && !page.contains("<img") && !page.contains("<b>h"),
        "{page}"
    );
    for text in [
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "m&amp;m&quot;",
        "&lt;img src=x onerror=alert(2)&gt; broke",
    ] {
        assert!(page.contains(text), "{text:?} not on the page:\n{page}");
    }
    let (_, v) = s.json("/api/streams").await;
    assert_eq!(
        v["recent_failures"][0]["error"], "<img src=x onerror=alert(2)> broke",
        "{v:#}"
    );
    assert_eq!(v["recent_failures"][0]["account"], serde_json::Value::Null, "{v:#}");
    let other = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream_account"] == "<script>alert(1)</script>")
        .expect("the stream of the tables no account runs");
    assert_eq!(other["failure_streak"], 1, "{other:#}");
    assert_eq!(other["last_run"]["outcome"], "failed", "{other:#}");

    // A backfill of shop_a's stream (as `backfill` leaves it) is shown as such, with no lag,
    // and never makes the process unready.
    let mut conn = db.pool.get_conn().await.unwrap();
    conn.query_drop(format!(
        "INSERT INTO `{}`.`shop_a_wdt_sync_state` (account, method, data_table, window_end, updated_at) \
         VALUES ('shop_a', 'aftersales.refund.Refund.search#backfill:20240301T000000..20240401T000000', \
         'aftersales_refund_refund_search', '2024-03-20 00:00:00', NOW())",
        db.name
    ))
    .await
    .unwrap();
    drop(conn);
    let (_, v) = s.json("/api/streams").await;
    let backfill = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "backfill")
        .unwrap_or_else(|| panic!("no backfill stream: {v:#}"));
    assert_eq!(backfill["account"], "shop_a", "{backfill:#}");
    assert_eq!(backfill["checkpoint"], "2024-03-20 00:00:00");
    assert_eq!(backfill["backfill_to"], "2024-04-01 00:00:00");
    assert_eq!(backfill["lag_seconds"], serde_json::Value::Null);
    let (status, ready) = s.json("/ready").await;
    assert_eq!(status, 200, "{ready}");
    let (_, page) = s.get("/", None).await;
    assert!(page.contains("2024-03-20 00:00:00 (→ 2024-04-01 00:00:00)"), "{page}");
    drop(s);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_fails_when_a_stream_lags_over_max_lag() {
    let db = TestDb::new("page_max_lag").await;
    let url = db_url(&db.name);
    // The settle lag (1m) alone keeps every checkpoint more than 1s behind.
    let mut s = Served::start(&[
        "--mysql-url",
        &url,
        "--sim-refunds",
        "50",
        "--every",
        "1h",
        "--max-lag",
        "1s",
    ]);
    s.wait_runs(&["default"], "ok").await;
    let (status, ready) = s.json("/ready").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["ready"], false);
    let reason = &ready["reasons"][0];
    assert_eq!(reason["kind"], "lag", "{ready:#}");
    assert_eq!(reason["account"], "default", "{ready:#}");
    let detail = reason["detail"].as_str().unwrap();
    assert!(detail.contains("over --max-lag 1s"), "{detail}");
    assert!(
        ready["reason"].as_str().unwrap().starts_with("default: stream "),
        "{ready:#}"
    );
    // Lagging is not dead: the loop sleeps until its next run.
    let (status, _) = s.json("/health").await;
    assert_eq!(status, 200);
    drop(s);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_fails_with_the_reason_when_mysql_is_unreachable_or_its_database_dropped() {
    // Nothing listens on port 1.
    let s = Served::start(&["--mysql-url", "mysql://root@127.0.0.1:1/nowhere", "--every", "1h"]);
    let (status, ready) = s.json("/ready").await;
    assert_eq!(status, 503, "{ready}");
    let reason = &ready["reasons"][0];
    assert_eq!(reason["kind"], "mysql", "{ready:#}");
    assert!(reason["detail"].as_str().unwrap().contains("127.0.0.1:1"), "{ready:#}");
    let (status, page) = s.get("/", None).await;
    assert_eq!(status, 200, "the page still answers");
    assert!(page.contains("id=\"problems\""), "{page}");
    drop(s);

    let db = TestDb::new("page_dropped").await;
    let url = db_url(&db.name);
    let mut s = Served::start(&["--mysql-url", &url, "--sim-refunds", "50", "--every", "1h"]);
    s.wait_runs(&["default"], "ok").await;
    let (status, ready) = s.json("/ready").await;
    assert_eq!(status, 200, "{ready}");
    let name = db.name.clone();
    db.drop().await;
    let (status, ready) = s.json("/ready").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["reasons"][0]["kind"], "mysql", "{ready:#}");
    assert!(
        ready["reason"].as_str().unwrap().contains(&name),
        "the reason names the database: {ready:#}"
    );
    let (status, _) = s.json("/health").await;
    assert_eq!(status, 200, "the loop still runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_metrics_addr_flag_serves_the_same_server() {
    let db = TestDb::new("page_old_flag").await;
    let url = db_url(&db.name);
    let mut s = Served::start_on(
        "--metrics-addr",
        &["--mysql-url", &url, "--sim-refunds", "50", "--every", "1h"],
    );
    s.wait_runs(&["default"], "ok").await;
    let (status, metrics) = s.get("/metrics", None).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("wdt_sync_refunds_total"), "{metrics}");
    let (status, _) = s.json("/health").await;
    assert_eq!(status, 200);
    let stderr = s.stderr();
    assert!(
        stderr.contains("--metrics-addr is deprecated: it is now --http-addr"),
        "{stderr}"
    );
    drop(s);
    db.drop().await;
}

/// The live stream of the single account once its lease is released (its run, and the verify
/// after it, are over) and `done` holds.
async fn settled(s: &mut Served, what: &str, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let v = s
        .wait_streams(what, |v| {
            v["streams"].as_array().is_some_and(|all| {
                all.iter().any(|st| {
                    st["kind"] == "live"
                        && st["last_run"]["outcome"] == "ok"
                        && st["lease"]["held"] == false
                        && done(st)
                })
            })
        })
        .await;
    stream(&v, "default").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_verify_shows_on_the_page_and_a_restart_does_not_verify_again_at_once() {
    let db = TestDb::new("page_verify").await;
    let url = db_url(&db.name);
    // The refunds of the last two days, which the verify's last three count.
    let start =
        wdt_qimen::time::format_wdt(wdt_qimen::time::to_beijing(chrono::Utc::now()) - chrono::TimeDelta::days(2));
    let args = [
        "--mysql-url",
        &url,
        "--start",
        &start,
        "--sim-refunds",
        "50",
        "--every",
        "1h",
        "--verify-every",
        "1h",
        "--verify-days",
        "3",
    ];
    let mut s = Served::start(&args);
    let st = settled(&mut s, "verified", |st| !st["last_verify"].is_null()).await;
    let v = &st["last_verify"];
    assert_eq!(v["matches"], true, "{st:#}");
    let from = wdt_qimen::time::parse_wdt(v["range_from"].as_str().unwrap()).unwrap();
    let to = wdt_qimen::time::parse_wdt(v["range_to"].as_str().unwrap()).unwrap();
    assert_eq!((to - from).num_days(), 3, "--verify-days: {v:#}");
    let methods = v["methods"].as_array().unwrap();
    assert_eq!(methods[0]["method"], "Refund.search", "{v:#}");
    assert_eq!(methods[1]["method"], "Refund.searchHistory", "{v:#}");
    assert_eq!(methods[0]["wdt_count"], 50, "{v:#}");
    assert_eq!(methods[0]["stored_count"], 50, "{v:#}");
    assert_eq!(
        v["requests"].as_u64(),
        Some(methods.iter().map(|m| m["windows"].as_u64().unwrap()).sum()),
        "one request per window and method: {v:#}"
    );
    assert_eq!(
        st["last_run"]["requests"], st["last_run"]["pages"],
        "the run's requests leave the verify's out: {st:#}"
    );
    let (_, en) = s.get("/", None).await;
    for text in [
        "Last verify",
        "<span class=\"verify ok\">matches WDT</span>",
        "Refund.search: ",
    ] {
        assert!(en.contains(text), "{text:?} not on the page:\n{en}");
    }
    let (_, zh) = s.get("/", Some("zh-CN")).await;
    for text in ["最近一次核对", "与旺店通一致"] {
        assert!(zh.contains(text), "{text:?} not on the Chinese page:\n{zh}");
    }
    let started = v["started_at"].clone();
    let first_run = st["last_run"]["id"].as_u64().unwrap();
    drop(s);

    // A restart reads the last verify: not due for an hour, it does not run again.
    let mut s = Served::start(&args);
    let st = settled(&mut s, "run again", |st| {
        st["last_run"]["id"].as_u64() > Some(first_run)
    })
    .await;
    assert_eq!(st["last_verify"]["started_at"], started, "{st:#}");
    let mut conn = db.pool.get_conn().await.unwrap();
    let rows: Vec<(String, u64)> = conn
        .query(format!(
            "SELECT method, remaining_windows FROM `{}`.wdt_sync_verify ORDER BY id",
            db.name
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "one verify, two methods: {rows:?}");

    // A verify that left differences, with text from the database: shown as text.
    conn.query_drop(format!(
        "INSERT INTO `{}`.wdt_sync_verify (account, method, range_from, range_to, windows, wdt_count, stored_count, \
         differing_windows, missing, extra, stale, repaired_windows, remaining_windows, requests, resync_requests, \
         started_at, ended_at) VALUES ('{}', '<i>Refund.search</i>', '2026-11-01 00:00:00', '2026-11-08 00:00:00', \
         1, 120, 119, 1, 1, 0, 0, 0, 1, 9, 2, NOW() + INTERVAL 1 DAY, NOW() + INTERVAL 1 DAY)",
        db.name,
        st["stream_account"].as_str().unwrap()
    ))
    .await
    .unwrap();
    drop(conn);
    let (_, v) = s.json("/api/streams").await;
    let last = &stream(&v, "default")["last_verify"];
    assert_eq!(last["matches"], false, "{last:#}");
    assert_eq!(last["range_from"], "2026-11-01 00:00:00", "{last:#}");
    assert_eq!(last["methods"][0]["method"], "<i>Refund.search</i>", "{last:#}");
    assert_eq!(last["methods"][0]["missing"], 1, "{last:#}");
    let (_, page) = s.get("/", None).await;
    assert!(!page.contains("<i>Refund"), "{page}");
    for text in [
        "<span class=\"verify bad\">differs from WDT</span>",
        "&lt;i&gt;Refund.search&lt;/i&gt;: 1 windows, WDT 120 / stored 119, 1 windows differ, missing 1",
        "still differ 1",
    ] {
        assert!(page.contains(text), "{text:?} not on the page:\n{page}");
    }
    drop(s);
    db.drop().await;
}
