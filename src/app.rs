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
use crate::signals::Shutdown;
use crate::{check, metrics, run, status};

/// Exit status: something failed (the last line says why).
pub const EXIT_FAILURE: u8 = 1;
/// Exit status: the command line or the configuration is wrong; nothing was attempted.
pub const EXIT_USAGE: u8 = 2;
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
                if let Some(addr) = args.metrics_addr {
                    metrics::serve(addr)?;
                }
                let alerts = alerts_of(&plan);
                run::run(plan, Runner::of(&settings)?, alerts, Shutdown::on_signals(), program).await
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
