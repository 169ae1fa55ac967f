//! Archived refunds: `Refund.searchHistory` beside `Refund.search`, on both routes, against the
//! simulator's archive, with an in-memory sink; decoding of the official sample; the generic
//! endpoint on a third method (return stock-ins).
#![cfg(feature = "simulator")]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{NaiveDateTime, TimeDelta, Timelike};
use futures::StreamExt;
use serde_json::json;
use wdt_qimen::api::refund_history::RefundHistorySearch;
use wdt_qimen::api::stockin::StockinRefundQuery;
use wdt_qimen::limit::RateLimitConfig;
use wdt_qimen::retry::RetryConfig;
use wdt_qimen::simulator::Simulator;
use wdt_qimen::sync::{Batch, Checkpoint, CommitReport, Sink, StreamId, SyncConfig, SyncEngine};
use wdt_qimen::time::{from_epoch_ms, parse_wdt, to_beijing, Clock, ShiftedClock, SystemClock};
use wdt_qimen::{Client, Error, Refund, RefundSource, Route, WdtCredentials};
use wiremock::matchers::{method, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Newer `modified` wins; one checkpoint per stream.
#[derive(Default)]
struct MemSink {
    rows: Mutex<BTreeMap<i64, Refund>>,
    checkpoints: Mutex<HashMap<String, Checkpoint>>,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

#[async_trait]
impl Sink<Refund> for MemSink {
    type Error = Never;
    async fn load_checkpoint(&self, stream: &StreamId) -> Result<Option<Checkpoint>, Never> {
        Ok(self.checkpoints.lock().unwrap().get(&stream.method).cloned())
    }
    async fn commit(&self, batch: Batch<Refund>) -> Result<CommitReport, Never> {
        let mut rows = self.rows.lock().unwrap();
        for r in batch.records {
            if rows.get(&r.refund_id).is_none_or(|old| old.modified <= r.modified) {
                rows.insert(r.refund_id, r);
            }
        }
        if let Some(c) = batch.checkpoint {
            let mut cps = self.checkpoints.lock().unwrap();
            let old = cps.insert(batch.stream.method.clone(), c.clone());
            assert!(
                old.is_none_or(|o| o.window_end <= c.window_end),
                "checkpoint moved backwards"
            );
        }
        Ok(CommitReport::default())
    }
    async fn reset_checkpoint(&self, _: &StreamId, _: &Checkpoint) -> Result<(), Never> {
        Ok(())
    }
}

fn whole_second(t: NaiveDateTime) -> NaiveDateTime {
    t.with_nanosecond(0).unwrap()
}

/// refund_id -> (modified to the second, status) of the simulator's data (the history method
/// writes `modified` to the second).
fn truth(sim: &Simulator) -> BTreeMap<i64, (NaiveDateTime, i64)> {
    sim.snapshot()
        .iter()
        .map(|v| {
            let id = v["refund_id"].to_string().trim_matches('"').parse::<i64>().unwrap();
            let ms = v["modified"].to_string().trim_matches('"').parse::<i64>().unwrap();
            let status = v["status"].as_i64().unwrap();
            (id, (whole_second(from_epoch_ms(ms).unwrap()), status))
        })
        .collect()
}

fn stored(sink: &MemSink) -> BTreeMap<i64, (NaiveDateTime, i64)> {
    sink.rows
        .lock()
        .unwrap()
        .iter()
        .map(|(k, r)| (*k, (whole_second(r.modified.unwrap()), r.status.unwrap().code())))
        .collect()
}

fn client_with_clock(sim: &Simulator, qimen: bool, clock: Arc<dyn Clock>) -> Client {
    let route = if qimen {
        Route::Qimen {
            url: sim.qimen_url(),
            qimen: sim.qimen_credentials(),
            wdt: sim.wdt_credentials(),
        }
    } else {
        Route::Native {
            url: sim.native_url(),
            wdt: sim.wdt_credentials(),
        }
    };
    Client::builder(route)
        .clock(clock)
        .rate_limit(RateLimitConfig::unlimited().with_max_in_flight(1))
        .retry(RetryConfig::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5)))
        .build()
        .unwrap()
}

fn cfg(start: NaiveDateTime, history: bool) -> SyncConfig {
    let mut c = SyncConfig::default();
    c.start = start;
    c.settle_lag = TimeDelta::zero();
    c.overlap = TimeDelta::seconds(5);
    c.page_size = 200;
    c.history = history;
    c
}

fn start_2024() -> NaiveDateTime {
    parse_wdt("2024-01-01 00:00:00").unwrap()
}

/// A first sync from 2024 (and its periodic history read) of a simulator whose refunds older
/// than 60 days in a final status are archived.
async fn first_sync(qimen: bool, history: bool) -> (Simulator, SyncEngine<MemSink>) {
    let sim = Simulator::builder()
        .seed(if qimen { 11 } else { 12 })
        .refunds(1500)
        .archive_after(TimeDelta::days(60))
        .start()
        .await;
    let engine = SyncEngine::new(
        client_with_clock(&sim, qimen, Arc::new(SystemClock)),
        MemSink::default(),
        cfg(start_2024(), history),
    );
    engine.run().await.unwrap();
    if let Some(pass) = engine.recent_history() {
        pass.run().await.unwrap();
    }
    (sim, engine)
}

#[tokio::test]
async fn a_first_sync_from_2024_reads_the_archive_and_ends_equal_to_the_data_on_both_routes() {
    for qimen in [false, true] {
        let (sim, engine) = first_sync(qimen, true).await;
        let sink = engine.sink();
        let archived: BTreeSet<i64> = sim.archived_ids().into_iter().map(|i| i as i64).collect();
        assert!(
            archived.len() > 300,
            "the data set should have an archive: {}",
            archived.len()
        );
        let truth = truth(&sim);
        let stored = stored(sink);
        assert_eq!(stored.len(), truth.len(), "qimen={qimen}");
        let differ: Vec<_> = truth.iter().filter(|(k, v)| stored.get(k) != Some(v)).take(5).collect();
        assert!(differ.is_empty(), "qimen={qimen}: {differ:?}");
        let rows = sink.rows.lock().unwrap();
        for (id, r) in rows.iter() {
            let want = if archived.contains(id) {
                RefundSource::History
            } else {
                RefundSource::Live
            };
            assert_eq!(r.source, want, "refund {id}");
            if want == RefundSource::History {
                // History-only fields are kept; fields history lacks are None.
                assert!(r.salesman.is_some() && r.operator_id.is_some() && r.pay_status.is_some());
                assert!(r.src_tids.is_none() && r.platform_id.is_none() && r.amount_detail_list.is_empty());
            } else {
                assert!(r.salesman.is_none() && r.src_tids.is_some());
            }
        }
    }
}

#[tokio::test]
async fn without_history_reads_the_same_first_sync_loses_exactly_the_archived_refunds() {
    for qimen in [false, true] {
        let (sim, engine) = first_sync(qimen, false).await;
        let sink = engine.sink();
        assert!(engine.recent_history().is_none());
        let archived: BTreeSet<i64> = sim.archived_ids().into_iter().map(|i| i as i64).collect();
        let truth = truth(&sim);
        let stored = stored(sink);
        let missing: BTreeSet<i64> = truth.keys().filter(|k| !stored.contains_key(k)).copied().collect();
        assert!(!archived.is_empty());
        assert_eq!(missing, archived, "qimen={qimen}");
        assert_eq!(sim.stats().history_pages_served, 0);
    }
}

#[tokio::test]
async fn a_refund_archived_between_two_incremental_runs_is_picked_up_by_the_periodic_history_read() {
    for qimen in [false, true] {
        let clock = Arc::new(ShiftedClock::new(TimeDelta::zero()));
        let now = to_beijing(clock.now());
        let sim = Simulator::builder()
            .seed(31)
            .refunds(300)
            .time_range(now - TimeDelta::days(10), now - TimeDelta::hours(2))
            .archive_after(TimeDelta::hours(1))
            .clock(clock.clone())
            .start()
            .await;
        let engine = SyncEngine::new(
            client_with_clock(&sim, qimen, clock.clone()),
            MemSink::default(),
            cfg(now - TimeDelta::days(11), true),
        );
        let sink = engine.sink();
        engine.run().await.unwrap();
        engine.recent_history().unwrap().run().await.unwrap();
        assert_eq!(stored(sink), truth(&sim), "after the first sync");

        // A live refund is completed now; a day later it is archived before the next run.
        let live: BTreeSet<u64> = sim.archived_ids().into_iter().collect();
        let id = truth(&sim)
            .iter()
            .find(|(id, (_, status))| ![10, 90].contains(status) && !live.contains(&(**id as u64)))
            .map(|(id, _)| *id)
            .unwrap();
        assert!(sim.set_status_now(id as u64, 90));
        clock.advance(TimeDelta::hours(25));
        assert!(sim.archived_ids().contains(&(id as u64)));

        let report = engine.run().await.unwrap();
        assert_eq!(report.history_windows, 0, "an incremental run reads Refund.search only");
        let after_live = stored(sink);
        assert_ne!(after_live[&id].1, 90, "the live search cannot see the archived refund");

        let pass = engine.recent_history().expect("history on");
        assert!(pass.stream().method.contains("#history:"), "{:?}", pass.stream());
        pass.run().await.unwrap();
        assert_eq!(
            stored(sink),
            truth(&sim),
            "qimen={qimen}: after the periodic history read"
        );
        assert_eq!(sink.rows.lock().unwrap()[&id].source, RefundSource::History);
        // The pass is done for this period: running it again sends no request.
        let before = sim.stats().requests;
        engine.recent_history().unwrap().run().await.unwrap();
        assert_eq!(sim.stats().requests, before);
        // It never moved the live checkpoint.
        let cps = sink.checkpoints.lock().unwrap();
        let live_cp = &cps[engine.stream().method.as_str()];
        assert!(live_cp.window_end <= to_beijing(clock.now()));
        assert_eq!(cps.len(), 3, "live, first-sync pass and today's pass: {:?}", cps.keys());
    }
}

/// The official sample answer of `aftersales.refund.Refund.searchHistory` (section 6.1),
/// including its keys with stray spaces.
const DOC_SAMPLE: &str = r#"{"status": 0, "data": {"total_count": 1, "order": [{"flag_id": 0, "reason": "无",
 "tid_list": "AT201810260027", "operator_id": 21, "detail_list": [], "refund_no": "TK1810260005",
 "return_mobile ": "", "bad_reason": 0, "remark": "", "return_telno": "~fSQFZ/yni5sB7AbC9Kt5oA==~1~",
 "type": 3, "stockin_status": 0, "flag_name": "无", "salesman_id": 21, "return_goods_count": 2.0000,
 "pay_status": 0, " receiver_telno": "16619955153", "receiver_name": "王召红",
 "modified": "2018-10-26 14:52:15", "return_name": "~fSQFZ/yni5sB7AbC9Kt5oA==~1~",
 "return_warehouse_id": 12, "shop_no": "001", "from_type ": 1, "created": "2018-10-26 14:49:02",
 "trade_no_list": "JY201810260048", "return_logistics_no": "", "return_goods_amount": 13.0000,
 "guarantee_refund_amount": 0.0000, "return_logistics_name": "销 售退货专用物流", "refund_id": 20,
 "settle_time": "", "reason_id": 0, "shop_id": 10, "buyer_nick": "~GY2AcukFtGPJiW2+UvWl/y2Ri5KB5++K/7HI+nixOf0=~1~",
 "actual_refund_amount": 12.9800, "revert_reason ": 0, "return_warehouse_no": "001",
 "direct_refund_amount": 13.0000, "stockin_no": "", "receive_amount": 0.0200, "salesman": "W",
 "return_mask": 0, "status": 10}]}}"#;

fn native_route(server: &MockServer) -> Route {
    Route::Native {
        url: format!("{}/openapi", server.uri()),
        wdt: WdtCredentials::new("sid1", "key1", "secret:salt").unwrap(),
    }
}

fn check_sample(r: &Refund) {
    assert_eq!(r.refund_id, 20);
    assert_eq!(r.source, RefundSource::History);
    assert_eq!(r.modified, Some(parse_wdt("2018-10-26 14:52:15").unwrap()));
    assert_eq!(r.created, Some(parse_wdt("2018-10-26 14:49:02").unwrap()));
    assert_eq!(r.settle_time, None);
    assert_eq!(r.reason.as_deref(), Some("无"));
    assert_eq!(
        (r.operator_id, r.salesman_id, r.pay_status, r.flag_id),
        (Some(21), Some(21), Some(0), Some(0))
    );
    assert_eq!(r.salesman.as_deref(), Some("W"));
    assert_eq!(r.return_mobile.as_deref(), Some(""));
    assert_eq!(r.return_name.as_deref(), Some("~fSQFZ/yni5sB7AbC9Kt5oA==~1~"));
    assert_eq!(r.stockin_no.as_deref(), Some(""));
    assert_eq!(r.receiver_telno.as_deref(), Some("16619955153"));
    assert_eq!(r.from_type.map(|f| f.code()), Some(1));
    assert_eq!(r.revert_reason, Some(0));
    assert_eq!(r.actual_refund_amount.unwrap().to_string(), "12.9800");
    assert_eq!(r.receive_amount.unwrap().to_string(), "0.0200");
    assert_eq!(r.status.map(|s| s.code()), Some(10));
    assert!(r.detail_list.is_empty() && r.amount_detail_list.is_empty());
    // Fields the history method does not have.
    assert!(r.src_tids.is_none() && r.check_time.is_none() && r.platform_id.is_none() && r.reason_name.is_none());
    assert_eq!(
        r.extra.get("return_telno"),
        Some(&json!("~fSQFZ/yni5sB7AbC9Kt5oA==~1~"))
    );
    assert!(!r.extra.contains_key("return_mobile "), "{:?}", r.extra.keys());
}

#[tokio::test]
async fn the_official_history_sample_decodes_into_a_refund_on_both_routes() {
    let server = MockServer::start().await;
    // Native: the history method, page_no 0 on the wire for page 1 (VERIFIED: "从0开始").
    Mock::given(method("POST"))
        .and(query_param("method", "aftersales.refund.Refund.searchHistory"))
        .and(query_param("page_no", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(DOC_SAMPLE, "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::builder(native_route(&server)).build().unwrap();
    let q = RefundHistorySearch::between("2018-10-25 10:32:12", "2018-10-29 10:32:12").unwrap();
    let page = client.page(&q, 1).await.unwrap();
    assert_eq!(
        (page.total_count, page.items.len(), page.rejected.len()),
        (Some(1), 1, 0)
    );
    check_sample(&page.items[0]);

    // Qimen: the same data inside `response`, the method name in lower case.
    let qimen = MockServer::start().await;
    let wrapped = format!(r#"{{"response": {}}}"#, DOC_SAMPLE);
    Mock::given(method("POST"))
        .and(query_param("method", "wdt.aftersales.refund.refund.searchhistory"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(wrapped, "application/json"))
        .expect(1)
        .mount(&qimen)
        .await;
    let route = Route::Qimen {
        url: format!("{}/router/qm", qimen.uri()),
        qimen: wdt_qimen::QimenCredentials::new("qkey", "qsecret").unwrap(),
        wdt: WdtCredentials::new("sid1", "key1", "secret:salt").unwrap(),
    };
    let client = Client::builder(route).build().unwrap();
    let items: Vec<Result<Refund, Error>> = client.pages(q).items().collect().await;
    assert_eq!(items.len(), 1);
    check_sample(items[0].as_ref().unwrap());
}

/// A return stock-in as the official sample of `wms.stockin.Refund.queryWithDetail` writes it
/// (trimmed), and a second record whose `stockin_id` does not decode.
const STOCKIN_PAGE: &str = r#"{"status": 0, "data": {"total_count": 2, "summary_data": [], "order": [
 {"logistics_name": "无", "order_no": "RK2408300001", "status": 80, "warehouse_no": "wdtapi3-test",
  "created_time": 1725010715000, "modified": "2024-08-30 17:38:45", "src_order_id": 57759,
  "refund_no": "TK2408300001", "stockin_id": 55185, "goods_count": 2, "total_price": "0.0000", "type": 2,
  "details_list": [{"stockin_id": 55185, "num": 2, "remark": "", "right_num": 2, "rec_id": 202147,
   "goods_name": "wangdiantong", "goods_no": "wangdiantong", "spec_no": "wangdiantong", "defect": false,
   "goods_id": 1, "spec_id": 1, "modified": "2024-08-30 17:38:45", "created": "2024-08-30 17:38:35",
   "refund_order_detail_list": [{"refund_order_id": 60180, "stockin_order_detail_id": 202147}]}]},
 {"stockin_id": "abc", "modified": "2024-08-30 17:40:00"}]}}"#;

#[tokio::test]
async fn a_third_method_is_one_endpoint_its_stream_decodes_records_and_surfaces_the_undecodable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(query_param("method", "wms.stockin.Refund.queryWithDetail"))
        .and(query_param("page_no", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(STOCKIN_PAGE, "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::builder(native_route(&server)).build().unwrap();
    let q = StockinRefundQuery::between("2024-08-01 00:00:00", "2024-08-31 00:00:00").unwrap();
    let items: Vec<_> = client.pages(q).items().collect().await;
    assert_eq!(items.len(), 2, "{items:?}");
    let s = items[0].as_ref().unwrap();
    assert_eq!((s.stockin_id, s.src_order_id, s.status), (55185, Some(57759), Some(80)));
    assert_eq!(s.modified, Some(parse_wdt("2024-08-30 17:38:45").unwrap()));
    assert_eq!(s.created_time, Some(parse_wdt("2024-08-30 17:38:35").unwrap()));
    assert_eq!(s.stockin_type, Some(2));
    assert_eq!(s.details_list.len(), 1);
    assert_eq!(s.details_list[0].rec_id, Some(202147));
    assert_eq!(s.details_list[0].defect, Some(false));
    assert!(s.details_list[0].extra.contains_key("refund_order_detail_list"));
    match &items[1] {
        Err(Error::Rejected { page_no: 1, record, .. }) => {
            assert!(record.0.reason.contains("stockin_id"), "{}", record.0.reason);
            assert!(record.0.raw_json.contains("\"abc\""));
        }
        other => panic!("{other:?}"),
    }
}
