//! What a status page shows of the streams in one set of tables, read in two statements.
//!
//! [`MySqlSink::stream_states`] reads every stream's checkpoint, its dead letters waiting and its
//! lease (with the database's clock) in one `UNION ALL` statement; [`MySqlSink::stream_runs`]
//! reads the recent runs of the streams asked for, with each stream's failure streak, in
//! another. Both are one attempt on one connection within a time limit given by the caller (no
//! retry: a page or a probe that cannot reach the database says so at once), read no record
//! data, hold no lock (plain consistent reads) and return bounded rows: the runs of a stream
//! come from its own index (`account`, `method`, `id`), newest first.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::NaiveDateTime;
use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};
use wdt_qimen::sync::StreamId;

use crate::conn::HeldConn;
use crate::error::SinkError;
use crate::names::{quote_ident, TableNames};
use crate::run_history::{run_row, RunRow, RUN_COLUMNS};
use crate::sink::MySqlSink;

/// The most streams [`MySqlSink::stream_states`] returns (the rows read are bounded by a few
/// per stream: one per data table, its dead-letter count, its lease).
pub const MAX_STREAMS: usize = 200;
/// The most runs of one stream [`MySqlSink::stream_runs`] reads.
pub const MAX_RUNS_PER_STREAM: u32 = 2_000;

/// A stream's lease row, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseRow {
    /// The holder's host name.
    pub host: String,
    /// The holder's process id.
    pub pid: i64,
    /// Its last renewal (database time, Beijing).
    pub heartbeat_at: NaiveDateTime,
    /// When it expires unless renewed (database time, Beijing).
    pub expires_at: NaiveDateTime,
    /// When it was released, if it was.
    pub released_at: Option<NaiveDateTime>,
    /// Held now: not released and not expired by the database's clock.
    pub live: bool,
}

/// One stream of the tables: its checkpoint, dead letters and lease.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamState {
    /// The stream.
    pub stream: StreamId,
    /// Its checkpoint over the sink's layout (the earliest of its data tables; `None` while one
    /// of them has none).
    pub checkpoint: Option<NaiveDateTime>,
    /// When a checkpoint of the stream last moved (database time, Beijing).
    pub checkpoint_updated_at: Option<NaiveDateTime>,
    /// Dead letters stored for the stream.
    pub dead_letters: u64,
    /// Its lease row, if it ever had one.
    pub lease: Option<LeaseRow>,
}

impl StreamState {
    /// A stream with nothing stored yet.
    pub fn empty(stream: StreamId) -> Self {
        Self {
            stream,
            checkpoint: None,
            checkpoint_updated_at: None,
            dead_letters: 0,
            lease: None,
        }
    }
}

/// The streams of the tables, and the database's clock when they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStates {
    /// `NOW(6)` of the database (Beijing, the sink's session time zone).
    pub db_now: NaiveDateTime,
    /// Every stream found in the checkpoint, dead-letter and lease tables, by account and
    /// method (at most [`MAX_STREAMS`]).
    pub streams: Vec<StreamState>,
}

/// The recent runs of one stream and its failure streak.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamRuns {
    /// The stream.
    pub stream: StreamId,
    /// Its newest runs, newest first: those started within the hours asked for (at most the
    /// limit asked for), and always its newest few whatever their age.
    pub runs: Vec<RunRow>,
    /// Failed runs since its last `ok` run (all its failed runs when none was ok).
    pub failure_streak: u64,
    /// When the first run of the streak started.
    pub failing_since: Option<NaiveDateTime>,
}

/// The newest runs of a stream returned whatever their age.
const ALWAYS_NEWEST: u32 = 10;

fn states_sql(names: &TableNames) -> String {
    format!(
        "SELECT 'n' AS `kind`, NULL AS `account`, NULL AS `method`, NULL AS `text`, NULL AS `num`, NOW(6) AS `t1`, \
         NULL AS `t2`, NULL AS `t3`, NULL AS `flag` \
         UNION ALL SELECT 'c', `account`, `method`, `data_table`, NULL, `window_end`, `updated_at`, NULL, NULL \
         FROM {state} \
         UNION ALL SELECT 'd', `account`, `method`, NULL, COUNT(*), NULL, NULL, NULL, NULL FROM {dead} \
         GROUP BY `account`, `method` \
         UNION ALL SELECT 'l', `account`, `method`, `owner_host`, `owner_pid`, `heartbeat_at`, `expires_at`, \
         `released_at`, IF(`released_at` IS NULL AND `expires_at` > NOW(6), 1, 0) FROM {lease} \
         LIMIT {limit}",
        state = quote_ident(&names.sync_state),
        dead = quote_ident(&names.dead_letter),
        lease = quote_ident(&names.lease),
        limit = MAX_STREAMS * 8 + 1,
    )
}

/// One stream's part of the runs statement: its newest `?` runs (by its own index) kept when
/// started within `?` hours or among its [`ALWAYS_NEWEST`], with its streak as two columns.
fn runs_part_sql(run: &str) -> String {
    let last_ok =
        format!("(SELECT COALESCE(MAX(`id`), 0) FROM {run} WHERE `account` = ? AND `method` = ? AND `outcome` = 'ok')");
    let streak = |what: &str| {
        format!(
            "(SELECT {what} FROM {run} WHERE `account` = ? AND `method` = ? AND `outcome` = 'failed' AND `id` > {last_ok})"
        )
    };
    format!(
        "(SELECT {RUN_COLUMNS}, ? AS `stream_no`, {} AS `streak`, {} AS `since` FROM \
         (SELECT * FROM {run} WHERE `account` = ? AND `method` = ? ORDER BY `id` DESC LIMIT ?) AS `r` \
         WHERE `r`.`started_at` >= NOW(6) - INTERVAL ? HOUR OR `r`.`id` >= COALESCE((SELECT `id` FROM {run} \
         WHERE `account` = ? AND `method` = ? ORDER BY `id` DESC LIMIT 1 OFFSET {}), 0))",
        streak("COUNT(*)"),
        streak("MIN(`started_at`)"),
        ALWAYS_NEWEST - 1,
    )
}

fn text_of(row: &mut Row, i: usize) -> Result<Option<String>, String> {
    match row.take_opt::<Option<String>, _>(i) {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("missing".into()),
    }
}

impl MySqlSink {
    /// Every stream of the sink's tables: checkpoint, dead letters waiting, lease; one statement,
    /// one attempt within `limit`.
    pub async fn stream_states(&self, limit: Duration) -> Result<StreamStates, SinkError> {
        let inner = self.inner();
        let sql = states_sql(&inner.names);
        let rows: Vec<Row> = once(limit, "reading the streams' state", async {
            let mut held = HeldConn::get(&inner.pool).await?;
            let rows = held
                .conn()
                .query(&sql)
                .await
                .map_err(SinkError::mysql("reading the streams' state"))?;
            held.release();
            Ok(rows)
        })
        .await?;
        let table = quote_ident(&inner.names.sync_state);
        let bad = |detail: String| SinkError::Inconsistent {
            table: table.clone(),
            detail,
        };
        let mut db_now = None;
        let mut checkpoints: BTreeMap<(String, String), HashMap<String, NaiveDateTime>> = BTreeMap::new();
        let mut updated: HashMap<(String, String), NaiveDateTime> = HashMap::new();
        let mut dead: HashMap<(String, String), u64> = HashMap::new();
        let mut leases: HashMap<(String, String), LeaseRow> = HashMap::new();
        for mut row in rows {
            let kind = text_of(&mut row, 0).map_err(&bad)?.unwrap_or_default();
            let account = text_of(&mut row, 1).map_err(&bad)?.unwrap_or_default();
            let method = text_of(&mut row, 2).map_err(&bad)?.unwrap_or_default();
            let text = text_of(&mut row, 3).map_err(&bad)?;
            let num: Option<i64> = row.take_opt(4).and_then(Result::ok).flatten();
            let t1: Option<NaiveDateTime> = row.take_opt(5).and_then(Result::ok).flatten();
            let t2: Option<NaiveDateTime> = row.take_opt(6).and_then(Result::ok).flatten();
            let t3: Option<NaiveDateTime> = row.take_opt(7).and_then(Result::ok).flatten();
            let flag: Option<i64> = row.take_opt(8).and_then(Result::ok).flatten();
            let key = (account, method);
            match kind.as_str() {
                "n" => db_now = t1,
                "c" => {
                    let (Some(table), Some(end)) = (text, t1) else {
                        continue;
                    };
                    checkpoints.entry(key.clone()).or_default().insert(table, end);
                    if let Some(at) = t2 {
                        let e = updated.entry(key).or_insert(at);
                        *e = (*e).max(at);
                    }
                }
                "d" => {
                    dead.insert(key, num.unwrap_or(0).max(0).unsigned_abs());
                }
                "l" => {
                    let (Some(heartbeat_at), Some(expires_at)) = (t1, t2) else {
                        continue;
                    };
                    leases.insert(
                        key,
                        LeaseRow {
                            host: text.unwrap_or_default(),
                            pid: num.unwrap_or(0),
                            heartbeat_at,
                            expires_at,
                            released_at: t3,
                            live: flag == Some(1),
                        },
                    );
                }
                other => return Err(bad(format!("unexpected row kind {other:?}"))),
            }
        }
        let db_now = db_now.ok_or_else(|| bad("the database's clock was not read".into()))?;
        let mut keys: Vec<(String, String)> = checkpoints.keys().cloned().collect();
        keys.extend(dead.keys().cloned());
        keys.extend(leases.keys().cloned());
        keys.sort();
        keys.dedup();
        keys.truncate(MAX_STREAMS);
        let tables = inner.tables;
        let streams = keys
            .into_iter()
            .map(|key| {
                let stream = StreamId::new(key.0.clone(), key.1.clone());
                let checkpoint = checkpoints
                    .get(&key)
                    .and_then(|stored| crate::checkpoint::earliest(stored, tables, &stream))
                    .map(|c| c.window_end);
                StreamState {
                    checkpoint,
                    checkpoint_updated_at: updated.get(&key).copied(),
                    dead_letters: dead.get(&key).copied().unwrap_or(0),
                    lease: leases.remove(&key),
                    stream,
                }
            })
            .collect();
        Ok(StreamStates { db_now, streams })
    }

    /// The runs of each of `streams` started within the last `hours` (at most `max_runs` each,
    /// up to [`MAX_RUNS_PER_STREAM`]), and always its newest few, with its failure streak; one
    /// statement, one attempt within `limit`. In the order of `streams` (a stream without runs
    /// has an empty list).
    pub async fn stream_runs(
        &self,
        streams: &[StreamId],
        hours: u32,
        max_runs: u32,
        limit: Duration,
    ) -> Result<Vec<StreamRuns>, SinkError> {
        if streams.is_empty() {
            return Ok(Vec::new());
        }
        let inner = self.inner();
        for s in streams {
            crate::checkpoint::check_stream(s, &inner.dialect)?;
        }
        let part = runs_part_sql(&quote_ident(&inner.names.run));
        let sql = vec![part; streams.len()].join(" UNION ALL ");
        let max_runs = max_runs.clamp(1, MAX_RUNS_PER_STREAM);
        let mut params: Vec<Value> = Vec::new();
        for (i, s) in streams.iter().enumerate() {
            let (a, m) = (Value::from(s.account.as_str()), Value::from(s.method.as_str()));
            params.push(Value::from(i as u64));
            for _ in 0..2 {
                // the streak's COUNT and MIN: the stream, then the stream of its last ok run
                params.extend([a.clone(), m.clone(), a.clone(), m.clone()]);
            }
            params.extend([a.clone(), m.clone(), Value::from(max_runs), Value::from(hours)]);
            params.extend([a, m]);
        }
        let rows: Vec<Row> = once(limit, "reading the run history", async {
            let mut held = HeldConn::get(&inner.pool).await?;
            let rows = held
                .conn()
                .exec(&sql, params)
                .await
                .map_err(SinkError::mysql("reading the run history"))?;
            held.release();
            Ok(rows)
        })
        .await?;
        let mut out: Vec<StreamRuns> = streams
            .iter()
            .map(|s| StreamRuns {
                stream: s.clone(),
                runs: Vec::new(),
                failure_streak: 0,
                failing_since: None,
            })
            .collect();
        let table = quote_ident(&inner.names.run);
        for mut row in rows {
            let bad = |detail: &str| SinkError::Inconsistent {
                table: table.clone(),
                detail: detail.to_owned(),
            };
            let no: u64 = row
                .take_opt(25)
                .and_then(Result::ok)
                .ok_or_else(|| bad("no stream number"))?;
            let streak: Option<u64> = row.take_opt(26).and_then(Result::ok).flatten();
            let since: Option<NaiveDateTime> = row.take_opt(27).and_then(Result::ok).flatten();
            let entry = usize::try_from(no)
                .ok()
                .and_then(|i| out.get_mut(i))
                .ok_or_else(|| bad("a stream number out of range"))?;
            entry.failure_streak = streak.unwrap_or(0);
            entry.failing_since = since;
            entry.runs.push(run_row(row, &inner.names)?);
        }
        for s in &mut out {
            s.runs.sort_by_key(|r| std::cmp::Reverse(r.id));
        }
        Ok(out)
    }
}

/// `op` once within `limit`, as [`SinkError::Timeout`] when it runs out (its connection is
/// closed, not pooled).
async fn once<T>(
    limit: Duration,
    during: &'static str,
    op: impl std::future::Future<Output = Result<T, SinkError>>,
) -> Result<T, SinkError> {
    tokio::time::timeout(limit, op)
        .await
        .unwrap_or(Err(SinkError::Timeout { during, after: limit }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statements_read_bounded_rows_by_the_streams_own_index() {
        let names = TableNames::new("p_").unwrap();
        let s = states_sql(&names);
        for t in ["`p_wdt_sync_state`", "`p_wdt_sync_dead_letter`", "`p_wdt_sync_lease`"] {
            assert!(s.contains(&format!("FROM {t}")), "{s}");
        }
        assert!(s.ends_with(&format!("LIMIT {}", MAX_STREAMS * 8 + 1)), "{s}");
        assert!(!s.contains("raw_json") && !s.contains("FOR UPDATE"), "{s}");
        let r = runs_part_sql("`p_wdt_sync_run`");
        assert!(
            r.contains("WHERE `account` = ? AND `method` = ? ORDER BY `id` DESC LIMIT ?) AS `r`"),
            "{r}"
        );
        assert!(r.contains("LIMIT 1 OFFSET 9"), "{r}");
        assert_eq!(r.matches('?').count(), 1 + 8 + 6, "{r}");
    }
}
