//! The program running with `--http-addr 127.0.0.1:0`: its address read from the line it
//! prints, and waits for what its status server answers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest wait for the program to start or for its runs to show (a bound on waiting,
/// not a measurement: a slow machine only waits longer).
pub const WAIT: Duration = Duration::from_secs(180);

/// A running `wdt-refund-sync` with its status server; killed when dropped.
pub struct Served {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its stderr lines so far (read in the background).
    lines: mpsc::Receiver<String>,
    pub stderr: Vec<String>,
}

impl Served {
    /// Starts the program with `args` (plus `--http-addr 127.0.0.1:0`) and waits for the
    /// line that says where its status page is.
    pub fn start(args: &[&str]) -> Self {
        Self::start_on("--http-addr", args)
    }

    /// [`start`](Self::start) with the address given to `flag` instead.
    pub fn start_on(flag: &str, args: &[&str]) -> Self {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wdt-refund-sync"));
        c.args(args)
            .args([flag, "127.0.0.1:0"])
            .env_remove("QIMEN_APP_KEY")
            .env_remove("WDT_SID")
            .env_remove("WDT_ROUTE")
            .env_remove("MYSQL_URL")
            .env_remove("ALERT_WEBHOOK")
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("start the program");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let deadline = Instant::now() + WAIT;
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line
                        .split_once("status page on ")
                        .map(|(_, rest)| rest.split('/').take(3).collect::<Vec<_>>().join("/"));
                    seen.push(line);
                    if let Some(url) = found {
                        break url;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("the program printed no status-page address: {seen:#?}");
                }
            }
        };
        Self {
            child,
            url,
            lines,
            stderr: seen,
        }
    }

    /// The stderr lines printed so far.
    pub fn stderr(&mut self) -> String {
        while let Ok(l) = self.lines.try_recv() {
            self.stderr.push(l);
        }
        self.stderr.join("\n")
    }

    /// `GET path` with `accept_language`: the status and the body.
    pub async fn get(&self, path: &str, accept_language: Option<&str>) -> (u16, String) {
        let mut req = reqwest::Client::new().get(format!("{}{path}", self.url));
        if let Some(l) = accept_language {
            req = req.header("accept-language", l);
        }
        let r = req.send().await.expect("the status server answers");
        let status = r.status().as_u16();
        (status, r.text().await.expect("a body"))
    }

    /// `GET path` as JSON.
    pub async fn json(&self, path: &str) -> (u16, serde_json::Value) {
        let (status, body) = self.get(path, None).await;
        let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path} is not JSON ({e}): {body}"));
        (status, v)
    }

    /// Waits until `/api/streams` satisfies `done`, and returns it.
    pub async fn wait_streams(&mut self, what: &str, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let (_, v) = self.json("/api/streams").await;
            if done(&v) {
                return v;
            }
            if Instant::now() > deadline {
                panic!("never {what}: {v:#}\nstderr:\n{}", self.stderr());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until every account named has a finished run with `outcome`.
    pub async fn wait_runs(&mut self, accounts: &[&str], outcome: &str) -> serde_json::Value {
        let what = format!("a run of {accounts:?} ended {outcome}");
        self.wait_streams(&what, |v| {
            accounts.iter().all(|a| {
                v["streams"].as_array().is_some_and(|s| {
                    s.iter()
                        .any(|s| s["account"] == *a && s["kind"] == "live" && s["last_run"]["outcome"] == outcome)
                })
            })
        })
        .await
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The stream of `account` in a `/api/streams` answer.
pub fn stream<'a>(v: &'a serde_json::Value, account: &str) -> &'a serde_json::Value {
    v["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["account"] == account && s["kind"] == "live"))
        .unwrap_or_else(|| panic!("no live stream of {account}: {v:#}"))
}
