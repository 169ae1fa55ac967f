//! The simulator, driven by hand-built requests (reqwest + the `sign` functions), the way a
//! client that follows the protocol document would call the real services.
#![cfg(feature = "simulator")]

use std::collections::HashMap;

use chrono::{Duration, NaiveDate, NaiveDateTime, Utc};
use reqwest::Client;
use serde_json::{json, Value};
use wdt_qimen::error::{RATE_LIMIT_CALLS, RATE_LIMIT_CONCURRENCY, WINDOW_TOO_WIDE};
use wdt_qimen::sign::{native_sign, qimen_wdt_sign, top_sign, SignMethod};
use wdt_qimen::simulator::{
    Simulator, NATIVE_METHOD, QIMEN_APP_KEY, QIMEN_APP_SECRET, QIMEN_METHOD, QIMEN_TARGET_APP_KEY, WDT_APP_KEY,
    WDT_APP_SECRET, WDT_SID,
};
use wdt_qimen::time::{format_wdt, from_beijing, to_beijing, Clock, WDT_EPOCH_UNIX};

fn at(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, 0, 0).unwrap()
}

fn client() -> Client {
    Client::builder().no_proxy().build().unwrap()
}

fn secret_salt() -> (&'static str, &'static str) {
    WDT_APP_SECRET.split_once(':').unwrap()
}

fn window(from: NaiveDateTime, to: NaiveDateTime) -> Value {
    json!({"modified_from": format_wdt(from), "modified_to": format_wdt(to)})
}

/// A native call as the official SDK makes it; `ts_shift` moves the timestamp (seconds),
/// `bad_sign` sends a wrong signature.
struct Native {
    page_size: u32,
    page_no: u32,
    ts_shift: i64,
    bad_sign: bool,
}

impl Default for Native {
    fn default() -> Self {
        Self {
            page_size: 50,
            page_no: 0,
            ts_shift: 0,
            bad_sign: false,
        }
    }
}

async fn native(sim: &Simulator, params: &Value, call: Native) -> Value {
    let (secret, salt) = secret_salt();
    let body = serde_json::to_string(&json!([params])).unwrap();
    let timestamp = (Utc::now().timestamp() - WDT_EPOCH_UNIX + call.ts_shift).to_string();
    let mut query: Vec<(&str, String)> = vec![
        ("sid", WDT_SID.into()),
        ("key", WDT_APP_KEY.into()),
        ("salt", salt.into()),
        ("method", NATIVE_METHOD.into()),
        ("v", "1.0".into()),
        ("timestamp", timestamp),
        ("page_size", call.page_size.to_string()),
        ("page_no", call.page_no.to_string()),
        ("calc_total", "1".into()),
    ];
    let signed = query
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain([("body", body.as_str())]);
    let mut sign = native_sign(signed, secret);
    if call.bad_sign {
        sign = sign.replace(|c: char| c.is_ascii_digit(), "f");
    }
    query.push(("sign", sign));
    let resp = client()
        .post(sim.native_url())
        .query(&query)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

/// A Qimen call as the Qimen SDK makes it: TOP system params in the query, WDT fields as a form.
struct Qimen {
    page_size: u32,
    page_no: u32,
    ts_shift: Duration,
    sign_method: SignMethod,
    bad_top_sign: bool,
    bad_wdt_sign: bool,
    /// A `session` sent but not signed, as TOP-Java leaves out a blank value.
    unsigned_session: Option<&'static str>,
}

impl Default for Qimen {
    fn default() -> Self {
        Self {
            page_size: 50,
            page_no: 1,
            ts_shift: Duration::zero(),
            sign_method: SignMethod::Md5,
            bad_top_sign: false,
            bad_wdt_sign: false,
            unsigned_session: None,
        }
    }
}

async fn qimen(sim: &Simulator, params: &Value, call: Qimen) -> Value {
    let (secret, salt) = secret_salt();
    let now = to_beijing(Utc::now());
    let mut form: Vec<(&str, String)> = vec![
        ("params", params.to_string()),
        (
            "pager",
            json!({"page_size": call.page_size, "page_no": call.page_no}).to_string(),
        ),
        ("datetime", format_wdt(now)),
        ("wdt_appkey", WDT_APP_KEY.into()),
        ("wdt_salt", salt.into()),
        ("wdt3_customer_id", WDT_SID.into()),
    ];
    let mut wdt_sign = qimen_wdt_sign(form.iter().map(|(k, v)| (*k, v.as_str())), QIMEN_METHOD, secret);
    if call.bad_wdt_sign {
        wdt_sign = "0".repeat(32);
    }
    form.push(("wdt_sign", wdt_sign));
    let mut query: Vec<(&str, String)> = vec![
        ("method", QIMEN_METHOD.into()),
        ("app_key", QIMEN_APP_KEY.into()),
        ("target_app_key", QIMEN_TARGET_APP_KEY.into()),
        ("timestamp", format_wdt(now + call.ts_shift)),
        ("format", "json".into()),
        ("v", "2.0".into()),
        ("sign_method", call.sign_method.as_str().into()),
    ];
    let all = query.iter().chain(form.iter()).map(|(k, v)| (*k, v.as_str()));
    let mut sign = top_sign(all, QIMEN_APP_SECRET, call.sign_method);
    if call.bad_top_sign {
        sign = "A".repeat(sign.len());
    }
    query.push(("sign", sign));
    if let Some(session) = call.unsigned_session {
        query.push(("session", session.into()));
    }
    let resp = client()
        .post(sim.qimen_url())
        .query(&query)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

fn ids(order: &Value) -> Vec<u64> {
    order
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["refund_id"].as_u64().unwrap())
        .collect()
}

/// `modified` as epoch ms, whether written as a number or a numeric string.
fn modified_ms(r: &Value) -> i64 {
    match &r["modified"] {
        Value::String(s) => s.parse().unwrap(),
        v => v.as_i64().unwrap(),
    }
}

fn status_is_zero(v: &Value) -> bool {
    v == &json!(0) || v == &json!("0")
}

async fn sim_jan_feb(seed: u64, refunds: usize) -> Simulator {
    Simulator::builder()
        .seed(seed)
        .refunds(refunds)
        .time_range(at(2024, 1, 1, 0), at(2024, 3, 1, 0))
        .start()
        .await
}

#[tokio::test]
async fn signed_pages_on_both_routes_partition_the_window() {
    let sim = sim_jan_feb(42, 3000).await;
    let (from, to) = (at(2024, 1, 10, 0), at(2024, 1, 20, 0));
    let (from_ms, to_ms) = (
        from_beijing(from).timestamp_millis(),
        from_beijing(to).timestamp_millis(),
    );
    let mut expected: Vec<(i64, u64)> = sim
        .snapshot()
        .iter()
        .map(|r| (modified_ms(r), r["refund_id"].as_u64().unwrap()))
        .filter(|(m, _)| (from_ms..=to_ms).contains(m))
        .collect();
    expected.sort_unstable();
    let expected: Vec<u64> = expected.into_iter().map(|e| e.1).collect();
    assert!(
        expected.len() > 200,
        "the window should span several pages, got {}",
        expected.len()
    );
    let params = window(from, to);

    let mut native_ids = Vec::new();
    let mut page_no = 0;
    loop {
        let v = native(
            &sim,
            &params,
            Native {
                page_no,
                ..Native::default()
            },
        )
        .await;
        assert_eq!(v["status"], json!(0), "{v}");
        assert_eq!(v["data"]["total_count"].as_u64(), Some(expected.len() as u64));
        let page = ids(&v["data"]["order"]);
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 50);
        native_ids.extend(page);
        page_no += 1;
    }
    assert_eq!(native_ids, expected);

    let mut qimen_ids = Vec::new();
    let mut page_no = 1;
    loop {
        let v = qimen(
            &sim,
            &params,
            Qimen {
                page_no,
                ..Qimen::default()
            },
        )
        .await;
        let r = &v["response"];
        assert!(status_is_zero(&r["status"]), "{v}");
        assert_eq!(r["data"]["total_count"].as_u64(), Some(expected.len() as u64));
        let page = ids(&r["data"]["order"]);
        if page.is_empty() {
            break;
        }
        qimen_ids.extend(page);
        page_no += 1;
    }
    assert_eq!(qimen_ids, expected);

    // Native page 0 and Qimen page 1 are the same first page; order_type=1 reverses.
    let n0 = native(&sim, &params, Native::default()).await;
    let q1 = qimen(&sim, &params, Qimen::default()).await;
    assert_eq!(ids(&n0["data"]["order"]), ids(&q1["response"]["data"]["order"]));
    let mut desc_params = params.clone();
    desc_params["order_type"] = json!(1);
    let d0 = native(&sim, &desc_params, Native::default()).await;
    let tail: Vec<u64> = expected.iter().rev().take(50).copied().collect();
    assert_eq!(ids(&d0["data"]["order"]), tail);

    // Other sign methods are accepted too.
    for m in [SignMethod::Hmac, SignMethod::HmacSha256] {
        let v = qimen(
            &sim,
            &params,
            Qimen {
                sign_method: m,
                ..Qimen::default()
            },
        )
        .await;
        assert!(status_is_zero(&v["response"]["status"]), "{m}: {v}");
    }
    let stats = sim.stats();
    assert_eq!(stats.auth_failures, 0);
    assert_eq!(stats.pages_served, stats.requests);
}

#[tokio::test]
async fn refunds_have_the_documented_shape() {
    let sim = sim_jan_feb(3, 400).await;
    let snap = sim.snapshot();
    let has_key = |k: &str| snap.iter().filter(|r| r.get(k).is_some()).count();
    assert_eq!(has_key("refund_no"), snap.len());
    assert!(snap.iter().all(|r| r["refund_no"].as_str().unwrap().starts_with("TK")));
    assert!(snap
        .iter()
        .all(|r| r["platform_id"].is_string() && r["modified"].is_i64()));
    assert!(snap
        .iter()
        .all(|r| r["check_time"].is_string() && r["settle_time"].is_string()));
    assert!(snap.iter().any(|r| r["settle_time"] == json!("")));
    // detail_list: sometimes absent, sometimes empty, otherwise up to 4 lines.
    assert!(has_key("detail_list") < snap.len());
    assert!(snap.iter().any(|r| r["detail_list"] == json!([])));
    assert!(snap.iter().all(|r| r
        .get("detail_list")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0)
        <= 4));
    // fenxiao_nick_name is omitted when empty; swap_order only on exchanges (type 3).
    assert!(has_key("fenxiao_nick_name") < snap.len());
    assert!(snap
        .iter()
        .all(|r| r.get("swap_order").is_some() == (r["type"] == json!(3))));
    // Amounts are exact decimals with 2 to 4 digits after the point.
    for r in &snap {
        let a = r["actual_refund_amount"].to_string();
        let decimals = a.split('.').nth(1).map_or(0, str::len);
        assert!((2..=4).contains(&decimals), "{a}");
    }
    // Undocumented keys of the official sample are there.
    for k in ["return_telno", "tmp_data", "sync_return", "return_mask"] {
        assert_eq!(has_key(k), snap.len(), "{k}");
    }
}

#[tokio::test]
async fn wrong_signatures_get_the_exact_error_shapes() {
    let sim = sim_jan_feb(1, 100).await;
    let params = window(at(2024, 1, 1, 0), at(2024, 1, 5, 0));

    let v = native(
        &sim,
        &params,
        Native {
            bad_sign: true,
            ..Native::default()
        },
    )
    .await;
    assert_eq!(v, json!({"status": 1, "message": "验证失败"}));

    let v = qimen(
        &sim,
        &params,
        Qimen {
            bad_top_sign: true,
            ..Qimen::default()
        },
    )
    .await;
    let r = v["response"].as_object().unwrap();
    let mut keys: Vec<&str> = r.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "flag", "message", "request_id"]);
    assert_eq!(
        (&r["flag"], &r["code"], &r["message"]),
        (&json!("failure"), &json!(25), &json!("Invalid signature"))
    );
    assert!(!r["request_id"].as_str().unwrap().is_empty());

    let v = qimen(
        &sim,
        &params,
        Qimen {
            bad_wdt_sign: true,
            ..Qimen::default()
        },
    )
    .await;
    assert_eq!(v, json!({"response": {"status": 1, "message": "验证失败"}}));

    let stats = sim.stats();
    assert_eq!((stats.auth_failures, stats.pages_served), (3, 0));
}

#[tokio::test]
async fn the_gateway_sign_leaves_out_blank_values_as_top_java_does() {
    let sim = sim_jan_feb(1, 100).await;
    let params = window(at(2024, 1, 1, 0), at(2024, 1, 5, 0));
    for blank in ["", " ", "\t", "\u{3000}"] {
        let call = Qimen {
            unsigned_session: Some(blank),
            ..Qimen::default()
        };
        let v = qimen(&sim, &params, call).await;
        assert!(status_is_zero(&v["response"]["status"]), "session={blank:?}: {v}");
    }
    // A no-break space is not whitespace for Java: left out of the sign, it fails the check.
    let call = Qimen {
        unsigned_session: Some("\u{a0}"),
        ..Qimen::default()
    };
    let v = qimen(&sim, &params, call).await;
    assert_eq!(v["response"]["code"], json!(25), "{v}");
}

#[tokio::test]
async fn stale_timestamps_are_refused() {
    let sim = sim_jan_feb(1, 100).await;
    let params = window(at(2024, 1, 1, 0), at(2024, 1, 5, 0));
    let v = native(
        &sim,
        &params,
        Native {
            ts_shift: -300,
            ..Native::default()
        },
    )
    .await;
    assert_eq!(v, json!({"status": 7, "message": "时间戳错误"}));
    let v = native(
        &sim,
        &params,
        Native {
            ts_shift: 300,
            ..Native::default()
        },
    )
    .await;
    assert_eq!(v["status"], json!(7));
    let v = qimen(
        &sim,
        &params,
        Qimen {
            ts_shift: Duration::minutes(-11),
            ..Qimen::default()
        },
    )
    .await;
    assert_eq!(v["response"]["code"], json!(31), "{v}");
    assert_eq!(v["response"]["flag"], json!("failure"));
    // Within the slack both routes answer.
    let v = native(
        &sim,
        &params,
        Native {
            ts_shift: -60,
            ..Native::default()
        },
    )
    .await;
    assert_eq!(v["status"], json!(0));
    let v = qimen(
        &sim,
        &params,
        Qimen {
            ts_shift: Duration::minutes(-5),
            ..Qimen::default()
        },
    )
    .await;
    assert!(status_is_zero(&v["response"]["status"]), "{v}");
}

#[tokio::test]
async fn every_answer_says_the_servers_clock_and_timestamps_are_checked_against_it() {
    // The server's clock is an hour ahead of this host's.
    let clock = std::sync::Arc::new(wdt_qimen::time::ShiftedClock::new(Duration::hours(1)));
    let sim = Simulator::builder()
        .seed(1)
        .refunds(100)
        .time_range(at(2024, 1, 1, 0), at(2024, 2, 29, 0))
        .clock(clock.clone())
        .start()
        .await;
    let date_of = |resp: &reqwest::Response| {
        let v = resp.headers()["date"].to_str().unwrap();
        wdt_qimen::server_time::parse_http_date(v).unwrap_or_else(|| panic!("{v} is not an HTTP date"))
    };
    // A success, a refusal, a wrong HTTP method and an unknown path all carry it.
    let unsigned = client()
        .post(sim.native_url())
        .query(&[("method", NATIVE_METHOD)])
        .body("[]");
    for req in [
        unsigned,
        client().get(sim.qimen_url()),
        client().post(format!("{}/elsewhere", sim.uri())),
    ] {
        let before = clock.now() - Duration::seconds(1);
        let resp = req.send().await.unwrap();
        let date = date_of(&resp);
        assert!(
            before <= date && date <= clock.now(),
            "Date {date} is not the server's clock"
        );
    }
    let params = window(at(2024, 1, 1, 0), at(2024, 1, 5, 0));
    // This host's time is an hour off the server's: refused on both routes.
    let v = native(&sim, &params, Native::default()).await;
    assert_eq!(v["status"], json!(7), "{v}");
    let v = qimen(&sim, &params, Qimen::default()).await;
    assert_eq!(v["response"]["code"], json!(31), "{v}");
    // The server's time is accepted.
    let v = native(
        &sim,
        &params,
        Native {
            ts_shift: 3600,
            ..Native::default()
        },
    )
    .await;
    assert_eq!(v["status"], json!(0), "{v}");
    let v = qimen(
        &sim,
        &params,
        Qimen {
            ts_shift: Duration::hours(1),
            ..Qimen::default()
        },
    )
    .await;
    assert!(status_is_zero(&v["response"]["status"]), "{v}");
}

#[tokio::test]
async fn window_rules_on_both_routes() {
    let sim = sim_jan_feb(1, 100).await;
    let too_wide = window(at(2024, 1, 1, 0), at(2024, 2, 1, 0));
    let v = native(&sim, &too_wide, Native::default()).await;
    assert_eq!(
        v,
        json!({"status": 100, "message": "您的查询时间过宽,查询时间不能大于30天"})
    );
    assert!(v["message"].as_str().unwrap().contains(WINDOW_TOO_WIDE));
    let v = qimen(&sim, &too_wide, Qimen::default()).await;
    assert_eq!(
        v,
        json!({"response": {"status": 100, "message": "您的查询时间过宽,查询时间不能大于30天"}})
    );

    let exactly_30 = window(at(2024, 1, 1, 0), at(2024, 1, 31, 0));
    assert_eq!(native(&sim, &exactly_30, Native::default()).await["status"], json!(0));

    let v = native(
        &sim,
        &json!({"modified_from": "2024-01-01 00:00:00"}),
        Native::default(),
    )
    .await;
    assert_eq!(v, json!({"status": 100, "message": "参数中必须包含起止时间"}));
    let bad = json!({"modified_from": "2024/01/01 00:00:00", "modified_to": "2024-01-02 00:00:00"});
    let v = qimen(&sim, &bad, Qimen::default()).await;
    assert_eq!(v["response"]["message"], json!("Unparseable date: 2024/01/01 00:00:00"));
    assert_eq!(sim.stats().invalid_requests, 4);
}

#[tokio::test]
async fn same_seed_same_snapshot() {
    let a = sim_jan_feb(7, 500).await.snapshot();
    let b = sim_jan_feb(7, 500).await.snapshot();
    let c = sim_jan_feb(8, 500).await.snapshot();
    assert_eq!(a.len(), 500);
    assert_eq!(a, b);
    assert_ne!(a, c);
    let ids: Vec<u64> = a.iter().map(|r| r["refund_id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted by refund_id");
}

#[tokio::test]
async fn drift_changes_modified_of_that_many_refunds() {
    let sim = Simulator::builder()
        .seed(11)
        .refunds(1000)
        .time_range(at(2024, 1, 1, 0), at(2024, 1, 20, 0))
        .drift(3)
        .start()
        .await;
    let before: HashMap<u64, Value> = sim
        .snapshot()
        .into_iter()
        .map(|r| (r["refund_id"].as_u64().unwrap(), r))
        .collect();
    let (from, to) = (at(2024, 1, 5, 0), at(2024, 1, 10, 0));
    let v = native(&sim, &window(from, to), Native::default()).await;
    assert_eq!(v["status"], json!(0));

    let changed = |snap: Vec<Value>| -> Vec<(Value, Value)> {
        snap.into_iter()
            .filter_map(|r| {
                let old = &before[&r["refund_id"].as_u64().unwrap()];
                (old["modified"] != r["modified"]).then(|| (old.clone(), r))
            })
            .collect()
    };
    let moved = changed(sim.snapshot());
    assert_eq!(moved.len(), 3);
    let to_ms = from_beijing(to).timestamp_millis();
    let from_ms = from_beijing(from).timestamp_millis();
    for (old, new) in &moved {
        // They came from the paged window and left it for "now".
        assert!((from_ms..=to_ms).contains(&modified_ms(old)));
        assert!(modified_ms(new) > to_ms);
        assert_ne!(old["modified_date"], new["modified_date"]);
    }
    assert_eq!(sim.stats().drifted_refunds, 3);

    sim.set_drift(0);
    let _ = native(&sim, &window(from, to), Native::default()).await;
    assert_eq!(changed(sim.snapshot()).len(), 3);
    assert_eq!(sim.modify_now(5), 5);
    let moved = changed(sim.snapshot()).len();
    assert!((5..=8).contains(&moved), "{moved}");
    assert_eq!(sim.stats().drifted_refunds, 8);
}

#[tokio::test]
async fn clusters_share_one_modified_second() {
    let sim = Simulator::builder().start().await;
    let snap = sim.snapshot();
    assert_eq!(snap.len(), 3000);
    let mut per_ms: HashMap<i64, usize> = HashMap::new();
    for r in &snap {
        *per_ms.entry(modified_ms(r)).or_default() += 1;
    }
    let clusters = per_ms.iter().filter(|(ms, n)| **n >= 3 && *ms % 1000 == 0).count();
    assert!(clusters >= 3, "{clusters}");
    // Some refunds carry milliseconds, most do not.
    let with_ms = snap.iter().filter(|r| modified_ms(r) % 1000 != 0).count();
    assert!(with_ms > 0 && with_ms < snap.len() / 2, "{with_ms}");
}

#[tokio::test]
async fn injected_faults_have_the_documented_shapes() {
    let sim = sim_jan_feb(5, 200).await;
    let params = window(at(2024, 1, 1, 0), at(2024, 1, 10, 0));
    sim.set_throttle_rate(1.0);
    for _ in 0..3 {
        let v = native(&sim, &params, Native::default()).await;
        assert_eq!(v["status"], json!(100));
        let m = v["message"].as_str().unwrap();
        assert!(
            m.contains(RATE_LIMIT_CALLS) || m.contains(RATE_LIMIT_CONCURRENCY),
            "{m}"
        );
    }
    let mut saw_ban = false;
    for _ in 0..4 {
        let v = qimen(&sim, &params, Qimen::default()).await;
        let r = &v["response"];
        if r["code"] == json!(7) {
            saw_ban = true;
            assert_eq!(r["flag"], json!("failure"));
            assert_eq!(r["message"], json!("App Call Limited"));
            assert_eq!(r["sub_message"], json!("This ban will last for 1 more seconds"));
        } else {
            assert_eq!(r["status"], json!(100), "{v}");
        }
    }
    assert!(saw_ban);
    assert_eq!(sim.stats().throttled, 7);

    sim.set_throttle_rate(0.0);
    sim.set_transient_rate(1.0);
    let mut kinds = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let resp = client()
            .post(sim.native_url())
            .query(&[("method", NATIVE_METHOD)])
            .body("[]")
            .send()
            .await
            .unwrap();
        // An unsigned request is refused before any fault is drawn.
        let v: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        assert_eq!(v, json!({"status": 1, "message": "sid is not exists"}));
        let v = qimen_raw_status(&sim, &params).await;
        kinds.insert(v);
    }
    assert!(kinds.contains("502") && kinds.contains("html") && kinds.contains("truncated") && kinds.contains("db"));
    assert_eq!(sim.stats().transient_faults, 40);
    assert_eq!(sim.stats().pages_served, 0);
}

/// One Qimen call under transient faults, classified by what came back.
async fn qimen_raw_status(sim: &Simulator, params: &Value) -> &'static str {
    let (secret, salt) = secret_salt();
    let now = format_wdt(to_beijing(Utc::now()));
    let mut form: Vec<(&str, String)> = vec![
        ("params", params.to_string()),
        ("pager", r#"{"page_size":20,"page_no":1}"#.into()),
        ("datetime", now.clone()),
        ("wdt_appkey", WDT_APP_KEY.into()),
        ("wdt_salt", salt.into()),
        ("wdt3_customer_id", WDT_SID.into()),
    ];
    let wdt_sign = qimen_wdt_sign(form.iter().map(|(k, v)| (*k, v.as_str())), QIMEN_METHOD, secret);
    form.push(("wdt_sign", wdt_sign));
    let mut query: Vec<(&str, String)> = vec![
        ("method", QIMEN_METHOD.into()),
        ("app_key", QIMEN_APP_KEY.into()),
        ("target_app_key", QIMEN_TARGET_APP_KEY.into()),
        ("timestamp", now),
        ("format", "json".into()),
        ("v", "2.0".into()),
        ("sign_method", "md5".into()),
    ];
    let sign = top_sign(
        query.iter().chain(form.iter()).map(|(k, v)| (*k, v.as_str())),
        QIMEN_APP_SECRET,
        SignMethod::Md5,
    );
    query.push(("sign", sign));
    let resp = client()
        .post(sim.qimen_url())
        .query(&query)
        .form(&form)
        .send()
        .await
        .unwrap();
    if resp.status().as_u16() == 502 {
        return "502";
    }
    let text = resp.text().await.unwrap();
    match serde_json::from_str::<Value>(&text) {
        Ok(v) if v["response"]["status"] == json!(4) => "db",
        Ok(v) => panic!("unexpected answer {v}"),
        Err(_) if text.starts_with('<') => "html",
        Err(_) => "truncated",
    }
}

#[tokio::test]
async fn qimen_status_can_be_a_string() {
    let sim = Simulator::builder()
        .refunds(50)
        .time_range(at(2024, 1, 1, 0), at(2024, 1, 3, 0))
        .string_status(true)
        .start()
        .await;
    let params = window(at(2024, 1, 1, 0), at(2024, 1, 3, 0));
    let a = qimen(&sim, &params, Qimen::default()).await;
    let b = qimen(&sim, &params, Qimen::default()).await;
    let statuses = [a["response"]["status"].clone(), b["response"]["status"].clone()];
    assert!(
        statuses.contains(&json!(0)) && statuses.contains(&json!("0")),
        "{statuses:?}"
    );
    assert_eq!(a["response"]["data"], b["response"]["data"]);
}
