//! Test helpers: a throwaway database per test, refunds to write, and table readers.
#![allow(dead_code)]

pub mod proxy;
pub mod server;

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{NaiveDate, NaiveDateTime};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};
use refund_sink_mysql::{Layout, MySqlSink, MySqlSinkBuilder, WriteMode};
use rust_decimal::Decimal;
use wdt_qimen::model::{AmountDetail, Refund, RefundDetail, RefundStatus, RefundType};
use wdt_qimen::sync::{Batch, Checkpoint, StreamId, WindowBounds};

/// The server to test against (`MYSQL_URL`, default the local MariaDB).
pub fn base_url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// `url` with its host and port replaced by `127.0.0.1:port` (a proxy), staying on TCP.
pub fn url_through(url: &str, port: u16) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let path = rest.find('/').unwrap_or(rest.len());
    let user_end = rest[..path].rfind('@').map_or(0, |i| i + 1);
    let sep = if url.contains('?') { '&' } else { '?' };
    format!(
        "{}{}127.0.0.1:{port}{}{sep}prefer_socket=false",
        &url[..start],
        &rest[..user_end],
        &rest[path..]
    )
}

/// The socket address of [`base_url`]'s server.
pub async fn base_addr() -> std::net::SocketAddr {
    let opts = mysql_async::Opts::from_url(&base_url()).expect("MYSQL_URL");
    let mut addrs = tokio::net::lookup_host((opts.ip_or_hostname(), opts.tcp_port()))
        .await
        .expect("MYSQL_URL host");
    addrs.next().expect("an address")
}

/// `url` with its database replaced by `db`.
pub fn url_with_db(url: &str, db: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let (head, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let host_end = head[scheme_end..].find('/').map_or(head.len(), |i| scheme_end + i);
    format!("{}/{db}{query}", &head[..host_end])
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database made for one test; [`TestDb::drop_db`] removes it, and so does `Drop` when a
/// test fails before that.
pub struct TestDb {
    pub name: String,
    pub url: String,
    /// The server URL the database was made on (and is dropped through).
    pub base: String,
    dropped: bool,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // A panicking test: drop the database from a thread with its own runtime.
        let name = self.name.clone();
        let base = self.base.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = Conn::from_url(base).await {
                    let _ = conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`")).await;
                    let _ = conn.disconnect().await;
                }
            });
        })
        .join();
    }
}

impl TestDb {
    /// Creates `wdt_sink_<tag>_<pid>_<n>` on the server of `MYSQL_URL`.
    pub async fn new(tag: &str) -> TestDb {
        TestDb::on(&base_url(), tag).await
    }

    /// Creates `wdt_sink_<tag>_<pid>_<n>` on the server at `base`.
    pub async fn on(base: &str, tag: &str) -> TestDb {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("wdt_sink_{tag}_{}_{n}", std::process::id());
        let mut conn = Conn::from_url(base).await.expect("MariaDB must be running (MYSQL_URL)");
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
            .await
            .unwrap();
        conn.query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
            .await
            .unwrap();
        conn.disconnect().await.unwrap();
        let url = url_with_db(base, &name);
        TestDb {
            name,
            url,
            base: base.to_owned(),
            dropped: false,
        }
    }

    /// A sink builder on this database.
    pub fn sink(&self) -> MySqlSinkBuilder {
        MySqlSink::builder(self.url.clone())
    }

    /// A plain connection to this database.
    pub async fn conn(&self) -> Conn {
        Conn::from_url(self.url.clone()).await.unwrap()
    }

    /// Rows of a query as text (`None` for NULL), as the text protocol returns them.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let mut c = self.conn().await;
        let rows = query_rows(&mut c, sql).await;
        c.disconnect().await.unwrap();
        rows
    }

    /// `SELECT COUNT(*) FROM table`.
    pub async fn count(&self, table: &str) -> u64 {
        let mut c = self.conn().await;
        let n: Option<u64> = c.query_first(format!("SELECT COUNT(*) FROM `{table}`")).await.unwrap();
        c.disconnect().await.unwrap();
        n.unwrap()
    }

    /// Drops the database.
    pub async fn drop_db(mut self) {
        self.dropped = true;
        let mut conn = Conn::from_url(self.base.clone()).await.unwrap();
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name))
            .await
            .unwrap();
        conn.disconnect().await.unwrap();
    }
}

/// A MySQL account made for one test on both hosts (`%` and `localhost`: an anonymous
/// `''@'localhost'` account would otherwise shadow `%`); dropped by [`TestUser::drop_user`],
/// and by `Drop` when a test fails before that.
pub struct TestUser {
    pub name: String,
    pub url: String,
    dropped: bool,
}

impl TestUser {
    /// Creates `name` with `password` and runs `grants` (`GRANT … TO {user}`, where `{user}`
    /// is replaced by the account) for each host; `url` connects as it to `db`.
    pub async fn new(db: &TestDb, name: &str, password: &str, grants: &[String]) -> TestUser {
        let mut root = db.conn().await;
        for host in ["%", "localhost"] {
            let account = format!("'{name}'@'{host}'");
            root.query_drop(format!("DROP USER IF EXISTS {account}")).await.unwrap();
            root.query_drop(format!("CREATE USER {account} IDENTIFIED BY '{password}'"))
                .await
                .unwrap();
            for g in grants {
                root.query_drop(g.replace("{user}", &account)).await.unwrap();
            }
        }
        root.disconnect().await.unwrap();
        let host = db.url.split('@').nth(1).unwrap().to_owned();
        TestUser {
            name: name.to_owned(),
            url: format!("mysql://{name}:{password}@{host}"),
            dropped: false,
        }
    }

    fn drop_sql(&self) -> Vec<String> {
        ["%", "localhost"]
            .iter()
            .map(|host| format!("DROP USER IF EXISTS '{}'@'{host}'", self.name))
            .collect()
    }

    /// Drops the account.
    pub async fn drop_user(mut self) {
        let mut root = Conn::from_url(base_url()).await.unwrap();
        for sql in self.drop_sql() {
            root.query_drop(sql).await.unwrap();
        }
        root.disconnect().await.unwrap();
        self.dropped = true;
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let sql = self.drop_sql();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = Conn::from_url(base_url()).await {
                    for s in sql {
                        let _ = conn.query_drop(s).await;
                    }
                    let _ = conn.disconnect().await;
                }
            });
        })
        .join();
    }
}

/// Rows of a query on `conn` as text (`None` for NULL), as the text protocol returns them.
pub async fn query_rows(conn: &mut Conn, sql: &str) -> Vec<Vec<Option<String>>> {
    let rows: Vec<Row> = conn.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter()
        .map(|r| {
            r.unwrap()
                .into_iter()
                .map(|v| match v {
                    Value::NULL => None,
                    Value::Bytes(b) => Some(String::from_utf8(b).expect("utf-8")),
                    other => Some(other.as_sql(true)),
                })
                .collect()
        })
        .collect()
}

/// `@@local_infile` of the server: whether the LOAD DATA path can be tested at all.
pub async fn server_allows_local_infile(db: &TestDb) -> bool {
    let mut c = db.conn().await;
    let on: Option<i64> = c.query_first("SELECT @@local_infile").await.unwrap();
    c.disconnect().await.unwrap();
    on == Some(1)
}

/// Beijing wall time `2024-03-01 00:00:00` plus `secs` seconds and `ms` milliseconds.
pub fn at(secs: i64, ms: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 3, 1)
        .unwrap()
        .and_hms_milli_opt(0, 0, 0, ms)
        .unwrap()
        + chrono::Duration::seconds(secs)
}

/// A detail line.
pub fn line(rec_id: i64, refund_id: i64, goods: &str) -> RefundDetail {
    RefundDetail {
        rec_id: Some(rec_id),
        refund_id: Some(refund_id),
        oid: Some(format!("AD{rec_id}")),
        tid: Some(format!("T{refund_id}")),
        goods_no: Some(format!("G{rec_id}")),
        goods_name: Some(goods.into()),
        spec_name: Some("颜色:红色;尺码:XL".into()),
        num: Some(Decimal::new(2, 0)),
        price: Some(Decimal::new(1999, 2)),
        refund_amount: Some(Decimal::new(3998, 2)),
        is_guarantee: Some(rec_id % 2 == 0),
        ..Default::default()
    }
}

/// A refund with `lines` detail lines (rec ids `id*10+1…`), modified at `modified`.
pub fn refund(id: i64, modified: NaiveDateTime, lines: usize) -> Refund {
    Refund {
        refund_id: id,
        refund_no: Some(format!("TK{id:08}")),
        remark: Some(format!("退款备注 {id}\t含制表符")),
        refund_type: Some(RefundType::from(2)),
        status: Some(RefundStatus::from(30)),
        modified: Some(modified),
        created: Some(modified - chrono::Duration::hours(2)),
        check_time: None,
        shop_no: Some("shop01".into()),
        shop_id: Some(7),
        platform_id: Some(127),
        actual_refund_amount: Some(Decimal::new(12345, 2)),
        buyer_nick: Some("买家😀".into()),
        detail_list: (0..lines)
            .map(|i| line(id * 10 + i as i64 + 1, id, &format!("商品{i}")))
            .collect(),
        amount_detail_list: vec![AmountDetail {
            rec_id: Some(id * 100),
            refund_id: Some(id),
            refund_amount: Some(Decimal::new(12345, 2)),
            is_auto: Some(true),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The stream every test writes.
pub fn stream() -> StreamId {
    StreamId::new("test-sid", "aftersales.refund.Refund.search")
}

/// A batch of `records` with an optional checkpoint.
pub fn batch(records: Vec<Refund>, checkpoint: Option<NaiveDateTime>) -> Batch<Refund> {
    Batch {
        stream: stream(),
        window: WindowBounds {
            from: at(0, 0),
            to: at(86_400, 0),
        },
        records,
        dead_letters: vec![],
        checkpoint: checkpoint.map(|window_end| Checkpoint { window_end }),
    }
}

/// `Some(text)`, for comparing with [`TestDb::rows`].
pub fn s(text: &str) -> Option<String> {
    Some(text.to_owned())
}

/// Every layout × write mode.
pub fn all_combinations() -> Vec<(Layout, WriteMode)> {
    let mut out = Vec::new();
    for l in [Layout::Flat, Layout::Normalized, Layout::Both] {
        for m in [WriteMode::Upsert, WriteMode::Replace, WriteMode::Insert] {
            out.push((l, m));
        }
    }
    out
}

/// The data tables of schema version 3 and their primary keys then.
pub const V3_DATA_TABLES: [(&str, &str); 4] = [
    ("aftersales_refund_refund_search", "refund_id,detail_list_rec_id"),
    ("wdt_refund", "refund_id"),
    ("wdt_refund_detail", "refund_id,rec_id"),
    ("wdt_refund_amount_detail", "refund_id,rec_id"),
];

/// Creates, through `c`, every table exactly as schema version 3 did (the DDL captured from
/// it, `fixtures/schema_v3.sql`), with its version rows.
pub async fn create_v3_schema(c: &mut Conn) {
    for sql in include_str!("../fixtures/schema_v3.sql").split("\n;\n") {
        let sql: String = sql
            .lines()
            .filter(|l| !l.starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        if !sql.trim().is_empty() {
            c.query_drop(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
    c.query_drop(
        "INSERT INTO wdt_schema_version (version, description) VALUES \
         (1, 'initial tables: flat, normalized, sync state, dead letters'), \
         (2, 'a checkpoint per data table; stream keys compared byte for byte'), \
         (3, 'stream leases and run history: wdt_sync_lease, wdt_sync_run')",
    )
    .await
    .unwrap();
}

/// Rows, through `c`, as a version-3 sink of `accounts` left them: refunds 1 (two lines) and 2
/// in the flat table, refund 1 in the normalized ones, and per account the checkpoints of the
/// live stream and of a backfill, at `2024-03-01 00:01:40`.
pub async fn fill_v3_rows(c: &mut Conn, accounts: &[&str]) {
    const METHOD: &str = "aftersales.refund.Refund.search";
    for sql in [
        "INSERT INTO aftersales_refund_refund_search (refund_id, remark, modified, detail_list_rec_id, \
         detail_list_goods_name) VALUES (1, 'old one', '2024-03-01 00:00:10.000', 11, 'g11'), \
         (1, 'old one', '2024-03-01 00:00:10.000', 12, 'g12'), (2, 'old two', '2024-03-01 00:00:10.000', 0, NULL)",
        "INSERT INTO wdt_refund (refund_id, remark, modified, raw_json) VALUES \
         (1, 'old one', '2024-03-01 00:00:10.000', '{\"refund_id\":1}')",
        "INSERT INTO wdt_refund_detail (refund_id, rec_id, goods_name) VALUES (1, 11, 'g11'), (1, 12, 'g12')",
        "INSERT INTO wdt_refund_amount_detail (refund_id, rec_id, refund_amount) VALUES (1, 100, 123.45)",
    ] {
        c.query_drop(sql).await.unwrap();
    }
    for account in accounts {
        for (table, _) in V3_DATA_TABLES {
            for method in [METHOD.to_owned(), format!("{METHOD}#backfill:20240101-20240201")] {
                c.exec_drop(
                    "INSERT INTO wdt_sync_state (account, method, data_table, window_end, updated_at) \
                     VALUES (?, ?, ?, '2024-03-01 00:01:40', NOW(3))",
                    (account, method, table),
                )
                .await
                .unwrap();
            }
        }
    }
}
