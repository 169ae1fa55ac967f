//! The checkpoint row of a stream in `wdt_sync_state`: read, and written inside the batch's
//! transaction.

use chrono::NaiveDateTime;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use wdt_qimen::sync::{Checkpoint, StreamId};

use crate::dialect::Dialect;
use crate::error::SinkError;
use crate::names::quote_ident;

/// The upsert that stores a checkpoint. It never moves `window_end` back (two processes on one
/// stream, or an older batch committed again, cannot undo progress), and `updated_at` only moves
/// when `window_end` does, so storing the same checkpoint again changes nothing.
pub(crate) fn upsert_sql(table: &str, dialect: &Dialect) -> String {
    let new_end = dialect.inserted_value("window_end");
    let alias = dialect.row_alias_clause();
    format!(
        "INSERT INTO {} (`account`, `method`, `window_end`, `updated_at`) VALUES (?, ?, ?, NOW(3)){alias} \
         ON DUPLICATE KEY UPDATE `updated_at` = IF(`window_end` >= {new_end}, `updated_at`, {}), \
         `window_end` = GREATEST(`window_end`, {new_end})",
        quote_ident(table),
        dialect.inserted_value("updated_at"),
    )
}

/// The statement that moves a checkpoint back (and never forward): only for a checkpoint ahead of
/// the gateway's clock.
pub(crate) fn reset_sql(table: &str) -> String {
    format!(
        "UPDATE {} SET `window_end` = ?, `updated_at` = NOW(3) WHERE `account` = ? AND `method` = ? AND `window_end` > ?",
        quote_ident(table)
    )
}

/// The query that reads a checkpoint.
pub(crate) fn select_sql(table: &str) -> String {
    format!(
        "SELECT `window_end` FROM {} WHERE `account` = ? AND `method` = ?",
        quote_ident(table)
    )
}

/// Stores `checkpoint` for `stream` (inside the caller's transaction).
pub(crate) async fn store(
    conn: &mut Conn,
    sql: &str,
    stream: &StreamId,
    checkpoint: &Checkpoint,
) -> Result<(), SinkError> {
    let params = vec![
        Value::from(stream.account.as_str()),
        Value::from(stream.method.as_str()),
        Value::from(checkpoint.window_end),
    ];
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

/// Reads the checkpoint of `stream`.
pub(crate) async fn load(conn: &mut Conn, sql: &str, stream: &StreamId) -> Result<Option<Checkpoint>, SinkError> {
    let end: Option<NaiveDateTime> = conn
        .exec_first(sql, (stream.account.as_str(), stream.method.as_str()))
        .await
        .map_err(SinkError::mysql("reading the checkpoint"))?;
    Ok(end.map(|window_end| Checkpoint { window_end }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpoint_upsert_is_idempotent_in_both_dialects() {
        let sql = upsert_sql("s", &Dialect::mariadb((10, 11, 0)));
        assert!(
            sql.contains("VALUES (?, ?, ?, NOW(3)) ON DUPLICATE KEY UPDATE"),
            "{sql}"
        );
        assert!(sql.contains("IF(`window_end` >= VALUES(`window_end`), `updated_at`, VALUES(`updated_at`))"));
        assert!(
            sql.contains("`window_end` = GREATEST(`window_end`, VALUES(`window_end`))"),
            "{sql}"
        );
        let my = upsert_sql("s", &Dialect::mysql((8, 0, 36)));
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
            "SELECT `window_end` FROM `s` WHERE `account` = ? AND `method` = ?"
        );
    }
}
