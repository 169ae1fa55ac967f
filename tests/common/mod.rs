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
