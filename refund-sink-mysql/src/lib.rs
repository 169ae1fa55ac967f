//! A transactional MySQL / MariaDB sink for WangDianTong refunds, near `LOAD DATA` speed.
//!
//! [`MySqlSink`] implements [`wdt_qimen::sync::Sink`] for [`Refund`](wdt_qimen::model::Refund):
//! each batch is one transaction holding its rows, its dead letters and its checkpoint.
//!
//! ```no_run
//! use refund_sink_mysql::{Layout, MySqlSink, WriteMode};
//! use wdt_qimen::model::Refund;
//! use wdt_qimen::sync::{Batch, Checkpoint, Sink, StreamId, WindowBounds};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let sink = MySqlSink::builder("mysql://root@127.0.0.1:3306/test")
//!     .layout(Layout::Flat)
//!     .write_mode(WriteMode::Upsert)
//!     .table_prefix("shop1_")
//!     .build()
//!     .await?;
//! let stream = StreamId::new("qimen:sid", "aftersales.refund.Refund.search");
//! let t = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S");
//! let window = WindowBounds { from: t("2024-01-01 00:00:00")?, to: t("2024-01-02 00:00:00")? };
//! let refund = Refund { refund_id: 1, modified: Some(t("2024-01-01 08:00:00")?), ..Default::default() };
//! let report = sink
//!     .commit(Batch {
//!         stream: stream.clone(),
//!         window,
//!         records: vec![refund],
//!         dead_letters: vec![],
//!         checkpoint: Some(Checkpoint { window_end: window.to }),
//!     })
//!     .await?;
//! println!("{report:?}");
//! assert_eq!(sink.load_checkpoint(&stream).await?, Some(Checkpoint { window_end: window.to }));
//! # Ok(()) }
//! ```
//!
//! ## Contents
//! - [`sink`]: [`MySqlSink`] and [`MySqlSinkBuilder`] (URL, layout, write mode, table prefix,
//!   batch limits, create-tables, LOAD DATA switch, retries, dead-letter limit, test hook).
//! - [`config`]: [`Layout`] (`flat` | `normalized` | `both`) and [`WriteMode`]
//!   (`upsert` | `replace` | `insert`).
//! - [`connect`]: the connection URL, with TLS as MySQL's clients spell it (`ssl-mode`, `ssl-ca`)
//!   and TCP keepalive.
//! - [`schema`]: the tables (columns in order, types, keys), their DDL, the check
//!   that an existing table fits, and the forward-only migrations.
//! - [`mapping`]: your own tables: a [`MappingSpec`] (tables, columns, source fields,
//!   transforms) compiled into a [`Mapping`] the sink writes (`Layout::Mapped`).
//! - [`names`]: the validated table prefix and identifier quoting.
//! - [`dialect`]: MariaDB vs MySQL SQL, chosen from `SELECT VERSION()`; the pinned session.
//! - [`error`]: [`SinkError`] and its retry classes ([`SinkError::is_lock_race`],
//!   [`SinkError::is_connection_error`]).
//! - [`retry`]: full-jitter backoff; lost lock races retried by count, lost connections by time.
//! - [`lease`]: one runner per stream, a lease row in `wdt_sync_lease` ([`MySqlSink::lease`],
//!   [`Lease`]).
//! - [`run_history`]: one row per stream per run in `wdt_sync_run` ([`MySqlSink::run_started`],
//!   [`MySqlSink::run_finished`], [`MySqlSink::recent_runs`], [`MySqlSink::prune_runs`]).
//! - [`overview`]: what a status page shows of every stream (checkpoint, dead letters, lease,
//!   recent runs, failure streak) in two statements ([`MySqlSink::stream_states`],
//!   [`MySqlSink::stream_runs`]).
//! - [`tsv`]: the LOAD DATA text of refunds and its statement, for exports and reference loads.
//! - Internal: `prepare` (de-duplicate, map), `row` (checked cells), `flat` / `normalized` (the
//!   hand-written row mapping the presets are tested against, test builds only), `encode` (LOAD DATA text), `infile` (the LOAD DATA path), `overwrite` (stored rows
//!   changed in place: provably safe `REPLACE`, or a staging table), `insert` (the multi-row
//!   statement fallback), `write` (the transaction), `dead_letter`, `checkpoint` (per stream and
//!   data table), `setup` (connect-time checks, DDL only for what is missing), `migrate`, `conn`
//!   (timeouts, the abandon switch, connections closed rather than pooled when in doubt),
//!   `retried` (the retry loop of the lease and run-history statements).
//!
//! ## How a batch is written
//! Every data table ends with an `account` column that leads its primary key: a batch's rows
//! carry its stream's account, and everything below reads, locks, compares and deletes only
//! that account's rows, so companies whose refund ids are equal can share the tables.
//! De-duplicated first (newest `modified` wins). Inside the transaction, the stored keys and
//! versions of the batch's refunds are read with `SELECT … FOR UPDATE` (dense id chunks as one
//! range); refunds whose stored copy is newer are skipped (`upsert`). The rest are mapped on a
//! blocking thread and the first table's rows are streamed to `LOAD DATA LOCAL INFILE` while they
//! are encoded, so the server loads while the client encodes and memory stays bounded. Stored
//! rows are changed in place, never deleted and inserted again, so columns the user added to a
//! table, `ON DELETE CASCADE` children and delete triggers are left alone (`REPLACE` only where
//! that provably changes nothing else, else a temporary staging table merged with `UPDATE`).
//! The stored rows of each written refund that are not in its new row set are deleted. When the server refuses local infile, the same rows go through
//! multi-row statements instead. A value the server rejects sends the batch through again one
//! refund at a time (savepoints), so only that refund becomes a dead letter.
//!
//! ## Riding through the database
//! Every MySQL operation has a timeout ([`MySqlSinkBuilder::timeout`], 120 s by default, above
//! the server's `innodb_lock_wait_timeout`) and TCP keepalive is on, so a connection that stops
//! answering cannot hang the process. A connection that timed out, or whose commit was dropped
//! or [abandoned](MySqlSink::abandon), is closed and never pooled again; the server rolls its
//! transaction back. A lost connection (server restart, failover, "gone away") is retried on a
//! new one for [`MySqlSinkBuilder::connection_retry_budget`] (2 minutes by default); deadlocks
//! and lock wait timeouts are retried [`MySqlSinkBuilder::max_retries`] times.
//!
//! ## One runner per stream
//! [`MySqlSink::lease`] takes a stream's lease for a ttl in one transaction, or says who holds it
//! ([`LeaseOutcome::HeldBy`], for a "skipped: held by host:pid until …" line;
//! [`MySqlSink::lease_wait`] waits instead). [`Lease::keep_alive`] renews it every ttl/3;
//! [`Lease::lost`] resolves and [`Lease::is_held`] turns false when it is taken over or not
//! renewed in time; [`Lease::release`] hands it on at once. A holder that died is taken over
//! once its lease expires, with the next generation. Expiry runs on the database's clock. The
//! lease is a row rather than `GET_LOCK`, which a MariaDB Galera node grants locally: two nodes
//! writing the row conflict at `COMMIT`, and a failed `COMMIT` is never taken as acquired. While
//! the sink holds a stream's lease, each batch it commits for that stream checks the lease in
//! its transaction, so a holder that stalled and was taken over cannot commit
//! ([`SinkError::LeaseLost`]).
//!
//! ```no_run
//! # use std::time::Duration;
//! # use refund_sink_mysql::{LeaseOutcome, MySqlSink, RunEnd, RunStart};
//! # use wdt_qimen::sync::StreamId;
//! # async fn run(sink: MySqlSink, stream: StreamId) -> Result<(), Box<dyn std::error::Error>> {
//! let lease = match sink.lease(&stream, Duration::from_secs(60)).await? {
//!     LeaseOutcome::Acquired(lease) => lease,
//!     LeaseOutcome::HeldBy(holder) => {
//!         println!("{stream} skipped: {holder}");
//!         return Ok(());
//!     }
//! };
//! lease.keep_alive();
//! let run = sink.run_started(&stream, RunStart::new(lease.owner().clone())).await?;
//! // … sync the stream, stopping when `lease.lost()` resolves …
//! sink.run_finished(run, RunEnd::new(refund_sink_mysql::RunOutcome::Ok)).await?;
//! lease.release().await?;
//! # Ok(()) }
//! ```
//!
//! ## Run history
//! `wdt_sync_run` holds one row per stream per run: owner, start and end, window, requests,
//! pages, refunds, rows inserted / updated / deleted / unchanged / skipped, dead letters,
//! retries, throttles, clock offset, outcome ([`RunOutcome`]) and a one-line error (clipped to
//! 1,000 characters, URL credentials hidden). A run that died stays `running` until the next run
//! of its stream marks it `abandoned`. [`MySqlSink::prune_runs`] keeps it bounded.
//!
//! ## Security
//! `LOAD DATA LOCAL` lets a server ask the client for a file; the sink's handler only ever streams
//! the batch it is writing (from memory), whatever file name the server asks for. The connection
//! URL's password never reaches logs, errors or `Debug` output ([`redact_url`]).

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod config;
pub mod connect;
pub mod dialect;
pub mod error;
pub mod lease;
pub mod mapping;
pub mod names;
pub mod overview;
pub mod pool;
pub mod retry;
pub mod run_history;
pub mod schema;
pub mod sink;
pub mod tsv;

mod checkpoint;
mod conn;
mod dead_letter;
mod encode;
#[cfg(test)]
mod flat;
mod infile;
mod insert;
mod migrate;
#[cfg(test)]
mod normalized;
mod overwrite;
mod prepare;
mod retried;
mod row;
mod setup;
pub mod verify;
mod write;

pub use config::{Layout, WriteMode};
pub use connect::SslMode;
pub use dialect::{Dialect, ServerKind};
pub use error::SinkError;
pub use lease::{Lease, LeaseHolder, LeaseLoss, LeaseOutcome, LeaseOwner};
pub use mapping::{Mapping, MappingError, MappingSpec};
pub use names::TableNames;
pub use overview::{LeaseRow, StreamRuns, StreamState, StreamStates};
pub use pool::SharedPool;
pub use retry::RetryPolicy;
pub use run_history::{RunCounts, RunEnd, RunId, RunOutcome, RunRow, RunStart};
pub use sink::{redact_url, BeforeCommitHook, BoxError, CommitContext, MySqlSink, MySqlSinkBuilder};
pub use verify::VerifyRecord;
