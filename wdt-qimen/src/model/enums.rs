//! The integer codes of a refund, as enums that never reject a code.
//!
//! Every enum has an `Unknown(code)` variant, so a code WDT adds tomorrow decodes (and round-trips)
//! instead of failing the record. Each one:
//! - converts both ways with `i64` (`From<i64>`, [`code`](RefundStatus::code), `From<Enum> for i64`);
//! - has a Chinese [`label`](RefundStatus::label) (the vendor's wording; `未知` for unknown codes),
//!   also used by `Display`;
//! - serializes as its integer code;
//! - deserializes from a JSON number or a numeric string (`30` or `"30"`). For an optional field
//!   where `""` means "no value", use [`de::opt_code`](super::de::opt_code).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Defines a code enum with an `Unknown(i64)` fallback, `code()`, `label()`, `From<i64>`,
/// `Display`, and serde as an integer code.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $label:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A code this version does not know; the code is kept as received.
            Unknown(i64),
        }

        impl $name {
            /// Every known variant, in code order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// The integer code WDT uses for this value.
            pub const fn code(self) -> i64 {
                match self {
                    $( $name::$variant => $code, )+
                    $name::Unknown(c) => c,
                }
            }

            /// The vendor's Chinese name of this value (`未知` for an unknown code).
            pub const fn label(self) -> &'static str {
                match self {
                    $( $name::$variant => $label, )+
                    $name::Unknown(_) => "未知",
                }
            }

            /// Whether the code is one this version knows.
            pub const fn is_known(self) -> bool {
                !matches!(self, $name::Unknown(_))
            }
        }

        impl From<i64> for $name {
            fn from(code: i64) -> Self {
                match code {
                    $( $code => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for i64 {
            fn from(v: $name) -> i64 {
                v.code()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $name::Unknown(c) => write!(f, "未知({c})"),
                    known => f.write_str(known.label()),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_i64(self.code())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                super::de::req_i64(d).map($name::from)
            }
        }
    };
}

code_enum! {
    /// 退换单状态 (`status`).
    RefundStatus {
        /// 10 已取消.
        Cancelled = 10 => "已取消",
        /// 20 待审核.
        PendingReview = 20 => "待审核",
        /// 30 已审核.
        Reviewed = 30 => "已审核",
        /// 40 已推送.
        Pushed = 40 => "已推送",
        /// 80 已结算.
        Settled = 80 => "已结算",
        /// 81 待回传.
        AwaitingCallback = 81 => "待回传",
        /// 85 待过账.
        PendingPosting = 85 => "待过账",
        /// 86 已过账.
        Posted = 86 => "已过账",
        /// 87 成本确认.
        CostConfirmed = 87 => "成本确认",
        /// 90 已完成.
        Completed = 90 => "已完成",
    }
}

code_enum! {
    /// 退换单类型 (`type`).
    RefundType {
        /// 1 售前退款 (refund before shipment).
        PreShipmentRefund = 1 => "售前退款",
        /// 2 退货 (return goods).
        ReturnGoods = 2 => "退货",
        /// 3 换货 (exchange; the refund has a `swap_order`).
        Exchange = 3 => "换货",
        /// 4 退款不退货 (refund without return).
        RefundOnly = 4 => "退款不退货",
        /// 6 保价退款 (price-protection refund).
        PriceProtection = 6 => "保价退款",
        /// 7 批发退货退款 (wholesale return; newer doc).
        WholesaleReturn = 7 => "批发退货退款",
    }
}

code_enum! {
    /// 入库状态 (`stockin_status`).
    StockinStatus {
        /// 0 无需入库.
        NotRequired = 0 => "无需入库",
        /// 1 待入库.
        Pending = 1 => "待入库",
        /// 2 部分入库.
        Partial = 2 => "部分入库",
        /// 3 全部入库.
        Complete = 3 => "全部入库",
        /// 4 终止入库.
        Terminated = 4 => "终止入库",
    }
}

code_enum! {
    /// 处理状态 (`process_status`; sometimes sent as a string).
    ProcessStatus {
        /// 0 待递交.
        PendingSubmit = 0 => "待递交",
        /// 15 已递交.
        Submitted = 15 => "已递交",
        /// 25 待回传.
        AwaitingCallback = 25 => "待回传",
        /// 35 已回传.
        CalledBack = 35 => "已回传",
    }
}

code_enum! {
    /// 建单方式 (`from_type`).
    FromType {
        /// 0 API抓单 (fetched from the platform).
        Api = 0 => "API抓单",
        /// 1 手工建单 (created by hand).
        Manual = 1 => "手工建单",
        /// 2 Excel导入.
        ExcelImport = 2 => "Excel导入",
        /// 3 分销商推送 (pushed by a distributor).
        DistributorPush = 3 => "分销商推送",
    }
}

code_enum! {
    /// 退回仓库类型 (`warehouse_type`).
    WarehouseType {
        /// 1 普通（内部）.
        Normal = 1 => "普通",
        /// 2 自流转.
        SelfCirculation = 2 => "自流转",
        /// 3 平台.
        Platform = 3 => "平台",
        /// 4 京东沧海.
        JdCanghai = 4 => "京东沧海",
        /// 6 抖音云仓.
        DouyinCloud = 6 => "抖音云仓",
        /// 125 代发仓.
        DropShip = 125 => "代发仓",
        /// 126 分销委外.
        DistributionOutsourced = 126 => "分销委外",
    }
}

code_enum! {
    /// 发货方式 (`consign_mode`).
    ConsignMode {
        /// 0 并行.
        Parallel = 0 => "并行",
        /// 1 交替.
        Alternate = 1 => "交替",
        /// 2 顺延.
        Deferred = 2 => "顺延",
    }
}

code_enum! {
    /// 平台状态 (`rr_status`), the platform's refund state.
    ///
    /// The newer doc also lists exchange states 10–80; they decode as `Unknown(code)`.
    RrStatus {
        /// 0 空 (none).
        Empty = 0 => "空",
        /// 1 取消退款.
        RefundCancelled = 1 => "取消退款",
        /// 2 申请退款.
        RefundRequested = 2 => "申请退款",
        /// 3 等待退货.
        AwaitingReturn = 3 => "等待退货",
        /// 4 等待收货.
        AwaitingReceipt = 4 => "等待收货",
        /// 5 退款成功.
        RefundSucceeded = 5 => "退款成功",
        /// 7 卖家拒绝退款 (newer doc).
        SellerRejected = 7 => "卖家拒绝退款",
    }
}

code_enum! {
    /// 赠品类型 (`detail_list[].gift_type`).
    GiftType {
        /// 0 非赠品 (not a gift).
        NotGift = 0 => "非赠品",
        /// 1 自动赠送.
        Auto = 1 => "自动赠送",
        /// 2 手工赠送.
        Manual = 2 => "手工赠送",
        /// 4 周期购赠送.
        Subscription = 4 => "周期购赠送",
        /// 8 平台赠送.
        Platform = 8 => "平台赠送",
        /// 32 阶梯满赠.
        Tiered = 32 => "阶梯满赠",
        /// 64 CRM追加赠送.
        CrmAdded = 64 => "CRM追加赠送",
        /// 128 主品 (the main item of a gift rule).
        MainItem = 128 => "主品",
    }
}

code_enum! {
    /// 退换类型 of an amount line (`amount_detail_list[].refund_type`).
    AmountRefundType {
        /// 1 货款 (goods).
        Goods = 1 => "货款",
        /// 2 邮费 (postage).
        Postage = 2 => "邮费",
        /// 99 返现 (cash back).
        Cashback = 99 => "返现",
    }
}

code_enum! {
    /// 货品类型 of an exchange line (`swap_order_detail_list[].target_type`).
    TargetType {
        /// 1 单品 (a single SKU).
        Single = 1 => "单品",
        /// 2 组合装 (a suite).
        Suite = 2 => "组合装",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_round_trip_through_i64() {
        for v in RefundStatus::KNOWN {
            assert_eq!(RefundStatus::from(v.code()), *v);
            assert!(v.is_known());
        }
        for v in WarehouseType::KNOWN {
            assert_eq!(WarehouseType::from(v.code()), *v);
        }
        assert_eq!(RefundStatus::KNOWN.len(), 10);
        assert_eq!(RefundType::KNOWN.len(), 6);
        assert_eq!(StockinStatus::KNOWN.len(), 5);
        assert_eq!(ProcessStatus::KNOWN.len(), 4);
        assert_eq!(FromType::KNOWN.len(), 4);
        assert_eq!(WarehouseType::KNOWN.len(), 7);
        assert_eq!(ConsignMode::KNOWN.len(), 3);
        assert_eq!(RrStatus::KNOWN.len(), 7);
        assert_eq!(GiftType::KNOWN.len(), 8);
        assert_eq!(AmountRefundType::KNOWN.len(), 3);
    }

    #[test]
    fn specific_codes_and_labels() {
        assert_eq!(RefundStatus::from(30), RefundStatus::Reviewed);
        assert_eq!(RefundStatus::Reviewed.label(), "已审核");
        assert_eq!(RefundStatus::from(87).label(), "成本确认");
        assert_eq!(RefundType::from(7), RefundType::WholesaleReturn);
        assert_eq!(RefundType::from(4).label(), "退款不退货");
        assert_eq!(ProcessStatus::from(25), ProcessStatus::AwaitingCallback);
        assert_eq!(WarehouseType::from(126).label(), "分销委外");
        assert_eq!(RrStatus::from(0).label(), "空");
        assert_eq!(RrStatus::from(7), RrStatus::SellerRejected);
        assert_eq!(GiftType::from(128), GiftType::MainItem);
        assert_eq!(AmountRefundType::from(99).label(), "返现");
        assert_eq!(i64::from(ConsignMode::Deferred), 2);
    }

    #[test]
    fn unknown_codes_are_kept() {
        assert_eq!(RrStatus::from(10), RrStatus::Unknown(10));
        assert_eq!(RrStatus::Unknown(10).code(), 10);
        assert_eq!(RefundType::from(5), RefundType::Unknown(5));
        assert!(!RefundType::from(5).is_known());
        assert_eq!(RefundStatus::from(-1).label(), "未知");
        assert_eq!(RefundStatus::from(99).to_string(), "未知(99)");
        assert_eq!(RefundStatus::Completed.to_string(), "已完成");
    }

    #[test]
    fn serde_is_the_integer_code() {
        assert_eq!(serde_json::to_string(&RefundStatus::Reviewed).unwrap(), "30");
        assert_eq!(serde_json::to_string(&GiftType::Unknown(3)).unwrap(), "3");
        let v: RefundStatus = serde_json::from_str("30").unwrap();
        assert_eq!(v, RefundStatus::Reviewed);
        let v: ProcessStatus = serde_json::from_str("\"15\"").unwrap();
        assert_eq!(v, ProcessStatus::Submitted);
        let v: RrStatus = serde_json::from_str("12").unwrap();
        assert_eq!(v, RrStatus::Unknown(12));
        let back: RrStatus = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn bad_codes_are_errors() {
        assert!(serde_json::from_str::<RefundStatus>("\"abc\"").is_err());
        assert!(serde_json::from_str::<RefundStatus>("1.5").is_err());
        assert!(serde_json::from_str::<RefundStatus>("\"\"").is_err());
        assert!(serde_json::from_str::<RefundStatus>("null").is_err());
    }
}
