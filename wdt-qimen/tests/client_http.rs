//! HTTP integration tests of the client against a wiremock gateway (issue 2, item 8).
//!
//! [`Gateway`] is a stateful wiremock responder that plays either route. For EVERY request it
//! checks the fixed parameters against literal values and recomputes every signature with its
//! own code (independent of `wdt_qimen::sign`); a request that fails a check is recorded as a
//! problem and answered with an authentication error (never retried), and every test ends with
//! [`Gateway::assert_clean`]. It then serves pages of refunds from a list, or replays a script of
//! faults first. The first requests of both routes are also compared with literal values taken
//! from WDT's published examples (the native V3 request, the Qimen V5 `wdt_sign`) or computed once by hand
//! with an independent reference implementation of the three schemes.
//!
//! The gateway's clock is the test's: every answer's `Date` header says the time its request was
//! stamped with, so the client, which corrects its timestamps by the offset answers show, sends
//! the literal values.
//!
//! No test sleeps: retries wait through a recording [`Sleep`]; the tests where the rate limiter
//! pauses (gateway bans) run on a paused tokio clock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;
use futures::StreamExt;
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use wdt_qimen::client::ClientStats;
use wdt_qimen::limit::RateLimitConfig;
use wdt_qimen::retry::{RetryConfig, Sleep};
use wdt_qimen::server_time::format_http_date;
use wdt_qimen::sign::SignMethod;
use wdt_qimen::time::{from_beijing, from_epoch_ms, parse_wdt, Clock, WDT_EPOCH_UNIX};
use wdt_qimen::transport::{prepare, PageRequest, REFUND_SEARCH};
use wdt_qimen::{Client, Error, ErrorKind, QimenCredentials, Refund, RefundSearch, Route, WdtCredentials};

// ---------------------------------------------------------------------------------------------
// Credentials and literal values
// ---------------------------------------------------------------------------------------------

const SID: &str = "wdtapi3";
const WDT_KEY: &str = "wdtapi3-test9";
const WDT_APPSECRET: &str = "testsecret:testsalt";
const WDT_SECRET: &str = "testsecret";
const WDT_SALT: &str = "testsalt";
const QM_KEY: &str = "12345678";
const QM_SECRET: &str = "qmsecret";
const TARGET_APP_KEY: &str = "21363512";
const NATIVE_METHOD: &str = "aftersales.refund.Refund.search";
const QIMEN_METHOD: &str = "wdt.aftersales.refund.refund.search";

/// Unix time of the published native example V3: WDT timestamp 454601419.
const V3_UNIX: i64 = 1_779_948_619;
/// Unix time of 2026-01-02 03:04:05 in Beijing, the `datetime`/`timestamp` of V5/V6.
const V5_UNIX: i64 = 1_767_294_245;

/// Strings that must never appear in a Debug or Display (any sign seen is checked too).
const SECRETS: [&str; 3] = [WDT_SECRET, WDT_SALT, QM_SECRET];

// ---------------------------------------------------------------------------------------------
// Independent signing (a second implementation of the three schemes, for the responder)
// ---------------------------------------------------------------------------------------------

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Native sign: md5(secret + sorted k+v of every param except sign, with `body` + secret), lowercase.
fn expected_native_sign(query: &BTreeMap<String, String>, body: &str, secret: &str) -> String {
    let mut all: BTreeMap<&str, &str> = query
        .iter()
        .filter(|(k, _)| k.as_str() != "sign")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.insert("body", body);
    let concat: String = all.iter().map(|(k, v)| format!("{k}{v}")).collect();
    md5_hex(&format!("{secret}{concat}{secret}"))
}

/// `wdt_sign` flattening: sorted keys, `wdt3_customer_id`/`wdt_sign`/nulls skipped at every level,
/// JSON-string values parsed and flattened, lists without index keys.
fn flatten(out: &mut String, v: &Value) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                if k == "wdt3_customer_id" || k == "wdt_sign" || m[k].is_null() {
                    continue;
                }
                out.push_str(k);
                flatten(out, &m[k]);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| flatten(out, i)),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(inner @ (Value::Object(_) | Value::Array(_))) => flatten(out, &inner),
            _ => out.push_str(s),
        },
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Null => {}
    }
}

/// The inner `wdt_sign` over the form fields plus `method`.
fn expected_wdt_sign(form: &BTreeMap<String, String>, method: &str, secret: &str) -> String {
    let mut m: Map<String, Value> = form
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    m.insert("method".into(), Value::String(method.into()));
    let mut flat = String::new();
    flatten(&mut flat, &Value::Object(m));
    md5_hex(&format!("{secret}{flat}{secret}"))
}

/// TOP sign with `sign_method=md5`: UPPER(md5(secret + sorted k+v of query ∪ form + secret)).
fn expected_top_md5(query: &BTreeMap<String, String>, form: &BTreeMap<String, String>, secret: &str) -> String {
    let all: BTreeMap<&str, &str> = query
        .iter()
        .chain(form.iter())
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let concat: String = all.iter().map(|(k, v)| format!("{k}{v}")).collect();
    md5_hex(&format!("{secret}{concat}{secret}")).to_uppercase()
}

/// Records a problem unless `got` is `want`.
fn expect(problems: &mut Vec<String>, what: &str, got: Option<&String>, want: &str) {
    if got.map(String::as_str) != Some(want) {
        problems.push(format!("{what}: got {got:?}, want {want:?}"));
    }
}

// ---------------------------------------------------------------------------------------------
// The stateful gateway
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    Native,
    Qimen,
}

impl Wire {
    fn path(self) -> &'static str {
        match self {
            Wire::Native => "/openapi",
            Wire::Qimen => "/router/qm",
        }
    }
}

/// A scripted answer, served (after the checks) instead of a page.
#[derive(Debug, Clone)]
enum Reply {
    /// This HTTP status with an HTML body.
    Http(u16),
    /// HTTP 200 with this body (JSON or not).
    Body(String),
}

/// What the gateway saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    query: BTreeMap<String, String>,
    form: BTreeMap<String, String>,
    body: String,
    content_type: String,
    /// The wire page number.
    page_no: u32,
    page_size: u32,
    timestamp: String,
    /// `sign` (and, on Qimen, also `wdt_sign`).
    signs: Vec<String>,
}

struct GatewayState {
    wire: Wire,
    qimen_base: u32,
    refunds: Vec<Value>,
    /// Serve the first page whatever page_no says (a server that ignores page_no).
    ignore_page_no: bool,
    script: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
    problems: Mutex<Vec<String>>,
}

#[derive(Clone)]
struct Gateway(Arc<GatewayState>);

fn refund_json(id: i64) -> Value {
    json!({
        "refund_id": id,
        "refund_no": format!("TK{id:08}"),
        "modified": modified_ms(id),
        "status": 90,
        "type": 2,
        "actual_refund_amount": 12.5,
        "shop_no": "S01",
        "detail_list": [],
    })
}

fn modified_ms(id: i64) -> i64 {
    1_686_712_380_000 + id * 1_000
}

impl Gateway {
    fn new(wire: Wire, refund_count: i64) -> Self {
        Gateway(Arc::new(GatewayState {
            wire,
            qimen_base: 1,
            refunds: (1..=refund_count).map(refund_json).collect(),
            ignore_page_no: false,
            script: Mutex::new(VecDeque::new()),
            seen: Mutex::new(Vec::new()),
            problems: Mutex::new(Vec::new()),
        }))
    }

    fn with_qimen_base(self, base: u32) -> Self {
        let mut st = Arc::into_inner(self.0).expect("configure before sharing");
        st.qimen_base = base;
        Gateway(Arc::new(st))
    }

    fn ignoring_page_no(self) -> Self {
        let mut st = Arc::into_inner(self.0).expect("configure before sharing");
        st.ignore_page_no = true;
        Gateway(Arc::new(st))
    }

    /// Answers the next requests with these replies, in order, then serves pages.
    fn script(self, replies: impl IntoIterator<Item = Reply>) -> Self {
        self.0.script.lock().unwrap().extend(replies);
        self
    }

    fn seen(&self) -> Vec<Seen> {
        self.0.seen.lock().unwrap().clone()
    }

    fn requests(&self) -> usize {
        self.0.seen.lock().unwrap().len()
    }

    fn wire_pages(&self) -> Vec<u32> {
        self.seen().iter().map(|s| s.page_no).collect()
    }

    fn problems(&self) -> Vec<String> {
        self.0.problems.lock().unwrap().clone()
    }

    fn assert_clean(&self) {
        let problems = self.0.problems.lock().unwrap();
        assert!(problems.is_empty(), "the gateway rejected requests: {problems:#?}");
    }

    /// Every sign value the gateway saw.
    fn signs(&self) -> Vec<String> {
        self.seen().into_iter().flat_map(|s| s.signs).collect()
    }

    async fn mount(&self, server: &MockServer, expect: Option<u64>) {
        let mut mock = Mock::given(method("POST"))
            .and(path(self.0.wire.path()))
            .respond_with(self.clone());
        if let Some(n) = expect {
            mock = mock.expect(n);
        }
        mock.mount(server).await;
    }

    /// Checks one request; returns what it saw or the problems found.
    fn check(&self, req: &Request) -> Result<Seen, Vec<String>> {
        let st = &self.0;
        let mut problems = Vec::new();
        let query: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
        if query.len() != req.url.query_pairs().count() {
            problems.push(format!("duplicate query keys in {}", req.url));
        }
        let body = String::from_utf8(req.body.clone()).unwrap_or_else(|_| {
            problems.push("the body is not UTF-8".into());
            String::new()
        });
        let content_type = req
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let seen = match st.wire {
            Wire::Native => {
                let keys: Vec<&str> = query.keys().map(String::as_str).collect();
                let want_keys = [
                    "calc_total",
                    "key",
                    "method",
                    "page_no",
                    "page_size",
                    "salt",
                    "sid",
                    "sign",
                    "timestamp",
                    "v",
                ];
                if keys != want_keys {
                    problems.push(format!("native query keys {keys:?}"));
                }
                expect(&mut problems, "sid", query.get("sid"), SID);
                expect(&mut problems, "key", query.get("key"), WDT_KEY);
                expect(&mut problems, "salt", query.get("salt"), WDT_SALT);
                expect(&mut problems, "method", query.get("method"), NATIVE_METHOD);
                expect(&mut problems, "v", query.get("v"), "1.0");
                expect(&mut problems, "calc_total", query.get("calc_total"), "1");
                if !content_type.starts_with("application/json") {
                    problems.push(format!("native content type {content_type:?}"));
                }
                match serde_json::from_str::<Value>(&body) {
                    Ok(Value::Array(args)) if args.len() == 1 && args[0].is_object() => {
                        for (k, v) in args[0].as_object().unwrap() {
                            if v.is_null() || v.as_str() == Some("") {
                                problems.push(format!("null or empty param {k} sent"));
                            }
                        }
                    }
                    _ => problems.push(format!("native body is not [{{params}}]: {body}")),
                }
                if query.get("timestamp").and_then(|t| t.parse::<i64>().ok()).is_none() {
                    problems.push(format!("timestamp {:?} is not WDT seconds", query.get("timestamp")));
                }
                let sign = query.get("sign").cloned().unwrap_or_default();
                let want = expected_native_sign(&query, &body, WDT_SECRET);
                if sign != want {
                    problems.push(format!("native sign {sign}, recomputed {want}"));
                }
                Seen {
                    page_no: query.get("page_no").and_then(|p| p.parse().ok()).unwrap_or(u32::MAX),
                    page_size: query.get("page_size").and_then(|p| p.parse().ok()).unwrap_or(0),
                    timestamp: query.get("timestamp").cloned().unwrap_or_default(),
                    signs: vec![sign],
                    form: BTreeMap::new(),
                    query,
                    body,
                    content_type,
                }
            }
            Wire::Qimen => {
                let form: BTreeMap<String, String> =
                    url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
                let qkeys: Vec<&str> = query.keys().map(String::as_str).collect();
                let want_qkeys = [
                    "app_key",
                    "format",
                    "method",
                    "sign",
                    "sign_method",
                    "target_app_key",
                    "timestamp",
                    "v",
                ];
                if qkeys != want_qkeys {
                    problems.push(format!("qimen query keys {qkeys:?}"));
                }
                let fkeys: Vec<&str> = form.keys().map(String::as_str).collect();
                let want_fkeys = [
                    "datetime",
                    "pager",
                    "params",
                    "wdt3_customer_id",
                    "wdt_appkey",
                    "wdt_salt",
                    "wdt_sign",
                ];
                if fkeys != want_fkeys {
                    problems.push(format!("qimen form keys {fkeys:?}"));
                }
                expect(&mut problems, "method", query.get("method"), QIMEN_METHOD);
                expect(&mut problems, "app_key", query.get("app_key"), QM_KEY);
                expect(
                    &mut problems,
                    "target_app_key",
                    query.get("target_app_key"),
                    TARGET_APP_KEY,
                );
                expect(&mut problems, "format", query.get("format"), "json");
                expect(&mut problems, "v", query.get("v"), "2.0");
                expect(&mut problems, "sign_method", query.get("sign_method"), "md5");
                expect(&mut problems, "wdt_appkey", form.get("wdt_appkey"), WDT_KEY);
                expect(&mut problems, "wdt_salt", form.get("wdt_salt"), WDT_SALT);
                expect(&mut problems, "wdt3_customer_id", form.get("wdt3_customer_id"), SID);
                if query.get("timestamp") != form.get("datetime") {
                    problems.push("timestamp and datetime differ".into());
                }
                if !content_type.starts_with("application/x-www-form-urlencoded") {
                    problems.push(format!("qimen content type {content_type:?}"));
                }
                match form.get("params").map(|p| serde_json::from_str::<Value>(p)) {
                    Some(Ok(Value::Object(m))) => {
                        for (k, v) in m {
                            if v.is_null() || v.as_str() == Some("") {
                                problems.push(format!("null or empty param {k} sent"));
                            }
                        }
                    }
                    other => problems.push(format!("params is not a JSON object string: {other:?}")),
                }
                let wdt_sign = form.get("wdt_sign").cloned().unwrap_or_default();
                let want_wdt = expected_wdt_sign(&form, QIMEN_METHOD, WDT_SECRET);
                if wdt_sign != want_wdt {
                    problems.push(format!("wdt_sign {wdt_sign}, recomputed {want_wdt}"));
                }
                let sign = query.get("sign").cloned().unwrap_or_default();
                let want_top = expected_top_md5(&query, &form, QM_SECRET);
                if sign != want_top {
                    problems.push(format!("gateway sign {sign}, recomputed {want_top}"));
                }
                let pager: Value = form
                    .get("pager")
                    .and_then(|p| serde_json::from_str(p).ok())
                    .unwrap_or(Value::Null);
                Seen {
                    page_no: pager["page_no"].as_u64().map_or(u32::MAX, |n| n as u32),
                    page_size: pager["page_size"].as_u64().map_or(0, |n| n as u32),
                    timestamp: query.get("timestamp").cloned().unwrap_or_default(),
                    signs: vec![sign, wdt_sign],
                    query,
                    form,
                    body,
                    content_type,
                }
            }
        };
        if problems.is_empty() {
            Ok(seen)
        } else {
            Err(problems)
        }
    }

    fn envelope(&self, inner: Value) -> String {
        match self.0.wire {
            Wire::Native => inner.to_string(),
            Wire::Qimen => json!({ "response": inner }).to_string(),
        }
    }

    fn page(&self, seen: &Seen) -> String {
        let st = &self.0;
        let index = if st.ignore_page_no {
            0
        } else {
            match st.wire {
                Wire::Native => seen.page_no,
                Wire::Qimen => seen.page_no.saturating_sub(st.qimen_base),
            }
        } as usize;
        let size = seen.page_size.max(1) as usize;
        let order: Vec<Value> = st.refunds.iter().skip(index * size).take(size).cloned().collect();
        match st.wire {
            // Native: numbers.
            Wire::Native => json!({"status": 0, "data": {"total_count": st.refunds.len(), "order": order}}).to_string(),
            // Qimen: status and total_count as strings, as some gateways send them.
            Wire::Qimen => self.envelope(
                json!({"status": "0", "data": {"total_count": st.refunds.len().to_string(), "order": order}}),
            ),
        }
    }
}

impl Respond for Gateway {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let seen = match self.check(req) {
            Ok(seen) => seen,
            Err(problems) => {
                self.0.problems.lock().unwrap().extend(problems);
                // Never retried by the client, so a bad request fails its test at once.
                let auth = match self.0.wire {
                    Wire::Native => json!({"status": 1, "message": "验证失败"}).to_string(),
                    Wire::Qimen => {
                        json!({"response": {"flag": "failure", "code": 25, "message": "Invalid signature"}}).to_string()
                    }
                };
                return ResponseTemplate::new(200).set_body_raw(auth, "application/json;charset=utf-8");
            }
        };
        self.0.seen.lock().unwrap().push(seen.clone());
        let scripted = self.0.script.lock().unwrap().pop_front();
        let template = match scripted {
            Some(Reply::Http(status)) => ResponseTemplate::new(status).set_body_raw(
                format!("<html><head><title>{status}</title></head><body>nginx</body></html>"),
                "text/html",
            ),
            Some(Reply::Body(text)) => ResponseTemplate::new(200).set_body_raw(text, "application/json;charset=utf-8"),
            None => ResponseTemplate::new(200).set_body_raw(self.page(&seen), "application/json;charset=utf-8"),
        };
        // The gateway's clock agrees with the request's timestamp.
        let stamped = match self.0.wire {
            Wire::Native => seen
                .timestamp
                .parse::<i64>()
                .ok()
                .and_then(|t| DateTime::from_timestamp(t + WDT_EPOCH_UNIX, 0)),
            Wire::Qimen => parse_wdt(&seen.timestamp).ok().map(from_beijing),
        };
        match stamped {
            Some(t) => template.insert_header("Date", format_http_date(t).as_str()),
            None => template,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Clock, sleep, client
// ---------------------------------------------------------------------------------------------

/// A clock that starts at `start` and moves `step` seconds at every reading (0 = fixed).
#[derive(Debug)]
struct StepClock {
    start: DateTime<Utc>,
    step: i64,
    readings: AtomicI64,
}

impl StepClock {
    fn fixed(unix: i64) -> Arc<Self> {
        Self::stepping(unix, 0)
    }

    fn stepping(unix: i64, step: i64) -> Arc<Self> {
        Arc::new(Self {
            start: DateTime::from_timestamp(unix, 0).unwrap(),
            step,
            readings: AtomicI64::new(0),
        })
    }
}

impl Clock for StepClock {
    fn now(&self) -> DateTime<Utc> {
        let n = self.readings.fetch_add(1, Ordering::SeqCst);
        self.start + TimeDelta::seconds(n * self.step)
    }
}

/// Records every retry wait. It returns at once, or (on a paused tokio clock) sleeps in tokio
/// time, which the paused clock skips.
#[derive(Debug, Default)]
struct RecordingSleep {
    tokio_time: bool,
    waits: Mutex<Vec<Duration>>,
}

impl RecordingSleep {
    fn waits(&self) -> Vec<Duration> {
        self.waits.lock().unwrap().clone()
    }
}

impl Sleep for RecordingSleep {
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        self.waits.lock().unwrap().push(d);
        if self.tokio_time {
            Box::pin(tokio::time::sleep(d))
        } else {
            Box::pin(async {})
        }
    }
}

fn wdt_credentials() -> WdtCredentials {
    WdtCredentials::new(SID, WDT_KEY, WDT_APPSECRET).unwrap()
}

fn route(server: &MockServer, wire: Wire) -> Route {
    let url = format!("{}{}", server.uri(), wire.path());
    match wire {
        Wire::Native => Route::Native {
            url,
            wdt: wdt_credentials(),
        },
        Wire::Qimen => Route::Qimen {
            url,
            qimen: QimenCredentials::new(QM_KEY, QM_SECRET).unwrap(),
            wdt: wdt_credentials(),
        },
    }
}

struct Harness {
    /// Kept alive for the test (its `.expect(n)` is verified when it drops).
    _server: MockServer,
    gateway: Gateway,
    client: Client,
    sleep: Arc<RecordingSleep>,
}

impl Harness {
    /// A gateway and a client of it. `paused`: the test runs on a paused tokio clock, so the
    /// client gets an HTTP client without timers (a paused clock would fire its timeouts while
    /// the mock server, on its own thread, answers) and the sleep waits in tokio time.
    async fn new(gateway: Gateway, clock: Arc<dyn Clock>, paused: bool, expect: Option<u64>) -> Self {
        let server = MockServer::start().await;
        gateway.mount(&server, expect).await;
        let sleep = Arc::new(RecordingSleep {
            tokio_time: paused,
            ..RecordingSleep::default()
        });
        let mut builder = Client::builder(route(&server, gateway.0.wire))
            .retry(RetryConfig::default())
            .rate_limit(RateLimitConfig::unlimited())
            .clock(clock)
            .sleep(sleep.clone())
            .qimen_page_base(gateway.0.qimen_base);
        if paused {
            builder = builder.http_client(reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap());
        }
        let client = builder.build().unwrap();
        Harness {
            _server: server,
            gateway,
            client,
            sleep,
        }
    }

    async fn simple(wire: Wire, refunds: i64, replies: Vec<Reply>) -> Self {
        Self::new(
            Gateway::new(wire, refunds).script(replies),
            StepClock::fixed(V3_UNIX),
            false,
            None,
        )
        .await
    }

    /// Checks the gateway saw only valid requests, and that the client and `errors` leak nothing.
    fn finish(&self, errors: &[&Error]) {
        self.gateway.assert_clean();
        let signs = self.gateway.signs();
        assert!(!signs.is_empty());
        for e in errors {
            assert_redacted(&format!("{e}"), &signs);
            assert_redacted(&format!("{e:?}"), &signs);
        }
        assert_redacted(&format!("{:?}", self.client), &signs);
        assert_redacted(&format!("{:#?}", self.client), &signs);
    }

    fn stats(&self) -> ClientStats {
        self.client.stats()
    }
}

fn assert_redacted(text: &str, signs: &[String]) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret:?} leaked in: {text}");
    }
    for sign in signs {
        assert!(!sign.is_empty());
        assert!(
            !text.to_lowercase().contains(&sign.to_lowercase()),
            "sign {sign} leaked in: {text}"
        );
    }
}

fn v3_search() -> RefundSearch {
    RefundSearch::modified_between("2020-01-01 00:00:00", "2020-01-20 00:00:00")
        .unwrap()
        .page_size(200)
        .unwrap()
}

fn v5_search() -> RefundSearch {
    RefundSearch::modified_between("2020-01-01 00:00:00", "2020-01-20 00:00:00")
        .unwrap()
        .status(90)
        .fuzzy_query(false)
        .page_size(100)
        .unwrap()
}

fn small_pages(size: u32) -> RefundSearch {
    RefundSearch::modified_between("2024-06-01 00:00:00", "2024-06-02 00:00:00")
        .unwrap()
        .page_size(size)
        .unwrap()
}

fn ids(refunds: &[Refund]) -> Vec<i64> {
    refunds.iter().map(|r| r.refund_id).collect()
}

async fn collect_items(client: &Client, search: RefundSearch) -> (Vec<Refund>, Option<Error>) {
    let mut items = Vec::new();
    let mut stream = client.refund_pages(search).items();
    while let Some(next) = stream.next().await {
        match next {
            Ok(r) => items.push(r),
            Err(e) => {
                assert!(stream.next().await.is_none(), "an error must be the last item");
                return (items, Some(e));
            }
        }
    }
    (items, None)
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn native_error(status: i64, message: &str) -> Reply {
    Reply::Body(json!({"status": status, "message": message}).to_string())
}

fn qimen_inner_error(status: i64, message: &str) -> Reply {
    Reply::Body(json!({"response": {"status": status, "message": message}}).to_string())
}

fn gateway_failure(code: i64, message: &str, sub_message: Option<&str>) -> Reply {
    let mut inner = json!({"flag": "failure", "code": code, "message": message, "request_id": "abc123"});
    if let Some(sub) = sub_message {
        inner["sub_message"] = Value::String(sub.into());
    }
    Reply::Body(json!({ "response": inner }).to_string())
}

// ---------------------------------------------------------------------------------------------
// 1. Literal requests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn native_first_page_request_is_vector_v3_literally() {
    let h = Harness::simple(Wire::Native, 3, vec![]).await;
    let page = h.client.refund_page(&v3_search(), 1).await.unwrap();
    assert_eq!(ids(&page.items), [1, 2, 3]);
    assert_eq!(page.total_count, Some(3));
    assert_eq!(page.page_no, 1);
    let seen = h.gateway.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].query,
        map(&[
            ("sid", "wdtapi3"),
            ("key", "wdtapi3-test9"),
            ("salt", "testsalt"),
            ("method", "aftersales.refund.Refund.search"),
            ("v", "1.0"),
            ("timestamp", "454601419"),
            ("page_size", "200"),
            ("page_no", "0"),
            ("calc_total", "1"),
            ("sign", "b10ba319a20d07ec8be942bef901c537"),
        ])
    );
    assert_eq!(
        seen[0].body,
        r#"[{"modified_from":"2020-01-01 00:00:00","modified_to":"2020-01-20 00:00:00"}]"#
    );
    assert!(seen[0].content_type.starts_with("application/json"));
    // The decoded refunds: epoch-ms `modified` read as Beijing wall time.
    assert_eq!(page.items[0].modified, from_epoch_ms(modified_ms(1)));
    assert_eq!(page.items[2].refund_no.as_deref(), Some("TK00000003"));
    h.finish(&[]);
}

#[tokio::test]
async fn qimen_first_page_request_is_vector_v5_literally() {
    let h = Harness::new(Gateway::new(Wire::Qimen, 2), StepClock::fixed(V5_UNIX), false, None).await;
    let page = h.client.refund_page(&v5_search(), 1).await.unwrap();
    assert_eq!(ids(&page.items), [1, 2]);
    assert_eq!(page.total_count, Some(2));
    let seen = h.gateway.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].query,
        map(&[
            ("method", "wdt.aftersales.refund.refund.search"),
            ("app_key", "12345678"),
            ("target_app_key", "21363512"),
            ("timestamp", "2026-01-02 03:04:05"),
            ("format", "json"),
            ("v", "2.0"),
            ("sign_method", "md5"),
            // By hand with the reference TOP sign (V6's inputs, but `params` as this SDK
            // sends it, keys sorted; V6's own order gives F4AB2214BA4918A16C07A350D67D84AC).
            ("sign", "2B4B7EC7D72ADE273E64B25184A896FB"),
        ])
    );
    assert_eq!(
        seen[0].form,
        map(&[
            (
                "params",
                r#"{"fuzzy_query":false,"modified_from":"2020-01-01 00:00:00","modified_to":"2020-01-20 00:00:00","status":90}"#
            ),
            ("pager", r#"{"page_size":100,"page_no":1}"#),
            ("datetime", "2026-01-02 03:04:05"),
            ("wdt_appkey", "wdtapi3-test9"),
            ("wdt_salt", "testsalt"),
            ("wdt3_customer_id", "wdtapi3"),
            // V5.
            ("wdt_sign", "9f7a85182a4b43674651a877dfaa2e11"),
        ])
    );
    // The exact bytes posted (python urllib.parse.urlencode of the same fields, in send order).
    assert_eq!(
        seen[0].body,
        "params=%7B%22fuzzy_query%22%3Afalse%2C%22modified_from%22%3A%222020-01-01+00%3A00%3A00%22%2C\
         %22modified_to%22%3A%222020-01-20+00%3A00%3A00%22%2C%22status%22%3A90%7D\
         &datetime=2026-01-02+03%3A04%3A05&wdt_appkey=wdtapi3-test9&wdt_salt=testsalt\
         &wdt3_customer_id=wdtapi3&pager=%7B%22page_size%22%3A100%2C%22page_no%22%3A1%7D\
         &wdt_sign=9f7a85182a4b43674651a877dfaa2e11"
    );
    assert!(seen[0].content_type.starts_with("application/x-www-form-urlencoded"));
    h.finish(&[]);
}

#[test]
fn qimen_hmac_gateway_signs_match_hand_computed_values() {
    // The request of the test above with the other two sign methods (values from the reference TOP sign).
    let now = DateTime::from_timestamp(V5_UNIX, 0).unwrap();
    for (method, want) in [
        (SignMethod::Hmac, "4C8ABFCAB947B4369882C636F9044032"),
        (
            SignMethod::HmacSha256,
            "92BEF297EC743FFFD44FC148B7B19DA887DB3ABDA2A0A99D5AEA6A24B568F0D2",
        ),
    ] {
        let route = Route::Qimen {
            url: "http://127.0.0.1:9/router/qm".into(),
            qimen: QimenCredentials::new(QM_KEY, QM_SECRET)
                .unwrap()
                .with_sign_method(method),
            wdt: wdt_credentials(),
        };
        let page = PageRequest {
            page_no: 1,
            page_size: 100,
        };
        let p = prepare(&route, &REFUND_SEARCH, &v5_search().to_params(), Some(page), now);
        let q: BTreeMap<_, _> = p.query.iter().cloned().collect();
        assert_eq!(q["sign_method"], method.as_str());
        assert_eq!(q["sign"], want, "{method}");
        assert!(p.body.ends_with("&wdt_sign=9f7a85182a4b43674651a877dfaa2e11"));
        assert_redacted(
            &format!("{p:?}"),
            &[want.to_owned(), "9f7a85182a4b43674651a877dfaa2e11".into()],
        );
    }
}

#[tokio::test]
async fn generic_calls_send_params_in_the_form_every_official_helper_signs_alike() {
    // Nested nulls dropped, numbers in the one text WDT's PHP and Java helpers both print.
    let params: Map<String, Value> = serde_json::from_str(
        r#"{"modified_from":"2020-01-01 00:00:00","modified_to":"2020-01-20 00:00:00",
            "a":null,"b":{"c":null,"d":1.50},"e":-0.0,"f":[2.0,"x"]}"#,
    )
    .unwrap();
    let want = r#"{"b":{"d":1.5},"e":0,"f":[2,"x"],"modified_from":"2020-01-01 00:00:00","modified_to":"2020-01-20 00:00:00"}"#;
    for wire in [Wire::Native, Wire::Qimen] {
        let h = Harness::simple(wire, 1, vec![]).await;
        let page = PageRequest {
            page_no: 1,
            page_size: 10,
        };
        let got = h
            .client
            .call_page::<Refund>(REFUND_SEARCH, &params, page)
            .await
            .unwrap();
        assert_eq!(ids(&got.items), [1]);
        let seen = h.gateway.seen();
        match wire {
            Wire::Native => assert_eq!(seen[0].body, format!("[{want}]")),
            Wire::Qimen => assert_eq!(seen[0].form["params"], want),
        }
        h.finish(&[]);
    }
}

#[tokio::test]
async fn params_the_official_helpers_sign_differently_are_refused_before_any_request() {
    let cases = [
        (r#"{"a":[true]}"#, "params.a[0]", "boolean"),
        (r#"{"a":["{\"x\":1}"]}"#, "params.a[0]", "starts like JSON"),
        (r#"{"a":{"b":1e-7}}"#, "params.a.b", "1e-7"),
        (r#"{"a":18446744073709551621}"#, "params.a", "18446744073709551621"),
        (r#"{"a":[[1]]}"#, "params.a[0]", "inside a list"),
        (r#"{"10":1}"#, "params", "\"10\""),
    ];
    let page = PageRequest {
        page_no: 1,
        page_size: 10,
    };
    for wire in [Wire::Native, Wire::Qimen] {
        let h = Harness::new(Gateway::new(wire, 1), StepClock::fixed(V3_UNIX), false, Some(0)).await;
        for (params, path, says) in cases {
            let p: Map<String, Value> = serde_json::from_str(params).unwrap();
            let paged = h.client.call_page::<Refund>(REFUND_SEARCH, &p, page).await.unwrap_err();
            let unpaged = h.client.call::<Value>(REFUND_SEARCH, &p).await.unwrap_err();
            for e in [paged, unpaged] {
                assert_eq!(e.kind(), ErrorKind::Config, "{params}: {e}");
                let text = e.to_string();
                assert!(text.contains(path) && text.contains(says), "{params}: {text}");
            }
        }
        // A text filter of a RefundSearch that is itself JSON.
        let e = h.client.refund_page(&v3_search().tid("[true]"), 1).await.unwrap_err();
        assert!(e.to_string().contains("params.tid"), "{e}");
        if wire == Wire::Qimen {
            // A Qimen method name PHP's helper would cut and Java's would not.
            let prefixed = wdt_qimen::transport::ApiMethod {
                native: NATIVE_METHOD,
                qimen: "3ldsmu02o9.wdt.aftersales.refund.refund.search",
            };
            let e = h.client.call::<Value>(prefixed, &Map::new()).await.unwrap_err();
            assert!(e.to_string().contains("wdt."), "{e}");
        }
        assert_eq!((h.gateway.requests(), h.stats().requests), (0, 0));
    }
}

#[tokio::test]
async fn the_gateway_rejects_requests_signed_with_a_wrong_secret() {
    // The responder's checks are live: a wrong secret on either side fails them.
    let wrong_wdt = WdtCredentials::new(SID, WDT_KEY, "wrongsecret:testsalt").unwrap();
    let wrong_salt = WdtCredentials::new(SID, WDT_KEY, "testsecret:wrongsalt").unwrap();
    for (wire, case) in [(Wire::Native, 0), (Wire::Native, 1), (Wire::Qimen, 0), (Wire::Qimen, 2)] {
        let server = MockServer::start().await;
        let gw = Gateway::new(wire, 1);
        gw.mount(&server, Some(1)).await;
        let url = format!("{}{}", server.uri(), wire.path());
        let wdt = if case == 1 {
            wrong_salt.clone()
        } else {
            wrong_wdt.clone()
        };
        let r = match (wire, case) {
            (Wire::Native, _) => Route::Native { url, wdt },
            (Wire::Qimen, 2) => Route::Qimen {
                url,
                qimen: QimenCredentials::new(QM_KEY, "wrongqimen").unwrap(),
                wdt: wdt_credentials(),
            },
            (Wire::Qimen, _) => Route::Qimen {
                url,
                qimen: QimenCredentials::new(QM_KEY, QM_SECRET).unwrap(),
                wdt,
            },
        };
        let client = Client::builder(r)
            .rate_limit(RateLimitConfig::unlimited())
            .build()
            .unwrap();
        let e = client.refund_page(&small_pages(5), 1).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Auth, "{wire:?} {case}: {e}");
        let problems = gw.problems();
        let want = match (wire, case) {
            (Wire::Native, 0) => "native sign",
            (Wire::Native, _) => "salt",
            (Wire::Qimen, 2) => "gateway sign",
            (Wire::Qimen, _) => "wdt_sign",
        };
        assert!(
            problems.iter().any(|p| p.starts_with(want)),
            "{wire:?} {case}: {problems:?}"
        );
        assert_eq!(client.stats().requests, 1);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Pagination
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn native_pages_from_zero_and_stops_after_the_announced_last_page() {
    // 6 refunds, 2 a page: 3 full pages; total_count says page 3 is the last, so no page 4.
    let h = Harness::simple(Wire::Native, 6, vec![]).await;
    let (items, err) = collect_items(&h.client, small_pages(2)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&items), [1, 2, 3, 4, 5, 6]);
    assert_eq!(h.gateway.wire_pages(), [0, 1, 2]);
    assert!(h.gateway.seen().iter().all(|s| s.page_size == 2));
    assert_eq!(h.stats().requests, 3);
    h.finish(&[]);
}

#[tokio::test]
async fn qimen_pages_from_one_and_stops_after_the_announced_last_page() {
    let h = Harness::simple(Wire::Qimen, 6, vec![]).await;
    let (items, err) = collect_items(&h.client, small_pages(2)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&items), [1, 2, 3, 4, 5, 6]);
    assert_eq!(h.gateway.wire_pages(), [1, 2, 3]);
    h.finish(&[]);
}

#[tokio::test]
async fn a_short_last_page_ends_the_stream() {
    for wire in [Wire::Native, Wire::Qimen] {
        let h = Harness::simple(wire, 5, vec![]).await;
        let (items, err) = collect_items(&h.client, small_pages(2)).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(ids(&items), [1, 2, 3, 4, 5]);
        assert_eq!(h.gateway.requests(), 3, "{wire:?}");
        h.finish(&[]);
    }
}

#[tokio::test]
async fn qimen_page_base_zero_sends_zero_first() {
    let gw = Gateway::new(Wire::Qimen, 4).with_qimen_base(0);
    let h = Harness::new(gw, StepClock::fixed(V5_UNIX), false, None).await;
    let (items, err) = collect_items(&h.client, small_pages(2)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&items), [1, 2, 3, 4]);
    assert_eq!(h.gateway.wire_pages(), [0, 1]);
    h.finish(&[]);
}

#[tokio::test]
async fn single_pages_by_number_on_both_routes() {
    for (wire, wire_no) in [(Wire::Native, 2), (Wire::Qimen, 3)] {
        let h = Harness::simple(wire, 7, vec![]).await;
        let page = h.client.refund_page(&small_pages(3), 3).await.unwrap();
        assert_eq!(ids(&page.items), [7]);
        assert_eq!(
            (page.page_no, page.total_count, page.last_page_no()),
            (3, Some(7), Some(3))
        );
        assert_eq!(h.gateway.wire_pages(), [wire_no]);
        // Page 0 does not exist on either route: refused before anything is sent.
        let e = h.client.refund_page(&small_pages(3), 0).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert_eq!(h.gateway.requests(), 1);
        h.finish(&[&e]);
    }
}

#[tokio::test]
async fn a_server_that_ignores_page_no_ends_with_repeated_page() {
    for wire in [Wire::Native, Wire::Qimen] {
        let h = Harness::new(
            Gateway::new(wire, 10).ignoring_page_no(),
            StepClock::fixed(V3_UNIX),
            false,
            None,
        )
        .await;
        let (items, err) = collect_items(&h.client, small_pages(2)).await;
        assert_eq!(ids(&items), [1, 2]);
        let err = err.expect("a repeated page is an error");
        assert!(
            matches!(
                err,
                Error::RepeatedPage {
                    page_no: 2,
                    previous: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.is_retryable());
        assert_eq!(h.gateway.requests(), 2, "{wire:?}");
        h.finish(&[&err]);
    }
}

// ---------------------------------------------------------------------------------------------
// 3. A retry after each retryable kind
// ---------------------------------------------------------------------------------------------

/// One fault, then the page: the page arrives after exactly one retry.
async fn one_retry(wire: Wire, fault: Reply) -> (Harness, Duration) {
    let h = Harness::simple(wire, 3, vec![fault.clone()]).await;
    let page = h
        .client
        .refund_page(&small_pages(10), 1)
        .await
        .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
    assert_eq!(ids(&page.items), [1, 2, 3], "{fault:?}");
    assert_eq!(h.gateway.requests(), 2, "{fault:?}");
    let waits = h.sleep.waits();
    assert_eq!(waits.len(), 1, "{fault:?}");
    let s = h.stats();
    assert_eq!((s.requests, s.retries), (2, 1), "{fault:?}");
    // Every retry is a new exchange, signed again (here at the same fixed time).
    let seen = h.gateway.seen();
    assert_eq!(seen[0].page_no, seen[1].page_no);
    h.gateway.assert_clean();
    let wait = waits[0];
    (h, wait)
}

#[tokio::test]
async fn transient_failures_are_retried_with_a_short_backoff() {
    let truncated = r#"{"status":0,"data":{"total_count":3,"order":[{"refund_id":1,"refund_no":"TK0"#;
    let html = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
    let cases = [
        (Wire::Native, Reply::Http(502)),
        (Wire::Qimen, Reply::Http(503)),
        (Wire::Native, Reply::Body(truncated.into())),
        (
            Wire::Qimen,
            Reply::Body(format!(r#"{{"response":{}"#, &truncated[..40])),
        ),
        (Wire::Native, Reply::Body(html.into())),
        (Wire::Qimen, Reply::Body(html.into())),
        (Wire::Native, Reply::Body(String::new())),
        (Wire::Native, native_error(4, "数据库错误")),
        (Wire::Native, native_error(5, "database error")),
        (Wire::Qimen, qimen_inner_error(4, "数据库错误")),
        (Wire::Qimen, gateway_failure(10, "Service Currently Unavailable", None)),
    ];
    for (wire, fault) in cases {
        let (h, wait) = one_retry(wire, fault.clone()).await;
        // Full jitter on the first retry: within [0, base].
        assert!(wait <= RetryConfig::default().base, "{fault:?}: {wait:?}");
        let s = h.stats();
        assert_eq!((s.transient_failures, s.throttles), (1, 0), "{fault:?}");
        h.finish(&[]);
    }
}

#[tokio::test]
async fn the_transient_error_itself_is_classified_and_redacted() {
    // Without retries, the first failure comes back as is.
    let faults = [
        (Reply::Http(502), "HTTP 502"),
        (Reply::Body("<html>oops</html>".into()), "not a JSON object"),
        (Reply::Body(r#"{"status":0,"data":{"order":[{"#.into()), "cannot decode"),
        (native_error(4, "数据库错误"), "WDT status 4"),
    ];
    for (fault, text) in faults {
        let server = MockServer::start().await;
        let gw = Gateway::new(Wire::Native, 1).script([fault.clone()]);
        gw.mount(&server, Some(1)).await;
        let client = Client::builder(route(&server, Wire::Native))
            .retry(RetryConfig::disabled())
            .rate_limit(RateLimitConfig::unlimited())
            .build()
            .unwrap();
        let e = client.refund_page(&small_pages(5), 1).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transient, "{fault:?}: {e}");
        assert!(e.is_retryable());
        assert!(e.to_string().contains(text), "{e}");
        gw.assert_clean();
        let signs = gw.signs();
        assert_redacted(&e.to_string(), &signs);
        assert_redacted(&format!("{e:?}"), &signs);
        assert_eq!(client.stats().retries, 0);
    }
}

#[tokio::test]
async fn native_timestamp_rejection_is_retried_once_with_a_fresh_timestamp() {
    // The clock moves 5 s at every reading: the retry is stamped and signed anew.
    let h = Harness::new(
        Gateway::new(Wire::Native, 2).script([native_error(7, "时间戳错误")]),
        StepClock::stepping(V3_UNIX, 5),
        false,
        None,
    )
    .await;
    let page = h.client.refund_page(&v3_search(), 1).await.unwrap();
    assert_eq!(ids(&page.items), [1, 2]);
    let seen = h.gateway.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].timestamp, "454601419");
    assert_eq!(seen[0].query["sign"], "b10ba319a20d07ec8be942bef901c537");
    // By hand with the reference native sign (unix 1779948624).
    assert_eq!(seen[1].timestamp, "454601424");
    assert_eq!(seen[1].query["sign"], "675b917f058901967fb40cc137682dd2");
    assert_eq!(seen[0].body, seen[1].body);
    // A timestamp rejection is retried at once.
    assert_eq!(h.sleep.waits(), [Duration::ZERO]);
    assert_eq!(h.stats().retries, 1);
    h.finish(&[]);
}

#[tokio::test]
async fn qimen_timestamp_rejection_is_retried_once_with_a_fresh_timestamp() {
    let h = Harness::new(
        Gateway::new(Wire::Qimen, 2).script([gateway_failure(31, "Invalid Timestamp", None)]),
        StepClock::stepping(V5_UNIX, 5),
        false,
        None,
    )
    .await;
    let page = h.client.refund_page(&v5_search(), 1).await.unwrap();
    assert_eq!(ids(&page.items), [1, 2]);
    let seen = h.gateway.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].timestamp, "2026-01-02 03:04:05");
    assert_eq!(seen[0].form["wdt_sign"], "9f7a85182a4b43674651a877dfaa2e11");
    assert_eq!(seen[0].query["sign"], "2B4B7EC7D72ADE273E64B25184A896FB");
    // By hand with the reference signs (datetime = timestamp = 2026-01-02 03:04:10).
    assert_eq!(seen[1].timestamp, "2026-01-02 03:04:10");
    assert_eq!(seen[1].form["datetime"], "2026-01-02 03:04:10");
    assert_eq!(seen[1].form["wdt_sign"], "0d6cb2d26507a24548b48e45423ce01b");
    assert_eq!(seen[1].query["sign"], "B9B20949ABFA41298DFF399C8613F698");
    assert_eq!(h.sleep.waits(), [Duration::ZERO]);
    h.finish(&[]);
}

#[tokio::test]
async fn a_timestamp_rejection_is_retried_only_once() {
    for (wire, fault) in [
        (Wire::Native, native_error(7, "时间戳错误")),
        (Wire::Qimen, gateway_failure(31, "Invalid Timestamp", None)),
    ] {
        let h = Harness::new(
            Gateway::new(wire, 2).script([fault.clone(), fault.clone(), fault]),
            StepClock::stepping(V3_UNIX, 1),
            false,
            None,
        )
        .await;
        let e = h.client.refund_page(&small_pages(5), 1).await.unwrap_err();
        assert_eq!(h.gateway.requests(), 2, "{wire:?}");
        assert!(
            matches!(&e, Error::RetriesExhausted { attempts: 2, last, .. } if last.kind() == ErrorKind::Timestamp),
            "{e:?}"
        );
        let seen = h.gateway.seen();
        assert_ne!(seen[0].timestamp, seen[1].timestamp);
        assert_ne!(seen[0].signs, seen[1].signs);
        assert_eq!(h.stats().retries, 1);
        h.finish(&[&e]);
    }
}

#[tokio::test]
async fn native_throttles_are_retried_after_the_throttle_floor() {
    let messages = [
        "超过每分钟最大调用频率限制，请稍后重试",
        "超过每分钟最大调用频率限制,请稍后重试",
        "超过每分钟最大并发次数限制，请稍后重试",
        "超过每分钟最大并发次数限制,请稍后重试",
    ];
    let cfg = RetryConfig::default();
    for (wire, fault) in messages
        .iter()
        .map(|m| (Wire::Native, native_error(100, m)))
        .chain([(Wire::Qimen, qimen_inner_error(100, messages[0]))])
    {
        let (h, wait) = one_retry(wire, fault.clone()).await;
        // No hint from the server: at least the throttle floor, at most the throttle cap.
        assert!(
            wait >= cfg.throttle_min_wait && wait <= cfg.throttle_cap,
            "{fault:?}: {wait:?}"
        );
        let s = h.stats();
        assert_eq!((s.throttles, s.transient_failures), (1, 0), "{fault:?}");
        // An unlimited limiter only pauses; it does not invent a rate (see limit.rs).
        assert!(h.client.limiter().current_rate().is_infinite(), "{fault:?}");
        h.finish(&[]);
    }
}

#[tokio::test(start_paused = true)]
async fn a_gateway_ban_waits_at_least_the_announced_seconds_plus_one() {
    let top_style = r#"{"error_response":{"code":7,"msg":"App Call Limited","sub_code":"accesscontrol.limited-by-app-access-count","sub_msg":"This ban will last for 5 more seconds","request_id":"abc"}}"#;
    for (n, fault) in [
        (
            17u64,
            gateway_failure(7, "App Call Limited", Some("This ban will last for 17 more seconds")),
        ),
        (
            3,
            gateway_failure(7, "App Call Limited", Some("This ban will last for 3 more seconds")),
        ),
        // The text in `message` (no sub_message) is read as well.
        (
            42,
            gateway_failure(7, "App Call Limited, This ban will last for 42 more seconds", None),
        ),
        // The TOP shape (`error_response`, `msg`/`sub_msg`).
        (5, Reply::Body(top_style.into())),
    ] {
        let h = Harness::new(
            Gateway::new(Wire::Qimen, 3).script([fault]),
            StepClock::fixed(V5_UNIX),
            true,
            None,
        )
        .await;
        let t0 = tokio::time::Instant::now();
        let page = h.client.refund_page(&small_pages(10), 1).await.unwrap();
        assert_eq!(ids(&page.items), [1, 2, 3]);
        assert_eq!(h.gateway.requests(), 2);
        let waits = h.sleep.waits();
        assert_eq!(waits.len(), 1);
        let hint = Duration::from_secs(n + 1);
        assert!(
            waits[0] >= hint && waits[0] <= hint + hint / 4,
            "ban {n}: {:?}",
            waits[0]
        );
        // Paused tokio time, not wall time: the retry came after the ban was over.
        assert!(tokio::time::Instant::now() - t0 >= hint);
        let s = h.stats();
        assert_eq!((s.requests, s.retries, s.throttles), (2, 1, 1));
        h.finish(&[]);
    }
}

#[tokio::test(start_paused = true)]
async fn a_throttle_without_hint_waits_the_floor_in_tokio_time() {
    let h = Harness::new(
        Gateway::new(Wire::Native, 1).script([native_error(100, "超过每分钟最大调用频率限制，请稍后重试")]),
        StepClock::fixed(V3_UNIX),
        true,
        None,
    )
    .await;
    let t0 = tokio::time::Instant::now();
    h.client.refund_page(&small_pages(10), 1).await.unwrap();
    assert!(tokio::time::Instant::now() - t0 >= RetryConfig::default().throttle_min_wait);
    assert_eq!(h.gateway.requests(), 2);
    h.finish(&[]);
}

#[tokio::test(start_paused = true)]
async fn an_absurd_ban_is_clamped_to_the_throttle_cap_and_does_not_stall_later_calls() {
    let cap = RetryConfig::default().throttle_cap;
    for n in ["1000000000000", "18446744073709551615", "99999999999999999999999"] {
        let sub = format!("This ban will last for {n} more seconds");
        let h = Harness::new(
            Gateway::new(Wire::Qimen, 3).script([gateway_failure(7, "App Call Limited", Some(&sub))]),
            StepClock::fixed(V5_UNIX),
            true,
            None,
        )
        .await;
        let t0 = tokio::time::Instant::now();
        let page = h.client.refund_page(&small_pages(10), 1).await.unwrap();
        assert_eq!(ids(&page.items), [1, 2, 3], "ban {n}");
        assert_eq!(h.sleep.waits(), [cap], "ban {n}");
        // The next call of the same client (the next `--every` run) is not held by the ban
        // either: in paused tokio time, both calls together took one clamped wait.
        h.client.refund_page(&small_pages(10), 1).await.unwrap();
        assert_eq!(h.sleep.waits().len(), 1);
        assert!(tokio::time::Instant::now() - t0 <= cap + cap / 4, "ban {n}");
        assert_eq!(h.gateway.requests(), 3);
        h.finish(&[]);
    }
}

// ---------------------------------------------------------------------------------------------
// 4. No retry on Auth or InvalidRequest
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn auth_and_invalid_request_are_not_retried() {
    let cases = [
        (Wire::Native, native_error(1, "验证失败"), ErrorKind::Auth),
        (Wire::Native, native_error(1, "app auth fail"), ErrorKind::Auth),
        (Wire::Qimen, qimen_inner_error(1, "验证失败"), ErrorKind::Auth),
        (
            Wire::Qimen,
            gateway_failure(25, "Invalid signature", None),
            ErrorKind::Auth,
        ),
        (
            Wire::Qimen,
            gateway_failure(29, "Invalid App Key", None),
            ErrorKind::Auth,
        ),
        (
            Wire::Native,
            native_error(100, "您的查询时间过宽,查询时间不能大于30天"),
            ErrorKind::InvalidRequest,
        ),
        (
            Wire::Native,
            native_error(100, "参数中必须包含起止时间"),
            ErrorKind::InvalidRequest,
        ),
        (
            Wire::Qimen,
            gateway_failure(41, "Invalid arguments", Some("params is invalid")),
            ErrorKind::InvalidRequest,
        ),
        (
            Wire::Qimen,
            gateway_failure(40, "Missing Required Arguments", None),
            ErrorKind::InvalidRequest,
        ),
        (Wire::Native, Reply::Http(403), ErrorKind::Auth),
        (Wire::Native, Reply::Http(404), ErrorKind::InvalidRequest),
    ];
    for (wire, fault, kind) in cases {
        let h = Harness::new(
            Gateway::new(wire, 3).script([fault.clone()]),
            StepClock::fixed(V3_UNIX),
            false,
            Some(1),
        )
        .await;
        let e = h.client.refund_page(&small_pages(10), 1).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{fault:?}: {e}");
        assert!(!e.is_retryable());
        assert!(!matches!(e, Error::RetriesExhausted { .. }), "{e:?}");
        assert_eq!(h.gateway.requests(), 1, "{fault:?}");
        assert!(h.sleep.waits().is_empty());
        let s = h.stats();
        assert_eq!((s.requests, s.retries, s.throttles, s.transient_failures), (1, 0, 0, 0));
        if kind == ErrorKind::Auth && !matches!(e, Error::Http { .. }) {
            // The hint names the credentials to check: the Qimen app's for a gateway refusal,
            // the WDT account's otherwise.
            let want = if matches!(e, Error::Gateway { .. }) {
                "QIMEN_APP_SECRET"
            } else {
                "WDT_APP_SECRET"
            };
            assert!(e.to_string().contains(want), "{e}");
        }
        h.finish(&[&e]);
    }
}

#[tokio::test]
async fn a_page_stream_ends_with_a_non_retryable_error_after_one_request() {
    for (wire, fault) in [
        (Wire::Native, native_error(1, "验证失败")),
        (Wire::Qimen, gateway_failure(41, "Invalid arguments", None)),
    ] {
        let h = Harness::new(
            Gateway::new(wire, 3).script([fault]),
            StepClock::fixed(V3_UNIX),
            false,
            Some(1),
        )
        .await;
        let (items, err) = collect_items(&h.client, small_pages(10)).await;
        assert!(items.is_empty());
        let err = err.expect("the stream ends with the error");
        assert!(!err.is_retryable(), "{err}");
        assert_eq!(h.gateway.requests(), 1);
        h.finish(&[&err]);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Redaction
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn debug_of_credentials_builder_client_and_requests_shows_no_secret_or_sign() {
    let server = MockServer::start().await;
    let now = DateTime::from_timestamp(V3_UNIX, 0).unwrap();
    let page = Some(PageRequest {
        page_no: 0,
        page_size: 200,
    });
    let mut texts = vec![
        format!("{:?}", wdt_credentials()),
        format!("{:#?}", wdt_credentials()),
        format!("{:?}", QimenCredentials::new(QM_KEY, QM_SECRET).unwrap()),
    ];
    let mut signs = Vec::new();
    for wire in [Wire::Native, Wire::Qimen] {
        let route = route(&server, wire);
        texts.push(format!("{route:?}"));
        let builder = Client::builder(route.clone())
            .retry(RetryConfig::default())
            .rate_limit(RateLimitConfig::unlimited())
            .clock(StepClock::fixed(V3_UNIX));
        texts.push(format!("{builder:?}"));
        texts.push(format!("{builder:#?}"));
        let client = builder.build().unwrap();
        texts.push(format!("{client:?}"));
        texts.push(format!("{client:#?}"));
        let p = prepare(&route, &REFUND_SEARCH, &v3_search().to_params(), page, now);
        let query: BTreeMap<_, _> = p.query.iter().cloned().collect();
        signs.push(query["sign"].clone());
        if wire == Wire::Native {
            // The same request as V3.
            assert_eq!(query["sign"], "b10ba319a20d07ec8be942bef901c537");
        } else {
            let form: BTreeMap<String, String> = url::form_urlencoded::parse(p.body.as_bytes()).into_owned().collect();
            signs.push(form["wdt_sign"].clone());
        }
        texts.push(format!("{p:?}"));
        texts.push(format!("{p:#?}"));
        texts.push(p.redacted_url());
    }
    // The Debug shows what matters for debugging, only not the secrets.
    assert!(texts.iter().any(|t| t.contains(WDT_KEY) && t.contains(SID)));
    assert!(texts.iter().any(|t| t.contains("[REDACTED]")));
    for text in &texts {
        assert_redacted(text, &signs);
    }
    // Errors about the secret do not echo it.
    for bad in ["testsecrettestsalt", ":testsalt", "testsecret:"] {
        let e = WdtCredentials::new(SID, WDT_KEY, bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert_redacted(&e.to_string(), &signs);
        assert_redacted(&format!("{e:?}"), &signs);
    }
}

#[tokio::test]
async fn a_bad_url_is_refused_without_echoing_a_sign_or_salt() {
    let url = format!("http://127.0.0.1:9/openapi?salt={WDT_SALT}&sign=b10ba319a20d07ec8be942bef901c537");
    let e = Client::builder(Route::Native {
        url,
        wdt: wdt_credentials(),
    })
    .build()
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("WDT_URL"), "{e}");
    assert_redacted(&e.to_string(), &["b10ba319a20d07ec8be942bef901c537".into()]);
}

#[tokio::test]
async fn a_connection_failure_is_transient_and_redacted() {
    // A server that closes every connection without answering (it stays bound, so its port
    // cannot be taken by another test's server).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let r = Route::Native {
        url: format!("http://127.0.0.1:{port}/openapi"),
        wdt: wdt_credentials(),
    };
    let sleep = Arc::new(RecordingSleep::default());
    let client = Client::builder(r)
        .retry(RetryConfig::default().with_max_attempts(2))
        .rate_limit(RateLimitConfig::unlimited())
        .clock(StepClock::fixed(V3_UNIX))
        .sleep(sleep.clone())
        .build()
        .unwrap();
    let e = client.refund_page(&v3_search(), 1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    assert!(matches!(&e, Error::RetriesExhausted { attempts: 2, .. }), "{e:?}");
    assert_eq!(sleep.waits().len(), 1);
    let signs = ["b10ba319a20d07ec8be942bef901c537".to_owned()];
    assert_redacted(&e.to_string(), &signs);
    assert_redacted(&format!("{e:?}"), &signs);
    let s = client.stats();
    assert_eq!((s.requests, s.retries, s.transient_failures), (2, 1, 2));
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

// ---------------------------------------------------------------------------------------------
// 6. Stats
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn stats_count_requests_retries_throttles_and_transient_failures() {
    let h = Harness::simple(
        Wire::Native,
        6,
        vec![
            Reply::Http(502),
            Reply::Body("<html>busy</html>".into()),
            native_error(100, "超过每分钟最大调用频率限制，请稍后重试"),
            native_error(100, "超过每分钟最大并发次数限制,请稍后重试"),
        ],
    )
    .await;
    let (items, err) = collect_items(&h.client, small_pages(3)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&items), [1, 2, 3, 4, 5, 6]);
    // 4 failures and 2 pages.
    assert_eq!(h.gateway.wire_pages(), [0, 0, 0, 0, 0, 1]);
    let s = h.stats();
    assert_eq!((s.requests, s.retries, s.throttles, s.transient_failures), (6, 4, 2, 2));
    let cfg = RetryConfig::default();
    let waits = h.sleep.waits();
    assert_eq!(waits.len(), 4);
    // Full jitter grows: attempt 1 within [0, base], attempt 2 within [0, 2*base].
    assert!(waits[0] <= cfg.base && waits[1] <= cfg.base * 2, "{waits:?}");
    assert!(waits[2..].iter().all(|w| *w >= cfg.throttle_min_wait), "{waits:?}");
    h.finish(&[]);
}

#[tokio::test]
async fn retries_stop_at_the_attempt_limit() {
    let server = MockServer::start().await;
    let gw = Gateway::new(Wire::Qimen, 1).script(vec![Reply::Http(502); 10]);
    gw.mount(&server, Some(3)).await;
    let sleep = Arc::new(RecordingSleep::default());
    let client = Client::builder(route(&server, Wire::Qimen))
        .retry(RetryConfig::default().with_max_attempts(3))
        .rate_limit(RateLimitConfig::unlimited())
        .sleep(sleep.clone())
        .build()
        .unwrap();
    let e = client.refund_page(&small_pages(5), 1).await.unwrap_err();
    assert!(
        matches!(&e, Error::RetriesExhausted { attempts: 3, last, .. } if last.code().as_deref() == Some("502")),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert!(!e.is_retryable(), "an exhausted error is final");
    assert_eq!(sleep.waits().len(), 2);
    let s = client.stats();
    assert_eq!((s.requests, s.retries, s.transient_failures), (3, 2, 3));
    gw.assert_clean();
    let signs = gw.signs();
    assert_redacted(&e.to_string(), &signs);
    assert_redacted(&format!("{e:?}"), &signs);
}
