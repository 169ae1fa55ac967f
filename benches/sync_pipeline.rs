//! End-to-end pipeline benchmark: a sync of N refunds from the simulator answering at a fixed
//! latency into MariaDB, beside the same pages fetched alone (a sink that discards).
//!
//! `cargo bench --bench sync_pipeline` prints, for 20k and for 100k refunds,
//! `sync_pipeline refunds=20000 sync_s=… fetch_only_s=… ratio=… peak_rss_mb=…`.
//! Each size runs in a process of its own, and the simulator in yet another, so `peak_rss_mb`
//! is the peak memory of the sync alone (engine, client, sink), comparable across sizes.
//! Settings: SYNC_BENCH_REFUNDS (a comma list, default `20000,100000`), SYNC_BENCH_LATENCY_MS
//! (default 20), MYSQL_URL (default mysql://root@127.0.0.1:3306/test). Without a server it says
//! so and exits.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::TimeDelta;
use refund_sink_mysql::MySqlSink;
use wdt_qimen::limit::RateLimitConfig;
use wdt_qimen::simulator::Simulator;
use wdt_qimen::sync::{Batch, Checkpoint, CommitReport, Sink, StreamId, SyncConfig, SyncEngine};
use wdt_qimen::{Client, QimenCredentials, Refund, Route, WdtCredentials};

/// Discards everything: what fetching alone costs.
struct Discard;

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

#[async_trait]
impl Sink<Refund> for Discard {
    type Error = Never;
    async fn load_checkpoint(&self, _: &StreamId) -> Result<Option<Checkpoint>, Never> {
        Ok(None)
    }
    async fn commit(&self, _: Batch<Refund>) -> Result<CommitReport, Never> {
        Ok(CommitReport::default())
    }
    async fn reset_checkpoint(&self, _: &StreamId, _: &Checkpoint) -> Result<(), Never> {
        Ok(())
    }
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    match std::env::var("SYNC_BENCH_ROLE").as_deref() {
        Ok("serve") => serve(),
        Ok("run") => run(),
        _ => orchestrate(),
    }
}

/// Runs every size in a child process of its own.
fn orchestrate() {
    let sizes = std::env::var("SYNC_BENCH_REFUNDS").unwrap_or_else(|_| "20000,100000".into());
    let exe = std::env::current_exe().expect("bench binary");
    for n in sizes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let status = std::process::Command::new(&exe)
            .env("SYNC_BENCH_ROLE", "run")
            .env("SYNC_BENCH_N", n)
            .status()
            .expect("run a size");
        if !status.success() {
            eprintln!("sync_pipeline: the run with {n} refunds failed");
            std::process::exit(1);
        }
    }
}

fn bench_range() -> (chrono::NaiveDateTime, chrono::NaiveDateTime) {
    // Fixed, so the serving and the syncing process agree.
    let end = wdt_qimen::time::parse_wdt("2026-01-21 00:00:00").unwrap();
    (end - TimeDelta::days(20), end)
}

/// Serves the simulator and prints its Qimen URL; runs until stdin closes.
#[tokio::main]
async fn serve() {
    let n: usize = env_or("SYNC_BENCH_N", 20_000);
    let latency = Duration::from_millis(env_or("SYNC_BENCH_LATENCY_MS", 20));
    let (from, to) = bench_range();
    let sim = Simulator::builder()
        .seed(1)
        .refunds(n)
        .time_range(from, to)
        .latency(latency)
        .start()
        .await;
    println!("{}", sim.qimen_url());
    tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).map(|r| r > 0).unwrap_or(false) {}
    })
    .await
    .ok();
}

#[tokio::main]
async fn run() {
    let n: usize = env_or("SYNC_BENCH_N", 20_000);
    let base_url = std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    use wdt_qimen::simulator as sim;
    let qimen = QimenCredentials::new(sim::QIMEN_APP_KEY, sim::QIMEN_APP_SECRET).expect("simulator credentials");
    let wdt = WdtCredentials::new(sim::WDT_SID, sim::WDT_APP_KEY, sim::WDT_APP_SECRET).expect("simulator credentials");
    let (from, _) = bench_range();
    let mut cfg = SyncConfig::default();
    cfg.start = from - TimeDelta::days(1);
    cfg.page_size = 100;
    cfg.max_pages_per_window = 400;
    cfg.settle_lag = TimeDelta::zero();

    let db = format!("bench_sync_{}", std::process::id());
    let admin = match mysql_async::Pool::from_url(&base_url) {
        Ok(p) => p,
        Err(e) => {
            println!("sync_pipeline: MYSQL_URL is not usable ({e}); skipped");
            return;
        }
    };
    let mut conn = match admin.get_conn().await {
        Ok(c) => c,
        Err(e) => {
            println!("sync_pipeline: no MySQL server at MYSQL_URL ({e}); start MariaDB or set MYSQL_URL; skipped");
            return;
        }
    };
    use mysql_async::prelude::Queryable;
    conn.query_drop(format!("CREATE DATABASE `{db}`"))
        .await
        .expect("create database");
    let url = {
        let mut u = url::Url::parse(&base_url).expect("MYSQL_URL");
        u.set_path(&db);
        u.to_string()
    };

    let mut server = std::process::Command::new(std::env::current_exe().expect("bench binary"))
        .env("SYNC_BENCH_ROLE", "serve")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the simulator process");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("simulator URL");
    let qimen_url = line.trim().to_owned();
    let client = || {
        Client::builder(Route::Qimen {
            url: qimen_url.clone(),
            qimen: qimen.clone(),
            wdt: wdt.clone(),
        })
        .rate_limit(RateLimitConfig::unlimited())
        .build()
        .expect("client")
    };
    let t = Instant::now();
    let fetch_report = SyncEngine::new(client(), Discard, cfg.clone())
        .run()
        .await
        .expect("fetch-only run");
    let fetch_only = t.elapsed();

    let sink = MySqlSink::builder(&url).build().await.expect("sink");
    let t = Instant::now();
    let sync_report = SyncEngine::new(client(), sink, cfg).run().await.expect("sync run");
    let sync = t.elapsed();
    // Refunds in a second shared by two windows are counted by both.
    assert!(
        fetch_report.refunds >= n as u64 && sync_report.refunds >= n as u64,
        "a run missed refunds"
    );

    conn.query_drop(format!("DROP DATABASE `{db}`"))
        .await
        .expect("drop database");
    drop(conn);
    admin.disconnect().await.ok();
    drop(server.stdin.take());
    server.wait().ok();
    println!(
        "sync_pipeline refunds={n} sync_s={:.2} fetch_only_s={:.2} ratio={:.3} peak_rss_mb={:.0}",
        sync.as_secs_f64(),
        fetch_only.as_secs_f64(),
        sync.as_secs_f64() / fetch_only.as_secs_f64(),
        peak_rss_mb()
    );
}
