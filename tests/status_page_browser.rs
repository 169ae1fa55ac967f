//! The status page in a real browser: headless Chromium (Debian's `chromium` package) loads the
//! page of a running sync of two simulated accounts; the rendered DOM shows both streams, their
//! outcomes and the charts, in English and in Chinese, and screenshots are saved under
//! `target/test-output/`.

mod common;
mod served;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{db_url, TestDb};
use served::Served;

const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sync.toml");

/// The Chromium binary, or a failure saying how to install it (never a silent pass).
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "this test needs headless Chromium, and no `chromium` is on PATH: install it with \
         `apt-get install -y chromium` (Debian; .ci/run does this)"
    );
}

fn output_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("test-output");
    std::fs::create_dir_all(&dir).expect("create target/test-output");
    dir
}

/// Runs headless Chromium on `url` with `args`, a profile of its own, and `lang`.
fn browse(url: &str, lang: &str, args: &[String]) -> String {
    let profile = std::env::temp_dir().join(format!("wdt-page-chromium-{}-{lang}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--lang={lang}"),
            &format!("--accept-lang={lang}"),
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("run chromium");
    let _ = std::fs::remove_dir_all(&profile);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "chromium failed ({}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The text of `dom` without its tags (what a reader sees, roughly).
fn text_of(dom: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in dom.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_renders_the_page_of_a_running_sync_of_two_accounts() {
    let browser = chromium();
    let db = TestDb::new("page_browser").await;
    let url = db_url(&db.name);
    // A few runs each, for the chart.
    let mut s = Served::start(&["--config", CONFIG, "--mysql-url", &url, "--every", "1s"]);
    s.wait_runs(&["shop_a", "shop_b"], "ok").await;
    s.wait_streams("three runs of each stream", |v| {
        ["shop_a", "shop_b"]
            .iter()
            .all(|a| served::stream(v, a)["runs"].as_array().is_some_and(|r| r.len() >= 3))
    })
    .await;
    let page = format!("{}/", s.url);

    let dom = browse(&page, "en-US", &["--dump-dom".into()]);
    let text = text_of(&dom);
    for want in [
        "Refund sync status",
        "shop_a",
        "shop_b",
        "Checkpoint",
        "Lag",
        "Last run ok",
        "refunds",
        "Failure streak 0",
        "Dead letters 0",
        "Clock offset",
        "Lease owner",
        "Runs in the last 24 hours",
    ] {
        assert!(text.contains(want), "{want:?} not in the rendered text: {text}");
    }
    // Each account's live stream, and its read of the recent archive (a first sync reads it).
    assert_eq!(
        dom.matches(" · live</small>").count(),
        2,
        "a live card per account: {dom}"
    );
    assert_eq!(
        dom.matches("<svg class=\"chart\"").count(),
        dom.matches("<section class=\"card stream\">").count(),
        "a chart per stream: {dom}"
    );
    assert!(
        dom.matches("<rect class=\"run\"").count() >= 6,
        "the charts have the runs: {dom}"
    );
    assert!(dom.contains("<circle class=\"lag\""), "the charts have the lag: {dom}");
    assert!(!dom.contains("<script"), "{dom}");

    let dom = browse(&page, "zh-CN", &["--dump-dom".into()]);
    let text = text_of(&dom);
    for want in [
        "退款同步状态",
        "shop_a",
        "shop_b",
        "检查点",
        "延迟",
        "最近一次运行 成功",
        "租约持有者",
        "最近 24 小时的运行",
    ] {
        assert!(text.contains(want), "{want:?} not in the Chinese text: {text}");
    }

    let dir = output_dir();
    for (name, size, lang) in [
        ("status-page-phone.png", "412,1500", "en-US"),
        ("status-page-desktop-zh.png", "1280,900", "zh-CN"),
    ] {
        let shot = dir.join(name);
        let _ = std::fs::remove_file(&shot);
        browse(
            &page,
            lang,
            &[
                format!("--screenshot={}", shot.display()),
                format!("--window-size={size}"),
                "--hide-scrollbars".into(),
            ],
        );
        let bytes = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()));
        assert!(bytes.starts_with(b"\x89PNG"), "{} is not a PNG", shot.display());
        println!("screenshot ({} by {browser:?}): {}", size, shot.display());
    }
    drop(s);
    db.drop().await;
}
