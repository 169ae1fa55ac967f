//! Property test against a real MariaDB: arbitrary strings (emoji, tabs, newlines, backslashes,
//! quotes, NUL, `\N`, `NULL`) and decimals come back exactly, through LOAD DATA and through the
//! multi-row statement fallback.

mod common;

use std::sync::atomic::{AtomicI64, Ordering};

use common::*;
use mysql_async::prelude::Queryable;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use refund_sink_mysql::{Layout, MySqlSink};
use rust_decimal::Decimal;
use wdt_qimen::model::{decode_refund, Refund};
use wdt_qimen::sync::Sink;

/// Text built from any character plus the ones LOAD DATA treats specially.
fn nasty_text() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        4 => any::<char>(),
        1 => Just('\\'),
        1 => Just('\t'),
        1 => Just('\n'),
        1 => Just('\r'),
        1 => Just('\0'),
        1 => Just('\''),
        1 => Just('"'),
        1 => Just('😀'),
        1 => Just('退'),
        1 => Just('N'),
    ];
    prop_oneof![
        8 => prop::collection::vec(ch, 0..40).prop_map(|v| v.into_iter().collect::<String>()),
        1 => Just("\\N".to_owned()),
        1 => Just("NULL".to_owned()),
        1 => Just(String::new()),
    ]
}

/// Any value DECIMAL(19,4) holds exactly.
fn money() -> impl Strategy<Value = Decimal> {
    (0u32..=4).prop_flat_map(|scale| {
        let bound = 10i128.pow(15 + scale) - 1;
        (-bound..=bound).prop_map(move |m| Decimal::from_i128_with_scale(m, scale))
    })
}

type Case = (Option<String>, String, String, Decimal, Option<Decimal>);

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::option::of(nasty_text()),
        nasty_text(),
        nasty_text(),
        money(),
        proptest::option::of(money()),
    )
}

fn refund_of(id: i64, (remark, nick, goods, amount, price): &Case) -> Refund {
    let mut r = refund(id, at(id, 250), 1);
    r.remark = remark.clone();
    r.buyer_nick = Some(nick.clone());
    r.actual_refund_amount = Some(*amount);
    r.detail_list[0].goods_name = Some(goods.clone());
    r.detail_list[0].price = *price;
    r
}

type Stored = (
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Decimal>,
    Option<Decimal>,
);

async fn read_back(sink: &MySqlSink, db: &TestDb, ids: &[i64]) -> (Vec<Stored>, Vec<Refund>) {
    let flat = &sink.table_names().flat;
    let refund_table = &sink.table_names().refund;
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let mut c = db.conn().await;
    let rows: Vec<Stored> = c
        .query(format!(
            "SELECT refund_id, remark, buyer_nick, detail_list_goods_name, actual_refund_amount, detail_list_price \
             FROM `{flat}` WHERE refund_id IN ({list}) ORDER BY refund_id"
        ))
        .await
        .unwrap();
    let raw: Vec<String> = c
        .query(format!(
            "SELECT raw_json FROM `{refund_table}` WHERE refund_id IN ({list}) ORDER BY refund_id"
        ))
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    (
        rows,
        raw.iter()
            .map(|j| decode_refund(j).expect("raw JSON decodes"))
            .collect(),
    )
}

#[test]
fn strings_and_decimals_round_trip_exactly_through_both_paths() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (db, fast, slow) = rt.block_on(async {
        let db = TestDb::new("roundtrip").await;
        let fast = db
            .sink()
            .layout(Layout::Both)
            .table_prefix("fast_")
            .build()
            .await
            .unwrap();
        let slow = db
            .sink()
            .layout(Layout::Both)
            .table_prefix("slow_")
            .local_infile(false)
            .build()
            .await
            .unwrap();
        (db, fast, slow)
    });
    let allowed = rt.block_on(server_allows_local_infile(&db));
    assert!(fast.uses_local_infile() == allowed && !slow.uses_local_infile());
    let next_id = AtomicI64::new(1);
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&prop::collection::vec(case(), 1..6), |cases| {
        let refunds: Vec<Refund> = cases
            .iter()
            .map(|c| refund_of(next_id.fetch_add(1, Ordering::SeqCst), c))
            .collect();
        let ids: Vec<i64> = refunds.iter().map(|r| r.refund_id).collect();
        rt.block_on(async {
            for sink in [&fast, &slow] {
                let report = sink
                    .commit(batch(refunds.clone(), None))
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(report.dead_lettered, 0);
                let (rows, raw) = read_back(sink, &db, &ids).await;
                prop_assert_eq!(rows.len(), refunds.len());
                for ((row, r), back) in rows.iter().zip(&refunds).zip(&raw) {
                    let want: Stored = (
                        r.refund_id,
                        r.remark.clone(),
                        r.buyer_nick.clone(),
                        r.detail_list[0].goods_name.clone(),
                        r.actual_refund_amount,
                        r.detail_list[0].price,
                    );
                    prop_assert_eq!(row, &want, "uses_local_infile = {}", sink.uses_local_infile());
                    prop_assert_eq!(back, r);
                }
            }
            Ok(())
        })
    });
    rt.block_on(async {
        fast.disconnect().await.unwrap();
        slow.disconnect().await.unwrap();
        db.drop_db().await;
    });
    result.unwrap();
}
