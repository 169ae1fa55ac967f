//! Alerts that reach people: a DingTalk or WeCom robot told when a stream starts failing, when
//! it recovers, at most every `--alert-repeat` while it stays broken, when its lag exceeds
//! `--max-lag` without an error (a silent stall), when this host's clock is far off the
//! gateway's, and when a scheduled verify (`--verify-every`) finds the tables differing from WDT.
//!
//! [`state`] decides which alerts to send (a pure state machine, the time given to it);
//! [`robot`] posts them. [`Alerts`] joins the two for the run loop, with the clock injected.

pub mod robot;
pub mod state;

use std::sync::{Arc, Mutex};

use wdt_qimen::time::{Clock, SystemClock};

pub use robot::{Robot, RobotError, RobotKind};
pub use state::{Alert, AlertKind, Observation, Outcome, Policy, Tracker};

/// Every alert's title starts with this tag (use it as the DingTalk robot's keyword).
pub const TAG: &str = "[refund_sync]";

/// Where alerts go, and what was told already. Cheap to clone (shared by every account's task).
#[derive(Clone, Debug)]
pub struct Alerts {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    robot: Robot,
    tracker: Mutex<Tracker>,
    clock: Arc<dyn Clock>,
}

impl Alerts {
    /// No alerts.
    pub fn none() -> Self {
        Self { inner: None }
    }

    /// Alerts to `robot` under `policy`, timed by the system clock.
    pub fn new(robot: Robot, policy: Policy) -> Self {
        Self::with_clock(robot, policy, Arc::new(SystemClock))
    }

    /// Alerts to `robot` under `policy`, timed by `clock`.
    pub fn with_clock(robot: Robot, policy: Policy, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                robot,
                tracker: Mutex::new(Tracker::new(policy)),
                clock,
            })),
        }
    }

    /// Whether a robot is set.
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// Tells the robot whatever `obs` calls for. A failure to deliver is logged (after one more
    /// try), never fails the run.
    pub async fn observe(&self, obs: &Observation) {
        let Some(inner) = &self.inner else { return };
        let now = inner.clock.now();
        let alerts = inner
            .tracker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(obs, now);
        for a in alerts {
            tracing::info!(account = %a.account, stream = %a.stream, kind = a.kind.name(), "alert");
            let _ = inner.robot.send(&a.title(), &a.markdown()).await;
        }
    }

    /// Takes up a stream an earlier process left failing (see [`Tracker::resume`]).
    pub fn resume(
        &self,
        stream: &str,
        since: chrono::DateTime<chrono::Utc>,
        failed_runs: u32,
        last: chrono::DateTime<chrono::Utc>,
    ) {
        if let Some(inner) = &self.inner {
            inner
                .tracker
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .resume(stream, since, failed_runs, last);
        }
    }

    /// Posts a one-off notice (`title` after the tag; `text`, Markdown, below it).
    pub async fn notice(&self, title: &str, text: &str) {
        let Some(inner) = &self.inner else { return };
        let title = format!("{TAG} {title}");
        let _ = inner.robot.send(&title, &format!("### {title}\n{text}")).await;
    }
}
