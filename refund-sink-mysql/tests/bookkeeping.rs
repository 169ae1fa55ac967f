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
        let every: Vec<Vec<Option<String>>> = (1..=refund_sink_mysql::schema::SCHEMA_VERSION)
            .map(|v| vec![s(&v.to_string())])
            .collect();
        assert_eq!(versions, every);
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

#[tokio::test]
async fn dead_letters_that_do_not_fit_are_clipped_and_never_fail_the_batch() {
    let db = TestDb::new("letters").await;
    let sink = db.sink().build().await.unwrap();
    // A rule of the user's that refuses some letters outright.
    db.conn()
        .await
        .query_drop("ALTER TABLE wdt_sync_dead_letter ADD CONSTRAINT no_poison CHECK (raw_json NOT LIKE '%poison%')")
        .await
        .unwrap();
    let mut b = batch(vec![refund(1, at(1, 0), 1)], Some(at(9, 0)));
    // serde quotes the whole bad value: a reason past the 64 KB of the column.
    let long = format!("invalid type: string \"{}\", expected i64", "坏".repeat(30_000));
    b.dead_letters.push(DeadLetter {
        key: Some("long".into()),
        raw_json: "{\"refund_id\":\"x\"}".into(),
        reason: long.clone(),
    });
    b.dead_letters.push(DeadLetter {
        key: Some("refused".into()),
        raw_json: "{\"poison\":true}".into(),
        reason: "decode: expected value".into(),
    });
    let r = sink.commit(b.clone()).await.unwrap();
    assert_eq!((r.inserted, r.dead_lettered), (1, 2));
    assert_eq!(sink.load_checkpoint(&stream()).await.unwrap(), cp(9));
    let letters = db
        .rows("SELECT record_key, LENGTH(reason), reason, raw_json, raw_sha256 FROM wdt_sync_dead_letter ORDER BY 1")
        .await;
    let (l, r2) = (&letters[0], &letters[1]);
    assert_eq!(l[0], s("long"));
    let stored: usize = l[1].as_deref().unwrap().parse().unwrap();
    assert!(stored <= 65_535 && stored > 60_000, "{stored}");
    let reason = l[2].as_deref().unwrap();
    assert!(
        reason.starts_with("invalid type: string \"坏坏")
            && reason.ends_with(&format!("[clipped: {} bytes in all]", long.len())),
        "{}",
        &reason[reason.len() - 80..]
    );
    assert_eq!(l[3], s("{\"refund_id\":\"x\"}"));
    // The refused one is kept, minimal: key, hash of the raw record, why.
    assert_eq!(r2[0], s("refused"));
    let why = r2[2].as_deref().unwrap();
    assert!(
        why.starts_with("decode: expected value [the full dead letter was refused:") && why.contains("no_poison"),
        "{why}"
    );
    assert_eq!(r2[3], s(""));
    let hash: Option<String> = db
        .conn()
        .await
        .query_first("SELECT SHA2('{\"poison\":true}', 256)")
        .await
        .unwrap();
    assert_eq!(r2[4], hash);
    // Committing the batch again stores no second copy of either.
    sink.commit(b).await.unwrap();
    assert_eq!(db.count("wdt_sync_dead_letter").await, 2);
    sink.disconnect().await.unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn a_refund_too_large_for_one_statement_becomes_a_dead_letter() {
    let db = TestDb::new("packet").await;
    let packet: Option<u64> = db
        .conn()
        .await
        .query_first("SELECT @@max_allowed_packet")
        .await
        .unwrap();
    let packet = packet.unwrap() as usize;
    if packet > 64 << 20 {
        eprintln!("max_allowed_packet is {packet}: too large to test against");
        return db.drop_db().await;
    }
    let mut big = refund(2, at(1, 0), 1);
    big.extra.insert(
        "attachment".into(),
        serde_json::Value::String("x".repeat(packet + (1 << 20))),
    );
    let records = vec![refund(1, at(1, 0), 1), big];
    // Multi-row statements: the refund's wdt_refund row (with its raw JSON) cannot be sent.
    let sink = db
        .sink()
        .layout(Layout::Normalized)
        .table_prefix("s_")
        .local_infile(false)
        .max_retries(1)
        .build()
        .await
        .unwrap();
    let r = sink.commit(batch(records.clone(), Some(at(9, 0)))).await.unwrap();
    assert_eq!((r.dead_lettered, r.retries), (1, 0), "{r:?}");
    assert_eq!(db.count("s_wdt_refund").await, 1);
    assert_eq!(sink.load_checkpoint(&stream()).await.unwrap(), cp(9));
    let letter = db
        .rows("SELECT record_key, reason, LENGTH(raw_json) FROM s_wdt_sync_dead_letter")
        .await;
    assert_eq!(letter[0][0], s("2"));
    let reason = letter[0][1].as_deref().unwrap();
    assert!(
        reason.contains("too large for one statement")
            && reason.contains("max_allowed_packet")
            && reason.contains("raw_json clipped to"),
        "{reason}"
    );
    let kept: usize = letter[0][2].as_deref().unwrap().parse().unwrap();
    assert!(kept > 0 && kept < packet, "{kept}");
    sink.disconnect().await.unwrap();

    // LOAD DATA has no such limit: there the refund is stored whole.
    if server_allows_local_infile(&db).await {
        let sink = db
            .sink()
            .layout(Layout::Normalized)
            .table_prefix("i_")
            .build()
            .await
            .unwrap();
        let r = sink.commit(batch(records, Some(at(9, 0)))).await.unwrap();
        assert_eq!((r.dead_lettered, r.inserted), (0, 2 + 2 + 2), "{r:?}");
        let len = db
            .rows("SELECT LENGTH(raw_json) FROM i_wdt_refund WHERE refund_id = 2")
            .await;
        assert!(len[0][0].as_deref().unwrap().parse::<usize>().unwrap() > packet);
        sink.disconnect().await.unwrap();
    }
    db.drop_db().await;
}
