//! Run history: one row per stream per run in `wdt_sync_run`, written when the run starts
//! ([`MySqlSink::run_started`]) and when it ends ([`MySqlSink::run_finished`]), read by
//! [`MySqlSink::recent_runs`] and kept bounded by [`MySqlSink::prune_runs`].
//!
//! A run that died without recording its end (kill -9, a lost host) stays `running` until the
//! next run of its stream starts: that one marks it `abandoned`, unless its owner still holds
//! a live lease on the stream (a second copy that only skips the stream does not abandon the
//! run of the copy that holds it).
//!
//! Times are the database server's clock (`NOW(6)`, Beijing time); the window is Beijing wall
//! time, as the checkpoints.

use std::fmt;

use chrono::NaiveDateTime;
use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};
use wdt_qimen::sync::{StreamId, SyncReport};

use crate::checkpoint::check_stream;
use crate::conn::HeldConn;
use crate::error::SinkError;
use crate::lease::{LeaseHolder, LeaseOwner};
use crate::names::{quote_ident, TableNames};
use crate::retried::retried;
use crate::sink::{redact_url, MySqlSink};

/// The longest error line stored, in characters.
pub const ERROR_LINE_MAX: usize = 1000;

/// Rows deleted per statement by [`MySqlSink::prune_runs`] (small transactions, as Galera
/// wants them).
const PRUNE_CHUNK: u64 = 5_000;

/// The id of a run's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(pub u64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How a run ended, stored as a short string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RunOutcome {
    /// Started, not ended yet (`running`).
    Running,
    /// Done (`ok`).
    Ok,
    /// Stopped by an error (`failed`).
    Failed,
    /// Stopped early by a shutdown signal (`interrupted`).
    Interrupted,
    /// Not run: another runner held the stream's lease (`skipped_lease`).
    SkippedLease,
    /// Died without recording its end, found by a later run (`abandoned`).
    Abandoned,
}

impl RunOutcome {
    /// Every outcome.
    pub const ALL: [RunOutcome; 6] = [
        RunOutcome::Running,
        RunOutcome::Ok,
        RunOutcome::Failed,
        RunOutcome::Interrupted,
        RunOutcome::SkippedLease,
        RunOutcome::Abandoned,
    ];

    /// The stored string.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Ok => "ok",
            RunOutcome::Failed => "failed",
            RunOutcome::Interrupted => "interrupted",
            RunOutcome::SkippedLease => "skipped_lease",
            RunOutcome::Abandoned => "abandoned",
        }
    }

    /// The outcome stored as `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a run did, as stored with its end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunCounts {
    /// HTTP requests made (`None`: not counted; the sync report has no such count, the
    /// client's `ClientStats::requests` does).
    pub requests: Option<u64>,
    /// Pages fetched.
    pub pages: u64,
    /// Distinct refunds read.
    pub refunds: u64,
    /// Rows inserted.
    pub rows_inserted: u64,
    /// Rows updated.
    pub rows_updated: u64,
    /// Rows deleted (detail lines gone from a refund).
    pub rows_deleted: u64,
    /// Rows already identical.
    pub rows_unchanged: u64,
    /// Records skipped because the stored copy was newer.
    pub rows_skipped: u64,
    /// Records dead-lettered.
    pub dead_letters: u64,
    /// Request retries.
    pub retries: u64,
    /// Throttle answers.
    pub throttles: u64,
    /// The gateway's clock minus the host's, in milliseconds (the estimate).
    pub clock_offset_ms: Option<i64>,
    /// The ± of `clock_offset_ms`, in milliseconds.
    pub clock_uncertainty_ms: Option<i64>,
}

impl RunCounts {
    /// The counts of a sync report (`requests` stays `None`; see [`with_requests`](Self::with_requests)).
    pub fn from_report(report: &SyncReport) -> Self {
        Self {
            requests: None,
            pages: report.pages,
            refunds: report.refunds,
            rows_inserted: report.rows.inserted,
            rows_updated: report.rows.updated,
            rows_deleted: report.rows.deleted,
            rows_unchanged: report.rows.unchanged,
            rows_skipped: report.rows.skipped_older,
            dead_letters: report.dead_letters,
            retries: report.retries,
            throttles: report.throttles,
            clock_offset_ms: report.clock_offset.map(|o| o.estimate().num_milliseconds()),
            clock_uncertainty_ms: report.clock_offset.map(|o| o.uncertainty().num_milliseconds()),
        }
    }

    /// With the number of requests made.
    pub fn with_requests(mut self, requests: u64) -> Self {
        self.requests = Some(requests);
        self
    }
}

/// What is recorded when a run starts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunStart {
    /// Who runs it: host, pid, and the token of the stream's lease when it holds one
    /// ([`Lease::owner`](crate::Lease::owner)).
    pub owner: LeaseOwner,
    /// Where the run reads from (the checkpoint), Beijing wall time.
    pub window_from: Option<NaiveDateTime>,
    /// Where it means to read to, Beijing wall time.
    pub window_to: Option<NaiveDateTime>,
}

impl RunStart {
    /// A run by `owner`, window not known yet.
    pub fn new(owner: LeaseOwner) -> Self {
        Self {
            owner,
            window_from: None,
            window_to: None,
        }
    }

    /// With the window it reads.
    pub fn window(mut self, from: Option<NaiveDateTime>, to: Option<NaiveDateTime>) -> Self {
        self.window_from = from;
        self.window_to = to;
        self
    }
}

/// What is recorded when a run ends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunEnd {
    /// How it ended (anything but [`RunOutcome::Running`]).
    pub outcome: RunOutcome,
    /// What it did (`None`: nothing counted, e.g. skipped).
    pub counts: Option<RunCounts>,
    /// How far it read (the checkpoint reached); `None` keeps what the start recorded.
    pub window_to: Option<NaiveDateTime>,
    /// One line on why it failed (clipped and cleaned by [`error_line`] when stored).
    pub error: Option<String>,
}

impl RunEnd {
    /// An end with `outcome` and nothing else.
    pub fn new(outcome: RunOutcome) -> Self {
        Self {
            outcome,
            counts: None,
            window_to: None,
            error: None,
        }
    }

    /// The end of a run that returned `report`: `interrupted` when a signal stopped it, else
    /// `ok`; its counts, and its checkpoint as the window's end.
    pub fn from_report(report: &SyncReport) -> Self {
        let outcome = if report.interrupted {
            RunOutcome::Interrupted
        } else {
            RunOutcome::Ok
        };
        Self {
            outcome,
            counts: Some(RunCounts::from_report(report)),
            window_to: report.checkpoint,
            error: None,
        }
    }

    /// A run that failed with `error`: its text and its sources' (`: `-separated), stored as one
    /// line. The sources of an unparseable MySQL URL are left out (they may quote the password).
    pub fn failed(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut text = error.to_string();
        let url_error = matches!(error.downcast_ref::<SinkError>(), Some(SinkError::InvalidUrl { .. }));
        let mut source = if url_error { None } else { error.source() };
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        Self::new(RunOutcome::Failed).error(text)
    }

    /// A run skipped because `holder` held the stream's lease.
    pub fn skipped(holder: &LeaseHolder) -> Self {
        Self::new(RunOutcome::SkippedLease).error(format!("skipped: {holder}"))
    }

    /// With counts.
    pub fn counts(mut self, counts: RunCounts) -> Self {
        self.counts = Some(counts);
        self
    }

    /// With the window's end.
    pub fn window_to(mut self, to: NaiveDateTime) -> Self {
        self.window_to = Some(to);
        self
    }

    /// With an error line.
    pub fn error(mut self, text: impl Into<String>) -> Self {
        self.error = Some(text.into());
        self
    }
}

/// One stored run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunRow {
    /// Its id.
    pub id: RunId,
    /// Its stream.
    pub stream: StreamId,
    /// Who ran it.
    pub owner: LeaseOwner,
    /// When it started (database time, Beijing).
    pub started_at: NaiveDateTime,
    /// When it ended (database time, Beijing); `None` while running, and for an abandoned run.
    pub ended_at: Option<NaiveDateTime>,
    /// The window's start (Beijing wall time).
    pub window_from: Option<NaiveDateTime>,
    /// The window's end (Beijing wall time).
    pub window_to: Option<NaiveDateTime>,
    /// How it ended.
    pub outcome: RunOutcome,
    /// What it did, when its end recorded counts.
    pub counts: Option<RunCounts>,
    /// The error line.
    pub error: Option<String>,
}

/// `text` as the one line stored: control characters (newlines, tabs) become spaces, the
/// credentials of any `scheme://user:password@host` URL become `***`, surrounding blanks go,
/// and a text longer than [`ERROR_LINE_MAX`] characters keeps its first `ERROR_LINE_MAX - 1`
/// and ends with `…`.
pub fn error_line(text: &str) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let redacted: Vec<String> = flat
        .split(' ')
        .map(|word| {
            if word.contains("://") && word.contains('@') {
                redact_url(word)
            } else {
                word.to_owned()
            }
        })
        .collect();
    let line = redacted.join(" ");
    let line = line.trim();
    if line.chars().count() <= ERROR_LINE_MAX {
        return line.to_owned();
    }
    let mut clipped: String = line.chars().take(ERROR_LINE_MAX - 1).collect();
    clipped.push('…');
    clipped
}

fn insert_sql(names: &TableNames) -> String {
    format!(
        "INSERT INTO {} (`account`, `method`, `host`, `pid`, `token`, `started_at`, `window_from`, `window_to`, \
         `outcome`) VALUES (?, ?, ?, ?, ?, NOW(6), ?, ?, 'running')",
        quote_ident(&names.run)
    )
}

/// Marks the stream's earlier `running` rows `abandoned`: those of this owner (a run of its
/// own that did not record its end), and those whose owner holds no live lease on the stream.
fn abandon_sql(names: &TableNames) -> String {
    format!(
        "UPDATE {} AS r SET r.`outcome` = 'abandoned', r.`error` = CONCAT('abandoned: the run recorded no end \
         (its process was killed, or lost the database); found by run ', ?) \
         WHERE r.`account` = ? AND r.`method` = ? AND r.`outcome` = 'running' AND r.`id` <> ? \
         AND (r.`token` = ? OR NOT EXISTS (SELECT 1 FROM {} AS l WHERE l.`account` = r.`account` \
         AND l.`method` = r.`method` AND l.`owner_token` = r.`token` AND l.`released_at` IS NULL \
         AND l.`expires_at` > NOW(6)))",
        quote_ident(&names.run),
        quote_ident(&names.lease)
    )
}

fn finish_sql(names: &TableNames) -> String {
    format!(
        "UPDATE {} SET `ended_at` = NOW(6), `outcome` = ?, `window_to` = COALESCE(?, `window_to`), \
         `requests` = ?, `pages` = ?, `refunds` = ?, `rows_inserted` = ?, `rows_updated` = ?, \
         `rows_deleted` = ?, `rows_unchanged` = ?, `rows_skipped` = ?, `dead_letters` = ?, `retries` = ?, \
         `throttles` = ?, `clock_offset_ms` = ?, `clock_uncertainty_ms` = ?, `error` = ? WHERE `id` = ?",
        quote_ident(&names.run)
    )
}

pub(crate) const RUN_COLUMNS: &str = "`id`, `account`, `method`, `host`, `pid`, `token`, `started_at`, `ended_at`, \
     `window_from`, `window_to`, `requests`, `pages`, `refunds`, `rows_inserted`, `rows_updated`, \
     `rows_deleted`, `rows_unchanged`, `rows_skipped`, `dead_letters`, `retries`, `throttles`, \
     `clock_offset_ms`, `clock_uncertainty_ms`, `outcome`, `error`";

fn recent_sql(names: &TableNames, filtered: bool) -> String {
    format!(
        "SELECT {RUN_COLUMNS} FROM {}{} ORDER BY `id` DESC LIMIT ?",
        quote_ident(&names.run),
        if filtered {
            " WHERE `account` = ? AND `method` = ?"
        } else {
            ""
        }
    )
}

/// The first run young enough to keep: ids follow the start order, so the older runs are the
/// ids below it (found by walking the primary key from the oldest row, never the whole table).
fn prune_boundary_sql(names: &TableNames) -> String {
    format!(
        "SELECT `id` FROM {} WHERE `started_at` >= NOW(6) - INTERVAL ? DAY ORDER BY `id` LIMIT 1",
        quote_ident(&names.run)
    )
}

/// One chunk of old runs below the boundary (a run whose id is out of start order waits for a
/// later prune).
fn prune_sql(names: &TableNames) -> String {
    format!(
        "DELETE FROM {} WHERE `id` < ? AND `started_at` < NOW(6) - INTERVAL ? DAY ORDER BY `id` LIMIT {PRUNE_CHUNK}",
        quote_ident(&names.run)
    )
}

fn count(n: u64) -> Value {
    Value::from(i64::try_from(n).unwrap_or(i64::MAX))
}

impl MySqlSink {
    /// Records that a run of `stream` starts (outcome `running`) and returns its id.
    ///
    /// In the same transaction, the stream's earlier `running` rows are marked `abandoned` when
    /// their owner cannot still be running: rows of the same owner token, and rows whose owner
    /// holds no live lease on the stream (expired, released, or never taken). So a run that
    /// holds the stream's lease abandons every earlier run that died, and a copy that merely
    /// skips the stream abandons none of the holder's.
    pub async fn run_started(&self, stream: &StreamId, start: RunStart) -> Result<RunId, SinkError> {
        let inner = self.inner();
        check_stream(stream, &inner.dialect)?;
        let (insert, abandon) = (insert_sql(&inner.names), abandon_sql(&inner.names));
        let params: Vec<Value> = vec![
            stream.account.as_str().into(),
            stream.method.as_str().into(),
            start.owner.host.as_str().into(),
            start.owner.pid.into(),
            start.owner.token.as_str().into(),
            start.window_from.into(),
            start.window_to.into(),
        ];
        let (id, abandoned) = retried(inner, "recording a run's start", None, |mut held: HeldConn| {
            let (insert, abandon, params, token) = (&insert, &abandon, params.clone(), &start.owner.token);
            async move {
                let result = async {
                    let conn = held.conn();
                    conn.query_drop("START TRANSACTION")
                        .await
                        .map_err(SinkError::mysql("starting the run-history transaction"))?;
                    conn.exec_drop(insert, params)
                        .await
                        .map_err(SinkError::mysql("recording a run's start"))?;
                    let id = conn.last_insert_id().unwrap_or(0);
                    let abandon_params: Vec<Value> = vec![
                        id.to_string().into(),
                        stream.account.as_str().into(),
                        stream.method.as_str().into(),
                        id.into(),
                        token.as_str().into(),
                    ];
                    conn.exec_drop(abandon, abandon_params)
                        .await
                        .map_err(SinkError::mysql("marking abandoned runs"))?;
                    let abandoned = conn.affected_rows();
                    conn.query_drop("COMMIT")
                        .await
                        .map_err(SinkError::mysql("committing a run's start"))?;
                    Ok((id, abandoned))
                }
                .await;
                (held, result)
            }
        })
        .await?;
        if abandoned > 0 {
            tracing::warn!(%stream, run = id, abandoned, "earlier runs of the stream recorded no end: marked abandoned");
        }
        Ok(RunId(id))
    }

    /// Records the end of run `id`: outcome, counts, window end and error line.
    pub async fn run_finished(&self, id: RunId, end: RunEnd) -> Result<(), SinkError> {
        if end.outcome == RunOutcome::Running {
            return Err(SinkError::InvalidConfig {
                problem: format!("run {id} cannot end with the outcome `running`"),
                fix: "end it as ok, failed, interrupted, skipped_lease or abandoned".into(),
            });
        }
        let inner = self.inner();
        let sql = finish_sql(&inner.names);
        let c = end.counts.clone();
        let field = |f: fn(&RunCounts) -> u64| c.as_ref().map(|c| count(f(c))).unwrap_or(Value::NULL);
        let params: Vec<Value> = vec![
            end.outcome.as_str().into(),
            end.window_to.into(),
            c.as_ref().and_then(|c| c.requests).map(count).unwrap_or(Value::NULL),
            field(|c| c.pages),
            field(|c| c.refunds),
            field(|c| c.rows_inserted),
            field(|c| c.rows_updated),
            field(|c| c.rows_deleted),
            field(|c| c.rows_unchanged),
            field(|c| c.rows_skipped),
            field(|c| c.dead_letters),
            field(|c| c.retries),
            field(|c| c.throttles),
            c.as_ref().and_then(|c| c.clock_offset_ms).into(),
            c.as_ref().and_then(|c| c.clock_uncertainty_ms).into(),
            end.error.as_deref().map(error_line).into(),
            id.0.into(),
        ];
        let changed = retried(inner, "recording a run's end", None, |mut held: HeldConn| {
            let (sql, params) = (&sql, params.clone());
            async move {
                let result = async {
                    let conn = held.conn();
                    conn.exec_drop(sql, params)
                        .await
                        .map_err(SinkError::mysql("recording a run's end"))?;
                    Ok(conn.affected_rows())
                }
                .await;
                (held, result)
            }
        })
        .await?;
        if changed == 0 {
            return Err(SinkError::InvalidConfig {
                problem: format!("run {id} is not in {}", quote_ident(&inner.names.run)),
                fix: "pass the id that run_started returned (a run older than the history kept is pruned)".into(),
            });
        }
        Ok(())
    }

    /// The `limit` newest runs, newest first: of `stream`, or of every stream.
    pub async fn recent_runs(&self, stream: Option<&StreamId>, limit: u32) -> Result<Vec<RunRow>, SinkError> {
        let inner = self.inner();
        let sql = recent_sql(&inner.names, stream.is_some());
        let mut params: Vec<Value> = Vec::new();
        if let Some(s) = stream {
            params.push(s.account.as_str().into());
            params.push(s.method.as_str().into());
        }
        params.push(limit.into());
        let rows: Vec<Row> = retried(inner, "reading the run history", None, |mut held: HeldConn| {
            let (sql, params) = (&sql, params.clone());
            async move {
                let result = held
                    .conn()
                    .exec(sql, params)
                    .await
                    .map_err(SinkError::mysql("reading the run history"));
                (held, result)
            }
        })
        .await?;
        rows.into_iter().map(|r| run_row(r, &inner.names)).collect()
    }

    /// Every stream of `account` with a checkpoint or a recorded run (its live stream, its
    /// backfills, …), sorted by method.
    pub async fn streams_of(&self, account: &str) -> Result<Vec<StreamId>, SinkError> {
        let inner = self.inner();
        let sql = format!(
            "SELECT `method` FROM {} WHERE `account` = ? UNION SELECT `method` FROM {} WHERE `account` = ?",
            quote_ident(&inner.names.sync_state),
            quote_ident(&inner.names.run)
        );
        let mut methods: Vec<String> = retried(inner, "reading the streams", None, |mut held: HeldConn| {
            let sql = &sql;
            async move {
                let result = held
                    .conn()
                    .exec(sql, (account, account))
                    .await
                    .map_err(SinkError::mysql("reading the streams"));
                (held, result)
            }
        })
        .await?;
        methods.sort();
        methods.dedup();
        Ok(methods.into_iter().map(|m| StreamId::new(account, m)).collect())
    }

    /// Deletes the runs that started more than `older_than_days` days ago (database time), in
    /// chunks; returns how many. At least one day.
    pub async fn prune_runs(&self, older_than_days: u32) -> Result<u64, SinkError> {
        if older_than_days == 0 {
            return Err(SinkError::InvalidConfig {
                problem: "the run history would be kept for 0 days".into(),
                fix: "keep it for at least 1 day (e.g. --history-days 90)".into(),
            });
        }
        let inner = self.inner();
        let (boundary_sql, sql) = (prune_boundary_sql(&inner.names), prune_sql(&inner.names));
        let boundary: Option<u64> = retried(inner, "pruning the run history", None, |mut held: HeldConn| {
            let sql = &boundary_sql;
            async move {
                let result = held
                    .conn()
                    .exec_first(sql, (older_than_days,))
                    .await
                    .map_err(SinkError::mysql("pruning the run history"));
                (held, result)
            }
        })
        .await?;
        let below = boundary.map_or(i64::MAX, |id| i64::try_from(id).unwrap_or(i64::MAX));
        let mut total = 0;
        loop {
            let deleted = retried(inner, "pruning the run history", None, |mut held: HeldConn| {
                let sql = &sql;
                async move {
                    let result = async {
                        let conn = held.conn();
                        conn.exec_drop(sql, (below, older_than_days))
                            .await
                            .map_err(SinkError::mysql("pruning the run history"))?;
                        Ok(conn.affected_rows())
                    }
                    .await;
                    (held, result)
                }
            })
            .await?;
            total += deleted;
            if deleted < PRUNE_CHUNK {
                break;
            }
        }
        if total > 0 {
            tracing::info!(deleted = total, older_than_days, "run history pruned");
        }
        Ok(total)
    }
}

/// Decodes one row of [`RUN_COLUMNS`].
pub(crate) fn run_row(mut row: Row, names: &TableNames) -> Result<RunRow, SinkError> {
    let table = quote_ident(&names.run);
    let bad = |column: &str, detail: String| SinkError::Inconsistent {
        table: table.clone(),
        detail: format!("column `{column}`: {detail}"),
    };
    macro_rules! take {
        ($i:expr, $name:expr) => {
            match row.take_opt($i) {
                Some(Ok(v)) => v,
                Some(Err(e)) => return Err(bad($name, e.to_string())),
                None => return Err(bad($name, "missing".into())),
            }
        };
    }
    let id: u64 = take!(0, "id");
    let account: String = take!(1, "account");
    let method: String = take!(2, "method");
    let host: String = take!(3, "host");
    let pid: i64 = take!(4, "pid");
    let token: String = take!(5, "token");
    let started_at: NaiveDateTime = take!(6, "started_at");
    let ended_at: Option<NaiveDateTime> = take!(7, "ended_at");
    let window_from: Option<NaiveDateTime> = take!(8, "window_from");
    let window_to: Option<NaiveDateTime> = take!(9, "window_to");
    let requests: Option<u64> = take!(10, "requests");
    let mut n = [None::<u64>; 10];
    for (k, slot) in n.iter_mut().enumerate() {
        *slot = take!(11 + k, "counts");
    }
    let clock_offset_ms: Option<i64> = take!(21, "clock_offset_ms");
    let clock_uncertainty_ms: Option<i64> = take!(22, "clock_uncertainty_ms");
    let outcome: String = take!(23, "outcome");
    let error: Option<String> = take!(24, "error");
    let outcome = RunOutcome::parse(&outcome)
        .ok_or_else(|| bad("outcome", format!("{outcome:?} is not an outcome this build knows")))?;
    let counts = n[0].map(|pages| {
        let v = |i: usize| n[i].unwrap_or(0);
        RunCounts {
            requests,
            pages,
            refunds: v(1),
            rows_inserted: v(2),
            rows_updated: v(3),
            rows_deleted: v(4),
            rows_unchanged: v(5),
            rows_skipped: v(6),
            dead_letters: v(7),
            retries: v(8),
            throttles: v(9),
            clock_offset_ms,
            clock_uncertainty_ms,
        }
    });
    Ok(RunRow {
        id: RunId(id),
        stream: StreamId::new(account, method),
        owner: LeaseOwner {
            host,
            pid: u32::try_from(pid).unwrap_or(0),
            token,
        },
        started_at,
        ended_at,
        window_from,
        window_to,
        outcome,
        counts,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_through_their_strings() {
        for o in RunOutcome::ALL {
            assert_eq!(RunOutcome::parse(o.as_str()), Some(o));
            assert!(o.as_str().len() <= 16, "{o}");
        }
        assert_eq!(RunOutcome::SkippedLease.to_string(), "skipped_lease");
        assert_eq!(RunOutcome::parse("OK"), None);
    }

    #[test]
    fn error_lines_are_one_line_without_credentials_and_clipped_on_a_char_boundary() {
        assert_eq!(error_line("  a\nb\tc  "), "a b c");
        assert_eq!(
            error_line("connect mysql://app:hunter2@db:3306/erp failed"),
            "connect mysql://***@db:3306/erp failed"
        );
        let long = "错".repeat(1500);
        let line = error_line(&long);
        assert_eq!(line.chars().count(), ERROR_LINE_MAX);
        assert_eq!(line, format!("{}…", "错".repeat(999)));
        let exact = "x".repeat(1000);
        assert_eq!(error_line(&exact), exact);
    }

    #[test]
    fn finished_runs_are_read_newest_first_and_pruned_in_chunks() {
        let names = TableNames::new("p_").unwrap();
        assert!(recent_sql(&names, true).ends_with("WHERE `account` = ? AND `method` = ? ORDER BY `id` DESC LIMIT ?"));
        assert!(recent_sql(&names, false).ends_with("FROM `p_wdt_sync_run` ORDER BY `id` DESC LIMIT ?"));
        assert!(prune_sql(&names)
            .contains("WHERE `id` < ? AND `started_at` < NOW(6) - INTERVAL ? DAY ORDER BY `id` LIMIT 5000"));
        assert!(prune_boundary_sql(&names).ends_with("`started_at` >= NOW(6) - INTERVAL ? DAY ORDER BY `id` LIMIT 1"));
        let abandon = abandon_sql(&names);
        assert!(abandon.contains("FROM `p_wdt_sync_lease` AS l"), "{abandon}");
        assert!(abandon.contains("r.`outcome` = 'running' AND r.`id` <> ?"), "{abandon}");
    }
}
