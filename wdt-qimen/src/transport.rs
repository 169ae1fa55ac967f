//! One signed HTTP exchange per attempt, and the envelope of the answer turned into a `Result`.
//!
//! Every difference between the two routes lives here, once:
//!
//! | | Qimen (`/router/qm`) | native (`/openapi`) |
//! |---|---|---|
//! | method name | [`ApiMethod::qimen`] (`wdt.aftersales.refund.refund.search`) | [`ApiMethod::native`] (`aftersales.refund.Refund.search`) |
//! | system params | URL query (TOP: `app_key`, `target_app_key`, `timestamp`, `sign_method`, `sign`, …) | URL query (`sid`, `key`, `salt`, `timestamp`, `sign`, pager) |
//! | business params | form fields `params`, `pager` (JSON strings) + `wdt_*` fields + `wdt_sign` | JSON body `[params]` |
//! | timestamp | `yyyy-MM-dd HH:mm:ss`, UTC+8 | seconds since 2012-01-01 00:00:00 +08:00 |
//! | page_no base | 1 (INFERRED; configurable, [`ClientBuilder::qimen_page_base`](crate::ClientBuilder::qimen_page_base)) | 0 |
//! | envelope | `{"response":{…}}`, gateway failures with `flag`/`code` | bare `{"status":…}` |
//!
//! Callers number pages from 1 everywhere; [`route_page_no`] maps to the wire.
//! A fresh timestamp (and so a fresh signature) is made for every attempt. Business params go
//! through [`signable_params`] once per call, before [`prepare`]: shapes the official signing
//! implementations disagree on are rewritten or refused there (nulls and empty strings are never
//! sent). No blank value is ever sent either: the credentials refuse them.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::credentials::{QimenCredentials, Route, WdtCredentials};
use crate::error::{classify_gateway, classify_wdt_status, Error};
use crate::excerpt::{body_summary, without_values};
use crate::pager::Page;
use crate::sign::params::{check_qimen_method, normalize};
use crate::sign::{native_sign, qimen_wdt_sign, top_sign};
use crate::sync::DeadLetter;
use crate::time::{format_wdt, to_beijing, WDT_EPOCH_UNIX};

/// A method's name on each route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiMethod {
    /// The native name (`aftersales.refund.Refund.search`).
    pub native: &'static str,
    /// The Qimen name (`wdt.aftersales.refund.refund.search`).
    pub qimen: &'static str,
}

impl ApiMethod {
    /// The name used on `route`.
    pub fn name_on(&self, route: &Route) -> &'static str {
        match route {
            Route::Qimen { .. } => self.qimen,
            Route::Native { .. } => self.native,
        }
    }
}

/// 退换单查询: `aftersales.refund.Refund.search` / `wdt.aftersales.refund.refund.search`.
pub const REFUND_SEARCH: ApiMethod = ApiMethod {
    native: "aftersales.refund.Refund.search",
    qimen: "wdt.aftersales.refund.refund.search",
};

/// 历史退换单查询 (archived refunds): `aftersales.refund.Refund.searchHistory` /
/// `wdt.aftersales.refund.refund.searchhistory` (the Qimen name is INFERRED from WDT's naming
/// rule, lower case with a `wdt.` prefix, not from a Qimen page).
pub const REFUND_SEARCH_HISTORY: ApiMethod = ApiMethod {
    native: "aftersales.refund.Refund.searchHistory",
    qimen: "wdt.aftersales.refund.refund.searchhistory",
};

/// A request ready to send: URL with query, body and content type. Its URL holds the sign and
/// the salt: log [`Prepared::redacted_url`] instead.
#[derive(Clone)]
pub struct Prepared {
    /// Endpoint URL without query.
    pub endpoint: String,
    /// Query parameters (system parameters).
    pub query: Vec<(String, String)>,
    /// The body bytes, exactly as signed.
    pub body: String,
    /// The body's content type.
    pub content_type: &'static str,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("url", &self.redacted_url())
            .field("body", &redact_form(&self.body))
            .finish()
    }
}

/// Query and form keys whose values are never shown.
const SENSITIVE_KEYS: [&str; 6] = ["sign", "salt", "wdt_salt", "wdt_sign", "app_secret", "secret"];

impl Prepared {
    /// The URL with `sign`, salts and secrets removed, safe for logs and errors.
    pub fn redacted_url(&self) -> String {
        let kept: Vec<String> = self
            .query
            .iter()
            .filter(|(k, _)| !SENSITIVE_KEYS.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={}", url_escape(v)))
            .collect();
        if kept.is_empty() {
            self.endpoint.clone()
        } else {
            format!("{}?{}", self.endpoint, kept.join("&"))
        }
    }
}

fn url_escape(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// Removes sensitive fields from a form body (`a=1&wdt_salt=…`); other bodies are returned as is.
fn redact_form(body: &str) -> String {
    if body.starts_with('[') || body.starts_with('{') {
        return body.to_owned();
    }
    url::form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| {
            if SENSITIVE_KEYS.contains(&k.as_ref()) {
                format!("{k}=[REDACTED]")
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Removes `sign`, salts and secrets from any URL's query, for logs and errors.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            let kept: Vec<(String, String)> = u
                .query_pairs()
                .filter(|(k, _)| !SENSITIVE_KEYS.contains(&k.as_ref()))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if kept.is_empty() {
                u.set_query(None);
            } else {
                u.query_pairs_mut().clear().extend_pairs(kept);
            }
            u.to_string()
        }
        Err(_) => raw.split('?').next().unwrap_or_default().to_owned(),
    }
}

/// A page request: 1-based page number and page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Page number, 1 = first page.
    pub page_no: u32,
    /// Page size.
    pub page_size: u32,
}

/// The wire page number of a 1-based page on a route: native 0-based; Qimen `qimen_base`-based.
pub fn route_page_no(route: &Route, page_no: u32, qimen_base: u32) -> u32 {
    route_page_no_from(route, page_no, 0, qimen_base)
}

/// The wire page number of a 1-based page on a route for a method whose native pages start at
/// `native_base`; Qimen pages start at `qimen_base`.
pub fn route_page_no_from(route: &Route, page_no: u32, native_base: u32, qimen_base: u32) -> u32 {
    let zero_based = page_no.saturating_sub(1);
    match route {
        Route::Native { .. } => zero_based + native_base,
        Route::Qimen { .. } => zero_based + qimen_base,
    }
}

/// The business params of a call as they are sent on `route`: [`normalize`]d, and on Qimen
/// with a method name that every `wdt_sign` helper hashes alike ([`check_qimen_method`]).
/// Refusals are [`Error::UnsignableParam`], before anything is sent.
pub fn signable_params(
    route: &Route,
    method: &ApiMethod,
    params: &Map<String, Value>,
) -> Result<Map<String, Value>, Error> {
    let name = method.name_on(route);
    if let Route::Qimen { .. } = route {
        check_qimen_method(name)?;
    }
    normalize(name, params)
}

/// Drops null and empty-string values (at the top level of the business params), which the
/// signature implementations disagree on.
fn cleaned(params: &Map<String, Value>) -> Map<String, Value> {
    params
        .iter()
        .filter(|(_, v)| !(v.is_null() || v.as_str().is_some_and(str::is_empty)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Builds the native request at `now`.
pub fn prepare_native(
    url: &str,
    wdt: &WdtCredentials,
    method: &str,
    params: &Map<String, Value>,
    page: Option<PageRequest>,
    now: DateTime<Utc>,
) -> Prepared {
    let body = serde_json::to_string(&[Value::Object(cleaned(params))]).expect("a JSON map serializes");
    let mut query: Vec<(String, String)> = vec![
        ("sid".into(), wdt.sid().into()),
        ("key".into(), wdt.app_key().into()),
        ("salt".into(), wdt.salt().into()),
        ("method".into(), method.into()),
        ("v".into(), "1.0".into()),
        ("timestamp".into(), (now.timestamp() - WDT_EPOCH_UNIX).to_string()),
    ];
    if let Some(p) = page {
        query.push(("page_size".into(), p.page_size.to_string()));
        query.push(("page_no".into(), p.page_no.to_string()));
        query.push(("calc_total".into(), "1".into()));
    }
    let sign = native_sign(
        query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain([("body", body.as_str())]),
        wdt.secret(),
    );
    query.push(("sign".into(), sign));
    Prepared {
        endpoint: url.to_owned(),
        query,
        body,
        content_type: "application/json; charset=utf-8",
    }
}

/// Builds the Qimen request at `now`.
pub fn prepare_qimen(
    url: &str,
    qimen: &QimenCredentials,
    wdt: &WdtCredentials,
    method: &str,
    params: &Map<String, Value>,
    page: Option<PageRequest>,
    now: DateTime<Utc>,
) -> Prepared {
    let stamp = format_wdt(to_beijing(now));
    let mut form: Vec<(String, String)> = vec![
        (
            "params".into(),
            serde_json::to_string(&cleaned(params)).expect("a JSON map serializes"),
        ),
        ("datetime".into(), stamp.clone()),
        ("wdt_appkey".into(), wdt.app_key().into()),
        ("wdt_salt".into(), wdt.salt().into()),
        ("wdt3_customer_id".into(), wdt.sid().into()),
    ];
    if let Some(p) = page {
        form.push((
            "pager".into(),
            format!(r#"{{"page_size":{},"page_no":{}}}"#, p.page_size, p.page_no),
        ));
    }
    let wdt_sign = qimen_wdt_sign(form.iter().map(|(k, v)| (k.as_str(), v.as_str())), method, wdt.secret());
    form.push(("wdt_sign".into(), wdt_sign));
    let mut query: Vec<(String, String)> = vec![
        ("method".into(), method.into()),
        ("app_key".into(), qimen.app_key().into()),
        ("target_app_key".into(), qimen.target_app_key().into()),
        ("timestamp".into(), stamp),
        ("format".into(), "json".into()),
        ("v".into(), "2.0".into()),
        ("sign_method".into(), qimen.sign_method().as_str().into()),
    ];
    let sign = top_sign(
        query.iter().chain(form.iter()).map(|(k, v)| (k.as_str(), v.as_str())),
        qimen.app_secret(),
        qimen.sign_method(),
    );
    query.push(("sign".into(), sign));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    Prepared {
        endpoint: url.to_owned(),
        query,
        body,
        content_type: "application/x-www-form-urlencoded; charset=utf-8",
    }
}

/// Builds the request for `route` at `now`; `page.page_no` is already the wire page number.
pub fn prepare(
    route: &Route,
    method: &ApiMethod,
    params: &Map<String, Value>,
    page: Option<PageRequest>,
    now: DateTime<Utc>,
) -> Prepared {
    match route {
        Route::Native { url, wdt } => prepare_native(url, wdt, method.native, params, page, now),
        Route::Qimen { url, qimen, wdt } => prepare_qimen(url, qimen, wdt, method.qimen, params, page, now),
    }
}

#[derive(Deserialize)]
struct Inner<'a> {
    #[serde(default, borrow)]
    status: Option<&'a RawValue>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    flag: Option<String>,
    #[serde(default, borrow)]
    code: Option<&'a RawValue>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    sub_message: Option<String>,
    #[serde(default)]
    sub_msg: Option<String>,
}

/// Where a method's records are, and how an undecodable one is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listing {
    /// The key of the record list in `data` (`order`).
    pub list_key: &'static str,
    /// The member naming a record in its dead letter (`refund_id`).
    pub key_field: &'static str,
}

/// The listing of `aftersales.refund.Refund.search` (and `searchHistory`): `data.order`, keyed
/// by `refund_id`.
pub const REFUND_LISTING: Listing = Listing {
    list_key: "order",
    key_field: "refund_id",
};

/// The raw records of `data.order`: a list, or `null`, `""` or `{}` for none (how some PHP back
/// ends spell an empty list).
#[derive(Default)]
struct Records<'a>(Vec<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for Records<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, MapAccess, SeqAccess, Unexpected, Visitor};
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Records<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of records")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Records::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Records::default())
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                if s.trim().is_empty() {
                    Ok(Records::default())
                } else {
                    Err(E::invalid_type(Unexpected::Str(s), &self))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some(raw) = seq.next_element::<&'de RawValue>()? {
                    out.push(raw);
                }
                Ok(Records(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                match map.next_key::<de::IgnoredAny>()? {
                    None => Ok(Records::default()),
                    Some(_) => Err(de::Error::invalid_type(Unexpected::Map, &self)),
                }
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

fn raw_to_string(raw: &RawValue) -> String {
    let s = raw.get().trim();
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
        .to_owned()
}

fn decode_error(method: &str, body: &[u8], path: String, err: &serde_json::Error) -> Error {
    use serde_json::error::Category;
    let start = crate::scan::skip_blank(body, 0);
    let json_like = matches!(body.get(start), Some(b'{' | b'['));
    Error::Decode {
        method: method.to_owned(),
        path,
        message: without_values(&err.to_string()),
        excerpt: body_summary(body),
        truncated: !json_like || matches!(err.classify(), Category::Syntax | Category::Eof),
    }
}

fn shape_error(method: &str, body: &[u8], path: &str, message: &str) -> Error {
    Error::Decode {
        method: method.to_owned(),
        path: path.to_owned(),
        message: message.to_owned(),
        excerpt: body_summary(body),
        truncated: false,
    }
}

/// A body that is not UTF-8 where it should be: a damaged answer, worth asking again.
fn not_utf8_error(method: &str, body: &[u8], err: std::str::Utf8Error, where_: &str) -> Error {
    let at = err.valid_up_to();
    let message = if err.error_len().is_none() {
        format!("the answer is cut off inside a character, after {at} bytes")
    } else {
        format!(
            "the answer is not UTF-8{where_}: byte 0x{:02X} at offset {at}",
            body.get(at).copied().unwrap_or_default()
        )
    };
    Error::Decode {
        method: method.to_owned(),
        path: ".".into(),
        message,
        excerpt: body_summary(body),
        truncated: true,
    }
}

/// Whether `e` says the body is damaged JSON (cut off, broken syntax, not UTF-8, not JSON).
fn is_damaged_json(e: &Error) -> bool {
    matches!(e, Error::Decode { truncated: true, .. })
}

/// Finds the inner object of an answer: Qimen wraps it in `response` (or `…_response`).
/// Returns the wrapper key (empty when bare) and the inner JSON text.
fn unwrap_envelope<'a>(method: &str, body: &'a str) -> Result<(&'a str, &'a str), Error> {
    let start = body.trim_start();
    if !start.starts_with('{') {
        // Not JSON at all (an HTML error page, an empty body) is a passing fault of a proxy or
        // the server; JSON of another shape is not, and retrying it cannot help.
        let not_json = !start.starts_with('[') || serde_json::from_str::<&RawValue>(body).is_err();
        return Err(Error::Decode {
            method: method.to_owned(),
            path: ".".into(),
            message: "the body is not a JSON object".into(),
            excerpt: body_summary(body.as_bytes()),
            truncated: not_json,
        });
    }
    // Only the keys matter here; values stay raw.
    let keys: std::collections::BTreeMap<&'a str, &'a RawValue> =
        serde_json::from_str(body).map_err(|e| decode_error(method, body.as_bytes(), ".".into(), &e))?;
    let wrapped = keys
        .iter()
        .find(|(k, _)| **k == "response")
        .or_else(|| keys.iter().find(|(k, _)| k.ends_with("_response")));
    Ok(match wrapped {
        Some((k, v)) => (k, v.get()),
        None => ("", body),
    })
}

/// Turns the body of a 200 answer into the business `data`, or the error it carries.
fn open_envelope<'a>(method: &str, body: &'a str) -> Result<Option<&'a RawValue>, Error> {
    let (wrapper, inner_text) = unwrap_envelope(method, body)?;
    let prefix = if wrapper.is_empty() {
        String::new()
    } else {
        format!("{wrapper}.")
    };
    let inner: Inner<'a> = {
        let de = &mut serde_json::Deserializer::from_str(inner_text);
        serde_path_to_error::deserialize(de)
            .map_err(|e| decode_error(method, body.as_bytes(), format!("{prefix}{}", e.path()), e.inner()))?
    };
    let failed_gateway = inner.flag.as_deref() == Some("failure") || (inner.status.is_none() && inner.code.is_some());
    if failed_gateway {
        let code = inner.code.map(raw_to_string).unwrap_or_default();
        let message = inner.message.or(inner.msg).unwrap_or_default();
        let sub = inner.sub_message.or(inner.sub_msg);
        let (kind, retry_after) = classify_gateway(&code, &message, sub.as_deref());
        return Err(Error::Gateway {
            method: method.to_owned(),
            code,
            message,
            sub_message: sub,
            kind,
            retry_after,
        });
    }
    let status = match inner.status {
        None => 0,
        Some(raw) => {
            let text = raw_to_string(raw);
            text.parse::<i64>().map_err(|_| {
                shape_error(
                    method,
                    body.as_bytes(),
                    &format!("{prefix}status"),
                    "status is not an integer",
                )
            })?
        }
    };
    if status != 0 {
        let message = inner.message.unwrap_or_default();
        let (kind, retry_after) = classify_wdt_status(status, &message);
        return Err(Error::Api {
            method: method.to_owned(),
            status,
            message,
            kind,
            retry_after,
        });
    }
    Ok(inner.data)
}

/// One element of `data.order`, as received.
enum RawRecord<'a> {
    /// Valid JSON text.
    Parsed(&'a str),
    /// Bytes that are not valid JSON or not UTF-8, with the reason.
    Damaged { bytes: &'a [u8], reason: String },
}

impl RawRecord<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Parsed(text) => text.as_bytes(),
            Self::Damaged { bytes, .. } => bytes,
        }
    }
}

/// What a page holds before its records are decoded.
struct PageParts<R> {
    total_count: Option<u64>,
    records: Vec<R>,
}

/// The count and the records of a page whose body is valid JSON; `None` for a page without
/// `data`.
fn parse_page<'a>(method: &str, text: &'a str, listing: Listing) -> Result<Option<PageParts<&'a RawValue>>, Error> {
    let body = text.as_bytes();
    let data = open_envelope(method, text)?;
    let Some(data) = data.filter(|d| d.get().trim() != "null") else {
        return Ok(None);
    };
    let members: std::collections::BTreeMap<String, &RawValue> = {
        let de = &mut serde_json::Deserializer::from_str(data.get());
        serde_path_to_error::deserialize(de)
            .map_err(|e| decode_error(method, body, format!("data.{}", e.path()), e.inner()))?
    };
    let records = match members.get(listing.list_key) {
        None => Records::default(),
        Some(raw) => {
            let de = &mut serde_json::Deserializer::from_str(raw.get());
            serde_path_to_error::deserialize::<_, Records<'_>>(de).map_err(|e| {
                let path = e.path().to_string();
                let path = if path == "." {
                    format!("data.{}", listing.list_key)
                } else {
                    format!("data.{}.{path}", listing.list_key)
                };
                decode_error(method, body, path, e.inner())
            })?
        }
    };
    Ok(Some(PageParts {
        total_count: members.get("total_count").and_then(|raw| count_of(method, raw)),
        records: records.0,
    }))
}

/// Reads a page whose body is not valid JSON (or not UTF-8) as a whole: its `order` array is
/// split into records with a tolerant scanner, the rest (the envelope, with an empty `order`)
/// must then be valid. `None` when that is not possible (the damage is outside the records, or
/// the body is cut off), so the page fails as a whole.
fn recover_page<'a>(method: &str, body: &'a [u8], listing: Listing) -> Option<Result<PageParts<RawRecord<'a>>, Error>> {
    let order = crate::scan::order_array(body, listing.list_key)?;
    let (elements, _) = crate::scan::elements(body, order.start)?;
    let mut skeleton = Vec::with_capacity(body.len() - order.len() + 2);
    skeleton.extend_from_slice(&body[..order.start]);
    skeleton.extend_from_slice(b"[]");
    skeleton.extend_from_slice(&body[order.end..]);
    let text = std::str::from_utf8(&skeleton).ok()?;
    let total_count = match parse_page(method, text, listing) {
        Ok(parsed) => parsed.and_then(|p| p.total_count),
        Err(e) if is_damaged_json(&e) => return None,
        Err(e) => return Some(Err(e)),
    };
    let records = elements
        .into_iter()
        .flat_map(|range| match classify_record(&body[range.clone()]) {
            RawRecord::Parsed(text) => vec![RawRecord::Parsed(text)],
            // A damaged element may hold a record that is whole: one that a string of the
            // damaged record ran on into, or one that lost the comma before it.
            RawRecord::Damaged { .. } => crate::scan::split_damaged(body, range, |b| {
                std::str::from_utf8(b)
                    .is_ok_and(|t| t.starts_with('{') && serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok())
            })
            .into_iter()
            .map(|piece| classify_record(&body[piece]))
            .collect(),
        })
        .collect();
    Some(Ok(PageParts { total_count, records }))
}

/// One element of `data.order` as split by the scanner: valid JSON, or damaged with the reason.
fn classify_record(bytes: &[u8]) -> RawRecord<'_> {
    match std::str::from_utf8(bytes) {
        Err(e) => RawRecord::Damaged {
            bytes,
            reason: format!(
                "not UTF-8: byte 0x{:02X} at offset {} of the record (kept with such bytes written \\xNN)",
                bytes[e.valid_up_to()],
                e.valid_up_to()
            ),
        },
        Ok(text) => match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => RawRecord::Parsed(text),
            Err(e) => RawRecord::Damaged {
                bytes,
                reason: format!("not valid JSON: {}", without_values(&e.to_string())),
            },
        },
    }
}

/// Decodes the body of a 200 answer to a paged call into a [`Page`].
///
/// Records that fail to decode are kept, raw, in [`Page::rejected`] with the failing field's
/// path, so nothing is lost. A record that is not even valid JSON, or not UTF-8, does not fail
/// the page: the `order` array is split into records by a tolerant scanner, and such a record
/// is rejected too, its text kept as received (bytes that are not UTF-8 written `\xNN`) and
/// counted in [`Page::damaged`]; a whole record that such a record ran on into (a string
/// without its closing quote) or that lost the comma before it is split off and decoded. The page fails as a whole only when the damage is outside the
/// records or the body is cut off (a [`ErrorKind::Transient`](crate::ErrorKind::Transient)
/// error), or when it holds more records than `page.page_size` ([`Error::OversizePage`]).
pub fn decode_page<T: DeserializeOwned>(
    method: &str,
    body: impl AsRef<[u8]>,
    page: PageRequest,
) -> Result<Page<T>, Error> {
    decode_list(method, body, page, REFUND_LISTING)
}

/// [`decode_page`] for any method: its records under `data.{listing.list_key}`, an undecodable
/// record named by its `listing.key_field`.
pub fn decode_list<T: DeserializeOwned>(
    method: &str,
    body: impl AsRef<[u8]>,
    page: PageRequest,
    listing: Listing,
) -> Result<Page<T>, Error> {
    let body = body.as_ref();
    let whole = match std::str::from_utf8(body) {
        Ok(text) => match parse_page(method, text, listing) {
            Ok(None) => return Ok(Page::empty(page.page_no, page.page_size)),
            Ok(Some(parts)) => {
                let records = parts.records.into_iter().map(|r| RawRecord::Parsed(r.get())).collect();
                return build_page(
                    method,
                    page,
                    listing,
                    PageParts {
                        total_count: parts.total_count,
                        records,
                    },
                );
            }
            Err(e) if is_damaged_json(&e) => e,
            Err(e) => return Err(e),
        },
        Err(e) => not_utf8_error(method, body, e, " outside its records"),
    };
    match recover_page(method, body, listing) {
        Some(Ok(parts)) => build_page(method, page, listing, parts),
        Some(Err(e)) => Err(e),
        None => Err(whole),
    }
}

/// Decodes the records of a page and checks its length.
fn build_page<T: DeserializeOwned>(
    method: &str,
    page: PageRequest,
    listing: Listing,
    parts: PageParts<RawRecord<'_>>,
) -> Result<Page<T>, Error> {
    let PageParts { total_count, records } = parts;
    if records.len() > page.page_size as usize {
        return Err(Error::OversizePage {
            method: method.to_owned(),
            page_no: page.page_no,
            page_size: page.page_size,
            records: records.len(),
        });
    }
    // A page is told apart from the previous one by its first and last records and its length;
    // hashing every byte would cost more than it tells.
    let mut hasher = DefaultHasher::new();
    records.len().hash(&mut hasher);
    if let (Some(first), Some(last)) = (records.first(), records.last()) {
        first.bytes().hash(&mut hasher);
        last.bytes().hash(&mut hasher);
    }
    let mut items = Vec::with_capacity(records.len());
    let mut rejected = Vec::new();
    let mut damaged = 0;
    for (i, record) in records.iter().enumerate() {
        match record {
            // The fast path decodes directly; only a failure is decoded again to name its path.
            RawRecord::Parsed(text) => match serde_json::from_str::<T>(text) {
                Ok(item) => items.push(item),
                Err(plain) => {
                    let de = &mut serde_json::Deserializer::from_str(text);
                    let reason = match serde_path_to_error::deserialize::<_, T>(de) {
                        Err(e) => format!(
                            "data.{}[{i}].{}: {}",
                            listing.list_key,
                            e.path(),
                            without_values(&e.inner().to_string())
                        ),
                        Ok(_) => format!("data.{}[{i}]: {}", listing.list_key, without_values(&plain.to_string())),
                    };
                    rejected.push(DeadLetter {
                        key: crate::scan::record_key(text.as_bytes(), listing.key_field),
                        raw_json: (*text).to_owned(),
                        reason,
                    });
                }
            },
            RawRecord::Damaged { bytes, reason } => {
                damaged += 1;
                rejected.push(DeadLetter {
                    key: crate::scan::record_key(bytes, listing.key_field),
                    raw_json: crate::scan::escaped_text(bytes),
                    reason: format!("data.{}[{i}]: {reason}", listing.list_key),
                });
            }
        }
    }
    Ok(Page {
        page_no: page.page_no,
        page_size: page.page_size,
        total_count,
        items,
        rejected,
        fingerprint: if records.is_empty() { 0 } else { hasher.finish() },
        damaged,
    })
}

/// A `total_count` as a count: digits only, as a JSON number or a string, fitting a `u64`.
///
/// Anything else (`-1`, `"3.0"`, `1e3`, `"abc"`, an object, a number past `u64`) is "unknown",
/// not an error: a page is readable without its count, and the window reader then pages to the
/// first short page instead of trusting a number it cannot read.
fn count_of(method: &str, raw: &RawValue) -> Option<u64> {
    let text = raw_to_string(raw);
    let text = text.trim();
    if text.is_empty() || text == "null" {
        return None;
    }
    let count = text
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| text.parse::<u64>().ok())
        .flatten();
    if count.is_none() {
        let shown: String = text.chars().take(40).collect();
        tracing::warn!(method, total_count = %shown, "total_count is not a count; treating it as unknown");
    }
    count
}

/// Decodes the body of a 200 answer to an unpaged call into `T` (its `data`).
pub fn decode_data<T: DeserializeOwned>(method: &str, body: impl AsRef<[u8]>) -> Result<T, Error> {
    let bytes = body.as_ref();
    let text = std::str::from_utf8(bytes).map_err(|e| not_utf8_error(method, bytes, e, ""))?;
    let data = open_envelope(method, text)?;
    let data_text = data.map(|d| d.get()).unwrap_or("null");
    let de = &mut serde_json::Deserializer::from_str(data_text);
    serde_path_to_error::deserialize(de)
        .map_err(|e| decode_error(method, bytes, format!("data.{}", e.path()), e.inner()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::SignMethod;

    fn wdt() -> WdtCredentials {
        WdtCredentials::new("wdtapi3", "wdtapi3-test9", "testsecret:testsalt").unwrap()
    }

    fn params() -> Map<String, Value> {
        serde_json::from_str(
            r#"{"modified_from":"2020-01-01 00:00:00","modified_to":"2020-01-20 00:00:00","shop_nos":"","x":null}"#,
        )
        .unwrap()
    }

    #[test]
    fn native_request_matches_vector_v3() {
        let now = DateTime::<Utc>::from_timestamp(1_779_948_619, 0).unwrap();
        let p = prepare_native(
            "http://h/openapi",
            &wdt(),
            REFUND_SEARCH.native,
            &params(),
            Some(PageRequest {
                page_no: 0,
                page_size: 200,
            }),
            now,
        );
        assert_eq!(
            p.body,
            r#"[{"modified_from":"2020-01-01 00:00:00","modified_to":"2020-01-20 00:00:00"}]"#
        );
        let q: std::collections::HashMap<_, _> = p.query.iter().cloned().collect();
        assert_eq!(q["timestamp"], "454601419");
        assert_eq!(q["sign"], "b10ba319a20d07ec8be942bef901c537");
        let red = p.redacted_url();
        assert!(!red.contains("testsalt") && !red.contains("b10ba319"), "{red}");
        assert!(!format!("{p:?}").contains("testsalt"));
    }

    #[test]
    fn qimen_request_matches_vectors_v5_v6() {
        // V5/V6 were computed with datetime = timestamp = 2026-01-02 03:04:05 (Beijing).
        let now = crate::time::from_beijing(crate::time::parse_wdt("2026-01-02 03:04:05").unwrap());
        let q = QimenCredentials::new("12345678", "qmsecret").unwrap();
        let params: Map<String, Value> = serde_json::from_str(
            r#"{"modified_from":"2020-01-01 00:00:00","modified_to":"2020-01-20 00:00:00","status":90,"fuzzy_query":false}"#,
        )
        .unwrap();
        let p = prepare_qimen(
            "http://h/router/qm",
            &q,
            &wdt(),
            REFUND_SEARCH.qimen,
            &params,
            Some(PageRequest {
                page_no: 1,
                page_size: 100,
            }),
            now,
        );
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(p.body.as_bytes()).into_owned().collect();
        assert_eq!(form["wdt_sign"], "9f7a85182a4b43674651a877dfaa2e11");
        assert_eq!(form["pager"], r#"{"page_size":100,"page_no":1}"#);
        // serde_json's map is sorted, unlike V5's literal; the wdt_sign is order-free, the TOP
        // sign covers the params string as sent, so recompute V6's inputs from what we sent.
        let query: std::collections::HashMap<_, _> = p.query.iter().cloned().collect();
        assert_eq!(query["sign_method"], "md5");
        let mut all: Vec<(&str, &str)> = p.query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        all.extend(form.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(query["sign"], top_sign(all, "qmsecret", SignMethod::Md5));
        assert!(!p.redacted_url().contains(&query["sign"]));
        assert!(!format!("{p:?}").contains("testsalt"));
    }

    #[test]
    fn envelopes_and_errors() {
        let page = PageRequest {
            page_no: 1,
            page_size: 2,
        };
        let ok = r#"{"status":0,"data":{"total_count":"3","order":[{"a":1},{"a":2}]}}"#;
        let p: Page<Value> = decode_page("m", ok, page).unwrap();
        assert_eq!((p.total_count, p.items.len()), (Some(3), 2));
        let qimen = r#"{"response":{"status":"0","data":{"total_count":3,"order":[{"a":1}]}}}"#;
        let p: Page<Value> = decode_page("m", qimen, page).unwrap();
        assert_eq!(p.items.len(), 1);
        let throttled = r#"{"status":100,"message":"超过每分钟最大并发次数限制,请稍后重试"}"#;
        let e = decode_page::<Value>("m", throttled, page).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Throttled);
        let ban = r#"{"response":{"flag":"failure","code":7,"message":"App Call Limited","sub_message":"This ban will last for 3 more seconds","request_id":"x"}}"#;
        let e = decode_page::<Value>("m", ban, page).unwrap_err();
        assert_eq!(
            (e.kind(), e.retry_after()),
            (crate::ErrorKind::Throttled, Some(std::time::Duration::from_secs(4)))
        );
        let sig = r#"{"response":{"flag":"failure","code":25,"message":"Invalid signature"}}"#;
        assert_eq!(
            decode_page::<Value>("m", sig, page).unwrap_err().kind(),
            crate::ErrorKind::Auth
        );
        let inner = r#"{"response":{"status":1,"message":"验证失败"}}"#;
        assert_eq!(
            decode_page::<Value>("m", inner, page).unwrap_err().kind(),
            crate::ErrorKind::Auth
        );
        for bad in [
            r#"{"status":0,"data":{"total_count":3,"order":[{"a":"#,
            "<html>502 Bad Gateway</html>",
            "",
        ] {
            let e = decode_page::<Value>("m", bad, page).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Transient, "{bad}: {e}");
        }
        assert_eq!(
            decode_page::<Value>("m", "[]", page).unwrap_err().kind(),
            crate::ErrorKind::Decode
        );
    }

    #[test]
    fn order_may_be_spelled_empty_but_not_as_something_else() {
        let page = PageRequest {
            page_no: 1,
            page_size: 2,
        };
        for order in ["[]", "null", r#""""#, "{}"] {
            let body = format!(r#"{{"status":0,"data":{{"total_count":0,"order":{order}}}}}"#);
            let p: Page<Value> = decode_page("m", &body, page).unwrap_or_else(|e| panic!("{order}: {e}"));
            assert!(p.is_empty(), "{order}");
        }
        for order in [r#""x""#, "3", r#"{"a":1}"#] {
            let body = format!(r#"{{"status":0,"data":{{"order":{order}}}}}"#);
            let e = decode_page::<Value>("m", &body, page).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Decode, "{order}: {e}");
            assert!(e.to_string().contains("data.order"), "{e}");
        }
    }

    #[test]
    fn damage_inside_records_is_split_out_damage_outside_fails_the_page() {
        let page = PageRequest {
            page_no: 1,
            page_size: 3,
        };
        let body =
            br#"{"status":0,"data":{"total_count":3,"order":[{"refund_id":1},{"refund_id":2,"x":},{"refund_id":3}]}}"#;
        let p: Page<Value> = decode_page("m", &body[..], page).unwrap();
        assert_eq!((p.items.len(), p.rejected.len(), p.damaged()), (2, 1, 1));
        assert_eq!(p.total_count, Some(3));
        assert_eq!(p.rejected[0].raw_json, r#"{"refund_id":2,"x":}"#);
        // A trailing comma in the list loses nothing and damages nothing.
        let body = br#"{"status":0,"data":{"order":[{"refund_id":1},]}}"#;
        let p: Page<Value> = decode_page("m", &body[..], page).unwrap();
        assert_eq!((p.items.len(), p.damaged()), (1, 0));
        // Outside the records: the page fails, as a damaged answer (retried).
        let mut not_utf8 = br#"{"status":0,"message":""#.to_vec();
        not_utf8.extend_from_slice(&[0xFF]);
        not_utf8.extend_from_slice(br#"","data":{"order":[{"refund_id":1}]}}"#);
        for bad in [
            &br#"{"status":0,,"data":{"order":[{"refund_id":1}]}}"#[..],
            br#"{"status":0,"data":{"order":[{"refund_id":1},{"refund_id":2"#,
            br#"{"status":0,"data":{"order":[{"refund_id":1}]}} trailing"#,
            &not_utf8,
        ] {
            let e = decode_page::<Value>("m", bad, page).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Transient, "{e}");
        }
        // An error inside the envelope is still that error.
        let body = br#"{"status":100,"message":"x","data":{"order":[{"refund_id":1},{"x":}]}}"#;
        assert!(matches!(
            decode_page::<Value>("m", &body[..], page).unwrap_err(),
            Error::Api { status: 100, .. }
        ));
        // More records than asked for.
        let body = br#"{"status":0,"data":{"order":[{"a":1},{"a":2},{"a":3},{"a":4}]}}"#;
        assert!(matches!(
            decode_page::<Value>("m", &body[..], page).unwrap_err(),
            Error::OversizePage {
                records: 4,
                page_size: 3,
                ..
            }
        ));
    }

    #[test]
    fn a_total_count_that_is_not_a_count_is_unknown() {
        let page = PageRequest {
            page_no: 1,
            page_size: 2,
        };
        for (total, want) in [
            (r#""3""#, Some(3)),
            ("3", Some(3)),
            (r#"" 7 ""#, Some(7)),
            ("0", Some(0)),
            ("18446744073709551615", Some(u64::MAX)),
            ("-1", None),
            (r#""-1""#, None),
            (r#""3.0""#, None),
            ("3.0", None),
            ("1e3", None),
            (r#""abc""#, None),
            (r#""many""#, None),
            ("null", None),
            (r#""""#, None),
            ("true", None),
            ("[3]", None),
            (r#"{"n":3}"#, None),
            ("18446744073709551616", None),
            ("184467440737095516160000", None),
        ] {
            let body = format!(r#"{{"status":0,"data":{{"total_count":{total},"order":[{{"a":1}}]}}}}"#);
            let p: Page<Value> = decode_page("m", &body, page).unwrap_or_else(|e| panic!("total_count {total}: {e}"));
            assert_eq!(p.total_count, want, "total_count {total}");
            assert_eq!(p.items.len(), 1);
        }
    }

    #[test]
    fn a_record_that_fails_is_rejected_with_its_path_not_lost() {
        #[derive(Deserialize)]
        struct R {
            #[allow(dead_code)]
            n: u8,
        }
        let body = r#"{"status":0,"data":{"total_count":2,"order":[{"n":1},{"refund_id":77,"n":"x"}]}}"#;
        let p: Page<R> = decode_page(
            "m",
            body,
            PageRequest {
                page_no: 1,
                page_size: 10,
            },
        )
        .unwrap();
        assert_eq!(p.items.len(), 1);
        assert_eq!(p.rejected.len(), 1);
        assert_eq!(p.rejected[0].key.as_deref(), Some("77"));
        assert!(
            p.rejected[0].reason.contains("data.order[1].n"),
            "{}",
            p.rejected[0].reason
        );
    }

    #[test]
    fn redact_url_strips_sensitive_params() {
        let u = redact_url("http://h/openapi?sid=a&salt=SALT&sign=SIGN&method=m");
        assert_eq!(u, "http://h/openapi?sid=a&method=m");
    }
}
