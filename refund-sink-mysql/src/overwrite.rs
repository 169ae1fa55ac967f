//! Rows whose keys are already stored, on the LOAD DATA path: written so that a stored row is
//! changed in place, never deleted and inserted again. `REPLACE` deletes the stored row and
//! inserts the new one when the table has triggers or a foreign key points at it: delete
//! triggers fire and `ON DELETE CASCADE` children are deleted on every overlap re-read; and it
//! always resets the columns it does not name, so a column the user added (an `erp_status`
//! their ETL sets) would go back to its default.
//!
//! Per table and batch, inside the transaction (the sink's lookup holds the table's metadata
//! lock, so no `ALTER` or `CREATE TRIGGER` can change the answer before the commit):
//! - when the table has exactly the sink's columns, no trigger and no foreign key of its own
//!   ([`replace_is_safe`], MariaDB only), the rows go through `LOAD DATA … REPLACE` with
//!   `foreign_key_checks` off for that statement, so a foreign key pointing at the table
//!   cascades nothing (the same key is back at once). This is as fast as a plain `REPLACE`. A
//!   REPLACE into a table with a foreign key pointing at it counts unchanged rows as updated;
//! - otherwise they are loaded into a staging table private to the connection
//!   (`CREATE TEMPORARY TABLE` with the sink's columns and primary key, engine
//!   [`Dialect::staging_engine`]) and merged: a multi-table `UPDATE` sets the sink's columns of
//!   the stored rows and nothing else, and `INSERT … SELECT` adds the rows whose keys are new.
//!
//! MySQL shows a table's triggers only to users with the `TRIGGER` privilege, so there the sink
//! cannot prove a table has none and always stages. Creating the staging table needs the
//! `CREATE TEMPORARY TABLES` privilege (and, on MySQL with `enforce_gtid_consistency`, a server
//! that allows temporary tables inside a transaction); when the server refuses it
//! ([`is_refusal`]), batches that touch stored rows are written with multi-row upsert statements
//! instead.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::dialect::{Dialect, ServerKind};
use crate::names::quote_ident;
use crate::schema::{create_temporary_sql, quoted_list, Table};

/// The query behind [`replace_is_safe`]: the table's columns, its triggers and its own foreign
/// keys (triggers and keys are visible to any user with a privilege on the table, on MariaDB).
const SHAPE_SQL: &str = "SELECT \
     (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?), \
     (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ?), \
     (SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = ?)";

/// True when `LOAD DATA … REPLACE` (with `foreign_key_checks` off) into `name`, the table of
/// `table`, leaves the same rows as an update in place: the table has exactly the sink's
/// columns, no trigger and no foreign key of its own. Always false on MySQL (see the module
/// docs).
pub(crate) async fn replace_is_safe(
    conn: &mut Conn,
    dialect: &Dialect,
    table: Table,
    name: &str,
) -> mysql_async::Result<bool> {
    if dialect.kind != ServerKind::MariaDb {
        return Ok(false);
    }
    let shape: Option<(u64, u64, u64)> = conn.exec_first(SHAPE_SQL, (name, name, name)).await?;
    Ok(shape == Some((table.columns().len() as u64, 0, 0)))
}

/// Turns `foreign_key_checks` off for the REPLACE (the old value is kept in a user variable).
pub(crate) const FK_CHECKS_OFF: &str = "SET @wdt_fk_checks = @@foreign_key_checks, foreign_key_checks = 0";

/// Restores `foreign_key_checks` after the REPLACE.
pub(crate) const FK_CHECKS_RESTORE: &str = "SET foreign_key_checks = IFNULL(@wdt_fk_checks, 1)";

/// What the name of a staging table starts with.
pub(crate) const STAGING_PREFIX: &str = "wdt_staging_";

/// The staging table of `table` (a temporary table: only this connection sees it).
pub(crate) fn staging_name(table: Table) -> String {
    format!("{STAGING_PREFIX}{table}")
}

/// Drops a staging table left by an earlier attempt on this connection and creates it empty.
pub(crate) fn create_sql(table: Table, dialect: &Dialect) -> String {
    let name = staging_name(table);
    format!(
        "DROP TEMPORARY TABLE IF EXISTS {}; {}",
        quote_ident(&name),
        create_temporary_sql(table, &name, dialect)
    )
}

/// `t`.`a` = `s`.`a` AND … over the primary key of `table`.
fn key_match(table: Table) -> String {
    table
        .primary_key()
        .iter()
        .map(|k| {
            let q = quote_ident(k);
            format!("`t`.{q} = `s`.{q}")
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Updates the rows of `target` that the staging table holds, in place: only the sink's columns
/// (the key columns are left as they are). Both sides have the same primary key, so the server
/// may scan either and look the other up. Affected rows: the rows that changed.
pub(crate) fn update_sql(table: Table, target: &str) -> String {
    let key = table.primary_key();
    let set: Vec<String> = table
        .columns()
        .iter()
        .filter(|c| !key.contains(&c.name))
        .map(|c| {
            let q = quote_ident(c.name);
            format!("`t`.{q} = `s`.{q}")
        })
        .collect();
    format!(
        "UPDATE {} AS `t` JOIN {} AS `s` ON {} SET {}",
        quote_ident(target),
        quote_ident(&staging_name(table)),
        key_match(table),
        set.join(", ")
    )
}

/// Inserts the staged rows whose keys `target` does not hold. Affected rows: the rows inserted.
pub(crate) fn insert_missing_sql(table: Table, target: &str) -> String {
    let names: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
    let staged: Vec<String> = names.iter().map(|n| format!("`s`.{}", quote_ident(n))).collect();
    format!(
        "INSERT INTO {} ({}) SELECT {} FROM {} AS `s` LEFT JOIN {} AS `t` ON {} WHERE `t`.{} IS NULL",
        quote_ident(target),
        quoted_list(&names),
        staged.join(", "),
        quote_ident(&staging_name(table)),
        quote_ident(target),
        key_match(table),
        quote_ident(table.primary_key()[0]),
    )
}

/// Drops the staging table of `table`.
pub(crate) fn drop_sql(table: Table) -> String {
    format!("DROP TEMPORARY TABLE IF EXISTS {}", quote_ident(&staging_name(table)))
}

/// What a merge did to the target table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Merged {
    /// Staged rows whose keys were not stored.
    pub inserted: u64,
    /// Stored rows that changed.
    pub updated: u64,
    /// Stored rows already equal to the staged ones.
    pub unchanged: u64,
}

/// `Rows matched: N` of an UPDATE's info string.
fn rows_matched(info: &str) -> Option<u64> {
    let rest = &info[info.find("Rows matched:")? + "Rows matched:".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// Merges the `rows` staged rows of `table` into `target` (updating the stored ones in place,
/// then inserting the missing ones) and drops the staging table. The update always runs, so a
/// row another writer inserted after the sink's lookup (no gap locks under READ COMMITTED) is
/// overwritten too, never skipped. Errors come with what was being done.
pub(crate) async fn merge(
    conn: &mut Conn,
    table: Table,
    target: &str,
    rows: u64,
) -> Result<Merged, (&'static str, mysql_async::Error)> {
    conn.query_drop(update_sql(table, target))
        .await
        .map_err(|e| ("updating stored rows from the staging table", e))?;
    let changed = conn.affected_rows();
    let mut inserted = 0;
    if !matches!(rows_matched(&conn.info()), Some(matched) if matched >= rows) {
        conn.query_drop(insert_missing_sql(table, target))
            .await
            .map_err(|e| ("inserting new rows from the staging table", e))?;
        inserted = conn.affected_rows();
    }
    conn.query_drop(drop_sql(table))
        .await
        .map_err(|e| ("dropping a staging table", e))?;
    let present = rows.saturating_sub(inserted);
    let updated = changed.min(present);
    Ok(Merged {
        inserted,
        updated,
        unchanged: present - updated,
    })
}

/// True when a server error on creating the staging table means "no temporary tables here":
/// access denied to the database (1044) or the table (1142), a missing privilege (1227), or
/// MySQL's GTID consistency rule against temporary tables in a transaction (1787, 3748).
pub(crate) fn is_refusal(code: u16) -> bool {
    matches!(code, 1044 | 1142 | 1227 | 1787 | 3748)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_rows_are_updated_in_place_and_only_missing_ones_inserted() {
        let up = update_sql(Table::RefundAmountDetail, "p_wdt_refund_amount_detail");
        assert!(
            up.starts_with(
                "UPDATE `p_wdt_refund_amount_detail` AS `t` JOIN `wdt_staging_wdt_refund_amount_detail` AS `s` \
                 ON `t`.`account` = `s`.`account` AND `t`.`refund_id` = `s`.`refund_id` AND `t`.`rec_id` = `s`.`rec_id` \
                 SET `t`.`refund_type` = `s`.`refund_type`, "
            ),
            "{up}"
        );
        assert!(up.ends_with("`t`.`remark` = `s`.`remark`"), "{up}");
        assert!(
            !up.contains("`t`.`rec_id` = `s`.`rec_id`,") && !up.contains("REPLACE"),
            "{up}"
        );
        let ins = insert_missing_sql(Table::Refund, "wdt_refund");
        assert!(
            ins.starts_with("INSERT INTO `wdt_refund` (`refund_id`, `src_tids`,"),
            "{ins}"
        );
        assert!(
            ins.ends_with(
                "FROM `wdt_staging_wdt_refund` AS `s` LEFT JOIN `wdt_refund` AS `t` \
                 ON `t`.`account` = `s`.`account` AND `t`.`refund_id` = `s`.`refund_id` WHERE `t`.`account` IS NULL"
            ),
            "{ins}"
        );
        let create = create_sql(Table::Flat, &Dialect::mariadb((10, 11, 0)));
        assert!(
            create.starts_with(
                "DROP TEMPORARY TABLE IF EXISTS `wdt_staging_aftersales_refund_refund_search`; \
                 CREATE TEMPORARY TABLE `wdt_staging_aftersales_refund_refund_search` ("
            ),
            "{create}"
        );
        assert!(create.contains("PRIMARY KEY (`account`, `refund_id`, `detail_list_rec_id`)"));
        assert!(create.contains("`account` VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL"));
        assert!(create.contains(") ENGINE=Aria DEFAULT CHARSET=utf8mb4"), "{create}");
        assert!(create_sql(Table::Refund, &Dialect::mysql((8, 0, 36))).contains(") ENGINE=InnoDB"));
        assert_eq!(rows_matched("Rows matched: 12  Changed: 3  Warnings: 0"), Some(12));
        assert_eq!(rows_matched("Records: 3"), None);
        // Fits MySQL's 64-character identifier limit.
        assert!(staging_name(Table::Flat).len() <= 64);
    }
}
