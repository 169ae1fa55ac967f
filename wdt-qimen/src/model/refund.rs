//! One refund (退换单) of `aftersales.refund.Refund.search`, typed, with nothing lost.
//!
//! Every field of WDT's method page is here, each `Option` because WDT omits keys freely,
//! and each read with a lenient decoder from [`de`]: ids and codes accept numbers or numeric
//! strings, amounts are exact [`Decimal`]s, times are Beijing wall time whether they come as epoch
//! milliseconds or as `yyyy-MM-dd HH:mm:ss`. Keys the model does not know are kept in `extra`.
//!
//! Serializing a [`Refund`] writes JSON that decodes back to an equal value: decimals as strings
//! that keep their scale, times as `yyyy-MM-dd HH:mm:ss[.fff]`, enums as codes, `None` omitted.
//!
//! Decode a record with [`decode_refund`] (or [`decode_refund_value`]) to get the failing field's
//! path in the error (`detail_list[2].price`).

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::de;
use super::enums::{
    AmountRefundType, ConsignMode, FromType, GiftType, ProcessStatus, RefundStatus, RefundType, RrStatus,
    StockinStatus, TargetType, WarehouseType,
};

/// One refund (退换单): an element of `data.order` in the response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    /// 退换单id: the refund's id (required; a number or a numeric string).
    #[serde(deserialize_with = "de::req_i64")]
    pub refund_id: i64,
    /// 原始单号: platform order numbers of the related sales orders, comma-separated.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub src_tids: Option<String>,
    /// 退换单号: the WDT refund number (`TK…`).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub refund_no: Option<String>,
    /// 备注: remark.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub remark: Option<String>,
    /// 退换单类型 (JSON key `type`).
    #[serde(
        rename = "type",
        default,
        deserialize_with = "de::opt_code",
        skip_serializing_if = "Option::is_none"
    )]
    pub refund_type: Option<RefundType>,
    /// 入库状态: stock-in state of returned goods.
    #[serde(default, deserialize_with = "de::opt_code", skip_serializing_if = "Option::is_none")]
    pub stockin_status: Option<StockinStatus>,
    /// 标记名称: name of the flag set on the refund.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub flag_name: Option<String>,
    /// 退回货品数量: quantity of returned goods.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub return_goods_count: Option<Decimal>,
    /// 收件人电话: receiver phone (self-owned and offline platforms only; the history doc's
    /// sample spells the key `" receiver_telno"`, also read).
    #[serde(
        default,
        alias = " receiver_telno",
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub receiver_telno: Option<String>,
    /// 收件人姓名: receiver name (self-owned and offline platforms only).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub receiver_name: Option<String>,
    /// 修改时间: last modification, Beijing time (epoch ms on the wire). The sync cursor.
    #[serde(
        default,
        deserialize_with = "de::opt_time",
        serialize_with = "de::ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub modified: Option<NaiveDateTime>,
    /// 便签数量: number of notes.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub note_count: Option<i64>,
    /// 店铺编号: shop number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub shop_no: Option<String>,
    /// 店铺名称: shop name (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub shop_name: Option<String>,
    /// 建单方式: how the refund was created (the history doc's sample spells the key
    /// `"from_type "`, also read).
    #[serde(
        default,
        alias = "from_type ",
        deserialize_with = "de::opt_code",
        skip_serializing_if = "Option::is_none"
    )]
    pub from_type: Option<FromType>,
    /// 建单时间: creation time, Beijing time (epoch ms on the wire).
    #[serde(
        default,
        deserialize_with = "de::opt_time",
        serialize_with = "de::ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<NaiveDateTime>,
    /// 结算时间: settlement time; `""` on the wire when not settled.
    #[serde(
        default,
        deserialize_with = "de::opt_time",
        serialize_with = "de::ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub settle_time: Option<NaiveDateTime>,
    /// 审核时间: audit time; `""` on the wire when not audited.
    #[serde(
        default,
        deserialize_with = "de::opt_time",
        serialize_with = "de::ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub check_time: Option<NaiveDateTime>,
    /// 退货物流单号: return waybill number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub return_logistics_no: Option<String>,
    /// 系统订单号列表: WDT order numbers, comma-separated.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub trade_no_list: Option<String>,
    /// 平台退款金额: refund paid through the platform (担保退款).
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub guarantee_refund_amount: Option<Decimal>,
    /// 退货金额: value of the returned goods.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub return_goods_amount: Option<Decimal>,
    /// 物流公司名称: return carrier name.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub return_logistics_name: Option<String>,
    /// 退换说明: refund reason text.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reason_name: Option<String>,
    /// 退款原因: refund reason (optional).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub refund_reason: Option<String>,
    /// 客户网名: buyer nickname (self-owned and offline platforms only).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub buyer_nick: Option<String>,
    /// 建单者: creator.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub operator_name: Option<String>,
    /// 实际退款金额: amount actually refunded.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_refund_amount: Option<Decimal>,
    /// 驳回原因: rejection reason text.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub revert_reason_name: Option<String>,
    /// 退回仓库编号: return warehouse number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub return_warehouse_no: Option<String>,
    /// 线下退款金额: refund paid outside the platform (非担保退款).
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub direct_refund_amount: Option<Decimal>,
    /// 收款金额: amount the buyer pays the seller.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub receive_amount: Option<Decimal>,
    /// 客户姓名: customer name (self-owned and offline platforms only).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub customer_name: Option<String>,
    /// 分销商昵称: distributor nickname; the key is absent when empty.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub fenxiao_nick_name: Option<String>,
    /// 退换单状态: refund state.
    #[serde(default, deserialize_with = "de::opt_code", skip_serializing_if = "Option::is_none")]
    pub status: Option<RefundStatus>,
    /// 店铺id: shop id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub shop_id: Option<i64>,
    /// 订单id: WDT order id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub trade_id: Option<i64>,
    /// 原始退换单号: platform refund numbers, comma-separated.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub raw_refund_nos: Option<String>,
    /// 支付订单号: payment number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub pay_id: Option<String>,
    /// 分销退换单号: distribution refund number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub provider_refund_no: Option<String>,
    /// 店铺平台id: platform id of the shop.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub shop_platform_id: Option<i64>,
    /// 原始单号: platform order numbers as shown in the refund screen.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub tid_list: Option<String>,
    /// 子平台id: sub-platform id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub sub_platform_id: Option<i64>,
    /// 退回仓库id: return warehouse id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub return_warehouse_id: Option<i64>,
    /// 平台id: platform id (sometimes the string `"127"` on the wire).
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub platform_id: Option<i64>,
    /// 奇门货主编号: Qimen WMS owner number (optional).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub wms_owner_no: Option<String>,
    /// 退回仓库类型: return warehouse type.
    #[serde(default, deserialize_with = "de::opt_code", skip_serializing_if = "Option::is_none")]
    pub warehouse_type: Option<WarehouseType>,
    /// 拦截原因: interception reason code.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub bad_reason: Option<i64>,
    /// 最后修改时间: last modification as a `yyyy-MM-dd HH:mm:ss` string.
    #[serde(
        default,
        deserialize_with = "de::opt_time",
        serialize_with = "de::ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub modified_date: Option<NaiveDateTime>,
    /// 退换信息: return mask info.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub return_mask_info: Option<String>,
    /// 处理状态: processing state (sometimes a string on the wire).
    #[serde(default, deserialize_with = "de::opt_code", skip_serializing_if = "Option::is_none")]
    pub process_status: Option<ProcessStatus>,
    /// 退款原因id: refund reason id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub reason_id: Option<i64>,
    /// 驳回原因id: rejection reason id (the history doc's sample spells the key
    /// `"revert_reason "`, also read).
    #[serde(
        default,
        alias = "revert_reason ",
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub revert_reason: Option<i64>,
    /// 客户id: customer id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<i64>,
    /// 发货方式: consign mode.
    #[serde(default, deserialize_with = "de::opt_code", skip_serializing_if = "Option::is_none")]
    pub consign_mode: Option<ConsignMode>,
    /// 退款创建时间: when the platform refund was created.
    #[serde(
        default,
        deserialize_with = "de::opt_time",
        serialize_with = "de::ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub refund_time: Option<NaiveDateTime>,
    /// 分销原始单号: distribution platform order number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub fenxiao_tid: Option<String>,
    /// 分销商编码: distributor code.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub fenxiao_nick_no: Option<String>,
    /// wms单号: WMS document number (not returned via Qimen).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub wms_code: Option<String>,
    /// 平台状态: platform refund state.
    #[serde(default, deserialize_with = "de::opt_code", skip_serializing_if = "Option::is_none")]
    pub rr_status: Option<RrStatus>,
    /// 退款成功时间: when the refund succeeded.
    #[serde(
        default,
        deserialize_with = "de::opt_time",
        serialize_with = "de::ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub current_phase_timeout: Option<NaiveDateTime>,
    /// 原始退款单备注: platform refund remark (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub raw_refund_remark: Option<String>,
    /// 分销商id: distributor id (newer doc; documented as a string).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub fenxiao_distributor_id: Option<String>,
    /// 分销商名称: distributor name (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub fenxiao_distributor_name: Option<String>,
    /// 订单类型: order type (newer doc; documented as a string).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub order_type: Option<String>,
    // Fields only `aftersales.refund.Refund.searchHistory` documents (None from the live search).
    /// 退换原因: the refund reason text (history only; the live search has `reason_name`).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reason: Option<String>,
    /// 操作员id: id of the operator (history only).
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub operator_id: Option<i64>,
    /// 退货人手机号: returner's mobile (history only; the doc's sample spells the key `"return_mobile "`, also read).
    #[serde(
        default,
        alias = "return_mobile ",
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub return_mobile: Option<String>,
    /// 退货人姓名: returner's name (history only).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub return_name: Option<String>,
    /// 业务员名称: salesman's name (history only).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub salesman: Option<String>,
    /// 业务员id: salesman's id (history only).
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub salesman_id: Option<i64>,
    /// 入库单号: the stock-in document number (history only).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub stockin_no: Option<String>,
    /// 支付状态: payment state code (history only; the doc gives no values).
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub pay_status: Option<i64>,
    /// 标记id: id of the flag (history only).
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub flag_id: Option<i64>,
    /// Which method the record came from (not a WDT field; set by the endpoint that decoded it,
    /// never read from or written to JSON).
    #[serde(skip)]
    pub source: RefundSource,
    /// 退换单详情: the refund's goods lines (empty when absent or `null`).
    #[serde(default, deserialize_with = "de::vec_or_empty")]
    pub detail_list: Vec<RefundDetail>,
    /// 金额明细: the refund's amount lines (empty when absent or `null`).
    #[serde(default, deserialize_with = "de::vec_or_empty")]
    pub amount_detail_list: Vec<AmountDetail>,
    /// 换出订单: the exchange order (only for exchanges, type 3).
    #[serde(
        default,
        deserialize_with = "de::opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub swap_order: Option<SwapOrder>,
    /// 国补信息: government-subsidy lines (only when requested).
    #[serde(default, deserialize_with = "de::vec_or_empty")]
    pub gov_subsidy_info: Vec<GovSubsidyInfo>,
    /// Keys the model does not know (e.g. `return_telno`, `tmp_data`, `sync_return`,
    /// `return_mask`), kept as received.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// One goods line of a refund (`detail_list[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefundDetail {
    /// 退换单明细Id: the line's unique id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub rec_id: Option<i64>,
    /// 退换单id: the refund this line belongs to.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<i64>,
    /// 原始子单号: platform sub-order number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub oid: Option<String>,
    /// 订单明细id: WDT order line id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub trade_order_id: Option<i64>,
    /// 平台id: platform id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub platform_id: Option<i64>,
    /// 原始单号: platform order number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub tid: Option<String>,
    /// 系统订单编号: WDT order number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub trade_no: Option<String>,
    /// 数量: quantity actually shipped.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub num: Option<Decimal>,
    /// 价格: price after allocation (分摊后价格).
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub price: Option<Decimal>,
    /// 原价: list price of the order line.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub original_price: Option<Decimal>,
    /// 成本价: cost price.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub checked_cost_price: Option<Decimal>,
    /// 退款数量: quantity refunded.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub refund_num: Option<Decimal>,
    /// 退款总额: line amount after allocation.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_amount: Option<Decimal>,
    /// 退款金额: amount already refunded.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub refund_amount: Option<Decimal>,
    /// 担保退款: refunded through the platform.
    #[serde(default, deserialize_with = "de::opt_bool", skip_serializing_if = "Option::is_none")]
    pub is_guarantee: Option<bool>,
    /// 货品编号: goods number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_no: Option<String>,
    /// 货品名称: goods name.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_name: Option<String>,
    /// 规格名: spec name.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub spec_name: Option<String>,
    /// 商家编码: merchant code of the spec.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub spec_no: Option<String>,
    /// 平台货品id: platform goods id (text; numbers are kept as their text).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_id: Option<String>,
    /// 平台规格id: platform spec id (text; numbers are kept as their text).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub spec_id: Option<String>,
    /// 系统货品id: WDT goods id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub sys_goods_id: Option<i64>,
    /// 系统规格id: WDT spec id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub sys_spec_id: Option<i64>,
    /// 规格码: spec code.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub spec_code: Option<String>,
    /// 条码: barcode.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub barcode: Option<String>,
    /// 入库数量: quantity stocked in.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub stockin_num: Option<Decimal>,
    /// 备注: remark.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub remark: Option<String>,
    /// 平台规格名称: platform spec name.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub api_spec_name: Option<String>,
    /// 平台货品名称: platform goods name.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub api_goods_name: Option<String>,
    /// 最后修改时间: last modification (epoch ms on the wire).
    #[serde(
        default,
        deserialize_with = "de::opt_time",
        serialize_with = "de::ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub modified: Option<NaiveDateTime>,
    /// 组合装编号: suite number (absent when the line is not part of a suite).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub suite_no: Option<String>,
    /// 组合装名称: suite name (absent when the line is not part of a suite).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub suite_name: Option<String>,
    /// 原始退款单号: platform refund numbers matched by oid, comma-separated.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub raw_refund_nos: Option<String>,
    /// 原始退款单号: the platform refund number set at submission.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub raw_refund_no: Option<String>,
    /// 订单id: WDT order id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub sales_trade_id: Option<i64>,
    /// 总折扣金额: total discount.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub discount: Option<Decimal>,
    /// 已支付金额: amount paid.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub paid: Option<Decimal>,
    /// 组合装id: suite id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub suite_id: Option<i64>,
    /// 组合装数量: suite quantity.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub suite_num: Option<Decimal>,
    /// 创建时间: creation time.
    #[serde(
        default,
        deserialize_with = "de::opt_time",
        serialize_with = "de::ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<NaiveDateTime>,
    /// 最后修改时间: last modification as a `yyyy-MM-dd HH:mm:ss` string.
    #[serde(
        default,
        deserialize_with = "de::opt_time",
        serialize_with = "de::ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub modified_date: Option<NaiveDateTime>,
    /// 赠品类型: gift type.
    #[serde(default, deserialize_with = "de::opt_code", skip_serializing_if = "Option::is_none")]
    pub gift_type: Option<GiftType>,
    /// 品牌名称: brand name (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub brand_name: Option<String>,
    /// 退款成功时间: when the line's refund succeeded (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_time",
        serialize_with = "de::ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub current_phase_timeout: Option<NaiveDateTime>,
    /// 货品自定义属性1: goods custom property 1 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop1: Option<String>,
    /// 货品自定义属性2: goods custom property 2 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop2: Option<String>,
    /// 货品自定义属性3: goods custom property 3 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop3: Option<String>,
    /// 货品自定义属性4: goods custom property 4 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop4: Option<String>,
    /// 货品自定义属性5: goods custom property 5 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop5: Option<String>,
    /// 货品自定义属性6: goods custom property 6 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop6: Option<String>,
    /// 货品自定义属性7: goods custom property 7 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop7: Option<String>,
    /// 货品自定义属性8: goods custom property 8 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop8: Option<String>,
    /// 货品自定义属性9: goods custom property 9 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop9: Option<String>,
    /// 货品自定义属性10: goods custom property 10 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop10: Option<String>,
    /// 货品自定义属性11: goods custom property 11 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop11: Option<String>,
    /// 货品自定义属性12: goods custom property 12 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop12: Option<String>,
    /// 货品自定义属性13: goods custom property 13 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop13: Option<String>,
    /// 货品自定义属性14: goods custom property 14 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop14: Option<String>,
    /// 货品自定义属性15: goods custom property 15 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop15: Option<String>,
    /// 货品自定义属性16: goods custom property 16 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop16: Option<String>,
    /// 货品自定义属性17: goods custom property 17 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop17: Option<String>,
    /// 货品自定义属性18: goods custom property 18 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop18: Option<String>,
    /// 货品自定义属性19: goods custom property 19 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop19: Option<String>,
    /// 货品自定义属性20: goods custom property 20 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_prop20: Option<String>,
    /// 单品自定义属性1: spec custom property 1 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop1: Option<String>,
    /// 单品自定义属性2: spec custom property 2 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop2: Option<String>,
    /// 单品自定义属性3: spec custom property 3 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop3: Option<String>,
    /// 单品自定义属性4: spec custom property 4 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop4: Option<String>,
    /// 单品自定义属性5: spec custom property 5 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop5: Option<String>,
    /// 单品自定义属性6: spec custom property 6 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop6: Option<String>,
    /// 单品自定义属性7: spec custom property 7 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop7: Option<String>,
    /// 单品自定义属性8: spec custom property 8 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop8: Option<String>,
    /// 单品自定义属性9: spec custom property 9 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop9: Option<String>,
    /// 单品自定义属性10: spec custom property 10 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop10: Option<String>,
    /// 单品自定义属性11: spec custom property 11 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop11: Option<String>,
    /// 单品自定义属性12: spec custom property 12 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop12: Option<String>,
    /// 单品自定义属性13: spec custom property 13 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop13: Option<String>,
    /// 单品自定义属性14: spec custom property 14 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop14: Option<String>,
    /// 单品自定义属性15: spec custom property 15 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop15: Option<String>,
    /// 单品自定义属性16: spec custom property 16 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop16: Option<String>,
    /// 单品自定义属性17: spec custom property 17 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop17: Option<String>,
    /// 单品自定义属性18: spec custom property 18 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop18: Option<String>,
    /// 单品自定义属性19: spec custom property 19 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop19: Option<String>,
    /// 单品自定义属性20: spec custom property 20 (newer doc).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_spec_prop20: Option<String>,
    /// 订单id: the WDT order id (history only).
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub trade_id: Option<i64>,
    /// 是否残次品: defective goods (history only).
    #[serde(default, deserialize_with = "de::opt_bool", skip_serializing_if = "Option::is_none")]
    pub defect: Option<bool>,
    /// 退回数量: quantity returned (history only).
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub returned_num: Option<Decimal>,
    /// Keys the model does not know, kept as received.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// One amount line of a refund (`amount_detail_list[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AmountDetail {
    /// 金额明细记录id: the amount line's id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub rec_id: Option<i64>,
    /// 退换单id: the refund this line belongs to.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<i64>,
    /// 退换类型: what the amount is for.
    #[serde(default, deserialize_with = "de::opt_code", skip_serializing_if = "Option::is_none")]
    pub refund_type: Option<AmountRefundType>,
    /// 金额流向: direction of the money; the two doc versions disagree on 0/1, so it is kept as the raw code.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub is_return: Option<i64>,
    /// 退款金额: amount refunded.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub refund_amount: Option<Decimal>,
    /// 收款金额: amount received.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub receive_amount: Option<Decimal>,
    /// 是否担保支付: paid through the platform.
    #[serde(default, deserialize_with = "de::opt_bool", skip_serializing_if = "Option::is_none")]
    pub is_guarantee: Option<bool>,
    /// 支付账户: payment account id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub account_id: Option<i64>,
    /// 买家账号: buyer account (self-owned and offline platforms only).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub pay_account: Option<String>,
    /// 买家开户人姓名: account holder name.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub account_name: Option<String>,
    /// 开户银行: bank.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub account_bank: Option<String>,
    /// 是否系统自动生成: created automatically by the system.
    #[serde(default, deserialize_with = "de::opt_bool", skip_serializing_if = "Option::is_none")]
    pub is_auto: Option<bool>,
    /// 备注: remark.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub remark: Option<String>,
    /// Keys the model does not know, kept as received.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The exchange order of an exchange refund (`swap_order`, type 3 only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SwapOrder {
    /// 换出订单原始单号: platform order number of the exchange order.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub tid: Option<String>,
    /// 店铺编号: shop number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub shop_no: Option<String>,
    /// 店铺名称: shop name.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub shop_name: Option<String>,
    /// 仓库编号: warehouse number (the doc calls it 仓库名称).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub warehouse_no: Option<String>,
    /// 店铺id: shop id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub shop_id: Option<i64>,
    /// 仓库id: warehouse id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub warehouse_id: Option<i64>,
    /// 省份id: province id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub swap_province: Option<i64>,
    /// 城市id: city id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub swap_city: Option<i64>,
    /// 地区: area text.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub swap_area: Option<String>,
    /// 地区id: district id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub swap_district: Option<i64>,
    /// 换货新订单物流公司id: carrier id of the exchange order.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub swap_logistics_id: Option<i64>,
    /// 换货邮费: exchange postage.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub post_amount: Option<Decimal>,
    /// 其他金额: other amount.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub other_amount: Option<Decimal>,
    /// 换出订单明细: the exchange order's lines.
    #[serde(default, deserialize_with = "de::vec_or_empty")]
    pub swap_order_detail_list: Vec<SwapOrderDetail>,
    /// Keys the model does not know, kept as received.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// One line of the exchange order (`swap_order.swap_order_detail_list[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SwapOrderDetail {
    /// 原始子单号: platform sub-order number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub oid: Option<String>,
    /// 货品类型: single SKU or suite.
    #[serde(default, deserialize_with = "de::opt_code", skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
    /// 换出货品id: id of the goods sent out.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub target_id: Option<i64>,
    /// 是否残次品: defective goods.
    #[serde(default, deserialize_with = "de::opt_bool", skip_serializing_if = "Option::is_none")]
    pub defect: Option<bool>,
    /// 货品名称: goods name.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_name: Option<String>,
    /// 货品编号: goods number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_no: Option<String>,
    /// 规格名称: spec name.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub spec_name: Option<String>,
    /// 规格码: spec code.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub spec_code: Option<String>,
    /// 商家编码: merchant code (of the suite, for a suite).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub merchant_no: Option<String>,
    /// 零售价: retail price.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub price: Option<Decimal>,
    /// 总价: total.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_amount: Option<Decimal>,
    /// 数量: quantity.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub num: Option<Decimal>,
    /// 备注: remark.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub remark: Option<String>,
    /// Keys the model does not know, kept as received.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// One government-subsidy line (`gov_subsidy_info[]`, only with `need_gov_subsidy_info`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GovSubsidyInfo {
    /// 原始单号: platform order number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub tid: Option<String>,
    /// 原始子单号: platform sub-order number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub oid: Option<String>,
    /// 公司主体名称: name of the company entity.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub corp_entity_name: Option<String>,
    /// Keys the model does not know, kept as received.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Which method a [`Refund`] was read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefundSource {
    /// `aftersales.refund.Refund.search`: refunds not yet archived (the default).
    #[default]
    Live,
    /// `aftersales.refund.Refund.searchHistory`: archived refunds (statuses 10 and 90).
    History,
}

impl RefundSource {
    /// `live` or `history`, as the sink stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::History => "history",
        }
    }
}

impl crate::endpoint::Record for Refund {
    const KEY_FIELD: &'static str = "refund_id";
    fn key(&self) -> i64 {
        self.refund_id
    }
    fn version(&self) -> Option<NaiveDateTime> {
        self.modified
    }
}

impl Refund {
    /// The key incremental sync orders and de-duplicates by: `modified` (Beijing wall time).
    pub fn modified_key(&self) -> Option<NaiveDateTime> {
        self.modified
    }
}

/// A refund record that could not be decoded, with the path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at `{path}`: {message}")]
pub struct RecordDecodeError {
    /// Path of the field that failed, e.g. `detail_list[2].price` (`.` for the record itself).
    pub path: String,
    /// What was wrong with it (serde's message, quoting the value).
    pub message: String,
}

impl RecordDecodeError {
    fn from_path_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> Self {
        Self {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        }
    }
}

/// Decodes one refund from its JSON text (one element of `data.order`).
///
/// On failure the error names the field's path, e.g.
/// ``at `detail_list[0].price`: invalid value: string "abc", expected a decimal number``.
pub fn decode_refund(json: &str) -> Result<Refund, RecordDecodeError> {
    let mut d = serde_json::Deserializer::from_str(json);
    let refund: Refund = serde_path_to_error::deserialize(&mut d).map_err(RecordDecodeError::from_path_error)?;
    d.end().map_err(|e| RecordDecodeError {
        path: ".".to_owned(),
        message: e.to_string(),
    })?;
    Ok(refund)
}

/// Decodes one refund from an already parsed JSON value (one element of `data.order`).
///
/// Same leniency and error paths as [`decode_refund`]. The value is written back to JSON text
/// first: `serde_json`'s `Value` deserializer hands integers beyond 64 bits to serde's internal
/// buffer as `u128`, which the buffer rejects, so an unknown key such as
/// `"x": 12345678901234567890123` would fail here but not from text.
pub fn decode_refund_value(value: &Value) -> Result<Refund, RecordDecodeError> {
    decode_refund(&value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::format_wdt;

    #[test]
    fn minimal_refund_has_empty_lists_and_no_values() {
        let r = decode_refund(r#"{"refund_id": 7}"#).unwrap();
        assert_eq!(r.refund_id, 7);
        assert!(r.detail_list.is_empty() && r.amount_detail_list.is_empty());
        assert!(r.gov_subsidy_info.is_empty() && r.swap_order.is_none());
        assert_eq!(r.modified_key(), None);
        assert_eq!(
            r,
            Refund {
                refund_id: 7,
                ..Refund::default()
            }
        );
    }

    #[test]
    fn refund_id_may_be_a_string_but_is_required() {
        assert_eq!(decode_refund(r#"{"refund_id": "12"}"#).unwrap().refund_id, 12);
        let e = decode_refund(r#"{"refund_no": "TK1"}"#).unwrap_err();
        assert!(e.message.contains("refund_id"), "{e}");
        let e = decode_refund(r#"{"refund_id": ""}"#).unwrap_err();
        assert_eq!(e.path, "refund_id");
        let e = decode_refund(r#"{"refund_id": null}"#).unwrap_err();
        assert_eq!(e.path, "refund_id");
    }

    #[test]
    fn modified_key_is_modified_in_beijing_time() {
        let r = decode_refund(r#"{"refund_id": 1, "modified": 1686712380000}"#).unwrap();
        assert_eq!(format_wdt(r.modified_key().unwrap()), "2023-06-14 11:13:00");
        let r = decode_refund(r#"{"refund_id": 1, "modified": "2024-02-03 04:05:06"}"#).unwrap();
        assert_eq!(format_wdt(r.modified_key().unwrap()), "2024-02-03 04:05:06");
    }

    #[test]
    fn type_is_renamed_and_unknown_keys_are_kept() {
        let r = decode_refund(r#"{"refund_id": 1, "type": "3", "tmp_data": 624, "x": [1.50]}"#).unwrap();
        assert_eq!(r.refund_type, Some(RefundType::Exchange));
        assert_eq!(r.extra.len(), 2);
        assert_eq!(r.extra["tmp_data"], serde_json::json!(624));
        assert_eq!(serde_json::to_string(&r.extra["x"]).unwrap(), "[1.50]");
        let out = serde_json::to_value(&r).unwrap();
        assert_eq!(out["type"], serde_json::json!(3));
        assert!(out.get("refund_type").is_none());
    }

    #[test]
    fn error_names_the_nested_path() {
        let json = r#"{"refund_id": 1, "detail_list": [{"rec_id": 1}, {"rec_id": 2, "price": "abc"}]}"#;
        let e = decode_refund(json).unwrap_err();
        assert_eq!(e.path, "detail_list[1].price");
        assert!(e.message.contains("\"abc\""), "{}", e.message);
        assert!(e.to_string().starts_with("at `detail_list[1].price`: "), "{e}");
        let v: Value = serde_json::from_str(json).unwrap();
        assert_eq!(decode_refund_value(&v).unwrap_err().path, "detail_list[1].price");
    }

    #[test]
    fn trailing_text_is_an_error() {
        let e = decode_refund(r#"{"refund_id": 1} x"#).unwrap_err();
        assert_eq!(e.path, ".");
        assert!(decode_refund("").is_err());
        assert!(decode_refund("[]").is_err());
    }

    #[test]
    fn text_and_value_decoding_agree_and_round_trip() {
        let json = r#"{"refund_id": 9, "platform_id": "127", "modified": "1700000000123",
            "actual_refund_amount": "1.10", "check_time": "", "remark": "",
            "detail_list": [{"rec_id": 3, "is_guarantee": "1", "price": 0.1, "goods_id": 42}],
            "swap_order": {"tid": "T", "post_amount": 1e2, "swap_order_detail_list": null}}"#;
        let a = decode_refund(json).unwrap();
        let b = decode_refund_value(&serde_json::from_str(json).unwrap()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.platform_id, Some(127));
        assert_eq!(a.check_time, None);
        assert_eq!(a.remark.as_deref(), Some(""));
        assert_eq!(a.detail_list[0].goods_id.as_deref(), Some("42"));
        let text = serde_json::to_string(&a).unwrap();
        let back = decode_refund(&text).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.actual_refund_amount.unwrap().to_string(), "1.10");
        assert_eq!(back.modified, a.modified);
    }
}
