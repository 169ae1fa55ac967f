//! An account's [`MySqlSink`], built from the MySQL settings and the account's tables, on the
//! process's one [`SharedPool`] (every account shares its connections).

use refund_sink_mysql::{MySqlSink, SharedPool};

use crate::config::{Account, MysqlSettings};
use crate::error::{chain, AppError};

/// Connects to MySQL for `account` (its layout, write mode and table prefix) through `pool`
/// ([`MysqlSettings::shared_pool`]), creating or checking its tables as `create_tables` says.
pub async fn open(
    mysql: &MysqlSettings,
    pool: &SharedPool,
    account: &Account,
    dry_run: bool,
) -> Result<MySqlSink, AppError> {
    open_with(mysql, pool, account, dry_run, mysql.create_tables).await
}

/// As [`open`], with table creation set by `create_tables`.
pub async fn open_with(
    mysql: &MysqlSettings,
    pool: &SharedPool,
    account: &Account,
    dry_run: bool,
    create_tables: bool,
) -> Result<MySqlSink, AppError> {
    MySqlSink::builder(&mysql.url)
        .pool(pool.clone())
        .layout(account.layout)
        .write_mode(account.write_mode)
        .table_prefix(account.table_prefix.clone())
        .create_tables(create_tables)
        .dry_run(dry_run)
        .timeout(mysql.timeout)
        .connection_retry_budget(mysql.retry_budget)
        .build()
        .await
        .map_err(|source| AppError::MysqlStart {
            url: mysql.redacted_url(),
            detail: chain(&source),
            source: Box::new(source),
        })
}
