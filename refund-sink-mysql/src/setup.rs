//! Connect-time work: learn the server (dialect, `max_allowed_packet`, `local_infile`), create
//! missing tables, apply migrations under a named lock, and check that every table fits.

use mysql_async::prelude::Queryable;
use mysql_async::{from_row_opt, Conn, Row};

use crate::dialect::Dialect;
use crate::error::SinkError;
use crate::migrate;
use crate::names::{quote_ident, TableNames};
use crate::schema::{
    check_table, create_table_sql, row_format_advice, FoundColumn, FoundTable, Table, APPENDED_COLUMNS, MIGRATIONS,
    SCHEMA_VERSION,
};

/// What the sink learned about the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerInfo {
    /// The SQL dialect.
    pub dialect: Dialect,
    /// `@@max_allowed_packet`.
    pub max_allowed_packet: u64,
    /// `@@local_infile` (the server side of LOAD DATA LOCAL).
    pub local_infile: bool,
}

/// Reads the server version and limits.
pub(crate) async fn server_info(conn: &mut Conn) -> Result<ServerInfo, SinkError> {
    let version: Option<String> = conn
        .query_first("SELECT VERSION()")
        .await
        .map_err(SinkError::mysql("reading the server version"))?;
    let dialect = Dialect::from_version_string(version.as_deref().unwrap_or(""))?;
    let (max_allowed_packet, local_infile): (u64, i64) = conn
        .query_first("SELECT @@max_allowed_packet, @@local_infile")
        .await
        .map_err(SinkError::mysql("reading server settings"))?
        .unwrap_or((4 << 20, 1));
    Ok(ServerInfo {
        dialect,
        max_allowed_packet,
        local_infile: local_infile != 0,
    })
}

/// Reads what `information_schema` says about table `name`; `None` when it does not exist.
pub(crate) async fn describe(conn: &mut Conn, name: &str) -> Result<Option<FoundTable>, SinkError> {
    let found: Option<(Option<String>, Option<String>)> = conn
        .exec_first(
            "SELECT ENGINE, ROW_FORMAT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            (name,),
        )
        .await
        .map_err(SinkError::mysql("looking up a table"))?;
    let Some((engine, row_format)) = found else {
        return Ok(None);
    };
    let rows: Vec<Row> = conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, \
             (COLUMN_DEFAULT IS NOT NULL OR EXTRA LIKE '%auto_increment%' OR EXTRA LIKE '%GENERATED%'), \
             CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, CHARACTER_SET_NAME, \
             COLLATION_NAME \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
            (name,),
        )
        .await
        .map_err(SinkError::mysql("reading a table's columns"))?;
    let mut columns = Vec::with_capacity(rows.len());
    for row in rows {
        type ColumnRow = (
            String,
            String,
            String,
            String,
            i64,
            Option<u64>,
            Option<u64>,
            Option<u64>,
            Option<u64>,
            Option<String>,
            Option<String>,
        );
        let (name, data_type, column_type, nullable, has_default, char_len, precision, scale, fsp, charset, collation): ColumnRow =
            from_row_opt(row).map_err(|e| SinkError::InvalidConfig {
                problem: format!("unexpected information_schema.COLUMNS row: {e}"),
                fix: "report this with the server version".into(),
            })?;
        columns.push(FoundColumn {
            name,
            data_type: data_type.to_ascii_lowercase(),
            column_type: column_type.to_ascii_lowercase(),
            nullable: nullable.eq_ignore_ascii_case("YES"),
            has_default: has_default != 0,
            char_len,
            precision,
            scale,
            datetime_precision: fsp,
            charset,
            collation,
        });
    }
    let keys: Vec<(String, String)> = conn
        .exec(
            "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND NON_UNIQUE = 0 \
             ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            (name,),
        )
        .await
        .map_err(SinkError::mysql("reading a table's keys"))?;
    let mut found = FoundTable {
        engine: engine.unwrap_or_default(),
        row_format: row_format.unwrap_or_default(),
        columns,
        ..Default::default()
    };
    for (index, column) in keys {
        if index == "PRIMARY" {
            found.primary_key.push(column);
        } else {
            match found.unique_keys.iter_mut().find(|(n, _)| *n == index) {
                Some((_, cols)) => cols.push(column),
                None => found.unique_keys.push((index, vec![column])),
            }
        }
    }
    Ok(Some(found))
}

/// Creates what is missing (when `create` is on), applies migrations and checks every table of
/// `layout` plus the bookkeeping tables. Serialized across processes with `GET_LOCK`, which on a
/// Galera cluster holds on one node only: there, sinks starting at once on different nodes run
/// these steps side by side, so each step is idempotent (`CREATE TABLE IF NOT EXISTS`, versions
/// recorded with [`record_migration_sql`]).
pub(crate) async fn ensure_schema(
    conn: &mut Conn,
    names: &TableNames,
    data_tables: &'static [Table],
    dialect: &Dialect,
    create: bool,
    migrate_account: Option<&str>,
) -> Result<(), SinkError> {
    let lock = format!("wdt_refund_sink:{}", names.prefix);
    let got: Option<Option<i64>> = conn
        .exec_first(
            "SELECT GET_LOCK(CONCAT(IFNULL(DATABASE(), ''), ':', ?), 60)",
            (lock.as_str(),),
        )
        .await
        .map_err(SinkError::mysql("taking the schema lock"))?;
    if got.flatten() != Some(1) {
        return Err(SinkError::InvalidConfig {
            problem: "another process held the schema lock for 60 s".into(),
            fix: "wait for the other sink to finish starting, then retry".into(),
        });
    }
    let result = ensure_schema_locked(conn, names, data_tables, dialect, create, migrate_account).await;
    let release: Result<Option<Option<i64>>, _> = conn
        .exec_first(
            "SELECT RELEASE_LOCK(CONCAT(IFNULL(DATABASE(), ''), ':', ?))",
            (lock.as_str(),),
        )
        .await;
    if let Err(e) = release {
        tracing::warn!(error = %e, "could not release the schema lock");
    }
    result
}

/// The statement that records an applied migration: a version already recorded (by a sink
/// starting at the same time on another Galera node) is left as it is.
fn record_migration_sql(version_table: &str) -> String {
    format!(
        "INSERT INTO {version_table} (`version`, `description`) VALUES (?, ?) \
         ON DUPLICATE KEY UPDATE `version` = `version`"
    )
}

/// Times a migration record is tried when it loses a certification conflict (1213).
const RECORD_ATTEMPTS: u32 = 5;

/// Records migration `version`. On Galera two nodes' records of one version conflict at
/// certification; the loser (1213, after the server's own autocommit retry) tries again, and then
/// finds the other's row.
async fn record_migration(
    conn: &mut Conn,
    version_table: &str,
    version: u32,
    description: &str,
) -> Result<(), SinkError> {
    let sql = record_migration_sql(version_table);
    let mut attempt = 1;
    loop {
        match conn.exec_drop(sql.as_str(), (version, description)).await {
            Ok(()) => return Ok(()),
            Err(mysql_async::Error::Server(e)) if e.code == 1213 && attempt < RECORD_ATTEMPTS => {
                tracing::debug!(version, attempt, "recording a migration lost a conflict; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(source) => {
                return Err(SinkError::Mysql {
                    during: "recording a migration",
                    source,
                })
            }
        }
    }
}

/// The `ALTER TABLE … ADD COLUMN` clauses for the [`APPENDED_COLUMNS`] `table` has in this
/// build but `found` lacks (a table created before them), in table order. With `placed`, each
/// is put `AFTER` the column before it in this build (so `account` stays last); without, they
/// go at the end (for a statement that adds `account` after them).
pub(crate) fn appended_column_clauses(
    table: Table,
    found: &FoundTable,
    dialect: &Dialect,
    placed: bool,
) -> Vec<String> {
    let cols = table.columns();
    cols.iter()
        .enumerate()
        // A table of the user's mapping gets every nullable column the mapping added (its
        // checkpoint belongs to the mapping's fingerprint, so the new column is filled from the
        // start); a built-in table only the columns for archived refunds.
        .filter(|(_, c)| APPENDED_COLUMNS.contains(&c.name) || table.is_user_mapped() && c.nullable)
        .filter(|(_, c)| !found.columns.iter().any(|f| f.name.eq_ignore_ascii_case(c.name)))
        .map(|(i, c)| match (placed, i.checked_sub(1)) {
            (true, Some(prev)) => format!("ADD COLUMN {} AFTER {}", c.ddl(dialect), quote_ident(cols[prev].name)),
            _ => format!("ADD COLUMN {}", c.ddl(dialect)),
        })
        .collect()
}

/// Adds the appended columns an existing data table lacks (one `ALTER TABLE`, additive only:
/// nullable columns at the end); returns the table as it is then.
async fn add_appended_columns(
    conn: &mut Conn,
    table: Table,
    name: &str,
    found: FoundTable,
    dialect: &Dialect,
) -> Result<FoundTable, SinkError> {
    let clauses = appended_column_clauses(table, &found, dialect, true);
    if clauses.is_empty() {
        return Ok(found);
    }
    let q = quote_ident(name);
    conn.query_drop(format!("ALTER TABLE {q} {}", clauses.join(", ")))
        .await
        .map_err(SinkError::ddl("adding columns", "ALTER"))?;
    tracing::info!(table = %q, columns = clauses.len(), "columns added to match the table's definition");
    describe(conn, name).await?.ok_or_else(|| SinkError::MissingTable {
        table: q,
        fix: "it vanished while the sink started; start the sink again".into(),
    })
}

async fn ensure_schema_locked(
    conn: &mut Conn,
    names: &TableNames,
    data_tables: &'static [Table],
    dialect: &Dialect,
    create: bool,
    migrate_account: Option<&str>,
) -> Result<(), SinkError> {
    let tables: Vec<Table> = Table::BOOKKEEPING.iter().chain(data_tables).copied().collect();
    // Only what is missing gets DDL, so a user without CREATE can run against existing tables.
    for table in &tables {
        let name = table.name(names);
        if describe(conn, name).await?.is_some() {
            continue;
        }
        if !create {
            return Err(SinkError::MissingTable {
                table: quote_ident(name),
                fix: format!(
                    "create it as an administrator with: {}; the statements of every table: \
                     `refund_sink_mysql::schema::create_statements`; or build the sink with \
                     `.create_tables(true)` (leave out --no-create-tables) as a user with the CREATE privilege",
                    create_table_sql(*table, names, dialect).replace('\n', " ")
                ),
            });
        }
        conn.query_drop(create_table_sql(*table, names, dialect))
            .await
            .map_err(SinkError::ddl("creating a table", "CREATE"))?;
        tracing::info!(table = %quote_ident(name), "table created");
    }
    let version_table = quote_ident(&names.schema_version);
    let current: Option<Option<u32>> = conn
        .query_first(format!("SELECT MAX(`version`) FROM {version_table}"))
        .await
        .map_err(SinkError::mysql("reading the schema version"))?;
    let current = current.flatten().unwrap_or(0);
    if current > SCHEMA_VERSION {
        return Err(SinkError::SchemaTooNew {
            table: version_table,
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    // Each migration looks at the tables first: tables created above are already current, and
    // without `create` a migration that needs DDL is an error naming the statements.
    let pending: Vec<_> = MIGRATIONS.iter().filter(|m| m.version > current).collect();
    for m in &pending {
        migrate::apply(conn, names, dialect, m, create, migrate_account).await?;
    }
    for table in &tables {
        let name = table.name(names);
        let found = describe(conn, name).await?.ok_or_else(|| SinkError::MissingTable {
            table: quote_ident(name),
            fix: "it vanished while the sink started; start the sink again".into(),
        })?;
        let found = if create {
            add_appended_columns(conn, *table, name, found, dialect).await?
        } else {
            found
        };
        check_table(*table, name, &found, dialect)?;
        if let Some(advice) = row_format_advice(&quote_ident(name), &found.row_format) {
            tracing::warn!(table = %quote_ident(name), row_format = %found.row_format, "{advice}");
        }
    }
    // Recorded only once every table fits.
    for m in pending {
        record_migration(conn, &version_table, m.version, m.description).await?;
        tracing::info!(
            version = m.version,
            description = m.description,
            "schema migration applied"
        );
    }
    Ok(())
}
