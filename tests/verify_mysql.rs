//! `wdt-refund-sync verify` end to end against the simulator and the real MariaDB: a synced
//! table with a deleted row, a stale row (older `modified`) and an extra row is found (the
//! windows, then the ids) and repaired by `--repair` (the extra row reported and kept); a
//! complete table verifies clean at one request per window and method; archived refunds are
//! counted through `Refund.searchHistory`.

mod common;

use std::process::Output;

use chrono::NaiveDateTime;
use common::TestDb;
use mysql_async::prelude::Queryable;

const FROM: &str = "2025-01-20 00:00:00";
const TO: &str = "2025-02-10 00:00:00";
const FLAT: &str = "aftersales_refund_refund_search";

/// The single simulator account of a run without a config file, into `db`.
fn program(db: &str, extra: &[&str], args: &[&str]) -> Output {
    let all: Vec<&str> = extra.iter().chain(args).copied().collect();
    common::simulated_program(db, &all)
}

fn status(out: &Output, code: i32) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `verify --from FROM --to TO` with `extra` settings and `more` flags of its own.
fn run_verify(db: &str, extra: &[&str], more: &[&str]) -> Output {
    let mut args = vec!["verify", "--from", FROM, "--to", TO];
    args.extend_from_slice(more);
    program(db, extra, &args)
}

/// The WDT counts of a method's block.
fn wdt_counts(block: &str) -> Vec<u64> {
    block
        .lines()
        .take_while(|l| !l.starts_with("  Refund.") || l.contains("(4 windows)"))
        .filter_map(|l| l.split(": WDT ").nth(1))
        .map(|r| r.split(',').next().unwrap().parse().unwrap())
        .collect()
}

/// The requests line's count.
fn requests(stdout: &str) -> (u64, u64) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("requests: "))
        .unwrap_or_else(|| panic!("no requests line: {stdout}"));
    let n: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (n[0], n[1])
}

/// A refund stored with a `modified` in `[a, b]` (its id and `modified`).
async fn one_in(conn: &mut mysql_async::Conn, db: &str, a: &str, b: &str, source: &str) -> (i64, NaiveDateTime) {
    conn.query_first(format!(
        "SELECT refund_id, MAX(modified) FROM `{db}`.{FLAT} WHERE modified BETWEEN '{a}' AND '{b}' \
         AND source = '{source}' GROUP BY refund_id ORDER BY refund_id LIMIT 1"
    ))
    .await
    .unwrap()
    .unwrap_or_else(|| panic!("no {source} refund between {a} and {b}"))
}

async fn stored(conn: &mut mysql_async::Conn, db: &str, id: i64) -> Option<NaiveDateTime> {
    conn.query_first::<Option<NaiveDateTime>, _>(format!(
        "SELECT MAX(modified) FROM `{db}`.{FLAT} WHERE refund_id = {id}"
    ))
    .await
    .unwrap()
    .flatten()
}

type StateRow = (String, String, NaiveDateTime, NaiveDateTime);

async fn live_state(conn: &mut mysql_async::Conn, db: &str) -> Vec<StateRow> {
    conn.query(format!(
        "SELECT account, method, window_end, updated_at FROM `{db}`.wdt_sync_state \
         WHERE method NOT LIKE '%#%' ORDER BY method"
    ))
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_a_stale_and_an_extra_row_are_found_and_repaired() {
    let t = TestDb::new("app_verify_repair").await;
    let db = t.name.clone();
    let mut conn = t.pool.get_conn().await.unwrap();
    status(&program(&db, &[], &["run", "--once"]), 0);
    let live = live_state(&mut conn, &db).await;

    // Windows of 7 days from FROM: W1 01-20..01-27, W2 01-27..02-03, W3 02-03..02-10.
    // The stale row: a W2 refund stored with an older `modified`, in W1 (W1 +1, W2 -1).
    let (stale, stale_modified) = one_in(&mut conn, &db, "2025-01-28 00:00:00", "2025-02-02 00:00:00", "live").await;
    conn.query_drop(format!(
        "UPDATE `{db}`.{FLAT} SET modified = '2025-01-23 12:00:00' WHERE refund_id = {stale}"
    ))
    .await
    .unwrap();
    // The deleted row: a W3 refund (W3 -1).
    let (deleted, _) = one_in(&mut conn, &db, "2025-02-04 00:00:00", "2025-02-09 00:00:00", "live").await;
    conn.query_drop(format!("DELETE FROM `{db}`.{FLAT} WHERE refund_id = {deleted}"))
        .await
        .unwrap();
    // The extra row: a copy of a refund under an id WDT does not have, in W1 (W1 +1).
    let extra = 9_999_001_i64;
    conn.query_drop(format!(
        "CREATE TEMPORARY TABLE `{db}`.copy AS SELECT * FROM `{db}`.{FLAT} WHERE refund_id = {stale}; \
         UPDATE `{db}`.copy SET refund_id = {extra}, modified = '2025-01-25 12:00:00'; \
         INSERT INTO `{db}`.{FLAT} SELECT * FROM `{db}`.copy; DROP TEMPORARY TABLE `{db}`.copy"
    ))
    .await
    .unwrap();

    let out = status(&run_verify(&db, &[], &[]), 4);
    assert!(
        out.contains("2025-01-20 00:00:00 .. 2025-01-27 00:00:00: WDT "),
        "{out}"
    );
    assert!(
        out.contains("difference +2\n"),
        "W1 holds the stale and the extra row: {out}"
    );
    assert!(out.matches("difference -1\n").count() >= 2, "W2 and W3: {out}");
    assert!(out.contains("    differs in "), "the windows are narrowed: {out}");
    assert!(out.contains(&format!("missing refund ids: {deleted}\n")), "{out}");
    assert!(out.contains(&format!("): {stale}\n")), "the stale id: {out}");
    assert!(out.contains(&format!("kept): {extra}\n")), "the extra id: {out}");
    assert!(out.contains("result: differences remain (run with --repair"), "{out}");
    assert_eq!(
        stored(&mut conn, &db, deleted).await,
        None,
        "verify alone changes nothing"
    );
    // `status` shows the last verify.
    let shown = status(&program(&db, &[], &["status"]), 0);
    assert!(shown.contains("  last verify (started "), "{shown}");
    let line = shown
        .lines()
        .find(|l| l.starts_with("    Refund.search 2025-01-20 00:00:00 .. 2025-02-10 00:00:00: "))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(line.contains(", 1 missing, 1 stale, 1 extra; "), "{line}");
    assert!(line.contains("ranges still differ; "), "{line}");

    let out = status(&run_verify(&db, &[], &["--repair"]), 4);
    assert!(out.contains("    repaired "), "{out}");
    let still: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("still differs after the repair"))
        .collect();
    assert_eq!(still.len(), 1, "only the extra row's range: {out}");
    assert!(still[0].contains("difference +1"), "{out}");
    assert!(
        stored(&mut conn, &db, deleted).await.is_some(),
        "the deleted refund is back"
    );
    assert_eq!(
        stored(&mut conn, &db, stale).await,
        Some(stale_modified),
        "the stale refund is current"
    );
    assert!(stored(&mut conn, &db, extra).await.is_some(), "the extra row is kept");
    assert_eq!(
        live_state(&mut conn, &db).await,
        live,
        "the live checkpoint did not move"
    );

    let rows: Vec<(String, u64, u64, u64, u64, u64)> = conn
        .query(format!(
            "SELECT method, missing, stale, extra, repaired_windows, remaining_windows FROM `{db}`.wdt_sync_verify \
             WHERE method = 'Refund.search' ORDER BY id"
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].1..=rows[0].3, 1..=1, "{rows:?}");
    // At least one narrowed range per damaged row differs; the repair re-syncs every one of them.
    assert_eq!(rows[0].4, 0, "{rows:?}");
    assert!(rows[0].5 >= 3, "{rows:?}");
    assert_eq!((rows[1].4, rows[1].5), (rows[0].5, 1), "{rows:?}");

    // Without the extra row the range matches.
    conn.query_drop(format!("DELETE FROM `{db}`.{FLAT} WHERE refund_id = {extra}"))
        .await
        .unwrap();
    let out = status(&run_verify(&db, &[], &[]), 0);
    assert!(out.ends_with("result: the range matches WDT\n"), "{out}");
    let shown = status(&program(&db, &[], &["status"]), 0);
    assert!(
        shown.contains(", 0 missing, 0 stale, 0 extra; matches WDT; "),
        "{shown}"
    );
    drop(conn);
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_table_verifies_at_one_request_per_window_and_method() {
    let t = TestDb::new("app_verify_clean").await;
    let db = t.name.clone();
    status(&program(&db, &[], &["run", "--once"]), 0);
    let out = status(&run_verify(&db, &[], &[]), 0);
    assert!(out.contains("Refund.search (4 windows)"), "{out}");
    assert!(out.contains("Refund.searchHistory (4 windows)"), "{out}");
    assert!(!out.contains("differs in"), "{out}");
    let (used, floor) = requests(&out);
    assert_eq!(used, 4 * 2, "one request per window and method: {out}");
    assert!(floor >= used, "{out}");
    // At page size 1 a full re-sync needs a request per refund; the verify still needs 8.
    let out = status(&run_verify(&db, &["--page-size", "1"], &["--no-history"]), 0);
    let (used, floor) = requests(&out);
    assert_eq!(used, 4, "{out}");
    assert!(floor > 200, "{out}");
    let mut conn = t.pool.get_conn().await.unwrap();
    let recorded: Vec<(String, u64, u64, u64)> = conn
        .query(format!(
            "SELECT method, requests, windows, differing_windows FROM `{db}`.wdt_sync_verify ORDER BY id"
        ))
        .await
        .unwrap();
    assert_eq!(recorded.len(), 3, "{recorded:?}");
    assert_eq!(recorded[0], ("Refund.search".into(), 8, 4, 0));
    assert_eq!(recorded[1].0, "Refund.searchHistory");
    drop(conn);
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_refunds_are_counted_through_the_history_method() {
    let t = TestDb::new("app_verify_history").await;
    let db = t.name.clone();
    let archive: &[&str] = &["--sim-archive-after", "30days"];
    status(&program(&db, archive, &["run", "--once"]), 0);
    let mut conn = t.pool.get_conn().await.unwrap();
    let (archived, _) = one_in(&mut conn, &db, FROM, "2025-02-09 00:00:00", "history").await;
    let out = status(&run_verify(&db, archive, &[]), 0);
    let history = out.split("Refund.searchHistory (").nth(1).expect("a history block");
    let counts = wdt_counts(history);
    assert_eq!(counts.len(), 4, "{out}");
    assert!(counts.iter().sum::<u64>() > 20, "the archive is counted: {out}");
    conn.query_drop(format!("DELETE FROM `{db}`.{FLAT} WHERE refund_id = {archived}"))
        .await
        .unwrap();
    let out = status(&run_verify(&db, archive, &[]), 4);
    let (live, history) = out.split_once("Refund.searchHistory (").expect("a history block");
    assert!(!live.contains("missing refund ids"), "{out}");
    assert!(history.contains(&format!("missing refund ids: {archived}\n")), "{out}");
    drop(conn);
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_normalized_layout_is_counted_in_wdt_refund() {
    let t = TestDb::new("app_verify_normalized").await;
    let db = t.name.clone();
    let layout: &[&str] = &["--layout", "normalized"];
    status(&program(&db, layout, &["run", "--once"]), 0);
    let out = status(&run_verify(&db, layout, &["--no-history"]), 0);
    assert!(out.ends_with("result: the range matches WDT\n"), "{out}");
    let mut conn = t.pool.get_conn().await.unwrap();
    let id: i64 = conn
        .query_first(format!(
            "SELECT refund_id FROM `{db}`.wdt_refund WHERE modified BETWEEN '2025-01-22 00:00:00' AND '{TO}' \
             ORDER BY refund_id LIMIT 1"
        ))
        .await
        .unwrap()
        .unwrap();
    conn.query_drop(format!("DELETE FROM `{db}`.wdt_refund WHERE refund_id = {id}"))
        .await
        .unwrap();
    let out = status(&run_verify(&db, layout, &["--no-history"]), 4);
    assert!(out.contains(&format!("missing refund ids: {id}\n")), "{out}");
    drop(conn);
    t.drop().await;
}

/// The flat table's `modified` of refund `id` as the simulator has it now (Beijing).
fn modified_in(sim: &wdt_qimen::simulator::Simulator, id: i64) -> NaiveDateTime {
    let v = sim
        .snapshot()
        .into_iter()
        .find(|v| v["refund_id"].to_string().trim_matches('"') == id.to_string())
        .unwrap_or_else(|| panic!("refund {id} is not in the simulator"));
    let ms: i64 = v["modified"].to_string().trim_matches('"').parse().unwrap();
    wdt_qimen::time::from_epoch_ms(ms).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_that_changes_between_the_counts_is_not_reported_when_the_recount_agrees() {
    use std::sync::{Arc, Mutex};

    use wdt_qimen::simulator::{Simulator, WDT_APP_KEY, WDT_APP_SECRET, WDT_SID};
    use wdt_refund_sync::verify::{self, Method, RecountHook};

    let t = TestDb::new("app_verify_recount").await;
    let db = t.name.clone();
    let sim = Simulator::builder()
        .refunds(600)
        .time_range(
            wdt_qimen::time::parse_wdt("2025-01-01 00:00:00").unwrap(),
            wdt_qimen::time::parse_wdt("2025-03-01 00:00:00").unwrap(),
        )
        .start()
        .await;
    // The account reads the test's own simulator (natively), so the test changes its refunds.
    let text = format!(
        "[mysql]\nurl = \"{}\"\n[schedule]\nmax_window = \"7days\"\nhistory = false\n\
         [[account]]\nname = \"shop\"\nroute = \"native\"\nrate_limit = 1000\nstart = \"2025-01-01 00:00:00\"\n\
         [account.wdt]\nurl = \"{}\"\nsid = \"{WDT_SID}\"\napp_key = \"{WDT_APP_KEY}\"\n\
         app_secret_env = \"TEST_VERIFY_SECRET\"\n",
        common::db_url(&db),
        sim.native_url()
    );
    let path = std::env::temp_dir().join(format!("wdt-app-{}-verify-recount.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(common::binary())
        .args(["--config", path.to_str().unwrap(), "run", "--once"])
        .env_remove("MYSQL_URL")
        .env_remove("ALERT_WEBHOOK")
        .env("TEST_VERIFY_SECRET", WDT_APP_SECRET)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    status(&out, 0);
    let settings = wdt_refund_sync::cli::Settings {
        config: Some(path.clone()),
        ..Default::default()
    };
    let once = wdt_refund_sync::cli::RunArgs {
        once: true,
        ..Default::default()
    };
    let env = |name: &str| (name == "TEST_VERIFY_SECRET").then(|| WDT_APP_SECRET.to_owned());
    let plan = wdt_refund_sync::config::resolve(&settings, Some(&once), &env).unwrap();
    let vs = verify::VerifySettings::of(&wdt_refund_sync::cli::VerifyArgs {
        from: Some(wdt_qimen::time::parse_wdt(FROM).unwrap()),
        to: Some(wdt_qimen::time::parse_wdt(TO).unwrap()),
        account: None,
        verify_min_window: None,
        repair: false,
    })
    .unwrap();
    let pool = plan.mysql.shared_pool();
    let mut conn = t.pool.get_conn().await.unwrap();
    let counted = |hook: RecountHook| {
        let (plan, pool, vs) = (&plan, &pool, &vs);
        async move {
            verify::verify_account_with(plan, pool, &plan.accounts[0], vs, Some(hook))
                .await
                .unwrap()
                .0
        }
    };

    // A refund of W2 (01-27 .. 02-03) is modified in WDT after the sync read it: WDT now lists it
    // in a later window, its row still in W2 (W2: stored one more). Between the first count and
    // the re-count the live sync writes its new version (here: its stored `modified`), and W2
    // agrees again.
    let (moved, _) = one_in(&mut conn, &db, "2025-01-28 00:00:00", "2025-02-02 00:00:00", "live").await;
    assert!(sim.set_status_now(moved as u64, 90));
    let now = modified_in(&sim, moved);
    let calls: Arc<Mutex<Vec<(Method, NaiveDateTime, NaiveDateTime)>>> = Arc::default();
    let hook: RecountHook = {
        let (calls, pool, db) = (calls.clone(), t.pool.clone(), db.clone());
        Arc::new(move |m, w| {
            calls.lock().unwrap().push((m, w.from, w.to));
            let (pool, db) = (pool.clone(), db.clone());
            Box::pin(async move {
                let mut c = pool.get_conn().await.unwrap();
                c.query_drop(format!(
                    "UPDATE `{db}`.{FLAT} SET modified = '{}' WHERE refund_id = {moved}",
                    now.format("%Y-%m-%d %H:%M:%S%.3f")
                ))
                .await
                .unwrap();
            })
        })
    };
    let v = counted(hook).await;
    // W2 as the verify plans it (the windows of a range share their boundary seconds).
    let w2 = (
        wdt_qimen::time::parse_wdt("2025-01-26 23:59:59").unwrap(),
        wdt_qimen::time::parse_wdt("2025-02-02 23:59:59").unwrap(),
    );
    assert_eq!(
        *calls.lock().unwrap(),
        [(Method::Live, w2.0, w2.1)],
        "W2 differed once and was counted again"
    );
    assert!(!v.differs(), "{}", verify::render(&v, false));
    let live = &v.methods[0];
    assert!(live.narrowed.is_empty(), "{}", verify::render(&v, false));
    assert!(live.windows.iter().all(|c| !c.differs()), "{:?}", live.windows);

    // The residual case: a refund modified the same way whose new version is not stored by the
    // re-count still makes its old window differ, named as extra (its row is where WDT no longer
    // lists it), and is kept.
    let (late, _) = one_in(&mut conn, &db, "2025-02-04 00:00:00", "2025-02-09 00:00:00", "live").await;
    assert!(sim.set_status_now(late as u64, 90));
    let nothing: RecountHook = Arc::new(|_, _| Box::pin(async {}));
    let v = counted(nothing).await;
    assert!(v.differs(), "{}", verify::render(&v, false));
    let live = &v.methods[0];
    assert_eq!(
        live.named.extra.iter().copied().collect::<Vec<_>>(),
        [late],
        "{}",
        verify::render(&v, false)
    );
    assert!(
        live.named.missing.is_empty() && live.named.stale.is_empty(),
        "{}",
        verify::render(&v, false)
    );
    assert!(stored(&mut conn, &db, late).await.is_some(), "the row is kept");
    let _ = pool.disconnect().await;
    drop(conn);
    std::fs::remove_file(path).unwrap();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_verify_of_a_run_repairs_with_verify_repair_and_is_not_due_again_at_once() {
    let t = TestDb::new("app_verify_scheduled").await;
    let db = t.name.clone();
    let mut conn = t.pool.get_conn().await.unwrap();
    status(&program(&db, &[], &["run", "--once"]), 0);
    let (deleted, _) = one_in(&mut conn, &db, "2025-02-04 00:00:00", "2025-02-09 00:00:00", "live").await;
    conn.query_drop(format!("DELETE FROM `{db}`.{FLAT} WHERE refund_id = {deleted}"))
        .await
        .unwrap();
    // The last 800 days reach back before the data set (January and February 2025).
    let scheduled = [
        "run",
        "--once",
        "--verify-every",
        "1d",
        "--verify-days",
        "800",
        "--verify-repair",
    ];
    let out = status(&program(&db, &[], &scheduled), 0);
    assert!(out.contains(&format!("missing refund ids: {deleted}\n")), "{out}");
    assert!(out.contains("    repaired "), "{out}");
    assert!(out.contains("result: repaired; the range now matches WDT"), "{out}");
    assert!(
        stored(&mut conn, &db, deleted).await.is_some(),
        "the deleted refund is back"
    );
    let rows: Vec<(String, u64, u64, u64)> = conn
        .query(format!(
            "SELECT method, missing, repaired_windows, remaining_windows FROM `{db}`.wdt_sync_verify ORDER BY id"
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].0, "Refund.search");
    assert_eq!(rows[0].1, 1, "{rows:?}");
    assert!(rows[0].2 >= 1 && rows[0].3 == 0, "{rows:?}");
    // A day has not passed since: the next run does not verify.
    let out = status(&program(&db, &[], &scheduled), 0);
    assert!(!out.contains("verify "), "{out}");
    let n: u64 = conn
        .query_first(format!("SELECT COUNT(*) FROM `{db}`.wdt_sync_verify"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 2);
    drop(conn);
    t.drop().await;
}
