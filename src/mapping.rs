//! Your own tables: where an account's mapping comes from (the files its `mapping` key names,
//! `preset:flat` / `preset:normalized`, or the config file's own `[[tables]]`), and the
//! `mapping check` subcommand (the DDL, and sample rows mapped from the simulator).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use refund_sink_mysql::mapping::{presets, Preview};
use refund_sink_mysql::schema::{create_table_sql, Table};
use refund_sink_mysql::{Dialect, Layout, Mapping, MappingSpec, TableNames};

use crate::config::file::ConfigFile;
use crate::error::AppError;

/// What a `mapping` entry names: a preset or a file.
pub const PRESET_PREFIX: &str = "preset:";

/// Reads the mapping of `entries` (files relative to `base`, or `preset:flat` /
/// `preset:normalized`), their tables in order; `key` names the setting in errors.
pub fn load(entries: &[String], base: &Path, key: &str) -> Result<MappingSpec, AppError> {
    let mut spec = MappingSpec::default();
    for entry in entries {
        if let Some(name) = entry.strip_prefix(PRESET_PREFIX) {
            let layout = match name.trim() {
                "flat" => Layout::Flat,
                "normalized" => Layout::Normalized,
                other => {
                    return Err(AppError::setting(
                        key,
                        format!("{entry:?}"),
                        format!("there is no preset {other:?}"),
                        "use preset:flat or preset:normalized (or a file path)",
                    ))
                }
            };
            spec.tables.extend(presets::spec(layout).unwrap_or_default().tables);
            continue;
        }
        let path: PathBuf = if Path::new(entry).is_absolute() {
            entry.into()
        } else {
            base.join(entry)
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            AppError::setting(
                key,
                format!("{entry:?}"),
                format!("cannot read the mapping file {}: {e}", path.display()),
                "check the path (relative to the config file)",
            )
        })?;
        let file: MappingSpec = parse(&path, &text)?;
        spec.tables.extend(file.tables);
    }
    Ok(spec)
}

/// Parses a mapping file's text (read from `path`).
pub fn parse(path: &Path, text: &str) -> Result<MappingSpec, AppError> {
    crate::config::file::parse_toml(path, text)
}

/// Compiles `spec` for tables under `prefix`; `key` names the setting in errors. Accounts that
/// share a mapping and a prefix share one compiled mapping (it lives as long as the process).
pub fn compile(spec: &MappingSpec, prefix: &str, key: &str) -> Result<&'static Mapping, AppError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static COMPILED: OnceLock<Mutex<HashMap<(String, String), &'static Mapping>>> = OnceLock::new();
    let id = (serde_json::to_string(spec).unwrap_or_default(), prefix.to_owned());
    let mut compiled = COMPILED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(m) = compiled.get(&id) {
        return Ok(m);
    }
    let m = Mapping::compile(spec, prefix).map_err(|source| AppError::Mapping {
        key: key.to_owned(),
        source,
    })?;
    compiled.insert(id, m);
    Ok(m)
}

/// The inline `[[tables]]` of a config file, as a mapping.
pub fn inline(file: &ConfigFile) -> MappingSpec {
    MappingSpec {
        tables: file.tables.clone(),
    }
}

/// Tables as `CREATE TABLE` statements for MariaDB (on MySQL only the byte-for-byte key
/// collation is spelled differently).
pub fn ddl(mapping: &Mapping, prefix: &str) -> Result<Vec<String>, AppError> {
    let names = TableNames::new(prefix)
        .map_err(|e| AppError::setting("table_prefix", prefix, e.to_string(), "fix the prefix"))?;
    let dialect = Dialect::mariadb((10, 11, 0));
    Ok(mapping
        .tables()
        .iter()
        .map(|p| format!("{};", create_table_sql(Table::Mapped(p), &names, &dialect)))
        .collect())
}

/// The width of `s` on a terminal (CJK characters take two cells).
fn width(s: &str) -> usize {
    s.chars().map(|c| if c >= '\u{1100}' { 2 } else { 1 }).sum()
}

/// Rows as text: per table, at most `max_rows` rows, each as `column = value` lines.
pub fn render_rows(previews: &[Preview], max_rows: usize) -> String {
    let mut out = String::new();
    for p in previews {
        let shown = p.rows.len().min(max_rows);
        let _ = writeln!(out, "-- {}: {} row(s), {shown} shown", p.table, p.rows.len());
        for (i, row) in p.rows.iter().take(max_rows).enumerate() {
            let _ = writeln!(out, "  row {}:", i + 1);
            let w = p.columns.iter().map(|c| width(c)).max().unwrap_or(0);
            for (c, v) in p.columns.iter().zip(row) {
                let pad = w - width(c);
                let _ = writeln!(
                    out,
                    "    {c}{} = {}",
                    " ".repeat(pad),
                    v.as_deref().map_or_else(|| "NULL".to_owned(), |v| format!("{v:?}"))
                );
            }
        }
        for e in &p.errors {
            let _ = writeln!(out, "  dead letter: {e}");
        }
    }
    out
}

/// `mapping check`: every account's tables (once per distinct mapping and prefix) as DDL, then
/// `samples` refunds of the simulator mapped to rows.
#[cfg(feature = "simulator")]
pub async fn check(plan: &crate::config::Plan, samples: usize) -> Result<String, AppError> {
    use wdt_qimen::model::decode_refund_value;
    let sim = wdt_qimen::simulator::Simulator::builder()
        .refunds(200)
        .seed(7)
        .start()
        .await;
    // Refunds with lines first, and one of each route's shapes.
    let mut refunds: Vec<_> = sim
        .snapshot()
        .iter()
        .filter_map(|v| decode_refund_value(v).ok())
        .filter(|r| !r.detail_list.is_empty())
        .take(samples)
        .collect();
    refunds.sort_by_key(|r| r.refund_id);
    let mut out = String::new();
    let mut seen: Vec<(*const Mapping, String)> = Vec::new();
    for a in &plan.accounts {
        let mapping = a.layout.mapping(&a.table_prefix);
        let id = (mapping as *const Mapping, a.table_prefix.clone());
        if seen.contains(&id) {
            let _ = writeln!(out, "== account {:?}: the same tables as above", a.name);
            continue;
        }
        seen.push(id);
        let _ = writeln!(
            out,
            "== account {:?}: layout {}, {} table(s)",
            a.name,
            a.layout,
            mapping.tables().len()
        );
        for sql in ddl(mapping, &a.table_prefix)? {
            let _ = writeln!(out, "{sql}\n");
        }
        let _ = writeln!(out, "-- {} sample refund(s) from the simulator, mapped:", refunds.len());
        out.push_str(&render_rows(&mapping.preview(&refunds, &a.name), samples));
    }
    Ok(out)
}
