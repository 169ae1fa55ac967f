//! The typed data model.
//!
//! - [`refund`]: [`Refund`] and its lines, [`decode_refund`] with field paths in errors.
//! - [`enums`]: the integer codes as enums that keep unknown codes (`Unknown(code)`).
//! - [`stockin`]: [`StockinRefund`], a return stock-in of `wms.stockin.Refund.queryWithDetail`.
//! - [`de`]: the lenient field decoders the model is built from.

pub mod de;
pub mod enums;
pub mod refund;
pub mod stockin;

pub use enums::{
    AmountRefundType, ConsignMode, FromType, GiftType, ProcessStatus, RefundStatus, RefundType, RrStatus,
    StockinStatus, TargetType, WarehouseType,
};
pub use refund::{
    decode_refund, decode_refund_value, AmountDetail, GovSubsidyInfo, RecordDecodeError, Refund, RefundDetail,
    RefundSource, SwapOrder, SwapOrderDetail,
};
pub use stockin::{StockinRefund, StockinRefundDetail};
