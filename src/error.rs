//! [`AppError`]: everything the program can fail with, each saying what failed and what to do.

use std::path::PathBuf;

use refund_sink_mysql::SinkError;
use wdt_qimen::sync::SyncError;
use wdt_qimen::ErrorKind;

/// What a start-up, a check or a run of the program failed with.
///
/// `Display` is one line: what failed, and what to do about it. No variant holds a secret: MySQL
/// URLs are redacted, credentials and webhook URLs are never kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A setting (flag, env var or config file key) has a value that cannot be used.
    #[error("{key} = {value}: {problem}; fix: {fix}")]
    Setting {
        /// Where the value came from: `--page-size`, `schedule.every`, `account "shop_a": page_size`.
        key: String,
        /// The value as given (never a secret).
        value: String,
        /// What is wrong with it.
        problem: String,
        /// What to do.
        fix: String,
    },
    /// A required setting is missing.
    #[error("{key} is not set: {fix}")]
    Missing {
        /// The setting: an env var (`WDT_SID`) or a config file key.
        key: String,
        /// What to do.
        fix: String,
    },
    /// Two settings cannot be used together.
    #[error("{problem}; fix: {fix}")]
    Conflict {
        /// What collides with what.
        problem: String,
        /// What to do.
        fix: String,
    },
    /// The config file could not be read.
    #[error("cannot read the config file {}: {source}; fix: check the path given to --config", path.display())]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("{}:{line}: {}{message}; fix: see examples/sync.toml for every key", path.display(),
        if key.is_empty() { String::new() } else { format!("{key}: ") })]
    ConfigSyntax {
        /// The file.
        path: PathBuf,
        /// The line (from 1) of the problem.
        line: usize,
        /// The key (or `[table]`) on that line; never its value.
        key: String,
        /// The parser's message, which names the key or the expected type.
        message: String,
    },
    /// A secret named by a setting could not be read (its env var unset, its file unreadable).
    #[error("{key}: {problem}; fix: {fix}")]
    Secret {
        /// The setting naming the secret (`account "shop_a": wdt.app_secret_env`).
        key: String,
        /// What went wrong (never the secret).
        problem: String,
        /// What to do.
        fix: String,
    },
    /// Credentials or another SDK setting were refused by the SDK.
    #[error("{context}: {source}")]
    Sdk {
        /// What was being set up (`account "shop_a"`, `the simulator's client`).
        context: String,
        /// The SDK's error, which names the field and the fix.
        #[source]
        source: Box<wdt_qimen::Error>,
    },
    /// The metrics recorder could not be installed.
    #[error("cannot record metrics: {detail}")]
    Metrics {
        /// The exporter's error.
        detail: String,
    },
    /// The `--http-addr` server could not listen.
    #[error("cannot serve the status page on {addr}: {detail}; fix: choose a free address with --http-addr")]
    HttpListen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The system's error.
        detail: String,
    },
    /// MySQL could not be used at start-up (connect, server settings, tables).
    #[error("cannot use MySQL at {url}: {detail}{}", start_hint(source))]
    MysqlStart {
        /// The URL, redacted.
        url: String,
        /// The sink's error with its causes.
        detail: String,
        /// The sink's error.
        #[source]
        source: Box<SinkError>,
    },
    /// A mapping (your own tables) was refused: which account or file, and the table, column,
    /// problem and fix.
    #[error("{key}: {source}")]
    Mapping {
        /// Where the mapping came from (`account "shop_a": mapping`, a file).
        key: String,
        /// What is wrong.
        #[source]
        source: refund_sink_mysql::MappingError,
    },
    /// The built-in simulator was asked for, but this build has none.
    #[error(
        "the simulator route is not in this build (built without the `simulator` feature); fix: set QIMEN_APP_KEY or \
         WDT_SID (or route = \"qimen\"/\"native\"), or build with the default features"
    )]
    NoSimulator,
    /// A sync run failed.
    #[error("{}", explain_sync(source, mysql_url))]
    Sync {
        /// The MySQL URL, redacted.
        mysql_url: String,
        /// The engine's error.
        #[source]
        source: Box<SyncError<SinkError>>,
    },
    /// Some checks of `check` failed (each said why on its own line).
    #[error("{failed} of {total} checks failed; fix: see the FAIL lines above")]
    ChecksFailed {
        /// Checks that failed.
        failed: usize,
        /// Checks made.
        total: usize,
    },
    /// A second Ctrl-C / SIGTERM abandoned the commit in progress.
    #[error("stopped by a second signal; the commit in progress was rolled back")]
    Abandoned,
    /// The stream's lease was lost while the run lasted (taken over by another runner after it
    /// was not renewed in time); the run stopped, and its commits after the loss were refused.
    #[error(
        "the lease of stream {stream} was lost mid-run ({loss}); the run stopped and nothing was committed after the \
         loss; fix: check that MySQL answers within --lease-ttl, or raise --lease-ttl"
    )]
    LeaseLost {
        /// The stream.
        stream: String,
        /// How it was lost.
        loss: String,
    },
    /// An account's sync panicked (a bug): that account failed, the others went on.
    #[error("the sync panicked during {during}: {message}; fix: this is a bug, please report it with this line")]
    Panicked {
        /// What the account was doing (`the run`, `its task`).
        during: &'static str,
        /// The panic's message, on one line.
        message: String,
    },
    /// A gateway request of `verify` failed, or its answer cannot be counted.
    #[error("verify of account {account:?}: {detail}; fix: {fix}")]
    Verify {
        /// The account.
        account: String,
        /// What failed (the request's error, or what the answer lacks).
        detail: String,
        /// What to do.
        fix: String,
    },
    /// One or more accounts failed (each said why on its own line).
    #[error("{} of {total} accounts failed: {}; fix: see each account's line above", failed.len(), failed.join(", "))]
    AccountsFailed {
        /// The names of the accounts that failed.
        failed: Vec<String>,
        /// How many accounts ran.
        total: usize,
    },
}

impl AppError {
    /// A [`AppError::Setting`].
    pub fn setting(
        key: impl Into<String>,
        value: impl std::fmt::Display,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::Setting {
            key: key.into(),
            value: value.to_string(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// A [`AppError::Missing`].
    pub fn missing(key: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::Missing {
            key: key.into(),
            fix: fix.into(),
        }
    }

    /// The error for a panic caught during `during`, with the panic's message on one line
    /// (at most 300 characters).
    pub fn panicked(during: &'static str, payload: &(dyn std::any::Any + Send)) -> Self {
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_owned());
        let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut message: String = one_line.chars().take(300).collect();
        if message.len() < one_line.len() {
            message.push('…');
        }
        Self::Panicked { during, message }
    }

    /// True for errors of the configuration (flags, env vars, the config file): nothing was
    /// attempted, and the exit status is [`EXIT_USAGE`](crate::app::EXIT_USAGE).
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            Self::Setting { .. }
                | Self::Missing { .. }
                | Self::Conflict { .. }
                | Self::ConfigRead { .. }
                | Self::ConfigSyntax { .. }
                | Self::Secret { .. }
                | Self::Sdk { .. }
                | Self::Mapping { .. }
                | Self::NoSimulator
        )
    }
}

/// An error with its causes, each said once: `a: b: c`.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = c.source();
    }
    out
}

/// What to do when MySQL could not be reached at all.
fn start_hint(e: &SinkError) -> &'static str {
    match e {
        SinkError::Mysql { .. } | SinkError::Timeout { .. } | SinkError::ConnectionLost { .. } => {
            " (start MariaDB, e.g. `start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- \
             --user=mysql`, or set MYSQL_URL)"
        }
        SinkError::MissingTable { .. } => {
            " (the program creates missing tables unless --no-create-tables or mysql.create_tables = false is set)"
        }
        _ => "",
    }
}

/// One line for a failed request to the gateway.
pub fn explain_api(e: &wdt_qimen::Error) -> String {
    if e.kind() == ErrorKind::Auth {
        format!("authentication failed: {e}")
    } else {
        chain(e)
    }
}

/// One line for a failed sync run: what failed and what to do.
fn explain_sync(e: &SyncError<SinkError>, mysql_url: &str) -> String {
    match e {
        SyncError::Api(api) if api.kind() == ErrorKind::Auth => explain_api(api),
        SyncError::Sink(s) => format!("MySQL at {mysql_url} failed: {}", chain(s)),
        other => chain(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_errors_name_the_key_the_value_and_the_fix() {
        let e = AppError::setting(
            "schedule.every",
            "\"5 mins\"",
            "not a duration",
            "write it as 90s, 5m or 1h",
        );
        assert_eq!(
            e.to_string(),
            "schedule.every = \"5 mins\": not a duration; fix: write it as 90s, 5m or 1h"
        );
        assert!(e.is_config());
        let failed = AppError::AccountsFailed {
            failed: vec!["shop_b".into()],
            total: 2,
        };
        assert!(
            failed.to_string().starts_with("1 of 2 accounts failed: shop_b"),
            "{failed}"
        );
        assert!(!failed.is_config());
    }
}
