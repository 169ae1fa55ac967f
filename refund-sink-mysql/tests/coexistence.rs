//! The sink next to what users add to its tables and around them: extra columns, child tables
//! with cascading foreign keys, triggers, accounts without DDL privileges, old row formats.

mod common;

use std::sync::Arc;

use common::*;
use futures::FutureExt;
use mysql_async::prelude::Queryable;
use refund_sink_mysql::{BeforeCommitHook, CommitContext, Layout, WriteMode};
use wdt_qimen::model::Refund;
use wdt_qimen::sync::Sink;

const FLAT: &str = "aftersales_refund_refund_search";

/// What a user adds to a table of the sink.
#[derive(Debug, Clone, Copy)]
struct Additions {
    /// An `erp_status` column their ETL sets.
    column: bool,
    /// A child table whose foreign key to the sink's table cascades deletes.
    child: bool,
    /// An `AFTER DELETE` trigger that logs every deleted row.
    trigger: bool,
}

/// Adds `what` to `table` (key columns `key`): the column is set to 'posted' on every row, the
/// child gets one row per stored row, deletes are logged in `deleted_log`.
async fn add(db: &TestDb, table: &str, key: &[&str], what: Additions) {
    let mut c = db.conn().await;
    let cols = key.join(", ");
    let mut sql = vec!["CREATE TABLE IF NOT EXISTS deleted_log (tbl VARCHAR(64), k VARCHAR(64))".to_owned()];
    if what.column {
        sql.push(format!("ALTER TABLE `{table}` ADD COLUMN erp_status VARCHAR(20) NULL"));
        sql.push(format!("UPDATE `{table}` SET erp_status = 'posted'"));
    }
    if what.child {
        let defs: Vec<String> = key
            .iter()
            .map(|k| match *k {
                "account" => "account VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL".to_owned(),
                _ => format!("{k} BIGINT NOT NULL"),
            })
            .collect();
        sql.push(format!(
            "CREATE TABLE `{table}_child` ({}, note VARCHAR(20), FOREIGN KEY ({cols}) REFERENCES `{table}` ({cols}) \
             ON DELETE CASCADE) ENGINE=InnoDB",
            defs.join(", ")
        ));
        sql.push(format!(
            "INSERT INTO `{table}_child` ({cols}, note) SELECT {cols}, 'erp' FROM `{table}`"
        ));
    }
    if what.trigger {
        let old: Vec<String> = key.iter().map(|k| format!("OLD.{k}")).collect();
        sql.push(format!(
            "CREATE TRIGGER `{table}_deleted` AFTER DELETE ON `{table}` FOR EACH ROW \
             INSERT INTO deleted_log VALUES ('{table}', CONCAT_WS('/', {}))",
            old.join(", ")
        ));
    }
    for s in sql {
        c.query_drop(&s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    c.disconnect().await.unwrap();
}

fn one(rows: Vec<Vec<Option<String>>>) -> Vec<String> {
    rows.into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect()
}

fn failing_once() -> (BeforeCommitHook, Arc<std::sync::atomic::AtomicBool>) {
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let a = armed.clone();
    let hook: BeforeCommitHook = Arc::new(move |_ctx: CommitContext| {
        let a = a.clone();
        async move {
            if a.swap(false, std::sync::atomic::Ordering::SeqCst) {
                return Err("injected failure before COMMIT".into());
            }
            Ok(())
        }
        .boxed()
    });
    (hook, armed)
}

#[tokio::test]
async fn an_overlap_re_read_leaves_the_users_columns_children_and_triggers_alone() {
    let db = TestDb::new("coexist").await;
    let infile = server_allows_local_infile(&db).await;
    let variants = [
        Additions {
            column: true,
            child: true,
            trigger: true,
        },
        Additions {
            column: false,
            child: true,
            trigger: false,
        },
        Additions {
            column: true,
            child: false,
            trigger: false,
        },
        Additions {
            column: false,
            child: false,
            trigger: true,
        },
    ];
    let mut case = 0;
    for local_infile in [true, false] {
        for mode in [WriteMode::Upsert, WriteMode::Replace] {
            for what in variants {
                case += 1;
                let prefix = format!("u{case}_");
                let label = format!("{prefix} infile={local_infile} {mode} {what:?}");
                let (hook, fail) = failing_once();
                let sink = db
                    .sink()
                    .layout(Layout::Both)
                    .write_mode(mode)
                    .table_prefix(&prefix)
                    .local_infile(local_infile)
                    .before_commit(hook)
                    .build()
                    .await
                    .unwrap();
                assert_eq!(sink.uses_local_infile(), local_infile && infile);
                let first = vec![
                    refund(1, at(10, 0), 2),
                    refund(2, at(10, 0), 1),
                    refund(3, at(10, 0), 0),
                ];
                sink.commit(batch(first.clone(), Some(at(100, 0)))).await.unwrap();
                let flat = format!("{prefix}{FLAT}");
                let parent = format!("{prefix}wdt_refund");
                add(&db, &flat, &["account", "refund_id", "detail_list_rec_id"], what).await;
                add(&db, &parent, &["account", "refund_id"], what).await;

                // The overlap re-reads refunds 2 and 3 unchanged and a newer refund 1 that lost
                // its line 12; a failed commit first changes nothing.
                let mut newer = refund(1, at(20, 0), 2);
                newer.detail_list.remove(1);
                newer.remark = Some("newer".into());
                let again = batch(vec![newer, first[1].clone(), first[2].clone()], Some(at(200, 0)));
                let snapshot = db
                    .rows(&format!("SELECT * FROM `{flat}` ORDER BY 1, detail_list_rec_id"))
                    .await;
                fail.store(true, std::sync::atomic::Ordering::SeqCst);
                assert!(sink.commit(again.clone()).await.is_err(), "{label}");
                assert_eq!(
                    db.rows(&format!("SELECT * FROM `{flat}` ORDER BY 1, detail_list_rec_id"))
                        .await,
                    snapshot,
                    "{label}: a rolled-back commit left changes"
                );
                let r = sink.commit(again).await.unwrap();
                assert_eq!(r.deleted, 2, "{label}: only line 12 goes, flat and normalized ({r:?})");

                let rows = one(db
                    .rows(&format!(
                        "SELECT refund_id, detail_list_rec_id, remark{} FROM `{flat}` ORDER BY 1, 2",
                        if what.column { ", erp_status" } else { "" }
                    ))
                    .await);
                let status = if what.column { "/posted" } else { "" };
                let remark = |id: i64| format!("退款备注 {id}\t含制表符");
                assert_eq!(
                    rows,
                    vec![
                        format!("1/11/newer{status}"),
                        format!("2/21/{}{status}", remark(2)),
                        format!("3/0/{}{status}", remark(3)),
                    ],
                    "{label}"
                );
                if what.column {
                    let kept = one(db
                        .rows(&format!("SELECT refund_id, erp_status FROM `{parent}` ORDER BY 1"))
                        .await);
                    assert_eq!(kept, vec!["1/posted", "2/posted", "3/posted"], "{label}");
                }
                if what.child {
                    let children = one(db
                        .rows(&format!(
                            "SELECT refund_id, detail_list_rec_id FROM `{flat}_child` ORDER BY 1, 2"
                        ))
                        .await);
                    assert_eq!(
                        children,
                        vec!["1/11", "2/21", "3/0"],
                        "{label}: only line 12's child cascades"
                    );
                    assert_eq!(db.count(&format!("{parent}_child")).await, 3, "{label}");
                }
                if what.trigger {
                    let log = one(db.rows("SELECT tbl, k FROM deleted_log ORDER BY 1, 2").await);
                    assert_eq!(
                        log,
                        vec![format!("{flat}/test-sid/1/12")],
                        "{label}: only the removed line is deleted"
                    );
                    db.conn().await.query_drop("DELETE FROM deleted_log").await.unwrap();
                }
                // The flat table's new values arrived.
                let n = db
                    .rows(&format!("SELECT remark FROM `{parent}` WHERE refund_id = 1"))
                    .await;
                assert_eq!(n[0][0], s("newer"), "{label}");
                sink.disconnect().await.unwrap();
            }
        }
    }
    db.drop_db().await;
}

/// Refunds of `n` lines each, for a batch big enough to need several LOAD DATA chunks.
fn many(from: i64, count: i64, modified: i64) -> Vec<Refund> {
    (from..from + count).map(|i| refund(i, at(modified, 0), 2)).collect()
}

#[tokio::test]
async fn stored_rows_of_a_large_batch_are_updated_in_place() {
    let db = TestDb::new("coexistbig").await;
    let sink = db.sink().max_dead_letters(None).build().await.unwrap();
    sink.commit(batch(many(1, 3000, 1), None)).await.unwrap();
    add(
        &db,
        FLAT,
        &["refund_id", "detail_list_rec_id"],
        Additions {
            column: true,
            child: false,
            trigger: false,
        },
    )
    .await;
    // Half stored (and newer), half new.
    let r = sink.commit(batch(many(1501, 3000, 2), None)).await.unwrap();
    assert_eq!(
        (r.inserted, r.updated, r.unchanged, r.deleted),
        (3000, 3000, 0, 0),
        "{r:?}"
    );
    let counts = one(db
        .rows(&format!(
            "SELECT COUNT(*), COUNT(erp_status), SUM(modified = '2024-03-01 00:00:02') FROM `{FLAT}`"
        ))
        .await);
    assert_eq!(counts, vec!["9000/6000/6000"]);
    let kept = db
        .rows(&format!(
            "SELECT COUNT(*) FROM `{FLAT}` WHERE refund_id > 1500 AND refund_id <= 3000 AND erp_status = 'posted'"
        ))
        .await;
    assert_eq!(kept[0][0], s("3000"));
    // The same batch again changes nothing, and says so.
    let r = sink.commit(batch(many(1501, 3000, 2), None)).await.unwrap();
    assert_eq!(
        (r.inserted, r.updated, r.unchanged, r.deleted),
        (0, 0, 6000, 0),
        "{r:?}"
    );
    sink.disconnect().await.unwrap();
    db.drop_db().await;
}

/// An account with only SELECT, INSERT, UPDATE and DELETE on the tables of `db` that exist.
async fn dml_only_user(db: &TestDb, name: &str, password: &str) -> TestUser {
    let tables: Vec<String> = db
        .conn()
        .await
        .query(format!(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}'",
            db.name
        ))
        .await
        .unwrap();
    let grants: Vec<String> = tables
        .iter()
        .map(|t| {
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON `{}`.`{t}` TO {{user}}",
                db.name
            )
        })
        .collect();
    TestUser::new(db, name, password, &grants).await
}

#[tokio::test]
async fn a_user_without_ddl_privileges_runs_against_existing_tables() {
    let db = TestDb::new("noddl").await;
    // An administrator created the tables with the published statements.
    let mut admin = db.conn().await;
    let version: Option<String> = admin.query_first("SELECT VERSION()").await.unwrap();
    let dialect = refund_sink_mysql::Dialect::from_version_string(&version.unwrap()).unwrap();
    let names = refund_sink_mysql::TableNames::new("").unwrap();
    for sql in refund_sink_mysql::schema::create_statements(Layout::Both, &names, &dialect) {
        admin.query_drop(sql).await.unwrap();
    }
    admin.disconnect().await.unwrap();
    let user = dml_only_user(&db, &format!("wdt_sink_dml_{}", std::process::id()), "Dml-Only-42").await;
    let builder = || refund_sink_mysql::MySqlSink::builder(user.url.clone()).layout(Layout::Both);

    // Creating tables on (the default) or off: only missing tables would get DDL.
    builder()
        .create_tables(false)
        .build()
        .await
        .unwrap()
        .disconnect()
        .await
        .unwrap();
    let versions = one(db.rows("SELECT version FROM wdt_schema_version ORDER BY 1").await);
    let every: Vec<String> = (1..=refund_sink_mysql::schema::SCHEMA_VERSION)
        .map(|v| v.to_string())
        .collect();
    assert_eq!(versions, every, "the tables fit: versions recorded, nothing altered");
    let sink = builder().build().await.unwrap();
    sink.commit(batch(
        vec![refund(1, at(1, 0), 2), refund(2, at(1, 0), 0)],
        Some(at(10, 0)),
    ))
    .await
    .unwrap();
    // Stored rows of a table with a column of the user's need the staging table, which this
    // user may not create: the batch is written with statements instead.
    add(
        &db,
        FLAT,
        &["refund_id", "detail_list_rec_id"],
        Additions {
            column: true,
            child: false,
            trigger: false,
        },
    )
    .await;
    let mut newer = refund(1, at(5, 0), 1);
    newer.remark = Some("newer".into());
    let r = sink
        .commit(batch(vec![newer, refund(3, at(1, 0), 1)], Some(at(20, 0))))
        .await
        .unwrap();
    assert_eq!(r.deleted, 2, "{r:?}");
    let rows = one(db
        .rows(&format!(
            "SELECT refund_id, remark, erp_status FROM `{FLAT}` ORDER BY 1, 2"
        ))
        .await);
    assert_eq!(rows[0], "1/newer/posted");
    assert_eq!(rows[2], "3/退款备注 3\t含制表符/NULL");
    assert_eq!(
        sink.load_checkpoint(&stream()).await.unwrap(),
        Some(wdt_qimen::sync::Checkpoint { window_end: at(20, 0) })
    );
    sink.disconnect().await.unwrap();

    // A missing table needs CREATE: the error names the privilege, the table and the ways out.
    db.conn()
        .await
        .query_drop("DROP TABLE wdt_refund_amount_detail")
        .await
        .unwrap();
    let e = builder().build().await.unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(&e, refund_sink_mysql::SinkError::PrivilegeMissing { privilege, .. } if privilege == "CREATE"),
        "{msg}"
    );
    assert!(
        msg.contains("wdt_refund_amount_detail")
            && msg.contains(&format!("'{}'@", user.name))
            && msg.contains("GRANT CREATE ON"),
        "{msg}"
    );
    assert!(
        msg.contains("--no-create-tables") && !msg.contains("Dml-Only-42"),
        "{msg}"
    );
    let e = builder().create_tables(false).build().await.unwrap_err().to_string();
    assert!(
        e.contains("`wdt_refund_amount_detail` does not exist") && e.contains("create_statements"),
        "{e}"
    );
    user.drop_user().await;
    db.drop_db().await;
}

/// A refund whose texts fill every column: too large for one row in ROW_FORMAT=COMPACT, where
/// InnoDB keeps 768 bytes of each long value in the row.
fn wordy(id: i64) -> Refund {
    let v = |c: char| Some(c.to_string().repeat(255));
    let t = |c: char| Some(c.to_string().repeat(1000));
    let mut r = refund(id, at(1, 0), 1);
    (r.refund_no, r.flag_name, r.receiver_telno, r.receiver_name, r.shop_no) = (v('a'), v('b'), v('c'), v('d'), v('e'));
    (
        r.return_logistics_no,
        r.return_logistics_name,
        r.reason_name,
        r.buyer_nick,
    ) = (v('f'), v('g'), v('h'), v('i'));
    (
        r.operator_name,
        r.revert_reason_name,
        r.return_warehouse_no,
        r.customer_name,
    ) = (v('j'), v('k'), v('l'), v('m'));
    (r.fenxiao_nick_name, r.pay_id, r.provider_refund_no, r.wms_owner_no) = (v('n'), v('o'), v('p'), v('q'));
    (r.fenxiao_tid, r.fenxiao_nick_no, r.wms_code) = (v('r'), v('s'), v('t'));
    (r.src_tids, r.remark, r.trade_no_list, r.refund_reason) = (t('u'), t('v'), t('w'), t('x'));
    (r.raw_refund_nos, r.tid_list, r.return_mask_info) = (t('y'), t('z'), t('A'));
    r
}

#[tokio::test]
async fn a_row_too_large_for_a_compact_table_dead_letters_only_its_refund() {
    let db = TestDb::new("compact").await;
    for infile in [true, false] {
        let prefix = if infile { "i_" } else { "s_" };
        db.sink()
            .table_prefix(prefix)
            .build()
            .await
            .unwrap()
            .disconnect()
            .await
            .unwrap();
        // A table from an old server, before DYNAMIC was the default.
        let mut c = db.conn().await;
        c.query_drop("SET SESSION innodb_strict_mode = OFF").await.unwrap();
        c.query_drop(format!("ALTER TABLE `{prefix}{FLAT}` ROW_FORMAT=COMPACT"))
            .await
            .unwrap();
        c.disconnect().await.unwrap();
        // The sink starts (with a warning naming the fix) and keeps data flowing.
        let sink = db
            .sink()
            .table_prefix(prefix)
            .local_infile(infile)
            .build()
            .await
            .unwrap();
        let r = sink
            .commit(batch(
                vec![refund(1, at(1, 0), 1), wordy(2), refund(3, at(1, 0), 0)],
                Some(at(9, 0)),
            ))
            .await
            .unwrap();
        assert_eq!((r.inserted, r.dead_lettered), (2, 1), "{prefix} {r:?}");
        let ids = one(db
            .rows(&format!("SELECT DISTINCT refund_id FROM `{prefix}{FLAT}` ORDER BY 1"))
            .await);
        assert_eq!(ids, vec!["1", "3"]);
        let reason = db
            .rows(&format!(
                "SELECT reason FROM `{prefix}wdt_sync_dead_letter` WHERE record_key = '2'"
            ))
            .await;
        let reason = reason[0][0].as_deref().unwrap();
        assert!(
            reason.contains("Row size too large")
                && reason.contains(&format!("ALTER TABLE `{prefix}{FLAT}` ROW_FORMAT=DYNAMIC")),
            "{reason}"
        );
        assert_eq!(
            sink.load_checkpoint(&stream()).await.unwrap(),
            Some(wdt_qimen::sync::Checkpoint { window_end: at(9, 0) })
        );
        sink.disconnect().await.unwrap();
    }
    db.drop_db().await;
}
