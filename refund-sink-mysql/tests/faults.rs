//! MySqlSink against a database that stops answering, restarts under it, or is left behind:
//! nothing hangs, nothing is half-written, and a restart in the middle of a sync is ridden
//! through.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use common::proxy::Proxy;
use common::server::PrivateServer;
use common::*;
use futures::FutureExt;
use mysql_async::prelude::Queryable;
use refund_sink_mysql::sink::DEFAULT_TIMEOUT;
use refund_sink_mysql::{BeforeCommitHook, CommitContext, MySqlSink, SinkError};
use wdt_qimen::limit::RateLimitConfig;
use wdt_qimen::retry::RetryConfig;
use wdt_qimen::simulator::Simulator;
use wdt_qimen::sync::{Checkpoint, Sink, SyncConfig, SyncEngine};
use wdt_qimen::time::{from_epoch_ms, to_beijing};
use wdt_qimen::{Client, Route};

const FLAT: &str = "aftersales_refund_refund_search";

/// A failure of the code under test to return at all, as a test failure rather than a hang.
async fn or_hang<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(300), f)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

/// The full error chain, as a user sees it.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Waits until connection `id` is gone from the server (bounded; not a timing assertion).
async fn wait_until_closed(db: &TestDb, id: u64) -> bool {
    let mut c = db.conn().await;
    for _ in 0..300 {
        let n: Option<u64> = c
            .query_first(format!(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {id}"
            ))
            .await
            .unwrap();
        if n == Some(0) {
            c.disconnect().await.unwrap();
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// The connection that is storing a checkpoint, once there is one: with the checkpoint row
/// locked, it waits there for the lock. (`information_schema.PROCESSLIST`, since MariaDB's
/// `INNODB_TRX` does not always list a waiting transaction.)
async fn checkpoint_waiter(db: &TestDb) -> u64 {
    let mut c = db.conn().await;
    for _ in 0..500 {
        let id: Option<u64> = c
            .query_first(
                "SELECT ID FROM information_schema.PROCESSLIST \
                 WHERE DB = DATABASE() AND INFO LIKE 'INSERT INTO `wdt_sync_state`%'",
            )
            .await
            .unwrap();
        if let Some(id) = id {
            c.disconnect().await.unwrap();
            return id;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no connection started storing the checkpoint");
}

/// Stores refund 1 with checkpoint `at(10)`, then locks the checkpoint row from another
/// connection (returned), so the next commit writes its rows and then waits at its checkpoint.
async fn checkpoint_locked(db: &TestDb, sink: &MySqlSink) -> mysql_async::Conn {
    sink.commit(batch(vec![refund(1, at(1, 0), 1)], Some(at(10, 0))))
        .await
        .unwrap();
    let mut locker = db.conn().await;
    // Should the test fail while it holds the lock, the server ends it (dropping the test
    // database would wait for it).
    locker
        .query_drop("SET SESSION idle_transaction_timeout = 30")
        .await
        .unwrap();
    locker.query_drop("START TRANSACTION").await.unwrap();
    locker
        .query_drop("SELECT * FROM wdt_sync_state FOR UPDATE")
        .await
        .unwrap();
    locker
}

/// What the first batch left: refund 1 and checkpoint `at(10)`, nothing of a later batch.
async fn only_the_first_batch(db: &TestDb, sink: &MySqlSink) {
    let ids = db
        .rows(&format!("SELECT DISTINCT refund_id FROM `{FLAT}` ORDER BY 1"))
        .await;
    assert_eq!(
        ids,
        vec![vec![s("1")]],
        "rows of a batch that did not commit are visible"
    );
    let mut c = db.conn().await;
    let end: Option<NaiveDateTime> = c.query_first("SELECT window_end FROM wdt_sync_state").await.unwrap();
    assert_eq!(end, Some(at(10, 0)));
    c.disconnect().await.unwrap();
    let _ = sink;
}

#[tokio::test(start_paused = true)]
async fn a_server_that_never_answers_fails_the_start_up_with_the_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts and holds every connection, never sends a byte.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let built = or_hang(
        "the start-up",
        MySqlSink::builder(format!("mysql://root@127.0.0.1:{port}/test")).build(),
    )
    .await;
    let e = built.unwrap_err();
    assert!(
        matches!(e, SinkError::Timeout { after, .. } if after == DEFAULT_TIMEOUT),
        "{e:?}"
    );
    let text = chain(&e);
    assert!(
        text.contains("MySqlSinkBuilder::timeout") && text.contains("120s"),
        "{text}"
    );
}

#[tokio::test]
async fn a_commit_that_gets_no_answer_times_out_closes_its_connection_and_keeps_nothing() {
    let db = TestDb::new("blackhole").await;
    let proxy = Proxy::start(base_addr().await).await;
    let switch = proxy.switch();
    let (armed, connection) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU32::new(0)));
    // Once armed, the next COMMIT goes into a black hole.
    let hook: BeforeCommitHook = {
        let (armed, connection) = (armed.clone(), connection.clone());
        Arc::new(move |ctx: CommitContext| {
            if armed.swap(false, Ordering::SeqCst) {
                connection.store(ctx.connection_id, Ordering::SeqCst);
                switch.send_replace(true);
            }
            async { Ok(()) }.boxed()
        })
    };
    let sink = MySqlSink::builder(url_through(&db.url, proxy.port()))
        .timeout(Duration::from_secs(2))
        .connection_retry_budget(Duration::ZERO)
        .before_commit(hook)
        .build()
        .await
        .unwrap();
    sink.commit(batch(vec![refund(1, at(1, 0), 1)], Some(at(10, 0))))
        .await
        .unwrap();

    armed.store(true, Ordering::SeqCst);
    let e = or_hang(
        "the commit",
        sink.commit(batch(vec![refund(2, at(2, 0), 2)], Some(at(20, 0)))),
    )
    .await
    .unwrap_err();
    let text = chain(&e);
    assert!(
        matches!(&e, SinkError::ConnectionLost { last, .. } if matches!(**last, SinkError::Timeout { .. })),
        "{text}"
    );
    assert!(
        text.contains("MySqlSinkBuilder::timeout") && text.contains("connection_retry_budget"),
        "{text}"
    );
    // The sink closed the connection rather than pooling it: the server sees it go and rolls
    // its transaction back.
    let id = u64::from(connection.load(Ordering::SeqCst));
    assert!(wait_until_closed(&db, id).await, "connection {id} was left open");
    only_the_first_batch(&db, &sink).await;

    // Once the network is back, the next commit runs on a new connection.
    proxy.thaw();
    let r = sink
        .commit(batch(vec![refund(3, at(3, 0), 1)], Some(at(30, 0))))
        .await
        .unwrap();
    assert_eq!(r.inserted, 1);
    assert_eq!(db.count(FLAT).await, 2);
    sink.disconnect().await.unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn abandon_rolls_back_the_commit_in_flight_and_refuses_later_ones() {
    let db = TestDb::new("abandon").await;
    let sink = db.sink().build().await.unwrap();
    let mut locker = checkpoint_locked(&db, &sink).await;

    let committing = tokio::spawn({
        let sink = sink.clone();
        async move { sink.commit(batch(vec![refund(2, at(2, 0), 2)], Some(at(20, 0)))).await }
    });
    // The batch's rows are written; its checkpoint waits for the lock (up to the server's 50 s).
    let waiter = checkpoint_waiter(&db).await;
    sink.abandon();
    let e = or_hang("the abandoned commit", committing).await.unwrap().unwrap_err();
    assert!(matches!(e, SinkError::Abandoned), "{e:?}");
    // The server notices the closed connection once its statement no longer waits for the
    // lock, and rolls the transaction back.
    locker.query_drop("ROLLBACK").await.unwrap();
    locker.disconnect().await.unwrap();
    assert!(
        wait_until_closed(&db, waiter).await,
        "the abandoned connection stayed open"
    );
    only_the_first_batch(&db, &sink).await;

    // For good: later commits and reads fail at once.
    let later = sink.commit(batch(vec![refund(3, at(3, 0), 1)], Some(at(30, 0)))).await;
    assert!(matches!(later, Err(SinkError::Abandoned)), "{later:?}");
    assert!(matches!(
        sink.load_checkpoint(&stream()).await,
        Err(SinkError::Abandoned)
    ));
    assert_eq!(db.count(FLAT).await, 1);
    db.drop_db().await;
}

#[tokio::test]
async fn a_commit_dropped_between_statements_leaves_nothing_and_its_connection_is_not_reused() {
    let db = TestDb::new("dropped").await;
    // Once armed, the hook (run with the batch written but not committed) never returns: the
    // commit is dropped there, between two statements of its open transaction.
    let (armed, inside) = (Arc::new(AtomicBool::new(false)), Arc::new(tokio::sync::Notify::new()));
    let connection = Arc::new(AtomicU32::new(0));
    let hook: BeforeCommitHook = {
        let (armed, inside, connection) = (armed.clone(), inside.clone(), connection.clone());
        Arc::new(move |ctx: CommitContext| {
            let stall = armed.swap(false, Ordering::SeqCst);
            let (inside, connection) = (inside.clone(), connection.clone());
            async move {
                if stall {
                    connection.store(ctx.connection_id, Ordering::SeqCst);
                    inside.notify_one();
                    std::future::pending::<()>().await;
                }
                Ok(())
            }
            .boxed()
        })
    };
    // A pool that keeps one idle connection, so one that went back to the pool would be the
    // next one used, without COM_RESET_CONNECTION (which would roll its transaction back).
    let url = format!("{}?inactive_connection_ttl=60&reset_connection=false", db.url);
    let sink = MySqlSink::builder(url)
        .max_connections(1)
        .before_commit(hook)
        .build()
        .await
        .unwrap();
    sink.commit(batch(vec![refund(1, at(1, 0), 1)], Some(at(10, 0))))
        .await
        .unwrap();

    armed.store(true, Ordering::SeqCst);
    {
        let commit = sink.commit(batch(vec![refund(2, at(2, 0), 2)], Some(at(20, 0))));
        tokio::pin!(commit);
        tokio::select! {
            r = &mut commit => panic!("the stalled commit ended: {r:?}"),
            _ = inside.notified() => {}
        }
        // The commit future is dropped here.
    }
    let id = u64::from(connection.load(Ordering::SeqCst));
    let closed = wait_until_closed(&db, id).await;
    if !closed {
        // Close the pool, or its open transaction would block dropping the database.
        let _ = sink.clone().disconnect().await;
    }
    assert!(
        closed,
        "the connection of the dropped commit went back to the pool with its transaction open"
    );
    only_the_first_batch(&db, &sink).await;

    let r = sink
        .commit(batch(vec![refund(3, at(3, 0), 1)], Some(at(30, 0))))
        .await
        .unwrap();
    assert_eq!(r.inserted, 1);
    let ids = db
        .rows(&format!("SELECT DISTINCT refund_id FROM `{FLAT}` ORDER BY 1"))
        .await;
    assert_eq!(
        ids,
        vec![vec![s("1")], vec![s("3")]],
        "the dropped batch was committed later"
    );
    assert_eq!(
        sink.load_checkpoint(&stream()).await.unwrap(),
        Some(Checkpoint { window_end: at(30, 0) })
    );
    sink.disconnect().await.unwrap();
    db.drop_db().await;
}

/// refund_id -> (modified, detail rec_ids; {0} for a refund without lines).
type Table = BTreeMap<i64, (NaiveDateTime, BTreeSet<i64>)>;

fn number(v: &serde_json::Value) -> i64 {
    v.to_string().trim_matches('"').parse().expect("an integer")
}

fn simulator_data(sim: &Simulator) -> Table {
    sim.snapshot()
        .iter()
        .map(|v| {
            let lines: BTreeSet<i64> = v
                .get("detail_list")
                .and_then(|d| d.as_array())
                .map(|d| d.iter().map(|l| number(&l["rec_id"])).collect())
                .unwrap_or_default();
            let lines = if lines.is_empty() { BTreeSet::from([0]) } else { lines };
            (
                number(&v["refund_id"]),
                (from_epoch_ms(number(&v["modified"])).unwrap(), lines),
            )
        })
        .collect()
}

async fn stored(conn: &mut mysql_async::Conn) -> Table {
    let rows: Vec<(i64, NaiveDateTime, i64)> = conn
        .query(format!("SELECT refund_id, modified, detail_list_rec_id FROM `{FLAT}`"))
        .await
        .unwrap();
    let mut out = Table::new();
    for (id, m, rec) in rows {
        let e = out.entry(id).or_insert_with(|| (m, BTreeSet::new()));
        assert_eq!(e.0, m, "rows of refund {id} disagree on modified");
        e.1.insert(rec);
    }
    out
}

/// The server is stopped (SIGTERM) in the middle of a sync, while a batch is about to commit,
/// and started again 10 s later on the same data directory. The sink retries the batch until
/// the server is back and the run ends with the table equal to the source data.
///
/// Whether the interrupted `COMMIT` went through before the server stopped is left to chance:
/// either way is correct. If it did, its answer was lost and the batch is committed again,
/// which changes nothing (the rows are written newer-wins, the checkpoint only moves forward).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_in_the_middle_of_a_sync_is_ridden_through() {
    let mut server = PrivateServer::start(&[]).await;
    server.create_db("sync").await;

    let now = to_beijing(chrono::Utc::now());
    let sim = Simulator::builder()
        .seed(16)
        .refunds(3000)
        .time_range(now - TimeDelta::days(10), now - TimeDelta::hours(1))
        .latency(Duration::from_millis(2))
        .start()
        .await;
    let client = Client::builder(Route::Qimen {
        url: sim.qimen_url(),
        qimen: sim.qimen_credentials(),
        wdt: sim.wdt_credentials(),
    })
    .rate_limit(RateLimitConfig::unlimited())
    .retry(RetryConfig::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5)))
    .build()
    .unwrap();
    let mut cfg = SyncConfig::default();
    cfg.start = now - TimeDelta::days(11);
    cfg.settle_lag = TimeDelta::zero();
    cfg.page_size = 50;
    cfg.max_pages_per_window = 1000;
    cfg.batch_refunds = 200;

    // On the first attempt of the third batch: stop the server. Later attempts are retries.
    let (first_attempts, retries) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_tx = std::sync::Mutex::new(Some(stop_tx));
    let hook: BeforeCommitHook = {
        let (first_attempts, retries) = (first_attempts.clone(), retries.clone());
        Arc::new(move |ctx: CommitContext| {
            if ctx.attempt == 1 {
                if first_attempts.fetch_add(1, Ordering::SeqCst) == 2 {
                    if let Some(tx) = stop_tx.lock().unwrap().take() {
                        let _ = tx.send(());
                    }
                }
            } else {
                retries.fetch_add(1, Ordering::SeqCst);
            }
            async { Ok(()) }.boxed()
        })
    };
    let sink = MySqlSink::builder(server.url("sync", ""))
        .before_commit(hook)
        .build()
        .await
        .unwrap();
    let engine = SyncEngine::new(client, sink.clone(), cfg);

    let restart = async {
        stop_rx.await.expect("the third batch was committed");
        server.stop().await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        server.start_again().await;
    };
    let (report, ()) = tokio::join!(engine.run(), restart);
    let report = report.unwrap_or_else(|e| panic!("the run failed: {e}: {}", server.log_tail()));
    assert_eq!(server.starts, 2, "the server was restarted");
    assert!(
        retries.load(Ordering::SeqCst) >= 1,
        "no commit was retried after the restart: the test could not fail"
    );
    assert!(report.refunds >= 3000, "{report:?}");

    let mut conn = mysql_async::Conn::from_url(server.url("sync", "")).await.unwrap();
    let (want, have) = (simulator_data(&sim), stored(&mut conn).await);
    let differences: Vec<String> = want
        .iter()
        .filter(|(id, w)| have.get(id) != Some(w))
        .map(|(id, w)| format!("{id}: stored {:?}, data {w:?}", have.get(id)))
        .chain(
            have.keys()
                .filter(|k| !want.contains_key(k))
                .map(|k| format!("{k} extra")),
        )
        .collect();
    assert!(
        differences.is_empty(),
        "{} differences, first: {:?}",
        differences.len(),
        &differences[..differences.len().min(8)]
    );
    conn.disconnect().await.unwrap();
    sink.disconnect().await.unwrap();
}
