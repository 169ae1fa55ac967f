//! 售后 (after-sales): [`RefundSearch`], the request of `aftersales.refund.Refund.search`
//! (Qimen `wdt.aftersales.refund.refund.search`), and the [`Client`] methods that run it.

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use chrono::TimeDelta;

use crate::client::Client;
use crate::endpoint::{check_window, Endpoint};
use crate::error::Error;
use crate::model::refund::{Refund, RefundSource};
use crate::pager::{Page, PageStream};
use crate::time::{format_wdt, parse_wdt};
use crate::transport::{ApiMethod, REFUND_SEARCH};

/// The widest `modified` window WDT accepts for this method.
pub const MAX_WINDOW: TimeDelta = TimeDelta::days(30);
/// The largest page size this SDK sends (WDT advises staying at or under 200).
pub const MAX_PAGE_SIZE: u32 = 200;
/// The default page size.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// The order of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderType {
    /// The server's default order (ascending by modification time).
    #[default]
    Default,
    /// Descending by modification time (`order_type=1`).
    ModifiedDesc,
}

/// A refund search (退换单查询): a `modified` window in Beijing time, optional filters, page size.
///
/// Every filter of the method is available; unset filters are not sent (never as null or empty).
///
/// ```
/// use wdt_qimen::RefundSearch;
/// let q = RefundSearch::modified_between("2024-06-01 00:00:00", "2024-06-02 00:00:00")
///     .unwrap()
///     .status(90)
///     .page_size(200)
///     .unwrap();
/// assert_eq!(q.get_page_size(), 200);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RefundSearch {
    modified_from: Option<NaiveDateTime>,
    modified_to: Option<NaiveDateTime>,
    filters: Map<String, Value>,
    page_size: u32,
}

pub(crate) fn time_arg(field: &'static str, s: &str) -> Result<NaiveDateTime, Error> {
    parse_wdt(s).map_err(|_| {
        Error::config(
            field,
            s,
            "write Beijing time as yyyy-MM-dd HH:mm:ss, e.g. 2024-01-01 00:00:00",
        )
    })
}

impl RefundSearch {
    /// A search over `[from, to]` of the refunds' modification time (Beijing wall time).
    /// The window may not be wider than 30 days, nor end before it starts.
    pub fn modified(from: NaiveDateTime, to: NaiveDateTime) -> Result<Self, Error> {
        check_window("modified_from", "modified_to", from, to, MAX_WINDOW)?;
        Ok(Self {
            modified_from: Some(from),
            modified_to: Some(to),
            filters: Map::new(),
            page_size: DEFAULT_PAGE_SIZE,
        })
    }

    /// Like [`RefundSearch::modified`], from `yyyy-MM-dd HH:mm:ss` strings.
    pub fn modified_between(from: &str, to: &str) -> Result<Self, Error> {
        Self::modified(time_arg("modified_from", from)?, time_arg("modified_to", to)?)
    }

    /// A search by document number, without a time window (WDT requires a window unless a
    /// number such as `refund_no`, `tid` or `trade_no` is given; which ones lift it is INFERRED).
    pub fn by_numbers() -> Self {
        Self {
            modified_from: None,
            modified_to: None,
            filters: Map::new(),
            page_size: DEFAULT_PAGE_SIZE,
        }
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

    fn window(self, from_key: &str, to_key: &str, from: NaiveDateTime, to: NaiveDateTime) -> Self {
        self.set(from_key, format_wdt(from)).set(to_key, format_wdt(to))
    }

    /// Page size, 1..=200 (default 100).
    pub fn page_size(mut self, size: u32) -> Result<Self, Error> {
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(Error::config("page_size", size, "use a page size from 1 to 200"));
        }
        self.page_size = size;
        Ok(self)
    }

    /// The page size.
    pub fn get_page_size(&self) -> u32 {
        self.page_size
    }

    /// The `modified` window, if any.
    pub fn modified_window(&self) -> Option<(NaiveDateTime, NaiveDateTime)> {
        Some((self.modified_from?, self.modified_to?))
    }

    /// A copy over another `modified` window (same filters and page size).
    pub fn with_modified(&self, from: NaiveDateTime, to: NaiveDateTime) -> Result<Self, Error> {
        let mut s = Self::modified(from, to)?;
        s.filters = self.filters.clone();
        s.page_size = self.page_size;
        Ok(s)
    }

    /// Shop numbers (`shop_nos`, comma-separated on the wire).
    pub fn shop_nos<I: IntoIterator<Item = S>, S: AsRef<str>>(self, shops: I) -> Self {
        let joined: Vec<String> = shops.into_iter().map(|s| s.as_ref().trim().to_owned()).collect();
        self.set("shop_nos", joined.join(","))
    }
    /// Platform order number (`tid`, 原始单号).
    pub fn tid(self, v: &str) -> Self {
        self.set("tid", v)
    }
    /// Buyer nick.
    pub fn buyer_nick(self, v: &str) -> Self {
        self.set("buyer_nick", v)
    }
    /// WDT order number (`trade_no`).
    pub fn trade_no(self, v: &str) -> Self {
        self.set("trade_no", v)
    }
    /// WDT refund number (`refund_no`, TK…).
    pub fn refund_no(self, v: &str) -> Self {
        self.set("refund_no", v)
    }
    /// Return waybill number.
    pub fn return_logistics_no(self, v: &str) -> Self {
        self.set("return_logistics_no", v)
    }
    /// Settlement-time window (Beijing).
    pub fn settled(self, from: NaiveDateTime, to: NaiveDateTime) -> Self {
        self.window("settle_from", "settle_to", from, to)
    }
    /// Audit (审核) time window (Beijing).
    pub fn agreed(self, from: NaiveDateTime, to: NaiveDateTime) -> Self {
        self.window("agree_from", "agree_to", from, to)
    }
    /// Refund-success time window (`current_phase_timeout_from/_to`, Beijing).
    pub fn current_phase_timeout(self, from: NaiveDateTime, to: NaiveDateTime) -> Self {
        self.window("current_phase_timeout_from", "current_phase_timeout_to", from, to)
    }
    /// Status code (10 已取消 … 90 已完成, see [`RefundStatus`](crate::model::enums::RefundStatus)).
    pub fn status(self, code: i64) -> Self {
        self.set("status", code)
    }
    /// Stock-in status code (0..=4).
    pub fn stockin_status(self, code: i64) -> Self {
        self.set("stockin_status", code)
    }
    /// Return warehouse numbers (`return_warehouse_nos`).
    pub fn return_warehouse_nos<I: IntoIterator<Item = S>, S: AsRef<str>>(self, nos: I) -> Self {
        let joined: Vec<String> = nos.into_iter().map(|s| s.as_ref().trim().to_owned()).collect();
        self.set("return_warehouse_nos", joined.join(","))
    }
    /// Refund type code (1 售前退款, 2 退货, 3 换货, 4 退款不退货, 6 保价退款, 7 批发退货退款).
    pub fn refund_type(self, code: i64) -> Self {
        self.set("type", code)
    }
    /// Fuzzy match on document numbers.
    pub fn fuzzy_query(self, on: bool) -> Self {
        self.set("fuzzy_query", on)
    }
    /// Intercepted parcels only.
    pub fn return_mask_manual_intercept(self, on: bool) -> Self {
        self.set("return_mask_manual_intercept", on)
    }
    /// Rejected parcels only.
    pub fn refund_mask_reject_return(self, on: bool) -> Self {
        self.set("refund_mask_reject_return", on)
    }
    /// Result order.
    pub fn order_type(self, order: OrderType) -> Self {
        match order {
            OrderType::Default => self.set("order_type", Value::Null),
            OrderType::ModifiedDesc => self.set("order_type", 1),
        }
    }
    /// Platform refund status code (`rr_status`).
    pub fn rr_status(self, code: i64) -> Self {
        self.set("rr_status", code)
    }
    /// Ask for `gov_subsidy_info`.
    pub fn need_gov_subsidy_info(self, on: bool) -> Self {
        self.set("need_gov_subsidy_info", on)
    }
    /// Platform refund numbers (`raw_refund_nos`).
    pub fn raw_refund_nos<I: IntoIterator<Item = S>, S: AsRef<str>>(self, nos: I) -> Self {
        let joined: Vec<String> = nos.into_iter().map(|s| s.as_ref().trim().to_owned()).collect();
        self.set("raw_refund_nos", joined.join(","))
    }

    /// The business parameters as sent (`params`); unset filters are absent.
    pub fn to_params(&self) -> Map<String, Value> {
        let mut m = self.filters.clone();
        if let (Some(f), Some(t)) = (self.modified_from, self.modified_to) {
            m.insert("modified_from".into(), format_wdt(f).into());
            m.insert("modified_to".into(), format_wdt(t).into());
        }
        m
    }
}

impl Endpoint for RefundSearch {
    type Record = Refund;
    const METHOD: ApiMethod = REFUND_SEARCH;
    const WINDOW_PARAMS: (&'static str, &'static str) = ("modified_from", "modified_to");
    const MAX_WINDOW: TimeDelta = MAX_WINDOW;

    fn params(&self) -> Map<String, Value> {
        self.to_params()
    }
    fn page_size(&self) -> u32 {
        self.page_size
    }
    fn with_page_size(&self, size: u32) -> Result<Self, Error> {
        self.clone().page_size(size)
    }
    fn with_window(&self, from: NaiveDateTime, to: NaiveDateTime) -> Result<Self, Error> {
        self.with_modified(from, to)
    }
    fn finish(record: &mut Refund) {
        record.source = RefundSource::Live;
    }
}

impl Client {
    /// One page of a refund search; `page_no` 1 is the first page on either route.
    pub async fn refund_page(&self, search: &RefundSearch, page_no: u32) -> Result<Page<Refund>, Error> {
        self.page(search, page_no).await
    }

    /// All pages of a refund search, first to last, as an owned lazy stream; `.items()` gives
    /// the refunds. For a sync that must not lose refunds while they change, use
    /// [`sync`](crate::sync), which pages backwards.
    pub fn refund_pages(&self, search: RefundSearch) -> PageStream<Refund> {
        self.pages(search)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_omit_unset_and_empty_filters() {
        let q = RefundSearch::modified_between("2024-01-01 00:00:00", "2024-01-02 00:00:00")
            .unwrap()
            .shop_nos(["A1", "B2"])
            .tid("")
            .status(90)
            .fuzzy_query(false)
            .order_type(OrderType::ModifiedDesc);
        let p = Value::Object(q.to_params()).to_string();
        assert_eq!(
            p,
            r#"{"fuzzy_query":false,"modified_from":"2024-01-01 00:00:00","modified_to":"2024-01-02 00:00:00","order_type":1,"shop_nos":"A1,B2","status":90}"#
        );
    }

    #[test]
    fn bad_arguments_name_field_value_and_fix() {
        let e = RefundSearch::modified_between("2024/01/01", "2024-01-02 00:00:00")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("modified_from") && e.contains("2024/01/01") && e.contains("yyyy-MM-dd"),
            "{e}"
        );
        let e = RefundSearch::modified_between("2024-01-01 00:00:00", "2024-03-01 00:00:00")
            .unwrap_err()
            .to_string();
        assert!(e.contains("30 days"), "{e}");
        let e = RefundSearch::by_numbers().page_size(500).unwrap_err().to_string();
        assert!(
            e.contains("page_size") && e.contains("500") && e.contains("1 to 200"),
            "{e}"
        );
        assert!(RefundSearch::by_numbers().page_size(0).is_err());
        assert!(RefundSearch::by_numbers().page_size(200).is_ok());
    }
}
