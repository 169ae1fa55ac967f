//! The `verify` subcommand: proves the tables complete against WDT over a range, cheaply, and
//! with `--repair` re-syncs what is not.
//!
//! For each window of the range (planned as the sync plans them: at most `--max-window`,
//! Beijing time), WDT is asked for the window's `total_count` with a page of one record (one
//! request per window and method: `Refund.search`, and `Refund.searchHistory` unless
//! `--no-history`), and the distinct refunds stored for the same account, source (`live` or
//! `history`) and window of the stored `modified` are counted. A window whose counts differ is
//! counted again once (a refund modified meanwhile moves to a later window), then bisected down
//! to `--verify-min-window` to narrow where the difference is; a narrowed range of at most
//! [`DETAIL_PAGES`] pages is read whole and its ids and `modified` compared with the stored
//! ones: refunds missing, stale (stored with an older `modified`) and extra (stored, but WDT
//! does not list them in that window).
//!
//! Every request goes through the account's client, so its rate limit holds. The newest minutes
//! (the settle lag) are never verified.
//!
//! # What the counts can and cannot prove
//!
//! A refund modified after the sync read it moves to a later window in WDT (its `modified` is
//! the window's key), while its stored row keeps the older `modified` until the live sync reads
//! it again: a live count changes under the verify. So the newest minutes (the settle lag) are
//! never verified, and a window whose counts differ is counted again once (WDT's count and the
//! stored one both) before it is reported: a refund modified between the first count and the
//! re-count, whose new version the live sync wrote meanwhile, leaves the window as it agrees
//! again, and is not reported. What remains:
//!
//! - a refund modified between the two counts whose new version is not stored yet at the
//!   re-count still makes its old window differ (stored one more than WDT): it is reported as
//!   stale or extra, and the next verify (after the live sync read it) no longer finds it;
//! - a refund modified after the re-count is not seen by this verify at all;
//! - two differences that cancel out in one window (a refund missing and another extra) leave
//!   its counts equal, and are not found;
//! - a refund WDT no longer lists in its window (archived, or moved) while its old row stays is
//!   extra: reported, never deleted.
//!
//! The scheduled verify ([`scheduled`], `run --verify-every`) does the same over an account's
//! last `--verify-days` up to its live checkpoint, through the run's client and sink and under
//! its lease, once per interval after the account's last row in `wdt_sync_verify` ([`is_due`]).
//!
//! `--repair` re-syncs each narrowed range as a backfill (under a checkpoint of its own; the
//! live checkpoint never moves) and counts it again. Extra rows are reported, never deleted:
//! WDT not listing a refund in a window does not prove it does not exist (it may have been
//! archived, or moved to another window), and the rows are the user's data.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use chrono::{NaiveDateTime, TimeDelta};
use refund_sink_mysql::{MySqlSink, SinkError, VerifyRecord};
use wdt_qimen::api::refund_history::RefundHistorySearch;
use wdt_qimen::endpoint::{Endpoint, Record as _};
use wdt_qimen::sync::{window, Sink as _, StreamId, SyncEngine, WindowBounds};
use wdt_qimen::time::{format_wdt, to_beijing};
use wdt_qimen::{Client, RefundSearch};

use crate::alert::Alerts;
use crate::backfill::Range;
use crate::cli::RunArgs;
use crate::cli::VerifyArgs;
use crate::config::{Account, MysqlSettings, Plan, Schedule, VerifySchedule};
use crate::error::{chain, AppError};
use crate::lease::Runner;
use crate::signals::Shutdown;
use crate::{route, run, sink};

/// The default of `--verify-min-window`: how narrow a differing window is bisected.
pub const DEFAULT_MIN_WINDOW: Duration = Duration::from_secs(3600);
/// The default range without `--from`: this long before its end.
pub const DEFAULT_RANGE: Duration = Duration::from_secs(30 * 86_400);
/// A narrowed range is read whole (to name its refunds) when WDT counts at most this many pages
/// of the account's page size in it.
pub const DETAIL_PAGES: u64 = 20;

/// One of the methods a verify counts through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `Refund.search`: the live refunds (stored with source `live`).
    Live,
    /// `Refund.searchHistory`: the archived refunds (stored with source `history`).
    History,
}

impl Method {
    /// The method's short name.
    pub fn label(self) -> &'static str {
        match self {
            Method::Live => "Refund.search",
            Method::History => "Refund.searchHistory",
        }
    }

    /// The stored `source` of its refunds.
    pub fn source(self) -> &'static str {
        match self {
            Method::Live => "live",
            Method::History => "history",
        }
    }
}

/// The counts of one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// The window.
    pub window: WindowBounds,
    /// WDT's `total_count`.
    pub wdt: u64,
    /// Distinct refunds stored.
    pub stored: u64,
}

impl Counted {
    /// True when the counts differ.
    pub fn differs(&self) -> bool {
        self.wdt != self.stored
    }

    fn line(&self) -> String {
        format!(
            "{} .. {}: WDT {}, stored {}, difference {:+}",
            format_wdt(self.window.from),
            format_wdt(self.window.to),
            self.wdt,
            self.stored,
            self.stored as i64 - self.wdt as i64
        )
    }
}

/// The refunds of a narrowed range that differ.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Named {
    /// In WDT, not stored.
    pub missing: BTreeSet<i64>,
    /// Stored with an older `modified` than WDT's: id, stored, WDT's.
    pub stale: BTreeMap<i64, (Option<NaiveDateTime>, Option<NaiveDateTime>)>,
    /// Stored in the window, not listed by WDT in it.
    pub extra: BTreeSet<i64>,
}

/// What the verify of one account and method found.
#[derive(Debug, Clone)]
pub struct MethodResult {
    /// The method.
    pub method: Method,
    /// Every window of the range, counted.
    pub windows: Vec<Counted>,
    /// The narrowed ranges that differ (after a re-count), counted.
    pub narrowed: Vec<Counted>,
    /// The refunds named, over every narrowed range read whole.
    pub named: Named,
    /// Narrowed ranges too large to be read whole.
    pub unnamed: Vec<WindowBounds>,
    /// The narrowed ranges re-synced by `--repair`.
    pub repaired: Vec<WindowBounds>,
    /// The narrowed ranges that still differ at the end.
    pub remaining: Vec<Counted>,
}

/// What the verify of one account found, and what it cost.
#[derive(Debug, Clone)]
pub struct AccountVerify {
    /// The account.
    pub account: String,
    /// The stream account (the `account` column of its rows).
    pub key: String,
    /// The range verified.
    pub range: Range,
    /// Per method.
    pub methods: Vec<MethodResult>,
    /// Gateway requests the verify used (the repair's own backfill requests not included).
    pub requests: u64,
    /// The least requests a full re-sync of the range would use: per window and method, one per
    /// page of the account's page size, one for an empty window.
    pub resync_requests: u64,
    /// The account's page size.
    pub page_size: u32,
}

impl AccountVerify {
    /// True when a difference remains (after the repair, with `--repair`).
    pub fn differs(&self) -> bool {
        self.methods.iter().any(|m| !m.remaining.is_empty())
    }
}

/// The least requests a full re-sync of windows of `n` refunds each uses at `page_size`.
pub fn resync_floor(counts: impl IntoIterator<Item = u64>, page_size: u32) -> u64 {
    counts
        .into_iter()
        .map(|n| n.div_ceil(u64::from(page_size.max(1))).max(1))
        .sum()
}

/// The verify's settings, checked.
#[derive(Debug, Clone, Copy)]
pub struct VerifySettings {
    /// `--from`/`--to`; `None`: the last [`days`](Self::days) up to the live checkpoint.
    pub range: Option<Range>,
    /// How far before the live checkpoint a verify without a range starts ([`DEFAULT_RANGE`]
    /// for the `verify` subcommand, `--verify-days` for the scheduled one).
    pub days: TimeDelta,
    /// How narrow a differing window is bisected.
    pub min_window: TimeDelta,
    /// Re-sync the narrowed ranges that differ.
    pub repair: bool,
}

impl VerifySettings {
    /// The settings of `args`; a range not ending after it starts, or a bad minimum window, is
    /// refused naming the flag.
    pub fn of(args: &VerifyArgs) -> Result<Self, AppError> {
        let range = match (args.from, args.to) {
            (Some(from), Some(to)) => Some(Range::of(&crate::cli::BackfillArgs {
                from,
                to,
                account: None,
            })?),
            _ => None,
        };
        let min = args.verify_min_window.unwrap_or(DEFAULT_MIN_WINDOW);
        let min_window = TimeDelta::from_std(min)
            .ok()
            .filter(|d| *d >= TimeDelta::seconds(4))
            .ok_or_else(|| {
                AppError::setting(
                    "--verify-min-window",
                    humantime::format_duration(min),
                    "shorter than 4 seconds (a window is bisected into halves sharing a second)",
                    "give a duration such as 1h or 10m",
                )
            })?;
        Ok(Self {
            range,
            days: TimeDelta::from_std(DEFAULT_RANGE).expect("30 days"),
            min_window,
            repair: args.repair,
        })
    }

    /// The settings of the scheduled verify `s`: its last days up to the live checkpoint, at
    /// the default minimum window.
    pub fn scheduled(s: &VerifySchedule) -> Self {
        Self {
            range: None,
            days: TimeDelta::days(i64::from(s.days)),
            min_window: TimeDelta::from_std(DEFAULT_MIN_WINDOW).expect("1 hour"),
            repair: s.repair,
        }
    }
}

/// Called before a window whose counts differ is counted again (with the method and the
/// window): the time between the two counts, in which a test changes what is counted.
pub type RecountHook = Arc<dyn Fn(Method, WindowBounds) -> BoxFuture<'static, ()> + Send + Sync>;

/// What a verify reads through and records into: the account's own client (so its rate limit
/// holds), its sink, and its live stream (whose account key its rows carry).
pub struct Target<'a> {
    /// The MySQL settings (for the errors).
    pub mysql: &'a MysqlSettings,
    /// The schedule: the settle lag, the longest window, and whether archived refunds are read.
    pub schedule: &'a Schedule,
    /// The account.
    pub account: &'a Account,
    /// The account's client.
    pub client: Client,
    /// The account's sink.
    pub sink: MySqlSink,
    /// The account's live stream.
    pub stream: StreamId,
}

/// The error of a failed MySQL read or write during a verify.
fn mysql(settings: &MysqlSettings) -> impl Fn(SinkError) -> AppError + '_ {
    move |e: SinkError| AppError::MysqlStart {
        url: settings.redacted_url(),
        detail: chain(&e),
        source: Box::new(e),
    }
}

fn sdk(account: &Account) -> impl Fn(wdt_qimen::Error) -> AppError + '_ {
    move |source| AppError::Verify {
        account: account.name.clone(),
        detail: crate::error::explain_api(&source),
        fix: "check the account with `check`, then run verify again".into(),
    }
}

/// What a verify works with: the account's client and sink, the rows' account key.
struct Ctx<'a> {
    mysql: &'a MysqlSettings,
    account: &'a Account,
    client: Client,
    sink: MySqlSink,
    key: String,
    hook: Option<RecountHook>,
}

impl<'a> Ctx<'a> {
    fn of(t: &Target<'a>, hook: Option<RecountHook>) -> Self {
        Self {
            mysql: t.mysql,
            account: t.account,
            client: t.client.clone(),
            sink: t.sink.clone(),
            key: t.stream.account.clone(),
            hook,
        }
    }

    async fn wdt_count(&self, m: Method, w: WindowBounds) -> Result<u64, AppError> {
        let e = sdk(self.account);
        let page = match m {
            Method::Live => {
                let q = RefundSearch::modified(w.from, w.to)
                    .and_then(|q| q.page_size(1))
                    .map_err(&e)?;
                self.client.page(&q, 1).await.map_err(&e)?.total_count
            }
            Method::History => {
                let q = RefundHistorySearch::window(w.from, w.to)
                    .and_then(|q| q.page_size(1))
                    .map_err(&e)?;
                self.client.page(&q, 1).await.map_err(&e)?.total_count
            }
        };
        page.ok_or_else(|| AppError::Verify {
            account: self.account.name.clone(),
            detail: format!(
                "{} answered {} .. {} without total_count: the window cannot be counted",
                m.label(),
                format_wdt(w.from),
                format_wdt(w.to)
            ),
            fix: "verify needs the gateway's total_count; re-sync the range with backfill instead".into(),
        })
    }

    async fn count(&self, m: Method, w: WindowBounds) -> Result<Counted, AppError> {
        let wdt = self.wdt_count(m, w).await?;
        let stored = self
            .sink
            .stored_count(&self.key, m.source(), w.from, w.to)
            .await
            .map_err(mysql(self.mysql))?;
        Ok(Counted { window: w, wdt, stored })
    }

    /// Counts `w`, and once more when the counts differ: a refund modified between WDT's count
    /// and the stored count (or read by the live sync meanwhile) moved to a later window, and
    /// only a window that differs twice is reported.
    async fn count_twice(&self, m: Method, w: WindowBounds) -> Result<Counted, AppError> {
        let c = self.count(m, w).await?;
        if c.differs() {
            if let Some(hook) = &self.hook {
                hook(m, w).await;
            }
            self.count(m, w).await
        } else {
            Ok(c)
        }
    }

    /// The narrowest ranges of `c` (a differing window) that differ, bisected down to
    /// `min_window`. When neither half differs (the differences cancel out across the halves,
    /// or a boundary refund), the window itself is kept.
    async fn narrow(&self, m: Method, c: Counted, min_window: TimeDelta) -> Result<Vec<Counted>, AppError> {
        let mut out = Vec::new();
        let mut todo = vec![c];
        while let Some(c) = todo.pop() {
            let split = (c.window.to - c.window.from > min_window)
                .then(|| window::bisect(c.window))
                .flatten();
            let Some((a, b)) = split else {
                out.push(c);
                continue;
            };
            let (ca, cb) = (self.count_twice(m, a).await?, self.count_twice(m, b).await?);
            match (ca.differs(), cb.differs()) {
                (false, false) => out.push(c),
                (da, db) => {
                    // Later half first on the stack, so the output runs in time order.
                    if db {
                        todo.push(cb);
                    }
                    if da {
                        todo.push(ca);
                    }
                }
            }
        }
        Ok(out)
    }

    /// WDT's refunds of `w`, read whole: id → `modified`.
    async fn wdt_versions(&self, m: Method, w: WindowBounds) -> Result<BTreeMap<i64, Option<NaiveDateTime>>, AppError> {
        let e = sdk(self.account);
        let size = self.account.page_size;
        let mut out = BTreeMap::new();
        match m {
            Method::Live => {
                let q = RefundSearch::modified(w.from, w.to)
                    .and_then(|q| q.page_size(size))
                    .map_err(&e)?;
                read_all(&self.client, q, &mut out).await.map_err(&e)?;
            }
            Method::History => {
                let q = RefundHistorySearch::window(w.from, w.to)
                    .and_then(|q| q.page_size(size))
                    .map_err(&e)?;
                read_all(&self.client, q, &mut out).await.map_err(&e)?;
            }
        }
        Ok(out)
    }

    /// Names the refunds of the narrowed range `w` that differ.
    async fn name(&self, m: Method, w: WindowBounds, named: &mut Named) -> Result<(), AppError> {
        let wdt = self.wdt_versions(m, w).await?;
        let stored = self
            .sink
            .stored_versions(&self.key, m.source(), w.from, w.to)
            .await
            .map_err(mysql(self.mysql))?;
        let absent: Vec<i64> = wdt.keys().filter(|id| !stored.contains_key(id)).copied().collect();
        let elsewhere = self
            .sink
            .stored_versions_of(&self.key, &absent)
            .await
            .map_err(mysql(self.mysql))?;
        for id in absent {
            match elsewhere.get(&id) {
                Some(s) => {
                    named.stale.insert(id, (*s, wdt[&id]));
                }
                None => {
                    named.missing.insert(id);
                }
            }
        }
        for (id, s) in &stored {
            match wdt.get(id) {
                None => {
                    named.extra.insert(*id);
                }
                Some(v) if v.is_some_and(|v| v > *s) => {
                    named.stale.insert(*id, (Some(*s), *v));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    async fn method(
        &self,
        m: Method,
        windows: &[WindowBounds],
        min_window: TimeDelta,
    ) -> Result<MethodResult, AppError> {
        let mut res = MethodResult {
            method: m,
            windows: Vec::new(),
            narrowed: Vec::new(),
            named: Named::default(),
            unnamed: Vec::new(),
            repaired: Vec::new(),
            remaining: Vec::new(),
        };
        for &w in windows {
            let c = self.count_twice(m, w).await?;
            res.windows.push(c);
            if c.differs() {
                res.narrowed.extend(self.narrow(m, c, min_window).await?);
            }
        }
        let limit = DETAIL_PAGES * u64::from(self.account.page_size);
        for c in res.narrowed.clone() {
            if c.wdt <= limit {
                let mut named = std::mem::take(&mut res.named);
                self.name(m, c.window, &mut named).await?;
                res.named = named;
            } else {
                res.unnamed.push(c.window);
            }
        }
        // A stale refund stored in one window and listed by WDT in a later one is stale, not extra.
        let stale: Vec<i64> = res.named.stale.keys().copied().collect();
        for id in stale {
            res.named.extra.remove(&id);
        }
        res.remaining = res.narrowed.clone();
        Ok(res)
    }
}

async fn read_all<E: Endpoint<Record = wdt_qimen::model::refund::Refund>>(
    client: &Client,
    q: E,
    out: &mut BTreeMap<i64, Option<NaiveDateTime>>,
) -> Result<(), wdt_qimen::Error> {
    let mut items = client.pages(q).items();
    while let Some(r) = items.try_next().await? {
        let v = r.version();
        let e = out.entry(r.key()).or_insert(v);
        if v > *e {
            *e = v;
        }
    }
    Ok(())
}

/// Verifies `account` of `plan` with `settings`; the repair (if asked) is left to the caller.
pub async fn verify_account(
    plan: &Plan,
    pool: &refund_sink_mysql::SharedPool,
    account: &Account,
    settings: &VerifySettings,
) -> Result<(AccountVerify, VerifyCtx), AppError> {
    verify_account_with(plan, pool, account, settings, None).await
}

/// [`verify_account`], calling `hook` before each re-count of a differing window.
pub async fn verify_account_with(
    plan: &Plan,
    pool: &refund_sink_mysql::SharedPool,
    account: &Account,
    settings: &VerifySettings,
    hook: Option<RecountHook>,
) -> Result<(AccountVerify, VerifyCtx), AppError> {
    let sink = sink::open(&plan.mysql, pool, account, plan.dry_run).await?;
    let connected = route::connect(account).await?;
    let client = connected.client.clone();
    let stream = live_stream(&plan.schedule, account, &client, &sink)?;
    let t = Target {
        mysql: &plan.mysql,
        schedule: &plan.schedule,
        account,
        client,
        sink,
        stream,
    };
    let v = verify_target(&t, settings, hook).await?;
    Ok((
        v,
        VerifyCtx {
            client: t.client,
            sink: t.sink,
            stream: t.stream,
            _connected: connected,
        },
    ))
}

/// The live stream of `account` read through `client` (as the sync names it).
fn live_stream(
    schedule: &Schedule,
    account: &Account,
    client: &Client,
    sink: &MySqlSink,
) -> Result<StreamId, AppError> {
    let mut engine = SyncEngine::new(client.clone(), sink.clone(), run::sync_config(schedule, account)?);
    if let Some(stream) = &account.stream_account {
        let method = engine.stream().method.clone();
        engine = engine.with_stream(StreamId::new(stream.clone(), method));
    }
    Ok(engine.stream().clone())
}

/// Verifies the account of `t` with `settings` (no repair), calling `hook` before each re-count
/// of a differing window.
pub async fn verify_target(
    t: &Target<'_>,
    settings: &VerifySettings,
    hook: Option<RecountHook>,
) -> Result<AccountVerify, AppError> {
    let account = t.account;
    let lag = TimeDelta::from_std(t.schedule.lag).unwrap_or(TimeDelta::MAX);
    let settled = crate::verify::whole_second(to_beijing(chrono::Utc::now()) - lag);
    let range = match settings.range {
        Some(r) => Range {
            from: r.from,
            to: r.to.min(settled),
        },
        None => {
            let checkpoint = t
                .sink
                .load_checkpoint(&t.stream)
                .await
                .map_err(mysql(t.mysql))?
                .map(|c| c.window_end)
                .ok_or_else(|| {
                    AppError::setting(
                        "--from",
                        "(not given)",
                        format!("account {:?} has no checkpoint yet to verify up to", account.name),
                        "run a sync first, or give --from and --to",
                    )
                })?;
            let to = checkpoint.min(settled);
            Range {
                from: to - settings.days,
                to,
            }
        }
    };
    if range.to <= range.from {
        return Err(AppError::setting(
            "--to",
            format_wdt(range.to),
            format!(
                "the range ends before it starts once the settle lag is left out (--from = {})",
                format_wdt(range.from)
            ),
            "give a range that ends before the gateway's time minus --lag",
        ));
    }
    let max_window = TimeDelta::from_std(t.schedule.max_window).unwrap_or(TimeDelta::days(29));
    let windows = window::plan(range.from, range.to, max_window);
    let ctx = Ctx::of(t, hook);
    let before = ctx.client.stats().requests;
    let mut methods = vec![ctx.method(Method::Live, &windows, settings.min_window).await?];
    if t.schedule.history {
        methods.push(ctx.method(Method::History, &windows, settings.min_window).await?);
    }
    let resync_requests = methods
        .iter()
        .map(|m| resync_floor(m.windows.iter().map(|c| c.wdt), account.page_size))
        .sum();
    let requests = ctx.client.stats().requests - before;
    Ok(AccountVerify {
        account: account.name.clone(),
        key: ctx.key.clone(),
        range,
        methods,
        requests,
        resync_requests,
        page_size: account.page_size,
    })
}

/// What a verify keeps for its re-count after a repair (the simulator, for its route, stays up).
pub struct VerifyCtx {
    client: Client,
    sink: MySqlSink,
    stream: StreamId,
    _connected: route::Connected,
}

/// Counts the narrowed ranges of `v` again (after a repair) and keeps those still differing.
pub async fn recount(plan: &Plan, account: &Account, v: &mut AccountVerify, held: &VerifyCtx) -> Result<(), AppError> {
    let t = Target {
        mysql: &plan.mysql,
        schedule: &plan.schedule,
        account,
        client: held.client.clone(),
        sink: held.sink.clone(),
        stream: held.stream.clone(),
    };
    recount_target(&t, v).await
}

/// Counts the repaired ranges of `v` again through `t` and keeps those still differing.
pub async fn recount_target(t: &Target<'_>, v: &mut AccountVerify) -> Result<(), AppError> {
    let ctx = Ctx::of(t, None);
    let before = ctx.client.stats().requests;
    for m in &mut v.methods {
        let mut remaining = Vec::new();
        for w in &m.repaired {
            let c = ctx.count_twice(m.method, *w).await?;
            if c.differs() {
                remaining.push(c);
            }
        }
        m.remaining = remaining;
    }
    v.requests += ctx.client.stats().requests - before;
    Ok(())
}

/// Marks the narrowed ranges of `v` inside `range` repaired.
fn mark_repaired(v: &mut AccountVerify, range: Range) {
    for m in &mut v.methods {
        for c in &m.narrowed {
            if c.window.from >= range.from && c.window.to <= range.to {
                m.repaired.push(c.window);
            }
        }
    }
}

/// Records every method of `v` in `wdt_sync_verify`.
async fn record(
    mysql_settings: &MysqlSettings,
    sink: &MySqlSink,
    v: &AccountVerify,
    started: NaiveDateTime,
) -> Result<(), AppError> {
    let ended = to_beijing(chrono::Utc::now());
    for m in &v.methods {
        sink.record_verify(&record_of(v, m, started, ended))
            .await
            .map_err(mysql(mysql_settings))?;
    }
    Ok(())
}

/// Whether a scheduled verify every `every` is due at `now` (Beijing), the last one having
/// started at `last` (none yet: due). A last start later than `now` (this host's clock went
/// back) waits until `now` passes it by `every`.
pub fn is_due(last: Option<NaiveDateTime>, now: NaiveDateTime, every: Duration) -> bool {
    last.is_none_or(|l| TimeDelta::from_std(every).is_ok_and(|e| now - l >= e))
}

/// When the last verify of `t`'s account started, from `wdt_sync_verify` (none yet: `None`).
pub async fn last_started(t: &Target<'_>) -> Result<Option<NaiveDateTime>, AppError> {
    let rows = t
        .sink
        .recent_verifies(&t.stream.account, 1)
        .await
        .map_err(mysql(t.mysql))?;
    Ok(rows.first().map(|r| r.started_at))
}

/// The scheduled verify of `t`'s account (`--verify-every`): its last `s.days` days up to its
/// live checkpoint, through its own client and sink; with `s.repair`, each range that differs
/// is re-synced as a backfill through the same client (under the caller's lease; the live
/// checkpoint never moves) and counted again; the verify is recorded in `wdt_sync_verify`.
pub async fn scheduled(t: &Target<'_>, s: &VerifySchedule) -> Result<AccountVerify, AppError> {
    let started = to_beijing(chrono::Utc::now());
    let settings = VerifySettings::scheduled(s);
    let mut v = verify_target(t, &settings, None).await?;
    if settings.repair {
        let cfg = run::sync_config(t.schedule, t.account)?;
        for range in repair_ranges(&v) {
            let engine = SyncEngine::new(t.client.clone(), t.sink.clone(), cfg.clone())
                .with_stream(t.stream.clone())
                .backfill(range.from, range.to);
            engine.run().await.map_err(|source| AppError::Sync {
                mysql_url: t.mysql.redacted_url(),
                source: Box::new(source),
            })?;
            mark_repaired(&mut v, range);
        }
        recount_target(t, &mut v).await?;
    }
    record(t.mysql, &t.sink, &v, started).await?;
    Ok(v)
}

/// The most refund ids of each kind an alert names.
pub const ALERT_IDS: usize = 10;

/// What still differs after `v` (the range, and per method the counts, the ranges that differ
/// and the refunds named, at most [`ALERT_IDS`] of each kind), as one line for an alert; `None`
/// when the range matches.
pub fn difference_line(v: &AccountVerify) -> Option<String> {
    if !v.differs() {
        return None;
    }
    let parts: Vec<String> = v
        .methods
        .iter()
        .filter(|m| !m.remaining.is_empty())
        .map(|m| {
            let (wdt, stored) = totals(m);
            let mut p = format!(
                "{}: WDT {wdt}, stored {stored}; {} of {} windows differ ({} missing, {} stale, {} extra)",
                m.method.label(),
                m.windows.iter().filter(|c| c.differs()).count(),
                m.windows.len(),
                m.named.missing.len(),
                m.named.stale.len(),
                m.named.extra.len(),
            );
            for (what, set) in [
                ("missing", m.named.missing.iter().copied().collect::<Vec<_>>()),
                ("stale", m.named.stale.keys().copied().collect()),
                ("extra", m.named.extra.iter().copied().collect()),
            ] {
                if !set.is_empty() {
                    let more = if set.len() > ALERT_IDS {
                        format!(" and {} more", set.len() - ALERT_IDS)
                    } else {
                        String::new()
                    };
                    let _ = write!(p, "; {what} ids: {}{more}", ids(set.into_iter().take(ALERT_IDS)));
                }
            }
            if !m.repaired.is_empty() {
                let _ = write!(
                    p,
                    "; {} ranges repaired, {} still differ",
                    m.repaired.len(),
                    m.remaining.len()
                );
            }
            p
        })
        .collect();
    Some(format!("{}: {}", range_text(v), parts.join("; ")))
}

/// The range of `v` and its counts per method, as one line.
pub fn summary_line(v: &AccountVerify) -> String {
    let parts: Vec<String> = v
        .methods
        .iter()
        .map(|m| {
            let (wdt, stored) = totals(m);
            format!("{} WDT {wdt}, stored {stored}", m.method.label())
        })
        .collect();
    let verdict = if v.differs() { "differs" } else { "matches WDT" };
    format!("{}: {verdict} ({})", range_text(v), parts.join("; "))
}

fn totals(m: &MethodResult) -> (u64, u64) {
    (
        m.windows.iter().map(|c| c.wdt).sum(),
        m.windows.iter().map(|c| c.stored).sum(),
    )
}

fn range_text(v: &AccountVerify) -> String {
    format!("{} .. {} (Beijing)", format_wdt(v.range.from), format_wdt(v.range.to))
}

/// The record of `v`'s method `m` for `wdt_sync_verify`.
pub fn record_of(v: &AccountVerify, m: &MethodResult, started: NaiveDateTime, ended: NaiveDateTime) -> VerifyRecord {
    let mut r = VerifyRecord::new(v.key.clone(), m.method.label(), v.range.from, v.range.to, started);
    r.windows = m.windows.len() as u64;
    r.wdt_count = m.windows.iter().map(|c| c.wdt).sum();
    r.stored_count = m.windows.iter().map(|c| c.stored).sum();
    r.differing_windows = m.windows.iter().filter(|c| c.differs()).count() as u64;
    r.missing = m.named.missing.len() as u64;
    r.extra = m.named.extra.len() as u64;
    r.stale = m.named.stale.len() as u64;
    r.repaired_windows = m.repaired.len() as u64;
    r.remaining_windows = m.remaining.len() as u64;
    r.requests = v.requests;
    r.resync_requests = v.resync_requests;
    r.ended_at = ended;
    r
}

/// The ranges a repair re-syncs: every narrowed range of every method, merged where they overlap.
pub fn repair_ranges(v: &AccountVerify) -> Vec<Range> {
    let mut all: Vec<WindowBounds> = v
        .methods
        .iter()
        .flat_map(|m| m.narrowed.iter().map(|c| c.window))
        .collect();
    all.sort_by_key(|w| (w.from, w.to));
    let mut out: Vec<Range> = Vec::new();
    for w in all {
        match out.last_mut() {
            Some(last) if w.from <= last.to => last.to = last.to.max(w.to),
            _ => out.push(Range { from: w.from, to: w.to }),
        }
    }
    out
}

fn whole_second(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    t.with_nanosecond(0).expect("0 ns is valid")
}

fn ids(set: impl IntoIterator<Item = i64>) -> String {
    let v: Vec<String> = set.into_iter().map(|i| i.to_string()).collect();
    v.join(", ")
}

/// The report of one account's verify.
pub fn render(v: &AccountVerify, repair: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "verify {} .. {} (Beijing), account key {}",
        format_wdt(v.range.from),
        format_wdt(v.range.to),
        v.key
    );
    for m in &v.methods {
        let _ = writeln!(out, "  {} ({} windows):", m.method.label(), m.windows.len());
        for c in &m.windows {
            let _ = writeln!(out, "    {}", c.line());
        }
        for c in &m.narrowed {
            let _ = writeln!(out, "    differs in {}", c.line());
        }
        if !m.named.missing.is_empty() {
            let _ = writeln!(out, "    missing refund ids: {}", ids(m.named.missing.iter().copied()));
        }
        if !m.named.stale.is_empty() {
            let _ = writeln!(
                out,
                "    stale refund ids (stored with another modified than WDT's): {}",
                ids(m.named.stale.keys().copied())
            );
        }
        if !m.named.extra.is_empty() {
            let _ = writeln!(
                out,
                "    extra refund ids (stored, not listed by WDT in their window; kept): {}",
                ids(m.named.extra.iter().copied())
            );
        }
        for w in &m.unnamed {
            let _ = writeln!(
                out,
                "    {} .. {}: too many refunds to name them (more than {DETAIL_PAGES} pages)",
                format_wdt(w.from),
                format_wdt(w.to)
            );
        }
        if repair {
            for w in &m.repaired {
                let _ = writeln!(out, "    repaired {} .. {}", format_wdt(w.from), format_wdt(w.to));
            }
        }
        for c in m.remaining.iter().filter(|_| repair) {
            let _ = writeln!(out, "    still differs after the repair: {}", c.line());
        }
    }
    let _ = writeln!(
        out,
        "requests: {} (a full re-sync of the range: at least {} at page size {})",
        v.requests, v.resync_requests, v.page_size
    );
    let _ = if v.differs() {
        writeln!(
            out,
            "result: differences remain{}",
            if repair {
                ""
            } else {
                " (run with --repair to re-sync them)"
            }
        )
    } else if v.methods.iter().any(|m| !m.repaired.is_empty()) {
        writeln!(out, "result: repaired; the range now matches WDT")
    } else {
        writeln!(out, "result: the range matches WDT")
    };
    out
}

/// Verifies every account of `plan` (already narrowed to `--account`), prints one report per
/// account, repairs with `settings.repair` (each range a backfill of a plan resolved again from
/// `cli`), records every verify in `wdt_sync_verify`, and returns whether a difference remains.
pub async fn verify(
    plan: &Plan,
    cli: &crate::cli::Settings,
    settings: &VerifySettings,
    shutdown: Shutdown,
    program: &str,
) -> Result<bool, AppError> {
    let pool = plan.mysql.shared_pool();
    let mut differs = false;
    let mut failed = Vec::new();
    for account in &plan.accounts {
        match verify_one(plan, &pool, account, cli, settings, shutdown.clone(), program).await {
            Ok((text, d)) => {
                differs |= d;
                if plan.named {
                    println!("account {}", account.name);
                }
                print!("{text}");
            }
            Err(e) => {
                eprintln!(
                    "{program}: {}{e}",
                    if plan.named {
                        format!("{}: ", account.name)
                    } else {
                        String::new()
                    }
                );
                failed.push(account.name.clone());
            }
        }
    }
    let _ = pool.disconnect().await;
    if failed.is_empty() {
        Ok(differs)
    } else {
        Err(AppError::AccountsFailed {
            total: plan.accounts.len(),
            failed,
        })
    }
}

async fn verify_one(
    plan: &Plan,
    pool: &refund_sink_mysql::SharedPool,
    account: &Account,
    cli: &crate::cli::Settings,
    settings: &VerifySettings,
    shutdown: Shutdown,
    program: &str,
) -> Result<(String, bool), AppError> {
    let started = to_beijing(chrono::Utc::now());
    let (mut v, held) = verify_account(plan, pool, account, settings).await?;
    if settings.repair && plan.dry_run {
        eprintln!("{program}: --repair is skipped in a dry run (nothing is written)");
    }
    if settings.repair && !plan.dry_run {
        for range in repair_ranges(&v) {
            let once = RunArgs {
                once: true,
                ..RunArgs::default()
            };
            let mut again = crate::config::resolve(cli, Some(&once), &crate::config::process_env)?;
            crate::backfill::select(&mut again, Some(&account.name))?;
            crate::backfill::backfill(
                again,
                Runner::of(cli)?,
                range,
                Alerts::none(),
                shutdown.clone(),
                program,
            )
            .await?;
            mark_repaired(&mut v, range);
        }
        recount(plan, account, &mut v, &held).await?;
    }
    record(&plan.mysql, &held.sink, &v, started).await?;
    Ok((render(&v, settings.repair), v.differs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resync_floor_is_one_request_per_page_and_one_per_empty_window() {
        assert_eq!(resync_floor([0, 1, 100, 101, 250], 100), 1 + 1 + 1 + 2 + 3);
        assert_eq!(resync_floor([], 100), 0);
    }

    fn t(s: &str) -> NaiveDateTime {
        crate::cli::parse_time(s).unwrap()
    }

    #[test]
    fn a_scheduled_verify_is_due_an_interval_after_the_last_one_started() {
        let day = Duration::from_secs(86_400);
        let last = t("2026-11-30 09:00:00");
        assert!(is_due(None, last, day), "never verified: at once");
        assert!(!is_due(Some(last), t("2026-12-01 08:59:59"), day));
        assert!(is_due(Some(last), t("2026-12-01 09:00:00"), day));
        assert!(
            !is_due(Some(t("2026-12-02 00:00:00")), last, day),
            "a start ahead of the clock waits"
        );
        assert!(
            !is_due(Some(last), t("2026-12-01 09:00:00"), Duration::MAX),
            "an interval beyond any date"
        );
    }

    #[test]
    fn the_repair_ranges_merge_where_they_overlap() {
        let w = |a: &str, b: &str| Counted {
            window: WindowBounds { from: t(a), to: t(b) },
            wdt: 1,
            stored: 0,
        };
        let m = |narrowed: Vec<Counted>, method| MethodResult {
            method,
            windows: Vec::new(),
            narrowed,
            named: Named::default(),
            unnamed: Vec::new(),
            repaired: Vec::new(),
            remaining: Vec::new(),
        };
        let v = AccountVerify {
            account: "a".into(),
            key: "k".into(),
            range: Range {
                from: t("2025-01-01 00:00:00"),
                to: t("2025-02-01 00:00:00"),
            },
            methods: vec![
                m(
                    vec![
                        w("2025-01-02 00:00:00", "2025-01-02 01:00:00"),
                        w("2025-01-05 00:00:00", "2025-01-05 01:00:00"),
                    ],
                    Method::Live,
                ),
                m(vec![w("2025-01-02 00:59:59", "2025-01-02 02:00:00")], Method::History),
            ],
            requests: 0,
            resync_requests: 0,
            page_size: 100,
        };
        let r = repair_ranges(&v);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(
            (r[0].from, r[0].to),
            (t("2025-01-02 00:00:00"), t("2025-01-02 02:00:00"))
        );
        assert_eq!(r[1].from, t("2025-01-05 00:00:00"));
    }
}
