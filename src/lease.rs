//! One runner per stream: each run of an account's stream (live or backfill) first takes the
//! stream's lease in MySQL ([`MySqlSink::lease`]), renewed while the run lasts. When another
//! runner holds it, the run is skipped with one line saying who holds it until when, or, with
//! `--wait-for-lease`, waits for it.

use std::time::Duration;

use refund_sink_mysql::lease::{MAX_TTL, MIN_TTL};
use refund_sink_mysql::{Lease, LeaseHolder, LeaseOutcome, MySqlSink, SinkError};
use wdt_qimen::sync::StreamId;

use crate::cli::Settings;
use crate::error::AppError;

/// The default ttl of a stream's lease.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(120);
/// The default days of run history kept.
pub const DEFAULT_HISTORY_DAYS: u32 = 90;
/// The longest `--wait-for-lease` waits for one run (a signal ends the wait sooner).
pub const MAX_LEASE_WAIT: Duration = Duration::from_secs(86_400);

/// How runs take their stream's lease and keep their history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Runner {
    /// The lease's ttl.
    pub lease_ttl: Duration,
    /// Wait for a held lease instead of skipping the stream.
    pub wait_for_lease: bool,
    /// Days of run history kept.
    pub history_days: u32,
}

impl Default for Runner {
    fn default() -> Self {
        Self {
            lease_ttl: DEFAULT_LEASE_TTL,
            wait_for_lease: false,
            history_days: DEFAULT_HISTORY_DAYS,
        }
    }
}

impl Runner {
    /// The settings of `s` (`--lease-ttl`, `--wait-for-lease`, `--history-days`); a ttl out of
    /// the sink's range is refused naming the flag.
    pub fn of(s: &Settings) -> Result<Self, AppError> {
        let lease_ttl = s.lease_ttl.unwrap_or(DEFAULT_LEASE_TTL);
        if !(MIN_TTL..=MAX_TTL).contains(&lease_ttl) {
            return Err(AppError::setting(
                "--lease-ttl",
                humantime::format_duration(lease_ttl),
                format!(
                    "out of range ({} to {})",
                    humantime::format_duration(MIN_TTL),
                    humantime::format_duration(MAX_TTL)
                ),
                "give a ttl such as 2m: longer than MySQL's slowest answer, shorter than the wait after a crash you accept",
            ));
        }
        Ok(Self {
            lease_ttl,
            wait_for_lease: s.wait_for_lease,
            history_days: s.history_days.unwrap_or(DEFAULT_HISTORY_DAYS),
        })
    }

    /// Takes `stream`'s lease on `sink` (waiting for it with `wait_for_lease`), renewed in the
    /// background until released.
    pub async fn take(&self, sink: &MySqlSink, stream: &StreamId) -> Result<Taken, SinkError> {
        let outcome = if self.wait_for_lease {
            sink.lease_wait(stream, self.lease_ttl, MAX_LEASE_WAIT).await?
        } else {
            sink.lease(stream, self.lease_ttl).await?
        };
        Ok(match outcome {
            LeaseOutcome::Acquired(lease) => {
                lease.keep_alive();
                Taken::Lease(lease)
            }
            LeaseOutcome::HeldBy(holder) => Taken::Held(holder),
        })
    }
}

/// What asking for a stream's lease gave.
#[derive(Debug)]
pub enum Taken {
    /// The lease, renewed in the background.
    Lease(Lease),
    /// Another runner holds it.
    Held(LeaseHolder),
}

/// The line printed for a run skipped because `holder` holds `stream`'s lease.
pub fn skipped_line(stream: &StreamId, holder: &LeaseHolder) -> String {
    format!(
        "skipped: the stream {stream} is {holder}; another copy of this sync is running it (use --wait-for-lease to wait \
         for it instead)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_ttl_out_of_range_is_refused_naming_the_flag() {
        let s = Settings {
            lease_ttl: Some(Duration::ZERO),
            ..Settings::default()
        };
        let e = Runner::of(&s).unwrap_err();
        assert!(e.is_config());
        assert!(e.to_string().starts_with("--lease-ttl = 0s: out of range"), "{e}");
        let r = Runner::of(&Settings::default()).unwrap();
        assert_eq!(r, Runner::default());
    }
}
