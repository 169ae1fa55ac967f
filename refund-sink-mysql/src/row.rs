//! Rows as the mappers produce them: typed cells, checked against their column so that no
//! value is truncated or rounded by the server, written into an [`Encoding`] (LOAD DATA text or
//! statement parameters) with per-row keys and offsets.

use std::fmt;

use chrono::{Datelike, NaiveDateTime, Timelike};
use rust_decimal::Decimal;

use crate::schema::{Column, ColumnType, Table};

/// One value of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    /// SQL NULL.
    Null,
    /// An integer (ids, codes, counts).
    Int(i64),
    /// An exact decimal.
    Dec(Decimal),
    /// Text.
    Text(&'a str),
    /// Beijing wall time.
    Time(NaiveDateTime),
    /// A calendar day.
    Date(chrono::NaiveDate),
    /// A flag.
    Bool(bool),
}

/// Why a record could not be mapped to rows: the column and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MapError {
    /// The table.
    pub table: Table,
    /// The column (or the key part) at fault.
    pub column: &'static str,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}: {}", self.table, self.column, self.problem)
    }
}

/// DECIMAL(19,4) holds less than 10^15: the mantissa limit per scale 0..=4.
const DECIMAL_LIMITS: [u128; 5] = [
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
    10_000_000_000_000_000_000,
];

/// Drops sub-`fsp` digits of a time (the column would otherwise round or truncate it,
/// differently on MySQL and MariaDB).
fn truncate_fraction(t: NaiveDateTime, fsp: u8) -> NaiveDateTime {
    let nanos = t.nanosecond();
    let step = match fsp {
        0 => 1_000_000_000,
        1 => 100_000_000,
        2 => 10_000_000,
        3 => 1_000_000,
        4 => 100_000,
        5 => 10_000,
        _ => 1_000,
    };
    let kept = nanos % 1_000_000_000 / step * step;
    t.with_nanosecond(kept).unwrap_or(t)
}

/// Checks `cell` against `col` and returns the value to write (times cut to the column's
/// precision), or the problem.
pub(crate) fn check_cell<'a>(col: &Column, cell: Cell<'a>) -> Result<Cell<'a>, String> {
    match (cell, col.ty) {
        (Cell::Null, _) if col.nullable => Ok(cell),
        (Cell::Null, _) => Err("is required but missing".into()),
        (Cell::Int(_), ColumnType::BigInt) => Ok(cell),
        (Cell::Int(v), ColumnType::Int) if i32::try_from(v).is_ok() => Ok(cell),
        (Cell::Int(v), ColumnType::Int) => Err(format!("{v} does not fit INT")),
        (Cell::Dec(d), ColumnType::Decimal) => {
            // More than 4 places is fine only when the extra ones are zeros (then drop them).
            let d = if d.scale() > 4 { d.normalize() } else { d };
            if d.scale() > 4 {
                Err(format!("{d} has {} decimal places; DECIMAL(19,4) keeps 4", d.scale()))
            } else if d.mantissa().unsigned_abs() >= DECIMAL_LIMITS[d.scale() as usize] {
                Err(format!("{d} is too large for DECIMAL(19,4)"))
            } else {
                Ok(Cell::Dec(d))
            }
        }
        (Cell::Int(v), ColumnType::Numeric(p, s)) => {
            if v.unsigned_abs().to_string().len() > usize::from(p - s) && v != 0 {
                Err(format!("{v} is too large for DECIMAL({p},{s})"))
            } else {
                Ok(cell)
            }
        }
        (Cell::Dec(d), ColumnType::Numeric(p, s)) => {
            let d = if d.scale() > u32::from(s) { d.normalize() } else { d };
            if d.scale() > u32::from(s) {
                Err(format!(
                    "{d} has {} decimal places; DECIMAL({p},{s}) keeps {s} (round it first)",
                    d.scale()
                ))
            } else {
                // Digits before the point: at most p - s.
                let int_digits = d.trunc().abs().to_string().trim_start_matches('0').len();
                if int_digits > usize::from(p - s) {
                    Err(format!("{d} is too large for DECIMAL({p},{s})"))
                } else {
                    Ok(Cell::Dec(d))
                }
            }
        }
        (Cell::Date(day), ColumnType::Date) => {
            if (1000..=9999).contains(&day.year()) {
                Ok(cell)
            } else {
                Err(format!("{day} is outside the DATE range (years 1000-9999)"))
            }
        }
        (Cell::Text(s), ColumnType::Varchar(n) | ColumnType::Key(n)) => {
            // A byte count within the limit is a character count within it too.
            if s.len() <= usize::from(n) || s.chars().count() <= usize::from(n) {
                Ok(cell)
            } else {
                Err(format!("has {} characters; the column holds {n}", s.chars().count()))
            }
        }
        (Cell::Text(s), ColumnType::Text) if s.len() <= 65_535 => Ok(cell),
        (Cell::Text(s), ColumnType::Text) => Err(format!("has {} bytes; TEXT holds 65535", s.len())),
        (Cell::Text(_), ColumnType::LongText) => Ok(cell),
        (Cell::Time(t), ColumnType::DateTime(fsp)) => {
            if (1000..=9999).contains(&t.year()) {
                Ok(Cell::Time(truncate_fraction(t, fsp)))
            } else {
                Err(format!("{t} is outside the DATETIME range (years 1000-9999)"))
            }
        }
        (Cell::Bool(_), ColumnType::Bool) => Ok(cell),
        (cell, ty) => Err(format!("internal: a {cell:?} cannot go into a {} column", ty.sql())),
    }
}

/// Where cells are written: LOAD DATA text or statement parameters.
pub(crate) trait Encoding: Default {
    /// The current end position (bytes or values).
    fn position(&self) -> usize;
    /// Drops everything after `position`.
    fn truncate(&mut self, position: usize);
    /// Appends one (checked) cell; `first` is true for the first cell of a row.
    fn put(&mut self, first: bool, cell: Cell<'_>);
    /// Ends a row.
    fn end_row(&mut self);
    /// Appends a copy of `range` (positions of whole cells written earlier); `first` as in
    /// [`put`](Self::put).
    fn repeat(&mut self, first: bool, range: std::ops::Range<usize>);
}

/// One encoded row: its key and where it lies in the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RowMeta {
    /// The refund the row belongs to.
    pub refund_id: i64,
    /// The second key part (`rec_id`; 0 for a parent row or a refund without lines).
    pub sub_key: i64,
    /// Start position in the encoding.
    pub start: usize,
    /// End position in the encoding.
    pub end: usize,
}

/// The rows of one table, encoded, with their keys.
#[derive(Debug)]
pub(crate) struct TableRows<E> {
    /// The table.
    pub table: Table,
    /// The encoded cells.
    pub enc: E,
    /// One entry per row, in order.
    pub rows: Vec<RowMeta>,
    /// The value of the table's last column when it is [`ACCOUNT`](crate::schema::ACCOUNT):
    /// written by [`end_row`](Self::end_row), so the mappers need not know it.
    account: Option<String>,
    col: usize,
    error: Option<MapError>,
}

/// A position in a [`TableRows`] to roll back to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    rows: usize,
    enc: usize,
}

impl<E: Encoding> TableRows<E> {
    /// Empty rows for `table`, whose rows belong to `account` (the stream's account; the
    /// value of a data table's last column).
    pub fn new(table: Table, account: &str) -> Self {
        // A mapped table writes its account column itself, wherever it is.
        let ends_with_account = !matches!(table, Table::Mapped(_))
            && table.columns().last().map(|c| c.name) == Some(crate::schema::ACCOUNT.name);
        Self {
            table,
            enc: E::default(),
            rows: Vec::new(),
            account: ends_with_account.then(|| account.to_owned()),
            col: 0,
            error: None,
        }
    }

    /// Starts a row with key `(refund_id, sub_key)`.
    pub fn begin_row(&mut self, refund_id: i64, sub_key: i64) {
        debug_assert_eq!(self.col, 0, "{}: previous row not ended", self.table);
        let start = self.enc.position();
        self.rows.push(RowMeta {
            refund_id,
            sub_key,
            start,
            end: start,
        });
    }

    /// Appends the next cell of the current row, checked against its column.
    pub fn cell(&mut self, cell: Cell<'_>) {
        let columns = self.table.columns();
        let Some(column) = columns.get(self.col) else {
            self.fail("(row)", format!("internal: more than {} cells", columns.len()));
            return;
        };
        match check_cell(column, cell) {
            Ok(checked) => self.enc.put(self.col == 0, checked),
            Err(problem) => {
                self.fail(column.name, problem);
                self.enc.put(self.col == 0, Cell::Null);
            }
        }
        self.col += 1;
    }

    /// The current position in the encoding (to [`repeat`](Self::repeat) what follows).
    pub fn position(&self) -> usize {
        self.enc.position()
    }

    /// Appends a copy of the `cells` cells at `range` (written, and checked, earlier in this
    /// table) as the next cells of the current row.
    pub fn repeat(&mut self, range: std::ops::Range<usize>, cells: usize) {
        self.enc.repeat(self.col == 0, range);
        self.col += cells;
    }

    /// Records a problem that makes the current record unwritable (the first one wins).
    pub fn fail(&mut self, column: &'static str, problem: String) {
        if self.error.is_none() {
            self.error = Some(MapError {
                table: self.table,
                column,
                problem,
            });
        }
    }

    /// Ends the current row (after writing the account, for a table that ends with it).
    pub fn end_row(&mut self) {
        if let Some(account) = self.account.take() {
            self.cell(Cell::Text(&account));
            self.account = Some(account);
        }
        let n = self.table.columns().len();
        if self.col != n {
            self.fail("(row)", format!("internal: {} cells for {n} columns", self.col));
        }
        self.col = 0;
        self.enc.end_row();
        if let Some(last) = self.rows.last_mut() {
            last.end = self.enc.position();
        }
    }

    /// The current position, to roll back to if the record fails.
    pub fn mark(&self) -> Mark {
        Mark {
            rows: self.rows.len(),
            enc: self.enc.position(),
        }
    }

    /// Takes the recorded problem, if any.
    pub fn take_error(&mut self) -> Option<MapError> {
        self.error.take()
    }

    /// Drops every row after `mark`.
    pub fn rollback(&mut self, mark: Mark) {
        self.rows.truncate(mark.rows);
        self.enc.truncate(mark.enc);
        self.col = 0;
    }
}

#[cfg(test)]
/// Shorthands for optional values.
pub(crate) fn int(v: Option<i64>) -> Cell<'static> {
    v.map_or(Cell::Null, Cell::Int)
}

#[cfg(test)]
/// An optional decimal.
pub(crate) fn dec(v: Option<Decimal>) -> Cell<'static> {
    v.map_or(Cell::Null, Cell::Dec)
}

#[cfg(test)]
/// Optional text.
pub(crate) fn text(v: &Option<String>) -> Cell<'_> {
    v.as_deref().map_or(Cell::Null, Cell::Text)
}

#[cfg(test)]
/// An optional time.
pub(crate) fn time(v: Option<NaiveDateTime>) -> Cell<'static> {
    v.map_or(Cell::Null, Cell::Time)
}

#[cfg(test)]
/// An optional flag.
pub(crate) fn flag(v: Option<bool>) -> Cell<'static> {
    v.map_or(Cell::Null, Cell::Bool)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn column(ty: ColumnType) -> Column {
        Column {
            name: "c",
            ty,
            nullable: true,
            extra: None,
        }
    }

    #[test]
    fn decimals_that_would_be_rounded_are_refused() {
        let c = column(ColumnType::Decimal);
        assert!(check_cell(&c, Cell::Dec("12.3400".parse().unwrap())).is_ok());
        assert!(check_cell(&c, Cell::Dec("-999999999999999.9999".parse().unwrap())).is_ok());
        let e = check_cell(&c, Cell::Dec("0.12345".parse().unwrap())).unwrap_err();
        assert!(e.contains("5 decimal places"), "{e}");
        assert!(check_cell(&c, Cell::Dec("1000000000000000".parse().unwrap())).is_err());
        assert!(check_cell(&c, Cell::Dec("-1000000000000000.0000".parse().unwrap())).is_err());
        // Trailing zeros beyond 4 places are dropped, not refused.
        let Ok(Cell::Dec(d)) = check_cell(&c, Cell::Dec("1.500000".parse().unwrap())) else {
            panic!()
        };
        assert_eq!((d.to_string().as_str(), d.scale()), ("1.5", 1));
    }

    #[test]
    fn text_is_measured_in_characters() {
        let c = column(ColumnType::Varchar(3));
        assert!(check_cell(&c, Cell::Text("退换单")).is_ok());
        assert!(check_cell(&c, Cell::Text("退换单号"))
            .unwrap_err()
            .contains("4 characters"));
        assert!(check_cell(&column(ColumnType::Text), Cell::Text(&"x".repeat(65_536))).is_err());
    }

    #[test]
    fn times_are_cut_to_the_column_precision() {
        let t = NaiveDate::from_ymd_opt(2024, 5, 6)
            .unwrap()
            .and_hms_nano_opt(7, 8, 9, 123_456_789)
            .unwrap();
        let Ok(Cell::Time(ms)) = check_cell(&column(ColumnType::DateTime(3)), Cell::Time(t)) else {
            panic!()
        };
        assert_eq!(ms.nanosecond(), 123_000_000);
        let Ok(Cell::Time(s)) = check_cell(&column(ColumnType::DateTime(0)), Cell::Time(t)) else {
            panic!()
        };
        assert_eq!(s.nanosecond(), 0);
        let old = NaiveDate::from_ymd_opt(999, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        assert!(check_cell(&column(ColumnType::DateTime(0)), Cell::Time(old)).is_err());
    }

    #[test]
    fn nulls_and_ranges_are_checked() {
        let mut c = column(ColumnType::Int);
        assert!(check_cell(&c, Cell::Int(i64::from(i32::MAX) + 1)).is_err());
        assert!(check_cell(&c, Cell::Null).is_ok());
        c.nullable = false;
        assert!(check_cell(&c, Cell::Null).is_err());
        assert!(check_cell(&c, Cell::Text("x")).unwrap_err().starts_with("internal"));
    }
}
