//! A table of a mapping compiled into a plan: its columns (names, SQL types, key, version),
//! and per column the field it reads and its transforms. The write path works on a plan as on
//! the built-in tables: newer-wins, stale-line removal and dead letters are the same.

use std::collections::HashSet;

use sha2::{Digest, Sha256};
use wdt_qimen::model::Refund;

use super::source::{self, Field, Level, Record, RowOf};
use super::spec::{ColumnSpec, Grain, TableSpec, WithoutLines};
use super::transform::{self, column_kind, Step, Transforms};
use super::value::{Kind, Value};
use super::MappingError;
use crate::row::{Cell, Encoding, TableRows};
use crate::schema::{Column, ColumnType, ACCOUNT};

/// What a column is to the write path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// An ordinary column.
    Data,
    /// The account (first key part).
    Account,
    /// The refund id (second key part).
    RefundId,
    /// The line's `rec_id` (third key part; 0 for the row of a refund without lines).
    SubKey,
}

/// How one column's value is made.
#[derive(Clone)]
pub(crate) struct CellPlan {
    field: Option<&'static Field>,
    steps: Vec<Step>,
    role: Role,
}

/// A compiled target table.
pub struct TablePlan {
    pub(crate) name: &'static str,
    pub(crate) grain: Grain,
    without_lines: WithoutLines,
    pub(crate) columns: &'static [Column],
    pub(crate) primary_key: &'static [&'static str],
    pub(crate) version: Option<&'static str>,
    cells: Vec<CellPlan>,
    /// Leading columns that hold the same value in every line of a refund: encoded once per
    /// refund, then copied.
    shared: usize,
    /// True when a column can read the `raw` source (the refund as JSON, made only then).
    pub(crate) reads_raw: bool,
    pub(crate) fingerprint: String,
    pub(crate) spec: TableSpec,
    /// The checkpoint key of a built-in layout's table (its name without the prefix).
    pub(crate) state_key: Option<&'static str>,
}

impl std::fmt::Debug for TablePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TablePlan")
            .field("name", &self.name)
            .field("grain", &self.grain)
            .field("columns", &self.columns.len())
            .field("primary_key", &self.primary_key)
            .field("version", &self.version)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TablePlan {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}
impl Eq for TablePlan {}
impl std::hash::Hash for TablePlan {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self as *const TablePlan as usize).hash(state);
    }
}

/// The most columns an InnoDB table holds.
const MAX_COLUMNS: usize = 1017;

/// What MySQL holds in one row, not counting TEXT and LONGTEXT contents.
const MAX_ROW_BYTES: usize = 65_535;

/// What an InnoDB key holds (the DYNAMIC row format).
const MAX_KEY_BYTES: usize = 3072;

/// The widest account column a table of `grain` can key: the key is the account (4 bytes a
/// character) and one or two BIGINTs.
fn max_account_width(grain: Grain) -> usize {
    let ids = if grain == Grain::Refund { 1 } else { 2 };
    (MAX_KEY_BYTES - 8 * ids) / 4
}

/// The bytes a row of `columns` can take, as MySQL counts them against [`MAX_ROW_BYTES`]
/// (utf8mb4: 4 bytes a character; TEXT and LONGTEXT count their length and pointer; one NULL
/// bit per nullable column).
fn row_bytes(columns: &[Column]) -> usize {
    // DECIMAL stores 9 digits in 4 bytes, the rest in 0-4 bytes.
    let digits = |d: u8| usize::from(d / 9) * 4 + [0, 1, 1, 2, 2, 3, 3, 4, 4][usize::from(d % 9)];
    let data: usize = columns
        .iter()
        .map(|c| match c.ty {
            ColumnType::BigInt => 8,
            ColumnType::Int => 4,
            ColumnType::Bool => 1,
            ColumnType::Date => 3,
            ColumnType::DateTime(fsp) => 5 + usize::from(fsp).div_ceil(2),
            ColumnType::Decimal => digits(15) + digits(4),
            ColumnType::Numeric(p, s) => digits(p - s) + digits(s),
            ColumnType::Varchar(n) | ColumnType::Key(n) => {
                let b = 4 * usize::from(n);
                b + if b > 255 { 2 } else { 1 }
            }
            ColumnType::Text => 10,
            ColumnType::LongText => 12,
        })
        .sum();
    data + columns.iter().filter(|c| c.nullable).count().div_ceil(8)
}

/// The longest name of a mapped table: an overwrite loads it through a temporary table named
/// `wdt_staging_<name>`, which must stay within MySQL's 64 characters.
pub(crate) const MAX_TABLE_NAME: usize = 64 - crate::overwrite::STAGING_PREFIX.len();

pub(crate) fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// Parses a SQL type as a mapping writes it.
pub(crate) fn parse_type(text: &str) -> Result<ColumnType, String> {
    let t: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let (base, args) = match t.split_once('(') {
        Some((b, rest)) => (b.to_owned(), Some(rest.strip_suffix(')').unwrap_or("").to_owned())),
        None => (t.clone(), None),
    };
    let nums: Vec<u32> = match &args {
        Some(a) => a
            .split(',')
            .map(|x| x.parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad_type(text))?,
        None => Vec::new(),
    };
    Ok(match (base.as_str(), nums.as_slice()) {
        ("BIGINT", []) => ColumnType::BigInt,
        ("INT" | "INTEGER", []) => ColumnType::Int,
        ("TINYINT", [1]) | ("BOOL" | "BOOLEAN", []) => ColumnType::Bool,
        ("DECIMAL" | "NUMERIC", [19, 4]) => ColumnType::Decimal,
        ("DECIMAL" | "NUMERIC", [p, s]) if (1..=65).contains(p) && *s <= 30 && s <= p => {
            ColumnType::Numeric(*p as u8, *s as u8)
        }
        ("DECIMAL" | "NUMERIC", [p]) if (1..=65).contains(p) => ColumnType::Numeric(*p as u8, 0),
        ("DECIMAL" | "NUMERIC", _) => {
            return Err(format!(
                "type {text:?}: DECIMAL(p,s) needs a precision 1-65 and a scale 0-30 no larger than it"
            ))
        }
        ("DATETIME", []) => ColumnType::DateTime(0),
        ("DATETIME", [f]) if *f <= 6 => ColumnType::DateTime(*f as u8),
        ("DATE", []) => ColumnType::Date,
        ("VARCHAR", [n]) if (1..=16_383).contains(n) => ColumnType::Varchar(*n as u16),
        ("VARCHAR", _) => return Err(format!("type {text:?}: VARCHAR(n) needs a length 1-16383 (utf8mb4)")),
        ("TEXT", []) => ColumnType::Text,
        ("LONGTEXT", []) => ColumnType::LongText,
        _ => return Err(bad_type(text)),
    })
}

fn bad_type(text: &str) -> String {
    format!(
        "type {text:?} is not one the sink writes; use BIGINT, INT, TINYINT(1), DECIMAL(p,s), DATETIME, DATETIME(3), DATE, \
         VARCHAR(n), TEXT or LONGTEXT"
    )
}

/// Whether a value of `kind` can go into a column of `ty`; the problem and its fix if not.
fn fits(kind: Kind, ty: ColumnType) -> Result<(), String> {
    let ok = match column_kind(ty) {
        _ if kind == Kind::Any => true,
        Kind::Int => matches!(kind, Kind::Int | Kind::Dec | Kind::Bool),
        Kind::Dec => matches!(kind, Kind::Int | Kind::Dec),
        Kind::Bool => matches!(kind, Kind::Bool | Kind::Int),
        Kind::Time => matches!(kind, Kind::Time | Kind::Date | Kind::Text),
        Kind::Date => matches!(kind, Kind::Date | Kind::Time | Kind::Text),
        Kind::Text => kind != Kind::List,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let fix = match (kind, column_kind(ty)) {
        (Kind::List, _) => "join the lines first (transforms = [{ join = \",\" }]) or use a detail grain",
        (Kind::Text, Kind::Int | Kind::Dec) => "use a text column, or an expr that returns a number",
        (Kind::Time | Kind::Date, _) => "use a DATETIME, DATE or text column (with format)",
        (Kind::Dec, Kind::Bool) => "use a DECIMAL column",
        _ => "change the column's type or the transforms",
    };
    Err(format!(
        "a {} value cannot go into a {} column; {fix}",
        kind.name(),
        ty.sql()
    ))
}

/// True when a strftime `pattern` writes the Unix timestamp (`%s`, with any padding flag).
fn reads_epoch(pattern: &str) -> bool {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            let mut spec = chars.next();
            while matches!(spec, Some('-' | '_' | '0')) {
                spec = chars.next();
            }
            if spec == Some('s') {
                return true;
            }
        }
    }
    false
}

/// Checks the value of a `constant` or `default` that ends a column's transforms against the
/// column, so that one that cannot be written is refused now rather than in every record.
fn check_literal(v: &Value<'_>, ty: ColumnType) -> Result<(), String> {
    let cell = match (column_kind(ty), v) {
        (Kind::Int, Value::Int(i)) => Cell::Int(*i),
        (Kind::Dec, Value::Dec(d)) => Cell::Dec(*d),
        (Kind::Bool, Value::Bool(b)) => Cell::Bool(*b),
        (Kind::Time, Value::Time(t)) => Cell::Time(*t),
        (Kind::Date, Value::Date(d)) => Cell::Date(*d),
        (Kind::Text, Value::Text(s)) => Cell::Text(s),
        // Converted when written (and checked then).
        _ => return Ok(()),
    };
    let column = Column {
        name: "",
        ty,
        nullable: true,
        extra: None,
    };
    crate::row::check_cell(&column, cell)
        .map(|_| ())
        .map_err(|p| format!("{v} does not fit {}: {p}", ty.sql()))
}

/// Writes `v` as the next cell of `t`, converted for its column.
fn put<E: Encoding>(t: &mut TableRows<E>, col: &Column, v: Value<'_>) {
    let ty = col.ty;
    let problem = |v: &Value<'_>| format!("the {} value {v} cannot go into a {} column", v.kind().name(), ty.sql());
    match (column_kind(ty), v) {
        (_, Value::Null) => t.cell(Cell::Null),
        (Kind::Text, Value::Text(s)) => t.cell(Cell::Text(&s)),
        (Kind::Text, Value::List(_)) => {
            t.fail(col.name, "a list cannot go into a text column; join it first".into());
            t.cell(Cell::Null);
        }
        (Kind::Text, v) => t.cell(Cell::Text(&v.to_string())),
        (Kind::Int, Value::Int(i)) => t.cell(Cell::Int(i)),
        (Kind::Int, Value::Bool(b)) => t.cell(Cell::Int(i64::from(b))),
        (Kind::Int, Value::Dec(d)) => match (d.fract().is_zero(), i64::try_from(d.trunc())) {
            (true, Ok(i)) => t.cell(Cell::Int(i)),
            _ => {
                t.fail(
                    col.name,
                    format!("{d} is not a whole number for {} (round it first)", ty.sql()),
                );
                t.cell(Cell::Null);
            }
        },
        (Kind::Int, Value::Text(s)) if s.trim().parse::<i64>().is_ok() => {
            t.cell(Cell::Int(s.trim().parse().unwrap_or(0)))
        }
        (Kind::Dec, Value::Dec(d)) => t.cell(Cell::Dec(d)),
        (Kind::Dec, Value::Int(i)) => t.cell(Cell::Dec(rust_decimal::Decimal::from(i))),
        (Kind::Dec, Value::Text(s)) if s.trim().parse::<rust_decimal::Decimal>().is_ok() => {
            t.cell(Cell::Dec(s.trim().parse().unwrap_or_default()))
        }
        (Kind::Bool, Value::Bool(b)) => t.cell(Cell::Bool(b)),
        (Kind::Bool, Value::Int(i @ (0 | 1))) => t.cell(Cell::Bool(i == 1)),
        (Kind::Time, Value::Time(x)) => t.cell(Cell::Time(x)),
        (Kind::Time, Value::Date(d)) => t.cell(Cell::Time(d.and_hms_opt(0, 0, 0).unwrap_or_default())),
        (Kind::Time, Value::Text(s)) if transform::parse_time(&s).is_some() => {
            t.cell(Cell::Time(transform::parse_time(&s).unwrap_or_default()))
        }
        (Kind::Date, Value::Date(d)) => t.cell(Cell::Date(d)),
        (Kind::Date, Value::Time(x)) => t.cell(Cell::Date(x.date())),
        (Kind::Date, Value::Text(s)) if transform::parse_time(&s).is_some() => {
            t.cell(Cell::Date(transform::parse_time(&s).unwrap_or_default().date()))
        }
        (_, v) => {
            t.fail(col.name, problem(&v));
            t.cell(Cell::Null);
        }
    }
}

impl TablePlan {
    /// Compiles one table; `prefix` replaces `{prefix}` in its name.
    pub(crate) fn compile(spec: &TableSpec, prefix: &str, custom: &Transforms) -> Result<TablePlan, MappingError> {
        let name = spec.name.replace("{prefix}", prefix);
        let err = |column: Option<&str>, problem: String| MappingError {
            table: name.clone(),
            column: column.map(str::to_owned),
            problem,
        };
        check_identifier(&name).map_err(|p| err(None, format!("the table name {p}")))?;
        let length = name.chars().count();
        if length > MAX_TABLE_NAME {
            return Err(err(
                None,
                format!(
                    "the table name {name:?} has {length} characters; a mapped table's name holds at most \
                     {MAX_TABLE_NAME}, so that its staging table ({}<name>) stays within MySQL's 64; shorten it",
                    crate::overwrite::STAGING_PREFIX
                ),
            ));
        }
        if spec.columns.is_empty() {
            return Err(err(None, "has no columns; add [[tables.columns]] entries".into()));
        }
        let line_level = match spec.grain {
            Grain::Refund => None,
            Grain::Detail => Some(Level::Line),
            Grain::AmountDetail => Some(Level::Amount),
        };
        let sub_path = match spec.grain {
            Grain::Refund => None,
            Grain::Detail => Some("detail_list.rec_id"),
            Grain::AmountDetail => Some("amount_detail_list.rec_id"),
        };
        let mut seen = HashSet::new();
        let mut columns: Vec<Column> = Vec::new();
        let mut cells: Vec<CellPlan> = Vec::new();
        let mut specs: Vec<&ColumnSpec> = Vec::new();
        for c in &spec.columns {
            let cerr = |problem: String| err(Some(&c.name), problem);
            check_identifier(&c.name).map_err(|p| cerr(format!("the column name {p}")))?;
            if !seen.insert(c.name.to_lowercase()) {
                return Err(cerr(
                    "is declared twice (MySQL column names ignore case); rename one".into(),
                ));
            }
            let mut ty = parse_type(&c.sql_type).map_err(&cerr)?;
            let field = match &c.source {
                Some(path) => {
                    Some(source::field(path).ok_or_else(|| cerr(format!("source {}", transform::unknown_path(path))))?)
                }
                None => None,
            };
            if field.is_none() && c.transforms.is_empty() {
                return Err(cerr(
                    "has neither a source nor transforms; add source = \"<field>\" or a constant".into(),
                ));
            }
            let role = match field.map(|f| f.path) {
                Some("account") => Role::Account,
                Some("refund_id") => Role::RefundId,
                Some(p) if Some(p) == sub_path => Role::SubKey,
                _ => Role::Data,
            };
            let mut kind = match field {
                None => Kind::Any,
                Some(f) if f.level == Level::Refund => f.kind,
                Some(f) if Some(f.level) == line_level => f.kind,
                Some(_) => Kind::List,
            };
            let mut steps = Vec::new();
            for (i, t) in c.transforms.iter().enumerate() {
                if let super::spec::TransformSpec::Format(pattern) = t {
                    let utc = matches!(steps.last(), Some(Step::Shift(d)) if *d == chrono::TimeDelta::hours(-8));
                    if reads_epoch(pattern) && !utc {
                        return Err(cerr(format!(
                            "transform {} (format): %s in {pattern:?} counts seconds since 1970 in UTC, but the \
                             time is a wall time (Beijing, as WDT sends it), so it would be hours off; put \
                             {{ timezone = \"utc\" }} right before the format",
                            i + 1
                        )));
                    }
                }
                let (step, out) = transform::compile(t, kind, field, ty, custom)
                    .map_err(|p| cerr(format!("transform {} ({}): {p}", i + 1, transform_name(t))))?;
                steps.push(step);
                kind = out;
            }
            fits(kind, ty).map_err(&cerr)?;
            if let Some(Step::Constant(v) | Step::Default(v)) = steps.last() {
                check_literal(v, ty).map_err(|p| {
                    cerr(format!(
                        "transform {} ({}): {p}",
                        steps.len(),
                        transform_name(&c.transforms[steps.len() - 1])
                    ))
                })?;
            }
            if role == Role::Account {
                let ColumnType::Varchar(n) = ty else {
                    return Err(cerr(format!(
                        "holds the account, so it must be VARCHAR(n), not {}",
                        ty.sql()
                    )));
                };
                let max = max_account_width(spec.grain);
                if usize::from(n) > max {
                    return Err(cerr(format!(
                        "holds the account, which leads the primary key: VARCHAR({n}) takes up to {} bytes \
                         (utf8mb4) and an InnoDB key holds {MAX_KEY_BYTES}, so at most VARCHAR({max}) here \
                         (the sink's own account columns are VARCHAR(128))",
                        4 * usize::from(n)
                    )));
                }
                ty = ColumnType::Key(n);
            }
            columns.push(Column {
                name: leak(&c.name),
                ty,
                nullable: !c.not_null,
                extra: None,
            });
            cells.push(CellPlan { field, steps, role });
            specs.push(c);
        }
        // The account: a column of its own at the end when the mapping has none.
        if !cells.iter().any(|c| c.role == Role::Account) {
            if seen.contains("account") {
                return Err(err(
                    Some("account"),
                    "is taken by another source, but the sink needs a column holding the account (it leads the key); \
                     give that column another name, or add a column with source = \"account\""
                        .into(),
                ));
            }
            columns.push(ACCOUNT);
            cells.push(CellPlan {
                field: source::field("account"),
                steps: Vec::new(),
                role: Role::Account,
            });
        }
        // The key.
        let find_role = |role: Role| cells.iter().position(|c| c.role == role && c.steps.is_empty());
        let key_roles: Vec<Role> = match spec.grain {
            Grain::Refund => vec![Role::Account, Role::RefundId],
            _ => vec![Role::Account, Role::RefundId, Role::SubKey],
        };
        let mut key: Vec<usize> = Vec::new();
        for role in &key_roles {
            let (path, what) = match role {
                Role::Account => ("account", "the account"),
                Role::RefundId => ("refund_id", "the refund id"),
                _ => (sub_path.unwrap_or(""), "the line's rec_id"),
            };
            let Some(i) = find_role(*role) else {
                let transformed = cells.iter().any(|c| c.role == *role);
                return Err(err(
                    None,
                    if transformed {
                        format!("the key needs {what} as read, but its column has transforms; add a column with source = \"{path}\" and no transforms")
                    } else {
                        format!("has no key column for {what}; add a column with source = \"{path}\" (type BIGINT)")
                    },
                ));
            };
            if *role != Role::Account && columns[i].ty != ColumnType::BigInt {
                return Err(err(
                    Some(columns[i].name),
                    format!(
                        "is a key column ({what}), so it must be BIGINT, not {}",
                        columns[i].ty.sql()
                    ),
                ));
            }
            columns[i].nullable = false;
            key.push(i);
        }
        if let Some(explicit) = &spec.key {
            let mut named = HashSet::new();
            for k in explicit {
                let key_names = || {
                    key.iter()
                        .map(|i| format!("{:?}", columns[*i].name))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                if !named.insert(k.to_lowercase()) {
                    return Err(err(Some(k), "is named twice in key; name each key column once".into()));
                }
                let Some(i) = columns.iter().position(|c| c.name.eq_ignore_ascii_case(k)) else {
                    return Err(err(
                        Some(k),
                        format!(
                            "is in key but is not a column of the table; the key columns are {}",
                            key_names()
                        ),
                    ));
                };
                if !key.contains(&i) {
                    return Err(err(
                        Some(k),
                        format!(
                            "cannot be in the key: the key of a {} table is the columns of account, refund_id{} \
                             (the sink replaces a refund's rows by it)",
                            spec.grain.as_str(),
                            sub_path.map(|p| format!(" and {p}")).unwrap_or_default()
                        ),
                    ));
                }
            }
            if let Some(missing) = key.iter().find(|i| !named.contains(&columns[**i].name.to_lowercase())) {
                return Err(err(
                    Some(columns[*missing].name),
                    "is a key column but is missing from key; add it (or leave key out for the default)".into(),
                ));
            }
        }
        if columns.len() > MAX_COLUMNS {
            return Err(err(
                None,
                format!(
                    "has {} columns (with the account), and an InnoDB table holds {MAX_COLUMNS}; \
                     split it into two tables",
                    columns.len()
                ),
            ));
        }
        let bytes = row_bytes(&columns);
        if bytes > MAX_ROW_BYTES {
            let mut wide: Vec<&Column> = columns
                .iter()
                .filter(|c| matches!(c.ty, ColumnType::Varchar(_)))
                .collect();
            wide.sort_by_key(|c| {
                std::cmp::Reverse(match c.ty {
                    ColumnType::Varchar(n) => n,
                    _ => 0,
                })
            });
            let names: Vec<String> = wide.iter().take(3).map(|c| format!("{:?}", c.name)).collect();
            return Err(err(
                None,
                format!(
                    "a row of its columns takes up to {bytes} bytes, and MySQL holds {MAX_ROW_BYTES} a row \
                     (a VARCHAR(n) takes 4n bytes in utf8mb4; TEXT counts a few): make the widest VARCHARs \
                     ({}) TEXT or narrower",
                    names.join(", ")
                ),
            ));
        }
        // The version.
        // Milliseconds kept: WDT sends some `modified` with milliseconds, and a version cut to the
        // second would let an older change of the same second win over the newer one.
        let version_ok = |i: usize| {
            cells[i].field.map(|f| f.path) == Some("modified")
                && cells[i].steps.is_empty()
                && matches!(columns[i].ty, ColumnType::DateTime(fsp) if fsp >= 3)
        };
        let version = match &spec.version {
            Some(v) => {
                let Some(i) = columns.iter().position(|c| c.name.eq_ignore_ascii_case(v)) else {
                    return Err(err(
                        Some(v),
                        "is the version but is not a column of the table; name the column that reads `modified` \
                         (or leave version out)"
                            .into(),
                    ));
                };
                if !version_ok(i) {
                    return Err(err(
                        Some(v),
                        "cannot be the version: it must read `modified` with no transforms into a DATETIME(3) column \
                         (milliseconds kept, so an older change of the same second never wins)"
                            .into(),
                    ));
                }
                Some(columns[i].name)
            }
            None => (0..columns.len()).find(|i| version_ok(*i)).map(|i| columns[i].name),
        };
        // Columns the same on every line of a refund, from the start.
        let shared = if spec.grain == Grain::Detail {
            cells
                .iter()
                .take_while(|c| {
                    c.role != Role::SubKey
                        && c.field.is_none_or(|f| f.level == Level::Refund)
                        && !c.steps.iter().any(Step::reads_lines)
                        && (c.field.is_some() || !c.steps.is_empty())
                })
                .count()
        } else {
            0
        };
        let reads_raw = cells
            .iter()
            .any(|c| c.field.is_some_and(|f| f.path == "raw") || c.steps.iter().any(Step::reads_raw));
        let primary_key: Vec<&'static str> = key.iter().map(|i| columns[*i].name).collect();
        let mut canonical = spec.clone();
        canonical.name = name.clone();
        let fingerprint = {
            let json = serde_json::to_vec(&canonical).unwrap_or_default();
            let digest = Sha256::digest(&json);
            digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
        };
        Ok(TablePlan {
            name: leak(&name),
            grain: spec.grain,
            without_lines: spec.without_lines,
            columns: Box::leak(columns.into_boxed_slice()),
            primary_key: Box::leak(primary_key.into_boxed_slice()),
            version,
            cells,
            shared,
            reads_raw,
            fingerprint,
            spec: canonical,
            state_key: None,
        })
    }

    /// The table's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The columns, in table order (with the `account` column the sink adds when the mapping
    /// has none).
    pub fn columns(&self) -> &'static [Column] {
        self.columns
    }

    /// The primary key: account, refund id and, for line grains, the line's `rec_id`.
    pub fn primary_key(&self) -> &'static [&'static str] {
        self.primary_key
    }

    /// The newer-wins version column, if the table has one.
    pub fn version(&self) -> Option<&'static str> {
        self.version
    }

    /// The column that holds `path` as read (no transforms), if there is one.
    pub fn column_reading(&self, path: &str) -> Option<&'static str> {
        self.cells
            .iter()
            .zip(self.columns)
            .find(|(c, _)| c.steps.is_empty() && c.field.is_some_and(|f| f.path == path))
            .map(|(_, col)| col.name)
    }

    /// What one row stands for.
    pub fn grain(&self) -> Grain {
        self.grain
    }

    /// A short hash of the table's mapping: its checkpoint belongs to it, so a changed mapping
    /// (a new column, a changed transform) fills the table again from the start.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The mapping it was compiled from (`{prefix}` resolved).
    pub fn spec(&self) -> &TableSpec {
        &self.spec
    }

    /// Appends the rows of `r` (a problem is recorded in `t`; see [`TableRows::take_error`]).
    pub(crate) fn write<E: Encoding>(
        &self,
        r: &Refund,
        account: &str,
        raw: &str,
        synced_at: chrono::NaiveDateTime,
        t: &mut TableRows<E>,
    ) {
        let rec = |row| Record {
            refund: r,
            row,
            account,
            raw,
            synced_at,
        };
        match self.grain {
            Grain::Refund => self.row(&rec(RowOf::Refund), r.refund_id, 0, t, &mut None),
            Grain::Detail if r.detail_list.is_empty() => {
                if self.without_lines == WithoutLines::Row {
                    self.row(&rec(RowOf::Line(None)), r.refund_id, 0, t, &mut None);
                }
            }
            Grain::Detail => {
                let keys = match line_keys(r.detail_list.iter().map(|d| d.rec_id), "detail_list") {
                    Ok(keys) => keys,
                    Err(problem) => return t.fail(self.sub_key_column(), problem),
                };
                let mut prefix = None;
                for (line, key) in r.detail_list.iter().zip(keys) {
                    self.row(&rec(RowOf::Line(Some(line))), r.refund_id, key, t, &mut prefix);
                }
            }
            Grain::AmountDetail => {
                let keys = match line_keys(r.amount_detail_list.iter().map(|a| a.rec_id), "amount_detail_list") {
                    Ok(keys) => keys,
                    Err(problem) => return t.fail(self.sub_key_column(), problem),
                };
                for (line, key) in r.amount_detail_list.iter().zip(keys) {
                    self.row(&rec(RowOf::Amount(line)), r.refund_id, key, t, &mut None);
                }
            }
        }
    }

    fn sub_key_column(&self) -> &'static str {
        self.primary_key.get(2).copied().unwrap_or("rec_id")
    }

    fn row<E: Encoding>(
        &self,
        rec: &Record<'_>,
        refund_id: i64,
        sub: i64,
        t: &mut TableRows<E>,
        prefix: &mut Option<std::ops::Range<usize>>,
    ) {
        t.begin_row(refund_id, sub);
        let mut from = 0;
        if self.shared > 0 {
            match prefix {
                Some(range) => {
                    t.repeat(range.clone(), self.shared);
                    from = self.shared;
                }
                None if self.grain == Grain::Detail => {
                    let start = t.position();
                    for i in 0..self.shared {
                        self.cell(i, rec, refund_id, sub, t);
                    }
                    *prefix = Some(start..t.position());
                    from = self.shared;
                }
                None => {}
            }
        }
        for i in from..self.cells.len() {
            self.cell(i, rec, refund_id, sub, t);
        }
        t.end_row();
    }

    fn cell<E: Encoding>(&self, i: usize, rec: &Record<'_>, refund_id: i64, sub: i64, t: &mut TableRows<E>) {
        let c = &self.cells[i];
        let col = &self.columns[i];
        match c.role {
            Role::RefundId if c.steps.is_empty() => return t.cell(Cell::Int(refund_id)),
            Role::SubKey if c.steps.is_empty() => return t.cell(Cell::Int(sub)),
            Role::Account if c.steps.is_empty() => return t.cell(Cell::Text(rec.account)),
            _ => {}
        }
        let mut v = c.field.map_or(Value::Null, |f| f.read(rec));
        for (n, step) in c.steps.iter().enumerate() {
            match step.apply(v, rec) {
                Ok(next) => v = next,
                Err(problem) => {
                    t.fail(col.name, format!("transform {}: {problem}", n + 1));
                    return t.cell(Cell::Null);
                }
            }
        }
        put(t, col, v);
    }
}

/// The `rec_id`s of a refund's lines, or the reason they cannot key rows (missing or repeated).
pub(crate) fn line_keys<'a>(ids: impl Iterator<Item = Option<i64>> + 'a, what: &str) -> Result<Vec<i64>, String> {
    let mut keys: Vec<i64> = Vec::new();
    for (i, id) in ids.enumerate() {
        let Some(id) = id else {
            return Err(format!("{what}[{i}] has no rec_id, so its row has no key"));
        };
        if keys.contains(&id) {
            return Err(format!(
                "{what}[{i}] repeats rec_id {id}; one of the lines would be lost"
            ));
        }
        keys.push(id);
    }
    Ok(keys)
}

fn transform_name(t: &super::spec::TransformSpec) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| match v {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Object(m) => m.keys().next().cloned(),
            _ => None,
        })
        .unwrap_or_else(|| "transform".into())
}

/// Checks a table or column name: 1-64 characters, no trailing space, no NUL, no character
/// beyond U+FFFF.
fn check_identifier(name: &str) -> Result<(), String> {
    let n = name.chars().count();
    if n == 0 {
        return Err("is empty".into());
    }
    if n > 64 {
        return Err(format!("{name:?} has {n} characters; MySQL allows 64"));
    }
    if name.ends_with(' ') || name.contains('\0') {
        return Err(format!(
            "{name:?} ends with a space or holds a NUL, which MySQL refuses"
        ));
    }
    if let Some(c) = name.chars().find(|c| u32::from(*c) > 0xFFFF) {
        return Err(format!(
            "{name:?} holds {c:?}, a character outside Unicode's Basic Multilingual Plane (an emoji?), \
             which MySQL names cannot hold; remove it"
        ));
    }
    Ok(())
}
