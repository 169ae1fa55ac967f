//! Dead letters: records the sink could not write, stored with the reason in the batch's
//! transaction. A record is identified by stream and the SHA-256 of its raw JSON, so committing
//! the same batch twice stores it once.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use wdt_qimen::sync::{DeadLetter, StreamId, WindowBounds};

use crate::dialect::Dialect;
use crate::error::SinkError;
use crate::names::quote_ident;

/// The upsert that stores one dead letter.
pub(crate) fn insert_sql(table: &str, dialect: &Dialect) -> String {
    format!(
        "INSERT INTO {} (`account`, `method`, `record_key`, `raw_sha256`, `reason`, `raw_json`, \
         `window_from`, `window_to`) VALUES (?, ?, ?, SHA2(?, 256), ?, ?, ?, ?){}",
        quote_ident(table),
        dialect.upsert_tail(&["record_key", "reason", "window_from", "window_to"])
    )
}

/// A key that fits the `record_key` column.
fn clip(key: &str) -> String {
    key.chars().take(255).collect()
}

/// Stores `letters` (inside the caller's transaction).
pub(crate) async fn store(
    conn: &mut Conn,
    sql: &str,
    stream: &StreamId,
    window: &WindowBounds,
    letters: &[DeadLetter],
) -> Result<(), SinkError> {
    for letter in letters {
        let params = vec![
            Value::from(stream.account.as_str()),
            Value::from(stream.method.as_str()),
            Value::from(letter.key.as_deref().map(clip)),
            Value::from(letter.raw_json.as_str()),
            Value::from(letter.reason.as_str()),
            Value::from(letter.raw_json.as_str()),
            Value::from(window.from),
            Value::from(window.to),
        ];
        conn.exec_drop(sql, params)
            .await
            .map_err(SinkError::mysql("storing a dead letter"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_are_keyed_by_a_hash_of_the_raw_record() {
        let sql = insert_sql("p_wdt_sync_dead_letter", &Dialect::mariadb((10, 11, 0)));
        assert!(sql.starts_with("INSERT INTO `p_wdt_sync_dead_letter` ("), "{sql}");
        assert!(sql.contains("SHA2(?, 256)"));
        assert!(sql.contains("`reason` = VALUES(`reason`)"));
        let my = insert_sql("d", &Dialect::mysql((8, 0, 36)));
        assert!(
            my.contains("AS `new` ON DUPLICATE KEY UPDATE `record_key` = `new`.`record_key`"),
            "{my}"
        );
        assert_eq!(clip(&"键".repeat(300)).chars().count(), 255);
    }
}
