//! Dead letters: records the sink could not write, stored with the reason in the batch's
//! transaction. A record is identified by stream and the SHA-256 of its raw JSON, so committing
//! the same batch twice stores it once.
//!
//! Storing a dead letter never fails the batch because of the letter itself: a reason longer
//! than the `reason` column is clipped (serde quotes the whole bad value, which can run past
//! 64 KB), a raw JSON too large for one statement (`max_allowed_packet`) is clipped with a note,
//! and a letter the server still refuses (a check constraint, a trigger of the user's) is
//! stored as a minimal letter: key, hash and reason with the refusal noted, no raw JSON. Only a
//! table that refuses even that (or a lost connection) fails the batch.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use sha2::{Digest, Sha256};
use wdt_qimen::sync::{DeadLetter, StreamId, WindowBounds};

use crate::dialect::Dialect;
use crate::error::{driver_error_is_retryable, SinkError};
use crate::names::quote_ident;

/// Bytes the `reason` column (TEXT) holds.
pub(crate) const REASON_MAX: usize = 65_535;

/// Bytes of a minimal letter's reason.
const MINIMAL_REASON_MAX: usize = 4_096;

/// Bytes of a statement besides the raw JSON: the other values and the protocol's overhead.
const STATEMENT_OVERHEAD: usize = REASON_MAX + 8_192;

/// The upsert that stores one dead letter (the hash is computed by the sink).
pub(crate) fn insert_sql(table: &str, dialect: &Dialect) -> String {
    format!(
        "INSERT INTO {} (`account`, `method`, `record_key`, `raw_sha256`, `reason`, `raw_json`, \
         `window_from`, `window_to`) VALUES (?, ?, ?, ?, ?, ?, ?, ?){}",
        quote_ident(table),
        dialect.upsert_tail(&["record_key", "reason", "window_from", "window_to"])
    )
}

/// A key that fits the `record_key` column.
fn clip_key(key: &str) -> String {
    key.chars().take(255).collect()
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn clip_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `text` cut to at most `max` bytes, saying so at its end when it was cut.
fn fit(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let note = format!(" … [clipped: {} bytes in all]", text.len());
    let mut out = clip_bytes(text, max.saturating_sub(note.len())).to_owned();
    out.push_str(&note);
    out
}

/// Lower-case hex SHA-256 of `text` (what `SHA2(text, 256)` returns).
fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The reason and raw JSON to store for `letter` when one statement may carry `max_packet`
/// bytes: the raw JSON is clipped to what fits, and the reason says so.
fn fitted(letter: &DeadLetter, max_packet: usize) -> (String, String) {
    let budget = max_packet.saturating_sub(STATEMENT_OVERHEAD);
    if letter.raw_json.len() <= budget {
        return (fit(&letter.reason, REASON_MAX), letter.raw_json.clone());
    }
    let note = format!(
        " [raw_json clipped to {budget} of {} bytes to fit max_allowed_packet; re-read the record by its key]",
        letter.raw_json.len()
    );
    let mut reason = fit(&letter.reason, REASON_MAX - note.len());
    reason.push_str(&note);
    (reason, clip_bytes(&letter.raw_json, budget).to_owned())
}

/// Stores `letters` (inside the caller's transaction); returns how many went in minimal form.
pub(crate) async fn store(
    conn: &mut Conn,
    sql: &str,
    stream: &StreamId,
    window: &WindowBounds,
    letters: &[DeadLetter],
    max_packet: usize,
) -> Result<u64, SinkError> {
    let mut minimal = 0;
    for letter in letters {
        let key = letter.key.as_deref().map(clip_key);
        let hash = sha256_hex(&letter.raw_json);
        let params = |reason: String, raw: String| {
            vec![
                Value::from(stream.account.as_str()),
                Value::from(stream.method.as_str()),
                Value::from(key.clone()),
                Value::from(hash.as_str()),
                Value::from(reason),
                Value::from(raw),
                Value::from(window.from),
                Value::from(window.to),
            ]
        };
        let (reason, raw) = fitted(letter, max_packet);
        let refused = match conn.exec_drop(sql, params(reason, raw)).await {
            Ok(()) => continue,
            Err(e) if driver_error_is_retryable(&e) || !matches!(e, mysql_async::Error::Server(_)) => {
                return Err(SinkError::mysql("storing a dead letter")(e));
            }
            Err(e) => e,
        };
        // The statement alone was rolled back; the transaction goes on.
        tracing::warn!(
            key = key.as_deref().unwrap_or("?"),
            error = %refused,
            "the server refused a dead letter; storing it without its raw JSON"
        );
        let reason = format!(
            "{} [the full dead letter was refused: {refused}; its raw JSON ({} bytes) is not stored]",
            clip_bytes(&letter.reason, MINIMAL_REASON_MAX / 2),
            letter.raw_json.len()
        );
        conn.exec_drop(sql, params(fit(&reason, MINIMAL_REASON_MAX), String::new()))
            .await
            .map_err(SinkError::mysql("storing a dead letter"))?;
        minimal += 1;
    }
    Ok(minimal)
}

impl crate::sink::MySqlSink {
    /// How many dead letters of `stream` are stored in `wdt_sync_dead_letter` (waiting to be
    /// looked at; the sink never deletes them).
    pub async fn dead_letter_count(&self, stream: &StreamId) -> Result<u64, SinkError> {
        let inner = self.inner();
        crate::checkpoint::check_stream(stream, &inner.dialect)?;
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE `account` = ? AND `method` = ?",
            quote_ident(&inner.names.dead_letter)
        );
        let params: Vec<Value> = vec![stream.account.as_str().into(), stream.method.as_str().into()];
        crate::retried::retried(
            inner,
            "counting dead letters",
            None,
            |mut held: crate::conn::HeldConn| {
                let (sql, params) = (&sql, params.clone());
                async move {
                    let result = held
                        .conn()
                        .exec_first::<u64, _, _>(sql, params)
                        .await
                        .map(Option::unwrap_or_default)
                        .map_err(SinkError::mysql("counting dead letters"));
                    (held, result)
                }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_are_keyed_by_a_hash_of_the_raw_record() {
        let sql = insert_sql("p_wdt_sync_dead_letter", &Dialect::mariadb((10, 11, 0)));
        assert!(sql.starts_with("INSERT INTO `p_wdt_sync_dead_letter` ("), "{sql}");
        assert!(sql.contains("VALUES (?, ?, ?, ?, ?, ?, ?, ?)"), "{sql}");
        assert!(sql.contains("`reason` = VALUES(`reason`)"));
        let my = insert_sql("d", &Dialect::mysql((8, 0, 36)));
        assert!(
            my.contains("AS `new` ON DUPLICATE KEY UPDATE `record_key` = `new`.`record_key`"),
            "{my}"
        );
        assert_eq!(clip_key(&"键".repeat(300)).chars().count(), 255);
        // The same digest as the server's SHA2(…, 256), so letters stored before still match.
        assert_eq!(
            sha256_hex("{\"x\":1}"),
            "5041bf1f713df204784353e82f6a4a535931cb64f1f4b4a5aeaffcb720918b22"
        );
    }

    #[test]
    fn long_reasons_and_raw_records_are_clipped_on_a_character_boundary() {
        assert_eq!(clip_bytes("退款", 4), "退");
        assert_eq!(clip_bytes("ab", 9), "ab");
        let letter = DeadLetter {
            key: Some("7".into()),
            raw_json: "{}".into(),
            reason: "值".repeat(40_000),
        };
        let (reason, raw) = fitted(&letter, 16 << 20);
        assert!(
            reason.len() <= REASON_MAX && reason.ends_with("[clipped: 120000 bytes in all]"),
            "{}",
            &reason[reason.len() - 60..]
        );
        assert_eq!(raw, "{}");
        let big = DeadLetter {
            key: Some("8".into()),
            raw_json: "x".repeat(200_000),
            reason: "too big".into(),
        };
        let (reason, raw) = fitted(&big, 100_000);
        assert_eq!(raw.len(), 100_000 - STATEMENT_OVERHEAD);
        assert!(
            reason.starts_with("too big [raw_json clipped to") && reason.contains("of 200000 bytes"),
            "{reason}"
        );
    }
}
