//! Where a run starts and ends, in the gateway's time.
//!
//! A run ends at the earliest time the gateway's clock can show, minus the settle lag, on a
//! whole second (or at the configured end, if earlier); it starts at the checkpoint minus the overlap. A stored checkpoint later than
//! the latest time the gateway's clock can show is ahead of every record WDT has: it is moved
//! back (see [`CheckpointAhead`]). One between the earliest and the latest is not: a run that
//! just stored it measured the clock on another answer, within a second of this one.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Timelike, Utc};

use super::engine::SyncConfig;
use super::report::CheckpointAhead;
use super::sink::WindowBounds;
use super::window;
use crate::server_time::{ClockOffset, MAX_ACCEPTED_SKEW};
use crate::time::to_beijing;

/// The host's clock and what the gateway's answers showed of its own.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Now {
    pub host: DateTime<Utc>,
    /// `None`: no answer carried a `Date` header; the host's clock is all there is.
    pub offset: Option<ClockOffset>,
}

impl Now {
    /// The earliest time the gateway's clock can show (Beijing).
    pub fn earliest(&self) -> NaiveDateTime {
        to_beijing(self.offset.map_or(self.host, |o| o.earliest(self.host)))
    }

    /// The latest time the gateway's clock can show (Beijing).
    pub fn latest(&self) -> NaiveDateTime {
        to_beijing(self.offset.map_or(self.host, |o| o.latest(self.host)))
    }
}

/// What one run reads (Beijing wall time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub from: NaiveDateTime,
    pub end: NaiveDateTime,
    /// The checkpoint the run starts from (after a reset, the reset one).
    pub checkpoint: Option<NaiveDateTime>,
    pub ahead: Option<CheckpointAhead>,
}

impl Span {
    /// The windows of the span; none when the checkpoint already reaches its end.
    pub fn windows(&self, cfg: &SyncConfig) -> Vec<WindowBounds> {
        if self.checkpoint.is_some_and(|c| self.end <= c) {
            Vec::new()
        } else {
            window::plan(self.from, self.end, cfg.max_window)
        }
    }
}

/// WDT's time parameters have whole seconds: a window ends on a whole second so the checkpoint
/// never claims the fraction of a second that the query did not cover.
fn whole_second(t: NaiveDateTime) -> NaiveDateTime {
    t.with_nanosecond(0).expect("0 ns is valid")
}

/// The span of a run at `now` with the stored checkpoint `stored`.
pub(crate) fn span(stored: Option<NaiveDateTime>, now: &Now, cfg: &SyncConfig) -> Span {
    let earliest = now.earliest();
    let end = whole_second(earliest - cfg.settle_lag);
    let end = cfg.end.map_or(end, |e| end.min(whole_second(e)));
    let (checkpoint, ahead) = match stored {
        Some(c) if c > now.latest() => {
            let reset_to = whole_second((c - MAX_ACCEPTED_SKEW).min(end));
            let ahead = CheckpointAhead {
                stored: c,
                gateway_time: whole_second(earliest),
                reset_to,
            };
            (Some(reset_to), Some(ahead))
        }
        other => (other, None),
    };
    Span {
        from: whole_second(window::run_start(checkpoint, cfg.start, cfg.overlap)),
        end,
        checkpoint,
        ahead,
    }
}

/// Whether the stored checkpoint already reaches the configured end (a bounded run is done).
pub(crate) fn reaches_end(stored: Option<NaiveDateTime>, cfg: &SyncConfig) -> bool {
    matches!((stored, cfg.end), (Some(c), Some(e)) if c >= e)
}

/// The empty span of a bounded run whose checkpoint reaches its end.
pub(crate) fn done(stored: Option<NaiveDateTime>, cfg: &SyncConfig) -> Span {
    let end = cfg.end.unwrap_or(cfg.start);
    Span {
        from: end,
        end,
        checkpoint: stored,
        ahead: None,
    }
}

/// Whether this host's clock is off the gateway's by more than half the overlap for certain, not
/// only within the measurement's uncertainty.
pub(crate) fn clock_is_far_off(offset: &ClockOffset, overlap: TimeDelta) -> bool {
    offset.correction().abs() > overlap / 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{from_beijing, parse_wdt};

    fn t(s: &str) -> NaiveDateTime {
        parse_wdt(s).unwrap()
    }

    fn cfg() -> SyncConfig {
        SyncConfig {
            overlap: TimeDelta::minutes(1),
            settle_lag: TimeDelta::minutes(2),
            ..SyncConfig::default()
        }
    }

    /// The host's clock 7 minutes fast, measured to ±0.5 s.
    fn fast_host(gateway: &str) -> Now {
        let offset = ClockOffset::between(TimeDelta::milliseconds(-420_600), TimeDelta::milliseconds(-419_600));
        Now {
            host: from_beijing(t(gateway)) + TimeDelta::minutes(7),
            offset,
        }
    }

    #[test]
    fn a_run_ends_at_the_gateways_earliest_time_minus_the_lag() {
        let s = span(
            Some(t("2026-12-01 11:00:00")),
            &fast_host("2026-12-01 12:00:00"),
            &cfg(),
        );
        assert_eq!(s.end, t("2026-12-01 11:57:59"));
        assert_eq!(s.from, t("2026-12-01 10:59:00"));
        assert_eq!(s.ahead, None);
        // Without any measurement, the host's clock is all there is.
        let host_only = Now {
            host: from_beijing(t("2026-12-01 12:00:00")),
            offset: None,
        };
        assert_eq!(span(None, &host_only, &cfg()).end, t("2026-12-01 11:58:00"));
        assert_eq!(span(None, &host_only, &cfg()).from, cfg().start);
    }

    #[test]
    fn a_checkpoint_later_than_the_gateways_clock_is_moved_back_by_the_largest_accepted_skew() {
        // Left by a run whose host was 7 minutes fast, 3 minutes ago.
        let s = span(
            Some(t("2026-12-01 12:02:00")),
            &fast_host("2026-12-01 12:00:00"),
            &cfg(),
        );
        let ahead = s.ahead.expect("ahead");
        assert_eq!(ahead.stored, t("2026-12-01 12:02:00"));
        assert_eq!(ahead.gateway_time, t("2026-12-01 11:59:59"));
        assert_eq!(ahead.reset_to, t("2026-12-01 11:52:00"));
        assert_eq!(s.checkpoint, Some(t("2026-12-01 11:52:00")));
        assert_eq!(s.from, t("2026-12-01 11:51:00"));
        assert_eq!(s.windows(&cfg()).len(), 1);
        // Beyond what any gateway accepts: back to the end of this run's span.
        let far = span(
            Some(t("2026-12-02 00:00:00")),
            &fast_host("2026-12-01 12:00:00"),
            &cfg(),
        );
        assert_eq!(far.ahead.unwrap().reset_to, far.end);
        assert_eq!(far.from, far.end - TimeDelta::minutes(1));
    }

    #[test]
    fn a_checkpoint_within_the_measurements_uncertainty_is_not_ahead() {
        // The earliest gateway time is 11:59:59.4, the latest 12:00:00.4.
        let now = fast_host("2026-12-01 12:00:00");
        let mut c = cfg();
        c.settle_lag = TimeDelta::zero();
        let s = span(Some(t("2026-12-01 12:00:00")), &now, &c);
        assert_eq!(s.ahead, None);
        assert!(s.windows(&c).is_empty(), "{s:?}");
        assert!(span(Some(t("2026-12-01 12:00:01")), &now, &c).ahead.is_some());
    }

    #[test]
    fn a_bounded_run_ends_at_its_end_or_at_the_gateways_clock_if_earlier() {
        let mut c = cfg();
        c.start = t("2026-03-01 00:00:00");
        c.end = Some(t("2026-04-01 00:00:00"));
        let now = fast_host("2026-12-01 12:00:00");
        // The first run reads the whole range, from its start.
        let s = span(None, &now, &c);
        assert_eq!((s.from, s.end), (c.start, t("2026-04-01 00:00:00")));
        assert_eq!(s.windows(&c).last().unwrap().to, t("2026-04-01 00:00:00"));
        assert!(!reaches_end(None, &c));
        // Resumed: from its own checkpoint minus the overlap.
        let resumed = span(Some(t("2026-03-20 00:00:00")), &now, &c);
        assert_eq!(resumed.from, t("2026-03-19 23:59:00"));
        assert_eq!(resumed.end, t("2026-04-01 00:00:00"));
        // Done: the checkpoint reaches the end; no window, and the engine sends no request.
        assert!(reaches_end(Some(t("2026-04-01 00:00:00")), &c));
        assert!(!reaches_end(Some(t("2026-03-31 23:59:59")), &c));
        let d = done(Some(t("2026-04-01 00:00:00")), &c);
        assert!(d.windows(&c).is_empty());
        assert!(span(Some(t("2026-04-01 00:00:00")), &now, &c).windows(&c).is_empty());
        // An end later than the gateway's clock: clamped to the gateway's time minus the lag.
        c.end = Some(t("2027-01-01 00:00:00"));
        assert_eq!(span(None, &now, &c).end, t("2026-12-01 11:57:59"));
        assert!(!reaches_end(Some(t("2026-12-01 11:57:59")), &c));
        // Without an end, the engine never counts as done.
        assert!(!reaches_end(Some(t("2030-01-01 00:00:00")), &cfg()));
    }

    #[test]
    fn only_an_offset_certainly_beyond_half_the_overlap_is_far_off() {
        let between =
            |a: i64, b: i64| ClockOffset::between(TimeDelta::milliseconds(a), TimeDelta::milliseconds(b)).unwrap();
        let minute = TimeDelta::minutes(1);
        assert!(clock_is_far_off(&between(-420_600, -419_600), minute));
        assert!(clock_is_far_off(&between(31_000, 32_000), minute));
        assert!(!clock_is_far_off(&between(29_500, 30_500), minute));
        // In step within the uncertainty: never, even without an overlap.
        assert!(!clock_is_far_off(&between(-600, 400), TimeDelta::zero()));
        assert!(clock_is_far_off(&between(100, 1100), TimeDelta::zero()));
    }

    proptest::proptest! {
        #[test]
        fn no_window_ends_after_the_gateways_earliest_time_minus_the_lag(
            stored_s in proptest::option::of(-3_000_000i64..3_000_000),
            low_ms in -30_000_000i64..30_000_000,
            width_ms in 0i64..120_000,
            lag_s in 0i64..3_600,
            overlap_s in 0i64..600,
            host_ms in 0i64..1_000,
        ) {
            let base = t("2026-12-01 12:00:00");
            let mut c = cfg();
            c.settle_lag = TimeDelta::seconds(lag_s);
            c.overlap = TimeDelta::seconds(overlap_s);
            c.start = base - TimeDelta::days(40);
            let offset = ClockOffset::between(TimeDelta::milliseconds(low_ms), TimeDelta::milliseconds(low_ms + width_ms));
            let now = Now { host: from_beijing(base) + TimeDelta::milliseconds(host_ms), offset };
            let stored = stored_s.map(|s| base + TimeDelta::seconds(s));
            let s = span(stored, &now, &c);
            let limit = now.earliest() - c.settle_lag;
            proptest::prop_assert!(s.end <= limit);
            for w in s.windows(&c) {
                proptest::prop_assert!(w.to <= limit && w.from < w.to, "{w:?}");
            }
            if let Some(ahead) = s.ahead {
                proptest::prop_assert!(ahead.reset_to <= s.end && ahead.reset_to <= ahead.stored - MAX_ACCEPTED_SKEW);
                proptest::prop_assert_eq!(s.checkpoint, Some(ahead.reset_to));
            } else {
                proptest::prop_assert_eq!(s.checkpoint, stored);
                proptest::prop_assert!(stored.is_none_or(|c| c <= now.latest()));
            }
        }
    }
}
