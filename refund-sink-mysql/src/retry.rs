//! Retrying a transaction or a read: lost lock races by attempt count, lost connections by time
//! budget, both with full-jitter backoff, exponential and capped.

use std::time::Duration;

use tokio::time::Instant;

use crate::error::SinkError;

/// How often and how patiently a commit is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after a deadlock or lock wait timeout (0 = never retry them).
    pub max_retries: u32,
    /// The backoff ceiling of the first retry.
    pub base: Duration,
    /// The largest backoff.
    pub cap: Duration,
    /// How long a lost connection (server restart, failover, "gone away", no answer within the
    /// timeout) is retried on a new connection, counted from the first such failure of the
    /// commit or read (zero = never).
    pub connection_budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            base: Duration::from_millis(50),
            cap: Duration::from_secs(2),
            connection_budget: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The sleep before retry number `retry` (1-based), given a uniform `unit` in `[0, 1)`:
    /// `unit * min(cap, base * 2^(retry-1))`.
    pub fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let exp = self.base.saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        exp.min(self.cap).mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// The retry state of one commit or read.
#[derive(Debug)]
pub(crate) struct Retries<'a> {
    policy: &'a RetryPolicy,
    lock_races: u32,
    reconnects: u32,
    first_connection_error: Option<Instant>,
}

impl<'a> Retries<'a> {
    pub(crate) fn new(policy: &'a RetryPolicy) -> Self {
        Retries {
            policy,
            lock_races: 0,
            reconnects: 0,
            first_connection_error: None,
        }
    }

    /// Retries so far.
    pub(crate) fn count(&self) -> u32 {
        self.lock_races + self.reconnects
    }

    /// After a failed attempt: the pause before the next one, or the error to give up with.
    ///
    /// A lost lock race is retried `max_retries` times; a lost connection while the next retry
    /// would still start within `connection_budget` of the first one; anything else is final.
    pub(crate) fn after(&mut self, e: SinkError) -> Result<Duration, SinkError> {
        let attempts = self.count() + 1;
        if e.is_lock_race() {
            if self.lock_races >= self.policy.max_retries {
                return Err(SinkError::RetriesExhausted {
                    attempts,
                    last: Box::new(e),
                });
            }
            self.lock_races += 1;
            return Ok(self.policy.backoff(self.lock_races, fastrand::f64()));
        }
        if !e.is_connection_error() {
            return Err(e);
        }
        let now = Instant::now();
        let since = *self.first_connection_error.get_or_insert(now);
        let pause = self.policy.backoff(self.reconnects + 1, fastrand::f64());
        let elapsed = now - since;
        if elapsed + pause > self.policy.connection_budget || self.policy.connection_budget.is_zero() {
            return Err(SinkError::ConnectionLost {
                attempts,
                elapsed,
                budget: self.policy.connection_budget,
                last: Box::new(e),
            });
        }
        self.reconnects += 1;
        Ok(pause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: u16) -> SinkError {
        SinkError::Mysql {
            during: "testing",
            source: mysql_async::Error::Server(mysql_async::ServerError {
                code,
                message: "m".into(),
                state: "HY000".into(),
            }),
        }
    }

    fn refused() -> SinkError {
        SinkError::Mysql {
            during: "connecting",
            source: mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            ))),
        }
    }

    #[test]
    fn backoff_grows_then_caps_and_jitters_down_to_zero() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        assert_eq!(p.backoff(1, 0.999_999).as_millis(), 99);
        assert_eq!(p.backoff(2, 0.5), Duration::from_millis(100));
        assert_eq!(p.backoff(3, 0.5), Duration::from_millis(200));
        assert_eq!(p.backoff(30, 0.5), Duration::from_millis(500));
        assert_eq!(p.backoff(3, 0.0), Duration::ZERO);
        assert_eq!(p.backoff(3, 7.0), Duration::from_millis(400));
    }

    #[test]
    fn lock_races_are_counted_and_other_errors_are_final() {
        let p = RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        };
        let mut r = Retries::new(&p);
        assert!(r.after(server(1213)).is_ok());
        assert!(r.after(server(1205)).is_ok());
        let e = r.after(server(1213)).unwrap_err();
        assert!(matches!(e, SinkError::RetriesExhausted { attempts: 3, .. }), "{e:?}");
        let mut r = Retries::new(&p);
        assert!(matches!(r.after(server(1062)), Err(SinkError::Mysql { .. })));
        assert!(matches!(r.after(SinkError::Abandoned), Err(SinkError::Abandoned)));
    }

    #[tokio::test(start_paused = true)]
    async fn lost_connections_are_retried_for_the_budget_not_a_count() {
        let p = RetryPolicy {
            max_retries: 0,
            connection_budget: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        let mut r = Retries::new(&p);
        let mut retries = 0;
        let first = tokio::time::Instant::now();
        let attempt = Duration::from_secs(1);
        let e = loop {
            match r.after(refused()) {
                Ok(pause) => {
                    assert!(pause <= p.cap);
                    // Every retry starts within the budget.
                    assert!(first.elapsed() + pause <= p.connection_budget);
                    retries += 1;
                    tokio::time::sleep(pause + attempt).await;
                }
                Err(e) => break e,
            }
        };
        // Far more than `max_retries` (0): the budget counts, not the attempts.
        assert!(retries > 10, "{retries}");
        match e {
            SinkError::ConnectionLost {
                attempts,
                elapsed,
                budget,
                last,
            } => {
                assert_eq!(attempts, retries + 1);
                assert_eq!(budget, p.connection_budget);
                assert_eq!(elapsed, first.elapsed());
                // It kept trying until a retry could no longer start within the budget.
                assert!(elapsed + p.cap + attempt >= budget, "{elapsed:?}");
                assert!(last.is_connection_error());
            }
            other => panic!("{other:?}"),
        }
        // A zero budget gives up at the first failure.
        let p = RetryPolicy {
            connection_budget: Duration::ZERO,
            ..RetryPolicy::default()
        };
        let timeout = SinkError::Timeout {
            during: "committing",
            after: Duration::from_secs(1),
        };
        let e = Retries::new(&p).after(timeout).unwrap_err();
        assert!(matches!(e, SinkError::ConnectionLost { attempts: 1, .. }), "{e:?}");
    }
}
