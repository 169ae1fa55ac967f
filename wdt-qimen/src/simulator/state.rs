//! The simulator's shared state: the data set, the behaviour switches, the generators and the
//! counters, behind one mutex that the responder and the [`Simulator`](super::Simulator) share.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;

use super::data::{rng_for, Dataset};
use super::faults::{damage_record, Damage, Faults};
use super::history::{is_archived, to_history};
use super::query::Search;
use super::refund::{build, Style};
use super::SimStats;
use crate::time::Clock;

const DOMAIN_DRIFT: u64 = 0xD21F;

/// Everything a request may read or change.
#[derive(Debug)]
pub(crate) struct State {
    pub data: Dataset,
    /// The server's clock: request timestamps are checked against it, `Date` headers and drift
    /// use it.
    pub clock: Arc<dyn Clock>,
    pub faults: Faults,
    pub drift_rng: StdRng,
    pub drift_per_request: usize,
    /// Pages still to serve one position early (`usize::MAX`: all).
    pub unstable_pages: usize,
    pub latency: Duration,
    pub string_status: bool,
    pub inclusive_from: bool,
    pub inclusive_to: bool,
    pub stats: SimStats,
    /// WDT-level answers given on the Qimen route (drives the `"0"` status alternation).
    pub qimen_answers: u64,
    /// Gateway `request_id` counter.
    pub request_ids: u64,
    /// Refunds served damaged: how, and how many more times (`None`: always).
    pub damaged: HashMap<u64, (Damage, Option<u64>)>,
    /// How far the `Date` header is off the server's clock (a proxy in front that writes its
    /// own); zero by default.
    pub date_shift: chrono::TimeDelta,
    /// Refunds in a final status whose last change is older than this (ms) are archived: only
    /// the history method serves them. `None`: nothing is archived (the default).
    pub archive_after_ms: Option<i64>,
}

/// Locks the state, also after a panic in another request (the state stays usable).
pub(crate) fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    pub fn new(data: Dataset, clock: Arc<dyn Clock>) -> Self {
        let seed = data.seed;
        Self {
            data,
            clock,
            faults: Faults::new(seed, 0.0, 0.0),
            drift_rng: rng_for(seed, DOMAIN_DRIFT, 0, 0),
            drift_per_request: 0,
            unstable_pages: 0,
            latency: Duration::ZERO,
            string_status: false,
            inclusive_from: true,
            inclusive_to: true,
            stats: SimStats::default(),
            qimen_answers: 0,
            request_ids: 0,
            damaged: HashMap::new(),
            date_shift: chrono::TimeDelta::zero(),
            archive_after_ms: None,
        }
    }

    /// Positions of the refunds the search selects, in (modified, refund_id) ascending order.
    fn matching(&self, q: &Search) -> Vec<u32> {
        let window = self
            .data
            .window(q.from_ms, q.to_ms, self.inclusive_from, self.inclusive_to);
        if !q.has_filters() && self.archive_after_ms.is_none() && !q.history {
            return window.iter().map(|e| e.1).collect();
        }
        let now = self.clock.now().timestamp_millis();
        window
            .iter()
            .map(|e| e.1)
            .filter(|&pos| {
                let s = &self.data.slots[pos as usize];
                is_archived(s, self.archive_after_ms, now) == q.history
                    && !matches!(q.status, Some(v) if v != s.status)
                    && !matches!(&q.statuses, Some(list) if !list.contains(&s.status))
                    && !matches!(q.kind, Some(v) if v != s.kind)
                    && !matches!(&q.shops, Some(shops) if !shops.contains(&s.shop))
            })
            .collect()
    }

    /// Modifies `n` refunds now; `candidates` empty means anywhere in the data set.
    pub fn drift_now(&mut self, candidates: &[u32], n: usize) -> usize {
        let now = self.clock.now().timestamp_millis();
        let done = if candidates.is_empty() {
            self.data.drift_anywhere(&mut self.drift_rng, n, now)
        } else {
            self.data.drift_some(&mut self.drift_rng, candidates, n, now)
        };
        self.stats.drifted_refunds += done as u64;
        done
    }

    /// Serves one page: drift first (from the searched window), then select, order, slice and
    /// write `{"total_count":N,"order":[…]}` (without `total_count` when `with_total` is false).
    pub fn page(&mut self, q: &Search, page_size: usize, page_index: usize, qimen: bool, with_total: bool) -> Vec<u8> {
        let mut matching = self.matching(q);
        // Archived refunds do not change.
        if self.drift_per_request > 0 && !q.history {
            self.drift_now(&matching, self.drift_per_request);
            matching = self.matching(q);
        }
        let total = matching.len();
        let mut start = page_index.saturating_mul(page_size).min(total);
        let mut end = start.saturating_add(page_size).min(total);
        if self.unstable_pages > 0 && start > 0 && start < total {
            // The page repeats the previous page's last refund and leaves out its own last one.
            if self.unstable_pages != usize::MAX {
                self.unstable_pages -= 1;
            }
            start -= 1;
            end -= 1;
        }
        let positions: Vec<u32> = if q.descending {
            matching.iter().rev().skip(start).take(end - start).copied().collect()
        } else {
            matching[start..end].to_vec()
        };
        let seed = self.data.seed;
        let mut out = Vec::with_capacity(64 + positions.len() * 3_000);
        out.push(b'{');
        if with_total {
            out.extend_from_slice(format!("\"total_count\":{total},").as_bytes());
        }
        out.extend_from_slice(b"\"order\":[");
        for (i, pos) in positions.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let slot = &self.data.slots[pos as usize];
            let style = if qimen {
                Style::qimen(seed, slot.id)
            } else {
                Style::native(seed, slot.id)
            };
            let start = out.len();
            if q.history {
                let live = serde_json::to_value(build(seed, slot, style)).expect("a refund always serializes");
                serde_json::to_writer(&mut out, &to_history(live, slot)).expect("a value always serializes");
            } else {
                serde_json::to_writer(&mut out, &build(seed, slot, style)).expect("a refund always serializes");
            }
            if let Some((how, left)) = self.damaged.get_mut(&slot.id) {
                if left.is_none_or(|n| n > 0) && damage_record(&mut out, start, *how) {
                    *left = left.map(|n| n - 1);
                    self.stats.damaged_records += 1;
                }
            }
        }
        out.extend_from_slice(b"]}");
        self.stats.pages_served += 1;
        if q.history {
            self.stats.history_pages_served += 1;
        }
        out
    }

    /// Ids of the refunds archived now.
    pub fn archived_ids(&self) -> Vec<u64> {
        let now = self.clock.now().timestamp_millis();
        self.data
            .slots
            .iter()
            .filter(|s| is_archived(s, self.archive_after_ms, now))
            .map(|s| s.id)
            .collect()
    }

    /// Gives refund `refund_id` status `status` now (a new `modified`); false when unknown.
    pub fn set_status_now(&mut self, refund_id: u64, status: u8) -> bool {
        let Ok(pos) = self.data.slots.binary_search_by_key(&refund_id, |s| s.id) else {
            return false;
        };
        let now = self.clock.now().timestamp_millis();
        self.data.drift(pos as u32, now, super::data::Change::Status(status));
        true
    }

    /// Every refund as the native route writes it, by refund_id.
    pub fn snapshot(&self) -> Vec<serde_json::Value> {
        let seed = self.data.seed;
        self.data
            .slots
            .iter()
            .map(|s| {
                serde_json::to_value(build(seed, s, Style::native(seed, s.id))).expect("a refund always serializes")
            })
            .collect()
    }
}
