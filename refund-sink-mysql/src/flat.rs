//! The reference the flat preset (`presets/flat.toml`) is tested against, byte for byte: the
//! hand-written mapping of a refund into the flat table `aftersales_refund_refund_search` that
//! the sink used before mappings (test builds only): one row per detail
//! line, the refund's columns repeated; a refund without lines is one row with
//! `detail_list_rec_id = 0` and NULL detail columns.

use wdt_qimen::model::{Refund, RefundDetail};

use crate::mapping::plan::line_keys;
use crate::row::{dec, flag, int, text, time, Cell, Encoding, TableRows};
use crate::schema::{APPENDED_COLUMNS, FLAT_COLUMNS, FLAT_REFUND_COLUMNS};

/// Writes the refund columns shared by the flat table and `wdt_refund`, in table order.
pub(crate) fn refund_cells<E: Encoding>(r: &Refund, t: &mut TableRows<E>) {
    t.cell(Cell::Int(r.refund_id));
    t.cell(text(&r.src_tids));
    t.cell(text(&r.refund_no));
    t.cell(text(&r.remark));
    t.cell(int(r.refund_type.map(|c| c.code())));
    t.cell(int(r.stockin_status.map(|c| c.code())));
    t.cell(text(&r.flag_name));
    t.cell(dec(r.return_goods_count));
    t.cell(text(&r.receiver_telno));
    t.cell(text(&r.receiver_name));
    t.cell(time(r.modified));
    t.cell(int(r.note_count));
    t.cell(text(&r.shop_no));
    t.cell(int(r.from_type.map(|c| c.code())));
    t.cell(time(r.created));
    t.cell(time(r.settle_time));
    t.cell(time(r.check_time));
    t.cell(text(&r.return_logistics_no));
    t.cell(text(&r.trade_no_list));
    t.cell(dec(r.guarantee_refund_amount));
    t.cell(dec(r.return_goods_amount));
    t.cell(text(&r.return_logistics_name));
    t.cell(text(&r.reason_name));
    t.cell(text(&r.refund_reason));
    t.cell(text(&r.buyer_nick));
    t.cell(text(&r.operator_name));
    t.cell(dec(r.actual_refund_amount));
    t.cell(text(&r.revert_reason_name));
    t.cell(text(&r.return_warehouse_no));
    t.cell(dec(r.direct_refund_amount));
    t.cell(dec(r.receive_amount));
    t.cell(text(&r.customer_name));
    t.cell(text(&r.fenxiao_nick_name));
    t.cell(int(r.status.map(|c| c.code())));
    t.cell(int(r.shop_id));
    t.cell(int(r.trade_id));
    t.cell(text(&r.raw_refund_nos));
    t.cell(text(&r.pay_id));
    t.cell(text(&r.provider_refund_no));
    t.cell(int(r.shop_platform_id));
    t.cell(text(&r.tid_list));
    t.cell(int(r.sub_platform_id));
    t.cell(int(r.return_warehouse_id));
    t.cell(int(r.platform_id));
    t.cell(text(&r.wms_owner_no));
    t.cell(int(r.warehouse_type.map(|c| c.code())));
    t.cell(int(r.bad_reason));
    t.cell(time(r.modified_date));
    t.cell(text(&r.return_mask_info));
    t.cell(int(r.process_status.map(|c| c.code())));
    t.cell(int(r.reason_id));
    t.cell(int(r.revert_reason));
    t.cell(int(r.customer_id));
    t.cell(int(r.consign_mode.map(|c| c.code())));
    t.cell(time(r.refund_time));
    t.cell(text(&r.fenxiao_tid));
    t.cell(text(&r.fenxiao_nick_no));
    t.cell(text(&r.wms_code));
}

/// Writes the `detail_list_*` columns of one line.
fn detail_cells<E: Encoding>(rec_id: i64, d: &RefundDetail, t: &mut TableRows<E>) {
    t.cell(Cell::Int(rec_id));
    t.cell(int(d.refund_id));
    line_cells(d, t);
}

/// The columns a detail line has in both layouts, `oid` to `spec_no`, in table order.
pub(crate) fn line_cells<E: Encoding>(d: &RefundDetail, t: &mut TableRows<E>) {
    t.cell(text(&d.oid));
    t.cell(int(d.trade_order_id));
    t.cell(int(d.platform_id));
    t.cell(text(&d.tid));
    t.cell(text(&d.trade_no));
    t.cell(dec(d.num));
    t.cell(dec(d.price));
    t.cell(dec(d.original_price));
    t.cell(dec(d.checked_cost_price));
    t.cell(dec(d.refund_num));
    t.cell(dec(d.total_amount));
    t.cell(dec(d.refund_amount));
    t.cell(flag(d.is_guarantee));
    t.cell(text(&d.goods_no));
    t.cell(text(&d.goods_name));
    t.cell(text(&d.spec_name));
    t.cell(text(&d.spec_no));
}

/// Appends the flat rows of `r`; a problem is recorded in `t` (see [`TableRows::take_error`]).
pub(crate) fn write_flat<E: Encoding>(r: &Refund, t: &mut TableRows<E>) {
    if r.detail_list.is_empty() {
        t.begin_row(r.refund_id, 0);
        refund_cells(r, t);
        t.cell(Cell::Int(0));
        // The detail columns are NULL; then the archive's columns; the account, last, is written
        // by `end_row`.
        for _ in FLAT_REFUND_COLUMNS + 1..FLAT_COLUMNS.len() - 1 - APPENDED_COLUMNS.len() {
            t.cell(Cell::Null);
        }
        history_cells(r, t);
        t.end_row();
        return;
    }
    let keys = match line_keys(r.detail_list.iter().map(|d| d.rec_id), "detail_list") {
        Ok(keys) => keys,
        Err(problem) => return t.fail("detail_list_rec_id", problem),
    };
    // The refund's columns are encoded (and checked) once, then copied into the other lines.
    let mut prefix = None;
    for (d, rec_id) in r.detail_list.iter().zip(keys) {
        t.begin_row(r.refund_id, rec_id);
        match &prefix {
            None => {
                let start = t.position();
                refund_cells(r, t);
                prefix = Some(start..t.position());
            }
            Some(range) => t.repeat(range.clone(), FLAT_REFUND_COLUMNS),
        }
        detail_cells(rec_id, d, t);
        history_cells(r, t);
        t.end_row();
    }
}

/// Writes the columns appended for archived refunds ([`APPENDED_COLUMNS`]), in table order:
/// the source, then the fields only `Refund.searchHistory` has.
pub(crate) fn history_cells<E: Encoding>(r: &Refund, t: &mut TableRows<E>) {
    t.cell(Cell::Text(r.source.as_str()));
    t.cell(text(&r.reason));
    t.cell(int(r.operator_id));
    t.cell(text(&r.return_mobile));
    t.cell(text(&r.return_name));
    t.cell(text(&r.salesman));
    t.cell(int(r.salesman_id));
    t.cell(text(&r.stockin_no));
    t.cell(int(r.pay_status));
    t.cell(int(r.flag_id));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::tests::{split_rows, unescape_field};
    use crate::encode::TextEncoding;
    use crate::schema::Table;
    use rust_decimal::Decimal;
    use wdt_qimen::model::RefundStatus;

    fn field(row: &[Vec<u8>], name: &str) -> Option<String> {
        let i = FLAT_COLUMNS.iter().position(|c| c.name == name).unwrap();
        unescape_field(&row[i]).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn a_refund_without_lines_is_one_row_with_rec_id_zero() {
        let r = Refund {
            refund_id: 7,
            refund_no: Some("TK1".into()),
            ..Default::default()
        };
        let mut t = TableRows::<TextEncoding>::new(Table::Flat, "shop");
        write_flat(&r, &mut t);
        assert!(t.take_error().is_none());
        let rows = split_rows(&t.enc.buf);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].len(), FLAT_COLUMNS.len());
        assert_eq!(field(&rows[0], "refund_id").as_deref(), Some("7"));
        assert_eq!(field(&rows[0], "detail_list_rec_id").as_deref(), Some("0"));
        assert_eq!(field(&rows[0], "detail_list_goods_name"), None);
        assert_eq!((t.rows[0].refund_id, t.rows[0].sub_key), (7, 0));
    }

    #[test]
    fn each_line_is_a_row_with_the_refund_repeated() {
        let line = |id, name: &str| RefundDetail {
            rec_id: Some(id),
            goods_name: Some(name.into()),
            price: Some(Decimal::new(1999, 2)),
            is_guarantee: Some(true),
            ..Default::default()
        };
        let r = Refund {
            refund_id: 9,
            status: Some(RefundStatus::from(30)),
            detail_list: vec![line(11, "袜子\t2双"), line(12, "帽子")],
            ..Default::default()
        };
        let mut t = TableRows::<TextEncoding>::new(Table::Flat, "shop");
        write_flat(&r, &mut t);
        assert!(t.take_error().is_none());
        let rows = split_rows(&t.enc.buf);
        assert_eq!(rows.len(), 2);
        assert_eq!(field(&rows[0], "status").as_deref(), Some("30"));
        assert_eq!(field(&rows[1], "status").as_deref(), Some("30"));
        assert_eq!(field(&rows[0], "detail_list_goods_name").as_deref(), Some("袜子\t2双"));
        assert_eq!(field(&rows[1], "detail_list_rec_id").as_deref(), Some("12"));
        assert_eq!(field(&rows[0], "detail_list_price").as_deref(), Some("19.99"));
        assert_eq!(field(&rows[0], "detail_list_is_guarantee").as_deref(), Some("1"));
        assert_eq!(t.rows.iter().map(|m| m.sub_key).collect::<Vec<_>>(), vec![11, 12]);
    }

    #[test]
    fn lines_without_or_with_repeated_keys_are_refused() {
        let r = Refund {
            refund_id: 1,
            detail_list: vec![
                RefundDetail {
                    rec_id: Some(1),
                    ..Default::default()
                },
                RefundDetail::default(),
            ],
            ..Default::default()
        };
        let mut t = TableRows::<TextEncoding>::new(Table::Flat, "shop");
        write_flat(&r, &mut t);
        let e = t.take_error().unwrap().to_string();
        assert!(e.contains("detail_list[1] has no rec_id"), "{e}");

        let r = Refund {
            refund_id: 1,
            detail_list: vec![
                RefundDetail {
                    rec_id: Some(5),
                    ..Default::default()
                },
                RefundDetail {
                    rec_id: Some(5),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let mut t = TableRows::<TextEncoding>::new(Table::Flat, "shop");
        write_flat(&r, &mut t);
        assert!(t.take_error().unwrap().to_string().contains("repeats rec_id 5"));
    }

    #[test]
    fn a_value_that_does_not_fit_names_its_column() {
        let r = Refund {
            refund_id: 1,
            detail_list: vec![RefundDetail {
                rec_id: Some(1),
                price: Some("1.23456".parse().unwrap()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut t = TableRows::<TextEncoding>::new(Table::Flat, "shop");
        write_flat(&r, &mut t);
        let e = t.take_error().unwrap().to_string();
        assert!(
            e.starts_with("aftersales_refund_refund_search.detail_list_price:"),
            "{e}"
        );
    }
}
