//! The sink's one error type, [`SinkError`], and its retry classification.

use std::error::Error as StdError;

use std::time::Duration;

/// Server error codes that mean "the transaction lost a race; run it again".
const LOCK_RACE_CODES: &[u16] = &[
    1205, // ER_LOCK_WAIT_TIMEOUT
    1213, // ER_LOCK_DEADLOCK
];

/// Server error codes that mean "this connection is gone; reconnect and run it again".
const CONNECTION_CODES: &[u16] = &[
    1053, // ER_SERVER_SHUTDOWN (the server is stopping)
    1927, // ER_CONNECTION_KILLED (MariaDB)
    2006, // CR_SERVER_GONE_ERROR
    2013, // CR_SERVER_LOST
    4031, // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8: disconnected for inactivity)
];

/// Everything that can go wrong in [`MySqlSink`](crate::MySqlSink).
///
/// Retry decisions go through [`SinkError::is_retryable`]; the sink itself already retries a
/// commit on those errors, so a caller that sees one got it after the retries ran out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The table prefix is not a safe identifier part.
    #[error(
        "invalid table prefix {value:?}: {problem}; use at most {max} ASCII letters, digits or \
         underscores (for example `shop1_`)"
    )]
    InvalidPrefix {
        /// The prefix as given.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
        /// The longest prefix accepted.
        max: usize,
    },

    /// The connection URL could not be parsed (the password is not shown).
    #[error("invalid MySQL URL {url}")]
    InvalidUrl {
        /// The URL with its password replaced by `***`.
        url: String,
        /// The parser's complaint.
        #[source]
        source: mysql_async::UrlError,
    },

    /// A builder setting or the URL asks for something the sink cannot do.
    #[error("invalid configuration: {problem}; fix: {fix}")]
    InvalidConfig {
        /// What is wrong.
        problem: String,
        /// What to change.
        fix: String,
    },

    /// The server is older than the sink supports.
    #[error("unsupported server `{version}`: {reason}")]
    UnsupportedServer {
        /// `SELECT VERSION()` as returned.
        version: String,
        /// Why it is not supported.
        reason: &'static str,
    },

    /// A table the sink needs is missing and creating tables is switched off.
    #[error("table {table} does not exist; fix: {fix}")]
    MissingTable {
        /// The table (quoted).
        table: String,
        /// What to do about it.
        fix: String,
    },

    /// An existing table does not fit what the sink writes.
    #[error("table {table}, column {column}: {problem}; fix: {fix}")]
    SchemaMismatch {
        /// The table (quoted).
        table: String,
        /// The column (quoted), or `(primary key)`.
        column: String,
        /// What does not fit.
        problem: String,
        /// The statement or action that fixes it.
        fix: String,
    },

    /// The database holds a schema version newer than this build knows.
    #[error(
        "schema version {found} in {table} is newer than this build supports ({supported}); \
         fix: upgrade refund-sink-mysql, or use another table prefix"
    )]
    SchemaTooNew {
        /// The schema-version table (quoted).
        table: String,
        /// The version found.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },

    /// The MySQL user lacks a privilege the sink needs for what it was doing.
    #[error("the MySQL user {user} lacks the {privilege} privilege on {object} (while {during}); fix: {fix}")]
    PrivilegeMissing {
        /// The privilege (`CREATE`, `ALTER`, `INSERT`, …), as far as the server said.
        privilege: String,
        /// The account, `'name'@'host'`.
        user: String,
        /// The table or database the server named.
        object: String,
        /// What the sink was doing.
        during: &'static str,
        /// The `GRANT` that fixes it, or the way around it.
        fix: String,
        /// The server's error.
        #[source]
        source: Box<mysql_async::Error>,
    },

    /// A table has an older shape than this build writes and the sink may not change it
    /// (creating tables is off).
    #[error("table {table} needs schema migration {version} ({description}); fix: {fix}")]
    MigrationNeeded {
        /// The table (quoted).
        table: String,
        /// The migration's version.
        version: u32,
        /// What it does.
        description: &'static str,
        /// The statements to run as an administrator, or the way to let the sink run them.
        fix: String,
    },

    /// A data table of the shape before schema version 4 holds rows, and the sink cannot tell
    /// which account they belong to (`wdt_sync_state` names none, or several, for the table).
    #[error(
        "table {table} holds rows without an account and {found}, so the sink cannot tell whose they are; fix: {fix}"
    )]
    MigrationAccountUnknown {
        /// The table (quoted).
        table: String,
        /// What the sink found (the accounts the state table names for it, or none).
        found: String,
        /// The statement that says which account the rows belong to, or the builder option.
        fix: String,
    },

    /// A statement failed on the server or the connection failed.
    #[error("MySQL error while {during}")]
    Mysql {
        /// What the sink was doing.
        during: &'static str,
        /// The driver's error.
        #[source]
        source: mysql_async::Error,
    },

    /// `insert` mode met a key that is already stored; the batch is rolled back.
    #[error("duplicate key in table {table} (write mode `insert`): {detail}")]
    Duplicate {
        /// The table (quoted).
        table: String,
        /// The server's message, naming the key.
        detail: String,
    },

    /// A bulk write did not account for every row it was given; the batch is rolled back.
    #[error("write into {table} did not add up: {detail}")]
    Inconsistent {
        /// The table (quoted).
        table: String,
        /// Expected and reported counts.
        detail: String,
    },

    /// More records were dead-lettered in this run than allowed; the batch is rolled back.
    #[error(
        "dead-letter limit reached: {total} dead letters in this run, limit {limit} (first: \
         {sample}); fix the cause, or raise `max_dead_letters`"
    )]
    DeadLetterLimit {
        /// The configured limit.
        limit: u64,
        /// Dead letters of this run including the rejected batch.
        total: u64,
        /// Key and reason of the first dead letter of the rejected batch.
        sample: String,
    },

    /// A refund could not be mapped to rows (only from [`crate::tsv`]; the sink dead-letters it).
    #[error("record {key} cannot be written: {reason}")]
    Unmappable {
        /// The record's key.
        key: String,
        /// Why.
        reason: String,
    },

    /// The before-commit hook (a test seam) failed; the batch is rolled back.
    #[error("before-commit hook failed")]
    Hook(#[source] Box<dyn StdError + Send + Sync + 'static>),

    /// A retryable error kept coming back.
    #[error("gave up after {attempts} attempts")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        #[source]
        last: Box<SinkError>,
    },

    /// The server did not answer in time; the connection was closed (the server rolls back a
    /// transaction whose connection closes, so nothing of it is kept).
    #[error(
        "MySQL did not answer within {after:?} while {during}; the connection was closed; fix: \
         check that the server is up and reachable, or raise the sink's `timeout` \
         (MySqlSinkBuilder::timeout, above the server's innodb_lock_wait_timeout)"
    )]
    Timeout {
        /// What the sink was doing.
        during: &'static str,
        /// The timeout that ran out.
        after: Duration,
    },

    /// The connection kept failing (server restart, failover, network) for longer than the
    /// reconnect budget.
    #[error(
        "the MySQL connection kept failing for {elapsed:?} ({attempts} attempts, budget {budget:?}); \
         fix: check that the server is up and reachable, or raise the sink's \
         `connection_retry_budget`"
    )]
    ConnectionLost {
        /// Attempts made.
        attempts: u32,
        /// Time from the first connection failure to giving up.
        elapsed: Duration,
        /// The configured budget.
        budget: Duration,
        /// The last error.
        #[source]
        last: Box<SinkError>,
    },

    /// The TLS handshake with the server failed (a certificate that does not verify, a server
    /// without TLS, an unreadable CA file).
    #[error("TLS with MySQL at {url} failed: {detail}; fix: {fix}")]
    Tls {
        /// The URL without its password.
        url: String,
        /// What went wrong.
        detail: String,
        /// What to change.
        fix: String,
    },

    /// [`MySqlSink::abandon`](crate::MySqlSink::abandon) was called: the commit in flight was
    /// dropped with its connection (the server rolls its transaction back) and no new one starts.
    #[error("the commit was abandoned (second shutdown signal); its transaction is rolled back")]
    Abandoned,

    /// The stream's [lease](crate::lease::Lease) is no longer this runner's: it expired
    /// without a renewal, or another runner took it over. A batch committed through the sink
    /// that held it is rolled back; stop the run (the stream has another runner, or will).
    #[error(
        "the lease of stream {stream} is lost: {loss}; fix: stop this run and let the other runner          go on; if runs stall longer than the lease's ttl, keep it alive (Lease::keep_alive) or          raise the ttl"
    )]
    LeaseLost {
        /// The stream (`account/method`).
        stream: String,
        /// How it was lost.
        loss: Box<crate::lease::LeaseLoss>,
    },
}

impl SinkError {
    /// Wraps a driver error with what the sink was doing; a refused privilege becomes
    /// [`SinkError::PrivilegeMissing`].
    pub(crate) fn mysql(during: &'static str) -> impl FnOnce(mysql_async::Error) -> SinkError {
        move |source| privilege_missing(during, None, source)
    }

    /// Like [`SinkError::mysql`] for a DDL statement that needs `privilege` (the server does not
    /// always name it, e.g. "access denied to database").
    pub(crate) fn ddl(during: &'static str, privilege: &'static str) -> impl FnOnce(mysql_async::Error) -> SinkError {
        move |source| privilege_missing(during, Some(privilege), source)
    }

    /// True for errors that a fresh attempt of the whole transaction can cure: a lost lock race
    /// ([`is_lock_race`](Self::is_lock_race)) or a lost connection
    /// ([`is_connection_error`](Self::is_connection_error)).
    pub fn is_retryable(&self) -> bool {
        self.is_lock_race() || self.is_connection_error()
    }

    /// Deadlock (1213) or lock wait timeout (1205): the transaction lost a race with another
    /// one. Retried up to `max_retries` times.
    pub fn is_lock_race(&self) -> bool {
        matches!(self.server_code(), Some(code) if LOCK_RACE_CODES.contains(&code))
    }

    /// The connection is gone or never came up: I/O errors (connection refused or reset while
    /// the server restarts), server gone away (2006), lost connection (2013), connection killed
    /// (1927), server shutdown (1053), disconnected for inactivity (4031), and the sink's own
    /// [`Timeout`](Self::Timeout). Retried on a new connection for `connection_retry_budget`.
    /// TLS failures are not: a certificate does not start to verify by itself.
    pub fn is_connection_error(&self) -> bool {
        match self {
            SinkError::Mysql { source, .. } => driver_error_is_connection(source),
            SinkError::Timeout { .. } => true,
            _ => false,
        }
    }

    /// True when a stream's lease was lost ([`SinkError::LeaseLost`]): the run must stop.
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, SinkError::LeaseLost { .. })
    }

    /// The server error code, when the error came from the server.
    pub fn server_code(&self) -> Option<u16> {
        match self {
            SinkError::Mysql {
                source: mysql_async::Error::Server(e),
                ..
            } => Some(e.code),
            SinkError::PrivilegeMissing { source, .. } => match source.as_ref() {
                mysql_async::Error::Server(e) => Some(e.code),
                _ => None,
            },
            _ => None,
        }
    }
}

/// The text between `start` and the next `end` (or the end) in `s`, without quotes.
fn between<'a>(s: &'a str, start: &str, end: &[&str]) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let rest = &s[from..];
    let to = end.iter().filter_map(|e| rest.find(e)).min().unwrap_or(rest.len());
    Some(rest[..to].trim())
}

/// Builds [`SinkError::PrivilegeMissing`] from an access-denied server error (1142 table, 1143
/// column, 1044 database, 1227 global privilege), else [`SinkError::Mysql`]. `hint` names the
/// privilege when the server's message does not.
pub(crate) fn privilege_missing(
    during: &'static str,
    hint: Option<&'static str>,
    source: mysql_async::Error,
) -> SinkError {
    let mysql_async::Error::Server(e) = &source else {
        return SinkError::Mysql { during, source };
    };
    let msg = e.message.as_str();
    let (privilege, object) = match e.code {
        // "CREATE command denied to user 'u'@'h' for table `db`.`t`"
        1142 | 1143 => (
            hint.map(str::to_owned)
                .or_else(|| msg.split(" command denied").next().map(str::to_owned)),
            between(msg, " for table ", &[]).or_else(|| between(msg, " in table ", &[])),
        ),
        // "Access denied for user 'u'@'h' to database 'db'"
        1044 => (hint.map(str::to_owned), between(msg, " to database ", &[])),
        // "Access denied; you need (at least one of) the PROCESS privilege(s) for this operation"
        1227 => (
            between(msg, "the ", &[" privilege"]).map(str::to_owned),
            Some("the server"),
        ),
        _ => return SinkError::Mysql { during, source },
    };
    let privilege = privilege.unwrap_or_else(|| "needed".to_owned()).to_ascii_uppercase();
    let user = between(msg, " user ", &[" for ", " to "])
        .unwrap_or("(this user)")
        .to_owned();
    let object = object.unwrap_or("(the table)").replace('\'', "`");
    let database = object.split('.').next().unwrap_or("`db`").to_owned();
    let ddl = matches!(privilege.as_str(), "CREATE" | "ALTER" | "DROP" | "INDEX" | "REFERENCES");
    let fix = if ddl {
        format!(
            "GRANT {privilege} ON {database}.* TO {user}; or have an administrator create and migrate the \
             tables (refund_sink_mysql::schema::create_statements, or one run with creating tables on) and \
             run with --no-create-tables (`create_tables(false)`)"
        )
    } else {
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON {object} TO {user} (the sink needs all four on its tables)")
    };
    SinkError::PrivilegeMissing {
        privilege,
        user,
        object,
        during,
        fix,
        source: Box::new(source),
    }
}

/// True for a driver error that a fresh attempt can cure: a lost connection or a lost lock race.
pub(crate) fn driver_error_is_retryable(e: &mysql_async::Error) -> bool {
    driver_error_is_connection(e) || matches!(e, mysql_async::Error::Server(s) if LOCK_RACE_CODES.contains(&s.code))
}

/// True for a driver error that means the connection is gone.
fn driver_error_is_connection(e: &mysql_async::Error) -> bool {
    use mysql_async::{DriverError, Error, IoError};
    match e {
        Error::Server(s) => CONNECTION_CODES.contains(&s.code),
        // A certificate that does not verify comes as an I/O error too; it stays refused.
        Error::Io(IoError::Io(io)) => !io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()),
        Error::Driver(DriverError::ConnectionClosed) => true,
        Error::Driver(DriverError::PacketOutOfOrder) => true,
        _ => false,
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

    #[test]
    fn deadlock_lock_wait_and_lost_connection_are_retryable() {
        for code in [1213, 1205, 2006, 2013, 1927] {
            assert!(server(code).is_retryable(), "{code}");
        }
        let io = SinkError::Mysql {
            during: "testing",
            source: mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            ))),
        };
        assert!(io.is_retryable());
        let closed = SinkError::Mysql {
            during: "testing",
            source: mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed),
        };
        assert!(closed.is_retryable());
    }

    #[test]
    fn lock_races_and_lost_connections_are_told_apart() {
        for code in [1213, 1205] {
            assert!(
                server(code).is_lock_race() && !server(code).is_connection_error(),
                "{code}"
            );
        }
        for code in [2006, 2013, 1927, 1053, 4031] {
            assert!(
                server(code).is_connection_error() && !server(code).is_lock_race(),
                "{code}"
            );
        }
        let io = |e: std::io::Error| SinkError::Mysql {
            during: "connecting",
            source: mysql_async::Error::Io(mysql_async::IoError::Io(e)),
        };
        assert!(io(std::io::ErrorKind::ConnectionRefused.into()).is_connection_error());
        assert!(io(std::io::ErrorKind::UnexpectedEof.into()).is_connection_error());
        let bad_cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let tls = io(std::io::Error::new(std::io::ErrorKind::InvalidData, bad_cert));
        assert!(!tls.is_retryable(), "a refused certificate is not retried");
        let timeout = SinkError::Timeout {
            during: "committing",
            after: Duration::from_secs(1),
        };
        assert!(timeout.is_connection_error() && timeout.is_retryable());
        assert!(!SinkError::Abandoned.is_retryable());
        let pool_closed = SinkError::Mysql {
            during: "connecting",
            source: mysql_async::Error::Driver(mysql_async::DriverError::PoolDisconnected),
        };
        assert!(!pool_closed.is_retryable());
    }

    #[test]
    fn data_and_syntax_errors_are_not_retryable() {
        for code in [1062, 1064, 1146, 1406, 1366] {
            assert!(!server(code).is_retryable(), "{code}");
        }
        let e = SinkError::InvalidConfig {
            problem: "p".into(),
            fix: "f".into(),
        };
        assert!(!e.is_retryable());
        assert_eq!(server(1213).server_code(), Some(1213));
    }

    fn server_msg(code: u16, message: &str) -> mysql_async::Error {
        mysql_async::Error::Server(mysql_async::ServerError {
            code,
            message: message.into(),
            state: "42000".into(),
        })
    }

    #[test]
    fn a_refused_privilege_names_it_the_table_and_the_grant() {
        let e = privilege_missing(
            "creating a table",
            Some("CREATE"),
            server_msg(
                1142,
                "CREATE command denied to user 'etl'@'localhost' for table `shop`.`wdt_refund`",
            ),
        );
        let s = e.to_string();
        assert!(
            matches!(&e, SinkError::PrivilegeMissing { privilege, .. } if privilege == "CREATE"),
            "{s}"
        );
        assert!(
            s.contains("'etl'@'localhost'") && s.contains("`shop`.`wdt_refund`"),
            "{s}"
        );
        assert!(s.contains("GRANT CREATE ON `shop`.* TO 'etl'@'localhost'"), "{s}");
        assert!(s.contains("--no-create-tables"), "{s}");
        let e = SinkError::mysql("deleting removed lines")(server_msg(
            1142,
            "DELETE command denied to user 'etl'@'%' for table 'f'",
        ));
        let s = e.to_string();
        assert!(s.contains("lacks the DELETE privilege on `f`"), "{s}");
        assert!(
            s.contains("GRANT SELECT, INSERT, UPDATE, DELETE ON `f` TO 'etl'@'%'"),
            "{s}"
        );
        let e = SinkError::ddl("creating a table", "CREATE")(server_msg(
            1044,
            "Access denied for user 'etl'@'%' to database 'shop'",
        ));
        assert!(e.to_string().contains("lacks the CREATE privilege on `shop`"), "{e}");
        assert!(matches!(server(1213), SinkError::Mysql { .. }));
    }

    #[test]
    fn display_names_the_fix_without_the_source() {
        let e = SinkError::SchemaMismatch {
            table: "`t`".into(),
            column: "`c`".into(),
            problem: "is int, needs bigint".into(),
            fix: "ALTER TABLE `t` MODIFY `c` BIGINT NULL".into(),
        };
        let s = e.to_string();
        assert!(
            s.contains("`t`") && s.contains("`c`") && s.contains("ALTER TABLE"),
            "{s}"
        );
        assert_eq!(server(1213).to_string(), "MySQL error while testing");
    }
}
