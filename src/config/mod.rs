//! The settings a run uses, resolved from flags, env vars, the config file and the defaults
//! (in that order of precedence), and checked before anything is connected.

pub mod file;
pub mod resolve;
pub mod secret;
pub mod value;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::NaiveDateTime;
use refund_sink_mysql::{Layout, WriteMode};
use wdt_qimen::limit::RateLimitConfig;
use wdt_qimen::{QimenCredentials, WdtCredentials};

pub use file::ConfigFile;
pub use resolve::resolve;
pub use secret::{process_env, EnvLookup};

/// The default MySQL URL: the local server's `test` database.
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";
/// The default longest wait for MySQL per operation.
pub const DEFAULT_MYSQL_TIMEOUT: Duration = Duration::from_secs(120);
/// The default number of MySQL connections the process holds at most (all accounts share them).
pub const DEFAULT_MYSQL_POOL_SIZE: usize = refund_sink_mysql::pool::DEFAULT_POOL_SIZE;
/// The largest `mysql.pool_size` accepted.
pub const MAX_MYSQL_POOL_SIZE: usize = 1000;
/// The default time a lost MySQL connection is retried.
pub const DEFAULT_MYSQL_RETRY_BUDGET: Duration = Duration::from_secs(120);
/// The default start of a first run (Beijing time).
pub const DEFAULT_START: &str = "2024-01-01 00:00:00";
/// The default settle lag and overlap.
pub const DEFAULT_LAG: Duration = Duration::from_secs(60);
/// The default longest window.
pub const DEFAULT_MAX_WINDOW: Duration = Duration::from_secs(29 * 86_400);
/// The default of `schedule.archive_horizon`: how far back the periodic read of archived
/// refunds reaches.
pub const DEFAULT_ARCHIVE_HORIZON: Duration = Duration::from_secs(30 * 86_400);
/// The default of `schedule.history_every`: how often the recent archive is read.
pub const DEFAULT_HISTORY_EVERY: Duration = Duration::from_secs(86_400);
/// The default of `schedule.verify_days`: how many days a scheduled verify covers.
pub const DEFAULT_VERIFY_DAYS: u32 = 7;
/// The largest `schedule.verify_days` accepted (a verify is one small request per window and
/// method, but its range is counted again at every verify).
pub const MAX_VERIFY_DAYS: u32 = 3_650;
/// The default page size: the most the API allows (requests are what the quota counts).
pub const DEFAULT_PAGE_SIZE: u32 = 200;
/// The simulator's default data set size.
pub const DEFAULT_SIM_REFUNDS: usize = 3000;
/// The simulator's default seed.
pub const DEFAULT_SIM_SEED: u64 = 42;
/// The default shortest time between two alerts about one condition of a stream.
pub const DEFAULT_ALERT_REPEAT: Duration = Duration::from_secs(3600);
/// The interval `max_lag`'s default assumes for a run without `--every` (a run started by cron).
pub const ONCE_INTERVAL_FOR_MAX_LAG: Duration = Duration::from_secs(3600);

/// Everything a run needs, checked.
#[derive(Debug)]
#[non_exhaustive]
pub struct Plan {
    /// The database every account writes into.
    pub mysql: MysqlSettings,
    /// When and how far runs read.
    pub schedule: Schedule,
    /// The status page and health checks.
    pub http: HttpSettings,
    /// Roll every transaction back and report what would change.
    pub dry_run: bool,
    /// The accounts, in the order given.
    pub accounts: Vec<Account>,
    /// True when the accounts come from a config file: reports and errors name each account.
    pub named: bool,
    /// Where alerts go.
    pub alerts: AlertSettings,
}

/// Where alerts go and how often.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AlertSettings {
    /// The robot; `None`: no alerts.
    pub robot: Option<RobotSettings>,
    /// The shortest time between two alerts about one condition of a stream.
    pub repeat: Duration,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            robot: None,
            repeat: DEFAULT_ALERT_REPEAT,
        }
    }
}

/// A robot's settings. `Debug` hides the webhook and the secret.
#[derive(Clone)]
#[non_exhaustive]
pub struct RobotSettings {
    /// DingTalk or WeCom.
    pub kind: crate::alert::RobotKind,
    /// The webhook URL (it carries the robot's token: never print it).
    pub webhook: String,
    /// A DingTalk robot's signing secret (加签).
    pub secret: Option<String>,
}

impl fmt::Debug for RobotSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RobotSettings")
            .field("kind", &self.kind)
            .field("webhook", &"[hidden]")
            .field("secret", &self.secret.as_ref().map(|_| "[hidden]"))
            .finish()
    }
}

impl RobotSettings {
    /// The robot these settings describe.
    pub fn robot(&self) -> crate::alert::Robot {
        crate::alert::Robot::new(self.kind, self.webhook.clone(), self.secret.clone())
    }
}

/// The MySQL settings. `Debug` shows the URL redacted.
#[derive(Clone)]
#[non_exhaustive]
pub struct MysqlSettings {
    /// The URL (it may hold a password: print [`redacted_url`](Self::redacted_url)).
    pub url: String,
    /// Longest wait per operation.
    pub timeout: Duration,
    /// How long a lost connection is retried.
    pub retry_budget: Duration,
    /// Create missing tables and apply migrations.
    pub create_tables: bool,
    /// The most connections the process holds at once: every account shares one pool.
    pub pool_size: usize,
}

impl MysqlSettings {
    /// The URL as it may be printed.
    pub fn redacted_url(&self) -> String {
        refund_sink_mysql::redact_url(&self.url)
    }

    /// The pool every account of the process shares (it connects when the first account's sink
    /// is opened).
    pub fn shared_pool(&self) -> refund_sink_mysql::SharedPool {
        refund_sink_mysql::SharedPool::new(self.url.clone(), self.pool_size)
    }
}

impl fmt::Debug for MysqlSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlSettings")
            .field("url", &self.redacted_url())
            .field("timeout", &self.timeout)
            .field("retry_budget", &self.retry_budget)
            .field("create_tables", &self.create_tables)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// The status page, health checks and metrics (`--http-addr`, `[http]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct HttpSettings {
    /// Where they are served; `None`: not served.
    pub addr: Option<SocketAddr>,
    /// `/ready` fails when a live stream lags more than this; `None`: no lag rule.
    pub max_lag: Option<Duration>,
}

/// When and how far runs read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Schedule {
    /// Run every interval; `None`: once.
    pub every: Option<Duration>,
    /// Settle lag.
    pub lag: Duration,
    /// Re-read before the checkpoint.
    pub overlap: Duration,
    /// Longest window of one query.
    pub max_window: Duration,
    /// The lag above which a stream counts as stalled (alerts; default 3 × every + lag).
    pub max_lag: Duration,
    /// Read archived refunds (`Refund.searchHistory`): on a first sync, in a backfill, and
    /// over the recent past once per `history_every`.
    pub history: bool,
    /// How often the recent archive is read.
    pub history_every: Duration,
    /// How far back that read reaches.
    pub archive_horizon: Duration,
    /// The scheduled verify of each account (`--verify-every`); `None`: none.
    pub verify: Option<VerifySchedule>,
}

/// The scheduled verify (`--verify-every`, `[schedule] verify_every`): each account's last
/// `days` days up to its live checkpoint, counted against WDT once per `every` (remembered
/// across restarts from the account's last row in `wdt_sync_verify`), after a live run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifySchedule {
    /// How often each account is verified.
    pub every: Duration,
    /// How many days before the live checkpoint the verify covers.
    pub days: u32,
    /// Re-sync the ranges that differ (`--verify-repair`).
    pub repair: bool,
}

impl VerifySchedule {
    /// Verifies the last `days` days every `every`, repairing with `repair`.
    pub fn new(every: Duration, days: u32, repair: bool) -> Self {
        Self { every, days, repair }
    }
}

/// One WDT account: its own client, limiter, checkpoint stream and tables.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Account {
    /// Its name (`default` for the single account of a run without a config file).
    pub name: String,
    /// Where its refunds are read.
    pub route: RouteSpec,
    /// Its rate limit; `None`: the client's default (the simulator: unlimited).
    pub rate_limit: Option<RateLimitConfig>,
    /// Where its first run starts (Beijing time).
    pub start: NaiveDateTime,
    /// Page size.
    pub page_size: u32,
    /// Tables written.
    pub layout: Layout,
    /// How rows are written.
    pub write_mode: WriteMode,
    /// Prefix of its table names.
    pub table_prefix: String,
    /// The `account` part of its checkpoint stream; `None`: the WDT `sid` (or, for the
    /// simulator, one per data set).
    pub stream_account: Option<String>,
}

/// Where an account's refunds are read.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RouteSpec {
    /// The Qimen gateway.
    Qimen {
        /// Gateway URL.
        url: String,
        /// The Qimen app.
        qimen: QimenCredentials,
        /// The WDT account.
        wdt: WdtCredentials,
    },
    /// The native open API.
    Native {
        /// Endpoint URL.
        url: String,
        /// The WDT account.
        wdt: WdtCredentials,
    },
    /// The built-in simulator.
    Simulator(SimSettings),
}

/// The simulator's data set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimSettings {
    /// Refunds generated.
    pub refunds: usize,
    /// Seed.
    pub seed: u64,
    /// Latest `modified`; `None`: an hour ago, on the hour.
    pub until: Option<NaiveDateTime>,
    /// Latency of every answer.
    pub latency: Duration,
    /// Refunds in a final status move to the archive (`Refund.searchHistory`) once their last
    /// change is this old; `None`: nothing is archived.
    pub archive_after: Option<Duration>,
}

impl Default for SimSettings {
    fn default() -> Self {
        Self {
            refunds: DEFAULT_SIM_REFUNDS,
            seed: DEFAULT_SIM_SEED,
            until: None,
            latency: Duration::ZERO,
            archive_after: None,
        }
    }
}
