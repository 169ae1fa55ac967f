//! One return stock-in (退货入库单) of `wms.stockin.Refund.queryWithDetail`, typed, with nothing
//! lost: the documented header and line fields are typed (lenient like [`Refund`](super::Refund):
//! numbers or numeric strings, exact decimals, times as epoch milliseconds or strings), every other
//! key is kept in `extra`.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::de;

/// One return stock-in: an element of `data.order`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StockinRefund {
    /// 入库单id: the stock-in's id (required; a number or a numeric string).
    #[serde(deserialize_with = "de::req_i64")]
    pub stockin_id: i64,
    /// 入库单号: the stock-in number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub order_no: Option<String>,
    /// 入库单状态: 10 已取消, 20 编辑中, 30 待处理/待审核, 80 已完成.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    /// 仓库编号: warehouse number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub warehouse_no: Option<String>,
    /// 仓库名称: warehouse name.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub warehouse_name: Option<String>,
    /// 仓库id: warehouse id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub warehouse_id: Option<i64>,
    /// 制单时间: when the document was made (epoch ms on the wire).
    #[serde(
        default,
        deserialize_with = "de::opt_time",
        serialize_with = "de::ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_time: Option<NaiveDateTime>,
    /// 审核时间: audit time (epoch ms on the wire).
    #[serde(
        default,
        deserialize_with = "de::opt_time",
        serialize_with = "de::ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub check_time: Option<NaiveDateTime>,
    /// 修改时间: last change (`yyyy-MM-dd HH:mm:ss` on the wire). The sync cursor.
    #[serde(
        default,
        deserialize_with = "de::opt_time",
        serialize_with = "de::ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub modified: Option<NaiveDateTime>,
    /// 创建时间: creation time.
    #[serde(
        default,
        deserialize_with = "de::opt_time",
        serialize_with = "de::ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<NaiveDateTime>,
    /// 备注: remark.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub remark: Option<String>,
    /// 入库人: who stocked it in.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub operator_name: Option<String>,
    /// 入库人id: their id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub operator_id: Option<i64>,
    /// 物流公司: carrier name.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub logistics_name: Option<String>,
    /// 物流单号: waybill number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub logistics_no: Option<String>,
    /// 物流id: carrier id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub logistics_id: Option<i64>,
    /// 退换单号: the refund's number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub refund_no: Option<String>,
    /// 退换单id: the refund's id (`refund_id` of the refund search).
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub src_order_id: Option<i64>,
    /// 退换单编号: the refund's number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub src_order_no: Option<String>,
    /// 退换单状态: the refund's status code.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub process_status: Option<i64>,
    /// 货品数量: goods quantity.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub goods_count: Option<Decimal>,
    /// 退换单实际退款金额: the refund's actual refund.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_refund_amount: Option<Decimal>,
    /// 入库单总成本: total cost (sum of the lines' `total_cost`).
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_price: Option<Decimal>,
    /// 货品入库总数量: quantity stocked in.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_goods_stockin_num: Option<Decimal>,
    /// 入库总金额: sum of price × quantity of the lines.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub refund_amount: Option<Decimal>,
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
    /// 店铺id: shop id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub shop_id: Option<i64>,
    /// 系统订单编号: WDT order numbers, comma-separated.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub trade_no_list: Option<String>,
    /// 原始订单: platform order numbers, comma-separated.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub tid_list: Option<String>,
    /// 退货人姓名: returner (self-owned and offline platforms only).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub customer_name: Option<String>,
    /// 客户网名: buyer nick (self-owned and offline platforms only).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub nick_name: Option<String>,
    /// 退换说明: reason text.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reason: Option<String>,
    /// wms业务单号: WMS document number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub wms_code: Option<String>,
    /// 类型 (JSON key `type`): 2 退货退款, 3 换货.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub stockin_type: Option<i64>,
    /// 入库单明细: the lines (empty when absent or `null`).
    #[serde(default, deserialize_with = "de::vec_or_empty")]
    pub details_list: Vec<StockinRefundDetail>,
    /// Keys the model does not know, kept as received.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// One line of a return stock-in (`details_list[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StockinRefundDetail {
    /// 入库单明细id: the line's id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub rec_id: Option<i64>,
    /// 入库单id: the stock-in's id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub stockin_id: Option<i64>,
    /// 退换单明细id: refund line ids, comma-separated.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub refund_detail_id: Option<String>,
    /// 数量: quantity.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub num: Option<Decimal>,
    /// 入库数量: quantity stocked in.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub stockin_num: Option<Decimal>,
    /// 调整后数量: adjusted quantity.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub right_num: Option<Decimal>,
    /// 总成本: total cost.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_cost: Option<Decimal>,
    /// 入库单明细成本价: cost price.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub checked_cost_price: Option<Decimal>,
    /// 退款总额: refund total of the line.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub refund_amount: Option<Decimal>,
    /// 原价: list price.
    #[serde(
        default,
        deserialize_with = "de::opt_decimal",
        serialize_with = "de::ser_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub original_price: Option<Decimal>,
    /// 货品编码: goods number.
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
    /// 货品id: goods id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub goods_id: Option<i64>,
    /// 商家编码: merchant SKU code.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub spec_no: Option<String>,
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
    /// 商品id: SKU id.
    #[serde(default, deserialize_with = "de::opt_i64", skip_serializing_if = "Option::is_none")]
    pub spec_id: Option<i64>,
    /// 是否残次品: defective.
    #[serde(default, deserialize_with = "de::opt_bool", skip_serializing_if = "Option::is_none")]
    pub defect: Option<bool>,
    /// 批次号: batch number.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub batch_no: Option<String>,
    /// 货位: storage position.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub position_no: Option<String>,
    /// 最后修改时间: last change.
    #[serde(
        default,
        deserialize_with = "de::opt_time",
        serialize_with = "de::ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub modified: Option<NaiveDateTime>,
    /// 创建时间: creation time.
    #[serde(
        default,
        deserialize_with = "de::opt_time",
        serialize_with = "de::ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<NaiveDateTime>,
    /// 原始单号: platform order numbers.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub tid: Option<String>,
    /// 备注: remark.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub remark: Option<String>,
    /// Keys the model does not know (e.g. `refund_order_detail_list`), kept as received.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl crate::endpoint::Record for StockinRefund {
    const KEY_FIELD: &'static str = "stockin_id";
    fn key(&self) -> i64 {
        self.stockin_id
    }
    fn version(&self) -> Option<NaiveDateTime> {
        self.modified
    }
}
