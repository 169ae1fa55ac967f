//! The gateway's clock, as its answers show it.
//!
//! Every HTTP answer of both gateways (errors and throttles included) carries a `Date` header:
//! the server's time, truncated to the second. From it and the host instants a request was sent
//! and its answer's headers arrived, a [`ClockOffset`] bounds the server's clock minus this
//! host's: the server wrote `Date` at some server instant in `[Date, Date + 1 s)`, while the
//! host's clock read somewhere in `[sent, sent + round trip]`, so
//!
//! ```text
//! offset ∈ [Date − (sent + round trip), Date + 1 s − sent]
//! ```
//!
//! The sync engine plans windows and stores checkpoints at the *earliest* time the server's
//! clock can show ([`ClockOffset::earliest`]), so a checkpoint never passes the server's present;
//! requests are stamped with the host clock moved by the smallest offset the answer proves
//! ([`ClockOffset::correction`]), so a host whose clock is minutes off still gets its requests
//! accepted (the native route allows 120 s, Qimen 10 minutes).
//!
//! [`ServerClock`] keeps the latest measurement for every request of one client. Only the latest
//! is kept, not an intersection of many: a host clock that NTP steps or slews makes older
//! measurements stale, and one measurement is already as good as a second plus a round trip.
//! A measurement is dropped as soon as the host's clock moves otherwise than the monotonic clock
//! (a host that boots with a slow clock and is stepped by NTP later would otherwise plan windows
//! by the old offset, ahead of the gateway).
//!
//! A `Date` header is not always the gateway's: a proxy in front of it, or the load balancer
//! that writes an error page, may have a clock of its own, hours or days off. Windows therefore
//! follow only a *trusted* measurement ([`ServerClock::offset`]): one from an answer whose
//! request the gateway accepted, with a `Date` that agrees with that request's timestamp within
//! [`MAX_ACCEPTED_SKEW`] (the gateway would have refused it otherwise). A `Date` that contradicts
//! the timestamp the gateway just accepted is ignored. Any other answer (a refused timestamp, a
//! throttle, an error page) only corrects the timestamps of the next requests
//! ([`ServerClock::request_time`]): a wrong correction is refused by the gateway, and the
//! refusal measures again.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, TimeDelta, Utc};

/// The largest clock skew a gateway accepts in a request timestamp (Qimen: 10 minutes; the
/// native route: 120 s). A run whose requests were accepted had a host clock at most this far
/// from the server's.
pub const MAX_ACCEPTED_SKEW: TimeDelta = TimeDelta::minutes(10);

/// Bounds on the server's clock minus this host's clock, from one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockOffset {
    low: TimeDelta,
    high: TimeDelta,
}

impl ClockOffset {
    /// The offset an answer shows: the request was sent at host time `sent`, its answer's headers
    /// arrived `round_trip` later, and its `Date` header said `date`.
    pub fn from_answer(sent: DateTime<Utc>, round_trip: Duration, date: DateTime<Utc>) -> Self {
        let round_trip = TimeDelta::from_std(round_trip).unwrap_or(TimeDelta::MAX);
        let date = date - TimeDelta::nanoseconds(i64::from(date.timestamp_subsec_nanos()));
        let low = (date - sent).checked_sub(&round_trip).unwrap_or(TimeDelta::MIN);
        Self {
            low,
            high: date - sent + TimeDelta::seconds(1),
        }
    }

    /// An offset known to lie in `[low, high]`; `None` when `low > high`.
    pub fn between(low: TimeDelta, high: TimeDelta) -> Option<Self> {
        (low <= high).then_some(Self { low, high })
    }

    /// The smallest offset possible.
    pub fn low(&self) -> TimeDelta {
        self.low
    }

    /// The largest offset possible.
    pub fn high(&self) -> TimeDelta {
        self.high
    }

    /// The middle of the bounds: the best single estimate.
    pub fn estimate(&self) -> TimeDelta {
        self.low + (self.high - self.low) / 2
    }

    /// Half the width of the bounds (the `±` of [`estimate`](Self::estimate)).
    pub fn uncertainty(&self) -> TimeDelta {
        (self.high - self.low) / 2
    }

    /// The offset of the bounds nearest zero: zero when the host clock agrees with the server's
    /// within the measurement's uncertainty, else the smallest skew the answer proves.
    pub fn correction(&self) -> TimeDelta {
        TimeDelta::zero().clamp(self.low, self.high)
    }

    /// The earliest time the server's clock can show when the host's shows `host`.
    pub fn earliest(&self, host: DateTime<Utc>) -> DateTime<Utc> {
        host + self.low
    }

    /// The latest time the server's clock can show when the host's shows `host`.
    pub fn latest(&self, host: DateTime<Utc>) -> DateTime<Utc> {
        host + self.high
    }

    /// The time to stamp a request with when the host's clock shows `host`.
    pub fn request_time(&self, host: DateTime<Utc>) -> DateTime<Utc> {
        host + self.correction()
    }
}

/// Seconds with a sign and one decimal: `+0.4s`, `-420.3s`.
fn signed_seconds(d: TimeDelta) -> String {
    let ms = d.num_milliseconds();
    let sign = match ms {
        ..=-100 => "-",
        100.. => "+",
        _ => "",
    };
    let ms = ms.unsigned_abs();
    format!("{sign}{}.{}s", ms / 1000, (ms % 1000) / 100)
}

impl fmt::Display for ClockOffset {
    /// `-420.3s ±0.6s` (the server's clock minus the host's).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = self.uncertainty().num_milliseconds().unsigned_abs();
        write!(
            f,
            "{} ±{}.{}s",
            signed_seconds(self.estimate()),
            u / 1000,
            (u % 1000) / 100
        )
    }
}

/// Parses an HTTP `Date` value (RFC 7231: IMF-fixdate, and the obsolete RFC 850 and asctime
/// forms).
pub fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    httpdate::parse_http_date(value.trim()).ok().map(DateTime::<Utc>::from)
}

/// Formats an instant as an HTTP `Date` value (IMF-fixdate, `Tue, 01 Dec 2026 07:10:13 GMT`).
pub fn format_http_date(t: DateTime<Utc>) -> String {
    let system = SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(t.timestamp().max(0) as u64))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    httpdate::fmt_http_date(system)
}

/// How far this host's clock may move otherwise than the monotonic clock before a measurement
/// counts as stale: past it, the host's clock was stepped (NTP after boot, set by hand) or slewed
/// that much, and the offset measured before no longer holds.
pub const STEP_TOLERANCE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct Sample {
    offset: ClockOffset,
    sent: DateTime<Utc>,
    sent_instant: Instant,
}

impl Sample {
    /// The offset, when the host's clock reads `host` at monotonic `at`; `None` when the host's
    /// clock has moved more than [`STEP_TOLERANCE`] otherwise than the monotonic clock since.
    fn holding(&self, host: DateTime<Utc>, at: Instant) -> Option<ClockOffset> {
        let wall = host - self.sent;
        let monotonic = TimeDelta::from_std(at.saturating_duration_since(self.sent_instant)).ok()?;
        let tolerance = TimeDelta::from_std(STEP_TOLERANCE).expect("a small duration");
        ((wall - monotonic).abs() <= tolerance).then_some(self.offset)
    }
}

/// What an answer says of the timestamp its request was sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stamp {
    /// The gateway accepted the request stamped with this time: its clock was within
    /// [`MAX_ACCEPTED_SKEW`] of it.
    Accepted(DateTime<Utc>),
    /// The gateway refused the request's timestamp.
    Refused,
    /// The answer does not tell (a throttle, an error page, a body that could not be read).
    Unknown,
}

#[derive(Debug, Default)]
struct Samples {
    /// The latest measurement of any answer.
    latest: Option<Sample>,
    /// The latest measurement of an answer that accepted its request's timestamp and agrees
    /// with it.
    trusted: Option<Sample>,
}

/// The latest [`ClockOffset`] measured by one client, shared by all its requests.
#[derive(Debug, Default)]
pub struct ServerClock {
    samples: Mutex<Samples>,
}

impl ServerClock {
    /// Records what an answer's `Date` header (`date`, unparsed) shows of a request sent at host
    /// time `sent` (monotonic `sent_instant`) and answered at monotonic `answered`, and what the
    /// answer said of the request's timestamp (`stamp`). An absent or unreadable header changes
    /// nothing, except that a refused timestamp stops the trusted offset from correcting the
    /// next requests; a `Date` that contradicts an accepted timestamp (it cannot be the
    /// gateway's clock) is ignored. Returns the offset recorded.
    pub fn observe(
        &self,
        sent: DateTime<Utc>,
        sent_instant: Instant,
        answered: Instant,
        date: Option<&str>,
        stamp: Stamp,
    ) -> Option<ClockOffset> {
        let round_trip = answered.saturating_duration_since(sent_instant);
        let measured = date
            .and_then(parse_http_date)
            .map(|d| ClockOffset::from_answer(sent, round_trip, d));
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        if stamp == Stamp::Refused {
            samples.trusted = None;
        }
        let offset = measured?;
        let sample = Sample {
            offset,
            sent,
            sent_instant,
        };
        if let Stamp::Accepted(at) = stamp {
            // The gateway's clock read within the accepted skew of the stamp somewhere during
            // the round trip.
            let rt = TimeDelta::from_std(round_trip).unwrap_or(TimeDelta::MAX);
            // (A stamp is sent in whole seconds: up to one second earlier than `at`.)
            let used = at - sent;
            let low = used
                .checked_sub(&(MAX_ACCEPTED_SKEW + TimeDelta::seconds(1)))
                .and_then(|l| l.checked_sub(&rt));
            let agrees = low.is_none_or(|l| offset.high() >= l) && offset.low() <= used + MAX_ACCEPTED_SKEW;
            if !agrees {
                tracing::warn!(
                    clock_offset = %offset,
                    "an answer's Date header contradicts the request timestamp the gateway accepted \
                     (a proxy with a clock of its own?); it is ignored"
                );
                return None;
            }
            samples.trusted = Some(sample);
        }
        samples.latest = Some(sample);
        Some(offset)
    }

    /// The trusted offset (see the [module](self) documentation), when the host's clock reads
    /// `host` at monotonic `at`. `None` before the first answer that accepted its request's
    /// timestamp with a `Date` header agreeing with it, after a refused timestamp, and when the
    /// host's clock has since moved more than [`STEP_TOLERANCE`] otherwise than the monotonic
    /// clock (the next answer measures again).
    pub fn offset(&self, host: DateTime<Utc>, at: Instant) -> Option<ClockOffset> {
        let samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        samples.trusted?.holding(host, at)
    }

    /// The time to stamp a request with when the host's clock reads `host` at monotonic `at`:
    /// moved by the trusted offset, else by the latest answer's (a refused timestamp's `Date`
    /// corrects the retry), else `host` itself.
    pub fn request_time(&self, host: DateTime<Utc>, at: Instant) -> DateTime<Utc> {
        let samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        let offset = [samples.trusted, samples.latest]
            .into_iter()
            .flatten()
            .find_map(|s| s.holding(host, at));
        offset.map_or(host, |o| o.request_time(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_bounds_cover_the_date_second_and_the_round_trip() {
        // Host 7 minutes fast; the server stamped 07:03:20.x while the host read 07:10:20.2..20.5.
        let o = ClockOffset::from_answer(
            at("2026-12-01T07:10:20.200Z"),
            Duration::from_millis(300),
            at("2026-12-01T07:03:20Z"),
        );
        assert_eq!(o.low(), TimeDelta::milliseconds(-420_500));
        assert_eq!(o.high(), TimeDelta::milliseconds(-419_200));
        assert_eq!(o.estimate(), TimeDelta::milliseconds(-419_850));
        assert_eq!(o.uncertainty(), TimeDelta::milliseconds(650));
        assert_eq!(o.correction(), o.high());
        assert_eq!(o.to_string(), "-419.8s ±0.6s");
        let host = at("2026-12-01T07:10:30Z");
        assert_eq!(o.earliest(host), at("2026-12-01T07:03:29.500Z"));
        assert_eq!(o.latest(host), at("2026-12-01T07:03:30.800Z"));
    }

    #[test]
    fn every_true_offset_lies_within_the_bounds() {
        // A server 90.25 s ahead answering at any point of a 400 ms exchange.
        let truth = TimeDelta::milliseconds(90_250);
        let sent = at("2026-12-01T00:00:00.730Z");
        for at_ms in (0..=400).step_by(50) {
            let server_at = sent + TimeDelta::milliseconds(at_ms) + truth;
            let date = server_at - TimeDelta::nanoseconds(i64::from(server_at.timestamp_subsec_nanos()));
            let o = ClockOffset::from_answer(sent, Duration::from_millis(400), date);
            assert!(o.low() <= truth && truth <= o.high(), "{at_ms} ms: {o:?}");
            assert!(o.earliest(sent) <= sent + truth);
        }
    }

    #[test]
    fn a_host_in_step_gets_no_correction() {
        let sent = at("2026-12-01T00:00:00.400Z");
        let o = ClockOffset::from_answer(sent, Duration::from_millis(100), at("2026-12-01T00:00:00Z"));
        assert!(o.low() < TimeDelta::zero() && o.high() > TimeDelta::zero(), "{o:?}");
        assert_eq!(o.correction(), TimeDelta::zero());
        assert_eq!(o.request_time(sent), sent);
        // A slow host is moved forward to the smallest offset the answer proves.
        let slow = ClockOffset::between(TimeDelta::seconds(300), TimeDelta::seconds(301)).unwrap();
        assert_eq!(slow.correction(), TimeDelta::seconds(300));
        assert_eq!(slow.to_string(), "+300.5s ±0.5s");
        assert!(ClockOffset::between(TimeDelta::seconds(1), TimeDelta::zero()).is_none());
    }

    #[test]
    fn http_dates_in_every_rfc_7231_form() {
        let t = at("1994-11-06T08:49:37Z");
        for s in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            " Sun, 06 Nov 1994 08:49:37 GMT ",
        ] {
            assert_eq!(parse_http_date(s), Some(t), "{s}");
        }
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(
            format_http_date(at("1994-11-06T08:49:37.900Z")),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn the_clock_keeps_the_latest_answer_and_ignores_answers_without_a_date() {
        let c = ServerClock::default();
        let sent = at("2026-12-01T00:00:00Z");
        let i = Instant::now();
        let ok = Stamp::Accepted(sent);
        assert_eq!(c.request_time(sent, i), sent);
        assert!(c.observe(sent, i, i, None, ok).is_none());
        assert!(c.observe(sent, i, i, Some("not a date"), ok).is_none());
        assert_eq!(c.offset(sent, i), None);
        c.observe(sent, i, i, Some("Tue, 01 Dec 2026 00:05:00 GMT"), ok);
        assert_eq!(c.request_time(sent, i), at("2026-12-01T00:05:00Z"));
        assert!(c.offset(sent, i).is_some());
        c.observe(sent, i, i, Some("Tue, 01 Dec 2026 00:00:00 GMT"), ok);
        assert_eq!(c.request_time(sent, i), sent);
    }

    #[test]
    fn only_an_answer_that_accepted_its_timestamp_is_trusted_for_windows() {
        let c = ServerClock::default();
        let sent = at("2026-12-01T00:00:00Z");
        let i = Instant::now();
        // A refused timestamp (host 7 minutes fast): its Date stamps the retry, plans nothing.
        let o = c.observe(sent, i, i, Some("Mon, 30 Nov 2026 23:53:00 GMT"), Stamp::Refused);
        assert!(o.is_some());
        assert_eq!(c.offset(sent, i), None);
        let retry = c.request_time(sent, i);
        assert_eq!(retry, at("2026-11-30T23:53:01Z"));
        // The retry, stamped by it, is accepted: now it is trusted.
        c.observe(
            sent,
            i,
            i,
            Some("Mon, 30 Nov 2026 23:53:00 GMT"),
            Stamp::Accepted(retry),
        );
        assert_eq!(c.offset(sent, i), o);
        // A throttle or an error page with another clock corrects nothing that is trusted.
        c.observe(sent, i, i, Some("Wed, 02 Dec 2026 00:00:00 GMT"), Stamp::Unknown);
        assert_eq!(c.offset(sent, i), o);
        assert_eq!(c.request_time(sent, i), retry);
        // A refusal stops trusting it; the latest answer's Date stamps the next request.
        c.observe(sent, i, i, Some("Tue, 01 Dec 2026 00:00:00 GMT"), Stamp::Refused);
        assert_eq!(c.offset(sent, i), None);
        assert_eq!(c.request_time(sent, i), sent);
    }

    #[test]
    fn a_date_that_contradicts_an_accepted_timestamp_is_ignored() {
        let sent = at("2026-12-01T00:00:00Z");
        let i = Instant::now();
        let rt = i + Duration::from_millis(200);
        for (date, trusted) in [
            // Within the accepted skew of the stamp (the host's own time here): kept.
            ("Tue, 01 Dec 2026 00:09:59 GMT", true),
            ("Mon, 30 Nov 2026 23:50:00 GMT", true),
            // Beyond it: the gateway would have refused the stamp, so this is not its clock.
            ("Tue, 01 Dec 2026 00:10:02 GMT", false),
            ("Mon, 30 Nov 2026 23:49:57 GMT", false),
            ("Thu, 03 Dec 2026 00:00:00 GMT", false),
            ("Mon, 30 Nov 2026 16:00:00 GMT", false),
        ] {
            let c = ServerClock::default();
            let kept = c.observe(sent, i, rt, Some(date), Stamp::Accepted(sent));
            assert_eq!(kept.is_some(), trusted, "{date}");
            assert_eq!(c.offset(sent, i).is_some(), trusted, "{date}");
            if !trusted {
                assert_eq!(c.request_time(sent, i), sent, "{date}");
            }
        }
        // Measured against the stamp actually sent: a host 8 hours slow, corrected, agrees.
        let c = ServerClock::default();
        let stamp = sent + TimeDelta::hours(8);
        assert!(c
            .observe(
                sent,
                i,
                rt,
                Some("Tue, 01 Dec 2026 08:00:00 GMT"),
                Stamp::Accepted(stamp)
            )
            .is_some());
        assert!(c.offset(sent, i).is_some());
    }

    #[test]
    fn a_measurement_holds_until_the_host_clock_steps() {
        let c = ServerClock::default();
        let sent = at("2026-12-01T00:00:00Z");
        let i = Instant::now();
        let o = c.observe(
            sent,
            i,
            i + Duration::from_millis(80),
            Some("Tue, 01 Dec 2026 00:07:00 GMT"),
            Stamp::Accepted(sent),
        );
        // Ten minutes later by both clocks, it holds.
        let later = i + Duration::from_secs(600);
        assert_eq!(c.offset(sent + TimeDelta::seconds(600), later), o);
        assert_eq!(c.offset(sent + TimeDelta::milliseconds(600_900), later), o);
        // The host's clock stepped 7 minutes forward (NTP): the old offset no longer holds.
        assert_eq!(c.offset(sent + TimeDelta::seconds(1020), later), None);
        assert_eq!(c.offset(sent + TimeDelta::seconds(598), later), None);
        assert_eq!(
            c.request_time(sent + TimeDelta::seconds(1020), later),
            sent + TimeDelta::seconds(1020)
        );
    }
}
