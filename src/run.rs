//! The `run` subcommand: every account syncs in its own task, once or on a schedule, with its
//! own client, limiter, checkpoint stream, tables and failures.
//!
//! One account failing (a wrong secret, a ban, its tables) never stops the others: its error is
//! printed on its own line (and alerted), the others go on, and a `--once` run ends non-zero
//! naming it. With `--every`, a failed run is retried at the next interval, starting from
//! connecting again when the start-up failed.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use refund_sink_mysql::{MySqlSink, SinkError};
use tracing::Instrument;
use wdt_qimen::sync::{StreamId, SyncConfig, SyncEngine, SyncError};

use crate::alert::Alerts;
use crate::backfill::Range;
use crate::config::{Account, Plan, Schedule};
use crate::error::AppError;
use crate::progress::ProgressView;
use crate::report;
use crate::route::{self, Connected};
use crate::signals::Shutdown;
use crate::sink;

/// How a `run` ended without failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RunOutcome {
    /// A `--once` run found an account's stored checkpoint ahead of the gateway's clock (and
    /// moved it back).
    pub checkpoint_ahead: bool,
}

/// What the run shares between accounts.
struct Shared {
    mysql: crate::config::MysqlSettings,
    schedule: Schedule,
    dry_run: bool,
    named: bool,
    program: String,
    alerts: Alerts,
    progress: ProgressView,
    shutdown: Shutdown,
    /// A `backfill` of this range instead of the live sync.
    backfill: Option<Range>,
}

/// How one account's task ended.
enum AccountEnd {
    Done { checkpoint_ahead: bool },
    Failed(AppError),
    Abandoned,
}

/// Runs every account of `plan` until done (`once`) or until a signal (`every`).
/// `program` starts the error lines (`wdt-refund-sync: shop_a: …`).
pub async fn run(plan: Plan, alerts: Alerts, shutdown: Shutdown, program: &str) -> Result<RunOutcome, AppError> {
    run_accounts(plan, None, alerts, shutdown, program).await
}

/// [`run`], or with `backfill` each account's backfill of that range.
pub(crate) async fn run_accounts(
    plan: Plan,
    backfill: Option<Range>,
    alerts: Alerts,
    shutdown: Shutdown,
    program: &str,
) -> Result<RunOutcome, AppError> {
    let shared = Arc::new(Shared {
        mysql: plan.mysql,
        schedule: plan.schedule,
        dry_run: plan.dry_run,
        named: plan.named,
        program: program.to_owned(),
        alerts,
        progress: ProgressView::detect(),
        shutdown,
        backfill,
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
        tasks.spawn(async move { (i, account.name.clone(), run_account(&shared, account).await) }.instrument(span));
    }
    let mut ends = Vec::with_capacity(total);
    while let Some(joined) = tasks.join_next().await {
        ends.push(joined.expect("an account's task panicked"));
    }
    ends.sort_by_key(|(i, _, _)| *i);
    let mut outcome = RunOutcome::default();
    let mut failed = Vec::new();
    let mut abandoned = false;
    for (_, name, end) in ends {
        match end {
            AccountEnd::Done { checkpoint_ahead } => outcome.checkpoint_ahead |= checkpoint_ahead,
            AccountEnd::Abandoned => abandoned = true,
            AccountEnd::Failed(e) if !shared.named => return Err(e),
            AccountEnd::Failed(_) => failed.push(name),
        }
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
    _connected: Connected,
}

async fn prepare(shared: &Shared, account: &Account) -> Result<Ready, AppError> {
    let connected = route::connect(account).await?;
    let sink = sink::open(&shared.mysql, account, shared.dry_run).await?;
    let abandon = sink.clone();
    shared.shutdown.on_abandon(move || abandon.abandon());
    report::print_block(
        &prefix(shared, account),
        &format!("route: {}, MySQL: {}\n", connected.label, shared.mysql.redacted_url()),
    );
    let mut engine = SyncEngine::new(connected.client.clone(), sink, sync_config(&shared.schedule, account)?)
        .with_progress(shared.progress.hook(if shared.named { &account.name } else { "" }));
    if let Some(stream) = &account.stream_account {
        let method = engine.stream().method.clone();
        engine = engine.with_stream(StreamId::new(stream.clone(), method));
    }
    if let Some(range) = shared.backfill {
        engine = engine.backfill(range.from, range.to);
    }
    Ok(Ready {
        engine,
        _connected: connected,
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

async fn run_account(shared: &Shared, account: Account) -> AccountEnd {
    let every = shared.schedule.every;
    let prefix = prefix(shared, &account);
    let mut ready: Option<Ready> = None;
    loop {
        if shared.shutdown.is_stopped() {
            return AccountEnd::Done {
                checkpoint_ahead: false,
            };
        }
        let mut failure = None;
        if ready.is_none() {
            match prepare(shared, &account).await {
                Ok(r) => ready = Some(r),
                Err(e) => failure = Some(e),
            }
        }
        if let Some(r) = &ready {
            r.engine.sink().start_run();
            match r.engine.run_until(shared.shutdown.stopped()).await {
                Ok(rep) => {
                    let text = match shared.backfill {
                        Some(range) => crate::backfill::render(&rep, range, shared.dry_run),
                        None => report::render(&rep, shared.dry_run),
                    };
                    report::print_block(&prefix, &text);
                    if let Some(a) = &rep.checkpoint_ahead {
                        if every.is_none() {
                            return AccountEnd::Done { checkpoint_ahead: true };
                        }
                        shared
                            .alerts
                            .post(&format!("{prefix}{}", report::checkpoint_ahead_line(a)))
                            .await;
                    }
                }
                Err(SyncError::Sink(SinkError::Abandoned)) => return AccountEnd::Abandoned,
                Err(source) => {
                    failure = Some(AppError::Sync {
                        mysql_url: shared.mysql.redacted_url(),
                        source: Box::new(source),
                    })
                }
            }
        }
        if let Some(e) = failure {
            if shared.shutdown.is_abandoned() {
                return AccountEnd::Abandoned;
            }
            if every.is_none() {
                if shared.named {
                    eprintln!("{}: {prefix}{e}", shared.program);
                    shared.alerts.post(&format!("{prefix}{e}")).await;
                }
                return AccountEnd::Failed(e);
            }
            shared.alerts.post(&format!("{prefix}{e}")).await;
            eprintln!("{prefix}sync failed: {e}");
        }
        let Some(every) = every else {
            return AccountEnd::Done {
                checkpoint_ahead: false,
            };
        };
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shared.shutdown.stopped() => {}
        }
    }
}
