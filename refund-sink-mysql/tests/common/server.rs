//! A private MariaDB server for tests that stop, restart or reconfigure one: its own data
//! directory (a temp dir), its own free port, user `root` without a password (no grant tables
//! at all, or, where a test needs the checks that only run with them, such as
//! `--require-secure-transport`, the tables of `mariadb-install-db`).
//! Killed and removed on drop; servers and directories left by a test process that was itself
//! killed are removed by the next start.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mysql_async::prelude::Queryable;

/// Temp directories of private servers start with this.
const DIR_PREFIX: &str = "wdt-mariadb-";

/// A running (or stopped) private `mariadbd`.
pub struct PrivateServer {
    dir: tempfile::TempDir,
    port: u16,
    extra: Vec<String>,
    grant_tables: bool,
    child: Option<Child>,
    /// Times the server was started.
    pub starts: u32,
}

fn mariadbd() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/mariadbd");
    if sbin.exists() {
        return sbin;
    }
    PathBuf::from("mariadbd")
}

fn as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Removes private servers whose test process is gone (it was killed before its `Drop` ran).
fn sweep_leftovers() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(DIR_PREFIX));
        let owner = std::fs::read_to_string(path.join("owner")).ok();
        let Some(owner) = owner.and_then(|o| o.trim().parse::<u32>().ok()) else {
            continue;
        };
        if !is_ours || Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        if let Some(pid) = std::fs::read_to_string(path.join("pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        {
            // Only a mariadbd of that directory.
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(path.to_str().unwrap_or("\0")) {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&path);
    }
}

impl PrivateServer {
    /// Starts a server without grant tables, with `extra` arguments, and waits until it
    /// answers.
    pub async fn start(extra: &[String]) -> PrivateServer {
        Self::start_with(extra, false).await
    }

    /// Starts a server with the grant tables of `mariadb-install-db` (a few seconds more), with
    /// `extra` arguments (e.g. TLS files), and waits until it answers.
    pub async fn start_with_grant_tables(extra: &[String]) -> PrivateServer {
        Self::start_with(extra, true).await
    }

    async fn start_with(extra: &[String], grant_tables: bool) -> PrivateServer {
        sweep_leftovers();
        let dir = tempfile::Builder::new().prefix(DIR_PREFIX).tempdir().expect("temp dir");
        std::fs::write(dir.path().join("owner"), std::process::id().to_string()).unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if grant_tables {
            let mut cmd = Command::new("mariadb-install-db");
            cmd.arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg("--auth-root-authentication-method=normal")
                .arg("--skip-test-db");
            if as_root() {
                cmd.arg("--user=root");
            }
            let out = cmd.output().expect("run mariadb-install-db (install mariadb-server)");
            assert!(
                out.status.success(),
                "mariadb-install-db: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut server = PrivateServer {
            dir,
            port: free_port(),
            extra: extra.to_vec(),
            grant_tables,
            child: None,
            starts: 0,
        };
        server.start_again().await;
        server
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its directory (data, socket, log); files a test writes there are removed with it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The path of its Unix socket.
    pub fn socket(&self) -> String {
        self.dir().join("sock").to_str().expect("UTF-8 temp path").to_owned()
    }

    /// `mysql://root@127.0.0.1:<port>/<db>`, plus `query` (`""` or `"?a=b"`).
    pub fn url(&self, db: &str, query: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{db}{query}", self.port)
    }

    /// A connection over the Unix socket (which needs no TLS even with
    /// `--require-secure-transport`).
    pub async fn admin(&self) -> mysql_async::Conn {
        let opts = mysql_async::OptsBuilder::default()
            .user(Some("root"))
            .socket(Some(self.socket()));
        mysql_async::Conn::new(opts)
            .await
            .expect("the private server answers on its socket")
    }

    /// Creates database `name`.
    pub async fn create_db(&self, name: &str) {
        let mut c = self.admin().await;
        c.query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
            .await
            .unwrap();
        c.disconnect().await.unwrap();
    }

    /// Starts the server (again) on the same data directory and port, and waits until it
    /// answers.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        let d = self.dir.path();
        let path = |name: &str| d.join(name).to_str().expect("UTF-8 temp path").to_owned();
        let mut cmd = Command::new(mariadbd());
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", path("data")))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", path("sock")))
            .arg(format!("--pid-file={}", path("pid")))
            .arg(format!("--log-error={}", path("error.log")))
            .arg("--skip-name-resolve")
            .arg("--innodb-buffer-pool-size=32M")
            .arg("--innodb-log-file-size=16M")
            .arg("--local-infile=1")
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if !self.grant_tables {
            cmd.arg("--skip-grant-tables");
        }
        if as_root() {
            cmd.arg("--user=root");
        }
        let child = cmd.spawn().expect("start mariadbd (install mariadb-server)");
        self.child = Some(child);
        self.starts += 1;
        for _ in 0..600 {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!("mariadbd exited with {status}: {}", self.log_tail());
            }
            let opts = mysql_async::OptsBuilder::default()
                .user(Some("root"))
                .socket(Some(self.socket()));
            if let Ok(c) = mysql_async::Conn::new(opts).await {
                let _ = c.disconnect().await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("mariadbd did not answer within 60 s: {}", self.log_tail());
    }

    /// Stops the server as an administrator would (SIGTERM) and waits until it has exited.
    pub async fn stop(&mut self) {
        let mut child = self.child.take().expect("the server is running");
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -TERM mariadbd");
        for _ in 0..1200 {
            if child.try_wait().unwrap().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("mariadbd did not stop within 60 s of SIGTERM: {}", self.log_tail());
    }

    /// The end of the server's error log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The temp dir (data, socket, log) goes with `self.dir`.
    }
}
