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
