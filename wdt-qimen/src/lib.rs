#![doc = include_str!("../../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

//! ## Crate map
//! - [`sign`]: the three signature schemes as pure functions.
//! - [`credentials`]: WDT and Qimen credentials, secrets held in `secrecy` types.
//! - [`transport`]: one signed HTTP exchange per attempt, envelope to `Result`.
//! - [`error`]: the one error type and its [`ErrorKind`].
//! - [`retry`], [`limit`]: full-jitter backoff decisions and the per-account rate limiter.
//! - [`model`]: the typed refund and its tolerant decoders.
//! - [`endpoint`]: the [`Endpoint`] trait every paged method implements.
//! - [`api`]: request builders ([`RefundSearch`], [`RefundHistorySearch`], [`StockinRefundQuery`](api::stockin::StockinRefundQuery)).
//! - [`pager`]: [`Page`] and the owned page stream.
//! - [`server_time`]: the gateway's clock, measured from the `Date` header of its answers.
//! - [`client`]: [`Client`], tying the above together.
//! - [`sync`]: the [`Sink`](sync::Sink) trait and the drift-safe incremental sync engine.
//! - `simulator` (feature `simulator`): a local gateway for both routes.

pub mod api;
pub mod client;
pub mod credentials;
pub mod endpoint;
pub mod error;
mod excerpt;
pub mod limit;
pub mod model;
pub mod pager;
pub mod retry;
mod scan;
pub mod server_time;
pub mod sign;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod sync;
pub mod telemetry;
pub mod time;
pub mod transport;

pub use api::aftersales::RefundSearch;
pub use api::refund_history::RefundHistorySearch;
pub use client::{Client, ClientBuilder};
pub use credentials::{QimenCredentials, Route, WdtCredentials};
pub use endpoint::{Endpoint, Record};
pub use error::{Error, ErrorKind};
pub use model::refund::{Refund, RefundSource};
pub use pager::{ItemStream, Page, PageStream};
