//! 历史退换单查询: [`RefundHistorySearch`], the request of
//! `aftersales.refund.Refund.searchHistory` (Qimen `wdt.aftersales.refund.refund.searchhistory`),
//! which serves the refunds WDT has archived.
//!
//! What the official method page says (VERIFIED, `open.wangdian.cn/qjb/open/apidoc/doc?path=
//! aftersales.refund.Refund.searchHistory`): it "查询已经归档的退换单信息" (queries archived
//! refunds); statuses 10 (已取消) and 90 (已完成) only; the window is `start_time` / `end_time`
//! on the last-change time, at most 30 days, required unless `refund_no` is given; filters
//! `shop_no`, `refund_no`, `type`, `status` (comma-separated codes); `page_no` from 0; `modified`
//! and `created` are strings (`"2018-10-26 14:52:15"` in the sample); `detail_list` is returned
//! (an empty list in the sample), `amount_detail_list` is not; the fields `reason`,
//! `operator_id`, `return_mobile`, `return_name`, `salesman`, `salesman_id`, `stockin_no`,
//! `pay_status`, `flag_id` exist only here. INFERRED: the Qimen method name, and that an
//! archived refund keeps its `refund_id` and last `modified`. UNKNOWN: when WDT archives a
//! refund (after how long, by which time), and whether an archived refund can come back.
//!
//! Records decode into the same [`Refund`] as the live search, with
//! [`Refund::source`] = [`RefundSource::History`]; fields this method does not return are
//! `None`.

use chrono::{NaiveDateTime, TimeDelta};
use serde_json::{Map, Value};

use crate::api::aftersales::{time_arg, DEFAULT_PAGE_SIZE, MAX_WINDOW};
use crate::endpoint::{check_page_size, check_window, Endpoint};
use crate::error::Error;
use crate::model::refund::{Refund, RefundSource};
use crate::time::format_wdt;
use crate::transport::{ApiMethod, REFUND_SEARCH_HISTORY};

/// A search of archived refunds over `[start_time, end_time]` of their last-change time
/// (Beijing wall time), with optional filters.
///
/// ```
/// use wdt_qimen::api::refund_history::RefundHistorySearch;
/// use wdt_qimen::endpoint::Endpoint;
/// let q = RefundHistorySearch::between("2024-06-01 00:00:00", "2024-06-02 00:00:00")
///     .unwrap()
///     .statuses([10, 90])
///     .shop_no("shop1");
/// let p = q.params();
/// assert_eq!(p["end_time"], "2024-06-02 00:00:00");
/// assert_eq!(p["status"], "10,90");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RefundHistorySearch {
    window: Option<(NaiveDateTime, NaiveDateTime)>,
    filters: Map<String, Value>,
    page_size: u32,
}

impl RefundHistorySearch {
    /// A search over `[from, to]` of the last-change time; at most 30 days, not reversed.
    pub fn window(from: NaiveDateTime, to: NaiveDateTime) -> Result<Self, Error> {
        check_window("start_time", "end_time", from, to, MAX_WINDOW)?;
        Ok(Self {
            window: Some((from, to)),
            filters: Map::new(),
            page_size: DEFAULT_PAGE_SIZE,
        })
    }

    /// Like [`RefundHistorySearch::window`], from `yyyy-MM-dd HH:mm:ss` strings.
    pub fn between(from: &str, to: &str) -> Result<Self, Error> {
        Self::window(time_arg("start_time", from)?, time_arg("end_time", to)?)
    }

    /// A template without window or filters (for [`SyncEngine`](crate::sync::SyncEngine), which
    /// sets the window of every read); sent as it is, WDT refuses it for the missing window.
    pub fn unwindowed() -> Self {
        Self {
            window: None,
            filters: Map::new(),
            page_size: DEFAULT_PAGE_SIZE,
        }
    }

    /// A search by refund number, without a window (the doc: the time is required only when
    /// `refund_no` is empty).
    pub fn by_refund_no(refund_no: &str) -> Self {
        Self {
            window: None,
            filters: Map::new(),
            page_size: DEFAULT_PAGE_SIZE,
        }
        .set("refund_no", refund_no)
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

    /// One shop number (`shop_no`; this method takes one, not a list).
    pub fn shop_no(self, v: &str) -> Self {
        self.set("shop_no", v.trim())
    }
    /// Refund type code (1 售前退款, 2 退货, 3 换货, 4 退款不退货).
    pub fn refund_type(self, code: i64) -> Self {
        self.set("type", code)
    }
    /// Status codes (10 已取消, 90 已完成), sent comma-separated.
    pub fn statuses<I: IntoIterator<Item = i64>>(self, codes: I) -> Self {
        let joined: Vec<String> = codes.into_iter().map(|c| c.to_string()).collect();
        self.set("status", joined.join(","))
    }
    /// Page size, 1..=200 (default 100).
    pub fn page_size(mut self, size: u32) -> Result<Self, Error> {
        self.page_size = check_page_size(size)?;
        Ok(self)
    }
    /// The window, if any.
    pub fn get_window(&self) -> Option<(NaiveDateTime, NaiveDateTime)> {
        self.window
    }
}

impl Endpoint for RefundHistorySearch {
    type Record = Refund;
    const METHOD: ApiMethod = REFUND_SEARCH_HISTORY;
    /// VERIFIED: "page_no 从0开始" on the method page.
    const NATIVE_FIRST_PAGE: u32 = 0;
    const WINDOW_PARAMS: (&'static str, &'static str) = ("start_time", "end_time");
    const MAX_WINDOW: TimeDelta = MAX_WINDOW;

    fn params(&self) -> Map<String, Value> {
        let mut m = self.filters.clone();
        if let Some((f, t)) = self.window {
            m.insert(Self::WINDOW_PARAMS.0.into(), format_wdt(f).into());
            m.insert(Self::WINDOW_PARAMS.1.into(), format_wdt(t).into());
        }
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
    fn finish(record: &mut Refund) {
        record.source = RefundSource::History;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_use_start_and_end_time() {
        let q = RefundHistorySearch::between("2024-01-01 00:00:00", "2024-01-31 00:00:00")
            .unwrap()
            .refund_type(2)
            .shop_no("")
            .statuses([90]);
        assert_eq!(
            Value::Object(q.params()).to_string(),
            r#"{"end_time":"2024-01-31 00:00:00","start_time":"2024-01-01 00:00:00","status":"90","type":2}"#
        );
        let by_no = RefundHistorySearch::by_refund_no("TK1");
        assert_eq!(Value::Object(by_no.params()).to_string(), r#"{"refund_no":"TK1"}"#);
    }

    #[test]
    fn bad_windows_name_the_history_fields() {
        let e = RefundHistorySearch::between("2024-01-01 00:00:00", "2024-03-01 00:00:00")
            .unwrap_err()
            .to_string();
        assert!(e.contains("end_time") && e.contains("30 days"), "{e}");
        let e = RefundHistorySearch::between("2024/01/01", "2024-01-02 00:00:00")
            .unwrap_err()
            .to_string();
        assert!(e.contains("start_time") && e.contains("yyyy-MM-dd"), "{e}");
        let e = RefundHistorySearch::between("2024-01-02 00:00:00", "2024-01-01 00:00:00")
            .unwrap_err()
            .to_string();
        assert!(e.contains("end_time must not be before start_time"), "{e}");
    }
}
