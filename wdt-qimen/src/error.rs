//! The one error type of the SDK, and the table that classifies what WDT and Qimen answer.
//!
//! Every failure is an [`Error`]; [`Error::kind`] says what to do about it:
//!
//! | kind | retried | examples |
//! |---|---|---|
//! | [`ErrorKind::Throttled`] | yes, after [`Error::retry_after`] (at most the throttle cap) | status 100 "超过每分钟最大调用频率限制" / "超过每分钟最大并发次数限制"; gateway code 7 "This ban will last for N more seconds" |
//! | [`ErrorKind::Transient`] | yes | HTTP 5xx, timeouts, connection resets, truncated, non-JSON or syntactically broken bodies (outside the records), bodies that are not UTF-8 outside the records, native status 4/5 (database), gateway code 10 |
//! | [`ErrorKind::Timestamp`] | once, with a fresh signature | native status 7 "时间戳错误", gateway code 31 |
//! | [`ErrorKind::Auth`] | no | native status 1 "验证失败"/"app auth fail", 3, 6; gateway codes 25, 29 |
//! | [`ErrorKind::InvalidRequest`] | no | native status 2, 8, 100 (e.g. "查询时间不能大于30天"); gateway codes 40, 41; HTTP 4xx |
//! | [`ErrorKind::Decode`] | no (a damaged answer: read again [`RetryConfig::damaged_retries`](crate::retry::RetryConfig::damaged_retries) times) | a 200 body whose JSON does not have the expected shape; a body over [`ClientBuilder::max_body_bytes`](crate::ClientBuilder::max_body_bytes); a page with more records than its page size |
//! | [`ErrorKind::Config`] | no | a bad builder argument or a request parameter the SDK does not send ([`Error::UnsignableParam`]), found before anything is sent |
//! | [`ErrorKind::Unknown`] | no | a status or code the table does not know (see [`Error::code`]) |
//!
//! Errors never quote an answer's records: where a body is described (`Http`, `Decode`), the
//! description holds its JSON keys, the envelope's status, code and message values and the
//! length of each array, or an HTML page's title; decode messages say what kind of value was
//! wrong, not the value.

use std::fmt;
use std::time::Duration;

/// What kind of failure an [`Error`] is; decides whether and how it is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Rate limited: wait (at least [`Error::retry_after`]), slow down, retry.
    Throttled,
    /// A passing fault of the network or the server: retry with backoff.
    Transient,
    /// The server rejected the request's timestamp: retry once with a fresh signature.
    Timestamp,
    /// Credentials, signature, IP whitelist: check the configuration; never retried.
    Auth,
    /// The server refused the arguments (window too wide, unknown parameter): never retried.
    InvalidRequest,
    /// The response did not have the expected shape; never retried as a passing fault (an
    /// answer that looks damaged is read again a few times, see
    /// [`RetryConfig::damaged_retries`](crate::retry::RetryConfig::damaged_retries)).
    Decode,
    /// A bad argument found before anything was sent; never retried.
    Config,
    /// A status or code the classification table does not know; never retried.
    Unknown,
}

impl ErrorKind {
    /// Whether an error of this kind may succeed when sent again.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Transient | Self::Timestamp)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::Throttled => "throttled",
            Self::Transient => "transient",
            Self::Timestamp => "timestamp rejected",
            Self::Auth => "authentication",
            Self::InvalidRequest => "invalid request",
            Self::Decode => "decode",
            Self::Config => "configuration",
            Self::Unknown => "unknown",
        };
        f.write_str(s)
    }
}

/// A record that could not be decoded, as [`Error::Rejected`] carries it. Its `Debug` shows the
/// key, the reason and the length of the raw JSON, never the JSON (it may hold names and phones).
#[derive(Clone, PartialEq)]
pub struct RejectedRecord(pub Box<crate::sync::DeadLetter>);

impl fmt::Debug for RejectedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RejectedRecord")
            .field("key", &self.0.key)
            .field("reason", &self.0.reason)
            .field("raw_json_bytes", &self.0.raw_json.len())
            .finish()
    }
}

/// Every failure of the SDK. Messages never contain a secret, a salt or a sign, nor a value of a
/// record (names, phones, addresses).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// WDT answered with `status != 0` (natively, or inside the Qimen `response`).
    #[error("{method}: WDT status {status} ({kind}): {message}{hint}", hint = hint_for(*kind))]
    Api {
        /// The method called.
        method: String,
        /// WDT's `status`.
        status: i64,
        /// WDT's `message`.
        message: String,
        /// The classification.
        kind: ErrorKind,
        /// How long the server asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// The Qimen gateway refused the call (`{"response":{"flag":"failure","code":…}}`).
    #[error("{method}: Qimen gateway code {code} ({kind}): {message}{sub}{hint}",
        sub = sub_message.as_deref().map(|s| format!(" / {s}")).unwrap_or_default(),
        hint = gateway_hint_for(*kind))]
    Gateway {
        /// The method called.
        method: String,
        /// The gateway `code`.
        code: String,
        /// The gateway `message`.
        message: String,
        /// The gateway `sub_message`, when given.
        sub_message: Option<String>,
        /// The classification.
        kind: ErrorKind,
        /// How long the gateway asked us to wait ("This ban will last for N more seconds").
        retry_after: Option<Duration>,
    },
    /// The HTTP status was not 2xx.
    #[error("{method}: HTTP {status} from {url}; body: {excerpt}{hint}",
        hint = if *status == 401 || *status == 403 { hint_for(ErrorKind::Auth) } else { "" })]
    Http {
        /// The method called.
        method: String,
        /// The HTTP status code.
        status: u16,
        /// The URL, with `sign`, secrets and salts removed.
        url: String,
        /// What the body held, without record data: its JSON keys and envelope codes, or an
        /// HTML page's title.
        excerpt: String,
    },
    /// The request could not be sent or the response not read (connect, timeout, reset).
    #[error("{method}: {what} calling {url}: {source}")]
    Transport {
        /// The method called.
        method: String,
        /// `timeout`, `connection failed` or `I/O error`.
        what: &'static str,
        /// The URL, with `sign`, secrets and salts removed.
        url: String,
        /// The underlying error (its URL removed).
        #[source]
        source: reqwest::Error,
    },
    /// The body was not the JSON we expect.
    #[error("{method}: cannot decode the response at `{path}`: {message}; body: {excerpt}")]
    Decode {
        /// The method called.
        method: String,
        /// The JSON path of the field that failed (`data.order[3].modified`), `.` for the whole body.
        path: String,
        /// What was wrong (the kind of a wrong value, never the value).
        message: String,
        /// What the body held, without record data: its JSON keys and envelope codes.
        excerpt: String,
        /// Whether the body looks cut off, is not JSON at all, or is broken JSON or not UTF-8
        /// outside its records: a damaged answer, worth asking again.
        truncated: bool,
    },
    /// The answer's body was longer than the client accepts; reading stopped at the limit.
    #[error(
        "{method}: the answer from {url} is longer than {limit} bytes, the limit of \
         ClientBuilder::max_body_bytes; a page of 200 refunds is well under 1 MiB, so this is \
         not a page (raise the limit only if your pages really are this large)"
    )]
    BodyTooLarge {
        /// The method called.
        method: String,
        /// The URL, with `sign`, secrets and salts removed.
        url: String,
        /// The limit, in bytes.
        limit: usize,
    },
    /// A page held more records than the page size asked for: the server ignored `page_size`
    /// or mixed up answers, and paging by number cannot be trusted on it.
    #[error(
        "{method}: page {page_no} holds {records} records, more than the {page_size} asked for; \
         the server ignores page_size or mixed up answers, so no record of it is used"
    )]
    OversizePage {
        /// The method called.
        method: String,
        /// The page (1 = first).
        page_no: u32,
        /// The page size asked for.
        page_size: u32,
        /// The records it held.
        records: usize,
    },
    /// A bad argument, found before anything was sent.
    #[error("invalid {field} = {value:?}: {fix}")]
    Config {
        /// The field or parameter.
        field: &'static str,
        /// The value given (never a secret).
        value: String,
        /// How to fix it.
        fix: String,
    },
    /// A request parameter the SDK does not send, found before anything was sent: WDT's official
    /// `wdt_sign` helpers would sign it differently (the rule is in [`crate::sign::params`]).
    #[error("{method}: cannot send {path} = {value}: {problem}; {fix}")]
    UnsignableParam {
        /// The method called.
        method: String,
        /// Where the value is: `params.tid`, `params.shop_nos[2]`, `method`.
        path: String,
        /// The value as JSON (its start, for a long one).
        value: String,
        /// Why it is not sent.
        problem: &'static str,
        /// How to send it instead.
        fix: &'static str,
    },
    /// A page came back identical to the previous one; paging stopped to avoid a loop.
    #[error("{method}: page {page_no} repeats page {previous}: the server ignores page_no, stopping")]
    RepeatedPage {
        /// The method called.
        method: String,
        /// The page that repeated.
        page_no: u32,
        /// The page it repeated.
        previous: u32,
    },
    /// A record of a page could not be decoded ([`PageStream::items`](crate::PageStream::items)
    /// hands it out like this instead of dropping it; the stream goes on after it). Its raw
    /// JSON is in `record`; the message shows only its key and the reason.
    #[error("{method}: a record on page {page_no} could not be decoded (key {key}): {reason}", key = record.0.key.as_deref().unwrap_or("unknown"), reason = record.0.reason)]
    Rejected {
        /// The method called.
        method: String,
        /// The page it was on (1 = first).
        page_no: u32,
        /// The record as received, with the reason.
        record: RejectedRecord,
    },
    /// Retries ran out (attempt limit or total-time limit); `last` is the final failure.
    #[error("gave up after {attempts} attempts in {elapsed:?}: {last}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        elapsed: Duration,
        /// The last error.
        #[source]
        last: Box<Error>,
    },
}

fn gateway_hint_for(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Auth => "; check the Qimen app key, its app secret and the target app key (QIMEN_APP_KEY, QIMEN_APP_SECRET, QIMEN_TARGET_APP_KEY)",
        _ => hint_for(kind),
    }
}

fn hint_for(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Auth => {
            "; check the WDT sid, app key and app secret (secret:salt) (WDT_SID, WDT_APP_KEY, WDT_APP_SECRET), and that this machine's IP is whitelisted"
        }
        ErrorKind::Throttled => "; the account's per-minute quota is used up",
        _ => "",
    }
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Api { kind, .. } | Self::Gateway { kind, .. } => *kind,
            Self::Http { status, .. } => {
                if *status == 429 {
                    ErrorKind::Throttled
                } else if *status >= 500 || *status == 408 {
                    ErrorKind::Transient
                } else if *status == 401 || *status == 403 {
                    ErrorKind::Auth
                } else {
                    ErrorKind::InvalidRequest
                }
            }
            Self::Transport { .. } => ErrorKind::Transient,
            Self::Decode { truncated, .. } => {
                if *truncated {
                    ErrorKind::Transient
                } else {
                    ErrorKind::Decode
                }
            }
            Self::Config { .. } | Self::UnsignableParam { .. } => ErrorKind::Config,
            Self::RepeatedPage { .. }
            | Self::BodyTooLarge { .. }
            | Self::OversizePage { .. }
            | Self::Rejected { .. } => ErrorKind::Decode,
            Self::RetriesExhausted { last, .. } => last.kind(),
        }
    }

    /// Whether sending the request again (freshly signed) may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::RetriesExhausted { .. }) && self.kind().is_retryable()
    }

    /// How long the server asked us to wait before the next call, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } | Self::Gateway { retry_after, .. } => *retry_after,
            Self::RetriesExhausted { last, .. } => last.retry_after(),
            _ => None,
        }
    }

    /// The server's raw status or code (`"100"`, `"7"`), when the error came from WDT or Qimen.
    pub fn code(&self) -> Option<String> {
        match self {
            Self::Api { status, .. } => Some(status.to_string()),
            Self::Gateway { code, .. } => Some(code.clone()),
            Self::Http { status, .. } => Some(status.to_string()),
            Self::RetriesExhausted { last, .. } => last.code(),
            _ => None,
        }
    }

    /// Whether WDT refused the call because the time window is wider than it allows (30 days).
    pub fn is_window_too_wide(&self) -> bool {
        match self {
            Self::Api { message, .. } => message.contains(WINDOW_TOO_WIDE),
            Self::RetriesExhausted { last, .. } => last.is_window_too_wide(),
            _ => false,
        }
    }

    /// Whether the answer itself looked damaged (too long a body, more records than asked for):
    /// read again a few times ([`RetryConfig::damaged_retries`](crate::retry::RetryConfig::damaged_retries)),
    /// not retried like a transient failure.
    pub(crate) fn is_damaged_answer(&self) -> bool {
        matches!(self, Self::BodyTooLarge { .. } | Self::OversizePage { .. })
    }

    pub(crate) fn config(field: &'static str, value: impl fmt::Display, fix: impl Into<String>) -> Self {
        Self::Config {
            field,
            value: value.to_string(),
            fix: fix.into(),
        }
    }
}

/// Substring of WDT's per-minute call-rate message.
pub const RATE_LIMIT_CALLS: &str = "超过每分钟最大调用频率限制";
/// Substring of WDT's per-minute concurrency message.
pub const RATE_LIMIT_CONCURRENCY: &str = "超过每分钟最大并发次数限制";
/// Substring of WDT's "window wider than 30 days" message.
pub const WINDOW_TOO_WIDE: &str = "查询时间不能大于30天";

/// Classifies a native WDT `status` and `message` (also used for WDT errors inside a Qimen
/// `response`). Pure: the table of this module's docs.
pub fn classify_wdt_status(status: i64, message: &str) -> (ErrorKind, Option<Duration>) {
    match status {
        1 if message.contains("For input string") => (ErrorKind::InvalidRequest, None),
        1 if message.contains("参数错误") || message.contains("invalid argument") => {
            (ErrorKind::InvalidRequest, None)
        }
        1 | 3 | 6 => (ErrorKind::Auth, None),
        2 | 8 => (ErrorKind::InvalidRequest, None),
        4 | 5 => (ErrorKind::Transient, None),
        7 => (ErrorKind::Timestamp, None),
        100 if message.contains(RATE_LIMIT_CALLS) || message.contains(RATE_LIMIT_CONCURRENCY) => {
            (ErrorKind::Throttled, None)
        }
        100 => (ErrorKind::InvalidRequest, None),
        _ => (ErrorKind::Unknown, None),
    }
}

/// Classifies a Qimen gateway failure by its `code`, `message` and `sub_message`. Pure.
pub fn classify_gateway(code: &str, message: &str, sub_message: Option<&str>) -> (ErrorKind, Option<Duration>) {
    let text = format!("{message} {}", sub_message.unwrap_or(""));
    let ban = parse_ban_seconds(&text).map(|s| Duration::from_secs(s.saturating_add(1)));
    let kind = match code.trim() {
        "7" => ErrorKind::Throttled,
        "10" | "15" | "20" => ErrorKind::Transient,
        "25" | "26" | "27" | "28" | "29" | "30" => ErrorKind::Auth,
        "31" => ErrorKind::Timestamp,
        "40" | "41" | "22" | "21" | "47" => ErrorKind::InvalidRequest,
        _ if ban.is_some() => ErrorKind::Throttled,
        _ if text.contains(RATE_LIMIT_CALLS) || text.contains(RATE_LIMIT_CONCURRENCY) => ErrorKind::Throttled,
        _ => ErrorKind::Unknown,
    };
    (kind, if kind == ErrorKind::Throttled { ban } else { None })
}

/// Reads N from "This ban will last for N more seconds"; a number too large for a `u64`
/// saturates (the wait is clamped by the retry policy, never trusted as is).
fn parse_ban_seconds(text: &str) -> Option<u64> {
    let rest = &text[text.find("will last for ")? + "will last for ".len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        use ErrorKind::*;
        let cases: &[(i64, &str, ErrorKind)] = &[
            (1, "验证失败", Auth),
            (1, "app auth fail", Auth),
            (1, "For input string: \"1665947116495\"", InvalidRequest),
            (2, "unknown param", InvalidRequest),
            (4, "db", Transient),
            (6, "ip", Auth),
            (7, "时间戳错误", Timestamp),
            (100, "超过每分钟最大调用频率限制，请稍后重试", Throttled),
            (100, "超过每分钟最大调用频率限制,请稍后重试", Throttled),
            (100, "超过每分钟最大并发次数限制，请稍后重试", Throttled),
            (100, "超过每分钟最大并发次数限制,请稍后重试", Throttled),
            (100, "您的查询时间过宽,查询时间不能大于30天", InvalidRequest),
            (100, "参数中必须包含起止时间", InvalidRequest),
            (99, "other", Unknown),
            (12345, "?", Unknown),
        ];
        for (status, msg, kind) in cases {
            assert_eq!(classify_wdt_status(*status, msg).0, *kind, "status {status} {msg}");
        }
    }

    #[test]
    fn gateway_table() {
        use ErrorKind::*;
        let (k, after) = classify_gateway("7", "App Call Limited", Some("This ban will last for 17 more seconds"));
        assert_eq!(k, Throttled);
        assert_eq!(after, Some(Duration::from_secs(18)));
        assert_eq!(classify_gateway("7", "App Call Limited", None), (Throttled, None));
        assert_eq!(
            classify_gateway("10", "Service Currently Unavailable", None).0,
            Transient
        );
        assert_eq!(classify_gateway("25", "Invalid signature", None).0, Auth);
        assert_eq!(classify_gateway("29", "Invalid App Key", None).0, Auth);
        assert_eq!(classify_gateway("31", "Invalid Timestamp", None).0, Timestamp);
        assert_eq!(
            classify_gateway("40", "Missing Required Arguments", None).0,
            InvalidRequest
        );
        assert_eq!(classify_gateway("41", "Invalid arguments", Some("x")).0, InvalidRequest);
        assert_eq!(classify_gateway("isv.weird", "?", None).0, Unknown);
    }

    #[test]
    fn huge_ban_seconds_saturate_instead_of_overflowing() {
        for n in ["18446744073709551615", "99999999999999999999999999"] {
            let sub = format!("This ban will last for {n} more seconds");
            let (kind, after) = classify_gateway("7", "App Call Limited", Some(&sub));
            assert_eq!(kind, ErrorKind::Throttled);
            assert_eq!(after, Some(Duration::from_secs(u64::MAX)), "{n}");
        }
    }

    #[test]
    fn window_too_wide_is_detectable() {
        let e = Error::Api {
            method: "m".into(),
            status: 100,
            message: "您的查询时间过宽,查询时间不能大于30天".into(),
            kind: ErrorKind::InvalidRequest,
            retry_after: None,
        };
        assert!(e.is_window_too_wide());
        assert!(!e.is_retryable());
    }
}
