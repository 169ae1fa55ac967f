//! Helpers shared by the workspace's end-to-end tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// Builds the `refund_sync` example (a `cargo test --test NAME` alone would not) and returns its
/// path.
pub fn example_binary() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--example", "refund_sync"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --example refund_sync failed");
    });
    let exe = std::env::current_exe().expect("test binary path");
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .join("examples")
        .join("refund_sync");
    assert!(bin.exists(), "{} is missing after cargo build", bin.display());
    bin
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
