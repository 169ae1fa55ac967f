//! Checkpoints and dead letters: per data table, keyed byte for byte, migrated from schema
//! version 1, and never the reason a batch cannot commit.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use refund_sink_mysql::{Layout, SinkError};
use wdt_qimen::sync::{Batch, Checkpoint, DeadLetter, Sink, StreamId};

const FLAT: &str = "aftersales_refund_refund_search";

fn cp(secs: i64) -> Option<Checkpoint> {
    Some(Checkpoint {
        window_end: at(secs, 0),
    })
}

#[tokio::test]
async fn tables_added_by_a_layout_switch_are_filled_from_the_start() {
    let db = TestDb::new("switch").await;
    let flat = db.sink().layout(Layout::Flat).build().await.unwrap();
    let first = vec![refund(1, at(10, 0), 2), refund(2, at(20, 0), 0)];
    let second = vec![refund(3, at(150, 0), 1)];
    flat.commit(batch(first.clone(), Some(at(100, 0)))).await.unwrap();
    flat.commit(batch(second.clone(), Some(at(200, 0)))).await.unwrap();
    assert_eq!(flat.load_checkpoint(&stream()).await.unwrap(), cp(200));
    flat.disconnect().await.unwrap();

    // The normalized tables have no checkpoint: the engine starts from its configured start.
    let both = db.sink().layout(Layout::Both).build().await.unwrap();
    assert_eq!(both.load_checkpoint(&stream()).await.unwrap(), None);
    both.commit(batch(first, Some(at(100, 0)))).await.unwrap();
    // The earliest over the layout's tables: the flat table's stays at 200.
    assert_eq!(both.load_checkpoint(&stream()).await.unwrap(), cp(100));
    both.commit(batch(second, Some(at(200, 0)))).await.unwrap();
    assert_eq!(both.load_checkpoint(&stream()).await.unwrap(), cp(200));
    assert_eq!(db.count("wdt_refund").await, 3);
    assert_eq!(db.count("wdt_refund_detail").await, 3);
    let rows = db
        .rows("SELECT data_table, window_end FROM wdt_sync_state ORDER BY 1")
        .await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows.iter().all(|r| r[1] == s("2024-03-01 00:03:20.000000")), "{rows:?}");
    // Back to flat alone: its checkpoint was never moved back.
    let flat = db.sink().layout(Layout::Flat).build().await.unwrap();
    assert_eq!(flat.load_checkpoint(&stream()).await.unwrap(), cp(200));
    flat.disconnect().await.unwrap();
    both.disconnect().await.unwrap();
    db.drop_db().await;
}

fn on(stream: &StreamId, records: Vec<wdt_qimen::model::Refund>, end: i64) -> Batch<wdt_qimen::model::Refund> {
    let mut b = batch(records, Some(at(end, 0)));
    b.stream = stream.clone();
    b.dead_letters.push(DeadLetter {
        key: Some("x".into()),
        raw_json: "{\"x\":1}".into(),
        reason: "bad".into(),
    });
    b
}

#[tokio::test]
async fn stream_ids_differing_in_case_width_or_trailing_space_stay_apart() {
    let db = TestDb::new("streamids").await;
    let sink = db.sink().build().await.unwrap();
    let method = "aftersales.refund.Refund.search";
    let ids = ["Shop1", "shop1 ", "ＳＨＯＰ１"];
    for (i, account) in ids.iter().enumerate() {
        let stream = StreamId::new(*account, method);
        sink.commit(on(
            &stream,
            vec![refund(i as i64 + 1, at(1, 0), 1)],
            100 * (i as i64 + 1),
        ))
        .await
        .unwrap();
    }
    for (i, account) in ids.iter().enumerate() {
        let got = sink.load_checkpoint(&StreamId::new(*account, method)).await.unwrap();
        assert_eq!(got, cp(100 * (i as i64 + 1)), "{account:?}");
    }
    assert_eq!(
        sink.load_checkpoint(&StreamId::new("shop1", method)).await.unwrap(),
        None
    );
    assert_eq!(db.count("wdt_sync_state").await, 3);
    assert_eq!(db.count("wdt_sync_dead_letter").await, 3, "one dead letter per stream");
    sink.disconnect().await.unwrap();
    db.drop_db().await;
}

/// Turns the bookkeeping tables back into their schema version 1 shape and stores a version 1
/// checkpoint of [`stream`] at `at(end)`.
async fn back_to_version_1(db: &TestDb, prefix: &str, end: i64) {
    let mut c = db.conn().await;
    for sql in [
        format!("DELETE FROM `{prefix}wdt_sync_state`"),
        format!(
            "ALTER TABLE `{prefix}wdt_sync_state` DROP PRIMARY KEY, DROP COLUMN data_table, \
             MODIFY account VARCHAR(128) COLLATE utf8mb4_unicode_ci NOT NULL, \
             MODIFY method VARCHAR(128) COLLATE utf8mb4_unicode_ci NOT NULL, ADD PRIMARY KEY (account, method)"
        ),
        format!(
            "ALTER TABLE `{prefix}wdt_sync_dead_letter` MODIFY account VARCHAR(128) COLLATE utf8mb4_unicode_ci \
             NOT NULL, MODIFY method VARCHAR(128) COLLATE utf8mb4_unicode_ci NOT NULL"
        ),
        format!("DELETE FROM `{prefix}wdt_schema_version` WHERE version > 1"),
        format!(
            "INSERT INTO `{prefix}wdt_sync_state` (account, method, window_end, updated_at) \
             VALUES ('test-sid', 'aftersales.refund.Refund.search', '{}', NOW(3))",
            at(end, 0)
        ),
    ] {
        c.query_drop(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    c.disconnect().await.unwrap();
}

#[tokio::test]
async fn version_1_checkpoints_move_to_the_tables_they_describe() {
    let db = TestDb::new("migrate").await;
    // A flat deployment, a normalized one, and one where both hold rows.
    for (prefix, layout) in [("f_", Layout::Flat), ("n_", Layout::Normalized), ("b_", Layout::Both)] {
        let sink = db.sink().layout(layout).table_prefix(prefix).build().await.unwrap();
        sink.commit(batch(vec![refund(1, at(1, 0), 1)], Some(at(50, 0))))
            .await
            .unwrap();
        sink.disconnect().await.unwrap();
        back_to_version_1(&db, prefix, 300).await;

        // Without creating tables the sink may not migrate: the error names the statements.
        let e = db
            .sink()
            .layout(layout)
            .table_prefix(prefix)
            .create_tables(false)
            .build()
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, SinkError::MigrationNeeded { version: 2, .. }), "{msg}");
        assert!(
            msg.contains(&format!(
                "ALTER TABLE `{prefix}wdt_sync_state` MODIFY `account` VARCHAR(128)"
            )) && msg.contains("ADD COLUMN `data_table`")
                && msg.contains("creating tables on"),
            "{msg}"
        );

        let sink = db.sink().layout(layout).table_prefix(prefix).build().await.unwrap();
        let got = sink.load_checkpoint(&stream()).await.unwrap();
        match layout {
            Layout::Both => assert_eq!(got, None, "{prefix}: both hold rows, the old row cannot tell"),
            _ => assert_eq!(got, cp(300), "{prefix}"),
        }
        let legacy = db
            .rows(&format!(
                "SELECT COUNT(*) FROM `{prefix}wdt_sync_state` WHERE data_table = ''"
            ))
            .await;
        assert_eq!(
            legacy[0][0],
            s(if layout == Layout::Both { "1" } else { "0" }),
            "{prefix}"
        );
        let collations = db
            .rows(&format!(
                "SELECT TABLE_NAME, COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME IN ('{prefix}wdt_sync_state', '{prefix}wdt_sync_dead_letter') \
                 AND COLUMN_NAME IN ('account', 'method', 'data_table') ORDER BY 1, 2",
                db.name
            ))
            .await;
        assert_eq!(collations.len(), 5);
        assert!(
            collations.iter().all(|r| r[2] == s("utf8mb4_nopad_bin")),
            "{collations:?}"
        );
        let versions = db
            .rows(&format!("SELECT version FROM `{prefix}wdt_schema_version` ORDER BY 1"))
            .await;
        assert_eq!(versions, vec![vec![s("1")], vec![s("2")]]);
        // The migrated sink commits, and a restart migrates nothing again.
        sink.commit(batch(vec![refund(2, at(1, 0), 1)], Some(at(400, 0))))
            .await
            .unwrap();
        assert_eq!(sink.load_checkpoint(&stream()).await.unwrap(), cp(400));
        sink.disconnect().await.unwrap();
        db.sink()
            .layout(layout)
            .table_prefix(prefix)
            .create_tables(false)
            .build()
            .await
            .unwrap()
            .disconnect()
            .await
            .unwrap();
    }
    assert_eq!(db.count(&format!("f_{FLAT}")).await, 2);
    db.drop_db().await;
}
