//! The steps of each schema migration ([`MIGRATIONS`](crate::schema::MIGRATIONS)). Each step
//! first looks at what the table is like, so a table created in its newest shape is left alone
//! and an interrupted migration finishes on the next start. DDL runs only when creating tables
//! is on; otherwise a needed step is an error naming the statements to run.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::dialect::Dialect;
use crate::error::SinkError;
use crate::names::{quote_ident, TableNames};
use crate::schema::{
    account_key_sql, is_key_collation, quoted_list, string_literal, ColumnType, FoundTable, Migration, Table, ACCOUNT,
};
use crate::setup::describe;

/// Applies migration `m` to the tables under `names`; `may_alter` allows DDL; `account` is
/// the account rows without one belong to when the state table cannot tell (version 4).
pub(crate) async fn apply(
    conn: &mut Conn,
    names: &TableNames,
    dialect: &Dialect,
    m: &Migration,
    may_alter: bool,
    account: Option<&str>,
) -> Result<(), SinkError> {
    match m.version {
        2 => {
            let alters = v2_statements(conn, names, dialect).await?;
            run(conn, m, alters, may_alter).await?;
            adopt_old_checkpoints(conn, names).await
        }
        4 => {
            for table in Table::data_tables(crate::Layout::Both) {
                v4_table(conn, names, dialect, m, may_alter, account, *table).await?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Runs `alters` (table, statement), or says which to run when DDL is not allowed.
async fn run(conn: &mut Conn, m: &Migration, alters: Vec<(String, String)>, may_alter: bool) -> Result<(), SinkError> {
    if alters.is_empty() {
        return Ok(());
    }
    if !may_alter {
        let statements: Vec<&str> = alters.iter().map(|(_, sql)| sql.as_str()).collect();
        return Err(SinkError::MigrationNeeded {
            table: alters[0].0.clone(),
            version: m.version,
            description: m.description,
            fix: format!(
                "run as an administrator: {}; or start the sink once with creating tables on, as a user with the \
                 ALTER privilege",
                statements.join("; ")
            ),
        });
    }
    for (table, sql) in alters {
        conn.query_drop(&sql)
            .await
            .map_err(SinkError::ddl("migrating a table", "ALTER"))?;
        tracing::info!(%table, version = m.version, "table migrated");
    }
    Ok(())
}

fn has_column(t: &FoundTable, name: &str) -> bool {
    t.columns.iter().any(|c| c.name.eq_ignore_ascii_case(name))
}

/// `MODIFY` clauses for the key columns of `table` whose collation is not byte for byte.
fn key_modifications(table: Table, found: &FoundTable, dialect: &Dialect) -> Vec<String> {
    table
        .columns()
        .iter()
        .filter(|c| matches!(c.ty, crate::schema::ColumnType::Key(_)))
        .filter(|c| {
            found
                .columns
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(c.name))
                .is_some_and(|f| !is_key_collation(f.collation.as_deref().unwrap_or(""), dialect))
        })
        .map(|c| format!("MODIFY {}", c.ddl(dialect)))
        .collect()
}

/// Version 2: `wdt_sync_state` gains `data_table` in its primary key; the stream keys of it and
/// of `wdt_sync_dead_letter` get the byte-for-byte collation.
async fn v2_statements(
    conn: &mut Conn,
    names: &TableNames,
    dialect: &Dialect,
) -> Result<Vec<(String, String)>, SinkError> {
    let mut alters = Vec::new();
    for table in [Table::SyncState, Table::DeadLetter] {
        let name = table.name(names);
        let Some(found) = describe(conn, name).await? else {
            continue;
        };
        let mut clauses = key_modifications(table, &found, dialect);
        if table == Table::SyncState && !has_column(&found, "data_table") {
            let data_table = table
                .columns()
                .iter()
                .find(|c| c.name == "data_table")
                .expect("a column");
            clauses.push(format!(
                "ADD COLUMN {} DEFAULT '' AFTER `method`",
                data_table.ddl(dialect)
            ));
            clauses.push(format!(
                "DROP PRIMARY KEY, ADD PRIMARY KEY ({})",
                quoted_list(table.primary_key())
            ));
        }
        if !clauses.is_empty() {
            let q = quote_ident(name);
            alters.push((q.clone(), format!("ALTER TABLE {q} {}", clauses.join(", "))));
        }
    }
    Ok(alters)
}

/// True when `name` exists and holds at least one row.
async fn holds_rows(conn: &mut Conn, name: &str) -> Result<bool, SinkError> {
    if describe(conn, name).await?.is_none() {
        return Ok(false);
    }
    let one: Option<i64> = conn
        .query_first(format!("SELECT 1 FROM {} LIMIT 1", quote_ident(name)))
        .await
        .map_err(SinkError::mysql("looking for rows"))?;
    Ok(one.is_some())
}

/// Gives the checkpoints stored before version 2 (`data_table = ''`) to the data tables they
/// describe: the flat table, or the three normalized ones, whichever alone holds rows. When both
/// hold rows the old row cannot tell which it covered: it stays aside (the next sync reads from
/// the configured start) and the log says how to copy it by hand.
async fn adopt_old_checkpoints(conn: &mut Conn, names: &TableNames) -> Result<(), SinkError> {
    let state = quote_ident(&names.sync_state);
    let old: Option<u64> = conn
        .query_first(format!("SELECT COUNT(*) FROM {state} WHERE `data_table` = ''"))
        .await
        .map_err(SinkError::mysql("reading old checkpoints"))?;
    if old.unwrap_or(0) == 0 {
        return Ok(());
    }
    let flat = holds_rows(conn, &names.flat).await?;
    let normalized = holds_rows(conn, &names.refund).await?;
    let copy = |t: Table| {
        format!(
            "INSERT IGNORE INTO {state} (`account`, `method`, `data_table`, `window_end`, `updated_at`) \
             SELECT `account`, `method`, '{t}', `window_end`, `updated_at` FROM {state} WHERE `data_table` = ''"
        )
    };
    let to: &[Table] = match (flat, normalized) {
        (true, false) => &[Table::Flat],
        (false, true) => &[Table::Refund, Table::RefundDetail, Table::RefundAmountDetail],
        _ => {
            let all: Vec<String> = Table::data_tables(crate::Layout::Both)
                .iter()
                .map(|t| copy(*t))
                .collect();
            tracing::warn!(
                table = %state,
                "checkpoints stored before schema version 2 cannot be told apart: {}; they stay in {state} \
                 with data_table = '' and the next sync reads from the configured start (upserts make that \
                 safe). If the tables were always written together, copy them instead: {}",
                if flat { "both the flat and the normalized tables hold rows" } else { "no data table holds rows" },
                all.join("; ")
            );
            return Ok(());
        }
    };
    for t in to {
        conn.query_drop(copy(*t))
            .await
            .map_err(SinkError::mysql("moving old checkpoints"))?;
    }
    conn.query_drop(format!("DELETE FROM {state} WHERE `data_table` = ''"))
        .await
        .map_err(SinkError::mysql("moving old checkpoints"))?;
    let to: Vec<String> = to.iter().map(|t| t.to_string()).collect();
    tracing::info!(table = %state, to = %to.join(", "), "checkpoints stored before schema version 2 now belong to the tables they describe");
    Ok(())
}

/// Server errors of a migration step that another sink, migrating the same table at the same
/// moment (another Galera node), can cause: duplicate column (1060) or key name (1061),
/// multiple primary key (1068), nothing to drop (1091), a lost lock race (1213, 1205). The step
/// is planned again from what the table now looks like.
const RACE_CODES: &[u16] = &[1060, 1061, 1068, 1091, 1205, 1213];

/// Times a table's version-4 steps are planned again after losing a race.
const V4_ATTEMPTS: u32 = 5;

/// True when `found` has the shape of version 4: `account` as the sink creates it (NOT NULL,
/// no default, a byte-for-byte collation, wide enough) and first in the primary key.
fn has_account_key(table: Table, found: &FoundTable, dialect: &Dialect) -> bool {
    let pk_fits = found.primary_key.len() == table.primary_key().len()
        && found
            .primary_key
            .iter()
            .zip(table.primary_key())
            .all(|(a, b)| a.eq_ignore_ascii_case(b));
    let column_fits = found
        .columns
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(ACCOUNT.name))
        .is_some_and(|c| {
            let ColumnType::Key(n) = ACCOUNT.ty else { return false };
            !c.nullable
                && !c.has_default
                && matches!(c.data_type.as_str(), "varchar" | "char")
                && c.char_len.unwrap_or(0) >= u64::from(n)
                && is_key_collation(c.collation.as_deref().unwrap_or(""), dialect)
        });
    pk_fits && column_fits
}

/// The account the rows of data table `table` belong to when they have none: `given` (the
/// builder's [`migrate_account`](crate::MySqlSinkBuilder::migrate_account)), else the one
/// account `wdt_sync_state` names for the table (checkpoints of a backfill stream, `method`
/// suffixed `#backfill:…`, name the same account; checkpoints version 2 could not assign to a
/// table, `data_table = ''`, count too). No account or several is an error with the fix.
async fn owner_account(
    conn: &mut Conn,
    names: &TableNames,
    dialect: &Dialect,
    table: Table,
    given: Option<&str>,
) -> Result<String, SinkError> {
    if let Some(a) = given {
        return Ok(a.to_owned());
    }
    let state = quote_ident(&names.sync_state);
    let accounts: Vec<String> = conn
        .exec(
            format!("SELECT DISTINCT `account` FROM {state} WHERE `data_table` IN (?, '') ORDER BY `account`"),
            (table.to_string(),),
        )
        .await
        .map_err(SinkError::mysql("reading the accounts of old checkpoints"))?;
    if let [one] = accounts.as_slice() {
        return Ok(one.clone());
    }
    let qt = quote_ident(table.name(names));
    let found = if accounts.is_empty() {
        format!("{state} names no account for it")
    } else {
        let listed: Vec<String> = accounts.iter().map(|a| format!("{a:?}")).collect();
        format!(
            "{state} names {} accounts for it: {}",
            accounts.len(),
            listed.join(", ")
        )
    };
    Err(SinkError::MigrationAccountUnknown {
        table: qt.clone(),
        found,
        fix: format!(
            "say which account the rows belong to, then start the sink again (it finishes the migration): run \
             ALTER TABLE {qt} ADD COLUMN {} DEFAULT '<account>' (the account name as configured), or build the \
             sink with .migrate_account(\"<account>\"); if the rows belong to several accounts, add the column \
             with DEFAULT '' and set each row's account with UPDATE {qt} SET `account` = '…' WHERE … first",
            ACCOUNT.ddl(dialect)
        ),
    })
}

/// Version 4 for one data table: adds `account` (filled with the owner's account when the
/// table holds rows), fills the rows a column added by hand left empty, then gives the column
/// its final definition and puts it first in the primary key. Each pass plans from what the
/// table looks like, so a table already keyed by account is left alone and an interrupted
/// migration finishes; a pass that loses a race with another sink migrating the same table
/// plans again.
async fn v4_table(
    conn: &mut Conn,
    names: &TableNames,
    dialect: &Dialect,
    m: &Migration,
    may_alter: bool,
    given: Option<&str>,
    table: Table,
) -> Result<(), SinkError> {
    let name = table.name(names);
    let qt = quote_ident(name);
    // Advice shows the account readably; what the sink runs itself needs no escaping.
    let literal = |a: &str| {
        if may_alter || a.contains(['\'', '\\']) {
            string_literal(a)
        } else {
            format!("'{a}'")
        }
    };
    let mut attempt = 1;
    loop {
        let Some(found) = describe(conn, name).await? else {
            return Ok(());
        };
        if has_account_key(table, &found, dialect) {
            return Ok(());
        }
        let mut steps: Vec<(String, String)> = Vec::new();
        if !has_column(&found, ACCOUNT.name) {
            let fill = if holds_rows(conn, name).await? {
                literal(&owner_account(conn, names, dialect, table, given).await?)
            } else {
                "''".to_owned()
            };
            // The columns for archived refunds come before `account`, which stays last.
            let mut clauses = crate::setup::appended_column_clauses(table, &found, dialect, false);
            clauses.push(format!("ADD COLUMN {} DEFAULT {fill}", ACCOUNT.ddl(dialect)));
            steps.push((qt.clone(), format!("ALTER TABLE {qt} {}", clauses.join(", "))));
        } else {
            let empty: Option<i64> = conn
                .query_first(format!(
                    "SELECT 1 FROM {qt} WHERE `account` = '' OR `account` IS NULL LIMIT 1"
                ))
                .await
                .map_err(SinkError::mysql("looking for rows without an account"))?;
            if empty.is_some() {
                let fill = literal(&owner_account(conn, names, dialect, table, given).await?);
                steps.push((
                    qt.clone(),
                    format!("UPDATE {qt} SET `account` = {fill} WHERE `account` = '' OR `account` IS NULL"),
                ));
            }
        }
        let mut key_sql = account_key_sql(table, &qt, dialect);
        if let Some(keep) = old_key_to_keep(conn, name, table).await? {
            key_sql.push_str(&format!(", {keep}"));
        }
        steps.push((qt.clone(), key_sql));
        match run(conn, m, steps, may_alter).await {
            Ok(()) => {
                tracing::info!(table = %qt, "data table keyed by account (schema version 4)");
                return Ok(());
            }
            Err(e) if attempt < V4_ATTEMPTS && e.server_code().is_some_and(|c| RACE_CODES.contains(&c)) => {
                tracing::debug!(table = %qt, attempt, error = %e, "a migration step lost a race; planning again");
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The name of the index [`old_key_to_keep`] adds.
const OLD_KEY_INDEX: &str = "wdt_refund_key_v3";

/// `ADD KEY …` over the key of version 3 (`refund_id[, rec_id]`) when a foreign key of another
/// table points at `name` and no index but the primary key starts with those columns: the
/// user's child table keeps an index for its foreign key to use once the primary key starts
/// with `account`. Such a foreign key matches the refund id of every account; the README says to move it
/// to `(account, refund_id, …)` once several accounts share the table.
async fn old_key_to_keep(conn: &mut Conn, name: &str, table: Table) -> Result<Option<String>, SinkError> {
    let referenced: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS \
             WHERE UNIQUE_CONSTRAINT_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME = ?",
            (name,),
        )
        .await
        .map_err(SinkError::mysql("looking for foreign keys to a table"))?;
    if referenced.unwrap_or(0) == 0 {
        return Ok(None);
    }
    let old_key: Vec<&str> = table.primary_key()[1..].to_vec();
    let indexes: Vec<(String, String)> = conn
        .exec(
            "SELECT INDEX_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME <> 'PRIMARY' GROUP BY INDEX_NAME",
            (name,),
        )
        .await
        .map_err(SinkError::mysql("reading a table's indexes"))?;
    let covered = indexes.iter().any(|(_, cols)| {
        let cols: Vec<&str> = cols.split(',').collect();
        cols.len() >= old_key.len() && cols.iter().zip(&old_key).all(|(a, b)| a.eq_ignore_ascii_case(b))
    });
    Ok((!covered).then(|| format!("ADD KEY {} ({})", quote_ident(OLD_KEY_INDEX), quoted_list(&old_key))))
}
