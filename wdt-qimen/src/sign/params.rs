//! Which `params` are sent, so that every official `wdt_sign` helper signs them alike.
//!
//! WDT checks the inner `wdt_sign` of a Qimen call with code of its own, and which of its
//! published helpers it follows is not known: WDT's PHP helper (`WdtUtils::getQimenCustomWdtSign`)
//! and its Java helper flatten most `params` the same way as [`qimen_wdt_sign`](super::qimen_wdt_sign),
//! but not all. [`normalize`] runs before every request of [`Client::call`](crate::Client::call)
//! and [`Client::call_page`](crate::Client::call_page) (so also of every
//! [`RefundSearch`](crate::RefundSearch)), on both routes so that a call behaves the same on
//! either. It rewrites a shape where one form means the same to the API, refuses the rest with
//! [`Error::UnsignableParam`] before anything is sent, and keeps everything else as it is:
//!
//! | in `params` | PHP helper signs | Java helper signs | sent |
//! |---|---|---|---|
//! | `null` in an object, at any depth | the key, empty value | nothing | dropped (null and absent mean the same) |
//! | `""` at the top level | the key, empty value | the key, empty value | dropped |
//! | a number | PHP's int or float text: `1.50` → `1.5`, `1e-7` → `1.0E-7`, `-0.0` → `-0`, past 2^63 → `1.844674407371E+19` | integer digits, BigDecimal plain text: `1.50`, `0.0000001`, `0.0` | its [canonical text](canonical_number), which both print unchanged: `1.50` → `1.5`, `2.0` → `2`, `1e2` → `100`, `-0.0` → `0`; refused when there is none |
//! | a boolean in an object | `true`/`false` | `true`/`false` | as is |
//! | a boolean in a list | `1` or nothing | (not known) | refused |
//! | a `null` in a list | nothing | (not known) | refused |
//! | an object or a list in a list | the word `Array` | throws | refused |
//! | a string that starts like JSON (`{` or `[` after whitespace) | in an object its parsed content, in a list the text | the same, with another JSON parser | refused |
//! | any other string | the text | the text | as is |
//! | an object key that is not an ASCII identifier | `ksort` order: numeric keys sort as numbers | string order (UTF-16) | refused |
//! | a Qimen method not starting with `wdt.` | the name with its prefix cut | the name | refused ([`check_qimen_method`]) |
//!
//! On what is sent, the PHP and Java helpers and [`qimen_wdt_sign`](super::qimen_wdt_sign) compute
//! the same string. Object keys are accepted when they are ASCII letters, digits, `_`, `-` or
//! `.`, starting with a letter or `_`.

use serde_json::{Map, Number, Value};

use crate::error::Error;
use crate::sign::is_java_whitespace;

/// The largest number of significant digits of a non-integer PHP prints unchanged (its
/// `precision` setting, 14 by default).
const PHP_PRECISION: usize = 14;

const NUMBER_PROBLEM: &str = "WDT's PHP helper signs a number as PHP int or float text \
    (1.50 as 1.5, 1e-7 as 1.0E-7, integers past 2^63 in E notation), its Java helper as \
    BigDecimal text, and this number has no text both print alike";
const NUMBER_FIX: &str = "send it as a string, or as an integer within ±2^63, or as a decimal of \
    at most 14 significant digits and at least 0.0001 in magnitude";
const JSON_TEXT_PROBLEM: &str = "a string that starts like JSON ({ or [) is signed as its parsed \
    content or as text depending on where it is, and WDT's helpers parse JSON differently";
const JSON_TEXT_FIX: &str = "send the object or list itself rather than its text, or text that does \
    not start with { or [";

/// `params` as they are sent for `method`: nulls in objects dropped at every depth, `""` dropped
/// at the top level, numbers in their [canonical text](canonical_number). A shape the official
/// `wdt_sign` helpers sign differently is refused with [`Error::UnsignableParam`], which names
/// its path (`params.shop_nos[2]`), its value and what to send instead. The rule is in the
/// [module documentation](self). Normalizing a normalized map changes nothing.
pub fn normalize(method: &str, params: &Map<String, Value>) -> Result<Map<String, Value>, Error> {
    object(method, "params", params, true)
}

/// Refuses a Qimen method name that WDT's PHP and Java helpers hash differently: PHP cuts
/// everything up to the first `.` from a name that does not start with `wdt.`, Java does not.
pub fn check_qimen_method(method: &str) -> Result<(), Error> {
    if method.starts_with("wdt.") {
        return Ok(());
    }
    Err(Error::UnsignableParam {
        method: method.to_owned(),
        path: "method".into(),
        value: format!("{method:?}"),
        problem: "WDT's PHP helper signs a Qimen method that does not start with wdt. without the \
            prefix before its first '.', its Java helper signs it whole",
        fix: "give the Qimen name of the method, starting with wdt. (wdt.aftersales.refund.refund.search)",
    })
}

/// The one text of a JSON number that WDT's PHP helper (PHP int, or float printed with 14
/// significant digits) and its Java helper (integer or BigDecimal plain text) both print as it
/// is, or `None` when there is none. Integers within ±2^63 are written without exponent or
/// `-0`; other numbers without trailing zeros or exponent, when they have at most 14
/// significant digits and are at least 0.0001 in magnitude (`1.50` → `1.5`, `2.0` → `2`,
/// `1e2` → `100`, `-0.0` → `0`; `1e-7`, `0.123456789012345` and `18446744073709551621` have none).
pub fn canonical_number(text: &str) -> Option<String> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, "0"),
    };
    let exponent: i64 = exponent.strip_prefix('+').unwrap_or(exponent).parse().ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !all_digits(int) || !all_digits(frac) || exponent.abs() > 1000 {
        return None;
    }
    let digits = format!("{int}{frac}");
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return Some("0".into());
    }
    let kept = significant.trim_end_matches('0');
    // The value is `kept × 10^power`, `kept` without leading or trailing zeros.
    let power = exponent - frac.len() as i64 + (significant.len() - kept.len()) as i64;
    let sign = if negative { "-" } else { "" };
    if power >= 0 {
        if kept.len() as i64 + power > 19 {
            return None;
        }
        let text = format!("{sign}{kept}{}", "0".repeat(power as usize));
        return text.parse::<i64>().is_ok().then_some(text);
    }
    // Digits before the decimal point (0 or less: `0.` and that many zeros first).
    let point = kept.len() as i64 + power;
    if kept.len() > PHP_PRECISION || point < -3 {
        return None;
    }
    Some(if point <= 0 {
        format!("{sign}0.{}{kept}", "0".repeat(point.unsigned_abs() as usize))
    } else {
        let (whole, part) = kept.split_at(point as usize);
        format!("{sign}{whole}.{part}")
    })
}

fn refuse(method: &str, path: &str, value: &Value, problem: &'static str, fix: &'static str) -> Error {
    Error::UnsignableParam {
        method: method.to_owned(),
        path: path.to_owned(),
        value: clip(&value.to_string(), 80),
        problem,
        fix,
    }
}

/// An object key every helper sorts in byte order: never a PHP numeric string, always ASCII.
fn is_plain_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Whether a string starts like a JSON object or list, after any whitespace or control character
/// some parser might skip.
fn looks_like_json(s: &str) -> bool {
    s.trim_start_matches(|c: char| c.is_whitespace() || is_java_whitespace(c) || c.is_control() || c == '\u{feff}')
        .starts_with(['{', '['])
}

fn object(method: &str, path: &str, map: &Map<String, Value>, top: bool) -> Result<Map<String, Value>, Error> {
    let mut out = Map::new();
    for (key, value) in map {
        if !is_plain_key(key) {
            return Err(refuse(
                method,
                path,
                &Value::String(key.clone()),
                "WDT's PHP helper sorts keys that look like numbers, or are not ASCII, in another \
                 order than its Java helper",
                "use keys of ASCII letters, digits, '_', '-' and '.', starting with a letter or '_'",
            ));
        }
        let here = format!("{path}.{key}");
        let kept = match value {
            Value::Null => continue,
            Value::String(s) if top && s.is_empty() => continue,
            Value::Bool(_) => value.clone(),
            Value::Number(n) => number(method, &here, n)?,
            Value::String(s) => text(method, &here, s)?,
            Value::Array(items) => list(method, &here, items)?,
            Value::Object(inner) => Value::Object(object(method, &here, inner, false)?),
        };
        out.insert(key.clone(), kept);
    }
    Ok(out)
}

fn list(method: &str, path: &str, items: &[Value]) -> Result<Value, Error> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let here = format!("{path}[{i}]");
        out.push(match item {
            Value::Number(n) => number(method, &here, n)?,
            Value::String(s) => text(method, &here, s)?,
            Value::Bool(_) => {
                return Err(refuse(
                    method,
                    &here,
                    item,
                    "WDT's PHP helper signs a boolean inside a list as 1 or nothing, not as true/false",
                    "send the list as text, or the booleans as fields of an object",
                ))
            }
            Value::Null => {
                return Err(refuse(
                    method,
                    &here,
                    item,
                    "WDT's PHP and Java helpers sign a null inside a list differently",
                    "leave it out of the list",
                ))
            }
            Value::Array(_) | Value::Object(_) => {
                return Err(refuse(
                    method,
                    &here,
                    item,
                    "WDT's PHP helper signs an object or list inside a list as the word Array, its \
                     Java helper refuses it",
                    "send a list of strings or numbers",
                ))
            }
        });
    }
    Ok(Value::Array(out))
}

fn number(method: &str, path: &str, n: &Number) -> Result<Value, Error> {
    let text = n.to_string();
    match canonical_number(&text) {
        Some(canonical) if canonical == text => Ok(Value::Number(n.clone())),
        Some(canonical) => Ok(Value::Number(
            canonical.parse().expect("a canonical number is a JSON number"),
        )),
        None => Err(refuse(
            method,
            path,
            &Value::Number(n.clone()),
            NUMBER_PROBLEM,
            NUMBER_FIX,
        )),
    }
}

fn text(method: &str, path: &str, s: &str) -> Result<Value, Error> {
    if looks_like_json(s) {
        return Err(refuse(
            method,
            path,
            &Value::String(s.to_owned()),
            JSON_TEXT_PROBLEM,
            JSON_TEXT_FIX,
        ));
    }
    Ok(Value::String(s.to_owned()))
}

#[cfg(test)]
mod tests;

/// The first `max` characters of a parameter's text, with `…` when cut.
fn clip(text: &str, max: usize) -> String {
    let mut s: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        s.push('…');
    }
    s
}
