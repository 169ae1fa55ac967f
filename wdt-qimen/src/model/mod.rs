//! The typed data model.

pub mod de;
pub mod enums;
pub mod refund;
