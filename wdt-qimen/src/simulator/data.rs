//! The data set: one compact [`Slot`] per refund, kept in `refund_id` order, and an index of
//! `(modified, position)` pairs kept sorted, so a window is two binary searches.
//!
//! A refund's JSON is not stored: it is rebuilt from `(seed, refund_id)` and the slot's drift
//! history whenever it is served (see `refund.rs`). Generating 100 000 slots is a few sorts.

use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};

use super::text::SHOPS;

/// Refund statuses, in the order a refund moves through them (10 已取消 stands aside).
pub(crate) const STATUS_FLOW: [u8; 5] = [20, 30, 40, 80, 90];

/// What one drift did to a refund. Replayed in order when the refund is rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// The status moved to this value.
    Status(u8),
    /// An amount changed (a line's refund amount, or the refund's when it has no lines).
    Amount,
    /// A detail line was removed (an amount changes instead when there is none).
    RemoveLine,
    /// A detail line was added.
    AddLine,
}

/// One modification of a refund: when, and what.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Drift {
    pub at_ms: i64,
    pub change: Change,
}

/// Everything the simulator keeps per refund; the rest is derived from `(seed, id)`.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub id: u64,
    /// Per-day sequence of the `refund_no` (`TK` + yyMMdd + seq).
    pub seq: u32,
    pub created_ms: i64,
    pub base_modified_ms: i64,
    pub modified_ms: i64,
    pub base_status: u8,
    pub status: u8,
    /// The refund `type` (1 售前退款, 2 退货, 3 换货, 4 退款不退货, 6 保价退款, 7 批发退货退款).
    pub kind: u8,
    /// Position in [`SHOPS`].
    pub shop: u8,
    pub drifts: Vec<Drift>,
}

/// What the data set is generated from.
#[derive(Debug, Clone)]
pub(crate) struct DataConfig {
    pub seed: u64,
    pub refunds: usize,
    pub start_ms: i64,
    pub end_ms: i64,
    pub cluster_share: f64,
}

/// The refunds, by id, and the modified-time index.
#[derive(Debug)]
pub(crate) struct Dataset {
    pub seed: u64,
    /// Sorted by `id` (ids grow with the position).
    pub slots: Vec<Slot>,
    /// `(modified_ms, position)`, sorted; the position order is the `refund_id` order.
    pub index: Vec<(i64, u32)>,
}

/// SplitMix64's finaliser: spreads a counter or a seed over all 64 bits.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A generator for one purpose (`domain`) and one subject (`a`, `b`) under a seed.
pub(crate) fn rng_for(seed: u64, domain: u64, a: u64, b: u64) -> StdRng {
    StdRng::seed_from_u64(mix(mix(mix(seed ^ domain) ^ a) ^ b))
}

const DOMAIN_DATA: u64 = 0xDA7A;
const MS_PER_DAY: i64 = 86_400_000;
const BEIJING_MS: i64 = 8 * 3_600_000;

fn pick_weighted<R: Rng>(rng: &mut R, table: &[(u8, u32)]) -> u8 {
    let total: u32 = table.iter().map(|t| t.1).sum();
    let mut x = rng.gen_range(0..total);
    for &(v, w) in table {
        if x < w {
            return v;
        }
        x -= w;
    }
    table[table.len() - 1].0
}

const KINDS: &[(u8, u32)] = &[(1, 25), (2, 45), (3, 10), (4, 15), (6, 3), (7, 2)];
const STATUSES: &[(u8, u32)] = &[(10, 5), (20, 15), (30, 15), (40, 10), (80, 10), (90, 45)];

impl Dataset {
    /// Generates the slots: modified times spread over `[start, end]` (whole seconds, one in ten
    /// with milliseconds), a share of them in clusters of 3–20 refunds with one exact `modified`,
    /// creation times before them, ids and per-day numbers in creation order.
    pub fn generate(cfg: &DataConfig) -> Self {
        let mut rng = rng_for(cfg.seed, DOMAIN_DATA, 0, 0);
        let n = cfg.refunds;
        let (start_ms, end_ms) = (cfg.start_ms.min(cfg.end_ms), cfg.start_ms.max(cfg.end_ms));
        let span_s = (end_ms - start_ms) / 1000;
        let random_second = |rng: &mut StdRng| start_ms + rng.gen_range(0..=span_s) * 1000;

        let mut modified: Vec<i64> = Vec::with_capacity(n);
        let share = if cfg.cluster_share.is_finite() {
            cfg.cluster_share.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let mut clustered = ((n as f64) * share).round() as usize;
        while clustered >= 3 {
            let mut size = rng.gen_range(3..=20usize).min(clustered);
            if clustered - size < 3 {
                size = clustered;
            }
            let at = random_second(&mut rng);
            modified.resize(modified.len() + size, at);
            clustered -= size;
        }
        while modified.len() < n {
            let mut at = random_second(&mut rng);
            if rng.gen_ratio(1, 10) {
                at = (at + rng.gen_range(1..1000)).min(end_ms);
            }
            modified.push(at);
        }

        // (created, modified, kind, status, shop), then ordered by creation.
        let mut rows: Vec<(i64, i64, u8, u8, u8)> = modified
            .into_iter()
            .map(|m| {
                let lag_s = match rng.gen_range(0..10) {
                    0..=3 => rng.gen_range(0..3_600),
                    4..=7 => rng.gen_range(0..3 * 86_400),
                    _ => rng.gen_range(0..60 * 86_400),
                };
                let kind = pick_weighted(&mut rng, KINDS);
                let status = pick_weighted(&mut rng, STATUSES);
                let shop = rng.gen_range(0..SHOPS.len()) as u8;
                // Whole seconds, like the platform's own times.
                let created = (m - lag_s * 1000).div_euclid(1000) * 1000;
                (created, m, kind, status, shop)
            })
            .collect();
        rows.sort_unstable_by_key(|r| (r.0, r.1));

        let mut slots = Vec::with_capacity(n);
        let mut id: u64 = 1_000_000;
        let mut day = i64::MIN;
        let mut seq = 0u32;
        for (created, m, kind, status, shop) in rows {
            id += rng.gen_range(1..=3);
            let d = (created + BEIJING_MS).div_euclid(MS_PER_DAY);
            if d != day {
                day = d;
                seq = 0;
            }
            seq += 1;
            slots.push(Slot {
                id,
                seq,
                created_ms: created,
                base_modified_ms: m,
                modified_ms: m,
                base_status: status,
                status,
                kind,
                shop,
                drifts: Vec::new(),
            });
        }
        let mut index: Vec<(i64, u32)> = slots
            .iter()
            .enumerate()
            .map(|(i, s)| (s.modified_ms, i as u32))
            .collect();
        index.sort_unstable();
        Self {
            seed: cfg.seed,
            slots,
            index,
        }
    }

    /// The index entries with `from <= modified <= to` (each bound inclusive or exclusive).
    pub fn window(&self, from_ms: i64, to_ms: i64, inclusive_from: bool, inclusive_to: bool) -> &[(i64, u32)] {
        let lo = if inclusive_from {
            self.index.partition_point(|e| e.0 < from_ms)
        } else {
            self.index.partition_point(|e| e.0 <= from_ms)
        };
        let hi = if inclusive_to {
            self.index.partition_point(|e| e.0 <= to_ms)
        } else {
            self.index.partition_point(|e| e.0 < to_ms)
        };
        if lo >= hi {
            &[]
        } else {
            &self.index[lo..hi]
        }
    }

    /// Records a drift of the refund at `pos`: a new `modified`, the change, and its new place
    /// in the index.
    pub fn drift(&mut self, pos: u32, at_ms: i64, change: Change) {
        let slot = &mut self.slots[pos as usize];
        let old = (slot.modified_ms, pos);
        slot.modified_ms = at_ms;
        if let Change::Status(s) = change {
            slot.status = s;
        }
        slot.drifts.push(Drift { at_ms, change });
        if let Ok(i) = self.index.binary_search(&old) {
            self.index.remove(i);
        }
        let new = (at_ms, pos);
        let i = self.index.partition_point(|e| *e < new);
        self.index.insert(i, new);
    }

    /// Modifies `n` distinct refunds among `candidates` (positions) at `at_ms`; returns how many.
    pub fn drift_some(&mut self, rng: &mut StdRng, candidates: &[u32], n: usize, at_ms: i64) -> usize {
        let n = n.min(candidates.len());
        if n == 0 {
            return 0;
        }
        let chosen: Vec<u32> = sample(rng, candidates.len(), n)
            .into_iter()
            .map(|i| candidates[i])
            .collect();
        for pos in chosen {
            let status = self.slots[pos as usize].status;
            let change = match rng.gen_range(0..4) {
                0 => match next_status(status) {
                    Some(s) => Change::Status(s),
                    None => Change::Amount,
                },
                1 => Change::Amount,
                2 => Change::RemoveLine,
                _ => Change::AddLine,
            };
            self.drift(pos, at_ms, change);
        }
        n
    }

    /// Modifies `n` refunds drawn from the whole data set.
    pub fn drift_anywhere(&mut self, rng: &mut StdRng, n: usize, at_ms: i64) -> usize {
        let all: Vec<u32> = (0..self.slots.len() as u32).collect();
        self.drift_some(rng, &all, n, at_ms)
    }
}

/// The next status of the normal flow; `None` once cancelled (10) or completed (90).
pub(crate) fn next_status(status: u8) -> Option<u8> {
    let i = STATUS_FLOW.iter().position(|s| *s == status)?;
    STATUS_FLOW.get(i + 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(n: usize) -> DataConfig {
        DataConfig {
            seed: 7,
            refunds: n,
            start_ms: 1_700_000_000_000,
            end_ms: 1_700_864_000_000,
            cluster_share: 0.05,
        }
    }

    #[test]
    fn ids_grow_and_index_is_sorted() {
        let d = Dataset::generate(&cfg(2000));
        assert_eq!(d.slots.len(), 2000);
        assert!(d.slots.windows(2).all(|w| w[0].id < w[1].id));
        assert!(d.index.windows(2).all(|w| w[0] < w[1]));
        assert!(d.slots.iter().all(|s| s.created_ms <= s.modified_ms));
    }

    #[test]
    fn drift_moves_the_index_entry() {
        let mut d = Dataset::generate(&cfg(100));
        let at = 1_800_000_000_123;
        d.drift(5, at, Change::Amount);
        assert_eq!(d.index.last(), Some(&(at, 5)));
        assert_eq!(d.index.len(), 100);
        assert!(d.index.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn window_bounds() {
        let d = Dataset::generate(&cfg(500));
        let (a, b) = (d.index[10].0, d.index[400].0);
        let w = d.window(a, b, true, true);
        assert!(w.iter().all(|e| e.0 >= a && e.0 <= b));
        let w2 = d.window(a, b, false, false);
        assert!(w2.iter().all(|e| e.0 > a && e.0 < b));
        assert!(d.window(b, a, true, true).is_empty());
    }
}
