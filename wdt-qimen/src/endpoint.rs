//! [`Endpoint`]: one paged WDT method, described once, so the client, the page stream, the
//! window reader and the sync engine work for any of them.
//!
//! An endpoint is its request builder: a value holding the business parameters (filters, the
//! time window, the page size) whose type names, as associated items, everything else the
//! plumbing needs: the method's name on each route, the wire number of its first page on the
//! native route, the key of its record list in `data`, the record type (with its key and
//! version, [`Record`]), and the names of its time-window parameters. Adding a method is one
//! file with one `impl Endpoint` (and its model); see
//! [`RefundSearch`](crate::api::aftersales::RefundSearch),
//! [`RefundHistorySearch`](crate::api::refund_history::RefundHistorySearch) and
//! [`StockinRefundQuery`](crate::api::stockin::StockinRefundQuery).
//!
//! ```
//! use wdt_qimen::endpoint::Endpoint;
//! use wdt_qimen::api::refund_history::RefundHistorySearch;
//! let q = RefundHistorySearch::between("2024-01-01 00:00:00", "2024-01-30 00:00:00").unwrap();
//! assert_eq!(RefundHistorySearch::METHOD.native, "aftersales.refund.Refund.searchHistory");
//! assert_eq!(RefundHistorySearch::WINDOW_PARAMS, ("start_time", "end_time"));
//! assert_eq!(q.params()["start_time"], "2024-01-01 00:00:00");
//! ```

use chrono::{NaiveDateTime, TimeDelta};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::transport::ApiMethod;

/// A record of a paged method: what the sync de-duplicates by (`key`) and keeps the newest of
/// (`version`).
pub trait Record: DeserializeOwned + Send + Sync + 'static {
    /// The JSON member holding the key, read from records that cannot be decoded (for their
    /// dead letter), e.g. `refund_id`.
    const KEY_FIELD: &'static str;
    /// The record's unique id.
    fn key(&self) -> i64;
    /// Its version: the last-modification time (Beijing wall time); a newer one wins.
    fn version(&self) -> Option<NaiveDateTime>;
}

/// One paged WDT method, as a request builder (see the [module docs](self)).
pub trait Endpoint: Clone + Send + Sync + 'static {
    /// What one element of the record list decodes into.
    type Record: Record;
    /// The method's name on each route.
    const METHOD: ApiMethod;
    /// The wire number of the first page on the native route (WDT documents 0 for its standard
    /// methods). The Qimen base is the client's setting
    /// ([`ClientBuilder::qimen_page_base`](crate::ClientBuilder::qimen_page_base)).
    const NATIVE_FIRST_PAGE: u32 = 0;
    /// The key of the record list in `data` (`order` for every method so far).
    const LIST_KEY: &'static str = "order";
    /// The names of the time-window parameters (from, to), e.g. `("modified_from", "modified_to")`.
    const WINDOW_PARAMS: (&'static str, &'static str);
    /// The widest window the method accepts.
    const MAX_WINDOW: TimeDelta;

    /// The business parameters as sent (`params`); unset filters are absent.
    fn params(&self) -> Map<String, Value>;
    /// The page size.
    fn page_size(&self) -> u32;
    /// A copy with another page size (1..=200).
    fn with_page_size(&self, size: u32) -> Result<Self, Error>;
    /// A copy over another time window (same filters and page size); refuses a reversed window
    /// or one wider than [`Endpoint::MAX_WINDOW`].
    fn with_window(&self, from: NaiveDateTime, to: NaiveDateTime) -> Result<Self, Error>;
    /// Called on every record decoded from this method, before it is handed out (e.g. to mark
    /// where it came from). Does nothing by default.
    fn finish(_record: &mut Self::Record) {}
}

/// Checks a window for an endpoint: not reversed, not wider than `max`; `from_field` and
/// `to_field` name the parameters in the error.
pub(crate) fn check_window(
    from_field: &'static str,
    to_field: &'static str,
    from: NaiveDateTime,
    to: NaiveDateTime,
    max: TimeDelta,
) -> Result<(), Error> {
    use crate::time::format_wdt;
    if to < from {
        return Err(Error::config(
            to_field,
            format_wdt(to),
            format!("{to_field} must not be before {from_field} ({})", format_wdt(from)),
        ));
    }
    if to - from > max {
        return Err(Error::config(
            to_field,
            format_wdt(to),
            format!(
                "WDT accepts at most {} days per query; {from_field} is {}: split the window",
                max.num_days(),
                format_wdt(from)
            ),
        ));
    }
    Ok(())
}

/// Checks a page size (1..=200).
pub(crate) fn check_page_size(size: u32) -> Result<u32, Error> {
    if !(1..=crate::api::aftersales::MAX_PAGE_SIZE).contains(&size) {
        return Err(Error::config("page_size", size, "use a page size from 1 to 200"));
    }
    Ok(size)
}
