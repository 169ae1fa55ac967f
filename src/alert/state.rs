//! Which alerts to send, decided from what each stream's runs showed: a pure state machine
//! ([`Tracker`]) with the time given by the caller, so the sequence is the same in a test as in
//! a run.
//!
//! Per stream, three conditions are watched, each with the same life: one alert when it starts,
//! a reminder at most every [`Policy::repeat`] while it lasts (checked at each observation, so
//! never more often than runs happen), and one alert when it ends:
//!
//! - failing: a run failed (the alert carries the one-line cause); it ends with a run that
//!   succeeds;
//! - stalled: runs succeed but the checkpoint lags the gateway's clock by more than
//!   [`Policy::max_lag`] (a silent stall); not reported while the stream is failing;
//! - clock: this host's clock is off the gateway's by more than [`Policy::max_clock_offset`]
//!   for certain (the run's warning; windows still follow the gateway's clock);
//! - differs: a scheduled verify found the stored refunds differing from WDT's counts (what
//!   remains after its repair, when it repairs); it ends with a verify that finds the range
//!   matching. Only verifies change it: a run's outcome neither starts nor ends it.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use wdt_qimen::time::{format_wdt, to_beijing};

use super::TAG;

/// When alerts are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// The shortest time between two alerts about the same condition of a stream (`--alert-repeat`).
    pub repeat: Duration,
    /// The lag above which a stream whose runs succeed is stalled (`--max-lag`).
    pub max_lag: Duration,
    /// The clock offset above which this host's clock is reported (half the overlap).
    pub max_clock_offset: Duration,
}

impl Policy {
    /// A policy with these bounds.
    pub fn new(repeat: Duration, max_lag: Duration, max_clock_offset: Duration) -> Self {
        Self {
            repeat,
            max_lag,
            max_clock_offset,
        }
    }
}

/// How one run of a stream ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// It succeeded; the checkpoint now lags the gateway's clock by `lag` (`None`: unknown).
    Ran {
        /// The lag at the end of the run.
        lag: Option<Duration>,
    },
    /// It failed with this error (its first line is used).
    Failed {
        /// The error.
        cause: String,
    },
    /// A scheduled verify of the stream's account ended (not a run: the run conditions stay as
    /// they are).
    Verified {
        /// What still differs (the range and the counts, one line); `None`: the range matches.
        difference: Option<String>,
        /// The range verified and its counts (one line), for the alert that it matches again.
        summary: String,
    },
}

/// What one run of a stream showed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Observation {
    /// The account's name.
    pub account: String,
    /// The stream (`account/method`).
    pub stream: String,
    /// How the run ended.
    pub outcome: Outcome,
    /// The stream's checkpoint after the run (Beijing wall time), if known.
    pub checkpoint: Option<NaiveDateTime>,
    /// The part of the clock offset (gateway minus host) the measurement proves, if measured.
    pub clock_offset: Option<TimeDelta>,
}

impl Observation {
    /// An observation of `outcome` for `stream` of `account`.
    pub fn new(account: impl Into<String>, stream: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            account: account.into(),
            stream: stream.into(),
            outcome,
            checkpoint: None,
            clock_offset: None,
        }
    }

    /// With the checkpoint after the run.
    pub fn checkpoint(mut self, checkpoint: Option<NaiveDateTime>) -> Self {
        self.checkpoint = checkpoint;
        self
    }

    /// With the measured clock offset.
    pub fn clock_offset(mut self, offset: Option<TimeDelta>) -> Self {
        self.clock_offset = offset;
        self
    }
}

/// What an alert says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AlertKind {
    /// The stream's runs started failing.
    Failing,
    /// The stream's runs still fail (a reminder).
    StillFailing,
    /// A run succeeded after failures.
    Recovered,
    /// Runs succeed but the lag exceeds the bound.
    Stalled,
    /// The lag still exceeds the bound (a reminder).
    StillStalled,
    /// The lag is back under the bound.
    CaughtUp,
    /// This host's clock is far off the gateway's.
    ClockOff,
    /// This host's clock is still far off (a reminder).
    StillClockOff,
    /// This host's clock is back near the gateway's.
    ClockBack,
    /// A verify found the stored refunds differing from WDT.
    Differs,
    /// A verify still finds them differing (a reminder).
    StillDiffers,
    /// A verify found the range matching WDT again.
    Matches,
}

impl AlertKind {
    /// A short name (`failing`, `recovered`, …), as in logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Failing => "failing",
            Self::StillFailing => "still failing",
            Self::Recovered => "recovered",
            Self::Stalled => "stalled",
            Self::StillStalled => "still stalled",
            Self::CaughtUp => "caught up",
            Self::ClockOff => "clock off",
            Self::StillClockOff => "clock still off",
            Self::ClockBack => "clock back",
            Self::Differs => "verify differs",
            Self::StillDiffers => "verify still differs",
            Self::Matches => "verify matches",
        }
    }

    fn headline(self) -> &'static str {
        match self {
            Self::Failing => "sync failing",
            Self::StillFailing => "sync still failing",
            Self::Recovered => "sync recovered",
            Self::Stalled => "sync stalled (no error, but the checkpoint lags)",
            Self::StillStalled => "sync still stalled",
            Self::CaughtUp => "sync caught up",
            Self::ClockOff => "host clock off the gateway's",
            Self::StillClockOff => "host clock still off the gateway's",
            Self::ClockBack => "host clock back in step",
            Self::Differs => "verify found differences from WDT",
            Self::StillDiffers => "verify still finds differences from WDT",
            Self::Matches => "verify matches WDT again",
        }
    }
}

/// One alert to send.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Alert {
    /// What it says.
    pub kind: AlertKind,
    /// The account's name.
    pub account: String,
    /// The stream.
    pub stream: String,
    /// When the condition started.
    pub since: DateTime<Utc>,
    /// When the alert was decided.
    pub at: DateTime<Utc>,
    /// The stream's checkpoint (Beijing wall time), if known.
    pub checkpoint: Option<NaiveDateTime>,
    /// The condition's detail: the failure's one-line cause, the lag, the clock offset.
    pub detail: String,
    /// Failed runs since it started failing (failures only).
    pub failed_runs: u32,
}

/// The first line of `text`, at most 300 characters.
pub fn one_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    let mut out: String = line.chars().take(300).collect();
    if line.chars().count() > 300 {
        out.push('…');
    }
    out
}

/// Whole seconds as `7m 2s`.
fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

fn beijing(t: DateTime<Utc>) -> String {
    format!("{} (Beijing)", format_wdt(to_beijing(t)))
}

impl Alert {
    /// The title: `[refund_sync] shop_a: sync failing` (the tag first, as a robot keyword).
    pub fn title(&self) -> String {
        format!("{TAG} {}: {}", self.account, self.kind.headline())
    }

    /// The message as Markdown (DingTalk's and WeCom's subset: a heading, bold, lines).
    pub fn markdown(&self) -> String {
        let mut lines = vec![format!("### {}", self.title())];
        lines.push(format!("- **account**: {}", self.account));
        lines.push(format!("- **stream**: {}", self.stream));
        let lasted = (self.at - self.since).to_std().unwrap_or_default();
        match self.kind {
            AlertKind::Recovered | AlertKind::CaughtUp | AlertKind::ClockBack | AlertKind::Matches => {
                lines.push(format!(
                    "- **since**: {} (lasted {})",
                    beijing(self.since),
                    human(lasted)
                ));
            }
            _ => lines.push(format!("- **since**: {} ({} ago)", beijing(self.since), human(lasted))),
        }
        lines.push(format!(
            "- **checkpoint**: {}",
            self.checkpoint
                .map_or_else(|| "none yet".to_owned(), |c| format!("{} (Beijing)", format_wdt(c)))
        ));
        let label = match self.kind {
            AlertKind::Failing | AlertKind::StillFailing => "cause",
            AlertKind::Recovered => "failed runs",
            AlertKind::Stalled | AlertKind::StillStalled | AlertKind::CaughtUp => "lag",
            AlertKind::Differs | AlertKind::StillDiffers => "difference",
            AlertKind::Matches => "verify",
            _ => "clock",
        };
        lines.push(format!("- **{label}**: {}", self.detail));
        if self.kind == AlertKind::StillFailing {
            lines.push(format!("- **failed runs**: {}", self.failed_runs));
        }
        lines.join("\n")
    }
}

/// A condition that holds: since when, when it was last told.
#[derive(Debug, Clone, Copy)]
struct Holding {
    since: DateTime<Utc>,
    told: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct StreamState {
    failing: Option<(Holding, u32)>,
    stalled: Option<Holding>,
    clock: Option<Holding>,
    differs: Option<Holding>,
    checkpoint: Option<NaiveDateTime>,
}

/// The alert state of every stream seen.
#[derive(Debug)]
pub struct Tracker {
    policy: Policy,
    streams: HashMap<String, StreamState>,
}

impl Tracker {
    /// A tracker that has seen nothing yet.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            streams: HashMap::new(),
        }
    }

    /// Takes up a stream an earlier process left failing (read from the run history): its runs
    /// have failed since `since`, `failed_runs` of them, the last at `last`. Its first alert
    /// was sent then, and a reminder at each `repeat` after `since` a run passed; so a stream
    /// synced by `--once` runs (a CronJob), or by a restarted process, is not told again at
    /// every run. A stream already seen is left as it is.
    pub fn resume(&mut self, stream: &str, since: DateTime<Utc>, failed_runs: u32, last: DateTime<Utc>) {
        if self.streams.contains_key(stream) || failed_runs == 0 {
            return;
        }
        let st = self.streams.entry(stream.to_owned()).or_default();
        let repeat = TimeDelta::from_std(self.policy.repeat).unwrap_or(TimeDelta::MAX);
        let mut told = since;
        if repeat > TimeDelta::zero() {
            while told.checked_add_signed(repeat).is_some_and(|t| t <= last) {
                told += repeat;
            }
        }
        st.failing = Some((Holding { since, told }, failed_runs));
    }

    /// The alerts `obs`, seen at `now`, calls for (none, one, or a few).
    pub fn observe(&mut self, obs: &Observation, now: DateTime<Utc>) -> Vec<Alert> {
        let policy = self.policy;
        let st = self.streams.entry(obs.stream.clone()).or_default();
        if obs.checkpoint.is_some() {
            st.checkpoint = obs.checkpoint;
        }
        // The checkpoint as last known (a failed run may not know it).
        let known = st.checkpoint;
        let alert = |kind, since, detail: String, failed_runs| Alert {
            kind,
            account: obs.account.clone(),
            stream: obs.stream.clone(),
            since,
            at: now,
            checkpoint: known,
            detail,
            failed_runs,
        };
        let due = |h: &Holding| (now - h.told).to_std().is_ok_and(|d| d >= policy.repeat);
        let mut out = Vec::new();
        match &obs.outcome {
            Outcome::Failed { cause } => {
                let cause = one_line(cause);
                match &mut st.failing {
                    None => {
                        st.failing = Some((Holding { since: now, told: now }, 1));
                        out.push(alert(AlertKind::Failing, now, cause, 1));
                    }
                    Some((h, n)) => {
                        *n += 1;
                        if due(h) {
                            h.told = now;
                            out.push(alert(AlertKind::StillFailing, h.since, cause, *n));
                        }
                    }
                }
            }
            Outcome::Ran { lag } => {
                if let Some((h, n)) = st.failing.take() {
                    out.push(alert(AlertKind::Recovered, h.since, n.to_string(), n));
                }
                if let Some(lag) = lag {
                    let detail = format!("{} (bound {})", human(*lag), human(policy.max_lag));
                    match (&mut st.stalled, *lag > policy.max_lag) {
                        (None, true) => {
                            st.stalled = Some(Holding { since: now, told: now });
                            out.push(alert(AlertKind::Stalled, now, detail, 0));
                        }
                        (Some(h), true) => {
                            if due(h) {
                                h.told = now;
                                out.push(alert(AlertKind::StillStalled, h.since, detail, 0));
                            }
                        }
                        (Some(h), false) => {
                            let since = h.since;
                            st.stalled = None;
                            out.push(alert(AlertKind::CaughtUp, since, detail, 0));
                        }
                        (None, false) => {}
                    }
                }
            }
            Outcome::Verified { difference, summary } => match (&mut st.differs, difference) {
                (None, Some(d)) => {
                    st.differs = Some(Holding { since: now, told: now });
                    out.push(alert(AlertKind::Differs, now, one_line(d), 0));
                }
                (Some(h), Some(d)) => {
                    if due(h) {
                        h.told = now;
                        out.push(alert(AlertKind::StillDiffers, h.since, one_line(d), 0));
                    }
                }
                (Some(h), None) => {
                    let since = h.since;
                    st.differs = None;
                    out.push(alert(AlertKind::Matches, since, one_line(summary), 0));
                }
                (None, None) => {}
            },
        }
        if let Some(offset) = obs.clock_offset {
            let off = offset.abs().to_std().unwrap_or_default();
            let detail = clock_detail(offset, policy.max_clock_offset);
            match (&mut st.clock, off > policy.max_clock_offset) {
                (None, true) => {
                    st.clock = Some(Holding { since: now, told: now });
                    out.push(alert(AlertKind::ClockOff, now, detail, 0));
                }
                (Some(h), true) => {
                    if due(h) {
                        h.told = now;
                        out.push(alert(AlertKind::StillClockOff, h.since, detail, 0));
                    }
                }
                (Some(h), false) => {
                    let since = h.since;
                    st.clock = None;
                    out.push(alert(AlertKind::ClockBack, since, detail, 0));
                }
                (None, false) => {}
            }
        }
        out
    }
}

fn clock_detail(offset: TimeDelta, bound: Duration) -> String {
    let by = human(offset.abs().to_std().unwrap_or_default());
    let side = if offset < TimeDelta::zero() {
        format!("this host is at least {by} ahead of the gateway")
    } else if offset > TimeDelta::zero() {
        format!("this host is at least {by} behind the gateway")
    } else {
        "in step with the gateway".to_owned()
    };
    format!(
        "{side} (bound {}, half the overlap); windows follow the gateway's clock, but fix this host's (NTP)",
        human(bound)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_583_200, 0).unwrap() + TimeDelta::minutes(minutes)
    }

    fn policy() -> Policy {
        Policy::new(
            Duration::from_secs(60 * MIN),
            Duration::from_secs(20 * MIN),
            Duration::from_secs(30),
        )
    }

    fn ran(lag_min: u64) -> Outcome {
        Outcome::Ran {
            lag: Some(Duration::from_secs(lag_min * MIN)),
        }
    }

    fn failed(cause: &str) -> Outcome {
        Outcome::Failed { cause: cause.into() }
    }

    fn obs(outcome: Outcome, offset_s: Option<i64>) -> Observation {
        Observation::new("shop_a", "shop_a/aftersales.refund.Refund.search", outcome)
            .checkpoint(Some(wdt_qimen::time::parse_wdt("2026-12-01 17:00:00").unwrap()))
            .clock_offset(offset_s.map(TimeDelta::seconds))
    }

    #[test]
    fn one_alert_when_failing_starts_a_reminder_per_repeat_one_when_it_recovers_and_the_same_for_a_stall_and_the_clock()
    {
        use AlertKind::*;
        let auth = "authentication failed: WDT status 100 (authentication): sign error\nsecond line";
        // (minute, outcome, clock offset in s, the alerts expected: kind and since (minute))
        type Row = (i64, Outcome, Option<i64>, Vec<(AlertKind, i64)>);
        let table: Vec<Row> = vec![
            (0, ran(2), Some(0), vec![]),
            (5, failed(auth), None, vec![(Failing, 5)]),
            (10, failed(auth), None, vec![]),
            (15, failed("timeout"), None, vec![]),
            (60, failed(auth), None, vec![]),
            (64, failed(auth), None, vec![]),
            // 60 min after the first alert: a reminder, since the first failure.
            (65, failed(auth), None, vec![(StillFailing, 5)]),
            (70, failed(auth), None, vec![]),
            (124, failed(auth), None, vec![]),
            (125, failed(auth), None, vec![(StillFailing, 5)]),
            (130, ran(3), Some(0), vec![(Recovered, 5)]),
            (135, ran(3), Some(0), vec![]),
            // A silent stall: runs succeed, the lag grows past the bound.
            (140, ran(21), None, vec![(Stalled, 140)]),
            (145, ran(26), None, vec![]),
            (199, ran(80), None, vec![]),
            (200, ran(85), None, vec![(StillStalled, 140)]),
            // Failing while stalled: the failure is told; the stall waits for the next success.
            (205, failed("timeout"), None, vec![(Failing, 205)]),
            (210, ran(2), None, vec![(Recovered, 205), (CaughtUp, 140)]),
            (215, ran(2), None, vec![]),
            // The clock: far off (past half the overlap), reminded, back.
            (220, ran(2), Some(-45), vec![(ClockOff, 220)]),
            (225, ran(2), Some(-45), vec![]),
            (230, ran(2), None, vec![]),
            (280, ran(2), Some(50), vec![(StillClockOff, 220)]),
            (285, ran(2), Some(10), vec![(ClockBack, 220)]),
            (290, ran(2), Some(10), vec![]),
            // A new failure after a recovery is a new alert at once.
            (295, failed(auth), None, vec![(Failing, 295)]),
        ];
        let mut tracker = Tracker::new(policy());
        for (minute, outcome, offset, want) in table {
            let got: Vec<(AlertKind, i64)> = tracker
                .observe(&obs(outcome, offset), at(minute))
                .iter()
                .map(|a| (a.kind, (a.since - at(0)).num_minutes()))
                .collect();
            assert_eq!(got, want, "at minute {minute}");
        }
    }

    #[test]
    fn the_alerts_carry_the_cause_s_first_line_the_failed_runs_and_the_checkpoint() {
        let mut tracker = Tracker::new(policy());
        let first = tracker.observe(&obs(failed("a: b\nc"), None), at(0));
        assert_eq!(first[0].detail, "a: b");
        assert_eq!(first[0].failed_runs, 1);
        for m in 1..60 {
            assert!(tracker.observe(&obs(failed("x"), None), at(m)).is_empty());
        }
        let again = tracker.observe(&obs(failed("later cause"), None), at(60));
        assert_eq!((again[0].kind, again[0].failed_runs), (AlertKind::StillFailing, 61));
        assert_eq!(again[0].detail, "later cause");
        // A failed run that does not know the checkpoint keeps the last one seen.
        let mut o = obs(ran(1), None);
        o.checkpoint = None;
        let back = tracker.observe(&o, at(90));
        assert_eq!(back[0].kind, AlertKind::Recovered);
        assert_eq!(
            back[0].checkpoint,
            Some(wdt_qimen::time::parse_wdt("2026-12-01 17:00:00").unwrap())
        );
        let text = back[0].markdown();
        assert!(text.starts_with("### [refund_sync] shop_a: sync recovered\n"), "{text}");
        for part in [
            "- **account**: shop_a",
            "- **stream**: shop_a/aftersales.refund.Refund.search",
            // 2025-12-01 10:00 UTC is 18:00 in Beijing.
            "- **since**: 2025-12-01 18:00:00 (Beijing) (lasted 1h 30m)",
            "- **checkpoint**: 2026-12-01 17:00:00 (Beijing)",
            "- **failed runs**: 61",
        ] {
            assert!(text.contains(part), "{part:?} in {text}");
        }
    }

    fn verified(difference: Option<&str>) -> Outcome {
        Outcome::Verified {
            difference: difference.map(str::to_owned),
            summary: "2026-11-24 00:00:00 .. 2026-12-01 00:00:00 (Beijing): matches".into(),
        }
    }

    #[test]
    fn a_verify_that_differs_is_told_once_reminded_per_repeat_and_told_when_one_matches_again() {
        use AlertKind::*;
        let diff = "2026-11-24 00:00:00 .. 2026-12-01 00:00:00 (Beijing): Refund.search WDT 120, stored 119";
        // (minute, outcome, the alerts expected: kind and since (minute))
        type Row = (i64, Outcome, Vec<(AlertKind, i64)>);
        let table: Vec<Row> = vec![
            (0, verified(None), vec![]),
            (10, verified(Some(diff)), vec![(Differs, 10)]),
            // Runs, failing or not, neither end nor repeat it.
            (11, ran(1), vec![]),
            (12, failed("down"), vec![(Failing, 12)]),
            (13, ran(1), vec![(Recovered, 12)]),
            (20, verified(Some(diff)), vec![]),
            (70, verified(Some(diff)), vec![(StillDiffers, 10)]),
            (80, verified(None), vec![(Matches, 10)]),
            (90, verified(None), vec![]),
            (100, verified(Some(diff)), vec![(Differs, 100)]),
        ];
        let mut tracker = Tracker::new(policy());
        for (minute, outcome, want) in table {
            let got: Vec<(AlertKind, i64)> = tracker
                .observe(&obs(outcome, None), at(minute))
                .iter()
                .map(|a| (a.kind, (a.since - at(0)).num_minutes()))
                .collect();
            assert_eq!(got, want, "at minute {minute}");
        }
        let mut tracker = Tracker::new(policy());
        let a = tracker.observe(&obs(verified(Some(diff)), None), at(0));
        let text = a[0].markdown();
        assert!(
            text.starts_with("### [refund_sync] shop_a: verify found differences from WDT\n"),
            "{text}"
        );
        assert!(text.contains(&format!("- **difference**: {diff}")), "{text}");
        let a = tracker.observe(&obs(verified(None), None), at(30));
        let text = a[0].markdown();
        assert!(
            text.starts_with("### [refund_sync] shop_a: verify matches WDT again\n"),
            "{text}"
        );
        assert!(text.contains("(lasted 30m)"), "{text}");
        assert!(
            text.contains("- **verify**: 2026-11-24 00:00:00 .. 2026-12-01 00:00:00 (Beijing): matches"),
            "{text}"
        );
    }

    #[test]
    fn a_stream_left_failing_by_an_earlier_process_is_reminded_not_told_again() {
        let mut tracker = Tracker::new(policy());
        // Failing since minute 0, the last failed run at minute 70: told at 0 and reminded at 60.
        tracker.resume("shop_a/aftersales.refund.Refund.search", at(0), 8, at(70));
        assert!(tracker.observe(&obs(failed("down"), None), at(75)).is_empty());
        assert!(tracker.observe(&obs(failed("down"), None), at(119)).is_empty());
        let r = tracker.observe(&obs(failed("down"), None), at(120));
        assert_eq!(
            (r[0].kind, r[0].since, r[0].failed_runs),
            (AlertKind::StillFailing, at(0), 11)
        );
        let r = tracker.observe(&obs(ran(1), None), at(125));
        assert_eq!((r[0].kind, r[0].since), (AlertKind::Recovered, at(0)));
        // A stream this process has seen already keeps its own state.
        tracker.resume("shop_a/aftersales.refund.Refund.search", at(0), 3, at(10));
        assert!(tracker.observe(&obs(ran(1), None), at(130)).is_empty());
    }

    #[test]
    fn however_often_runs_happen_a_broken_stream_is_told_once_per_repeat() {
        let end = 3 * 3600;
        for every_s in [1i64, 7, 60, 300, 4000] {
            let mut tracker = Tracker::new(policy());
            let start = at(0);
            let mut told = Vec::new();
            let mut t = 0;
            // Three hours of failing runs, one every `every_s` seconds.
            while t <= end {
                for a in tracker.observe(&obs(failed("down"), None), start + TimeDelta::seconds(t)) {
                    told.push((a.kind, (a.at - start).num_seconds()));
                }
                t += every_s;
            }
            assert_eq!(told[0], (AlertKind::Failing, 0), "every {every_s}s");
            assert!(told[1..].iter().all(|(k, _)| *k == AlertKind::StillFailing), "{told:?}");
            // Each reminder comes with the first run an hour or more after the one before.
            for w in told.windows(2) {
                let gap = w[1].1 - w[0].1;
                assert!(
                    (3600..3600 + every_s.max(1)).contains(&gap) || (every_s > 3600 && gap == every_s),
                    "every {every_s}s: {told:?}"
                );
            }
            assert!(
                end - told.last().unwrap().1 < 3600 + every_s,
                "every {every_s}s: {told:?}"
            );
        }
    }
}
