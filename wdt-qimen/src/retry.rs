//! Retry decisions: full-jitter exponential backoff with a cap, an attempt budget and a
//! total-time budget, decided by a pure function ([`decide`]) so the waits can be tested without
//! sleeping. Sleeping goes through the injectable [`Sleep`] trait.
//!
//! Every retry is a new exchange with a fresh timestamp and signature (see
//! [`transport`](crate::transport)); nothing here resends bytes.

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::error::{Error, ErrorKind};

/// How failures are retried.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryConfig {
    /// Attempts in all, the first included (default 8).
    pub max_attempts: u32,
    /// Base of the exponential backoff (default 500 ms).
    pub base: Duration,
    /// Cap of one backoff wait for transient failures (default 30 s).
    pub cap: Duration,
    /// Total time budget from the first attempt; a wait that would exceed it gives up (default 20 min).
    pub max_elapsed: Duration,
    /// Shortest wait after a throttle answer that gave no hint (default 30 s). WDT's own advice for
    /// its per-minute limits is to leave the interface alone for 5–10 minutes; the numeric quotas
    /// are not published (INFERRED), so this is configurable.
    pub throttle_min_wait: Duration,
    /// Cap of one wait after a throttle answer, the server's "ban will last N seconds" included
    /// (default 5 min).
    pub throttle_cap: Duration,
    /// Retries allowed for a rejected timestamp (native status 7, gateway code 31); default 1.
    pub timestamp_retries: u32,
    /// Reads again of an answer that looks damaged (default 2): a page with records that are not
    /// valid JSON or not UTF-8 (after the last read they become dead letters), a body over the
    /// size limit, a page with more records than asked for (after the last read, an error). A
    /// gateway's passing corruption is gone on the next read; a record stored broken stays
    /// broken, and every read of it costs quota, hence a budget of its own.
    pub damaged_retries: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(20 * 60),
            throttle_min_wait: Duration::from_secs(30),
            throttle_cap: Duration::from_secs(300),
            timestamp_retries: 1,
            damaged_retries: 2,
        }
    }
}

impl RetryConfig {
    /// No retries at all.
    pub fn disabled() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Sets the attempt budget.
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets the backoff base and cap.
    pub fn with_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.base = base;
        self.cap = cap.max(base);
        self
    }

    /// Sets the total time budget.
    pub fn with_max_elapsed(mut self, d: Duration) -> Self {
        self.max_elapsed = d;
        self
    }

    /// Sets how many times an answer that looks damaged is read again.
    pub fn with_damaged_retries(mut self, n: u32) -> Self {
        self.damaged_retries = n;
        self
    }

    /// Sets the shortest and the longest wait after a throttle answer.
    pub fn with_throttle_wait(mut self, min: Duration, cap: Duration) -> Self {
        self.throttle_min_wait = min;
        self.throttle_cap = cap.max(min);
        self
    }
}

/// Where a request stands when it failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryState {
    /// Attempts made so far (at least 1 when deciding).
    pub attempts: u32,
    /// Time since the first attempt.
    pub elapsed: Duration,
    /// Retries already made because of a rejected timestamp.
    pub timestamp_retries: u32,
    /// Reads again already made because an answer looked damaged.
    pub damaged_retries: u32,
}

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then send a freshly signed request.
    RetryAfter(Duration),
    /// Stop and return the error.
    GiveUp,
}

/// Full jitter: a uniformly random wait in `[0, min(cap, base * 2^(attempt-1))]`; `jitter` is the
/// random draw in `[0, 1)`.
pub fn full_jitter(base: Duration, cap: Duration, attempt: u32, jitter: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let ceiling = base.saturating_mul(1u32 << exp).min(cap);
    ceiling.mul_f64(jitter.clamp(0.0, 1.0))
}

/// Decides whether and when to retry `err`. Pure: the clock's reading comes in `state.elapsed`
/// and the random draw in `jitter` (`[0, 1)`).
///
/// - Auth, InvalidRequest, Decode, Config and Unknown errors are never retried.
/// - A rejected timestamp is retried at once, [`RetryConfig::timestamp_retries`] times.
/// - A throttle waits the server's hint ([`Error::retry_after`]), or at least
///   [`RetryConfig::throttle_min_wait`] without a hint, plus jitter, and never longer than
///   [`RetryConfig::throttle_cap`]: a hint of days (or of `u64::MAX` seconds) is a broken answer,
///   and obeying it would stall every later run of the process.
/// - Transient failures wait a full-jitter exponential backoff capped at [`RetryConfig::cap`].
/// - Nothing is retried past [`RetryConfig::max_attempts`] or when the wait would end after
///   [`RetryConfig::max_elapsed`].
pub fn decide(cfg: &RetryConfig, state: RetryState, err: &Error, jitter: f64) -> Decision {
    if !err.is_retryable() || state.attempts >= cfg.max_attempts {
        return Decision::GiveUp;
    }
    let wait = match err.kind() {
        ErrorKind::Timestamp => {
            if state.timestamp_retries >= cfg.timestamp_retries {
                return Decision::GiveUp;
            }
            Duration::ZERO
        }
        ErrorKind::Throttled => {
            let backoff = full_jitter(cfg.throttle_min_wait, cfg.throttle_cap, state.attempts, jitter);
            let wait = match err.retry_after() {
                Some(hint) => {
                    let hint = hint.min(cfg.throttle_cap);
                    hint.saturating_add(backoff.min(hint / 4))
                }
                None => cfg.throttle_min_wait.saturating_add(backoff / 2),
            };
            wait.min(cfg.throttle_cap)
        }
        _ => full_jitter(cfg.base, cfg.cap, state.attempts, jitter),
    };
    if state.elapsed.saturating_add(wait) > cfg.max_elapsed {
        return Decision::GiveUp;
    }
    Decision::RetryAfter(wait)
}

/// Decides whether to read a damaged answer again (see [`RetryConfig::damaged_retries`]).
/// Pure, like [`decide`]: the wait is the transient backoff, within the attempt and time budgets.
pub fn decide_damaged(cfg: &RetryConfig, state: RetryState, jitter: f64) -> Decision {
    if state.damaged_retries >= cfg.damaged_retries || state.attempts >= cfg.max_attempts {
        return Decision::GiveUp;
    }
    let wait = full_jitter(cfg.base, cfg.cap, state.attempts, jitter);
    if state.elapsed.saturating_add(wait) > cfg.max_elapsed {
        return Decision::GiveUp;
    }
    Decision::RetryAfter(wait)
}

/// Sleeps; injectable so tests can observe or skip the waits.
pub trait Sleep: Send + Sync + fmt::Debug + 'static {
    /// A future that completes after `d`.
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()>;
}

/// Sleeps with `tokio::time::sleep` (so a paused tokio clock skips the waits).
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSleep;

impl Sleep for TokioSleep {
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: i64, message: &str) -> Error {
        let (kind, retry_after) = crate::error::classify_wdt_status(status, message);
        Error::Api {
            method: "m".into(),
            status,
            message: message.into(),
            kind,
            retry_after,
        }
    }

    fn st(attempts: u32) -> RetryState {
        RetryState {
            attempts,
            ..RetryState::default()
        }
    }

    #[test]
    fn full_jitter_grows_and_caps() {
        let (b, c) = (Duration::from_millis(500), Duration::from_secs(30));
        assert_eq!(
            full_jitter(b, c, 1, 0.999_999),
            Duration::from_millis(500).mul_f64(0.999_999)
        );
        assert_eq!(full_jitter(b, c, 3, 0.5), Duration::from_millis(1000));
        assert_eq!(full_jitter(b, c, 20, 1.0), c);
        assert_eq!(full_jitter(b, c, 5, 0.0), Duration::ZERO);
    }

    #[test]
    fn never_retries_auth_or_invalid_request() {
        let cfg = RetryConfig::default();
        assert_eq!(decide(&cfg, st(1), &api(1, "验证失败"), 0.5), Decision::GiveUp);
        assert_eq!(
            decide(&cfg, st(1), &api(100, "查询时间不能大于30天"), 0.5),
            Decision::GiveUp
        );
    }

    #[test]
    fn transient_backs_off_then_gives_up_at_the_attempt_limit() {
        let cfg = RetryConfig::default().with_max_attempts(3);
        let e = api(4, "db error");
        assert_eq!(
            decide(&cfg, st(1), &e, 1.0),
            Decision::RetryAfter(Duration::from_millis(500))
        );
        assert_eq!(
            decide(&cfg, st(2), &e, 1.0),
            Decision::RetryAfter(Duration::from_millis(1000))
        );
        assert_eq!(decide(&cfg, st(3), &e, 1.0), Decision::GiveUp);
    }

    #[test]
    fn total_time_budget_is_honoured() {
        let cfg = RetryConfig::default().with_max_elapsed(Duration::from_secs(10));
        let e = api(4, "db");
        let s = RetryState {
            attempts: 1,
            elapsed: Duration::from_millis(9_800),
            ..RetryState::default()
        };
        assert_eq!(decide(&cfg, s, &e, 1.0), Decision::GiveUp);
        assert_eq!(
            decide(&cfg, s, &e, 0.1),
            Decision::RetryAfter(Duration::from_millis(50))
        );
    }

    #[test]
    fn throttle_waits_at_least_the_hint_or_the_floor() {
        let cfg = RetryConfig::default();
        let ban = Error::Gateway {
            method: "m".into(),
            code: "7".into(),
            message: "App Call Limited".into(),
            sub_message: Some("This ban will last for 42 more seconds".into()),
            kind: ErrorKind::Throttled,
            retry_after: Some(Duration::from_secs(43)),
        };
        for j in [0.0, 0.5, 0.99] {
            let Decision::RetryAfter(w) = decide(&cfg, st(1), &ban, j) else {
                panic!()
            };
            assert!(
                w >= Duration::from_secs(43) && w <= Duration::from_secs(43) + Duration::from_secs(43) / 4,
                "{w:?}"
            );
            let Decision::RetryAfter(w) = decide(&cfg, st(1), &api(100, "超过每分钟最大调用频率限制"), j)
            else {
                panic!()
            };
            assert!(w >= cfg.throttle_min_wait && w <= cfg.throttle_cap, "{w:?}");
        }
    }

    #[test]
    fn a_huge_ban_hint_waits_the_throttle_cap_without_overflow() {
        let cfg = RetryConfig::default();
        for hint in [
            Duration::from_secs(1_000_000_000_000),
            Duration::from_secs(u64::MAX),
            Duration::MAX,
        ] {
            let ban = Error::Gateway {
                method: "m".into(),
                code: "7".into(),
                message: "App Call Limited".into(),
                sub_message: None,
                kind: ErrorKind::Throttled,
                retry_after: Some(hint),
            };
            for j in [0.0, 0.5, 0.99] {
                assert_eq!(
                    decide(&cfg, st(1), &ban, j),
                    Decision::RetryAfter(cfg.throttle_cap),
                    "{hint:?}"
                );
            }
        }
        // A hint just under the cap plus its jitter stays at the cap too.
        let near = Error::Gateway {
            method: "m".into(),
            code: "7".into(),
            message: "App Call Limited".into(),
            sub_message: None,
            kind: ErrorKind::Throttled,
            retry_after: Some(cfg.throttle_cap - Duration::from_secs(1)),
        };
        let Decision::RetryAfter(w) = decide(&cfg, st(1), &near, 0.99) else {
            panic!()
        };
        assert!(
            w <= cfg.throttle_cap && w >= cfg.throttle_cap - Duration::from_secs(1),
            "{w:?}"
        );
    }

    #[test]
    fn damaged_answers_are_read_again_within_their_own_budget() {
        let cfg = RetryConfig::default();
        let at = |attempts, damaged_retries| RetryState {
            attempts,
            damaged_retries,
            ..RetryState::default()
        };
        assert_eq!(decide_damaged(&cfg, at(1, 0), 1.0), Decision::RetryAfter(cfg.base));
        assert!(matches!(decide_damaged(&cfg, at(2, 1), 0.5), Decision::RetryAfter(_)));
        assert_eq!(decide_damaged(&cfg, at(3, 2), 0.5), Decision::GiveUp);
        assert_eq!(
            decide_damaged(&cfg.clone().with_damaged_retries(0), at(1, 0), 0.5),
            Decision::GiveUp
        );
        assert_eq!(
            decide_damaged(&cfg.clone().with_max_attempts(1), at(1, 0), 0.5),
            Decision::GiveUp
        );
    }

    #[test]
    fn timestamp_is_retried_once_at_once() {
        let cfg = RetryConfig::default();
        let e = api(7, "时间戳错误");
        assert_eq!(decide(&cfg, st(1), &e, 0.5), Decision::RetryAfter(Duration::ZERO));
        let s = RetryState {
            attempts: 2,
            timestamp_retries: 1,
            ..RetryState::default()
        };
        assert_eq!(decide(&cfg, s, &e, 0.5), Decision::GiveUp);
    }
}
