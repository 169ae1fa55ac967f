//! The closing report of a run, as printed.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::TimeDelta;
use wdt_qimen::server_time::ClockOffset;
use wdt_qimen::sync::{CheckpointAhead, SyncReport};
use wdt_qimen::time::format_wdt;

/// Whole seconds as `7m 2s`.
fn seconds(d: TimeDelta) -> String {
    humantime::format_duration(Duration::from_secs(d.num_seconds().unsigned_abs())).to_string()
}

/// How this host's clock stands to the gateway's.
pub fn describe_offset(o: &ClockOffset) -> String {
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

/// The report's lines (each ending in a newline).
pub fn render(r: &SyncReport, dry_run: bool) -> String {
    let mut out = String::new();
    let verb = if dry_run {
        "would sync (dry run, rolled back)"
    } else {
        "synced"
    };
    let _ = writeln!(
        out,
        "{verb} {} refunds in {} windows ({} pages, {} re-reads, {} retries, {} throttles) in {:.1?}",
        r.refunds, r.windows_done, r.pages, r.rereads, r.retries, r.throttles, r.elapsed
    );
    let _ = writeln!(
        out,
        "rows: {} inserted, {} updated, {} deleted, {} unchanged, {} older skipped, {} dead letters",
        r.rows.inserted, r.rows.updated, r.rows.deleted, r.rows.unchanged, r.rows.skipped_older, r.dead_letters
    );
    if let Some(a) = &r.checkpoint_ahead {
        let _ = writeln!(
            out,
            "checkpoint was ahead of the gateway's clock: stored {}, gateway time {} (left by a run on a host whose clock \
             was fast); moved back to {}{} and read again from there",
            format_wdt(a.stored),
            format_wdt(a.gateway_time),
            format_wdt(a.reset_to),
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
    let _ = match (r.checkpoint, r.lag) {
        (Some(c), Some(lag)) => writeln!(
            out,
            "checkpoint: {} (Beijing), {} behind the gateway's clock{note}",
            format_wdt(c),
            humantime::format_duration(Duration::from_secs(lag.as_secs())),
        ),
        (Some(c), None) => writeln!(
            out,
            "checkpoint: {} (Beijing), level with the gateway's clock{note}",
            format_wdt(c)
        ),
        (None, _) => writeln!(out, "checkpoint: none yet"),
    };
    let _ = match &r.clock_offset {
        Some(o) => writeln!(out, "clock: {}", describe_offset(o)),
        None => writeln!(
            out,
            "clock: the gateway's answers carried no Date header; windows followed this host's clock"
        ),
    };
    out
}

/// The alert text for a checkpoint found ahead of the gateway's clock.
pub fn checkpoint_ahead_line(a: &CheckpointAhead) -> String {
    format!(
        "the stored checkpoint {} was ahead of the gateway's clock {}; moved back to {} (check the clocks of the hosts \
         that run this sync)",
        format_wdt(a.stored),
        format_wdt(a.gateway_time),
        format_wdt(a.reset_to)
    )
}

/// `text` with `prefix` before every line; `text` unchanged for an empty prefix.
pub fn prefixed(prefix: &str, text: &str) -> String {
    if prefix.is_empty() {
        return text.to_owned();
    }
    text.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

/// Prints a block of lines at once, so the blocks of accounts running at the same time do not
/// interleave.
pub fn print_block(prefix: &str, text: &str) {
    use std::io::Write as _;
    let text = prefixed(prefix, text);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_of_a_named_block_carries_the_name() {
        let text = render(&SyncReport::default(), false);
        assert!(text.starts_with("synced 0 refunds in 0 windows"), "{text}");
        let named = prefixed("shop_a: ", &text);
        assert_eq!(named.lines().count(), text.lines().count());
        assert!(named.lines().all(|l| l.starts_with("shop_a: ")), "{named}");
        assert_eq!(prefixed("", &text), text);
    }
}
