//! Request builders of the WDT methods this crate covers.

pub mod aftersales;
pub mod refund_history;
pub mod stockin;
