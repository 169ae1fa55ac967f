//! The archive: which refunds have moved to `aftersales.refund.Refund.searchHistory`, and their
//! JSON in that method's shape.
//!
//! A refund is archived once its status is final (10 已取消 or 90 已完成) and its last change is
//! older than the configured age ([`SimulatorBuilder::archive_after`](super::SimulatorBuilder::archive_after)),
//! by the server's clock; from then on the live search no longer returns it and the history
//! method does. (WDT does not document when it archives; this rule is the simulator's choice.)
//!
//! The history shape follows the method's official page: `modified` and `created` as
//! `yyyy-MM-dd HH:mm:ss` strings (whole seconds), only the documented field set (so no
//! `src_tids`, `check_time`, `platform_id`, `amount_detail_list`, …), the history-only fields
//! (`reason`, `operator_id`, `return_mobile`, `return_name`, `salesman`, `salesman_id`,
//! `stockin_no`, `pay_status`, `flag_id`), detail lines with `trade_id`, `defect`,
//! `returned_num` and string times.

use serde_json::{Map, Value};

use super::data::{mix, Slot};
use crate::time::{format_wdt, from_epoch_ms};

/// Whether the refund in `slot` is archived at `now_ms`.
pub(crate) fn is_archived(slot: &Slot, archive_after_ms: Option<i64>, now_ms: i64) -> bool {
    archive_after_ms.is_some_and(|age| matches!(slot.status, 10 | 90) && slot.modified_ms < now_ms - age)
}

/// The refund keys the history method returns (its official field list).
const REFUND_KEYS: &[&str] = &[
    "flag_id",
    "reason",
    "tid_list",
    "operator_id",
    "refund_no",
    "return_mobile",
    "bad_reason",
    "remark",
    "return_telno",
    "type",
    "stockin_status",
    "flag_name",
    "salesman_id",
    "return_goods_count",
    "pay_status",
    "receiver_telno",
    "receiver_name",
    "modified",
    "return_name",
    "return_warehouse_id",
    "shop_no",
    "from_type",
    "created",
    "trade_no_list",
    "return_logistics_no",
    "return_goods_amount",
    "guarantee_refund_amount",
    "return_logistics_name",
    "refund_id",
    "settle_time",
    "reason_id",
    "shop_id",
    "buyer_nick",
    "actual_refund_amount",
    "revert_reason",
    "return_warehouse_no",
    "direct_refund_amount",
    "stockin_no",
    "receive_amount",
    "salesman",
    "status",
    "return_mask",
    "detail_list",
    "swap_order",
];

/// The detail-line keys of the history method.
const LINE_KEYS: &[&str] = &[
    "rec_id",
    "refund_id",
    "platform_id",
    "oid",
    "tid",
    "trade_order_id",
    "trade_id",
    "trade_no",
    "is_guarantee",
    "num",
    "price",
    "original_price",
    "refund_num",
    "total_amount",
    "refund_amount",
    "spec_id",
    "defect",
    "returned_num",
    "stockin_num",
    "remark",
    "created",
    "modified",
    "spec_no",
    "spec_name",
    "spec_code",
    "goods_no",
    "goods_name",
];

/// The exchange-order keys of the history method.
const SWAP_KEYS: &[&str] = &[
    "refund_id",
    "tid",
    "shop_id",
    "warehouse_id",
    "shop_no",
    "shop_name",
    "warehouse_no",
    "swap_order_detail_list",
];

/// An epoch-millisecond time (number or numeric string) as a whole-second Beijing string.
fn as_time_text(v: &Value) -> Value {
    let ms = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse::<i64>().ok(),
        _ => None,
    };
    match ms.and_then(from_epoch_ms) {
        Some(t) => Value::String(format_wdt(t)),
        None => v.clone(),
    }
}

fn keep(m: &mut Map<String, Value>, keys: &[&str]) {
    m.retain(|k, _| keys.contains(&k.as_str()));
}

/// Rewrites a live refund (as the route writes it) into the history method's shape.
pub(crate) fn to_history(live: Value, slot: &Slot) -> Value {
    let Value::Object(mut m) = live else { return live };
    let h = mix(slot.id ^ 0x4157);
    let trade_id = m.get("trade_id").cloned().unwrap_or(Value::Null);
    if let Some(reason) = m.get("reason_name").cloned() {
        m.insert("reason".into(), reason);
    }
    m.insert("operator_id".into(), Value::from(1 + h % 40));
    m.insert("salesman_id".into(), Value::from(1 + (h >> 8) % 40));
    m.insert("salesman".into(), Value::from(format!("业务员{}", 1 + (h >> 8) % 40)));
    m.insert("return_mobile".into(), Value::from(""));
    m.insert("return_name".into(), Value::from(""));
    m.insert("pay_status".into(), Value::from((h >> 16) % 3));
    m.insert("flag_id".into(), Value::from(0));
    let stockin = m.get("stockin_status").and_then(Value::as_u64).unwrap_or(0);
    let stockin_no = if stockin >= 2 {
        format!("RK{}", slot.id)
    } else {
        String::new()
    };
    m.insert("stockin_no".into(), Value::from(stockin_no));
    for key in ["modified", "created"] {
        if let Some(v) = m.get(key).map(as_time_text) {
            m.insert(key.into(), v);
        }
    }
    // The history method always writes the list (the official sample has `[]`).
    let mut lines = match m.remove("detail_list") {
        Some(Value::Array(lines)) => lines,
        _ => Vec::new(),
    };
    for line in &mut lines {
        if let Value::Object(l) = line {
            if let Some(v) = l.get("modified").map(as_time_text) {
                l.insert("modified".into(), v);
            }
            l.insert("trade_id".into(), trade_id.clone());
            l.insert("defect".into(), Value::Bool(false));
            if let Some(n) = l.get("refund_num").cloned() {
                l.insert("returned_num".into(), n);
            }
            keep(l, LINE_KEYS);
        }
    }
    m.insert("detail_list".into(), Value::Array(lines));
    if let Some(Value::Object(swap)) = m.get_mut("swap_order") {
        swap.insert("refund_id".into(), Value::from(slot.id));
        keep(swap, SWAP_KEYS);
    }
    keep(&mut m, REFUND_KEYS);
    Value::Object(m)
}
