//! The sync engine: plans windows, reads each drift-safely, and commits to a [`Sink`] with the
//! checkpoint moving only with the last batch of a window.
//!
//! Reading and writing run concurrently with a bounded buffer of batches between them, so a slow
//! sink slows reading and memory stays flat (at most `buffer_batches + 1` batches of
//! `batch_refunds` refunds, plus one `refund_id` per refund of the window being read).
//! A shutdown signal stops the run after the commit in progress, never in the middle of one;
//! reading stops at once (even inside a retry wait), and nothing it read since the last commit
//! is committed. The checkpoint never moves backwards, except when it is ahead of the gateway's
//! clock ([`CheckpointAhead`](super::CheckpointAhead)).
//!
//! # Time
//! "Now" is the gateway's clock, not this host's: the client measures it from the `Date` header
//! of the answers that accepted their request's timestamp ([`Client::clock_offset`]; a `Date`
//! that contradicts the accepted timestamp, such as a proxy's, is ignored), and a run ends at the
//! earliest time that clock can show minus the settle lag. A host clock minutes fast would otherwise store a checkpoint ahead
//! of WDT's data, and refunds modified in between would never be read. A client that has not
//! been answered yet learns the clock from the run's first request: page 1 of the first window
//! as this host's clock plans it, which is kept when the gateway's clock plans the same window
//! (a host clock within seconds of it), so measuring costs no request in the common case.
//!
//! ```no_run
//! # async fn demo<S: wdt_qimen::sync::Sink<wdt_qimen::Refund> + 'static>(client: wdt_qimen::Client, sink: S) {
//! use wdt_qimen::sync::{SyncConfig, SyncEngine};
//! let engine = SyncEngine::new(client, sink, SyncConfig::default());
//! let report = engine.run().await.expect("sync failed");
//! println!("{} refunds, checkpoint {:?}", report.refunds, report.checkpoint);
//! # }
//! ```

use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{NaiveDateTime, TimeDelta};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use super::fetch::{read_window, AsyncEmit, EndpointSource, PagingOrder, ReadSettings, WindowRead, WindowSource};
use super::plan::{self, Now};
use super::report::{Progress, SyncReport};
use super::sink::{Batch, Checkpoint, DeadLetter, Sink, StreamId, WindowBounds};
use super::window;
use crate::api::aftersales::{RefundSearch, MAX_PAGE_SIZE};
use crate::api::refund_history::RefundHistorySearch;
use crate::client::Client;
use crate::endpoint::{Endpoint, Record};
use crate::error::Error;
use crate::model::refund::Refund;
use crate::pager::Page;
use crate::telemetry::{self, MetricLabels};
use crate::time::format_wdt;

/// Settings of a sync run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SyncConfig {
    /// Where the first run starts (Beijing wall time; default 2024-01-01 00:00:00).
    pub start: NaiveDateTime,
    /// Where every run ends at the latest (Beijing wall time; default `None`: the gateway's
    /// clock minus the settle lag). A run ends at the earlier of the two; once the checkpoint
    /// reaches `end`, a run reads nothing and sends no request. See [`SyncEngine::backfill`].
    pub end: Option<NaiveDateTime>,
    /// How far before the checkpoint a run starts re-reading (default 1 min): absorbs late
    /// commits on WDT's side and the unknown inclusivity of its time bounds.
    pub overlap: TimeDelta,
    /// How far behind the gateway's clock a run stops (default 1 min), so the window being read
    /// no longer moves.
    pub settle_lag: TimeDelta,
    /// Longest window (default 29 days; at most 30, the API's limit).
    pub max_window: TimeDelta,
    /// A window needing more pages than this is bisected (default 50).
    pub max_pages_per_window: u32,
    /// Page size, 1..=200 (default 200, the most the API allows: requests are what the quota
    /// counts).
    pub page_size: u32,
    /// Refunds per commit (default 500).
    pub batch_refunds: usize,
    /// Re-reads of a window whose distinct count falls short of `total_count` (default 3).
    pub max_rereads: u32,
    /// Batches buffered between reading and writing (default 2).
    pub buffer_batches: usize,
    /// How windows are paged (default drift-safe).
    pub paging: PagingOrder,
    /// Whether archived records are read too (default true): with the history method beside
    /// the live one (for refunds, `Refund.searchHistory` beside `Refund.search`), every window
    /// of a first sync (no checkpoint yet) and of a backfill, and every window that starts
    /// more than [`archive_horizon`](Self::archive_horizon) before the run's end, is read
    /// through both; the recent past is read through the history method by
    /// [`SyncEngine::recent_history`] once per [`history_every`](Self::history_every).
    pub history: bool,
    /// How far back the periodic history read reaches (default 30 days). WDT does not say
    /// when it archives a refund; a refund archived later than this after its last change is
    /// found only by a backfill.
    pub archive_horizon: TimeDelta,
    /// How often the recent past is read through the history method (default 1 day; at most
    /// the horizon). Passes are aligned to multiples of it in Beijing time (midnight for a day).
    pub history_every: TimeDelta,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            start: crate::time::parse_wdt("2024-01-01 00:00:00").expect("valid literal"),
            end: None,
            overlap: TimeDelta::minutes(1),
            settle_lag: TimeDelta::minutes(1),
            max_window: TimeDelta::days(29),
            max_pages_per_window: 50,
            page_size: MAX_PAGE_SIZE,
            batch_refunds: 500,
            max_rereads: 3,
            buffer_batches: 2,
            paging: PagingOrder::DriftSafe,
            history: true,
            archive_horizon: TimeDelta::days(30),
            history_every: TimeDelta::days(1),
        }
    }
}

impl SyncConfig {
    /// Checks the settings; the error names the field, the value and the fix.
    pub fn validate(&self) -> Result<(), Error> {
        if self.max_window > crate::api::aftersales::MAX_WINDOW || self.max_window < TimeDelta::seconds(2) {
            return Err(Error::config(
                "max_window",
                format!("{}s", self.max_window.num_seconds()),
                "use a window from 2 seconds to 30 days",
            ));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(Error::config(
                "page_size",
                self.page_size,
                "use a page size from 1 to 200",
            ));
        }
        if self.max_pages_per_window == 0 {
            return Err(Error::config(
                "max_pages_per_window",
                0,
                "allow at least one page per window",
            ));
        }
        if self.batch_refunds == 0 {
            return Err(Error::config(
                "batch_refunds",
                0,
                "commit at least one refund per batch",
            ));
        }
        if let Some(end) = self.end.filter(|e| *e <= self.start) {
            return Err(Error::config(
                "end",
                format_wdt(end),
                format!("end a bounded run later than its start ({})", format_wdt(self.start)),
            ));
        }
        if self.archive_horizon < TimeDelta::hours(1) {
            return Err(Error::config(
                "archive_horizon",
                format!("{}s", self.archive_horizon.num_seconds()),
                "reach back at least 1h (the default is 30 days)",
            ));
        }
        if self.history_every < TimeDelta::minutes(1) || self.history_every > self.archive_horizon {
            return Err(Error::config(
                "history_every",
                format!("{}s", self.history_every.num_seconds()),
                format!(
                    "use 1m or more, at most the archive horizon ({}s), so the periodic history reads overlap",
                    self.archive_horizon.num_seconds()
                ),
            ));
        }
        if self.overlap < TimeDelta::zero() || self.settle_lag < TimeDelta::zero() {
            return Err(Error::config(
                "overlap/settle_lag",
                "negative",
                "use durations of 0s or more",
            ));
        }
        Ok(())
    }
}

/// The stream a backfill of `[from, to]` of `live` keeps its checkpoint under: the same account,
/// the method followed by `#backfill:` and the range, e.g.
/// `aftersales.refund.Refund.search#backfill:20240301T000000..20240401T000000`.
pub fn backfill_stream(live: &StreamId, from: NaiveDateTime, to: NaiveDateTime) -> StreamId {
    let compact = |t: NaiveDateTime| t.format("%Y%m%dT%H%M%S");
    StreamId::new(
        live.account.clone(),
        format!("{}#backfill:{}..{}", live.method, compact(from), compact(to)),
    )
}

/// Why a run failed. Whatever it is, the committed checkpoint never passes uncommitted data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError<E: std::error::Error + 'static> {
    /// Reading from WDT failed (after retries).
    #[error("reading refunds failed: {0}")]
    Api(#[from] Error),
    /// The sink failed to commit.
    #[error("writing to the sink failed: {0}")]
    Sink(#[source] E),
    /// A window stayed short of its `total_count` after every re-read.
    #[error(
        "window {from} .. {to}: read {distinct} distinct refunds but WDT counted {expected}, after {rereads} re-reads; \
         the checkpoint stays before this window (rerun later, or lower the page size)"
    )]
    WindowIncomplete {
        /// Window start (Beijing).
        from: String,
        /// Window end (Beijing).
        to: String,
        /// Distinct refunds read.
        distinct: u64,
        /// The smallest count WDT gave.
        expected: u64,
        /// Re-reads made.
        rereads: u32,
    },
}

/// How much earlier than this host's clock the window that measures the gateway's clock ends.
const PROBE_MARGIN: TimeDelta = TimeDelta::seconds(2);
/// How much shorter than the gateway's clock allows a run may end to keep the page that measured
/// it.
const PROBE_SLACK: TimeDelta = TimeDelta::seconds(10);

/// The stream a periodic read of the recent archive over `[from, to]` keeps its checkpoint
/// under: the live stream's method followed by `#history:` and the range, e.g.
/// `aftersales.refund.Refund.search#history:20240301T000000..20240331T000000`.
pub fn history_stream(live: &StreamId, from: NaiveDateTime, to: NaiveDateTime) -> StreamId {
    let compact = |t: NaiveDateTime| t.format("%Y%m%dT%H%M%S");
    StreamId::new(
        live.account.clone(),
        format!("{}#history:{}..{}", live.method, compact(from), compact(to)),
    )
}

/// The latest multiple of `every` (counted from 1970-01-01 00:00:00 Beijing wall time) at or
/// before `t`: midnight for a day.
fn period_start(t: NaiveDateTime, every: TimeDelta) -> NaiveDateTime {
    let epoch = chrono::DateTime::UNIX_EPOCH.naive_utc();
    let step = every.num_seconds().max(1);
    let since = (t - epoch).num_seconds();
    epoch + TimeDelta::seconds(since.div_euclid(step) * step)
}

/// A run's span and windows, and page 1 of the first window when the measurement read it.
struct Planned<R> {
    span: plan::Span,
    windows: Vec<WindowBounds>,
    first_page: Option<Page<R>>,
}

/// A progress hook.
pub type ProgressHook = Arc<dyn Fn(&Progress) + Send + Sync>;

/// The incremental sync of one [`Endpoint`]'s records (by default refunds) from one [`Client`]
/// into one [`Sink`].
pub struct SyncEngine<S, R: Record = Refund> {
    client: Client,
    sink: Arc<S>,
    cfg: SyncConfig,
    /// The method the checkpoint follows.
    primary: Arc<dyn WindowSource<R>>,
    /// Methods read beside it for the same windows (the archive), when [`SyncConfig::history`]
    /// says so.
    companions: Vec<Arc<dyn WindowSource<R>>>,
    /// A backfill reads the companions for every window.
    backfill: bool,
    stream: StreamId,
    progress: Option<ProgressHook>,
    labels: MetricLabels,
}

impl<S, R: Record> std::fmt::Debug for SyncEngine<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let companions: Vec<&str> = self.companions.iter().map(|c| c.method()).collect();
        f.debug_struct("SyncEngine")
            .field("client", &self.client)
            .field("cfg", &self.cfg)
            .field("method", &self.primary.method())
            .field("companions", &companions)
            .field("stream", &self.stream)
            .finish()
    }
}

impl<S: Sink<Refund> + 'static> SyncEngine<S, Refund> {
    /// A refund engine for `client` into `sink`: `Refund.search`, with `Refund.searchHistory`
    /// for archived refunds (see [`SyncConfig::history`]). The stream id is the account's
    /// `sid` and the native method name, so switching routes keeps the checkpoint.
    pub fn new(client: Client, sink: S, cfg: SyncConfig) -> Self {
        Self::for_endpoint(client, sink, cfg, RefundSearch::by_numbers())
            .with_companion(RefundHistorySearch::unwindowed())
    }

    /// Filters applied to every window of `Refund.search` (shops, status, …); its `modified`
    /// window is replaced. They do not apply to the history method, whose filters differ: give
    /// those with [`with_history_filters`](Self::with_history_filters).
    pub fn with_filters(self, template: RefundSearch) -> Self {
        self.with_primary(template)
    }

    /// Filters applied to every window of `Refund.searchHistory` (its window is replaced).
    pub fn with_history_filters(mut self, template: RefundHistorySearch) -> Self {
        self.companions = vec![Arc::new(EndpointSource(template))];
        self
    }
}

impl<S: Sink<R> + 'static, R: Record> SyncEngine<S, R> {
    /// An engine for any endpoint: `template`'s filters and page size apply to every window
    /// (its window is replaced). The stream id is the account's `sid` and the endpoint's native
    /// method name.
    pub fn for_endpoint<E: Endpoint<Record = R>>(client: Client, sink: S, cfg: SyncConfig, template: E) -> Self {
        let stream = StreamId::new(client.route().wdt().sid(), E::METHOD.native);
        Self {
            labels: client.metric_labels().clone(),
            client,
            sink: Arc::new(sink),
            cfg,
            primary: Arc::new(EndpointSource(template)),
            companions: Vec::new(),
            backfill: false,
            stream,
            progress: None,
        }
    }

    /// Replaces the endpoint the checkpoint follows (same record type).
    pub fn with_primary<E: Endpoint<Record = R>>(mut self, template: E) -> Self {
        self.primary = Arc::new(EndpointSource(template));
        self
    }

    /// Adds a method read beside the primary one for the same windows, into the same sink: the
    /// archive of the primary's records (see [`SyncConfig::history`]).
    pub fn with_companion<E: Endpoint<Record = R>>(mut self, template: E) -> Self {
        self.companions.push(Arc::new(EndpointSource(template)));
        self
    }

    /// Reads no companion method at all (the same as [`SyncConfig::history`] off).
    pub fn without_history(mut self) -> Self {
        self.companions.clear();
        self
    }

    /// The periodic read of the recent archive, when one is configured: a bounded run of the
    /// companion methods only over `[P − archive_horizon, P]`, `P` the latest multiple of
    /// [`SyncConfig::history_every`] before the gateway's clock (midnight for a day), under a
    /// checkpoint of its own ([`history_stream`]), so it resumes after an interruption and never
    /// moves the live checkpoint. Once it reached `P`, running it again reads nothing and sends no
    /// request, until the next period. `None` without companions, with history off, or for a
    /// backfill (which reads the archive for every window anyway).
    pub fn recent_history(&self) -> Option<SyncEngine<S, R>> {
        if !self.cfg.history || self.companions.is_empty() || self.backfill {
            return None;
        }
        let to = period_start(self.now().earliest(), self.cfg.history_every);
        let from = (to - self.cfg.archive_horizon).max(self.cfg.start);
        if to <= from {
            return None;
        }
        let mut cfg = self.cfg.clone();
        cfg.start = from;
        cfg.end = Some(to);
        Some(SyncEngine {
            client: self.client.clone(),
            sink: Arc::clone(&self.sink),
            cfg,
            primary: Arc::clone(&self.companions[0]),
            companions: self.companions[1..].to_vec(),
            backfill: true,
            stream: history_stream(&self.stream, from, to),
            progress: self.progress.clone(),
            labels: self.labels.clone(),
        })
    }

    /// Whether the companions are read for window `w` of a run ending at `end`.
    fn reads_companions(&self, first_run: bool, w: &WindowBounds, end: NaiveDateTime) -> bool {
        self.cfg.history
            && !self.companions.is_empty()
            && (first_run || self.backfill || w.from < end - self.cfg.archive_horizon)
    }

    /// Uses another stream id (e.g. one per filter set).
    pub fn with_stream(mut self, stream: StreamId) -> Self {
        self.stream = stream;
        self
    }

    /// Re-reads the past range `[from, to]` (Beijing wall time) under a checkpoint of its own
    /// ([`backfill_stream`]): a run starts at `from` (or at its own checkpoint minus the overlap,
    /// after an interruption) and ends at `to`, or at the gateway's clock minus the settle lag if
    /// that is earlier. The stream's checkpoint (the live one) is never read or moved, so a
    /// backfill can run beside the live sync; the sink's writes are the same (with an upsert,
    /// the newer `modified` wins). Once the range's checkpoint reaches `to`, a run reads nothing.
    ///
    /// Call it after [`with_stream`](Self::with_stream): the range's stream is derived from the
    /// stream set then.
    pub fn backfill(mut self, from: NaiveDateTime, to: NaiveDateTime) -> Self {
        self.cfg.start = from;
        self.cfg.end = Some(to);
        self.stream = backfill_stream(&self.stream, from, to);
        self.backfill = true;
        self
    }

    /// The labels every metric of this engine carries besides `stream` (default: its client's
    /// [`metric_labels`](Client::metric_labels); see [`crate::telemetry`]).
    pub fn with_metric_labels(mut self, labels: MetricLabels) -> Self {
        self.labels = labels;
        self
    }

    /// The labels of this engine's metrics: its labels and `stream`, with `extra`.
    fn labels(&self, extra: &[(&'static str, &str)]) -> Vec<metrics::Label> {
        let stream = metric_stream(&self.stream);
        let mut all = vec![("stream", stream.as_str())];
        all.extend_from_slice(extra);
        self.labels.and(&all)
    }

    /// Called after every page and every commit.
    pub fn with_progress(mut self, hook: ProgressHook) -> Self {
        self.progress = Some(hook);
        self
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The stream id the checkpoint is stored under.
    pub fn stream(&self) -> &StreamId {
        &self.stream
    }

    /// Runs once, to the gateway's `now − settle_lag`.
    pub async fn run(&self) -> Result<SyncReport, SyncError<<S as Sink<R>>::Error>> {
        self.run_until(std::future::pending()).await
    }

    /// Runs once, stopping early (after the commit in progress) when `shutdown` completes.
    pub async fn run_until<F: Future<Output = ()> + Send>(
        &self,
        shutdown: F,
    ) -> Result<SyncReport, SyncError<<S as Sink<R>>::Error>> {
        self.cfg.validate()?;
        let started = tokio::time::Instant::now();
        let stats_before = self.client.stats();
        let primary = self.primary.with_page_size(self.cfg.page_size)?;
        let companions = self
            .companions
            .iter()
            .map(|c| c.with_page_size(self.cfg.page_size))
            .collect::<Result<Vec<_>, _>>()?;
        let stored = self
            .sink
            .load_checkpoint(&self.stream)
            .await
            .map_err(SyncError::Sink)?
            .map(|c| c.window_end);
        let span = tracing::info_span!(
            "sync_run",
            stream = %self.stream,
            from = tracing::field::Empty,
            to = tracing::field::Empty,
            windows = tracing::field::Empty
        );
        let shared = Mutex::new(SyncReport {
            checkpoint: stored,
            ..SyncReport::default()
        });
        let (stop_tx, stop) = watch::channel(false);
        let (tx, rx) = mpsc::channel::<Batch<R>>(self.cfg.buffer_batches.max(1));
        let shared = &shared;
        let reader = {
            let run_span = span.clone();
            let stop = stop.clone();
            let primary = &primary;
            let companions = &companions;
            async move {
                let planned = self.plan(stored, primary.as_ref(), shared).await?;
                run_span.record("from", tracing::field::display(format_wdt(planned.span.from)));
                run_span.record("to", tracing::field::display(format_wdt(planned.span.end)));
                run_span.record("windows", planned.windows.len());
                tracing::info!(
                    checkpoint = ?planned.span.checkpoint.map(format_wdt),
                    clock_offset = ?self.client.clock_offset().map(|o| o.to_string()),
                    "sync run starts"
                );
                let floor = planned.span.checkpoint;
                let sources = Sources {
                    primary: primary.as_ref(),
                    companions,
                    first_run: stored.is_none(),
                    end: planned.span.end,
                };
                self.read_all(planned.windows, planned.first_page, sources, tx, shared, stop, floor)
                    .await
            }
            .instrument(span.clone())
        };
        let writer = self.write_all(rx, shared, stop).instrument(span.clone());
        tokio::pin!(reader);
        tokio::pin!(writer);
        tokio::pin!(shutdown);
        let mut signalled = false;
        let mut read = None;
        let write = loop {
            tokio::select! {
                r = &mut reader, if read.is_none() => read = Some(r),
                w = &mut writer => break w,
                _ = &mut shutdown, if !signalled => {
                    span.in_scope(|| tracing::info!("shutdown requested; stopping after the commit in progress"));
                    signalled = true;
                    let _ = stop_tx.send(true);
                }
            }
        };
        write?;
        // The writer is done: after the last batch, after a shutdown (the reader is abandoned
        // wherever it is, even in a retry wait: nothing of it is committed), or on an error.
        match read {
            Some(r) => r?,
            None if signalled => {}
            None => reader.await?,
        }

        let mut report = shared.lock().expect("report lock").clone();
        let stats = self.client.stats();
        report.retries = stats.retries - stats_before.retries;
        report.throttles = stats.throttles - stats_before.throttles;
        report.elapsed = started.elapsed();
        report.interrupted = signalled;
        let now = self.now();
        report.clock_offset = now.offset.or(report.clock_offset);
        report.lag = report.checkpoint.and_then(|c| (now.earliest() - c).to_std().ok());
        if let Some(lag) = report.lag {
            metrics::gauge!(telemetry::SYNC_LAG, self.labels(&[])).set(lag.as_secs_f64());
        }
        if let Some(offset) = report.clock_offset {
            // Correct either way; but a host clock this far off misleads everything else on it.
            if plan::clock_is_far_off(&offset, self.cfg.overlap) {
                span.in_scope(|| {
                    tracing::warn!(
                        clock_offset = %offset,
                        overlap_s = self.cfg.overlap.num_seconds(),
                        "this host's clock is off the gateway's by more than half the overlap; \
                         windows and request timestamps follow the gateway's clock, but fix the host's (NTP)"
                    )
                });
            }
        }
        span.in_scope(|| {
            tracing::info!(
                refunds = report.refunds,
                pages = report.pages,
                commits = report.commits,
                "sync run done"
            )
        });
        Ok(report)
    }

    /// The host's clock and the client's measurement of the gateway's.
    fn now(&self) -> Now {
        let (host, offset) = self.client.clock_now();
        Now { host, offset }
    }

    /// Decides the run's windows in the gateway's time: measures its clock first when the client
    /// has no measurement yet, and moves a checkpoint that is ahead of it back.
    async fn plan(
        &self,
        stored: Option<NaiveDateTime>,
        primary: &dyn WindowSource<R>,
        shared: &Mutex<SyncReport>,
    ) -> Result<Planned<R>, SyncError<<S as Sink<R>>::Error>> {
        if plan::reaches_end(stored, &self.cfg) {
            // A bounded run already done: nothing to read, no request to send.
            let span = plan::done(stored, &self.cfg);
            shared.lock().expect("report lock").checkpoint = span.checkpoint;
            return Ok(Planned {
                span,
                windows: Vec::new(),
                first_page: None,
            });
        }
        let mut probe = None;
        let mut guess_now = self.now();
        if guess_now.offset.is_none() {
            // This host's clock plans the first window, a little early so that a host clock in
            // step with the gateway's plans the same one; its page 1 measures the gateway's clock.
            guess_now.host -= PROBE_MARGIN;
            let guess = plan::span(stored, &guess_now, &self.cfg);
            let first = guess.windows(&self.cfg).first().copied();
            let (window, size) = match first {
                Some(w) => (w, None),
                // Nothing to read by this host's clock: any one-second window tells the time.
                None => {
                    let w = WindowBounds {
                        from: guess.end - window::ONE_SECOND,
                        to: guess.end,
                    };
                    (w, Some(1))
                }
            };
            let page = primary.fetch(&self.client, window, 1, size).await?;
            shared.lock().expect("report lock").pages += 1;
            metrics::counter!(telemetry::SYNC_PAGES, self.labels(&[])).increment(1);
            probe = Some((guess, window, first.is_some().then_some(page)));
        }
        let now = self.now();
        if now.offset.is_none() {
            tracing::warn!(
                "no answer carried a Date header that agrees with the request timestamp the gateway accepted \
                 (none at all, or a proxy's clock); windows follow this host's clock"
            );
        }
        let mut span = plan::span(stored, &now, &self.cfg);
        let mut first_page = None;
        if let Some((guess, window, page)) = probe {
            // A host clock within seconds of the gateway's: keep the window its page was read for.
            if guess.from == span.from && guess.end <= span.end && span.end - guess.end <= PROBE_SLACK {
                span.end = guess.end;
            }
            if span.windows(&self.cfg).first() == Some(&window) {
                first_page = page;
            }
        }
        if let Some(ahead) = span.ahead {
            tracing::warn!(
                stored = %format_wdt(ahead.stored),
                gateway_time = %format_wdt(ahead.gateway_time),
                reset_to = %format_wdt(ahead.reset_to),
                "the stored checkpoint is ahead of the gateway's clock (left by a run on a host whose clock was fast); \
                 moving it back and reading the time it skipped again"
            );
            metrics::counter!(telemetry::SYNC_CHECKPOINT_RESETS, self.labels(&[])).increment(1);
            self.sink
                .reset_checkpoint(
                    &self.stream,
                    &Checkpoint {
                        window_end: ahead.reset_to,
                    },
                )
                .await
                .map_err(SyncError::Sink)?;
        }
        let windows = span.windows(&self.cfg);
        {
            let mut r = shared.lock().expect("report lock");
            r.windows_planned = windows.len() as u64;
            r.checkpoint = span.checkpoint;
            r.checkpoint_ahead = span.ahead;
            r.clock_offset = now.offset;
        }
        Ok(Planned {
            span,
            windows,
            first_page,
        })
    }

    fn notify(&self, shared: &Mutex<SyncReport>, window: Option<WindowBounds>) {
        if let Some(hook) = &self.progress {
            let r = shared.lock().expect("report lock");
            let p = Progress {
                windows_done: r.windows_done,
                windows_planned: r.windows_planned,
                window,
                pages: r.pages,
                refunds: r.refunds,
                commits: r.commits,
            };
            drop(r);
            hook(&p);
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn read_all(
        &self,
        windows: Vec<WindowBounds>,
        mut first_page: Option<Page<R>>,
        sources: Sources<'_, R>,
        tx: mpsc::Sender<Batch<R>>,
        shared: &Mutex<SyncReport>,
        stop: watch::Receiver<bool>,
        floor: Option<NaiveDateTime>,
    ) -> Result<(), SyncError<<S as Sink<R>>::Error>> {
        let mut stack: Vec<WindowBounds> = windows.into_iter().rev().collect();
        'windows: while let Some(w) = stack.pop() {
            if *stop.borrow() {
                break;
            }
            let span = tracing::info_span!("window", from = %format_wdt(w.from), to = %format_wdt(w.to));
            let settings = ReadSettings {
                order: self.cfg.paging,
                max_pages: self.cfg.max_pages_per_window,
                max_rereads: self.cfg.max_rereads,
                can_split: window::bisect(w).is_some(),
            };
            let mut batcher = Batcher {
                tx: &tx,
                stream: &self.stream,
                window: w,
                limit: self.cfg.batch_refunds,
                records: Vec::new(),
                dead: Vec::new(),
                open: true,
                stop: &stop,
            };
            let mut methods: Vec<&dyn WindowSource<R>> = vec![sources.primary];
            if self.reads_companions(sources.first_run, &w, sources.end) {
                methods.extend(sources.companions.iter().map(|c| c.as_ref()));
            }
            let mut distinct_all = 0u64;
            for (i, source) in methods.into_iter().enumerate() {
                let mut rereads = 0u32;
                let outcome = read_window(
                    &self.client,
                    source,
                    w,
                    settings,
                    if i == 0 { first_page.take() } else { None },
                    &mut batcher,
                    || {
                        shared.lock().expect("report lock").pages += 1;
                        metrics::counter!(telemetry::SYNC_PAGES, self.labels(&[])).increment(1);
                        self.notify(shared, Some(w));
                    },
                    &mut || {
                        rereads += 1;
                        shared.lock().expect("report lock").rereads += 1;
                    },
                )
                .instrument(span.clone())
                .await?;
                match outcome {
                    WindowRead::Done { distinct } => {
                        distinct_all += distinct;
                        if i > 0 {
                            shared.lock().expect("report lock").history_windows += 1;
                        }
                    }
                    WindowRead::TooManyPages { total } => {
                        // Both halves are read through every method again; what this window
                        // already handed on is committed without a checkpoint (writes are
                        // idempotent).
                        let (left, right) = window::bisect(w).expect("can_split was checked");
                        span.in_scope(|| {
                            tracing::info!(
                                total,
                                method = source.method(),
                                "window holds too many pages; bisecting"
                            )
                        });
                        let mut r = shared.lock().expect("report lock");
                        r.bisections += 1;
                        r.windows_planned += 1;
                        stack.push(right);
                        stack.push(left);
                        continue 'windows;
                    }
                    WindowRead::Stopped => break 'windows,
                    WindowRead::Incomplete { distinct, expected } => {
                        return Err(SyncError::WindowIncomplete {
                            from: format_wdt(w.from),
                            to: format_wdt(w.to),
                            distinct,
                            expected,
                            rereads,
                        });
                    }
                }
            }
            shared.lock().expect("report lock").refunds += distinct_all;
            metrics::counter!(telemetry::SYNC_REFUNDS, self.labels(&[])).increment(distinct_all);
            // A window that ends before the stored checkpoint (the overlap, or a half of it)
            // commits its records but never moves the checkpoint back.
            let checkpoint = floor
                .is_none_or(|f| w.to > f)
                .then_some(Checkpoint { window_end: w.to });
            if !batcher.finish(checkpoint).await {
                break;
            }
        }
        Ok(())
    }

    async fn write_all(
        &self,
        mut rx: mpsc::Receiver<Batch<R>>,
        shared: &Mutex<SyncReport>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), SyncError<<S as Sink<R>>::Error>> {
        loop {
            let batch = tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => None,
                b = rx.recv() => b,
            };
            let Some(batch) = batch else { break };
            let checkpoint = batch.checkpoint.clone();
            let window = batch.window;
            let n = batch.records.len() as u64;
            let span = tracing::info_span!("commit", refunds = n, checkpoint = ?checkpoint.as_ref().map(|c| format_wdt(c.window_end)));
            let started = std::time::Instant::now();
            let report = self
                .sink
                .commit(batch)
                .instrument(span)
                .await
                .map_err(SyncError::Sink)?;
            metrics::histogram!(telemetry::SYNC_COMMIT_SECONDS, self.labels(&[]))
                .record(started.elapsed().as_secs_f64());
            {
                let mut r = shared.lock().expect("report lock");
                r.commits += 1;
                r.refunds_written += n;
                r.dead_letters += report.dead_lettered;
                r.rows.absorb(&report);
                if let Some(c) = checkpoint {
                    r.windows_done += 1;
                    r.checkpoint = Some(c.window_end);
                    metrics::gauge!(telemetry::SYNC_CHECKPOINT, self.labels(&[]))
                        .set(crate::time::from_beijing(c.window_end).timestamp() as f64);
                }
            }
            metrics::counter!(telemetry::SYNC_ROWS_WRITTEN, self.labels(&[]))
                .increment(report.inserted + report.updated);
            for (kind, n) in [
                ("inserted", report.inserted),
                ("updated", report.updated),
                ("deleted", report.deleted),
                ("unchanged", report.unchanged),
                ("skipped", report.skipped_older),
            ] {
                metrics::counter!(telemetry::SYNC_ROWS, self.labels(&[("kind", kind)])).increment(n);
            }
            metrics::counter!(telemetry::SYNC_DEAD_LETTERS, self.labels(&[])).increment(report.dead_lettered);
            self.notify(shared, Some(window));
            if *stop.borrow() {
                break;
            }
        }
        Ok(())
    }
}

/// The methods a run reads, and what decides whether the companions are read for a window.
struct Sources<'a, R> {
    primary: &'a dyn WindowSource<R>,
    companions: &'a [Arc<dyn WindowSource<R>>],
    /// No checkpoint was stored: a first sync reads every method for every window.
    first_run: bool,
    /// The end of the run's span.
    end: NaiveDateTime,
}

/// Collects fresh records of one window into batches for the writer.
struct Batcher<'a, R> {
    tx: &'a mpsc::Sender<Batch<R>>,
    stream: &'a StreamId,
    window: WindowBounds,
    limit: usize,
    records: Vec<R>,
    dead: Vec<DeadLetter>,
    open: bool,
    /// Set by a shutdown signal: stop reading after the current page.
    stop: &'a watch::Receiver<bool>,
}

impl<R> Batcher<'_, R> {
    async fn send(&mut self, checkpoint: Option<Checkpoint>) -> bool {
        let batch = Batch {
            stream: self.stream.clone(),
            window: self.window,
            records: std::mem::take(&mut self.records),
            dead_letters: std::mem::take(&mut self.dead),
            checkpoint,
        };
        self.open = self.open && self.tx.send(batch).await.is_ok();
        self.open
    }

    /// Sends the rest with the window's checkpoint (`None` when it would move it back).
    async fn finish(&mut self, checkpoint: Option<Checkpoint>) -> bool {
        self.send(checkpoint).await
    }
}

#[async_trait::async_trait]
impl<R: Send + Sync + 'static> AsyncEmit<R> for &mut Batcher<'_, R> {
    async fn emit(&mut self, records: Vec<R>, dead: Vec<DeadLetter>) -> bool {
        if *self.stop.borrow() {
            // The window will be read again by the next run; nothing of it is committed with a
            // checkpoint now.
            return false;
        }
        self.records.extend(records);
        self.dead.extend(dead);
        if self.records.len() + self.dead.len() >= self.limit {
            return self.send(None).await;
        }
        self.open
    }
}

/// `stream`'s metric label: its id without the range of a backfill or archive pass
/// (`shop/aftersales.refund.Refund.search#history`), so a daily archive read adds no new series.
fn metric_stream(stream: &StreamId) -> String {
    let mut id = stream.to_string();
    if let Some(i) = id.find('#') {
        if let Some(j) = id[i..].find(':') {
            id.truncate(i + j);
        }
    }
    id
}

#[cfg(test)]
mod metric_stream_tests {
    use super::*;

    #[test]
    fn a_passs_range_is_not_part_of_its_metric_label() {
        let live = StreamId::new("shop", "aftersales.refund.Refund.search");
        assert_eq!(metric_stream(&live), "shop/aftersales.refund.Refund.search");
        let from = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let pass = history_stream(&live, from, from + chrono::TimeDelta::days(30));
        assert_eq!(metric_stream(&pass), "shop/aftersales.refund.Refund.search#history");
        let backfill = StreamId::new(
            "shop",
            "aftersales.refund.Refund.search#backfill:2024-01-01..2024-02-01",
        );
        assert_eq!(
            metric_stream(&backfill),
            "shop/aftersales.refund.Refund.search#backfill"
        );
    }
}
