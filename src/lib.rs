//! `wdt-refund-sync`, the program: WangDianTong Ultimate refunds into MySQL, for one account
//! from flags and env vars or for many from a config file, once or on a schedule.
//!
//! The binary `wdt-refund-sync` (and the example `refund_sync`) is [`main`]; the modules are the
//! parts it is made of, in the order a run goes through them:
//!
//! - [`cli`]: the command line, its subcommands (`run`, `check`, `backfill`, `status`,
//!   `verify`, `mapping check`) and shared settings;
//! - [`config`]: flags, env vars, the config file and the defaults resolved into a checked
//!   [`Plan`](config::Plan) (secrets read from the env vars or files the file names);
//! - [`route`]: an account's client (or the simulator standing in for the gateway);
//! - [`sink`]: an account's MySQL sink;
//! - [`mapping`]: an account's own tables (mapping files, presets) and `mapping check`;
//! - [`run`]: the run loop, every account in its own task;
//! - [`check`]: the `check` subcommand;
//! - [`backfill`]: the `backfill` subcommand, a past range under its own checkpoint;
//! - [`verify`]: the `verify` subcommand, the tables counted against WDT (and `--repair`);
//! - [`report`], [`progress`], [`alert`], [`telemetry`], [`metrics`]: what a run tells its operator;
//! - [`http`], [`monitor`]: the `--http-addr` server (status page, `/health`, `/ready`,
//!   `/api/streams`, `/metrics`) and what the run loop tells it;
//! - [`signals`]: Ctrl-C and SIGTERM;
//! - [`error`]: [`AppError`], what the program fails with;
//! - [`app`]: the entry, and the exit statuses.
//!
//! Dependencies point one way: this package uses `refund-sink-mysql`, which uses `wdt-qimen`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod alert;
pub mod app;
pub mod backfill;
pub mod check;
pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod lease;
pub mod mapping;
pub mod metrics;
pub mod monitor;
pub mod progress;
pub mod report;
pub mod route;
pub mod run;
pub mod signals;
pub mod sink;
pub mod status;
pub mod telemetry;
pub mod verify;

pub use app::main;
pub use error::AppError;
