//! The `run` subcommand: every account syncs in its own task, once or on a schedule, with its
//! own client, limiter, checkpoint stream, tables and failures.
//!
//! One account failing (a wrong secret, a ban, its tables) never stops the others: its error is
//! printed on its own line (and alerted), the others go on, and a `--once` run ends non-zero
//! naming it. With `--every`, a failed run is retried at the next interval, starting from
//! connecting again when the start-up failed.
//!
//! A panic (a bug) in an account's run is caught at the run's boundary: the account fails with
//! a one-line cause, its run is recorded `failed` in the run history, its lease is released, and
//! the other accounts go on (with `--every` the account connects again at the next interval). A
//! panic elsewhere in its task ends that account alone, failed; its lease, if any, expires.
//!
//! With `--verify-every`, an account's live run (not a backfill, not a dry run) is followed by its
//! scheduled verify when one is due, under the same lease (see [`crate::verify::scheduled`]).
//!
//! For tests only: [`TEST_PANIC_ENV`] names an account of the simulator route whose run panics
//! after its first commit. It is ignored for every other route, so it cannot stop a real
//! account.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use futures::FutureExt;
use refund_sink_mysql::{LeaseLoss, MySqlSink, RunCounts, RunEnd, RunId, RunOutcome as Outcome, RunStart, SinkError};
use tracing::Instrument;
use wdt_qimen::sync::{Sink as _, StreamId, SyncConfig, SyncEngine, SyncError, SyncReport};

use crate::alert::{Alerts, Observation, Outcome as Observed};
use crate::backfill::Range;
use crate::config::{Account, Plan, RouteSpec, Schedule};
use crate::error::AppError;
use crate::lease::{self, Runner, Taken};
use crate::monitor::{AccountMonitor, Monitor};
use crate::progress::ProgressView;
use crate::report;
use crate::route::{self, Connected};
use crate::signals::Shutdown;
use crate::sink;
use crate::telemetry::StreamMetrics;

/// How a `run` ended without failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RunOutcome {
    /// A `--once` run found an account's stored checkpoint ahead of the gateway's clock (and
    /// moved it back).
    pub checkpoint_ahead: bool,
    /// Accounts whose stream was skipped because another runner held its lease.
    pub skipped: usize,
}

/// What the run shares between accounts.
struct Shared {
    mysql: crate::config::MysqlSettings,
    /// The one MySQL pool of every account.
    pool: refund_sink_mysql::SharedPool,
    /// Turns: at most [`RUNS_PER_CONNECTION`] × the pool's size accounts start or run at once.
    turns: tokio::sync::Semaphore,
    schedule: Schedule,
    dry_run: bool,
    named: bool,
    program: String,
    alerts: Alerts,
    progress: ProgressView,
    shutdown: Shutdown,
    /// A `backfill` of this range instead of the live sync.
    backfill: Option<Range>,
    runner: Runner,
    /// What the status server is told.
    monitor: Monitor,
}

/// How one account's task ended.
enum AccountEnd {
    Done {
        checkpoint_ahead: bool,
    },
    Failed(AppError),
    Abandoned,
    /// Another runner held the stream's lease.
    Skipped,
}

/// How one run of an account's stream ended.
enum Once {
    Ran(SyncReport),
    /// Another runner held the stream's lease (the line is printed).
    Skipped,
    /// A signal came while waiting for the lease.
    Stopped,
    Failed(AppError),
    Abandoned,
}

/// Test-only fault injection: an account of the **simulator route** with this name panics in its
/// run after its first commit (to test that a panic fails that account alone). Accounts of the
/// `qimen` and `native` routes ignore it.
pub const TEST_PANIC_ENV: &str = "WDT_REFUND_SYNC_TEST_PANIC_ACCOUNT";

/// `hook`, or for the account [`TEST_PANIC_ENV`] names (simulator route only) a hook that
/// panics once the run has committed.
fn with_test_panic(hook: wdt_qimen::sync::ProgressHook, account: &Account) -> wdt_qimen::sync::ProgressHook {
    let armed = matches!(account.route, RouteSpec::Simulator(_))
        && std::env::var(TEST_PANIC_ENV).is_ok_and(|name| name == account.name);
    if !armed {
        return hook;
    }
    Arc::new(move |p: &wdt_qimen::sync::Progress| {
        if p.commits > 0 {
            panic!("test panic after {} commits ({TEST_PANIC_ENV})", p.commits);
        }
        hook(p)
    })
}

/// Account runs at once per connection of the MySQL pool: the others wait for a turn, holding
/// nothing (a thousand accounts reading their first pages at once would hold them all in
/// memory while they wait for a connection).
pub const RUNS_PER_CONNECTION: usize = 4;

/// How often `--every` prunes the run history.
const PRUNE_EVERY: Duration = Duration::from_secs(86_400);

/// Runs every account of `plan` until done (`once`) or until a signal (`every`).
/// `program` starts the error lines (`wdt-refund-sync: shop_a: …`).
pub async fn run(
    plan: Plan,
    runner: Runner,
    alerts: Alerts,
    shutdown: Shutdown,
    program: &str,
) -> Result<RunOutcome, AppError> {
    let monitor = Monitor::new(&plan.accounts, crate::monitor::MIN_STALL);
    run_accounts(plan, runner, None, alerts, shutdown, program, monitor).await
}

/// [`run`], telling `monitor` (the status server's) what every account's loop does.
pub async fn run_monitored(
    plan: Plan,
    runner: Runner,
    alerts: Alerts,
    shutdown: Shutdown,
    program: &str,
    monitor: Monitor,
) -> Result<RunOutcome, AppError> {
    run_accounts(plan, runner, None, alerts, shutdown, program, monitor).await
}

/// [`run`], or with `backfill` each account's backfill of that range.
pub(crate) async fn run_accounts(
    plan: Plan,
    runner: Runner,
    backfill: Option<Range>,
    alerts: Alerts,
    shutdown: Shutdown,
    program: &str,
    monitor: Monitor,
) -> Result<RunOutcome, AppError> {
    let shared = Arc::new(Shared {
        pool: plan.mysql.shared_pool(),
        monitor,
        turns: tokio::sync::Semaphore::new(plan.mysql.pool_size.saturating_mul(RUNS_PER_CONNECTION)),
        mysql: plan.mysql,
        schedule: plan.schedule,
        dry_run: plan.dry_run,
        named: plan.named,
        program: program.to_owned(),
        alerts,
        progress: ProgressView::detect(),
        shutdown,
        backfill,
        runner,
    });
    let total = plan.accounts.len();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, account) in plan.accounts.into_iter().enumerate() {
        let shared = shared.clone();
        let span = if shared.named {
            tracing::info_span!("account", name = %account.name)
        } else {
            tracing::Span::none()
        };
        tasks.spawn(
            async move {
                let name = account.name.clone();
                let observed = account.clone();
                let beat = shared.monitor.account(i);
                let end = match AssertUnwindSafe(run_account(&shared, account, &beat))
                    .catch_unwind()
                    .await
                {
                    Ok(end) => end,
                    Err(payload) => {
                        let e = AppError::panicked("its task", payload.as_ref());
                        let prefix = if shared.named {
                            format!("{name}: ")
                        } else {
                            String::new()
                        };
                        if shared.named {
                            eprintln!("{}: {prefix}{e}", shared.program);
                        }
                        if shared.alerts.is_on() {
                            let obs = failed_observation(&observed, None, &e, None).await;
                            shared.alerts.observe(&obs).await;
                        }
                        AccountEnd::Failed(e)
                    }
                };
                beat.ended();
                (i, name, end)
            }
            .instrument(span),
        );
    }
    let mut ends = Vec::with_capacity(total);
    while let Some(joined) = tasks.join_next().await {
        ends.push(joined.expect("an account's task panicked"));
    }
    // Within the timeout: a server that stopped answering must not hold the exit up.
    let _ = tokio::time::timeout(shared.mysql.timeout, shared.pool.disconnect()).await;
    ends.sort_by_key(|(i, _, _)| *i);
    let mut outcome = RunOutcome::default();
    let mut failed = Vec::new();
    let mut abandoned = false;
    let mut skipped = Vec::new();
    for (_, name, end) in ends {
        match end {
            AccountEnd::Done { checkpoint_ahead } => outcome.checkpoint_ahead |= checkpoint_ahead,
            AccountEnd::Abandoned => abandoned = true,
            AccountEnd::Skipped => skipped.push(name),
            AccountEnd::Failed(e) if !shared.named => return Err(e),
            AccountEnd::Failed(_) => failed.push(name),
        }
    }
    outcome.skipped = skipped.len();
    if !skipped.is_empty() {
        let whose = if shared.named {
            format!(": {}", skipped.join(", "))
        } else {
            String::new()
        };
        eprintln!(
            "{}: {} of {total} streams skipped (held by another runner; not a failure){whose}",
            shared.program,
            skipped.len()
        );
    }
    if abandoned {
        return Err(AppError::Abandoned);
    }
    if !failed.is_empty() {
        return Err(AppError::AccountsFailed { failed, total });
    }
    Ok(outcome)
}

/// A connected account: its engine, and the simulator serving it, if any.
struct Ready {
    engine: SyncEngine<MySqlSink>,
    connected: Connected,
    /// When its last scheduled verify started: `None` until read from `wdt_sync_verify`.
    last_verify: std::sync::Mutex<Option<Option<chrono::NaiveDateTime>>>,
}

async fn prepare(shared: &Shared, account: &Account, beat: &AccountMonitor) -> Result<Ready, AppError> {
    let connected = route::connect(account).await?;
    let sink = sink::open(&shared.mysql, &shared.pool, account, shared.dry_run).await?;
    let abandon = sink.clone();
    shared.shutdown.on_abandon(move || abandon.abandon());
    report::print_block(
        &prefix(shared, account),
        &format!("route: {}, MySQL: {}\n", connected.label, shared.mysql.redacted_url()),
    );
    let mut engine = SyncEngine::new(connected.client.clone(), sink, sync_config(&shared.schedule, account)?)
        .with_progress(with_test_panic(
            beat.progress_hook(shared.progress.hook(if shared.named { &account.name } else { "" })),
            account,
        ));
    if let Some(stream) = &account.stream_account {
        let method = engine.stream().method.clone();
        engine = engine.with_stream(StreamId::new(stream.clone(), method));
    }
    beat.connected(engine.stream(), &connected.client);
    if let Some(range) = shared.backfill {
        engine = engine.backfill(range.from, range.to);
    }
    Ok(Ready {
        engine,
        connected,
        last_verify: std::sync::Mutex::new(None),
    })
}

/// The engine's settings for `account`.
pub fn sync_config(schedule: &Schedule, account: &Account) -> Result<SyncConfig, AppError> {
    let delta = |key: &str, d: Duration| {
        TimeDelta::from_std(d).map_err(|e| {
            AppError::setting(
                key,
                humantime::format_duration(d),
                e.to_string(),
                "use a shorter duration",
            )
        })
    };
    let mut cfg = SyncConfig::default();
    cfg.start = account.start;
    cfg.overlap = delta("overlap", schedule.overlap)?;
    cfg.settle_lag = delta("lag", schedule.lag)?;
    cfg.max_window = delta("max_window", schedule.max_window)?;
    cfg.page_size = account.page_size;
    cfg.history = schedule.history;
    cfg.history_every = delta("history_every", schedule.history_every)?;
    cfg.archive_horizon = delta("archive_horizon", schedule.archive_horizon)?;
    cfg.validate().map_err(|source| AppError::Sdk {
        context: format!("account {:?}", account.name),
        source: Box::new(source),
    })?;
    Ok(cfg)
}

fn prefix(shared: &Shared, account: &Account) -> String {
    if shared.named {
        format!("{}: ", account.name)
    } else {
        String::new()
    }
}

/// The stream `account` keeps its checkpoint under, before its engine exists (`account/method`).
pub fn stream_of(account: &Account) -> String {
    let id = match &account.route {
        RouteSpec::Qimen { wdt, .. } | RouteSpec::Native { wdt, .. } => wdt.sid().to_owned(),
        RouteSpec::Simulator(_) => account.name.clone(),
    };
    let id = account.stream_account.clone().unwrap_or(id);
    StreamId::new(id, wdt_qimen::transport::REFUND_SEARCH.native).to_string()
}

/// The longest wait for the reads that only feed alerts (a checkpoint, the run history): an
/// unreachable MySQL must not delay the loop by the whole retry budget once more.
const ALERT_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What a failed run of `account` tells the alerts: its cause, and the stream's stored
/// checkpoint when it can be read soon (else the last one known).
async fn failed_observation(
    account: &Account,
    ready: Option<&Ready>,
    e: &AppError,
    last_checkpoint: Option<chrono::NaiveDateTime>,
) -> Observation {
    let outcome = Observed::Failed { cause: e.to_string() };
    let Some(r) = ready else {
        return Observation::new(&account.name, stream_of(account), outcome).checkpoint(last_checkpoint);
    };
    let stream = r.engine.stream();
    let stored = match tokio::time::timeout(ALERT_READ_TIMEOUT, r.engine.sink().load_checkpoint(stream)).await {
        Ok(Ok(c)) => c.map(|c| c.window_end),
        _ => None,
    };
    Observation::new(&account.name, stream.to_string(), outcome)
        .checkpoint(stored.or(last_checkpoint))
        .clock_offset(r.connected.client.clock_offset().map(|o| o.correction()))
}

/// Takes up the failure streak the run history shows for `r`'s stream (runs of an earlier
/// process, or of another runner), so a stream synced by `--once` runs, or by a restarted
/// process, is not alerted as newly failing at every start. A history that cannot be read is
/// ignored.
async fn resume_alerts(shared: &Shared, r: &Ready) {
    if !shared.alerts.is_on() || shared.dry_run {
        return;
    }
    let stream = r.engine.stream();
    let Ok(Ok(runs)) = tokio::time::timeout(ALERT_READ_TIMEOUT, r.engine.sink().recent_runs(Some(stream), 200)).await
    else {
        return;
    };
    let mut failed = runs
        .iter()
        .filter(|run| !matches!(run.outcome, Outcome::SkippedLease | Outcome::Running))
        .take_while(|run| matches!(run.outcome, Outcome::Failed | Outcome::Abandoned | Outcome::Interrupted))
        .filter(|run| run.outcome == Outcome::Failed);
    let Some(last) = failed.next() else { return };
    let first = failed.clone().last().unwrap_or(last);
    let n = 1 + failed.count() as u32;
    let utc = wdt_qimen::time::from_beijing;
    shared
        .alerts
        .resume(&stream.to_string(), utc(first.started_at), n, utc(last.started_at));
}

async fn run_account(shared: &Shared, account: Account, beat: &AccountMonitor) -> AccountEnd {
    let every = shared.schedule.every;
    let prefix = prefix(shared, &account);
    let mut ready: Option<Ready> = None;
    let mut last_prune: Option<std::time::Instant> = None;
    let mut last_checkpoint = None;
    let mut resumed = false;
    loop {
        if shared.shutdown.is_stopped() {
            return AccountEnd::Done {
                checkpoint_ahead: false,
            };
        }
        beat.beat();
        let mut failure = None;
        let turn = tokio::select! {
            turn = shared.turns.acquire() => turn.ok(),
            _ = shared.shutdown.stopped() => continue,
        };
        let started = std::time::Instant::now();
        if ready.is_none() {
            match prepare(shared, &account, beat).await {
                Ok(r) => {
                    if !resumed {
                        resumed = true;
                        resume_alerts(shared, &r).await;
                    }
                    ready = Some(r);
                }
                Err(e) => failure = Some(e),
            }
        }
        let metrics = StreamMetrics::new(
            &account.name,
            &ready
                .as_ref()
                .map_or_else(|| stream_of(&account), |r| r.engine.stream().to_string()),
        );
        if let Some(r) = &ready {
            if !shared.dry_run && last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(std::time::Instant::now());
                prune(shared, r, &prefix).await;
            }
            let once = run_once(shared, &account, r, &prefix, beat, &metrics).await;
            match &once {
                Once::Ran(rep) if rep.interrupted => metrics.run("interrupted", started.elapsed()),
                Once::Ran(_) => metrics.run("ok", started.elapsed()),
                Once::Skipped => metrics.run("skipped", started.elapsed()),
                Once::Abandoned => metrics.run("interrupted", started.elapsed()),
                Once::Failed(_) | Once::Stopped => {}
            }
            match once {
                Once::Ran(rep) => {
                    beat.succeeded();
                    let text = match shared.backfill {
                        Some(range) => crate::backfill::render(&rep, range, shared.dry_run),
                        None => report::render(&rep, shared.dry_run),
                    };
                    report::print_block(&prefix, &text);
                    if shared.dry_run {
                        // What the refunds would look like in the tables (the first few).
                        let rows = r.engine.sink().dry_run_rows();
                        if !rows.is_empty() {
                            report::print_block(
                                &prefix,
                                &format!(
                                    "dry run: the first refunds as they would be written\n{}",
                                    crate::mapping::render_rows(&rows, refund_sink_mysql::sink::DRY_RUN_ROWS)
                                ),
                            );
                        }
                    }
                    last_checkpoint = rep.checkpoint.or(last_checkpoint);
                    if !rep.interrupted {
                        let obs = Observation::new(
                            &account.name,
                            r.engine.stream().to_string(),
                            Observed::Ran { lag: rep.lag },
                        )
                        .checkpoint(rep.checkpoint)
                        .clock_offset(rep.clock_offset.map(|o| o.correction()));
                        shared.alerts.observe(&obs).await;
                    }
                    if let Some(a) = &rep.checkpoint_ahead {
                        if every.is_none() {
                            return AccountEnd::Done { checkpoint_ahead: true };
                        }
                        shared
                            .alerts
                            .notice(
                                &format!("{}: checkpoint was ahead of the gateway's clock", account.name),
                                &format!("- {}", report::checkpoint_ahead_line(a)),
                            )
                            .await;
                    }
                }
                Once::Skipped if every.is_none() => return AccountEnd::Skipped,
                Once::Skipped | Once::Stopped => {}
                Once::Abandoned => return AccountEnd::Abandoned,
                Once::Failed(e) => {
                    if matches!(e, AppError::Panicked { .. }) {
                        // The engine and the sink may be half-way through something: the next
                        // interval starts from connecting again.
                        ready = None;
                    }
                    failure = Some(e);
                }
            }
        }
        drop(turn);
        if let Some(e) = failure {
            beat.failed(&e.to_string());
            metrics.run("failed", started.elapsed());
            if shared.shutdown.is_abandoned() {
                return AccountEnd::Abandoned;
            }
            if shared.alerts.is_on() && !shared.shutdown.is_stopped() {
                let obs = failed_observation(&account, ready.as_ref(), &e, last_checkpoint).await;
                shared.alerts.observe(&obs).await;
            }
            if every.is_none() {
                if shared.named {
                    eprintln!("{}: {prefix}{e}", shared.program);
                }
                return AccountEnd::Failed(e);
            }
            eprintln!("{prefix}sync failed: {e}");
        }
        let Some(every) = every else {
            return AccountEnd::Done {
                checkpoint_ahead: false,
            };
        };
        beat.sleeping(every);
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shared.shutdown.stopped() => {}
        }
    }
}

/// One run of `r`'s stream: under its lease (none in a dry run), recorded in the run history.
async fn run_once(
    shared: &Shared,
    account: &Account,
    r: &Ready,
    prefix: &str,
    beat: &AccountMonitor,
    metrics: &StreamMetrics,
) -> Once {
    let sink = r.engine.sink();
    let stream = r.engine.stream().clone();
    let sink_error = |e: SinkError| AppError::Sync {
        mysql_url: shared.mysql.redacted_url(),
        source: Box::new(SyncError::Sink(e)),
    };
    let lease = if shared.dry_run {
        None
    } else {
        if shared.runner.wait_for_lease {
            beat.waiting_for_lease();
        }
        let taken = tokio::select! {
            taken = shared.runner.take(sink, &stream) => taken,
            _ = shared.shutdown.stopped() => return Once::Stopped,
        };
        beat.beat();
        match taken {
            Ok(Taken::Lease(l)) => {
                metrics.lease_held(true);
                Some(l)
            }
            Ok(Taken::Held(holder)) => {
                metrics.lease_held(false);
                report::print_block(prefix, &format!("{}\n", lease::skipped_line(&stream, &holder)));
                let owner = refund_sink_mysql::LeaseOwner::this_process();
                match sink.run_started(&stream, RunStart::new(owner)).await {
                    Ok(id) => finish(sink, id, RunEnd::skipped(&holder), prefix).await,
                    Err(e) => tracing::warn!(%stream, error = %e, "could not record the skipped run"),
                }
                return Once::Skipped;
            }
            Err(e) => return Once::Failed(sink_error(e)),
        }
    };
    let run_id = match &lease {
        Some(l) => match sink.run_started(&stream, RunStart::new(l.owner().clone())).await {
            Ok(id) => Some(id),
            Err(e) => {
                release(lease, prefix, metrics).await;
                return Once::Failed(sink_error(e));
            }
        },
        None => None,
    };
    let requests_before = r.connected.client.stats().requests;
    sink.start_run();
    let lost: std::sync::Mutex<Option<LeaseLoss>> = std::sync::Mutex::new(None);
    let work = async {
        let stop = async {
            match &lease {
                Some(l) => tokio::select! {
                    _ = shared.shutdown.stopped() => {}
                    loss = l.lost() => *lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(loss),
                },
                None => shared.shutdown.stopped().await,
            }
        };
        tokio::pin!(stop);
        let mut result = r.engine.run_until(stop.as_mut()).await;
        // The periodic read of the recent archive (Refund.searchHistory), under the same lease and
        // its own checkpoint; once it reached its period, it sends no request until the next one.
        if let Ok(rep) = &mut result {
            let lost_now = lost.lock().unwrap_or_else(|e| e.into_inner()).is_some();
            if let Some(pass) = r.engine.recent_history().filter(|_| !rep.interrupted && !lost_now) {
                match pass.run_until(stop.as_mut()).await {
                    Ok(h) => absorb_history(rep, &h),
                    Err(e) => result = Err(e),
                }
            }
        }
        result
    };
    let result = match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => Ok(result),
        Err(payload) => Err(AppError::panicked("the run", payload.as_ref())),
    };
    let requests = r.connected.client.stats().requests.saturating_sub(requests_before);
    let loss = lost.into_inner().unwrap_or_else(|e| e.into_inner());
    let lease_lost = |loss: &LeaseLoss| AppError::LeaseLost {
        stream: stream.to_string(),
        loss: loss.to_string(),
    };
    let (once, end) = match (result, loss) {
        (Err(e), _) => {
            let end = RunEnd::new(Outcome::Failed).error(e.to_string());
            (Once::Failed(e), end)
        }
        (Ok(result), loss) => match (result, loss) {
            (Err(SyncError::Sink(SinkError::Abandoned)), _) => (Once::Abandoned, RunEnd::new(Outcome::Interrupted)),
            (Ok(rep), Some(loss)) => {
                let e = lease_lost(&loss);
                let end = RunEnd::new(Outcome::Failed)
                    .counts(RunCounts::from_report(&rep).with_requests(requests))
                    .error(e.to_string());
                (Once::Failed(e), end)
            }
            (Ok(rep), None) => {
                let end = RunEnd::from_report(&rep).counts(RunCounts::from_report(&rep).with_requests(requests));
                (Once::Ran(rep), end)
            }
            (Err(source), loss) => {
                let e = match (&source, loss) {
                    (SyncError::Sink(SinkError::LeaseLost { loss, .. }), _) => lease_lost(loss),
                    (_, Some(loss)) => lease_lost(&loss),
                    _ => AppError::Sync {
                        mysql_url: shared.mysql.redacted_url(),
                        source: Box::new(source),
                    },
                };
                let end = RunEnd::new(Outcome::Failed).error(e.to_string());
                (Once::Failed(e), end)
            }
        },
    };
    if let Some(id) = run_id {
        finish(sink, id, end, prefix).await;
    }
    if let (Once::Ran(rep), Some(l)) = (&once, &lease) {
        if !rep.interrupted && shared.backfill.is_none() {
            scheduled_verify(shared, account, r, prefix, beat, l).await;
        }
    }
    release(lease, prefix, metrics).await;
    once
}

/// The scheduled verify of `account` (`--verify-every`), when it is due: after the live run and
/// under its lease, through the account's client (its limiter) and sink; stopped by a signal or
/// the lease's loss. Its report is printed, a difference alerted; a failure is printed and
/// tried again after the interval, never failing the run.
async fn scheduled_verify(
    shared: &Shared,
    account: &Account,
    r: &Ready,
    prefix: &str,
    beat: &AccountMonitor,
    lease: &refund_sink_mysql::Lease,
) {
    let Some(vs) = shared.schedule.verify else { return };
    let t = crate::verify::Target {
        mysql: &shared.mysql,
        schedule: &shared.schedule,
        account,
        client: r.connected.client.clone(),
        sink: r.engine.sink().clone(),
        stream: r.engine.stream().clone(),
    };
    let known = *r.last_verify.lock().unwrap_or_else(|e| e.into_inner());
    let last = match known {
        Some(last) => last,
        // Remembered across restarts: the account's last verify, from its table.
        None => match tokio::time::timeout(ALERT_READ_TIMEOUT, crate::verify::last_started(&t)).await {
            Ok(Ok(last)) => {
                *r.last_verify.lock().unwrap_or_else(|e| e.into_inner()) = Some(last);
                last
            }
            Ok(Err(e)) => {
                eprintln!("{prefix}warning: could not read the last verify (tried again at the next run): {e}");
                return;
            }
            Err(_) => return,
        },
    };
    let now = wdt_qimen::time::to_beijing(chrono::Utc::now());
    if !crate::verify::is_due(last, now, vs.every) {
        return;
    }
    *r.last_verify.lock().unwrap_or_else(|e| e.into_inner()) = Some(Some(now));
    beat.beat();
    let verified = tokio::select! {
        v = crate::verify::scheduled(&t, &vs) => Some(v),
        _ = shared.shutdown.stopped() => None,
        _ = lease.lost() => None,
    };
    beat.beat();
    match verified {
        None => {}
        Some(Err(e)) => eprintln!(
            "{prefix}warning: the scheduled verify failed (tried again in {}): {e}",
            humantime::format_duration(vs.every)
        ),
        Some(Ok(v)) => {
            report::print_block(prefix, &crate::verify::render(&v, vs.repair));
            let obs = Observation::new(
                &account.name,
                r.engine.stream().to_string(),
                Observed::Verified {
                    difference: crate::verify::difference_line(&v),
                    summary: crate::verify::summary_line(&v),
                },
            );
            shared.alerts.observe(&obs).await;
        }
    }
}

/// Adds what the periodic archive read did to the live run's report (its checkpoint and lag
/// stay the live stream's).
fn absorb_history(rep: &mut SyncReport, h: &SyncReport) {
    rep.pages += h.pages;
    rep.refunds += h.refunds;
    rep.refunds_written += h.refunds_written;
    rep.commits += h.commits;
    rep.dead_letters += h.dead_letters;
    rep.rereads += h.rereads;
    rep.bisections += h.bisections;
    rep.retries += h.retries;
    rep.throttles += h.throttles;
    rep.rows.absorb(&h.rows);
    rep.history_windows += h.windows_done;
    rep.interrupted |= h.interrupted;
}

/// Records the end of run `id`; a failure to record it is printed, not fatal.
async fn finish(sink: &MySqlSink, id: RunId, end: RunEnd, prefix: &str) {
    if let Err(e) = sink.run_finished(id, end).await {
        eprintln!("{prefix}warning: could not record the end of run {id} in the run history: {e}");
    }
}

/// Releases `lease`, if any; a lease lost already needs no release.
async fn release(lease: Option<refund_sink_mysql::Lease>, prefix: &str, metrics: &StreamMetrics) {
    if let Some(l) = lease {
        metrics.lease_held(false);
        match l.release().await {
            Ok(()) | Err(SinkError::LeaseLost { .. }) => {}
            Err(e) => eprintln!(
                "{prefix}warning: could not release the stream's lease (it expires by itself after --lease-ttl): {e}"
            ),
        }
    }
}

/// Deletes the runs older than `--history-days`; a failure is printed, not fatal.
async fn prune(shared: &Shared, r: &Ready, prefix: &str) {
    match r.engine.sink().prune_runs(shared.runner.history_days).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, days = shared.runner.history_days, "pruned the run history"),
        Err(e) => eprintln!("{prefix}warning: could not prune the run history: {e}"),
    }
}
