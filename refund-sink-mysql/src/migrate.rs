//! The steps of each schema migration ([`MIGRATIONS`](crate::schema::MIGRATIONS)). Each step
//! first looks at what the table is like, so a table created in its newest shape is left alone
//! and an interrupted migration finishes on the next start. DDL runs only when creating tables
//! is on; otherwise a needed step is an error naming the statements to run.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::dialect::Dialect;
use crate::error::SinkError;
use crate::names::{quote_ident, TableNames};
use crate::schema::{is_key_collation, quoted_list, FoundTable, Migration, Table};
use crate::setup::describe;

/// Applies migration `m` to the tables under `names`; `may_alter` allows DDL.
pub(crate) async fn apply(
    conn: &mut Conn,
    names: &TableNames,
    dialect: &Dialect,
    m: &Migration,
    may_alter: bool,
) -> Result<(), SinkError> {
    match m.version {
        2 => {
            let alters = v2_statements(conn, names, dialect).await?;
            run(conn, m, alters, may_alter).await?;
            adopt_old_checkpoints(conn, names).await
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
