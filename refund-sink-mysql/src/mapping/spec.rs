//! A mapping as the user writes it (TOML in the config file, or built in code): target tables,
//! their columns, each column's source field and transforms. [`compile`](super::Mapping::compile)
//! checks it and turns it into table plans.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every table of a mapping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingSpec {
    /// The target tables, parents first (`[[tables]]`).
    #[serde(default)]
    pub tables: Vec<TableSpec>,
}

/// One target table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// The table's name (any MySQL identifier, Chinese included; at most 52 characters, so that
    /// the sink's staging table `wdt_staging_<name>` stays within MySQL's 64).
    /// `{prefix}` in it is replaced by the sink's table prefix.
    pub name: String,
    /// What one row stands for.
    pub grain: Grain,
    /// The primary key columns (by target name). Default: the columns whose source is
    /// `account`, `refund_id` and, per the grain, `detail_list.rec_id` or
    /// `amount_detail_list.rec_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Vec<String>>,
    /// The newer-wins version column (by target name). Default: the column whose source is
    /// `modified` (refund level) with no transforms, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// For `detail` grain: what a refund without detail lines gives: one row with the line
    /// columns NULL and `rec_id` 0 (`row`, the default, as the flat table does), or none
    /// (`skip`).
    #[serde(default, skip_serializing_if = "WithoutLines::is_default")]
    pub without_lines: WithoutLines,
    /// The columns, in table order.
    pub columns: Vec<ColumnSpec>,
}

/// What one row of a table stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grain {
    /// One row per refund.
    Refund,
    /// One row per line of `detail_list`.
    #[serde(alias = "detail_list")]
    Detail,
    /// One row per line of `amount_detail_list`.
    #[serde(alias = "amount_detail_list")]
    AmountDetail,
}

impl Grain {
    /// The name as written in a mapping.
    pub fn as_str(self) -> &'static str {
        match self {
            Grain::Refund => "refund",
            Grain::Detail => "detail",
            Grain::AmountDetail => "amount_detail",
        }
    }
}

/// What a `detail` table does with a refund that has no lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithoutLines {
    /// One row, line columns NULL, the line key 0.
    #[default]
    Row,
    /// No row.
    Skip,
}

impl WithoutLines {
    fn is_default(&self) -> bool {
        *self == WithoutLines::Row
    }
}

/// One column of a target table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// The column's name in the table.
    pub name: String,
    /// Its SQL type: `BIGINT`, `INT`, `TINYINT(1)` / `BOOLEAN`, `DECIMAL(p,s)`, `DATETIME[(fsp)]`,
    /// `DATE`, `VARCHAR(n)`, `TEXT`, `LONGTEXT`.
    #[serde(rename = "type")]
    pub sql_type: String,
    /// The field it is read from (`refund_no`, `detail_list.goods_no`,
    /// `amount_detail_list.refund_amount`, `account`, `raw`, `synced_at`). Without a source the
    /// column's value comes from its transforms alone (a `constant`, an `expr`). `from` is
    /// accepted as another name for it.
    #[serde(default, alias = "from", skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The transforms applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<TransformSpec>,
    /// `NOT NULL` in the DDL (a NULL value then makes the record a dead letter). Key columns
    /// are always NOT NULL.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_null: bool,
}

/// A constant in a mapping: text, integer or flag (write decimals and times as text:
/// `"0.01"`, `"2024-01-01 00:00:00"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a constant is text, an integer or true/false; write decimals and times as text \
                 (\"0.01\", \"2024-01-01 00:00:00\")"
)]
pub enum Literal {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// Text (also decimals and times, parsed for the column's type).
    Text(String),
}

impl std::fmt::Display for Literal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// One transform, written as a one-key table (`{ round = 2 }`) or, for those without
/// arguments, a bare name (`"trim"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransformSpec {
    /// Converts a Beijing time to another zone: `"utc"`, `"beijing"` (no change) or an offset
    /// such as `"+09:00"`.
    Timezone(String),
    /// Formats a time or date as text with a `strftime` pattern (`"%Y-%m-%d"`).
    Format(String),
    /// Keeps only the date of a time.
    Date,
    /// Rounds a decimal: `{ round = 2 }` (half away from zero) or
    /// `{ round = { places = 0, mode = "half_even" } }`.
    Round(RoundSpec),
    /// Multiplies a number exactly (`{ multiply = 100 }`: yuan to fen).
    Multiply(Literal),
    /// Divides a number exactly (`{ divide = 100 }`: fen to yuan); the result keeps at most 28
    /// places.
    Divide(Literal),
    /// Replaces a code by its label: a built-in map named by the code field
    /// (`{ labels = "stockin_status" }`) or your own (`{ labels = { map = { "0" = "无需入库" },
    /// default = "未知" } }`). A code missing from the map without a default makes the record a
    /// dead letter.
    Labels(LabelsSpec),
    /// The value when the input is NULL or blank text.
    Default(Literal),
    /// A constant, whatever the input.
    Constant(Literal),
    /// Removes leading and trailing white space.
    Trim,
    /// Upper case.
    Upper,
    /// Lower case.
    Lower,
    /// Cuts text to the column's width in characters (`VARCHAR(n)`: n; `TEXT`: 16,383).
    Clip,
    /// Joins a list (a line field read at refund grain) with a separator: `{ join = "," }`.
    Join(String),
    /// Appends other fields' values as text: `{ concat = { fields = ["shop_no"],
    /// separator = "-" } }`; NULL and blank parts are left out.
    Concat(ConcatSpec),
    /// An expression (Rhai), with `value` the input and any field path as a variable
    /// (`if status == 90 { value } else { 0 }`); see the README.
    Expr(String),
    /// A transform registered in Rust under this name ([`Transforms`](super::Transforms)).
    Custom(String),
}

/// Arguments of [`TransformSpec::Round`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    deny_unknown_fields,
    expecting = "round takes its places (`{ round = 2 }`) or `{ places = 2, mode = \"half_even\" }` \
                 (no other keys; places 0-28)"
)]
pub enum RoundSpec {
    /// Decimal places, rounding half away from zero.
    Places(u32),
    /// Places and mode.
    With {
        /// Decimal places to keep.
        places: u32,
        /// `half_up` (half away from zero, the default), `half_even`, `down` (toward zero),
        /// `up` (away from zero), `floor`, `ceiling`.
        #[serde(default)]
        mode: Option<String>,
    },
}

/// Arguments of [`TransformSpec::Labels`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    deny_unknown_fields,
    expecting = "labels takes a built-in map's name (`{ labels = \"status\" }`) or \
                 `{ map = { \"0\" = \"label\" }, default = \"label\", builtin = \"status\" }` (no other keys)"
)]
pub enum LabelsSpec {
    /// A built-in map, named by its code field (`status`, `stockin_status`, `type`, …).
    Builtin(String),
    /// Your own map.
    Map {
        /// Code (as text) → label.
        map: BTreeMap<String, String>,
        /// The label of a code not in the map (otherwise the record is a dead letter).
        #[serde(default)]
        default: Option<String>,
        /// A built-in map this one extends (its entries win).
        #[serde(default)]
        builtin: Option<String>,
    },
}

/// Arguments of [`TransformSpec::Concat`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcatSpec {
    /// Field paths appended after the input.
    pub fields: Vec<String>,
    /// Put between the parts.
    #[serde(default)]
    pub separator: String,
}
