//! Helpers shared by the workspace's end-to-end tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The `wdt-refund-sync` binary, which cargo builds for the package's integration tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wdt-refund-sync"))
}

/// The MySQL server to test against (`MYSQL_URL`, default the local MariaDB).
pub fn base_url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// [`base_url`] with its database replaced by `db`.
pub fn db_url(db: &str) -> String {
    let mut u = url::Url::parse(&base_url()).expect("MYSQL_URL");
    u.set_path(db);
    u.to_string()
}

/// A database made for one test (`{name}_{pid}`), with a pool on the server; [`TestDb::drop`]
/// removes it.
pub struct TestDb {
    pub pool: mysql_async::Pool,
    pub name: String,
}

impl TestDb {
    /// Creates the database `{name}_{pid}`, dropping a leftover of the same name first.
    pub async fn new(name: &str) -> Self {
        use mysql_async::prelude::Queryable;
        let pool = mysql_async::Pool::new(base_url().as_str());
        let name = format!("{name}_{}", std::process::id());
        let mut conn = pool
            .get_conn()
            .await
            .expect("MariaDB must run at MYSQL_URL (see README)");
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
            .await
            .unwrap();
        conn.query_drop(format!("CREATE DATABASE `{name}`")).await.unwrap();
        Self { pool, name }
    }

    /// Drops the database and closes the pool.
    pub async fn drop(self) {
        use mysql_async::prelude::Queryable;
        let mut conn = self.pool.get_conn().await.unwrap();
        conn.query_drop(format!("DROP DATABASE `{}`", self.name)).await.unwrap();
        drop(conn);
        self.pool.disconnect().await.unwrap();
    }
}

/// The program run for the single simulated account of a run without a config file (600
/// refunds in January and February 2025, 7-day windows), into `db`, with `args` after these
/// settings; the caller's own WDT, MySQL and alert env vars are removed.
pub fn simulated_program(db: &str, args: &[&str]) -> std::process::Output {
    let url = db_url(db);
    let mut all = vec![
        "--route",
        "simulator",
        "--sim-refunds",
        "600",
        "--sim-until",
        "2025-03-01 00:00:00",
        "--start",
        "2025-01-01 00:00:00",
        "--max-window",
        "7days",
        "--mysql-url",
        &url,
    ];
    all.extend_from_slice(args);
    std::process::Command::new(binary())
        .args(all)
        .env_remove("QIMEN_APP_KEY")
        .env_remove("WDT_SID")
        .env_remove("WDT_ROUTE")
        .env_remove("MYSQL_URL")
        .env_remove("ALERT_WEBHOOK")
        .env("RUST_LOG", "error")
        .output()
        .expect("run the program")
}
