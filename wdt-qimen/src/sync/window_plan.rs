//! The paging rules of a window read, as a pure state machine.
//!
//! [`WindowPlan`] is told what each page returned ([`PageFacts`]: its number, how many records,
//! the `total_count` it carried, its fingerprint, and how many distinct records this attempt has
//! read so far) and answers with the next step ([`Next`]): fetch a page, done, read the window
//! again, bisect it, or give up. It does no I/O and keeps no records; the loop in
//! [`fetch`](super::fetch) fetches, de-duplicates and emits, the way `retry::decide` decides
//! retries for the client. Every rule below has a table test in this module.
//!
//! # The rules
//! Page 1 is read first. `n` is the number of records on a page (undecodable ones included),
//! `size` the page size, `count` page 1's `total_count`.
//!
//! 1. **Count trusted** (`count_trusted_*`): `count` is used when it is present, not proved wrong
//!    earlier in this window, `count >= n` and either page 1 is full (`n == size`) or
//!    `count == n`. The last page is then `ceil(count / size)` (at least 1, at most
//!    100 000).
//! 2. **Count contradicted** (`count_contradicted_*`): otherwise (smaller than page 1, larger
//!    while page 1 is short, or absent) the count is ignored and the window is paged forward
//!    from page 2 while the previous page was full, up to the first short or empty page; a page
//!    that repeats the previous one exactly (same fingerprint) fails the read
//!    (`Error::RepeatedPage`), so does passing 100 000 pages.
//! 3. **Read backwards** (`backwards_*`): then pages `last` down to 2 are read, then page 1
//!    again (its first read was before pages 2..last, so a refund that shifted into it since
//!    is caught). Without a count this follows the forward pass of rule 2, so each page is
//!    read twice (nothing proves the forward pass saw every shift). A window on one page is
//!    read once; so is an empty window, with or without a
//!    count (`empty_windows_*`): one request.
//! 4. **Probe past a full last page** (`probe_*`): when the count says the last page is full,
//!    page `last + 1` is read before the others (before anything could shift from it into pages
//!    already read).
//! 5. **Count too small** (`count_too_small_*`): records on page `last + 1`, a page `last`
//!    longer than the count allows, or an empty page `last` where the count expects records,
//!    prove the count wrong: it is distrusted for the rest of the window (rule 2 from then on)
//!    and the window is read again.
//! 6. **Shortfall re-read** (`shortfall_*`): at the end of an attempt, fewer distinct records
//!    (undecodable ones counted by key) than the smallest `total_count` any page of the attempt
//!    carried means a record was lost (an unstable order among refunds sharing a second, a lost
//!    record): the window is read again. Re-reads accumulate; after `max_rereads` of them (any cause) the read ends
//!    [`Next::Incomplete`]. Without a count the check is skipped.
//! 7. **Bisection** (`bisect_*`): a count needing more than `max_pages` pages, when the window
//!    can still be split, is checked first: its last page is read (and not handed on); empty,
//!    the count is wrong (rule 5); otherwise [`Next::TooManyPages`]. Without a count, paging
//!    forward past `max_pages` gives [`Next::TooManyPages`] with `pages × size`. A window that
//!    cannot be split is read whatever its size.
//! 8. **Forward order** (`forward_*`): [`PagingOrder::Forward`] reads 1..last (by the count, or
//!    to the first short page) once, with no count check: the control that loses refunds.
//! 9. **Page 1 not read again when the pages prove the window complete** (`proof_*`): the
//!    second read of page 1 is skipped when all of these hold for the attempt: the count is
//!    trusted (rule 1); the last page it announces is short (not on a page boundary, so no
//!    probe, rule 4); that page held exactly the records the count leaves for it; every page
//!    read carried the same `total_count` as page 1; and the attempt read at least `count`
//!    distinct records.
//!
//! # Why rule 9 is safe, and where the double read stays
//! The drift model ([`fetch`](super::fetch)): the window ends in the settled past, so records
//! only *leave* it (a change stamps `modified` with now), and each leaving record shifts the
//! later ones one place towards page 1. A record is missed only when it shifts into page 1
//! after page 1 was read, i.e. only when some record left the window during the read. With
//! `total_count` being WDT's count at the time of each page, an unchanged count on every page
//! means nothing left; and `count` distinct records read out of a set of `count` that can only
//! shrink means every one was read. Either proves the window complete.
//!
//! The double read stays where a count that is *too small* could hide a shift: on a page
//! boundary (rule 4), an empty probe cannot tell "the count is right" from "the count is too
//! small and as many refunds left the window as it was short", so page 1 is read again there
//! (the test `a_count_too_small_by_a_page_loses_nothing_even_when_refunds_leave_meanwhile`
//! pins that case). Off a boundary, a too-small count shows as a last page longer than the
//! count allows (rule 5) unless exactly as many refunds left page 1's range as the count was
//! short before that page was read: a count wrong at page 1 and right by the last page. That
//! coincidence is the one case rule 9 trusts the count for; with drift on (the counts change)
//! page 1 is always read again.

use super::fetch::{PagingOrder, ReadSettings};

/// The most pages a window is read to when the server gives no usable count.
pub(crate) const MAX_PAGES_WITHOUT_COUNT: u32 = 100_000;

/// What one page returned, as the plan needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageFacts {
    /// The page number fetched (1 = first).
    pub page_no: u32,
    /// Records on the page, undecodable ones included.
    pub len: usize,
    /// The `total_count` it carried.
    pub total: Option<u64>,
    /// The hash of its raw records.
    pub fingerprint: u64,
    /// Distinct records this attempt has read, this page included.
    pub distinct: u64,
}

/// Why a window is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// The last page a count announced for bisection was empty.
    EmptyLastPage,
    /// A page past the count's last page held records, or its last page had the wrong length.
    PagesDisagree,
    /// Fewer distinct records than the smallest count.
    Short {
        /// Distinct records this attempt read.
        read: u64,
    },
}

/// The next step of a window read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Fetch this page (1 = first).
    Fetch(u32),
    /// Every record was read.
    Done,
    /// The window needs more pages than allowed; bisect it.
    TooManyPages {
        /// The count (or the pages seen × the page size).
        total: u64,
    },
    /// Read the window again from page 1 (an attempt is used up; the next step is `Fetch(1)`).
    Reread {
        /// The count the attempt fell short of (0 when unknown).
        expected: u64,
        /// Why.
        why: Why,
    },
    /// Still short after every re-read.
    Incomplete {
        /// The smallest count of the last attempt.
        expected: u64,
    },
    /// The server repeated a page (or never ended): fail.
    RepeatedPage {
        /// The page that repeated.
        page_no: u32,
        /// The page it repeated.
        previous: u32,
    },
}

/// What to do with a page just fetched, and what comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Hand the page's records on (false for a probe, an empty or a repeated page).
    pub emit: bool,
    /// The next step.
    pub next: Next,
    /// Something worth a log line.
    pub note: Option<Note>,
}

/// Events of a read worth logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Note {
    /// Page 1's `total_count` contradicts page 1; the window is paged to its end.
    CountContradicted,
    /// The pages proved the window complete; page 1 is not read again.
    Page1Proved,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Page 1 is next.
    First,
    /// The last page of a count that would bisect the window is next.
    BisectProbe { total: u64 },
    /// No usable count: paging forward; `last` is the last page read.
    Forward { last: u32, previous: u64 },
    /// Forward order with a count: paging to page `last`.
    ForwardCounted { last: u32 },
    /// Reading backwards.
    Backward(Backward),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Backward {
    count: Option<u64>,
    last: u32,
    /// Records on page `last` by the count.
    last_len: Option<usize>,
    /// Pages still to read, in order.
    pending: Vec<u32>,
    min_total: Option<u64>,
    /// Every page of the attempt carried `count`.
    steady: bool,
    /// Page `last` held exactly `last_len` records.
    last_exact: bool,
}

/// The paging state of one window read (all its attempts).
#[derive(Debug, Clone)]
pub(crate) struct WindowPlan {
    settings: ReadSettings,
    size: u32,
    attempt: u32,
    /// Set once the count proved wrong; every later attempt finds the window's end.
    distrust: bool,
    phase: Phase,
}

impl WindowPlan {
    /// A plan for a window read with `settings`, `page_size` records a page.
    pub fn new(settings: ReadSettings, page_size: u32) -> Self {
        Self {
            settings,
            size: page_size.max(1),
            attempt: 0,
            distrust: false,
            phase: Phase::First,
        }
    }

    /// The first step of an attempt: page 1.
    pub fn start(&mut self) -> Next {
        self.phase = Phase::First;
        Next::Fetch(1)
    }

    /// Takes what the page just fetched returned and decides.
    pub fn observe(&mut self, page: PageFacts) -> Verdict {
        let phase = std::mem::replace(&mut self.phase, Phase::First);
        match phase {
            Phase::First => self.first(page),
            Phase::BisectProbe { total } => {
                let next = if page.len == 0 {
                    self.distrust = true;
                    self.reread(total, Why::EmptyLastPage)
                } else {
                    Next::TooManyPages { total }
                };
                verdict(false, next)
            }
            Phase::Forward { last, previous } => {
                if page.len == 0 {
                    return verdict(false, self.after_forward(last, page.distinct));
                }
                if page.fingerprint == previous {
                    return verdict(
                        false,
                        Next::RepeatedPage {
                            page_no: page.page_no,
                            previous: last,
                        },
                    );
                }
                let next = if page.len >= self.size as usize {
                    self.phase = Phase::Forward {
                        last: page.page_no,
                        previous: page.fingerprint,
                    };
                    self.forward_next(page.page_no + 1)
                } else {
                    self.after_forward(page.page_no, page.distinct)
                };
                verdict(true, next)
            }
            Phase::ForwardCounted { last } => {
                let next = if page.page_no < last {
                    self.phase = Phase::ForwardCounted { last };
                    Next::Fetch(page.page_no + 1)
                } else {
                    Next::Done
                };
                verdict(true, next)
            }
            Phase::Backward(b) => self.backward(b, page),
        }
    }

    fn first(&mut self, page: PageFacts) -> Verdict {
        let n = page.len as u64;
        let size = self.size as usize;
        let count = page
            .total
            .filter(|t| !self.distrust && *t >= n && (page.len == size || *t == n));
        let note = (count.is_none() && page.total.is_some() && !self.distrust).then_some(Note::CountContradicted);
        let mut v = match count {
            Some(total) => {
                let last = total
                    .div_ceil(u64::from(self.size))
                    .clamp(1, u64::from(MAX_PAGES_WITHOUT_COUNT)) as u32;
                if last > self.settings.max_pages && self.settings.can_split {
                    self.phase = Phase::BisectProbe { total };
                    verdict(false, Next::Fetch(last))
                } else {
                    verdict(true, self.after_count(Some(total), last, page.distinct))
                }
            }
            None => {
                let next = if page.len >= size {
                    self.phase = Phase::Forward {
                        last: 1,
                        previous: page.fingerprint,
                    };
                    self.forward_next(2)
                } else {
                    self.after_forward(1, page.distinct)
                };
                verdict(true, next)
            }
        };
        v.note = note;
        v
    }

    /// The next forward page without a count, or the end of paging forward.
    fn forward_next(&mut self, no: u32) -> Next {
        if no > self.settings.max_pages && self.settings.can_split {
            return Next::TooManyPages {
                total: u64::from(no) * u64::from(self.size),
            };
        }
        if no > MAX_PAGES_WITHOUT_COUNT {
            return Next::RepeatedPage {
                page_no: no,
                previous: no - 1,
            };
        }
        Next::Fetch(no)
    }

    /// Paged forward without a count to page `last`, the last with records.
    fn after_forward(&mut self, last: u32, distinct: u64) -> Next {
        if self.settings.order == PagingOrder::Forward {
            return Next::Done;
        }
        self.after_count(None, last, distinct)
    }

    /// Page 1 read (and, without a count, pages to `last`): plan the rest.
    fn after_count(&mut self, count: Option<u64>, last: u32, distinct: u64) -> Next {
        if self.settings.order == PagingOrder::Forward {
            if count.is_some() && last >= 2 {
                self.phase = Phase::ForwardCounted { last };
                return Next::Fetch(2);
            }
            return Next::Done;
        }
        let size = u64::from(self.size);
        let last_len = count.map(|t| t.saturating_sub(u64::from(last - 1) * size) as usize);
        let mut pending = Vec::new();
        if last_len.is_some_and(|n| n >= self.size as usize) {
            pending.push(last + 1);
        }
        pending.extend((2..=last).rev());
        if !pending.is_empty() {
            pending.push(1);
        }
        let b = Backward {
            count,
            last,
            last_len,
            pending,
            min_total: count,
            steady: true,
            last_exact: false,
        };
        self.continue_backward(b, distinct)
    }

    fn backward(&mut self, mut b: Backward, page: PageFacts) -> Verdict {
        let no = page.page_no;
        if let (Some(m), Some(t)) = (b.min_total, page.total) {
            b.min_total = Some(m.min(t));
        }
        b.steady &= b.count.is_some() && page.total == b.count;
        let beyond = no == b.last + 1 && page.len > 0;
        let wrong_last = no == b.last && b.last_len.is_some_and(|n| page.len > n || (n > 0 && page.len == 0));
        if no == b.last {
            b.last_exact = b.last_len == Some(page.len);
        }
        if beyond || wrong_last {
            self.distrust = true;
            let expected = b.min_total.unwrap_or(0);
            return verdict(true, self.reread(expected, Why::PagesDisagree));
        }
        let proved = b.pending == [1] && self.proves_complete(&b, page.distinct);
        let mut v = verdict(true, Next::Done);
        if proved {
            v.note = Some(Note::Page1Proved);
        } else {
            v.next = self.continue_backward(b, page.distinct);
        }
        v
    }

    /// Rule 9: the attempt read the whole window without page 1's second read.
    fn proves_complete(&self, b: &Backward, distinct: u64) -> bool {
        let Some(count) = b.count else { return false };
        let on_boundary = b.last_len.is_none_or(|n| n >= self.size as usize);
        b.last >= 2 && !on_boundary && b.last_exact && b.steady && distinct >= count
    }

    fn continue_backward(&mut self, mut b: Backward, distinct: u64) -> Next {
        if b.pending.is_empty() {
            let expected = b.min_total.unwrap_or(0);
            return if distinct >= expected {
                Next::Done
            } else {
                self.reread(expected, Why::Short { read: distinct })
            };
        }
        let no = b.pending.remove(0);
        self.phase = Phase::Backward(b);
        Next::Fetch(no)
    }

    /// Ends the attempt: read again, or give up after `max_rereads`.
    fn reread(&mut self, expected: u64, why: Why) -> Next {
        self.attempt += 1;
        self.phase = Phase::First;
        if self.attempt > self.settings.max_rereads {
            Next::Incomplete { expected }
        } else {
            Next::Reread { expected, why }
        }
    }

    /// Re-reads used so far.
    #[cfg(test)]
    fn attempts(&self) -> u32 {
        self.attempt
    }
}

fn verdict(emit: bool, next: Next) -> Verdict {
    Verdict { emit, next, note: None }
}

#[cfg(test)]
mod tests;
