//! The data of the status page, `/api/streams` and `/ready`: every stream of the accounts'
//! tables with its checkpoint, lag, last run, failure streak, dead letters, clock offset and
//! lease, the recent runs, and each live stream's last verify, read from MySQL in three
//! statements per set of tables and joined with what the run loop knows ([`Monitor`]).
//!
//! The field names are the JSON of `/api/streams` (documented in the README) and stay stable.
//! Nothing here is a secret or a record's field: streams, times, counts, outcomes and the
//! runs' one-line errors (URL credentials already hidden when they were stored).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use refund_sink_mysql::{MySqlSink, RunRow, StreamRuns, StreamState, VerifyRecord};
use serde::Serialize;
use wdt_qimen::sync::StreamId;
use wdt_qimen::time::{format_wdt, to_beijing};

use crate::config::{Account, MysqlSettings};
use crate::error::chain;
use crate::monitor::{AccountView, Monitor};

/// How far back the chart and the failed-runs table reach.
pub const HISTORY_HOURS: u32 = 24;
/// The most runs of one stream read for them (one a minute for a day).
pub const MAX_RUNS: u32 = 1_440;
/// The most failed runs listed.
pub const MAX_FAILURES: usize = 20;

/// The whole status, as `/api/streams` answers it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Snapshot {
    /// The trusted now (the gateway's clock when measured, else this host's), Beijing time.
    pub generated_at: String,
    /// `/ready`'s lag bound in seconds; `null`: no lag rule.
    pub max_lag_seconds: Option<u64>,
    /// Every stream, this process's accounts first (in the config's order).
    pub streams: Vec<StreamView>,
    /// The newest failed runs of every stream within the last 24 h, newest first.
    pub recent_failures: Vec<FailedRun>,
    /// What could not be read, and accounts not connected yet.
    pub problems: Vec<Problem>,
}

impl Snapshot {
    /// A status with no stream, as of `generated_at`.
    pub fn empty(generated_at: &str) -> Self {
        Self {
            generated_at: generated_at.to_owned(),
            max_lag_seconds: None,
            streams: Vec::new(),
            recent_failures: Vec::new(),
            problems: Vec::new(),
        }
    }
}

impl Problem {
    /// A problem of `kind` with `account`.
    pub fn new(kind: &'static str, account: &str, detail: &str) -> Self {
        Self {
            kind,
            account: account.to_owned(),
            detail: detail.to_owned(),
        }
    }
}

/// One stream.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StreamView {
    /// The account's name in the configuration; `null` for a stream of the tables that no
    /// account of this process runs.
    pub account: Option<String>,
    /// The stream's account (`sid`, or the simulator's data set).
    pub stream_account: String,
    /// The stream's method (a backfill's ends in `#backfill:FROM..TO`).
    pub method: String,
    /// `live`, `backfill`, or `archive` (the periodic read of the recent archive).
    pub kind: &'static str,
    /// A backfill's range (Beijing time).
    pub backfill_from: Option<String>,
    /// See `backfill_from`.
    pub backfill_to: Option<String>,
    /// The table prefix of its tables (empty: none).
    pub table_prefix: String,
    /// The checkpoint (Beijing time); `null` before the first commit.
    pub checkpoint: Option<String>,
    /// A live stream's checkpoint behind the trusted now, in seconds.
    pub lag_seconds: Option<i64>,
    /// `gateway` when the lag is measured against the gateway's clock (its `Date` headers),
    /// `host` when against this host's.
    pub now_source: &'static str,
    /// The gateway's clock minus this host's, in ms: measured now, else as the last run found.
    pub clock_offset_ms: Option<i64>,
    /// The ± of `clock_offset_ms`.
    pub clock_uncertainty_ms: Option<i64>,
    /// Its newest run that is not running.
    pub last_run: Option<RunView>,
    /// A run of it is running now.
    pub running: bool,
    /// Failed runs since its last `ok` run.
    pub failure_streak: u64,
    /// When the first run of the streak started (Beijing time).
    pub failing_since: Option<String>,
    /// Dead letters stored for it.
    pub dead_letters: u64,
    /// Its lease.
    pub lease: Option<LeaseView>,
    /// This process's last error for the account, until a run succeeds.
    pub last_error: Option<String>,
    /// Its runs of the last 24 h, oldest first (the chart).
    pub runs: Vec<RunPoint>,
    /// A live stream's last verify (`verify`, or the scheduled `--verify-every`); `null`: none.
    pub last_verify: Option<VerifyView>,
}

/// A verify of an account against WDT, as recorded in `wdt_sync_verify`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct VerifyView {
    /// Start (Beijing time).
    pub started_at: String,
    /// End.
    pub ended_at: String,
    /// The range verified (Beijing time).
    pub range_from: String,
    /// See `range_from`.
    pub range_to: String,
    /// False when a difference remained at its end (after its repair, if it repaired).
    pub matches: bool,
    /// Gateway requests it used (its repair's backfill not included).
    pub requests: u64,
    /// The least requests a full re-sync of the range would have used.
    pub resync_requests: u64,
    /// Per method counted.
    pub methods: Vec<VerifyMethodView>,
}

/// One method of a verify.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct VerifyMethodView {
    /// `Refund.search` or `Refund.searchHistory`.
    pub method: String,
    /// Windows counted.
    pub windows: u64,
    /// Refunds WDT counted over them.
    pub wdt_count: u64,
    /// Refunds stored over them.
    pub stored_count: u64,
    /// Windows whose counts differed (after a re-count).
    pub differing_windows: u64,
    /// Refunds WDT has that are not stored.
    pub missing: u64,
    /// Refunds stored with an older `modified` than WDT's.
    pub stale: u64,
    /// Refunds stored that WDT does not list in their window.
    pub extra: u64,
    /// Ranges re-synced by a repair.
    pub repaired_windows: u64,
    /// Ranges still differing at the end.
    pub remaining_windows: u64,
}

impl VerifyView {
    /// The view of one verify's records (one per method, of the same start); `None` for none.
    pub fn of(records: &[&VerifyRecord]) -> Option<Self> {
        let first = records.first()?;
        Some(Self {
            started_at: format_wdt(first.started_at),
            ended_at: format_wdt(records.iter().map(|r| r.ended_at).max().unwrap_or(first.ended_at)),
            range_from: format_wdt(first.range_from),
            range_to: format_wdt(first.range_to),
            matches: records.iter().all(|r| r.remaining_windows == 0),
            requests: records.iter().map(|r| r.requests).max().unwrap_or(0),
            resync_requests: records.iter().map(|r| r.resync_requests).max().unwrap_or(0),
            methods: records
                .iter()
                .map(|r| VerifyMethodView {
                    method: r.method.clone(),
                    windows: r.windows,
                    wdt_count: r.wdt_count,
                    stored_count: r.stored_count,
                    differing_windows: r.differing_windows,
                    missing: r.missing,
                    stale: r.stale,
                    extra: r.extra,
                    repaired_windows: r.repaired_windows,
                    remaining_windows: r.remaining_windows,
                })
                .collect(),
        })
    }
}

/// A run, summed up.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RunView {
    /// Its id in `wdt_sync_run`.
    pub id: u64,
    /// `ok`, `failed`, `interrupted`, `skipped_lease`, `abandoned` or `running`.
    pub outcome: &'static str,
    /// Start (database time, Beijing).
    pub started_at: String,
    /// End.
    pub ended_at: Option<String>,
    /// `ended_at - started_at` in ms.
    pub duration_ms: Option<i64>,
    /// Refunds read.
    pub refunds: Option<u64>,
    /// Requests sent.
    pub requests: Option<u64>,
    /// Pages read.
    pub pages: Option<u64>,
    /// Rows inserted.
    pub rows_inserted: Option<u64>,
    /// Rows updated.
    pub rows_updated: Option<u64>,
    /// Dead letters written by the run.
    pub dead_letters: Option<u64>,
    /// Who ran it, `host:pid`.
    pub owner: String,
    /// Its one-line error.
    pub error: Option<String>,
}

/// A run on the chart.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RunPoint {
    /// Start (database time, Beijing).
    pub started_at: String,
    /// Its outcome.
    pub outcome: &'static str,
    /// Refunds read.
    pub refunds: u64,
    /// The checkpoint it reached behind its end, in seconds.
    pub lag_seconds: Option<i64>,
    #[serde(skip)]
    pub(crate) start: NaiveDateTime,
}

/// A failed run.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct FailedRun {
    /// The account's name, when this process runs it.
    pub account: Option<String>,
    /// The stream's account.
    pub stream_account: String,
    /// The stream's method.
    pub method: String,
    /// Start (Beijing time).
    pub started_at: String,
    /// Its one-line error.
    pub error: String,
}

/// A stream's lease.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct LeaseView {
    /// The holder, `host:pid`.
    pub owner: String,
    /// Held now (by the database's clock).
    pub held: bool,
    /// Expiry unless renewed (database time, Beijing).
    pub expires_at: String,
}

/// Something the page could not show.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Problem {
    /// `mysql` (a set of tables could not be read) or `account` (an account not connected).
    pub kind: &'static str,
    /// The account it concerns.
    pub account: String,
    /// The one-line reason.
    pub detail: String,
}

/// The most MySQL connections the status server holds at once.
pub const STATUS_CONNECTIONS: usize = 2;

/// One set of tables (a table prefix) and the accounts writing into it.
struct Tables {
    prefix: String,
    accounts: Vec<usize>,
    sink: Mutex<Option<MySqlSink>>,
}

/// Where the status is read: the accounts' tables, each through a sink of its own (opened when
/// first needed, without creating tables), and the run loop's [`Monitor`].
pub struct Source {
    mysql: MysqlSettings,
    /// The status reads' own small pool (at most [`STATUS_CONNECTIONS`]), apart from the run's,
    /// so a page load never waits behind a batch.
    pool: refund_sink_mysql::SharedPool,
    accounts: Vec<Account>,
    tables: Vec<Tables>,
    monitor: Monitor,
    /// The longest a read may take.
    pub limit: Duration,
    /// `/ready`'s lag bound.
    pub max_lag: Option<Duration>,
}

impl Source {
    /// The status of `accounts` (in MySQL at `mysql`) and of `monitor`'s loops.
    pub fn new(mysql: MysqlSettings, accounts: Vec<Account>, monitor: Monitor, max_lag: Option<Duration>) -> Arc<Self> {
        let mut tables: Vec<Tables> = Vec::new();
        for (i, a) in accounts.iter().enumerate() {
            match tables.iter_mut().find(|t| t.prefix == a.table_prefix) {
                Some(t) => t.accounts.push(i),
                None => tables.push(Tables {
                    prefix: a.table_prefix.clone(),
                    accounts: vec![i],
                    sink: Mutex::new(None),
                }),
            }
        }
        let limit = mysql.timeout.min(Duration::from_secs(10));
        let pool = refund_sink_mysql::SharedPool::new(mysql.url.clone(), STATUS_CONNECTIONS);
        Arc::new(Self {
            pool,
            mysql,
            accounts,
            tables,
            monitor,
            limit,
            max_lag,
        })
    }

    /// The run loop's state.
    pub fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    async fn sink(&self, t: &Tables) -> Result<MySqlSink, String> {
        if let Some(s) = t.sink.lock().unwrap_or_else(PoisonError::into_inner).clone() {
            return Ok(s);
        }
        let account = &self.accounts[t.accounts[0]];
        let opened = tokio::time::timeout(
            self.limit,
            crate::sink::open_with(&self.mysql, &self.pool, account, false, false),
        )
        .await
        .map_err(|_| {
            format!(
                "MySQL at {} did not answer within {}s",
                self.mysql.redacted_url(),
                self.limit.as_secs()
            )
        })?
        .map_err(|e| e.to_string())?;
        *t.sink.lock().unwrap_or_else(PoisonError::into_inner) = Some(opened.clone());
        Ok(opened)
    }

    /// Reads the status; with `runs`, the recent runs too (the page and `/api/streams`; `/ready`
    /// needs only the checkpoints).
    pub async fn snapshot(&self, runs: bool) -> Snapshot {
        let loops = self.monitor.accounts();
        let mut streams = Vec::new();
        let mut failures: Vec<(NaiveDateTime, FailedRun)> = Vec::new();
        let mut problems = Vec::new();
        let loops_ref = &loops;
        let reads = self
            .tables
            .iter()
            .map(|t| async move { (t, self.read(t, loops_ref, runs).await) });
        for (t, read) in futures::future::join_all(reads).await {
            match read {
                Ok((s, f)) => {
                    streams.extend(s);
                    failures.extend(f);
                }
                Err(detail) => {
                    let line = refund_sink_mysql::run_history::error_line(&detail);
                    for &i in &t.accounts {
                        problems.push(Problem {
                            kind: "mysql",
                            account: self.accounts[i].name.clone(),
                            detail: line.clone(),
                        });
                    }
                }
            }
        }
        for (i, l) in loops.iter().enumerate() {
            let shown = streams
                .iter()
                .any(|s: &StreamView| s.account.as_deref() == Some(&l.account.name));
            if l.stream.is_none() && !shown && !problems.iter().any(|p| p.account == l.account.name) {
                problems.push(Problem {
                    kind: "account",
                    account: self.accounts[i].name.clone(),
                    detail: match &l.last_error {
                        Some(e) => format!("not connected: {e}"),
                        None => "not connected yet".into(),
                    },
                });
            }
        }
        // This process's accounts first, in the config's order; then the other streams.
        let order = |s: &StreamView| {
            let i = s
                .account
                .as_deref()
                .and_then(|n| self.accounts.iter().position(|a| a.name == n))
                .unwrap_or(usize::MAX);
            (i, s.kind != "live", s.stream_account.clone(), s.method.clone())
        };
        streams.sort_by_key(order);
        failures.sort_by_key(|f| std::cmp::Reverse(f.0));
        failures.truncate(MAX_FAILURES);
        let now = trusted_now(loops.iter().find_map(|l| l.client.as_ref())).0;
        Snapshot {
            generated_at: format_wdt(now),
            max_lag_seconds: self.max_lag.map(|d| d.as_secs()),
            streams,
            recent_failures: failures.into_iter().map(|(_, f)| f).collect(),
            problems,
        }
    }

    /// The streams of one set of tables.
    async fn read(
        &self,
        t: &Tables,
        loops: &[AccountView],
        runs: bool,
    ) -> Result<(Vec<StreamView>, Vec<(NaiveDateTime, FailedRun)>), String> {
        let sink = self.sink(t).await?;
        let states = sink.stream_states(self.limit).await.map_err(|e| chain(&e))?;
        let mut found: Vec<StreamState> = states.streams;
        // The live streams of this process's accounts, even before their first commit.
        for &i in &t.accounts {
            if let Some(stream) = &loops[i].stream {
                if !found.iter().any(|s| &s.stream == stream) {
                    found.push(StreamState::empty(stream.clone()));
                }
            }
        }
        let ids: Vec<StreamId> = found.iter().map(|s| s.stream.clone()).collect();
        let history: Vec<StreamRuns> = if runs {
            sink.stream_runs(&ids, HISTORY_HOURS, MAX_RUNS, self.limit)
                .await
                .map_err(|e| chain(&e))?
        } else {
            Vec::new()
        };
        let verifies: Vec<VerifyRecord> = if runs {
            let mut live: Vec<String> = found
                .iter()
                .filter(|s| !s.stream.method.contains('#'))
                .map(|s| s.stream.account.clone())
                .collect();
            live.sort();
            live.dedup();
            tokio::time::timeout(self.limit, sink.last_verifies(&live))
                .await
                .map_err(|_| format!("reading the last verifies took over {}s", self.limit.as_secs()))?
                .map_err(|e| chain(&e))?
        } else {
            Vec::new()
        };
        let since = states.db_now - TimeDelta::hours(i64::from(HISTORY_HOURS));
        let mut streams = Vec::with_capacity(found.len());
        let mut failures = Vec::new();
        for (k, state) in found.into_iter().enumerate() {
            let owner = self.owner_of(t, loops, &state.stream);
            let view = owner.map(|i| &loops[i]);
            let runs = history.get(k);
            let mut v = stream_view(&t.prefix, view, state, runs, since);
            if v.kind == "live" {
                let mine: Vec<&VerifyRecord> = verifies.iter().filter(|r| r.account == v.stream_account).collect();
                v.last_verify = VerifyView::of(&mine);
            }
            if let Some(r) = runs {
                for run in r.runs.iter().filter(|r| r.started_at >= since) {
                    if let (refund_sink_mysql::RunOutcome::Failed, Some(e)) = (run.outcome, &run.error) {
                        failures.push((
                            run.started_at,
                            FailedRun {
                                account: v.account.clone(),
                                stream_account: v.stream_account.clone(),
                                method: v.method.clone(),
                                started_at: format_wdt(run.started_at),
                                error: e.clone(),
                            },
                        ));
                    }
                }
            }
            streams.push(v);
        }
        Ok((streams, failures))
    }

    /// The account of this process whose stream (or backfill of it) `stream` is: by its live
    /// stream once connected, else by the stream account it is configured with.
    fn owner_of(&self, t: &Tables, loops: &[AccountView], stream: &StreamId) -> Option<usize> {
        t.accounts.iter().copied().find(|&i| match &loops[i].stream {
            Some(live) => live.account == stream.account,
            None => self.accounts[i].stream_account.as_deref() == Some(stream.account.as_str()),
        })
    }
}

/// The trusted now (Beijing): the earliest time the gateway's clock can show, by `client`'s
/// measurement; this host's clock when there is none. The second value says which.
pub fn trusted_now(client: Option<&wdt_qimen::Client>) -> (NaiveDateTime, &'static str) {
    match client {
        Some(c) => match c.clock_offset() {
            Some(o) => (to_beijing(o.earliest(c.host_time())), "gateway"),
            None => (to_beijing(c.host_time()), "host"),
        },
        None => (to_beijing(chrono::Utc::now()), "host"),
    }
}

/// A backfill's range from its method (`…#backfill:20240301T000000..20240401T000000`).
fn backfill_range(method: &str) -> Option<(NaiveDateTime, NaiveDateTime)> {
    pass_range(method, "#backfill:")
}

/// The range of a pass over a fixed range: a backfill (`#backfill:`) or a read of the recent
/// archive (`#history:`). Neither follows the gateway's clock, so neither has a lag.
fn pass_range(method: &str, tag: &str) -> Option<(NaiveDateTime, NaiveDateTime)> {
    let (_, range) = method.split_once(tag)?;
    let (from, to) = range.split_once("..")?;
    let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%S").ok();
    Some((t(from)?, t(to)?))
}

fn ms(d: TimeDelta) -> i64 {
    d.num_milliseconds()
}

fn run_view(r: &RunRow) -> RunView {
    let c = r.counts.as_ref();
    RunView {
        id: r.id.0,
        outcome: r.outcome.as_str(),
        started_at: format_wdt(r.started_at),
        ended_at: r.ended_at.map(format_wdt),
        duration_ms: r.ended_at.map(|e| ms(e - r.started_at)),
        refunds: c.map(|c| c.refunds),
        requests: c.and_then(|c| c.requests),
        pages: c.map(|c| c.pages),
        rows_inserted: c.map(|c| c.rows_inserted),
        rows_updated: c.map(|c| c.rows_updated),
        dead_letters: c.map(|c| c.dead_letters),
        owner: r.owner.to_string(),
        error: r.error.clone(),
    }
}

fn stream_view(
    prefix: &str,
    view: Option<&AccountView>,
    state: StreamState,
    runs: Option<&StreamRuns>,
    since: NaiveDateTime,
) -> StreamView {
    let (kind, range) = match (
        backfill_range(&state.stream.method),
        pass_range(&state.stream.method, "#history:"),
    ) {
        (Some(r), _) => ("backfill", Some(r)),
        (None, Some(r)) => ("archive", Some(r)),
        (None, None) => ("live", None),
    };
    let client = view.and_then(|v| v.client.as_ref());
    let (now, now_source) = trusted_now(client);
    let lag_seconds = match (range, state.checkpoint) {
        (None, Some(c)) => Some((now - c).num_seconds()),
        _ => None,
    };
    let rows: &[RunRow] = runs.map_or(&[], |r| &r.runs);
    let last_run = rows
        .iter()
        .find(|r| r.outcome != refund_sink_mysql::RunOutcome::Running);
    let running = rows
        .first()
        .is_some_and(|r| r.outcome == refund_sink_mysql::RunOutcome::Running);
    let live_offset = client.and_then(|c| c.clock_offset());
    let (clock_offset_ms, clock_uncertainty_ms) = match live_offset {
        Some(o) => (Some(ms(o.estimate())), Some(ms(o.uncertainty()))),
        None => rows
            .iter()
            .filter_map(|r| r.counts.as_ref())
            .find(|c| c.clock_offset_ms.is_some())
            .map_or((None, None), |c| (c.clock_offset_ms, c.clock_uncertainty_ms)),
    };
    let points = rows
        .iter()
        .rev()
        .filter(|r| r.started_at >= since)
        .map(|r| RunPoint {
            started_at: format_wdt(r.started_at),
            outcome: r.outcome.as_str(),
            refunds: r.counts.as_ref().map_or(0, |c| c.refunds),
            lag_seconds: match (r.ended_at, r.window_to) {
                (Some(end), Some(to)) if r.outcome == refund_sink_mysql::RunOutcome::Ok => {
                    Some((end - to).num_seconds())
                }
                _ => None,
            },
            start: r.started_at,
        })
        .collect();
    StreamView {
        account: view.map(|v| v.account.name.clone()),
        kind,
        backfill_from: range.map(|r| format_wdt(r.0)),
        backfill_to: range.map(|r| format_wdt(r.1)),
        table_prefix: prefix.to_owned(),
        checkpoint: state.checkpoint.map(format_wdt),
        lag_seconds,
        now_source,
        clock_offset_ms,
        clock_uncertainty_ms,
        last_run: last_run.map(run_view),
        running,
        failure_streak: runs.map_or(0, |r| r.failure_streak),
        failing_since: runs.and_then(|r| r.failing_since).map(format_wdt),
        dead_letters: state.dead_letters,
        lease: state.lease.map(|l| LeaseView {
            owner: format!("{}:{}", l.host, l.pid),
            held: l.live,
            expires_at: format_wdt(l.expires_at),
        }),
        last_error: view
            .filter(|v| v.stream.as_ref() == Some(&state.stream) || v.stream.is_none())
            .and_then(|v| v.last_error.clone()),
        runs: points,
        last_verify: None,
        stream_account: state.stream.account,
        method: state.stream.method,
    }
}

/// Why `/ready` fails, as its JSON lists them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotReady {
    /// `mysql`, `account` (not connected), `no_checkpoint` or `lag`.
    pub kind: &'static str,
    /// The account.
    pub account: String,
    /// The one-line reason.
    pub detail: String,
}

/// Why the status is not ready: a set of tables MySQL could not read, an account not
/// connected, or (with a lag bound) a live stream of this process without a checkpoint or
/// lagging more than the bound. Empty: ready.
pub fn not_ready(s: &Snapshot) -> Vec<NotReady> {
    let mut out: Vec<NotReady> = s
        .problems
        .iter()
        .map(|p| NotReady {
            kind: p.kind,
            account: p.account.clone(),
            detail: p.detail.clone(),
        })
        .collect();
    let Some(max) = s.max_lag_seconds else {
        return out;
    };
    for st in s.streams.iter().filter(|st| st.kind == "live") {
        let Some(account) = &st.account else { continue };
        let stream = format!("{}/{}", st.stream_account, st.method);
        match st.lag_seconds {
            None => out.push(NotReady {
                kind: "no_checkpoint",
                account: account.clone(),
                detail: format!("stream {stream} has no checkpoint yet (its first run has not committed)"),
            }),
            Some(lag) if lag > i64::try_from(max).unwrap_or(i64::MAX) => out.push(NotReady {
                kind: "lag",
                account: account.clone(),
                detail: format!(
                    "stream {stream} is {lag}s behind the {} clock, over --max-lag {max}s",
                    st.now_source
                ),
            }),
            Some(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backfill_stream_names_its_range() {
        let (from, to) =
            backfill_range("aftersales.refund.Refund.search#backfill:20240301T000000..20240401T120000").unwrap();
        assert_eq!(format_wdt(from), "2024-03-01 00:00:00");
        assert_eq!(format_wdt(to), "2024-04-01 12:00:00");
        assert_eq!(backfill_range("aftersales.refund.Refund.search"), None);
        assert_eq!(backfill_range("m#backfill:junk"), None);
        assert_eq!(
            pass_range("m#history:20261101T000000..20261201T000000", "#history:").map(|r| r.0.to_string()),
            Some("2026-11-01 00:00:00".to_owned())
        );
        assert_eq!(backfill_range("m#history:20261101T000000..20261201T000000"), None);
    }
}
