//! The fields a mapping can read: every field of a refund, of its detail lines
//! (`detail_list.<field>`) and of its amount lines (`amount_detail_list.<field>`), plus
//! `account`, `raw` and `synced_at`. Paths are WDT's own JSON names (`type`, not `refund_type`).

use std::borrow::Cow;

use chrono::NaiveDateTime;
use wdt_qimen::model::{
    AmountDetail, AmountRefundType, ConsignMode, FromType, GiftType, ProcessStatus, Refund, RefundDetail, RefundStatus,
    RefundType, RrStatus, StockinStatus, WarehouseType,
};

use super::value::{Kind, Value};

/// Which part of a refund a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The refund itself (and `account`, `raw`, `synced_at`).
    Refund,
    /// A line of `detail_list`.
    Line,
    /// A line of `amount_detail_list`.
    Amount,
}

/// The record a row is mapped from: the refund, the line of the row (per the table's grain),
/// and what the sink adds.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The refund.
    pub refund: &'a Refund,
    /// The line this row is for (per the table's grain).
    pub row: RowOf<'a>,
    /// The account of the stream that read the refund.
    pub account: &'a str,
    /// The refund as JSON text (the `raw` source).
    pub raw: &'a str,
    /// When the batch was mapped, Beijing time (the `synced_at` source).
    pub synced_at: NaiveDateTime,
}

/// What one row of a table stands for.
#[derive(Debug, Clone, Copy)]
pub enum RowOf<'a> {
    /// The refund (tables of `refund` grain).
    Refund,
    /// A detail line, or `None` for the one row of a refund without lines (`detail` grain).
    Line(Option<&'a RefundDetail>),
    /// An amount line (`amount_detail` grain).
    Amount(&'a AmountDetail),
}

/// The vendor's labels of a code field, code order.
pub type LabelList = fn() -> Vec<(i64, &'static str)>;

type RefundGet = for<'a> fn(&'a Refund) -> Value<'a>;
type LineGet = for<'a> fn(&'a RefundDetail) -> Value<'a>;
type AmountGet = for<'a> fn(&'a AmountDetail) -> Value<'a>;

/// How a field is read.
#[derive(Clone, Copy)]
pub(crate) enum Getter {
    Refund(RefundGet),
    Line(LineGet),
    Amount(AmountGet),
    Account,
    Raw,
    SyncedAt,
}

/// One readable field.
#[derive(Clone, Copy)]
pub struct Field {
    /// Its path (`refund_no`, `detail_list.goods_no`).
    pub path: &'static str,
    /// Where it lives.
    pub level: Level,
    /// What it yields.
    pub kind: Kind,
    /// The vendor's labels of its codes, for a code field (`status`, `stockin_status`, …).
    pub labels: Option<LabelList>,
    pub(crate) get: Getter,
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Field")
            .field("path", &self.path)
            .field("level", &self.level)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Field {
    /// The field's value for `rec`: one value at its own level, the list of its values over
    /// the refund's lines when read from a refund-grain row (or from a row of the other kind of
    /// line), NULL when the row has no line (a refund without lines).
    pub fn read<'a>(&self, rec: &Record<'a>) -> Value<'a> {
        match self.get {
            Getter::Refund(g) => g(rec.refund),
            Getter::Line(g) => match rec.row {
                RowOf::Line(Some(l)) => g(l),
                RowOf::Line(None) => Value::Null,
                _ => Value::List(rec.refund.detail_list.iter().map(g).collect()),
            },
            Getter::Amount(g) => match rec.row {
                RowOf::Amount(a) => g(a),
                _ => Value::List(rec.refund.amount_detail_list.iter().map(g).collect()),
            },
            Getter::Account => Value::Text(Cow::Borrowed(rec.account)),
            Getter::Raw => Value::Text(Cow::Borrowed(rec.raw)),
            Getter::SyncedAt => Value::Time(rec.synced_at),
        }
    }
}

fn s(v: &Option<String>) -> Value<'_> {
    v.as_deref().map_or(Value::Null, |s| Value::Text(Cow::Borrowed(s)))
}
fn i(v: Option<i64>) -> Value<'static> {
    v.map_or(Value::Null, Value::Int)
}
fn d(v: Option<rust_decimal::Decimal>) -> Value<'static> {
    v.map_or(Value::Null, Value::Dec)
}
fn t(v: Option<NaiveDateTime>) -> Value<'static> {
    v.map_or(Value::Null, Value::Time)
}
fn b(v: Option<bool>) -> Value<'static> {
    v.map_or(Value::Null, Value::Bool)
}

macro_rules! labels_of {
    ($e:ty) => {
        Some(|| <$e>::KNOWN.iter().map(|v| (v.code(), v.label())).collect())
    };
}

macro_rules! fields {
    ($level:ident, $getter:ident, $ty:ty, $prefix:literal; $( $path:literal => $kind:ident $(($e:ty))? : |$r:ident| $body:expr ),+ $(,)?) => {
        &[ $( Field {
            path: concat!($prefix, $path),
            level: Level::$level,
            kind: Kind::$kind,
            labels: fields!(@labels $($e)?),
            get: Getter::$getter({ fn get(r: &$ty) -> Value<'_> { let $r = r; $body } get }),
        } ),+ ]
    };
    (@labels) => { None };
    (@labels $e:ty) => { labels_of!($e) };
}

/// The refund's own fields.
static REFUND_FIELDS: &[Field] = fields!(Refund, Refund, Refund, "";
    "refund_id" => Int: |r| Value::Int(r.refund_id),
    "src_tids" => Text: |r| s(&r.src_tids),
    "refund_no" => Text: |r| s(&r.refund_no),
    "remark" => Text: |r| s(&r.remark),
    "type" => Int(RefundType): |r| i(r.refund_type.map(|c| c.code())),
    "stockin_status" => Int(StockinStatus): |r| i(r.stockin_status.map(|c| c.code())),
    "flag_name" => Text: |r| s(&r.flag_name),
    "return_goods_count" => Dec: |r| d(r.return_goods_count),
    "receiver_telno" => Text: |r| s(&r.receiver_telno),
    "receiver_name" => Text: |r| s(&r.receiver_name),
    "modified" => Time: |r| t(r.modified),
    "note_count" => Int: |r| i(r.note_count),
    "shop_no" => Text: |r| s(&r.shop_no),
    "shop_name" => Text: |r| s(&r.shop_name),
    "from_type" => Int(FromType): |r| i(r.from_type.map(|c| c.code())),
    "created" => Time: |r| t(r.created),
    "settle_time" => Time: |r| t(r.settle_time),
    "check_time" => Time: |r| t(r.check_time),
    "return_logistics_no" => Text: |r| s(&r.return_logistics_no),
    "trade_no_list" => Text: |r| s(&r.trade_no_list),
    "guarantee_refund_amount" => Dec: |r| d(r.guarantee_refund_amount),
    "return_goods_amount" => Dec: |r| d(r.return_goods_amount),
    "return_logistics_name" => Text: |r| s(&r.return_logistics_name),
    "reason_name" => Text: |r| s(&r.reason_name),
    "refund_reason" => Text: |r| s(&r.refund_reason),
    "buyer_nick" => Text: |r| s(&r.buyer_nick),
    "operator_name" => Text: |r| s(&r.operator_name),
    "actual_refund_amount" => Dec: |r| d(r.actual_refund_amount),
    "revert_reason_name" => Text: |r| s(&r.revert_reason_name),
    "return_warehouse_no" => Text: |r| s(&r.return_warehouse_no),
    "direct_refund_amount" => Dec: |r| d(r.direct_refund_amount),
    "receive_amount" => Dec: |r| d(r.receive_amount),
    "customer_name" => Text: |r| s(&r.customer_name),
    "fenxiao_nick_name" => Text: |r| s(&r.fenxiao_nick_name),
    "status" => Int(RefundStatus): |r| i(r.status.map(|c| c.code())),
    "shop_id" => Int: |r| i(r.shop_id),
    "trade_id" => Int: |r| i(r.trade_id),
    "raw_refund_nos" => Text: |r| s(&r.raw_refund_nos),
    "pay_id" => Text: |r| s(&r.pay_id),
    "provider_refund_no" => Text: |r| s(&r.provider_refund_no),
    "shop_platform_id" => Int: |r| i(r.shop_platform_id),
    "tid_list" => Text: |r| s(&r.tid_list),
    "sub_platform_id" => Int: |r| i(r.sub_platform_id),
    "return_warehouse_id" => Int: |r| i(r.return_warehouse_id),
    "platform_id" => Int: |r| i(r.platform_id),
    "wms_owner_no" => Text: |r| s(&r.wms_owner_no),
    "warehouse_type" => Int(WarehouseType): |r| i(r.warehouse_type.map(|c| c.code())),
    "bad_reason" => Int: |r| i(r.bad_reason),
    "modified_date" => Time: |r| t(r.modified_date),
    "return_mask_info" => Text: |r| s(&r.return_mask_info),
    "process_status" => Int(ProcessStatus): |r| i(r.process_status.map(|c| c.code())),
    "reason_id" => Int: |r| i(r.reason_id),
    "revert_reason" => Int: |r| i(r.revert_reason),
    "customer_id" => Int: |r| i(r.customer_id),
    "consign_mode" => Int(ConsignMode): |r| i(r.consign_mode.map(|c| c.code())),
    "refund_time" => Time: |r| t(r.refund_time),
    "fenxiao_tid" => Text: |r| s(&r.fenxiao_tid),
    "fenxiao_nick_no" => Text: |r| s(&r.fenxiao_nick_no),
    "wms_code" => Text: |r| s(&r.wms_code),
    "rr_status" => Int(RrStatus): |r| i(r.rr_status.map(|c| c.code())),
    "current_phase_timeout" => Time: |r| t(r.current_phase_timeout),
    "raw_refund_remark" => Text: |r| s(&r.raw_refund_remark),
    "fenxiao_distributor_id" => Text: |r| s(&r.fenxiao_distributor_id),
    "fenxiao_distributor_name" => Text: |r| s(&r.fenxiao_distributor_name),
    "order_type" => Text: |r| s(&r.order_type),
    "source" => Text: |r| Value::Text(Cow::Borrowed(r.source.as_str())),
    "reason" => Text: |r| s(&r.reason),
    "operator_id" => Int: |r| i(r.operator_id),
    "return_mobile" => Text: |r| s(&r.return_mobile),
    "return_name" => Text: |r| s(&r.return_name),
    "salesman" => Text: |r| s(&r.salesman),
    "salesman_id" => Int: |r| i(r.salesman_id),
    "stockin_no" => Text: |r| s(&r.stockin_no),
    "pay_status" => Int: |r| i(r.pay_status),
    "flag_id" => Int: |r| i(r.flag_id),
);

/// The fields of a `detail_list` line.
static LINE_FIELDS: &[Field] = fields!(Line, Line, RefundDetail, "detail_list.";
    "rec_id" => Int: |l| i(l.rec_id),
    "refund_id" => Int: |l| i(l.refund_id),
    "oid" => Text: |l| s(&l.oid),
    "trade_order_id" => Int: |l| i(l.trade_order_id),
    "platform_id" => Int: |l| i(l.platform_id),
    "tid" => Text: |l| s(&l.tid),
    "trade_no" => Text: |l| s(&l.trade_no),
    "num" => Dec: |l| d(l.num),
    "price" => Dec: |l| d(l.price),
    "original_price" => Dec: |l| d(l.original_price),
    "checked_cost_price" => Dec: |l| d(l.checked_cost_price),
    "refund_num" => Dec: |l| d(l.refund_num),
    "total_amount" => Dec: |l| d(l.total_amount),
    "refund_amount" => Dec: |l| d(l.refund_amount),
    "is_guarantee" => Bool: |l| b(l.is_guarantee),
    "goods_no" => Text: |l| s(&l.goods_no),
    "goods_name" => Text: |l| s(&l.goods_name),
    "spec_name" => Text: |l| s(&l.spec_name),
    "spec_no" => Text: |l| s(&l.spec_no),
    "goods_id" => Text: |l| s(&l.goods_id),
    "spec_id" => Text: |l| s(&l.spec_id),
    "sys_goods_id" => Int: |l| i(l.sys_goods_id),
    "sys_spec_id" => Int: |l| i(l.sys_spec_id),
    "spec_code" => Text: |l| s(&l.spec_code),
    "barcode" => Text: |l| s(&l.barcode),
    "stockin_num" => Dec: |l| d(l.stockin_num),
    "remark" => Text: |l| s(&l.remark),
    "api_spec_name" => Text: |l| s(&l.api_spec_name),
    "api_goods_name" => Text: |l| s(&l.api_goods_name),
    "modified" => Time: |l| t(l.modified),
    "suite_no" => Text: |l| s(&l.suite_no),
    "suite_name" => Text: |l| s(&l.suite_name),
    "raw_refund_nos" => Text: |l| s(&l.raw_refund_nos),
    "raw_refund_no" => Text: |l| s(&l.raw_refund_no),
    "sales_trade_id" => Int: |l| i(l.sales_trade_id),
    "discount" => Dec: |l| d(l.discount),
    "paid" => Dec: |l| d(l.paid),
    "suite_id" => Int: |l| i(l.suite_id),
    "suite_num" => Dec: |l| d(l.suite_num),
    "created" => Time: |l| t(l.created),
    "modified_date" => Time: |l| t(l.modified_date),
    "gift_type" => Int(GiftType): |l| i(l.gift_type.map(|c| c.code())),
    "brand_name" => Text: |l| s(&l.brand_name),
    "current_phase_timeout" => Time: |l| t(l.current_phase_timeout),
    "goods_prop1" => Text: |l| s(&l.goods_prop1),
    "goods_prop2" => Text: |l| s(&l.goods_prop2),
    "goods_prop3" => Text: |l| s(&l.goods_prop3),
    "goods_prop4" => Text: |l| s(&l.goods_prop4),
    "goods_prop5" => Text: |l| s(&l.goods_prop5),
    "goods_prop6" => Text: |l| s(&l.goods_prop6),
    "goods_prop7" => Text: |l| s(&l.goods_prop7),
    "goods_prop8" => Text: |l| s(&l.goods_prop8),
    "goods_prop9" => Text: |l| s(&l.goods_prop9),
    "goods_prop10" => Text: |l| s(&l.goods_prop10),
    "goods_prop11" => Text: |l| s(&l.goods_prop11),
    "goods_prop12" => Text: |l| s(&l.goods_prop12),
    "goods_prop13" => Text: |l| s(&l.goods_prop13),
    "goods_prop14" => Text: |l| s(&l.goods_prop14),
    "goods_prop15" => Text: |l| s(&l.goods_prop15),
    "goods_prop16" => Text: |l| s(&l.goods_prop16),
    "goods_prop17" => Text: |l| s(&l.goods_prop17),
    "goods_prop18" => Text: |l| s(&l.goods_prop18),
    "goods_prop19" => Text: |l| s(&l.goods_prop19),
    "goods_prop20" => Text: |l| s(&l.goods_prop20),
    "goods_spec_prop1" => Text: |l| s(&l.goods_spec_prop1),
    "goods_spec_prop2" => Text: |l| s(&l.goods_spec_prop2),
    "goods_spec_prop3" => Text: |l| s(&l.goods_spec_prop3),
    "goods_spec_prop4" => Text: |l| s(&l.goods_spec_prop4),
    "goods_spec_prop5" => Text: |l| s(&l.goods_spec_prop5),
    "goods_spec_prop6" => Text: |l| s(&l.goods_spec_prop6),
    "goods_spec_prop7" => Text: |l| s(&l.goods_spec_prop7),
    "goods_spec_prop8" => Text: |l| s(&l.goods_spec_prop8),
    "goods_spec_prop9" => Text: |l| s(&l.goods_spec_prop9),
    "goods_spec_prop10" => Text: |l| s(&l.goods_spec_prop10),
    "goods_spec_prop11" => Text: |l| s(&l.goods_spec_prop11),
    "goods_spec_prop12" => Text: |l| s(&l.goods_spec_prop12),
    "goods_spec_prop13" => Text: |l| s(&l.goods_spec_prop13),
    "goods_spec_prop14" => Text: |l| s(&l.goods_spec_prop14),
    "goods_spec_prop15" => Text: |l| s(&l.goods_spec_prop15),
    "goods_spec_prop16" => Text: |l| s(&l.goods_spec_prop16),
    "goods_spec_prop17" => Text: |l| s(&l.goods_spec_prop17),
    "goods_spec_prop18" => Text: |l| s(&l.goods_spec_prop18),
    "goods_spec_prop19" => Text: |l| s(&l.goods_spec_prop19),
    "goods_spec_prop20" => Text: |l| s(&l.goods_spec_prop20),
    "trade_id" => Int: |l| i(l.trade_id),
    "defect" => Bool: |l| b(l.defect),
    "returned_num" => Dec: |l| d(l.returned_num),
);

/// The fields of an `amount_detail_list` line.
static AMOUNT_FIELDS: &[Field] = fields!(Amount, Amount, AmountDetail, "amount_detail_list.";
    "rec_id" => Int: |a| i(a.rec_id),
    "refund_id" => Int: |a| i(a.refund_id),
    "refund_type" => Int(AmountRefundType): |a| i(a.refund_type.map(|c| c.code())),
    "is_return" => Int: |a| i(a.is_return),
    "refund_amount" => Dec: |a| d(a.refund_amount),
    "receive_amount" => Dec: |a| d(a.receive_amount),
    "is_guarantee" => Bool: |a| b(a.is_guarantee),
    "account_id" => Int: |a| i(a.account_id),
    "pay_account" => Text: |a| s(&a.pay_account),
    "account_name" => Text: |a| s(&a.account_name),
    "account_bank" => Text: |a| s(&a.account_bank),
    "is_auto" => Bool: |a| b(a.is_auto),
    "remark" => Text: |a| s(&a.remark),
);

/// What the sink adds to every record.
static META_FIELDS: &[Field] = &[
    Field {
        path: "account",
        level: Level::Refund,
        kind: Kind::Text,
        labels: None,
        get: Getter::Account,
    },
    Field {
        path: "raw",
        level: Level::Refund,
        kind: Kind::Text,
        labels: None,
        get: Getter::Raw,
    },
    Field {
        path: "synced_at",
        level: Level::Refund,
        kind: Kind::Time,
        labels: None,
        get: Getter::SyncedAt,
    },
];

/// Every readable field.
pub fn fields() -> impl Iterator<Item = &'static Field> {
    META_FIELDS
        .iter()
        .chain(REFUND_FIELDS)
        .chain(LINE_FIELDS)
        .chain(AMOUNT_FIELDS)
}

/// The field at `path`, if there is one.
pub fn field(path: &str) -> Option<&'static Field> {
    fields().find(|f| f.path == path)
}

/// Up to three known paths closest to `path` (for "did you mean" in errors).
pub(crate) fn closest(path: &str) -> Vec<&'static str> {
    let mut scored: Vec<(usize, &'static str)> = fields().map(|f| (distance(path, f.path), f.path)).collect();
    scored.sort();
    scored
        .into_iter()
        .take_while(|(d, _)| *d <= (path.chars().count() / 4).max(2))
        .take(3)
        .map(|(_, p)| p)
        .collect()
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn rec(r: &Refund) -> Record<'_> {
        Record {
            refund: r,
            row: RowOf::Refund,
            account: "shop",
            raw: "{}",
            synced_at: NaiveDateTime::default(),
        }
    }

    #[test]
    fn paths_are_unique_and_every_model_field_is_readable() {
        let mut paths: Vec<&str> = fields().map(|f| f.path).collect();
        let n = paths.len();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), n, "duplicate paths");
        // Every refund, line and amount field of the model (less the nested lists and `extra`).
        assert_eq!(REFUND_FIELDS.len(), 75);
        assert_eq!(LINE_FIELDS.len(), 87);
        assert_eq!(AMOUNT_FIELDS.len(), 13);
    }

    #[test]
    fn line_fields_read_at_refund_grain_are_lists() {
        let r = Refund {
            refund_id: 1,
            refund_no: Some("TK1".into()),
            detail_list: vec![
                RefundDetail {
                    goods_no: Some("A".into()),
                    num: Some(Decimal::new(15, 1)),
                    ..Default::default()
                },
                RefundDetail {
                    goods_no: Some("B".into()),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let goods = field("detail_list.goods_no").unwrap();
        assert_eq!(goods.read(&rec(&r)).to_string(), "A,B");
        let one = Record {
            row: RowOf::Line(Some(&r.detail_list[0])),
            ..rec(&r)
        };
        assert_eq!(
            field("detail_list.num").unwrap().read(&one),
            Value::Dec(Decimal::new(15, 1))
        );
        assert_eq!(field("refund_no").unwrap().read(&one).to_string(), "TK1");
        assert_eq!(field("account").unwrap().read(&one).to_string(), "shop");
        assert!(field("stockin_status").unwrap().labels.is_some());
        assert_eq!(closest("refund_noo"), vec!["refund_no"]);
    }
}
