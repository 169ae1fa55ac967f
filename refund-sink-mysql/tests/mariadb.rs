//! MySqlSink against a real MariaDB (`MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`).
//! Every test makes its own database and drops it at the end.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::FutureExt;
use mysql_async::prelude::Queryable;
use refund_sink_mysql::{BeforeCommitHook, CommitContext, Layout, SinkError, WriteMode};
use wdt_qimen::model::{decode_refund, Refund};
use wdt_qimen::sync::{Checkpoint, DeadLetter, Sink};

const FLAT: &str = "aftersales_refund_refund_search";

/// Rows a batch of `refund(1, _, 0)`, `refund(2, _, 2)`, `refund(3, _, 1)` makes per layout.
fn rows_of_first_batch(layout: Layout) -> u64 {
    match layout {
        Layout::Flat => 4,               // 1 + 2 + 1
        Layout::Normalized => 3 + 3 + 3, // refunds, detail lines, amount lines
        Layout::Both => 4 + 9,
        Layout::Mapped(_) => unreachable!("not a built-in layout"),
    }
}

#[tokio::test]
async fn every_layout_and_write_mode_writes_and_rewrites() {
    let db = TestDb::new("modes").await;
    for (i, (layout, mode)) in all_combinations().into_iter().enumerate() {
        let prefix = format!("c{i}_");
        let sink = db
            .sink()
            .layout(layout)
            .write_mode(mode)
            .table_prefix(&prefix)
            .build()
            .await
            .unwrap();
        let first = vec![
            refund(1, at(10, 0), 0),
            refund(2, at(10, 0), 2),
            refund(3, at(10, 0), 1),
        ];
        let r = sink.commit(batch(first.clone(), Some(at(100, 0)))).await.unwrap();
        let rows = rows_of_first_batch(layout);
        assert_eq!(
            (r.inserted, r.updated, r.unchanged, r.deleted),
            (rows, 0, 0, 0),
            "{layout} {mode}"
        );

        let again = sink.commit(batch(first, Some(at(100, 0)))).await;
        match mode {
            WriteMode::Insert => {
                let e = again.unwrap_err();
                assert!(matches!(e, SinkError::Duplicate { .. }), "{layout} {mode}: {e}");
            }
            _ => {
                let r = again.unwrap();
                assert_eq!((r.inserted, r.updated, r.unchanged), (0, 0, rows), "{layout} {mode}");
            }
        }
        if layout.has_flat() {
            assert_eq!(db.count(&format!("{prefix}{FLAT}")).await, 4);
            let keys = db
                .rows(&format!(
                    "SELECT refund_id, detail_list_rec_id, detail_list_goods_name FROM `{prefix}{FLAT}` \
                     ORDER BY 1, 2"
                ))
                .await;
            assert_eq!(keys[0], vec![s("1"), s("0"), None]);
            assert_eq!(keys[1][1], s("21"));
            assert_eq!(keys[1][2], s("商品0"));
        }
        if layout.has_normalized() {
            assert_eq!(db.count(&format!("{prefix}wdt_refund")).await, 3);
            assert_eq!(db.count(&format!("{prefix}wdt_refund_detail")).await, 3);
            assert_eq!(db.count(&format!("{prefix}wdt_refund_amount_detail")).await, 3);
        }
        let cp = sink.load_checkpoint(&stream()).await.unwrap();
        assert_eq!(cp, Some(Checkpoint { window_end: at(100, 0) }));
        sink.disconnect().await.unwrap();
    }
    db.drop_db().await;
}

#[tokio::test]
async fn a_changed_refund_replaces_its_rows_and_a_removed_line_disappears() {
    let db = TestDb::new("lines").await;
    for (path, infile) in [("i", true), ("s", false)] {
        for layout in [Layout::Flat, Layout::Normalized] {
            let prefix = format!("{path}{}_", layout.as_str());
            let sink = db
                .sink()
                .layout(layout)
                .table_prefix(&prefix)
                .local_infile(infile)
                .build()
                .await
                .unwrap();
            sink.commit(batch(vec![refund(5, at(10, 0), 3), refund(6, at(10, 0), 0)], None))
                .await
                .unwrap();

            // Refund 5 loses its middle line and changes a price; refund 6 gains a line.
            let mut changed = refund(5, at(20, 0), 3);
            changed.detail_list.remove(1);
            changed.detail_list[0].price = Some("8.8".parse().unwrap());
            let r = sink
                .commit(batch(vec![changed, refund(6, at(20, 0), 1)], None))
                .await
                .unwrap();
            let (detail_table, rec_col) = match layout {
                Layout::Flat => (FLAT, "detail_list_rec_id"),
                _ => ("wdt_refund_detail", "rec_id"),
            };
            let keys = db
                .rows(&format!(
                    "SELECT refund_id, {rec_col} FROM `{prefix}{detail_table}` ORDER BY 1, 2"
                ))
                .await;
            assert_eq!(
                keys,
                vec![vec![s("5"), s("51")], vec![s("5"), s("53")], vec![s("6"), s("61")]],
                "{prefix}"
            );
            match layout {
                // 52 and (6, 0) deleted; 61 inserted; 51 and 53 updated (modified changed).
                Layout::Flat => assert_eq!((r.deleted, r.inserted, r.updated), (2, 1, 2), "{prefix} {r:?}"),
                // Detail 52 deleted, 61 inserted; refunds 5 and 6 and line 51 (price) updated; line 53
                // and both amount lines are identical, so unchanged.
                _ => assert_eq!(
                    (r.deleted, r.inserted, r.updated, r.unchanged),
                    (1, 1, 3, 3),
                    "{prefix} {r:?}"
                ),
            }
            let price: Option<String> = db
                .conn()
                .await
                .query_first(format!(
                    "SELECT CAST({} AS CHAR) FROM `{prefix}{detail_table}` WHERE {rec_col} = 51",
                    if layout == Layout::Flat {
                        "detail_list_price"
                    } else {
                        "price"
                    }
                ))
                .await
                .unwrap();
            assert_eq!(price.as_deref(), Some("8.8000"));
            sink.disconnect().await.unwrap();
        }
    }
    db.drop_db().await;
}

#[tokio::test]
async fn an_older_copy_never_overwrites_a_newer_one() {
    let db = TestDb::new("older").await;
    let sink = db.sink().layout(Layout::Both).build().await.unwrap();
    let mut newer = refund(8, at(50, 123), 2);
    newer.remark = Some("newer".into());
    sink.commit(batch(vec![newer], None)).await.unwrap();

    let mut older = refund(8, at(40, 0), 1);
    older.remark = Some("older".into());
    let mut fresh = refund(9, at(40, 0), 1);
    fresh.remark = Some("fresh".into());
    let r = sink.commit(batch(vec![older.clone(), fresh], None)).await.unwrap();
    assert_eq!(r.skipped_older, 1);
    let remarks = db
        .rows(&format!(
            "SELECT refund_id, remark, modified FROM `{FLAT}` ORDER BY 1, detail_list_rec_id"
        ))
        .await;
    assert_eq!(remarks.len(), 3, "refund 8 keeps both lines");
    assert_eq!(remarks[0][1], s("newer"));
    // DATETIME(3) keeps the milliseconds, unshifted (the session time zone is pinned).
    assert_eq!(remarks[0][2], s("2024-03-01 00:00:50.123"));
    assert_eq!(remarks[2][1], s("fresh"));
    let n = db.rows("SELECT remark FROM wdt_refund WHERE refund_id = 8").await;
    assert_eq!(n[0][0], s("newer"));

    // Within one batch, the newest copy wins too.
    let mut a = refund(10, at(60, 0), 0);
    a.remark = Some("a".into());
    let mut b = refund(10, at(70, 0), 0);
    b.remark = Some("b".into());
    sink.commit(batch(vec![b, a], None)).await.unwrap();
    let n = db.rows("SELECT remark FROM wdt_refund WHERE refund_id = 10").await;
    assert_eq!(n[0][0], s("b"));

    // Replace mode is last-writer-wins, as documented (line 82 goes, flat and normalized).
    let replace = db
        .sink()
        .layout(Layout::Both)
        .write_mode(WriteMode::Replace)
        .build()
        .await
        .unwrap();
    let r = replace.commit(batch(vec![older], None)).await.unwrap();
    assert_eq!((r.skipped_older, r.deleted), (0, 2));
    let n = db.rows("SELECT remark FROM wdt_refund WHERE refund_id = 8").await;
    assert_eq!(n[0][0], s("older"));
    sink.disconnect().await.unwrap();
    replace.disconnect().await.unwrap();
    db.drop_db().await;
}

fn failing_hook(fail: Arc<AtomicU32>) -> BeforeCommitHook {
    Arc::new(move |_ctx: CommitContext| {
        let fail = fail.clone();
        async move {
            if fail.load(Ordering::SeqCst) > 0 {
                fail.fetch_sub(1, Ordering::SeqCst);
                return Err("injected failure before COMMIT".into());
            }
            Ok(())
        }
        .boxed()
    })
}

#[tokio::test]
async fn the_checkpoint_moves_only_with_its_data() {
    let db = TestDb::new("atomic").await;
    for infile in [true, false] {
        let prefix = if infile { "i_" } else { "s_" };
        let fail = Arc::new(AtomicU32::new(1));
        let sink = db
            .sink()
            .layout(Layout::Both)
            .table_prefix(prefix)
            .local_infile(infile)
            .before_commit(failing_hook(fail.clone()))
            .build()
            .await
            .unwrap();
        let mut b = batch(vec![refund(1, at(1, 0), 2), refund(2, at(1, 0), 0)], Some(at(500, 0)));
        b.dead_letters.push(DeadLetter {
            key: Some("x".into()),
            raw_json: "{\"x\":1}".into(),
            reason: "bad".into(),
        });
        let e = sink.commit(b.clone()).await.unwrap_err();
        assert!(matches!(e, SinkError::Hook(_)), "{e}");
        for t in [
            FLAT,
            "wdt_refund",
            "wdt_refund_detail",
            "wdt_sync_state",
            "wdt_sync_dead_letter",
        ] {
            assert_eq!(db.count(&format!("{prefix}{t}")).await, 0, "{prefix}{t}");
        }
        assert_eq!(sink.load_checkpoint(&stream()).await.unwrap(), None);
        assert_eq!(sink.dead_letters_this_run(), 0);

        let r = sink.commit(b).await.unwrap();
        assert_eq!((r.inserted, r.dead_lettered), (3 + 2 + 2 + 2, 1));
        assert_eq!(db.count(&format!("{prefix}{FLAT}")).await, 3);
        assert_eq!(
            sink.load_checkpoint(&stream()).await.unwrap(),
            Some(Checkpoint { window_end: at(500, 0) })
        );
        // An older checkpoint never moves it back.
        sink.commit(batch(vec![refund(3, at(1, 0), 1)], Some(at(100, 0))))
            .await
            .unwrap();
        assert_eq!(
            sink.load_checkpoint(&stream()).await.unwrap(),
            Some(Checkpoint { window_end: at(500, 0) })
        );
        sink.disconnect().await.unwrap();
    }
    db.drop_db().await;
}

#[tokio::test]
async fn only_a_reset_moves_the_checkpoint_back_and_never_forward() {
    let db = TestDb::new("reset").await;
    let sink = db.sink().build().await.unwrap();
    // Nothing stored: nothing to move back.
    sink.reset_checkpoint(&stream(), &Checkpoint { window_end: at(50, 0) })
        .await
        .unwrap();
    assert_eq!(sink.load_checkpoint(&stream()).await.unwrap(), None);
    // A checkpoint left ahead of the gateway's clock: a commit cannot move it back…
    sink.commit(batch(vec![], Some(at(900, 0)))).await.unwrap();
    sink.commit(batch(vec![], Some(at(300, 0)))).await.unwrap();
    assert_eq!(
        sink.load_checkpoint(&stream()).await.unwrap(),
        Some(Checkpoint { window_end: at(900, 0) })
    );
    // …a dry run does not either…
    let dry = db.sink().dry_run(true).build().await.unwrap();
    dry.reset_checkpoint(&stream(), &Checkpoint { window_end: at(300, 0) })
        .await
        .unwrap();
    assert_eq!(
        sink.load_checkpoint(&stream()).await.unwrap(),
        Some(Checkpoint { window_end: at(900, 0) })
    );
    // …a reset does, to the second and its fraction.
    sink.reset_checkpoint(
        &stream(),
        &Checkpoint {
            window_end: at(300, 250),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        sink.load_checkpoint(&stream()).await.unwrap(),
        Some(Checkpoint {
            window_end: at(300, 250)
        })
    );
    // A reset never moves it forward, and commits move it forward again.
    sink.reset_checkpoint(&stream(), &Checkpoint { window_end: at(600, 0) })
        .await
        .unwrap();
    assert_eq!(
        sink.load_checkpoint(&stream()).await.unwrap(),
        Some(Checkpoint {
            window_end: at(300, 250)
        })
    );
    sink.commit(batch(vec![refund(1, at(1, 0), 1)], Some(at(400, 0))))
        .await
        .unwrap();
    assert_eq!(
        sink.load_checkpoint(&stream()).await.unwrap(),
        Some(Checkpoint { window_end: at(400, 0) })
    );
    dry.disconnect().await.unwrap();
    sink.disconnect().await.unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn unwritable_records_are_dead_lettered_in_the_same_transaction() {
    let db = TestDb::new("dead").await;
    let sink = db.sink().max_dead_letters(Some(6)).build().await.unwrap();
    let mut bad = refund(2, at(1, 0), 1);
    bad.detail_list[0].price = Some("0.12345".parse().unwrap());
    let mut no_key = refund(3, at(1, 0), 2);
    no_key.detail_list[1].rec_id = None;
    let mut b = batch(vec![refund(1, at(1, 0), 1), bad, no_key], Some(at(9, 0)));
    b.dead_letters.push(DeadLetter {
        key: None,
        raw_json: "{not json".into(),
        reason: "decode: expected value".into(),
    });
    let r = sink.commit(b.clone()).await.unwrap();
    assert_eq!((r.inserted, r.dead_lettered), (1, 3));
    let letters = db
        .rows("SELECT account, method, record_key, reason, raw_json FROM wdt_sync_dead_letter ORDER BY id")
        .await;
    assert_eq!(letters.len(), 3);
    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "NULL".into());
    let reasons: Vec<String> = letters
        .iter()
        .map(|l| format!("{} {}", text(&l[2]), text(&l[3])))
        .collect();
    assert!(reasons.iter().any(|r| r.starts_with("NULL decode")), "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("2 ") && r.contains("detail_list_price")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("3 ") && r.contains("has no rec_id")),
        "{reasons:?}"
    );
    // The raw JSON of a dead-lettered refund decodes back to the refund.
    let raw = letters.iter().find(|l| text(&l[2]) == "2").unwrap();
    assert_eq!(decode_refund(&text(&raw[4])).unwrap().refund_id, 2);
    assert_eq!(text(&letters[0][0]), "test-sid");

    // Committing the same batch again stores no second copy.
    sink.commit(b).await.unwrap();
    assert_eq!(db.count("wdt_sync_dead_letter").await, 3);
    assert_eq!(sink.dead_letters_this_run(), 6);
    sink.disconnect().await.unwrap();

    // The limit stops the run: the batch is rolled back, checkpoint included.
    let limited = db.sink().max_dead_letters(Some(1)).build().await.unwrap();
    let mut bad = refund(20, at(1, 0), 1);
    bad.detail_list[0].num = Some("1e20".parse().unwrap_or(rust_decimal::Decimal::MAX));
    let mut bad2 = refund(21, at(1, 0), 1);
    bad2.buyer_nick = Some("长".repeat(300));
    let e = limited
        .commit(batch(vec![refund(22, at(1, 0), 1), bad, bad2], Some(at(99, 0))))
        .await
        .unwrap_err();
    let SinkError::DeadLetterLimit {
        limit: 1,
        total: 2,
        sample,
    } = &e
    else {
        panic!("{e}")
    };
    assert!(sample.starts_with("20: "), "{sample}");
    assert!(e.to_string().contains("max_dead_letters"));
    assert_eq!(db.count(FLAT).await, 1, "refund 22 was rolled back with the batch");
    assert_eq!(
        limited.load_checkpoint(&stream()).await.unwrap(),
        Some(Checkpoint { window_end: at(9, 0) })
    );
    // The limit is per run: a new run starts counting again.
    let mut one_bad = refund(30, at(1, 0), 1);
    one_bad.buyer_nick = Some("长".repeat(300));
    let next = batch(vec![one_bad], None);
    limited.commit(next.clone()).await.unwrap();
    assert_eq!(limited.dead_letters_this_run(), 1);
    let mut another = refund(31, at(1, 0), 1);
    another.buyer_nick = Some("长".repeat(300));
    assert!(limited.commit(batch(vec![another.clone()], None)).await.is_err());
    limited.start_run();
    assert_eq!(limited.dead_letters_this_run(), 0);
    let r = limited.commit(batch(vec![another], None)).await.unwrap();
    assert_eq!(r.dead_lettered, 1);
    limited.disconnect().await.unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn a_value_the_server_rejects_dead_letters_only_its_refund() {
    let db = TestDb::new("reject").await;
    for infile in [true, false] {
        let prefix = if infile { "i_" } else { "s_" };
        let sink = db
            .sink()
            .table_prefix(prefix)
            .local_infile(infile)
            .build()
            .await
            .unwrap();
        // A rule the sink cannot know about: a CHECK constraint added by the user.
        let mut c = db.conn().await;
        c.query_drop(format!(
            "ALTER TABLE `{prefix}{FLAT}` ADD CONSTRAINT `no_bad` CHECK (refund_no IS NULL OR refund_no <> 'BAD')"
        ))
        .await
        .unwrap();
        let mut bad = refund(2, at(1, 0), 2);
        bad.refund_no = Some("BAD".into());
        let r = sink
            .commit(batch(
                vec![refund(1, at(1, 0), 1), bad, refund(3, at(1, 0), 0)],
                Some(at(7, 0)),
            ))
            .await
            .unwrap();
        assert_eq!((r.inserted, r.dead_lettered), (2, 1), "{prefix}");
        let ids = db
            .rows(&format!("SELECT DISTINCT refund_id FROM `{prefix}{FLAT}` ORDER BY 1"))
            .await;
        assert_eq!(ids, vec![vec![s("1")], vec![s("3")]]);
        let reason: Option<String> = c
            .query_first(format!(
                "SELECT reason FROM `{prefix}wdt_sync_dead_letter` WHERE record_key = '2'"
            ))
            .await
            .unwrap();
        assert!(reason.unwrap().contains("no_bad"), "{prefix}");
        c.disconnect().await.unwrap();
        sink.disconnect().await.unwrap();
    }
    db.drop_db().await;
}

#[tokio::test]
async fn a_connection_killed_before_commit_is_retried_and_leaves_one_copy() {
    let db = TestDb::new("kill").await;
    let killer_url = db.url.clone();
    let kills = Arc::new(AtomicU32::new(0));
    let k = kills.clone();
    let hook: BeforeCommitHook = Arc::new(move |ctx: CommitContext| {
        let url = killer_url.clone();
        let kills = k.clone();
        async move {
            if ctx.attempt == 1 {
                let mut c = mysql_async::Conn::from_url(url).await?;
                c.query_drop(format!("KILL CONNECTION {}", ctx.connection_id)).await?;
                // Wait until the server has really dropped it (bounded; not a timing assertion).
                for _ in 0..500 {
                    let alive: Option<u64> = c
                        .query_first(format!(
                            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {}",
                            ctx.connection_id
                        ))
                        .await?;
                    if alive == Some(0) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                c.disconnect().await?;
                kills.fetch_add(1, Ordering::SeqCst);
            }
            Ok(())
        }
        .boxed()
    });
    let sink = db
        .sink()
        .layout(Layout::Both)
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .before_commit(hook)
        .build()
        .await
        .unwrap();
    let r = sink
        .commit(batch(
            vec![refund(1, at(1, 0), 2), refund(2, at(1, 0), 1)],
            Some(at(3, 0)),
        ))
        .await
        .unwrap();
    assert_eq!(kills.load(Ordering::SeqCst), 1);
    assert_eq!(r.retries, 1);
    assert_eq!(r.inserted, 3 + 2 + 3 + 2, "the retry starts from scratch: {r:?}");
    assert_eq!(db.count(FLAT).await, 3);
    assert_eq!(db.count("wdt_refund").await, 2);
    assert_eq!(db.count("wdt_refund_detail").await, 3);
    assert_eq!(
        sink.load_checkpoint(&stream()).await.unwrap(),
        Some(Checkpoint { window_end: at(3, 0) })
    );
    sink.disconnect().await.unwrap();
    db.drop_db().await;
}

/// A mixed workload: new refunds, changed ones (lines removed and added), older copies, a
/// refund that cannot be mapped.
fn workload() -> Vec<Vec<Refund>> {
    let first: Vec<Refund> = (1..=40).map(|i| refund(i, at(i, 7), (i % 4) as usize)).collect();
    let mut second: Vec<Refund> = (1..=40)
        .step_by(3)
        .map(|i| {
            let mut r = refund(i, at(1000 + i, 0), ((i + 1) % 4) as usize);
            r.remark = Some(format!("changed\\{i}\n"));
            r
        })
        .collect();
    second.push(refund(2, at(0, 0), 3)); // older than stored
    second.push(refund(41, at(5, 0), 2)); // new
    let mut bad = refund(42, at(5, 0), 1);
    bad.detail_list[0].refund_amount = Some("1.00001".parse().unwrap());
    second.push(bad);
    vec![first, second]
}

#[tokio::test]
async fn both_write_paths_give_identical_tables() {
    let db = TestDb::new("paths").await;
    let fast = db.sink().layout(Layout::Both).table_prefix("a_").build().await.unwrap();
    let slow = db
        .sink()
        .layout(Layout::Both)
        .table_prefix("b_")
        .local_infile(false)
        .max_rows_per_statement(7)
        .build()
        .await
        .unwrap();
    // The fast sink uses LOAD DATA wherever the server allows local infile (MariaDB's default).
    assert_eq!(fast.uses_local_infile(), server_allows_local_infile(&db).await);
    assert!(!slow.uses_local_infile());
    for records in workload() {
        let a = fast.commit(batch(records.clone(), Some(at(5000, 0)))).await.unwrap();
        let b = slow.commit(batch(records, Some(at(5000, 0)))).await.unwrap();
        assert_eq!(a, b);
    }
    for t in [FLAT, "wdt_refund", "wdt_refund_detail", "wdt_refund_amount_detail"] {
        let a = db.rows(&format!("SELECT * FROM `a_{t}` ORDER BY 1, 2")).await;
        let b = db.rows(&format!("SELECT * FROM `b_{t}` ORDER BY 1, 2")).await;
        assert!(!a.is_empty(), "{t}");
        assert_eq!(a, b, "{t}");
    }
    let a = db
        .rows("SELECT account, method, window_end FROM a_wdt_sync_state")
        .await;
    assert_eq!(
        a,
        db.rows("SELECT account, method, window_end FROM b_wdt_sync_state")
            .await
    );
    let a = db
        .rows("SELECT record_key, reason, raw_json FROM a_wdt_sync_dead_letter ORDER BY 1")
        .await;
    let b = db
        .rows("SELECT record_key, reason, raw_json FROM b_wdt_sync_dead_letter ORDER BY 1")
        .await;
    assert_eq!((a.len(), a), (1, b));
    // The normalized raw JSON decodes back to the refund that was written.
    let raw = db.rows("SELECT raw_json FROM a_wdt_refund WHERE refund_id = 41").await;
    assert_eq!(
        decode_refund(raw[0][0].as_deref().unwrap()).unwrap(),
        refund(41, at(5, 0), 2)
    );
    fast.disconnect().await.unwrap();
    slow.disconnect().await.unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn insert_mode_fails_on_a_stored_key_and_rolls_back() {
    let db = TestDb::new("insert").await;
    for infile in [true, false] {
        let prefix = if infile { "i_" } else { "s_" };
        let sink = db
            .sink()
            .write_mode(WriteMode::Insert)
            .table_prefix(prefix)
            .local_infile(infile)
            .build()
            .await
            .unwrap();
        sink.commit(batch(vec![refund(1, at(1, 0), 1)], Some(at(1, 0))))
            .await
            .unwrap();
        let e = sink
            .commit(batch(
                vec![refund(2, at(2, 0), 1), refund(1, at(2, 0), 1)],
                Some(at(2, 0)),
            ))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, SinkError::Duplicate { table, .. } if table.contains(FLAT)),
            "{e}"
        );
        assert_eq!(db.count(&format!("{prefix}{FLAT}")).await, 1);
        assert_eq!(
            sink.load_checkpoint(&stream()).await.unwrap(),
            Some(Checkpoint { window_end: at(1, 0) })
        );
        sink.disconnect().await.unwrap();
    }
    db.drop_db().await;
}

#[tokio::test]
async fn existing_tables_that_do_not_fit_are_refused_with_the_fix() {
    let db = TestDb::new("schema").await;
    let mut c = db.conn().await;
    c.query_drop(
        "CREATE TABLE `x_aftersales_refund_refund_search` (refund_id BIGINT NOT NULL, \
         detail_list_rec_id BIGINT NOT NULL, PRIMARY KEY (refund_id, detail_list_rec_id))",
    )
    .await
    .unwrap();
    let e = db.sink().table_prefix("x_").build().await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, SinkError::SchemaMismatch { .. }), "{msg}");
    assert!(
        msg.contains("`x_aftersales_refund_refund_search`") && msg.contains("`src_tids`"),
        "{msg}"
    );
    assert!(
        msg.contains("ALTER TABLE `x_aftersales_refund_refund_search` ADD COLUMN `src_tids` TEXT NULL"),
        "{msg}"
    );

    // A table the sink created fits; a narrowed column does not.
    db.sink()
        .table_prefix("y_")
        .build()
        .await
        .unwrap()
        .disconnect()
        .await
        .unwrap();
    c.query_drop("ALTER TABLE `y_aftersales_refund_refund_search` MODIFY `detail_list_price` DECIMAL(10,2) NULL")
        .await
        .unwrap();
    let msg = db.sink().table_prefix("y_").build().await.unwrap_err().to_string();
    assert!(
        msg.contains("`detail_list_price`") && msg.contains("MODIFY `detail_list_price` DECIMAL(19,4) NULL"),
        "{msg}"
    );

    // Without create-tables, a missing table is named.
    let msg = db
        .sink()
        .table_prefix("z_")
        .create_tables(false)
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`z_wdt_schema_version` does not exist") && msg.contains("create_tables"),
        "{msg}"
    );

    // A schema version from the future is refused.
    c.query_drop("INSERT INTO `y_wdt_schema_version` (version, description) VALUES (99, 'future')")
        .await
        .unwrap();
    c.query_drop("ALTER TABLE `y_aftersales_refund_refund_search` MODIFY `detail_list_price` DECIMAL(19,4) NULL")
        .await
        .unwrap();
    let e = db.sink().table_prefix("y_").build().await.unwrap_err();
    assert!(
        matches!(
            e,
            SinkError::SchemaTooNew {
                found: 99,
                supported: refund_sink_mysql::schema::SCHEMA_VERSION,
                ..
            }
        ),
        "{e}"
    );

    // Bad prefixes never reach SQL.
    let msg = db.sink().table_prefix("a;b").build().await.unwrap_err().to_string();
    assert!(
        msg.contains("\"a;b\"") && msg.contains("letters, digits or underscores"),
        "{msg}"
    );
    let versions = db.rows("SELECT version FROM `x_wdt_schema_version`").await;
    assert!(
        versions.is_empty(),
        "x_ failed its check before recording a version? {versions:?}"
    );
    c.disconnect().await.unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn the_password_never_shows() {
    let db = TestDb::new("secret").await;
    let user = format!("wdt_sink_{}", std::process::id());
    let password = "hunter2-Very-Secret";
    let mut root = db.conn().await;
    // Both hosts: an anonymous ''@'localhost' account would otherwise shadow '%'.
    for host in ["%", "localhost"] {
        for sql in [
            format!("DROP USER IF EXISTS '{user}'@'{host}'"),
            format!("CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'"),
            format!("GRANT ALL ON `{}`.* TO '{user}'@'{host}'", db.name),
        ] {
            root.query_drop(sql).await.unwrap();
        }
    }
    let host = db.url.split('@').nth(1).unwrap().to_owned();
    let url = format!("mysql://{user}:{password}@{host}");
    let sink = refund_sink_mysql::MySqlSink::builder(url.clone())
        .build()
        .await
        .unwrap();
    let shown = format!("{sink:?}");
    assert!(!shown.contains(password) && shown.contains("://***@"), "{shown}");
    sink.commit(batch(vec![refund(1, at(1, 0), 1)], None)).await.unwrap();
    sink.disconnect().await.unwrap();

    let wrong = url.replace(password, "wrong-Password-42");
    let e = refund_sink_mysql::MySqlSink::builder(wrong).build().await.unwrap_err();
    let text = format!("{e} / {e:?}");
    assert!(!text.contains("wrong-Password-42"), "{text}");
    let bad_url = format!("mysql://{user}:{password}@{host}?no_such_param=1");
    let e = refund_sink_mysql::MySqlSink::builder(bad_url)
        .build()
        .await
        .unwrap_err();
    let text = format!("{e} / {e:?}");
    assert!(
        matches!(e, SinkError::InvalidUrl { .. }) && !text.contains(password),
        "{text}"
    );
    for host in ["%", "localhost"] {
        root.query_drop(format!("DROP USER '{user}'@'{host}'")).await.unwrap();
    }
    root.disconnect().await.unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn a_dry_run_reports_what_would_change_and_keeps_nothing() {
    let db = TestDb::new("dryrun").await;
    for infile in [true, false] {
        let prefix = if infile { "i_" } else { "s_" };
        let sink = db
            .sink()
            .layout(Layout::Both)
            .table_prefix(prefix)
            .local_infile(infile)
            .dry_run(true)
            .build()
            .await
            .unwrap();
        let b = batch(vec![refund(1, at(1, 0), 2), refund(2, at(1, 0), 0)], Some(at(500, 0)));
        let r = sink.commit(b.clone()).await.unwrap();
        assert_eq!(
            r.inserted,
            3 + 2 + 2 + 2,
            "the report counts what a real commit would insert"
        );
        for t in [FLAT, "wdt_refund", "wdt_refund_detail", "wdt_sync_state"] {
            assert_eq!(
                db.count(&format!("{prefix}{t}")).await,
                0,
                "{prefix}{t} kept rows in a dry run"
            );
        }
        assert_eq!(sink.load_checkpoint(&stream()).await.unwrap(), None);
        sink.disconnect().await.unwrap();
    }
    db.drop_db().await;
}
