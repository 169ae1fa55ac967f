//! Sinks sharing one bounded pool ([`SharedPool`]): many sinks, a few connections, reused.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures::FutureExt;
use refund_sink_mysql::{CommitContext, LeaseOutcome, SharedPool, SinkError};
use wdt_qimen::sync::{Checkpoint, Sink};

#[tokio::test]
async fn sinks_of_one_shared_pool_use_its_connections_and_leave_it_open() {
    let db = TestDb::new("shared_pool").await;
    let pool = SharedPool::new(db.url.clone(), 1);
    let seen: Arc<Mutex<BTreeSet<u32>>> = Arc::default();
    let mut sinks = Vec::new();
    for prefix in ["a_", "b_", "c_"] {
        let seen = seen.clone();
        let hook: refund_sink_mysql::BeforeCommitHook = Arc::new(move |c: CommitContext| {
            seen.lock().unwrap().insert(c.connection_id);
            async { Ok(()) }.boxed()
        });
        let sink = db
            .sink()
            .table_prefix(prefix)
            .pool(pool.clone())
            .before_commit(hook)
            .build()
            .await
            .unwrap();
        sinks.push(sink);
    }
    // Each sink commits under its stream's lease, all at once: one connection serves them
    // all, and it stays open between the commits (a pool that closed every connection it got
    // back would give each commit a new one).
    let runs = sinks.iter().enumerate().map(|(i, sink)| async move {
        let lease = match sink.lease(&stream(), Duration::from_secs(30)).await.unwrap() {
            LeaseOutcome::Acquired(l) => l,
            LeaseOutcome::HeldBy(h) => panic!("held: {h}"),
        };
        for n in 0..3i64 {
            let id = 100 * i as i64 + n;
            sink.commit(batch(vec![refund(id, at(10 + n, 0), 1)], Some(at(20 + n, 0))))
                .await
                .unwrap();
        }
        lease.release().await.unwrap();
    });
    futures::future::join_all(runs).await;
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "connections used: {:?}",
        seen.lock().unwrap()
    );
    for prefix in ["a_", "b_", "c_"] {
        assert_eq!(db.count(&format!("{prefix}aftersales_refund_refund_search")).await, 3);
    }
    // A sink's disconnect leaves the shared pool to the others.
    let first = sinks.remove(0);
    first.disconnect().await.unwrap();
    assert_eq!(
        sinks[0].load_checkpoint(&stream()).await.unwrap(),
        Some(Checkpoint { window_end: at(22, 0) })
    );
    // A sink for another URL is refused, naming both (without passwords).
    let other = format!("{}_other", db.url);
    let e = refund_sink_mysql::MySqlSink::builder(other)
        .pool(pool.clone())
        .build()
        .await
        .unwrap_err();
    assert!(matches!(e, SinkError::InvalidConfig { .. }), "{e}");
    assert!(e.to_string().contains("not the URL of its shared pool"), "{e}");
    pool.disconnect().await.unwrap();
    db.drop_db().await;
}
