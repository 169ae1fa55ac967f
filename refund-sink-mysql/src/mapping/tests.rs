//! The mapping engine end to end: every transform (its use and its edge), every refusal of
//! [`Mapping::compile`] (naming the table, the column, the value and the fix), the checks of a
//! value against its column when a row is written (a dead letter naming the column, never a
//! silently wrong value), and malformed mappings.
//!
//! Each test writes its mapping in TOML, as a user does, and reads the rows back through
//! [`Mapping::preview`].

use serde_json::json;
use wdt_qimen::model::{decode_refund_value, Refund};

use super::source::{self, Level};
use super::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Compiles a mapping written in TOML (TOML that does not parse fails the test: see
/// [`parse`] for the tests of malformed mappings).
fn compile(text: &str) -> Result<&'static Mapping, MappingError> {
    compile_with(text, "", &Transforms::new())
}

/// As [`compile`], with a table prefix and custom transforms.
fn compile_with(text: &str, prefix: &str, custom: &Transforms) -> Result<&'static Mapping, MappingError> {
    let spec = parse(text).unwrap_or_else(|e| panic!("the test's mapping does not parse: {e}\n{text}"));
    Mapping::compile_with(&spec, prefix, custom)
}

/// Parses a mapping, returning the TOML error as text.
fn parse(text: &str) -> Result<MappingSpec, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

/// The refund id column.
const ID: &str = r#"{ name = "id", type = "BIGINT", source = "refund_id" }"#;
/// The detail line key column.
const REC: &str = r#"{ name = "rec", type = "BIGINT", source = "detail_list.rec_id" }"#;
/// The amount line key column.
const AREC: &str = r#"{ name = "rec", type = "BIGINT", source = "amount_detail_list.rec_id" }"#;

/// A mapping of one table `t` of `grain` with `columns` (inline TOML tables).
fn table(grain: &str, columns: &[&str]) -> String {
    format!(
        "[[tables]]\nname = \"t\"\ngrain = \"{grain}\"\ncolumns = [\n  {},\n]\n",
        columns.join(",\n  ")
    )
}

/// A refund-grain table `t`: the refund id and `column`.
fn column(column: &str) -> Result<&'static Mapping, MappingError> {
    compile(&table("refund", &[ID, column]))
}

/// Why `column` (in a refund-grain table `t`) is refused.
#[track_caller]
fn refused(c: &str) -> MappingError {
    match column(c) {
        Ok(_) => panic!("{c} compiled"),
        Err(e) => e,
    }
}

/// Asserts that `e` names table `t`, `column`, and every one of `parts` (the value, the fix).
#[track_caller]
fn assert_names(e: &MappingError, column: Option<&str>, parts: &[&str]) {
    assert_eq!(e.table, "t", "{e}");
    assert_eq!(e.column.as_deref(), column, "{e}");
    let text = e.to_string();
    for p in parts {
        assert!(text.contains(p), "{text:?} does not mention {p:?}");
    }
}

/// A refund from WDT's JSON (refund id 1 unless given).
fn refund(fields: serde_json::Value) -> Refund {
    let mut v = json!({ "refund_id": 1 });
    v.as_object_mut()
        .unwrap()
        .extend(fields.as_object().expect("an object").clone());
    decode_refund_value(&v).expect("the test refund decodes")
}

/// The rows of the mapping's first table for `refunds`, as text, and the dead letters.
fn rows(m: &Mapping, refunds: &[Refund]) -> (Vec<Vec<Option<String>>>, Vec<String>) {
    let p = m.preview(refunds, "shop").remove(0);
    (p.rows, p.errors)
}

/// The value of column `c` of the one row `m` maps `r` to, or the dead letter's reason.
#[track_caller]
fn cell_of(m: &Mapping, r: &Refund) -> Result<Option<String>, String> {
    let p = m.preview(std::slice::from_ref(r), "shop").remove(0);
    let at = p.columns.iter().position(|c| c == "c").expect("a column c");
    match (p.rows.as_slice(), p.errors.as_slice()) {
        ([row], []) => Ok(row[at].clone()),
        ([], [e]) => Err(e.clone()),
        other => panic!("one row or one dead letter, not {other:?}"),
    }
}

/// The value column `c` (refund grain) takes for `r`, or the dead letter's reason.
#[track_caller]
fn value(c: &str, r: &Refund) -> Result<Option<String>, String> {
    let m = column(c).unwrap_or_else(|e| panic!("{e}"));
    cell_of(m, r)
}

/// As [`value`], for a value that maps.
#[track_caller]
fn text(c: &str, r: &Refund) -> Option<String> {
    value(c, r).unwrap_or_else(|e| panic!("{c}: {e}"))
}

/// As [`value`], for a record that becomes a dead letter: asserts it names column `c`.
#[track_caller]
fn dead(c: &str, r: &Refund) -> String {
    match value(c, r) {
        Ok(v) => panic!("{c} mapped to {v:?}"),
        Err(e) => {
            assert!(e.contains("t.c: "), "{e:?} does not name the column");
            e
        }
    }
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Transforms
// ---------------------------------------------------------------------------------------------

#[test]
fn timezone_converts_beijing_time() {
    let r = refund(json!({ "modified": "2024-03-01 01:11:12" }));
    let c = |zone: &str| {
        format!(r#"{{ name = "c", type = "DATETIME", source = "modified", transforms = [{{ timezone = "{zone}" }}] }}"#)
    };
    assert_eq!(text(&c("utc"), &r), some("2024-02-29 17:11:12"));
    assert_eq!(text(&c("UTC"), &r), some("2024-02-29 17:11:12"));
    assert_eq!(text(&c("beijing"), &r), some("2024-03-01 01:11:12"));
    assert_eq!(text(&c("+08:00"), &r), some("2024-03-01 01:11:12"));
    assert_eq!(text(&c("+09:00"), &r), some("2024-03-01 02:11:12"));
    assert_eq!(text(&c("-05:30"), &r), some("2024-02-29 11:41:12"));
    // NULL stays NULL.
    assert_eq!(text(&c("utc"), &refund(json!({}))), None);
    for bad in ["Asia/Tokyo", "+0900", "+15:00", "+09:60", "", "9"] {
        let e = refused(&c(bad));
        assert_names(&e, Some("c"), &["timezone", &format!("{bad:?}"), "\"+09:00\""]);
    }
    let e =
        refused(r#"{ name = "c", type = "VARCHAR(9)", source = "refund_no", transforms = [{ timezone = "utc" }] }"#);
    assert_names(&e, Some("c"), &["transform 1 (timezone)", "datetime", "text"]);
}

#[test]
fn format_writes_times_and_dates_as_text_and_bad_patterns_are_refused() {
    let r = refund(json!({ "created": "2024-03-01 10:11:12" }));
    let c = |pattern: &str| {
        format!(
            r#"{{ name = "c", type = "VARCHAR(32)", source = "created", transforms = [{{ format = "{pattern}" }}] }}"#
        )
    };
    assert_eq!(text(&c("%Y/%m/%d %H:%M:%S"), &r), some("2024/03/01 10:11:12"));
    assert_eq!(text(&c("%Y年%m月"), &r), some("2024年03月"));
    let date =
        r#"{ name = "c", type = "VARCHAR(32)", source = "created", transforms = ["date", { format = "%d.%m.%Y" }] }"#;
    assert_eq!(text(date, &r), some("01.03.2024"));
    assert_eq!(text(&c("%Y"), &refund(json!({}))), None);
    // Refused when the mapping is compiled, not per row.
    for bad in ["%Q", "%Y-%", "%z"] {
        let e = refused(&c(bad));
        assert_names(
            &e,
            Some("c"),
            &["transform 1 (format)", &format!("{bad:?}"), "strftime", "%Y-%m-%d"],
        );
    }
    // A date has no time of day.
    let e = refused(
        r#"{ name = "c", type = "VARCHAR(32)", source = "created", transforms = ["date", { format = "%H:%M" }] }"#,
    );
    assert_names(&e, Some("c"), &["transform 2 (format)", "\"%H:%M\"", "date"]);
    let e = refused(
        r#"{ name = "c", type = "VARCHAR(32)", source = "actual_refund_amount", transforms = [{ format = "%Y" }] }"#,
    );
    assert_names(&e, Some("c"), &["a datetime or a date", "decimal"]);
}

#[test]
fn date_keeps_the_day() {
    let c = r#"{ name = "c", type = "DATE", source = "created", transforms = ["date"] }"#;
    assert_eq!(
        text(c, &refund(json!({ "created": "2024-03-01 23:59:59" }))),
        some("2024-03-01")
    );
    assert_eq!(text(c, &refund(json!({}))), None);
    let e = refused(r#"{ name = "c", type = "DATE", source = "refund_no", transforms = ["date"] }"#);
    assert_names(&e, Some("c"), &["transform 1 (date)", "datetime", "text"]);
}

#[test]
fn round_honours_every_mode() {
    let c = |places: u32, mode: &str| {
        format!(
            r#"{{ name = "c", type = "VARCHAR(16)", source = "actual_refund_amount", transforms = [{{ round = {{ places = {places}, mode = "{mode}" }} }}] }}"#
        )
    };
    let round = |amount: &str, places: u32, mode: &str| {
        text(&c(places, mode), &refund(json!({ "actual_refund_amount": amount }))).unwrap()
    };
    // half_up (the default) is half away from zero; half_even is the banker's rounding.
    let short =
        r#"{ name = "c", type = "VARCHAR(16)", source = "actual_refund_amount", transforms = [{ round = 2 }] }"#;
    assert_eq!(
        text(short, &refund(json!({ "actual_refund_amount": "2.345" }))),
        some("2.35")
    );
    assert_eq!(round("2.345", 2, "half_up"), "2.35");
    assert_eq!(round("-2.345", 2, "half_up"), "-2.35");
    assert_eq!(round("2.345", 2, "half_even"), "2.34");
    assert_eq!(round("2.355", 2, "half_even"), "2.36");
    assert_eq!(round("0.5", 0, "half_up"), "1");
    assert_eq!(round("0.5", 0, "half_even"), "0");
    assert_eq!(round("1.5", 0, "half_even"), "2");
    assert_eq!(round("2.5", 0, "half_even"), "2");
    assert_eq!(round("2.349", 2, "down"), "2.34");
    assert_eq!(round("-2.349", 2, "down"), "-2.34");
    assert_eq!(round("2.341", 2, "up"), "2.35");
    assert_eq!(round("-2.341", 2, "up"), "-2.35");
    assert_eq!(round("-2.341", 2, "floor"), "-2.35");
    assert_eq!(round("2.349", 2, "floor"), "2.34");
    assert_eq!(round("-2.349", 2, "ceiling"), "-2.34");
    assert_eq!(round("2.341", 2, "ceiling"), "2.35");
    // Fewer places than asked for: unchanged.
    assert_eq!(round("2.3", 2, "half_up"), "2.3");
    // Integers pass unchanged (and stay integers, for an INT column).
    let int = r#"{ name = "c", type = "INT", source = "note_count", transforms = [{ round = 2 }] }"#;
    assert_eq!(text(int, &refund(json!({ "note_count": 7 }))), some("7"));
    assert_eq!(text(short, &refund(json!({}))), None);

    let e = refused(&c(2, "banker"));
    assert_names(
        &e,
        Some("c"),
        &["\"banker\"", "half_up, half_even, down, up, floor or ceiling"],
    );
    let e = refused(&c(29, "half_up"));
    assert_names(&e, Some("c"), &["28 places", "29"]);
    let e = refused(r#"{ name = "c", type = "DECIMAL(12,4)", source = "refund_no", transforms = [{ round = 2 }] }"#);
    assert_names(&e, Some("c"), &["transform 1 (round)", "a number", "text"]);
}

#[test]
fn multiply_and_divide_are_exact() {
    let fen = r#"{ name = "c", type = "BIGINT", source = "actual_refund_amount", transforms = [{ multiply = 100 }] }"#;
    assert_eq!(
        text(fen, &refund(json!({ "actual_refund_amount": "19.99" }))),
        some("1999")
    );
    assert_eq!(text(fen, &refund(json!({ "actual_refund_amount": "0.07" }))), some("7"));
    assert_eq!(text(fen, &refund(json!({}))), None);
    // A fraction of a fen left is no whole number: refused, not cut.
    let e = dead(fen, &refund(json!({ "actual_refund_amount": "19.995" })));
    assert!(e.contains("1999.500") && e.contains("round it first"), "{e}");
    let cents = r#"{ name = "c", type = "DECIMAL(10,2)", source = "actual_refund_amount", transforms = [{ multiply = "0.01" }] }"#;
    assert_eq!(
        text(cents, &refund(json!({ "actual_refund_amount": "1999" }))),
        some("19.99")
    );
    let yuan = r#"{ name = "c", type = "DECIMAL(10,2)", source = "note_count", transforms = [{ divide = 100 }] }"#;
    assert_eq!(text(yuan, &refund(json!({ "note_count": 1999 }))), some("19.99"));
    // 1/3 keeps 28 places, which DECIMAL(10,2) cannot hold: refused unless rounded.
    let third = r#"{ name = "c", type = "DECIMAL(10,2)", source = "note_count", transforms = [{ divide = 3 }] }"#;
    assert!(dead(third, &refund(json!({ "note_count": 1 }))).contains("round it first"));
    let third = r#"{ name = "c", type = "DECIMAL(10,2)", source = "note_count", transforms = [{ divide = 3 }, { round = 2 }] }"#;
    assert_eq!(text(third, &refund(json!({ "note_count": 1 }))), some("0.33"));
    // An overflow is the record's dead letter.
    let huge = r#"{ name = "c", type = "DECIMAL(65,0)", source = "note_count", transforms = [{ multiply = "10000000000000000000" }, { multiply = "10000000000000000000" }] }"#;
    assert!(dead(huge, &refund(json!({ "note_count": 1 }))).contains("overflows"));

    let e = refused(r#"{ name = "c", type = "DECIMAL(10,2)", source = "note_count", transforms = [{ divide = 0 }] }"#);
    assert_names(&e, Some("c"), &["transform 1 (divide)", "divide by 0"]);
    let e =
        refused(r#"{ name = "c", type = "DECIMAL(10,2)", source = "note_count", transforms = [{ divide = "0.00" }] }"#);
    assert_names(&e, Some("c"), &["divide by 0"]);
    for bad in [r#""abc""#, "true", r#""1,5""#] {
        let e = refused(&format!(
            r#"{{ name = "c", type = "DECIMAL(10,2)", source = "note_count", transforms = [{{ multiply = {bad} }}] }}"#
        ));
        assert_names(
            &e,
            Some("c"),
            &["transform 1 (multiply)", bad, "write a number such as 100 or \"0.01\""],
        );
    }
    let e = refused(r#"{ name = "c", type = "BIGINT", source = "refund_no", transforms = [{ multiply = 100 }] }"#);
    assert_names(&e, Some("c"), &["a number", "text"]);
}

#[test]
fn every_builtin_label_map_labels_every_known_code() {
    let code_fields: Vec<&source::Field> = source::fields().filter(|f| f.labels.is_some()).collect();
    let paths: Vec<&str> = code_fields.iter().map(|f| f.path).collect();
    assert_eq!(
        paths,
        [
            "type",
            "stockin_status",
            "from_type",
            "status",
            "warehouse_type",
            "process_status",
            "consign_mode",
            "rr_status",
            "detail_list.gift_type",
            "amount_detail_list.refund_type"
        ]
    );
    for f in code_fields {
        let known = (f.labels.unwrap())();
        assert!(!known.is_empty(), "{}", f.path);
        let (grain, key, list) = match f.level {
            Level::Refund => ("refund", None, None),
            Level::Line => ("detail", Some(REC), Some("detail_list")),
            Level::Amount => ("amount_detail", Some(AREC), Some("amount_detail_list")),
        };
        let c = format!(
            r#"{{ name = "c", type = "VARCHAR(16)", source = "{0}", transforms = [{{ labels = "{0}" }}] }}"#,
            f.path
        );
        let mut columns = vec![ID];
        columns.extend(key);
        columns.push(&c);
        let m = compile(&table(grain, &columns)).unwrap_or_else(|e| panic!("{e}"));
        for (code, label) in known {
            let name = f.path.rsplit('.').next().unwrap();
            let r = match list {
                None => refund(json!({ name: code })),
                Some(list) => refund(json!({ list: [{ "rec_id": 1, name: code }] })),
            };
            assert_eq!(cell_of(m, &r), Ok(some(label)), "{} {code}", f.path);
        }
    }
}

#[test]
fn labels_own_maps_extensions_and_defaults() {
    let done = refund(json!({ "status": 90 }));
    let odd = refund(json!({ "status": 55 }));
    let builtin = r#"{ name = "c", type = "VARCHAR(8)", source = "status", transforms = [{ labels = "status" }] }"#;
    let label_90 = wdt_qimen::model::RefundStatus::from(90).label();
    assert_eq!(text(builtin, &done), some(label_90));
    assert_eq!(text(builtin, &refund(json!({}))), None, "NULL is no code");
    // A code the map does not know, with no default: the record is a dead letter naming the
    // column and the code.
    let e = dead(builtin, &odd);
    assert!(
        e.contains("code 55") && e.contains("add it to the map, or a default"),
        "{e}"
    );

    let own = r#"{ name = "c", type = "VARCHAR(8)", source = "status", transforms = [{ labels = { map = { "90" = "完成", " 55 " = "五五" } } }] }"#;
    assert_eq!(text(own, &done), some("完成"));
    assert_eq!(text(own, &odd), some("五五"), "keys are trimmed");
    assert!(dead(own, &refund(json!({ "status": 10 }))).contains("code 10"));
    let with_default = r#"{ name = "c", type = "VARCHAR(8)", source = "status", transforms = [{ labels = { map = { "90" = "完成" }, default = "其他" } }] }"#;
    assert_eq!(text(with_default, &odd), some("其他"));
    // Extending a built-in map: its own entries win, the built-in ones remain.
    let extended = r#"{ name = "c", type = "VARCHAR(8)", source = "status", transforms = [{ labels = { builtin = "status", map = { "90" = "已完成!", "55" = "新状态" } } }] }"#;
    assert_eq!(text(extended, &done), some("已完成!"));
    assert_eq!(text(extended, &odd), some("新状态"));
    let label_10 = wdt_qimen::model::RefundStatus::from(10).label();
    assert_eq!(text(extended, &refund(json!({ "status": 10 }))), some(label_10));
    // Text codes (the record's source), and a map with only a default.
    let source = r#"{ name = "c", type = "VARCHAR(8)", source = "source", transforms = [{ labels = { map = { "live" = "在线", "history" = "归档" } } }] }"#;
    assert_eq!(text(source, &refund(json!({}))), some("在线"));
    let only_default = r#"{ name = "c", type = "VARCHAR(8)", source = "status", transforms = [{ labels = { map = {}, default = "-" } }] }"#;
    assert_eq!(text(only_default, &done), some("-"));

    // Refused when compiled: a label longer than the column, a decimal, an unknown map.
    let e = refused(r#"{ name = "c", type = "VARCHAR(2)", source = "status", transforms = [{ labels = "status" }] }"#);
    assert_names(
        &e,
        Some("c"),
        &["transform 1 (labels)", "characters", "holds 2", "widen the column"],
    );
    let e = refused(
        r#"{ name = "c", type = "VARCHAR(2)", source = "status", transforms = [{ labels = { map = { "1" = "a" }, default = "其他的" } }] }"#,
    );
    assert_names(&e, Some("c"), &["\"其他的\"", "3 characters", "holds 2"]);
    let e = refused(
        r#"{ name = "c", type = "VARCHAR(8)", source = "actual_refund_amount", transforms = [{ labels = "status" }] }"#,
    );
    assert_names(
        &e,
        Some("c"),
        &["labels maps codes", "decimal", "status or stockin_status"],
    );
    let e = refused(r#"{ name = "c", type = "VARCHAR(8)", source = "status", transforms = [{ labels = "statuss" }] }"#);
    assert_names(
        &e,
        Some("c"),
        &["\"statuss\"", "stockin_status", "detail_list.gift_type"],
    );
    let e =
        refused(r#"{ name = "c", type = "VARCHAR(8)", source = "status", transforms = [{ labels = { map = {} } }] }"#);
    assert_names(&e, Some("c"), &["empty map and no default"]);
    // Labels are text: not into a number column.
    let e = refused(r#"{ name = "c", type = "INT", source = "status", transforms = [{ labels = "status" }] }"#);
    assert_names(&e, Some("c"), &["text value cannot go into a INT column"]);
}

#[test]
fn default_fills_null_and_blank_text() {
    let shop = r#"{ name = "c", type = "VARCHAR(8)", source = "shop_no", transforms = [{ default = "未知" }] }"#;
    assert_eq!(text(shop, &refund(json!({}))), some("未知"));
    assert_eq!(text(shop, &refund(json!({ "shop_no": " \t" }))), some("未知"));
    assert_eq!(text(shop, &refund(json!({ "shop_no": " S1" }))), some(" S1"));
    let count = r#"{ name = "c", type = "INT", source = "note_count", transforms = [{ default = 0 }] }"#;
    assert_eq!(text(count, &refund(json!({}))), some("0"));
    assert_eq!(text(count, &refund(json!({ "note_count": 3 }))), some("3"));
    let amount = r#"{ name = "c", type = "DECIMAL(10,2)", source = "actual_refund_amount", transforms = [{ default = "0.00" }] }"#;
    assert_eq!(text(amount, &refund(json!({}))), some("0.00"));
    let time = r#"{ name = "c", type = "DATETIME", source = "created", transforms = [{ default = "2024-01-01" }] }"#;
    assert_eq!(text(time, &refund(json!({}))), some("2024-01-01 00:00:00"));

    for (ty, source, bad) in [
        ("INT", "note_count", r#""many""#),
        ("INT", "note_count", "true"),
        ("DECIMAL(10,2)", "actual_refund_amount", r#""1,5""#),
        ("DATETIME", "created", r#""yesterday""#),
        ("TINYINT(1)", "detail_list.is_guarantee", "2"),
    ] {
        let c =
            format!(r#"{{ name = "c", type = "{ty}", source = "{source}", transforms = [{{ default = {bad} }}] }}"#);
        let e = if source.starts_with("detail_list.") {
            compile(&table("detail", &[ID, REC, &c])).unwrap_err()
        } else {
            refused(&c)
        };
        assert_names(&e, Some("c"), &["transform 1 (default)", bad, "the input is"]);
    }
}

#[test]
fn constant_takes_the_column_type() {
    let r = refund(json!({}));
    let c = |ty: &str, lit: &str| format!(r#"{{ name = "c", type = "{ty}", transforms = [{{ constant = {lit} }}] }}"#);
    assert_eq!(text(&c("INT", "7"), &r), some("7"));
    assert_eq!(text(&c("INT", r#""-7""#), &r), some("-7"));
    assert_eq!(text(&c("BIGINT", "9007199254740993"), &r), some("9007199254740993"));
    assert_eq!(text(&c("DECIMAL(5,2)", r#""0.01""#), &r), some("0.01"));
    assert_eq!(text(&c("DECIMAL(5,2)", "3"), &r), some("3.00"));
    assert_eq!(text(&c("DATE", r#""2024-01-02""#), &r), some("2024-01-02"));
    assert_eq!(
        text(&c("DATETIME", r#""2024-01-02 03:04:05""#), &r),
        some("2024-01-02 03:04:05")
    );
    assert_eq!(text(&c("VARCHAR(8)", r#""固定""#), &r), some("固定"));
    assert_eq!(text(&c("VARCHAR(8)", "12"), &r), some("12"));
    assert_eq!(text(&c("TINYINT(1)", "true"), &r), some("1"));
    // Whatever the input.
    let over = r#"{ name = "c", type = "INT", source = "note_count", transforms = [{ constant = 1 }] }"#;
    assert_eq!(text(over, &refund(json!({ "note_count": 5 }))), some("1"));

    for (ty, bad) in [
        ("INT", r#""abc""#),
        ("INT", "true"),
        ("DECIMAL(5,2)", r#""1,5""#),
        ("DATE", r#""2024-13-01""#),
        ("DATETIME", r#""noon""#),
        ("TINYINT(1)", "2"),
    ] {
        let e = refused(&c(ty, bad));
        assert_names(&e, Some("c"), &["transform 1 (constant)", bad, ty]);
    }
}

#[test]
fn trim_upper_and_lower_take_text() {
    let r = refund(json!({ "refund_no": "  tk-1a \n" }));
    let c = |t: &str| format!(r#"{{ name = "c", type = "VARCHAR(16)", source = "refund_no", transforms = [{t}] }}"#);
    assert_eq!(text(&c(r#""trim""#), &r), some("tk-1a"));
    assert_eq!(text(&c(r#""trim", "upper""#), &r), some("TK-1A"));
    assert_eq!(text(&c(r#""upper", "lower", "trim""#), &r), some("tk-1a"));
    assert_eq!(text(&c(r#""trim""#), &refund(json!({}))), None);
    for t in ["trim", "upper", "lower"] {
        let e = refused(&format!(
            r#"{{ name = "c", type = "INT", source = "note_count", transforms = ["{t}"] }}"#
        ));
        assert_names(
            &e,
            Some("c"),
            &[&format!("transform 1 ({t})"), "applies to text", "integer"],
        );
    }
}

#[test]
fn clip_counts_characters_not_bytes() {
    let c = r#"{ name = "c", type = "VARCHAR(3)", source = "refund_no", transforms = ["clip"] }"#;
    assert_eq!(text(c, &refund(json!({ "refund_no": "退换单号码" }))), some("退换单"));
    assert_eq!(text(c, &refund(json!({ "refund_no": "abcdef" }))), some("abc"));
    assert_eq!(text(c, &refund(json!({ "refund_no": "a退" }))), some("a退"));
    assert_eq!(text(c, &refund(json!({ "refund_no": "😀😀😀😀" }))), some("😀😀😀"));
    // Without clip the same value is refused, not cut.
    let plain = r#"{ name = "c", type = "VARCHAR(3)", source = "refund_no" }"#;
    assert!(dead(plain, &refund(json!({ "refund_no": "退换单号" }))).contains("4 characters"));
    let long = r#"{ name = "c", type = "TEXT", source = "refund_no", transforms = ["clip"] }"#;
    let clipped = text(long, &refund(json!({ "refund_no": "退".repeat(20_000) }))).unwrap();
    assert_eq!(clipped.chars().count(), 16_383);

    let e = refused(r#"{ name = "c", type = "LONGTEXT", source = "refund_no", transforms = ["clip"] }"#);
    assert_names(&e, Some("c"), &["transform 1 (clip)", "VARCHAR or TEXT", "LONGTEXT"]);
    let e = refused(r#"{ name = "c", type = "VARCHAR(3)", source = "note_count", transforms = ["clip"] }"#);
    assert_names(&e, Some("c"), &["applies to text", "integer"]);
}

#[test]
fn join_lists_a_line_field_at_refund_grain() {
    let r = refund(json!({ "detail_list": [
        { "rec_id": 1, "goods_no": "A", "refund_amount": "1.50" },
        { "rec_id": 2 },
        { "rec_id": 3, "goods_no": "B", "refund_amount": "2" },
    ] }));
    let goods =
        r#"{ name = "c", type = "VARCHAR(16)", source = "detail_list.goods_no", transforms = [{ join = "|" }] }"#;
    assert_eq!(text(goods, &r), some("A|B"), "lines without the field are left out");
    let amounts =
        r#"{ name = "c", type = "VARCHAR(16)", source = "detail_list.refund_amount", transforms = [{ join = ", " }] }"#;
    assert_eq!(text(amounts, &r), some("1.50, 2"));
    assert_eq!(text(goods, &refund(json!({}))), some(""), "no lines: empty text");
    let amount_lines = refund(
        json!({ "amount_detail_list": [{ "rec_id": 1, "pay_account": "x" }, { "rec_id": 2, "pay_account": "y" }] }),
    );
    let pay = r#"{ name = "c", type = "VARCHAR(16)", source = "amount_detail_list.pay_account", transforms = [{ join = "+" }] }"#;
    assert_eq!(text(pay, &amount_lines), some("x+y"));

    let e = refused(r#"{ name = "c", type = "VARCHAR(16)", source = "refund_no", transforms = [{ join = "," }] }"#);
    assert_names(&e, Some("c"), &["transform 1 (join)", "a list", "text"]);
    // At detail grain a line field is one value.
    let c = r#"{ name = "c", type = "VARCHAR(16)", source = "detail_list.goods_no", transforms = [{ join = "," }] }"#;
    let e = compile(&table("detail", &[ID, REC, c])).unwrap_err();
    assert_names(&e, Some("c"), &["a list", "text"]);
}

#[test]
fn concat_skips_null_and_blank_parts() {
    let c = r#"{ name = "c", type = "VARCHAR(32)", source = "shop_no", transforms = [{ concat = { fields = ["return_warehouse_no", "refund_no"], separator = "/" } }] }"#;
    let all = refund(json!({ "shop_no": "S1", "return_warehouse_no": "W1", "refund_no": "TK" }));
    assert_eq!(text(c, &all), some("S1/W1/TK"));
    assert_eq!(
        text(c, &refund(json!({ "shop_no": "S1", "refund_no": "TK" }))),
        some("S1/TK")
    );
    assert_eq!(
        text(c, &refund(json!({ "shop_no": " ", "return_warehouse_no": "W1" }))),
        some("W1")
    );
    assert_eq!(text(c, &refund(json!({}))), None, "every part NULL: NULL");
    // Numbers and line lists are written as text.
    let mixed = r#"{ name = "c", type = "VARCHAR(32)", source = "refund_id", transforms = [{ concat = { fields = ["detail_list.goods_no", "actual_refund_amount"] } }] }"#;
    let r = refund(
        json!({ "actual_refund_amount": "1.50", "detail_list": [{ "rec_id": 1, "goods_no": "A" }, { "rec_id": 2, "goods_no": "B" }] }),
    );
    assert_eq!(text(mixed, &r), some("1A,B1.50"));

    let e = refused(
        r#"{ name = "c", type = "VARCHAR(32)", source = "shop_no", transforms = [{ concat = { fields = ["shop_noo"] } }] }"#,
    );
    assert_names(
        &e,
        Some("c"),
        &["transform 1 (concat)", "\"shop_noo\"", "did you mean \"shop_no\""],
    );
    let e = refused(
        r#"{ name = "c", type = "VARCHAR(32)", source = "shop_no", transforms = [{ concat = { fields = [] } }] }"#,
    );
    assert_names(&e, Some("c"), &["concat has no fields"]);
}

#[test]
fn expressions_are_exact_and_read_fields() {
    let r = refund(json!({
        "refund_no": "TK1", "status": 90, "actual_refund_amount": "19.99",
        "detail_list": [{ "rec_id": 1, "goods_no": "A" }, { "rec_id": 2, "goods_no": "B" }],
    }));
    let e = |ty: &str, source: &str, code: &str| {
        format!(r#"{{ name = "c", type = "{ty}", {source} transforms = [{{ expr = '{code}' }}] }}"#)
    };
    let amount = r#"source = "actual_refund_amount","#;
    assert_eq!(text(&e("BIGINT", amount, "value * 100"), &r), some("1999"));
    assert_eq!(
        text(&e("DECIMAL(10,4)", amount, "value * 0.1 + 0.2"), &r),
        some("2.1990")
    );
    // No floating point: 0.1 + 0.2 is 0.3 exactly, and a literal with a point is a decimal.
    assert_eq!(text(&e("TINYINT(1)", "", "0.1 + 0.2 == 0.3"), &r), some("1"));
    assert_eq!(text(&e("VARCHAR(16)", "", "type_of(1.5)"), &r), some("decimal"));
    assert_eq!(
        text(&e("DECIMAL(30,28)", "", "1.0 / 3"), &r),
        some("0.3333333333333333333333333333")
    );
    assert!(dead(&e("VARCHAR(16)", amount, "value.to_float()"), &r).contains("failed"));
    // Field variables, refund level and (at refund grain) the lines as lists.
    assert_eq!(
        text(
            &e(
                "VARCHAR(16)",
                "",
                r#"if status == 90 { "完成:" + refund_no } else { "" }"#
            ),
            &r
        ),
        some("完成:TK1")
    );
    assert_eq!(
        text(
            &e("VARCHAR(16)", "", "if shop_no == () { \"none\" } else { shop_no }"),
            &r
        ),
        some("none")
    );
    assert_eq!(text(&e("INT", "", "detail_list.goods_no.len()"), &r), some("2"));
    // At detail grain, a line field is the line's value.
    let c = e("VARCHAR(16)", "", r#"refund_no + "-" + detail_list.goods_no"#);
    let m = compile(&table("detail", &[ID, REC, &c])).unwrap();
    let (rows, errors) = rows(m, std::slice::from_ref(&r));
    assert!(errors.is_empty(), "{errors:?}");
    let cells: Vec<Option<String>> = rows.iter().map(|row| row[2].clone()).collect();
    assert_eq!(cells, [some("TK1-A"), some("TK1-B")]);

    // Refused when compiled: an unknown variable, bad syntax, a statement.
    let bad = refused(&e("INT", "", "shop_noo + 1"));
    assert_names(&bad, Some("c"), &["transform 1 (expr)", "shop_noo", "does not compile"]);
    let bad = refused(&e("INT", "", "goods_no"));
    assert_names(&bad, Some("c"), &["goods_no", "did you mean \"detail_list.goods_no\""]);
    let bad = refused(&e("INT", "", "zzzzzzzz"));
    assert_names(&bad, Some("c"), &["a variable is `value` or a source field"]);
    let bad = refused(&e("INT", "", "detail_list.goods_noo"));
    assert_names(
        &bad,
        Some("c"),
        &[
            "\"detail_list.goods_noo\" is not a field",
            "did you mean \"detail_list.goods_no\"",
        ],
    );
    assert_names(&refused(&e("INT", "", "value +")), Some("c"), &["does not compile"]);
    assert_names(
        &refused(&e("INT", "", "let x = 1; x")),
        Some("c"),
        &["does not compile"],
    );
    // A failure at run time is the record's dead letter, naming the column.
    let zero = refund(json!({ "note_count": 0 }));
    let err = dead(&e("INT", r#"source = "note_count","#, "10 / value"), &zero);
    assert!(err.contains("transform 1") && err.contains("failed"), "{err}");
    assert!(dead(&e("INT", "", "#{a: 1}"), &r).contains("no column holds"));
    // An integer overflow is an error, not a wrap.
    assert!(dead(&e("BIGINT", "", "9223372036854775807 + 1"), &r).contains("failed"));
}

#[test]
fn custom_transforms_are_rust_closures() {
    let custom = Transforms::new()
        .with_fn("reverse", |v: Value<'_>| match v {
            Value::Text(s) => Ok(Value::Text(s.chars().rev().collect::<String>().into())),
            Value::Null => Ok(Value::Null),
            other => Err(format!("reverse takes text, not {}", other.kind())),
        })
        .with_fn("shout", |v: Value<'_>| Ok(Value::Text(format!("{v}!").into())));
    let c = |t: &str, source: &str| {
        table(
            "refund",
            &[
                ID,
                &format!(r#"{{ name = "c", type = "VARCHAR(16)", source = "{source}", transforms = [{t}] }}"#),
            ],
        )
    };
    let m = compile_with(
        &c(r#"{ custom = "reverse" }, { custom = "shout" }"#, "refund_no"),
        "",
        &custom,
    )
    .unwrap();
    assert_eq!(
        cell_of(m, &refund(json!({ "refund_no": "退换ab" }))),
        Ok(some("ba换退!"))
    );
    // Its error is the record's dead letter.
    let m = compile_with(&c(r#"{ custom = "reverse" }"#, "note_count"), "", &custom).unwrap();
    let e = cell_of(m, &refund(json!({ "note_count": 1 }))).unwrap_err();
    assert!(e.contains("t.c: transform 1: reverse takes text, not integer"), "{e}");

    let e = compile_with(&c(r#"{ custom = "revers" }"#, "refund_no"), "", &custom).unwrap_err();
    assert_names(&e, Some("c"), &["\"revers\"", "registered: reverse, shout"]);
    let e = compile(&c(r#"{ custom = "reverse" }"#, "refund_no")).unwrap_err();
    assert_names(&e, Some("c"), &["\"reverse\"", "Transforms::with"]);

    // A transform that states what it takes is checked when compiled.
    struct Digits;
    impl Transform for Digits {
        fn output(&self, input: Kind) -> Result<Kind, String> {
            if input == Kind::Text {
                Ok(Kind::Int)
            } else {
                Err(format!("digits reads text, not {input}"))
            }
        }
        fn apply<'a>(&self, value: Value<'a>, _: &source::Record<'a>) -> Result<Value<'a>, String> {
            let digits: String = value.to_string().chars().filter(char::is_ascii_digit).collect();
            digits.parse().map(Value::Int).map_err(|e| e.to_string())
        }
    }
    let custom = Transforms::new().with("digits", Digits);
    let t = |source: &str| {
        table(
            "refund",
            &[
                ID,
                &format!(
                    r#"{{ name = "c", type = "BIGINT", source = "{source}", transforms = [{{ custom = "digits" }}] }}"#
                ),
            ],
        )
    };
    let m = compile_with(&t("refund_no"), "", &custom).unwrap();
    assert_eq!(cell_of(m, &refund(json!({ "refund_no": "TK-0042" }))), Ok(some("42")));
    let e = compile_with(&t("created"), "", &custom).unwrap_err();
    assert_names(&e, Some("c"), &["digits reads text, not datetime"]);
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

#[test]
fn a_mapping_needs_tables_and_a_table_columns() {
    let e = Mapping::compile(&MappingSpec::default(), "").unwrap_err();
    // No table to name.
    assert_eq!(e.to_string(), "the mapping has no tables; add a [[tables]] entry");
    let e = compile("[[tables]]\nname = \"t\"\ngrain = \"refund\"\ncolumns = []\n").unwrap_err();
    assert_names(&e, None, &["has no columns", "[[tables.columns]]"]);
}

#[test]
fn names_are_checked() {
    let long = "表".repeat(65);
    for (name, why) in [
        ("", "is empty"),
        (long.as_str(), "65 characters; MySQL allows 64"),
        ("t ", "ends with a space"),
        ("a\0b", "NUL"),
    ] {
        // As a column name.
        let e = refused(&format!(
            r#"{{ name = "{}", type = "INT", source = "note_count" }}"#,
            name.replace('\0', "\\u0000")
        ));
        assert_eq!(e.column.as_deref(), Some(name));
        assert!(e.problem.contains("the column name") && e.problem.contains(why), "{e}");
        // As a table name.
        let mapping = table("refund", &[ID]).replacen(
            "name = \"t\"",
            &format!("name = \"{}\"", name.replace('\0', "\\u0000")),
            1,
        );
        let e = compile(&mapping).unwrap_err();
        assert_eq!((e.table.as_str(), e.column.as_deref()), (name, None));
        assert!(e.problem.contains("the table name") && e.problem.contains(why), "{e}");
    }
    // A table's staging table (`wdt_staging_<name>`) must fit in 64 characters too.
    let named =
        |n: usize| table("refund", &[ID]).replacen("name = \"t\"", &format!("name = \"{}\"", "表".repeat(n)), 1);
    let m = compile(&named(52)).unwrap();
    let staging = crate::overwrite::staging_name(crate::schema::Table::Mapped(m.tables()[0]));
    assert_eq!(staging.chars().count(), 64, "{staging}");
    let e = compile(&named(53)).unwrap_err();
    assert_eq!(e.table, "表".repeat(53));
    assert!(
        e.problem.contains("53 characters")
            && e.problem.contains("at most 52")
            && e.problem.contains("wdt_staging_<name>")
            && e.problem.contains("shorten it"),
        "{e}"
    );
    // The prefix counts.
    let spec = parse(&named(50).replacen("name = \"", "name = \"{prefix}", 1)).unwrap();
    assert!(Mapping::compile(&spec, "p").is_ok());
    assert!(Mapping::compile(&spec, "p_p")
        .unwrap_err()
        .problem
        .contains("53 characters"));
    // 64 characters, Chinese included, are fine for a column.
    assert!(column(&format!(
        r#"{{ name = "{}", type = "INT", source = "note_count" }}"#,
        "列".repeat(64)
    ))
    .is_ok());
}

#[test]
fn a_column_is_declared_once_whatever_its_case() {
    let e = compile(&table(
        "refund",
        &[
            ID,
            r#"{ name = "Amount", type = "INT", source = "note_count" }"#,
            r#"{ name = "aMOUNT", type = "INT", source = "note_count" }"#,
        ],
    ))
    .unwrap_err();
    assert_names(&e, Some("aMOUNT"), &["declared twice", "ignore case", "rename one"]);
}

#[test]
fn unknown_types_and_bounds_are_refused() {
    for (ty, fix) in [
        ("FLOAT", "use BIGINT, INT, TINYINT(1), DECIMAL(p,s)"),
        ("DOUBLE", "VARCHAR(n), TEXT or LONGTEXT"),
        ("TINYINT(2)", "TINYINT(1)"),
        ("DECIMAL(66,2)", "precision 1-65"),
        ("DECIMAL(0,0)", "precision 1-65"),
        ("DECIMAL(5,6)", "no larger than it"),
        ("DECIMAL(40,31)", "scale 0-30"),
        ("DECIMAL(a,b)", "DECIMAL(p,s)"),
        ("VARCHAR", "length 1-16383"),
        ("VARCHAR(0)", "length 1-16383"),
        ("VARCHAR(16384)", "length 1-16383"),
        ("DATETIME(7)", "DATETIME(3)"),
        ("INT(11", "use BIGINT"),
    ] {
        let e = refused(&format!(r#"{{ name = "c", type = "{ty}", source = "note_count" }}"#));
        assert_names(&e, Some("c"), &[&format!("{ty:?}"), fix]);
    }
    // Spelling is free: case and spaces.
    let m = column(r#"{ name = "c", type = "decimal( 12 , 2 )", source = "actual_refund_amount" }"#).unwrap();
    assert_eq!(m.tables()[0].columns()[1].ty.sql(), "DECIMAL(12,2)");
    assert!(column(r#"{ name = "c", type = "VARCHAR(16000)", source = "refund_no" }"#).is_ok());
    assert!(column(r#"{ name = "c", type = "DECIMAL(65,30)", source = "actual_refund_amount" }"#).is_ok());
}

/// The widest VARCHAR column `c` MariaDB 10.11 creates beside `others` (found by creating the
/// tables), is the widest the mapping accepts.
#[test]
fn a_row_must_fit_in_65535_bytes() {
    let acct = r#"{ name = "account", type = "VARCHAR(64)", source = "account" }"#;
    for (others, widest) in [
        (&[][..], 16_316),
        (
            &[
                r#"{ name = "t", type = "TEXT", source = "remark" }"#,
                r#"{ name = "l", type = "LONGTEXT", source = "raw" }"#,
            ][..],
            16_311,
        ),
        (
            &[r#"{ name = "d", type = "DECIMAL(65,30)", source = "actual_refund_amount" }"#][..],
            16_309,
        ),
        (
            &[
                r#"{ name = "d", type = "DATETIME(6)", source = "created" }"#,
                r#"{ name = "e", type = "DATE", source = "created" }"#,
                r#"{ name = "f", type = "TINYINT(1)", source = "detail_list.is_guarantee", transforms = [{ expr = "true" }] }"#,
                r#"{ name = "g", type = "INT", source = "note_count" }"#,
            ][..],
            16_312,
        ),
        (
            &[
                r#"{ name = "v1", type = "VARCHAR(10)", source = "remark" }"#,
                r#"{ name = "v2", type = "VARCHAR(10)", source = "remark" }"#,
                r#"{ name = "v3", type = "VARCHAR(10)", source = "remark" }"#,
                r#"{ name = "v4", type = "VARCHAR(10)", source = "remark" }"#,
                r#"{ name = "v5", type = "VARCHAR(10)", source = "remark" }"#,
                r#"{ name = "v6", type = "VARCHAR(10)", source = "remark" }"#,
                r#"{ name = "v7", type = "VARCHAR(10)", source = "remark" }"#,
                r#"{ name = "v8", type = "VARCHAR(10)", source = "remark" }"#,
            ][..],
            16_234,
        ),
    ] {
        let with = |n: u32| {
            let c = format!(r#"{{ name = "c", type = "VARCHAR({n})", source = "refund_no" }}"#);
            let mut columns = vec![ID, acct, &c];
            columns.extend(others);
            compile(&table("refund", &columns))
        };
        assert!(with(widest).is_ok(), "{others:?}: {:?}", with(widest));
        let e = with(widest + 1).unwrap_err();
        assert_names(&e, None, &["takes up to 6553", "holds 65535", "(\"c\""]);
        assert!(e.problem.contains("TEXT or narrower"), "{e}");
    }
}

/// As found by creating the tables on MariaDB 10.11: an InnoDB key holds 3072 bytes.
#[test]
fn the_account_column_fits_in_the_key() {
    let acct = |n: u32| format!(r#"{{ name = "account", type = "VARCHAR({n})", source = "account" }}"#);
    assert!(compile(&table("refund", &[ID, &acct(766)])).is_ok());
    let e = compile(&table("refund", &[ID, &acct(767)])).unwrap_err();
    assert_names(
        &e,
        Some("account"),
        &["VARCHAR(767) takes up to 3068 bytes", "3072", "at most VARCHAR(766)"],
    );
    assert!(compile(&table("detail", &[ID, REC, &acct(764)])).is_ok());
    let e = compile(&table("amount_detail", &[ID, AREC, &acct(765)])).unwrap_err();
    assert_names(&e, Some("account"), &["at most VARCHAR(764)"]);
}

#[test]
fn unknown_sources_are_refused_with_a_suggestion() {
    let e = refused(r#"{ name = "c", type = "VARCHAR(8)", source = "refund_noo" }"#);
    assert_names(&e, Some("c"), &["source \"refund_noo\"", "did you mean \"refund_no\""]);
    let e = refused(r#"{ name = "c", type = "VARCHAR(8)", source = "detail_list.goods_noo" }"#);
    assert_names(&e, Some("c"), &["did you mean \"detail_list.goods_no\""]);
    let e = refused(r#"{ name = "c", type = "VARCHAR(8)", source = "zzzzzzzzzzzzzzzzzzzz" }"#);
    assert_names(&e, Some("c"), &["\"zzzzzzzzzzzzzzzzzzzz\"", "README"]);
    // WDT's own names: `type`, not the model's `refund_type`.
    let e = refused(r#"{ name = "c", type = "INT", source = "refund_type" }"#);
    assert_names(&e, Some("c"), &["\"refund_type\""]);
}

#[test]
fn a_column_needs_a_source_or_transforms() {
    let e = refused(r#"{ name = "c", type = "INT" }"#);
    assert_names(
        &e,
        Some("c"),
        &["neither a source nor transforms", "source = \"<field>\""],
    );
}

#[test]
fn a_value_must_fit_its_column_type() {
    let e = refused(r#"{ name = "c", type = "VARCHAR(64)", source = "detail_list.goods_no" }"#);
    assert_names(
        &e,
        Some("c"),
        &["list value cannot go into a VARCHAR(64) column", "join", "detail grain"],
    );
    let e = refused(r#"{ name = "c", type = "BIGINT", source = "refund_no" }"#);
    assert_names(
        &e,
        Some("c"),
        &["text value cannot go into a BIGINT column", "use a text column"],
    );
    let e = refused(r#"{ name = "c", type = "TINYINT(1)", source = "actual_refund_amount" }"#);
    assert_names(
        &e,
        Some("c"),
        &["decimal value cannot go into a TINYINT(1) column", "DECIMAL"],
    );
    let e = refused(r#"{ name = "c", type = "DECIMAL(10,2)", source = "created" }"#);
    assert_names(
        &e,
        Some("c"),
        &["datetime value cannot go into a DECIMAL(10,2) column", "format"],
    );
    let e = refused(r#"{ name = "c", type = "DATE", source = "detail_list.is_guarantee" }"#);
    assert_names(&e, Some("c"), &["list"]);
    let e = refused(r#"{ name = "c", type = "DATE", source = "actual_refund_amount" }"#);
    assert_names(&e, Some("c"), &["decimal value cannot go into a DATE column"]);
    // What does fit: numbers into text, flags into integers, times into dates.
    for ok in [
        r#"{ name = "c", type = "VARCHAR(32)", source = "actual_refund_amount" }"#,
        r#"{ name = "c", type = "TEXT", source = "created" }"#,
        r#"{ name = "c", type = "DATE", source = "created" }"#,
        r#"{ name = "c", type = "INT", source = "status" }"#,
        r#"{ name = "c", type = "DECIMAL(10,0)", source = "note_count" }"#,
    ] {
        assert!(column(ok).is_ok(), "{ok}");
    }
}

#[test]
fn the_account_column_is_a_varchar_and_its_name_is_kept_for_it() {
    let e = refused(r#"{ name = "acct", type = "TEXT", source = "account" }"#);
    assert_names(&e, Some("acct"), &["holds the account", "VARCHAR(n), not TEXT"]);
    let e = refused(r#"{ name = "ACCOUNT", type = "VARCHAR(8)", source = "shop_no" }"#);
    assert_names(
        &e,
        Some("account"),
        &["needs a column holding the account", "source = \"account\""],
    );
    // An account column with transforms is no key.
    let e = refused(r#"{ name = "acct", type = "VARCHAR(64)", source = "account", transforms = ["upper"] }"#);
    assert_names(&e, None, &["the account as read", "no transforms"]);
    // Without one, the sink adds it last; with one, it is the first key part wherever it is.
    let m = column(r#"{ name = "c", type = "INT", source = "note_count" }"#).unwrap();
    let t = m.tables()[0];
    assert_eq!(t.columns().last().unwrap().name, "account");
    assert_eq!(t.primary_key(), ["account", "id"]);
    let m = column(r#"{ name = "账号", type = "VARCHAR(32)", source = "account" }"#).unwrap();
    assert_eq!(m.tables()[0].primary_key(), ["账号", "id"]);
    assert_eq!(m.tables()[0].columns().len(), 2);
    assert_eq!(rows(m, &[refund(json!({}))]).0, [[some("1"), some("shop")]]);
}

#[test]
fn the_key_columns_are_required_untransformed_bigints() {
    let e = compile(&table(
        "refund",
        &[r#"{ name = "c", type = "INT", source = "note_count" }"#],
    ))
    .unwrap_err();
    assert_names(
        &e,
        None,
        &["no key column for the refund id", "source = \"refund_id\"", "BIGINT"],
    );
    let e = compile(&table("detail", &[ID])).unwrap_err();
    assert_names(&e, None, &["the line's rec_id", "source = \"detail_list.rec_id\""]);
    let e = compile(&table("amount_detail", &[ID])).unwrap_err();
    assert_names(
        &e,
        None,
        &["the line's rec_id", "source = \"amount_detail_list.rec_id\""],
    );
    // The other grain's rec_id is no key.
    let e = compile(&table("amount_detail", &[ID, REC])).unwrap_err();
    assert_names(&e, Some("rec"), &["list value"]);
    let e = compile(&table(
        "refund",
        &[r#"{ name = "id", type = "INT", source = "refund_id" }"#],
    ))
    .unwrap_err();
    assert_names(&e, Some("id"), &["key column (the refund id)", "BIGINT, not INT"]);
    let e = compile(&table(
        "detail",
        &[
            ID,
            r#"{ name = "rec", type = "VARCHAR(20)", source = "detail_list.rec_id" }"#,
        ],
    ))
    .unwrap_err();
    assert_names(
        &e,
        Some("rec"),
        &["key column (the line's rec_id)", "BIGINT, not VARCHAR(20)"],
    );
    let e = compile(&table(
        "refund",
        &[r#"{ name = "id", type = "BIGINT", source = "refund_id", transforms = [{ expr = "value + 1" }] }"#],
    ))
    .unwrap_err();
    assert_names(
        &e,
        None,
        &[
            "the refund id as read",
            "has transforms",
            "source = \"refund_id\" and no transforms",
        ],
    );
    let e = compile(&table(
        "detail",
        &[
            ID,
            r#"{ name = "rec", type = "BIGINT", source = "detail_list.rec_id", transforms = [{ default = 0 }] }"#,
        ],
    ))
    .unwrap_err();
    assert_names(&e, None, &["the line's rec_id as read", "has transforms"]);
    // A transformed copy beside the key column is fine.
    let m = compile(&table(
        "detail",
        &[
            ID,
            REC,
            r#"{ name = "c", type = "BIGINT", source = "refund_id", transforms = [{ expr = "value * 10" }] }"#,
        ],
    ))
    .unwrap();
    assert_eq!(m.tables()[0].primary_key(), ["account", "id", "rec"]);
    assert!(
        m.tables()[0].columns()[..2].iter().all(|c| !c.nullable),
        "key columns are NOT NULL"
    );
}

#[test]
fn an_explicit_key_names_exactly_the_key_columns() {
    let with_key = |key: &str| {
        table(
            "detail",
            &[ID, REC, r#"{ name = "c", type = "INT", source = "note_count" }"#],
        )
        .replacen("columns", &format!("key = {key}\ncolumns"), 1)
    };
    let m = compile(&with_key(r#"["account", "ID", "rec"]"#)).unwrap();
    assert_eq!(m.tables()[0].primary_key(), ["account", "id", "rec"]);
    let e = compile(&with_key(r#"["account", "id", "c"]"#)).unwrap_err();
    assert_names(
        &e,
        Some("c"),
        &["cannot be in the key", "account, refund_id and detail_list.rec_id"],
    );
    let e = compile(&with_key(r#"["account", "id", "rec", "nope"]"#)).unwrap_err();
    assert_names(
        &e,
        Some("nope"),
        &[
            "not a column of the table",
            "the key columns are \"account\", \"id\", \"rec\"",
        ],
    );
    let e = compile(&with_key(r#"["account", "id", "rec", "Rec"]"#)).unwrap_err();
    assert_names(&e, Some("Rec"), &["named twice in key", "name each key column once"]);
    let e = compile(&with_key(r#"["account", "id"]"#)).unwrap_err();
    assert_names(&e, Some("rec"), &["missing from key", "leave key out"]);
}

#[test]
fn the_version_reads_modified_untransformed_into_a_datetime() {
    let columns = [
        ID,
        r#"{ name = "m", type = "DATETIME(3)", source = "modified" }"#,
        r#"{ name = "m_utc", type = "DATETIME", source = "modified", transforms = [{ timezone = "utc" }] }"#,
        r#"{ name = "m_text", type = "VARCHAR(32)", source = "modified" }"#,
        r#"{ name = "created", type = "DATETIME", source = "created" }"#,
        r#"{ name = "m_s", type = "DATETIME", source = "modified" }"#,
    ];
    let m = compile(&table("refund", &columns)).unwrap();
    assert_eq!(m.tables()[0].version(), Some("m"));
    assert!(m.has_version());
    // Whole seconds are no version: an older change of the same second would win.
    let m = compile(&table("refund", &[ID, columns[5]])).unwrap();
    assert_eq!(m.tables()[0].version(), None, "DATETIME(0) cuts the milliseconds");
    let m = compile(&table("refund", &[ID, columns[2], columns[3]])).unwrap();
    assert_eq!(m.tables()[0].version(), None, "no untransformed DATETIME of modified");
    assert!(!m.has_version());
    let with_version =
        |v: &str| table("refund", &columns).replacen("columns", &format!("version = \"{v}\"\ncolumns"), 1);
    assert_eq!(compile(&with_version("M")).unwrap().tables()[0].version(), Some("m"));
    for v in ["m_utc", "m_text", "created", "m_s"] {
        let e = compile(&with_version(v)).unwrap_err();
        assert_names(
            &e,
            Some(v),
            &["cannot be the version", "`modified` with no transforms into a DATETIME"],
        );
    }
    let e = compile(&with_version("nope")).unwrap_err();
    assert_names(
        &e,
        Some("nope"),
        &["is the version but is not a column", "reads `modified`"],
    );
}

#[test]
fn tables_are_declared_once_and_keep_off_the_bookkeeping_names() {
    let t = table("refund", &[ID]);
    let e = compile(&format!("{t}\n{}", t.replace("name = \"t\"", "name = \"T\""))).unwrap_err();
    assert_eq!((e.table.as_str(), e.column.as_deref()), ("T", None));
    assert!(e.problem.contains("declared twice"), "{e}");
    for name in [
        "wdt_sync_state",
        "WDT_SYNC_DEAD_LETTER",
        "wdt_schema_version",
        "wdt_sync_lease",
        "wdt_sync_run",
        "wdt_sync_verify",
    ] {
        let e = compile(&t.replace("name = \"t\"", &format!("name = \"{name}\""))).unwrap_err();
        assert_eq!(e.table, name);
        assert!(
            e.problem.contains("bookkeeping") && e.problem.contains("choose another name"),
            "{e}"
        );
    }
    // Under a prefix the bookkeeping tables carry it.
    let spec = parse(&t.replace("name = \"t\"", "name = \"{prefix}wdt_sync_state\"")).unwrap();
    let e = Mapping::compile(&spec, "p_").unwrap_err();
    assert_eq!(e.table, "p_wdt_sync_state");
    let spec = parse(&t.replace("name = \"t\"", "name = \"{prefix}wdt_sync_verify\"")).unwrap();
    assert_eq!(Mapping::compile(&spec, "p_").unwrap_err().table, "p_wdt_sync_verify");
    assert!(Mapping::compile(
        &parse(&t.replace("name = \"t\"", "name = \"wdt_sync_state\"")).unwrap(),
        "p_"
    )
    .is_ok());
}

#[test]
fn prefix_is_replaced_in_table_names() {
    let spec = parse(&table("refund", &[ID]).replace("name = \"t\"", "name = \"{prefix}bi_{prefix}\"")).unwrap();
    let m = Mapping::compile(&spec, "p_").unwrap();
    assert_eq!(m.tables()[0].name(), "p_bi_p_");
    assert_eq!(m.tables()[0].spec().name, "p_bi_p_");
    let m = Mapping::compile(&spec, "").unwrap();
    assert_eq!(m.tables()[0].name(), "bi_");
}

#[test]
fn the_example_mapping_compiles_and_maps() {
    let m = compile(include_str!("../../../examples/mappings/bi_aftersales.toml")).unwrap();
    let t = m.tables()[0];
    assert_eq!(t.primary_key(), ["账号", "退换单ID", "明细ID"]);
    assert_eq!(t.version(), Some("modified"));
    let r = refund(json!({
        "refund_no": " TK1 ", "type": 1, "status": 90, "stockin_status": 0, "shop_no": "S1",
        "created": "2024-03-01 10:11:12", "modified": "2024-03-02 08:00:00.250",
        "actual_refund_amount": "19.99", "return_warehouse_no": "W1",
        "detail_list": [
            { "rec_id": 7, "goods_no": " ab ", "goods_name": "名".repeat(40), "refund_num": "1.125", "refund_amount": "9.99" },
            { "rec_id": 8, "goods_no": "cd" },
        ],
    }));
    let (rows, errors) = rows(m, &[r]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(rows.len(), 2);
    let col = |name: &str| t.columns().iter().position(|c| c.name == name).unwrap();
    let first = &rows[0];
    assert_eq!(first[col("订单编号")], some("TK1"));
    assert_eq!(first[col("退换状态")], some("已完成"));
    assert_eq!(first[col("建单时间")], some("2024/03/01 10:11:12"));
    assert_eq!(first[col("建单日期")], some("2024-03-01"));
    assert_eq!(first[col("修改时间UTC")], some("2024-03-02 00:00:00"));
    assert_eq!(first[col("modified")], some("2024-03-02 08:00:00.250"));
    assert_eq!(first[col("退款金额_分")], some("1999"));
    assert_eq!(first[col("商品编码")], some("AB"));
    assert_eq!(first[col("商品名称")].as_ref().unwrap().chars().count(), 30);
    assert_eq!(first[col("退货数量")], some("1.12"));
    assert_eq!(first[col("明细退款_分")], some("999"));
    assert_eq!(first[col("买家")], some("匿名"));
    assert_eq!(first[col("店铺与仓库")], some("S1/W1"));
    assert_eq!(first[col("大额退款")], some("否"));
    assert_eq!(first[col("来源")], some("在线"));
    assert_eq!(rows[1][col("明细退款_分")], some("0"));
    assert_eq!(rows[1][col("退换单ID")], some("1"));
    assert_eq!(rows[1][col("明细ID")], some("8"));
}

#[test]
fn constants_and_defaults_that_cannot_be_written_are_refused_when_compiled() {
    for (c, parts) in [
        (
            r#"{ name = "c", type = "VARCHAR(3)", transforms = [{ constant = "abcd" }] }"#,
            &[
                "transform 1 (constant)",
                "abcd does not fit VARCHAR(3)",
                "4 characters; the column holds 3",
            ][..],
        ),
        (
            r#"{ name = "c", type = "DECIMAL(5,2)", transforms = [{ constant = "1234.5" }] }"#,
            &["1234.5 is too large for DECIMAL(5,2)"][..],
        ),
        (
            r#"{ name = "c", type = "DECIMAL(5,2)", transforms = [{ constant = "1.234" }] }"#,
            &["3 decimal places"][..],
        ),
        (
            r#"{ name = "c", type = "INT", transforms = [{ constant = 3000000000 }] }"#,
            &["3000000000 does not fit INT"][..],
        ),
        (
            r#"{ name = "c", type = "DATE", transforms = [{ constant = "0999-01-01" }] }"#,
            &["outside the DATE range"][..],
        ),
        (
            r#"{ name = "c", type = "VARCHAR(2)", source = "shop_no", transforms = ["trim", { default = "未知店铺" }] }"#,
            &["transform 2 (default)", "未知店铺 does not fit VARCHAR(2)"][..],
        ),
    ] {
        assert_names(&refused(c), Some("c"), parts);
    }
    // Followed by a transform that fits it: fine.
    let clipped =
        r#"{ name = "c", type = "VARCHAR(2)", source = "shop_no", transforms = [{ default = "未知店铺" }, "clip"] }"#;
    assert_eq!(text(clipped, &refund(json!({}))), some("未知"));
}

// ---------------------------------------------------------------------------------------------
// Values checked against their column when written
// ---------------------------------------------------------------------------------------------

#[test]
fn values_that_do_not_fit_are_dead_letters_never_cut_or_rounded() {
    let amount = |ty: &str| format!(r#"{{ name = "c", type = "{ty}", source = "actual_refund_amount" }}"#);
    let r = |a: &str| refund(json!({ "actual_refund_amount": a }));
    let e = dead(&amount("DECIMAL(5,2)"), &r("1234.5"));
    assert!(e.contains("1234.5 is too large for DECIMAL(5,2)"), "{e}");
    assert_eq!(text(&amount("DECIMAL(5,2)"), &r("999.99")), some("999.99"));
    assert_eq!(text(&amount("DECIMAL(5,2)"), &r("-999.99")), some("-999.99"));
    let e = dead(&amount("DECIMAL(10,2)"), &r("1.234"));
    assert!(e.contains("3 decimal places") && e.contains("round it first"), "{e}");
    // Zeros beyond the scale are no rounding.
    assert_eq!(text(&amount("DECIMAL(10,2)"), &r("1.230")), some("1.23"));
    assert_eq!(text(&amount("DECIMAL(3,3)"), &r("0.125")), some("0.125"));
    assert!(dead(&amount("DECIMAL(3,3)"), &r("1.125")).contains("too large"));
    assert!(dead(&amount("DECIMAL(19,4)"), &r("1000000000000000")).contains("too large"));
    // An integer into a DECIMAL column with too few digits.
    let e = dead(
        r#"{ name = "c", type = "DECIMAL(4,2)", source = "note_count" }"#,
        &refund(json!({ "note_count": 100 })),
    );
    assert!(e.contains("100 is too large for DECIMAL(4,2)"), "{e}");

    let no = r#"{ name = "c", type = "VARCHAR(3)", source = "refund_no" }"#;
    let e = dead(no, &refund(json!({ "refund_no": "退换单号" })));
    assert!(e.contains("4 characters; the column holds 3"), "{e}");
    assert_eq!(text(no, &refund(json!({ "refund_no": "退换单" }))), some("退换单"));

    // DATE and DATETIME hold years 1000-9999.
    let early = refund(json!({ "created": "1000-01-01 03:00:00" }));
    let day = r#"{ name = "c", type = "DATE", source = "created", transforms = [{ timezone = "utc" }, "date"] }"#;
    assert!(dead(day, &early).contains("0999-12-31 is outside the DATE range"));
    let time = r#"{ name = "c", type = "DATETIME", source = "created", transforms = [{ timezone = "utc" }] }"#;
    assert!(dead(time, &early).contains("outside the DATETIME range"));

    // INT is 32 bits.
    let e = dead(
        r#"{ name = "c", type = "INT", source = "note_count", transforms = [{ multiply = 1000000 }] }"#,
        &refund(json!({ "note_count": 3000 })),
    );
    assert!(e.contains("3000000000 does not fit INT"), "{e}");
    // NOT NULL.
    let e = dead(
        r#"{ name = "c", type = "VARCHAR(3)", source = "refund_no", not_null = true }"#,
        &refund(json!({})),
    );
    assert!(e.contains("required but missing"), "{e}");
    // An expression's text that is no number, into a number column.
    let e = dead(
        r#"{ name = "c", type = "INT", transforms = [{ expr = '"12a"' }] }"#,
        &refund(json!({})),
    );
    assert!(e.contains("the text value 12a cannot go into a INT column"), "{e}");
    assert_eq!(
        text(
            r#"{ name = "c", type = "INT", transforms = [{ expr = '" 12 "' }] }"#,
            &refund(json!({}))
        ),
        some("12")
    );
    let e = dead(
        r#"{ name = "c", type = "TINYINT(1)", transforms = [{ expr = "2" }] }"#,
        &refund(json!({})),
    );
    assert!(e.contains("integer value 2 cannot go into a TINYINT(1)"), "{e}");
}

#[test]
fn a_dead_letter_leaves_the_other_refunds_rows() {
    let m = compile(&table(
        "detail",
        &[
            ID,
            REC,
            r#"{ name = "c", type = "VARCHAR(2)", source = "detail_list.goods_no" }"#,
            r#"{ name = "no", type = "VARCHAR(8)", source = "refund_no" }"#,
        ],
    ))
    .unwrap();
    let bad = refund(
        json!({ "refund_no": "A", "detail_list": [{ "rec_id": 1, "goods_no": "ok" }, { "rec_id": 2, "goods_no": "too long" }] }),
    );
    let good = refund(
        json!({ "refund_id": 2, "refund_no": "B", "detail_list": [{ "rec_id": 3, "goods_no": "g1" }, { "rec_id": 4, "goods_no": "g2" }] }),
    );
    let (rows, errors) = rows(m, &[bad, good]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("refund 1: t.c: has 8 characters"), "{errors:?}");
    assert_eq!(
        rows,
        [
            [some("2"), some("3"), some("g1"), some("B"), some("shop")],
            [some("2"), some("4"), some("g2"), some("B"), some("shop")],
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Grains
// ---------------------------------------------------------------------------------------------

#[test]
fn detail_rows_repeat_the_refund_columns_and_a_refund_without_lines_gets_one_row() {
    let columns = [
        ID,
        r#"{ name = "no", type = "VARCHAR(8)", source = "refund_no", transforms = ["upper"] }"#,
        REC,
        r#"{ name = "goods", type = "VARCHAR(8)", source = "detail_list.goods_no" }"#,
        r#"{ name = "n", type = "INT", source = "note_count", transforms = [{ default = 0 }] }"#,
    ];
    let m = compile(&table("detail", &columns)).unwrap();
    let r = refund(
        json!({ "refund_no": "tk", "detail_list": [{ "rec_id": 5, "goods_no": "A" }, { "rec_id": 6, "goods_no": "B" }] }),
    );
    let empty = refund(json!({ "refund_id": 2, "refund_no": "tk2" }));
    let (rows, errors) = rows(m, &[r.clone(), empty.clone()]);
    assert!(errors.is_empty());
    assert_eq!(
        rows,
        [
            [some("1"), some("TK"), some("5"), some("A"), some("0"), some("shop")],
            [some("1"), some("TK"), some("6"), some("B"), some("0"), some("shop")],
            [some("2"), some("TK2"), some("0"), None, some("0"), some("shop")],
        ]
    );
    let skip = table("detail", &columns).replacen("columns", "without_lines = \"skip\"\ncolumns", 1);
    let (rows, _) = rows_of(&skip, &[r, empty]);
    assert_eq!(rows.len(), 2);
}

fn rows_of(mapping: &str, refunds: &[Refund]) -> (Vec<Vec<Option<String>>>, Vec<String>) {
    rows(compile(mapping).unwrap(), refunds)
}

#[test]
fn amount_rows_are_one_per_amount_line() {
    let m = compile(&table(
        "amount_detail",
        &[ID, AREC, r#"{ name = "amt", type = "DECIMAL(10,2)", source = "amount_detail_list.refund_amount" }"#, r#"{ name = "goods", type = "VARCHAR(8)", source = "detail_list.goods_no", transforms = [{ join = "," }] }"#],
    ))
    .unwrap();
    let r = refund(json!({
        "detail_list": [{ "rec_id": 1, "goods_no": "A" }],
        "amount_detail_list": [{ "rec_id": 7, "refund_amount": "1.5" }, { "rec_id": 8, "refund_amount": "2" }],
    }));
    let (rows, errors) = rows(m, &[r, refund(json!({ "refund_id": 2 }))]);
    assert!(errors.is_empty());
    assert_eq!(
        rows,
        [
            [some("1"), some("7"), some("1.50"), some("A"), some("shop")],
            [some("1"), some("8"), some("2.00"), some("A"), some("shop")],
        ]
    );
}

#[test]
fn lines_with_a_repeated_or_missing_rec_id_are_dead_letters() {
    let detail = compile(&table("detail", &[ID, REC])).unwrap();
    let amount = compile(&table("amount_detail", &[ID, AREC])).unwrap();
    let repeated = refund(json!({
        "detail_list": [{ "rec_id": 1 }, { "rec_id": 1 }],
        "amount_detail_list": [{ "rec_id": 3 }, { "rec_id": 3 }],
    }));
    let (rows, errors) = rows(detail, std::slice::from_ref(&repeated));
    assert!(rows.is_empty());
    assert_eq!(
        errors,
        ["refund 1: t.rec: detail_list[1] repeats rec_id 1; one of the lines would be lost"]
    );
    let (rows, errors) = self::rows(amount, &[repeated]);
    assert!(rows.is_empty());
    assert!(
        errors[0].contains("t.rec: amount_detail_list[1] repeats rec_id 3"),
        "{errors:?}"
    );
    let missing = refund(json!({ "detail_list": [{ "rec_id": 1 }, { "goods_no": "x" }] }));
    let (_, errors) = self::rows(detail, &[missing]);
    assert!(errors[0].contains("t.rec: detail_list[1] has no rec_id"), "{errors:?}");
}

// ---------------------------------------------------------------------------------------------
// Malformed mappings
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_keys_and_wrong_types_are_refused_when_parsed() {
    let with = |col: &str| table("refund", &[ID, col]);
    let e = parse(&with(r#"{ name = "c", type = "INT", sorce = "note_count" }"#)).unwrap_err();
    assert!(e.contains("unknown field `sorce`"), "{e}");
    let e = parse(&table("refund", &[ID]).replace("grain", "grian")).unwrap_err();
    assert!(e.contains("unknown field `grian`"), "{e}");
    let e = parse(&table("monthly", &[ID])).unwrap_err();
    assert!(e.contains("monthly") && e.contains("refund"), "{e}");
    let e = parse(&with(r#"{ name = "c", type = 5, source = "note_count" }"#)).unwrap_err();
    assert!(e.contains("invalid type"), "{e}");
    let e = parse(&with(
        r#"{ name = "c", type = "INT", source = "note_count", transforms = "trim" }"#,
    ))
    .unwrap_err();
    assert!(e.contains("invalid type"), "{e}");
    let e = parse(&with(
        r#"{ name = "c", type = "INT", source = "note_count", transforms = ["trimm"] }"#,
    ))
    .unwrap_err();
    assert!(e.contains("trimm"), "{e}");
    let e = parse(&with(
        r#"{ name = "c", type = "INT", source = "note_count", not_null = "yes" }"#,
    ))
    .unwrap_err();
    assert!(e.contains("invalid type"), "{e}");
    let e = parse("[[tables]]\nname = \"t\"\n").unwrap_err();
    assert!(e.contains("missing field `grain`"), "{e}");
    let e = parse("tables = 1").unwrap_err();
    assert!(e.contains("invalid type"), "{e}");
    let e = parse("[mapping]\n").unwrap_err();
    assert!(e.contains("unknown field `mapping`"), "{e}");
    let e = parse(&with(r#"{ name = "c", type = "VARCHAR(8)", source = "refund_no", transforms = [{ concat = { fields = ["shop_no"], sep = "-" } }] }"#)).unwrap_err();
    assert!(e.contains("unknown field `sep`"), "{e}");
}

#[test]
fn a_misspelt_argument_of_round_or_labels_is_refused_not_ignored() {
    let with = |col: &str| table("refund", &[ID, col]);
    // `mod` for `mode`: ignored, it would round half up where half even was meant.
    let e = parse(&with(r#"{ name = "c", type = "DECIMAL(10,2)", source = "actual_refund_amount", transforms = [{ round = { places = 2, mod = "half_even" } }] }"#)).unwrap_err();
    assert!(
        e.contains("round takes its places") && e.contains("no other keys"),
        "{e}"
    );
    let e = parse(&with(
        r#"{ name = "c", type = "DECIMAL(10,2)", source = "actual_refund_amount", transforms = [{ round = -1 }] }"#,
    ))
    .unwrap_err();
    assert!(e.contains("round takes its places"), "{e}");
    // `defualt` for `default`: ignored, every unknown code would be a dead letter.
    let e = parse(&with(r#"{ name = "c", type = "VARCHAR(8)", source = "status", transforms = [{ labels = { map = { "1" = "a" }, defualt = "x" } }] }"#)).unwrap_err();
    assert!(
        e.contains("labels takes a built-in map's name") && e.contains("no other keys"),
        "{e}"
    );
    let e = parse(&with(
        r#"{ name = "c", type = "VARCHAR(8)", source = "status", transforms = [{ labels = 1 }] }"#,
    ))
    .unwrap_err();
    assert!(e.contains("labels takes"), "{e}");
    // A TOML float is no exact decimal: the error says to write it as text.
    let e = parse(&with(r#"{ name = "c", type = "DECIMAL(10,2)", source = "actual_refund_amount", transforms = [{ multiply = 0.01 }] }"#)).unwrap_err();
    assert!(e.contains("write decimals and times as text (\"0.01\""), "{e}");
    let spec = parse(&with(
        r#"{ name = "c", type = "DECIMAL(10,2)", source = "actual_refund_amount", transforms = [{ round = { places = 2 } }, { labels = { map = {}, default = "x", builtin = "status" } }] }"#,
    ));
    assert!(spec.is_ok(), "{spec:?}");
}

#[test]
fn runaway_expressions_are_stopped() {
    let r = refund(json!({}));
    // A long expression is refused when compiled; a reasonable one evaluates.
    let sum = |n: usize| {
        format!(
            r#"{{ name = "c", type = "INT", transforms = [{{ expr = "{}" }}] }}"#,
            vec!["1"; n].join(" + ")
        )
    };
    assert_eq!(text(&sum(40), &r), some("40"));
    let e = refused(&sum(5_000));
    assert!(
        e.problem.contains("exceeds maximum complexity"),
        "{}",
        &e.problem[e.problem.len() - 80..]
    );
    // A deeply nested one is refused when compiled.
    let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    let e = refused(&format!(
        r#"{{ name = "c", type = "INT", transforms = [{{ expr = "{deep}" }}] }}"#
    ));
    assert_names(&e, Some("c"), &["does not compile"]);
    // Work and memory are bounded per row: a dead letter, not a hang.
    for code in [
        r#""x".pad(100000000, "y")"#,
        "[].pad(1000000, 0)",
        "range(0, 10000000).map(|x| x + 1).len()",
    ] {
        let e = dead(
            &format!(r#"{{ name = "c", type = "INT", transforms = [{{ expr = '{code}' }}] }}"#),
            &r,
        );
        assert!(e.contains("failed"), "{code}: {e}");
    }
}

#[test]
fn an_expression_returning_an_array_needs_a_join() {
    let r = refund(json!({ "detail_list": [{ "rec_id": 1, "goods_no": "A" }, { "rec_id": 2, "goods_no": "B" }] }));
    let e = dead(
        r#"{ name = "c", type = "VARCHAR(8)", transforms = [{ expr = "detail_list.goods_no" }] }"#,
        &r,
    );
    assert!(e.contains("a list cannot go into a text column; join it first"), "{e}");
    let e = dead(
        r#"{ name = "c", type = "BIGINT", transforms = [{ expr = "[1, 2]" }] }"#,
        &r,
    );
    assert!(e.contains("list value"), "{e}");
    let joined =
        r#"{ name = "c", type = "VARCHAR(8)", transforms = [{ expr = "detail_list.goods_no" }, { join = ";" }] }"#;
    assert_eq!(text(joined, &r), some("A;B"));
}
#[test]
fn expressions_read_fields_in_template_strings_and_not_in_comments() {
    let r = refund(json!({ "type": 1, "shop_no": "S1", "status": 90 }));
    for (code, want) in [
        ("`${shop_no}-x`", "S1-x"),
        ("shop_no + `-${refund_id}`", "S1-1"),
        ("`a${`${shop_no}`}b`", "aS1b"),
        ("`${ #{a: status}.a }`", "90"),
        ("status // shop_no's", "90"),
        ("/* don't */ shop_no", "S1"),
        ("type == 1", "1"),
        ("switch status { 90 => \"a\", _ => \"b\" }", "a"),
        ("value ?? \"d\"", "d"),
    ] {
        let c = format!(r#"{{ name = "c", type = "VARCHAR(32)", transforms = [{{ expr = {code:?} }}] }}"#);
        assert_eq!(value(&c, &r), Ok(some(want)), "{code}");
    }
}

#[test]
fn times_an_expression_returns_take_the_time_transforms() {
    let r = refund(json!({ "created": "2024-03-01 01:11:12.5" }));
    let c = |ty: &str, then: &str| {
        format!(
            r#"{{ name = "c", type = "{ty}", transforms = [{{ expr = "if modified == () {{ created }} else {{ modified }}" }}, {then}] }}"#
        )
    };
    assert_eq!(
        text(&c("DATETIME(3)", r#"{ timezone = "utc" }"#), &r),
        some("2024-02-29 17:11:12.500")
    );
    assert_eq!(text(&c("DATE", r#""date""#), &r), some("2024-03-01"));
    assert_eq!(
        text(&c("VARCHAR(16)", r#"{ format = "%m/%d %H:%M" }"#), &r),
        some("03/01 01:11")
    );
    let day = r#"{ name = "c", type = "VARCHAR(16)", transforms = [{ expr = '"2024-03-01"' }, { format = "%Y年%m月%d日" }] }"#;
    assert_eq!(text(day, &r), some("2024年03月01日"));
    let e = dead(
        r#"{ name = "c", type = "DATETIME", transforms = [{ expr = '"soon"' }, { timezone = "utc" }] }"#,
        &r,
    );
    assert!(
        e.contains("transform 2: timezone does not apply to the text value soon"),
        "{e}"
    );
}

#[test]
fn names_hold_no_character_beyond_the_basic_multilingual_plane() {
    let e = refused(r#"{ name = "退款😀", type = "INT", source = "note_count" }"#);
    assert_names(
        &e,
        Some("退款😀"),
        &["the column name", "'😀'", "Basic Multilingual Plane", "remove it"],
    );
    let e = compile(&table("refund", &[ID]).replacen("name = \"t\"", "name = \"t😀\"", 1)).unwrap_err();
    assert_eq!(e.table, "t😀");
    assert!(
        e.problem.contains("the table name") && e.problem.contains("'😀'"),
        "{e}"
    );
    assert!(column(r#"{ name = "退款ｱ①", type = "INT", source = "note_count" }"#).is_ok());
}

#[test]
fn times_written_as_text_keep_their_fraction() {
    let r = refund(json!({ "modified": "2024-03-02 08:00:00.250", "created": "2024-03-02 08:00:00" }));
    let c = |source: &str| format!(r#"{{ name = "c", type = "VARCHAR(32)", source = "{source}" }}"#);
    assert_eq!(text(&c("modified"), &r), some("2024-03-02 08:00:00.250"));
    assert_eq!(text(&c("created"), &r), some("2024-03-02 08:00:00"));
    let joined = r#"{ name = "c", type = "VARCHAR(64)", source = "modified", transforms = [{ concat = { fields = ["created"], separator = " / " } }] }"#;
    assert_eq!(text(joined, &r), some("2024-03-02 08:00:00.250 / 2024-03-02 08:00:00"));
    let e = r#"{ name = "c", type = "VARCHAR(32)", transforms = [{ expr = "modified" }] }"#;
    assert_eq!(text(e, &r), some("2024-03-02 08:00:00.250"));
}

/// As found by creating the table on MariaDB 10.11.
#[test]
fn a_table_holds_at_most_1017_columns() {
    let columns: Vec<String> = (0..1015)
        .map(|i| format!(r#"{{ name = "c{i}", type = "INT", source = "note_count" }}"#))
        .collect();
    let mut all: Vec<&str> = vec![ID];
    all.extend(columns.iter().map(String::as_str));
    // With the account the sink adds: 1017.
    assert_eq!(
        compile(&table("refund", &all)).unwrap().tables()[0].columns().len(),
        1017
    );
    all.push(r#"{ name = "one_more", type = "INT", source = "note_count" }"#);
    let e = compile(&table("refund", &all)).unwrap_err();
    assert_names(&e, None, &["has 1018 columns", "holds 1017", "split it"]);
}

#[test]
fn a_unix_timestamp_is_formatted_from_utc_only() {
    // 2024-03-01 08:00:00 in Beijing is 2024-03-01 00:00:00 UTC: 1709251200.
    let r = refund(json!({ "created": "2024-03-01 08:00:00" }));
    let utc = r#"{ name = "c", type = "VARCHAR(16)", source = "created", transforms = [{ timezone = "utc" }, { format = "%s" }] }"#;
    assert_eq!(text(utc, &r), some("1709251200"));
    for pattern in ["%s", "ts=%-s", "%Y %_s"] {
        let e = refused(&format!(
            r#"{{ name = "c", type = "VARCHAR(16)", source = "created", transforms = [{{ format = "{pattern}" }}] }}"#
        ));
        assert_names(
            &e,
            Some("c"),
            &["transform 1 (format)", "%s", "hours off", "timezone = \"utc\""],
        );
    }
    let tokyo = r#"{ name = "c", type = "VARCHAR(16)", source = "created", transforms = [{ timezone = "+09:00" }, { format = "%s" }] }"#;
    assert_names(&refused(tokyo), Some("c"), &["transform 2 (format)"]);
    // `%%s` is a literal "%s".
    let literal = r#"{ name = "c", type = "VARCHAR(16)", source = "created", transforms = [{ format = "%%s%Y" }] }"#;
    assert_eq!(text(literal, &r), some("%s2024"));
}
