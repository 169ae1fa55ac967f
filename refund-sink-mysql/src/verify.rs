//! What `verify` reads of the stored refunds, and where it records what it found.
//!
//! [`MySqlSink::stored_count`] counts the distinct refunds stored for one account, source and
//! window of the stored `modified` (both ends inclusive, as WDT's `modified_from` /
//! `modified_to` and `start_time` / `end_time` are read); [`MySqlSink::stored_versions`] lists
//! them with their stored `modified`; [`MySqlSink::stored_versions_of`] looks refunds up by id
//! whatever their window. The flat table is read when the layout has it, else `wdt_refund`.
//! Rows written before archived refunds were stored have no `source`: they count as `live`.
//!
//! [`MySqlSink::record_verify`] writes one row per verify and method into `wdt_sync_verify`
//! (created on first use, unless the sink was built not to create tables);
//! [`MySqlSink::recent_verifies`] and [`MySqlSink::last_verifies`] read them back (the status
//! output, the status page, and when the scheduled verify is due).

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use mysql_async::prelude::Queryable;

use crate::conn::HeldConn;
use crate::error::SinkError;
use crate::names::quote_ident;
use crate::sink::MySqlSink;

/// The name of the verify table without prefix.
pub const VERIFY_TABLE: &str = "wdt_sync_verify";

/// One verify of one account and method, as recorded in `wdt_sync_verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyRecord {
    /// The account key of the rows (the stream's account).
    pub account: String,
    /// The method verified, e.g. `Refund.search` or `Refund.searchHistory`.
    pub method: String,
    /// Start of the range (Beijing).
    pub range_from: NaiveDateTime,
    /// End of the range (Beijing).
    pub range_to: NaiveDateTime,
    /// Windows of the range counted.
    pub windows: u64,
    /// Refunds WDT counted over the windows.
    pub wdt_count: u64,
    /// Refunds stored over the same windows.
    pub stored_count: u64,
    /// Windows whose counts differed (after a re-count).
    pub differing_windows: u64,
    /// Refunds WDT has that are not stored.
    pub missing: u64,
    /// Refunds stored that WDT does not list in their window.
    pub extra: u64,
    /// Refunds stored with an older `modified` than WDT's.
    pub stale: u64,
    /// Windows re-synced by `--repair`.
    pub repaired_windows: u64,
    /// Windows still differing at the end.
    pub remaining_windows: u64,
    /// Gateway requests the verify used.
    pub requests: u64,
    /// Requests a full re-sync of the range would need at least.
    pub resync_requests: u64,
    /// When it started (Beijing).
    pub started_at: NaiveDateTime,
    /// When it ended (Beijing).
    pub ended_at: NaiveDateTime,
}

impl VerifyRecord {
    /// A record of `account` and `method` over `[range_from, range_to]` with every count 0.
    pub fn new(
        account: impl Into<String>,
        method: impl Into<String>,
        range_from: NaiveDateTime,
        range_to: NaiveDateTime,
        started_at: NaiveDateTime,
    ) -> Self {
        Self {
            account: account.into(),
            method: method.into(),
            range_from,
            range_to,
            windows: 0,
            wdt_count: 0,
            stored_count: 0,
            differing_windows: 0,
            missing: 0,
            extra: 0,
            stale: 0,
            repaired_windows: 0,
            remaining_windows: 0,
            requests: 0,
            resync_requests: 0,
            started_at,
            ended_at: started_at,
        }
    }
}

/// The columns of a [`VerifyRecord`], in the order [`record_of_row`] reads them.
const VERIFY_COLUMNS: [&str; 17] = [
    "account",
    "method",
    "range_from",
    "range_to",
    "windows",
    "wdt_count",
    "stored_count",
    "differing_windows",
    "missing",
    "extra",
    "stale",
    "repaired_windows",
    "remaining_windows",
    "requests",
    "resync_requests",
    "started_at",
    "ended_at",
];

/// [`VERIFY_COLUMNS`] quoted, each after `table` (`v.`, or empty), comma-separated.
fn verify_columns(table: &str) -> String {
    let quoted: Vec<String> = VERIFY_COLUMNS.iter().map(|c| format!("{table}`{c}`")).collect();
    quoted.join(", ")
}

/// The record of a row of [`VERIFY_COLUMNS`].
fn record_of_row(mut r: mysql_async::Row) -> VerifyRecord {
    let n = |r: &mut mysql_async::Row, i: usize| r.take::<u64, _>(i).unwrap_or(0);
    let t = |r: &mut mysql_async::Row, i: usize| r.take::<NaiveDateTime, _>(i).unwrap_or_default();
    let mut v = VerifyRecord::new(
        r.take::<String, _>(0).unwrap_or_default(),
        r.take::<String, _>(1).unwrap_or_default(),
        t(&mut r, 2),
        t(&mut r, 3),
        t(&mut r, 15),
    );
    v.windows = n(&mut r, 4);
    v.wdt_count = n(&mut r, 5);
    v.stored_count = n(&mut r, 6);
    v.differing_windows = n(&mut r, 7);
    v.missing = n(&mut r, 8);
    v.extra = n(&mut r, 9);
    v.stale = n(&mut r, 10);
    v.repaired_windows = n(&mut r, 11);
    v.remaining_windows = n(&mut r, 12);
    v.requests = n(&mut r, 13);
    v.resync_requests = n(&mut r, 14);
    v.ended_at = t(&mut r, 16);
    v
}

fn verify_table_sql(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (\n  \
         `id` BIGINT NOT NULL AUTO_INCREMENT,\n  \
         `account` VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,\n  \
         `method` VARCHAR(255) NOT NULL,\n  \
         `range_from` DATETIME NOT NULL,\n  \
         `range_to` DATETIME NOT NULL,\n  \
         `windows` BIGINT NOT NULL,\n  \
         `wdt_count` BIGINT NOT NULL,\n  \
         `stored_count` BIGINT NOT NULL,\n  \
         `differing_windows` BIGINT NOT NULL,\n  \
         `missing` BIGINT NOT NULL,\n  \
         `extra` BIGINT NOT NULL,\n  \
         `stale` BIGINT NOT NULL,\n  \
         `repaired_windows` BIGINT NOT NULL,\n  \
         `remaining_windows` BIGINT NOT NULL,\n  \
         `requests` BIGINT NOT NULL,\n  \
         `resync_requests` BIGINT NOT NULL,\n  \
         `started_at` DATETIME(3) NOT NULL,\n  \
         `ended_at` DATETIME(3) NOT NULL,\n  \
         PRIMARY KEY (`id`),\n  \
         KEY `k_verify_account` (`account`, `method`, `started_at`)\n) \
         ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    )
}

/// The table and columns the stored refunds are counted by (quoted).
struct Counted {
    table: String,
    account: String,
    refund_id: String,
    modified: String,
    /// The expression of the refund's source (`live` / `history`).
    source: String,
}

impl MySqlSink {
    /// Where the refunds are counted: the first data table with a version column (the flat
    /// table, `wdt_refund`, or a mapped table reading `modified` untransformed), by its key
    /// columns, its version column and the column reading `source` (without one, every stored
    /// refund counts as read live).
    fn counted(&self) -> Result<Counted, SinkError> {
        let inner = self.inner();
        for t in inner.tables {
            let Some(version) = t.version_column() else { continue };
            let key = t.primary_key();
            let source = match t {
                crate::schema::Table::Mapped(p) => p.column_reading("source"),
                _ => Some("source"),
            };
            return Ok(Counted {
                table: quote_ident(t.name(&inner.names)),
                account: quote_ident(key[0]),
                refund_id: quote_ident(key[1]),
                modified: quote_ident(version),
                source: source.map_or_else(
                    || "'live'".to_owned(),
                    |c| format!("COALESCE({}, 'live')", quote_ident(c)),
                ),
            });
        }
        Err(SinkError::InvalidConfig {
            problem: "verify counts the stored refunds by their stored `modified`, but no table of the mapping has a \
                      version column"
                .into(),
            fix: "add a column with source = \"modified\" (no transforms) to a table, or include preset:flat".into(),
        })
    }

    /// The quoted name of the verify table.
    pub fn verify_table(&self) -> String {
        quote_ident(&format!("{}{VERIFY_TABLE}", self.inner().names.prefix))
    }

    async fn timed<T>(
        &self,
        during: &'static str,
        op: impl std::future::Future<Output = Result<T, SinkError>>,
    ) -> Result<T, SinkError> {
        let after = self.inner().bounds.timeout;
        tokio::time::timeout(after, op)
            .await
            .unwrap_or(Err(SinkError::Timeout { during, after }))
    }

    /// The distinct refunds of `account` stored with `source` (`live` or `history`) and a
    /// stored `modified` in `[from, to]`.
    pub async fn stored_count(
        &self,
        account: &str,
        source: &str,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<u64, SinkError> {
        let c = self.counted()?;
        let sql = format!(
            "SELECT COUNT(DISTINCT {id}) FROM {t} WHERE {a} = ? AND {src} = ? AND {m} >= ? AND {m} <= ?",
            id = c.refund_id,
            t = c.table,
            a = c.account,
            src = c.source,
            m = c.modified
        );
        const DURING: &str = "counting the stored refunds";
        self.timed(DURING, async {
            let mut held = HeldConn::get(&self.inner().pool).await?;
            let n: Option<u64> = held
                .conn()
                .exec_first(&sql, (account, source, from, to))
                .await
                .map_err(SinkError::mysql(DURING))?;
            held.release();
            Ok(n.unwrap_or(0))
        })
        .await
    }

    /// The refunds [`stored_count`](Self::stored_count) counts, by id, with their stored
    /// `modified` (the latest of a refund's rows).
    pub async fn stored_versions(
        &self,
        account: &str,
        source: &str,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<BTreeMap<i64, NaiveDateTime>, SinkError> {
        let c = self.counted()?;
        let sql = format!(
            "SELECT {id}, MAX({m}) FROM {t} WHERE {a} = ? AND {src} = ? AND {m} >= ? AND {m} <= ? GROUP BY {id}",
            id = c.refund_id,
            t = c.table,
            a = c.account,
            src = c.source,
            m = c.modified
        );
        const DURING: &str = "reading the stored refunds of a window";
        self.timed(DURING, async {
            let mut held = HeldConn::get(&self.inner().pool).await?;
            let rows: Vec<(i64, NaiveDateTime)> = held
                .conn()
                .exec(&sql, (account, source, from, to))
                .await
                .map_err(SinkError::mysql(DURING))?;
            held.release();
            Ok(rows.into_iter().collect())
        })
        .await
    }

    /// The stored `modified` of the refunds `ids` of `account`, whatever their window or source
    /// (ids not stored are absent).
    pub async fn stored_versions_of(
        &self,
        account: &str,
        ids: &[i64],
    ) -> Result<BTreeMap<i64, Option<NaiveDateTime>>, SinkError> {
        let mut out = BTreeMap::new();
        let c = self.counted()?;
        const DURING: &str = "looking refunds up by id";
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT {id}, MAX({m}) FROM {t} WHERE {a} = ? AND {id} IN ({marks}) GROUP BY {id}",
                id = c.refund_id,
                t = c.table,
                a = c.account,
                m = c.modified
            );
            let mut params: Vec<mysql_async::Value> = vec![account.into()];
            params.extend(chunk.iter().map(|&i| mysql_async::Value::from(i)));
            let rows: Vec<(i64, Option<NaiveDateTime>)> = self
                .timed(DURING, async {
                    let mut held = HeldConn::get(&self.inner().pool).await?;
                    let rows = held.conn().exec(&sql, params).await.map_err(SinkError::mysql(DURING))?;
                    held.release();
                    Ok(rows)
                })
                .await?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// The newest `limit` verifies of `account` (every method), newest first; none when
    /// `wdt_sync_verify` does not exist yet.
    pub async fn recent_verifies(&self, account: &str, limit: u32) -> Result<Vec<VerifyRecord>, SinkError> {
        let sql = format!(
            "SELECT {} FROM {} WHERE `account` = ? ORDER BY `started_at` DESC, `id` DESC LIMIT {limit}",
            verify_columns(""),
            self.verify_table()
        );
        self.read_verifies("reading the recent verifies", sql, vec![account.into()])
            .await
    }

    /// The last verify of each of `accounts` (one record per method it counted, in the order
    /// recorded), by account; an account never verified is absent, and none is found when
    /// `wdt_sync_verify` does not exist yet. One statement.
    pub async fn last_verifies(&self, accounts: &[String]) -> Result<Vec<VerifyRecord>, SinkError> {
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        let table = self.verify_table();
        let marks = vec!["?"; accounts.len()].join(", ");
        let columns = verify_columns("v.");
        let sql = format!(
            "SELECT {columns} FROM {table} v JOIN (SELECT `account`, MAX(`started_at`) AS `last` FROM {table} \
             WHERE `account` IN ({marks}) GROUP BY `account`) l ON l.`account` = v.`account` AND l.`last` = v.`started_at` \
             ORDER BY v.`account`, v.`id`"
        );
        let params = accounts.iter().map(|a| mysql_async::Value::from(a.as_str())).collect();
        self.read_verifies("reading the last verifies", sql, params).await
    }

    async fn read_verifies(
        &self,
        during: &'static str,
        sql: String,
        params: Vec<mysql_async::Value>,
    ) -> Result<Vec<VerifyRecord>, SinkError> {
        self.timed(during, async {
            let mut held = HeldConn::get(&self.inner().pool).await?;
            let rows: Result<Vec<mysql_async::Row>, _> = held.conn().exec(&sql, params).await;
            let rows = match rows {
                Ok(rows) => rows,
                // ER_NO_SUCH_TABLE: no verify ran yet.
                Err(mysql_async::Error::Server(e)) if e.code == 1146 => Vec::new(),
                Err(e) => return Err(SinkError::mysql(during)(e)),
            };
            held.release();
            Ok(rows.into_iter().map(record_of_row).collect())
        })
        .await
    }

    /// Writes `record` into `wdt_sync_verify` (creating the table if it is missing, unless the
    /// sink creates no tables); nothing in a dry run.
    pub async fn record_verify(&self, record: &VerifyRecord) -> Result<(), SinkError> {
        if self.inner().dry_run {
            return Ok(());
        }
        let table = self.verify_table();
        let create = verify_table_sql(&table);
        let insert = format!(
            "INSERT INTO {table} (`account`, `method`, `range_from`, `range_to`, `windows`, `wdt_count`, \
             `stored_count`, `differing_windows`, `missing`, `extra`, `stale`, `repaired_windows`, \
             `remaining_windows`, `requests`, `resync_requests`, `started_at`, `ended_at`) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        let r = record;
        let params: Vec<mysql_async::Value> = vec![
            r.account.as_str().into(),
            r.method.as_str().into(),
            r.range_from.into(),
            r.range_to.into(),
            r.windows.into(),
            r.wdt_count.into(),
            r.stored_count.into(),
            r.differing_windows.into(),
            r.missing.into(),
            r.extra.into(),
            r.stale.into(),
            r.repaired_windows.into(),
            r.remaining_windows.into(),
            r.requests.into(),
            r.resync_requests.into(),
            r.started_at.into(),
            r.ended_at.into(),
        ];
        const DURING: &str = "recording the verify";
        self.timed(DURING, async {
            let mut held = HeldConn::get(&self.inner().pool).await?;
            if self.inner().create_tables {
                held.conn()
                    .query_drop(&create)
                    .await
                    .map_err(SinkError::ddl(DURING, "CREATE"))?;
            }
            held.conn()
                .exec_drop(&insert, params)
                .await
                .map_err(SinkError::mysql(DURING))?;
            held.release();
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_verifies_read_every_column_of_the_joined_table() {
        let columns = verify_columns("v.");
        assert!(columns.starts_with("v.`account`, v.`method`, "), "{columns}");
        assert!(columns.ends_with(", v.`started_at`, v.`ended_at`"), "{columns}");
        assert_eq!(columns.matches("v.`").count(), 17, "{columns}");
        assert_eq!(verify_columns("").split(", ").nth(15), Some("`started_at`"));
    }

    #[test]
    fn the_verify_table_has_its_counts_and_an_index_by_account() {
        let sql = verify_table_sql("`p_wdt_sync_verify`");
        for c in [
            "`wdt_count`",
            "`stored_count`",
            "`repaired_windows`",
            "`requests`",
            "`resync_requests`",
        ] {
            assert!(sql.contains(c), "{sql}");
        }
        assert!(
            sql.contains("KEY `k_verify_account` (`account`, `method`, `started_at`)"),
            "{sql}"
        );
    }
}
