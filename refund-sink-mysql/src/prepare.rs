//! Before the transaction: de-duplicate the batch (newest `modified` wins) and map every refund
//! to encoded rows of the layout's tables; a refund that cannot be mapped becomes a dead letter.

use std::ops::Range;

use bytes::Bytes;
use chrono::NaiveDateTime;
use mysql_async::Value;
use wdt_qimen::model::{Refund, RefundSource};
use wdt_qimen::sync::DeadLetter;

use crate::config::WriteMode;
use crate::encode::TextEncoding;
use crate::insert::ParamEncoding;
use crate::row::{Encoding, MapError, RowMeta, TableRows};
use crate::schema::Table;

/// Which write path the rows are encoded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WritePath {
    /// LOAD DATA LOCAL INFILE text.
    Infile,
    /// Multi-row statements with parameters.
    Statements,
}

/// The encoded rows of one table.
#[derive(Debug)]
pub(crate) enum Payload {
    /// LOAD DATA text; rows are byte ranges.
    Text(Bytes),
    /// Parameters; rows are value ranges.
    Params(Vec<Value>),
    /// LOAD DATA text already streamed to the server (row positions are not kept).
    Streamed,
}

/// The rows of one data table.
#[derive(Debug)]
pub(crate) struct TableData {
    /// The table.
    pub table: Table,
    /// The rows with their keys and positions in `payload`.
    pub rows: Vec<RowMeta>,
    /// The encoded values.
    pub payload: Payload,
}

/// One refund that mapped cleanly.
#[derive(Debug, Clone)]
pub(crate) struct Mapped {
    /// Its index in the (de-duplicated) batch.
    pub index: usize,
    /// Its id.
    pub refund_id: i64,
    /// Per table (same order as [`Prepared::tables`]): its rows, as indices into `rows`.
    pub rows: Vec<Range<usize>>,
    /// Read from `Refund.searchHistory`, which returns no `amount_detail_list`: the stored
    /// amount lines of the refund are kept, not deleted as removed.
    pub keeps_amount_lines: bool,
}

/// A batch ready to write.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The refunds that mapped, in input order (the sink passes them de-duplicated and sorted).
    pub refunds: Vec<Mapped>,
    /// The layout's data tables, parents first.
    pub tables: Vec<TableData>,
    /// Refunds that could not be mapped.
    pub dead_letters: Vec<DeadLetter>,
}

/// Keeps one copy per `refund_id`: the newest `modified` (`None` oldest); among equals, the
/// later one in the batch. The result is sorted by `refund_id`.
pub(crate) fn dedupe(records: Vec<Refund>) -> Vec<Refund> {
    if records.windows(2).all(|w| w[0].refund_id < w[1].refund_id) {
        return records;
    }
    // Sort small keys, not the (large) refunds.
    let mut order: Vec<(i64, Option<NaiveDateTime>, usize)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.refund_id, r.modified, i))
        .collect();
    order.sort_unstable();
    let winners: Vec<usize> = order
        .iter()
        .enumerate()
        .filter(|(k, key)| !matches!(order.get(k + 1), Some(next) if next.0 == key.0))
        .map(|(_, key)| key.2)
        .collect();
    let mut slots: Vec<Option<Refund>> = records.into_iter().map(Some).collect();
    winners.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// The raw JSON of a refund (for the dead-letter table and `wdt_refund.raw_json`).
pub(crate) fn raw_json(r: &Refund) -> String {
    serde_json::to_string(r).unwrap_or_else(|e| {
        format!(
            "{{\"refund_id\":{},\"serialize_error\":{:?}}}",
            r.refund_id,
            e.to_string()
        )
    })
}

/// A dead letter for refund `r`.
pub(crate) fn dead_letter(r: &Refund, reason: String) -> DeadLetter {
    DeadLetter {
        key: Some(r.refund_id.to_string()),
        raw_json: raw_json(r),
        reason,
    }
}

/// Maps the refunds of `refunds` whose `write` flag is set (a missing flag counts as set), for
/// `path`, as rows of `account`.
pub(crate) fn prepare(
    account: &str,
    refunds: &[Refund],
    write: &[bool],
    tables: &'static [Table],
    mode: WriteMode,
    path: WritePath,
) -> Prepared {
    match path {
        WritePath::Infile => {
            let (refunds, tables, dead) = map_all::<TextEncoding>(account, refunds, write, tables, mode, |_| true);
            let tables = tables
                .into_iter()
                .map(|t| TableData {
                    table: t.table,
                    rows: t.rows,
                    payload: Payload::Text(Bytes::from(t.enc.buf)),
                })
                .collect();
            Prepared {
                refunds,
                tables,
                dead_letters: dead,
            }
        }
        WritePath::Statements => {
            let (refunds, tables, dead) = map_all::<ParamEncoding>(account, refunds, write, tables, mode, |_| true);
            let tables = tables
                .into_iter()
                .map(|t| TableData {
                    table: t.table,
                    rows: t.rows,
                    payload: Payload::Params(t.enc.values),
                })
                .collect();
            Prepared {
                refunds,
                tables,
                dead_letters: dead,
            }
        }
    }
}

/// Like [`prepare`] for LOAD DATA, but sends the first table's text through `tx` in chunks of
/// about `chunk` bytes while mapping (so the server loads while the rest is encoded); its
/// payload is [`Payload::Streamed`]. Stops early when the receiver is gone.
pub(crate) fn prepare_streaming(
    account: &str,
    refunds: &[Refund],
    write: &[bool],
    tables: &'static [Table],
    mode: WriteMode,
    chunk: usize,
    tx: &tokio::sync::mpsc::Sender<Bytes>,
) -> Prepared {
    let chunk = chunk.max(1);
    let send = |buf: &mut Vec<u8>| {
        let full = std::mem::replace(buf, Vec::with_capacity(chunk + chunk / 4));
        full.is_empty() || tx.blocking_send(Bytes::from(full)).is_ok()
    };
    let (refunds, mut tables, dead) = map_all::<TextEncoding>(account, refunds, write, tables, mode, |tables| {
        let buf = &mut tables[0].enc.buf;
        buf.len() < chunk || send(buf)
    });
    send(&mut tables[0].enc.buf);
    let tables = tables
        .into_iter()
        .enumerate()
        .map(|(i, t)| TableData {
            table: t.table,
            rows: t.rows,
            payload: if i == 0 {
                Payload::Streamed
            } else {
                Payload::Text(Bytes::from(t.enc.buf))
            },
        })
        .collect();
    Prepared {
        refunds,
        tables,
        dead_letters: dead,
    }
}

/// Maps one refund into every table; on a problem, rolls every table back and returns it.
fn map_one<E: Encoding>(
    r: &Refund,
    account: &str,
    synced_at: NaiveDateTime,
    tables: &mut [TableRows<E>],
) -> Result<Vec<Range<usize>>, MapError> {
    let marks: Vec<_> = tables.iter().map(|t| t.mark()).collect();
    let starts: Vec<usize> = tables.iter().map(|t| t.rows.len()).collect();
    let mut raw = None;
    for t in tables.iter_mut() {
        match t.table {
            // The built-in layouts are mappings too (`mapping::presets`).
            // The JSON text only for a table that can read it (it costs more than a flat row).
            Table::Mapped(p) if p.reads_raw => {
                p.write(r, account, raw.get_or_insert_with(|| raw_json(r)), synced_at, t)
            }
            Table::Mapped(p) => p.write(r, account, "", synced_at, t),
            other => unreachable!("{other} is not a mapped data table"),
        }
    }
    // Take every table's problem (the first is reported), so none leaks into the next refund.
    let errors: Vec<MapError> = tables.iter_mut().filter_map(|t| t.take_error()).collect();
    if let Some(e) = errors.into_iter().next() {
        for (t, m) in tables.iter_mut().zip(marks) {
            t.rollback(m);
        }
        return Err(e);
    }
    Ok(starts
        .into_iter()
        .zip(tables.iter())
        .map(|(s, t)| s..t.rows.len())
        .collect())
}

type Mapping<E> = (Vec<Mapped>, Vec<TableRows<E>>, Vec<DeadLetter>);

/// Maps every refund with its `write` flag set; `after_each` runs after each refund and stops
/// the mapping by returning false.
fn map_all<E: Encoding>(
    account: &str,
    refunds: &[Refund],
    write: &[bool],
    tables: &'static [Table],
    mode: WriteMode,
    mut after_each: impl FnMut(&mut [TableRows<E>]) -> bool,
) -> Mapping<E> {
    let mut tables: Vec<TableRows<E>> = tables.iter().map(|t| TableRows::new(*t, account)).collect();
    let mut mapped = Vec::with_capacity(refunds.len());
    let mut dead = Vec::new();
    let synced_at = crate::mapping::now_beijing();
    for (index, r) in refunds.iter().enumerate() {
        if !write.get(index).copied().unwrap_or(true) {
            continue;
        }
        if mode == WriteMode::Upsert && r.modified.is_none() {
            dead.push(dead_letter(
                r,
                format!(
                    "refund {} has no `modified`; write mode upsert needs it to tell which copy is newer \
                     (write mode replace stores it anyway)",
                    r.refund_id
                ),
            ));
            continue;
        }
        match map_one(r, account, synced_at, &mut tables) {
            Ok(rows) => mapped.push(Mapped {
                index,
                refund_id: r.refund_id,
                rows,
                keeps_amount_lines: r.source == RefundSource::History,
            }),
            Err(e) => dead.push(dead_letter(r, format!("refund {}: {e}", r.refund_id))),
        }
        if !after_each(&mut tables) {
            break;
        }
    }
    (mapped, tables, dead)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layout;
    use chrono::NaiveDate;
    use wdt_qimen::model::RefundDetail;

    fn at(s: u32) -> Option<NaiveDateTime> {
        Some(
            NaiveDate::from_ymd_opt(2024, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, s)
                .unwrap(),
        )
    }

    fn refund(id: i64, modified: Option<NaiveDateTime>, no: &str) -> Refund {
        Refund {
            refund_id: id,
            modified,
            refund_no: Some(no.into()),
            ..Default::default()
        }
    }

    #[test]
    fn dedupe_keeps_sorted_batches_as_they_are() {
        let out = dedupe(vec![refund(1, at(5), "a"), refund(2, at(1), "b")]);
        assert_eq!(out.iter().map(|r| r.refund_id).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn dedupe_keeps_the_newest_then_the_last() {
        let out = dedupe(vec![
            refund(2, at(5), "a"),
            refund(1, at(1), "b"),
            refund(2, at(9), "c"),
            refund(2, at(3), "d"),
            refund(1, at(1), "e"),
            refund(3, None, "f"),
            refund(3, at(0), "g"),
        ]);
        let got: Vec<(i64, &str)> = out
            .iter()
            .map(|r| (r.refund_id, r.refund_no.as_deref().unwrap()))
            .collect();
        assert_eq!(got, vec![(1, "e"), (2, "c"), (3, "g")]);
    }

    #[test]
    fn unmappable_refunds_become_dead_letters_and_leave_no_rows() {
        let bad = Refund {
            refund_id: 2,
            modified: at(1),
            detail_list: vec![
                RefundDetail {
                    rec_id: Some(1),
                    ..Default::default()
                },
                RefundDetail::default(),
            ],
            ..Default::default()
        };
        let refunds = vec![refund(1, at(1), "a"), bad, refund(3, None, "c"), refund(4, at(1), "d")];
        let p = prepare(
            "shop",
            &refunds,
            &[true; 4],
            Layout::Both.data_tables(""),
            WriteMode::Upsert,
            WritePath::Infile,
        );
        assert_eq!(p.refunds.iter().map(|m| m.refund_id).collect::<Vec<_>>(), vec![1, 4]);
        assert_eq!(p.dead_letters.len(), 2);
        assert!(
            p.dead_letters[0].reason.contains("detail_list[1] has no rec_id"),
            "{:?}",
            p.dead_letters
        );
        assert!(p.dead_letters[1].reason.contains("no `modified`"));
        assert_eq!(p.dead_letters[1].key.as_deref(), Some("3"));
        // Flat: one row each; the failed refund's first line was rolled back.
        assert_eq!(
            p.tables[0].rows.iter().map(|r| r.refund_id).collect::<Vec<_>>(),
            vec![1, 4]
        );
        assert_eq!(p.refunds[1].rows[0], 1..2);
        let Payload::Text(text) = &p.tables[0].payload else {
            panic!()
        };
        assert_eq!(p.tables[0].rows[1].end, text.len());
        // Without lines the detail tables get nothing.
        assert!(p.tables[2].rows.is_empty() && p.tables[3].rows.is_empty());
        // Replace mode keeps a refund without `modified`; unset write flags skip refunds.
        let p = prepare(
            "shop",
            &refunds,
            &[true, true, true, false],
            Layout::Flat.data_tables(""),
            WriteMode::Replace,
            WritePath::Statements,
        );
        assert_eq!(
            p.refunds.iter().map(|m| (m.index, m.refund_id)).collect::<Vec<_>>(),
            vec![(0, 1), (2, 3)]
        );
    }

    #[test]
    fn only_tables_that_can_read_raw_get_the_json() {
        use crate::mapping::{presets, Mapping, MappingSpec, Transforms};
        // The flat preset never reads `raw`, so no refund is serialized for it.
        let flat = presets::mapping(Layout::Flat, "").unwrap();
        assert!(flat.tables().iter().all(|p| !p.reads_raw));
        let both = presets::mapping(Layout::Both, "").unwrap();
        assert!(both.tables().iter().any(|p| p.reads_raw));
        // A source, a concat field, an expression variable or a Rust transform can read it.
        let spec: MappingSpec = toml::from_str(
            r#"
[[tables]]
name = "t"
grain = "refund"
columns = [
  { name = "refund_id", type = "BIGINT", source = "refund_id" },
  { name = "modified", type = "DATETIME(3)", source = "modified" },
  { name = "n", type = "BIGINT", transforms = [{ expr = "raw.len()" }] },
  { name = "c", type = "TEXT", source = "refund_no", transforms = [{ concat = { fields = ["raw"], separator = "|" } }] },
]
"#,
        )
        .unwrap();
        let mapping = Mapping::compile(&spec, "").unwrap();
        assert!(mapping.tables()[0].reads_raw);
        let r = refund(1, at(1), "a");
        let p = prepare(
            "shop",
            std::slice::from_ref(&r),
            &[true],
            mapping.data_tables(),
            WriteMode::Upsert,
            WritePath::Infile,
        );
        let Payload::Text(text) = &p.tables[0].payload else {
            panic!()
        };
        let text = String::from_utf8(text.to_vec()).unwrap();
        let json = raw_json(&r);
        assert!(text.contains(&format!("\t{}\t", json.chars().count())), "{text}");
        assert!(text.contains(&format!("a|{json}")), "{text}");
        for (code, reads) in [("refund_no", false), ("raw", true)] {
            let spec: MappingSpec = toml::from_str(&format!(
                r#"
[[tables]]
name = "t"
grain = "refund"
columns = [
  {{ name = "refund_id", type = "BIGINT", source = "refund_id" }},
  {{ name = "e", type = "TEXT", transforms = [{{ expr = "{code}" }}] }},
]
"#
            ))
            .unwrap();
            assert_eq!(
                Mapping::compile(&spec, "").unwrap().tables()[0].reads_raw,
                reads,
                "{code}"
            );
        }
        let spec: MappingSpec = toml::from_str(
            r#"
[[tables]]
name = "t"
grain = "refund"
columns = [
  { name = "refund_id", type = "BIGINT", source = "refund_id" },
  { name = "x", type = "TEXT", source = "refund_no", transforms = [{ custom = "same" }] },
]
"#,
        )
        .unwrap();
        let custom = Transforms::new().with_fn("same", |v| Ok(v));
        assert!(Mapping::compile_with(&spec, "", &custom).unwrap().tables()[0].reads_raw);
    }

    #[test]
    fn streaming_sends_the_same_text_in_chunks() {
        let refunds: Vec<Refund> = (1..=50)
            .map(|i| Refund {
                refund_id: i,
                modified: at(1),
                detail_list: (0..(i % 3))
                    .map(|k| RefundDetail {
                        rec_id: Some(k),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        let mut write = vec![true; 50];
        write[7] = false;
        let whole = prepare(
            "shop",
            &refunds,
            &write,
            Layout::Both.data_tables(""),
            WriteMode::Upsert,
            WritePath::Infile,
        );
        let (tx, mut rx) = tokio::sync::mpsc::channel(1000);
        let streamed = prepare_streaming(
            "shop",
            &refunds,
            &write,
            Layout::Both.data_tables(""),
            WriteMode::Upsert,
            1000,
            &tx,
        );
        drop(tx);
        let mut chunks = Vec::new();
        while let Ok(c) = rx.try_recv() {
            chunks.push(c);
        }
        assert!(chunks.len() > 3 && chunks.iter().all(|c| c.len() < 1000 + 2000));
        let Payload::Text(text) = &whole.tables[0].payload else {
            panic!()
        };
        assert_eq!(chunks.concat(), text.to_vec());
        assert!(matches!(streamed.tables[0].payload, Payload::Streamed));
        let keys = |p: &Prepared| {
            p.tables[0]
                .rows
                .iter()
                .map(|r| (r.refund_id, r.sub_key))
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&streamed), keys(&whole));
        assert_eq!(streamed.refunds.len(), 49);
        let Payload::Text(second) = &streamed.tables[1].payload else {
            panic!()
        };
        assert!(matches!(&whole.tables[1].payload, Payload::Text(t) if t == second));
    }
}
