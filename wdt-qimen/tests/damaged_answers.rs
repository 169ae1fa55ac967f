//! Answers that are damaged or hostile, over HTTP: a record that is not valid JSON, bytes that
//! are not UTF-8, a body past the size limit, a page longer than asked for, and errors that
//! must not quote the records (names, phones, addresses) of the body they describe.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use wdt_qimen::limit::RateLimitConfig;
use wdt_qimen::retry::{RetryConfig, Sleep};
use wdt_qimen::{Client, Error, ErrorKind, Page, QimenCredentials, Refund, RefundSearch, Route, WdtCredentials};

/// Record data that must never show in an error, a log line or a dead letter's reason.
const PRIVATE: [&str; 3] = ["张三", "13800138000", "北京市朝阳区"];

fn assert_private(what: &str, text: &str) {
    for p in PRIVATE {
        assert!(!text.contains(p), "{what}: {p:?} leaked in: {text}");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    Native,
    Qimen,
}

/// One refund's JSON text, with a buyer's name, phone and address.
fn record(id: u64) -> Vec<u8> {
    format!(
        r#"{{"refund_id":{id},"refund_no":"TK{id:08}","receiver_name":"张三","receiver_telno":"13800138000","receiver_address":"北京市朝阳区某路{id}号","modified":"2024-06-01 10:00:0{id}"}}"#
    )
    .into_bytes()
}

/// A page body holding these records (as bytes, so they may be damaged) on `wire`.
fn page_body(wire: Wire, records: &[Vec<u8>], total: usize) -> Vec<u8> {
    let mut order = b"[".to_vec();
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            order.push(b',');
        }
        order.extend_from_slice(r);
    }
    order.push(b']');
    let (open, close): (&[u8], &[u8]) = match wire {
        Wire::Native => (b"{\"status\":0,\"data\":{", b"}}"),
        Wire::Qimen => (b"{\"response\":{\"status\":\"0\",\"data\":{", b"}}}"),
    };
    let mut body = open.to_vec();
    body.extend_from_slice(format!("\"total_count\":{total},\"order\":").as_bytes());
    body.extend_from_slice(&order);
    body.extend_from_slice(close);
    body
}

/// Record 2 with an unescaped quote in its name: no longer valid JSON.
fn broken_record() -> Vec<u8> {
    String::from_utf8(record(2))
        .unwrap()
        .replace(r#""receiver_name":"张三""#, r#""receiver_name":"张"三""#)
        .into_bytes()
}

/// Record 2 with bytes that are not UTF-8 in its name (a cut-off 张, then 0xFF).
fn not_utf8_record() -> Vec<u8> {
    let text = String::from_utf8(record(2)).unwrap();
    let at = text.find("张三").unwrap();
    let mut bytes = text.as_bytes()[..at].to_vec();
    bytes.extend_from_slice(&[0xE5, 0xBC, 0xFF]);
    bytes.extend_from_slice(&text.as_bytes()[at + "张三".len()..]);
    bytes
}

/// Serves `bodies` in order (the last one again and again) with `status`.
struct Script {
    bodies: Vec<Vec<u8>>,
    status: u16,
    served: Arc<AtomicUsize>,
}

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.served.fetch_add(1, Ordering::SeqCst);
        let body = self.bodies[n.min(self.bodies.len() - 1)].clone();
        ResponseTemplate::new(self.status).set_body_raw(body, "application/json;charset=utf-8")
    }
}

/// Counts the retry waits and skips them.
#[derive(Debug, Default)]
struct NoSleep(Mutex<Vec<Duration>>);

impl Sleep for NoSleep {
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        self.0.lock().unwrap().push(d);
        Box::pin(async {})
    }
}

fn route(url_base: &str, wire: Wire) -> Route {
    let wdt = WdtCredentials::new("sid", "key", "secret:salt").unwrap();
    match wire {
        Wire::Native => Route::Native {
            url: format!("{url_base}/openapi"),
            wdt,
        },
        Wire::Qimen => Route::Qimen {
            url: format!("{url_base}/router/qm"),
            qimen: QimenCredentials::new("12345678", "qmsecret").unwrap(),
            wdt,
        },
    }
}

struct Setup {
    _server: MockServer,
    served: Arc<AtomicUsize>,
    client: Client,
    sleep: Arc<NoSleep>,
}

impl Setup {
    async fn new(wire: Wire, status: u16, bodies: Vec<Vec<u8>>, retry: RetryConfig) -> Self {
        let server = MockServer::start().await;
        let served = Arc::new(AtomicUsize::new(0));
        Mock::given(method("POST"))
            .respond_with(Script {
                bodies,
                status,
                served: served.clone(),
            })
            .mount(&server)
            .await;
        let sleep = Arc::new(NoSleep::default());
        let client = Client::builder(route(&server.uri(), wire))
            .retry(retry)
            .rate_limit(RateLimitConfig::unlimited())
            .sleep(sleep.clone())
            .build()
            .unwrap();
        Setup {
            _server: server,
            served,
            client,
            sleep,
        }
    }

    fn requests(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

fn search(page_size: u32) -> RefundSearch {
    RefundSearch::modified_between("2024-06-01 00:00:00", "2024-06-02 00:00:00")
        .unwrap()
        .page_size(page_size)
        .unwrap()
}

fn ids(page: &Page<Refund>) -> Vec<i64> {
    page.items.iter().map(|r| r.refund_id).collect()
}

// ---------------------------------------------------------------------------------------------
// A record that is not valid JSON, or not UTF-8
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_record_that_is_not_json_is_read_again_then_dead_lettered() {
    for wire in [Wire::Native, Wire::Qimen] {
        let body = page_body(wire, &[record(1), broken_record(), record(3)], 3);
        let s = Setup::new(wire, 200, vec![body], RetryConfig::default()).await;
        let page = s
            .client
            .refund_page(&search(10), 1)
            .await
            .unwrap_or_else(|e| panic!("{wire:?}: {e}"));
        assert_eq!(ids(&page), [1, 3], "{wire:?}");
        // Read three times (the first read and `damaged_retries` = 2 more), then kept.
        assert_eq!(s.requests(), 3, "{wire:?}");
        assert_eq!(s.sleep.0.lock().unwrap().len(), 2);
        assert_eq!(page.rejected.len(), 1);
        assert_eq!(page.damaged(), 1);
        let dead = &page.rejected[0];
        assert_eq!(dead.key.as_deref(), Some("2"));
        assert_eq!(dead.raw_json.as_bytes(), broken_record(), "kept as received");
        assert!(
            dead.reason.starts_with("data.order[1]: not valid JSON"),
            "{}",
            dead.reason
        );
        assert_private("reason", &dead.reason);
        let stats = s.client.stats();
        assert_eq!((stats.damaged_answers, stats.retries), (3, 2));
    }
}

#[tokio::test]
async fn a_string_that_runs_on_into_the_next_record_does_not_take_that_record_with_it() {
    // Record 2's last string lost its closing quote, or ends in a backslash that escapes it:
    // as scanned, it runs on through `},{"` into record 3, whose rest then reads as record 2's.
    let last = r#""modified":"2024-06-01 10:00:02"}"#;
    let run_ons = [
        r#""modified":"2024-06-01 10:00:02\"}"#,
        r#""modified":"2024-06-01 10:00:02}"#,
    ];
    for wire in [Wire::Native, Wire::Qimen] {
        for run_on in run_ons {
            let text = String::from_utf8(record(2)).unwrap();
            assert!(text.ends_with(last));
            let broken = text.replace(last, run_on).into_bytes();
            let body = page_body(wire, &[record(1), broken.clone(), record(3), record(4)], 4);
            let s = Setup::new(wire, 200, vec![body], RetryConfig::default()).await;
            let page = s.client.refund_page(&search(10), 1).await.unwrap();
            assert_eq!(ids(&page), [1, 3, 4], "{wire:?} {run_on}");
            assert_eq!(page.rejected.len(), 1, "{wire:?} {run_on}");
            let dead = &page.rejected[0];
            assert_eq!(dead.key.as_deref(), Some("2"));
            assert_eq!(dead.raw_json.as_bytes(), broken, "record 2 alone, as received");
            assert_eq!(page.damaged(), 1);
        }
    }
}

#[tokio::test]
async fn a_passing_corruption_is_gone_on_the_next_read() {
    let broken = page_body(Wire::Qimen, &[record(1), broken_record(), record(3)], 3);
    let good = page_body(Wire::Qimen, &[record(1), record(2), record(3)], 3);
    let s = Setup::new(Wire::Qimen, 200, vec![broken, good], RetryConfig::default()).await;
    let page = s.client.refund_page(&search(10), 1).await.unwrap();
    assert_eq!(ids(&page), [1, 2, 3]);
    assert!(page.rejected.is_empty());
    assert_eq!(s.requests(), 2);
}

#[tokio::test]
async fn bytes_that_are_not_utf8_are_never_replaced() {
    for wire in [Wire::Native, Wire::Qimen] {
        let body = page_body(wire, &[record(1), not_utf8_record(), record(3)], 3);
        let s = Setup::new(wire, 200, vec![body], RetryConfig::default()).await;
        let page = s.client.refund_page(&search(10), 1).await.unwrap();
        assert_eq!(ids(&page), [1, 3], "{wire:?}");
        assert_eq!(s.requests(), 3);
        let dead = &page.rejected[0];
        assert_eq!(dead.key.as_deref(), Some("2"));
        // The bytes are kept, escaped; nothing is replaced by U+FFFD.
        assert!(
            dead.raw_json.contains(r#""receiver_name":"\xE5\xBC\xFF""#),
            "{}",
            dead.raw_json
        );
        assert!(
            dead.reason.contains("not UTF-8: byte 0xE5 at offset"),
            "{}",
            dead.reason
        );
        assert!(!format!("{page:?}").contains('\u{FFFD}'));
    }
}

#[tokio::test]
async fn bytes_that_are_not_utf8_outside_the_records_fail_the_page_after_retries() {
    let mut body = b"{\"status\":0,\"message\":\"o\xFFk\",\"data\":".to_vec();
    body.extend_from_slice(br#"{"total_count":1,"order":[{"refund_id":1}]}}"#);
    let s = Setup::new(
        Wire::Native,
        200,
        vec![body],
        RetryConfig::default().with_max_attempts(3),
    )
    .await;
    let e = s.client.refund_page(&search(10), 1).await.unwrap_err();
    assert!(matches!(e, Error::RetriesExhausted { attempts: 3, .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert!(e.to_string().contains("not UTF-8"), "{e}");
    assert_eq!(s.requests(), 3);
}

// ---------------------------------------------------------------------------------------------
// Size limits
// ---------------------------------------------------------------------------------------------

/// A server that answers every connection with one chunked body of `len` bytes (a valid page
/// of one refund with a very long remark), without a Content-Length. Returns its base URL and
/// the number of bytes it managed to send per connection.
fn chunked_server(len: usize) -> (String, Arc<Mutex<Vec<usize>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sent = Arc::new(Mutex::new(Vec::new()));
    let log = sent.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let log = log.clone();
            std::thread::spawn(move || {
                // Read the request head and body (small) before answering.
                let mut buf = [0u8; 65536];
                let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = stream.read(&mut buf);
                let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
                let open = br#"{"status":0,"data":{"total_count":1,"order":[{"refund_id":1,"remark":""#;
                let close = br#""}]}}"#;
                let mut written = 0usize;
                if stream.write_all(head).is_err() {
                    return;
                }
                let mut send = |part: &[u8]| -> bool {
                    let chunk = [format!("{:X}\r\n", part.len()).as_bytes(), part, b"\r\n"].concat();
                    let ok = stream.write_all(&chunk).is_ok();
                    if ok {
                        written += part.len();
                    }
                    ok
                };
                let filler = vec![b'x'; 64 * 1024];
                let mut ok = send(open);
                let mut left = len.saturating_sub(open.len() + close.len());
                while ok && left > 0 {
                    let n = left.min(filler.len());
                    ok = send(&filler[..n]);
                    left -= n;
                }
                if ok {
                    let _ = send(close) && send(b"");
                }
                log.lock().unwrap().push(written);
            });
        }
    });
    (url, sent)
}

#[tokio::test]
async fn a_body_past_the_default_limit_is_refused_while_it_streams() {
    let (url, _) = chunked_server(17 * 1024 * 1024);
    let client = Client::builder(route(&url, Wire::Native))
        .retry(RetryConfig::disabled())
        .rate_limit(RateLimitConfig::unlimited())
        .build()
        .unwrap();
    let e = client.refund_page(&search(10), 1).await.unwrap_err();
    assert!(
        matches!(e, Error::BodyTooLarge { limit, .. } if limit == 16 * 1024 * 1024),
        "{e:?}"
    );
    assert!(e.to_string().contains("max_body_bytes"), "{e}");
}

#[tokio::test]
async fn a_body_past_a_configured_limit_is_read_again_then_refused() {
    // With a Content-Length (wiremock sets one): refused before the body is read.
    let body = page_body(Wire::Native, &[record(1), record(2), record(3)], 3);
    assert!(body.len() > 300);
    let server = MockServer::start().await;
    let served = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .respond_with(Script {
            bodies: vec![[body.clone(), vec![b' '; 2000]].concat()],
            status: 200,
            served: served.clone(),
        })
        .mount(&server)
        .await;
    let client = Client::builder(route(&server.uri(), Wire::Native))
        .retry(RetryConfig::default())
        .rate_limit(RateLimitConfig::unlimited())
        .sleep(Arc::new(NoSleep::default()))
        .max_body_bytes(2048)
        .build()
        .unwrap();
    let e = client.refund_page(&search(10), 1).await.unwrap_err();
    assert!(matches!(e, Error::BodyTooLarge { limit: 2048, .. }), "{e:?}");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("2048 bytes"), "{e}");
    assert_eq!(served.load(Ordering::SeqCst), 3, "read again damaged_retries times");

    // Without a Content-Length: refused while streaming.
    let (url, sent) = chunked_server(200_000);
    let client = Client::builder(route(&url, Wire::Native))
        .retry(RetryConfig::disabled())
        .rate_limit(RateLimitConfig::unlimited())
        .max_body_bytes(4096)
        .build()
        .unwrap();
    let e = client.refund_page(&search(10), 1).await.unwrap_err();
    assert!(matches!(e, Error::BodyTooLarge { limit: 4096, .. }), "{e:?}");
    drop(client);
    let _ = sent;

    let e = Client::builder(route(&server.uri(), Wire::Native))
        .max_body_bytes(10)
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.to_string().contains("max_body_bytes") && e.to_string().contains("1024"),
        "{e}"
    );
}

#[tokio::test]
async fn a_page_longer_than_asked_is_an_error() {
    for wire in [Wire::Native, Wire::Qimen] {
        let body = page_body(wire, &[record(1), record(2), record(3)], 3);
        let s = Setup::new(wire, 200, vec![body], RetryConfig::default()).await;
        let e = s.client.refund_page(&search(2), 1).await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::OversizePage {
                    page_no: 1,
                    page_size: 2,
                    records: 3,
                    ..
                }
            ),
            "{wire:?}: {e:?}"
        );
        assert_eq!(e.kind(), ErrorKind::Decode);
        assert_eq!(s.requests(), 3, "read again damaged_retries times");
        assert!(e.to_string().contains("3 records, more than the 2 asked for"), "{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Errors carry no record data
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn errors_describe_bodies_without_their_records() {
    let full = page_body(Wire::Native, &[record(1), record(2)], 2);
    let cut = full[..full.len() - 40].to_vec();
    let qimen_cut = {
        let b = page_body(Wire::Qimen, &[record(1), record(2)], 2);
        b[..b.len() - 30].to_vec()
    };
    let order_as_text = r#"{"status":0,"data":{"total_count":1,"order":"张三 13800138000 北京市朝阳区"}}"#;
    let data_as_text = r#"{"status":0,"data":"张三 13800138000"}"#;
    let cases: Vec<(Wire, u16, Vec<u8>, &str)> = vec![
        (Wire::Native, 200, cut, "cannot decode"),
        (Wire::Qimen, 200, qimen_cut, "cannot decode"),
        (Wire::Native, 500, full.clone(), "HTTP 500"),
        (Wire::Native, 404, full, "HTTP 404"),
        (Wire::Native, 200, order_as_text.into(), "data.order"),
        (Wire::Native, 200, data_as_text.into(), "invalid type: a string"),
    ];
    for (wire, status, body, text) in cases {
        let s = Setup::new(wire, status, vec![body], RetryConfig::disabled()).await;
        let e = s.client.refund_page(&search(10), 1).await.unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains(text), "{shown}");
        assert_private("Display", &shown);
        assert_private("Debug", &format!("{e:?}"));
    }
}

#[tokio::test]
async fn the_envelope_is_still_described() {
    let full = page_body(Wire::Native, &[record(1), record(2)], 2);
    let cut = full[..full.len() - 40].to_vec();
    let s = Setup::new(Wire::Native, 200, vec![cut], RetryConfig::disabled()).await;
    let e = s.client.refund_page(&search(10), 1).await.unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.contains(r#"{"status": 0, "data": {"total_count": 2, "order": [… cut or broken]"#),
        "{shown}"
    );
}

#[tokio::test]
async fn a_dead_letters_reason_names_the_field_not_its_value() {
    let bad = String::from_utf8(record(2)).unwrap().replace(
        r#""modified":"2024-06-01 10:00:02""#,
        r#""modified":"张三 13800138000""#,
    );
    let body = page_body(Wire::Native, &[record(1), bad.clone().into_bytes()], 2);
    let s = Setup::new(Wire::Native, 200, vec![body], RetryConfig::disabled()).await;
    let page = s.client.refund_page(&search(10), 1).await.unwrap();
    assert_eq!(ids(&page), [1]);
    let dead = &page.rejected[0];
    assert_eq!(dead.raw_json, bad, "the record itself is kept whole");
    assert!(
        dead.reason
            .starts_with("data.order[1].modified: invalid value: a string, expected a time"),
        "{}",
        dead.reason
    );
    assert_private("reason", &dead.reason);
    // A type error is not damage: the page is not read again.
    assert_eq!((page.damaged(), s.requests()), (0, 1));
}
