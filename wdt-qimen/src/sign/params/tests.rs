//! The minimal cases of the differential run against the official helpers, and properties over
//! every `params` the public API accepts, checked with two small reference functions: the
//! `wdt_sign` flattening of WDT's PHP helper and of its Java helper, as their behaviour is
//! published (each returns `None` where the helper throws or its result is not known).

use std::cmp::Ordering;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::*;
use crate::api::aftersales::RefundSearch;
use crate::credentials::{QimenCredentials, Route, WdtCredentials};
use crate::sign::{qimen_wdt_sign_content, WDT_SIGN_EXCLUDED};
use crate::transport::{prepare, PageRequest, REFUND_SEARCH};

// ---------------------------------------------------------------------------------------------
// Reference: WDT's PHP helper
// ---------------------------------------------------------------------------------------------

/// PHP's `(string)` of a float at `precision=14`: 14 significant digits, trailing zeros dropped,
/// E notation (`1.0E-7`, `1.844674407371E+19`) when the point is more than 3 places left of the
/// first digit or more than 14 right of it.
fn php_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "INF" } else { "-INF" }.into();
    }
    let sign = if f < 0.0 { "-" } else { "" };
    let formatted = format!("{:.13e}", f.abs());
    let (mantissa, exp) = formatted.split_once('e').unwrap();
    let exp: i64 = exp.parse().unwrap();
    let digits = mantissa.replace('.', "");
    let digits = digits.trim_end_matches('0');
    let point = exp + 1;
    if !(-3..=14).contains(&point) {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}.{rest}E{esign}{}", exp.abs())
    } else if point <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if digits.len() as i64 <= point {
        format!("{sign}{digits}{}", "0".repeat((point - digits.len() as i64) as usize))
    } else {
        let (whole, part) = digits.split_at(point as usize);
        format!("{sign}{whole}.{part}")
    }
}

/// A JSON number after PHP's `json_decode` and `(string)`: an int when it is an integer literal
/// within 64 bits, else a float.
fn php_number(text: &str) -> String {
    if !text.contains(['.', 'e', 'E']) {
        if let Ok(i) = text.parse::<i64>() {
            return i.to_string();
        }
    }
    php_float(text.parse().unwrap())
}

/// `ksort` compares numeric strings as numbers (and PHP arrays turn integer keys into ints):
/// keys that may be numeric are not modelled.
fn php_sorted_keys<'a>(keys: impl Iterator<Item = &'a str>) -> Option<Vec<&'a str>> {
    let mut keys: Vec<&str> = keys.collect();
    let maybe_numeric = |k: &str| {
        k.starts_with(|c: char| {
            c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}')
        })
    };
    if keys.iter().any(|k| maybe_numeric(k)) {
        return None;
    }
    keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Some(keys)
}

/// An object: sorted keys, the excluded keys skipped, each key followed by its value; `null`
/// gives an empty value, a boolean `true`/`false`, a string that `json_decode`s to an array its
/// flattening, any other string its text.
fn php_object(out: &mut String, map: &Map<String, Value>) -> Option<()> {
    for key in php_sorted_keys(map.keys().map(String::as_str))? {
        if WDT_SIGN_EXCLUDED.contains(&key) {
            continue;
        }
        out.push_str(key);
        match &map[key] {
            Value::Null => {}
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&php_number(&n.to_string())),
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(inner)) => php_object(out, &inner)?,
                Ok(Value::Array(items)) => php_list(out, &items)?,
                _ => out.push_str(s),
            },
            Value::Object(inner) => php_object(out, inner)?,
            Value::Array(items) => php_list(out, items)?,
        }
    }
    Some(())
}

/// A list: each element cast to a PHP string (booleans `1`/empty, null empty, strings raw); an
/// array element is the word `Array` with a notice, not modelled.
fn php_list(out: &mut String, items: &[Value]) -> Option<()> {
    for item in items {
        match item {
            Value::Null | Value::Bool(false) => {}
            Value::Bool(true) => out.push('1'),
            Value::Number(n) => out.push_str(&php_number(&n.to_string())),
            Value::String(s) => out.push_str(s),
            Value::Array(_) | Value::Object(_) => return None,
        }
    }
    Some(())
}

/// What WDT's PHP helper hashes for these form fields: `method` added, its prefix before the
/// first `.` cut unless it starts with `wdt.`.
fn php_content(form: &[(String, String)], method: &str) -> Option<String> {
    let method = if method.starts_with("wdt.") {
        method
    } else {
        &method[method.find('.').map_or(0, |i| i + 1)..]
    };
    let mut top: Map<String, Value> = form
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    top.insert("method".into(), Value::String(method.into()));
    let mut out = String::new();
    php_object(&mut out, &top)?;
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Reference: WDT's Java helper
// ---------------------------------------------------------------------------------------------

/// A JSON number as the Java helper prints it: an integer literal as its digits, anything else
/// as `BigDecimal.toPlainString()` (scale kept: `1.50`, `0.0000001`, `-0.0` → `0.0`).
fn java_number(text: &str) -> String {
    let (negative, rest) = text.strip_prefix('-').map_or((false, text), |r| (true, r));
    let (mantissa, exp) = rest.split_once(['e', 'E']).unwrap_or((rest, "0"));
    let exp: i64 = exp.strip_prefix('+').unwrap_or(exp).parse().unwrap();
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let unscaled = format!("{int}{frac}");
    let unscaled = unscaled.trim_start_matches('0');
    let scale = frac.len() as i64 - exp;
    let sign = if negative && !unscaled.is_empty() { "-" } else { "" };
    if unscaled.is_empty() {
        return if scale > 0 {
            format!("0.{}", "0".repeat(scale as usize))
        } else {
            "0".into()
        };
    }
    if scale <= 0 {
        return format!("{sign}{unscaled}{}", "0".repeat(scale.unsigned_abs() as usize));
    }
    let scale = scale as usize;
    let padded = format!("{}{unscaled}", "0".repeat((scale + 1).saturating_sub(unscaled.len())));
    let (whole, part) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{part}")
}

/// Java sorts keys as `String`s: by UTF-16 code units.
fn java_sorted_keys(map: &Map<String, Value>) -> Vec<&str> {
    let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
    keys.sort_by(|a, b| -> Ordering { a.encode_utf16().cmp(b.encode_utf16()) });
    keys
}

/// An object: sorted keys, the excluded keys and nulls skipped; a string that starts with `{` or
/// `[` after `String.trim()` is parsed (by another JSON parser than PHP's: text that
/// strict JSON refuses is not modelled).
fn java_object(out: &mut String, map: &Map<String, Value>) -> Option<()> {
    for key in java_sorted_keys(map) {
        let value = &map[key];
        if WDT_SIGN_EXCLUDED.contains(&key) || value.is_null() {
            continue;
        }
        out.push_str(key);
        match value {
            Value::Null => unreachable!(),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&java_number(&n.to_string())),
            Value::String(s) => {
                if s.trim_matches(|c: char| c <= ' ').starts_with(['{', '[']) {
                    match serde_json::from_str::<Value>(s).ok()? {
                        Value::Object(inner) => java_object(out, &inner)?,
                        Value::Array(items) => java_list(out, &items)?,
                        _ => return None,
                    }
                } else {
                    out.push_str(s);
                }
            }
            Value::Object(inner) => java_object(out, inner)?,
            Value::Array(items) => java_list(out, items)?,
        }
    }
    Some(())
}

/// A list: strings raw, numbers as above; a nested list throws; booleans, nulls and objects
/// are not modelled.
fn java_list(out: &mut String, items: &[Value]) -> Option<()> {
    for item in items {
        match item {
            Value::String(s) => out.push_str(s),
            Value::Number(n) => out.push_str(&java_number(&n.to_string())),
            _ => return None,
        }
    }
    Some(())
}

/// What WDT's Java helper hashes for these form fields: `method` added unchanged.
fn java_content(form: &[(String, String)], method: &str) -> Option<String> {
    let mut top: Map<String, Value> = form
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    top.insert("method".into(), Value::String(method.into()));
    let mut out = String::new();
    java_object(&mut out, &top)?;
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn params(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// Parses JSON text keeping number text as written.
fn parse(text: &str) -> Map<String, Value> {
    params(serde_json::from_str(text).unwrap())
}

/// The application form fields the client sends on Qimen for these (normalized) params.
fn sent_form(p: &Map<String, Value>) -> Vec<(String, String)> {
    let route = Route::Qimen {
        url: "http://127.0.0.1:9/router/qm".into(),
        qimen: QimenCredentials::new("12345678", "qmsecret").unwrap(),
        wdt: WdtCredentials::new("wdtapi3", "wdtapi3-test9", "testsecret:testsalt").unwrap(),
    };
    let now = chrono::DateTime::from_timestamp(1_767_294_245, 0).unwrap();
    let page = PageRequest {
        page_no: 1,
        page_size: 100,
    };
    let prepared = prepare(&route, &REFUND_SEARCH, p, Some(page), now);
    url::form_urlencoded::parse(prepared.body.as_bytes())
        .into_owned()
        .filter(|(k, _)| k != "wdt_sign")
        .collect()
}

/// The content of `params` alone, as [`qimen_wdt_sign_content`] hashes it with method `wdt.x`.
fn content_of(p: &Map<String, Value>) -> String {
    qimen_wdt_sign_content([("params", Value::Object(p.clone()).to_string().as_str())], "wdt.x")
}

fn refusal(text: &str) -> Error {
    normalize("wdt.x", &parse(text)).expect_err(text)
}

/// Checks that the request sent for `p` signs alike under both helpers and this crate.
fn assert_helpers_agree(p: &Map<String, Value>) -> Result<(), TestCaseError> {
    let form = sent_form(p);
    let pairs = || form.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let ours = qimen_wdt_sign_content(pairs(), REFUND_SEARCH.qimen);
    let php = php_content(&form, REFUND_SEARCH.qimen);
    let java = java_content(&form, REFUND_SEARCH.qimen);
    prop_assert_eq!(php.as_deref(), Some(ours.as_str()), "PHP, sent {:?}", form);
    prop_assert_eq!(java.as_deref(), Some(ours.as_str()), "Java, sent {:?}", form);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The reference functions reproduce the differential run
// ---------------------------------------------------------------------------------------------

#[test]
fn the_references_reproduce_the_helpers_published_results() {
    let php = |text: &str| php_content(&[("params".into(), text.into())], "wdt.x");
    let java = |text: &str| java_content(&[("params".into(), text.into())], "wdt.x");
    assert_eq!(php(r#"{"a":null}"#).unwrap(), "methodwdt.xparamsa");
    assert_eq!(java(r#"{"a":null}"#).unwrap(), "methodwdt.xparams");
    assert_eq!(php(r#"{"a":[true]}"#).unwrap(), "methodwdt.xparamsa1");
    assert_eq!(php(r#"{"a":["{\"x\":1}"]}"#).unwrap(), r#"methodwdt.xparamsa{"x":1}"#);
    assert_eq!(java(r#"{"a":["{\"x\":1}"]}"#).unwrap(), r#"methodwdt.xparamsa{"x":1}"#);
    assert_eq!(java(r#"{"a":[[1]]}"#), None);
    for (number, php_text, java_text) in [
        ("1.50", "1.5", "1.50"),
        ("1e-7", "1.0E-7", "0.0000001"),
        ("-0.0", "-0", "0.0"),
        ("18446744073709551621", "1.844674407371E+19", "18446744073709551621"),
    ] {
        let text = format!(r#"{{"a":{number}}}"#);
        assert_eq!(php(&text).unwrap(), format!("methodwdt.xparamsa{php_text}"), "{number}");
        assert_eq!(
            java(&text).unwrap(),
            format!("methodwdt.xparamsa{java_text}"),
            "{number}"
        );
    }
    // V4: PHP keeps the null `spec_no`, Java skips it (the reference value).
    let v4 = [
        ("datetime", "2020-09-17 19:22:26"),
        ("wdt_salt", "salt"),
        ("wdt3_customer_id", "wdtapi3"),
        ("wdt_appkey", "wdt_appkey"),
        ("pager", r#"{"page_no":1,"page_size":10}"#),
        (
            "params",
            r#"{"end_date":"2020-09-20 00:00:00","spec_no":null,"start_date":"2020-08-23 00:00:00","warehouse_no":"1001"}"#,
        ),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let method = "3ldsmu02o9.wdt.wms.stockspec.querychangehistory";
    let java_v4 = java_content(&v4, "wdt.wms.stockspec.querychangehistory").unwrap();
    let md5 = |c: &str| crate::sign::md5_wrapped("secret", c, false);
    assert_eq!(md5(&java_v4), "1f5e87bbbc8bc68f4f0af70f79620b7d");
    assert_eq!(
        md5(&php_content(&v4, method).unwrap()),
        "a58f06cbf436eea64122bb3d067e4108"
    );
}

// ---------------------------------------------------------------------------------------------
// The minimal cases of the differential run, as vectors
// ---------------------------------------------------------------------------------------------

#[test]
fn a_nested_null_is_dropped_at_every_level() {
    let n = normalize("wdt.x", &parse(r#"{"a":null}"#)).unwrap();
    assert_eq!(content_of(&n), "methodwdt.xparams");
    let n = normalize("wdt.x", &parse(r#"{"a":{"b":null,"c":{"d":null,"e":"f"}},"g":""}"#)).unwrap();
    assert_eq!(Value::Object(n.clone()).to_string(), r#"{"a":{"c":{"e":"f"}}}"#);
    assert_eq!(content_of(&n), "methodwdt.xparamsacef");
}

#[test]
fn a_boolean_inside_a_list_is_refused() {
    let e = refusal(r#"{"a":[true]}"#);
    assert_eq!(e.kind(), crate::ErrorKind::Config);
    let text = e.to_string();
    assert!(
        text.contains("params.a[0]") && text.contains("true") && text.contains("boolean"),
        "{text}"
    );
}

#[test]
fn a_json_looking_string_inside_a_list_or_object_is_refused() {
    let text = refusal(r#"{"a":["{\"x\":1}"]}"#).to_string();
    assert!(text.contains("params.a[0]") && text.contains(r#"{\"x\":1}"#), "{text}");
    assert!(text.contains("starts like JSON"), "{text}");
    // Also where the crate and PHP would agree but the Java parser is another one, and after
    // leading whitespace any parser may skip.
    for case in [r#"{"tid":"[true]"}"#, r#"{"tid":" {x:1}"}"#, r#"{"tid":"\u3000[1]"}"#] {
        assert!(refusal(case).to_string().contains("params.tid"), "{case}");
    }
    // Brackets inside the text are fine.
    assert!(normalize("wdt.x", &parse(r#"{"tid":"a[1]{2}"}"#)).is_ok());
}

#[test]
fn numbers_are_sent_in_their_canonical_text() {
    for (sent, canonical) in [
        ("1.50", "1.5"),
        ("-0.0", "0"),
        ("-0", "0"),
        ("2.0", "2"),
        ("1e2", "100"),
        ("0.00010", "0.0001"),
    ] {
        let n = normalize("wdt.x", &parse(&format!(r#"{{"a":{sent},"l":[{sent}]}}"#))).unwrap();
        assert_eq!(n["a"].to_string(), canonical, "{sent}");
        assert_eq!(n["l"].to_string(), format!("[{canonical}]"), "{sent}");
        assert_eq!(content_of(&n), format!("methodwdt.xparamsa{canonical}l{canonical}"));
    }
    let n = normalize("wdt.x", &parse(r#"{"a":1.50}"#)).unwrap();
    assert_eq!(content_of(&n), "methodwdt.xparamsa1.5");
}

#[test]
fn numbers_without_a_common_text_are_refused() {
    for case in [
        "1e-7",
        "18446744073709551621",
        "9223372036854775808",
        "0.123456789012345",
        "0.00001",
    ] {
        let e = refusal(&format!(r#"{{"a":{{"b":{case}}}}}"#));
        let text = e.to_string();
        assert!(text.contains("params.a.b") && text.contains(case), "{text}");
        assert!(text.contains("send it as a string"), "{text}");
    }
}

#[test]
fn nulls_and_containers_inside_lists_and_odd_keys_are_refused() {
    assert!(refusal(r#"{"a":[1,null]}"#).to_string().contains("params.a[1]"));
    assert!(refusal(r#"{"a":[[1]]}"#).to_string().contains("params.a[0]"));
    assert!(refusal(r#"{"a":[{"b":1}]}"#).to_string().contains("params.a[0]"));
    for key in ["10", "1a", "-x", "ä", " a", ""] {
        let text = refusal(&json!({ "a": { key: 1 } }).to_string()).to_string();
        assert!(
            text.contains("params.a") && text.contains(&format!("{key:?}")),
            "{text}"
        );
    }
}

#[test]
fn the_qimen_method_must_start_with_wdt() {
    assert!(check_qimen_method("wdt.aftersales.refund.refund.search").is_ok());
    for bad in ["3ldsmu02o9.wdt.x", "aftersales.refund.Refund.search", "", " "] {
        let text = check_qimen_method(bad).unwrap_err().to_string();
        assert!(text.contains("method") && text.contains("wdt."), "{text}");
    }
}

#[test]
fn the_official_style_refund_search_is_unchanged() {
    // V5's params: sent as they are, and signed as V5.
    let v5 = parse(
        r#"{"modified_from":"2020-01-01 00:00:00","modified_to":"2020-01-20 00:00:00","status":90,"fuzzy_query":false}"#,
    );
    assert_eq!(normalize(REFUND_SEARCH.qimen, &v5).unwrap(), v5);
    assert_helpers_agree(&v5).unwrap();
}

#[test]
fn canonical_numbers() {
    for (text, want) in [
        ("0", Some("0")),
        ("-0e5", Some("0")),
        ("90", Some("90")),
        ("-12.340", Some("-12.34")),
        ("1.5e1", Some("15")),
        ("123e-2", Some("1.23")),
        ("0.0001", Some("0.0001")),
        ("12345678901234.5", None),
        ("1234567890123.4", Some("1234567890123.4")),
        ("9223372036854775807", Some("9223372036854775807")),
        ("-9223372036854775808", Some("-9223372036854775808")),
        ("1e19", None),
        ("1e99999999999999999999", None),
    ] {
        assert_eq!(canonical_number(text).as_deref(), want, "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn arb_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Value::from(f).to_string()),
        "-?(0|[1-9][0-9]{0,21})(\\.[0-9]{1,18})?([eE][+-]?[0-9]{1,2})?",
        prop_oneof![
            Just("-0"),
            Just("-0.0"),
            Just("1.50"),
            Just("1e-7"),
            Just("18446744073709551621")
        ]
        .prop_map(String::from),
    ]
    .prop_map(|text| serde_json::from_str(&text).unwrap())
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => "[a-z_][a-z0-9_]{0,5}",
        1 => "[0-9]{1,3}",
        1 => "\\PC{0,3}",
        1 => prop_oneof![Just("wdt_sign"), Just("wdt3_customer_id"), Just("Z"), Just("a.b-c")].prop_map(String::from),
    ]
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 ,:.\\-\u{4e00}-\u{4e10}]{0,8}",
        1 => "[ \t\n\u{3000}\u{a0}]{0,3}",
        1 => "\\PC{0,6}",
        1 => "[ \t]?[\\[{][a-z0-9:,\"\\[\\]{}]{0,6}",
    ]
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        3 => arb_number(),
        4 => arb_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            2 => proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            2 => proptest::collection::btree_map(arb_key(), inner.clone(), 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            1 => inner.prop_map(|v| Value::String(v.to_string())),
        ]
    })
}

fn arb_params() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map(arb_key(), arb_value(), 0..6).prop_map(|m| m.into_iter().collect())
}

/// Params of shapes every helper signs alike: what normalizing must leave as it is.
fn arb_plain_params() -> impl Strategy<Value = Map<String, Value>> {
    let scalar = prop_oneof![
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z0-9 ,:.\\-\u{4e00}-\u{4e10}]{1,8}".prop_map(Value::String),
    ];
    let in_object = prop_oneof![
        3 => scalar.clone(),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => proptest::collection::vec(scalar, 0..4).prop_map(Value::Array),
    ];
    let nested = proptest::collection::btree_map("[a-z_][a-z0-9_]{0,5}", in_object.clone(), 0..3)
        .prop_map(|m| Value::Object(m.into_iter().collect()));
    let value = prop_oneof![4 => in_object, 1 => nested];
    proptest::collection::btree_map("[a-z_][a-z0-9_]{0,5}", value, 0..6).prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every `params` the client accepts is sent in a form that WDT's PHP and Java helpers and
    /// this crate sign alike; normalizing it again changes nothing.
    #[test]
    fn every_accepted_params_signs_alike_under_php_and_java(p in arb_params()) {
        if let Ok(sent) = normalize(REFUND_SEARCH.qimen, &p) {
            assert_helpers_agree(&sent)?;
            prop_assert_eq!(normalize(REFUND_SEARCH.qimen, &sent).unwrap(), sent);
        }
    }

    /// Plain shapes (strings, 64-bit integers, booleans in objects, lists of strings and
    /// integers, nested objects) are neither refused nor changed.
    #[test]
    fn plain_params_are_sent_as_they_are(p in arb_plain_params()) {
        prop_assert_eq!(normalize(REFUND_SEARCH.qimen, &p).unwrap(), p.clone());
        assert_helpers_agree(&p)?;
    }

    /// A number has a canonical text exactly when its plain text is printed unchanged by both
    /// helpers, and then it is that text.
    #[test]
    fn a_number_is_canonical_exactly_when_both_helpers_print_its_plain_text(
        text in prop_oneof![
            "-?(0|[1-9][0-9]{0,20})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,2})?",
            // Around the ends of 64 bits, where PHP's ints become floats.
            (-1000..1000_i128, any::<bool>()).prop_map(|(d, neg)| {
                let n = if neg { i128::from(i64::MIN) + d } else { i128::from(i64::MAX) + d };
                n.to_string()
            }),
        ],
    ) {
        // The plain text: BigDecimal's, without trailing fraction zeros.
        let java = java_number(&text);
        let plain = if java.contains('.') {
            java.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            java
        };
        let plain = if plain == "-0" { "0".to_owned() } else { plain };
        prop_assert_eq!(java_number(&plain), plain.clone());
        let both = php_number(&plain) == plain;
        prop_assert_eq!(canonical_number(&text), both.then_some(plain));
    }

    /// A `RefundSearch` with any text in its text filters either signs alike under both
    /// helpers, or is refused, exactly when a filter starts like JSON.
    #[test]
    fn every_refund_search_signs_alike_or_is_refused(
        tid in arb_text(),
        buyer_nick in arb_text(),
        shops in proptest::collection::vec(arb_text(), 0..3),
        status in any::<i64>(),
        fuzzy in any::<bool>(),
    ) {
        let search = RefundSearch::modified_between("2024-01-01 00:00:00", "2024-01-02 00:00:00")
            .unwrap()
            .tid(&tid)
            .buyer_nick(&buyer_nick)
            .shop_nos(&shops)
            .status(status)
            .fuzzy_query(fuzzy);
        let p = search.to_params();
        let json_text = p.values().any(|v| v.as_str().is_some_and(looks_like_json));
        match normalize(REFUND_SEARCH.qimen, &p) {
            Ok(sent) => {
                prop_assert!(!json_text);
                prop_assert_eq!(&sent, &p);
                assert_helpers_agree(&sent)?;
            }
            Err(e) => prop_assert!(json_text, "refused {:?}: {}", p, e),
        }
    }
}
