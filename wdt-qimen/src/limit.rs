//! Per-account rate limiting: a token bucket (governor) with at most a fixed number of requests
//! in flight, that halves its rate on a throttle answer and recovers gradually (AIMD).
//!
//! WDT does not publish its quotas (INFERRED from community clients: about 1 request per second
//! per account is safe), so the default is conservative: **1 request per second, burst 1, one in
//! flight**, slowing down to at least one request per 30 s after repeated throttles, and
//! recovering by 1/20 of the configured rate per successful call.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The longest pause one throttle answer can impose on the limiter, whatever its hint says (the
/// client clamps hints to [`RetryConfig::throttle_cap`](crate::retry::RetryConfig::throttle_cap)
/// first; this bound only guards direct callers of [`AccountLimiter::on_throttle`]).
pub const MAX_PAUSE: Duration = Duration::from_secs(3600);

/// Rate-limit settings for one account.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RateLimitConfig {
    /// Requests per second at full speed (default 1.0). `f64::INFINITY` disables the bucket.
    pub per_second: f64,
    /// Burst size (default 1).
    pub burst: u32,
    /// Requests in flight at once (default 1).
    pub max_in_flight: usize,
    /// The slowest rate the limiter slows down to after throttles (default 1/30 per second).
    pub min_per_second: f64,
    /// Fraction of `per_second` regained per successful call (default 0.05).
    pub recovery_step: f64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_second: 1.0,
            burst: 1,
            max_in_flight: 1,
            min_per_second: 1.0 / 30.0,
            recovery_step: 0.05,
        }
    }
}

impl RateLimitConfig {
    /// No rate limit (tests, simulators); the in-flight bound still applies.
    pub fn unlimited() -> Self {
        Self {
            per_second: f64::INFINITY,
            ..Self::default()
        }
    }

    /// Sets the full-speed rate and the burst.
    pub fn with_rate(mut self, per_second: f64, burst: u32) -> Self {
        self.per_second = per_second;
        self.burst = burst.max(1);
        self
    }

    /// Sets how many requests may be in flight at once.
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }
}

struct State {
    rate: f64,
    bucket: Option<DefaultDirectRateLimiter>,
    paused_until: Option<Instant>,
}

/// The limiter of one account. Cheap to share behind an `Arc`.
pub struct AccountLimiter {
    cfg: RateLimitConfig,
    state: Mutex<State>,
    in_flight: std::sync::Arc<Semaphore>,
}

impl std::fmt::Debug for AccountLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountLimiter")
            .field("cfg", &self.cfg)
            .field("current_per_second", &self.current_rate())
            .finish()
    }
}

/// A bucket for a changed rate, with its first token already spent: a new bucket starts full,
/// and a slow-down must not begin with a free call.
fn rebuilt(rate: f64, burst: u32) -> Option<DefaultDirectRateLimiter> {
    let b = bucket(rate, burst)?;
    let _ = b.check();
    Some(b)
}

fn bucket(rate: f64, burst: u32) -> Option<DefaultDirectRateLimiter> {
    if !rate.is_finite() || rate <= 0.0 {
        return None;
    }
    let quota = Quota::with_period(Duration::from_secs_f64(1.0 / rate))?
        .allow_burst(NonZeroU32::new(burst.max(1)).expect("burst >= 1"));
    Some(RateLimiter::direct(quota))
}

/// Held while a request is in flight; dropping it frees the slot.
#[derive(Debug)]
pub struct Permit {
    _slot: OwnedSemaphorePermit,
}

impl AccountLimiter {
    /// A limiter with these settings.
    pub fn new(cfg: RateLimitConfig) -> Self {
        let state = State {
            rate: cfg.per_second,
            bucket: bucket(cfg.per_second, cfg.burst),
            paused_until: None,
        };
        Self {
            in_flight: std::sync::Arc::new(Semaphore::new(cfg.max_in_flight.max(1))),
            cfg,
            state: Mutex::new(state),
        }
    }

    /// The current rate (requests per second), lower than configured after throttles.
    pub fn current_rate(&self) -> f64 {
        self.state.lock().expect("limiter lock").rate
    }

    /// Waits for a free in-flight slot, the end of any throttle pause, and a token.
    pub async fn acquire(&self) -> Permit {
        let slot = self
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        loop {
            let wait = {
                let st = self.state.lock().expect("limiter lock");
                let now = Instant::now();
                match st.paused_until {
                    Some(until) if until > now => Some(until - now),
                    _ => match &st.bucket {
                        None => None,
                        Some(b) => match b.check() {
                            Ok(()) => None,
                            Err(not_until) => Some(not_until.wait_time_from(DefaultClock::default().now())),
                        },
                    },
                }
            };
            match wait {
                None => return Permit { _slot: slot },
                Some(d) => tokio::time::sleep(d.max(Duration::from_millis(1))).await,
            }
        }
    }

    /// A throttle answer: halve the rate (not below the minimum) and pause for `retry_after`
    /// (at most [`MAX_PAUSE`]).
    pub fn on_throttle(&self, retry_after: Option<Duration>) {
        let mut st = self.state.lock().expect("limiter lock");
        // An unlimited limiter stays unlimited; it only pauses for the hinted time.
        if st.rate.is_finite() {
            st.rate = (st.rate / 2.0).max(self.cfg.min_per_second);
            st.bucket = rebuilt(st.rate, 1);
        }
        if let Some(until) = retry_after.and_then(|d| Instant::now().checked_add(d.min(MAX_PAUSE))) {
            st.paused_until = Some(st.paused_until.map_or(until, |u| u.max(until)));
        }
        tracing::warn!(per_second = st.rate, "throttled by the server; slowing down");
    }

    /// A successful call: regain a step of the configured rate.
    pub fn on_success(&self) {
        let mut st = self.state.lock().expect("limiter lock");
        if st.rate >= self.cfg.per_second {
            return;
        }
        let step = self.cfg.per_second * self.cfg.recovery_step;
        st.rate = (st.rate + step.max(f64::EPSILON)).min(self.cfg.per_second);
        st.bucket = if st.rate >= self.cfg.per_second {
            rebuilt(self.cfg.per_second, self.cfg.burst)
        } else {
            rebuilt(st.rate, 1)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slows_on_throttle_and_recovers_gradually() {
        let l = AccountLimiter::new(RateLimitConfig::default().with_rate(2.0, 1));
        l.on_throttle(None);
        assert_eq!(l.current_rate(), 1.0);
        l.on_throttle(None);
        assert_eq!(l.current_rate(), 0.5);
        for _ in 0..100 {
            l.on_throttle(None);
        }
        assert_eq!(l.current_rate(), 1.0 / 30.0);
        l.on_success();
        assert!(l.current_rate() > 1.0 / 30.0 && l.current_rate() < 2.0);
        for _ in 0..100 {
            l.on_success();
        }
        assert_eq!(l.current_rate(), 2.0);
    }

    #[test]
    fn a_slow_down_does_not_start_with_a_free_call() {
        let l = AccountLimiter::new(RateLimitConfig::default().with_rate(0.5, 1));
        l.on_throttle(None);
        let st = l.state.lock().unwrap();
        assert!(
            st.bucket.as_ref().unwrap().check().is_err(),
            "the rebuilt bucket handed out a free token"
        );
    }

    #[test]
    fn unlimited_stays_unlimited_after_a_throttle() {
        let l = AccountLimiter::new(RateLimitConfig::unlimited());
        l.on_throttle(None);
        assert!(l.current_rate().is_infinite());
    }

    #[tokio::test(start_paused = true)]
    async fn pause_after_a_hint_is_waited_out() {
        let l = AccountLimiter::new(RateLimitConfig::unlimited());
        l.on_throttle(Some(Duration::from_secs(42)));
        let t0 = Instant::now();
        drop(l.acquire().await);
        assert!(Instant::now() - t0 >= Duration::from_secs(42));
    }

    #[tokio::test(start_paused = true)]
    async fn a_huge_hint_pauses_at_most_max_pause() {
        for hint in [Duration::from_secs(1_000_000_000_000), Duration::MAX] {
            let l = AccountLimiter::new(RateLimitConfig::unlimited());
            l.on_throttle(Some(hint));
            let t0 = Instant::now();
            drop(l.acquire().await);
            // Paused tokio time: the pause ends exactly at its (clamped) deadline.
            assert_eq!(Instant::now() - t0, MAX_PAUSE, "{hint:?}");
        }
    }

    #[tokio::test]
    async fn one_in_flight_by_default() {
        let l = std::sync::Arc::new(AccountLimiter::new(RateLimitConfig::unlimited()));
        let p = l.acquire().await;
        let l2 = l.clone();
        let mut second = tokio::spawn(async move { l2.acquire().await });
        tokio::task::yield_now().await;
        assert!(futures::poll!(&mut second).is_pending());
        drop(p);
        second.await.unwrap();
    }
}
