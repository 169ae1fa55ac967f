//! The fast write path: `LOAD DATA LOCAL INFILE` fed from memory through mysql_async's
//! per-connection infile handler, inside the batch's transaction.
//!
//! mysql_async always announces the client's LOCAL INFILE capability (`CLIENT_LOCAL_FILES`); the
//! server may still refuse (`local_infile = OFF`), which [`crate::dialect::is_local_infile_refusal`]
//! recognises so the sink can fall back to multi-row statements.
//!
//! With `LOCAL`, the server cannot stop the upload halfway, so it turns data errors and duplicate
//! keys into warnings. The sink therefore checks the statement's counts and warnings: any
//! warning fails the attempt (see [`LoadOutcome`]).

use bytes::Bytes;
use futures::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, InfileData};

use crate::encode::LOAD_DATA_FORMAT;
use crate::names::quote_ident;
use crate::schema::{quoted_list, Table};

/// The file name the sink's statements name; the handler ignores it and streams from memory.
pub(crate) const FILE_NAME: &str = "wdt-refund-sink.tsv";

/// The LOAD DATA statement for `table` named `name`, reading `file` (a plain file name: quotes
/// and backslashes are escaped); `replace` adds `REPLACE` (a stored key is replaced).
pub(crate) fn load_sql_for_file(table: Table, name: &str, file: &str, replace: bool) -> String {
    let names: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
    let file = file.replace('\\', "\\\\").replace('\'', "\\'");
    format!(
        "LOAD DATA LOCAL INFILE '{file}' {}INTO TABLE {} {LOAD_DATA_FORMAT} ({})",
        if replace { "REPLACE " } else { "" },
        quote_ident(name),
        quoted_list(&names)
    )
}

/// The sink's LOAD DATA statement into `name` (the table, or its staging table) with the columns
/// of `table`; `replace` adds `REPLACE` (see [`crate::overwrite`] for when the sink uses it).
pub(crate) fn load_sql(table: Table, name: &str, replace: bool) -> String {
    load_sql_for_file(table, name, FILE_NAME, replace)
}

/// The counts of a LOAD DATA statement (`Records: 3  Deleted: 1  Skipped: 0  Warnings: 0`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LoadInfo {
    /// Rows read from the data.
    pub records: u64,
    /// Stored rows replaced (`REPLACE`); identical rows are not counted when the row is replaced
    /// in place (no trigger or foreign key on the table).
    pub deleted: u64,
    /// Rows not written (duplicate keys without `REPLACE`).
    pub skipped: u64,
    /// Warnings raised.
    pub warnings: u64,
}

/// Parses the info string of a LOAD DATA statement; missing fields read as 0.
pub(crate) fn parse_info(info: &str) -> LoadInfo {
    let mut out = LoadInfo::default();
    let mut words = info.split_whitespace();
    while let Some(word) = words.next() {
        let value = words.clone().next().and_then(|v| v.parse::<u64>().ok());
        let slot = match word {
            "Records:" => &mut out.records,
            "Deleted:" => &mut out.deleted,
            "Skipped:" => &mut out.skipped,
            "Warnings:" => &mut out.warnings,
            _ => continue,
        };
        if let Some(v) = value {
            *slot = v;
            words.next();
        }
    }
    out
}

/// Streams `chunks` into `table` with `sql` (from [`load_sql`]) and returns the counts.
pub(crate) async fn load(conn: &mut Conn, sql: &str, chunks: Vec<Bytes>) -> mysql_async::Result<LoadInfo> {
    conn.set_infile_handler(async move {
        let stream = futures::stream::iter(chunks.into_iter().map(Ok::<Bytes, std::io::Error>));
        Ok::<InfileData, mysql_async::Error>(stream.boxed())
    });
    conn.query_drop(sql).await?;
    let mut info = parse_info(&conn.info());
    info.warnings = info.warnings.max(u64::from(conn.get_warnings()));
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_strings_are_parsed() {
        let i = parse_info("Records: 3  Deleted: 1  Skipped: 0  Warnings: 2");
        assert_eq!(
            i,
            LoadInfo {
                records: 3,
                deleted: 1,
                skipped: 0,
                warnings: 2
            }
        );
        assert_eq!(parse_info(""), LoadInfo::default());
        assert_eq!(parse_info("Records: x Deleted: 4").deleted, 4);
    }

    #[test]
    fn the_statement_names_every_column_and_the_format() {
        let sql = load_sql(Table::RefundAmountDetail, "p_a", true);
        assert!(
            sql.starts_with(
                "LOAD DATA LOCAL INFILE 'wdt-refund-sink.tsv' REPLACE INTO TABLE `p_a` CHARACTER SET utf8mb4"
            ),
            "{sql}"
        );
        assert!(
            sql.contains("FIELDS TERMINATED BY '\\t' ENCLOSED BY '' ESCAPED BY '\\\\'"),
            "{sql}"
        );
        assert!(sql.ends_with("(`refund_id`, `rec_id`, `refund_type`, `is_return`, `refund_amount`, `receive_amount`, `is_guarantee`, `account_id`, `pay_account`, `account_name`, `account_bank`, `is_auto`, `remark`, `account`)"));
        assert!(!load_sql(Table::Flat, "f", false).contains("REPLACE"));
        let odd = load_sql_for_file(Table::Flat, "f", "/tmp/it's\\x.tsv", false);
        assert!(
            odd.starts_with("LOAD DATA LOCAL INFILE '/tmp/it\\'s\\\\x.tsv' INTO TABLE `f`"),
            "{odd}"
        );
    }
}
