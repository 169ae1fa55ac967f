//! The program's entry: parse the command line, set up logging, carry out the subcommand, and
//! turn its outcome into the exit status.

use std::io::IsTerminal;
use std::process::ExitCode;

use crate::alert::{Alerts, Policy};
use crate::backfill::{self, Range};
use crate::cli::{Cli, Command, RunArgs};
use crate::config::{self, process_env};
use crate::error::AppError;
use crate::lease::Runner;
use crate::monitor::Monitor;
use crate::signals::Shutdown;
use crate::{check, http, metrics, run, status, verify};

/// Exit status: something failed (the last line says why).
pub const EXIT_FAILURE: u8 = 1;
/// Exit status: the command line or the configuration is wrong; nothing was attempted.
pub const EXIT_USAGE: u8 = 2;
/// Exit status of `verify` when the range still differs from WDT (after `--repair`, with it).
pub const EXIT_DIFFERENCES: u8 = 4;
/// Exit status of a `--once` run that found a stored checkpoint ahead of the gateway's clock
/// (and moved it back): the data is complete, but a host ran with a fast clock.
pub const EXIT_CHECKPOINT_AHEAD: u8 = 3;

/// Runs the program as `program` (the name that starts its error lines) with the process's
/// arguments and environment, and returns its exit status.
pub fn main(program: &str) -> ExitCode {
    let cli = Cli::parse_args();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,wdt_refund_sync=info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(dispatch(cli, program))
}

async fn dispatch(cli: Cli, program: &str) -> ExitCode {
    let (settings, command) = cli.into_parts();
    match command {
        Command::Run(args) => {
            let outcome = async {
                let plan = config::resolve(&settings, Some(&args), &process_env)?;
                let runner = Runner::of(&settings)?;
                let monitor = Monitor::new(&plan.accounts, stall_bound(&plan));
                if let Some(addr) = plan.http.addr {
                    serve_http(&plan, &monitor, addr, program, args.metrics_addr.is_some()).await?;
                }
                let alerts = alerts_of(&plan);
                run::run_monitored(plan, runner, alerts, Shutdown::on_signals(), program, monitor).await
            }
            .await;
            match outcome {
                Ok(o) if o.checkpoint_ahead => ExitCode::from(EXIT_CHECKPOINT_AHEAD),
                Ok(_) => ExitCode::SUCCESS,
                // Each account's failure was alerted on its own.
                Err(e) => failed(program, &e),
            }
        }
        Command::Backfill(args) => {
            let alerts = Alerts::none();
            let outcome = async {
                let range = Range::of(&args)?;
                let once = RunArgs {
                    once: true,
                    ..RunArgs::default()
                };
                let mut plan = config::resolve(&settings, Some(&once), &process_env)?;
                backfill::select(&mut plan, args.account.as_deref())?;
                backfill::backfill(
                    plan,
                    Runner::of(&settings)?,
                    range,
                    alerts.clone(),
                    Shutdown::on_signals(),
                    program,
                )
                .await
            }
            .await;
            match outcome {
                Ok(o) if o.checkpoint_ahead => ExitCode::from(EXIT_CHECKPOINT_AHEAD),
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => failed(program, &e),
            }
        }
        Command::Verify(args) => {
            let outcome = async {
                let vs = verify::VerifySettings::of(&args)?;
                let once = RunArgs {
                    once: true,
                    ..RunArgs::default()
                };
                let mut plan = config::resolve(&settings, Some(&once), &process_env)?;
                backfill::select(&mut plan, args.account.as_deref())?;
                verify::verify(&plan, &settings, &vs, Shutdown::on_signals(), program).await
            }
            .await;
            match outcome {
                Ok(false) => ExitCode::SUCCESS,
                Ok(true) => ExitCode::from(EXIT_DIFFERENCES),
                Err(e) => failed(program, &e),
            }
        }
        Command::Status(args) => {
            let outcome = async {
                let plan = config::resolve(&settings, None, &process_env)?;
                status::status(&plan, args.runs).await
            }
            .await;
            match outcome {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => failed(program, &e),
            }
        }
        Command::Mapping(crate::cli::MappingCommand::Check(args)) => {
            let outcome = async {
                let plan = config::resolve(&settings, None, &process_env)?;
                mapping_check(&plan, args.samples).await
            }
            .await;
            match outcome {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => failed(program, &e),
            }
        }
        Command::Check(_) => {
            let outcome = async {
                let plan = config::resolve(&settings, None, &process_env)?;
                check::check(&plan).await
            }
            .await;
            match outcome {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => failed(program, &e),
            }
        }
    }
}

#[cfg(feature = "simulator")]
async fn mapping_check(plan: &config::Plan, samples: usize) -> Result<String, AppError> {
    crate::mapping::check(plan, samples).await
}

#[cfg(not(feature = "simulator"))]
async fn mapping_check(_plan: &config::Plan, _samples: usize) -> Result<String, AppError> {
    Err(AppError::NoSimulator)
}

/// How long an account's loop may go without a heartbeat while working before `/health` fails:
/// 10 minutes, or longer when MySQL's timeout and retry budget allow one operation more.
fn stall_bound(plan: &config::Plan) -> std::time::Duration {
    let mysql = plan
        .mysql
        .timeout
        .saturating_mul(2)
        .saturating_add(plan.mysql.retry_budget);
    mysql.max(crate::monitor::MIN_STALL)
}

/// Starts the `--http-addr` server (with the Prometheus recorder) and prints where it listens.
async fn serve_http(
    plan: &config::Plan,
    monitor: &Monitor,
    addr: std::net::SocketAddr,
    program: &str,
    old_flag: bool,
) -> Result<(), AppError> {
    let handle = metrics::install()?;
    let source = http::Source::new(
        plan.mysql.clone(),
        plan.accounts.clone(),
        monitor.clone(),
        plan.http.max_lag,
    );
    let bound = http::Server::new(source, Some(handle)).serve(addr).await?;
    if old_flag {
        eprintln!("{program}: --metrics-addr is deprecated: it is now --http-addr (the same server)");
    }
    eprintln!("{program}: status page on http://{bound}/ (also /health, /ready, /api/streams, /metrics)");
    Ok(())
}

/// The alerts of a run of `plan`: its robot, reminding every `repeat`, a stall above
/// `max_lag`, a clock offset above half the overlap.
pub fn alerts_of(plan: &config::Plan) -> Alerts {
    match &plan.alerts.robot {
        Some(r) => Alerts::new(
            r.robot(),
            Policy::new(plan.alerts.repeat, plan.schedule.max_lag, plan.schedule.overlap / 2),
        ),
        None => Alerts::none(),
    }
}

/// Prints `e` as the program's last line and returns its exit status.
fn failed(program: &str, e: &AppError) -> ExitCode {
    eprintln!("{program}: {e}");
    exit_code(e)
}

/// The exit status for `e`.
pub fn exit_code(e: &AppError) -> ExitCode {
    ExitCode::from(if e.is_config() { EXIT_USAGE } else { EXIT_FAILURE })
}
