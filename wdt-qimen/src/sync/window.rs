//! The window planner: which `modified` windows a run reads.
//!
//! A run reads from `checkpoint − overlap` (first run: the configured start) to
//! `now − settle_lag`, cut into windows no longer than `max_window` (at most the API's 30 days).
//! Consecutive windows share their boundary: each window after the first starts one second
//! before the previous one ends. Whether WDT treats `modified_from`/`modified_to` as inclusive
//! is UNKNOWN, so a refund whose `modified` falls in a boundary second is read by both
//! neighbours under every interpretation; the duplicate is harmless (de-duplicated, idempotent
//! writes).

use chrono::{NaiveDateTime, TimeDelta};

use super::sink::WindowBounds;

/// One second, the granularity of WDT's time parameters.
pub const ONE_SECOND: TimeDelta = TimeDelta::seconds(1);

/// Where a run starts reading: `checkpoint − overlap` (at least one second back, so the
/// checkpoint's own second is read again whatever WDT's inclusivity), or `start` on the first run.
pub fn run_start(checkpoint: Option<NaiveDateTime>, start: NaiveDateTime, overlap: TimeDelta) -> NaiveDateTime {
    match checkpoint {
        Some(c) => c - overlap.max(ONE_SECOND),
        None => start,
    }
}

/// Cuts `[from, to]` into windows of at most `max_window`, each after the first starting one
/// second before its predecessor ends. Empty when `to <= from`.
pub fn plan(from: NaiveDateTime, to: NaiveDateTime, max_window: TimeDelta) -> Vec<WindowBounds> {
    let max_window = max_window.max(ONE_SECOND * 2);
    let mut out = Vec::new();
    if to <= from {
        return out;
    }
    let mut a = from;
    loop {
        let b = (a + max_window).min(to);
        out.push(WindowBounds { from: a, to: b });
        if b >= to {
            break;
        }
        a = b - ONE_SECOND;
    }
    out
}

/// Splits a window in two halves that share their middle second, or `None` when it spans three
/// seconds or less: a narrower split would give a half as wide as the window itself (the shared
/// second), and bisection would never end.
pub fn bisect(w: WindowBounds) -> Option<(WindowBounds, WindowBounds)> {
    let span = w.to - w.from;
    if span <= ONE_SECOND * 3 {
        return None;
    }
    let mid = w.from + TimeDelta::seconds(span.num_seconds() / 2);
    Some((
        WindowBounds { from: w.from, to: mid },
        WindowBounds {
            from: mid - ONE_SECOND,
            to: w.to,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_wdt;

    fn t(s: &str) -> NaiveDateTime {
        parse_wdt(s).unwrap()
    }

    #[test]
    fn windows_cover_the_range_and_share_boundary_seconds() {
        let (from, to) = (t("2024-01-01 00:00:00"), t("2024-03-15 12:00:00"));
        let ws = plan(from, to, TimeDelta::days(29));
        assert_eq!(ws.len(), 3);
        assert_eq!(ws[0].from, from);
        assert_eq!(ws.last().unwrap().to, to);
        for pair in ws.windows(2) {
            assert_eq!(pair[1].from, pair[0].to - ONE_SECOND);
        }
        assert!(ws.iter().all(|w| w.to - w.from <= TimeDelta::days(29)));
    }

    #[test]
    fn nothing_to_read_when_caught_up() {
        assert!(plan(t("2024-01-02 00:00:00"), t("2024-01-01 00:00:00"), TimeDelta::days(1)).is_empty());
    }

    #[test]
    fn bisection_stops_at_three_seconds() {
        let w = WindowBounds {
            from: t("2024-01-01 00:00:00"),
            to: t("2024-01-01 00:00:10"),
        };
        let (l, r) = bisect(w).unwrap();
        assert_eq!(
            (l.from, l.to, r.from, r.to),
            (w.from, t("2024-01-01 00:00:05"), t("2024-01-01 00:00:04"), w.to)
        );
        let tiny = WindowBounds {
            from: w.from,
            to: t("2024-01-01 00:00:03"),
        };
        assert!(bisect(tiny).is_none());
    }

    #[test]
    fn every_half_is_strictly_narrower_so_bisection_ends() {
        let from = t("2024-01-01 00:00:00");
        for secs in 0..=200 {
            let w = WindowBounds {
                from,
                to: from + TimeDelta::seconds(secs),
            };
            // Bisect as the engine does, always going deeper, and count the steps.
            let mut stack = vec![w];
            let mut steps = 0;
            while let Some(x) = stack.pop() {
                if let Some((l, r)) = bisect(x) {
                    assert!(
                        l.to - l.from < x.to - x.from && r.to - r.from < x.to - x.from,
                        "{secs}s"
                    );
                    assert!(
                        l.from == x.from && r.to == x.to && r.from < l.to,
                        "halves must cover {secs}s"
                    );
                    stack.push(l);
                    stack.push(r);
                }
                steps += 1;
                assert!(steps < 10_000, "bisection of {secs}s does not end");
            }
        }
    }

    #[test]
    fn a_zero_overlap_still_rereads_the_checkpoint_second() {
        let c = t("2024-05-01 00:00:00");
        assert_eq!(run_start(Some(c), c, TimeDelta::zero()), t("2024-04-30 23:59:59"));
    }

    #[test]
    fn run_start_backs_off_by_the_overlap() {
        let c = t("2024-05-01 00:00:00");
        assert_eq!(
            run_start(Some(c), t("2024-01-01 00:00:00"), TimeDelta::minutes(1)),
            t("2024-04-30 23:59:00")
        );
        assert_eq!(
            run_start(None, t("2024-01-01 00:00:00"), TimeDelta::minutes(1)),
            t("2024-01-01 00:00:00")
        );
    }
}
