//! Beijing time (UTC+8): WDT speaks it everywhere, without saying so.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeDelta, TimeZone, Utc};

/// The `yyyy-MM-dd HH:mm:ss` format WDT uses for every time it reads or writes.
pub const WDT_TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Unix seconds of 2012-01-01 00:00:00 +08:00, the epoch of the native `timestamp` parameter.
pub const WDT_EPOCH_UNIX: i64 = 1_325_347_200;

/// The UTC+8 offset (China has no daylight saving time).
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// Beijing wall time of an instant.
pub fn to_beijing(t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&beijing()).naive_local()
}

/// The instant of a Beijing wall time.
pub fn from_beijing(t: NaiveDateTime) -> DateTime<Utc> {
    beijing()
        .from_local_datetime(&t)
        .single()
        .expect("a fixed offset maps every wall time to one instant")
        .with_timezone(&Utc)
}

/// Beijing wall time of an epoch-millisecond value, `None` when out of range.
pub fn from_epoch_ms(ms: i64) -> Option<NaiveDateTime> {
    DateTime::<Utc>::from_timestamp_millis(ms).map(to_beijing)
}

/// Formats a Beijing wall time as WDT expects it (`yyyy-MM-dd HH:mm:ss`).
pub fn format_wdt(t: NaiveDateTime) -> String {
    t.format(WDT_TIME_FORMAT).to_string()
}

/// Parses `yyyy-MM-dd HH:mm:ss` (Beijing wall time).
pub fn parse_wdt(s: &str) -> Result<NaiveDateTime, chrono::ParseError> {
    NaiveDateTime::parse_from_str(s.trim(), WDT_TIME_FORMAT)
}

/// A clock, injectable so that tests and the simulator can set "now".
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The system clock moved by a shift that may change while it is in use: a host clock that is
/// off, or a server clock that a test moves forward instead of sleeping.
#[derive(Debug, Default)]
pub struct ShiftedClock {
    shift_ms: AtomicI64,
}

impl ShiftedClock {
    /// The system clock moved by `shift` (positive: ahead).
    pub fn new(shift: TimeDelta) -> Self {
        Self {
            shift_ms: AtomicI64::new(shift.num_milliseconds()),
        }
    }

    /// The current shift.
    pub fn shift(&self) -> TimeDelta {
        TimeDelta::milliseconds(self.shift_ms.load(Ordering::SeqCst))
    }

    /// Moves the clock forward by `by` (backward when negative).
    pub fn advance(&self, by: TimeDelta) {
        self.shift_ms.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.shift()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_ms_is_beijing_wall_time() {
        // 1686712380000 ms = 2023-06-14 03:13:00 UTC = 11:13:00 in Beijing (official sample).
        let t = from_epoch_ms(1_686_712_380_000).unwrap();
        assert_eq!(format_wdt(t), "2023-06-14 11:13:00");
        assert_eq!(from_beijing(t).timestamp_millis(), 1_686_712_380_000);
    }

    #[test]
    fn a_shifted_clock_moves_with_its_shift() {
        let c = ShiftedClock::new(TimeDelta::minutes(7));
        let d = c.now() - Utc::now();
        assert!(d > TimeDelta::seconds(419) && d <= TimeDelta::minutes(7), "{d}");
        c.advance(TimeDelta::seconds(-420));
        assert_eq!(c.shift(), TimeDelta::zero());
    }

    #[test]
    fn wdt_epoch_is_2012_in_beijing() {
        let t = parse_wdt("2012-01-01 00:00:00").unwrap();
        assert_eq!(from_beijing(t).timestamp(), WDT_EPOCH_UNIX);
    }
}
