//! `cargo bench --bench batch_insert`: MySqlSink against `LOAD DATA LOCAL INFILE`.
//!
//! For n = 10,000 and 100,000 generated flat rows (~850 bytes each, Chinese text), in two modes:
//! - `empty`: the table is truncated before each run (untimed), then the rows are written;
//! - `overwrite`: the table holds the previous generation of the same keys, and every row is
//!   replaced by a newer one (the refunds' `modified` moves forward each run).
//!
//! Per case, every iteration times `MySqlSink::commit` of all rows (one batch, upsert mode, flat
//! layout) and, as the reference, `LOAD DATA LOCAL INFILE` of the same rows from a file into the
//! same table (`REPLACE` in overwrite mode; the file is read in 1 MiB chunks inside the timed
//! region), alternating which runs first. Criterion reports the sink's time; the run ends with
//! one line per case:
//! `batch_insert n=… mode=… sink_rows_per_s=… load_data_rows_per_s=… ratio=…`
//! where each rate comes from the median of its runs in the same iterations.
//!
//! A mapping with a dozen transforms, `examples/mappings/bi_aftersales.toml` (Chinese column
//! names; labels, format, date, timezone, multiply/round to fen, trim/upper, clip, concat, a
//! Rhai expression), is measured at n = 10,000 in both modes: every iteration commits the same
//! refunds through a sink built with `.mapping(…)` of it and through the flat sink, alternating
//! which runs first, and the run ends with
//! `batch_insert mapping=bi_aftersales n=… mode=… sink_rows_per_s=… flat_rows_per_s=… ratio_to_flat=…`
//! (the mapped table's rate against the flat layout's over the same iterations; both write one
//! row per goods line).
//!
//! Measured on 2026-12-01 (2 cores, MariaDB 10.11 on the same machine, other builds running:
//! load average 3-7 while it ran; release; the mapping engine writing the flat preset):
//! ```text
//! batch_insert n=10000 mode=empty sink_rows_per_s=9125 load_data_rows_per_s=9832 ratio=0.928
//! batch_insert n=10000 mode=overwrite sink_rows_per_s=12415 load_data_rows_per_s=12950 ratio=0.959
//! batch_insert n=100000 mode=empty sink_rows_per_s=17913 load_data_rows_per_s=19280 ratio=0.929
//! batch_insert n=100000 mode=overwrite sink_rows_per_s=13966 load_data_rows_per_s=14560 ratio=0.959
//! batch_insert mapping=bi_aftersales n=10000 mode=empty sink_rows_per_s=19472 flat_rows_per_s=10586 ratio_to_flat=1.839
//! batch_insert mapping=bi_aftersales n=10000 mode=overwrite sink_rows_per_s=28531 flat_rows_per_s=11645 ratio_to_flat=2.450
//! ```
//! (Before the JSON text was made only for tables that read `raw`, the same machine gave ratios
//! 0.826 / 0.825 at n=10,000 and 1.122 / 0.932 at n=100,000.)
//! The mapped table is faster than the flat one although every row goes through its
//! transforms: it has 22 columns against the flat layout's 88 (~900 bytes a row).
//!
//! `MYSQL_URL` selects the server (default `mysql://root@127.0.0.1:3306/test`); the bench works
//! in its own database and drops it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use futures::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, InfileData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use refund_sink_mysql::schema::Table;
use refund_sink_mysql::{redact_url, tsv, Mapping, MappingSpec, MySqlSink};
use rust_decimal::Decimal;
use wdt_qimen::model::{AmountDetail, Refund, RefundDetail, RefundStatus, RefundType};
use wdt_qimen::sync::{Batch, Sink, StreamId, WindowBounds};

const SIZES: [usize; 2] = [10_000, 100_000];
const MODES: [&str; 2] = ["empty", "overwrite"];
const TABLE: &str = "aftersales_refund_refund_search";
/// The sizes the mapping case runs at.
const MAPPING_SIZES: [usize; 1] = [10_000];
/// The mapped table of `examples/mappings/bi_aftersales.toml`.
const MAPPED_TABLE: &str = "bi_aftersales";
const MAPPING: &str = include_str!("../examples/mappings/bi_aftersales.toml");

const GOODS: &[&str] = &[
    "夏季新款纯棉短袖T恤男士宽松圆领半袖上衣潮牌百搭打底衫",
    "加厚保暖羽绒服女中长款过膝韩版修身连帽白鸭绒外套",
    "不锈钢保温杯大容量男女学生便携水杯316食品级茶杯",
    "无线蓝牙耳机半入耳式降噪超长续航运动跑步适用苹果华为",
    "儿童益智拼图玩具3到6岁男孩女孩宝宝早教木质积木套装",
];
const SPECS: &[&str] = &[
    "颜色分类:白色;尺码:XL",
    "颜色分类:藏青色;尺码:L",
    "规格:500ml;颜色:磨砂黑",
    "套餐一:标准版",
];
const REASONS: &[&str] = &[
    "七天无理由退货",
    "尺码不合适",
    "商品与描述不符",
    "质量问题",
    "发错货",
    "不想要了",
];
const REMARKS: &[&str] = &[
    "客户要求退货退款，已联系快递上门取件，请仓库注意查收并核对商品完好后入库",
    "买家反馈收到商品有破损，已提供照片凭证，同意退款，运费由商家承担",
    "换货处理：原商品退回后按买家新选规格重新发货，备注地址不变",
];
const NAMES: &[&str] = &["张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆"];
const LOGISTICS: &[&str] = &["顺丰速运", "中通快递", "圆通速递", "韵达快递", "京东物流"];

fn base_time() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 6, 1)
        .unwrap()
        .and_hms_opt(8, 0, 0)
        .unwrap()
}

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.gen_range(0..from.len())]
}

fn money(rng: &mut StdRng) -> Decimal {
    Decimal::new(rng.gen_range(100..5_000_000), 2)
}

/// Refunds with exactly `rows` flat rows in total (1–3 lines each).
fn generate(rows: usize, seed: u64) -> Vec<Refund> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut made = 0;
    let mut id = 1_000_000i64;
    while made < rows {
        id += 1;
        let lines = rng.gen_range(1..=3usize).min(rows - made);
        made += lines;
        let created = base_time() + chrono::Duration::seconds(rng.gen_range(0..86_400 * 30));
        let nick = format!("{}的小店买家{}", pick(&mut rng, NAMES), rng.gen_range(1000..9999));
        let detail_list = (0..lines)
            .map(|i| {
                let price = money(&mut rng);
                RefundDetail {
                    rec_id: Some(id * 10 + i as i64),
                    refund_id: Some(id),
                    oid: Some(format!("AD{}{:04}", id, i)),
                    trade_order_id: Some(id * 7 + i as i64),
                    platform_id: Some(127),
                    tid: Some(format!("38{:016}", id * 13)),
                    trade_no: Some(format!("JY2024{:010}", id)),
                    num: Some(Decimal::from(rng.gen_range(1..5))),
                    price: Some(price),
                    original_price: Some(price + Decimal::new(1000, 2)),
                    checked_cost_price: Some(price / Decimal::from(2)),
                    refund_num: Some(Decimal::ONE),
                    total_amount: Some(price),
                    refund_amount: Some(price),
                    is_guarantee: Some(rng.gen_bool(0.5)),
                    goods_no: Some(format!("GN{:08}", rng.gen_range(0..99_999_999))),
                    goods_name: Some(pick(&mut rng, GOODS).to_owned()),
                    spec_name: Some(pick(&mut rng, SPECS).to_owned()),
                    spec_no: Some(format!("SP{:010}", rng.gen_range(0..9_999_999_999i64))),
                    ..Default::default()
                }
            })
            .collect();
        out.push(Refund {
            refund_id: id,
            src_tids: Some(format!("38{:016},38{:016}", id * 13, id * 17)),
            refund_no: Some(format!("TK2406{:08}", id)),
            remark: Some(pick(&mut rng, REMARKS).to_owned()),
            refund_type: Some(RefundType::from(rng.gen_range(1..5))),
            stockin_status: None,
            flag_name: Some("无".into()),
            return_goods_count: Some(Decimal::from(lines as i64)),
            receiver_telno: Some(format!("1{:010}", rng.gen_range(3_000_000_000i64..9_999_999_999))),
            receiver_name: Some(pick(&mut rng, NAMES).to_owned()),
            modified: Some(created + chrono::Duration::milliseconds(rng.gen_range(1_000..9_000_000))),
            note_count: Some(0),
            shop_no: Some("tmall_flagship_01".into()),
            from_type: None,
            created: Some(created),
            settle_time: None,
            check_time: Some(created + chrono::Duration::hours(2)),
            return_logistics_no: Some(format!("SF{:012}", rng.gen_range(0..999_999_999_999i64))),
            trade_no_list: Some(format!("JY2024{:010}", id)),
            guarantee_refund_amount: Some(Decimal::ZERO),
            return_goods_amount: Some(money(&mut rng)),
            return_logistics_name: Some(pick(&mut rng, LOGISTICS).to_owned()),
            reason_name: Some(pick(&mut rng, REASONS).to_owned()),
            refund_reason: Some(pick(&mut rng, REASONS).to_owned()),
            buyer_nick: Some(nick),
            operator_name: Some("客服小王".into()),
            actual_refund_amount: Some(money(&mut rng)),
            revert_reason_name: None,
            return_warehouse_no: Some("WH-EAST-01".into()),
            direct_refund_amount: Some(Decimal::ZERO),
            receive_amount: Some(Decimal::ZERO),
            customer_name: Some(pick(&mut rng, NAMES).to_owned()),
            status: Some(RefundStatus::from(30)),
            shop_id: Some(12),
            trade_id: Some(id * 3),
            raw_refund_nos: Some(format!("{}", 200_000_000_000i64 + id)),
            pay_id: Some(format!("2024060122001{:010}", id)),
            shop_platform_id: Some(1),
            tid_list: Some(format!("38{:016}", id * 13)),
            sub_platform_id: Some(0),
            return_warehouse_id: Some(3),
            platform_id: Some(127),
            modified_date: Some(created),
            reason_id: Some(rng.gen_range(1..40)),
            customer_id: Some(rng.gen_range(1..1_000_000)),
            refund_time: Some(created + chrono::Duration::days(1)),
            detail_list,
            amount_detail_list: vec![AmountDetail {
                rec_id: Some(id),
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    out
}

/// Generation `g` of `base`: every refund newer by `g` seconds and with a changed remark.
fn generation(base: &[Refund], g: u64) -> Vec<Refund> {
    base.iter()
        .map(|r| {
            let mut r = r.clone();
            r.modified = r.modified.map(|m| m + chrono::Duration::seconds(g as i64));
            r.remark = r.remark.map(|s| format!("{s}（第{g}版）"));
            r
        })
        .collect()
}

/// `url` with its database replaced by `db`.
fn url_with_db(url: &str, db: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let (head, query) = url.find('?').map_or((url, ""), |q| (&url[..q], &url[q..]));
    let host_end = head[scheme_end..].find('/').map_or(head.len(), |i| scheme_end + i);
    format!("{}/{db}{query}", &head[..host_end])
}

/// A LOAD DATA stream reading `path` in 1 MiB chunks.
fn file_stream(path: &Path) -> std::io::Result<InfileData> {
    let mut file = std::fs::File::open(path)?;
    let chunks = std::iter::from_fn(move || {
        let mut buf = vec![0u8; 1 << 20];
        match file.read(&mut buf) {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some(Ok(bytes::Bytes::from(buf)))
            }
            Err(e) => Some(Err(e)),
        }
    });
    Ok(futures::stream::iter(chunks).boxed())
}

type Key = (usize, &'static str, &'static str);

struct Bench {
    db: String,
    server_url: String,
    sink: MySqlSink,
    /// Writes the tables of `bi_aftersales.toml`.
    mapped: MySqlSink,
    reference: tokio::sync::Mutex<Conn>,
    dir: PathBuf,
    generation: Mutex<u64>,
    order: Mutex<bool>,
    times: Mutex<BTreeMap<Key, Vec<Duration>>>,
}

impl Bench {
    async fn start(server_url: String) -> Result<Bench, String> {
        let db = format!("wdt_bench_{}", std::process::id());
        let connect = tokio::time::timeout(Duration::from_secs(5), Conn::from_url(server_url.clone()));
        let mut admin = match connect.await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("timed out connecting".into()),
        };
        admin
            .query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
            .await
            .map_err(|e| e.to_string())?;
        admin
            .query_drop(format!("CREATE DATABASE `{db}` CHARACTER SET utf8mb4"))
            .await
            .map_err(|e| e.to_string())?;
        admin.disconnect().await.map_err(|e| e.to_string())?;
        let url = url_with_db(&server_url, &db);
        let sink = MySqlSink::builder(url.clone())
            .build()
            .await
            .map_err(|e| e.to_string())?;
        let spec: MappingSpec = toml::from_str(MAPPING).map_err(|e| e.to_string())?;
        let mapping = Mapping::compile(&spec, "").map_err(|e| e.to_string())?;
        let mapped = MySqlSink::builder(url.clone())
            .mapping(mapping)
            .build()
            .await
            .map_err(|e| e.to_string())?;
        let mut reference = Conn::from_url(url).await.map_err(|e| e.to_string())?;
        reference
            .query_drop("SET NAMES utf8mb4; SET time_zone = '+08:00'")
            .await
            .map_err(|e| e.to_string())?;
        let dir = std::env::temp_dir().join(format!("wdt_bench_{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        Ok(Bench {
            db,
            server_url,
            sink,
            mapped,
            reference: tokio::sync::Mutex::new(reference),
            dir,
            generation: Mutex::new(0),
            order: Mutex::new(false),
            times: Mutex::new(BTreeMap::new()),
        })
    }

    fn next_generation(&self) -> u64 {
        let mut g = self.generation.lock().unwrap();
        *g += 1;
        *g
    }

    /// Alternates between true and false.
    fn flip(&self) -> bool {
        let mut g = self.order.lock().unwrap();
        *g = !*g;
        *g
    }

    fn record(&self, key: Key, d: Duration) {
        self.times.lock().unwrap().entry(key).or_default().push(d);
    }

    async fn sql(&self, sql: &str) {
        self.reference.lock().await.query_drop(sql).await.expect(sql);
    }

    async fn rows_in_table(&self, table: &str) -> usize {
        let n: Option<usize> = self
            .reference
            .lock()
            .await
            .query_first(format!("SELECT COUNT(*) FROM `{table}`"))
            .await
            .unwrap();
        n.unwrap_or(0)
    }

    /// The sink writing `table` (the flat sink or the mapped one).
    fn sink_for(&self, table: &str) -> &MySqlSink {
        if table == MAPPED_TABLE {
            &self.mapped
        } else {
            &self.sink
        }
    }

    /// Untimed: makes `table` hold exactly the keys of `base` (mode overwrite) or nothing.
    async fn reset(&self, table: &str, base: &[Refund], rows: usize, mode: &str) {
        if mode == "empty" {
            self.sql(&format!("TRUNCATE TABLE `{table}`")).await;
        } else if self.rows_in_table(table).await != rows {
            self.sql(&format!("TRUNCATE TABLE `{table}`")).await;
            let g = self.next_generation();
            self.sink_for(table).commit(batch(generation(base, g))).await.unwrap();
        }
    }

    /// Times one commit of a new generation of `base` into `table`, recorded under `what`.
    async fn run_sink(
        &self,
        table: &str,
        base: &[Refund],
        rows: usize,
        mode: &'static str,
        what: &'static str,
    ) -> Duration {
        self.reset(table, base, rows, mode).await;
        let records = generation(base, self.next_generation());
        let b = batch(records);
        let t0 = Instant::now();
        let report = self.sink_for(table).commit(b).await.unwrap();
        let d = t0.elapsed();
        let written = report.inserted + report.updated;
        assert_eq!(written as usize, rows, "{table}: {report:?}");
        self.record((rows, mode, what), d);
        d
    }

    async fn run_load_data(&self, base: &[Refund], rows: usize, mode: &'static str) -> Duration {
        self.reset(TABLE, base, rows, mode).await;
        let records = generation(base, self.next_generation());
        let path = self.dir.join(format!("rows_{rows}.tsv"));
        std::fs::write(&path, tsv::flat_tsv("bench", &records).unwrap()).unwrap();
        let sql = tsv::load_data_sql(Table::Flat, TABLE, path.to_str().unwrap(), mode == "overwrite");
        let mut conn = self.reference.lock().await;
        let t0 = Instant::now();
        let p = path.clone();
        conn.set_infile_handler(async move { file_stream(&p).map_err(|e| mysql_async::Error::Io(e.into())) });
        conn.query_drop(&sql).await.unwrap();
        let d = t0.elapsed();
        assert_eq!(conn.get_warnings(), 0, "{}", conn.info());
        drop(conn);
        self.record((rows, mode, "load_data"), d);
        d
    }

    fn median(&self, key: Key) -> Option<Duration> {
        let times = self.times.lock().unwrap();
        let mut v = times.get(&key)?.clone();
        v.sort();
        v.get(v.len() / 2).copied()
    }

    async fn finish(self) {
        let _ = self.sink.disconnect().await;
        let _ = self.mapped.disconnect().await;
        let _ = self.reference.into_inner().disconnect().await;
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Ok(mut admin) = Conn::from_url(self.server_url.clone()).await {
            let _ = admin.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.db)).await;
            let _ = admin.disconnect().await;
        }
    }
}

fn batch(records: Vec<Refund>) -> Batch<Refund> {
    Batch {
        stream: StreamId::new("bench", "aftersales.refund.Refund.search"),
        window: WindowBounds {
            from: base_time(),
            to: base_time() + chrono::Duration::days(60),
        },
        records,
        dead_letters: vec![],
        checkpoint: None,
    }
}

fn main() {
    let url = std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let bench = match rt.block_on(Bench::start(url.clone())) {
        Ok(b) => Arc::new(b),
        Err(e) => {
            println!(
                "batch_insert: no usable MySQL server at {} ({e}); skipping",
                redact_url(&url)
            );
            return;
        }
    };
    let runtime = &rt;
    let mut criterion = Criterion::default().without_plots().configure_from_args();
    for rows in SIZES {
        let base = Arc::new(generate(rows, rows as u64));
        let bytes = tsv::flat_tsv("bench", &base).unwrap().len();
        println!(
            "batch_insert n={rows}: {} refunds, {} bytes of LOAD DATA text ({} bytes per row)",
            base.len(),
            bytes,
            bytes / rows
        );
        let mut group = criterion.benchmark_group(format!("batch_insert/n={rows}"));
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(1))
            .measurement_time(Duration::from_secs(1))
            .throughput(Throughput::Elements(rows as u64));
        for mode in MODES {
            // Each iteration times the sink and the reference on the same rows, alternating which
            // goes first, so background load drifts hit both sides alike. Criterion reports the
            // sink; the summary compares the two over the same iterations.
            let (bench, base) = (bench.clone(), base.clone());
            group.bench_function(BenchmarkId::new("sink_vs_load_data", mode), move |b| {
                b.to_async(runtime).iter_custom(|iters| {
                    let (bench, base) = (bench.clone(), base.clone());
                    async move {
                        let mut sink_total = Duration::ZERO;
                        for _ in 0..iters {
                            if bench.flip() {
                                sink_total += bench.run_sink(TABLE, &base, rows, mode, "sink").await;
                                bench.run_load_data(&base, rows, mode).await;
                            } else {
                                bench.run_load_data(&base, rows, mode).await;
                                sink_total += bench.run_sink(TABLE, &base, rows, mode, "sink").await;
                            }
                        }
                        sink_total
                    }
                })
            });
        }
        if MAPPING_SIZES.contains(&rows) {
            for mode in MODES {
                // The same refunds through the mapped sink and the flat one, alternating which
                // goes first; Criterion reports the mapped sink.
                let (bench, base) = (bench.clone(), base.clone());
                group.bench_function(BenchmarkId::new("mapping_bi_aftersales_vs_flat", mode), move |b| {
                    b.to_async(runtime).iter_custom(|iters| {
                        let (bench, base) = (bench.clone(), base.clone());
                        async move {
                            let mut mapped_total = Duration::ZERO;
                            for _ in 0..iters {
                                if bench.flip() {
                                    mapped_total += bench.run_sink(MAPPED_TABLE, &base, rows, mode, "mapped").await;
                                    bench.run_sink(TABLE, &base, rows, mode, "flat").await;
                                } else {
                                    bench.run_sink(TABLE, &base, rows, mode, "flat").await;
                                    mapped_total += bench.run_sink(MAPPED_TABLE, &base, rows, mode, "mapped").await;
                                }
                            }
                            mapped_total
                        }
                    })
                });
            }
        }
        group.finish();
    }
    criterion.final_summary();
    let mut lines = Vec::new();
    for rows in SIZES {
        for mode in MODES {
            let (Some(sink), Some(load)) = (
                bench.median((rows, mode, "sink")),
                bench.median((rows, mode, "load_data")),
            ) else {
                continue;
            };
            let sink_rps = rows as f64 / sink.as_secs_f64();
            let load_rps = rows as f64 / load.as_secs_f64();
            lines.push(format!(
                "batch_insert n={rows} mode={mode} sink_rows_per_s={sink_rps:.0} load_data_rows_per_s={load_rps:.0} ratio={:.3}",
                sink_rps / load_rps
            ));
        }
    }
    for rows in MAPPING_SIZES {
        for mode in MODES {
            let (Some(mapped), Some(flat)) = (bench.median((rows, mode, "mapped")), bench.median((rows, mode, "flat")))
            else {
                continue;
            };
            let mapped_rps = rows as f64 / mapped.as_secs_f64();
            let flat_rps = rows as f64 / flat.as_secs_f64();
            lines.push(format!(
                "batch_insert mapping=bi_aftersales n={rows} mode={mode} sink_rows_per_s={mapped_rps:.0} flat_rows_per_s={flat_rps:.0} ratio_to_flat={:.3}",
                mapped_rps / flat_rps
            ));
        }
    }
    if let Ok(bench) = Arc::try_unwrap(bench) {
        rt.block_on(bench.finish());
    }
    for line in lines {
        println!("{line}");
    }
}
