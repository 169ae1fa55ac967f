//! The drift-safe read of one window.
//!
//! # Why backwards
//! WDT pages a window ordered by `modified`. While we page, a refund that changes gets a new
//! `modified` (now) and leaves the window; every refund after it shifts one place towards the
//! first page. Paging forwards, the refund that shifts across the boundary into the page just
//! read is never seen, and since it does not change again, no later run finds it either: this is
//! how integration tools that page forwards lose refunds.
//!
//! Paging backwards turns every such shift into a harmless duplicate: a refund can only move to
//! a page with a *lower* number, which is read *later*. So a window is read as:
//! 1. page 1, for `total_count` (and its records);
//! 2. the last page down to page 2;
//! 3. page 1 again (its first read was before pages 2..last, so shifts into it since then are
//!    caught); skipped when the window fits on one page, and when the pages prove the window
//!    complete: every page carried page 1's `total_count`, the last page held exactly what
//!    the count leaves for it (not on a page boundary), and the read found that many distinct
//!    refunds. Nothing left the window while it was read, so nothing shifted into page 1; with
//!    drift the counts change and page 1 is read again. This saves one request per window of
//!    two pages or more.
//!
//! The paging decisions are a pure state machine (the private `window_plan` module, where
//! every rule is listed with its table test and the proof above is spelled out); the reader
//! here fetches, de-duplicates and emits.
//!
//! Records are de-duplicated by `refund_id`, keeping the newest `modified`. A refund that stayed
//! in the window during the whole read is therefore always seen; one that left it was either
//! seen before it left or carries a `modified` after the window's end and is read by a later
//! window (the window ends at `now − settle_lag`, so it does not move further).
//!
//! # Checking the count
//! The distinct refunds one read sees (those that left during it included) can never be fewer
//! than the smallest `total_count` seen during that read, unless the server's order is unstable (for example among
//! refunds sharing one `modified` second) or it lost a record. Then the window is read again, up
//! to `max_rereads` times, accumulating; if it is still short the run fails with
//! [`SyncError::WindowIncomplete`](super::engine::SyncError::WindowIncomplete) rather than move the
//! checkpoint past a hole. A record that could not be decoded (not even parsed, when its JSON is
//! broken or not UTF-8) counts as read: it is handed on as a dead letter, and reading the window
//! again could not make it whole.
//!
//! # Counts that cannot be trusted
//! Qimen has no `calc_total`, and whether its `total_count` is always real is INFERRED. A count
//! that contradicts page 1 (smaller than page 1, or larger while page 1 is short) is ignored: the
//! window is paged forward to its first short page, then read backwards as above. When the count
//! says the last page is full, the page after it is read *first* (before anything on it could
//! shift into pages already read); records there, a last page longer than the count allows, or an
//! empty last page mean the count was wrong, and the window is read again without it. A count
//! that would bisect the window is checked on its last page first, so a wrong count cannot make
//! bisection run on for ever.
//!
//! # Too many pages
//! A window whose `total_count` needs more than `max_pages_per_window` pages is not read but
//! bisected (see [`window::bisect`](super::window::bisect)), down to three seconds.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use tracing::Instrument;

use futures::future::BoxFuture;

use crate::client::Client;
use crate::endpoint::{Endpoint, Record};
use crate::error::Error;
use crate::pager::Page;
use crate::sync::sink::{DeadLetter, WindowBounds};
use crate::sync::window_plan::{Next, Note, PageFacts, WindowPlan};

/// One method as the window reader uses it: the pages of a time window. Built from any
/// [`Endpoint`] (its filters and page size kept, its window replaced per read), so the engine
/// can read several methods into one sink.
pub(crate) trait WindowSource<R>: Send + Sync {
    /// The method's native name (for logs, errors and stream ids).
    fn method(&self) -> &'static str;
    /// The page size it reads with.
    fn page_size(&self) -> u32;
    /// Page `page_no` (1 = first) of `window`, with another page size when `size` is given.
    fn fetch<'a>(
        &'a self,
        client: &'a Client,
        window: WindowBounds,
        page_no: u32,
        size: Option<u32>,
    ) -> BoxFuture<'a, Result<Page<R>, Error>>;
    /// The same method and filters with another page size.
    fn with_page_size(&self, size: u32) -> Result<std::sync::Arc<dyn WindowSource<R>>, Error>;
}

/// An [`Endpoint`] as a [`WindowSource`]: the endpoint value is the template.
pub(crate) struct EndpointSource<E>(pub E);

impl<E: Endpoint> WindowSource<E::Record> for EndpointSource<E> {
    fn method(&self) -> &'static str {
        E::METHOD.native
    }
    fn page_size(&self) -> u32 {
        self.0.page_size()
    }
    fn fetch<'a>(
        &'a self,
        client: &'a Client,
        window: WindowBounds,
        page_no: u32,
        size: Option<u32>,
    ) -> BoxFuture<'a, Result<Page<E::Record>, Error>> {
        Box::pin(async move {
            let mut query = self.0.with_window(window.from, window.to)?;
            if let Some(size) = size {
                query = query.with_page_size(size)?;
            }
            let span = tracing::debug_span!("page", method = E::METHOD.native, page_no);
            let page = client.page(&query, page_no).instrument(span).await?;
            tracing::debug!(page_no, records = page.len(), total = ?page.total_count, "page read");
            Ok(page)
        })
    }
    fn with_page_size(&self, size: u32) -> Result<std::sync::Arc<dyn WindowSource<E::Record>>, Error> {
        Ok(std::sync::Arc::new(EndpointSource(self.0.with_page_size(size)?)))
    }
}

/// How a window is paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PagingOrder {
    /// Page 1, then last to 2, then page 1 again, with the count check (the default).
    #[default]
    DriftSafe,
    /// Page 1 to last, no count check: what most tools do. Loses refunds under drift; kept as a
    /// control for tests and benchmarks.
    Forward,
}

/// The outcome of reading a window.
#[derive(Debug)]
pub(crate) enum WindowRead {
    /// Every record read (already handed to `emit`).
    Done {
        /// Distinct refunds read.
        distinct: u64,
    },
    /// The window needs more pages than allowed and can be bisected.
    TooManyPages {
        /// The total the server announced.
        total: u64,
    },
    /// The receiving side stopped (shutdown or a failed commit); nothing more was read.
    Stopped,
    /// After every re-read, fewer distinct refunds than the server's count.
    Incomplete {
        /// Distinct refunds read.
        distinct: u64,
        /// The smallest `total_count` seen.
        expected: u64,
    },
}

/// Per-window de-duplication: which refunds were already emitted, at which `modified`, and which
/// undecodable records were already dead-lettered (by `refund_id` when it can be read).
#[derive(Default)]
pub(crate) struct Seen {
    /// Key to version of every record emitted.
    refunds: HashMap<i64, Option<NaiveDateTime>>,
    rejected: HashSet<String>,
}

impl Seen {
    /// Distinct records read: refunds, plus rejected records that never decoded in any read.
    fn distinct(&self) -> u64 {
        let rejected_only = self
            .rejected
            .iter()
            .filter(|k| k.parse::<i64>().map_or(true, |id| !self.refunds.contains_key(&id)))
            .count();
        (self.refunds.len() + rejected_only) as u64
    }

    /// Keeps the records not seen yet or newer than the copy seen.
    fn fresh<R: Record>(&mut self, page: Page<R>) -> (Vec<R>, Vec<DeadLetter>) {
        let mut out = Vec::with_capacity(page.items.len());
        for r in page.items {
            let newer = match self.refunds.get(&r.key()) {
                None => true,
                Some(seen) => r.version() > *seen,
            };
            if newer {
                self.refunds.insert(r.key(), r.version());
                out.push(r);
            }
        }
        let dead = page
            .rejected
            .into_iter()
            .filter(|d| {
                self.rejected
                    .insert(d.key.clone().unwrap_or_else(|| d.raw_json.clone()))
            })
            .collect();
        (out, dead)
    }
}

/// Settings of a window read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadSettings {
    pub order: PagingOrder,
    pub max_pages: u32,
    pub max_rereads: u32,
    pub can_split: bool,
}

/// Reads `window`; every fresh record goes to `emit` as soon as its page arrives; `on_page` is
/// told of every page fetched and `on_reread` of every re-read. `first_page`, when given, is the
/// window's page 1, fetched just before (it stands for the first read of page 1).
///
/// The paging decisions are [`WindowPlan`]'s; this loop only fetches, de-duplicates and emits.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn read_window<R, E, P>(
    client: &Client,
    source: &dyn WindowSource<R>,
    window: WindowBounds,
    settings: ReadSettings,
    mut first_page: Option<Page<R>>,
    mut emit: E,
    mut on_page: P,
    on_reread: &mut (dyn FnMut() + Send),
) -> Result<WindowRead, Error>
where
    R: Record,
    E: AsyncEmit<R>,
    P: FnMut() + Send,
{
    let method = source.method();
    let mut seen = Seen::default();
    // What the current attempt read, to compare with its counts.
    let mut keys = AttemptKeys::default();
    let mut plan = WindowPlan::new(settings, source.page_size());
    let mut next = plan.start();
    loop {
        match next {
            Next::Fetch(page_no) => {
                // The page given stands for the first read of page 1, the first fetch of all.
                let page = match first_page.take() {
                    Some(page) => page,
                    None => {
                        let page = source.fetch(client, window, page_no, None).await?;
                        on_page();
                        page
                    }
                };
                keys.add(&page);
                let verdict = plan.observe(PageFacts {
                    page_no,
                    len: page.len(),
                    total: page.total_count,
                    fingerprint: page.fingerprint,
                    distinct: keys.len(),
                });
                match verdict.note {
                    Some(Note::CountContradicted) => tracing::warn!(
                        total = ?page.total_count,
                        on_page_1 = page.len(),
                        "total_count contradicts page 1; finding the last page"
                    ),
                    Some(Note::Page1Proved) => tracing::debug!(
                        distinct = keys.len(),
                        "every page carried the same total_count and the count was read; page 1 is not read again"
                    ),
                    None => {}
                }
                if verdict.emit {
                    let (records, dead) = seen.fresh(page);
                    if !emit.emit(records, dead).await {
                        return Ok(WindowRead::Stopped);
                    }
                }
                next = verdict.next;
            }
            Next::Done => {
                return Ok(WindowRead::Done {
                    distinct: seen.distinct(),
                })
            }
            Next::TooManyPages { total } => return Ok(WindowRead::TooManyPages { total }),
            Next::Reread { expected, why } => {
                tracing::warn!(from = %window.from, to = %window.to, expected, ?why, "reading the window again");
                on_reread();
                keys = AttemptKeys::default();
                next = plan.start();
            }
            Next::Incomplete { expected } => {
                tracing::warn!(from = %window.from, to = %window.to, expected, "still short after every re-read");
                return Ok(WindowRead::Incomplete {
                    distinct: seen.distinct(),
                    expected,
                });
            }
            Next::RepeatedPage { page_no, previous } => {
                return Err(Error::RepeatedPage {
                    method: method.into(),
                    page_no,
                    previous,
                })
            }
        }
    }
}

/// The records one attempt read: refund ids, and keys of records that did not decode.
#[derive(Default)]
struct AttemptKeys {
    ids: HashSet<i64>,
    rejected: HashSet<String>,
}

impl AttemptKeys {
    fn add<R: Record>(&mut self, page: &Page<R>) {
        self.ids.extend(page.items.iter().map(|r| r.key()));
        self.rejected.extend(
            page.rejected
                .iter()
                .map(|d| d.key.clone().unwrap_or_else(|| d.raw_json.clone())),
        );
    }

    /// Distinct records read in this attempt.
    fn len(&self) -> u64 {
        let rejected_only = self
            .rejected
            .iter()
            .filter(|k| k.parse::<i64>().map_or(true, |id| !self.ids.contains(&id)))
            .count();
        (self.ids.len() + rejected_only) as u64
    }
}

/// Where a window read sends fresh records (the engine's batcher).
#[async_trait::async_trait]
pub(crate) trait AsyncEmit<R: Send + 'static>: Send {
    /// Takes fresh records; `false` means stop reading.
    async fn emit(&mut self, records: Vec<R>, dead: Vec<DeadLetter>) -> bool;
}
