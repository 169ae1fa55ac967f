//! Incremental sync: the [`Sink`] trait, the window planner, the drift-safe window read and the
//! engine that ties them together.
//!
//! A run reads `[checkpoint − overlap, now − settle_lag]`, `now` being the gateway's clock as
//! its answers' `Date` headers show it ([`server_time`](crate::server_time)), in windows of at
//! most 29 days ([`window`]), reads each window from the last page backwards so refunds that change while being paged are
//! never skipped ([`fetch`]), and commits batches to a [`Sink`] whose last batch per window
//! carries the new checkpoint ([`engine`]). A crash anywhere repeats at most one window, and the
//! writes are idempotent, so a repeat changes nothing.
//!
//! A bounded run ([`SyncConfig::end`], [`SyncEngine::backfill`]) ends at the earlier of its end and
//! the gateway's `now − settle_lag`; a backfill keeps its checkpoint under a stream of its own
//! ([`backfill_stream`]), so it never moves the live one.

pub mod engine;
pub mod fetch;
mod plan;
pub mod report;
pub mod sink;
pub mod window;
mod window_plan;

pub use engine::{backfill_stream, history_stream, ProgressHook, SyncConfig, SyncEngine, SyncError};
pub use fetch::PagingOrder;
pub use report::{CheckpointAhead, Progress, SyncReport};
pub use sink::{Batch, Checkpoint, CommitReport, DeadLetter, Sink, StreamId, WindowBounds};
