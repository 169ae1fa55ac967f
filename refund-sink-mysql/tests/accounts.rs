//! Several accounts in one set of tables, and the in-place migration of tables created before
//! the account key (schema version 3) — against a real MariaDB (`MYSQL_URL`).

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use refund_sink_mysql::{Layout, MySqlSink, SinkError, WriteMode};
use wdt_qimen::model::Refund;
use wdt_qimen::sync::{Batch, Checkpoint, Sink, StreamId, WindowBounds};

const FLAT: &str = "aftersales_refund_refund_search";
const METHOD: &str = "aftersales.refund.Refund.search";

/// A batch of `records` of `account`'s live stream.
fn batch_of(account: &str, records: Vec<Refund>) -> Batch<Refund> {
    Batch {
        stream: StreamId::new(account, METHOD),
        window: WindowBounds {
            from: at(0, 0),
            to: at(86_400, 0),
        },
        records,
        dead_letters: vec![],
        checkpoint: Some(Checkpoint { window_end: at(100, 0) }),
    }
}

/// Refund `id` with `lines` lines, modified at `secs`, its remark naming `who`.
fn refund_of(who: &str, id: i64, secs: i64, lines: usize) -> Refund {
    let mut r = refund(id, at(secs, 0), lines);
    r.remark = Some(format!("{who}@{secs}"));
    for d in &mut r.detail_list {
        d.goods_name = Some(format!("{who} goods"));
    }
    r
}

/// `account, refund_id, line, remark` of every flat row, in key order.
async fn flat_rows(db: &TestDb, prefix: &str) -> Vec<Vec<Option<String>>> {
    db.rows(&format!(
        "SELECT account, refund_id, detail_list_rec_id, remark, detail_list_goods_name FROM `{prefix}{FLAT}` \
         ORDER BY account, refund_id, detail_list_rec_id"
    ))
    .await
}

/// `account, refund_id, remark` of `wdt_refund` and `account, refund_id, rec_id, goods` of the
/// detail lines, in key order.
async fn normalized_rows(db: &TestDb, prefix: &str) -> (Vec<Vec<Option<String>>>, Vec<Vec<Option<String>>>) {
    let parents = db
        .rows(&format!(
            "SELECT account, refund_id, remark FROM `{prefix}wdt_refund` ORDER BY account, refund_id"
        ))
        .await;
    let lines = db
        .rows(&format!(
            "SELECT account, refund_id, rec_id, goods_name FROM `{prefix}wdt_refund_detail` \
             ORDER BY account, refund_id, rec_id"
        ))
        .await;
    (parents, lines)
}

fn row(cells: &[&str]) -> Vec<Option<String>> {
    cells.iter().map(|c| if *c == "NULL" { None } else { s(c) }).collect()
}

#[tokio::test]
async fn two_accounts_with_equal_refund_ids_share_the_tables_without_touching_each_other() {
    let db = TestDb::new("accounts").await;
    let infile_on_server = server_allows_local_infile(&db).await;
    for mode in [WriteMode::Upsert, WriteMode::Replace, WriteMode::Insert] {
        // LOAD DATA (stored rows by REPLACE where that is safe), LOAD DATA through the staging
        // table (a column of the user's makes REPLACE unsafe), and statements.
        for (infile, staged) in [(true, false), (true, true), (false, false)] {
            if infile && !infile_on_server {
                continue;
            }
            let path = match (infile, staged) {
                (true, false) => "i",
                (true, true) => "t",
                _ => "s",
            };
            let prefix = format!("{}{path}_", mode.as_str());
            let sink: MySqlSink = db
                .sink()
                .layout(Layout::Both)
                .write_mode(mode)
                .table_prefix(&prefix)
                .local_infile(infile)
                .build()
                .await
                .unwrap();
            if staged {
                let mut c = db.conn().await;
                for (table, _) in V3_DATA_TABLES {
                    c.query_drop(format!(
                        "ALTER TABLE `{prefix}{table}` ADD COLUMN erp_status VARCHAR(20) NULL"
                    ))
                    .await
                    .unwrap();
                }
                c.disconnect().await.unwrap();
            }
            let ctx = format!("{mode} infile={infile} staged={staged}");
            // Both companies have refunds 1 (lines 11 and 12) and 2.
            sink.commit(batch_of("A", vec![refund_of("A", 1, 10, 2), refund_of("A", 2, 10, 0)]))
                .await
                .unwrap();
            let r = sink
                .commit(batch_of("B", vec![refund_of("B", 1, 20, 2), refund_of("B", 2, 20, 1)]))
                .await
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            // B's rows are new rows, not updates of A's.
            assert_eq!(
                (r.inserted, r.updated, r.deleted, r.skipped_older),
                (10, 0, 0, 0),
                "{ctx}: {r:?}"
            );
            let both = vec![
                row(&["A", "1", "11", "A@10", "A goods"]),
                row(&["A", "1", "12", "A@10", "A goods"]),
                row(&["A", "2", "0", "A@10", "NULL"]),
                row(&["B", "1", "11", "B@20", "B goods"]),
                row(&["B", "1", "12", "B@20", "B goods"]),
                row(&["B", "2", "21", "B@20", "B goods"]),
            ];
            assert_eq!(flat_rows(&db, &prefix).await, both, "{ctx}");
            let (parents, lines) = normalized_rows(&db, &prefix).await;
            assert_eq!(
                parents,
                vec![
                    row(&["A", "1", "A@10"]),
                    row(&["A", "2", "A@10"]),
                    row(&["B", "1", "B@20"]),
                    row(&["B", "2", "B@20"]),
                ],
                "{ctx}"
            );
            assert_eq!(lines.len(), 5, "{ctx}: {lines:?}");
            if mode == WriteMode::Insert {
                // A stored key of the same account is still a duplicate.
                let e = sink
                    .commit(batch_of("B", vec![refund_of("B", 1, 30, 1)]))
                    .await
                    .unwrap_err();
                assert!(matches!(e, SinkError::Duplicate { .. }), "{ctx}: {e}");
                assert_eq!(flat_rows(&db, &prefix).await, both, "{ctx}");
                sink.disconnect().await.unwrap();
                continue;
            }

            // A's refund 1 loses line 12 (B's line 12 stays) and changes; B's copy is older
            // than nothing of A's, and newer than A's new copy: it must not matter.
            let r = sink
                .commit(batch_of("A", vec![refund_of("A", 1, 15, 1)]))
                .await
                .unwrap();
            assert_eq!((r.skipped_older, r.deleted), (0, 2), "{ctx}: {r:?}");
            // An older copy of A's refund 2 is skipped in upsert, written in replace; B's refund
            // 2 is never compared with it.
            let r = sink.commit(batch_of("A", vec![refund_of("A", 2, 5, 0)])).await.unwrap();
            let a2 = match mode {
                WriteMode::Upsert => {
                    assert_eq!(r.skipped_older, 1, "{ctx}: {r:?}");
                    "A@10"
                }
                _ => "A@5",
            };
            // And a copy of B's refund 1 older than what B stored is skipped, although A's
            // refund 1 is older still.
            let r = sink
                .commit(batch_of("B", vec![refund_of("B", 1, 12, 0)]))
                .await
                .unwrap();
            let b1: Vec<Vec<Option<String>>> = match mode {
                WriteMode::Upsert => {
                    assert_eq!(r.skipped_older, 1, "{ctx}: {r:?}");
                    vec![
                        row(&["B", "1", "11", "B@20", "B goods"]),
                        row(&["B", "1", "12", "B@20", "B goods"]),
                    ]
                }
                _ => vec![row(&["B", "1", "0", "B@12", "NULL"])],
            };
            let mut want = vec![
                row(&["A", "1", "11", "A@15", "A goods"]),
                row(&["A", "2", "0", a2, "NULL"]),
            ];
            want.extend(b1.clone());
            want.push(row(&["B", "2", "21", "B@20", "B goods"]));
            assert_eq!(flat_rows(&db, &prefix).await, want, "{ctx}");
            let (parents, lines) = normalized_rows(&db, &prefix).await;
            let b1_remark = b1[0][3].clone().unwrap();
            assert_eq!(
                parents,
                vec![
                    row(&["A", "1", "A@15"]),
                    row(&["A", "2", a2]),
                    row(&["B", "1", &b1_remark]),
                    row(&["B", "2", "B@20"]),
                ],
                "{ctx}"
            );
            let mut want_lines = vec![row(&["A", "1", "11", "A goods"])];
            if mode == WriteMode::Upsert {
                want_lines.push(row(&["B", "1", "11", "B goods"]));
                want_lines.push(row(&["B", "1", "12", "B goods"]));
            }
            want_lines.push(row(&["B", "2", "21", "B goods"]));
            assert_eq!(lines, want_lines, "{ctx}");
            // Each account's checkpoint is its own.
            for a in ["A", "B"] {
                let cp = sink.load_checkpoint(&StreamId::new(a, METHOD)).await.unwrap();
                assert_eq!(cp, Some(Checkpoint { window_end: at(100, 0) }), "{ctx}");
            }
            sink.disconnect().await.unwrap();
        }
    }
    db.drop_db().await;
}

#[tokio::test]
async fn a_backfill_stream_writes_the_rows_of_its_account() {
    let db = TestDb::new("acct_backfill").await;
    let sink = db.sink().layout(Layout::Flat).build().await.unwrap();
    sink.commit(batch_of("A", vec![refund_of("A", 1, 10, 1)]))
        .await
        .unwrap();
    sink.commit(batch_of("B", vec![refund_of("B", 1, 10, 1)]))
        .await
        .unwrap();
    let mut backfill = batch_of("A", vec![refund_of("A", 1, 30, 1)]);
    backfill.stream = StreamId::new("A", format!("{METHOD}#backfill:20240301-20240302"));
    let r = sink.commit(backfill).await.unwrap();
    assert_eq!((r.inserted, r.updated), (0, 1), "{r:?}");
    assert_eq!(
        flat_rows(&db, "").await,
        vec![
            row(&["A", "1", "11", "A@30", "A goods"]),
            row(&["B", "1", "11", "B@10", "B goods"]),
        ]
    );
    sink.disconnect().await.unwrap();
    db.drop_db().await;
}

// ---- The migration from schema version 3 ----

/// Creates every table exactly as schema version 3 did, with its version rows.
async fn create_v3(db: &TestDb) {
    let mut c = db.conn().await;
    create_v3_schema(&mut c).await;
    c.disconnect().await.unwrap();
}

/// Rows as a version-3 sink of `accounts` left them (see [`fill_v3_rows`]).
async fn fill_v3(db: &TestDb, accounts: &[&str]) {
    let mut c = db.conn().await;
    fill_v3_rows(&mut c, accounts).await;
    c.disconnect().await.unwrap();
}

/// The primary key columns of `table`, comma-separated.
async fn primary_key(db: &TestDb, table: &str) -> String {
    let rows = db
        .rows(&format!(
            "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}' AND INDEX_NAME = 'PRIMARY'"
        ))
        .await;
    rows[0][0].clone().unwrap_or_default()
}

async fn versions(db: &TestDb) -> Vec<Vec<Option<String>>> {
    db.rows("SELECT version FROM wdt_schema_version ORDER BY version").await
}

/// `account` of `table`: its definition (type, nullability, default, collation).
async fn account_column(db: &TestDb, table: &str) -> Vec<Vec<Option<String>>> {
    db.rows(&format!(
        "SELECT COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLLATION_NAME, ORDINAL_POSITION = \
         (SELECT MAX(ORDINAL_POSITION) FROM information_schema.COLUMNS c2 WHERE c2.TABLE_SCHEMA = DATABASE() \
         AND c2.TABLE_NAME = '{table}') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
         AND TABLE_NAME = '{table}' AND COLUMN_NAME = 'account'"
    ))
    .await
}

/// Asserts the version-4 shape and that the rows of `fill_v3` are all there, as `account`'s.
async fn assert_migrated(db: &TestDb, account: &str) {
    for (table, old_key) in V3_DATA_TABLES {
        assert_eq!(primary_key(db, table).await, format!("account,{old_key}"), "{table}");
        assert_eq!(
            account_column(db, table).await,
            vec![row(&["varchar(128)", "NO", "NULL", "utf8mb4_nopad_bin", "1"])],
            "{table}"
        );
    }
    assert_eq!(
        db.rows(&format!(
            "SELECT account, refund_id, detail_list_rec_id, remark, detail_list_goods_name FROM {FLAT} \
             ORDER BY refund_id, detail_list_rec_id"
        ))
        .await,
        vec![
            row(&[account, "1", "11", "old one", "g11"]),
            row(&[account, "1", "12", "old one", "g12"]),
            row(&[account, "2", "0", "old two", "NULL"]),
        ]
    );
    assert_eq!(
        db.rows("SELECT account, refund_id, remark, raw_json FROM wdt_refund")
            .await,
        vec![row(&[account, "1", "old one", "{\"refund_id\":1}"])]
    );
    assert_eq!(
        db.rows("SELECT account, refund_id, rec_id FROM wdt_refund_detail ORDER BY rec_id")
            .await,
        vec![row(&[account, "1", "11"]), row(&[account, "1", "12"])]
    );
    assert_eq!(
        db.rows("SELECT account, refund_id, rec_id, CAST(refund_amount AS CHAR) FROM wdt_refund_amount_detail")
            .await,
        vec![row(&[account, "1", "100", "123.4500"])]
    );
}

/// `CREATE_TIME` of every data table: an ALTER that rebuilds a table changes it.
async fn create_times(db: &TestDb) -> Vec<Vec<Option<String>>> {
    db.rows(
        "SELECT TABLE_NAME, CREATE_TIME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
         ORDER BY TABLE_NAME",
    )
    .await
}

#[tokio::test]
async fn a_version_3_database_with_rows_is_migrated_in_place_and_keeps_every_row() {
    let db = TestDb::new("migrate_v3").await;
    create_v3(&db).await;
    fill_v3(&db, &["shop-a"]).await;
    // A child table of the user's, with a foreign key to the old key.
    let mut c = db.conn().await;
    c.query_drop(format!(
        "CREATE TABLE erp_line (refund_id BIGINT NOT NULL, rec_id BIGINT NOT NULL, FOREIGN KEY (refund_id, rec_id) \
         REFERENCES {FLAT} (refund_id, detail_list_rec_id) ON DELETE CASCADE) ENGINE=InnoDB"
    ))
    .await
    .unwrap();
    c.query_drop("INSERT INTO erp_line VALUES (1, 11), (1, 12)")
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    let sink = db.sink().layout(Layout::Both).build().await.unwrap();
    assert_migrated(&db, "shop-a").await;
    assert_eq!(db.count("erp_line").await, 2, "the child rows stay");
    assert_eq!(
        versions(&db).await,
        vec![row(&["1"]), row(&["2"]), row(&["3"]), row(&["4"])]
    );
    // The checkpoint is kept: no re-sync.
    let cp = sink.load_checkpoint(&StreamId::new("shop-a", METHOD)).await.unwrap();
    assert_eq!(cp, Some(Checkpoint { window_end: at(100, 0) }));

    // The account's next copy of refund 1 updates its migrated rows; another company's
    // refund 1 is a row of its own.
    let r = sink
        .commit(batch_of("shop-a", vec![refund_of("shop-a", 1, 20, 1)]))
        .await
        .unwrap();
    assert_eq!((r.inserted, r.updated, r.deleted), (0, 4, 2), "{r:?}");
    // The user's foreign key still works: line 12's child cascaded with it.
    assert_eq!(
        db.rows("SELECT refund_id, rec_id FROM erp_line").await,
        vec![row(&["1", "11"])]
    );
    let r = sink
        .commit(batch_of("shop-b", vec![refund_of("shop-b", 1, 5, 1)]))
        .await
        .unwrap();
    assert_eq!((r.inserted, r.updated, r.skipped_older), (4, 0, 0), "{r:?}");
    assert_eq!(db.count(FLAT).await, 3);
    sink.disconnect().await.unwrap();

    // A second start changes nothing.
    let before = create_times(&db).await;
    let again = db.sink().layout(Layout::Both).build().await.unwrap();
    again.disconnect().await.unwrap();
    assert_eq!(create_times(&db).await, before);
    assert_eq!(versions(&db).await.len(), 4);
    assert_eq!(db.count(FLAT).await, 3);
    db.drop_db().await;
}

#[tokio::test]
async fn rows_of_an_unknown_account_are_refused_with_the_fix_and_never_guessed() {
    let db = TestDb::new("migrate_refuse").await;
    create_v3(&db).await;
    fill_v3(&db, &["shop-a", "shop-b"]).await;
    let e = db.sink().layout(Layout::Flat).build().await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, SinkError::MigrationAccountUnknown { .. }), "{msg}");
    assert!(msg.contains(&format!("`{FLAT}`")), "{msg}");
    assert!(
        msg.contains("2 accounts") && msg.contains("\"shop-a\", \"shop-b\""),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "ALTER TABLE `{FLAT}` ADD COLUMN `account` VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin \
             NOT NULL DEFAULT '<account>'"
        )) && msg.contains(".migrate_account("),
        "{msg}"
    );
    // Nothing changed, nothing recorded.
    assert_eq!(primary_key(&db, FLAT).await, "refund_id,detail_list_rec_id");
    assert!(account_column(&db, FLAT).await.is_empty());
    assert_eq!(versions(&db).await.len(), 3);

    // No account at all is refused too.
    db.conn().await.query_drop("DELETE FROM wdt_sync_state").await.unwrap();
    let msg = db.sink().layout(Layout::Flat).build().await.unwrap_err().to_string();
    assert!(msg.contains("names no account for it"), "{msg}");

    // Following the fix (the statement it names) finishes the migration on the next start.
    db.conn()
        .await
        .query_drop(format!(
            "ALTER TABLE `{FLAT}` ADD COLUMN `account` VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin \
             NOT NULL DEFAULT 'shop-b'"
        ))
        .await
        .unwrap();
    // The normalized tables hold rows too; the builder option says whose.
    db.sink()
        .layout(Layout::Flat)
        .migrate_account("shop-b")
        .build()
        .await
        .unwrap()
        .disconnect()
        .await
        .unwrap();
    assert_migrated(&db, "shop-b").await;
    assert_eq!(versions(&db).await.len(), 4);
    db.drop_db().await;
}

#[tokio::test]
async fn empty_tables_are_migrated_without_asking() {
    let db = TestDb::new("migrate_empty").await;
    create_v3(&db).await;
    // Two accounts in the state, but no rows to give to either.
    let mut c = db.conn().await;
    c.query_drop(
        "INSERT INTO wdt_sync_state VALUES ('a', 'm', 'wdt_refund', '2024-03-01', NOW(3)), \
         ('b', 'm', 'wdt_refund', '2024-03-01', NOW(3))",
    )
    .await
    .unwrap();
    c.disconnect().await.unwrap();
    let sink = db.sink().layout(Layout::Normalized).build().await.unwrap();
    for (table, old_key) in V3_DATA_TABLES {
        assert_eq!(primary_key(&db, table).await, format!("account,{old_key}"), "{table}");
    }
    sink.commit(batch_of("a", vec![refund_of("a", 1, 10, 1)]))
        .await
        .unwrap();
    sink.commit(batch_of("b", vec![refund_of("b", 1, 10, 1)]))
        .await
        .unwrap();
    assert_eq!(db.count("wdt_refund").await, 2);
    sink.disconnect().await.unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn an_interrupted_migration_finishes_on_the_next_start() {
    let db = TestDb::new("migrate_resume").await;
    create_v3(&db).await;
    fill_v3(&db, &["shop-a"]).await;
    let mut c = db.conn().await;
    // The flat table: the column added by hand, with a case-insensitive collation and empty
    // values. The detail table: the sink's first step done (filled by the default), not the
    // key. The amount lines: a nullable column, half filled by hand.
    for sql in [
        format!("ALTER TABLE {FLAT} ADD COLUMN account VARCHAR(128) NOT NULL DEFAULT ''"),
        "ALTER TABLE wdt_refund_detail ADD COLUMN `account` VARCHAR(128) CHARACTER SET utf8mb4 \
         COLLATE utf8mb4_nopad_bin NOT NULL DEFAULT 'shop-a'"
            .into(),
        "ALTER TABLE wdt_refund_amount_detail ADD COLUMN account VARCHAR(64) NULL".into(),
        "INSERT INTO wdt_refund_amount_detail (refund_id, rec_id, account) VALUES (1, 101, 'shop-a')".into(),
    ] {
        c.query_drop(&sql).await.unwrap();
    }
    c.disconnect().await.unwrap();
    let sink = db.sink().layout(Layout::Both).build().await.unwrap();
    sink.disconnect().await.unwrap();
    assert_eq!(
        db.rows("SELECT account, rec_id FROM wdt_refund_amount_detail ORDER BY rec_id")
            .await,
        vec![row(&["shop-a", "100"]), row(&["shop-a", "101"])]
    );
    db.conn()
        .await
        .query_drop("DELETE FROM wdt_refund_amount_detail WHERE rec_id = 101")
        .await
        .unwrap();
    assert_migrated(&db, "shop-a").await;
    assert_eq!(versions(&db).await.len(), 4);
    db.drop_db().await;
}

#[tokio::test]
async fn without_creating_tables_the_old_shape_is_refused_with_the_statements_to_run() {
    let db = TestDb::new("migrate_noddl").await;
    create_v3(&db).await;
    fill_v3(&db, &["shop-a"]).await;
    let e = db
        .sink()
        .layout(Layout::Flat)
        .create_tables(false)
        .build()
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, SinkError::MigrationNeeded { version: 4, .. }), "{msg}");
    // The same statement adds the columns for archived refunds first (`account` stays last).
    let add = format!(
        "ALTER TABLE `{FLAT}` ADD COLUMN `source` VARCHAR(16) NULL, ADD COLUMN `reason` VARCHAR(255) NULL, \
         ADD COLUMN `operator_id` BIGINT NULL, ADD COLUMN `return_mobile` VARCHAR(255) NULL, \
         ADD COLUMN `return_name` VARCHAR(255) NULL, ADD COLUMN `salesman` VARCHAR(255) NULL, \
         ADD COLUMN `salesman_id` BIGINT NULL, ADD COLUMN `stockin_no` VARCHAR(255) NULL, \
         ADD COLUMN `pay_status` INT NULL, ADD COLUMN `flag_id` BIGINT NULL, \
         ADD COLUMN `account` VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL DEFAULT 'shop-a'"
    );
    let key = format!(
        "ALTER TABLE `{FLAT}` MODIFY `account` VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin \
         NOT NULL, DROP PRIMARY KEY, ADD PRIMARY KEY (`account`, `refund_id`, `detail_list_rec_id`)"
    );
    assert!(msg.contains(&add) && msg.contains(&key), "{msg}");
    assert_eq!(primary_key(&db, FLAT).await, "refund_id,detail_list_rec_id");

    // Run as the DBA would, the statements make a table the sink accepts as it is.
    let mut c = db.conn().await;
    for (table, _) in V3_DATA_TABLES {
        let msg = db
            .sink()
            .layout(Layout::Both)
            .create_tables(false)
            .build()
            .await
            .unwrap_err()
            .to_string();
        let fix = msg
            .split("run as an administrator: ")
            .nth(1)
            .unwrap_or_else(|| panic!("{msg}"));
        let fix = fix.split("; or start the sink").next().unwrap();
        assert!(fix.contains(&format!("`{table}`")), "{table}: {fix}");
        for sql in fix.split("; ") {
            c.query_drop(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
    c.disconnect().await.unwrap();
    db.sink()
        .layout(Layout::Both)
        .create_tables(false)
        .build()
        .await
        .unwrap()
        .disconnect()
        .await
        .unwrap();
    assert_migrated(&db, "shop-a").await;
    assert_eq!(versions(&db).await.len(), 4);
    db.drop_db().await;
}

#[tokio::test]
async fn sinks_starting_at_once_on_a_version_3_database_migrate_it_once() {
    let db = TestDb::new("migrate_twins").await;
    create_v3(&db).await;
    fill_v3(&db, &["shop-a"]).await;
    let start = || db.sink().layout(Layout::Both).build();
    let (a, b, c) = tokio::join!(start(), start(), start());
    for sink in [a, b, c] {
        sink.unwrap().disconnect().await.unwrap();
    }
    assert_migrated(&db, "shop-a").await;
    assert_eq!(
        versions(&db).await,
        vec![row(&["1"]), row(&["2"]), row(&["3"]), row(&["4"])]
    );
    db.drop_db().await;
}

/// Two accounts whose first syncs write into the same empty tables at the same time: every
/// batch of both commits at its first attempt. (Without the commits taking turns, the gap
/// locks of one account's lookup block the other's inserts and InnoDB picks a deadlock victim
/// at nearly every pair of attempts.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_accounts_first_syncing_into_the_same_tables_at_once_never_deadlock() {
    let db = TestDb::new("accounts_turns").await;
    let mut sinks = Vec::new();
    for _ in 0..2 {
        let sink: MySqlSink = db.sink().layout(Layout::Both).table_prefix("t_").build().await.unwrap();
        sinks.push(sink);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (who, sink) in ["shop_a", "shop_b"].into_iter().zip(sinks) {
        tasks.spawn(async move {
            let mut retries = 0;
            for batch in 0..25i64 {
                let records = (0..40).map(|i| refund_of(who, batch * 40 + i + 1, 10, 2)).collect();
                let report = sink.commit(batch_of(who, records)).await.unwrap();
                retries += report.retries;
            }
            (who, retries)
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (who, retries) = done.unwrap();
        assert_eq!(retries, 0, "{who}'s batches were retried (deadlocks)");
    }
    for who in ["shop_a", "shop_b"] {
        let n = db
            .rows(&format!("SELECT COUNT(*) FROM `t_wdt_refund` WHERE account = '{who}'"))
            .await;
        assert_eq!(n[0][0].as_deref(), Some("1000"), "{who}");
    }
    db.drop_db().await;
}
