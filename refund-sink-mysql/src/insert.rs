//! The fallback write path: multi-row `INSERT` / upsert statements with
//! placeholders, each bounded by the 65,535 placeholders of one statement and by
//! `max_allowed_packet`.

use chrono::{Datelike, Timelike};
use mysql_async::Value;

use crate::dialect::Dialect;
use crate::encode::push_decimal;
use crate::names::quote_ident;
use crate::row::{Cell, Encoding, RowMeta};
use crate::schema::{quoted_list, Table};

/// The most placeholders one prepared statement may have.
pub(crate) const MAX_PLACEHOLDERS: usize = 65_535;

/// Statement parameters, one `Value` per cell.
#[derive(Debug, Default)]
pub(crate) struct ParamEncoding {
    /// The values, row after row.
    pub values: Vec<Value>,
}

impl Encoding for ParamEncoding {
    fn position(&self) -> usize {
        self.values.len()
    }

    fn truncate(&mut self, position: usize) {
        self.values.truncate(position);
    }

    fn put(&mut self, _first: bool, cell: Cell<'_>) {
        self.values.push(match cell {
            Cell::Null => Value::NULL,
            Cell::Int(v) => Value::Int(v),
            Cell::Dec(d) => {
                let mut text = Vec::with_capacity(24);
                push_decimal(&mut text, &d);
                Value::Bytes(text)
            }
            Cell::Text(s) => Value::Bytes(s.as_bytes().to_vec()),
            Cell::Time(t) => Value::Date(
                t.year() as u16,
                t.month() as u8,
                t.day() as u8,
                t.hour() as u8,
                t.minute() as u8,
                t.second() as u8,
                t.nanosecond() % 1_000_000_000 / 1_000,
            ),
            Cell::Date(d) => Value::Date(d.year() as u16, d.month() as u8, d.day() as u8, 0, 0, 0, 0),
            Cell::Bool(b) => Value::Int(i64::from(b)),
        });
    }

    fn end_row(&mut self) {}

    fn repeat(&mut self, _first: bool, range: std::ops::Range<usize>) {
        self.values.extend_from_within(range);
    }
}

/// What a statement does with a key that is already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    /// Fails on it (`INSERT`).
    Insert,
    /// Updates the row in place (`INSERT … ON DUPLICATE KEY UPDATE`, the sink's columns only).
    Upsert,
}

/// A multi-row statement for `rows` rows of `table`.
pub(crate) fn statement_sql(verb: Verb, table: Table, name: &str, rows: usize, dialect: &Dialect) -> String {
    let columns = table.columns();
    let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
    let mut row = String::with_capacity(columns.len() * 2 + 2);
    row.push('(');
    for i in 0..columns.len() {
        row.push_str(if i == 0 { "?" } else { ",?" });
    }
    row.push(')');
    let mut sql = format!("INSERT INTO {} ({}) VALUES ", quote_ident(name), quoted_list(&names));
    sql.reserve(rows * (row.len() + 1) + 64);
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&row);
    }
    if verb == Verb::Upsert {
        let key = table.primary_key();
        let update: Vec<&str> = names.iter().copied().filter(|n| !key.contains(n)).collect();
        sql.push_str(&dialect.upsert_tail(&update));
    }
    sql
}

/// Bytes a value takes in a COM_STMT_EXECUTE packet (type, length prefix and data).
fn wire_size(v: &Value) -> usize {
    2 + match v {
        Value::NULL => 0,
        Value::Bytes(b) => b.len() + 9,
        Value::Date(..) | Value::Time(..) => 12,
        _ => 8,
    }
}

/// Bytes `values` take in a COM_STMT_EXECUTE packet.
pub(crate) fn params_size(values: &[Value]) -> usize {
    values.iter().map(wire_size).sum()
}

/// Splits `rows` (with their values in `values`) into statements of at most `max_rows` rows,
/// `MAX_PLACEHOLDERS` placeholders and `max_bytes` bytes of parameters each. Returns index
/// ranges into `rows`. A row bigger than `max_bytes` gets a statement of its own.
pub(crate) fn split_statements(
    rows: &[RowMeta],
    values: &[Value],
    columns: usize,
    max_rows: usize,
    max_bytes: usize,
) -> Vec<std::ops::Range<usize>> {
    let per_statement = (MAX_PLACEHOLDERS / columns.max(1)).min(max_rows).max(1);
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, row) in rows.iter().enumerate() {
        let size: usize = values[row.start..row.end].iter().map(wire_size).sum();
        let full = i - start >= per_statement || (i > start && bytes + size > max_bytes);
        if full {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < rows.len() {
        out.push(start..rows.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_update_every_non_key_column() {
        let d = Dialect::mariadb((10, 11, 0));
        let sql = statement_sql(Verb::Upsert, Table::RefundAmountDetail, "p_amt", 2, &d);
        assert!(
            sql.starts_with("INSERT INTO `p_amt` (`refund_id`, `rec_id`, `refund_type`"),
            "{sql}"
        );
        assert_eq!(sql.matches('?').count(), 2 * 14);
        assert!(
            sql.contains(") ON DUPLICATE KEY UPDATE `refund_type` = VALUES(`refund_type`)"),
            "{sql}"
        );
        assert!(!sql.contains("`rec_id` = VALUES"), "{sql}");
        assert!(!sql.contains("`account` = VALUES"), "{sql}");
        let my = statement_sql(
            Verb::Upsert,
            Table::RefundAmountDetail,
            "p_amt",
            1,
            &Dialect::mysql((8, 0, 36)),
        );
        assert!(
            my.contains(" AS `new` ON DUPLICATE KEY UPDATE `refund_type` = `new`.`refund_type`"),
            "{my}"
        );
        let ins = statement_sql(Verb::Insert, Table::Flat, "f", 1, &d);
        assert!(ins.starts_with("INSERT INTO `f` (`refund_id`, `src_tids`") && !ins.contains("DUPLICATE"));
    }

    fn rows(n: usize, cols: usize) -> (Vec<RowMeta>, Vec<Value>) {
        let metas = (0..n)
            .map(|i| RowMeta {
                refund_id: i as i64,
                sub_key: 0,
                start: i * cols,
                end: (i + 1) * cols,
            })
            .collect();
        let values = (0..n * cols).map(|i| Value::Int(i as i64)).collect();
        (metas, values)
    }

    #[test]
    fn statements_respect_the_placeholder_limit() {
        let (metas, values) = rows(2000, 77);
        let parts = split_statements(&metas, &values, 77, usize::MAX, usize::MAX);
        assert!(parts.iter().all(|r| r.len() * 77 <= MAX_PLACEHOLDERS));
        assert_eq!(parts[0].len(), MAX_PLACEHOLDERS / 77);
        assert_eq!(parts.iter().map(|r| r.len()).sum::<usize>(), 2000);
    }

    #[test]
    fn statements_respect_the_byte_limit_and_row_limit() {
        let (metas, values) = rows(100, 10);
        // 10 ints = 100 bytes per row.
        let parts = split_statements(&metas, &values, 10, usize::MAX, 1_000);
        assert!(parts.iter().all(|r| r.len() == 10), "{parts:?}");
        let parts = split_statements(&metas, &values, 10, 7, usize::MAX);
        assert_eq!(parts[0], 0..7);
        // A row larger than the limit still gets written, alone.
        let parts = split_statements(&metas[..3], &values, 10, usize::MAX, 10);
        assert_eq!(parts, vec![0..1, 1..2, 2..3]);
    }
}
