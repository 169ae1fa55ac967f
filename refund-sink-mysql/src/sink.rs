//! [`MySqlSink`], its builder, and the [`Sink`] implementation.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use mysql_async::prelude::Queryable;
use mysql_async::{OptsBuilder, Pool, PoolConstraints};
use wdt_qimen::model::Refund;
use wdt_qimen::sync::{Batch, Checkpoint, CommitReport, Sink, StreamId};

use crate::config::{Layout, WriteMode};
use crate::conn::{Bounds, HeldConn};
use crate::connect::{self, SslMode};
use crate::dialect::Dialect;
use crate::error::SinkError;
use crate::names::TableNames;
use crate::pool::SharedPool;
use crate::prepare::WritePath;
use crate::retry::{Retries, RetryPolicy};
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
    pub checkpoint_reset: String,
    pub dead_letter_insert: String,
}

/// Everything a commit needs, shared by clones of the sink.
pub(crate) struct Inner {
    pub pool: Pool,
    pub url: String,
    pub names: TableNames,
    pub dialect: Dialect,
    pub layout: Layout,
    /// The data tables written, parents first (a built-in layout's through its preset).
    pub tables: &'static [crate::schema::Table],
    /// The mapping those tables come from.
    pub mapping: &'static crate::mapping::Mapping,
    /// A dry run's first mapped rows ([`MySqlSink::dry_run_rows`]).
    pub dry_run_rows: std::sync::Mutex<Vec<crate::mapping::Preview>>,
    pub mode: WriteMode,
    pub limits: Limits,
    pub retry: RetryPolicy,
    /// The timeout of every MySQL operation, and the abandon switch.
    pub bounds: Bounds,
    pub max_dead_letters: Option<u64>,
    pub before_commit: Option<BeforeCommitHook>,
    /// True when `pool` is a [`SharedPool`]'s: the sink does not close it.
    pub shared_pool: bool,
    /// Roll every transaction back instead of committing it.
    pub dry_run: bool,
    /// Missing tables are created (`wdt_sync_verify` at its first use too).
    pub create_tables: bool,
    pub sql: Sql,
    /// The stream leases held through this sink: their batches are fenced.
    pub fences: crate::lease::Fences,
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

/// Hides the credentials of a `mysql://user:password@host/db` URL: everything between `://` and
/// the last `@` becomes `***`.
///
/// The last `@` of the whole text is used, not the first `/`, `?` or `#` after `://`: a password
/// may hold any of those characters (percent-encoded or not), and cutting at the first of them
/// would print the rest of the password. A URL whose query holds an `@` loses its host in the
/// redacted text too; that is the price of never printing a password.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return if url.contains('@') {
            "***".to_owned()
        } else {
            url.to_owned()
        };
    };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.rfind('@') else {
        return url.to_owned();
    };
    format!("{}***{}", &url[..scheme_end + 3], &rest[at..])
}

/// True when an `@` comes after the first `/`, `?` or `#` that follows `://`: either the
/// password holds one of those characters unencoded, or the path or query holds an `@`. A URL
/// parser then reads part of the password as host, port, path or parameter, so no message about
/// such a URL may quote what the parser saw.
pub(crate) fn credentials_may_leak(url: &str) -> bool {
    let Some(scheme_end) = url.find("://") else {
        return url.contains('@');
    };
    let rest = &url[scheme_end + 3..];
    match (rest.find(['/', '?', '#']), rest.rfind('@')) {
        (Some(end), Some(at)) => end < at,
        _ => false,
    }
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
    timeout: Duration,
    max_dead_letters: Option<u64>,
    max_connections: usize,
    shared: Option<SharedPool>,
    before_commit: Option<BeforeCommitHook>,
    dry_run: bool,
    migrate_account: Option<String>,
}

/// How long an idle pooled connection is kept open (unless the URL's `inactive_connection_ttl`
/// says otherwise).
pub const IDLE_CONNECTION_TTL: Duration = Duration::from_secs(60);

/// The default of [`MySqlSinkBuilder::timeout`]: well above MySQL's default
/// `innodb_lock_wait_timeout` (50 s), so a statement waiting for a lock gets the server's answer
/// first.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

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
            .field("timeout", &self.timeout)
            .field("max_dead_letters", &self.max_dead_letters)
            .field("max_connections", &self.max_connections)
            .field("pool", &self.shared)
            .field("before_commit", &self.before_commit.is_some())
            .field("dry_run", &self.dry_run)
            .field("migrate_account", &self.migrate_account)
            .finish()
    }
}

/// How many refunds a dry run keeps the mapped rows of ([`MySqlSink::dry_run_rows`]).
pub const DRY_RUN_ROWS: usize = 3;

impl MySqlSinkBuilder {
    /// Which tables to write (default [`Layout::Flat`]).
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Writes the tables of `mapping` instead of a built-in layout (the same as
    /// `.layout(Layout::Mapped(mapping))`).
    pub fn mapping(mut self, mapping: &'static crate::mapping::Mapping) -> Self {
        self.layout = Layout::Mapped(mapping);
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

    /// Retries of a whole transaction after a deadlock or lock wait timeout (default 5). Lost
    /// connections are retried for [`connection_retry_budget`](Self::connection_retry_budget)
    /// instead.
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

    /// How long a lost connection is retried on a new one (default 2 minutes; zero = never):
    /// a server restart, a failover, "MySQL server has gone away", a connection killed or
    /// refused, or no answer within the [`timeout`](Self::timeout). Counted from the first such
    /// failure of a commit or checkpoint read, separately from `max_retries` (lost lock races).
    ///
    /// Committing a batch again after its connection was lost is safe even when the lost answer
    /// was that of `COMMIT` itself (so the first attempt may have committed): the rows are
    /// written newer-wins and the checkpoint only moves forward, so the second commit finds its
    /// rows stored and changes nothing. In `insert` mode it fails with a duplicate key instead.
    pub fn connection_retry_budget(mut self, budget: Duration) -> Self {
        self.retry.connection_budget = budget;
        self
    }

    /// The longest one MySQL operation may take (default [`DEFAULT_TIMEOUT`], 120 s): the
    /// start-up, one attempt of a batch's transaction (connecting, statements, `COMMIT`), a
    /// checkpoint read, the disconnect. A server that stops answering (a black-holed
    /// connection) then fails the operation with [`SinkError::Timeout`] instead of hanging; the
    /// connection is closed, never reused, and the server rolls back its transaction. Keep it
    /// above the server's `innodb_lock_wait_timeout` (checked at start-up, with a warning).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Connections in the sink's own pool (default 4); not used with a shared
    /// [`pool`](Self::pool).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Uses `pool`, shared with the other sinks built with it, instead of a pool of the sink's
    /// own: many sinks (one per account) then hold at most [`SharedPool::size`] connections
    /// between them. The builder's URL must be the pool's (else [`build`](Self::build) fails
    /// with [`SinkError::InvalidConfig`]). The timeout, the retries and the URL's TLS settings
    /// apply as without it; the first sink built opens the pool.
    pub fn pool(mut self, pool: SharedPool) -> Self {
        self.shared = Some(pool);
        self
    }

    /// Dry run (default off): every batch is written in full, counted, and then rolled back, so
    /// the report says what a real run would change and nothing is kept. Missing tables are
    /// still created (empty), and tables of an older schema migrated, when `create_tables` is
    /// on.
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }

    /// The account that the rows of data tables created before schema version 4 (keyed by
    /// refund id alone) belong to, for their migration (see
    /// [`MIGRATIONS`](crate::schema::MIGRATIONS)). Without it the sink uses the one account
    /// `wdt_sync_state` names for the table, and refuses to start when that names none or
    /// several while the table holds rows. Set, it is used for every such table; it has no
    /// effect on tables already keyed by account.
    pub fn migrate_account(mut self, account: impl Into<String>) -> Self {
        self.migrate_account = Some(account.into());
        self
    }

    /// A hook run before each `COMMIT` (see [`BeforeCommitHook`]); for tests.
    pub fn before_commit(mut self, hook: BeforeCommitHook) -> Self {
        self.before_commit = Some(hook);
        self
    }

    /// Connects, detects the dialect, creates or checks the tables, and returns the sink.
    ///
    /// The URL's TLS parameters are described in [`connect`]. The start-up is not retried: a
    /// server that cannot be reached fails here at once (or after the timeout).
    pub async fn build(self) -> Result<MySqlSink, SinkError> {
        let names = TableNames::new(&self.prefix)?;
        if let Layout::Mapped(m) = self.layout {
            if self.mode == WriteMode::Upsert && !m.has_version() {
                return Err(SinkError::InvalidConfig {
                    problem: "write mode upsert keeps the newer copy of a refund, but no table of the mapping has a \
                              version column"
                        .into(),
                    fix: "add a column with source = \"modified\" and type DATETIME(3) (no transforms) to a table, \
                          or use write mode replace"
                        .into(),
                });
            }
        }
        let redacted = redact_url(&self.url);
        let connect::ConnectOpts { opts, ssl_mode } = connect::opts_from_url(&self.url)?;
        if opts.db_name().is_none() {
            return Err(SinkError::InvalidConfig {
                problem: format!("the MySQL URL {redacted} names no database"),
                fix: "add one, e.g. mysql://user@127.0.0.1:3306/mydb".into(),
            });
        }
        let size = self.shared.as_ref().map_or(self.max_connections, SharedPool::size);
        let constraints = PoolConstraints::new(0, size).unwrap_or_default();
        // The URL's pool settings (`reset_connection`, `inactive_connection_ttl`, …) are kept.
        let mut pool_opts = opts.pool_opts().clone().with_constraints(constraints);
        // With no idle ttl the driver closes every connection as it comes back (it keeps only
        // `min`, here 0, idle), so each statement would connect anew, and a server counting
        // connections per user sees the closed ones linger. Idle connections are kept, up to
        // the pool's size, for `IDLE_CONNECTION_TTL` unless the URL sets
        // `inactive_connection_ttl`.
        if pool_opts.inactive_connection_ttl().is_zero() {
            pool_opts = pool_opts.with_inactive_connection_ttl(IDLE_CONNECTION_TTL);
        }
        let opts = OptsBuilder::from_opts(opts)
            .setup(Dialect::session_setup())
            .client_found_rows(false)
            .pool_opts(pool_opts);
        let bounds = Bounds::new(self.timeout);
        if let Some(shared) = &self.shared {
            if shared.url() != self.url {
                return Err(SinkError::InvalidConfig {
                    problem: format!(
                        "the sink's MySQL URL {redacted} is not the URL of its shared pool ({})",
                        redact_url(shared.url())
                    ),
                    fix: "build one SharedPool per MySQL URL, and give each sink the pool of its URL".into(),
                });
            }
        }
        // A pool the sink made itself is closed when its start-up fails; a shared one is not.
        let owned = self.shared.is_none();
        let start = |pool: Pool| {
            let (names, tables, create) = (&names, self.layout.data_tables(&self.prefix), self.create_tables);
            let migrate_account = self.migrate_account.as_deref();
            let bounds = &bounds;
            async move {
                let started = bounds
                    .run(
                        "starting (connecting, reading server settings, checking tables)",
                        async {
                            let mut held = HeldConn::get(&pool).await?;
                            let conn = held.conn();
                            let info = setup::server_info(conn).await?;
                            warn_if_below_lock_wait(conn, bounds.timeout).await;
                            // On Galera, another node's DDL of a sink starting at the same moment
                            // aborts this one's statements with 1213; every step is idempotent, so
                            // the set-up is run again.
                            let mut lost_races = 0u64;
                            loop {
                                match setup::ensure_schema(conn, names, tables, &info.dialect, create, migrate_account).await {
                                    Ok(()) => break,
                                    Err(e) if e.is_lock_race() && lost_races < 8 => {
                                        lost_races += 1;
                                        tracing::warn!(error = %e, lost_races, "setting up the tables lost a race with another sink; trying again");
                                        let pause = 100 * lost_races + fastrand::u64(0..100);
                                        tokio::time::sleep(Duration::from_millis(pause)).await;
                                    }
                                    Err(e) => return Err(e),
                                }
                            }
                            held.release();
                            Ok::<_, SinkError>(info)
                        },
                    )
                    .await;
                match started {
                    Ok(info) => Ok((pool, info)),
                    Err(e) => {
                        if owned {
                            let _ = tokio::time::timeout(bounds.timeout, pool.disconnect()).await;
                        }
                        Err(e)
                    }
                }
            }
        };
        let started = match &self.shared {
            None => {
                let mut started = start(Pool::new(opts.clone())).await;
                if ssl_mode == Some(SslMode::Preferred) && started.as_ref().is_err_and(connect::is_no_tls_offered) {
                    tracing::warn!(url = %redacted, "the server offers no TLS; ssl-mode=PREFERRED connects without it");
                    started = start(Pool::new(connect::without_tls(&opts.into()))).await;
                }
                started
            }
            Some(shared) => {
                let made = shared
                    .get_or_make(|| async {
                        // The first sink opens the pool: one connection tells whether the
                        // server offers TLS (for PREFERRED), as the sink's own start-up does.
                        let probe = |pool: Pool| async {
                            let tried = bounds
                                .run("connecting", async {
                                    HeldConn::get(&pool).await?.release();
                                    Ok::<_, SinkError>(())
                                })
                                .await;
                            match tried {
                                Ok(()) => Ok(pool),
                                Err(e) => {
                                    let _ = tokio::time::timeout(bounds.timeout, pool.disconnect()).await;
                                    Err(e)
                                }
                            }
                        };
                        let mut made = probe(Pool::new(opts.clone())).await;
                        if ssl_mode == Some(SslMode::Preferred) && made.as_ref().is_err_and(connect::is_no_tls_offered) {
                            tracing::warn!(url = %redacted, "the server offers no TLS; ssl-mode=PREFERRED connects without it");
                            made = probe(Pool::new(connect::without_tls(&opts.clone().into()))).await;
                        }
                        made
                    })
                    .await;
                match made {
                    Ok(pool) => start(pool).await,
                    Err(e) => Err(e),
                }
            }
        };
        let (pool, info) = started.map_err(|e| connect::explain_connect_error(e, &redacted, ssl_mode))?;
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
                self.layout.data_tables(&self.prefix).len(),
            ),
            checkpoint_select: checkpoint::select_sql(&names.sync_state),
            checkpoint_reset: checkpoint::reset_sql(&names.sync_state),
            dead_letter_insert: dead_letter::insert_sql(&names.dead_letter, &info.dialect),
        };
        Ok(MySqlSink {
            inner: Arc::new(Inner {
                pool,
                url: redacted,
                names,
                dialect: info.dialect,
                layout: self.layout,
                tables: self.layout.data_tables(&self.prefix),
                mapping: self.layout.mapping(&self.prefix),
                dry_run_rows: std::sync::Mutex::new(Vec::new()),
                mode: self.mode,
                limits,
                retry: self.retry,
                bounds,
                max_dead_letters: self.max_dead_letters,
                before_commit: self.before_commit,
                shared_pool: !owned,
                dry_run: self.dry_run,
                create_tables: self.create_tables,
                sql,
                fences: Default::default(),
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
            timeout: DEFAULT_TIMEOUT,
            max_dead_letters: Some(1_000),
            max_connections: 4,
            shared: None,
            before_commit: None,
            dry_run: false,
            migrate_account: None,
        }
    }

    /// What clones of this sink share.
    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// The dialect detected from the server.
    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    /// In a dry run, the rows the first refunds of the first batch mapped to (at most
    /// [`DRY_RUN_ROWS`] refunds), per table; empty otherwise.
    pub fn dry_run_rows(&self) -> Vec<crate::mapping::Preview> {
        self.inner
            .dry_run_rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The mapping written (a built-in layout's preset, or the sink's own mapping).
    pub fn mapping(&self) -> &'static crate::mapping::Mapping {
        self.inner.mapping
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

    /// Abandons the commit in flight and every later one, for a second Ctrl-C / SIGTERM: each
    /// fails at once with [`SinkError::Abandoned`] and its connection is closed without
    /// `COMMIT`. The server rolls that transaction back as soon as it notices (when the
    /// statement it is running ends, e.g. a lock wait), so nothing of the batch is kept; when
    /// `COMMIT` was already sent, the batch is either wholly committed or not at all. Retry
    /// pauses and checkpoint reads end the same way. For good: build a new sink to go on.
    pub fn abandon(&self) {
        self.inner.bounds.abandon();
    }

    /// Closes the pool's connections (within the [`timeout`](MySqlSinkBuilder::timeout)).
    /// A [shared pool](MySqlSinkBuilder::pool) is left open for the other sinks: nothing is
    /// done (close it with [`SharedPool::disconnect`]).
    pub async fn disconnect(self) -> Result<(), SinkError> {
        if self.inner.shared_pool {
            return Ok(());
        }
        let bounds = &self.inner.bounds;
        match tokio::time::timeout(bounds.timeout, self.inner.pool.clone().disconnect()).await {
            Ok(r) => r.map_err(SinkError::mysql("disconnecting")),
            Err(_) => Err(SinkError::Timeout {
                during: "disconnecting",
                after: bounds.timeout,
            }),
        }
    }
}

/// Warns when `timeout` would cut off a statement that waits for a lock before the server's
/// `innodb_lock_wait_timeout` answers it.
async fn warn_if_below_lock_wait(conn: &mut mysql_async::Conn, timeout: Duration) {
    let lock_wait: Result<Option<u64>, _> = conn.query_first("SELECT @@innodb_lock_wait_timeout").await;
    if let Ok(Some(secs)) = lock_wait {
        if timeout <= Duration::from_secs(secs) {
            tracing::warn!(
                timeout = ?timeout,
                innodb_lock_wait_timeout = secs,
                "the MySQL timeout is not above innodb_lock_wait_timeout: a transaction waiting for a \
                 lock is cut off and retried as a lost connection; raise the sink's timeout"
            );
        }
    }
}

#[async_trait]
impl Sink<Refund> for MySqlSink {
    type Error = SinkError;

    /// Reads the checkpoint; a lost connection is retried like a commit's.
    async fn load_checkpoint(&self, stream: &StreamId) -> Result<Option<Checkpoint>, SinkError> {
        checkpoint::check_stream(stream, &self.inner.dialect)?;
        let inner = &self.inner;
        let mut retries = Retries::new(&inner.retry);
        loop {
            let read = inner
                .bounds
                .run("reading the checkpoint", async {
                    let mut held = HeldConn::get(&inner.pool).await?;
                    let tables = inner.tables;
                    let checkpoint =
                        checkpoint::load(held.conn(), &inner.sql.checkpoint_select, stream, tables).await?;
                    held.release();
                    Ok::<_, SinkError>(checkpoint)
                })
                .await;
            match read {
                Ok(checkpoint) => return Ok(checkpoint),
                Err(e) => {
                    let error = e.to_string();
                    let pause = retries.after(e)?;
                    tracing::warn!(%error, retry = retries.count(), ?pause, "reading the checkpoint failed; retrying");
                    inner.bounds.pause(pause).await?;
                }
            }
        }
    }

    async fn commit(&self, batch: Batch<Refund>) -> Result<CommitReport, SinkError> {
        if self.inner.dry_run {
            let mut rows = self.inner.dry_run_rows.lock().unwrap_or_else(|e| e.into_inner());
            if rows.is_empty() && !batch.records.is_empty() {
                let first = &batch.records[..batch.records.len().min(DRY_RUN_ROWS)];
                *rows = self.inner.mapping.preview(first, &batch.stream.account);
            }
        }
        write::commit(&self.inner, batch).await
    }

    async fn reset_checkpoint(&self, stream: &StreamId, checkpoint: &Checkpoint) -> Result<(), SinkError> {
        if self.inner.dry_run {
            tracing::info!(%stream, window_end = %checkpoint.window_end, "dry run: the checkpoint is not moved back");
            return Ok(());
        }
        checkpoint::check_stream(stream, &self.inner.dialect)?;
        let inner = &self.inner;
        inner
            .bounds
            .run("moving the checkpoint back", async {
                let mut held = HeldConn::get(&inner.pool).await?;
                checkpoint::reset(held.conn(), &inner.sql.checkpoint_reset, stream, checkpoint).await?;
                held.release();
                Ok::<_, SinkError>(())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("mysql://root:s3cr3t@db:3306/x?a=b"),
            "mysql://***@db:3306/x?a=b"
        );
        assert_eq!(redact_url("mysql://root@db/x"), "mysql://***@db/x");
        assert_eq!(redact_url("mysql://u:p%40ss@h/x"), "mysql://***@h/x");
        assert_eq!(redact_url("mysql://u:a@b@h/x"), "mysql://***@h/x");
        assert_eq!(redact_url("mysql://db:3306/x"), "mysql://db:3306/x");
        assert_eq!(redact_url("not a url"), "not a url");
        assert_eq!(redact_url("u:secret@h"), "***");
    }

    #[test]
    fn passwords_with_reserved_characters_are_redacted() {
        for password in ["pa/ss", "pa?ss", "pa#ss", "p@ss", "a/b?c#d@e", "x:y", "%2F/"] {
            let url = format!("mysql://app:{password}@db-host:3306/erp?pool_max=2");
            let shown = redact_url(&url);
            assert_eq!(shown, "mysql://***@db-host:3306/erp?pool_max=2", "{password}");
            assert!(
                credentials_may_leak(&url) == password.contains(['/', '?', '#']),
                "{password}"
            );
        }
        assert!(!credentials_may_leak("mysql://app:p@db/erp?ssl-ca=/etc/ca.pem"));
        assert!(credentials_may_leak("mysql://db/erp?tag=a@b"));
    }

    #[tokio::test]
    async fn an_unparseable_url_never_quotes_its_password() {
        for password in ["pa?no_such_param=hunter2", "hun/ter2", "hunter#2", "hu?nter2@x"] {
            let url = format!("mysql://app:{password}@127.0.0.1:1/erp");
            let Err(e) = MySqlSink::builder(url).build().await else {
                panic!("{password}: a URL the parser cannot read was accepted");
            };
            let mut text = format!("{e} / {e:?}");
            let mut cur = std::error::Error::source(&e);
            while let Some(c) = cur {
                text.push_str(&format!(" / {c} / {c:?}"));
                cur = c.source();
            }
            for fragment in ["hunter", "nter2", "ter2", "hun"] {
                assert!(!text.contains(fragment), "{password}: {text}");
            }
        }
    }

    #[test]
    fn the_builder_debug_hides_the_password() {
        let b = MySqlSink::builder("mysql://app:hunter2@127.0.0.1/test").table_prefix("p_");
        let s = format!("{b:?}");
        assert!(!s.contains("hunter2") && s.contains("mysql://***@127.0.0.1"), "{s}");
    }
}
