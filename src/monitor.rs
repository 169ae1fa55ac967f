//! What the run loop tells the status server ([`http`](crate::http)): each account's stream and
//! client once connected, its last error, and a heartbeat at every step of its loop (a page read,
//! a commit, a run's start and end), so `/health` can tell a loop that sleeps between runs from
//! one that is stuck.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use wdt_qimen::sync::{ProgressHook, StreamId};
use wdt_qimen::Client;

use crate::config::Account;

/// The least time an account's loop may go without a heartbeat while working before `/health`
/// calls it stuck.
pub const MIN_STALL: Duration = Duration::from_secs(600);

/// What an account's loop is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Activity {
    /// Connecting, running, recording: it beats at every page and commit.
    Working,
    /// Waiting for the next run, due at this instant.
    Sleeping {
        /// When the next run is due.
        until: Instant,
    },
    /// Waiting for another runner to hand over the stream's lease (`--wait-for-lease`).
    WaitingForLease,
    /// Its loop ended (a `--once` run that is done, or a shutdown).
    Ended,
}

/// An account as the loop last told it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccountView {
    /// The account as configured.
    pub account: Account,
    /// Its live stream, once connected.
    pub stream: Option<StreamId>,
    /// Its client, once connected (for the gateway's clock).
    pub client: Option<Client>,
    /// The last heartbeat.
    pub beat: Instant,
    /// What the loop was doing then.
    pub activity: Activity,
    /// The one-line error of its last failed run or start-up, until a run succeeds.
    pub last_error: Option<String>,
}

/// Why `/health` fails.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unhealthy {
    /// An account's loop went without a heartbeat for longer than the bound.
    Stuck {
        /// The account.
        account: String,
        /// For how long.
        silent: Duration,
        /// The bound.
        bound: Duration,
    },
    /// Every account's loop ended.
    Ended,
}

impl std::fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unhealthy::Stuck { account, silent, bound } => write!(
                f,
                "the run loop of account {account} is stuck: no progress for {}s (bound {}s)",
                silent.as_secs(),
                bound.as_secs()
            ),
            Unhealthy::Ended => f.write_str("the run loop has ended"),
        }
    }
}

#[derive(Debug)]
struct Inner {
    accounts: Mutex<Vec<AccountView>>,
    stall: Duration,
}

/// The run loop's state, shared with the status server. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Monitor {
    inner: Arc<Inner>,
}

impl Monitor {
    /// The state of `accounts`, every one working from now; a loop silent for longer than
    /// `stall` while working is stuck.
    pub fn new(accounts: &[Account], stall: Duration) -> Self {
        let now = Instant::now();
        let accounts = accounts
            .iter()
            .map(|a| AccountView {
                account: a.clone(),
                stream: None,
                client: None,
                beat: now,
                activity: Activity::Working,
                last_error: None,
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                accounts: Mutex::new(accounts),
                stall,
            }),
        }
    }

    /// The bound of [`health`](Self::health).
    pub fn stall_bound(&self) -> Duration {
        self.inner.stall
    }

    /// Every account, as last told (a copy: no lock is held afterwards).
    pub fn accounts(&self) -> Vec<AccountView> {
        self.lock().clone()
    }

    /// The handle of the `i`-th account's loop.
    pub fn account(&self, i: usize) -> AccountMonitor {
        AccountMonitor {
            monitor: self.clone(),
            i,
        }
    }

    /// Whether the loops run at `now`: an account working and silent for longer than the bound,
    /// or asleep that long past its wake-up, is stuck; every loop ended is not healthy either.
    pub fn health(&self, now: Instant) -> Result<(), Unhealthy> {
        health_of(&self.lock(), now, self.inner.stall)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<AccountView>> {
        self.inner.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, i: usize, f: impl FnOnce(&mut AccountView)) {
        if let Some(a) = self.lock().get_mut(i) {
            f(a);
        }
    }
}

fn health_of(accounts: &[AccountView], now: Instant, stall: Duration) -> Result<(), Unhealthy> {
    if !accounts.is_empty() && accounts.iter().all(|a| a.activity == Activity::Ended) {
        return Err(Unhealthy::Ended);
    }
    for a in accounts {
        let silent = match a.activity {
            Activity::Working => now.saturating_duration_since(a.beat),
            Activity::Sleeping { until } => now.saturating_duration_since(until),
            Activity::WaitingForLease | Activity::Ended => Duration::ZERO,
        };
        if silent > stall {
            return Err(Unhealthy::Stuck {
                account: a.account.name.clone(),
                silent,
                bound: stall,
            });
        }
    }
    Ok(())
}

/// One account's loop, telling the [`Monitor`].
#[derive(Debug, Clone)]
pub struct AccountMonitor {
    monitor: Monitor,
    i: usize,
}

impl AccountMonitor {
    /// A heartbeat: working now.
    pub fn beat(&self) {
        self.set(Activity::Working);
    }

    /// Sleeping until the next run, due `for_` from now.
    pub fn sleeping(&self, for_: Duration) {
        let now = Instant::now();
        self.set(Activity::Sleeping { until: now + for_ });
    }

    /// Waiting for another runner's lease.
    pub fn waiting_for_lease(&self) {
        self.set(Activity::WaitingForLease);
    }

    /// The loop ended.
    pub fn ended(&self) {
        self.set(Activity::Ended);
    }

    /// Connected: its live stream and client.
    pub fn connected(&self, stream: &StreamId, client: &Client) {
        let (stream, client) = (stream.clone(), client.clone());
        self.monitor.update(self.i, |a| {
            a.stream = Some(stream);
            a.client = Some(client);
            a.beat = Instant::now();
            a.activity = Activity::Working;
        });
    }

    /// A run or the start-up failed with `error` (kept as one line).
    pub fn failed(&self, error: &str) {
        let line = refund_sink_mysql::run_history::error_line(error);
        self.monitor.update(self.i, |a| a.last_error = Some(line));
    }

    /// A run ended without failing.
    pub fn succeeded(&self) {
        self.monitor.update(self.i, |a| a.last_error = None);
    }

    /// `hook`, beating at every page and commit too.
    pub fn progress_hook(&self, hook: ProgressHook) -> ProgressHook {
        let me = self.clone();
        Arc::new(move |p| {
            me.beat();
            hook(p);
        })
    }

    fn set(&self, activity: Activity) {
        self.monitor.update(self.i, |a| {
            a.beat = Instant::now();
            a.activity = activity;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RouteSpec, SimSettings};

    fn account(name: &str) -> Account {
        Account {
            name: name.into(),
            route: RouteSpec::Simulator(SimSettings::default()),
            rate_limit: None,
            start: chrono::NaiveDateTime::default(),
            page_size: 100,
            layout: refund_sink_mysql::Layout::Flat,
            write_mode: refund_sink_mysql::WriteMode::Upsert,
            table_prefix: String::new(),
            stream_account: None,
        }
    }

    fn view(activity: Activity, beat: Instant) -> AccountView {
        AccountView {
            account: account("shop_a"),
            stream: None,
            client: None,
            beat,
            activity,
            last_error: None,
        }
    }

    #[test]
    fn a_loop_silent_past_the_bound_is_stuck_and_a_sleeping_one_is_not() {
        let stall = Duration::from_secs(600);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let working = [view(Activity::Working, t0)];
        assert_eq!(health_of(&working, at(600), stall), Ok(()));
        let e = health_of(&working, at(601), stall).unwrap_err();
        assert_eq!(
            e,
            Unhealthy::Stuck {
                account: "shop_a".into(),
                silent: Duration::from_secs(601),
                bound: stall
            }
        );
        assert!(e.to_string().contains("account shop_a is stuck"), "{e}");
        // Asleep for an hour between runs: healthy until the bound passes the wake-up.
        let sleeping = [view(Activity::Sleeping { until: at(3600) }, t0)];
        assert_eq!(health_of(&sleeping, at(3600 + 600), stall), Ok(()));
        assert!(health_of(&sleeping, at(3600 + 601), stall).is_err());
        let waiting = [view(Activity::WaitingForLease, t0)];
        assert_eq!(health_of(&waiting, at(86_400), stall), Ok(()));
        let ended = [view(Activity::Ended, t0)];
        assert_eq!(health_of(&ended, at(1), stall), Err(Unhealthy::Ended));
        let one_ended = [view(Activity::Ended, t0), view(Activity::Working, at(100))];
        assert_eq!(health_of(&one_ended, at(200), stall), Ok(()));
    }

    #[test]
    fn the_loop_beats_through_its_handle() {
        let m = Monitor::new(&[account("a"), account("b")], Duration::from_secs(600));
        m.account(1).sleeping(Duration::from_secs(60));
        m.account(0).failed("cannot connect:\nrefused by mysql://u:pw@h/db");
        let accounts = m.accounts();
        assert!(matches!(accounts[1].activity, Activity::Sleeping { .. }));
        let e = accounts[0].last_error.as_deref().unwrap();
        assert!(!e.contains('\n') && !e.contains("pw"), "{e}");
        m.account(0).succeeded();
        assert_eq!(m.accounts()[0].last_error, None);
        assert_eq!(m.health(Instant::now()), Ok(()));
    }
}
