//! The complete refund sync: WDT Ultimate refunds into MySQL.
//!
//! ```text
//! cargo run --example refund_sync                      # simulator, once
//! cargo run --example refund_sync -- --every 5m        # keep syncing until Ctrl-C / SIGTERM
//!                                                      # (a second one abandons the commit in progress)
//! cargo run --example refund_sync -- --help            # every setting
//! ```
//!
//! With no credentials in the environment it starts the built-in simulator of the gateway and
//! syncs its generated refunds; with Qimen or WDT credentials it syncs the real account.
//!
//! Exit status: 0 done; 1 failed (the last line says why); 2 bad command line; 3 (`--once`)
//! done, but the stored checkpoint was ahead of the gateway's clock and was moved back.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta, Timelike};
use clap::{Parser, ValueEnum};
use refund_sink_mysql::{Layout, MySqlSink, SinkError, WriteMode};
use wdt_qimen::credentials::{DEFAULT_QIMEN_URL, DEFAULT_WDT_URL};
use wdt_qimen::limit::RateLimitConfig;
use wdt_qimen::server_time::ClockOffset;
use wdt_qimen::simulator::Simulator;
use wdt_qimen::sync::{Progress, StreamId, SyncConfig, SyncEngine, SyncError, SyncReport};
use wdt_qimen::{Client, ErrorKind, QimenCredentials, Route, WdtCredentials};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RouteKind {
    Qimen,
    Native,
    Simulator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LayoutArg {
    Flat,
    Normalized,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum WriteModeArg {
    Upsert,
    Replace,
    Insert,
}

/// Sync WangDianTong Ultimate refunds (退换单) into MySQL.
/// No `Debug`: the values hold the MySQL password and the webhook token.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Which gateway: qimen, native or simulator [default: qimen when QIMEN_APP_KEY is set, else
    /// native when WDT_SID is set, else simulator]
    #[arg(long, env = "WDT_ROUTE", value_enum)]
    route: Option<RouteKind>,
    /// Qimen gateway URL.
    #[arg(long, env = "QIMEN_URL", default_value = DEFAULT_QIMEN_URL)]
    qimen_url: String,
    /// Native open API URL.
    #[arg(long, env = "WDT_URL", default_value = DEFAULT_WDT_URL)]
    wdt_url: String,
    /// MySQL URL (percent-encode / ? # @ : in the password); TLS with
    /// `?ssl-mode=VERIFY_CA&ssl-ca=/path/ca.pem` (see the README).
    #[arg(
        long,
        env = "MYSQL_URL",
        hide_env_values = true,
        default_value = "mysql://root@127.0.0.1:3306/test"
    )]
    mysql_url: String,
    /// Longest wait for MySQL per operation (keep it above innodb_lock_wait_timeout).
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    mysql_timeout: Duration,
    /// How long a lost MySQL connection (restart, failover) is retried before the run fails.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    mysql_retry_budget: Duration,
    /// Where the first run starts (Beijing time, yyyy-MM-dd HH:mm:ss).
    #[arg(long = "start", env = "SYNC_START", default_value = "2024-01-01 00:00:00", value_parser = parse_time)]
    start: NaiveDateTime,
    /// Run once and exit (the default).
    #[arg(long, conflicts_with = "every")]
    once: bool,
    /// Run every interval (e.g. 5m) until Ctrl-C or SIGTERM.
    #[arg(long, value_parser = humantime::parse_duration)]
    every: Option<Duration>,
    /// Settle lag: the newest part (by the gateway's clock) left for the next run.
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
    lag: Duration,
    /// Re-read this much before the checkpoint.
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
    overlap: Duration,
    /// Longest window of one query (at most 30 days).
    #[arg(long, default_value = "29days", value_parser = humantime::parse_duration)]
    max_window: Duration,
    /// Page size (1..=200).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=200))]
    page_size: u32,
    /// Table layout.
    #[arg(long, value_enum, default_value = "flat")]
    layout: LayoutArg,
    /// Write mode: upsert (a newer `modified` wins), replace (last write wins), or insert (fails
    /// on any key already stored: only for a one-off load into empty tables, since every run
    /// re-reads an overlap).
    #[arg(long, value_enum, default_value = "upsert")]
    write_mode: WriteModeArg,
    /// Fetch, map and write in a rolled-back transaction; report what would change.
    #[arg(long)]
    dry_run: bool,
    /// Never create or alter tables: for a MySQL user without DDL privileges, against tables
    /// an administrator created (a missing table or migration is an error naming the fix).
    #[arg(long)]
    no_create_tables: bool,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9000).
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,
    /// Post a failure alert to this DingTalk/WeCom robot webhook (its URL carries a token and
    /// is never printed).
    #[arg(long, env = "ALERT_WEBHOOK", hide_env_values = true)]
    alert_webhook: Option<String>,
    /// Refunds the simulator generates (simulator route only).
    #[arg(long, default_value_t = 3000)]
    sim_refunds: usize,
    /// Seed of the simulator's data set (simulator route only).
    #[arg(long, default_value_t = 42)]
    sim_seed: u64,
    /// Latest `modified` of the simulator's data [default: one hour ago, on the hour, so reruns
    /// within the hour see the same data] (simulator route only).
    #[arg(long, value_parser = parse_time)]
    sim_until: Option<NaiveDateTime>,
    /// Latency of every simulator answer, e.g. 20ms (simulator route only).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    sim_latency: Duration,
}

fn parse_time(s: &str) -> Result<NaiveDateTime, String> {
    wdt_qimen::time::parse_wdt(s).map_err(|_| format!("{s:?} is not Beijing time as yyyy-MM-dd HH:mm:ss"))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_required(name: &str) -> Result<String, String> {
    env(name).ok_or_else(|| format!("{name} is not set: set it, or unset the other credentials to use the simulator"))
}

/// The MySQL URL as it may be printed: everything between `://` and the last `@` hidden.
fn redact_mysql_url(url: &str) -> String {
    refund_sink_mysql::redact_url(url)
}

struct Setup {
    client: Client,
    label: String,
    _simulator: Option<Simulator>,
}

async fn setup_route(args: &Args) -> Result<Setup, String> {
    let kind = args.route.unwrap_or(if env("QIMEN_APP_KEY").is_some() {
        RouteKind::Qimen
    } else if env("WDT_SID").is_some() {
        RouteKind::Native
    } else {
        RouteKind::Simulator
    });
    let wdt = || -> Result<WdtCredentials, String> {
        WdtCredentials::new(
            env_required("WDT_SID")?,
            env_required("WDT_APP_KEY")?,
            &env_required("WDT_APP_SECRET")?,
        )
        .map_err(|e| e.to_string())
    };
    match kind {
        RouteKind::Simulator => {
            let until = args.sim_until.unwrap_or_else(|| {
                let t = wdt_qimen::time::to_beijing(chrono::Utc::now()) - TimeDelta::hours(1);
                t.date().and_hms_opt(t.hour(), 0, 0).expect("valid hour")
            });
            let sim = Simulator::builder()
                .seed(args.sim_seed)
                .refunds(args.sim_refunds)
                .time_range(args.start, until)
                .latency(args.sim_latency)
                .start()
                .await;
            let route = Route::Qimen {
                url: sim.qimen_url(),
                qimen: sim.qimen_credentials(),
                wdt: sim.wdt_credentials(),
            };
            let client = Client::builder(route)
                .rate_limit(RateLimitConfig::unlimited())
                .build()
                .map_err(|e| e.to_string())?;
            let label = format!(
                "simulator ({} refunds, qimen protocol on {})",
                args.sim_refunds,
                sim.qimen_url()
            );
            Ok(Setup {
                client,
                label,
                _simulator: Some(sim),
            })
        }
        RouteKind::Qimen => {
            let mut q = QimenCredentials::new(env_required("QIMEN_APP_KEY")?, env_required("QIMEN_APP_SECRET")?)
                .map_err(|e| e.to_string())?;
            if let Some(t) = env("QIMEN_TARGET_APP_KEY") {
                q = q.with_target_app_key(t).map_err(|e| e.to_string())?;
            }
            if let Some(m) = env("QIMEN_SIGN_METHOD") {
                q = q.with_sign_method(m.parse().map_err(|e: wdt_qimen::Error| e.to_string())?);
            }
            let route = Route::Qimen {
                url: args.qimen_url.clone(),
                qimen: q,
                wdt: wdt()?,
            };
            let client = Client::builder(route).build().map_err(|e| e.to_string())?;
            Ok(Setup {
                client,
                label: format!("qimen ({})", args.qimen_url),
                _simulator: None,
            })
        }
        RouteKind::Native => {
            let route = Route::Native {
                url: args.wdt_url.clone(),
                wdt: wdt()?,
            };
            let client = Client::builder(route).build().map_err(|e| e.to_string())?;
            Ok(Setup {
                client,
                label: format!("native ({})", args.wdt_url),
                _simulator: None,
            })
        }
    }
}

fn progress_hook() -> Arc<dyn Fn(&Progress) + Send + Sync> {
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} windows  {msg}",
            )
            .expect("valid template"),
        );
        Arc::new(move |p: &Progress| {
            bar.set_length(p.windows_planned);
            bar.set_position(p.windows_done);
            bar.set_message(format!(
                "{} pages, {} refunds, {} commits",
                p.pages, p.refunds, p.commits
            ));
        })
    } else {
        // Plain lines: one every 5 seconds at most, and one when the last window is done.
        let last = std::sync::Mutex::new((0u64, std::time::Instant::now()));
        Arc::new(move |p: &Progress| {
            let mut l = last.lock().expect("progress lock");
            let finished = p.windows_done == p.windows_planned && p.windows_done != l.0;
            if finished || (p.windows_done != l.0 && l.1.elapsed() >= Duration::from_secs(5)) {
                *l = (p.windows_done, std::time::Instant::now());
                tracing::info!(windows = %format!("{}/{}", p.windows_done, p.windows_planned), pages = p.pages, refunds = p.refunds, "progress");
            }
        })
    }
}

/// The exit status of a `--once` run that found the stored checkpoint ahead of the gateway's
/// clock (and moved it back).
const EXIT_CHECKPOINT_AHEAD: u8 = 3;

/// Whole seconds as `7m 2s`.
fn seconds(d: TimeDelta) -> String {
    humantime::format_duration(Duration::from_secs(d.num_seconds().unsigned_abs())).to_string()
}

/// How this host's clock stands to the gateway's.
fn describe_offset(o: &ClockOffset) -> String {
    let skew = o.correction();
    if skew.is_zero() {
        format!("in step with the gateway (offset {o})")
    } else if skew < TimeDelta::zero() {
        format!(
            "this host is {} ahead of the gateway (offset {o})",
            seconds(-o.estimate())
        )
    } else {
        format!("this host is {} behind the gateway (offset {o})", seconds(o.estimate()))
    }
}

fn print_report(r: &SyncReport, dry_run: bool) {
    let verb = if dry_run {
        "would sync (dry run, rolled back)"
    } else {
        "synced"
    };
    println!(
        "{verb} {} refunds in {} windows ({} pages, {} re-reads, {} retries, {} throttles) in {:.1?}",
        r.refunds, r.windows_done, r.pages, r.rereads, r.retries, r.throttles, r.elapsed
    );
    println!(
        "rows: {} inserted, {} updated, {} deleted, {} unchanged, {} older skipped, {} dead letters",
        r.rows.inserted, r.rows.updated, r.rows.deleted, r.rows.unchanged, r.rows.skipped_older, r.dead_letters
    );
    let fmt = wdt_qimen::time::format_wdt;
    if let Some(a) = &r.checkpoint_ahead {
        println!(
            "checkpoint was ahead of the gateway's clock: stored {}, gateway time {} (left by a run on a host whose clock \
             was fast); moved back to {}{} and read again from there",
            fmt(a.stored),
            fmt(a.gateway_time),
            fmt(a.reset_to),
            if dry_run { " (dry run: not stored)" } else { "" }
        );
    }
    let note = if dry_run {
        " (dry run: not stored)"
    } else if r.interrupted {
        " (stopped early by a signal)"
    } else {
        ""
    };
    match (r.checkpoint, r.lag) {
        (Some(c), Some(lag)) => println!(
            "checkpoint: {} (Beijing), {} behind the gateway's clock{note}",
            fmt(c),
            humantime::format_duration(Duration::from_secs(lag.as_secs())),
        ),
        (Some(c), None) => println!("checkpoint: {} (Beijing), level with the gateway's clock{note}", fmt(c)),
        (None, _) => println!("checkpoint: none yet"),
    }
    match &r.clock_offset {
        Some(o) => println!("clock: {}", describe_offset(o)),
        None => println!(
            "clock: no answer carried a Date header agreeing with its accepted request timestamp; \
             windows followed this host's clock"
        ),
    }
}

/// An error with its causes, each said once: `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = c.source();
    }
    out
}

/// One line that says what failed and what to do.
fn explain<E: std::error::Error>(e: &SyncError<E>, mysql_url: &str) -> String {
    match e {
        SyncError::Api(api) if api.kind() == ErrorKind::Auth => format!("authentication failed: {api}"),
        SyncError::Sink(s) => format!("MySQL at {} failed: {}", redact_mysql_url(mysql_url), chain(s)),
        other => chain(other),
    }
}

async fn alert(webhook: &str, text: &str) {
    let body = serde_json::json!({"msgtype": "text", "text": {"content": format!("[refund_sync] {text}")}});
    match reqwest::Client::new()
        .post(webhook)
        .json(&body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => eprintln!("alert webhook answered HTTP {}", r.status()),
        Err(e) => eprintln!("alert webhook failed: {}", e.without_url()),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs as configured; `Ok(true)` when a `--once` run found the checkpoint ahead of the
/// gateway's clock.
async fn run(args: Args) -> Result<bool, String> {
    if let Some(addr) = args.metrics_addr {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
    }
    let setup = setup_route(&args).await?;
    let layout = match args.layout {
        LayoutArg::Flat => Layout::Flat,
        LayoutArg::Normalized => Layout::Normalized,
        LayoutArg::Both => Layout::Both,
    };
    let mode = match args.write_mode {
        WriteModeArg::Upsert => WriteMode::Upsert,
        WriteModeArg::Replace => WriteMode::Replace,
        WriteModeArg::Insert => WriteMode::Insert,
    };
    let sink = MySqlSink::builder(&args.mysql_url)
        .layout(layout)
        .write_mode(mode)
        .dry_run(args.dry_run)
        .timeout(args.mysql_timeout)
        .connection_retry_budget(args.mysql_retry_budget)
        .create_tables(!args.no_create_tables)
        .build()
        .await
        .map_err(|e| {
            format!(
                "cannot use MySQL at {}: {} (start MariaDB, e.g. `start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql`, or set MYSQL_URL)",
                redact_mysql_url(&args.mysql_url),
                chain(&e)
            )
        })?;
    println!("route: {}, MySQL: {}", setup.label, redact_mysql_url(&args.mysql_url));
    let mut cfg = SyncConfig::default();
    cfg.start = args.start;
    cfg.overlap = TimeDelta::from_std(args.overlap).map_err(|e| format!("--overlap: {e}"))?;
    cfg.settle_lag = TimeDelta::from_std(args.lag).map_err(|e| format!("--lag: {e}"))?;
    cfg.page_size = args.page_size;
    cfg.max_window = TimeDelta::from_std(args.max_window).map_err(|e| format!("--max-window: {e}"))?;
    let mut engine = SyncEngine::new(setup.client.clone(), sink, cfg).with_progress(progress_hook());
    if setup._simulator.is_some() {
        // Each simulated data set keeps a checkpoint of its own.
        let account = format!("simulator-seed{}-n{}", args.sim_seed, args.sim_refunds);
        let method = engine.stream().method.clone();
        engine = engine.with_stream(StreamId::new(account, method));
    }

    // First signal: stop after the commit in progress. Second: abandon that commit too (it is
    // rolled back; the next run does it again).
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let abandon = engine.sink().clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
        shutdown_signal().await;
        eprintln!("second signal: abandoning the commit in progress (it is rolled back)");
        abandon.abandon();
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    loop {
        engine.sink().start_run();
        match engine.run_until(stopped(stop_rx.clone())).await {
            Ok(report) => {
                print_report(&report, args.dry_run);
                if let Some(a) = &report.checkpoint_ahead {
                    if args.every.is_none() {
                        return Ok(true);
                    }
                    if let Some(hook) = &args.alert_webhook {
                        let line = format!(
                            "the stored checkpoint {} was ahead of the gateway's clock {}; moved back to {} (check the clocks of the hosts that run this sync)",
                            wdt_qimen::time::format_wdt(a.stored),
                            wdt_qimen::time::format_wdt(a.gateway_time),
                            wdt_qimen::time::format_wdt(a.reset_to)
                        );
                        alert(hook, &line).await;
                    }
                }
            }
            Err(SyncError::Sink(SinkError::Abandoned)) => {
                return Err("stopped by a second signal; the commit in progress was rolled back".into());
            }
            Err(e) => {
                let line = explain(&e, &args.mysql_url);
                if args.every.is_none() {
                    return Err(line); // main alerts and exits non-zero
                }
                if let Some(hook) = &args.alert_webhook {
                    alert(hook, &line).await;
                }
                eprintln!("sync failed: {line}");
            }
        }
        let Some(every) = args.every else { return Ok(false) };
        if *stop_rx.borrow() {
            return Ok(false);
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped(stop_rx.clone()) => return Ok(false),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,refund_sync=info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let webhook = args.alert_webhook.clone();
    match run(args).await {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::from(EXIT_CHECKPOINT_AHEAD),
        Err(line) => {
            eprintln!("refund_sync: {line}");
            if let Some(hook) = webhook {
                alert(&hook, &line).await;
            }
            ExitCode::FAILURE
        }
    }
}
