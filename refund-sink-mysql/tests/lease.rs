//! Stream leases against a real MariaDB: one winner per race, takeover after expiry, lost
//! leases seen by renewals, keep-alive and commits, release, byte-for-byte stream keys, and the
//! schema upgrade that adds the lease and run tables.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;
use refund_sink_mysql::{LeaseLoss, LeaseOutcome, LeaseOwner, MySqlSink, SinkError};
use tokio::sync::Barrier;
use wdt_qimen::sync::{Sink, StreamId};

const TABLE: &str = "wdt_sync_lease";

fn owner(name: &str) -> LeaseOwner {
    LeaseOwner::new(name, std::process::id())
}

async fn sinks(db: &TestDb, n: usize) -> Vec<MySqlSink> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(db.sink().max_connections(2).build().await.unwrap());
    }
    out
}

/// Moves a stream's lease expiry into the past, as if its holder stalled (a frozen process,
/// a long GC pause) for longer than the ttl while the database's clock went on.
async fn expire(db: &TestDb, stream: &StreamId) {
    let mut c = db.conn().await;
    c.exec_drop(
        format!("UPDATE `{TABLE}` SET `expires_at` = NOW(6) - INTERVAL 1 SECOND WHERE `account` = ? AND `method` = ?"),
        (stream.account.as_str(), stream.method.as_str()),
    )
    .await
    .unwrap();
    c.disconnect().await.unwrap();
}

fn expect_lost(e: SinkError) -> LeaseLoss {
    match e {
        SinkError::LeaseLost { loss, .. } => *loss,
        other => panic!("expected a lost lease, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_acquirers_on_separate_pools_get_exactly_one_winner_per_round() {
    let db = TestDb::new("lease_race").await;
    const CONTENDERS: usize = 4;
    const ROUNDS: u64 = 25;
    let sinks = sinks(&db, CONTENDERS).await;
    let ttl = Duration::from_secs(60);
    // A new stream each round races on the INSERT; `shared` races on the takeover of a
    // released row.
    let shared = StreamId::new("race-shared", "aftersales.refund.Refund.search");
    for round in 0..ROUNDS {
        let fresh = StreamId::new(format!("race-{round}"), "aftersales.refund.Refund.search");
        for stream in [&fresh, &shared] {
            let barrier = Arc::new(Barrier::new(CONTENDERS));
            let tasks: Vec<_> = sinks
                .iter()
                .enumerate()
                .map(|(i, sink)| {
                    let (sink, barrier, stream) = (sink.clone(), barrier.clone(), stream.clone());
                    let me = owner(&format!("contender-{i}"));
                    tokio::spawn(async move {
                        barrier.wait().await;
                        let outcome = sink.lease_as(&stream, ttl, &me).await.unwrap();
                        (me, outcome)
                    })
                })
                .collect();
            let mut winners = Vec::new();
            let mut holders = Vec::new();
            for t in tasks {
                match t.await.unwrap() {
                    (me, LeaseOutcome::Acquired(lease)) => {
                        assert_eq!(lease.owner(), &me);
                        winners.push(lease);
                    }
                    (_, LeaseOutcome::HeldBy(holder)) => holders.push(holder),
                }
            }
            assert_eq!(winners.len(), 1, "round {round}, {stream}: {winners:?}");
            let winner = winners.pop().unwrap();
            let want_generation = if *stream == shared { round + 1 } else { 1 };
            assert_eq!(winner.generation(), want_generation, "round {round}, {stream}");
            for h in &holders {
                assert_eq!(&h.owner, winner.owner(), "round {round}: the losers see the winner");
                assert_eq!(h.generation, winner.generation());
            }
            winner.release().await.unwrap();
        }
    }
    let rows = db
        .rows(&format!(
            "SELECT `generation`, `released_at` IS NOT NULL FROM `{TABLE}` WHERE `account` = 'race-shared'"
        ))
        .await;
    assert_eq!(rows, vec![vec![Some(ROUNDS.to_string()), s("1")]]);
    assert_eq!(db.count(TABLE).await, ROUNDS + 1);
    db.drop_db().await;
}

#[tokio::test]
async fn a_holder_that_stops_renewing_is_taken_over_after_the_expiry() {
    let db = TestDb::new("lease_takeover").await;
    let [a, b]: [MySqlSink; 2] = sinks(&db, 2).await.try_into().unwrap();
    let stream = stream();
    let ttl = Duration::from_secs(2);
    let first = a
        .lease_as(&stream, ttl, &owner("host-a"))
        .await
        .unwrap()
        .acquired()
        .unwrap();
    assert_eq!(first.generation(), 1);
    assert!(first.is_held());
    // Killed (kill -9): no renewal, no release.
    drop(first);

    let held = match b.lease_as(&stream, ttl, &owner("host-b")).await.unwrap() {
        LeaseOutcome::HeldBy(h) => h,
        LeaseOutcome::Acquired(l) => panic!("taken before the expiry: {l:?}"),
    };
    assert_eq!(held.owner.host, "host-a");
    assert_eq!(held.generation, 1);
    assert!(held.expires_in <= ttl, "{held:?}");
    let line = format!("skipped: {held}");
    assert!(
        line.contains("held by host-a:") && line.contains("generation 1"),
        "{line}"
    );

    tokio::time::sleep(held.expires_in + Duration::from_millis(200)).await;
    let second = b
        .lease_as(&stream, ttl, &owner("host-b"))
        .await
        .unwrap()
        .acquired()
        .expect("taken over after the expiry");
    assert_eq!(second.generation(), 2);
    let rows = db
        .rows(&format!(
            "SELECT `owner_host`, `generation`, `acquired_at` < `expires_at` FROM `{TABLE}`"
        ))
        .await;
    assert_eq!(rows, vec![vec![s("host-b"), s("2"), s("1")]]);
    second.release().await.unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn a_stalled_holder_that_was_taken_over_can_neither_renew_nor_commit() {
    let db = TestDb::new("lease_fence").await;
    let [a, b]: [MySqlSink; 2] = sinks(&db, 2).await.try_into().unwrap();
    let stream = stream();
    let ttl = Duration::from_secs(60);
    let stalled = a
        .lease_as(&stream, ttl, &owner("host-a"))
        .await
        .unwrap()
        .acquired()
        .unwrap();
    let lost = stalled.lost();
    // While it holds the lease, its batches commit (and touch the heartbeat).
    a.commit(batch(vec![refund(1, at(10, 0), 1)], Some(at(100, 0))))
        .await
        .unwrap();
    stalled.renew().await.unwrap();

    expire(&db, &stream).await;
    let taker = b
        .lease_as(&stream, ttl, &owner("host-b"))
        .await
        .unwrap()
        .acquired()
        .unwrap();
    assert_eq!(taker.generation(), 2);

    // The stalled holder's next batch is rolled back: nothing of it is stored.
    let e = a
        .commit(batch(vec![refund(2, at(20, 0), 1)], Some(at(200, 0))))
        .await
        .unwrap_err();
    assert!(e.is_lease_lost(), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("test-sid/") && text.contains("host-b"), "{text}");
    match expect_lost(e) {
        LeaseLoss::TakenOver(Some(h)) => assert_eq!((h.owner.host.as_str(), h.generation), ("host-b", 2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        db.rows("SELECT `refund_id` FROM `aftersales_refund_refund_search` ORDER BY 1")
            .await,
        vec![vec![s("1")]]
    );
    assert!(!stalled.is_held());
    assert!(matches!(lost.await, LeaseLoss::TakenOver(Some(_))));
    assert!(stalled.renew().await.unwrap_err().is_lease_lost());
    assert!(stalled.release().await.unwrap_err().is_lease_lost());

    // The new holder commits, and its row is untouched by the ex-owner.
    b.commit(batch(vec![refund(2, at(20, 0), 1)], Some(at(200, 0))))
        .await
        .unwrap();
    let rows = db
        .rows(&format!(
            "SELECT `owner_host`, `generation`, `released_at` FROM `{TABLE}`"
        ))
        .await;
    assert_eq!(rows, vec![vec![s("host-b"), s("2"), None]]);
    taker.release().await.unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn a_renewal_after_a_takeover_reports_the_new_holder() {
    let db = TestDb::new("lease_renew").await;
    let [a, b]: [MySqlSink; 2] = sinks(&db, 2).await.try_into().unwrap();
    let stream = stream();
    let ttl = Duration::from_secs(60);
    let old = a
        .lease_as(&stream, ttl, &owner("host-a"))
        .await
        .unwrap()
        .acquired()
        .unwrap();
    expire(&db, &stream).await;
    let new = b
        .lease_as(&stream, ttl, &owner("host-b"))
        .await
        .unwrap()
        .acquired()
        .unwrap();
    match expect_lost(old.renew().await.unwrap_err()) {
        LeaseLoss::TakenOver(Some(h)) => {
            assert_eq!(h.owner, *new.owner());
            assert_eq!(h.generation, 2);
        }
        other => panic!("{other:?}"),
    }
    assert!(!old.is_held() && new.is_held());
    new.renew().await.unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn keep_alive_holds_the_lease_past_its_ttl_and_reports_a_takeover() {
    let db = TestDb::new("lease_keepalive").await;
    let [a, b]: [MySqlSink; 2] = sinks(&db, 2).await.try_into().unwrap();
    let stream = stream();
    let ttl = Duration::from_secs(2);
    let lease = a
        .lease_as(&stream, ttl, &owner("host-a"))
        .await
        .unwrap()
        .acquired()
        .unwrap();
    lease.keep_alive();
    lease.keep_alive();
    tokio::time::sleep(ttl * 3).await;
    assert!(lease.is_held());
    match b.lease_as(&stream, ttl, &owner("host-b")).await.unwrap() {
        LeaseOutcome::HeldBy(h) => assert_eq!((h.owner.host.as_str(), h.generation), ("host-a", 1)),
        LeaseOutcome::Acquired(l) => panic!("renewed lease taken: {l:?}"),
    }

    // Taken over behind its back (as after a stall the keep-alive did not notice): the next
    // renewal sees it.
    let mut c = db.conn().await;
    c.query_drop(format!(
        "UPDATE `{TABLE}` SET `owner_host` = 'host-c', `owner_token` = 'c', `generation` = `generation` + 1"
    ))
    .await
    .unwrap();
    c.disconnect().await.unwrap();
    let loss = tokio::time::timeout(Duration::from_secs(60), lease.lost())
        .await
        .expect("the keep-alive reports the loss");
    match loss {
        LeaseLoss::TakenOver(Some(h)) => assert_eq!((h.owner.host.as_str(), h.generation), ("host-c", 2)),
        other => panic!("{other:?}"),
    }
    assert!(!lease.is_held());
    db.drop_db().await;
}

#[tokio::test]
async fn a_lease_left_unrenewed_counts_as_lost_by_its_holder() {
    let db = TestDb::new("lease_expired").await;
    let sink = db.sink().build().await.unwrap();
    let lease = sink
        .lease(&stream(), Duration::from_secs(1))
        .await
        .unwrap()
        .acquired()
        .unwrap();
    assert_eq!(lease.owner().pid, std::process::id());
    let loss = tokio::time::timeout(Duration::from_secs(60), lease.lost())
        .await
        .unwrap();
    assert_eq!(loss, LeaseLoss::Expired);
    assert!(!lease.is_held());
    assert_eq!(expect_lost(lease.renew().await.unwrap_err()), LeaseLoss::Expired);
    // Its sink's commits for the stream stop too.
    let e = sink
        .commit(batch(vec![refund(1, at(10, 0), 0)], None))
        .await
        .unwrap_err();
    assert!(e.is_lease_lost(), "{e:?}");
    drop(lease);
    // Dropped, it no longer fences the sink.
    sink.commit(batch(vec![refund(1, at(10, 0), 0)], None)).await.unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn a_release_lets_the_next_runner_in_at_once() {
    let db = TestDb::new("lease_release").await;
    let [a, b]: [MySqlSink; 2] = sinks(&db, 2).await.try_into().unwrap();
    let stream = stream();
    let ttl = Duration::from_secs(600);
    let first = a
        .lease_as(&stream, ttl, &owner("host-a"))
        .await
        .unwrap()
        .acquired()
        .unwrap();
    assert!(matches!(
        b.lease_as(&stream, ttl, &owner("host-b")).await.unwrap(),
        LeaseOutcome::HeldBy(_)
    ));
    first.release().await.unwrap();
    let second = b
        .lease_as(&stream, ttl, &owner("host-b"))
        .await
        .unwrap()
        .acquired()
        .expect("free after the release");
    assert_eq!(second.generation(), 2);

    // The same owner asking again keeps its generation.
    let me = second.owner().clone();
    let again = b.lease_as(&stream, ttl, &me).await.unwrap().acquired().unwrap();
    assert_eq!(again.generation(), 2);
    db.drop_db().await;
}

#[tokio::test]
async fn waiting_for_a_lease_ends_when_its_holder_releases_it_or_the_wait_runs_out() {
    let db = TestDb::new("lease_wait").await;
    let [a, b]: [MySqlSink; 2] = sinks(&db, 2).await.try_into().unwrap();
    let stream = stream();
    let ttl = Duration::from_secs(600);
    let first = a
        .lease_as(&stream, ttl, &owner("host-a"))
        .await
        .unwrap()
        .acquired()
        .unwrap();
    match b.lease_wait(&stream, ttl, Duration::from_millis(300)).await.unwrap() {
        LeaseOutcome::HeldBy(h) => assert_eq!(h.owner.host, "host-a"),
        LeaseOutcome::Acquired(l) => panic!("{l:?}"),
    }
    let waiter = {
        let (b, stream) = (b.clone(), stream.clone());
        tokio::spawn(async move { b.lease_wait(&stream, ttl, Duration::from_secs(120)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "the waiter got a held lease");
    first.release().await.unwrap();
    let got = waiter
        .await
        .unwrap()
        .unwrap()
        .acquired()
        .expect("acquired after the release");
    assert_eq!(got.generation(), 2);
    db.drop_db().await;
}

#[tokio::test]
async fn streams_that_differ_only_in_case_trailing_space_or_width_have_separate_leases() {
    let db = TestDb::new("lease_keys").await;
    let sink = db.sink().build().await.unwrap();
    let ttl = Duration::from_secs(60);
    let mut leases = Vec::new();
    for account in ["Shop1", "shop1", "Shop1 ", "Ｓｈｏｐ１"] {
        let stream = StreamId::new(account, "aftersales.refund.Refund.search");
        let lease = sink
            .lease_as(&stream, ttl, &owner(account))
            .await
            .unwrap()
            .acquired()
            .unwrap_or_else(|| panic!("{account:?} was held by another stream's owner"));
        assert_eq!(lease.generation(), 1, "{account:?}");
        leases.push(lease);
    }
    let rows = db
        .rows(&format!(
            "SELECT HEX(`account`), `owner_host` = `account` FROM `{TABLE}` ORDER BY 1"
        ))
        .await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows.iter().all(|r| r[1] == s("1")), "{rows:?}");
    db.drop_db().await;
}

#[tokio::test]
async fn bad_lease_settings_are_refused_naming_the_value() {
    let db = TestDb::new("lease_bad").await;
    let sink = db.sink().build().await.unwrap();
    let e = sink
        .lease(&stream(), Duration::from_millis(10))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("ttl 10ms") && e.contains("from 1 s"), "{e}");
    let long = StreamId::new("a".repeat(129), "m");
    let e = sink.lease(&long, Duration::from_secs(5)).await.unwrap_err().to_string();
    assert!(e.contains("128 characters"), "{e}");
    assert_eq!(db.count(TABLE).await, 0);
    db.drop_db().await;
}

#[tokio::test]
async fn a_database_of_schema_version_2_gains_the_lease_and_run_tables() {
    let db = TestDb::new("lease_upgrade").await;
    // A database as version 2 left it: its tables, rows and a checkpoint, without the new ones.
    let sink = db.sink().build().await.unwrap();
    sink.commit(batch(vec![refund(1, at(10, 0), 2)], Some(at(100, 0))))
        .await
        .unwrap();
    sink.disconnect().await.unwrap();
    let mut c = db.conn().await;
    c.query_drop("DROP TABLE `wdt_sync_lease`, `wdt_sync_run`")
        .await
        .unwrap();
    c.query_drop("DELETE FROM `wdt_schema_version` WHERE `version` > 2")
        .await
        .unwrap();
    c.disconnect().await.unwrap();

    let e = db.sink().create_tables(false).build().await.unwrap_err().to_string();
    assert!(e.contains("`wdt_sync_lease`") && e.contains("create_statements"), "{e}");

    let sink = db.sink().build().await.unwrap();
    assert_eq!(
        db.rows("SELECT `version` FROM `wdt_schema_version` ORDER BY 1").await,
        vec![vec![s("1")], vec![s("2")], vec![s("3")], vec![s("4")]]
    );
    assert_eq!(db.count("aftersales_refund_refund_search").await, 2);
    assert_eq!(
        sink.load_checkpoint(&stream()).await.unwrap().map(|c| c.window_end),
        Some(at(100, 0))
    );
    let collations = db
        .rows(
            "SELECT TABLE_NAME, COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('wdt_sync_lease', 'wdt_sync_run') \
             AND COLUMN_NAME IN ('account', 'method', 'owner_token', 'token') ORDER BY 1, 2",
        )
        .await;
    let want: Vec<Vec<Option<String>>> = [
        ("wdt_sync_lease", "account"),
        ("wdt_sync_lease", "method"),
        ("wdt_sync_lease", "owner_token"),
        ("wdt_sync_run", "account"),
        ("wdt_sync_run", "method"),
        ("wdt_sync_run", "token"),
    ]
    .iter()
    .map(|(t, c)| vec![s(t), s(c), s("utf8mb4_nopad_bin")])
    .collect();
    assert_eq!(collations, want);
    sink.lease(&stream(), Duration::from_secs(5))
        .await
        .unwrap()
        .acquired()
        .unwrap();
    // Now complete, it starts without creating anything.
    db.sink().create_tables(false).build().await.unwrap();
    db.drop_db().await;
}

/// The nodes of the MariaDB Galera cluster of `scripts/galera.sh` (`WDT_GALERA_NODES`:
/// comma-separated URLs, one per node); `None` when the variable is not set, and the cross-node
/// tests are skipped.
fn galera_urls() -> Option<Vec<String>> {
    let urls: Vec<String> = std::env::var("WDT_GALERA_NODES")
        .ok()?
        .split(',')
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect();
    assert!(urls.len() >= 2, "WDT_GALERA_NODES names fewer than two nodes: {urls:?}");
    Some(urls)
}

/// A database made through the first node, once every node has it (causal reads), and its URL
/// on each node.
async fn galera_db(urls: &[String], tag: &str) -> (String, Vec<String>) {
    let name = format!("wdt_sink_{tag}_{}", std::process::id());
    let mut c = mysql_async::Conn::from_url(urls[0].as_str()).await.unwrap();
    c.query_drop(format!("DROP DATABASE IF EXISTS `{name}`")).await.unwrap();
    c.query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    for url in &urls[1..] {
        let mut c = mysql_async::Conn::from_url(url.as_str()).await.unwrap();
        // `wsrep_sync_wait` makes a SELECT wait for what the cluster committed before it (a
        // `USE` does not wait); the query then sees the database.
        c.query_drop("SET SESSION wsrep_sync_wait = 1").await.unwrap();
        let seen: Option<String> = c
            .exec_first(
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (name.as_str(),),
            )
            .await
            .unwrap();
        assert_eq!(seen.as_deref(), Some(name.as_str()), "{url}: the new database");
        c.disconnect().await.unwrap();
    }
    (name.clone(), urls.iter().map(|u| url_with_db(u, &name)).collect())
}

async fn galera_drop(urls: &[String], name: &str) {
    let mut c = mysql_async::Conn::from_url(urls[0].as_str()).await.unwrap();
    c.query_drop(format!("DROP DATABASE IF EXISTS `{name}`")).await.unwrap();
    c.disconnect().await.unwrap();
}

/// Certification failures and brute-force aborts so far, summed over the nodes.
async fn galera_conflicts(urls: &[String]) -> u64 {
    let mut total = 0;
    for url in urls {
        let mut c = mysql_async::Conn::from_url(url.as_str()).await.unwrap();
        let rows: Vec<(String, String)> = c
            .query("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_cert_failures', 'wsrep_local_bf_aborts')")
            .await
            .unwrap();
        total += rows.iter().map(|(_, v)| v.parse::<u64>().unwrap_or(0)).sum::<u64>();
        c.disconnect().await.unwrap();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn galera_acquirers_on_different_nodes_get_exactly_one_winner_per_round() {
    let Some(nodes) = galera_urls() else {
        eprintln!("skipped: WDT_GALERA_NODES is not set (start a cluster with scripts/galera.sh start)");
        return;
    };
    let (name, urls) = galera_db(&nodes, "galera_lease_race").await;
    // Two contenders per node, each on its own pool; the schema is made through one node first.
    MySqlSink::builder(urls[0].clone()).build().await.unwrap();
    let mut contenders = Vec::new();
    for round in 0..2 {
        for url in &urls {
            let sink = MySqlSink::builder(url.clone())
                .max_connections(2)
                .build()
                .await
                .unwrap();
            contenders.push((sink, owner(&format!("node{}-{round}", contenders.len()))));
        }
    }
    let conflicts_before = galera_conflicts(&nodes).await;
    let stream = stream();
    let ttl = Duration::from_secs(60);
    const ROUNDS: u64 = 30;
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(contenders.len()));
        let tasks: Vec<_> = contenders
            .iter()
            .map(|(sink, me)| {
                let (sink, me, barrier, stream) = (sink.clone(), me.clone(), barrier.clone(), stream.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    sink.lease_as(&stream, ttl, &me).await.unwrap()
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            if let LeaseOutcome::Acquired(lease) = t.await.unwrap() {
                winners.push(lease);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let winner = winners.pop().unwrap();
        assert_eq!(winner.generation(), round + 1);
        winner.release().await.unwrap();
    }
    let conflicts = galera_conflicts(&nodes).await - conflicts_before;
    eprintln!("galera lease race: {ROUNDS} rounds, {conflicts} certification failures or brute-force aborts");
    galera_drop(&nodes, &name).await;
}

#[tokio::test]
async fn galera_a_stalled_holder_cannot_commit_after_a_takeover_through_another_node() {
    let Some(nodes) = galera_urls() else {
        eprintln!("skipped: WDT_GALERA_NODES is not set (start a cluster with scripts/galera.sh start)");
        return;
    };
    let (name, urls) = galera_db(&nodes, "galera_lease_fence").await;
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let (entered_tx, mut entered_rx) = tokio::sync::mpsc::unbounded_channel();
    let hook: refund_sink_mysql::BeforeCommitHook = Arc::new(move |ctx| {
        let (mut rx, entered) = (release_rx.clone(), entered_tx.clone());
        Box::pin(async move {
            if ctx.attempt == 1 {
                let _ = entered.send(());
                let _ = rx.wait_for(|go| *go).await;
            }
            Ok(())
        })
    });
    let a = MySqlSink::builder(urls[0].clone())
        .before_commit(hook)
        .build()
        .await
        .unwrap();
    let b = MySqlSink::builder(urls[1].clone()).build().await.unwrap();
    let stream = stream();
    let ttl = Duration::from_secs(60);
    let stalled = a
        .lease_as(&stream, ttl, &owner("node-a"))
        .await
        .unwrap()
        .acquired()
        .unwrap();
    let mut c = mysql_async::Conn::from_url(urls[0].as_str()).await.unwrap();
    c.query_drop("UPDATE `wdt_sync_lease` SET `expires_at` = NOW(6) - INTERVAL 1 SECOND")
        .await
        .unwrap();

    // Node A's batch has passed its fence and waits before COMMIT; node B takes the lease over.
    let commit = {
        let a = a.clone();
        tokio::spawn(async move { a.commit(batch(vec![refund(1, at(10, 0), 1)], Some(at(100, 0)))).await })
    };
    entered_rx.recv().await.unwrap();
    let taker = b
        .lease_as(&stream, ttl, &owner("node-b"))
        .await
        .unwrap()
        .acquired()
        .unwrap();
    assert_eq!(taker.generation(), 2);
    release_tx.send_replace(true);
    let e = commit.await.unwrap().unwrap_err();
    assert!(e.is_lease_lost(), "{e:?}");
    drop(stalled);

    let rows: Vec<u64> = c
        .query("SELECT COUNT(*) FROM `aftersales_refund_refund_search`")
        .await
        .unwrap();
    assert_eq!(rows, vec![0], "the stalled holder's batch must not be stored");
    c.disconnect().await.unwrap();
    galera_drop(&nodes, &name).await;
}
