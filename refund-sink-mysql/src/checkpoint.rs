//! Checkpoints in `wdt_sync_state`: one row per stream and data table, read, and written inside
//! the batch's transaction.
//!
//! A checkpoint belongs to the tables it describes: a batch stores it for every data table of
//! the layout, and [`load`] returns the earliest over the layout's tables, or none as soon as
//! one of them has none. A table added to the layout later (`flat` → `both`) is therefore filled
//! from the configured start instead of getting only the refunds changed after the switch; the
//! tables that already had a checkpoint keep theirs (it never moves back). Any other change to
//! the stored checkpoints has to cover every `data_table` row of the stream.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use wdt_qimen::sync::{Checkpoint, StreamId};

use crate::dialect::Dialect;
use crate::error::SinkError;
use crate::names::quote_ident;
use crate::schema::Table;

/// The upsert that stores a checkpoint for `tables` data tables (one row each). It never moves
/// `window_end` back (two processes on one stream, or an older batch committed again, cannot
/// undo progress), and `updated_at` only moves when `window_end` does, so storing the same
/// checkpoint again changes nothing.
pub(crate) fn upsert_sql(table: &str, dialect: &Dialect, tables: usize) -> String {
    let new_end = dialect.inserted_value("window_end");
    let alias = dialect.row_alias_clause();
    let rows = vec!["(?, ?, ?, ?, NOW(3))"; tables.max(1)].join(", ");
    format!(
        "INSERT INTO {} (`account`, `method`, `data_table`, `window_end`, `updated_at`) VALUES {rows}{alias} \
         ON DUPLICATE KEY UPDATE `updated_at` = IF(`window_end` >= {new_end}, `updated_at`, {}), \
         `window_end` = GREATEST(`window_end`, {new_end})",
        quote_ident(table),
        dialect.inserted_value("updated_at"),
    )
}

/// The statement that deletes a stream's checkpoints of other versions of the user-mapped
/// tables among `tables` (`name#<fingerprint>` rows whose fingerprint is not the current one);
/// `None` when there are no user-mapped tables. Run in every batch's transaction: once a stream
/// has written a table through a changed mapping, a checkpoint of the earlier mapping no longer
/// describes the table's rows, and changing the mapping back must fill the table again. The
/// other streams' rows are theirs to drop.
pub(crate) fn obsolete_sql(table: &str, tables: &[Table]) -> Option<String> {
    let mapped = tables.iter().filter(|t| t.is_user_mapped()).count();
    (mapped > 0).then(|| {
        format!(
            "DELETE FROM {} WHERE `account` = ? AND `method` = ? AND ({}) AND `data_table` NOT IN ({})",
            quote_ident(table),
            vec!["(CHAR_LENGTH(`data_table`) = ? AND LEFT(`data_table`, ?) = ?)"; mapped].join(" OR "),
            vec!["?"; tables.len()].join(", ")
        )
    })
}

/// Deletes the checkpoints of `stream` that [`obsolete_sql`] (`sql`) describes for `tables`
/// (inside the caller's transaction).
pub(crate) async fn drop_obsolete(
    conn: &mut Conn,
    sql: &str,
    stream: &StreamId,
    tables: &[Table],
) -> Result<(), SinkError> {
    let mut params = vec![
        Value::from(stream.account.as_str()),
        Value::from(stream.method.as_str()),
    ];
    for t in tables.iter().filter(|t| t.is_user_mapped()) {
        let key = t.state_key();
        // `name#`: the key up to its fingerprint, which has the same length in every version.
        let name = key.rfind('#').map_or(key.as_str(), |i| &key[..=i]);
        params.push(Value::from(key.chars().count()));
        params.push(Value::from(name.chars().count()));
        params.push(Value::from(name));
    }
    params.extend(tables.iter().map(|t| Value::from(t.state_key())));
    conn.exec_drop(sql, params)
        .await
        .map_err(SinkError::mysql("dropping the checkpoints of an earlier mapping"))
}

/// The statement that moves a checkpoint back (and never forward): only for a checkpoint ahead of
/// the gateway's clock.
pub(crate) fn reset_sql(table: &str) -> String {
    format!(
        "UPDATE {} SET `window_end` = ?, `updated_at` = NOW(3) WHERE `account` = ? AND `method` = ? AND `window_end` > ?",
        quote_ident(table)
    )
}

/// The query that reads the checkpoints of a stream, per data table.
pub(crate) fn select_sql(table: &str) -> String {
    format!(
        "SELECT `data_table`, `window_end` FROM {} WHERE `account` = ? AND `method` = ?",
        quote_ident(table)
    )
}

/// Checks that `stream` fits the key columns: at most 128 characters each, and no trailing
/// space where the key collation ignores it (MySQL before 8.0.17).
pub(crate) fn check_stream(stream: &StreamId, dialect: &Dialect) -> Result<(), SinkError> {
    for (what, value) in [("account", &stream.account), ("method", &stream.method)] {
        if value.chars().count() > 128 {
            return Err(SinkError::InvalidConfig {
                problem: format!("the stream {what} has more than 128 characters"),
                fix: format!("shorten the stream {what}"),
            });
        }
        if dialect.key_collation_pads() && value.ends_with(' ') {
            return Err(SinkError::InvalidConfig {
                problem: format!(
                    "the stream {what} {value:?} ends with a space, which this server's collation ({}) ignores",
                    dialect.key_collation()
                ),
                fix: format!("remove the trailing space from the stream {what}, or use MySQL 8.0.17+ or MariaDB"),
            });
        }
    }
    Ok(())
}

/// Stores `checkpoint` for `stream` and each of `tables` (inside the caller's transaction).
pub(crate) async fn store(
    conn: &mut Conn,
    sql: &str,
    stream: &StreamId,
    tables: &[Table],
    checkpoint: &Checkpoint,
) -> Result<(), SinkError> {
    let mut params = Vec::with_capacity(tables.len() * 4);
    for t in tables {
        params.push(Value::from(stream.account.as_str()));
        params.push(Value::from(stream.method.as_str()));
        params.push(Value::from(t.state_key()));
        params.push(Value::from(checkpoint.window_end));
    }
    conn.exec_drop(sql, params)
        .await
        .map_err(SinkError::mysql("storing the checkpoint"))
}

/// Moves the checkpoint of `stream` back to `checkpoint` if the stored one is later.
pub(crate) async fn reset(
    conn: &mut Conn,
    sql: &str,
    stream: &StreamId,
    checkpoint: &Checkpoint,
) -> Result<(), SinkError> {
    let params = vec![
        Value::from(checkpoint.window_end),
        Value::from(stream.account.as_str()),
        Value::from(stream.method.as_str()),
        Value::from(checkpoint.window_end),
    ];
    conn.exec_drop(sql, params)
        .await
        .map_err(SinkError::mysql("moving the checkpoint back"))
}

/// The checkpoint of `stream` over `tables`: the earliest of theirs, `None` when one has none.
pub(crate) async fn load(
    conn: &mut Conn,
    sql: &str,
    stream: &StreamId,
    tables: &[Table],
) -> Result<Option<Checkpoint>, SinkError> {
    let rows: Vec<(String, NaiveDateTime)> = conn
        .exec(sql, (stream.account.as_str(), stream.method.as_str()))
        .await
        .map_err(SinkError::mysql("reading the checkpoint"))?;
    let stored: HashMap<String, NaiveDateTime> = rows.into_iter().collect();
    Ok(earliest(&stored, tables, stream))
}

/// The earliest checkpoint of `tables` in `stored`; `None` when one of them has none.
pub(crate) fn earliest(
    stored: &HashMap<String, NaiveDateTime>,
    tables: &[Table],
    stream: &StreamId,
) -> Option<Checkpoint> {
    let ends: Vec<Option<&NaiveDateTime>> = tables.iter().map(|t| stored.get(&t.state_key())).collect();
    if ends.iter().any(Option::is_none) {
        let missing: Vec<String> = tables
            .iter()
            .zip(&ends)
            .filter(|(_, e)| e.is_none())
            .map(|(t, _)| t.to_string())
            .collect();
        if ends.iter().any(Option::is_some) {
            tracing::info!(
                %stream,
                tables = %missing.join(", "),
                "these tables have no checkpoint yet: syncing from the configured start to fill them"
            );
        }
        return None;
    }
    ends.into_iter()
        .flatten()
        .min()
        .map(|end| Checkpoint { window_end: *end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpoint_upsert_is_idempotent_in_both_dialects() {
        let sql = upsert_sql("s", &Dialect::mariadb((10, 11, 0)), 2);
        assert!(
            sql.contains("VALUES (?, ?, ?, ?, NOW(3)), (?, ?, ?, ?, NOW(3)) ON DUPLICATE KEY UPDATE"),
            "{sql}"
        );
        assert!(sql.contains("IF(`window_end` >= VALUES(`window_end`), `updated_at`, VALUES(`updated_at`))"));
        assert!(
            sql.contains("`window_end` = GREATEST(`window_end`, VALUES(`window_end`))"),
            "{sql}"
        );
        let my = upsert_sql("s", &Dialect::mysql((8, 0, 36)), 1);
        assert!(my.contains("NOW(3)) AS `new` ON DUPLICATE KEY UPDATE"), "{my}");
        assert!(
            my.contains("`window_end` = GREATEST(`window_end`, `new`.`window_end`)"),
            "{my}"
        );
        assert_eq!(
            reset_sql("s"),
            "UPDATE `s` SET `window_end` = ?, `updated_at` = NOW(3) WHERE `account` = ? AND `method` = ? AND `window_end` > ?"
        );
        assert_eq!(
            select_sql("s"),
            "SELECT `data_table`, `window_end` FROM `s` WHERE `account` = ? AND `method` = ?"
        );
    }

    #[test]
    fn the_checkpoint_is_the_earliest_and_none_while_a_table_has_none() {
        let t = |h| {
            chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
        };
        let stream = StreamId::new("a", "m");
        let mut stored = HashMap::new();
        stored.insert("aftersales_refund_refund_search".to_owned(), t(9));
        let both = crate::schema::Table::data_tables(crate::Layout::Both);
        assert_eq!(
            earliest(&stored, &[Table::Flat], &stream),
            Some(Checkpoint { window_end: t(9) })
        );
        assert_eq!(earliest(&stored, both, &stream), None);
        for n in ["wdt_refund", "wdt_refund_detail", "wdt_refund_amount_detail"] {
            stored.insert(n.to_owned(), t(5));
        }
        assert_eq!(earliest(&stored, both, &stream), Some(Checkpoint { window_end: t(5) }));
    }

    #[test]
    fn stream_ids_must_fit_the_keys() {
        let maria = Dialect::mariadb((10, 11, 0));
        check_stream(&StreamId::new("shop1 ", "m"), &maria).unwrap();
        let old = Dialect::mysql((5, 7, 44));
        let e = check_stream(&StreamId::new("shop1 ", "m"), &old)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"shop1 \"") && e.contains("utf8mb4_bin"), "{e}");
        let e = check_stream(&StreamId::new("a", "m".repeat(129)), &maria)
            .unwrap_err()
            .to_string();
        assert!(e.contains("method") && e.contains("128"), "{e}");
    }
}
