//! User mappings against a real MariaDB (`MYSQL_URL`): the example BI mapping written through
//! both write paths in every write mode, newer-wins and stale-line removal on a mapped table,
//! dead letters from transforms, a column added to a live mapping, type changes refused at
//! start-up, and the preview matching what lands. Every test makes its own database.

mod common;

use chrono::{Duration, NaiveDateTime};
use common::*;
use mysql_async::prelude::Queryable;
use refund_sink_mysql::mapping::spec::{Literal, WithoutLines};
use refund_sink_mysql::mapping::{ColumnSpec, Mapping, MappingSpec, TransformSpec};
use refund_sink_mysql::{Layout, SinkError, WriteMode};
use rust_decimal::{Decimal, RoundingStrategy};
use wdt_qimen::model::{Refund, RefundDetail, RefundSource, RefundStatus, RefundType, StockinStatus};
use wdt_qimen::sync::{Batch, Checkpoint, Sink, StreamId, WindowBounds};

const METHOD: &str = "aftersales.refund.Refund.search";
const MODES: [WriteMode; 3] = [WriteMode::Upsert, WriteMode::Replace, WriteMode::Insert];

/// One row as text (`None` for NULL).
type Row = Vec<Option<String>>;
/// Rows as text.
type Rows = Vec<Row>;

/// The example mapping, as shipped.
fn bi_spec() -> MappingSpec {
    toml::from_str(include_str!("../../examples/mappings/bi_aftersales.toml")).expect("the example mapping parses")
}

/// The example mapping, its table renamed `{prefix}bi_aftersales`, as changed by `edit`.
fn bi_mapping_with(prefix: &str, edit: impl FnOnce(&mut MappingSpec)) -> &'static Mapping {
    let mut spec = bi_spec();
    spec.tables[0].name = "{prefix}bi_aftersales".into();
    edit(&mut spec);
    Mapping::compile(&spec, prefix).unwrap_or_else(|e| panic!("{e}"))
}

/// The example mapping under `prefix`.
fn bi_mapping(prefix: &str) -> &'static Mapping {
    bi_mapping_with(prefix, |_| {})
}

/// The column `name` of the example mapping's table.
fn column<'a>(spec: &'a mut MappingSpec, name: &str) -> &'a mut ColumnSpec {
    spec.tables[0]
        .columns
        .iter_mut()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// A refund that exercises the example mapping: trimmed order numbers, missing shops and
/// buyers, every status label path, amounts whose fen need rounding, refund quantities that
/// round half-even, goods names longer than the column.
fn bi_refund(id: i64, modified: NaiveDateTime, lines: usize) -> Refund {
    let mut r = refund(id, modified, lines);
    r.refund_no = Some(format!("  TK{id:06} "));
    r.stockin_status = (id % 6 != 5).then(|| StockinStatus::from(id % 5));
    r.return_warehouse_no = Some(format!("WH{id}"));
    if id % 2 == 0 {
        r.shop_no = None;
    }
    if id % 4 == 1 {
        r.buyer_nick = Some("  ".into());
    }
    r.status = Some(RefundStatus::from(match id % 3 {
        0 => 90,
        1 => 30,
        _ => 55, // unknown: the map's default
    }));
    r.actual_refund_amount = Some(["600.00", "99.995", "0.015", "500"][(id % 4) as usize].parse().unwrap());
    for (i, d) in r.detail_list.iter_mut().enumerate() {
        d.refund_num = Some(["1.125", "1.135", "2.5", "3"][i % 4].parse().unwrap());
        d.refund_amount = Some(["19.994", "0.005", "7"][i % 3].parse().unwrap());
        d.goods_no = Some(format!(" g-{}x ", d.rec_id.unwrap()));
        if i == 0 {
            d.goods_name = Some("长商品名称".repeat(8));
        }
    }
    r
}

/// Fen, rounded half away from zero, as the mapping's `multiply = 100, round = 0` does.
fn fen(d: Option<Decimal>) -> Option<String> {
    d.map(|d| {
        (d * Decimal::ONE_HUNDRED)
            .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
            .to_string()
    })
}

/// `v` unless it is NULL or blank, else `default`.
fn or_default(v: Option<String>, default: &str) -> Option<String> {
    match v {
        Some(v) if !v.trim().is_empty() => Some(v),
        _ => Some(default.to_owned()),
    }
}

/// The row the example mapping gives for `line` of `r` (`None`: the row of a refund without
/// lines), computed from the refund, as MySQL's text protocol shows it.
fn bi_row(account: &str, r: &Refund, line: Option<&RefundDetail>) -> Row {
    let created = r.created.unwrap();
    let modified = r.modified.unwrap();
    let status = r.status.unwrap();
    let status_label = if status.code() == 90 {
        "已完成"
    } else if status.is_known() {
        status.label()
    } else {
        "其他"
    };
    let shop_and_warehouse: Vec<String> = [&r.shop_no, &r.return_warehouse_no]
        .into_iter()
        .filter_map(|v| v.clone().filter(|s| !s.trim().is_empty()))
        .collect();
    let amount = r.actual_refund_amount;
    vec![
        Some(r.refund_id.to_string()),
        Some(line.map_or(0, |l| l.rec_id.unwrap()).to_string()),
        Some(account.to_owned()),
        r.refund_no.as_ref().map(|s| s.trim().to_owned()),
        line.and_then(|l| l.tid.clone()),
        or_default(r.shop_no.clone(), "未知店铺"),
        r.refund_type.map(|t| t.label().to_owned()),
        Some(status_label.to_owned()),
        r.stockin_status.map(|s| s.label().to_owned()),
        Some(created.format("%Y/%m/%d %H:%M:%S").to_string()),
        Some(created.date().format("%Y-%m-%d").to_string()),
        // DATETIME without fraction: cut, not rounded.
        Some((modified - Duration::hours(8)).format("%Y-%m-%d %H:%M:%S").to_string()),
        Some(modified.format("%Y-%m-%d %H:%M:%S%.3f").to_string()),
        fen(amount),
        line.and_then(|l| l.goods_no.as_ref()).map(|g| g.trim().to_uppercase()),
        line.and_then(|l| l.goods_name.as_ref())
            .map(|g| g.chars().take(30).collect()),
        line.and_then(|l| l.refund_num).map(|n| {
            let mut n = n.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
            n.rescale(2);
            n.to_string()
        }),
        Some(fen(line.and_then(|l| l.refund_amount)).unwrap_or_else(|| "0".into())),
        or_default(r.buyer_nick.as_ref().map(|b| b.trim().to_owned()), "匿名"),
        (!shop_and_warehouse.is_empty()).then(|| shop_and_warehouse.join("/")),
        Some(
            if amount.is_some_and(|a| a >= Decimal::from(500)) {
                "是"
            } else {
                "否"
            }
            .to_owned(),
        ),
        Some(
            match r.source {
                RefundSource::Live => "在线",
                RefundSource::History => "归档",
                other => panic!("the example mapping has no label for {other:?}"),
            }
            .to_owned(),
        ),
    ]
}

/// Every row the example mapping gives for `refunds` of `account` (`without_lines = "row"`),
/// in key order.
fn bi_rows(account: &str, refunds: &[Refund]) -> Rows {
    let mut keyed: Vec<((i64, i64), Row)> = Vec::new();
    for r in refunds {
        if r.detail_list.is_empty() {
            keyed.push(((r.refund_id, 0), bi_row(account, r, None)));
        }
        for l in &r.detail_list {
            keyed.push(((r.refund_id, l.rec_id.unwrap()), bi_row(account, r, Some(l))));
        }
    }
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, row)| row).collect()
}

/// The mapping's columns of its (only) table, in key order (`账号, 退换单ID, 明细ID`).
async fn bi_select(db: &TestDb, mapping: &Mapping) -> Rows {
    let plan = mapping.tables()[0];
    let cols: Vec<String> = plan.columns().iter().map(|c| format!("`{}`", c.name)).collect();
    db.rows(&format!(
        "SELECT {} FROM `{}` ORDER BY `账号`, `退换单ID`, `明细ID`",
        cols.join(", "),
        plan.name()
    ))
    .await
}

/// A batch of `account`'s live stream.
fn batch_of(account: &str, records: Vec<Refund>, checkpoint: Option<NaiveDateTime>) -> Batch<Refund> {
    Batch {
        stream: StreamId::new(account, METHOD),
        window: WindowBounds {
            from: at(0, 0),
            to: at(86_400, 0),
        },
        records,
        dead_letters: vec![],
        checkpoint: checkpoint.map(|window_end| Checkpoint { window_end }),
    }
}

/// The account of [`stream`].
fn account() -> String {
    stream().account.clone()
}

#[tokio::test]
async fn the_example_mapping_lands_exactly_through_both_write_paths_in_every_mode() {
    let db = TestDb::new("mapex").await;
    let infile_on_server = server_allows_local_infile(&db).await;
    let first = vec![
        bi_refund(1, at(10, 723), 0),
        bi_refund(2, at(10, 723), 3),
        bi_refund(3, at(10, 0), 1),
    ];
    let mut changed = bi_refund(2, at(20, 999), 3);
    changed.detail_list.remove(1);
    changed.detail_list[0].refund_num = Some("0.125".parse().unwrap());
    for mode in MODES {
        // Insert mode cannot write a stored refund again: its second batch is new refunds only.
        let (second, stored) = match mode {
            WriteMode::Insert => (
                vec![bi_refund(4, at(30, 0), 2)],
                vec![
                    first[0].clone(),
                    first[1].clone(),
                    first[2].clone(),
                    bi_refund(4, at(30, 0), 2),
                ],
            ),
            _ => (
                vec![changed.clone(), bi_refund(4, at(30, 0), 2)],
                vec![
                    first[0].clone(),
                    changed.clone(),
                    first[2].clone(),
                    bi_refund(4, at(30, 0), 2),
                ],
            ),
        };
        let want = bi_rows(&account(), &stored);
        let mut tables = Vec::new();
        let mut reports = Vec::new();
        for infile in [true, false] {
            let prefix = format!("{}_{}_", mode.as_str(), if infile { "i" } else { "s" });
            let mapping = bi_mapping(&prefix);
            let sink = db
                .sink()
                .mapping(mapping)
                .write_mode(mode)
                .table_prefix(&prefix)
                .local_infile(infile)
                .max_rows_per_statement(2)
                .build()
                .await
                .unwrap();
            assert_eq!(sink.uses_local_infile(), infile && infile_on_server, "{prefix}");
            let mut got = Vec::new();
            for records in [first.clone(), second.clone()] {
                got.push(sink.commit(batch(records, Some(at(5000, 0)))).await.unwrap());
            }
            assert_eq!((got[0].inserted, got[0].dead_lettered), (5, 0), "{prefix}: {got:?}");
            let rows = bi_select(&db, mapping).await;
            assert_eq!(rows, want, "{prefix}");
            // The table as declared: Chinese names in order, the declared types.
            let declared = db
                .rows(&format!(
                    "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{prefix}bi_aftersales' ORDER BY ORDINAL_POSITION"
                ))
                .await;
            let spec = bi_spec();
            let names: Vec<Option<String>> = declared.iter().map(|r| r[0].clone()).collect();
            let want_names: Vec<Option<String>> = spec.tables[0].columns.iter().map(|c| s(&c.name)).collect();
            assert_eq!(names, want_names, "{prefix}");
            for (name, ty) in [
                ("建单日期", "date"),
                ("退货数量", "decimal(12,2)"),
                ("modified", "datetime(3)"),
                ("修改时间UTC", "datetime"),
                ("退款金额_分", "bigint(20)"),
            ] {
                let found = declared.iter().find(|r| r[0].as_deref() == Some(name)).unwrap();
                assert!(
                    found[1].as_deref().unwrap().eq_ignore_ascii_case(ty)
                        || (ty == "bigint(20)" && found[1].as_deref() == Some("bigint")),
                    "{prefix} {name}: {found:?}"
                );
            }
            assert_eq!(
                sink.load_checkpoint(&stream()).await.unwrap(),
                Some(Checkpoint {
                    window_end: at(5000, 0)
                })
            );
            tables.push(rows);
            reports.push(got);
            sink.disconnect().await.unwrap();
        }
        assert_eq!(tables[0], tables[1], "{mode}: the write paths differ");
        assert_eq!(reports[0], reports[1], "{mode}: the reports differ");
    }
    db.drop_db().await;
}

#[tokio::test]
async fn a_mapped_table_keeps_the_newer_copy_and_drops_lines_that_went() {
    let db = TestDb::new("mapnewer").await;
    for infile in [true, false] {
        let prefix = if infile { "i_" } else { "s_" };
        let mapping = bi_mapping(prefix);
        let sink = db
            .sink()
            .mapping(mapping)
            .table_prefix(prefix)
            .local_infile(infile)
            .build()
            .await
            .unwrap();
        let stored = bi_refund(8, at(50, 123), 3);
        sink.commit(batch(vec![stored.clone(), bi_refund(9, at(50, 0), 1)], None))
            .await
            .unwrap();

        // An older copy (one line, another buyer) is skipped: nothing of refund 8 changes.
        let mut older = bi_refund(8, at(40, 0), 1);
        older.buyer_nick = Some("older".into());
        let r = sink.commit(batch(vec![older], None)).await.unwrap();
        assert_eq!(
            (r.skipped_older, r.inserted, r.updated, r.deleted),
            (1, 0, 0, 0),
            "{prefix}: {r:?}"
        );
        let want_9 = bi_rows(&account(), &[bi_refund(9, at(50, 0), 1)]);
        let mut want = bi_rows(&account(), std::slice::from_ref(&stored));
        want.extend(want_9.clone());
        assert_eq!(bi_select(&db, mapping).await, want, "{prefix}");

        // A newer copy replaces it; the line it lost (rec_id 82) is deleted.
        let mut newer = bi_refund(8, at(60, 0), 3);
        newer.detail_list.remove(1);
        newer.buyer_nick = Some("newer".into());
        let r = sink.commit(batch(vec![newer.clone()], None)).await.unwrap();
        assert_eq!((r.skipped_older, r.updated, r.deleted), (0, 2, 1), "{prefix}: {r:?}");
        let mut want = bi_rows(&account(), std::slice::from_ref(&newer));
        want.extend(want_9.clone());
        assert_eq!(bi_select(&db, mapping).await, want, "{prefix}");

        // Losing every line leaves the row of a refund without lines (rec_id 0).
        let bare = bi_refund(8, at(70, 0), 0);
        let r = sink.commit(batch(vec![bare.clone()], None)).await.unwrap();
        assert_eq!((r.inserted, r.deleted), (1, 2), "{prefix}: {r:?}");
        let mut want = bi_rows(&account(), std::slice::from_ref(&bare));
        want.extend(want_9);
        assert_eq!(bi_select(&db, mapping).await, want, "{prefix}");
        let line_cols = db
            .rows(&format!(
                "SELECT `明细ID`, `交易ID`, `商品编码`, `退货数量`, `明细退款_分` FROM `{prefix}bi_aftersales` \
                 WHERE `退换单ID` = 8"
            ))
            .await;
        assert_eq!(line_cols, vec![vec![s("0"), None, None, None, s("0")]], "{prefix}");
        sink.disconnect().await.unwrap();
    }
    db.drop_db().await;
}

#[tokio::test]
async fn a_detail_table_that_skips_refunds_without_lines_has_no_row_for_them() {
    let db = TestDb::new("mapskip").await;
    for infile in [true, false] {
        let prefix = if infile { "i_" } else { "s_" };
        let mapping = bi_mapping_with(prefix, |s| s.tables[0].without_lines = WithoutLines::Skip);
        let sink = db
            .sink()
            .mapping(mapping)
            .table_prefix(prefix)
            .local_infile(infile)
            .build()
            .await
            .unwrap();
        let with_lines = bi_refund(5, at(10, 0), 2);
        let r = sink
            .commit(batch(
                vec![bi_refund(4, at(10, 0), 0), with_lines.clone()],
                Some(at(20, 0)),
            ))
            .await
            .unwrap();
        assert_eq!(r.inserted, 2, "{prefix}: {r:?}");
        assert_eq!(
            bi_select(&db, mapping).await,
            bi_rows(&account(), std::slice::from_ref(&with_lines)),
            "{prefix}"
        );
        // Refund 5 loses every line: its rows go, and none takes their place.
        let r = sink
            .commit(batch(vec![bi_refund(5, at(30, 0), 0)], None))
            .await
            .unwrap();
        assert_eq!((r.inserted, r.deleted), (0, 2), "{prefix}: {r:?}");
        assert_eq!(bi_select(&db, mapping).await, Rows::new(), "{prefix}");
        assert_eq!(
            sink.load_checkpoint(&stream()).await.unwrap(),
            Some(Checkpoint { window_end: at(20, 0) })
        );
        sink.disconnect().await.unwrap();
    }
    db.drop_db().await;
}

#[tokio::test]
async fn two_accounts_with_the_same_refund_ids_share_a_mapped_table() {
    let db = TestDb::new("mapaccts").await;
    for infile in [true, false] {
        let prefix = if infile { "i_" } else { "s_" };
        let mapping = bi_mapping(prefix);
        let sink = db
            .sink()
            .mapping(mapping)
            .table_prefix(prefix)
            .local_infile(infile)
            .build()
            .await
            .unwrap();
        let of = |who: &str, id: i64, secs: i64, lines: usize| {
            let mut r = bi_refund(id, at(secs, 0), lines);
            r.buyer_nick = Some(format!("{who}的买家"));
            r
        };
        let a = vec![of("A", 1, 10, 2), of("A", 2, 10, 0)];
        let b = vec![of("B", 1, 20, 2), of("B", 2, 20, 1)];
        sink.commit(batch_of("A", a.clone(), Some(at(100, 0)))).await.unwrap();
        let r = sink.commit(batch_of("B", b.clone(), Some(at(100, 0)))).await.unwrap();
        assert_eq!(
            (r.inserted, r.updated, r.deleted, r.skipped_older),
            (3, 0, 0, 0),
            "{prefix}: {r:?}"
        );
        let mut want = bi_rows("A", &a);
        want.extend(bi_rows("B", &b));
        assert_eq!(bi_select(&db, mapping).await, want, "{prefix}");

        // A's refund 1 loses line 12 (B's line 12 stays); an older copy of A's refund 2 is
        // skipped although B stored a newer refund 2.
        let a1 = of("A", 1, 15, 1);
        let r = sink
            .commit(batch_of("A", vec![a1.clone(), of("A", 2, 5, 3)], None))
            .await
            .unwrap();
        assert_eq!((r.skipped_older, r.deleted, r.updated), (1, 1, 1), "{prefix}: {r:?}");
        let mut want = bi_rows("A", &[a1, a[1].clone()]);
        want.extend(bi_rows("B", &b));
        assert_eq!(bi_select(&db, mapping).await, want, "{prefix}");
        // B's stream has its own checkpoint.
        let cp = sink.load_checkpoint(&StreamId::new("B", METHOD)).await.unwrap();
        assert_eq!(cp, Some(Checkpoint { window_end: at(100, 0) }));
        sink.disconnect().await.unwrap();
    }
    db.drop_db().await;
}

#[tokio::test]
async fn a_refund_a_transform_cannot_map_is_a_dead_letter_naming_table_and_column() {
    let db = TestDb::new("mapdead").await;
    for infile in [true, false] {
        let prefix = if infile { "i_" } else { "s_" };
        let mapping = bi_mapping(prefix);
        let sink = db
            .sink()
            .mapping(mapping)
            .table_prefix(prefix)
            .local_infile(infile)
            .build()
            .await
            .unwrap();
        // A type code the built-in map lacks (`labels = "type"`, no default).
        let mut no_label = bi_refund(2, at(10, 0), 1);
        no_label.refund_type = Some(RefundType::from(77));
        // 11 digits before the point: DECIMAL(12,2) holds 10.
        let mut overflow = bi_refund(3, at(10, 0), 2);
        overflow.detail_list[1].refund_num = Some("12345678901.5".parse().unwrap());
        // 41 characters for VARCHAR(40).
        let mut too_long = bi_refund(4, at(10, 0), 1);
        too_long.refund_no = Some("单".repeat(41));
        let good = vec![bi_refund(1, at(10, 0), 2), bi_refund(5, at(10, 0), 0)];
        let records = vec![good[0].clone(), no_label, overflow, too_long, good[1].clone()];
        let r = sink.commit(batch(records, Some(at(900, 0)))).await.unwrap();
        assert_eq!((r.inserted, r.dead_lettered), (3, 3), "{prefix}: {r:?}");
        assert_eq!(bi_select(&db, mapping).await, bi_rows(&account(), &good), "{prefix}");
        let letters = db
            .rows(&format!(
                "SELECT record_key, reason FROM `{prefix}wdt_sync_dead_letter` ORDER BY record_key"
            ))
            .await;
        let table = format!("{prefix}bi_aftersales");
        let expect = [
            ("2", "退换类型", "77"),
            ("3", "退货数量", "DECIMAL(12,2)"),
            ("4", "订单编号", "41"),
        ];
        assert_eq!(letters.len(), expect.len(), "{prefix}: {letters:?}");
        for (letter, (key, col, detail)) in letters.iter().zip(expect) {
            let reason = letter[1].as_deref().unwrap();
            assert_eq!(letter[0].as_deref(), Some(key), "{prefix}: {letters:?}");
            assert!(
                reason.contains(&format!("{table}.{col}")) && reason.contains(detail),
                "{prefix}: refund {key}: {reason}"
            );
        }
        assert_eq!(
            sink.load_checkpoint(&stream()).await.unwrap(),
            Some(Checkpoint { window_end: at(900, 0) })
        );
        sink.disconnect().await.unwrap();
    }
    db.drop_db().await;
}

#[tokio::test]
async fn a_column_added_to_a_live_mapping_is_added_to_the_table_and_filled_from_the_start() {
    let db = TestDb::new("mapadd").await;
    for infile in [true, false] {
        let prefix = if infile { "i_" } else { "s_" };
        let table = format!("{prefix}bi_aftersales");
        let v1 = bi_mapping(prefix);
        let sink = db
            .sink()
            .mapping(v1)
            .table_prefix(prefix)
            .local_infile(infile)
            .build()
            .await
            .unwrap();
        let refunds = vec![
            bi_refund(1, at(10, 0), 2),
            bi_refund(2, at(10, 0), 0),
            bi_refund(3, at(10, 0), 1),
        ];
        sink.commit(batch(refunds.clone(), Some(at(100, 0)))).await.unwrap();
        assert_eq!(
            sink.load_checkpoint(&stream()).await.unwrap(),
            Some(Checkpoint { window_end: at(100, 0) })
        );
        sink.disconnect().await.unwrap();
        // A column of the user's own, with values.
        let mut c = db.conn().await;
        c.query_drop(format!("ALTER TABLE `{table}` ADD COLUMN `人工标注` VARCHAR(20) NULL"))
            .await
            .unwrap();
        c.query_drop(format!(
            "UPDATE `{table}` SET `人工标注` = CONCAT('标注', `退换单ID`, '-', `明细ID`)"
        ))
        .await
        .unwrap();

        // The mapping gains a nullable column.
        let v2 = bi_mapping_with(prefix, |s| {
            s.tables[0].columns.push(ColumnSpec {
                name: "退款备注".into(),
                sql_type: "VARCHAR(64)".into(),
                source: Some("remark".into()),
                transforms: vec![],
                not_null: false,
            })
        });
        assert_ne!(v1.tables()[0].fingerprint(), v2.tables()[0].fingerprint());
        // Without creating tables the sink adds nothing, and names the statement.
        let e = db
            .sink()
            .mapping(v2)
            .table_prefix(prefix)
            .create_tables(false)
            .build()
            .await
            .unwrap_err();
        let SinkError::SchemaMismatch { column, fix, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(column, "`退款备注`", "{e}");
        assert_eq!(
            fix,
            &format!("ALTER TABLE `{table}` ADD COLUMN `退款备注` VARCHAR(64) NULL"),
            "{e}"
        );
        let sink = db
            .sink()
            .mapping(v2)
            .table_prefix(prefix)
            .local_infile(infile)
            .build()
            .await
            .unwrap();
        let added = db
            .rows(&format!(
                "SELECT COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}' AND COLUMN_NAME = '退款备注'"
            ))
            .await;
        assert_eq!(added, vec![vec![s("varchar(64)"), s("YES")]], "{prefix}");
        let empty = db
            .rows(&format!("SELECT COUNT(*) FROM `{table}` WHERE `退款备注` IS NOT NULL"))
            .await;
        assert_eq!(empty, vec![vec![s("0")]], "{prefix}");
        // The table's checkpoint belonged to the old mapping: the stream starts again.
        assert_eq!(sink.load_checkpoint(&stream()).await.unwrap(), None, "{prefix}");

        let rows = bi_rows(&account(), &refunds).len() as u64;
        let r = sink.commit(batch(refunds.clone(), Some(at(100, 0)))).await.unwrap();
        assert_eq!((r.inserted, r.updated, r.deleted), (0, rows, 0), "{prefix}: {r:?}");
        let mut want = bi_rows(&account(), &refunds);
        let mut i = 0;
        for r in &refunds {
            for _ in 0..r.detail_list.len().max(1) {
                want[i].push(r.remark.clone());
                i += 1;
            }
        }
        assert_eq!(bi_select(&db, v2).await, want, "{prefix}");
        let own = db
            .rows(&format!(
                "SELECT `人工标注` FROM `{table}` ORDER BY `退换单ID`, `明细ID`"
            ))
            .await;
        assert_eq!(
            own,
            vec![
                vec![s("标注1-11")],
                vec![s("标注1-12")],
                vec![s("标注2-0")],
                vec![s("标注3-31")]
            ],
            "{prefix}"
        );
        assert_eq!(
            sink.load_checkpoint(&stream()).await.unwrap(),
            Some(Checkpoint { window_end: at(100, 0) })
        );
        c.disconnect().await.unwrap();
        sink.disconnect().await.unwrap();
    }
    db.drop_db().await;
}

/// The `SchemaMismatch` a build of `mapping` fails with.
async fn mismatch(db: &TestDb, prefix: &str, mapping: &'static Mapping) -> (String, String, String) {
    let e = db
        .sink()
        .mapping(mapping)
        .table_prefix(prefix)
        .build()
        .await
        .unwrap_err();
    let text = e.to_string();
    match e {
        SinkError::SchemaMismatch { column, fix, .. } => (column, fix, text),
        other => panic!("not a schema mismatch: {other}"),
    }
}

#[tokio::test]
async fn a_table_that_cannot_hold_the_mapping_is_refused_with_the_statement_that_fixes_it() {
    let db = TestDb::new("maptype").await;
    let mut c = db.conn().await;
    // The table's type, the mapping's, and the type the fix gives the column: for DECIMAL
    // both the digits before the point and the places (DECIMAL(12,4) would cut stored values
    // of 10^8 and more).
    for (prefix, col, narrow, wide, fixed) in [
        ("v_", "订单编号", "VARCHAR(10)", "VARCHAR(40)", "VARCHAR(40)"),
        ("d_", "退货数量", "DECIMAL(12,2)", "DECIMAL(12,4)", "DECIMAL(14,4)"),
    ] {
        let table = format!("{prefix}bi_aftersales");
        let created = bi_mapping_with(prefix, |s| column(s, col).sql_type = narrow.into());
        let sink = db.sink().mapping(created).table_prefix(prefix).build().await.unwrap();
        // A stored value as large as the table's type allows.
        let mut big = bi_refund(1, at(1, 0), 1);
        big.detail_list[0].refund_num = Some("1234567890.25".parse().unwrap());
        sink.commit(batch(vec![big], None)).await.unwrap();
        sink.disconnect().await.unwrap();
        let stored = bi_select(&db, created).await;
        let wanted = bi_mapping_with(prefix, |s| column(s, col).sql_type = wide.into());
        let (column, fix, text) = mismatch(&db, prefix, wanted).await;
        assert_eq!(column, format!("`{col}`"), "{text}");
        let statement = format!("ALTER TABLE `{table}` MODIFY `{col}` {fixed} NULL");
        assert_eq!(fix, statement, "{text}");
        assert!(text.contains(&table) && text.contains(&statement), "{text}");
        // The sink changed nothing; the statement it names is the fix.
        let ty: Option<String> = c
            .query_first(format!(
                "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                 AND TABLE_NAME = '{table}' AND COLUMN_NAME = '{col}'"
            ))
            .await
            .unwrap();
        assert!(ty.unwrap().eq_ignore_ascii_case(narrow));
        c.query_drop(&fix).await.unwrap();
        let kept: Vec<Option<String>> = db.rows(&format!("SELECT `{col}` FROM `{table}`")).await.concat();
        let i = created.tables()[0]
            .columns()
            .iter()
            .position(|c| c.name == col)
            .unwrap();
        let as_before = stored[0][i].as_deref().map(|v| match col {
            "退货数量" => format!("{v}00"),
            _ => v.to_owned(),
        });
        assert_eq!(kept, vec![as_before], "{fix} kept the stored value");
        let sink = db.sink().mapping(wanted).table_prefix(prefix).build().await.unwrap();
        sink.commit(batch(vec![bi_refund(1, at(1, 0), 1)], None)).await.unwrap();
        assert_eq!(db.count(&table).await, 1);
        sink.disconnect().await.unwrap();
        // The fixed column is wide enough for the old mapping too.
        db.sink()
            .mapping(created)
            .table_prefix(prefix)
            .build()
            .await
            .unwrap()
            .disconnect()
            .await
            .unwrap();
    }

    // Without creating tables, a missing mapped table is named with its CREATE statement.
    db.sink()
        .layout(Layout::Flat)
        .table_prefix("n_")
        .build()
        .await
        .unwrap()
        .disconnect()
        .await
        .unwrap();
    let e = db
        .sink()
        .mapping(bi_mapping("n_"))
        .table_prefix("n_")
        .create_tables(false)
        .build()
        .await
        .unwrap_err();
    let text = e.to_string();
    let SinkError::MissingTable { table, fix } = &e else {
        panic!("not a missing table: {text}")
    };
    assert_eq!(table, "`n_bi_aftersales`", "{text}");
    assert!(
        fix.contains("CREATE TABLE IF NOT EXISTS `n_bi_aftersales`") && fix.contains("`退换单ID` BIGINT NOT NULL"),
        "{text}"
    );
    // The statement named is the one to run.
    let create = fix
        .strip_prefix("create it as an administrator with: ")
        .and_then(|f| f.split_once("; the statements of every table"))
        .map(|(sql, _)| sql.to_owned())
        .unwrap_or_else(|| panic!("{fix}"));
    c.query_drop(&create).await.unwrap();
    db.sink()
        .mapping(bi_mapping("n_"))
        .table_prefix("n_")
        .create_tables(false)
        .build()
        .await
        .unwrap()
        .disconnect()
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn the_preview_shows_what_lands_in_mysql() {
    let db = TestDb::new("mapprev").await;
    let mapping = bi_mapping("p_");
    let mut bad = bi_refund(6, at(10, 0), 1);
    bad.refund_type = Some(RefundType::from(77));
    let refunds = vec![
        bi_refund(3, at(10, 0), 3),
        bi_refund(1, at(10, 723), 0),
        bi_refund(2, at(10, 120), 2),
        bad,
        bi_refund(4, at(11, 5), 4),
    ];
    let previews = mapping.preview(&refunds, &account());
    assert_eq!(previews.len(), 1);
    let p = &previews[0];
    assert_eq!(p.table, "p_bi_aftersales");
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
    assert!(
        p.errors[0].starts_with("refund 6: ") && p.errors[0].contains("p_bi_aftersales.退换类型"),
        "{:?}",
        p.errors
    );
    let sink = db.sink().mapping(mapping).table_prefix("p_").build().await.unwrap();
    let r = sink.commit(batch(refunds, None)).await.unwrap();
    assert_eq!(r.dead_lettered, 1);
    let mut shown = p.rows.clone();
    // Preview rows come in refund order; the SELECT in key order.
    shown.sort_by_key(|row| {
        let n = |i: usize| row[i].as_deref().unwrap().parse::<i64>().unwrap();
        (n(0), n(1))
    });
    let landed = bi_select(&db, mapping).await;
    assert_eq!(shown.len(), landed.len());
    for (a, b) in shown.iter().zip(&landed) {
        assert_eq!(a, b, "preview (left) and MySQL (right) differ");
    }
    sink.disconnect().await.unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn a_mapping_changed_and_changed_back_fills_its_table_again_each_time() {
    let db = TestDb::new("mapback").await;
    for infile in [true, false] {
        let prefix = if infile { "i_" } else { "s_" };
        let v1 = bi_mapping(prefix);
        // v2 names an anonymous buyer differently.
        let v2 = bi_mapping_with(prefix, |s| {
            column(s, "买家").transforms = vec![
                TransformSpec::Trim,
                TransformSpec::Default(Literal::Text("无名".into())),
            ]
        });
        let buyers = format!("SELECT DISTINCT `买家` FROM `{prefix}bi_aftersales` ORDER BY 1");
        // Refund 1 has a blank buyer.
        let refunds = vec![bi_refund(1, at(10, 0), 1)];
        for (round, (mapping, label)) in [(v1, "匿名"), (v2, "无名"), (v1, "匿名")].into_iter().enumerate() {
            let sink = db
                .sink()
                .mapping(mapping)
                .table_prefix(prefix)
                .local_infile(infile)
                .build()
                .await
                .unwrap();
            // Each change, back to an earlier mapping too, starts the stream from the start:
            // the rows were last written by another mapping.
            assert_eq!(
                sink.load_checkpoint(&stream()).await.unwrap(),
                None,
                "{prefix} round {round}"
            );
            sink.commit(batch(refunds.clone(), Some(at(100, 0)))).await.unwrap();
            assert_eq!(
                db.rows(&buyers).await.concat(),
                vec![s(label)],
                "{prefix} round {round}"
            );
            assert_eq!(
                sink.load_checkpoint(&stream()).await.unwrap(),
                Some(Checkpoint { window_end: at(100, 0) })
            );
            // Another account's checkpoint is its own: this stream's commit left it alone, and
            // the other stream's commit drops its own checkpoint of the earlier mapping.
            let others = format!("SELECT data_table FROM `{prefix}wdt_sync_state` WHERE account = 'other'");
            let key = |m: &Mapping| s(&format!("{prefix}bi_aftersales#{}", m.tables()[0].fingerprint()));
            let before: Vec<Option<String>> = match round {
                0 => vec![],
                _ => vec![key(if round == 1 { v1 } else { v2 })],
            };
            assert_eq!(db.rows(&others).await.concat(), before, "{prefix} round {round}");
            sink.commit(batch_of("other", vec![], Some(at(50, 0)))).await.unwrap();
            assert_eq!(
                db.rows(&others).await.concat(),
                vec![key(mapping)],
                "{prefix} round {round}"
            );
            sink.disconnect().await.unwrap();
        }
    }
    db.drop_db().await;
}

/// A mapping of three tables: refunds (the account column added by the sink), their amount
/// lines, and the refund's goods joined into one column.
fn three_tables(prefix: &str) -> &'static Mapping {
    let spec: MappingSpec = toml::from_str(
        r#"
        [[tables]]
        name = "{prefix}m_refund"
        grain = "refund"
        columns = [
          { name = "refund_id", type = "BIGINT", source = "refund_id" },
          { name = "modified", type = "DATETIME(3)", source = "modified" },
          { name = "退款金额", type = "DECIMAL(12,2)", source = "actual_refund_amount" },
          { name = "商品", type = "VARCHAR(255)", source = "detail_list.goods_no", transforms = [{ join = "," }] },
        ]

        [[tables]]
        name = "{prefix}m_amount"
        grain = "amount_detail"
        columns = [
          { name = "账号", type = "VARCHAR(64)", source = "account" },
          { name = "refund_id", type = "BIGINT", source = "refund_id" },
          { name = "rec_id", type = "BIGINT", source = "amount_detail_list.rec_id" },
          { name = "金额", type = "DECIMAL(12,2)", source = "amount_detail_list.refund_amount" },
        ]
        "#,
    )
    .unwrap();
    Mapping::compile(&spec, prefix).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_mapping_of_several_tables_writes_them_together_and_keeps_amount_lines_history_lacks() {
    let db = TestDb::new("mapmulti").await;
    for infile in [true, false] {
        let prefix = if infile { "i_" } else { "s_" };
        let mapping = three_tables(prefix);
        assert_eq!(mapping.tables()[0].columns().last().map(|c| c.name), Some("account"));
        let sink = db
            .sink()
            .mapping(mapping)
            .table_prefix(prefix)
            .local_infile(infile)
            .build()
            .await
            .unwrap();
        let refunds = vec![refund(1, at(10, 0), 2), refund(2, at(10, 0), 0)];
        let r = sink.commit(batch(refunds.clone(), Some(at(100, 0)))).await.unwrap();
        assert_eq!(r.inserted, 4, "{prefix}: {r:?}");
        let parents =
            format!("SELECT refund_id, modified, `退款金额`, `商品`, account FROM `{prefix}m_refund` ORDER BY 1");
        let amounts = format!("SELECT `账号`, refund_id, rec_id, `金额` FROM `{prefix}m_amount` ORDER BY 2, 3");
        let parent = |r: &Refund| {
            let goods: Vec<String> = r.detail_list.iter().filter_map(|d| d.goods_no.clone()).collect();
            vec![
                s(&r.refund_id.to_string()),
                s(&r.modified.unwrap().format("%Y-%m-%d %H:%M:%S%.3f").to_string()),
                s(&r.actual_refund_amount.unwrap().to_string()),
                s(&goods.join(",")),
                s(&account()),
            ]
        };
        let amount = |r: &Refund| -> Rows {
            r.amount_detail_list
                .iter()
                .map(|a| {
                    vec![
                        s(&account()),
                        s(&r.refund_id.to_string()),
                        s(&a.rec_id.unwrap().to_string()),
                        s(&a.refund_amount.unwrap().to_string()),
                    ]
                })
                .collect()
        };
        assert_eq!(
            db.rows(&parents).await,
            refunds.iter().map(parent).collect::<Rows>(),
            "{prefix}"
        );
        assert_eq!(
            db.rows(&amounts).await,
            refunds.iter().flat_map(amount).collect::<Rows>(),
            "{prefix}"
        );

        // An archived copy (Refund.searchHistory has no amount lines) leaves them; a live copy
        // without them removes them. An older copy changes neither table.
        let mut archived = refund(1, at(20, 0), 1);
        archived.source = RefundSource::History;
        archived.amount_detail_list.clear();
        let mut live = refund(2, at(20, 0), 0);
        live.amount_detail_list.clear();
        let older = refund(3, at(10, 0), 0);
        sink.commit(batch(vec![older.clone()], None)).await.unwrap();
        let mut older_copy = refund(3, at(5, 0), 1);
        older_copy.amount_detail_list.clear();
        let r = sink
            .commit(batch(vec![archived.clone(), live.clone(), older_copy], None))
            .await
            .unwrap();
        assert_eq!((r.skipped_older, r.deleted), (1, 1), "{prefix}: {r:?}");
        assert_eq!(
            db.rows(&parents).await,
            [&archived, &live, &older].into_iter().map(parent).collect::<Rows>(),
            "{prefix}"
        );
        let mut want = amount(&refunds[0]);
        want.extend(amount(&older));
        assert_eq!(db.rows(&amounts).await, want, "{prefix}");
        sink.disconnect().await.unwrap();
    }
    db.drop_db().await;
}

#[tokio::test]
async fn verify_counts_a_mapped_table_by_its_own_key_version_and_source_columns() {
    let db = TestDb::new("mapverify").await;
    // The example's table (Chinese key names), with a column holding `source` as read.
    let mapping = bi_mapping_with("v_", |spec| {
        spec.tables[0].columns.push(ColumnSpec {
            name: "读取方法".into(),
            sql_type: "VARCHAR(16)".into(),
            source: Some("source".into()),
            transforms: vec![],
            not_null: false,
        });
    });
    let sink = db.sink().mapping(mapping).table_prefix("v_").build().await.unwrap();
    let mut archived = bi_refund(3, at(30, 0), 1);
    archived.source = RefundSource::History;
    let refunds = vec![bi_refund(1, at(10, 500), 2), bi_refund(2, at(20, 0), 0), archived];
    sink.commit(batch_of("A", refunds, Some(at(100, 0)))).await.unwrap();
    sink.commit(batch_of("B", vec![bi_refund(1, at(10, 0), 1)], None))
        .await
        .unwrap();
    let (from, to) = (at(0, 0), at(100, 0));
    // Refund 1 has two rows: counted once; B's copy is B's.
    assert_eq!(sink.stored_count("A", "live", from, to).await.unwrap(), 2);
    assert_eq!(sink.stored_count("A", "history", from, to).await.unwrap(), 1);
    assert_eq!(sink.stored_count("A", "live", at(15, 0), to).await.unwrap(), 1);
    let versions = sink.stored_versions("A", "live", from, to).await.unwrap();
    assert_eq!(
        versions.into_iter().collect::<Vec<_>>(),
        [(1, at(10, 500)), (2, at(20, 0))]
    );
    let by_id = sink.stored_versions_of("B", &[1, 2]).await.unwrap();
    assert_eq!(by_id.into_iter().collect::<Vec<_>>(), [(1, Some(at(10, 0)))]);
    sink.disconnect().await.unwrap();

    // Without a column reading `source` every stored refund counts as read live.
    let plain = bi_mapping("w_");
    let sink = db.sink().mapping(plain).table_prefix("w_").build().await.unwrap();
    let mut archived = bi_refund(3, at(30, 0), 1);
    archived.source = RefundSource::History;
    sink.commit(batch_of("A", vec![bi_refund(1, at(10, 0), 1), archived], None))
        .await
        .unwrap();
    assert_eq!(sink.stored_count("A", "live", from, to).await.unwrap(), 2);
    assert_eq!(sink.stored_count("A", "history", from, to).await.unwrap(), 0);
    sink.disconnect().await.unwrap();

    // A mapping without a version column cannot be counted: said, not guessed.
    let mut spec = bi_spec();
    spec.tables[0].name = "x_bi".into();
    spec.tables[0].columns.retain(|c| c.name != "modified");
    let no_version = Mapping::compile(&spec, "x_").unwrap();
    let sink = db
        .sink()
        .mapping(no_version)
        .table_prefix("x_")
        .write_mode(WriteMode::Replace)
        .build()
        .await
        .unwrap();
    let e = sink.stored_count("A", "live", from, to).await.unwrap_err().to_string();
    assert!(e.contains("no table of the mapping has a version column"), "{e}");
    sink.disconnect().await.unwrap();
    db.drop_db().await;
}
