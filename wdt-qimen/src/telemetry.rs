//! The SDK's metrics (through the [`metrics`] facade: install any recorder, e.g.
//! `metrics-exporter-prometheus`), and the labels they carry.
//!
//! Every metric of a [`Client`](crate::Client) carries the client's [`MetricLabels`], set with
//! [`ClientBuilder::metric_labels`](crate::ClientBuilder::metric_labels) (default: `account` =
//! the WDT `sid`), plus its own (`route`, `method`, `result`). Every metric of a
//! [`SyncEngine`](crate::sync::SyncEngine) carries the engine's labels (default: its client's;
//! [`SyncEngine::with_metric_labels`](crate::sync::SyncEngine::with_metric_labels) replaces them)
//! and `stream` (the checkpoint's stream, `account/method`). A program syncing several accounts
//! gives each client `MetricLabels::account(name)` and gets every series per account:
//!
//! ```
//! use wdt_qimen::telemetry::MetricLabels;
//! let labels = MetricLabels::account("shop_a").with("region", "east");
//! assert_eq!(labels.get("account"), Some("shop_a"));
//! ```
//!
//! [`METRICS`] lists every metric with its type, labels and meaning; [`describe`] registers
//! those descriptions with the installed recorder.

use metrics::Label;

/// The labels every metric of one client or engine carries: `(key, value)` pairs in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricLabels {
    pairs: Vec<(String, String)>,
}

impl MetricLabels {
    /// No labels.
    pub fn new() -> Self {
        Self::default()
    }

    /// The label `account` = `name`.
    pub fn account(name: impl Into<String>) -> Self {
        Self::new().with("account", name)
    }

    /// With the label `key` = `value` (replacing an earlier value of `key`).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        let value = value.into();
        match self.pairs.iter_mut().find(|(k, _)| *k == key) {
            Some(pair) => pair.1 = value,
            None => self.pairs.push((key, value)),
        }
        self
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The pairs, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// These labels and `extra`, as the `metrics` macros take them.
    pub(crate) fn and(&self, extra: &[(&'static str, &str)]) -> Vec<Label> {
        self.pairs
            .iter()
            .map(|(k, v)| Label::new(k.clone(), v.clone()))
            .chain(extra.iter().map(|(k, v)| Label::new(*k, (*v).to_owned())))
            .collect()
    }
}

/// A metric's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricKind {
    /// Only goes up.
    Counter,
    /// Set to a value.
    Gauge,
    /// A distribution of observed values (in Prometheus: `_bucket`, `_sum`, `_count`).
    Histogram,
}

impl MetricKind {
    /// `counter`, `gauge` or `histogram`, as Prometheus calls them.
    pub fn name(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One metric: its name, type, labels (beyond the client's or engine's own) and meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricDef {
    /// The name.
    pub name: &'static str,
    /// The type.
    pub kind: MetricKind,
    /// The labels it carries besides the client's or engine's [`MetricLabels`].
    pub labels: &'static [&'static str],
    /// What it measures.
    pub help: &'static str,
    /// The unit of a histogram's values, for its buckets (`seconds`), if any.
    pub unit: Option<&'static str>,
}

impl MetricDef {
    /// A metric definition (for a program that adds metrics of its own to [`METRICS`]).
    pub const fn new(
        name: &'static str,
        kind: MetricKind,
        labels: &'static [&'static str],
        help: &'static str,
        unit: Option<&'static str>,
    ) -> Self {
        Self {
            name,
            kind,
            labels,
            help,
            unit,
        }
    }
}

const fn def(name: &'static str, kind: MetricKind, labels: &'static [&'static str], help: &'static str) -> MetricDef {
    MetricDef {
        name,
        kind,
        labels,
        help,
        unit: None,
    }
}

/// API requests, by `result`: `ok`, `damaged` (an answer read again), or the error kind
/// (`throttled`, `transient`, `timestamp`, `auth`, `invalid_request`, `decode`, `config`,
/// `unknown`).
pub const REQUESTS: &str = "wdt_requests_total";
/// Attempts retried.
pub const RETRIES: &str = "wdt_retries_total";
/// Throttled answers.
pub const THROTTLES: &str = "wdt_throttles_total";
/// Seconds slept before retrying throttled requests.
pub const THROTTLE_WAIT: &str = "wdt_throttle_wait_seconds";
/// Seconds requests waited for the account's rate limiter.
pub const RATE_LIMIT_WAIT: &str = "wdt_rate_limit_wait_seconds";
/// The gateway's clock minus this host's.
pub const CLOCK_OFFSET: &str = "wdt_clock_offset_seconds";
/// Pages read by the sync.
pub const SYNC_PAGES: &str = "wdt_sync_pages_total";
/// Distinct refunds read by the sync.
pub const SYNC_REFUNDS: &str = "wdt_sync_refunds_total";
/// Rows inserted or updated.
pub const SYNC_ROWS_WRITTEN: &str = "wdt_sync_rows_written_total";
/// Rows by what the sink did with them.
pub const SYNC_ROWS: &str = "wdt_sync_rows_total";
/// Records dead-lettered.
pub const SYNC_DEAD_LETTERS: &str = "wdt_sync_dead_letters_total";
/// How long a commit took.
pub const SYNC_COMMIT_SECONDS: &str = "wdt_sync_commit_seconds";
/// The last committed checkpoint.
pub const SYNC_CHECKPOINT: &str = "wdt_sync_checkpoint_unix_seconds";
/// How far the checkpoint is behind the gateway's clock.
pub const SYNC_LAG: &str = "wdt_sync_lag_seconds";
/// Checkpoints found ahead of the gateway's clock.
pub const SYNC_CHECKPOINT_RESETS: &str = "wdt_sync_checkpoint_resets_total";

use MetricKind::{Counter, Gauge, Histogram};

/// Every metric the SDK emits.
pub const METRICS: &[MetricDef] = &[
    def(
        REQUESTS,
        Counter,
        &["route", "method", "result"],
        "API requests sent (every attempt), by result: ok, damaged, or the error kind",
    ),
    def(
        RETRIES,
        Counter,
        &["route", "method"],
        "attempts retried (transient errors, throttles, timestamps, damaged answers)",
    ),
    def(
        THROTTLES,
        Counter,
        &["route", "method"],
        "throttled answers (rate limit, ban)",
    ),
    MetricDef {
        unit: Some("seconds"),
        ..def(
            THROTTLE_WAIT,
            Histogram,
            &["route", "method"],
            "seconds slept before retrying a throttled request (its _sum: the time lost to throttles)",
        )
    },
    MetricDef {
        unit: Some("seconds"),
        ..def(
            RATE_LIMIT_WAIT,
            Histogram,
            &["route"],
            "seconds each request waited for the account's rate limiter (its rate, slowed after throttles, and its pauses)",
        )
    },
    def(
        CLOCK_OFFSET,
        Gauge,
        &[],
        "the gateway's clock minus this host's, from trusted Date headers",
    ),
    def(SYNC_PAGES, Counter, &["stream"], "pages read by the sync"),
    def(SYNC_REFUNDS, Counter, &["stream"], "distinct refunds read"),
    def(SYNC_ROWS_WRITTEN, Counter, &["stream"], "rows inserted or updated"),
    def(
        SYNC_ROWS,
        Counter,
        &["stream", "kind"],
        "rows by what the sink did: inserted, updated, deleted, unchanged, skipped (an older copy)",
    ),
    def(
        SYNC_DEAD_LETTERS,
        Counter,
        &["stream"],
        "records written to the dead-letter store",
    ),
    MetricDef {
        unit: Some("seconds"),
        ..def(
            SYNC_COMMIT_SECONDS,
            Histogram,
            &["stream"],
            "how long one commit (a batch with its checkpoint) took in the sink",
        )
    },
    def(
        SYNC_CHECKPOINT,
        Gauge,
        &["stream"],
        "the last committed checkpoint (Unix seconds)",
    ),
    def(
        SYNC_LAG,
        Gauge,
        &["stream"],
        "how far the checkpoint is behind the gateway's clock at the end of a run",
    ),
    def(
        SYNC_CHECKPOINT_RESETS,
        Counter,
        &["stream"],
        "checkpoints found ahead of the gateway's clock and moved back",
    ),
];

/// Registers the descriptions of `defs` with the installed recorder (Prometheus `# HELP`).
pub fn describe(defs: &[MetricDef]) {
    for d in defs {
        match d.kind {
            Counter => metrics::describe_counter!(d.name, d.help),
            Gauge => metrics::describe_gauge!(d.name, d.help),
            Histogram => metrics::describe_histogram!(d.name, metrics::Unit::Seconds, d.help),
        }
    }
}

/// The `result` label of a request that ended with an error of `kind`.
pub(crate) fn result_of(kind: crate::ErrorKind) -> &'static str {
    use crate::ErrorKind as K;
    match kind {
        K::Throttled => "throttled",
        K::Transient => "transient",
        K::Timestamp => "timestamp",
        K::Auth => "auth",
        K::InvalidRequest => "invalid_request",
        K::Decode => "decode",
        K::Config => "config",
        K::Unknown => "unknown",
    }
}
