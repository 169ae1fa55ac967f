//! The LOAD DATA text the sink streams, for tools that export refunds to a file and load it
//! themselves with `LOAD DATA LOCAL INFILE` (the benchmark's reference load does exactly that).

use wdt_qimen::model::Refund;

use crate::config::{Layout, WriteMode};
use crate::error::SinkError;
use crate::infile::load_sql_for_file;
use crate::prepare::{prepare, Payload, WritePath};
use crate::schema::Table;

/// The flat-table rows of `refunds` of `account` (the value of the last column, `account`) as
/// LOAD DATA text (tab-separated, backslash-escaped, `\N` for NULL), in the order given; fails
/// on the first refund that cannot be mapped.
pub fn flat_tsv(account: &str, refunds: &[Refund]) -> Result<Vec<u8>, SinkError> {
    let prepared = prepare(
        account,
        refunds,
        &[],
        Layout::Flat.data_tables(""),
        WriteMode::Replace,
        WritePath::Infile,
    );
    if let Some(dead) = prepared.dead_letters.into_iter().next() {
        return Err(SinkError::Unmappable {
            key: dead.key.unwrap_or_default(),
            reason: dead.reason,
        });
    }
    match prepared.tables.into_iter().next().map(|t| t.payload) {
        Some(Payload::Text(bytes)) => Ok(bytes.to_vec()),
        _ => Ok(Vec::new()),
    }
}

/// The statement that loads such text from `file` into `table` (named `table_name`), with the
/// sink's column list and format clauses; `replace` adds `REPLACE`.
pub fn load_data_sql(table: Table, table_name: &str, file: &str, replace: bool) -> String {
    load_sql_for_file(table, table_name, file, replace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_in_the_given_order_and_bad_refunds_are_named() {
        let a = Refund {
            refund_id: 2,
            ..Default::default()
        };
        let b = Refund {
            refund_id: 1,
            ..Default::default()
        };
        let text = flat_tsv("shop\t1", &[a.clone(), b]).unwrap();
        assert!(
            text.starts_with(b"2\t") && text.ends_with(b"\tshop\\t1\n"),
            "{}",
            String::from_utf8_lossy(&text)
        );
        assert_eq!(text.iter().filter(|&&c| c == b'\n').count(), 2);
        let mut bad = a;
        bad.actual_refund_amount = Some("0.00001".parse().unwrap());
        let e = flat_tsv("shop", &[bad]).unwrap_err().to_string();
        assert!(e.contains("refund 2") && e.contains("actual_refund_amount"), "{e}");
        assert!(load_data_sql(Table::Flat, "t", "/x.tsv", true).contains("REPLACE INTO TABLE `t`"));
    }
}
