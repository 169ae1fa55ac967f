//! Many accounts in one process: N accounts (default 1,000) synced by the real binary,
//! `wdt-refund-sync run --config <generated toml> --every …`, against one simulator, with a few
//! changed refunds per account per cycle.
//!
//! `cargo bench --bench many_accounts` prints
//! `many_accounts accounts=… cpu_pct=… peak_rss_mb=… requests=… work_cpu_s=… wall_s=… idle_cpu_s_per_s=…`.
//!
//! - The simulator runs in this (the bench) process; the sync runs as a child process, so its
//!   CPU and memory are measured alone: CPU from `/proc/<pid>/stat` (utime + stime, every
//!   thread), sampled every 100 ms; peak memory from `VmHWM` in `/proc/<pid>/status`
//!   (start-up included).
//! - Every account is a `qimen` account of its own name (its own checkpoint stream, lease and
//!   run history), its own client and rate limit (2 requests/s, burst 2), all on the
//!   simulator's credentials; the accounts share one set of tables (every data table is keyed
//!   by account) and the process's one MySQL pool (default size).
//! - Once every account finished a cycle, the simulator modifies a few refunds
//!   (`MANY_ACCOUNTS_CHANGED`, default 3): every account reads them in its next cycle (one
//!   page), and writes them.
//! - **What `cpu_pct` is.** With `--every 5m` the process does one cycle's work every 300 s
//!   and sleeps in between; waiting 5 minutes per cycle in a bench would only add idle time.
//!   So the child runs with a shorter interval (`MANY_ACCOUNTS_EVERY`, default 90 s), long
//!   enough that all accounts finish a cycle well before the next one begins. Each account
//!   prints one `synced` line per cycle and then sleeps the interval, so a cycle starts one
//!   interval after the first account finished the previous one and ends when the last
//!   account finished it. The bench measures
//!   - `work_cpu_s`: the CPU of a cycle, from its start to its end (`wall_s`), averaged over
//!     the measured cycles (`MANY_ACCOUNTS_CYCLES`);
//!   - `idle_cpu_s_per_s`: the CPU per second while no run is active, over the gaps from 2 s
//!     after a cycle's end to 2 s before the next cycle's start;
//!
//!   and `cpu_pct` = (`work_cpu_s` + `idle_cpu_s_per_s` × (300 s − `wall_s`)) ÷ 300 s × 100:
//!   the share of one core the process takes on average with `--every 5m`. The first cycle
//!   (creating the tables, reading every account's first range) is not counted: it happens
//!   once per deployment. A gap too short to measure (the interval shorter than a cycle) is
//!   reported on stderr.
//! - `requests` is the gateway requests of one cycle, all accounts together (averaged over the
//!   measured cycles).
//!
//! Settings: `MANY_ACCOUNTS` (default 1000; `MANY_ACCOUNTS=50` is a quick check),
//! `MANY_ACCOUNTS_CYCLES` (measured cycles, default 3), `MANY_ACCOUNTS_EVERY` (seconds, default
//! 90), `MANY_ACCOUNTS_CHANGED` (default 3), `MYSQL_URL` (default
//! mysql://root@127.0.0.1:3306/test; a database `bench_many_<pid>` is created and dropped).
//! Without a server it says so and exits. Linux only (`/proc`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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
        text.push_str(&format!("\n[[account]]\nname = \"shop{i}\"\n"));
    }
    text
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: usize = env_or("MANY_ACCOUNTS", 1000);
    let cycles: usize = env_or("MANY_ACCOUNTS_CYCLES", 3).max(1);
    let every: u64 = env_or("MANY_ACCOUNTS_EVERY", 90);
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

    // Every account prints one `synced …` line per cycle: when each account finished each cycle.
    let ends: Arc<Mutex<Vec<Vec<Instant>>>> = Arc::new(Mutex::new(vec![Vec::new(); n]));
    let failed = Arc::new(AtomicU64::new(0));
    let stdout = child.stdout.take().unwrap();
    {
        let (ends, failed) = (ends.clone(), failed.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((name, _)) = line.split_once(": synced ") {
                    let i = name.trim_start_matches("shop").parse::<usize>().ok();
                    if let Some(i) = i {
                        if let Some(v) = ends.lock().unwrap().get_mut(i) {
                            v.push(Instant::now());
                        }
                    }
                } else if line.contains("failed") {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    }
    let started = Instant::now();
    let done = |k: usize| ends.lock().unwrap().iter().all(|v| v.len() >= k);
    let every_d = Duration::from_secs(every);
    // CPU and request samples every 100 ms: (when, CPU s, requests so far).
    let mut samples: Vec<(Instant, f64, u64)> = Vec::new();
    // Cycle k+1 (k ≥ 1) is the first cycle after the k-th; it needs its start (one interval
    // after the first account finished cycle k) and one more gap after it for the idle rate.
    let total = cycles + 2;
    let deadline = Duration::from_secs(every * (cycles as u64 + 3) + 900);
    let mut modified = 0;
    let finished = tokio::time::timeout(deadline, async {
        loop {
            samples.push((Instant::now(), cpu_seconds(pid, ticks), sim.stats().requests));
            // Once all accounts finished cycle k, a few refunds change before cycle k+1.
            if modified < total && done(modified + 1) {
                modified += 1;
                sim.modify_now(changed);
            }
            if modified > cycles {
                // The gap after the last measured cycle: until the next cycle is due.
                let first_end = ends.lock().unwrap().iter().map(|v| v[cycles]).min().unwrap();
                if Instant::now() >= first_end + every_d {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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
    if finished.is_err() {
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        let reports: usize = ends.lock().unwrap().iter().map(Vec::len).sum();
        panic!(
            "the cycles did not finish: {reports} of {} reports, {} failure lines; stderr ends:\n{}",
            n * (cycles + 1),
            failed.load(Ordering::SeqCst),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let ends = ends.lock().unwrap().clone();
    // The sample at or before `t`, and the one at or after it.
    let before = |t: Instant| *samples.iter().rev().find(|s| s.0 <= t).unwrap_or(&samples[0]);
    let after = |t: Instant| *samples.iter().find(|s| s.0 >= t).unwrap_or(samples.last().unwrap());
    // Cycle k (0-based) ends when its last account finished it; cycle k+1 starts one interval
    // after its first account finished cycle k (each account sleeps `every` after its run).
    let first_end = |k: usize| ends.iter().map(|v| v[k]).min().unwrap();
    let last_end = |k: usize| ends.iter().map(|v| v[k]).max().unwrap();
    let first_cycle = last_end(0) - started;
    let margin = Duration::from_secs(2);
    let mut work = Vec::new();
    let (mut idle_cpu, mut idle_s) = (0.0, 0.0);
    for k in 1..=cycles {
        let start = first_end(k - 1) + every_d;
        let end = last_end(k);
        let (s0, s1) = (before(start), after(end));
        work.push((s1.1 - s0.1, s1.0.duration_since(s0.0).as_secs_f64(), s1.2 - s0.2));
        // The gap after cycle k: no run is active from its last account's end to the next start.
        let (lo, hi) = (end + margin, first_end(k) + every_d - margin);
        if hi > lo + Duration::from_secs(1) {
            let (g0, g1) = (after(lo), before(hi));
            if g1.0 > g0.0 {
                idle_cpu += g1.1 - g0.1;
                idle_s += g1.0.duration_since(g0.0).as_secs_f64();
            }
        } else {
            eprintln!("many_accounts: warning: no idle gap after cycle {k}: raise MANY_ACCOUNTS_EVERY");
        }
    }
    let m = work.len() as f64;
    let work_cpu = work.iter().map(|w| w.0).sum::<f64>() / m;
    let wall = work.iter().map(|w| w.1).sum::<f64>() / m;
    let requests = work.iter().map(|w| w.2).sum::<u64>() / work.len() as u64;
    let idle_rate = if idle_s > 0.0 { idle_cpu / idle_s } else { 0.0 };
    let cpu_pct = (work_cpu + idle_rate * (300.0 - wall).max(0.0)) / 300.0 * 100.0;
    eprintln!(
        "many_accounts: first cycle (tables, first range) {:.1}s; measured cycles (work cpu s, wall s, requests): {work:.3?}; \
         idle {idle_rate:.5} cpu s/s over {idle_s:.0}s",
        first_cycle.as_secs_f64(),
    );
    println!(
        "many_accounts accounts={n} cpu_pct={cpu_pct:.2} peak_rss_mb={peak:.0} requests={requests} \
         work_cpu_s={work_cpu:.2} wall_s={wall:.1} idle_cpu_s_per_s={idle_rate:.5}"
    );
}
