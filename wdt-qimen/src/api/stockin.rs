//! 退货入库单查询: [`StockinRefundQuery`], the request of `wms.stockin.Refund.queryWithDetail`
//! (return stock-ins: the goods a refund brought back into a warehouse). Qimen name
//! `wdt.wms.stockin.refund.querywithdetail` (INFERRED from WDT's naming rule).
//!
//! From the official method page (VERIFIED): `start_time` / `end_time` are required, at most
//! 30 days apart, on the modification time by default (`time_type` 0; 1 = stock-in time);
//! filters `warehouse_no`, `stockin_no`, `refund_no`, `shop_nos`, `status` (comma-separated:
//! 10 已取消, 20 编辑中, 30 待审核, 80 已完成); `page_no` from 0; records in `data.order`, keyed by
//! `stockin_id`, `modified` a `yyyy-MM-dd HH:mm:ss` string, `created_time`/`check_time` epoch
//! milliseconds, lines in `details_list`.
//!
//! ```
//! use wdt_qimen::api::stockin::StockinRefundQuery;
//! use wdt_qimen::endpoint::Endpoint;
//! let q = StockinRefundQuery::between("2024-06-01 00:00:00", "2024-06-02 00:00:00")
//!     .unwrap()
//!     .statuses([80])
//!     .warehouse_no("WH1");
//! assert_eq!(q.params()["status"], "80");
//! assert_eq!(StockinRefundQuery::METHOD.native, "wms.stockin.Refund.queryWithDetail");
//! ```

use chrono::{NaiveDateTime, TimeDelta};
use serde_json::{Map, Value};

use crate::api::aftersales::{time_arg, DEFAULT_PAGE_SIZE};
use crate::endpoint::{check_page_size, check_window, Endpoint};
use crate::error::Error;
use crate::model::stockin::StockinRefund;
use crate::time::format_wdt;
use crate::transport::ApiMethod;

/// 退货入库单查询: `wms.stockin.Refund.queryWithDetail` / `wdt.wms.stockin.refund.querywithdetail`.
pub const STOCKIN_REFUND_QUERY: ApiMethod = ApiMethod {
    native: "wms.stockin.Refund.queryWithDetail",
    qimen: "wdt.wms.stockin.refund.querywithdetail",
};

/// A query of return stock-ins over `[start_time, end_time]` (Beijing wall time).
#[derive(Debug, Clone, PartialEq)]
pub struct StockinRefundQuery {
    from: NaiveDateTime,
    to: NaiveDateTime,
    filters: Map<String, Value>,
    page_size: u32,
}

impl StockinRefundQuery {
    /// A query over `[from, to]`; at most 30 days, not reversed.
    pub fn window(from: NaiveDateTime, to: NaiveDateTime) -> Result<Self, Error> {
        check_window("start_time", "end_time", from, to, Self::MAX_WINDOW)?;
        Ok(Self {
            from,
            to,
            filters: Map::new(),
            page_size: DEFAULT_PAGE_SIZE,
        })
    }

    /// Like [`StockinRefundQuery::window`], from `yyyy-MM-dd HH:mm:ss` strings.
    pub fn between(from: &str, to: &str) -> Result<Self, Error> {
        Self::window(time_arg("start_time", from)?, time_arg("end_time", to)?)
    }

    fn set(mut self, key: &str, v: impl Into<Value>) -> Self {
        let v = v.into();
        if v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty()) {
            self.filters.remove(key);
        } else {
            self.filters.insert(key.to_owned(), v);
        }
        self
    }

    /// Warehouse number.
    pub fn warehouse_no(self, v: &str) -> Self {
        self.set("warehouse_no", v.trim())
    }
    /// Stock-in number.
    pub fn stockin_no(self, v: &str) -> Self {
        self.set("stockin_no", v.trim())
    }
    /// Refund number.
    pub fn refund_no(self, v: &str) -> Self {
        self.set("refund_no", v.trim())
    }
    /// Shop numbers (`shop_nos`, comma-separated on the wire).
    pub fn shop_nos<I: IntoIterator<Item = S>, S: AsRef<str>>(self, shops: I) -> Self {
        let joined: Vec<String> = shops.into_iter().map(|s| s.as_ref().trim().to_owned()).collect();
        self.set("shop_nos", joined.join(","))
    }
    /// Status codes (10, 20, 30, 80), sent comma-separated.
    pub fn statuses<I: IntoIterator<Item = i64>>(self, codes: I) -> Self {
        let joined: Vec<String> = codes.into_iter().map(|c| c.to_string()).collect();
        self.set("status", joined.join(","))
    }
    /// Window on the stock-in time instead of the modification time (`time_type=1`). A sync
    /// must keep the default (the modification time).
    pub fn by_stockin_time(self) -> Self {
        self.set("time_type", 1)
    }
    /// Page size, 1..=200 (default 100).
    pub fn page_size(mut self, size: u32) -> Result<Self, Error> {
        self.page_size = check_page_size(size)?;
        Ok(self)
    }
}

impl Endpoint for StockinRefundQuery {
    type Record = StockinRefund;
    const METHOD: ApiMethod = STOCKIN_REFUND_QUERY;
    const NATIVE_FIRST_PAGE: u32 = 0;
    const WINDOW_PARAMS: (&'static str, &'static str) = ("start_time", "end_time");
    const MAX_WINDOW: TimeDelta = TimeDelta::days(30);

    fn params(&self) -> Map<String, Value> {
        let mut m = self.filters.clone();
        m.insert(Self::WINDOW_PARAMS.0.into(), format_wdt(self.from).into());
        m.insert(Self::WINDOW_PARAMS.1.into(), format_wdt(self.to).into());
        m
    }
    fn page_size(&self) -> u32 {
        self.page_size
    }
    fn with_page_size(&self, size: u32) -> Result<Self, Error> {
        self.clone().page_size(size)
    }
    fn with_window(&self, from: NaiveDateTime, to: NaiveDateTime) -> Result<Self, Error> {
        let mut s = Self::window(from, to)?;
        s.filters = self.filters.clone();
        s.page_size = self.page_size;
        Ok(s)
    }
}
