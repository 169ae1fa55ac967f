//! The tables: column lists and types, their DDL, the check that an existing table
//! fits, and the forward-only migrations recorded in the schema-version table.

use std::fmt;

use crate::dialect::Dialect;
use crate::error::SinkError;
use crate::names::{quote_ident, TableNames};
use crate::Layout;

/// The newest schema version this build knows (see [`MIGRATIONS`]).
pub const SCHEMA_VERSION: u32 = 4;

/// The SQL type of a column, as far as the sink cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `BIGINT`: ids.
    BigInt,
    /// `INT`: enum codes and counts.
    Int,
    /// `TINYINT(1)`: flags.
    Bool,
    /// `DECIMAL(19,4)`: amounts and quantities.
    Decimal,
    /// `DECIMAL(precision, scale)` of a mapped column (precision 1..=65, scale 0..=30 and at
    /// most the precision); a value with more places than `scale` is refused, never rounded.
    Numeric(u8, u8),
    /// `DATE`: a Beijing calendar day (a mapped column).
    Date,
    /// `DATETIME(fsp)`: Beijing wall time with `fsp` fractional digits.
    DateTime(u8),
    /// `VARCHAR(n)`: up to `n` characters.
    Varchar(u16),
    /// `VARCHAR(n)` compared byte for byte ([`Dialect::key_collation`], no padding): the
    /// bookkeeping keys (stream account and method) and the data tables' `account`, so that
    /// `Shop1`, `shop1 ` and `ＳＨＯＰ１` stay three streams (and three companies' rows).
    Key(u16),
    /// `TEXT`: up to 65,535 bytes.
    Text,
    /// `LONGTEXT`: raw JSON.
    LongText,
}

impl ColumnType {
    /// The type as written in DDL.
    pub fn sql(&self) -> String {
        match self {
            ColumnType::BigInt => "BIGINT".into(),
            ColumnType::Int => "INT".into(),
            ColumnType::Bool => "TINYINT(1)".into(),
            ColumnType::Decimal => "DECIMAL(19,4)".into(),
            ColumnType::Numeric(p, s) => format!("DECIMAL({p},{s})"),
            ColumnType::Date => "DATE".into(),
            ColumnType::DateTime(0) => "DATETIME".into(),
            ColumnType::DateTime(p) => format!("DATETIME({p})"),
            ColumnType::Varchar(n) | ColumnType::Key(n) => format!("VARCHAR({n})"),
            ColumnType::Text => "TEXT".into(),
            ColumnType::LongText => "LONGTEXT".into(),
        }
    }

    /// True for the string types (they need a utf8mb4 character set).
    pub fn is_text(&self) -> bool {
        matches!(
            self,
            ColumnType::Varchar(_) | ColumnType::Key(_) | ColumnType::Text | ColumnType::LongText
        )
    }
}

/// One column of a table the sink writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The column name (unquoted).
    pub name: &'static str,
    /// Its type.
    pub ty: ColumnType,
    /// Whether it accepts NULL.
    pub nullable: bool,
    /// Extra DDL after the type (`AUTO_INCREMENT`, `DEFAULT …`), if any.
    pub extra: Option<&'static str>,
}

impl Column {
    /// The column definition as written in `CREATE TABLE` / `ALTER TABLE … MODIFY` for
    /// `dialect` (which names the collation of [`ColumnType::Key`] columns).
    pub fn ddl(&self, dialect: &Dialect) -> String {
        let mut s = format!("{} {}", quote_ident(self.name), self.ty.sql());
        if let ColumnType::Key(_) = self.ty {
            s.push_str(" CHARACTER SET utf8mb4 COLLATE ");
            s.push_str(dialect.key_collation());
        }
        s.push_str(if self.nullable { " NULL" } else { " NOT NULL" });
        if let Some(extra) = self.extra {
            s.push(' ');
            s.push_str(extra);
        }
        s
    }
}

const fn col(name: &'static str, ty: ColumnType) -> Column {
    Column {
        name,
        ty,
        nullable: true,
        extra: None,
    }
}

const fn req(name: &'static str, ty: ColumnType) -> Column {
    Column {
        name,
        ty,
        nullable: false,
        extra: None,
    }
}

const fn req_with(name: &'static str, ty: ColumnType, extra: &'static str) -> Column {
    Column {
        name,
        ty,
        nullable: false,
        extra: Some(extra),
    }
}

use ColumnType::{BigInt, Bool, DateTime, Decimal, Int, Key, LongText, Text, Varchar};

const V: ColumnType = Varchar(255);
const V_LONG: ColumnType = Varchar(512);
const DT: ColumnType = DateTime(0);
const DT_MS: ColumnType = DateTime(3);

/// The `account` column every data table ends with: the account of the stream that wrote the
/// row ([`StreamId::account`](wdt_qimen::sync::StreamId)), first in the primary key, so that
/// two companies whose refund ids are equal share the tables without touching each other's
/// rows. It comes last so the published column order of the flat table stays as it is (tools
/// reading columns by position keep working) and so that adding it to an existing table is an
/// instant `ADD COLUMN` on MariaDB 10.3+ and MySQL 8.0.12+.
pub const ACCOUNT: Column = req("account", Key(128));

/// The refund columns shared by the flat table and `wdt_refund`, in the published order.
macro_rules! refund_columns {
    ($($rest:expr),* $(,)?) => {
        [
            req("refund_id", BigInt),
            col("src_tids", Text),
            col("refund_no", V),
            col("remark", Text),
            col("type", Int),
            col("stockin_status", Int),
            col("flag_name", V),
            col("return_goods_count", Decimal),
            col("receiver_telno", V),
            col("receiver_name", V),
            col("modified", DT_MS),
            col("note_count", Int),
            col("shop_no", V),
            col("from_type", Int),
            col("created", DT_MS),
            col("settle_time", DT),
            col("check_time", DT),
            col("return_logistics_no", V),
            col("trade_no_list", Text),
            col("guarantee_refund_amount", Decimal),
            col("return_goods_amount", Decimal),
            col("return_logistics_name", V),
            col("reason_name", V),
            col("refund_reason", Text),
            col("buyer_nick", V),
            col("operator_name", V),
            col("actual_refund_amount", Decimal),
            col("revert_reason_name", V),
            col("return_warehouse_no", V),
            col("direct_refund_amount", Decimal),
            col("receive_amount", Decimal),
            col("customer_name", V),
            col("fenxiao_nick_name", V),
            col("status", Int),
            col("shop_id", BigInt),
            col("trade_id", BigInt),
            col("raw_refund_nos", Text),
            col("pay_id", V),
            col("provider_refund_no", V),
            col("shop_platform_id", BigInt),
            col("tid_list", Text),
            col("sub_platform_id", BigInt),
            col("return_warehouse_id", BigInt),
            col("platform_id", BigInt),
            col("wms_owner_no", V),
            col("warehouse_type", Int),
            col("bad_reason", Int),
            col("modified_date", DT),
            col("return_mask_info", Text),
            col("process_status", Int),
            col("reason_id", BigInt),
            col("revert_reason", BigInt),
            col("customer_id", BigInt),
            col("consign_mode", Int),
            col("refund_time", DT),
            col("fenxiao_tid", V),
            col("fenxiao_nick_no", V),
            col("wms_code", V),
            $($rest),*
        ]
    };
}

/// The columns of the flat table and `wdt_refund` for archived refunds, in table order (just
/// before [`ACCOUNT`]): where the refund was read (`live` / `history`), and the fields only
/// `Refund.searchHistory` has (NULL for refunds read live). They are nullable, so a table created
/// before them gets them from the sink at start-up, with creating tables on (`ALTER TABLE … ADD
/// COLUMN … AFTER …`, so `account` stays last; the version-4 migration adds them before
/// `account`); without, the start-up check names the statement.
pub const APPENDED_COLUMNS: &[&str] = &[
    "source",
    "reason",
    "operator_id",
    "return_mobile",
    "return_name",
    "salesman",
    "salesman_id",
    "stockin_no",
    "pay_status",
    "flag_id",
];

/// Number of refund columns at the start of the flat table (before `detail_list_rec_id`).
#[cfg(test)]
pub(crate) const FLAT_REFUND_COLUMNS: usize = 58;

/// `aftersales_refund_refund_search`: one row per detail line, in the column order integration platforms publish
/// for this method (with `detail_list_original_price` spelled right where published copies
/// garble it), then the columns for archived refunds, then [`ACCOUNT`].
pub static FLAT_COLUMNS: [Column; 88] = refund_columns![
    req("detail_list_rec_id", BigInt),
    col("detail_list_refund_id", BigInt),
    col("detail_list_oid", V),
    col("detail_list_trade_order_id", BigInt),
    col("detail_list_platform_id", BigInt),
    col("detail_list_tid", V),
    col("detail_list_trade_no", V),
    col("detail_list_num", Decimal),
    col("detail_list_price", Decimal),
    col("detail_list_original_price", Decimal),
    col("detail_list_checked_cost_price", Decimal),
    col("detail_list_refund_num", Decimal),
    col("detail_list_total_amount", Decimal),
    col("detail_list_refund_amount", Decimal),
    col("detail_list_is_guarantee", Bool),
    col("detail_list_goods_no", V),
    col("detail_list_goods_name", V_LONG),
    col("detail_list_spec_name", V_LONG),
    col("detail_list_spec_no", V),
    // For archived refunds (APPENDED_COLUMNS).
    col("source", Varchar(16)),
    col("reason", V),
    col("operator_id", BigInt),
    col("return_mobile", V),
    col("return_name", V),
    col("salesman", V),
    col("salesman_id", BigInt),
    col("stockin_no", V),
    col("pay_status", Int),
    col("flag_id", BigInt),
    ACCOUNT,
];

/// `wdt_refund`: the refund's own fields, the newer-doc fields, the raw JSON, the columns for
/// archived refunds, and [`ACCOUNT`].
pub static REFUND_COLUMNS: [Column; 77] = refund_columns![
    col("shop_name", V),
    col("rr_status", Int),
    col("current_phase_timeout", DT),
    col("raw_refund_remark", Text),
    col("fenxiao_distributor_id", V),
    col("fenxiao_distributor_name", V),
    col("order_type", V),
    req("raw_json", LongText),
    // For archived refunds (APPENDED_COLUMNS).
    col("source", Varchar(16)),
    col("reason", V),
    col("operator_id", BigInt),
    col("return_mobile", V),
    col("return_name", V),
    col("salesman", V),
    col("salesman_id", BigInt),
    col("stockin_no", V),
    col("pay_status", Int),
    col("flag_id", BigInt),
    ACCOUNT,
];

/// `wdt_refund_detail`: one row per detail line, keyed by the account, the parent's `refund_id`
/// and `rec_id`.
pub static REFUND_DETAIL_COLUMNS: [Column; 85] = [
    req("refund_id", BigInt),
    req("rec_id", BigInt),
    col("oid", V),
    col("trade_order_id", BigInt),
    col("platform_id", BigInt),
    col("tid", V),
    col("trade_no", V),
    col("num", Decimal),
    col("price", Decimal),
    col("original_price", Decimal),
    col("checked_cost_price", Decimal),
    col("refund_num", Decimal),
    col("total_amount", Decimal),
    col("refund_amount", Decimal),
    col("is_guarantee", Bool),
    col("goods_no", V),
    col("goods_name", V_LONG),
    col("spec_name", V_LONG),
    col("spec_no", V),
    col("goods_id", V),
    col("spec_id", V),
    col("sys_goods_id", BigInt),
    col("sys_spec_id", BigInt),
    col("spec_code", V),
    col("barcode", V),
    col("stockin_num", Decimal),
    col("remark", Text),
    col("api_spec_name", V_LONG),
    col("api_goods_name", V_LONG),
    col("modified", DT_MS),
    col("suite_no", V),
    col("suite_name", V_LONG),
    col("raw_refund_nos", Text),
    col("raw_refund_no", V),
    col("sales_trade_id", BigInt),
    col("discount", Decimal),
    col("paid", Decimal),
    col("suite_id", BigInt),
    col("suite_num", Decimal),
    col("created", DT),
    col("modified_date", DT),
    col("gift_type", Int),
    col("brand_name", V),
    col("current_phase_timeout", DT),
    col("goods_prop1", Text),
    col("goods_prop2", Text),
    col("goods_prop3", Text),
    col("goods_prop4", Text),
    col("goods_prop5", Text),
    col("goods_prop6", Text),
    col("goods_prop7", Text),
    col("goods_prop8", Text),
    col("goods_prop9", Text),
    col("goods_prop10", Text),
    col("goods_prop11", Text),
    col("goods_prop12", Text),
    col("goods_prop13", Text),
    col("goods_prop14", Text),
    col("goods_prop15", Text),
    col("goods_prop16", Text),
    col("goods_prop17", Text),
    col("goods_prop18", Text),
    col("goods_prop19", Text),
    col("goods_prop20", Text),
    col("goods_spec_prop1", Text),
    col("goods_spec_prop2", Text),
    col("goods_spec_prop3", Text),
    col("goods_spec_prop4", Text),
    col("goods_spec_prop5", Text),
    col("goods_spec_prop6", Text),
    col("goods_spec_prop7", Text),
    col("goods_spec_prop8", Text),
    col("goods_spec_prop9", Text),
    col("goods_spec_prop10", Text),
    col("goods_spec_prop11", Text),
    col("goods_spec_prop12", Text),
    col("goods_spec_prop13", Text),
    col("goods_spec_prop14", Text),
    col("goods_spec_prop15", Text),
    col("goods_spec_prop16", Text),
    col("goods_spec_prop17", Text),
    col("goods_spec_prop18", Text),
    col("goods_spec_prop19", Text),
    col("goods_spec_prop20", Text),
    ACCOUNT,
];

/// `wdt_refund_amount_detail`: one row per amount line.
pub static REFUND_AMOUNT_DETAIL_COLUMNS: [Column; 14] = [
    req("refund_id", BigInt),
    req("rec_id", BigInt),
    col("refund_type", Int),
    col("is_return", Int),
    col("refund_amount", Decimal),
    col("receive_amount", Decimal),
    col("is_guarantee", Bool),
    col("account_id", BigInt),
    col("pay_account", V),
    col("account_name", V),
    col("account_bank", V),
    col("is_auto", Bool),
    col("remark", Text),
    ACCOUNT,
];

/// `wdt_sync_state`: one checkpoint per stream (account + method) and data table (its name
/// without the prefix): a table added to the layout later has none and is filled from the start.
pub static SYNC_STATE_COLUMNS: [Column; 5] = [
    req("account", Key(128)),
    req("method", Key(128)),
    req("data_table", Key(64)),
    req("window_end", DateTime(6)),
    req("updated_at", DT_MS),
];

/// `wdt_sync_dead_letter`: records the sink could not write, with the reason.
pub static DEAD_LETTER_COLUMNS: [Column; 10] = [
    req_with("id", BigInt, "AUTO_INCREMENT"),
    req("account", Key(128)),
    req("method", Key(128)),
    col("record_key", V),
    req("raw_sha256", Varchar(64)),
    req("reason", Text),
    req("raw_json", LongText),
    col("window_from", DT_MS),
    col("window_to", DT_MS),
    req_with("created_at", DT_MS, "DEFAULT CURRENT_TIMESTAMP(3)"),
];

/// `wdt_schema_version`: one row per applied migration.
pub static SCHEMA_VERSION_COLUMNS: [Column; 3] = [
    req("version", Int),
    req("description", V),
    req_with("applied_at", DT_MS, "DEFAULT CURRENT_TIMESTAMP(3)"),
];

/// `wdt_sync_lease`: one lease per stream (account + method), so one runner at a time syncs it.
/// Times are the database server's clock (`NOW(6)` in the sink's Beijing-time session).
pub static LEASE_COLUMNS: [Column; 10] = [
    req("account", Key(128)),
    req("method", Key(128)),
    req("owner_host", V),
    req("owner_pid", BigInt),
    req("owner_token", Key(64)),
    req("generation", BigInt),
    req("acquired_at", DateTime(6)),
    req("heartbeat_at", DateTime(6)),
    req("expires_at", DateTime(6)),
    col("released_at", DateTime(6)),
];

/// `wdt_sync_run`: one row per stream per run, written when the run starts and when it ends.
pub static RUN_COLUMNS: [Column; 25] = [
    req_with("id", BigInt, "AUTO_INCREMENT"),
    req("account", Key(128)),
    req("method", Key(128)),
    req("host", V),
    req("pid", BigInt),
    req("token", Key(64)),
    req("started_at", DateTime(6)),
    col("ended_at", DateTime(6)),
    col("window_from", DateTime(6)),
    col("window_to", DateTime(6)),
    col("requests", BigInt),
    col("pages", BigInt),
    col("refunds", BigInt),
    col("rows_inserted", BigInt),
    col("rows_updated", BigInt),
    col("rows_deleted", BigInt),
    col("rows_unchanged", BigInt),
    col("rows_skipped", BigInt),
    col("dead_letters", BigInt),
    col("retries", BigInt),
    col("throttles", BigInt),
    col("clock_offset_ms", BigInt),
    col("clock_uncertainty_ms", BigInt),
    req("outcome", Varchar(16)),
    col("error", Text),
];

/// A table the sink uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// `aftersales_refund_refund_search`.
    Flat,
    /// `wdt_refund`.
    Refund,
    /// `wdt_refund_detail`.
    RefundDetail,
    /// `wdt_refund_amount_detail`.
    RefundAmountDetail,
    /// `wdt_sync_state`.
    SyncState,
    /// `wdt_sync_dead_letter`.
    DeadLetter,
    /// `wdt_schema_version`.
    SchemaVersion,
    /// `wdt_sync_lease`.
    Lease,
    /// `wdt_sync_run`.
    Run,
    /// A table of a [`Mapping`](crate::mapping::Mapping).
    Mapped(&'static crate::mapping::TablePlan),
}

impl Table {
    /// The columns, in table order.
    pub fn columns(self) -> &'static [Column] {
        match self {
            Table::Flat => &FLAT_COLUMNS,
            Table::Refund => &REFUND_COLUMNS,
            Table::RefundDetail => &REFUND_DETAIL_COLUMNS,
            Table::RefundAmountDetail => &REFUND_AMOUNT_DETAIL_COLUMNS,
            Table::SyncState => &SYNC_STATE_COLUMNS,
            Table::DeadLetter => &DEAD_LETTER_COLUMNS,
            Table::SchemaVersion => &SCHEMA_VERSION_COLUMNS,
            Table::Lease => &LEASE_COLUMNS,
            Table::Run => &RUN_COLUMNS,
            Table::Mapped(p) => p.columns,
        }
    }

    /// The primary key columns.
    pub fn primary_key(self) -> &'static [&'static str] {
        match self {
            Table::Flat => &["account", "refund_id", "detail_list_rec_id"],
            Table::Refund => &["account", "refund_id"],
            Table::RefundDetail | Table::RefundAmountDetail => &["account", "refund_id", "rec_id"],
            Table::SyncState => &["account", "method", "data_table"],
            Table::DeadLetter => &["id"],
            Table::SchemaVersion => &["version"],
            Table::Lease => &["account", "method"],
            Table::Run => &["id"],
            Table::Mapped(p) => p.primary_key,
        }
    }

    /// Unique keys besides the primary key: `(name, columns)`.
    pub fn unique_keys(self) -> &'static [(&'static str, &'static [&'static str])] {
        match self {
            Table::DeadLetter => &[("uk_dead_letter_record", &["account", "method", "raw_sha256"])],
            // Unique because `id` is: the indexes that read a stream's runs newest first and
            // find its runs still marked running.
            Table::Run => &[
                ("uk_run_stream", &["account", "method", "id"]),
                ("uk_run_outcome", &["account", "method", "outcome", "id"]),
            ],
            _ => &[],
        }
    }

    /// True for the tables holding refund data (rows are replaced per refund).
    pub fn is_data(self) -> bool {
        matches!(
            self,
            Table::Flat | Table::Refund | Table::RefundDetail | Table::RefundAmountDetail | Table::Mapped(_)
        )
    }

    /// The newer-wins version column of a data table (`modified`), if it has one.
    pub fn version_column(self) -> Option<&'static str> {
        match self {
            Table::Flat | Table::Refund => Some("modified"),
            Table::Mapped(p) => p.version,
            _ => None,
        }
    }

    /// True for a table of the user's own mapping (not a built-in layout's preset).
    pub fn is_user_mapped(self) -> bool {
        matches!(self, Table::Mapped(p) if p.state_key.is_none())
    }

    /// True for a table of amount lines (the history method has none, so their absence is no
    /// removal).
    pub fn holds_amount_lines(self) -> bool {
        match self {
            Table::RefundAmountDetail => true,
            Table::Mapped(p) => p.grain == crate::mapping::Grain::AmountDetail,
            _ => false,
        }
    }

    /// The key of the table's checkpoint rows in `wdt_sync_state.data_table`: its name
    /// without the prefix; for a mapped table its name and the mapping's fingerprint, so a
    /// changed mapping fills the table again.
    pub fn state_key(self) -> String {
        match self {
            Table::Mapped(p) if p.state_key.is_some() => p.state_key.unwrap_or_default().to_owned(),
            Table::Mapped(p) => {
                let fp = &p.fingerprint;
                let room = 64 - fp.len() - 1;
                let name: String = p.name.chars().take(room).collect();
                format!("{name}#{fp}")
            }
            other => other.to_string(),
        }
    }

    /// The table's name under `names`.
    pub fn name(self, names: &TableNames) -> &str {
        match self {
            Table::Flat => &names.flat,
            Table::Refund => &names.refund,
            Table::RefundDetail => &names.refund_detail,
            Table::RefundAmountDetail => &names.refund_amount_detail,
            Table::SyncState => &names.sync_state,
            Table::DeadLetter => &names.dead_letter,
            Table::SchemaVersion => &names.schema_version,
            Table::Lease => &names.lease,
            Table::Run => &names.run,
            Table::Mapped(p) => p.name,
        }
    }

    /// The data tables of a layout, parents first.
    pub fn data_tables(layout: Layout) -> &'static [Table] {
        match layout {
            Layout::Flat => &[Table::Flat],
            Layout::Normalized => &[Table::Refund, Table::RefundDetail, Table::RefundAmountDetail],
            Layout::Both => &[
                Table::Flat,
                Table::Refund,
                Table::RefundDetail,
                Table::RefundAmountDetail,
            ],
            Layout::Mapped(m) => m.data_tables(),
        }
    }

    /// The bookkeeping tables every layout needs.
    pub const BOOKKEEPING: [Table; 5] = [
        Table::SchemaVersion,
        Table::SyncState,
        Table::DeadLetter,
        Table::Lease,
        Table::Run,
    ];
}

/// `CREATE TABLE IF NOT EXISTS` for one table.
pub fn create_table_sql(table: Table, names: &TableNames, dialect: &Dialect) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} {}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={} ROW_FORMAT=DYNAMIC",
        quote_ident(table.name(names)),
        columns_and_keys(table, dialect),
        dialect.collation()
    )
}

/// `CREATE TEMPORARY TABLE` named `name` with the columns and primary key of `table`, in the
/// dialect's staging engine: a staging table private to the connection.
pub(crate) fn create_temporary_sql(table: Table, name: &str, dialect: &Dialect) -> String {
    format!(
        "CREATE TEMPORARY TABLE {} {}\n) ENGINE={} DEFAULT CHARSET=utf8mb4 COLLATE={}",
        quote_ident(name),
        columns_and_keys(table, dialect),
        dialect.staging_engine(),
        dialect.collation()
    )
}

/// `(` and the column and key definitions of `table`, without the closing parenthesis.
fn columns_and_keys(table: Table, dialect: &Dialect) -> String {
    let mut sql = String::from("(\n");
    for c in table.columns() {
        sql.push_str("  ");
        sql.push_str(&c.ddl(dialect));
        sql.push_str(",\n");
    }
    sql.push_str("  PRIMARY KEY (");
    sql.push_str(&quoted_list(table.primary_key()));
    sql.push(')');
    for (name, cols) in table.unique_keys() {
        sql.push_str(",\n  UNIQUE KEY ");
        sql.push_str(&quote_ident(name));
        sql.push_str(" (");
        sql.push_str(&quoted_list(cols));
        sql.push(')');
    }
    sql
}

/// Every `CREATE TABLE IF NOT EXISTS` a layout needs (bookkeeping tables first): what the sink
/// runs when creating tables is on, and what to run by hand when it is off.
pub fn create_statements(layout: Layout, names: &TableNames, dialect: &Dialect) -> Vec<String> {
    Table::BOOKKEEPING
        .iter()
        .chain(Table::data_tables(layout))
        .map(|t| create_table_sql(*t, names, dialect))
        .collect()
}

/// The statements that bring data table `table` (quoted name `qt`) of the shape before version
/// 4 forward, its rows belonging to `account` (written as given: a placeholder in advice, or
/// [`string_literal`] output): add [`ACCOUNT`] filled with the account, then drop the default
/// and key the table by account.
pub(crate) fn account_migration_sql(table: Table, qt: &str, account: &str, dialect: &Dialect) -> Vec<String> {
    let account = if account.starts_with('<') {
        format!("'{account}'")
    } else {
        account.to_owned()
    };
    vec![
        format!("ALTER TABLE {qt} ADD COLUMN {} DEFAULT {account}", ACCOUNT.ddl(dialect)),
        account_key_sql(table, qt, dialect),
    ]
}

/// The statement that gives an existing `account` column of data table `table` its final
/// definition (no default) and makes the primary key `(account, refund_id[, rec_id])`.
pub(crate) fn account_key_sql(table: Table, qt: &str, dialect: &Dialect) -> String {
    format!(
        "ALTER TABLE {qt} MODIFY {}, DROP PRIMARY KEY, ADD PRIMARY KEY ({})",
        ACCOUNT.ddl(dialect),
        quoted_list(table.primary_key())
    )
}

/// `s` as a SQL string literal that needs no escaping whatever the session's `sql_mode`: a
/// hexadecimal literal with the utf8mb4 introducer (`_utf8mb4 X'…'`). Compared with a column,
/// it takes the column's collation.
pub(crate) fn string_literal(s: &str) -> String {
    let mut out = String::with_capacity(12 + 2 * s.len());
    out.push_str("_utf8mb4 X'");
    for b in s.bytes() {
        out.push_str(&format!("{b:02X}"));
    }
    out.push('\'');
    out
}

/// `a`, `b`, … quoted and comma-separated.
pub(crate) fn quoted_list(cols: &[&str]) -> String {
    cols.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ")
}

/// One forward-only migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its version (1, 2, …; each applied once, in order).
    pub version: u32,
    /// What it does.
    pub description: &'static str,
}

/// The migrations of this build, oldest first. Tables are created in their newest shape by
/// [`create_statements`]; a table of an older shape is brought forward when the sink starts
/// with creating tables on (each step checks what the table looks like first, so an
/// interrupted migration finishes on the next start).
///
/// Version 2 keys `wdt_sync_state` by data table too (a checkpoint belongs to the tables it
/// describes) and compares stream keys byte for byte. An existing checkpoint row goes to the
/// data tables that hold rows when they are those of one layout (flat, or the three normalized
/// ones); when both hold rows it cannot tell which the checkpoint covered, keeps it aside
/// (`data_table = ''`) and logs how to copy it, and the next sync reads from the configured
/// start.
///
/// Version 3 adds two tables, `wdt_sync_lease` (one runner per stream) and `wdt_sync_run` (run
/// history), and changes none: they are created with the others when creating tables is on;
/// when it is off, the sink names the missing table.
///
/// Version 4 adds [`ACCOUNT`] to every data table and puts it first in the primary key
/// (`(account, refund_id[, rec_id])`), so several accounts can share one set of tables. An
/// existing table's rows get the one account `wdt_sync_state` names for that table (a backfill
/// stream of an account has the same account); an empty table needs none. When the table holds
/// rows and the state names no account or several, the sink refuses to start and names the
/// table, the accounts found and the statement to run (or
/// [`MySqlSinkBuilder::migrate_account`](crate::MySqlSinkBuilder::migrate_account)). The steps
/// (add the column filled with the account, fill rows a hand-added column left empty, then
/// change the key) each look at the table first, so a crash between them, or a column added by
/// hand, finishes on the next start; no row is re-read from the API.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "initial tables: flat, normalized, sync state, dead letters",
    },
    Migration {
        version: 2,
        description: "a checkpoint per data table; stream keys compared byte for byte",
    },
    Migration {
        version: 3,
        description: "stream leases and run history: wdt_sync_lease, wdt_sync_run",
    },
    Migration {
        version: 4,
        description: "every data table keyed by account: two companies' equal refund ids kept apart",
    },
];

/// A column as found in `information_schema.COLUMNS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundColumn {
    /// `COLUMN_NAME`.
    pub name: String,
    /// `DATA_TYPE`, lower case (`bigint`, `varchar`, …).
    pub data_type: String,
    /// `COLUMN_TYPE` (`decimal(19,4)`, `int(11) unsigned`, …).
    pub column_type: String,
    /// `IS_NULLABLE = 'YES'`.
    pub nullable: bool,
    /// `COLUMN_DEFAULT IS NOT NULL` or an auto-increment / generated column.
    pub has_default: bool,
    /// `CHARACTER_MAXIMUM_LENGTH` (characters).
    pub char_len: Option<u64>,
    /// `NUMERIC_PRECISION`.
    pub precision: Option<u64>,
    /// `NUMERIC_SCALE`.
    pub scale: Option<u64>,
    /// `DATETIME_PRECISION`.
    pub datetime_precision: Option<u64>,
    /// `CHARACTER_SET_NAME`.
    pub charset: Option<String>,
    /// `COLLATION_NAME`.
    pub collation: Option<String>,
}

/// What the sink learned about an existing table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FoundTable {
    /// `ENGINE` from `information_schema.TABLES`.
    pub engine: String,
    /// `ROW_FORMAT` from `information_schema.TABLES` (`Dynamic`, `Compact`, …).
    pub row_format: String,
    /// Its columns.
    pub columns: Vec<FoundColumn>,
    /// The primary key columns, in order.
    pub primary_key: Vec<String>,
    /// Unique keys other than the primary key: `(name, columns)`.
    pub unique_keys: Vec<(String, Vec<String>)>,
}

/// True for a collation that compares utf8mb4 byte for byte without padding (or the dialect's
/// own key collation, which pads on MySQL before 8.0.17).
pub(crate) fn is_key_collation(collation: &str, dialect: &Dialect) -> bool {
    collation.eq_ignore_ascii_case(dialect.key_collation())
        || collation.eq_ignore_ascii_case("utf8mb4_nopad_bin")
        || collation.eq_ignore_ascii_case("utf8mb4_0900_bin")
}

/// A warning for a table in an InnoDB row format that keeps the first 768 bytes of every long
/// value in the row (`COMPACT`, `REDUNDANT`): a refund with several long texts then exceeds the
/// row size limit (error 1118 "Row size too large") and becomes a dead letter. The sink keeps
/// writing (every other refund fits); the advice names the fix.
pub fn row_format_advice(table: &str, row_format: &str) -> Option<String> {
    let old = row_format.eq_ignore_ascii_case("compact") || row_format.eq_ignore_ascii_case("redundant");
    old.then(|| {
        format!(
            "table {table} uses ROW_FORMAT={row_format}, which keeps 768 bytes of every long value in the row: \
             a refund with several long texts exceeds the row size limit (error 1118) and becomes a dead letter; \
             fix: ALTER TABLE {table} ROW_FORMAT=DYNAMIC"
        )
    })
}

/// Why a found column type cannot hold what the sink writes, if it cannot.
fn type_problem(want: ColumnType, found: &FoundColumn, dialect: &Dialect) -> Option<String> {
    let dt = found.data_type.as_str();
    let unsigned = found.column_type.contains("unsigned");
    let ok = match want {
        ColumnType::BigInt => dt == "bigint" && !unsigned,
        ColumnType::Int => (dt == "int" || dt == "bigint") && !unsigned,
        ColumnType::Bool => matches!(dt, "tinyint" | "smallint" | "mediumint" | "int" | "bigint"),
        ColumnType::Decimal => {
            let (p, s) = (found.precision.unwrap_or(0), found.scale.unwrap_or(0));
            dt == "decimal" && s >= 4 && p.saturating_sub(s) >= 15 && !unsigned
        }
        ColumnType::Numeric(p, s) => {
            let (fp, fs) = (found.precision.unwrap_or(0), found.scale.unwrap_or(0));
            dt == "decimal" && fs >= u64::from(s) && fp.saturating_sub(fs) >= u64::from(p - s) && !unsigned
        }
        ColumnType::Date => dt == "date" || dt == "datetime",
        ColumnType::DateTime(fsp) => dt == "datetime" && found.datetime_precision.unwrap_or(0) >= u64::from(fsp),
        ColumnType::Varchar(n) => match dt {
            "varchar" | "char" => found.char_len.unwrap_or(0) >= u64::from(n),
            "text" | "mediumtext" | "longtext" => true,
            _ => false,
        },
        ColumnType::Text => match dt {
            "text" | "mediumtext" | "longtext" => true,
            "varchar" => found.char_len.unwrap_or(0) >= 65_535,
            _ => false,
        },
        ColumnType::LongText => dt == "longtext",
        ColumnType::Key(n) => {
            let collation = found.collation.as_deref().unwrap_or("");
            if matches!(dt, "varchar" | "char") && !is_key_collation(collation, dialect) {
                return Some(format!(
                    "uses collation {collation}, under which different stream ids (`Shop1`, `shop1 `) \
                     are equal"
                ));
            }
            matches!(dt, "varchar" | "char") && found.char_len.unwrap_or(0) >= u64::from(n)
        }
    };
    (!ok).then(|| format!("is {}, which cannot hold {}", found.column_type, want.sql()))
}

/// `want` as the fix of a column found as `found` makes it: a DECIMAL keeps the digits before the
/// point and the places of both (`DECIMAL(12,4)` found, `DECIMAL(12,2)` wanted: `DECIMAL(14,4)`),
/// so the statement never cuts a stored value.
fn widened(want: &Column, found: &FoundColumn) -> Column {
    let (p, s) = match want.ty {
        ColumnType::Numeric(p, s) => (u64::from(p), u64::from(s)),
        ColumnType::Decimal => (19, 4),
        _ => return *want,
    };
    if found.data_type != "decimal" {
        return *want;
    }
    let (fp, fs) = (found.precision.unwrap_or(0), found.scale.unwrap_or(0));
    let scale = s.max(fs);
    let precision = (p - s).max(fp.saturating_sub(fs)) + scale;
    match (u8::try_from(precision), u8::try_from(scale)) {
        (Ok(p2), Ok(s2)) if p2 <= 65 && s2 <= 30 && (u64::from(p2), u64::from(s2)) != (p, s) => Column {
            ty: ColumnType::Numeric(p2, s2),
            ..*want
        },
        _ => *want,
    }
}

/// Checks that an existing table fits what the sink writes into it: every column present with
/// a type that holds the values (wider is fine), utf8mb4 text, NULL allowed where the sink writes
/// NULL, no extra NOT NULL column without a default, InnoDB, the same keys, and a byte-for-byte
/// collation on the bookkeeping keys. Fixes are written for `dialect`.
pub fn check_table(table: Table, name: &str, found: &FoundTable, dialect: &Dialect) -> Result<(), SinkError> {
    let qt = quote_ident(name);
    let mismatch = |column: String, problem: String, fix: String| SinkError::SchemaMismatch {
        table: qt.clone(),
        column,
        problem,
        fix,
    };
    if !found.engine.eq_ignore_ascii_case("innodb") {
        return Err(mismatch(
            "(engine)".into(),
            format!("uses engine {}, which has no transactions", found.engine),
            format!("ALTER TABLE {qt} ENGINE=InnoDB"),
        ));
    }
    if table.is_data()
        && !matches!(table, Table::Mapped(_))
        && !found.columns.iter().any(|f| f.name.eq_ignore_ascii_case(ACCOUNT.name))
    {
        return Err(mismatch(
            quote_ident(ACCOUNT.name),
            "is missing: the table has the shape of schema version 3 and older, keyed by refund id alone".into(),
            format!(
                "start the sink once with creating tables on (it migrates the table in place, filling the \
                 column with the account recorded in wdt_sync_state), or run as an administrator: {}",
                account_migration_sql(table, &qt, "<account>", dialect).join("; ")
            ),
        ));
    }
    for want in table.columns() {
        let qc = quote_ident(want.name);
        let Some(f) = found.columns.iter().find(|f| f.name.eq_ignore_ascii_case(want.name)) else {
            return Err(mismatch(
                qc,
                "is missing".into(),
                format!("ALTER TABLE {qt} ADD COLUMN {}", want.ddl(dialect)),
            ));
        };
        let modify = format!("ALTER TABLE {qt} MODIFY {}", widened(want, f).ddl(dialect));
        if let Some(problem) = type_problem(want.ty, f, dialect) {
            return Err(mismatch(qc, problem, modify));
        }
        if want.nullable && !f.nullable {
            return Err(mismatch(
                qc,
                "is NOT NULL, but the sink writes NULL into it".into(),
                modify,
            ));
        }
        if want.ty.is_text() {
            if let Some(cs) = &f.charset {
                if cs != "utf8mb4" {
                    return Err(mismatch(
                        qc,
                        format!("uses character set {cs}, which cannot hold every character (emoji)"),
                        format!("ALTER TABLE {qt} CONVERT TO CHARACTER SET utf8mb4"),
                    ));
                }
            }
        }
    }
    for f in &found.columns {
        let known = table.columns().iter().any(|c| c.name.eq_ignore_ascii_case(&f.name));
        if !known && !f.nullable && !f.has_default {
            return Err(mismatch(
                quote_ident(&f.name),
                "is NOT NULL without a default, and the sink does not write it".into(),
                format!(
                    "ALTER TABLE {qt} MODIFY {} {} NULL (or give it a default, or drop it)",
                    quote_ident(&f.name),
                    f.column_type
                ),
            ));
        }
    }
    let want_pk: Vec<&str> = table.primary_key().to_vec();
    let pk_fits = found.primary_key.len() == want_pk.len()
        && found
            .primary_key
            .iter()
            .zip(&want_pk)
            .all(|(a, b)| a.eq_ignore_ascii_case(b));
    if !pk_fits {
        return Err(mismatch(
            "(primary key)".into(),
            format!(
                "is ({}), the sink needs ({})",
                found.primary_key.join(", "),
                want_pk.join(", ")
            ),
            format!(
                "ALTER TABLE {qt} DROP PRIMARY KEY, ADD PRIMARY KEY ({})",
                quoted_list(&want_pk)
            ),
        ));
    }
    if table.is_data() {
        if let Some((uk, cols)) = found.unique_keys.first() {
            return Err(mismatch(
                format!("({})", cols.join(", ")),
                format!("is covered by the extra unique key {uk}; REPLACE would delete other refunds' rows"),
                format!("ALTER TABLE {qt} DROP INDEX {}", quote_ident(uk)),
            ));
        }
    }
    Ok(())
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Table::Flat => "aftersales_refund_refund_search",
            Table::Refund => "wdt_refund",
            Table::RefundDetail => "wdt_refund_detail",
            Table::RefundAmountDetail => "wdt_refund_amount_detail",
            Table::SyncState => "wdt_sync_state",
            Table::DeadLetter => "wdt_sync_dead_letter",
            Table::SchemaVersion => "wdt_schema_version",
            Table::Lease => "wdt_sync_lease",
            Table::Run => "wdt_sync_run",
            // A built-in layout's table by its name without the prefix, as always.
            Table::Mapped(p) => p.state_key.unwrap_or(p.name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARIA: Dialect = Dialect::mariadb((10, 11, 0));

    /// The flat column list as integration platforms publish it, in order.
    const DESIGN_FLAT: &str = "refund_id, src_tids, refund_no, remark, type, stockin_status, flag_name, \
        return_goods_count, receiver_telno, receiver_name, modified, note_count, shop_no, from_type, created, \
        settle_time, check_time, return_logistics_no, trade_no_list, guarantee_refund_amount, \
        return_goods_amount, return_logistics_name, reason_name, refund_reason, buyer_nick, operator_name, \
        actual_refund_amount, revert_reason_name, return_warehouse_no, direct_refund_amount, receive_amount, \
        customer_name, fenxiao_nick_name, status, shop_id, trade_id, raw_refund_nos, pay_id, \
        provider_refund_no, shop_platform_id, tid_list, sub_platform_id, return_warehouse_id, platform_id, \
        wms_owner_no, warehouse_type, bad_reason, modified_date, return_mask_info, process_status, reason_id, \
        revert_reason, customer_id, consign_mode, refund_time, fenxiao_tid, fenxiao_nick_no, wms_code, \
        detail_list_rec_id, detail_list_refund_id, detail_list_oid, detail_list_trade_order_id, \
        detail_list_platform_id, detail_list_tid, detail_list_trade_no, detail_list_num, detail_list_price, \
        detail_list_original_price, detail_list_checked_cost_price, detail_list_refund_num, \
        detail_list_total_amount, detail_list_refund_amount, detail_list_is_guarantee, detail_list_goods_no, \
        detail_list_goods_name, detail_list_spec_name, detail_list_spec_no";

    #[test]
    fn every_data_table_ends_with_the_account_and_is_keyed_by_it_first() {
        for t in Table::data_tables(Layout::Both) {
            assert_eq!(t.columns().last(), Some(&ACCOUNT), "{t}");
            assert_eq!(t.primary_key()[0], "account", "{t}");
            assert_eq!(t.primary_key()[1], "refund_id", "{t}");
        }
        let sql = create_table_sql(Table::RefundDetail, &TableNames::new("").unwrap(), &MARIA);
        assert!(sql.contains("PRIMARY KEY (`account`, `refund_id`, `rec_id`)"), "{sql}");
        assert!(
            sql.contains("`account` VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,\n  PRIMARY"),
            "{sql}"
        );
        assert_eq!(string_literal("a'\\é"), "_utf8mb4 X'61275CC3A9'");
        assert_eq!(string_literal(""), "_utf8mb4 X''");
    }

    #[test]
    fn a_data_table_without_the_account_gets_the_migration_as_the_fix() {
        let mut f = found_from(Table::Flat);
        f.columns.retain(|c| c.name != "account");
        f.primary_key = vec!["refund_id".into(), "detail_list_rec_id".into()];
        let e = check_table(Table::Flat, "t", &f, &MARIA).unwrap_err().to_string();
        assert!(e.contains("`account`") && e.contains("schema version 3"), "{e}");
        assert!(
            e.contains(
                "ALTER TABLE `t` ADD COLUMN `account` VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin \
                 NOT NULL DEFAULT '<account>'; ALTER TABLE `t` MODIFY `account` VARCHAR(128) CHARACTER SET utf8mb4 \
                 COLLATE utf8mb4_nopad_bin NOT NULL, DROP PRIMARY KEY, ADD PRIMARY KEY (`account`, `refund_id`, \
                 `detail_list_rec_id`)"
            ),
            "{e}"
        );
        // The column added, the old key: the key is the fix.
        let mut f = found_from(Table::Refund);
        f.primary_key = vec!["refund_id".into()];
        let e = check_table(Table::Refund, "r", &f, &MARIA).unwrap_err().to_string();
        assert!(e.contains("ADD PRIMARY KEY (`account`, `refund_id`)"), "{e}");
        // A case-insensitive account column would let `Shop1` and `shop1` share rows.
        let mut f = found_from(Table::Refund);
        f.columns.last_mut().unwrap().collation = Some("utf8mb4_general_ci".into());
        let e = check_table(Table::Refund, "r", &f, &MARIA).unwrap_err().to_string();
        assert!(e.contains("`account`") && e.contains("utf8mb4_general_ci"), "{e}");
    }

    #[test]
    fn flat_columns_are_exactly_the_designed_list_in_order() {
        // The published columns, the columns for archived refunds, then the account.
        let want: Vec<&str> = DESIGN_FLAT
            .split(',')
            .map(str::trim)
            .chain(APPENDED_COLUMNS.iter().copied())
            .chain(["account"])
            .collect();
        let have: Vec<&str> = FLAT_COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(have, want);
        assert_eq!(FLAT_COLUMNS[FLAT_REFUND_COLUMNS].name, "detail_list_rec_id");
    }

    #[test]
    fn both_refund_tables_end_with_the_nullable_archive_columns_then_the_account() {
        for cols in [&FLAT_COLUMNS[..], &REFUND_COLUMNS[..]] {
            let (rest, account) = cols.split_at(cols.len() - 1);
            assert_eq!(account[0].name, "account");
            let tail = &rest[rest.len() - APPENDED_COLUMNS.len()..];
            let names: Vec<&str> = tail.iter().map(|c| c.name).collect();
            assert_eq!(names, APPENDED_COLUMNS);
            assert!(tail.iter().all(|c| c.nullable));
        }
    }

    #[test]
    fn flat_types_follow_the_design() {
        let ty = |n: &str| FLAT_COLUMNS.iter().find(|c| c.name == n).unwrap().ty;
        assert_eq!(ty("refund_id"), BigInt);
        assert_eq!(ty("type"), Int);
        assert_eq!(ty("detail_list_price"), Decimal);
        assert_eq!(ty("modified"), DateTime(3));
        assert_eq!(ty("created"), DateTime(3));
        assert_eq!(ty("check_time"), DateTime(0));
        assert_eq!(ty("detail_list_is_guarantee"), Bool);
        assert!(!FLAT_COLUMNS[0].nullable && !FLAT_COLUMNS[FLAT_REFUND_COLUMNS].nullable);
    }

    /// InnoDB rejects a table whose VARCHARs alone can exceed 65,535 bytes per row.
    #[test]
    fn every_table_fits_the_row_size_limit() {
        for t in [
            Table::Flat,
            Table::Refund,
            Table::RefundDetail,
            Table::RefundAmountDetail,
            Table::DeadLetter,
        ] {
            let bytes: u32 = t
                .columns()
                .iter()
                .map(|c| match c.ty {
                    Varchar(n) | Key(n) => u32::from(n) * 4 + 2,
                    _ => 12,
                })
                .sum();
            assert!(bytes < 65_535, "{t}: {bytes}");
        }
    }

    #[test]
    fn ddl_quotes_every_identifier_and_names_the_key() {
        let names = TableNames::new("p_").unwrap();
        let sql = create_table_sql(Table::Flat, &names, &Dialect::mariadb((10, 11, 0)));
        assert!(sql.starts_with("CREATE TABLE IF NOT EXISTS `p_aftersales_refund_refund_search` ("));
        assert!(sql.contains("`type` INT NULL"));
        assert!(sql.contains("`modified` DATETIME(3) NULL"));
        assert!(sql.contains("PRIMARY KEY (`account`, `refund_id`, `detail_list_rec_id`)"));
        assert!(sql.contains("CHARSET=utf8mb4"));
        let dl = create_table_sql(Table::DeadLetter, &names, &Dialect::mysql((8, 0, 36)));
        assert!(dl.contains("UNIQUE KEY `uk_dead_letter_record` (`account`, `method`, `raw_sha256`)"));
        assert!(dl.contains("utf8mb4_0900_ai_ci"));
        assert_eq!(
            create_statements(Layout::Both, &names, &Dialect::mariadb((10, 11, 0))).len(),
            9
        );
    }

    #[test]
    fn old_row_formats_get_advice_with_the_fix() {
        let a = row_format_advice("`f`", "Compact").unwrap();
        assert!(
            a.contains("ROW_FORMAT=Compact") && a.contains("ALTER TABLE `f` ROW_FORMAT=DYNAMIC"),
            "{a}"
        );
        assert!(row_format_advice("`f`", "REDUNDANT").is_some());
        assert!(row_format_advice("`f`", "Dynamic").is_none() && row_format_advice("`f`", "").is_none());
    }

    fn found_from(table: Table) -> FoundTable {
        FoundTable {
            engine: "InnoDB".into(),
            row_format: "Dynamic".into(),
            columns: table
                .columns()
                .iter()
                .map(|c| {
                    let (dt, len, p, s, fsp) = match c.ty {
                        BigInt => ("bigint", None, Some(19), Some(0), None),
                        Int => ("int", None, Some(10), Some(0), None),
                        Bool => ("tinyint", None, Some(3), Some(0), None),
                        Decimal => ("decimal", None, Some(19), Some(4), None),
                        ColumnType::Numeric(p, s) => ("decimal", None, Some(u64::from(p)), Some(u64::from(s)), None),
                        ColumnType::Date => ("date", None, None, None, None),
                        DateTime(f) => ("datetime", None, None, None, Some(u64::from(f))),
                        Varchar(n) | Key(n) => ("varchar", Some(u64::from(n)), None, None, None),
                        Text => ("text", Some(65_535), None, None, None),
                        LongText => ("longtext", Some(4_294_967_295), None, None, None),
                    };
                    FoundColumn {
                        name: c.name.into(),
                        data_type: dt.into(),
                        column_type: c.ty.sql().to_lowercase(),
                        nullable: c.nullable,
                        has_default: false,
                        char_len: len,
                        precision: p,
                        scale: s,
                        datetime_precision: fsp,
                        charset: c.ty.is_text().then(|| "utf8mb4".into()),
                        collation: c.ty.is_text().then(|| match c.ty {
                            Key(_) => "utf8mb4_nopad_bin".into(),
                            _ => "utf8mb4_unicode_ci".into(),
                        }),
                    }
                })
                .collect(),
            primary_key: table.primary_key().iter().map(|s| s.to_string()).collect(),
            unique_keys: vec![],
        }
    }

    #[test]
    fn a_table_as_created_fits() {
        for t in [
            Table::Flat,
            Table::Refund,
            Table::RefundDetail,
            Table::SyncState,
            Table::DeadLetter,
        ] {
            check_table(t, "x", &found_from(t), &MARIA).unwrap();
        }
    }

    #[test]
    fn stream_keys_need_a_byte_for_byte_collation() {
        let sql = create_table_sql(Table::SyncState, &TableNames::new("").unwrap(), &MARIA);
        assert!(
            sql.contains("`account` VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL"),
            "{sql}"
        );
        assert!(sql.contains("PRIMARY KEY (`account`, `method`, `data_table`)"), "{sql}");
        let my = create_table_sql(
            Table::DeadLetter,
            &TableNames::new("").unwrap(),
            &Dialect::mysql((8, 0, 36)),
        );
        assert!(
            my.contains("`method` VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL"),
            "{my}"
        );
        let mut f = found_from(Table::SyncState);
        f.columns[1].collation = Some("utf8mb4_unicode_ci".into());
        let e = check_table(Table::SyncState, "s", &f, &MARIA).unwrap_err().to_string();
        assert!(e.contains("`method`") && e.contains("utf8mb4_unicode_ci"), "{e}");
        assert!(
            e.contains(
                "ALTER TABLE `s` MODIFY `method` VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL"
            ),
            "{e}"
        );
        // A padding binary collation lets `shop1` and `shop1 ` collide.
        f.columns[1].collation = Some("utf8mb4_bin".into());
        assert!(check_table(Table::SyncState, "s", &f, &MARIA).is_err());
        f.columns[1].collation = Some("utf8mb4_0900_bin".into());
        check_table(Table::SyncState, "s", &f, &MARIA).unwrap();
    }

    #[test]
    fn a_narrow_decimal_is_refused_with_the_fix() {
        let mut f = found_from(Table::Flat);
        let c = f.columns.iter_mut().find(|c| c.name == "detail_list_price").unwrap();
        c.precision = Some(10);
        c.scale = Some(2);
        c.column_type = "decimal(10,2)".into();
        let e = check_table(Table::Flat, "aftersales_refund_refund_search", &f, &MARIA)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`aftersales_refund_refund_search`"), "{e}");
        assert!(e.contains("`detail_list_price`"), "{e}");
        assert!(e.contains("MODIFY `detail_list_price` DECIMAL(19,4) NULL"), "{e}");
    }

    #[test]
    fn missing_columns_wrong_keys_and_engines_are_refused() {
        let mut f = found_from(Table::Flat);
        f.columns.retain(|c| c.name != "wms_code");
        let e = check_table(Table::Flat, "t", &f, &MARIA).unwrap_err().to_string();
        assert!(
            e.contains("`wms_code`") && e.contains("ADD COLUMN `wms_code` VARCHAR(255) NULL"),
            "{e}"
        );

        let mut f = found_from(Table::Flat);
        f.primary_key = vec!["refund_id".into()];
        let e = check_table(Table::Flat, "t", &f, &MARIA).unwrap_err().to_string();
        assert!(
            e.contains("primary key") && e.contains("ADD PRIMARY KEY (`account`, `refund_id`, `detail_list_rec_id`)")
        );

        let mut f = found_from(Table::Flat);
        f.engine = "MyISAM".into();
        assert!(check_table(Table::Flat, "t", &f, &MARIA)
            .unwrap_err()
            .to_string()
            .contains("ENGINE=InnoDB"));

        let mut f = found_from(Table::Flat);
        f.unique_keys = vec![("uk_no".into(), vec!["refund_no".into()])];
        assert!(check_table(Table::Flat, "t", &f, &MARIA)
            .unwrap_err()
            .to_string()
            .contains("DROP INDEX `uk_no`"));
    }

    #[test]
    fn wider_types_fit_and_narrower_ones_do_not() {
        let mut f = found_from(Table::Flat);
        let c = f.columns.iter_mut().find(|c| c.name == "type").unwrap();
        c.data_type = "bigint".into();
        let c = f.columns.iter_mut().find(|c| c.name == "shop_no").unwrap();
        c.data_type = "text".into();
        check_table(Table::Flat, "t", &f, &MARIA).unwrap();

        let mut f = found_from(Table::Flat);
        let c = f.columns.iter_mut().find(|c| c.name == "modified").unwrap();
        c.datetime_precision = Some(0);
        c.column_type = "datetime".into();
        let e = check_table(Table::Flat, "t", &f, &MARIA).unwrap_err().to_string();
        assert!(e.contains("`modified`") && e.contains("DATETIME(3)"), "{e}");

        let mut f = found_from(Table::Flat);
        let c = f.columns.iter_mut().find(|c| c.name == "remark").unwrap();
        c.charset = Some("utf8mb3".into());
        assert!(check_table(Table::Flat, "t", &f, &MARIA)
            .unwrap_err()
            .to_string()
            .contains("utf8mb4"));

        let mut f = found_from(Table::Flat);
        f.columns.push(FoundColumn {
            name: "bi_tag".into(),
            data_type: "int".into(),
            column_type: "int(11)".into(),
            nullable: false,
            has_default: false,
            char_len: None,
            precision: Some(10),
            scale: Some(0),
            datetime_precision: None,
            charset: None,
            collation: None,
        });
        let e = check_table(Table::Flat, "t", &f, &MARIA).unwrap_err().to_string();
        assert!(
            e.contains("`bi_tag`") && e.contains("NOT NULL without a default"),
            "{e}"
        );
        f.columns.last_mut().unwrap().has_default = true;
        check_table(Table::Flat, "t", &f, &MARIA).unwrap();
    }

    #[test]
    fn lease_and_run_tables_compare_stream_ids_and_tokens_byte_for_byte() {
        let names = TableNames::new("p_").unwrap();
        let lease = create_table_sql(Table::Lease, &names, &MARIA);
        assert!(
            lease.starts_with("CREATE TABLE IF NOT EXISTS `p_wdt_sync_lease` ("),
            "{lease}"
        );
        assert!(lease.contains("PRIMARY KEY (`account`, `method`)"), "{lease}");
        for key in [
            "`account` VARCHAR(128)",
            "`method` VARCHAR(128)",
            "`owner_token` VARCHAR(64)",
        ] {
            assert!(
                lease.contains(&format!(
                    "{key} CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL"
                )),
                "{key}: {lease}"
            );
        }
        assert!(lease.contains("`expires_at` DATETIME(6) NOT NULL"), "{lease}");
        assert!(lease.contains("`released_at` DATETIME(6) NULL"), "{lease}");
        assert!(lease.contains("ENGINE=InnoDB"), "{lease}");
        let run = create_table_sql(Table::Run, &names, &Dialect::mysql((8, 0, 36)));
        assert!(
            run.starts_with("CREATE TABLE IF NOT EXISTS `p_wdt_sync_run` ("),
            "{run}"
        );
        assert!(run.contains("`id` BIGINT NOT NULL AUTO_INCREMENT"), "{run}");
        assert!(run.contains("PRIMARY KEY (`id`)"), "{run}");
        assert!(
            run.contains("UNIQUE KEY `uk_run_stream` (`account`, `method`, `id`)"),
            "{run}"
        );
        assert!(
            run.contains("`token` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL"),
            "{run}"
        );
        for t in [Table::Lease, Table::Run] {
            assert!(Table::BOOKKEEPING.contains(&t), "{t}");
            check_table(t, "x", &found_from(t), &MARIA).unwrap();
            let bytes: u32 = t
                .columns()
                .iter()
                .map(|c| match c.ty {
                    Varchar(n) | Key(n) => u32::from(n) * 4 + 2,
                    _ => 12,
                })
                .sum();
            assert!(bytes < 65_535, "{t}: {bytes}");
        }
        // A case-insensitive token column would let two owners' tokens collide.
        let mut f = found_from(Table::Lease);
        f.columns[4].collation = Some("utf8mb4_unicode_ci".into());
        let e = check_table(Table::Lease, "l", &f, &MARIA).unwrap_err().to_string();
        assert!(e.contains("`owner_token`") && e.contains("utf8mb4_nopad_bin"), "{e}");
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }
}
