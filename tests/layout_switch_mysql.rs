//! End to end against the real MariaDB: a sync into the flat table, then a sync with the layout
//! switched to `both`, leaves the normalized tables with every refund, not only those changed
//! after the switch.

mod common;

use std::time::Duration;

use chrono::TimeDelta;
use common::{base_url, db_url};
use mysql_async::prelude::Queryable;
use refund_sink_mysql::{Layout, MySqlSink};
use wdt_qimen::limit::RateLimitConfig;
use wdt_qimen::retry::RetryConfig;
use wdt_qimen::simulator::Simulator;
use wdt_qimen::sync::{SyncConfig, SyncEngine};
use wdt_qimen::time::to_beijing;
use wdt_qimen::{Client, Route};

async fn distinct_refunds(conn: &mut mysql_async::Conn, table: &str) -> u64 {
    let n: Option<u64> = conn
        .query_first(format!("SELECT COUNT(DISTINCT refund_id) FROM {table}"))
        .await
        .unwrap();
    n.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_flat_to_both_fills_the_normalized_tables_with_every_refund() {
    let pool = mysql_async::Pool::new(base_url().as_str());
    let mut conn = pool
        .get_conn()
        .await
        .expect("MariaDB must run at MYSQL_URL (see README)");
    let db = format!("layout_switch_{}", std::process::id());
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
        .await
        .unwrap();
    conn.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
    let url = db_url(&db);

    let now = to_beijing(chrono::Utc::now());
    let sim = Simulator::builder()
        .seed(5)
        .refunds(400)
        .time_range(now - TimeDelta::days(5), now - TimeDelta::hours(1))
        .start()
        .await;
    let client = Client::builder(Route::Qimen {
        url: sim.qimen_url(),
        qimen: sim.qimen_credentials(),
        wdt: sim.wdt_credentials(),
    })
    .rate_limit(RateLimitConfig::unlimited())
    .retry(RetryConfig::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5)))
    .build()
    .unwrap();
    let mut cfg = SyncConfig::default();
    cfg.start = now - TimeDelta::days(6);
    cfg.settle_lag = TimeDelta::zero();
    cfg.overlap = TimeDelta::seconds(5);
    cfg.page_size = 50;

    for layout in [Layout::Flat, Layout::Both] {
        let sink = MySqlSink::builder(&url).layout(layout).build().await.unwrap();
        let report = SyncEngine::new(client.clone(), sink.clone(), cfg.clone())
            .run()
            .await
            .unwrap();
        assert!(report.refunds > 0, "{layout}: {report:?}");
        sink.disconnect().await.unwrap();
    }
    let flat = distinct_refunds(&mut conn, &format!("`{db}`.aftersales_refund_refund_search")).await;
    let normalized = distinct_refunds(&mut conn, &format!("`{db}`.wdt_refund")).await;
    assert_eq!(flat, 400);
    assert_eq!(normalized, flat, "the normalized tables got only part of the refunds");

    conn.query_drop(format!("DROP DATABASE `{db}`")).await.unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
}
