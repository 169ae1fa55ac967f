//! Archived refunds against a real MariaDB: the columns appended for them, added to tables made
//! before them; one row set per refund across `Refund.search` and `Refund.searchHistory`.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use refund_sink_mysql::schema::APPENDED_COLUMNS;
use refund_sink_mysql::{Layout, WriteMode};
use wdt_qimen::model::{Refund, RefundSource, RefundStatus};
use wdt_qimen::sync::Sink;

/// The copy `Refund.searchHistory` returns of `live` once archived at `modified`: its fields,
/// a detail list (here without the last line), no amount lines.
fn archived(live: &Refund, modified: chrono::NaiveDateTime) -> Refund {
    let mut lines = live.detail_list.clone();
    lines.pop();
    Refund {
        refund_id: live.refund_id,
        refund_no: live.refund_no.clone(),
        status: Some(RefundStatus::from(90)),
        modified: Some(modified),
        reason: Some("无".into()),
        operator_id: Some(21),
        salesman: Some("W".into()),
        stockin_no: Some("RK1".into()),
        pay_status: Some(0),
        detail_list: lines,
        source: RefundSource::History,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_refund_seen_live_and_later_archived_is_one_row_set_and_keeps_its_amount_lines() {
    for mode in [WriteMode::Upsert, WriteMode::Replace] {
        let db = TestDb::new("history_rows").await;
        let sink = db.sink().layout(Layout::Both).write_mode(mode).build().await.unwrap();
        let live = refund(1, at(0, 0), 3);
        sink.commit(batch(vec![live.clone(), refund(2, at(5, 0), 1)], None))
            .await
            .unwrap();
        assert_eq!(db.count("wdt_refund_amount_detail").await, 2);

        let history = archived(&live, at(60, 0));
        sink.commit(batch(vec![history.clone()], None)).await.unwrap();
        // One row per remaining line; the flat table and wdt_refund carry the history fields.
        let flat = db
            .rows(
                "SELECT detail_list_rec_id, status, source, reason, operator_id, salesman, stockin_no, pay_status \
                 FROM aftersales_refund_refund_search WHERE refund_id = 1 ORDER BY detail_list_rec_id",
            )
            .await;
        assert_eq!(
            flat.len(),
            2,
            "{mode:?}: the line history no longer has is gone: {flat:?}"
        );
        assert_eq!(
            flat[0][1..],
            [s("90"), s("history"), s("无"), s("21"), s("W"), s("RK1"), s("0")]
        );
        assert_eq!(db.count("wdt_refund_detail").await, 2 + 1);
        // The history method has no amount lines: the stored one stays.
        let amounts = db
            .rows("SELECT rec_id FROM wdt_refund_amount_detail WHERE refund_id = 1")
            .await;
        assert_eq!(amounts, vec![vec![s("100")]], "{mode:?}");
        let parent = db
            .rows("SELECT source, salesman, src_tids FROM wdt_refund WHERE refund_id = 1")
            .await;
        assert_eq!(parent, vec![vec![s("history"), s("W"), None]]);
        let other = db
            .rows("SELECT source, salesman FROM wdt_refund WHERE refund_id = 2")
            .await;
        assert_eq!(other, vec![vec![s("live"), None]]);

        // Newer wins across the sources: an older live copy changes nothing (upsert).
        if mode == WriteMode::Upsert {
            let report = sink.commit(batch(vec![live.clone()], None)).await.unwrap();
            assert_eq!(report.skipped_older, 1);
            let src = db.rows("SELECT source FROM wdt_refund WHERE refund_id = 1").await;
            assert_eq!(src, vec![vec![s("history")]]);
        }
        drop(sink);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn tables_made_before_the_archive_columns_get_them_at_start_up() {
    let db = TestDb::new("history_alter").await;
    let sink = db.sink().layout(Layout::Both).build().await.unwrap();
    sink.commit(batch(vec![refund(1, at(0, 0), 2)], None)).await.unwrap();
    drop(sink);
    // The tables as an older build made them.
    let mut c = db.conn().await;
    for table in ["aftersales_refund_refund_search", "wdt_refund"] {
        let drops: Vec<String> = APPENDED_COLUMNS
            .iter()
            .map(|col| format!("DROP COLUMN `{col}`"))
            .collect();
        c.query_drop(format!("ALTER TABLE `{table}` {}", drops.join(", ")))
            .await
            .unwrap();
    }
    c.disconnect().await.unwrap();

    // Without creating tables, the check names the statement to run.
    let e = db
        .sink()
        .layout(Layout::Both)
        .create_tables(false)
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("ADD COLUMN `source`"), "{e}");

    let sink = db.sink().layout(Layout::Both).build().await.unwrap();
    let stored = db
        .rows("SELECT refund_id, source, salesman FROM aftersales_refund_refund_search ORDER BY detail_list_rec_id")
        .await;
    assert_eq!(stored, vec![vec![s("1"), None, None], vec![s("1"), None, None]]);
    let history = archived(&refund(1, at(0, 0), 2), at(60, 0));
    sink.commit(batch(vec![history], None)).await.unwrap();
    let stored = db
        .rows("SELECT source, salesman FROM wdt_refund WHERE refund_id = 1")
        .await;
    assert_eq!(stored, vec![vec![s("history"), s("W")]]);
    // The columns come just before the account, in order.
    let cols = db
        .rows(&format!(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{}' \
             AND TABLE_NAME = 'wdt_refund' ORDER BY ORDINAL_POSITION",
            db.name
        ))
        .await;
    let names: Vec<String> = cols.into_iter().map(|r| r[0].clone().unwrap()).collect();
    assert_eq!(names.last().map(String::as_str), Some("account"));
    assert_eq!(
        &names[names.len() - 1 - APPENDED_COLUMNS.len()..names.len() - 1],
        APPENDED_COLUMNS
    );
    drop(sink);
    db.drop_db().await;
}
