//! Your own tables as a user meets them: `mapping check` prints the DDL and sample rows, the
//! example config fills a BI table with Chinese column names from the simulator, `--dry-run`
//! shows mapped rows and writes nothing, and a mapping that cannot work is refused before any
//! request, naming the file, the table, the column and the fix.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{binary, db_url, TestDb};
use mysql_async::prelude::Queryable;

/// The program with `args`, the caller's WDT, MySQL and alert env vars removed.
fn program(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env_remove("QIMEN_APP_KEY")
        .env_remove("WDT_SID")
        .env_remove("WDT_ROUTE")
        .env_remove("MYSQL_URL")
        .env_remove("ALERT_WEBHOOK")
        .env("RUST_LOG", "error")
        .output()
        .expect("run the program")
}

/// A config file in `dir` for one simulated account writing `mapping` (copied next to it
/// as `mappings/bi_aftersales.toml`) into `db`.
fn config(dir: &Path, db: &str, account_keys: &str) -> String {
    std::fs::create_dir_all(dir.join("mappings")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mappings/bi_aftersales.toml"),
        dir.join("mappings/bi_aftersales.toml"),
    )
    .unwrap();
    let path = dir.join("sync.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[mysql]
url = "{url}"

[schedule]
max_window = "7days"

[[account]]
name = "shop_a"
route = "simulator"
start = "2025-01-01 00:00:00"
{account_keys}
[account.simulator]
refunds = 400
seed = 5
until = "2025-03-01 00:00:00"
"#,
            url = db_url(db)
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn mapping_check_prints_the_ddl_and_three_sample_rows_of_the_example() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sync.toml");
    let out = program(&["--config", example.to_str().unwrap(), "mapping", "check"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}\n{text}", stderr(&out));
    assert!(text.contains("CREATE TABLE IF NOT EXISTS `bi_aftersales`"), "{text}");
    assert!(text.contains("`退款金额_分` BIGINT NULL"), "{text}");
    assert!(text.contains("PRIMARY KEY (`账号`, `退换单ID`, `明细ID`)"), "{text}");
    // Three rows of each table, with labels and formatted dates.
    let bi = text.split("-- bi_aftersales:").nth(1).expect("the BI table's rows");
    let bi = bi.split("== account").next().unwrap();
    assert!(
        bi.contains("3 shown") && bi.contains("row 3:") && !bi.contains("row 4:"),
        "{bi}"
    );
    assert!(bi.contains("来源") && bi.contains("\"在线\""), "{bi}");
    assert!(
        bi.lines()
            .filter(|l| l.trim_start().starts_with("建单时间"))
            .all(|l| l.contains('/')),
        "{bi}"
    );
}

#[tokio::test]
async fn the_example_mapping_fills_its_bi_table_and_a_second_run_changes_nothing() {
    let db = TestDb::new("mapping_e2e").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &db.name, r#"mapping = "mappings/bi_aftersales.toml""#);
    let first = program(&["--config", &cfg, "--once"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let mut conn = db.pool.get_conn().await.unwrap();
    let (rows, refunds): (u64, u64) = conn
        .query_first(format!(
            "SELECT COUNT(*), COUNT(DISTINCT `退换单ID`) FROM `{}`.`bi_aftersales`",
            db.name
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(refunds, 400, "every refund of the simulator");
    assert!(rows >= refunds);
    // Amounts in fen are the yuan amounts × 100, exactly; labels are the vendor's.
    let wrong: u64 = conn
        .query_first(format!(
            "SELECT COUNT(*) FROM `{}`.`bi_aftersales` WHERE `退换状态` NOT IN \
             ('已取消','待审核','已审核','已推送','已结算','已完成','其他')",
            db.name
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(wrong, 0);
    let dated: u64 = conn
        .query_first(format!(
            "SELECT COUNT(*) FROM `{}`.`bi_aftersales` WHERE `建单时间` = DATE_FORMAT(`建单日期`, '%Y/%m/%d') \
             OR `建单时间` LIKE CONCAT(DATE_FORMAT(`建单日期`, '%Y/%m/%d'), ' %')",
            db.name
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dated, rows, "the date column is the day of the formatted time");
    let second = program(&["--config", &cfg, "--once"]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(stdout(&second).contains(" 0 inserted"), "{}", stdout(&second));
    drop(conn);
    db.drop().await;
}

#[tokio::test]
async fn a_dry_run_shows_mapped_rows_and_writes_nothing() {
    let db = TestDb::new("mapping_dry").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &db.name, r#"mapping = "mappings/bi_aftersales.toml""#);
    let out = program(&["--config", &cfg, "--once", "--dry-run"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        text.contains("dry run: the first refunds as they would be written"),
        "{text}"
    );
    assert!(
        text.contains("-- bi_aftersales:") && text.contains("退换单ID"),
        "{text}"
    );
    let mut conn = db.pool.get_conn().await.unwrap();
    let stored: u64 = conn
        .query_first(format!("SELECT COUNT(*) FROM `{}`.`bi_aftersales`", db.name))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(stored, 0);
    drop(conn);
    db.drop().await;
}

#[test]
fn a_mapping_that_cannot_work_is_refused_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 9: a request or a connection would fail differently.
    let unreachable = "nothing_9";
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "unknown source",
            r#"source = "refund_noo""#,
            &[
                "\"bi_aftersales\"",
                "\"订单编号\"",
                "refund_noo",
                "did you mean \"refund_no\"",
            ],
        ),
        (
            "labels on a decimal",
            r#"source = "actual_refund_amount"
transforms = [{ labels = "status" }]"#,
            &["\"订单编号\"", "labels maps codes", "decimal"],
        ),
    ];
    for (what, column, wanted) in cases {
        let file = format!(
            "[[tables]]\nname = \"bi_aftersales\"\ngrain = \"detail\"\n\
             [[tables.columns]]\nname = \"退换单ID\"\ntype = \"BIGINT\"\nsource = \"refund_id\"\n\
             [[tables.columns]]\nname = \"明细ID\"\ntype = \"BIGINT\"\nsource = \"detail_list.rec_id\"\n\
             [[tables.columns]]\nname = \"订单编号\"\ntype = \"VARCHAR(40)\"\n{column}\n"
        );
        let cfg = config(dir.path(), unreachable, r#"mapping = "mappings/bad.toml""#);
        std::fs::write(dir.path().join("mappings/bad.toml"), file).unwrap();
        let out = program(&["--config", &cfg, "--once"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        for w in *wanted {
            assert!(err.contains(w), "{what}: {w:?} missing from {err}");
        }
        assert!(err.contains("account \"shop_a\": mapping"), "{what}: {err}");
    }
    // A layout and a mapping at once, and a mapping layout without a mapping.
    let cfg = config(
        dir.path(),
        unreachable,
        "layout = \"flat\"\nmapping = \"mappings/bi_aftersales.toml\"",
    );
    let out = program(&["--config", &cfg, "--once"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("has layout = \"flat\" and a mapping"),
        "{}",
        stderr(&out)
    );
    let cfg = config(dir.path(), unreachable, "layout = \"mapping\"");
    let out = program(&["--config", &cfg, "--once"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("layout = \"mapping\" needs a mapping"),
        "{}",
        stderr(&out)
    );
    // Upsert without a version column.
    let no_version = "[[tables]]\nname = \"t\"\ngrain = \"refund\"\ncolumns = [{ name = \"id\", type = \"BIGINT\", source = \"refund_id\" }]\n";
    std::fs::write(dir.path().join("mappings/nv.toml"), no_version).unwrap();
    let cfg = config(dir.path(), unreachable, r#"mapping = "mappings/nv.toml""#);
    let out = program(&["--config", &cfg, "--once"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no table of the mapping has a version column"),
        "{}",
        stderr(&out)
    );
}
