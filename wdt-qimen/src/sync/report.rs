//! What a sync run did: [`SyncReport`], and the [`Progress`] handed to a progress hook.

use std::time::Duration;

use chrono::NaiveDateTime;

use super::sink::{CommitReport, WindowBounds};

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
    /// How far the checkpoint is behind now at the end of the run.
    pub lag: Option<Duration>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Whether the run stopped early because of a shutdown signal.
    pub interrupted: bool,
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
