//! The `status` subcommand: for each account, its live checkpoint and how far it is behind now,
//! the dead letters waiting, its last runs and its last `verify`; then each of its backfills (`backfill --from
//! --to`) with its range, how far its own checkpoint got in it (or done), and its last runs.
//! Read from MySQL only (no gateway request).

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use refund_sink_mysql::{RunRow, SinkError};
use wdt_qimen::sync::{Sink as _, StreamId, SyncEngine};
use wdt_qimen::time::{format_wdt, to_beijing};

use crate::config::{Account, Plan};
use crate::error::{chain, AppError};
use crate::{route, run, sink};

/// Prints one block per account of `plan` with its last `runs` runs; fails when an account's
/// status could not be read (its block says why).
pub async fn status(plan: &Plan, runs: u32) -> Result<(), AppError> {
    let mut failed = Vec::new();
    let pool = plan.mysql.shared_pool();
    for account in &plan.accounts {
        let block = match account_status(plan, &pool, account, runs).await {
            Ok(text) => text,
            Err(e) => {
                failed.push(account.name.clone());
                format!("  cannot read its status: {e}\n")
            }
        };
        println!("account {}\n{block}", account.name);
    }
    let _ = pool.disconnect().await;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(AppError::AccountsFailed {
            total: plan.accounts.len(),
            failed,
        })
    }
}

/// The live stream of `account`, as `run` stores it.
async fn live_stream(
    plan: &Plan,
    account: &Account,
    sink: refund_sink_mysql::MySqlSink,
) -> Result<SyncEngine<refund_sink_mysql::MySqlSink>, AppError> {
    // Building the client makes no request; the simulator route starts its local server only.
    let connected = route::connect(account).await?;
    let mut engine = SyncEngine::new(connected.client, sink, run::sync_config(&plan.schedule, account)?);
    if let Some(stream) = &account.stream_account {
        let method = engine.stream().method.clone();
        engine = engine.with_stream(StreamId::new(stream.clone(), method));
    }
    Ok(engine)
}

async fn account_status(
    plan: &Plan,
    pool: &refund_sink_mysql::SharedPool,
    account: &Account,
    runs: u32,
) -> Result<String, AppError> {
    let sink = sink::open_with(&plan.mysql, pool, account, false, false).await?;
    let engine = live_stream(plan, account, sink).await?;
    let (sink, stream) = (engine.sink(), engine.stream());
    let mysql = |e: SinkError| AppError::MysqlStart {
        url: plan.mysql.redacted_url(),
        detail: chain(&e),
        source: Box::new(e),
    };
    let checkpoint = sink.load_checkpoint(stream).await.map_err(mysql)?;
    let dead = sink.dead_letter_count(stream).await.map_err(mysql)?;
    let rows = sink.recent_runs(Some(stream), runs).await.map_err(mysql)?;
    let now = to_beijing(chrono::Utc::now());
    let mut out = String::new();
    let _ = writeln!(out, "  stream: {stream}");
    let _ = match checkpoint {
        Some(c) => writeln!(
            out,
            "  checkpoint: {} (Beijing), {} behind now",
            format_wdt(c.window_end),
            span(now - c.window_end)
        ),
        None => writeln!(
            out,
            "  checkpoint: none yet (the first run starts at {})",
            format_wdt(account.start)
        ),
    };
    let _ = writeln!(
        out,
        "  dead letters waiting: {dead} (in {})",
        sink.table_names().dead_letter
    );
    runs_block(&mut out, &rows, now, "  ");
    let verifies = sink.recent_verifies(&stream.account, 2).await.map_err(mysql)?;
    if let Some(last) = verifies.first() {
        let _ = writeln!(out, "  last verify (started {}):", format_wdt(last.started_at));
        for v in verifies.iter().filter(|v| v.started_at == last.started_at) {
            let _ = writeln!(out, "    {}", verify_line(v));
        }
    }
    let backfill_prefix = format!("{}#backfill:", stream.method);
    for b in sink.streams_of(&stream.account).await.map_err(mysql)? {
        let Some(range) = b.method.strip_prefix(&backfill_prefix) else {
            continue;
        };
        let checkpoint = sink.load_checkpoint(&b).await.map_err(mysql)?;
        let rows = sink.recent_runs(Some(&b), runs).await.map_err(mysql)?;
        let _ = writeln!(
            out,
            "  backfill {}",
            backfill_line(range, checkpoint.map(|c| c.window_end))
        );
        let _ = writeln!(out, "    stream: {b}");
        runs_block(&mut out, &rows, now, "    ");
    }
    Ok(out)
}

/// One method's line of a recorded verify.
fn verify_line(v: &refund_sink_mysql::VerifyRecord) -> String {
    let verdict = if v.remaining_windows > 0 {
        format!("{} ranges still differ", v.remaining_windows)
    } else if v.repaired_windows > 0 {
        format!("repaired {} ranges", v.repaired_windows)
    } else {
        "matches WDT".to_owned()
    };
    format!(
        "{} {} .. {}: WDT {}, stored {}, {} missing, {} stale, {} extra; {verdict}; {} requests",
        v.method,
        format_wdt(v.range_from),
        format_wdt(v.range_to),
        v.wdt_count,
        v.stored_count,
        v.missing,
        v.stale,
        v.extra,
        v.requests
    )
}

/// The runs of a stream, newest first, indented by `indent`.
fn runs_block(out: &mut String, rows: &[RunRow], now: NaiveDateTime, indent: &str) {
    if rows.is_empty() {
        let _ = writeln!(out, "{indent}runs: none recorded");
    } else {
        let _ = writeln!(out, "{indent}last runs (newest first):");
        for r in rows {
            let _ = writeln!(out, "{indent}  {}", run_line(r, now));
        }
    }
}

/// A backfill's range (`20240301T000000..20240401T000000`, as in its stream) and how far its
/// checkpoint got: `2024-03-01 00:00:00 .. 2024-04-01 00:00:00 (Beijing): done`, `…: at
/// 2024-03-10 00:00:00, 29% of the range`, `…: not started`.
pub fn backfill_line(range: &str, checkpoint: Option<NaiveDateTime>) -> String {
    let parse = |t: &str| NaiveDateTime::parse_from_str(t, "%Y%m%dT%H%M%S").ok();
    let Some((from, to)) = range.split_once("..").and_then(|(a, b)| Some((parse(a)?, parse(b)?))) else {
        return format!(
            "{range}: {}",
            match checkpoint {
                Some(c) => format!("checkpoint {} (Beijing)", format_wdt(c)),
                None => "not started".to_owned(),
            }
        );
    };
    let progress = match checkpoint {
        None => "not started".to_owned(),
        Some(c) if c >= to => "done".to_owned(),
        Some(c) => {
            let total = (to - from).num_seconds().max(1) as f64;
            let share = ((c - from).num_seconds().max(0) as f64 / total * 100.0).min(99.0);
            format!(
                "at {} (its checkpoint), {share:.0}% of the range; run the same backfill again to go on",
                format_wdt(c)
            )
        }
    };
    format!("{} .. {} (Beijing): {progress}", format_wdt(from), format_wdt(to))
}

/// One run: outcome, start, duration, refunds and requests, error line.
pub fn run_line(r: &RunRow, now: NaiveDateTime) -> String {
    let took = match r.ended_at {
        Some(end) => took(end - r.started_at),
        None => format!("{} so far", span(now - r.started_at)),
    };
    let mut line = format!(
        "{:<13} started {}  took {took}",
        r.outcome.as_str(),
        format_wdt(r.started_at)
    );
    if let Some(c) = &r.counts {
        let _ = write!(line, "  {} refunds", c.refunds);
        if let Some(n) = c.requests {
            let _ = write!(line, ", {n} requests");
        }
        if c.dead_letters > 0 {
            let _ = write!(line, ", {} dead letters", c.dead_letters);
        }
    }
    let _ = write!(line, "  by {}", r.owner);
    if let Some(e) = &r.error {
        let _ = write!(line, "  error: {e}");
    }
    line
}

/// A run's duration: `1.3s` under a minute, else as [`span`].
fn took(d: TimeDelta) -> String {
    if d < TimeDelta::minutes(1) {
        format!("{:.1}s", d.num_milliseconds().max(0) as f64 / 1000.0)
    } else {
        span(d)
    }
}

/// A duration as `1h 2m 3s` (whole seconds; `0s` for a negative one).
fn span(d: TimeDelta) -> String {
    let secs = d.num_seconds().max(0).unsigned_abs();
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backfill_line_says_how_far_its_range_is_done() {
        let t = |s: &str| wdt_qimen::time::parse_wdt(s).unwrap();
        let range = "20240301T000000..20240401T000000";
        assert_eq!(
            backfill_line(range, None),
            "2024-03-01 00:00:00 .. 2024-04-01 00:00:00 (Beijing): not started"
        );
        assert_eq!(
            backfill_line(range, Some(t("2024-04-01 00:00:00"))),
            "2024-03-01 00:00:00 .. 2024-04-01 00:00:00 (Beijing): done"
        );
        assert!(backfill_line(range, Some(t("2024-03-11 08:00:00"))).ends_with(
            ": at 2024-03-11 08:00:00 (its checkpoint), 33% of the range; run the same backfill again to go on"
        ));
        // A range that does not parse is shown as stored.
        assert_eq!(backfill_line("x", None), "x: not started");
    }
}
