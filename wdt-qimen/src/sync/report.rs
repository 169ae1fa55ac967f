//! What a sync run did: [`SyncReport`], and the [`Progress`] handed to a progress hook.

use std::time::Duration;

use chrono::NaiveDateTime;

use super::sink::{CommitReport, WindowBounds};
use crate::server_time::ClockOffset;

/// The account of one run.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SyncReport {
    /// Windows planned for this run.
    pub windows_planned: u64,
    /// Windows read completely and committed with their checkpoint (halves of bisected windows
    /// count one each).
    pub windows_done: u64,
    /// Windows bisected because they held more pages than the bound.
    pub bisections: u64,
    /// Pages fetched.
    pub pages: u64,
    /// Distinct refunds read (per window).
    pub refunds: u64,
    /// Refund copies sent to the sink (a refund read in two windows counts twice).
    pub refunds_written: u64,
    /// Whole-window re-reads because fewer distinct refunds came back than `total_count` said.
    pub rereads: u64,
    /// Request retries (any retryable failure).
    pub retries: u64,
    /// Throttle answers.
    pub throttles: u64,
    /// Records dead-lettered (undecodable or unwritable).
    pub dead_letters: u64,
    /// What the sink did, summed over commits.
    pub rows: CommitReport,
    /// Commits made.
    pub commits: u64,
    /// The checkpoint at the end of the run (Beijing wall time).
    pub checkpoint: Option<NaiveDateTime>,
    /// How far the checkpoint is behind the gateway's clock at the end of the run.
    pub lag: Option<Duration>,
    /// The gateway's clock minus this host's at the end of the run, from the `Date` header of
    /// its answers; `None` when no answer carried one (windows then follow this host's clock).
    pub clock_offset: Option<ClockOffset>,
    /// Set when the stored checkpoint was ahead of the gateway's clock (left by a run on a host
    /// whose clock was fast): it was moved back and the time it skipped read again.
    pub checkpoint_ahead: Option<CheckpointAhead>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Whether the run stopped early because of a shutdown signal.
    pub interrupted: bool,
    /// Windows also read through a companion method (the archive: `Refund.searchHistory`),
    /// one per window and companion.
    pub history_windows: u64,
}

/// A stored checkpoint later than the gateway's clock, and what the run did about it.
///
/// A run on a host whose clock is fast stores a checkpoint ahead of the data WDT has: refunds
/// modified between that run's real time and its checkpoint would never be read. The gateway
/// accepted that run's requests, so its clock was at most
/// [`MAX_ACCEPTED_SKEW`](crate::server_time::MAX_ACCEPTED_SKEW) fast, and everything before
/// `stored − MAX_ACCEPTED_SKEW` was settled when it ran: the checkpoint is moved back there (or
/// to the gateway's time minus the settle lag, if earlier), and the run reads from that point
/// minus the overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointAhead {
    /// The checkpoint found (Beijing wall time).
    pub stored: NaiveDateTime,
    /// The earliest time the gateway's clock showed when it was found (Beijing wall time).
    pub gateway_time: NaiveDateTime,
    /// Where the checkpoint was moved back to (Beijing wall time).
    pub reset_to: NaiveDateTime,
}

/// A progress snapshot, given to the progress hook after every page and every commit.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// Windows done.
    pub windows_done: u64,
    /// Windows planned (grows when a window is bisected).
    pub windows_planned: u64,
    /// The window being read.
    pub window: Option<WindowBounds>,
    /// Pages fetched so far.
    pub pages: u64,
    /// Distinct refunds read so far.
    pub refunds: u64,
    /// Commits made so far.
    pub commits: u64,
}
