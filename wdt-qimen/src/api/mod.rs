//! placeholder (being written)
pub mod aftersales;
