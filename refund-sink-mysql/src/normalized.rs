//! The reference the normalized preset (`presets/normalized.toml`) is tested against, byte for
//! byte (test builds only): a refund as rows of the normalized tables: `wdt_refund` (one row, with the raw JSON),
//! `wdt_refund_detail` and `wdt_refund_amount_detail` (one row per line, keyed by the parent's
//! `refund_id` and the line's `rec_id`).

use wdt_qimen::model::Refund;

use crate::flat::{history_cells, line_cells, refund_cells};
use crate::mapping::plan::line_keys;
use crate::row::{dec, flag, int, text, time, Cell, Encoding, TableRows};

/// Appends the `wdt_refund` row of `r`, with `raw_json` (the refund serialized).
pub(crate) fn write_refund<E: Encoding>(r: &Refund, raw_json: &str, t: &mut TableRows<E>) {
    t.begin_row(r.refund_id, 0);
    refund_cells(r, t);
    t.cell(text(&r.shop_name));
    t.cell(int(r.rr_status.map(|c| c.code())));
    t.cell(time(r.current_phase_timeout));
    t.cell(text(&r.raw_refund_remark));
    t.cell(text(&r.fenxiao_distributor_id));
    t.cell(text(&r.fenxiao_distributor_name));
    t.cell(text(&r.order_type));
    t.cell(Cell::Text(raw_json));
    history_cells(r, t);
    t.end_row();
}

/// Appends the `wdt_refund_detail` rows of `r`.
pub(crate) fn write_details<E: Encoding>(r: &Refund, t: &mut TableRows<E>) {
    let keys = match line_keys(r.detail_list.iter().map(|d| d.rec_id), "detail_list") {
        Ok(keys) => keys,
        Err(problem) => return t.fail("rec_id", problem),
    };
    for (d, rec_id) in r.detail_list.iter().zip(keys) {
        t.begin_row(r.refund_id, rec_id);
        t.cell(Cell::Int(r.refund_id));
        t.cell(Cell::Int(rec_id));
        line_cells(d, t);
        t.cell(text(&d.goods_id));
        t.cell(text(&d.spec_id));
        t.cell(int(d.sys_goods_id));
        t.cell(int(d.sys_spec_id));
        t.cell(text(&d.spec_code));
        t.cell(text(&d.barcode));
        t.cell(dec(d.stockin_num));
        t.cell(text(&d.remark));
        t.cell(text(&d.api_spec_name));
        t.cell(text(&d.api_goods_name));
        t.cell(time(d.modified));
        t.cell(text(&d.suite_no));
        t.cell(text(&d.suite_name));
        t.cell(text(&d.raw_refund_nos));
        t.cell(text(&d.raw_refund_no));
        t.cell(int(d.sales_trade_id));
        t.cell(dec(d.discount));
        t.cell(dec(d.paid));
        t.cell(int(d.suite_id));
        t.cell(dec(d.suite_num));
        t.cell(time(d.created));
        t.cell(time(d.modified_date));
        t.cell(int(d.gift_type.map(|c| c.code())));
        t.cell(text(&d.brand_name));
        t.cell(time(d.current_phase_timeout));
        for prop in [
            &d.goods_prop1,
            &d.goods_prop2,
            &d.goods_prop3,
            &d.goods_prop4,
            &d.goods_prop5,
            &d.goods_prop6,
            &d.goods_prop7,
            &d.goods_prop8,
            &d.goods_prop9,
            &d.goods_prop10,
            &d.goods_prop11,
            &d.goods_prop12,
            &d.goods_prop13,
            &d.goods_prop14,
            &d.goods_prop15,
            &d.goods_prop16,
            &d.goods_prop17,
            &d.goods_prop18,
            &d.goods_prop19,
            &d.goods_prop20,
            &d.goods_spec_prop1,
            &d.goods_spec_prop2,
            &d.goods_spec_prop3,
            &d.goods_spec_prop4,
            &d.goods_spec_prop5,
            &d.goods_spec_prop6,
            &d.goods_spec_prop7,
            &d.goods_spec_prop8,
            &d.goods_spec_prop9,
            &d.goods_spec_prop10,
            &d.goods_spec_prop11,
            &d.goods_spec_prop12,
            &d.goods_spec_prop13,
            &d.goods_spec_prop14,
            &d.goods_spec_prop15,
            &d.goods_spec_prop16,
            &d.goods_spec_prop17,
            &d.goods_spec_prop18,
            &d.goods_spec_prop19,
            &d.goods_spec_prop20,
        ] {
            t.cell(text(prop));
        }
        t.end_row();
    }
}

/// Appends the `wdt_refund_amount_detail` rows of `r`.
pub(crate) fn write_amount_details<E: Encoding>(r: &Refund, t: &mut TableRows<E>) {
    let keys = match line_keys(r.amount_detail_list.iter().map(|a| a.rec_id), "amount_detail_list") {
        Ok(keys) => keys,
        Err(problem) => return t.fail("rec_id", problem),
    };
    for (a, rec_id) in r.amount_detail_list.iter().zip(keys) {
        t.begin_row(r.refund_id, rec_id);
        t.cell(Cell::Int(r.refund_id));
        t.cell(Cell::Int(rec_id));
        t.cell(int(a.refund_type.map(|c| c.code())));
        t.cell(int(a.is_return));
        t.cell(dec(a.refund_amount));
        t.cell(dec(a.receive_amount));
        t.cell(flag(a.is_guarantee));
        t.cell(int(a.account_id));
        t.cell(text(&a.pay_account));
        t.cell(text(&a.account_name));
        t.cell(text(&a.account_bank));
        t.cell(flag(a.is_auto));
        t.cell(text(&a.remark));
        t.end_row();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::tests::split_rows;
    use crate::encode::TextEncoding;
    use crate::schema::{Table, REFUND_AMOUNT_DETAIL_COLUMNS, REFUND_COLUMNS, REFUND_DETAIL_COLUMNS};
    use wdt_qimen::model::{AmountDetail, RefundDetail};

    #[test]
    fn every_table_gets_complete_rows() {
        let r = Refund {
            refund_id: 3,
            detail_list: vec![RefundDetail {
                rec_id: Some(1),
                goods_spec_prop20: Some("p20".into()),
                ..Default::default()
            }],
            amount_detail_list: vec![
                AmountDetail {
                    rec_id: Some(1),
                    ..Default::default()
                },
                AmountDetail {
                    rec_id: Some(2),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let mut parent = TableRows::<TextEncoding>::new(Table::Refund, "shop");
        write_refund(&r, "{\"refund_id\":3}", &mut parent);
        let mut details = TableRows::<TextEncoding>::new(Table::RefundDetail, "shop");
        write_details(&r, &mut details);
        let mut amounts = TableRows::<TextEncoding>::new(Table::RefundAmountDetail, "shop");
        write_amount_details(&r, &mut amounts);
        for t in [&mut parent, &mut details, &mut amounts] {
            assert!(t.take_error().is_none(), "{}", t.table);
        }
        let p = split_rows(&parent.enc.buf);
        assert_eq!(p[0].len(), REFUND_COLUMNS.len());
        let raw = REFUND_COLUMNS.iter().position(|c| c.name == "raw_json").unwrap();
        assert_eq!(p[0][raw], b"{\"refund_id\":3}");
        let source = REFUND_COLUMNS.iter().position(|c| c.name == "source").unwrap();
        assert_eq!(p[0][source], b"live");
        assert_eq!(p[0].last().unwrap(), b"shop");
        let d = split_rows(&details.enc.buf);
        assert_eq!(d[0].len(), REFUND_DETAIL_COLUMNS.len());
        assert_eq!(d[0][d[0].len() - 2], b"p20");
        assert_eq!(d[0].last().unwrap(), b"shop");
        let a = split_rows(&amounts.enc.buf);
        assert_eq!((a.len(), a[0].len()), (2, REFUND_AMOUNT_DETAIL_COLUMNS.len()));
        assert_eq!(amounts.rows[1].sub_key, 2);
    }

    #[test]
    fn amount_lines_need_keys() {
        let r = Refund {
            refund_id: 3,
            amount_detail_list: vec![AmountDetail::default()],
            ..Default::default()
        };
        let mut amounts = TableRows::<TextEncoding>::new(Table::RefundAmountDetail, "shop");
        write_amount_details(&r, &mut amounts);
        let e = amounts.take_error().unwrap().to_string();
        assert!(e.contains("amount_detail_list[0] has no rec_id"), "{e}");
    }
}
