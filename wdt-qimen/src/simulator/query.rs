//! The business parameters of `aftersales.refund.Refund.search`, as both routes read them, and
//! the WDT-level errors (`status` + `message`) they can produce.

use chrono::{Duration as ChronoDuration, NaiveDateTime};
use serde_json::{Map, Value};

use super::text::SHOPS;
use crate::time::{from_beijing, parse_wdt};

/// A WDT answer with `status != 0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WdtError {
    pub status: i64,
    pub message: String,
}

impl WdtError {
    pub fn new(status: i64, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// The parsed search: the window in epoch milliseconds and the optional filters.
#[derive(Debug, Clone, Default)]
pub(crate) struct Search {
    pub from_ms: i64,
    pub to_ms: i64,
    pub status: Option<u8>,
    pub kind: Option<u8>,
    /// Positions in [`SHOPS`] the `shop_nos` filter allows.
    pub shops: Option<Vec<u8>>,
    /// `order_type=1`: modified time descending.
    pub descending: bool,
    /// A search of the archive (`Refund.searchHistory`) rather than of the live refunds.
    pub history: bool,
    /// The history method's `status`: comma-separated codes.
    pub statuses: Option<Vec<u8>>,
}

impl Search {
    /// Whether a filter beyond the window is set.
    pub fn has_filters(&self) -> bool {
        self.status.is_some() || self.kind.is_some() || self.shops.is_some() || self.statuses.is_some()
    }
}

/// The text of a scalar parameter (strings as they are, numbers and booleans written out).
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn int_param(params: &Map<String, Value>, key: &str) -> Result<Option<i64>, WdtError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match text(v).map(|t| t.trim().to_owned()) {
            Some(t) if t.is_empty() => Ok(None),
            Some(t) => t
                .parse::<i64>()
                .map(Some)
                .map_err(|_| WdtError::new(1, format!("参数错误: {key}={t}"))),
            None => Err(WdtError::new(1, format!("参数错误: {key}"))),
        },
    }
}

fn date_param(params: &Map<String, Value>, key: &str) -> Result<Option<NaiveDateTime>, WdtError> {
    let Some(t) = params.get(key).and_then(text).filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    parse_wdt(&t)
        .map(Some)
        .map_err(|_| WdtError::new(100, format!("Unparseable date: {t}")))
}

/// The longest window the method accepts.
pub(crate) const MAX_SPAN_DAYS: i64 = 30;

/// Reads and checks the parameters object.
pub(crate) fn parse_search(params: &Map<String, Value>) -> Result<Search, WdtError> {
    let from = date_param(params, "modified_from")?;
    let to = date_param(params, "modified_to")?;
    let (Some(from), Some(to)) = (from, to) else {
        return Err(WdtError::new(100, "参数中必须包含起止时间"));
    };
    if to - from > ChronoDuration::days(MAX_SPAN_DAYS) {
        return Err(WdtError::new(100, "您的查询时间过宽,查询时间不能大于30天"));
    }
    let small = |key: &str| -> Result<Option<u8>, WdtError> {
        match int_param(params, key)? {
            None => Ok(None),
            Some(v) => u8::try_from(v)
                .map(Some)
                .map_err(|_| WdtError::new(1, format!("参数错误: {key}={v}"))),
        }
    };
    let status = small("status")?;
    let kind = small("type")?;
    let descending = int_param(params, "order_type")? == Some(1);
    let shops = match params.get("shop_nos").and_then(text).filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(list) => {
            let wanted: Vec<&str> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            let found: Vec<u8> = SHOPS
                .iter()
                .enumerate()
                .filter(|(_, s)| wanted.contains(&s.no))
                .map(|(i, _)| i as u8)
                .collect();
            if found.is_empty() {
                return Err(WdtError::new(100, "传入店铺编号全部错误"));
            }
            Some(found)
        }
    };
    Ok(Search {
        from_ms: from_beijing(from).timestamp_millis(),
        to_ms: from_beijing(to).timestamp_millis(),
        status,
        kind,
        shops,
        descending,
        history: false,
        statuses: None,
    })
}

/// Reads and checks the parameters of `aftersales.refund.Refund.searchHistory`: `start_time` /
/// `end_time` (required unless `refund_no` is given; this simulator always wants them), at most
/// 30 days; `shop_no` (one shop), `type`, `status` (comma-separated codes).
pub(crate) fn parse_history_search(params: &Map<String, Value>) -> Result<Search, WdtError> {
    let from = date_param(params, "start_time")?;
    let to = date_param(params, "end_time")?;
    let (Some(from), Some(to)) = (from, to) else {
        return Err(WdtError::new(100, "参数中必须包含起止时间"));
    };
    if to - from > ChronoDuration::days(MAX_SPAN_DAYS) {
        return Err(WdtError::new(100, "您的查询时间过宽,查询时间不能大于30天"));
    }
    let kind = match int_param(params, "type")? {
        None => None,
        Some(v) => Some(u8::try_from(v).map_err(|_| WdtError::new(1, format!("参数错误: type={v}")))?),
    };
    let statuses = match params.get("status").and_then(text).filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(list) => Some(
            list.split(',')
                .map(|c| c.trim().parse::<u8>())
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| WdtError::new(1, format!("参数错误: status={list}")))?,
        ),
    };
    let shops = match params.get("shop_no").and_then(text).filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(no) => match SHOPS.iter().position(|s| s.no == no.trim()) {
            Some(i) => Some(vec![i as u8]),
            None => return Err(WdtError::new(100, "店铺编号不存在或已停用")),
        },
    };
    Ok(Search {
        from_ms: from_beijing(from).timestamp_millis(),
        to_ms: from_beijing(to).timestamp_millis(),
        status: None,
        kind,
        shops,
        descending: false,
        history: true,
        statuses,
    })
}

/// Reads `page_size` / `page_no`; `first_page` is 0 (native) or 1 (Qimen). Returns the page
/// size and the 0-based page index. A page number below the first page is read as the first.
pub(crate) fn parse_pager(
    page_size: Option<&str>,
    page_no: Option<&str>,
    first_page: i64,
    method: &str,
) -> Result<(usize, usize), WdtError> {
    let (Some(size), Some(no)) = (page_size, page_no) else {
        return Err(WdtError::new(100, format!("此方法仅支持分页查询：{method}")));
    };
    let size: i64 = size
        .trim()
        .parse()
        .map_err(|_| WdtError::new(1, format!("For input string: \"{size}\"")))?;
    let no: i64 = no
        .trim()
        .parse()
        .map_err(|_| WdtError::new(1, format!("For input string: \"{no}\"")))?;
    if !(1..=200).contains(&size) {
        return Err(WdtError::new(1, format!("参数错误: page_size={size}, 应在1-200之间")));
    }
    Ok((size as usize, (no - first_page).max(0) as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn window_rules() {
        let e = parse_search(&obj(json!({"modified_from": "2024-01-01 00:00:00"}))).unwrap_err();
        assert_eq!(e, WdtError::new(100, "参数中必须包含起止时间"));
        let e = parse_search(&obj(
            json!({"modified_from": "2024/01/01 00:00:00", "modified_to": "2024-01-02 00:00:00"}),
        ))
        .unwrap_err();
        assert_eq!(e.message, "Unparseable date: 2024/01/01 00:00:00");
        let ok = parse_search(&obj(
            json!({"modified_from": "2024-01-01 00:00:00", "modified_to": "2024-01-31 00:00:00"}),
        ));
        assert!(ok.is_ok());
        let e = parse_search(&obj(
            json!({"modified_from": "2024-01-01 00:00:00", "modified_to": "2024-01-31 00:00:01"}),
        ))
        .unwrap_err();
        assert!(e.message.contains("查询时间不能大于30天"));
    }

    #[test]
    fn filters_and_pager() {
        let s = parse_search(&obj(json!({
            "modified_from": "2024-01-01 00:00:00", "modified_to": "2024-01-02 00:00:00",
            "status": "90", "type": 2, "shop_nos": "jd03, nope", "order_type": 1
        })))
        .unwrap();
        assert_eq!(
            (s.status, s.kind, s.shops.as_deref(), s.descending),
            (Some(90), Some(2), Some(&[2u8][..]), true)
        );
        assert_eq!(parse_pager(Some("50"), Some("1"), 1, "m").unwrap(), (50, 0));
        assert_eq!(parse_pager(Some("50"), Some("3"), 0, "m").unwrap(), (50, 3));
        assert_eq!(parse_pager(None, Some("3"), 0, "m").unwrap_err().status, 100);
        assert_eq!(parse_pager(Some("201"), Some("0"), 0, "m").unwrap_err().status, 1);
    }
}
