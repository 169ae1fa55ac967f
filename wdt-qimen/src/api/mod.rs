//! Request builders of the WDT methods this crate covers.

pub mod aftersales;
