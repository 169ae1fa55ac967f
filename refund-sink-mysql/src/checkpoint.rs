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

/// The stored checkpoint keys among `stored` of earlier versions of the user-mapped tables in
/// `tables`: `name#<fingerprint>` with another fingerprint (the same length, the same name).
fn obsolete_keys(stored: Vec<String>, tables: &[Table]) -> Vec<String> {
    let current: Vec<String> = tables.iter().map(|t| t.state_key()).collect();
    let versioned: Vec<(usize, &str)> = tables
        .iter()
        .zip(&current)
        .filter(|(t, _)| t.is_user_mapped())
        .filter_map(|(_, key)| key.rfind('#').map(|i| (key.chars().count(), &key[..=i])))
        .collect();
    stored
        .into_iter()
        .filter(|k| !current.contains(k))
        .filter(|k| {
            versioned
                .iter()
                .any(|(len, name)| k.chars().count() == *len && k.starts_with(name))
        })
        .collect()
}

/// Deletes the checkpoints of `stream` (rows of `state_table`, read with `select_sql`) of
/// earlier versions of the user-mapped tables among `tables`, inside the caller's transaction.
/// Run in every batch of a mapping with such tables: once a stream has written a table through
/// a changed mapping, the earlier mapping's checkpoint no longer describes the table's rows, and
/// changing the mapping back must fill the table again. Only the stream's own rows are read
/// (without locks) and deleted (by their keys, only when there are any).
pub(crate) async fn drop_obsolete(
    conn: &mut Conn,
    select_sql: &str,
    state_table: &str,
    stream: &StreamId,
    tables: &[Table],
) -> Result<(), SinkError> {
    let stored: Vec<(String, NaiveDateTime)> = conn
        .exec(select_sql, (stream.account.as_str(), stream.method.as_str()))
        .await
        .map_err(SinkError::mysql("reading the checkpoint"))?;
    let obsolete = obsolete_keys(stored.into_iter().map(|(k, _)| k).collect(), tables);
    if obsolete.is_empty() {
        return Ok(());
    }
    tracing::info!(%stream, tables = %obsolete.join(", "), "dropping the checkpoints of an earlier mapping");
    let sql = format!(
        "DELETE FROM {} WHERE `account` = ? AND `method` = ? AND `data_table` IN ({})",
        quote_ident(state_table),
        vec!["?"; obsolete.len()].join(", ")
    );
    let mut params = vec![
        Value::from(stream.account.as_str()),
        Value::from(stream.method.as_str()),
    ];
    params.extend(obsolete.into_iter().map(Value::from));
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
    let changed = changed_mappings(stored.keys().cloned().collect(), tables);
    if !changed.is_empty() {
        tracing::warn!(
            %stream,
            tables = %changed.join(", "),
            "the mapping of these tables changed since they were last written: reading from the configured start \
             to fill every row again (until then some rows hold the earlier mapping's values)"
        );
    }
    Ok(earliest(&stored, tables, stream))
}

/// The user-mapped tables among `tables` whose checkpoint is missing while `stored` (the
/// stream's checkpoint keys) holds one of an earlier version of their mapping.
pub(crate) fn changed_mappings(stored: Vec<String>, tables: &[Table]) -> Vec<String> {
    let obsolete = obsolete_keys(stored.clone(), tables);
    tables
        .iter()
        .filter(|t| t.is_user_mapped() && !stored.contains(&t.state_key()))
        .filter(|t| {
            let key = t.state_key();
            let name = key.rfind('#').map_or(key.as_str(), |i| &key[..=i]);
            obsolete.iter().any(|o| o.starts_with(name))
        })
        .map(|t| t.to_string())
        .collect()
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
    fn a_table_whose_mapping_changed_is_named() {
        let spec = |extra: &str| -> crate::mapping::MappingSpec {
            toml::from_str(&format!(
                "[[tables]]\nname = \"bi\"\ngrain = \"refund\"\ncolumns = [\n  \
                 {{ name = \"id\", type = \"BIGINT\", source = \"refund_id\" }},\n  \
                 {{ name = \"m\", type = \"DATETIME(3)\", source = \"modified\" }},{extra}\n]\n"
            ))
            .unwrap()
        };
        let old = crate::mapping::Mapping::compile(&spec(""), "").unwrap();
        let new = crate::mapping::Mapping::compile(
            &spec("\n  { name = \"no\", type = \"VARCHAR(9)\", source = \"refund_no\" }"),
            "",
        )
        .unwrap();
        let old_key = old.data_tables()[0].state_key();
        let new_key = new.data_tables()[0].state_key();
        assert_ne!(old_key, new_key);
        assert_eq!(changed_mappings(vec![old_key.clone()], new.data_tables()), ["bi"]);
        // A first sync (no rows) and the current key are no change; the flat preset never is.
        assert!(changed_mappings(vec![], new.data_tables()).is_empty());
        assert!(changed_mappings(vec![new_key, old_key.clone()], new.data_tables()).is_empty());
        let flat = crate::Layout::Flat.data_tables("");
        assert!(changed_mappings(vec![old_key], flat).is_empty());
    }

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
    fn only_earlier_versions_of_the_mapped_tables_are_obsolete() {
        let spec: crate::mapping::MappingSpec = toml::from_str(
            r#"
            [[tables]]
            name = "x"
            grain = "refund"
            columns = [{ name = "id", type = "BIGINT", source = "refund_id" }]
            [[tables]]
            name = "x#abc"
            grain = "refund"
            columns = [{ name = "id", type = "BIGINT", source = "refund_id" }]
            "#,
        )
        .unwrap();
        let tables = crate::mapping::Mapping::compile(&spec, "").unwrap().data_tables();
        let (x, other) = (tables[0].state_key(), tables[1].state_key());
        let stored = vec![
            x.clone(),
            other.clone(),
            "x#000000000000".to_owned(),
            "x#abc#000000000000".to_owned(),
            "x#short".to_owned(),
            "aftersales_refund_refund_search".to_owned(),
        ];
        assert_eq!(
            obsolete_keys(stored, tables),
            vec!["x#000000000000".to_owned(), "x#abc#000000000000".to_owned()]
        );
        // A built-in layout's tables have no versions.
        let flat = crate::schema::Table::data_tables(crate::Layout::Flat);
        assert!(obsolete_keys(vec!["aftersales_refund_refund_search#0".into()], flat).is_empty());
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
