//! The `backfill` subcommand: every account (or one) re-reads a past range under a checkpoint
//! stream of its own ([`SyncEngine::backfill`](wdt_qimen::sync::SyncEngine::backfill)), in the
//! account tasks of [`run`](mod@crate::run), once.
//!
//! An interrupted backfill resumes from its own checkpoint when the same command runs again; a
//! range already read is not read again. The live checkpoint is never read or moved, so a
//! backfill can run beside the live sync; its writes are the live sync's (with the default
//! upsert, the newer `modified` wins).

use std::fmt::Write as _;

use chrono::NaiveDateTime;
use wdt_qimen::sync::SyncReport;
use wdt_qimen::time::format_wdt;

use crate::alert::Alerts;
use crate::cli::BackfillArgs;
use crate::config::Plan;
use crate::error::AppError;
use crate::lease::Runner;
use crate::run::{self, RunOutcome};
use crate::signals::Shutdown;

/// The range a backfill reads, `[from, to]` (Beijing wall time), `from` before `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Start.
    pub from: NaiveDateTime,
    /// End.
    pub to: NaiveDateTime,
}

impl Range {
    /// The range of `args`; refused, naming both flags, unless `--to` is later than `--from`.
    pub fn of(args: &BackfillArgs) -> Result<Self, AppError> {
        if args.to <= args.from {
            return Err(AppError::setting(
                "--to",
                format_wdt(args.to),
                format!("not later than --from = {}", format_wdt(args.from)),
                "give a --to later than --from (both Beijing time, yyyy-MM-dd HH:mm:ss)",
            ));
        }
        Ok(Self {
            from: args.from,
            to: args.to,
        })
    }
}

/// Keeps only the account named `name` (every account when `None`); an unknown name is refused,
/// naming the accounts there are.
pub fn select(plan: &mut Plan, name: Option<&str>) -> Result<(), AppError> {
    let Some(name) = name else { return Ok(()) };
    if !plan.accounts.iter().any(|a| a.name == name) {
        let names: Vec<&str> = plan.accounts.iter().map(|a| a.name.as_str()).collect();
        return Err(AppError::setting(
            "--account",
            name,
            format!("no account has this name (there are: {})", names.join(", ")),
            "name one of them, or leave --account out to backfill every account",
        ));
    }
    plan.accounts.retain(|a| a.name == name);
    Ok(())
}

/// Backfills `range` for every account of `plan`, each in its own task, once.
pub async fn backfill(
    mut plan: Plan,
    runner: Runner,
    range: Range,
    alerts: Alerts,
    shutdown: Shutdown,
    program: &str,
) -> Result<RunOutcome, AppError> {
    plan.schedule.every = None;
    let monitor = crate::monitor::Monitor::new(&plan.accounts, crate::monitor::MIN_STALL);
    run::run_accounts(plan, runner, Some(range), alerts, shutdown, program, monitor).await
}

/// The report block of one account's backfill: what it is, the run's report, and how far the
/// range is done.
pub fn render(r: &SyncReport, range: Range, dry_run: bool) -> String {
    let mut out = format!(
        "backfill {} .. {} (Beijing), under its own checkpoint (the live checkpoint is not moved)\n",
        format_wdt(range.from),
        format_wdt(range.to)
    );
    out.push_str(&crate::report::render(r, dry_run));
    let reached = r.checkpoint.is_some_and(|c| c >= range.to);
    let _ = match r.checkpoint {
        _ if reached && r.pages == 0 && r.windows_planned == 0 => {
            writeln!(out, "backfill already complete: nothing read")
        }
        _ if reached => writeln!(out, "backfill complete"),
        _ if dry_run => writeln!(out, "backfill not stored (dry run)"),
        Some(c) if r.interrupted => writeln!(
            out,
            "backfill stopped at {}; run the same command again to resume from there",
            format_wdt(c)
        ),
        Some(c) => writeln!(
            out,
            "backfill reached {} (the gateway's clock minus the settle lag); run the same command again later for the rest",
            format_wdt(c)
        ),
        None => writeln!(out, "backfill not started; run the same command again"),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse_time;

    fn args(from: &str, to: &str) -> BackfillArgs {
        BackfillArgs {
            from: parse_time(from).unwrap(),
            to: parse_time(to).unwrap(),
            account: None,
        }
    }

    #[test]
    fn a_range_not_ending_after_it_starts_is_refused_naming_both_flags() {
        for to in ["2024-03-01 00:00:00", "2024-02-01 00:00:00"] {
            let e = Range::of(&args("2024-03-01 00:00:00", to)).unwrap_err();
            assert!(e.is_config());
            let e = e.to_string();
            assert!(
                e.starts_with(&format!(
                    "--to = {to}: not later than --from = 2024-03-01 00:00:00; fix: "
                )),
                "{e}"
            );
        }
        let r = Range::of(&args("2024-03-01 00:00:00", "2024-03-01 00:00:01")).unwrap();
        assert_eq!(r.to - r.from, chrono::TimeDelta::seconds(1));
    }

    #[test]
    fn the_report_says_how_far_the_range_is_done() {
        let range = Range::of(&args("2024-03-01 00:00:00", "2024-04-01 00:00:00")).unwrap();
        let mut r = SyncReport::default();
        r.checkpoint = Some(range.to);
        r.pages = 3;
        r.windows_planned = 2;
        let text = render(&r, range, false);
        assert!(
            text.starts_with("backfill 2024-03-01 00:00:00 .. 2024-04-01 00:00:00 (Beijing)"),
            "{text}"
        );
        assert!(text.ends_with("backfill complete\n"), "{text}");
        r.pages = 0;
        r.windows_planned = 0;
        assert!(render(&r, range, false).ends_with("backfill already complete: nothing read\n"));
        r.checkpoint = parse_time("2024-03-10 00:00:00").ok();
        r.interrupted = true;
        let text = render(&r, range, false);
        assert!(
            text.contains("backfill stopped at 2024-03-10 00:00:00; run the same command again"),
            "{text}"
        );
    }
}
