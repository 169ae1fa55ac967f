//! The responder: routes a request to the native or the Qimen handler, checks it the way the
//! real service does, and writes the answer (or an injected fault).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use wiremock::{Request, Respond, ResponseTemplate};

use super::data::mix;
use super::faults::{Fault, Throttle, Transient, DB_ERROR, HTML_502, HTML_BUSY};
use super::query::{parse_history_search, parse_pager, parse_search, text, Search, WdtError};
use super::state::{lock, State};
use super::{
    NATIVE_HISTORY_METHOD, NATIVE_METHOD, NATIVE_PATH, QIMEN_APP_KEY, QIMEN_APP_SECRET, QIMEN_HISTORY_METHOD,
    QIMEN_METHOD, QIMEN_PATH, QIMEN_TARGET_APP_KEY, WDT_APP_KEY, WDT_APP_SECRET, WDT_SID,
};
use crate::server_time::format_http_date;
use crate::sign::{native_sign, qimen_wdt_sign, top_sign, SignMethod};
use crate::time::{from_beijing, parse_wdt, WDT_EPOCH_UNIX};

/// How far the native `timestamp` may be from the server clock.
const NATIVE_TIMESTAMP_SLACK_S: i64 = 120;
/// How far the Qimen `timestamp` may be from the gateway clock.
const QIMEN_TIMESTAMP_SLACK_S: i64 = 600;
/// TOP system parameters: part of the gateway `sign`, not of the `wdt_sign`.
const TOP_SYSTEM_PARAMS: &[&str] = &[
    "method",
    "app_key",
    "target_app_key",
    "timestamp",
    "format",
    "v",
    "sign_method",
    "sign",
    "session",
    "partner_id",
    "simplify",
];

const JSON: &str = "application/json;charset=UTF-8";
const HTML: &str = "text/html;charset=UTF-8";

/// An answer before it becomes a [`ResponseTemplate`].
struct Reply {
    http: u16,
    body: Vec<u8>,
    mime: &'static str,
}

impl Reply {
    fn json(body: Vec<u8>) -> Self {
        Self {
            http: 200,
            body,
            mime: JSON,
        }
    }

    fn value(v: &Value) -> Self {
        Self::json(serde_json::to_vec(v).expect("a JSON value always serializes"))
    }

    fn html(http: u16, body: &str) -> Self {
        Self {
            http,
            body: body.as_bytes().to_vec(),
            mime: HTML,
        }
    }
}

fn wdt_secret_and_salt() -> (&'static str, &'static str) {
    WDT_APP_SECRET
        .split_once(':')
        .expect("the simulator's app secret has a colon")
}

/// The wiremock responder of both routes.
pub(crate) struct Gateway {
    pub state: Arc<Mutex<State>>,
}

impl Respond for Gateway {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = lock(&self.state);
        st.stats.requests += 1;
        let now = st.clock.now();
        let reply = match (req.method.as_str(), req.url.path()) {
            ("POST", NATIVE_PATH) => {
                st.stats.native_requests += 1;
                native(&mut st, req, now)
            }
            ("POST", QIMEN_PATH) => {
                st.stats.qimen_requests += 1;
                qimen(&mut st, req, now)
            }
            (_, NATIVE_PATH | QIMEN_PATH) => {
                Reply::html(405, "<html><body><h1>405 Method Not Allowed</h1></body></html>")
            }
            _ => Reply::html(404, "<html><body><h1>404 Not Found</h1></body></html>"),
        };
        let latency = st.latency;
        let date = now + st.date_shift;
        drop(st);
        // Like the real gateways, every answer says the server's time (the HTTP server would
        // otherwise write the system clock's).
        let template = ResponseTemplate::new(reply.http)
            .insert_header("Date", format_http_date(date).as_str())
            .set_body_raw(reply.body, reply.mime);
        if latency.is_zero() {
            template
        } else {
            template.set_delay(latency)
        }
    }
}

fn wdt_error_body(e: &WdtError) -> Value {
    json!({"status": e.status, "message": e.message})
}

/// Whether a WDT-level error is an authentication failure (counted apart from bad arguments).
fn is_auth(e: &WdtError) -> bool {
    match e.status {
        7 => true,
        1 => !["参数错误", "invalid argument", "For input string"]
            .iter()
            .any(|p| e.message.starts_with(p)),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Native route
// ---------------------------------------------------------------------------------------------

fn native(st: &mut State, req: &Request, now: DateTime<Utc>) -> Reply {
    let query: HashMap<String, String> = req.url.query_pairs().into_owned().collect();
    match native_checks(&query, &req.body, now) {
        Ok((search, page_size, page_index, with_total)) => match st.faults.draw(false) {
            Some(fault) => native_fault(st, fault, &search, page_size, page_index, with_total),
            None => {
                let data = st.page(&search, page_size, page_index, false, with_total);
                Reply::json(wrap_native(&data))
            }
        },
        Err(e) => {
            if is_auth(&e) {
                st.stats.auth_failures += 1;
            } else {
                st.stats.invalid_requests += 1;
            }
            Reply::value(&wdt_error_body(&e))
        }
    }
}

fn wrap_native(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 24);
    out.extend_from_slice(b"{\"status\":0,\"data\":");
    out.extend_from_slice(data);
    out.push(b'}');
    out
}

type Checked = (Search, usize, usize, bool);

fn native_checks(query: &HashMap<String, String>, body: &[u8], now: DateTime<Utc>) -> Result<Checked, WdtError> {
    let get = |k: &str| query.get(k).map(String::as_str);
    let method = get("method").unwrap_or("");
    if method != NATIVE_METHOD && method != NATIVE_HISTORY_METHOD {
        return Err(WdtError::new(100, format!("接口不存在: {method}")));
    }
    let (secret, salt) = wdt_secret_and_salt();
    if get("sid") != Some(WDT_SID) {
        return Err(WdtError::new(1, "sid is not exists"));
    }
    if get("key") != Some(WDT_APP_KEY) {
        return Err(WdtError::new(1, "app auth fail"));
    }
    if get("salt") != Some(salt) {
        return Err(WdtError::new(1, "验证失败"));
    }
    let ts_text = get("timestamp").unwrap_or("");
    // The server reads an int: milliseconds overflow it.
    let ts: i32 = ts_text
        .trim()
        .parse()
        .map_err(|_| WdtError::new(1, format!("For input string: \"{ts_text}\"")))?;
    let now = now.timestamp() - WDT_EPOCH_UNIX;
    if (now - i64::from(ts)).abs() > NATIVE_TIMESTAMP_SLACK_S {
        return Err(WdtError::new(7, "时间戳错误"));
    }
    let body_text = String::from_utf8_lossy(body);
    let signed = query
        .iter()
        .filter(|(k, _)| k.as_str() != "sign")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(std::iter::once(("body", body_text.as_ref())));
    if get("sign") != Some(native_sign(signed, secret).as_str()) {
        return Err(WdtError::new(1, "验证失败"));
    }
    if get("v") != Some("1.0") {
        return Err(WdtError::new(8, "版本错误"));
    }
    let args: Value = serde_json::from_str(&body_text).map_err(|_| WdtError::new(1, "参数错误: 请求体不是JSON数组"))?;
    let params = match args {
        Value::Array(mut items) if items.len() == 1 => match items.pop() {
            Some(Value::Object(m)) => m,
            _ => return Err(WdtError::new(1, "参数错误: 第1个参数应为对象")),
        },
        Value::Array(_) => return Err(WdtError::new(1, "invalid argument count")),
        _ => return Err(WdtError::new(1, "参数错误: 请求体不是JSON数组")),
    };
    let (page_size, page_index) = parse_pager(get("page_size"), get("page_no"), 0, method)?;
    let search = if method == NATIVE_HISTORY_METHOD {
        parse_history_search(&params)?
    } else {
        parse_search(&params)?
    };
    Ok((search, page_size, page_index, get("calc_total") == Some("1")))
}

fn native_fault(st: &mut State, fault: Fault, q: &Search, size: usize, index: usize, with_total: bool) -> Reply {
    match fault {
        Fault::Throttle(t) => {
            st.stats.throttled += 1;
            let message = match t {
                Throttle::Wdt(m) => m,
                Throttle::GatewayBan => super::faults::THROTTLE_CALLS,
            };
            Reply::value(&json!({"status": 100, "message": message}))
        }
        Fault::Transient(t) => {
            st.stats.transient_faults += 1;
            match t {
                Transient::BadGateway => Reply::html(502, HTML_502),
                Transient::Html => Reply::html(200, HTML_BUSY),
                Transient::DbError => Reply::value(&json!({"status": 4, "message": DB_ERROR})),
                Transient::Truncated => {
                    // The page is built (and drift applied) as if it were served, then cut.
                    let mut body = wrap_native(&st.page(q, size, index, false, with_total));
                    st.stats.pages_served -= 1;
                    body.truncate((body.len() / 2).max(1));
                    Reply::json(body)
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Qimen route
// ---------------------------------------------------------------------------------------------

/// A Qimen failure: at the gateway (`flag: failure`, `code`) or from WDT inside `response`.
enum QimenError {
    Gateway {
        code: u32,
        message: &'static str,
        sub_message: Option<String>,
    },
    Wdt(WdtError),
}

fn gateway(code: u32, message: &'static str, sub_message: Option<&str>) -> QimenError {
    QimenError::Gateway {
        code,
        message,
        sub_message: sub_message.map(str::to_owned),
    }
}

impl From<WdtError> for QimenError {
    fn from(e: WdtError) -> Self {
        Self::Wdt(e)
    }
}

fn request_id(st: &mut State) -> String {
    st.request_ids += 1;
    let h = mix(st.request_ids ^ 0x7E0_u64.rotate_left(40));
    let s = format!("{h:016x}");
    s[..13].to_owned()
}

/// The `status` of a WDT answer on Qimen: every other answer writes it as a string when the
/// quirk is on.
fn qimen_status(st: &mut State, status: i64) -> Value {
    st.qimen_answers += 1;
    if st.string_status && st.qimen_answers & 1 == 0 {
        Value::String(status.to_string())
    } else {
        Value::from(status)
    }
}

fn qimen_error_reply(st: &mut State, e: QimenError) -> Reply {
    match e {
        QimenError::Gateway {
            code,
            message,
            sub_message,
        } => {
            let mut r = Map::new();
            r.insert("flag".into(), "failure".into());
            r.insert("code".into(), code.into());
            r.insert("message".into(), message.into());
            if let Some(s) = sub_message {
                r.insert("sub_message".into(), s.into());
            }
            r.insert("request_id".into(), request_id(st).into());
            Reply::value(&json!({ "response": r }))
        }
        QimenError::Wdt(e) => {
            let status = qimen_status(st, e.status);
            Reply::value(&json!({"response": {"status": status, "message": e.message}}))
        }
    }
}

fn qimen(st: &mut State, req: &Request, now: DateTime<Utc>) -> Reply {
    let mut params: HashMap<String, String> = req.url.query_pairs().into_owned().collect();
    for (k, v) in url::form_urlencoded::parse(&req.body) {
        params.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    match qimen_checks(&params, now) {
        Ok((search, page_size, page_index)) => match st.faults.draw(true) {
            Some(fault) => qimen_fault(st, fault, &search, page_size, page_index),
            None => {
                let data = st.page(&search, page_size, page_index, true, true);
                let status = qimen_status(st, 0);
                Reply::json(wrap_qimen(&status, &data))
            }
        },
        Err(e) => {
            match &e {
                QimenError::Gateway { code: 25 | 29 | 31, .. } => st.stats.auth_failures += 1,
                QimenError::Wdt(w) if is_auth(w) => st.stats.auth_failures += 1,
                _ => st.stats.invalid_requests += 1,
            }
            qimen_error_reply(st, e)
        }
    }
}

fn wrap_qimen(status: &Value, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 40);
    out.extend_from_slice(b"{\"response\":{\"status\":");
    out.extend_from_slice(status.to_string().as_bytes());
    out.extend_from_slice(b",\"data\":");
    out.extend_from_slice(data);
    out.extend_from_slice(b"}}");
    out
}

fn json_object(key: &str, raw: Option<&String>) -> Result<Map<String, Value>, WdtError> {
    match raw.map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(Map::new()),
        Some(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(WdtError::new(1, format!("参数错误: {key}不是JSON对象"))),
        },
    }
}

fn qimen_checks(params: &HashMap<String, String>, now: DateTime<Utc>) -> Result<(Search, usize, usize), QimenError> {
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    for key in ["method", "app_key", "timestamp", "sign"] {
        if get(key).is_none() {
            return Err(gateway(
                40,
                "Missing Required Arguments",
                Some(&format!("client-error:Missing {key}")),
            ));
        }
    }
    if get("app_key") != Some(QIMEN_APP_KEY) {
        return Err(gateway(29, "Invalid App Key", None));
    }
    let sign_method: SignMethod = match get("sign_method").unwrap_or("md5").parse() {
        Ok(m) => m,
        Err(_) => {
            return Err(gateway(
                41,
                "Invalid arguments",
                Some("client-error:Invalid sign_method"),
            ))
        }
    };
    let expected = top_sign(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        QIMEN_APP_SECRET,
        sign_method,
    );
    if !get("sign").is_some_and(|s| s.eq_ignore_ascii_case(&expected)) {
        return Err(gateway(25, "Invalid signature", None));
    }
    let fresh = get("timestamp")
        .and_then(|t| parse_wdt(t).ok())
        .is_some_and(|t| (now.timestamp() - from_beijing(t).timestamp()).abs() <= QIMEN_TIMESTAMP_SLACK_S);
    if !fresh {
        return Err(gateway(31, "Invalid Timestamp", None));
    }
    if get("target_app_key") != Some(QIMEN_TARGET_APP_KEY) {
        return Err(gateway(
            41,
            "Invalid arguments",
            Some("client-error:Invalid target_app_key"),
        ));
    }
    let method = match get("method") {
        Some(QIMEN_METHOD) => QIMEN_METHOD,
        Some(QIMEN_HISTORY_METHOD) => QIMEN_HISTORY_METHOD,
        _ => return Err(gateway(22, "Invalid Method", None)),
    };

    // From here on WDT answers, inside `response`.
    let (secret, salt) = wdt_secret_and_salt();
    if get("wdt3_customer_id") != Some(WDT_SID) {
        return Err(WdtError::new(1, "sid is not exists").into());
    }
    if get("wdt_appkey") != Some(WDT_APP_KEY) {
        return Err(WdtError::new(1, "app auth fail").into());
    }
    if get("wdt_salt") != Some(salt) {
        return Err(WdtError::new(1, "验证失败").into());
    }
    let app_params = params
        .iter()
        .filter(|(k, _)| !TOP_SYSTEM_PARAMS.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()));
    let wdt_sign = qimen_wdt_sign(app_params, method, secret);
    if !get("wdt_sign").is_some_and(|s| s.eq_ignore_ascii_case(&wdt_sign)) {
        return Err(WdtError::new(1, "验证失败").into());
    }
    let pager = json_object("pager", params.get("pager"))?;
    let pager_text = |k: &str| pager.get(k).and_then(text);
    let (page_size, page_index) = parse_pager(
        pager_text("page_size").as_deref(),
        pager_text("page_no").as_deref(),
        1,
        method,
    )?;
    let business = json_object("params", params.get("params"))?;
    let search = if method == QIMEN_HISTORY_METHOD {
        parse_history_search(&business)?
    } else {
        parse_search(&business)?
    };
    Ok((search, page_size, page_index))
}

fn qimen_fault(st: &mut State, fault: Fault, q: &Search, size: usize, index: usize) -> Reply {
    match fault {
        Fault::Throttle(Throttle::Wdt(message)) => {
            st.stats.throttled += 1;
            qimen_error_reply(st, QimenError::Wdt(WdtError::new(100, message)))
        }
        Fault::Throttle(Throttle::GatewayBan) => {
            st.stats.throttled += 1;
            qimen_error_reply(
                st,
                gateway(7, "App Call Limited", Some("This ban will last for 1 more seconds")),
            )
        }
        Fault::Transient(t) => {
            st.stats.transient_faults += 1;
            match t {
                Transient::BadGateway => Reply::html(502, HTML_502),
                Transient::Html => Reply::html(200, HTML_BUSY),
                Transient::DbError => qimen_error_reply(st, QimenError::Wdt(WdtError::new(4, DB_ERROR))),
                Transient::Truncated => {
                    let data = st.page(q, size, index, true, true);
                    st.stats.pages_served -= 1;
                    let status = qimen_status(st, 0);
                    let mut body = wrap_qimen(&status, &data);
                    body.truncate((body.len() / 2).max(1));
                    Reply::json(body)
                }
            }
        }
    }
}
