//! The [`Sink`] trait: where synced records go, together with the checkpoint that says how far
//! the sync got.

use std::fmt;

use async_trait::async_trait;
use chrono::NaiveDateTime;

/// One synced stream: an account and a method. A sink keeps one checkpoint per stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamId {
    /// The account (`sid`), optionally qualified by route (`qimen:sid`).
    pub account: String,
    /// The method (`aftersales.refund.Refund.search`).
    pub method: String,
}

impl StreamId {
    /// A stream id.
    pub fn new(account: impl Into<String>, method: impl Into<String>) -> Self {
        Self {
            account: account.into(),
            method: method.into(),
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account, self.method)
    }
}

/// How far a stream is synced: every record modified before `window_end` (Beijing wall time) is
/// committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The end of the last window whose every record is committed (Beijing wall time).
    pub window_end: NaiveDateTime,
}

/// The time window a batch was read from (Beijing wall time, `[from, to]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowBounds {
    /// Start of the window.
    pub from: NaiveDateTime,
    /// End of the window.
    pub to: NaiveDateTime,
}

/// A record that could not be decoded or mapped; a sink stores it (the dead-letter table) so
/// nothing is dropped silently.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The record's key when it could be read (e.g. the refund_id).
    pub key: Option<String>,
    /// The record as received: its JSON text, or, for a record that is not valid JSON or not
    /// UTF-8, its text with every byte that is not UTF-8 written `\xNN`.
    pub raw_json: String,
    /// Why it could not be written.
    pub reason: String,
}

/// One atomic unit of work for a sink.
#[derive(Debug, Clone)]
pub struct Batch<R> {
    /// The stream these records belong to.
    pub stream: StreamId,
    /// The window the records were read from.
    pub window: WindowBounds,
    /// The records (may contain several copies of one key; the sink keeps the newest).
    pub records: Vec<R>,
    /// Records already known to be unwritable (e.g. they failed to decode).
    pub dead_letters: Vec<DeadLetter>,
    /// The checkpoint to store with this batch; `None` leaves the stored one as it is.
    pub checkpoint: Option<Checkpoint>,
}

/// What a commit did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommitReport {
    /// Rows inserted.
    pub inserted: u64,
    /// Rows updated in place.
    pub updated: u64,
    /// Rows deleted (detail lines that disappeared from a refund).
    pub deleted: u64,
    /// Rows whose stored copy was already identical.
    pub unchanged: u64,
    /// Records skipped because the stored copy is newer.
    pub skipped_older: u64,
    /// Records written to the dead-letter store.
    pub dead_lettered: u64,
    /// Whole-transaction retries (deadlock, lock wait timeout, lost connection).
    pub retries: u64,
}

impl CommitReport {
    /// Adds another report's counts to this one.
    pub fn absorb(&mut self, other: &CommitReport) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.unchanged += other.unchanged;
        self.skipped_older += other.skipped_older;
        self.dead_lettered += other.dead_lettered;
        self.retries += other.retries;
    }
}

/// Where synced records go.
///
/// # Contract
/// - [`Sink::commit`] is **atomic**: the records, the dead letters and the checkpoint of a batch
///   become visible together or not at all. A checkpoint therefore never moves ahead of its data.
/// - It is **idempotent**: committing the same batch twice leaves the store as after the first
///   commit (a crash between commit and acknowledgement is answered by committing again).
/// - Within a batch and against what is stored, the copy with the newest version (for refunds,
///   `modified`) wins; an older copy never overwrites a newer one, and is counted in
///   [`CommitReport::skipped_older`].
/// - [`Sink::load_checkpoint`] returns the last checkpoint committed for the stream, or `None`.
/// - A stored checkpoint never moves backwards through [`Sink::commit`]; only
///   [`Sink::reset_checkpoint`] moves it back.
/// - Transient failures (deadlock, lost connection) are retried inside the sink; an error returned
///   means the batch is not committed.
///
/// Any store that offers a transaction (or an atomic rename, or an idempotent producer) can
/// implement it: a file, Postgres, Kafka.
#[async_trait]
pub trait Sink<R: Send + Sync + 'static>: Send + Sync {
    /// The sink's error type.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The committed checkpoint of `stream`, if any.
    async fn load_checkpoint(&self, stream: &StreamId) -> Result<Option<Checkpoint>, Self::Error>;

    /// Commits `batch` (records, dead letters and checkpoint) atomically.
    async fn commit(&self, batch: Batch<R>) -> Result<CommitReport, Self::Error>;

    /// Moves the stored checkpoint of `stream` back to `checkpoint` when the stored one is later;
    /// never forward. The engine calls it only for a checkpoint ahead of the gateway's clock
    /// (see [`CheckpointAhead`](super::report::CheckpointAhead)), which [`Sink::commit`] could
    /// never move back. A dry-run sink leaves the stored checkpoint as it is.
    async fn reset_checkpoint(&self, stream: &StreamId, checkpoint: &Checkpoint) -> Result<(), Self::Error>;
}
