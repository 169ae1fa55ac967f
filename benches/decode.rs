//! Typed page decoding against `serde_json::Value` on the same bytes (the target: typed at
//! least as fast). `cargo bench --bench decode` ends with
//! `decode records=200 typed_mb_s=… value_mb_s=… ratio=…`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use wdt_qimen::transport::{decode_page, PageRequest};
use wdt_qimen::Refund;

/// A 200-refund page built from the official sample, each refund with its own ids.
fn page_body() -> String {
    let sample: serde_json::Value =
        serde_json::from_str(include_str!("../wdt-qimen/tests/fixtures/refund_search_official.json")).expect("fixture");
    let one = &sample["data"]["order"][0];
    let orders: Vec<serde_json::Value> = (0..200)
        .map(|i| {
            let mut r = one.clone();
            r["refund_id"] = serde_json::json!(1_000_000 + i);
            r["refund_no"] = serde_json::json!(format!("TK2306{i:06}"));
            r
        })
        .collect();
    serde_json::json!({"status": 0, "data": {"total_count": 200, "order": orders}}).to_string()
}

fn typed(body: &str) -> usize {
    let p = decode_page::<Refund>(
        "m",
        body,
        PageRequest {
            page_no: 1,
            page_size: 200,
        },
    )
    .expect("decodes");
    assert!(p.rejected.is_empty());
    p.items.len()
}

fn value(body: &str) -> usize {
    let v: serde_json::Value = serde_json::from_str(body).expect("decodes");
    v["data"]["order"].as_array().map_or(0, Vec::len)
}

fn bench(c: &mut Criterion) {
    let body = page_body();
    let mut g = c.benchmark_group("decode_page");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_with_input(BenchmarkId::new("typed", 200), &body, |b, body| b.iter(|| typed(body)));
    g.bench_with_input(BenchmarkId::new("value", 200), &body, |b, body| b.iter(|| value(body)));
    g.finish();
}

/// Alternates the two in short rounds (so machine noise hits both alike), keeps each one's best
/// round, and prints the summary line.
fn summary() {
    let body = page_body();
    let round = |f: fn(&str) -> usize| {
        let (start, mut n) = (Instant::now(), 0u64);
        while start.elapsed() < Duration::from_millis(300) {
            std::hint::black_box(f(std::hint::black_box(&body)));
            n += 1;
        }
        n as f64 * body.len() as f64 / start.elapsed().as_secs_f64() / 1e6
    };
    let (mut t, mut v) = (0f64, 0f64);
    for _ in 0..6 {
        t = t.max(round(typed));
        v = v.max(round(value));
    }
    println!(
        "decode records=200 typed_mb_s={t:.1} value_mb_s={v:.1} ratio={:.2}",
        t / v
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = bench
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
