//! Your own tables: a mapping says which tables to fill, one row per refund, per detail line
//! or per amount line, and for each column the SQL type, the source field and a chain of
//! transforms. It is compiled once (every problem refused before any request, naming the
//! table, the column, the value and the fix) into table plans the sink writes like its
//! built-in tables: newer-wins, stale-line removal, dead letters and the checkpoint in the
//! same transaction.
//!
//! ```
//! use refund_sink_mysql::mapping::{Mapping, MappingSpec};
//!
//! let spec: MappingSpec = toml::from_str(r#"
//! [[tables]]
//! name = "bi_refund"
//! grain = "refund"
//! columns = [
//!   { name = "退换单ID", type = "BIGINT", source = "refund_id" },
//!   { name = "订单编号", type = "VARCHAR(64)", source = "refund_no" },
//!   { name = "退款金额(分)", type = "BIGINT", source = "actual_refund_amount", transforms = [{ multiply = 100 }, { round = 0 }] },
//!   { name = "入库状态", type = "VARCHAR(8)", source = "stockin_status", transforms = [{ labels = "stockin_status" }] },
//!   { name = "modified", type = "DATETIME(3)", source = "modified" },
//! ]
//! "#)?;
//! let mapping = Mapping::compile(&spec, "")?;
//! let table = &mapping.tables()[0];
//! assert_eq!(table.primary_key(), ["account", "退换单ID"]);
//! assert_eq!(table.version(), Some("modified"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`spec`]: the mapping as written ([`MappingSpec`], [`TableSpec`], [`ColumnSpec`],
//!   [`TransformSpec`]).
//! - [`source`]: the fields a column can read ([`source::fields`]).
//! - [`value`]: the values between a field and a column ([`Value`], [`Kind`]).
//! - [`transform`]: the built-in transforms, and [`Transform`] / [`Transforms`] for your own
//!   in Rust.
//! - `expr`: the expression transform (Rhai).
//! - [`plan`]: a compiled table ([`TablePlan`]).
//! - [`presets`]: the built-in layouts as mappings (`presets/flat.toml`, `presets/normalized.toml`).

pub(crate) mod expr;
pub mod plan;
pub mod presets;
pub mod source;
pub mod spec;
#[cfg(test)]
mod tests;
pub mod transform;
pub mod value;

use std::collections::HashSet;
use std::fmt;

use wdt_qimen::model::Refund;

pub use plan::TablePlan;
pub use spec::{ColumnSpec, Grain, MappingSpec, TableSpec, TransformSpec};
pub use transform::{Transform, Transforms};
pub use value::{Kind, Value};

use crate::row::{Cell, Encoding, TableRows};
use crate::schema::{Column, ColumnType, Table};

/// Why a mapping was refused: the table, the column when one is at fault, and the problem
/// with its fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{problem}", at(table, column.as_deref()))]
pub struct MappingError {
    /// The table.
    pub table: String,
    /// The column, if one is at fault.
    pub column: Option<String>,
    /// What is wrong, and the fix.
    pub problem: String,
}

/// `table "t", column "c": ` (nothing for a problem of the whole mapping).
fn at(table: &str, column: Option<&str>) -> String {
    match (table, column) {
        ("", None) => String::new(),
        (t, None) => format!("table {t:?}: "),
        (t, Some(c)) => format!("table {t:?}, column {c:?}: "),
    }
}

/// A compiled mapping: its tables, parents first.
pub struct Mapping {
    plans: Vec<&'static TablePlan>,
    tables: &'static [Table],
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.plans.iter()).finish()
    }
}

impl PartialEq for Mapping {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}
impl Eq for Mapping {}

impl Mapping {
    /// Compiles `spec`; `prefix` replaces `{prefix}` in table names.
    ///
    /// A compiled mapping lives as long as the process (compile it once at start-up): the
    /// sink's tables refer to it.
    pub fn compile(spec: &MappingSpec, prefix: &str) -> Result<&'static Mapping, MappingError> {
        Self::compile_with(spec, prefix, &Transforms::new())
    }

    /// A built-in layout's mapping: its tables keep the checkpoint key they always had (the
    /// table's name without the prefix), so upgrading re-reads nothing.
    pub(crate) fn compile_preset(spec: &MappingSpec, prefix: &str) -> Result<&'static Mapping, MappingError> {
        Self::compile_inner(spec, prefix, &Transforms::new(), true)
    }

    /// As [`compile`](Self::compile), with Rust transforms a mapping names as
    /// `{ custom = "name" }`.
    pub fn compile_with(
        spec: &MappingSpec,
        prefix: &str,
        custom: &Transforms,
    ) -> Result<&'static Mapping, MappingError> {
        Self::compile_inner(spec, prefix, custom, false)
    }

    fn compile_inner(
        spec: &MappingSpec,
        prefix: &str,
        custom: &Transforms,
        preset: bool,
    ) -> Result<&'static Mapping, MappingError> {
        if spec.tables.is_empty() {
            return Err(MappingError {
                table: String::new(),
                column: None,
                problem: "the mapping has no tables; add a [[tables]] entry".into(),
            });
        }
        let mut names = HashSet::new();
        let mut plans = Vec::new();
        for t in &spec.tables {
            let mut plan = TablePlan::compile(t, prefix, custom)?;
            if preset {
                plan.state_key = Some(plan::leak(&t.name.replace("{prefix}", "")));
            }
            if !names.insert(plan.name.to_lowercase()) {
                return Err(MappingError {
                    table: plan.name.to_owned(),
                    column: None,
                    problem: "is declared twice; each table is declared once".into(),
                });
            }
            let reserved = crate::TableNames::new(prefix).ok().map(|n| {
                let verify = format!("{prefix}{}", crate::verify::VERIFY_TABLE);
                [n.sync_state, n.dead_letter, n.schema_version, n.lease, n.run, verify]
                    .iter()
                    .any(|b| b.eq_ignore_ascii_case(plan.name))
            });
            if reserved == Some(true) {
                return Err(MappingError {
                    table: plan.name.to_owned(),
                    column: None,
                    problem: "is one of the sink's bookkeeping tables; choose another name".into(),
                });
            }
            plans.push(&*Box::leak(Box::new(plan)));
        }
        let tables: Vec<Table> = plans.iter().map(|p| Table::Mapped(p)).collect();
        Ok(Box::leak(Box::new(Mapping {
            plans,
            tables: Box::leak(tables.into_boxed_slice()),
        })))
    }

    /// The compiled tables, parents first.
    pub fn tables(&self) -> &[&'static TablePlan] {
        &self.plans
    }

    pub(crate) fn data_tables(&self) -> &'static [Table] {
        self.tables
    }

    /// True when some table has a version column (write mode `upsert` needs one).
    pub fn has_version(&self) -> bool {
        self.plans.iter().any(|p| p.version.is_some())
    }

    /// The rows `refunds` map to, as text (NULL as `None`), per table; a refund a transform
    /// cannot map is reported with the reason instead of its rows. For `mapping check` and
    /// `--dry-run`.
    pub fn preview(&self, refunds: &[Refund], account: &str) -> Vec<Preview> {
        let now = crate::mapping::now_beijing();
        self.plans
            .iter()
            .map(|plan| {
                let mut t = TableRows::<PreviewEncoding>::new(Table::Mapped(plan), account);
                t.enc.columns = plan.columns;
                let mut errors = Vec::new();
                for r in refunds {
                    let mark = t.mark();
                    let raw = crate::prepare::raw_json(r);
                    plan.write(r, account, &raw, now, &mut t);
                    if let Some(e) = t.take_error() {
                        t.rollback(mark);
                        errors.push(format!("refund {}: {e}", r.refund_id));
                    }
                }
                Preview {
                    table: plan.name.to_owned(),
                    columns: plan.columns.iter().map(|c| c.name.to_owned()).collect(),
                    rows: t.enc.rows,
                    errors,
                }
            })
            .collect()
    }
}

/// What a table's rows look like for some refunds ([`Mapping::preview`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The table.
    pub table: String,
    /// Its columns.
    pub columns: Vec<String>,
    /// The rows, each value as written (`None` for NULL).
    pub rows: Vec<Vec<Option<String>>>,
    /// The refunds that would be dead letters, with the reason.
    pub errors: Vec<String>,
}

/// Rows as text values, each as MySQL shows it (a DECIMAL with all its places, a DATETIME with
/// its column's fraction digits).
#[derive(Debug, Default)]
struct PreviewEncoding {
    rows: Vec<Vec<Option<String>>>,
    current: Vec<Option<String>>,
    /// The table's columns (the cell of `current.len()` is for the next one).
    columns: &'static [Column],
}

impl Encoding for PreviewEncoding {
    fn position(&self) -> usize {
        self.rows.len() * 100_000 + self.current.len()
    }

    fn truncate(&mut self, position: usize) {
        self.rows.truncate(position / 100_000);
        self.current.truncate(position % 100_000);
    }

    fn put(&mut self, _first: bool, cell: Cell<'_>) {
        let ty = self.columns.get(self.current.len()).map(|c| c.ty);
        let scale = match ty {
            Some(ColumnType::Numeric(_, s)) => Some(u32::from(s)),
            Some(ColumnType::Decimal) => Some(4),
            _ => None,
        };
        self.current.push(match cell {
            Cell::Null => None,
            Cell::Int(v) => Some(match scale {
                Some(s) => rescaled(rust_decimal::Decimal::from(v), s),
                None => v.to_string(),
            }),
            Cell::Dec(d) => Some(rescaled(d, scale.unwrap_or(d.scale()))),
            Cell::Text(s) => Some(s.to_owned()),
            Cell::Time(t) => Some(match ty {
                Some(ColumnType::DateTime(fsp @ 1..)) => {
                    let fraction = format!("{:09}", chrono::Timelike::nanosecond(&t) % 1_000_000_000);
                    format!(
                        "{}.{}",
                        t.format("%Y-%m-%d %H:%M:%S"),
                        &fraction[..usize::from(fsp.min(6))]
                    )
                }
                _ => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            }),
            Cell::Date(d) => Some(d.format("%Y-%m-%d").to_string()),
            Cell::Bool(b) => Some(if b { "1" } else { "0" }.to_owned()),
        });
    }

    fn end_row(&mut self) {
        self.rows.push(std::mem::take(&mut self.current));
    }

    fn repeat(&mut self, _first: bool, range: std::ops::Range<usize>) {
        let row = range.start / 100_000;
        let (from, to) = (range.start % 100_000, range.end % 100_000);
        let copied: Vec<Option<String>> = match self.rows.get(row) {
            Some(prev) => prev[from..to].to_vec(),
            None => self.current[from..to].to_vec(),
        };
        self.current.extend(copied);
    }
}

/// `d` with `scale` places (the cell was checked to have no more).
fn rescaled(mut d: rust_decimal::Decimal, scale: u32) -> String {
    d.rescale(scale);
    d.to_string()
}

/// Now, Beijing wall time (the `synced_at` source).
pub(crate) fn now_beijing() -> chrono::NaiveDateTime {
    wdt_qimen::time::to_beijing(chrono::Utc::now())
}
