//! The drift-safe read of one window.
//!
//! # Why backwards
//! WDT pages a window ordered by `modified`. While we page, a refund that changes gets a new
//! `modified` (now) and leaves the window; every refund after it shifts one place towards the
//! first page. Paging forwards, the refund that shifts across the boundary into the page just
//! read is never seen, and since it does not change again, no later run finds it either: this is
//! how integration tools lose refunds (`wdt-protocol.md` §8).
//!
//! Paging backwards turns every such shift into a harmless duplicate: a refund can only move to
//! a page with a *lower* number, which is read *later*. So a window is read as:
//! 1. page 1, for `total_count` (and its records);
//! 2. the last page down to page 2;
//! 3. page 1 again (its first read was before pages 2..last, so shifts into it since then are
//!    caught); skipped when the window fits on one page.
//!
//! Records are de-duplicated by `refund_id`, keeping the newest `modified`. A refund that stayed
//! in the window during the whole read is therefore always seen; one that left it was either
//! seen before it left or carries a `modified` after the window's end and is read by a later
//! window (the window ends at `now − settle_lag`, so it does not move further).
//!
//! # Checking the count
//! The distinct refunds read (those that left included) can never be fewer than the smallest
//! `total_count` seen during the read, unless the server's order is unstable (for example among
//! refunds sharing one `modified` second) or it lost a record. Then the window is read again, up
//! to `max_rereads` times, accumulating; if it is still short the run fails with
//! [`SyncError::WindowIncomplete`](super::engine::SyncError::WindowIncomplete) rather than move the
//! checkpoint past a hole.
//!
//! # Too many pages
//! A window whose `total_count` needs more than `max_pages_per_window` pages is not read but
//! bisected (see [`window::bisect`](super::window::bisect)), down to two seconds.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use tracing::Instrument;

use crate::api::aftersales::RefundSearch;
use crate::client::Client;
use crate::error::Error;
use crate::model::refund::Refund;
use crate::pager::Page;
use crate::sync::sink::{DeadLetter, WindowBounds};

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

/// Per-window de-duplication: which refunds were already emitted, at which `modified`.
#[derive(Default)]
pub(crate) struct Seen {
    refunds: HashMap<i64, Option<NaiveDateTime>>,
    rejected: HashSet<String>,
}

impl Seen {
    fn distinct(&self) -> u64 {
        (self.refunds.len() + self.rejected.len()) as u64
    }

    /// Keeps the records not seen yet or newer than the copy seen.
    fn fresh(&mut self, page: Page<Refund>) -> (Vec<Refund>, Vec<DeadLetter>) {
        let mut out = Vec::with_capacity(page.items.len());
        for r in page.items {
            let newer = match self.refunds.get(&r.refund_id) {
                None => true,
                Some(seen) => r.modified > *seen,
            };
            if newer {
                self.refunds.insert(r.refund_id, r.modified);
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
/// told of every page fetched and `on_reread` of every re-read.
pub(crate) async fn read_window<E, P>(
    client: &Client,
    template: &RefundSearch,
    window: WindowBounds,
    settings: ReadSettings,
    mut emit: E,
    mut on_page: P,
    on_reread: &mut (dyn FnMut() + Send),
) -> Result<WindowRead, Error>
where
    E: AsyncEmit,
    P: FnMut() + Send,
{
    let search = template.with_modified(window.from, window.to)?;
    let mut seen = Seen::default();
    let mut attempt = 0;
    loop {
        let first = fetch_page(client, &search, 1).await?;
        on_page();
        let Some(total) = first.total_count else {
            // No count: page forward until a short page; drift cannot be detected.
            tracing::warn!("no total_count in the answer; paging forward without a count check");
            let mut page = first;
            loop {
                let short = page.len() < page.page_size as usize;
                let no = page.page_no;
                let (r, d) = seen.fresh(page);
                if !emit.emit(r, d).await {
                    return Ok(WindowRead::Stopped);
                }
                if short {
                    return Ok(WindowRead::Done {
                        distinct: seen.distinct(),
                    });
                }
                page = fetch_page(client, &search, no + 1).await?;
                on_page();
            }
        };
        let last = first.last_page_no().unwrap_or(1);
        if last > settings.max_pages && settings.can_split {
            return Ok(WindowRead::TooManyPages { total });
        }
        let mut min_total = total;
        let (r, d) = seen.fresh(first);
        if !emit.emit(r, d).await {
            return Ok(WindowRead::Stopped);
        }
        let order: Vec<u32> = match settings.order {
            PagingOrder::DriftSafe if last > 1 => (2..=last).rev().chain([1]).collect(),
            PagingOrder::DriftSafe => Vec::new(),
            PagingOrder::Forward => (2..=last).collect(),
        };
        for no in order {
            let page = fetch_page(client, &search, no).await?;
            on_page();
            if let Some(t) = page.total_count {
                min_total = min_total.min(t);
            }
            let (r, d) = seen.fresh(page);
            if !emit.emit(r, d).await {
                return Ok(WindowRead::Stopped);
            }
        }
        if settings.order == PagingOrder::Forward || seen.distinct() >= min_total {
            return Ok(WindowRead::Done {
                distinct: seen.distinct(),
            });
        }
        attempt += 1;
        tracing::warn!(
            from = %window.from, to = %window.to, distinct = seen.distinct(), expected = min_total, attempt,
            "fewer distinct refunds than total_count; reading the window again"
        );
        if attempt > settings.max_rereads {
            return Ok(WindowRead::Incomplete {
                distinct: seen.distinct(),
                expected: min_total,
            });
        }
        on_reread();
    }
}

/// One page, in a `page` span.
async fn fetch_page(client: &Client, search: &RefundSearch, page_no: u32) -> Result<Page<Refund>, Error> {
    let span = tracing::debug_span!("page", page_no);
    let page = client.refund_page(search, page_no).instrument(span).await?;
    tracing::debug!(page_no, records = page.len(), total = ?page.total_count, "page read");
    Ok(page)
}

/// Where a window read sends fresh records (the engine's batcher).
#[async_trait::async_trait]
pub(crate) trait AsyncEmit: Send {
    /// Takes fresh records; `false` means stop reading.
    async fn emit(&mut self, refunds: Vec<Refund>, dead: Vec<DeadLetter>) -> bool;
}
