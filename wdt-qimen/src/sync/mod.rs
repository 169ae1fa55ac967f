//! Incremental sync: the [`Sink`] trait, the window planner, the drift-safe window fetch and
//! the engine that ties them together.

pub mod sink;

pub use sink::{Batch, Checkpoint, CommitReport, DeadLetter, Sink, StreamId, WindowBounds};
