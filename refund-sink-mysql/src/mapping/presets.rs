//! The built-in layouts as mappings: [`FLAT`] (`aftersales_refund_refund_search`) and
//! [`NORMALIZED`] (`wdt_refund`, `wdt_refund_detail`, `wdt_refund_amount_detail`), the files in
//! the crate's `presets/` folder. They are written in the same form as your own mappings (copy
//! one to start from), and the sink writes the built-in layouts through them.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::{Mapping, MappingSpec};
use crate::Layout;

/// `presets/flat.toml`: the flat layout.
pub const FLAT: &str = include_str!("../../presets/flat.toml");
/// `presets/normalized.toml`: the normalized layout.
pub const NORMALIZED: &str = include_str!("../../presets/normalized.toml");

/// The mapping of a built-in layout (flat, normalized or both), `None` for a mapping layout.
pub fn spec(layout: Layout) -> Option<MappingSpec> {
    let parse = |text: &str| -> MappingSpec { toml::from_str(text).expect("the built-in presets parse") };
    Some(match layout {
        Layout::Flat => parse(FLAT),
        Layout::Normalized => parse(NORMALIZED),
        Layout::Both => {
            let mut both = parse(FLAT);
            both.tables.extend(parse(NORMALIZED).tables);
            both
        }
        _ => return None,
    })
}

/// The compiled mapping of a built-in layout under `prefix` (compiled once per layout and
/// prefix).
pub fn mapping(layout: Layout, prefix: &str) -> Option<&'static Mapping> {
    static CACHE: OnceLock<Mutex<HashMap<(String, String), &'static Mapping>>> = OnceLock::new();
    if matches!(layout, Layout::Mapped(_)) {
        return None;
    }
    let key = (layout.as_str().to_owned(), prefix.to_owned());
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(m) = cache.get(&key) {
        return Some(m);
    }
    let spec = spec(layout)?;
    let m = Mapping::compile_preset(&spec, prefix).expect("the built-in presets compile");
    cache.insert(key, m);
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::Dialect;
    use crate::encode::TextEncoding;
    use crate::flat::write_flat;
    use crate::mapping::source::{self, Level};
    use crate::mapping::value::Kind;
    use crate::names::TableNames;
    use crate::normalized::{write_amount_details, write_details, write_refund};
    use crate::prepare::raw_json;
    use crate::row::TableRows;
    use crate::schema::{create_table_sql, Table};
    use wdt_qimen::model::{decode_refund_value, Refund, RefundSource};

    /// A refund with every field of every level set (two lines, two amount lines).
    fn filled(id: i64) -> Refund {
        let value = |kind: Kind, n: i64| -> serde_json::Value {
            match kind {
                Kind::Int => serde_json::json!(n),
                Kind::Dec => serde_json::json!(format!("{n}.125")),
                Kind::Time => serde_json::json!(format!("2024-03-0{} 10:11:12", n % 9 + 1)),
                Kind::Bool => serde_json::json!(n % 2 == 0),
                _ => serde_json::json!(format!("文本\t{n}\\N")),
            }
        };
        let mut refund = serde_json::Map::new();
        let line = |k: i64| {
            let mut m = serde_json::Map::new();
            for f in source::fields().filter(|f| f.level == Level::Line) {
                let key = f.path.trim_start_matches("detail_list.");
                m.insert(key.into(), value(f.kind, k * 10 + key.len() as i64));
            }
            m.insert("rec_id".into(), serde_json::json!(k));
            serde_json::Value::Object(m)
        };
        let lines = vec![line(1), line(2)];
        let amount = |k: i64| {
            let mut m = serde_json::Map::new();
            for f in source::fields().filter(|f| f.level == Level::Amount) {
                let key = f.path.trim_start_matches("amount_detail_list.");
                m.insert(key.into(), value(f.kind, k + key.len() as i64));
            }
            m.insert("rec_id".into(), serde_json::json!(k));
            serde_json::Value::Object(m)
        };
        for f in source::fields()
            .filter(|f| f.level == Level::Refund && !matches!(f.path, "account" | "raw" | "synced_at" | "source"))
        {
            refund.insert(f.path.into(), value(f.kind, f.path.len() as i64));
        }
        refund.insert("refund_id".into(), serde_json::json!(id));
        refund.insert("detail_list".into(), serde_json::Value::Array(lines));
        refund.insert(
            "amount_detail_list".into(),
            serde_json::Value::Array(vec![amount(5), amount(6)]),
        );
        decode_refund_value(&serde_json::Value::Object(refund)).expect("the filled refund decodes")
    }

    fn samples() -> Vec<Refund> {
        let mut v = vec![filled(1), filled(2)];
        v[1].source = RefundSource::History;
        v[1].detail_list.truncate(1);
        v.push(Refund {
            refund_id: 3,
            ..Default::default()
        });
        let mut dup = filled(4);
        dup.detail_list[1].rec_id = dup.detail_list[0].rec_id;
        dup.amount_detail_list[1].rec_id = None;
        v.push(dup);
        let mut bad = filled(5);
        bad.actual_refund_amount = Some("1234567890123456.5".parse().unwrap());
        v.push(bad);
        v
    }

    fn old(table: Table, r: &Refund, t: &mut TableRows<TextEncoding>) {
        match table {
            Table::Flat => write_flat(r, t),
            Table::Refund => write_refund(r, &raw_json(r), t),
            Table::RefundDetail => write_details(r, t),
            Table::RefundAmountDetail => write_amount_details(r, t),
            _ => unreachable!(),
        }
    }

    #[tokio::test]
    async fn the_presets_write_byte_for_byte_what_the_built_in_tables_hold() {
        let sim = wdt_qimen::simulator::Simulator::builder().refunds(200).start().await;
        let mut refunds: Vec<Refund> = sim.snapshot().iter().map(|v| decode_refund_value(v).unwrap()).collect();
        refunds.extend(samples());
        let names = TableNames::new("p_").unwrap();
        let dialect = Dialect::mariadb((10, 11, 0));
        let preset = mapping(Layout::Both, "p_").unwrap();
        let builtin = [
            Table::Flat,
            Table::Refund,
            Table::RefundDetail,
            Table::RefundAmountDetail,
        ];
        assert_eq!(preset.data_tables().len(), builtin.len());
        for (b, m) in builtin.iter().zip(preset.data_tables()) {
            assert_eq!(
                create_table_sql(*b, &names, &dialect),
                create_table_sql(*m, &names, &dialect)
            );
            assert_eq!(b.primary_key(), m.primary_key());
            assert_eq!(b.version_column(), m.version_column(), "{b}");
            assert_eq!(b.state_key(), m.state_key());
            let Table::Mapped(plan) = m else { panic!() };
            let mut want = TableRows::<TextEncoding>::new(*b, "shop");
            let mut got = TableRows::<TextEncoding>::new(*m, "shop");
            let now = crate::mapping::now_beijing();
            let mut failures = 0;
            for r in &refunds {
                let (mw, mg) = (want.mark(), got.mark());
                old(*b, r, &mut want);
                plan.write(r, "shop", &raw_json(r), now, &mut got);
                let (ew, eg) = (want.take_error(), got.take_error());
                assert_eq!(
                    ew.is_some(),
                    eg.is_some(),
                    "{b} refund {}: {ew:?} vs {eg:?}",
                    r.refund_id
                );
                if let (Some(ew), Some(eg)) = (ew, eg) {
                    assert_eq!((ew.column, ew.problem), (eg.column, eg.problem), "{b}");
                    want.rollback(mw);
                    got.rollback(mg);
                    failures += 1;
                }
            }
            assert!(failures >= 1, "{b}: the samples include refunds that fail");
            assert_eq!(want.rows, got.rows, "{b}: row keys");
            assert!(want.enc.buf == got.enc.buf, "{b}: the encoded rows differ");
            assert!(!want.rows.is_empty());
        }
    }

    #[test]
    fn both_is_flat_then_normalized_and_prefixes_are_kept_apart() {
        let a = mapping(Layout::Flat, "a_").unwrap();
        let b = mapping(Layout::Flat, "b_").unwrap();
        assert_eq!(a.tables()[0].name(), "a_aftersales_refund_refund_search");
        assert_eq!(b.tables()[0].name(), "b_aftersales_refund_refund_search");
        assert!(std::ptr::eq(a, mapping(Layout::Flat, "a_").unwrap()), "compiled once");
        // The refund's JSON is made only for a table that reads it (wdt_refund.raw_json).
        assert!(!a.tables()[0].reads_raw);
        let uses: Vec<bool> = mapping(Layout::Normalized, "")
            .unwrap()
            .tables()
            .iter()
            .map(|t| t.reads_raw)
            .collect();
        assert_eq!(uses, [true, false, false]);
        let names: Vec<&str> = mapping(Layout::Both, "")
            .unwrap()
            .tables()
            .iter()
            .map(|t| t.name())
            .collect();
        assert_eq!(
            names,
            [
                "aftersales_refund_refund_search",
                "wdt_refund",
                "wdt_refund_detail",
                "wdt_refund_amount_detail"
            ]
        );
    }
}
