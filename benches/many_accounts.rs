//! Many accounts in one process: N accounts (default 1,000) synced by the real binary,
//! `wdt-refund-sync run --config <generated toml> --every …`, against one simulator, with a few
//! changed refunds per account per cycle.
//!
//! `cargo bench --bench many_accounts` prints
//! `many_accounts accounts=… cpu_pct=… peak_rss_mb=… requests=…`.
//!
//! - The simulator runs in this (the bench) process; the sync runs as a child process, so its
//!   CPU and memory are measured alone: CPU from `/proc/<pid>/stat` (utime + stime, every
//!   thread), peak memory from `VmHWM` in `/proc/<pid>/status` (start-up included).
//! - Every account is a `qimen` account of its own name (its own checkpoint stream, lease, run
//!   history and tables, `table_prefix`), its own client and rate limit (2 requests/s, burst 2),
//!   all on the simulator's credentials; the process shares one MySQL pool (default size).
//! - Before each cycle the simulator modifies a few refunds (`MANY_ACCOUNTS_CHANGED`, default 3):
//!   every account reads them in its next cycle (one page), and writes them into its tables.
//! - **Why CPU per cycle ÷ 300 s is the honest measure.** With `--every 5m` the process does one
//!   cycle's work every 300 s and sleeps in between; waiting 5 minutes per cycle in a bench
//!   would only add idle time. So the child runs with a short interval
//!   (`MANY_ACCOUNTS_EVERY`, default 20 s) to trigger cycles quickly, and the bench measures
//!   the CPU of each cycle (from one cycle's last report to the next one's: the work plus the
//!   idle time between) and the CPU the process burns while idle (timers, the pool's checks)
//!   in the gaps. The CPU of a 5-minute cycle is then the measured cycle plus the idle rate
//!   over the rest of the 5 minutes, and `cpu_pct` = that ÷ 300 s × 100: the share of one core
//!   the process takes on average with `--every 5m`. The first cycle (creating every account's
//!   tables, reading its first range) is not counted: it happens once per deployment.
//! - `requests` is the gateway requests of one cycle, all accounts together (averaged over the
//!   measured cycles).
//!
//! Settings: `MANY_ACCOUNTS` (default 1000), `MANY_ACCOUNTS_CYCLES` (measured cycles, default
//! 3), `MANY_ACCOUNTS_EVERY` (seconds, default 20), `MANY_ACCOUNTS_CHANGED` (default 3),
//! `MYSQL_URL` (default mysql://root@127.0.0.1:3306/test; a database `bench_many_<pid>` is
//! created and dropped). Without a server it says so and exits. Linux only (`/proc`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use mysql_async::prelude::Queryable;
use wdt_qimen::simulator::{self, Simulator};
use wdt_qimen::time::{format_wdt, to_beijing};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32, ticks: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let t = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / ticks
}

/// VmHWM of `pid`, in MiB.
fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn config(n: usize, url: &str, sim: &Simulator, start: &str) -> String {
    let mut text = format!(
        r#"[mysql]
url = "{url}"

[schedule]
lag = "2s"
overlap = "2s"

[defaults]
start = "{start}"
route = "qimen"
rate_limit = 2.0
burst = 2
[defaults.qimen]
url = "{qimen}"
app_key = "{app_key}"
app_secret_env = "MANY_ACCOUNTS_QIMEN_SECRET"
target_app_key = "{target}"
[defaults.wdt]
sid = "{sid}"
app_key = "{wdt_key}"
app_secret_env = "MANY_ACCOUNTS_WDT_SECRET"
"#,
        qimen = sim.qimen_url(),
        app_key = simulator::QIMEN_APP_KEY,
        target = simulator::QIMEN_TARGET_APP_KEY,
        sid = simulator::WDT_SID,
        wdt_key = simulator::WDT_APP_KEY,
    );
    for i in 0..n {
        text.push_str(&format!(
            "\n[[account]]\nname = \"shop{i}\"\ntable_prefix = \"s{i}_\"\n"
        ));
    }
    text
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: usize = env_or("MANY_ACCOUNTS", 1000);
    let cycles: usize = env_or("MANY_ACCOUNTS_CYCLES", 3).max(1);
    let every: u64 = env_or("MANY_ACCOUNTS_EVERY", 20);
    let changed: usize = env_or("MANY_ACCOUNTS_CHANGED", 3);
    let base = std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(bench(n, cycles, every, changed, &base));
}

async fn bench(n: usize, cycles: usize, every: u64, changed: usize, base: &str) {
    let pool = mysql_async::Pool::new(base);
    let db = format!("bench_many_{}", std::process::id());
    let mut conn = match pool.get_conn().await {
        Ok(c) => c,
        Err(e) => {
            println!("many_accounts skipped: no MySQL at MYSQL_URL ({e})");
            return;
        }
    };
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
        .await
        .unwrap();
    conn.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
    let mut url = url::Url::parse(base).expect("MYSQL_URL");
    url.set_path(&db);

    // An hour of 200 refunds up to two minutes ago: the first cycle reads them all.
    let now = to_beijing(chrono::Utc::now());
    let start = now - TimeDelta::hours(1);
    let sim = Simulator::builder()
        .seed(7)
        .refunds(200)
        .time_range(start, now - TimeDelta::minutes(2))
        .start()
        .await;
    let path = std::env::temp_dir().join(format!("many_accounts_{}.toml", std::process::id()));
    std::fs::write(&path, config(n, url.as_str(), &sim, &format_wdt(start))).unwrap();
    let stderr_path = std::env::temp_dir().join(format!("many_accounts_{}.stderr", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_wdt-refund-sync"))
        .args([
            "--config",
            path.to_str().unwrap(),
            "run",
            "--every",
            &format!("{every}s"),
        ])
        .env("MANY_ACCOUNTS_QIMEN_SECRET", simulator::QIMEN_APP_SECRET)
        .env("MANY_ACCOUNTS_WDT_SECRET", simulator::WDT_APP_SECRET)
        .env_remove("MYSQL_URL")
        .env_remove("ALERT_WEBHOOK")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("start wdt-refund-sync");
    let pid = child.id();
    let ticks = clock_ticks();

    // Every account prints one `synced …` line per cycle.
    let synced = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stdout = child.stdout.take().unwrap();
    {
        let (synced, failed) = (synced.clone(), failed.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains(": synced ") {
                    synced.fetch_add(1, Ordering::SeqCst);
                } else if line.contains("failed") {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    }
    let started = Instant::now();
    let wait_for = |k: u64| {
        let synced = synced.clone();
        async move {
            while synced.load(Ordering::SeqCst) < k * n as u64 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let deadline = Duration::from_secs(every * (cycles as u64 + 2) + 900);
    let measured = tokio::time::timeout(deadline, async {
        wait_for(1).await;
        let first = started.elapsed();
        let mut cycle_cpu = Vec::new();
        let mut idle = (0.0, 0.0);
        let mut requests = 0;
        for k in 2..=(cycles as u64 + 1) {
            // The gap after a cycle: the idle rate, until just before the next cycle begins.
            let (cpu0, t0) = (cpu_seconds(pid, ticks), Instant::now());
            sim.modify_now(changed);
            let requests0 = sim.stats().requests;
            let quiet = Duration::from_secs(every).saturating_sub(Duration::from_secs(every / 4 + 1));
            tokio::time::sleep(quiet).await;
            idle.0 += cpu_seconds(pid, ticks) - cpu0;
            idle.1 += t0.elapsed().as_secs_f64();
            wait_for(k).await;
            cycle_cpu.push((cpu_seconds(pid, ticks) - cpu0, t0.elapsed().as_secs_f64()));
            requests += sim.stats().requests - requests0;
        }
        (first, cycle_cpu, idle, requests)
    })
    .await;
    let peak = peak_rss_mb(pid);
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = child.wait();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&stderr_path);
    conn.query_drop(format!("DROP DATABASE `{db}`")).await.unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
    let Ok((first, cycle_cpu, idle, requests)) = measured else {
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        panic!(
            "the cycles did not finish: {} of {} reports, {} failure lines; stderr ends:\n{}",
            synced.load(Ordering::SeqCst),
            n * (cycles + 1),
            failed.load(Ordering::SeqCst),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    };
    let idle_rate = if idle.1 > 0.0 { idle.0 / idle.1 } else { 0.0 };
    let per_cycle: Vec<f64> = cycle_cpu
        .iter()
        .map(|(cpu, span)| cpu + idle_rate * (300.0 - span).max(0.0))
        .collect();
    let avg = per_cycle.iter().sum::<f64>() / per_cycle.len() as f64;
    let cpu_pct = avg / 300.0 * 100.0;
    eprintln!(
        "many_accounts: first cycle (tables, first range) {:.1}s; measured cycles (cpu s, span s): {:?}; idle {:.4} cpu s/s",
        first.as_secs_f64(),
        cycle_cpu,
        idle_rate
    );
    println!(
        "many_accounts accounts={n} cpu_pct={cpu_pct:.2} peak_rss_mb={peak:.0} requests={}",
        requests / cycles as u64
    );
}
