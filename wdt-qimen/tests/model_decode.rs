//! Decoding refunds of `aftersales.refund.Refund.search`: the vendor's sample, a page with every
//! known wire quirk, error paths, and exact decimals.

use std::str::FromStr;

use chrono::NaiveDateTime;
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use wdt_qimen::model::{
    decode_refund, decode_refund_value, AmountRefundType, ConsignMode, FromType, GiftType, ProcessStatus, Refund,
    RefundStatus, RefundType, RrStatus, StockinStatus, TargetType, WarehouseType,
};

const OFFICIAL: &str = include_str!("fixtures/refund_search_official.json");
const QUIRKS: &str = include_str!("fixtures/refund_search_quirks.json");

fn dec(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap()
}

fn at(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
}

/// The `order` array of a response, native (`data`) or Qimen (`response.data`).
fn orders(page: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(page).unwrap();
    let body = v.get("response").unwrap_or(&v);
    body["data"]["order"].as_array().unwrap().clone()
}

/// Decodes every refund of a page from its own JSON text, so errors carry field paths.
fn decode_page(page: &str) -> Vec<Refund> {
    orders(page)
        .iter()
        .map(|o| decode_refund(&serde_json::to_string(o).unwrap()).unwrap())
        .collect()
}

/// `decode(serialize(r)) == r`, from text and from a `Value`.
fn assert_round_trip(r: &Refund) {
    let text = serde_json::to_string(r).unwrap();
    let back = decode_refund(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(&back, r, "{text}");
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(&decode_refund_value(&value).unwrap(), r);
}

// ---- (a) the vendor's sample ---------------------------------------------------------------

#[test]
fn official_sample_decodes_with_concrete_values() {
    let page = decode_page(OFFICIAL);
    assert_eq!(page.len(), 1);
    let r = &page[0];

    assert_eq!(r.refund_id, 1_130_899);
    assert_eq!(r.refund_no.as_deref(), Some("TK2306140001"));
    assert_eq!(r.refund_type, Some(RefundType::ReturnGoods));
    assert_eq!(r.status, Some(RefundStatus::Reviewed));
    assert_eq!(r.stockin_status, Some(StockinStatus::Pending));
    assert_eq!(r.from_type, Some(FromType::Api));
    assert_eq!(r.warehouse_type, Some(WarehouseType::Normal));
    assert_eq!(r.consign_mode, Some(ConsignMode::Parallel));
    assert_eq!(r.process_status, None, "not in the sample");
    assert_eq!(r.rr_status, None, "not in the sample");

    // epoch ms -> Beijing wall time
    assert_eq!(r.modified, Some(at("2023-06-14 11:13:00")));
    assert_eq!(r.modified_key(), Some(at("2023-06-14 11:13:00")));
    assert_eq!(r.created, Some(at("2023-06-14 11:05:17")));
    assert_eq!(r.modified_date, Some(at("2023-06-14 11:13:00")));
    assert_eq!(r.refund_time, Some(at("2022-06-08 00:00:00")));
    // The V1.5.9.0 sample has an audit time; `settle_time` is the `""` one.
    assert_eq!(r.check_time, Some(at("2023-06-14 11:13:00")));
    assert_eq!(r.settle_time, None);

    // "platform_id": "127" (a string) vs "shop_platform_id": 127
    assert_eq!(r.platform_id, Some(127));
    assert_eq!(r.shop_platform_id, Some(127));
    assert_eq!(r.shop_id, Some(711));
    assert_eq!(r.trade_id, Some(2_740_715));
    assert_eq!(r.customer_id, Some(17_588_392));
    assert_eq!(r.return_warehouse_id, Some(624));
    assert_eq!(r.pay_id.as_deref(), Some("1495759864643715076"));

    // amounts
    assert_eq!(r.return_goods_amount, Some(dec("1")));
    assert_eq!(r.return_goods_count, Some(dec("1")));
    assert_eq!(r.actual_refund_amount, Some(Decimal::ZERO));
    assert_eq!(r.guarantee_refund_amount, Some(Decimal::ZERO));
    assert_eq!(r.direct_refund_amount, Some(Decimal::ZERO));
    assert_eq!(r.receive_amount, Some(Decimal::ZERO));

    // text, including "" kept as "" and an absent key as None
    assert_eq!(r.flag_name.as_deref(), Some("无"));
    assert_eq!(r.return_logistics_name.as_deref(), Some("中通"));
    assert_eq!(r.remark.as_deref(), Some(""));
    assert_eq!(r.refund_reason.as_deref(), Some("1"));
    assert_eq!(r.fenxiao_nick_name, None);
    assert_eq!(r.wms_code, None);

    // lists
    assert!(r.amount_detail_list.is_empty());
    assert!(r.swap_order.is_none());
    assert!(r.gov_subsidy_info.is_empty());
    assert_eq!(r.detail_list.len(), 1);
    let d = &r.detail_list[0];
    assert_eq!(d.rec_id, Some(1_137_182));
    assert_eq!(d.refund_id, Some(1_130_899));
    assert_eq!(d.platform_id, Some(127));
    assert_eq!(d.oid.as_deref(), Some("lj2323823489293842938343422"));
    assert_eq!(d.trade_order_id, Some(5_271_780));
    assert_eq!(d.price, Some(dec("1")));
    assert_eq!(d.refund_amount, Some(Decimal::ZERO));
    assert_eq!(d.is_guarantee, Some(true));
    assert_eq!(d.sys_spec_id, Some(273_312));
    assert_eq!(d.modified, Some(at("2023-06-14 11:13:00")));
    assert_eq!(d.created, Some(at("2023-06-14 11:05:17")));
    assert_eq!(d.suite_no.as_deref(), Some(""));
    assert_eq!(d.raw_refund_no.as_deref(), Some("TKljcs2202180006"));
    assert_eq!(d.gift_type, None);
    assert!(d.extra.is_empty(), "{:?}", d.extra);

    // undocumented keys are kept, exactly
    let extra: Vec<&str> = r.extra.keys().map(String::as_str).collect();
    assert_eq!(extra, ["return_mask", "return_telno", "sync_return", "tmp_data"]);
    assert_eq!(r.extra["return_telno"], json!(""));
    assert_eq!(r.extra["tmp_data"], json!(624));
    assert_eq!(r.extra["sync_return"], json!(true));
    assert_eq!(r.extra["return_mask"], json!(0));

    assert_round_trip(r);
}

/// Every key with a value survives decode + serialize; only "no value" spellings (`""` for a
/// time) may become absent.
#[test]
fn official_sample_loses_no_key() {
    fn check(input: &Value, output: &Value, at: &str) {
        for (key, v) in input.as_object().unwrap() {
            match output.get(key) {
                Some(out) if v.is_object() => check(v, out, &format!("{at}.{key}")),
                Some(_) => {}
                None => assert_eq!(v, &json!(""), "`{at}.{key}` lost"),
            }
        }
    }
    let order = &orders(OFFICIAL)[0];
    let out = serde_json::to_value(decode_refund_value(order).unwrap()).unwrap();
    check(order, &out, "");
    check(&order["detail_list"][0], &out["detail_list"][0], "detail_list[0]");
    // The only key that went: `settle_time: ""`.
    let lost: Vec<&String> = order
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| out.get(*k).is_none())
        .collect();
    assert_eq!(lost, ["settle_time"]);
}

// ---- (b) every quirk at once ---------------------------------------------------------------

#[test]
fn quirks_page_first_refund_exchange_with_everything_stringified() {
    let page = decode_page(QUIRKS);
    assert_eq!(page.len(), 3);
    let r = &page[0];

    assert_eq!(r.refund_id, 2_000_001, "refund_id as a string");
    assert_eq!(r.refund_type, Some(RefundType::Exchange));
    assert_eq!(r.status, Some(RefundStatus::Completed));
    assert_eq!(r.process_status, Some(ProcessStatus::Submitted));
    assert_eq!(r.stockin_status, Some(StockinStatus::Complete));
    assert_eq!(r.from_type, Some(FromType::Manual));
    assert_eq!(r.warehouse_type, Some(WarehouseType::DropShip));
    assert_eq!(r.consign_mode, Some(ConsignMode::Deferred));
    assert_eq!(r.rr_status, Some(RrStatus::Unknown(10)), "exchange state not modelled");
    assert_eq!(r.platform_id, Some(127));
    assert_eq!(r.sub_platform_id, Some(0));
    assert_eq!(r.trade_id, Some(2_740_715));
    assert_eq!(r.note_count, Some(3));
    assert_eq!(r.pay_id.as_deref(), Some("1495759864643715076"), "id as a number");
    assert_eq!(r.fenxiao_tid.as_deref(), Some("12345"));
    assert_eq!(r.fenxiao_nick_name.as_deref(), Some(""));

    // 1700000000000 ms = 2023-11-14 22:13:20 UTC = 2023-11-15 06:13:20 Beijing
    assert_eq!(r.modified, Some(at("2023-11-15 06:13:20")), "ms as a string");
    assert_eq!(r.created, Some(at("2023-11-15 06:13:20.123")), "string with .SSS");
    assert_eq!(r.modified_date, Some(at("2023-11-15 06:13:20")));
    assert_eq!(r.check_time, None, "\"\"");
    assert_eq!(r.settle_time, None, "0000-00-00 00:00:00");
    assert_eq!(r.current_phase_timeout, None, "null");
    assert_eq!(r.refund_time, Some(at("2023-11-14 10:00:00")));

    // exact decimals
    assert_eq!(r.actual_refund_amount, Some(dec("0.1")));
    assert_eq!(r.actual_refund_amount.unwrap().to_string(), "0.1");
    let g = r.guarantee_refund_amount.unwrap();
    assert_eq!(g.to_string(), "99999999999999.9999");
    assert_eq!(r.direct_refund_amount.unwrap().to_string(), "1.10");
    assert_eq!(r.direct_refund_amount.unwrap().scale(), 2);
    assert_eq!(r.return_goods_amount.unwrap().to_string(), "0.1");
    assert_eq!(r.receive_amount, None, "\"\"");
    assert_eq!(r.return_goods_count.unwrap().to_string(), "2.0000");
    assert_eq!(
        r.actual_refund_amount.unwrap() + r.return_goods_amount.unwrap(),
        dec("0.2"),
        "no f64 on the way"
    );

    // unknown keys, numbers exact
    assert_eq!(r.extra["sync_return"], json!("1"));
    assert_eq!(r.extra["tmp_data"], json!(624));
    assert_eq!(
        serde_json::to_string(&r.extra["nested_unknown"]).unwrap(),
        r#"{"a":[1,2.50,"x"],"big":12345678901234567890123}"#
    );
    assert_eq!(r.extra.len(), 5, "{:?}", r.extra.keys());

    // detail lines
    assert_eq!(r.detail_list.len(), 2);
    let d0 = &r.detail_list[0];
    assert_eq!(d0.rec_id, Some(3_000_001));
    assert_eq!(d0.refund_id, Some(2_000_001));
    assert_eq!(d0.platform_id, Some(127));
    assert_eq!(d0.oid.as_deref(), Some("600000000000000001"));
    assert_eq!(d0.num, Some(dec("2")));
    assert_eq!(d0.price.unwrap().to_string(), "0.1");
    assert_eq!(d0.original_price.unwrap().to_string(), "0.30");
    assert_eq!(d0.checked_cost_price, None);
    assert_eq!(d0.is_guarantee, Some(true), "1");
    assert_eq!(d0.goods_id.as_deref(), Some("600123456789"));
    assert_eq!(d0.sys_goods_id, Some(105_064));
    assert_eq!(d0.gift_type, Some(GiftType::Unknown(3)));
    assert_eq!(d0.modified, Some(at("2023-11-15 06:13:20")));
    assert_eq!(d0.created, Some(at("2023-11-15 06:13:19")));
    assert_eq!(d0.goods_prop1.as_deref(), Some("红"));
    assert_eq!(d0.goods_spec_prop20.as_deref(), Some("XL"));
    assert_eq!(d0.extra.get("oversold"), Some(&json!(true)));
    let d1 = &r.detail_list[1];
    assert_eq!(d1.rec_id, Some(3_000_002));
    assert_eq!(d1.is_guarantee, Some(true), "\"1\"");
    assert_eq!(d1.gift_type, Some(GiftType::MainItem));
    assert_eq!(d1.suite_no.as_deref(), Some("S-1"));
    assert_eq!(d1.price.unwrap().to_string(), "99999999999999.9999");
    assert_eq!(d1.modified, None);

    // amount lines
    let a = &r.amount_detail_list[0];
    assert_eq!(a.refund_type, Some(AmountRefundType::Postage));
    assert_eq!(a.is_return, Some(1));
    assert_eq!(a.refund_amount.unwrap().to_string(), "12345678901234.5678");
    assert_eq!(a.receive_amount, Some(Decimal::ZERO));
    assert_eq!(a.is_guarantee, Some(false), "\"0\"");
    assert_eq!(a.is_auto, Some(true), "\"true\"");
    assert_eq!(a.account_id, None);
    assert_eq!(a.pay_account.as_deref(), Some("13800000000"));

    // exchange order
    let s = r.swap_order.as_ref().expect("swap_order");
    assert_eq!(s.tid.as_deref(), Some("T9001-SWAP"));
    assert_eq!(s.shop_id, Some(711));
    assert_eq!(s.swap_province, Some(310_000));
    assert_eq!(s.swap_district, Some(310_115));
    assert_eq!(s.swap_logistics_id, Some(8));
    assert_eq!(s.post_amount, Some(dec("10")), "1e1");
    assert_eq!(s.other_amount, Some(Decimal::ZERO));
    assert_eq!(s.swap_order_detail_list.len(), 2);
    let l0 = &s.swap_order_detail_list[0];
    assert_eq!(l0.target_type, Some(TargetType::Suite));
    assert_eq!(l0.defect, Some(false));
    assert_eq!(l0.price.unwrap().to_string(), "19.90");
    assert_eq!(l0.total_amount.unwrap().to_string(), "39.8");
    assert_eq!(l0.merchant_no.as_deref(), Some("SUITE-1"));
    let l1 = &s.swap_order_detail_list[1];
    assert_eq!(l1.target_type, Some(TargetType::Single));
    assert_eq!(l1.target_id, Some(78));
    assert_eq!(l1.defect, Some(true));
    assert_eq!(l1.extra.get("color"), Some(&json!("蓝")));

    // government subsidy
    assert_eq!(r.gov_subsidy_info.len(), 1);
    assert_eq!(r.gov_subsidy_info[0].oid.as_deref(), Some("600000000000000001"));
    assert_eq!(
        r.gov_subsidy_info[0].corp_entity_name.as_deref(),
        Some("某某科技有限公司")
    );
}

#[test]
fn quirks_page_refund_without_lists_and_nulls() {
    let page = decode_page(QUIRKS);
    let r = &page[1];
    assert_eq!(r.refund_id, 2_000_002);
    assert_eq!(r.refund_type, Some(RefundType::PreShipmentRefund));
    assert_eq!(r.status, Some(RefundStatus::Cancelled));
    assert_eq!(r.process_status, Some(ProcessStatus::PendingSubmit));
    assert_eq!(r.rr_status, Some(RrStatus::SellerRejected));
    assert_eq!(r.platform_id, Some(3));
    assert_eq!(r.modified, Some(at("2023-11-15 06:13:21")));
    assert_eq!(
        (r.created, r.check_time, r.settle_time, r.refund_time),
        (None, None, None, None)
    );
    assert!(r.detail_list.is_empty(), "absent detail_list");
    assert!(r.amount_detail_list.is_empty(), "null list");
    assert!(r.gov_subsidy_info.is_empty(), "null list");
    assert!(r.swap_order.is_none());
    assert!(r.extra.is_empty());

    let r = &page[2];
    assert_eq!(r.refund_id, 2_000_003);
    assert_eq!(r.refund_type, Some(RefundType::Unknown(99)));
    assert_eq!(r.refund_type.unwrap().code(), 99);
    assert_eq!(r.status, None, "\"\"");
    assert_eq!(r.process_status, None, "\"\"");
    assert_eq!(r.warehouse_type, None);
    assert_eq!(r.modified, Some(at("2024-01-01 00:00:00")));
    assert_eq!(r.actual_refund_amount, Some(dec("-5.5")));
    assert!(r.detail_list.is_empty(), "null");
    assert!(r.amount_detail_list.is_empty(), "{{}}");
    assert!(r.swap_order.is_none(), "[]");
}

#[test]
fn quirks_page_round_trips() {
    for r in decode_page(QUIRKS).iter().chain(decode_page(OFFICIAL).iter()) {
        assert_round_trip(r);
    }
}

/// Through serde's buffer (an untagged envelope), every number reaches the field decoders in the
/// private `arbitrary_precision` form; the result must not change.
#[test]
fn decoding_inside_a_buffered_envelope_gives_the_same_refunds() {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Envelope {
        Qimen { response: Body },
        Native(Body),
    }
    #[derive(Deserialize)]
    struct Body {
        data: Data,
    }
    #[derive(Deserialize)]
    struct Data {
        order: Vec<Refund>,
    }
    for page in [QUIRKS, OFFICIAL] {
        let body = match serde_json::from_str::<Envelope>(page).unwrap() {
            Envelope::Qimen { response } => response,
            Envelope::Native(body) => body,
        };
        assert_eq!(body.data.order, decode_page(page));
    }
}

// ---- (c) errors name the field -------------------------------------------------------------

fn error_path(json: &str) -> (String, String) {
    let e = decode_refund(json).unwrap_err();
    (e.path.clone(), e.to_string())
}

#[test]
fn bad_values_name_their_path() {
    let (path, msg) = error_path(r#"{"refund_id":1,"detail_list":[{"rec_id":1,"price":"abc"}]}"#);
    assert_eq!(path, "detail_list[0].price");
    assert!(msg.starts_with("at `detail_list[0].price`: "), "{msg}");
    assert!(msg.contains("\"abc\""), "{msg}");

    let cases = [
        (
            r#"{"refund_id":1,"detail_list":[{},{},{"price":"abc"}]}"#,
            "detail_list[2].price",
        ),
        (r#"{"refund_id":1,"modified":"yesterday"}"#, "modified"),
        (r#"{"refund_id":1,"platform_id":"tmall"}"#, "platform_id"),
        (r#"{"refund_id":1,"status":"done"}"#, "status"),
        (
            r#"{"refund_id":1,"amount_detail_list":[{"is_guarantee":"yes"}]}"#,
            "amount_detail_list[0].is_guarantee",
        ),
        (
            r#"{"refund_id":1,"swap_order":{"swap_order_detail_list":[{},{"num":"two"}]}}"#,
            "swap_order.swap_order_detail_list[1].num",
        ),
        (
            r#"{"refund_id":1,"gov_subsidy_info":[{"tid":["x"]}]}"#,
            "gov_subsidy_info[0].tid",
        ),
        (r#"{"refund_id":"x1"}"#, "refund_id"),
        (r#"{"refund_id":1,"detail_list":{"a":1}}"#, "detail_list"),
    ];
    for (json, want) in cases {
        let (path, msg) = error_path(json);
        assert_eq!(path, want, "{json}: {msg}");
        let v: Value = serde_json::from_str(json).unwrap();
        assert_eq!(decode_refund_value(&v).unwrap_err().path, want, "value {json}");
    }
}

#[test]
fn broken_json_is_an_error_at_the_root() {
    let e = decode_refund(r#"{"refund_id":1,"#).unwrap_err();
    assert!(e.message.contains("EOF"), "{e}");
    let e = decode_refund(r#"{"remark":"x"}"#).unwrap_err();
    assert!(e.message.contains("refund_id"), "{e}");
}

// ---- (d) decimals through JSON text --------------------------------------------------------

fn any_decimal() -> impl Strategy<Value = Decimal> {
    // Every Decimal: a 96-bit mantissa, a sign, a scale of 0..=28.
    (any::<u128>(), any::<bool>(), 0u32..=28).prop_map(|(m, neg, scale)| {
        let m = (m & ((1u128 << 96) - 1)) as i128;
        Decimal::from_i128_with_scale(if neg { -m } else { m }, scale)
    })
}

fn amount_of(json: &str) -> Decimal {
    decode_refund(json).unwrap().actual_refund_amount.unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decimal_survives_json_number_and_string(d in any_decimal()) {
        let text = d.to_string();
        let as_number = amount_of(&format!(r#"{{"refund_id":1,"actual_refund_amount":{text}}}"#));
        let as_string = amount_of(&format!(r#"{{"refund_id":1,"actual_refund_amount":"{text}"}}"#));
        prop_assert_eq!(as_number, d);
        prop_assert_eq!(as_number.to_string(), text.clone());
        prop_assert_eq!(as_string.to_string(), text);
        let r = Refund { refund_id: 1, actual_refund_amount: Some(d), ..Refund::default() };
        let back = decode_refund(&serde_json::to_string(&r).unwrap()).unwrap();
        prop_assert_eq!(back.actual_refund_amount.unwrap().to_string(), d.to_string());
    }

    #[test]
    fn decimal_in_scientific_notation_is_exact(m in -999_999_999_999i64..=999_999_999_999, e in -12i32..=12) {
        let got = amount_of(&format!(r#"{{"refund_id":1,"actual_refund_amount":{m}e{e}}}"#));
        let want = if e >= 0 {
            Decimal::from(m) * Decimal::from(10i64.pow(e as u32))
        } else {
            Decimal::new(m, (-e) as u32)
        };
        prop_assert_eq!(got, want);
    }

    #[test]
    fn money_with_four_places_is_exact(cents in any::<i64>()) {
        // Decimal(19,4) as WDT stores it, sent as a JSON number.
        let d = Decimal::new(cents, 4);
        let got = amount_of(&format!(r#"{{"refund_id":1,"actual_refund_amount":{d}}}"#));
        prop_assert_eq!(got, d);
        prop_assert_eq!(got, Decimal::from_str(&d.to_string()).unwrap());
    }
}
