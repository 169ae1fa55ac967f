//! The config file as written: TOML tables with every key optional, unknown keys refused.
//!
//! Durations, times and names of routes, layouts and write modes are kept as text here and
//! checked by [`resolve`](super::resolve()), which names the key, the value and the fix.

use std::path::Path;

use serde::Deserialize;

use crate::error::AppError;

/// A whole config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[mysql]`: the database every account writes into.
    #[serde(default)]
    pub mysql: MysqlFile,
    /// `[schedule]`: when and how far runs read.
    #[serde(default)]
    pub schedule: ScheduleFile,
    /// `[http]`: the status page, health checks and metrics.
    #[serde(default)]
    pub http: HttpFile,
    /// `[defaults]`: account keys that every `[[account]]` inherits.
    #[serde(default)]
    pub defaults: AccountFile,
    /// `[[account]]`: one block per WDT account.
    #[serde(default)]
    pub account: Vec<AccountFile>,
    /// `[alerts]`: the robot alerts are posted to.
    #[serde(default)]
    pub alerts: AlertsFile,
    /// `[[tables]]`: the file's own mapping (your own tables), written by every account that
    /// has no `mapping` key and no built-in `layout`.
    #[serde(default)]
    pub tables: Vec<refund_sink_mysql::mapping::TableSpec>,
}

/// `[alerts]`: a DingTalk or WeCom robot. Its webhook (it carries the robot's token) and its
/// secret are named by an env var or a file, never written here.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsFile {
    /// `dingtalk` or `wecom` (default: from the webhook's host).
    pub robot: Option<String>,
    /// Refused: the webhook carries the robot's token.
    pub webhook: Option<Refused>,
    /// The env var holding the webhook URL.
    pub webhook_env: Option<String>,
    /// A file holding the webhook URL.
    pub webhook_file: Option<String>,
    /// Refused: a secret is never written in the file.
    pub secret: Option<Refused>,
    /// The env var holding a DingTalk robot's signing secret (加签).
    pub secret_env: Option<String>,
    /// A file holding a DingTalk robot's signing secret.
    pub secret_file: Option<String>,
    /// The shortest time between two alerts about one condition of a stream (`1h`).
    pub repeat: Option<String>,
}

/// A value written under a secret's own key (`app_secret = "…"`): only its presence is kept,
/// to be refused; the value is dropped as it is read. `Debug` shows `[hidden]`.
#[derive(Clone)]
pub struct Refused;

impl<'de> Deserialize<'de> for Refused {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Refused)
    }
}

impl std::fmt::Debug for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[hidden]")
    }
}

/// `[mysql]`. `Debug` shows the URL redacted.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlFile {
    /// The URL, without a password (`mysql://user@host:3306/db`).
    pub url: Option<String>,
    /// The env var that holds the URL (for a URL with a password).
    pub url_env: Option<String>,
    /// A file that holds the URL (a Kubernetes secret).
    pub url_file: Option<String>,
    /// Longest wait per operation (`120s`).
    pub timeout: Option<String>,
    /// How long a lost connection is retried (`2m`).
    pub retry_budget: Option<String>,
    /// Create missing tables (default true).
    pub create_tables: Option<bool>,
    /// The most MySQL connections the process holds at once, all accounts together (default 10).
    pub pool_size: Option<usize>,
}

impl std::fmt::Debug for MysqlFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlFile")
            .field("url", &self.url.as_deref().map(refund_sink_mysql::redact_url))
            .field("url_env", &self.url_env)
            .field("url_file", &self.url_file)
            .field("timeout", &self.timeout)
            .field("retry_budget", &self.retry_budget)
            .field("create_tables", &self.create_tables)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// `[schedule]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFile {
    /// Run every interval (`5m`); absent: once.
    pub every: Option<String>,
    /// Settle lag (`1m`).
    pub lag: Option<String>,
    /// Re-read before the checkpoint (`1m`).
    pub overlap: Option<String>,
    /// Longest window of one query (`29days`).
    pub max_window: Option<String>,
    /// The lag above which a stream counts as stalled (`20m`; default 3 × every + lag).
    pub max_lag: Option<String>,
    /// Read archived refunds (`Refund.searchHistory`) too (default true).
    pub history: Option<bool>,
    /// How often the recent archive is read (`1day`).
    pub history_every: Option<String>,
    /// How far back that read reaches (`30days`).
    pub archive_horizon: Option<String>,
    /// How often a scheduled run verifies each account against WDT (`1d`); absent: never.
    pub verify_every: Option<String>,
    /// How many days before the live checkpoint that verify covers (default 7).
    pub verify_days: Option<u32>,
    /// Re-sync what that verify finds differing (default false).
    pub verify_repair: Option<bool>,
}

/// `[http]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFile {
    /// The address of the status page, `/health`, `/ready`, `/api/streams` and `/metrics`
    /// (`127.0.0.1:9000`); absent: not served.
    pub addr: Option<String>,
}

/// `[[account]]` and `[defaults]`: every key optional; an account's keys override the defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountFile {
    /// The account's name (letters, digits, `_`, `-`, `.`): its checkpoint stream and its label.
    pub name: Option<String>,
    /// `qimen`, `native` or `simulator`.
    pub route: Option<String>,
    /// Where the first run starts (Beijing time, `yyyy-MM-dd HH:mm:ss`).
    pub start: Option<String>,
    /// Page size, 1..=200.
    pub page_size: Option<u32>,
    /// `flat`, `normalized`, `both` or `mapping`.
    pub layout: Option<String>,
    /// The account's own tables: a mapping file (relative to the config file), or a list of
    /// them and of `preset:flat` / `preset:normalized`.
    pub mapping: Option<MappingFiles>,
    /// `upsert`, `replace` or `insert`.
    pub write_mode: Option<String>,
    /// A prefix for every table of this account.
    pub table_prefix: Option<String>,
    /// Requests per second.
    pub rate_limit: Option<f64>,
    /// Requests allowed at once after a pause (the token bucket's burst).
    pub burst: Option<u32>,
    /// Requests in flight at once.
    pub max_in_flight: Option<u32>,
    /// `[account.qimen]`: the Qimen app (route `qimen`).
    pub qimen: Option<QimenFile>,
    /// `[account.wdt]`: the WDT account (routes `qimen` and `native`).
    pub wdt: Option<WdtFile>,
    /// `[account.simulator]`: the generated data set (route `simulator`).
    pub simulator: Option<SimulatorFile>,
}

/// `mapping = "file.toml"` or `mapping = ["preset:flat", "file.toml"]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum MappingFiles {
    /// One file or preset.
    One(String),
    /// Several, their tables in order.
    Many(Vec<String>),
}

impl MappingFiles {
    /// The entries in order.
    pub fn entries(&self) -> Vec<String> {
        match self {
            MappingFiles::One(s) => vec![s.clone()],
            MappingFiles::Many(v) => v.clone(),
        }
    }
}

/// `[account.qimen]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QimenFile {
    /// The gateway URL.
    pub url: Option<String>,
    /// The Qimen app key.
    pub app_key: Option<String>,
    /// Refused: a secret is never written in the file.
    pub app_secret: Option<Refused>,
    /// The env var holding the Qimen app secret.
    pub app_secret_env: Option<String>,
    /// A file holding the Qimen app secret.
    pub app_secret_file: Option<String>,
    /// The target app key (default WDT Ultimate's).
    pub target_app_key: Option<String>,
    /// `md5`, `hmac` or `hmac-sha256`.
    pub sign_method: Option<String>,
}

/// `[account.wdt]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WdtFile {
    /// The native open API URL (route `native`).
    pub url: Option<String>,
    /// The seller account.
    pub sid: Option<String>,
    /// The WDT app key.
    pub app_key: Option<String>,
    /// Refused: a secret is never written in the file.
    pub app_secret: Option<Refused>,
    /// The env var holding the app secret (`secret:salt`).
    pub app_secret_env: Option<String>,
    /// A file holding the app secret (`secret:salt`).
    pub app_secret_file: Option<String>,
}

/// `[account.simulator]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorFile {
    /// Refunds generated.
    pub refunds: Option<usize>,
    /// Seed of the data set.
    pub seed: Option<u64>,
    /// Latest `modified` of the data (Beijing time).
    pub until: Option<String>,
    /// Latency of every answer (`20ms`).
    pub latency: Option<String>,
    /// Archive refunds in a final status once their last change is this old (`30days`).
    pub archive_after: Option<String>,
}

/// Fills every key `self` leaves unset from `defaults`.
trait Inherit {
    fn inherit(self, defaults: &Self) -> Self;
}

macro_rules! inherit_fields {
    ($t:ty { $($plain:ident),* } { $($nested:ident),* }) => {
        impl Inherit for $t {
            fn inherit(self, d: &Self) -> Self {
                Self {
                    $($plain: self.$plain.or_else(|| d.$plain.clone()),)*
                    $($nested: match (self.$nested, &d.$nested) {
                        (Some(a), Some(b)) => Some(a.inherit(b)),
                        (a, b) => a.or_else(|| b.clone()),
                    },)*
                }
            }
        }
    };
}

inherit_fields!(QimenFile { url, app_key, app_secret, app_secret_env, app_secret_file, target_app_key, sign_method } {});
inherit_fields!(WdtFile { url, sid, app_key, app_secret, app_secret_env, app_secret_file } {});
inherit_fields!(SimulatorFile { refunds, seed, until, latency, archive_after } {});
inherit_fields!(AccountFile {
    name, route, start, page_size, layout, mapping, write_mode, table_prefix, rate_limit, burst, max_in_flight
} { qimen, wdt, simulator });

impl AccountFile {
    /// This account with every key it leaves unset taken from `[defaults]`.
    pub fn with_defaults(self, defaults: &AccountFile) -> AccountFile {
        self.inherit(defaults)
    }
}

impl ConfigFile {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, AppError> {
        let text = std::fs::read_to_string(path).map_err(|source| AppError::ConfigRead {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text` (read from `path`, which errors name).
    pub fn parse(path: &Path, text: &str) -> Result<Self, AppError> {
        parse_toml(path, text)
    }
}

/// Parses TOML `text` read from `path` (a config or mapping file); a syntax error names the
/// file, the line and the key, never the value.
pub fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, AppError> {
    toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start).min(text.len());
        let line = text[..at].matches('\n').count() + 1;
        AppError::ConfigSyntax {
            path: path.to_owned(),
            line,
            key: key_of(text.lines().nth(line - 1).unwrap_or_default()),
            message: e.message().trim().replace('\n', " "),
        }
    })
}

/// What a line names: the key of `key = value`, or a `[table]` header; never the value, which
/// may be a secret written under a mistyped key.
fn key_of(line: &str) -> String {
    let line = line.trim();
    let key = match line.split_once('=') {
        Some((k, _)) => k.trim(),
        None if line.starts_with('[') => line.split('#').next().unwrap_or_default().trim(),
        None => "",
    };
    key.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, String> {
        ConfigFile::parse(Path::new("sync.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_line_and_name_and_never_its_value() {
        let e = parse("[[account]]\nname = \"a\"\n[account.wdt]\napp_secrt = \"hunter2:salt\"\n").unwrap_err();
        assert!(
            e.starts_with("sync.toml:4: app_secrt: unknown field `app_secrt`"),
            "{e}"
        );
        assert!(e.contains("app_secret_env"), "the known keys are listed: {e}");
        assert!(!e.contains("hunter2"), "the value leaked: {e}");
        let e = parse("[mysql]\nurl = \"mysql://root@h/db\"\n[schedul]\nevery = \"5m\"\n").unwrap_err();
        assert!(e.starts_with("sync.toml:3: [schedul]: unknown field `schedul`"), "{e}");
    }

    #[test]
    fn debug_never_shows_a_secret_written_in_the_file() {
        let f = parse(
            "[mysql]\nurl = \"mysql://root:pw1234@h/db\"\n[[account]]\nname = \"a\"\n\
             [account.qimen]\napp_secret = \"hunter2\"\n[account.wdt]\napp_secret = \"hunter3:salt\"\n",
        )
        .unwrap();
        let debug = format!("{f:?}");
        assert!(
            !debug.contains("hunter") && !debug.contains("pw1234"),
            "a secret in Debug: {debug}"
        );
        assert!(f.account[0].qimen.as_ref().unwrap().app_secret.is_some());
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        let e = parse("[defaults]\npage_size = \"many\"\n").unwrap_err();
        assert!(
            e.starts_with("sync.toml:2: page_size: invalid type: string \"many\""),
            "{e}"
        );
    }

    #[test]
    fn an_account_inherits_every_key_it_leaves_unset() {
        let f = parse(
            "[defaults]\npage_size = 50\nroute = \"qimen\"\n[defaults.qimen]\napp_key = \"k\"\n\
             [[account]]\nname = \"a\"\npage_size = 20\n[account.qimen]\napp_secret_env = \"A\"\n",
        )
        .unwrap();
        let a = f.account[0].clone().with_defaults(&f.defaults);
        assert_eq!(a.page_size, Some(20));
        assert_eq!(a.route.as_deref(), Some("qimen"));
        let q = a.qimen.unwrap();
        assert_eq!(
            (q.app_key.as_deref(), q.app_secret_env.as_deref()),
            (Some("k"), Some("A"))
        );
    }
}
