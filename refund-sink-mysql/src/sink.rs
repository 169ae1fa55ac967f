//! [`MySqlSink`], its builder, and the [`Sink`] implementation.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};
use wdt_qimen::model::Refund;
use wdt_qimen::sync::{Batch, Checkpoint, CommitReport, Sink, StreamId};

use crate::config::{Layout, WriteMode};
use crate::dialect::Dialect;
use crate::error::SinkError;
use crate::names::TableNames;
use crate::prepare::WritePath;
use crate::retry::RetryPolicy;
use crate::{checkpoint, dead_letter, setup, write};

/// What the before-commit hook is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommitContext {
    /// The server's id of the connection holding the transaction (`CONNECTION_ID()`).
    pub connection_id: u32,
    /// The attempt (1 for the first, 2 for the first retry, …).
    pub attempt: u32,
}

/// A boxed error, as returned by a [`BeforeCommitHook`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Called after a batch's data, dead-letter and checkpoint statements and before `COMMIT`:
/// a seam for fault-injection tests (fail here and nothing of the batch is visible; kill the
/// connection here and the sink retries). An error rolls the batch back as [`SinkError::Hook`].
pub type BeforeCommitHook = Arc<dyn Fn(CommitContext) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

/// Size limits of the statements the sink sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Rows per multi-row statement (also bounded by 65,535 placeholders).
    pub max_rows_per_statement: usize,
    /// Parameter bytes per statement (also bounded by `max_allowed_packet`).
    pub max_statement_bytes: usize,
    /// Refund ids per lookup query.
    pub lookup_chunk: usize,
    /// Bytes per LOAD DATA packet.
    pub infile_chunk: usize,
    /// The server's `max_allowed_packet`: no statement may be larger (the server would drop
    /// the connection, and every retry would send it again).
    pub max_packet: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_rows_per_statement: 5_000,
            max_statement_bytes: 8 << 20,
            lookup_chunk: 5_000,
            infile_chunk: 1 << 20,
            max_packet: 4 << 20,
        }
    }
}

/// Prepared statement texts.
#[derive(Debug)]
pub(crate) struct Sql {
    pub checkpoint_upsert: String,
    pub checkpoint_select: String,
    pub dead_letter_insert: String,
}

/// Everything a commit needs, shared by clones of the sink.
pub(crate) struct Inner {
    pub pool: Pool,
    pub url: String,
    pub names: TableNames,
    pub dialect: Dialect,
    pub layout: Layout,
    pub mode: WriteMode,
    pub limits: Limits,
    pub retry: RetryPolicy,
    pub max_dead_letters: Option<u64>,
    pub before_commit: Option<BeforeCommitHook>,
    /// Roll every transaction back instead of committing it.
    pub dry_run: bool,
    pub sql: Sql,
    infile: AtomicBool,
    /// Whether the server lets the sink create its temporary staging tables.
    staging: AtomicBool,
    dead_letters: AtomicU64,
}

impl Inner {
    /// The write path to encode for now.
    pub(crate) fn write_path(&self) -> WritePath {
        if self.infile.load(Ordering::Relaxed) {
            WritePath::Infile
        } else {
            WritePath::Statements
        }
    }

    /// Switches to multi-row statements for good (the server refused LOAD DATA LOCAL).
    pub(crate) fn disable_infile(&self) {
        self.infile.store(false, Ordering::Relaxed);
    }

    /// True while stored rows may go through a temporary staging table (LOAD DATA path).
    pub(crate) fn staging_allowed(&self) -> bool {
        self.staging.load(Ordering::Relaxed)
    }

    /// Stops using staging tables for good (the server refused to create one).
    pub(crate) fn disable_staging(&self) {
        self.staging.store(false, Ordering::Relaxed);
    }

    /// Dead letters committed by this sink so far.
    pub(crate) fn dead_letters_so_far(&self) -> u64 {
        self.dead_letters.load(Ordering::Relaxed)
    }

    /// Adds committed dead letters.
    pub(crate) fn count_dead_letters(&self, n: u64) {
        self.dead_letters.fetch_add(n, Ordering::Relaxed);
    }
}

/// Replaces the password of a `mysql://user:password@host/db` URL with `***`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..scheme_end + 3],
        &userinfo[..colon],
        &url[scheme_end + 3 + at..]
    )
}

/// Builds a [`MySqlSink`]; see [`MySqlSink::builder`].
pub struct MySqlSinkBuilder {
    url: String,
    layout: Layout,
    mode: WriteMode,
    prefix: String,
    create_tables: bool,
    local_infile: bool,
    limits: Limits,
    retry: RetryPolicy,
    max_dead_letters: Option<u64>,
    max_connections: usize,
    before_commit: Option<BeforeCommitHook>,
    dry_run: bool,
}

impl fmt::Debug for MySqlSinkBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlSinkBuilder")
            .field("url", &redact_url(&self.url))
            .field("layout", &self.layout)
            .field("write_mode", &self.mode)
            .field("prefix", &self.prefix)
            .field("create_tables", &self.create_tables)
            .field("local_infile", &self.local_infile)
            .field("limits", &self.limits)
            .field("retry", &self.retry)
            .field("max_dead_letters", &self.max_dead_letters)
            .field("max_connections", &self.max_connections)
            .field("before_commit", &self.before_commit.is_some())
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

impl MySqlSinkBuilder {
    /// Which tables to write (default [`Layout::Flat`]).
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// How to write rows (default [`WriteMode::Upsert`]).
    pub fn write_mode(mut self, mode: WriteMode) -> Self {
        self.mode = mode;
        self
    }

    /// A prefix for every table name (default none): ASCII letters, digits and `_`, at most
    /// [`MAX_PREFIX_LEN`](crate::names::MAX_PREFIX_LEN) characters; checked by [`build`](Self::build).
    pub fn table_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Create missing tables and apply migrations (default on; tables that exist get no DDL).
    /// Off: no DDL at all, for a MySQL user with only `SELECT`, `INSERT`, `UPDATE` and `DELETE`
    /// on tables an administrator created ([`create_statements`](crate::schema::create_statements));
    /// a missing table or a needed migration is an error naming the fix.
    pub fn create_tables(mut self, on: bool) -> Self {
        self.create_tables = on;
        self
    }

    /// Use LOAD DATA LOCAL INFILE when the server allows it (default on). Off: always write
    /// with multi-row statements (the fallback path).
    pub fn local_infile(mut self, on: bool) -> Self {
        self.local_infile = on;
        self
    }

    /// Rows per multi-row statement (default 5,000; never more than 65,535 placeholders).
    pub fn max_rows_per_statement(mut self, rows: usize) -> Self {
        self.limits.max_rows_per_statement = rows.max(1);
        self
    }

    /// Parameter bytes per multi-row statement (default 8 MiB; never more than 3/4 of the
    /// server's `max_allowed_packet`).
    pub fn max_statement_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_statement_bytes = bytes.max(1);
        self
    }

    /// Refund ids per lookup query (default 5,000).
    pub fn lookup_chunk(mut self, ids: usize) -> Self {
        self.limits.lookup_chunk = ids.max(1);
        self
    }

    /// Dead letters allowed per run, i.e. over this sink's lifetime (default 1,000; `None` for
    /// no limit). A batch that would pass the limit is rolled back with
    /// [`SinkError::DeadLetterLimit`].
    pub fn max_dead_letters(mut self, limit: Option<u64>) -> Self {
        self.max_dead_letters = limit;
        self
    }

    /// Retries of a whole transaction after deadlock, lock wait timeout or a lost connection
    /// (default 5).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.retry.max_retries = retries;
        self
    }

    /// Backoff between retries: full jitter up to `base * 2^(n-1)`, capped (default 50 ms, 2 s).
    pub fn retry_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.retry.base = base;
        self.retry.cap = cap;
        self
    }

    /// Connections in the pool (default 4).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Dry run (default off): every batch is written in full, counted, and then rolled back, so
    /// the report says what a real run would change and nothing is kept. Missing tables are
    /// still created (empty) when `create_tables` is on.
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }

    /// A hook run before each `COMMIT` (see [`BeforeCommitHook`]); for tests.
    pub fn before_commit(mut self, hook: BeforeCommitHook) -> Self {
        self.before_commit = Some(hook);
        self
    }

    /// Connects, detects the dialect, creates or checks the tables, and returns the sink.
    pub async fn build(self) -> Result<MySqlSink, SinkError> {
        let names = TableNames::new(&self.prefix)?;
        let redacted = redact_url(&self.url);
        let opts = Opts::from_url(&self.url).map_err(|source| SinkError::InvalidUrl {
            url: redacted.clone(),
            source,
        })?;
        if opts.db_name().is_none() {
            return Err(SinkError::InvalidConfig {
                problem: format!("the MySQL URL {redacted} names no database"),
                fix: "add one, e.g. mysql://user@127.0.0.1:3306/mydb".into(),
            });
        }
        let constraints = PoolConstraints::new(0, self.max_connections).unwrap_or_default();
        let opts = OptsBuilder::from_opts(opts)
            .setup(Dialect::session_setup())
            .client_found_rows(false)
            .pool_opts(PoolOpts::default().with_constraints(constraints));
        let pool = Pool::new(opts);
        let started = async {
            let mut conn = pool.get_conn().await.map_err(SinkError::mysql("connecting"))?;
            let info = setup::server_info(&mut conn).await?;
            setup::ensure_schema(&mut conn, &names, self.layout, &info.dialect, self.create_tables).await?;
            Ok::<_, SinkError>(info)
        }
        .await;
        let info = match started {
            Ok(info) => info,
            Err(e) => {
                let _ = pool.disconnect().await;
                return Err(e);
            }
        };
        let packet_budget = usize::try_from(info.max_allowed_packet / 4 * 3).unwrap_or(usize::MAX);
        let mut limits = self.limits;
        limits.max_statement_bytes = limits.max_statement_bytes.min(packet_budget).max(1024);
        limits.infile_chunk = limits.infile_chunk.min(packet_budget / 2).max(1024);
        limits.max_packet = usize::try_from(info.max_allowed_packet).unwrap_or(usize::MAX);
        let infile = self.local_infile && info.local_infile;
        tracing::info!(
            url = %redacted,
            dialect = ?info.dialect,
            layout = %self.layout,
            write_mode = %self.mode,
            local_infile = infile,
            "MySQL sink ready"
        );
        let sql = Sql {
            checkpoint_upsert: checkpoint::upsert_sql(
                &names.sync_state,
                &info.dialect,
                crate::schema::Table::data_tables(self.layout).len(),
            ),
            checkpoint_select: checkpoint::select_sql(&names.sync_state),
            dead_letter_insert: dead_letter::insert_sql(&names.dead_letter, &info.dialect),
        };
        Ok(MySqlSink {
            inner: Arc::new(Inner {
                pool,
                url: redacted,
                names,
                dialect: info.dialect,
                layout: self.layout,
                mode: self.mode,
                limits,
                retry: self.retry,
                max_dead_letters: self.max_dead_letters,
                before_commit: self.before_commit,
                dry_run: self.dry_run,
                sql,
                infile: AtomicBool::new(infile),
                staging: AtomicBool::new(true),
                dead_letters: AtomicU64::new(0),
            }),
        })
    }
}

/// Writes refunds into MySQL or MariaDB: one transaction per batch, with the checkpoint.
///
/// Cheap to clone (the pool is shared). `Debug` shows the URL without its password.
#[derive(Clone)]
pub struct MySqlSink {
    inner: Arc<Inner>,
}

impl fmt::Debug for MySqlSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("MySqlSink")
            .field("url", &i.url)
            .field("dialect", &i.dialect)
            .field("layout", &i.layout)
            .field("write_mode", &i.mode)
            .field("prefix", &i.names.prefix)
            .field("local_infile", &self.uses_local_infile())
            .finish_non_exhaustive()
    }
}

impl MySqlSink {
    /// A builder for the server at `url` (`mysql://user:password@host:3306/database`).
    pub fn builder(url: impl Into<String>) -> MySqlSinkBuilder {
        MySqlSinkBuilder {
            url: url.into(),
            layout: Layout::default(),
            mode: WriteMode::default(),
            prefix: String::new(),
            create_tables: true,
            local_infile: true,
            limits: Limits::default(),
            retry: RetryPolicy::default(),
            max_dead_letters: Some(1_000),
            max_connections: 4,
            before_commit: None,
            dry_run: false,
        }
    }

    /// The dialect detected from the server.
    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    /// The layout written.
    pub fn layout(&self) -> Layout {
        self.inner.layout
    }

    /// The write mode.
    pub fn write_mode(&self) -> WriteMode {
        self.inner.mode
    }

    /// The table names (with the prefix).
    pub fn table_names(&self) -> &TableNames {
        &self.inner.names
    }

    /// True while batches go through LOAD DATA LOCAL INFILE; false once the server refused it
    /// or when it was switched off.
    pub fn uses_local_infile(&self) -> bool {
        self.inner.write_path() == WritePath::Infile
    }

    /// Dead letters committed by this sink (this run) so far.
    pub fn dead_letters_this_run(&self) -> u64 {
        self.inner.dead_letters_so_far()
    }

    /// Starts a new run for the dead-letter limit: a sink kept across scheduled runs (`--every`)
    /// calls this before each, so the limit applies per run, not per process.
    pub fn start_run(&self) {
        self.inner.dead_letters.store(0, Ordering::Relaxed);
    }

    /// Closes the pool's connections.
    pub async fn disconnect(self) -> Result<(), SinkError> {
        self.inner
            .pool
            .clone()
            .disconnect()
            .await
            .map_err(SinkError::mysql("disconnecting"))
    }
}

#[async_trait]
impl Sink<Refund> for MySqlSink {
    type Error = SinkError;

    async fn load_checkpoint(&self, stream: &StreamId) -> Result<Option<Checkpoint>, SinkError> {
        let mut conn = self
            .inner
            .pool
            .get_conn()
            .await
            .map_err(SinkError::mysql("connecting"))?;
        checkpoint::check_stream(stream, &self.inner.dialect)?;
        let tables = crate::schema::Table::data_tables(self.inner.layout);
        checkpoint::load(&mut conn, &self.inner.sql.checkpoint_select, stream, tables).await
    }

    async fn commit(&self, batch: Batch<Refund>) -> Result<CommitReport, SinkError> {
        write::commit(&self.inner, batch).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("mysql://root:s3cr3t@db:3306/x?a=b"),
            "mysql://root:***@db:3306/x?a=b"
        );
        assert_eq!(redact_url("mysql://root@db/x"), "mysql://root@db/x");
        assert_eq!(redact_url("mysql://u:p%40ss@h/x"), "mysql://u:***@h/x");
        assert_eq!(redact_url("mysql://u:a@b@h/x"), "mysql://u:***@h/x");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn the_builder_debug_hides_the_password() {
        let b = MySqlSink::builder("mysql://app:hunter2@127.0.0.1/test").table_prefix("p_");
        let s = format!("{b:?}");
        assert!(!s.contains("hunter2") && s.contains("app:***@"), "{s}");
    }
}
