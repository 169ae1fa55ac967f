//! MySqlSink on a 3-node MariaDB Galera cluster: what is written through one node reads back
//! exactly through the others, certification conflicts between nodes are retried and the newest
//! version wins, and a node killed mid-run stops nothing.
//!
//! Skipped unless `WDT_GALERA_NODES` lists the three nodes' URLs, comma-separated (`.ci/run`
//! starts the cluster with `scripts/galera.sh start` and sets it from `scripts/galera.sh urls`).
//! The node-kill test kills and restarts node 3 with the same script, so the cluster must be
//! the script's (with the same `WDT_GALERA_*` settings). The tests take turns on the cluster.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDateTime;
use common::*;
use futures::FutureExt;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use refund_sink_mysql::{BeforeCommitHook, CommitContext, Layout, MySqlSink};
use tokio::sync::oneshot;
use wdt_qimen::model::Refund;
use wdt_qimen::sync::{Checkpoint, CommitReport, Sink};

const FLAT: &str = "aftersales_refund_refund_search";
const TABLES: [&str; 4] = [FLAT, "wdt_refund", "wdt_refund_detail", "wdt_refund_amount_detail"];

/// One test on the cluster at a time (the node-kill test takes a node away).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The three node URLs, or `None` (with a note) when `WDT_GALERA_NODES` is not set.
fn nodes() -> Option<[String; 3]> {
    let Ok(list) = std::env::var("WDT_GALERA_NODES") else {
        eprintln!("skipped: WDT_GALERA_NODES is not set (start a cluster with scripts/galera.sh start)");
        return None;
    };
    let urls: Vec<String> = list
        .split(',')
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect();
    match <[String; 3]>::try_from(urls) {
        Ok(urls) => Some(urls),
        Err(urls) => panic!("WDT_GALERA_NODES must list three node URLs, got {urls:?}"),
    }
}

/// The test database `db` on node `node`.
fn on(node: &str, db: &TestDb) -> String {
    url_with_db(node, &db.name)
}

/// A connection to `node` (no database) whose reads wait until the node has applied every
/// transaction and DDL committed anywhere in the cluster before the read (`wsrep_sync_wait`).
async fn causal(node: &str) -> Conn {
    let mut c = Conn::from_url(node).await.unwrap();
    c.query_drop("SET SESSION wsrep_sync_wait = 1").await.unwrap();
    c.query_drop("SELECT 1").await.unwrap();
    c
}

/// A test database made through node 1, once every node has it (a node applies another node's
/// `CREATE DATABASE` a moment later).
async fn cluster_db(nodes: &[String; 3], tag: &str) -> TestDb {
    let db = TestDb::on(&nodes[0], tag).await;
    for node in &nodes[1..] {
        let mut c = causal(node).await;
        c.query_drop(format!("USE `{}`", db.name)).await.unwrap();
        c.disconnect().await.unwrap();
    }
    db
}

/// Rows of `sql` on `db`, read through `node` with [`causal`] reads.
async fn read_via(node: &str, db: &TestDb, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut c = causal(node).await;
    c.query_drop(format!("USE `{}`", db.name)).await.unwrap();
    let rows = query_rows(&mut c, sql).await;
    c.disconnect().await.unwrap();
    rows
}

/// Every data table of `prefix` (layout `both`), whole, read through `node`.
async fn tables_via(node: &str, db: &TestDb, prefix: &str) -> Vec<Vec<Vec<Option<String>>>> {
    let mut out = Vec::new();
    for t in TABLES {
        out.push(read_via(node, db, &format!("SELECT * FROM `{prefix}{t}` ORDER BY 1, 2")).await);
    }
    out
}

/// A global status counter of `node`.
async fn status(node: &str, name: &str) -> u64 {
    let mut c = Conn::from_url(node).await.unwrap();
    let v: Option<String> = c
        .exec_first(
            "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = ?",
            (name.to_ascii_uppercase(),),
        )
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    v.and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The version of each refund the tables of layout `both` hold: its `modified` in `wdt_refund`,
/// its line keys (line 0 for none) with `modified` in the flat table, its line keys in
/// `wdt_refund_detail`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Expected {
    refunds: Vec<Vec<Option<String>>>,
    flat_keys: Vec<Vec<Option<String>>>,
    detail_keys: Vec<Vec<Option<String>>>,
}

fn fmt_ms(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// What the tables must hold once `newest` (refund id → its newest copy) is written.
fn expected(newest: &BTreeMap<i64, Refund>) -> Expected {
    let mut e = Expected::default();
    for r in newest.values() {
        let id = r.refund_id.to_string();
        let modified = r.modified.map(fmt_ms);
        e.refunds.push(vec![Some(id.clone()), modified.clone()]);
        if r.detail_list.is_empty() {
            e.flat_keys.push(vec![Some(id.clone()), s("0"), modified.clone()]);
        }
        for l in &r.detail_list {
            let rec = l.rec_id.unwrap().to_string();
            e.flat_keys
                .push(vec![Some(id.clone()), Some(rec.clone()), modified.clone()]);
            e.detail_keys.push(vec![Some(id.clone()), Some(rec)]);
        }
    }
    e
}

/// What `prefix` holds, read through `node`, in the shape of [`Expected`].
async fn stored_via(node: &str, db: &TestDb, prefix: &str) -> Expected {
    Expected {
        refunds: read_via(
            node,
            db,
            &format!("SELECT refund_id, modified FROM `{prefix}wdt_refund` ORDER BY 1"),
        )
        .await,
        flat_keys: read_via(
            node,
            db,
            &format!("SELECT refund_id, detail_list_rec_id, modified FROM `{prefix}{FLAT}` ORDER BY 1, 2"),
        )
        .await,
        detail_keys: read_via(
            node,
            db,
            &format!("SELECT refund_id, rec_id FROM `{prefix}wdt_refund_detail` ORDER BY 1, 2"),
        )
        .await,
    }
}

/// Keeps the newest copy of each refund in `newest`.
fn remember(newest: &mut BTreeMap<i64, Refund>, records: &[Refund]) {
    for r in records {
        match newest.get(&r.refund_id) {
            Some(old) if old.modified > r.modified => {}
            _ => {
                newest.insert(r.refund_id, r.clone());
            }
        }
    }
}

async fn sink_on(url: String, prefix: &str) -> MySqlSink {
    MySqlSink::builder(url)
        .layout(Layout::Both)
        .table_prefix(prefix)
        .max_retries(30)
        .retry_backoff(Duration::from_millis(5), Duration::from_millis(200))
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn writes_through_one_node_read_back_exactly_through_the_others() {
    let Some(nodes) = nodes() else { return };
    let _turn = SERIAL.lock().await;
    let db = cluster_db(&nodes, "galera_rw").await;
    let fast = sink_on(on(&nodes[0], &db), "a_").await;
    let slow = MySqlSink::builder(on(&nodes[0], &db))
        .layout(Layout::Both)
        .table_prefix("b_")
        .local_infile(false)
        .build()
        .await
        .unwrap();
    assert!(fast.uses_local_infile(), "the cluster's nodes allow LOAD DATA LOCAL");

    // 3,000 refunds in batches of 500, then a third of them changed (lines added and removed)
    // and some older copies that must not win.
    let first: Vec<Refund> = (1..=3000).map(|i| refund(i, at(i, 7), (i % 4) as usize)).collect();
    let mut second: Vec<Refund> = (1..=3000)
        .step_by(3)
        .map(|i| refund(i, at(10_000 + i, 0), ((i + 1) % 4) as usize))
        .collect();
    second.extend((2..=3000).step_by(300).map(|i| refund(i, at(0, 0), 3)));
    let mut newest = BTreeMap::new();
    let mut end = 0;
    for records in [first, second] {
        for chunk in records.chunks(500) {
            end += 1;
            let a = fast.commit(batch(chunk.to_vec(), Some(at(end, 0)))).await.unwrap();
            let b = slow.commit(batch(chunk.to_vec(), Some(at(end, 0)))).await.unwrap();
            assert_eq!(a, b);
            remember(&mut newest, chunk);
        }
    }
    let want = expected(&newest);
    assert_eq!(want.refunds.len(), 3000);

    let written = tables_via(&nodes[0], &db, "a_").await;
    assert_eq!(written, tables_via(&nodes[0], &db, "b_").await, "both write paths");
    for node in &nodes[1..] {
        assert_eq!(stored_via(node, &db, "a_").await, want, "{node}");
        assert!(
            tables_via(node, &db, "a_").await == written,
            "{node}: every column of every row"
        );
        // One checkpoint per data table of the layout, all at the last window's end.
        let cp = read_via(node, &db, "SELECT window_end FROM a_wdt_sync_state").await;
        let tables = refund_sink_mysql::schema::Table::data_tables(refund_sink_mysql::Layout::Both).len();
        assert_eq!(
            cp,
            vec![vec![Some(at(end, 0).format("%Y-%m-%d %H:%M:%S%.6f").to_string())]; tables],
            "{node}"
        );
        let money = read_via(node, &db, "SELECT SUM(actual_refund_amount) FROM a_wdt_refund").await;
        assert_eq!(money, vec![vec![s("370350.0000")]], "{node}: 3,000 × 123.45");
    }
    fast.disconnect().await.unwrap();
    slow.disconnect().await.unwrap();
    db.drop_db().await;
}

/// A hook that, on the first attempt of the first commit, tells `ready` and waits for `go`.
fn pause_first_commit(ready: oneshot::Sender<()>, go: oneshot::Receiver<()>) -> BeforeCommitHook {
    let slot = Arc::new(Mutex::new(Some((ready, go))));
    Arc::new(move |_ctx: CommitContext| {
        let taken = slot.lock().unwrap().take();
        async move {
            if let Some((ready, go)) = taken {
                let _ = ready.send(());
                tokio::time::timeout(Duration::from_secs(120), go).await??;
            }
            Ok(())
        }
        .boxed()
    })
}

#[tokio::test]
async fn certification_conflicts_between_nodes_are_retried_and_the_newest_version_wins() {
    let Some(nodes) = nodes() else { return };
    let _turn = SERIAL.lock().await;
    let db = cluster_db(&nodes, "galera_cert").await;

    // A (node 1) holds its transaction open before COMMIT while B (node 2) commits the same
    // refunds: node-local locks do not stop B, so A's COMMIT fails certification (1213) and the
    // sink runs A again. Even refunds are newer in A, odd ones in B.
    let (ready_tx, ready_rx) = oneshot::channel();
    let (go_tx, go_rx) = oneshot::channel();
    let a = MySqlSink::builder(on(&nodes[0], &db))
        .layout(Layout::Both)
        .retry_backoff(Duration::from_millis(5), Duration::from_millis(50))
        .before_commit(pause_first_commit(ready_tx, go_rx))
        .build()
        .await
        .unwrap();
    let b = sink_on(on(&nodes[1], &db), "").await;
    let version = |id: i64, side: i64| refund(id, at(100 + (id + side) % 2, 0), 1 + ((id + side) % 3) as usize);
    let a_records: Vec<Refund> = (1..=50).map(|id| version(id, 1)).collect();
    let b_records: Vec<Refund> = (1..=50).map(|id| version(id, 0)).collect();
    let conflicts_before =
        status(&nodes[0], "wsrep_local_cert_failures").await + status(&nodes[0], "wsrep_local_bf_aborts").await;
    let a_commit = tokio::spawn({
        let a = a.clone();
        let records = a_records.clone();
        async move { a.commit(batch(records, Some(at(100, 0)))).await }
    });
    tokio::time::timeout(Duration::from_secs(120), ready_rx)
        .await
        .expect("A reaches its COMMIT")
        .unwrap();
    b.commit(batch(b_records.clone(), Some(at(100, 0)))).await.unwrap();
    go_tx.send(()).unwrap();
    let ra: CommitReport = a_commit.await.unwrap().unwrap();
    let conflicts_after =
        status(&nodes[0], "wsrep_local_cert_failures").await + status(&nodes[0], "wsrep_local_bf_aborts").await;
    assert!(ra.retries >= 1, "A's first COMMIT lost to B's: {ra:?}");
    assert!(
        conflicts_after > conflicts_before,
        "node 1 counted a certification conflict"
    );
    assert_eq!(ra.skipped_older, 25, "the retry saw B's newer even refunds: {ra:?}");
    let mut newest = BTreeMap::new();
    remember(&mut newest, &a_records);
    remember(&mut newest, &b_records);
    assert_eq!(stored_via(&nodes[2], &db, "").await, expected(&newest));

    // Then both write overlapping batches at once, round after round; whatever conflicts is
    // retried, and node 3 ends up with the newest copy of every refund.
    let mut retries = 0;
    for round in 1..=6i64 {
        let make = |side: i64| -> Vec<Refund> {
            (1..=300)
                .map(|id| {
                    refund(
                        id,
                        at(1000 * round + (id + side) % 2, 0),
                        1 + ((id + round + side) % 3) as usize,
                    )
                })
                .collect()
        };
        let (ra, rb) = (make(1), make(0));
        let (x, y) = tokio::join!(
            a.commit(batch(ra.clone(), Some(at(1000 * round, 0)))),
            b.commit(batch(rb.clone(), Some(at(1000 * round, 0))))
        );
        retries += x.unwrap().retries + y.unwrap().retries;
        remember(&mut newest, &ra);
        remember(&mut newest, &rb);
    }
    eprintln!("concurrent rounds: {retries} retries");
    assert_eq!(stored_via(&nodes[2], &db, "").await, expected(&newest));
    assert_eq!(
        tables_via(&nodes[2], &db, "").await,
        tables_via(&nodes[0], &db, "").await
    );
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    db.drop_db().await;
}

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/galera.sh");

/// `scripts/galera.sh` with `args`; panics with its output when it fails.
async fn galera_script(args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || std::process::Command::new(SCRIPT).args(&args).output())
        .await
        .unwrap()
        .expect("run scripts/galera.sh");
    assert!(
        out.status.success(),
        "scripts/galera.sh failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts node 3 again when the test that killed it fails before doing so itself, so the
/// tests after it find a whole cluster.
struct RestartNode3;

impl Drop for RestartNode3 {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = std::process::Command::new(SCRIPT).args(["restart", "3"]).status();
        }
    }
}

#[tokio::test]
async fn a_node_killed_mid_run_loses_nothing() {
    let Some(nodes) = nodes() else { return };
    let _turn = SERIAL.lock().await;
    let _restart = RestartNode3;
    let db = cluster_db(&nodes, "galera_kill").await;

    // Node 3 is killed (-9) inside the fourth batch's transaction, just before its COMMIT.
    let commits = Arc::new(AtomicU32::new(0));
    let hook: BeforeCommitHook = {
        let commits = commits.clone();
        Arc::new(move |ctx: CommitContext| {
            let n = commits.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n == 4 && ctx.attempt == 1 {
                    galera_script(&["kill", "3"]).await;
                }
                Ok(())
            }
            .boxed()
        })
    };
    let sink = MySqlSink::builder(on(&nodes[0], &db))
        .layout(Layout::Both)
        .before_commit(hook)
        .build()
        .await
        .unwrap();
    let mut newest = BTreeMap::new();
    for k in 0..12i64 {
        let records: Vec<Refund> = (1..=200)
            .map(|i| {
                let id = k * 100 + i; // half of each batch rewrites the previous one's
                refund(id, at(k * 1000 + i, 0), ((id + k) % 4) as usize)
            })
            .collect();
        sink.commit(batch(records.clone(), Some(at(k * 1000, 0))))
            .await
            .unwrap();
        remember(&mut newest, &records);
    }
    assert!(commits.load(Ordering::SeqCst) >= 12);
    // The commit after the kill waited for the cluster to give node 3 up.
    assert_eq!(
        status(&nodes[0], "wsrep_cluster_size").await,
        2,
        "node 3 was gone while the sink wrote"
    );
    let want = expected(&newest);
    assert_eq!(stored_via(&nodes[1], &db, "").await, want);
    let written = tables_via(&nodes[0], &db, "").await;
    assert!(
        tables_via(&nodes[1], &db, "").await == written,
        "node 2: every column of every row"
    );
    assert_eq!(
        sink.load_checkpoint(&stream()).await.unwrap(),
        Some(Checkpoint {
            window_end: at(11_000, 0)
        })
    );

    // Node 3 comes back, catches up, and reads the same.
    galera_script(&["restart", "3"]).await;
    assert_eq!(stored_via(&nodes[2], &db, "").await, want);
    assert!(
        tables_via(&nodes[2], &db, "").await == written,
        "node 3 after rejoining"
    );
    sink.disconnect().await.unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn sinks_starting_at_once_on_different_nodes_all_start() {
    let Some(nodes) = nodes() else { return };
    let _turn = SERIAL.lock().await;
    // The schema lock (`GET_LOCK`) is local to a node: both sinks create the tables and record
    // the schema version at the same time, on their own nodes.
    let db = cluster_db(&nodes, "galera_setup").await;
    for round in 0..12 {
        let prefix = format!("r{round}_");
        let (x, y) = tokio::join!(
            MySqlSink::builder(on(&nodes[0], &db)).table_prefix(&prefix).build(),
            MySqlSink::builder(on(&nodes[1], &db)).table_prefix(&prefix).build()
        );
        for (node, started) in [(1, x), (2, y)] {
            match started {
                Ok(sink) => sink.disconnect().await.unwrap(),
                Err(e) => panic!(
                    "round {round}, the sink on node {node}: {e}: {:?}",
                    std::error::Error::source(&e)
                ),
            }
        }
        let versions = read_via(
            &nodes[2],
            &db,
            &format!("SELECT version FROM `{prefix}wdt_schema_version` ORDER BY version"),
        )
        .await;
        // Every schema version up to the current one, each recorded once.
        let want: Vec<Vec<Option<String>>> = (1..=refund_sink_mysql::schema::SCHEMA_VERSION)
            .map(|v| vec![s(&v.to_string())])
            .collect();
        assert_eq!(versions, want, "round {round}");
    }
    db.drop_db().await;
}

#[tokio::test]
async fn sinks_starting_at_once_on_different_nodes_migrate_a_version_3_database_once() {
    let Some(nodes) = nodes() else { return };
    let _turn = SERIAL.lock().await;
    // The schema lock is local to a node: both sinks run the account migration's steps (TOI DDL)
    // side by side, each planning again from the table when the other's step wins.
    let db = cluster_db(&nodes, "galera_migrate").await;
    let mut c = Conn::from_url(on(&nodes[0], &db)).await.unwrap();
    create_v3_schema(&mut c).await;
    fill_v3_rows(&mut c, &["shop-a"]).await;
    c.disconnect().await.unwrap();
    // Node 2 has applied all of it before its sink starts.
    assert_eq!(
        read_via(&nodes[1], &db, &format!("SELECT COUNT(*) FROM `{FLAT}`")).await,
        vec![vec![s("3")]]
    );
    let (x, y) = tokio::join!(
        MySqlSink::builder(on(&nodes[0], &db)).layout(Layout::Both).build(),
        MySqlSink::builder(on(&nodes[1], &db)).layout(Layout::Both).build()
    );
    for (node, started) in [(1, x), (2, y)] {
        match started {
            Ok(sink) => sink.disconnect().await.unwrap(),
            Err(e) => panic!("the sink on node {node}: {e}: {:?}", std::error::Error::source(&e)),
        }
    }
    for (table, old_key) in V3_DATA_TABLES {
        let key = read_via(
            &nodes[2],
            &db,
            &format!(
                "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) FROM information_schema.STATISTICS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}' AND INDEX_NAME = 'PRIMARY'"
            ),
        )
        .await;
        assert_eq!(key, vec![vec![s(&format!("account,{old_key}"))]], "{table}");
    }
    assert_eq!(
        read_via(
            &nodes[2],
            &db,
            &format!("SELECT account, refund_id, detail_list_rec_id FROM `{FLAT}` ORDER BY 2, 3")
        )
        .await,
        vec![
            vec![s("shop-a"), s("1"), s("11")],
            vec![s("shop-a"), s("1"), s("12")],
            vec![s("shop-a"), s("2"), s("0")],
        ]
    );
    let want: Vec<Vec<Option<String>>> = (1..=refund_sink_mysql::schema::SCHEMA_VERSION)
        .map(|v| vec![s(&v.to_string())])
        .collect();
    assert_eq!(
        read_via(
            &nodes[2],
            &db,
            "SELECT version FROM wdt_schema_version ORDER BY version"
        )
        .await,
        want
    );
    db.drop_db().await;
}

/// Known gap, left to the write path: in the flat layout a refund's rows share no key across
/// versions whose line sets are disjoint (here no lines, stored as line 0, versus line 71), and
/// `SELECT … FOR UPDATE` locks only on its own node, so two nodes committing such versions at
/// the same moment both pass certification and the table keeps both versions' rows. The
/// normalized tables are safe: every version writes its `wdt_refund` row.
#[tokio::test]
#[ignore = "known gap: flat-layout versions with disjoint line sets are not certified against each other"]
async fn flat_versions_with_disjoint_lines_committed_at_once_on_two_nodes_do_not_mix() {
    let Some(nodes) = nodes() else { return };
    let _turn = SERIAL.lock().await;
    let db = cluster_db(&nodes, "galera_disjoint").await;
    let (ready_a, ready_a_rx) = oneshot::channel();
    let (go_a, go_a_rx) = oneshot::channel();
    let (ready_b, ready_b_rx) = oneshot::channel();
    let (go_b, go_b_rx) = oneshot::channel();
    let a = MySqlSink::builder(on(&nodes[0], &db))
        .before_commit(pause_first_commit(ready_a, go_a_rx))
        .build()
        .await
        .unwrap();
    let b = MySqlSink::builder(on(&nodes[1], &db))
        .before_commit(pause_first_commit(ready_b, go_b_rx))
        .build()
        .await
        .unwrap();
    let older = refund(7, at(10, 0), 0);
    let newer = refund(7, at(20, 0), 1);
    let ha = tokio::spawn({
        let a = a.clone();
        async move { a.commit(batch(vec![older], None)).await }
    });
    let hb = tokio::spawn({
        let b = b.clone();
        async move { b.commit(batch(vec![newer], None)).await }
    });
    // Both transactions are open, their lookups done, before either commits.
    ready_a_rx.await.unwrap();
    ready_b_rx.await.unwrap();
    go_a.send(()).unwrap();
    go_b.send(()).unwrap();
    ha.await.unwrap().unwrap();
    hb.await.unwrap().unwrap();
    let rows = read_via(
        &nodes[2],
        &db,
        &format!("SELECT refund_id, detail_list_rec_id, modified FROM `{FLAT}` ORDER BY 1, 2"),
    )
    .await;
    assert_eq!(rows, vec![vec![s("7"), s("71"), s("2024-03-01 00:00:20.000")]]);
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    db.drop_db().await;
}
