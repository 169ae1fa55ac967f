//! The program's metrics: the SDK's ([`wdt_qimen::telemetry::METRICS`], labelled by each
//! account's client and engine) and the run loop's own ([`RUN_METRICS`]). [`all()`] is the one list
//! the README's metrics table and the Grafana dashboard are checked against.
//!
//! Every metric carries `account` (the account's name, `default` for the single account of a run
//! without a config file); those of a stream also carry `stream` (`account/method`, its
//! checkpoint's key).

use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use wdt_qimen::telemetry::{MetricDef, MetricKind, MetricLabels};

/// Runs, by `outcome`: `ok`, `failed`, `skipped` (another runner held the lease), `interrupted`.
pub const RUNS: &str = "wdt_sync_runs_total";
/// How long a run took.
pub const RUN_SECONDS: &str = "wdt_sync_run_duration_seconds";
/// When a run last succeeded.
pub const LAST_SUCCESS: &str = "wdt_sync_last_success_timestamp_seconds";
/// Whether this process holds the stream's lease.
pub const LEASE_HELD: &str = "wdt_sync_lease_held";

/// The run loop's metrics (labels beyond `account`).
pub const RUN_METRICS: &[MetricDef] = &[
    run_def(
        RUNS,
        MetricKind::Counter,
        &["stream", "outcome"],
        "runs of a stream, by outcome: ok, failed, skipped (another runner held its lease), interrupted",
    ),
    run_def(
        RUN_SECONDS,
        MetricKind::Histogram,
        &["stream"],
        "how long a run took: connecting (after a failure), taking the lease, reading and writing, recording its end",
    ),
    run_def(
        LAST_SUCCESS,
        MetricKind::Gauge,
        &["stream"],
        "when a run of the stream last succeeded (Unix seconds)",
    ),
    run_def(
        LEASE_HELD,
        MetricKind::Gauge,
        &["stream"],
        "1 while this process holds the stream's lease (a run in progress), else 0",
    ),
];

const fn run_def(
    name: &'static str,
    kind: MetricKind,
    labels: &'static [&'static str],
    help: &'static str,
) -> MetricDef {
    let unit = match kind {
        MetricKind::Histogram => Some("seconds"),
        _ => None,
    };
    MetricDef::new(name, kind, labels, help, unit)
}

/// Every metric the program exports: the SDK's, then the run loop's.
pub fn all() -> Vec<MetricDef> {
    wdt_qimen::telemetry::METRICS
        .iter()
        .chain(RUN_METRICS)
        .copied()
        .collect()
}

/// The names Prometheus shows for `d`: its name, or for a histogram its `_bucket`, `_sum` and
/// `_count` series.
pub fn series(d: &MetricDef) -> Vec<String> {
    match d.kind {
        MetricKind::Histogram => ["_bucket", "_sum", "_count"]
            .iter()
            .map(|s| format!("{}{s}", d.name))
            .collect(),
        _ => vec![d.name.to_owned()],
    }
}

/// The buckets of every histogram (seconds): from 1 ms to 30 min.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

/// A Prometheus exporter builder for these metrics: histograms with [`SECONDS_BUCKETS`] (so
/// `histogram_quantile` works on them), not summaries.
pub fn prometheus_builder() -> PrometheusBuilder {
    let mut b = PrometheusBuilder::new();
    for d in all().iter().filter(|d| d.kind == MetricKind::Histogram) {
        b = b
            .set_buckets_for_metric(Matcher::Full(d.name.to_owned()), SECONDS_BUCKETS)
            .expect("the bucket list is not empty");
    }
    b
}

/// Registers the description of every metric with the installed recorder (`# HELP` lines).
pub fn describe() {
    wdt_qimen::telemetry::describe(&all());
}

/// The labels of `account`'s client (and so of its engine): `account` = its name.
pub fn account_labels(account: &str) -> MetricLabels {
    MetricLabels::account(account)
}

/// The run loop's metrics of one stream.
#[derive(Debug, Clone)]
pub struct StreamMetrics {
    labels: Vec<(&'static str, String)>,
}

impl StreamMetrics {
    /// The metrics of `stream` of `account`.
    pub fn new(account: &str, stream: &str) -> Self {
        Self {
            labels: vec![("account", account.to_owned()), ("stream", stream.to_owned())],
        }
    }

    fn with(&self, extra: &[(&'static str, &'static str)]) -> Vec<::metrics::Label> {
        self.labels
            .iter()
            .map(|(k, v)| ::metrics::Label::new(*k, v.clone()))
            .chain(extra.iter().map(|(k, v)| ::metrics::Label::new(*k, *v)))
            .collect()
    }

    /// A run ended with `outcome` (`ok`, `failed`, `skipped`, `interrupted`) after `took`.
    pub fn run(&self, outcome: &'static str, took: Duration) {
        ::metrics::counter!(RUNS, self.with(&[("outcome", outcome)])).increment(1);
        ::metrics::histogram!(RUN_SECONDS, self.with(&[])).record(took.as_secs_f64());
        if outcome == "ok" {
            ::metrics::gauge!(LAST_SUCCESS, self.with(&[])).set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
        }
    }

    /// The stream's lease was taken (`true`) or given up (`false`).
    pub fn lease_held(&self, held: bool) {
        ::metrics::gauge!(LEASE_HELD, self.with(&[])).set(if held { 1.0 } else { 0.0 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_named_once_and_labelled_by_account() {
        let all = all();
        let mut names: Vec<&str> = all.iter().map(|d| d.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a name listed twice: {names:?}");
        for d in &all {
            assert!(d.name.starts_with("wdt_"), "{}", d.name);
            assert!(!d.labels.contains(&"account"), "account is every metric's: {}", d.name);
        }
    }

    /// The README's metrics table: `| name | type | labels | meaning |` rows.
    fn readme_rows() -> Vec<(String, String, String)> {
        let readme = include_str!("../README.md");
        let start = readme
            .find("| metric | type | labels | meaning |")
            .expect("the metrics table");
        readme[start..]
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (
                    cells[1].trim_matches('`').to_owned(),
                    cells[2].to_owned(),
                    cells[3].replace('`', ""),
                )
            })
            .collect()
    }

    #[test]
    fn the_readme_table_lists_every_metric_with_its_type_and_labels() {
        let rows = readme_rows();
        let all = all();
        let documented: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        let exported: Vec<&str> = all.iter().map(|d| d.name).collect();
        assert_eq!(
            documented, exported,
            "the README table, in the order of telemetry::all()"
        );
        for (d, (_, kind, labels)) in all.iter().zip(&rows) {
            assert_eq!(kind, d.kind.name(), "{}", d.name);
            let want = std::iter::once("account")
                .chain(d.labels.iter().copied())
                .collect::<Vec<_>>()
                .join(", ");
            assert_eq!(labels, &want, "{}", d.name);
        }
    }

    /// Every PromQL expression of the dashboard, with its panel's title.
    fn dashboard_exprs() -> Vec<(String, String)> {
        let d: serde_json::Value =
            serde_json::from_str(include_str!("../dashboards/wdt-refund-sync.json")).expect("the dashboard is JSON");
        let mut out = Vec::new();
        for p in d["panels"].as_array().expect("panels") {
            if p["type"] == "row" {
                continue;
            }
            let title = p["title"].as_str().expect("a title").to_owned();
            let targets = p["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{title} has no query");
            for t in targets {
                out.push((title.clone(), t["expr"].as_str().expect("an expr").to_owned()));
            }
        }
        out
    }

    /// The metric names an expression queries: every identifier starting `wdt_` (no label,
    /// function or variable of the dashboard does).
    fn names_in(expr: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut rest = expr;
        while let Some(at) = rest.find("wdt_") {
            let before = rest[..at].chars().last();
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                names.push(tail[..end].to_owned());
            }
            rest = &tail[end..];
        }
        names
    }

    #[test]
    fn the_dashboard_queries_only_metrics_the_program_exports_per_account() {
        let exported: Vec<String> = all().iter().flat_map(series).collect();
        let exprs = dashboard_exprs();
        let mut queried = Vec::new();
        for (title, expr) in &exprs {
            let names = names_in(expr);
            assert!(!names.is_empty(), "{title}: no metric in {expr}");
            for n in names {
                assert!(
                    exported.contains(&n),
                    "{title}: {n} is not a metric the program exports ({expr})"
                );
                queried.push(n);
            }
            assert!(
                expr.contains("account=~\"$account\""),
                "{title}: not filtered by account: {expr}"
            );
            assert!(expr.contains("by (account"), "{title}: not per account: {expr}");
        }
        let titles: Vec<&str> = exprs.iter().map(|(t, _)| t.as_str()).collect();
        for want in [
            "Lag per account",
            "Runs and failures",
            "Requests by result",
            "Throttles and the time they cost",
            "Rows written by kind",
            "Commit latency (p50, p95, p99)",
        ] {
            assert!(titles.contains(&want), "no panel {want:?}: {titles:?}");
        }
        for metric in [
            "wdt_sync_lag_seconds",
            "wdt_sync_runs_total",
            "wdt_requests_total",
            "wdt_throttles_total",
            "wdt_sync_rows_total",
            "wdt_sync_commit_seconds_bucket",
        ] {
            assert!(
                queried.iter().any(|q| q == metric),
                "the dashboard never queries {metric}"
            );
        }
    }

    #[test]
    fn metric_names_are_found_in_promql() {
        assert_eq!(
            names_in("histogram_quantile(0.5, sum by (account, le) (rate(wdt_sync_commit_seconds_bucket{account=~\"$account\"}[5m])))"),
            ["wdt_sync_commit_seconds_bucket"]
        );
        assert_eq!(
            names_in("time() - wdt_a{x=\"y\"} + on(account) wdt_b_total"),
            ["wdt_a", "wdt_b_total"]
        );
    }
}
