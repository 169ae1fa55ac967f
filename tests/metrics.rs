//! A sync of two simulated accounts moves every metric, each labelled by its account.

mod common;

use std::path::Path;

use common::{db_url, TestDb};
use wdt_refund_sync::alert::Alerts;
use wdt_refund_sync::cli::{RunArgs, Settings};
use wdt_refund_sync::config::{resolve::from_file, ConfigFile};
use wdt_refund_sync::lease::Runner;
use wdt_refund_sync::signals::Shutdown;
use wdt_refund_sync::telemetry;

/// The sum of the samples of `name` whose labels include every pair of `labels`, and how many
/// samples there were.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> (f64, usize) {
    let mut sum = 0.0;
    let mut n = 0;
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        if metric != name {
            continue;
        }
        let set = rest.trim_end_matches('}');
        if labels
            .iter()
            .all(|(k, v)| set.split(',').any(|p| p == format!("{k}=\"{v}\"")))
        {
            sum += value.parse::<f64>().unwrap();
            n += 1;
        }
    }
    (sum, n)
}

#[test]
fn a_sync_of_two_accounts_moves_every_metric_with_its_account_label() {
    let recorder = telemetry::prometheus_builder().build_recorder();
    let handle = recorder.handle();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        telemetry::describe();
        rt.block_on(async {
            let db = TestDb::new("app_metrics").await;
            let text = format!(
                r#"
[mysql]
url = "{url}"

[defaults]
route = "simulator"
start = "2025-01-01 00:00:00"

[[account]]
name = "shop_a"
table_prefix = "a_"
[account.simulator]
refunds = 300
until = "2025-03-01 00:00:00"

[[account]]
name = "shop_b"
table_prefix = "b_"
page_size = 50
[account.simulator]
refunds = 120
seed = 7
until = "2025-03-01 00:00:00"
"#,
                url = db_url(&db.name)
            );
            let once = RunArgs {
                once: true,
                ..RunArgs::default()
            };
            let path = Path::new("metrics.toml");
            let plan = from_file(
                path,
                ConfigFile::parse(path, &text).unwrap(),
                &Settings::default(),
                Some(&once),
                &|_| None,
            )
            .unwrap();
            let shutdown = Shutdown::from_source(std::future::pending::<()>);
            wdt_refund_sync::run::run(
                plan,
                Runner::of(&Settings::default()).unwrap(),
                Alerts::none(),
                shutdown,
                "wdt-refund-sync",
            )
            .await
            .unwrap();
            db.drop().await;
        })
    });
    let text = handle.render();
    let method = "aftersales.refund.Refund.search";
    for (account, refunds) in [("shop_a", 300.0), ("shop_b", 120.0)] {
        let stream = format!("{account}/{method}");
        let a = [("account", account)];
        let s = [("account", account), ("stream", stream.as_str())];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut l = s.to_vec();
            l.extend_from_slice(extra);
            l
        };
        // The SDK's request metrics, labelled by the client's account, route, method, result.
        let (ok, n) = sample(
            &text,
            "wdt_requests_total",
            &[
                ("account", account),
                ("route", "qimen"),
                ("method", "wdt.aftersales.refund.refund.search"),
                ("result", "ok"),
            ],
        );
        assert!(ok >= 2.0 && n == 1, "{account}: {ok} requests\n{text}");
        // A first sync reads the archive too (Refund.searchHistory), through the same limiter.
        let (archive, _) = sample(
            &text,
            "wdt_requests_total",
            &[
                ("account", account),
                ("method", "wdt.aftersales.refund.refund.searchhistory"),
                ("result", "ok"),
            ],
        );
        assert!(archive >= 1.0, "{account}: {archive} archive requests\n{text}");
        let (all, _) = sample(&text, "wdt_requests_total", &a);
        assert_eq!(
            all,
            ok + archive,
            "{account}: requests of other methods or results\n{text}"
        );
        let (waits, _) = sample(&text, "wdt_rate_limit_wait_seconds_count", &a);
        assert_eq!(waits, all, "{account}: one limiter wait per request");
        assert_eq!(sample(&text, "wdt_clock_offset_seconds", &a).1, 1, "{account}");
        // The engine's, labelled by account and stream.
        assert_eq!(sample(&text, "wdt_sync_refunds_total", &s).0, refunds, "{account}");
        assert_eq!(
            sample(&text, "wdt_sync_rows_total", &with(&[("kind", "inserted")])).0,
            sample(&text, "wdt_sync_rows_written_total", &s).0,
            "{account}: a first sync only inserts"
        );
        assert!(sample(&text, "wdt_sync_rows_total", &with(&[("kind", "inserted")])).0 >= refunds);
        for kind in ["updated", "deleted", "unchanged", "skipped"] {
            assert_eq!(
                sample(&text, "wdt_sync_rows_total", &with(&[("kind", kind)])),
                (0.0, 1),
                "{account}: {kind}"
            );
        }
        assert_eq!(sample(&text, "wdt_sync_dead_letters_total", &s), (0.0, 1), "{account}");
        let (commits, _) = sample(&text, "wdt_sync_commit_seconds_count", &s);
        assert!(commits >= 1.0, "{account}: {text}");
        assert!(sample(&text, "wdt_sync_commit_seconds_bucket", &with(&[("le", "+Inf")])).0 == commits);
        assert!(sample(&text, "wdt_sync_pages_total", &s).0 >= 2.0, "{account}");
        assert!(sample(&text, "wdt_sync_lag_seconds", &s).0 > 0.0, "{account}");
        let checkpoint = sample(&text, "wdt_sync_checkpoint_unix_seconds", &s).0;
        assert!(checkpoint > 1.7e9, "{account}: {checkpoint}");
        // The run loop's.
        assert_eq!(
            sample(&text, "wdt_sync_runs_total", &with(&[("outcome", "ok")])),
            (1.0, 1),
            "{account}"
        );
        assert_eq!(
            sample(&text, "wdt_sync_runs_total", &s).0,
            1.0,
            "{account}: no other outcome"
        );
        assert_eq!(
            sample(&text, "wdt_sync_run_duration_seconds_count", &s).0,
            1.0,
            "{account}"
        );
        let success = sample(&text, "wdt_sync_last_success_timestamp_seconds", &s).0;
        assert!(success > checkpoint, "{account}: {success}");
        assert_eq!(
            sample(&text, "wdt_sync_lease_held", &s),
            (0.0, 1),
            "{account}: released"
        );
    }
    // Every series carries an account label, and every exported name is declared.
    let declared: Vec<String> = telemetry::all().iter().flat_map(telemetry::series).collect();
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        assert!(line.contains("account=\""), "no account label: {line}");
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(declared.iter().any(|d| d == name), "{name} is not in telemetry::all()");
    }
}
