//! One commit: a transaction per batch, retried whole on deadlock, lock wait timeout and lost
//! connections.
//!
//! Inside the transaction:
//! 1. lock and read what is stored for the batch's refunds (`SELECT … FOR UPDATE`: keys and
//!    `modified`), and decide per refund: skip it when the stored copy is newer (`upsert`);
//! 2. map the refunds to be written into rows; on the LOAD DATA path the first table's text is
//!    encoded on a blocking thread and streamed to the server as it is produced;
//! 3. per table, write the rows and delete the stored rows of written refunds that are not in
//!    their new row set (a removed detail line disappears). Stored rows are updated in place,
//!    never deleted and inserted again (columns the user added, `ON DELETE CASCADE` children and
//!    delete triggers are left alone): LOAD DATA straight into the table when none of its keys
//!    is stored; else `REPLACE` where that provably changes the rows in place, or a staging
//!    table merged with a multi-table `UPDATE` and `INSERT … SELECT` (see [`crate::overwrite`]);
//!    or multi-row `INSERT` / upsert statements;
//! 4. store the dead letters and the checkpoint, check the stream's lease when this sink holds
//!    one (`lease::check_fence`), run the before-commit hook, `COMMIT`.
//!
//! Rows are counted exactly: keys not stored are inserted; of the stored ones, those the server
//! reports as changed are updated and the rest unchanged (except that a `REPLACE` into a table
//! a foreign key points at reports every stored row as changed).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::NaiveDateTime;
use futures::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, InfileData, Value};
use wdt_qimen::model::Refund;
use wdt_qimen::sync::{Batch, Checkpoint, CommitReport, DeadLetter, StreamId, WindowBounds};

use crate::config::WriteMode;
use crate::conn::HeldConn;
use crate::dialect::is_local_infile_refusal;
use crate::encode::chunk_ranges;
use crate::error::SinkError;
use crate::infile::{load, load_sql, parse_info, LoadInfo};
use crate::insert::{params_size, split_statements, statement_sql, Verb};
use crate::names::quote_ident;
use crate::prepare::{
    dead_letter, dedupe, prepare, prepare_streaming, Mapped, Payload, Prepared, TableData, WritePath,
};
use crate::retry::Retries;
use crate::row::RowMeta;
use crate::schema::{string_literal, Table};
use crate::sink::{CommitContext, Inner};
use crate::{checkpoint, dead_letter as dead_letters, overwrite};

/// Server errors that belong to one record's values (the bulk write is redone per refund to
/// find it): out of range, truncated, bad value, too long, NULL into NOT NULL, foreign key,
/// check constraint, a row too large for the table's row format (1118, and 139 from older
/// servers), a statement larger than `max_allowed_packet` (1153).
const RECORD_ERROR_CODES: &[u16] = &[
    139, 1048, 1118, 1153, 1264, 1265, 1292, 1364, 1366, 1367, 1406, 1411, 1452, 1690, 3819, 4025,
];

/// Why the server refused a value, with the fix when the table can be changed to take it.
fn record_problem(inner: &Inner, table: Table, code: u16, message: &str) -> String {
    let too_big_row = code == 1118 || code == 139 || (code == 1030 && message.contains("139"));
    if too_big_row {
        let t = quote_ident(table.name(&inner.names));
        format!("{message} ({code}); fix: ALTER TABLE {t} ROW_FORMAT=DYNAMIC")
    } else {
        format!("{message} ({code})")
    }
}

/// Bytes of a statement besides its parameters' values (header, types, null bitmap).
const STATEMENT_OVERHEAD: usize = 4_096;

/// LOAD DATA chunks buffered between the encoder and the connection.
const STREAM_DEPTH: usize = 4;

/// Why an attempt did not commit.
#[derive(Debug)]
enum AttemptError {
    /// The server refused LOAD DATA LOCAL: use statements.
    InfileRefused,
    /// The server refused the staging table: write stored rows with statements.
    StagingRefused(String),
    /// A bulk write hit a bad value: redo the batch one refund at a time.
    Isolate(String),
    /// Anything else (retryable or not, see [`SinkError::is_retryable`]).
    Failed(SinkError),
}

impl From<SinkError> for AttemptError {
    fn from(e: SinkError) -> Self {
        AttemptError::Failed(e)
    }
}

fn db(during: &'static str) -> impl FnOnce(mysql_async::Error) -> AttemptError {
    move |source| AttemptError::Failed(SinkError::Mysql { during, source })
}

/// The parts of the batch besides the records.
struct BatchMeta {
    stream: StreamId,
    window: WindowBounds,
    dead_letters: Vec<DeadLetter>,
    checkpoint: Option<Checkpoint>,
}

/// Commits `batch` (see the module docs).
pub(crate) async fn commit(inner: &Inner, batch: Batch<Refund>) -> Result<CommitReport, SinkError> {
    let Batch {
        stream,
        window,
        records,
        dead_letters,
        checkpoint,
    } = batch;
    checkpoint::check_stream(&stream, &inner.dialect)?;
    let meta = BatchMeta {
        stream,
        window,
        dead_letters,
        checkpoint,
    };
    let refunds = Arc::new(dedupe(records));
    let result = run_attempts(inner, &meta, &refunds).await;
    // Freeing a large batch takes a while; keep it off the caller's path.
    if refunds.len() > 1_000 {
        tokio::task::spawn_blocking(move || drop(refunds));
    }
    result
}

/// Runs attempts of the transaction until one commits or the retries run out.
///
/// Each attempt runs within the sink's timeout on a connection of its own, and is abandoned
/// with [`MySqlSink::abandon`](crate::MySqlSink::abandon); either way the attempt is dropped and
/// its connection closed, so the server rolls back what it wrote. Lost lock races are retried
/// `max_retries` times, lost connections (including timeouts) for the connection budget.
///
/// Retrying after a lost connection is safe even when the answer lost was that of `COMMIT`
/// (which may then have committed): the next attempt reads the stored versions afresh, skips or
/// rewrites the same rows with the same values (newer wins), and the checkpoint upsert never
/// moves backwards, so the table ends up the same either way. (`insert` mode reports the
/// already-committed rows as duplicates instead.)
async fn run_attempts(inner: &Inner, meta: &BatchMeta, refunds: &Arc<Vec<Refund>>) -> Result<CommitReport, SinkError> {
    let mut isolate = false;
    let mut retries = Retries::new(&inner.retry);
    loop {
        let path = if isolate {
            WritePath::Statements
        } else {
            inner.write_path()
        };
        let attempt_no = retries.count() + 1;
        let result = inner
            .bounds
            .run("writing a batch", async {
                let conn = HeldConn::get(&inner.pool).await?;
                attempt(conn, inner, meta, refunds, path, isolate, attempt_no).await
            })
            .await;
        match result {
            Ok(mut report) => {
                report.retries = u64::from(retries.count());
                inner.count_dead_letters(report.dead_lettered);
                tracing::debug!(stream = %meta.stream, ?report, "batch committed");
                return Ok(report);
            }
            Err(AttemptError::InfileRefused) => {
                tracing::warn!("the server refuses LOAD DATA LOCAL INFILE; writing with multi-row statements");
                inner.disable_infile();
            }
            Err(AttemptError::StagingRefused(reason)) => {
                tracing::warn!(%reason, "the server refuses a temporary staging table; batches with stored rows are written with multi-row statements");
                inner.disable_staging();
            }
            Err(AttemptError::Isolate(reason)) if !isolate => {
                tracing::warn!(%reason, "a bulk write hit a bad value; writing the batch one refund at a time");
                isolate = true;
            }
            Err(AttemptError::Isolate(reason)) => {
                return Err(SinkError::Inconsistent {
                    table: "(batch)".into(),
                    detail: reason,
                });
            }
            Err(AttemptError::Failed(e)) => {
                let (error, code, reconnect) = (e.to_string(), e.server_code(), e.is_connection_error());
                let pause = retries.after(e)?;
                tracing::warn!(%error, ?code, reconnect, retry = retries.count(), ?pause, "retrying the batch");
                inner.bounds.pause(pause).await?;
            }
        }
    }
}

/// One attempt on its own connection. On any error the transaction is rolled back; when even
/// that fails, or the attempt is dropped half-way (timeout, abandon), the connection is closed
/// instead of going back to the pool.
async fn attempt(
    mut conn: HeldConn,
    inner: &Inner,
    meta: &BatchMeta,
    refunds: &Arc<Vec<Refund>>,
    path: WritePath,
    isolate: bool,
    attempt_no: u32,
) -> Result<CommitReport, AttemptError> {
    let result = transaction(conn.conn(), inner, meta, refunds, path, isolate, attempt_no).await;
    if result.is_ok() || conn.conn().query_drop("ROLLBACK").await.is_ok() {
        conn.release();
    }
    result
}

/// The first statement of every commit: commits into one set of tables take turns, by a lock
/// on the row of the current schema version (`wdt_schema_version`, which every sink of the
/// tables has). Without it, two accounts in the same tables deadlock each other at every
/// attempt: the lookup's `FOR UPDATE` locks the gaps beside the keys it looks for, and where
/// one account's keys end and another's begin (always so in an account's first sync) both
/// transactions hold the same gap and then insert into it. Only the commits of one server node
/// take turns (the lock is not replicated); writes through different Galera nodes are
/// certified instead and never hold each other's gaps.
fn turn_sql(version_table: &str) -> String {
    format!(
        "SELECT `version` FROM {} WHERE `version` = {} FOR UPDATE",
        quote_ident(version_table),
        crate::schema::SCHEMA_VERSION
    )
}

/// What is stored for the batch's refunds.
#[derive(Debug, Default)]
struct Stored {
    /// The stored `modified` per refund (the newest over the version tables).
    versions: HashMap<i64, Option<NaiveDateTime>>,
    /// Per data table (layout order): the stored second key parts per refund.
    keys: Vec<HashMap<i64, Vec<i64>>>,
}

impl Stored {
    fn empty(tables: usize) -> Self {
        Stored {
            versions: HashMap::new(),
            keys: vec![HashMap::new(); tables],
        }
    }

    fn has(&self, table: usize, row: &RowMeta) -> bool {
        self.keys[table]
            .get(&row.refund_id)
            .is_some_and(|k| k.contains(&row.sub_key))
    }
}

/// The lookup query of a data table for `ids` (sorted) of `account`: refund id, second key
/// part, version. A dense chunk (ids covering at least half of their range) is read as one
/// range, which the server scans much faster than it probes an IN list; rows of other refunds
/// in the range are then ignored (but stay locked until the commit). Only the account's rows
/// are read and locked (the key starts with it).
fn lookup_sql(table: Table, name: &str, account: &str, ids: &[i64]) -> String {
    let key = table.primary_key();
    let sub = key.get(2).map_or_else(|| "0".to_owned(), |c| quote_ident(c));
    let version = table.version_column().map_or_else(|| "NULL".to_owned(), quote_ident);
    let refund_id = quote_ident(key[1]);
    let mut sql = format!(
        "SELECT {refund_id}, {sub}, {version} FROM {} WHERE {} = {} AND {refund_id} ",
        quote_ident(name),
        quote_ident(key[0]),
        string_literal(account)
    );
    if let (Some(first), Some(last)) = (ids.first(), ids.last()) {
        let span = i128::from(*last) - i128::from(*first) + 1;
        if ids.len() > 1 && span <= 2 * ids.len() as i128 {
            sql.push_str(&format!("BETWEEN {first} AND {last} FOR UPDATE"));
            return sql;
        }
    }
    sql.push_str("IN (");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&id.to_string());
    }
    sql.push_str(") FOR UPDATE");
    sql
}

/// Locks and reads the stored keys and versions of `ids` (sorted, distinct) of `account` in
/// `tables`.
async fn lookup(
    conn: &mut Conn,
    inner: &Inner,
    tables: &[Table],
    account: &str,
    ids: &[i64],
) -> Result<Stored, AttemptError> {
    let mut stored = Stored::empty(tables.len());
    for (ti, table) in tables.iter().enumerate() {
        let name = table.name(&inner.names);
        for chunk in ids.chunks(inner.limits.lookup_chunk.max(1)) {
            let rows: Vec<(i64, i64, Option<NaiveDateTime>)> = conn
                .query(lookup_sql(*table, name, account, chunk))
                .await
                .map_err(db("reading stored keys"))?;
            for (id, sub, version) in rows {
                if chunk.binary_search(&id).is_err() {
                    continue;
                }
                stored.keys[ti].entry(id).or_default().push(sub);
                if table.version_column().is_some() {
                    let v = stored.versions.entry(id).or_insert(version);
                    *v = (*v).max(version);
                }
            }
        }
    }
    Ok(stored)
}

/// Rows counted by one write.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    inserted: u64,
    updated: u64,
    unchanged: u64,
    deleted: u64,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.deleted += o.deleted;
    }
}

/// Runs the mapping on a blocking thread (it is CPU work over the whole batch).
async fn prepare_blocking(
    inner: &Inner,
    account: &str,
    refunds: &Arc<Vec<Refund>>,
    write: &Arc<Vec<bool>>,
) -> Result<Prepared, AttemptError> {
    let (refunds, write, tables, mode) = (refunds.clone(), write.clone(), inner.tables, inner.mode);
    let account = account.to_owned();
    tokio::task::spawn_blocking(move || prepare(&account, &refunds, &write, tables, mode, WritePath::Statements))
        .await
        .map_err(|e| internal(format!("the row mapping failed: {e}")))
}

fn internal(detail: String) -> AttemptError {
    SinkError::Inconsistent {
        table: "(batch)".into(),
        detail,
    }
    .into()
}

#[allow(clippy::too_many_arguments)]
async fn transaction(
    conn: &mut Conn,
    inner: &Inner,
    meta: &BatchMeta,
    refunds: &Arc<Vec<Refund>>,
    path: WritePath,
    isolate: bool,
    attempt_no: u32,
) -> Result<CommitReport, AttemptError> {
    conn.query_drop("START TRANSACTION")
        .await
        .map_err(db("starting the transaction"))?;
    conn.query_drop(turn_sql(&inner.names.schema_version))
        .await
        .map_err(db("taking the tables' write turn"))?;
    let tables = inner.tables;
    let stored = if inner.mode == WriteMode::Insert || refunds.is_empty() {
        Stored::empty(tables.len())
    } else {
        let ids: Vec<i64> = refunds.iter().map(|r| r.refund_id).collect();
        lookup(conn, inner, tables, &meta.stream.account, &ids).await?
    };

    let mut report = CommitReport::default();
    let mut write = vec![true; refunds.len()];
    if inner.mode == WriteMode::Upsert {
        for (w, r) in write.iter_mut().zip(refunds.iter()) {
            if let (Some(stored), Some(_)) = (stored.versions.get(&r.refund_id), r.modified) {
                if *stored > r.modified {
                    *w = false;
                    report.skipped_older += 1;
                }
            }
        }
    }
    let write = Arc::new(write);

    let mut letters: Vec<DeadLetter> = meta.dead_letters.clone();
    let mut counts = Counts::default();
    // Stored rows may need the staging table on the LOAD DATA path; without it, statements.
    let touches_stored = inner.mode != WriteMode::Insert
        && refunds
            .iter()
            .zip(write.iter())
            .any(|(r, w)| *w && stored.keys.iter().any(|k| k.contains_key(&r.refund_id)));
    let infile = path == WritePath::Infile && (inner.staging_allowed() || !touches_stored);
    // Nothing to write (only a checkpoint, or only older copies): no LOAD DATA round trip.
    if infile && !isolate && write.iter().any(|w| *w) {
        let p = write_streamed(conn, inner, &meta.stream.account, refunds, &write, &stored, &mut counts).await?;
        letters.extend(p.dead_letters);
    } else {
        let p = prepare_blocking(inner, &meta.stream.account, refunds, &write).await?;
        letters.extend(p.dead_letters.iter().cloned());
        if isolate {
            for m in &p.refunds {
                conn.query_drop("SAVEPOINT wdt_refund")
                    .await
                    .map_err(db("setting a savepoint"))?;
                match write_refund_alone(conn, inner, &meta.stream.account, &p, &stored, m).await {
                    Ok(c) => {
                        counts.add(c);
                        conn.query_drop("RELEASE SAVEPOINT wdt_refund")
                            .await
                            .map_err(db("releasing a savepoint"))?;
                    }
                    Err(AttemptError::Isolate(reason)) => {
                        conn.query_drop("ROLLBACK TO SAVEPOINT wdt_refund")
                            .await
                            .map_err(db("rolling back to a savepoint"))?;
                        let r = &refunds[m.index];
                        letters.push(dead_letter(
                            r,
                            format!("refund {} was not written: {reason}", r.refund_id),
                        ));
                    }
                    Err(e) => return Err(e),
                }
            }
        } else {
            for (ti, td) in p.tables.iter().enumerate() {
                counts.deleted += delete_keys(
                    conn,
                    inner,
                    td.table,
                    &meta.stream.account,
                    &stale_keys(ti, &p, &stored),
                )
                .await?;
                counts.add(write_rows(conn, inner, ti, td, &td.rows, &stored).await?);
            }
        }
    }
    report.inserted = counts.inserted;
    report.updated = counts.updated;
    report.unchanged = counts.unchanged;
    report.deleted = counts.deleted;

    if let Some(limit) = inner.max_dead_letters {
        let total = inner.dead_letters_so_far() + letters.len() as u64;
        if total > limit {
            let sample = letters
                .first()
                .map(|l| format!("{}: {}", l.key.as_deref().unwrap_or("?"), l.reason))
                .unwrap_or_default();
            return Err(SinkError::DeadLetterLimit { limit, total, sample }.into());
        }
    }
    dead_letters::store(
        conn,
        &inner.sql.dead_letter_insert,
        &meta.stream,
        &meta.window,
        &letters,
        inner.limits.max_packet,
    )
    .await?;
    report.dead_lettered = letters.len() as u64;
    if inner.tables.iter().any(|t| t.is_user_mapped()) {
        let (select, state) = (&inner.sql.checkpoint_select, &inner.names.sync_state);
        checkpoint::drop_obsolete(conn, select, state, &meta.stream, inner.tables).await?;
    }
    if let Some(cp) = &meta.checkpoint {
        let tables = inner.tables;
        checkpoint::store(conn, &inner.sql.checkpoint_upsert, &meta.stream, tables, cp).await?;
    }
    crate::lease::check_fence(conn, inner, &meta.stream).await?;
    if let Some(hook) = &inner.before_commit {
        hook(CommitContext {
            connection_id: conn.id(),
            attempt: attempt_no,
        })
        .await
        .map_err(SinkError::Hook)?;
    }
    if inner.dry_run {
        conn.query_drop("ROLLBACK")
            .await
            .map_err(db("rolling back a dry run"))?;
    } else {
        conn.query_drop("COMMIT").await.map_err(db("committing"))?;
    }
    Ok(report)
}

/// The LOAD DATA path: the first table is streamed while it is encoded, the other tables are
/// loaded from memory afterwards (each as [`load_mode`] says); then the removed rows are deleted.
#[allow(clippy::too_many_arguments)]
async fn write_streamed(
    conn: &mut Conn,
    inner: &Inner,
    account: &str,
    refunds: &Arc<Vec<Refund>>,
    write: &Arc<Vec<bool>>,
    stored: &Stored,
    counts: &mut Counts,
) -> Result<Prepared, AttemptError> {
    let first = inner.tables[0];
    let any_stored = inner.mode != WriteMode::Insert
        && refunds
            .iter()
            .zip(write.iter())
            .any(|(r, w)| *w && stored.keys[0].contains_key(&r.refund_id));
    let how = load_mode(conn, inner, first, any_stored).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(STREAM_DEPTH);
    let job = {
        let (account, refunds, write, tables, mode, chunk) = (
            account.to_owned(),
            refunds.clone(),
            write.clone(),
            inner.tables,
            inner.mode,
            inner.limits.infile_chunk,
        );
        tokio::task::spawn_blocking(move || prepare_streaming(&account, &refunds, &write, tables, mode, chunk, &tx))
    };
    // The encoder's chunks end on row boundaries and can be larger (one huge refund); every
    // packet must stay under max_allowed_packet.
    let limit = inner.limits.infile_chunk.max(1);
    let stream: InfileData = futures::stream::unfold((rx, Bytes::new()), move |(mut rx, mut rest)| async move {
        if rest.is_empty() {
            rest = rx.recv().await?;
        }
        let piece = rest.split_to(rest.len().min(limit));
        Some((Ok::<Bytes, std::io::Error>(piece), (rx, rest)))
    })
    .boxed();
    let loaded = load_rows(conn, inner, first, how, Source::Stream(stream)).await;
    let p = job
        .await
        .map_err(|e| internal(format!("the row encoder failed: {e}")))?;
    let info = loaded?;
    counts.add(finish_load(conn, inner, how, info, first, &p.tables[0].rows, 0, stored).await?);
    for (ti, td) in p.tables.iter().enumerate() {
        if ti > 0 {
            counts.add(write_rows(conn, inner, ti, td, &td.rows, stored).await?);
        }
        counts.deleted += delete_keys(conn, inner, td.table, account, &stale_keys(ti, &p, stored)).await?;
    }
    Ok(p)
}

/// How the rows of one table are loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoadMode {
    /// Straight into the table: none of its keys is stored.
    Direct,
    /// `REPLACE` into the table with foreign key checks off ([`overwrite::replace_is_safe`]).
    Replace,
    /// Into the (created, empty) staging table, then merged ([`overwrite::merge`]).
    Staged,
}

/// How to load rows of `table` when `any_stored` says whether some of their keys are stored;
/// creates the staging table when it is needed.
async fn load_mode(conn: &mut Conn, inner: &Inner, table: Table, any_stored: bool) -> Result<LoadMode, AttemptError> {
    if !any_stored {
        return Ok(LoadMode::Direct);
    }
    let name = table.name(&inner.names);
    if overwrite::replace_is_safe(conn, &inner.dialect, table, name)
        .await
        .map_err(db("reading a table's columns, triggers and foreign keys"))?
    {
        return Ok(LoadMode::Replace);
    }
    create_staging(conn, inner, table).await?;
    Ok(LoadMode::Staged)
}

/// Where LOAD DATA text comes from.
enum Source {
    /// Streamed while it is encoded.
    Stream(InfileData),
    /// From memory.
    Chunks(Vec<Bytes>),
}

/// Runs the LOAD DATA of `table` that `how` says; around a REPLACE, foreign key checks are
/// off and restored afterwards, whatever happened.
async fn load_rows(
    conn: &mut Conn,
    inner: &Inner,
    table: Table,
    how: LoadMode,
    source: Source,
) -> Result<LoadInfo, AttemptError> {
    let staging = overwrite::staging_name(table);
    let target = match how {
        LoadMode::Staged => staging.as_str(),
        LoadMode::Direct | LoadMode::Replace => table.name(&inner.names),
    };
    let sql = load_sql(table, target, how == LoadMode::Replace);
    if how == LoadMode::Replace {
        conn.query_drop(overwrite::FK_CHECKS_OFF)
            .await
            .map_err(db("turning foreign key checks off"))?;
    }
    let result = match source {
        Source::Stream(stream) => load_stream(conn, &sql, stream).await,
        Source::Chunks(chunks) => load(conn, &sql, chunks).await,
    };
    if how == LoadMode::Replace {
        let restored = conn.query_drop(overwrite::FK_CHECKS_RESTORE).await;
        if result.is_ok() {
            restored.map_err(db("restoring foreign key checks"))?;
        }
    }
    result.map_err(|e| write_error(inner, table, "loading rows (LOAD DATA)", e))
}

/// Runs a LOAD DATA statement fed by `stream`. The stream is dropped when the statement
/// returns, even if the server never asked for the data (a refusal), so its producer stops.
async fn load_stream(conn: &mut Conn, sql: &str, stream: InfileData) -> mysql_async::Result<LoadInfo> {
    // The handler must be `Sync` and the stream is not: hand it over through a mutex.
    let slot = Arc::new(std::sync::Mutex::new(Some(stream)));
    let handler_slot = slot.clone();
    conn.set_infile_handler(async move {
        handler_slot
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .ok_or_else(|| mysql_async::Error::Other("the LOAD DATA stream was already used".into()))
    });
    let result = conn.query_drop(sql).await;
    let unused = slot.lock().ok().and_then(|mut s| s.take());
    drop(unused);
    result?;
    let mut info = parse_info(&conn.info());
    info.warnings = info.warnings.max(u64::from(conn.get_warnings()));
    Ok(info)
}

/// Stored keys of the written refunds that the new rows of table `ti` do not have.
fn stale_keys(ti: usize, p: &Prepared, stored: &Stored) -> Vec<(i64, i64)> {
    let td = &p.tables[ti];
    let mut stale = Vec::new();
    for m in &p.refunds {
        if td.table.holds_amount_lines() && m.keeps_amount_lines {
            // The history method has no amount lines: their absence is not a removal.
            continue;
        }
        let Some(keys) = stored.keys[ti].get(&m.refund_id) else {
            continue;
        };
        let new = &td.rows[m.rows[ti].clone()];
        for k in keys {
            if !new.iter().any(|r| r.sub_key == *k) {
                stale.push((m.refund_id, *k));
            }
        }
    }
    stale
}

/// Deletes `keys` of `account` from `table`; returns the rows deleted.
async fn delete_keys(
    conn: &mut Conn,
    inner: &Inner,
    table: Table,
    account: &str,
    keys: &[(i64, i64)],
) -> Result<u64, AttemptError> {
    let name = quote_ident(table.name(&inner.names));
    let key = table.primary_key();
    let (account_col, refund_col) = (quote_ident(key[0]), quote_ident(key[1]));
    let sub_col = key.get(2).map(|c| quote_ident(c));
    let account = string_literal(account);
    let mut deleted = 0;
    for chunk in keys.chunks(1000) {
        let mut sql = format!("DELETE FROM {name} WHERE {account_col} = {account} AND (");
        for (i, (id, sub)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(" OR ");
            }
            match &sub_col {
                Some(sub_col) => sql.push_str(&format!("({refund_col} = {id} AND {sub_col} = {sub})")),
                None => sql.push_str(&format!("({refund_col} = {id})")),
            }
        }
        sql.push(')');
        conn.query_drop(sql).await.map_err(db("deleting removed lines"))?;
        deleted += conn.affected_rows();
    }
    Ok(deleted)
}

/// Maps a write error: a refused LOAD DATA, a duplicate in insert mode, a record-level value
/// problem, or a plain failure.
fn write_error(inner: &Inner, table: Table, during: &'static str, e: mysql_async::Error) -> AttemptError {
    if let mysql_async::Error::Server(s) = &e {
        if is_local_infile_refusal(s.code) {
            return AttemptError::InfileRefused;
        }
        if s.code == 1062 && inner.mode == WriteMode::Insert {
            return SinkError::Duplicate {
                table: quote_ident(table.name(&inner.names)),
                detail: s.message.clone(),
            }
            .into();
        }
        if RECORD_ERROR_CODES.contains(&s.code) || (s.code == 1030 && s.message.contains("139")) {
            return AttemptError::Isolate(record_problem(inner, table, s.code, &s.message));
        }
    }
    SinkError::Mysql { during, source: e }.into()
}

/// Creates the (empty) staging table of `table`; a server that refuses temporary tables makes
/// the sink write stored rows with statements from now on.
async fn create_staging(conn: &mut Conn, inner: &Inner, table: Table) -> Result<(), AttemptError> {
    match conn.query_drop(overwrite::create_sql(table, &inner.dialect)).await {
        Ok(()) => Ok(()),
        Err(mysql_async::Error::Server(s)) if overwrite::is_refusal(s.code) => {
            Err(AttemptError::StagingRefused(format!("{} ({})", s.message, s.code)))
        }
        Err(e) => Err(db("creating a staging table")(e)),
    }
}

/// Merges the `n` rows staged for `table` into it (see [`overwrite::merge`]) and counts them.
async fn merge_staged(conn: &mut Conn, inner: &Inner, table: Table, n: u64) -> Result<Counts, AttemptError> {
    let m = overwrite::merge(conn, table, table.name(&inner.names), n)
        .await
        .map_err(|(during, e)| write_error(inner, table, during, e))?;
    Ok(Counts {
        inserted: m.inserted,
        updated: m.updated,
        unchanged: m.unchanged,
        deleted: 0,
    })
}

/// Checks the LOAD DATA of `rows` of `table` (table `ti`) and counts them; staged rows are
/// merged into the table first.
#[allow(clippy::too_many_arguments)]
async fn finish_load(
    conn: &mut Conn,
    inner: &Inner,
    how: LoadMode,
    info: LoadInfo,
    table: Table,
    rows: &[RowMeta],
    ti: usize,
    stored: &Stored,
) -> Result<Counts, AttemptError> {
    let n = rows.len() as u64;
    check_load(conn, inner, table, info, n).await?;
    match how {
        LoadMode::Direct => Ok(Counts {
            inserted: n,
            ..Counts::default()
        }),
        LoadMode::Replace => {
            let stored_rows = rows.iter().filter(|r| stored.has(ti, r)).count() as u64;
            let changed = info.deleted.min(stored_rows);
            Ok(Counts {
                inserted: n - stored_rows,
                updated: changed,
                unchanged: stored_rows - changed,
                deleted: 0,
            })
        }
        LoadMode::Staged => merge_staged(conn, inner, table, n).await,
    }
}

/// Checks a LOAD DATA result against the `n` rows sent. With `LOCAL` the server turns bad
/// values and duplicates into warnings, so any warning fails the attempt.
async fn check_load(conn: &mut Conn, inner: &Inner, table: Table, info: LoadInfo, n: u64) -> Result<(), AttemptError> {
    let name = quote_ident(table.name(&inner.names));
    if info.warnings > 0 {
        let warnings: Vec<(String, u16, String)> = conn
            .query("SHOW WARNINGS LIMIT 3")
            .await
            .map_err(db("reading warnings"))?;
        let first = warnings
            .first()
            .map(|w| record_problem(inner, table, w.1, &w.2))
            .unwrap_or_default();
        if inner.mode == WriteMode::Insert && warnings.iter().any(|w| w.1 == 1062) {
            return Err(SinkError::Duplicate {
                table: name,
                detail: first,
            }
            .into());
        }
        return Err(AttemptError::Isolate(format!(
            "LOAD DATA into {name} raised {} warnings, the first: {first}",
            info.warnings
        )));
    }
    if info.records != n || info.skipped != 0 {
        return Err(SinkError::Inconsistent {
            table: name,
            detail: format!(
                "sent {n} rows, the server read {} and skipped {}",
                info.records, info.skipped
            ),
        }
        .into());
    }
    Ok(())
}

/// Writes `rows` of table `ti` from memory; counts what happened.
async fn write_rows(
    conn: &mut Conn,
    inner: &Inner,
    ti: usize,
    td: &TableData,
    rows: &[RowMeta],
    stored: &Stored,
) -> Result<Counts, AttemptError> {
    if rows.is_empty() {
        return Ok(Counts::default());
    }
    let table = td.table;
    let name = table.name(&inner.names);
    match &td.payload {
        Payload::Streamed => Err(internal(format!("{table} was already streamed"))),
        Payload::Text(bytes) => {
            let any_stored = inner.mode != WriteMode::Insert && rows.iter().any(|r| stored.has(ti, r));
            let how = load_mode(conn, inner, table, any_stored).await?;
            let chunks = chunk_ranges(bytes, rows.iter().map(|r| (r.start, r.end)), inner.limits.infile_chunk);
            let info = load_rows(conn, inner, table, how, Source::Chunks(chunks)).await?;
            finish_load(conn, inner, how, info, table, rows, ti, stored).await
        }
        Payload::Params(values) => {
            let mut counts = Counts::default();
            let columns = table.columns().len();
            let max_bytes = inner.limits.max_statement_bytes;
            for range in split_statements(rows, values, columns, inner.limits.max_rows_per_statement, max_bytes) {
                let part = &rows[range];
                if let [row] = part {
                    // Sent, it would make the server drop the connection (and every retry).
                    let size = params_size(&values[row.start..row.end]) + STATEMENT_OVERHEAD;
                    if size > inner.limits.max_packet {
                        return Err(AttemptError::Isolate(format!(
                            "it is too large for one statement: its row in {} takes {size} bytes, more than \
                             the server's max_allowed_packet ({}); fix: raise max_allowed_packet \
                             (SET GLOBAL max_allowed_packet = …)",
                            quote_ident(name),
                            inner.limits.max_packet
                        )));
                    }
                }
                let n = part.len() as u64;
                let stored_n = part.iter().filter(|r| stored.has(ti, r)).count() as u64;
                // Stored rows are updated in place in `replace` mode too (never REPLACE INTO).
                let verb = match inner.mode {
                    WriteMode::Insert => Verb::Insert,
                    _ if stored_n == 0 => Verb::Insert,
                    WriteMode::Replace | WriteMode::Upsert => Verb::Upsert,
                };
                let sql = statement_sql(verb, table, name, part.len(), &inner.dialect);
                let params: Vec<Value> = part
                    .iter()
                    .flat_map(|r| values[r.start..r.end].iter().cloned())
                    .collect();
                conn.exec_drop(sql, params)
                    .await
                    .map_err(|e| write_error(inner, table, "writing rows (multi-row statement)", e))?;
                let affected = conn.affected_rows();
                let fresh = n - stored_n;
                let changed = match verb {
                    Verb::Insert => 0,
                    Verb::Upsert => affected.saturating_sub(fresh) / 2,
                }
                .min(stored_n);
                counts.add(Counts {
                    inserted: fresh,
                    updated: changed,
                    unchanged: stored_n - changed,
                    deleted: 0,
                });
            }
            Ok(counts)
        }
    }
}

/// Isolation mode: one refund's new rows and removed rows, in every table.
async fn write_refund_alone(
    conn: &mut Conn,
    inner: &Inner,
    account: &str,
    p: &Prepared,
    stored: &Stored,
    m: &Mapped,
) -> Result<Counts, AttemptError> {
    let mut counts = Counts::default();
    for (ti, td) in p.tables.iter().enumerate() {
        let new = &td.rows[m.rows[ti].clone()];
        let stale: Vec<(i64, i64)> = stored.keys[ti]
            .get(&m.refund_id)
            .map(|keys| {
                keys.iter()
                    .filter(|k| !new.iter().any(|r| r.sub_key == **k))
                    .map(|k| (m.refund_id, *k))
                    .collect()
            })
            .unwrap_or_default();
        counts.deleted += delete_keys(conn, inner, td.table, account, &stale).await?;
        counts.add(write_rows(conn, inner, ti, td, new, stored).await?);
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_id_chunks_are_read_as_a_range_and_sparse_ones_as_a_list() {
        let dense = lookup_sql(Table::Flat, "f", "a'b", &[10, 11, 13, 14]);
        assert_eq!(
            dense,
            "SELECT `refund_id`, `detail_list_rec_id`, `modified` FROM `f` WHERE `account` = _utf8mb4 X'612762' \
             AND `refund_id` BETWEEN 10 AND 14 FOR UPDATE"
        );
        let sparse = lookup_sql(Table::RefundDetail, "d", "a", &[1, 50, 900]);
        assert_eq!(
            sparse,
            "SELECT `refund_id`, `rec_id`, NULL FROM `d` WHERE `account` = _utf8mb4 X'61' AND `refund_id` IN (1,50,900) \
             FOR UPDATE"
        );
        assert!(lookup_sql(Table::Refund, "r", "a", &[7]).ends_with("IN (7) FOR UPDATE"));
        assert_eq!(
            turn_sql("p_wdt_schema_version"),
            format!(
                "SELECT `version` FROM `p_wdt_schema_version` WHERE `version` = {} FOR UPDATE",
                crate::schema::SCHEMA_VERSION
            )
        );
        assert!(lookup_sql(Table::Refund, "r", "a", &[i64::MIN, i64::MAX]).contains("IN ("));
    }
}
