//! Crash safety of the complete program: the `wdt-refund-sync` process is killed with SIGKILL at
//! random points, rerun, and must end with the table equal to the simulator's data; after every
//! kill, the checkpoint is never ahead of the data.
//!
//! Needs MariaDB/MySQL at MYSQL_URL (default `mysql://root@127.0.0.1:3306/test`) and the
//! binary, which `cargo test` builds.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::NaiveDateTime;
use common::{base_url, binary, db_url};
use mysql_async::prelude::Queryable;
use rand::{Rng, SeedableRng};
use wdt_qimen::simulator::Simulator;
use wdt_qimen::time::{from_epoch_ms, parse_wdt};

const START: &str = "2025-01-01 00:00:00";
const UNTIL: &str = "2025-03-20 00:00:00";
const REFUNDS: usize = 3000;
const SEED: u64 = 5;

fn command(db: &str) -> Command {
    let mut c = Command::new(binary());
    c.args([
        "--route",
        "simulator",
        "--mysql-url",
        &db_url(db),
        "--start",
        START,
        "--sim-until",
        UNTIL,
    ])
    .args(["--sim-refunds", &REFUNDS.to_string(), "--sim-seed", &SEED.to_string()])
    .args([
        "--page-size",
        "20",
        "--lag",
        "0s",
        "--sim-latency",
        "25ms",
        "--max-window",
        "5days",
    ])
    .env_remove("QIMEN_APP_KEY")
    .env_remove("WDT_SID")
    .env("RUST_LOG", "error")
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    c
}

/// refund_id -> (modified, detail line count) of the simulator's data.
async fn truth() -> BTreeMap<i64, (NaiveDateTime, usize)> {
    let sim = Simulator::builder()
        .seed(SEED)
        .refunds(REFUNDS)
        .time_range(parse_wdt(START).unwrap(), parse_wdt(UNTIL).unwrap())
        .start()
        .await;
    sim.snapshot()
        .iter()
        .map(|v| {
            let id: i64 = v["refund_id"].to_string().trim_matches('"').parse().unwrap();
            let ms: i64 = v["modified"].to_string().trim_matches('"').parse().unwrap();
            let lines = v.get("detail_list").and_then(|d| d.as_array()).map_or(0, Vec::len);
            (id, (from_epoch_ms(ms).unwrap(), lines))
        })
        .collect()
}

/// refund_id -> (modified, rows) as stored, and the checkpoint.
async fn stored(
    conn: &mut mysql_async::Conn,
    db: &str,
) -> (BTreeMap<i64, (NaiveDateTime, usize)>, Option<NaiveDateTime>) {
    let tables: Vec<String> = conn.query(format!("SHOW TABLES FROM `{db}`")).await.unwrap();
    let mut out = BTreeMap::new();
    if tables.iter().any(|t| t == "aftersales_refund_refund_search") {
        let rows: Vec<(i64, NaiveDateTime, i64)> = conn
            .query(format!(
                "SELECT refund_id, MIN(modified), COUNT(*) FROM `{db}`.aftersales_refund_refund_search GROUP BY refund_id"
            ))
            .await
            .unwrap();
        out = rows.into_iter().map(|(id, m, n)| (id, (m, n as usize))).collect();
    }
    let cp = if tables.iter().any(|t| t == "wdt_sync_state") {
        conn.query_first::<NaiveDateTime, _>(format!("SELECT window_end FROM `{db}`.wdt_sync_state"))
            .await
            .unwrap()
    } else {
        None
    };
    (out, cp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_points_the_sync_still_ends_equal_to_the_data() {
    let pool = mysql_async::Pool::new(base_url().as_str());
    let mut conn = pool
        .get_conn()
        .await
        .expect("MariaDB must run at MYSQL_URL (see README)");
    let db = format!("kill_resume_{}", std::process::id());
    conn.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
    let truth = truth().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261129);
    let mut kills = 0;
    let mut completed_early = 0;
    let mut runs = 0;
    let mut last_cp: Option<NaiveDateTime> = None;
    while kills < 10 && runs < 30 {
        runs += 1;
        let mut child = command(&db).spawn().expect("start the program");
        let after = Duration::from_millis(rng.gen_range(100..900));
        tokio::time::sleep(after).await;
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        } else {
            completed_early += 1;
        }
        child.wait().unwrap();
        // The dead runner's lease would keep the stream for its ttl: let it expire now, as it does
        // after the ttl, so the next run takes the stream over at once.
        expire_leases(&mut conn, &db).await;
        // The checkpoint is never ahead of the data.
        let (rows, cp) = stored(&mut conn, &db).await;
        assert!(cp >= last_cp, "the checkpoint moved back from {last_cp:?} to {cp:?}");
        last_cp = cp;
        if let Some(cp) = cp {
            for (id, (m, _)) in &truth {
                if *m < cp - chrono::TimeDelta::seconds(1) {
                    assert!(
                        rows.contains_key(id),
                        "refund {id} (modified {m}) is before checkpoint {cp} but not stored"
                    );
                }
            }
        }
    }
    println!("kill_resume: {kills} runs killed with SIGKILL, {completed_early} finished first");
    assert!(
        kills >= 10,
        "only {kills} runs were killed ({completed_early} finished first)"
    );
    let out = command(&db).stderr(Stdio::piped()).output().expect("final run");
    assert!(
        out.status.success(),
        "final run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (rows, cp) = stored(&mut conn, &db).await;
    assert!(cp.is_some());
    let want: BTreeMap<i64, (NaiveDateTime, usize)> =
        truth.iter().map(|(id, (m, n))| (*id, (*m, (*n).max(1)))).collect();
    let missing: BTreeSet<_> = want.keys().filter(|k| !rows.contains_key(k)).collect();
    assert!(
        missing.is_empty(),
        "{} refunds missing, e.g. {:?}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    let wrong: Vec<_> = want.iter().filter(|(k, v)| rows.get(k) != Some(v)).take(5).collect();
    assert!(wrong.is_empty(), "refunds stored differently from the data: {wrong:?}");
    assert_eq!(rows.len(), want.len(), "extra refunds stored");
    conn.query_drop(format!("DROP DATABASE `{db}`")).await.unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
}

/// Ends every lease of `db` now (the expiry a killed runner's lease reaches after its ttl).
async fn expire_leases(conn: &mut mysql_async::Conn, db: &str) {
    let tables: Vec<String> = conn.query(format!("SHOW TABLES FROM `{db}`")).await.unwrap();
    if tables.iter().any(|t| t == "wdt_sync_lease") {
        conn.query_drop(format!("UPDATE `{db}`.wdt_sync_lease SET expires_at = NOW(6)"))
            .await
            .unwrap();
    }
}
