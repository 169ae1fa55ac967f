//! Lenient field decoders for the JSON WDT actually sends.
//!
//! WDT documents a type for every field and then sends something else: integers as strings
//! (`"platform_id": "127"`), times as epoch milliseconds or as `yyyy-MM-dd HH:mm:ss` or as `""`,
//! flags as `true`, `1` or `"1"`, ids as numbers where a string is documented. Each function here
//! accepts every such form of one field type and is meant for
//! `#[serde(default, deserialize_with = "…")]` (the `default` makes an absent key `None`/empty).
//!
//! Every decoder first reads the value into a [`serde_json::Value`]. This matters: with the
//! `arbitrary_precision` feature of `serde_json`, a number that went through serde's internal
//! buffer (a `#[serde(flatten)]` or untagged container around the record) arrives as a map with a
//! private key. `Value` knows that form and turns it back into a [`Number`](serde_json::Number) with its exact text,
//! so nothing here ever sees an `f64`.
//!
//! The `ser_*` functions write what the decoders read back identically
//! (decimals as strings that keep their scale, times as `yyyy-MM-dd HH:mm:ss[.fff]`).

use std::fmt;
use std::marker::PhantomData;

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Error as _, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::{Deserialize, Serializer};
use serde_json::Value;

use crate::time;

/// The format [`ser_opt_time`] writes: `yyyy-MM-dd HH:mm:ss`, plus a fraction only when the
/// time has one (`.fff`, or 6 or 9 digits when needed).
pub const TIME_FORMAT_OUT: &str = "%Y-%m-%d %H:%M:%S%.f";

/// WDT's spelling of "no time" in `DATETIME` columns.
const ZERO_DATETIME: &str = "0000-00-00 00:00:00";

/// A short description of a JSON value for error messages (`"abc"`, `1.5`, `an object`).
fn describe(v: &Value) -> Unexpected<'_> {
    match v {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        // With `arbitrary_precision`, `as_str` is the number's exact text.
        Value::Number(n) => Unexpected::Other(n.as_str()),
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// Parses the text of an integer: `127`, `-3`, and integral decimals such as `127.0` or `1e2`.
fn parse_i64_text(s: &str) -> Option<i64> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(i);
    }
    let d = parse_decimal_text(s)?;
    if d.fract().is_zero() {
        i64::try_from(d.trunc()).ok()
    } else {
        None
    }
}

/// Parses decimal text exactly: plain (`0.1`, `-12.50`) or scientific (`1e2`, `1.5E-3`).
///
/// Unlike [`Decimal::from_scientific`] this never rounds the mantissa: a value with more
/// significant digits than a `Decimal` holds is an error, not a nearby number.
pub fn parse_decimal_text(s: &str) -> Option<Decimal> {
    let s = s.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.is_empty() {
        return None;
    }
    let Some(pos) = s.find(['e', 'E']) else {
        return Decimal::from_str_exact(s).ok();
    };
    let (mantissa, exp) = (&s[..pos], &s[pos + 1..]);
    let mut d = Decimal::from_str_exact(mantissa.strip_prefix('+').unwrap_or(mantissa)).ok()?;
    let exp: i64 = exp.strip_prefix('+').unwrap_or(exp).parse().ok()?;
    let scale = i64::from(d.scale());
    if exp <= scale {
        // Shifting the point left (or right within the existing fraction): a scale change only.
        let new_scale = u32::try_from(scale - exp).ok()?;
        d.set_scale(new_scale).ok()?;
        Some(d)
    } else {
        // Shifting right past the fraction: drop the scale, then multiply by a power of ten.
        d.set_scale(0).ok()?;
        let k = u32::try_from(exp - scale).ok()?;
        if k > Decimal::MAX_SCALE {
            return if d.is_zero() { Some(Decimal::ZERO) } else { None };
        }
        let pow = Decimal::try_from_i128_with_scale(10i128.pow(k), 0).ok()?;
        d.checked_mul(pow)
    }
}

/// Reads any JSON value; a missing value (with `#[serde(default)]`) never gets here.
fn value<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    Value::deserialize(d)
}

/// Optional integer: a JSON number, or a string holding one (`"127"`); `""` and `null` are `None`.
///
/// Integral decimals (`127.0`, `"1e2"`) are accepted; anything else (`1.5`, `"abc"`, `true`) is an
/// error that quotes the value.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = value(d)?;
    let Some(text) = numeric_text::<D::Error>(&v, "an integer")? else {
        return Ok(None);
    };
    parse_i64_text(text)
        .map(Some)
        .ok_or_else(|| D::Error::invalid_value(describe(&v), &"an integer"))
}

/// The text of a number given as a JSON number or a string; `None` for `null` and `""`, an error
/// (quoting the value) for anything else.
fn numeric_text<'v, E: de::Error>(v: &'v Value, expected: &'static str) -> Result<Option<&'v str>, E> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(Some(n.as_str())),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.as_str())),
        other => Err(E::invalid_type(describe(other), &expected)),
    }
}

/// Required integer (e.g. `refund_id`): like [`opt_i64`], but `null` and `""` are errors.
pub fn req_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    opt_i64(d)?.ok_or_else(|| D::Error::custom("expected an integer, found null or an empty string"))
}

/// Optional exact decimal: a JSON number or a string holding one; `""` and `null` are `None`.
///
/// The number's own text is parsed (never an `f64`): `0.1` is exactly one tenth,
/// `12345678901234.5678` keeps every digit, `"1.10"` keeps its scale of 2, `1e2` is 100.
pub fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let v = value(d)?;
    let Some(text) = numeric_text::<D::Error>(&v, "a decimal number")? else {
        return Ok(None);
    };
    parse_decimal_text(text)
        .map(Some)
        .ok_or_else(|| D::Error::invalid_value(describe(&v), &"a decimal number (at most 28 significant digits)"))
}

/// Optional text: a JSON string as is (`""` stays `Some("")`), a number as its exact text
/// (ids sometimes come as numbers), a bool as `true`/`false`; `null` is `None`.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match value(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.as_str().to_owned())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(D::Error::invalid_type(describe(&other), &"a string")),
    }
}

/// Optional flag: `true`/`false`, `1`/`0`, `"1"`/`"0"`, `"true"`/`"false"` (any case);
/// `""` and `null` are `None`.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let v = value(d)?;
    let text = match &v {
        Value::Null => return Ok(None),
        Value::Bool(b) => return Ok(Some(*b)),
        Value::Number(n) => n.as_str(),
        Value::String(s) => s.trim(),
        other => return Err(D::Error::invalid_type(describe(other), &"a flag")),
    };
    match text {
        "" => Ok(None),
        "1" => Ok(Some(true)),
        "0" => Ok(Some(false)),
        t if t.eq_ignore_ascii_case("true") => Ok(Some(true)),
        t if t.eq_ignore_ascii_case("false") => Ok(Some(false)),
        _ => Err(D::Error::invalid_value(describe(&v), &"a flag (true/false, 1/0)")),
    }
}

/// Parses a WDT time string; `Ok(None)` for the "no time" spellings.
///
/// Accepted: `""`, `0000-00-00 00:00:00` (and `0000-00-00`) as `None`; epoch milliseconds as
/// digits (`"1686712380000"`, `0` meaning unset); `yyyy-MM-dd HH:mm:ss` with an optional fraction
/// (`.SSS`), also with a `T` between date and time. Times are Beijing wall time.
pub(crate) fn parse_time_text(s: &str) -> Result<Option<NaiveDateTime>, ()> {
    let s = s.trim();
    if s.is_empty() || s == ZERO_DATETIME || s == "0000-00-00" {
        return Ok(None);
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let ms: i64 = s.parse().map_err(|_| ())?;
        return epoch_ms(ms);
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(Some(t));
        }
    }
    time::parse_wdt(s).map(Some).map_err(|_| ())
}

/// Epoch milliseconds to Beijing wall time; `0` is WDT's "unset".
fn epoch_ms(ms: i64) -> Result<Option<NaiveDateTime>, ()> {
    if ms == 0 {
        return Ok(None);
    }
    time::from_epoch_ms(ms).map(Some).ok_or(())
}

/// Optional time as Beijing wall time ([`NaiveDateTime`]).
///
/// Accepts epoch milliseconds as a JSON number or a numeric string (converted with
/// [`time::from_epoch_ms`]), or `yyyy-MM-dd HH:mm:ss` with an optional `.SSS` fraction.
/// `""`, `null`, `0` and `0000-00-00 00:00:00` are `None`.
pub fn opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDateTime>, D::Error> {
    const EXP: &str = "a time (yyyy-MM-dd HH:mm:ss or epoch milliseconds)";
    let v = value(d)?;
    match &v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_str().parse::<i64>() {
            Ok(ms) => epoch_ms(ms).map_err(|()| D::Error::invalid_value(describe(&v), &EXP)),
            Err(_) => Err(D::Error::invalid_value(describe(&v), &EXP)),
        },
        Value::String(s) => parse_time_text(s).map_err(|()| D::Error::invalid_value(describe(&v), &EXP)),
        other => Err(D::Error::invalid_type(describe(other), &EXP)),
    }
}

/// Optional enum code: any type built from an `i64` code (the enums of
/// [`enums`](super::enums)), read with [`opt_i64`] (number or numeric string, `""` is `None`).
pub fn opt_code<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: From<i64>,
{
    Ok(opt_i64(d)?.map(T::from))
}

/// A list that may be `null`, absent (with `#[serde(default)]`), `""` or `{}`: all are empty.
///
/// Elements are decoded in place, so an error path names the element (`detail_list[2].price`).
pub fn vec_or_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list or null")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Vec<T>, D2::Error> {
            d.deserialize_any(self)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Vec<T>, E> {
            if s.trim().is_empty() {
                Ok(Vec::new())
            } else {
                Err(E::invalid_type(Unexpected::Str(s), &self))
            }
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            while let Some(item) = seq.next_element()? {
                out.push(item);
            }
            Ok(out)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<T>, A::Error> {
            // `{}` is how some PHP back ends spell an empty list; a non-empty map is an error.
            match map.next_key::<de::IgnoredAny>()? {
                None => Ok(Vec::new()),
                Some(_) => Err(A::Error::invalid_type(Unexpected::Map, &self)),
            }
        }
    }
    d.deserialize_any(V(PhantomData))
}

/// An optional object that may be `null`, absent, `""` or `[]` (all `None`).
///
/// The object is decoded in place, so an error path names its field (`swap_order.post_amount`).
pub fn opt_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object or null")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Option<T>, D2::Error> {
            d.deserialize_any(self)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<T>, E> {
            if s.trim().is_empty() {
                Ok(None)
            } else {
                Err(E::invalid_type(Unexpected::Str(s), &self))
            }
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<T>, A::Error> {
            // `[]` is how some PHP back ends spell an empty object.
            match seq.next_element::<de::IgnoredAny>()? {
                None => Ok(None),
                Some(_) => Err(A::Error::invalid_type(Unexpected::Seq, &self)),
            }
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_any(V(PhantomData))
}

/// Writes an optional decimal as a string that keeps its scale (`"1.10"`), or `null`.
pub fn ser_opt_decimal<S: Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(d) => s.collect_str(d),
        None => s.serialize_none(),
    }
}

/// Writes an optional time as `yyyy-MM-dd HH:mm:ss[.fff]` ([`TIME_FORMAT_OUT`]), or `null`.
pub fn ser_opt_time<S: Serializer>(v: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(t) => s.collect_str(&t.format(TIME_FORMAT_OUT)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// A list element that only decodes through the lenient integer decoder.
    #[derive(Debug, PartialEq, Deserialize)]
    struct Item {
        #[serde(default, deserialize_with = "opt_i64")]
        n: Option<i64>,
    }

    /// Defines `$name(json_value)`: decodes `{"v": json_value}` (or `{}` for `ABSENT`) three
    /// ways (directly, through serde's buffer via `flatten`, and from a `Value`), checks that
    /// they agree, and returns the direct result.
    macro_rules! probe {
        ($name:ident, $f:literal, $t:ty) => {
            fn $name(v: &str) -> Result<$t, String> {
                #[derive(Debug, Deserialize)]
                struct Direct {
                    #[serde(default, deserialize_with = $f)]
                    v: $t,
                }
                #[derive(Debug, Deserialize)]
                struct Buffered {
                    #[serde(flatten)]
                    inner: Direct,
                }
                let json = if v == "ABSENT" {
                    "{}".to_owned()
                } else {
                    format!(r#"{{"v":{v}}}"#)
                };
                let direct = serde_json::from_str::<Direct>(&json)
                    .map(|d| d.v)
                    .map_err(|e| e.to_string());
                let buffered = serde_json::from_str::<Buffered>(&json)
                    .map(|d| d.inner.v)
                    .map_err(|e| e.to_string());
                let value: Value = serde_json::from_str(&json).unwrap();
                let from_value = serde_json::from_value::<Direct>(value)
                    .map(|d| d.v)
                    .map_err(|e| e.to_string());
                assert_eq!(direct.as_ref().ok(), buffered.as_ref().ok(), "buffered {json}");
                assert_eq!(direct.as_ref().ok(), from_value.as_ref().ok(), "value {json}");
                assert_eq!(direct.is_ok(), buffered.is_ok(), "buffered {json}: {buffered:?}");
                assert_eq!(direct.is_ok(), from_value.is_ok(), "value {json}");
                direct
            }
        };
    }

    probe!(int, "opt_i64", Option<i64>);
    probe!(dec, "opt_decimal", Option<Decimal>);
    probe!(text, "opt_string", Option<String>);
    probe!(flag, "opt_bool", Option<bool>);
    probe!(when, "opt_time", Option<NaiveDateTime>);
    probe!(list, "vec_or_empty", Vec<Item>);
    probe!(object, "opt_object", Option<Item>);

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    /// The pitfall the decoders exist for: with `arbitrary_precision`, `Decimal`'s own
    /// `Deserialize` rejects a JSON number, and through serde's buffer (`flatten`) it sees a map.
    /// If this ever passes, the probes' buffered path lost its point.
    #[test]
    fn plain_decimals_fail_under_arbitrary_precision() {
        #[derive(Debug, Deserialize)]
        struct Naive {
            #[allow(dead_code)]
            v: Decimal,
        }
        #[derive(Debug, Deserialize)]
        struct Buffered {
            #[serde(flatten)]
            #[allow(dead_code)]
            inner: Naive,
        }
        assert!(serde_json::from_str::<Naive>(r#"{"v":"1.5"}"#).is_ok());
        assert!(serde_json::from_str::<Naive>(r#"{"v":1.5}"#).is_err());
        let e = serde_json::from_str::<Buffered>(r#"{"v":1.5}"#).unwrap_err();
        assert!(e.to_string().contains("map"), "{e}");
        assert_eq!(dec("1.5"), Ok(Some(d("1.5"))));
    }

    #[test]
    fn integers() {
        assert_eq!(int("127"), Ok(Some(127)));
        assert_eq!(int(r#""127""#), Ok(Some(127)));
        assert_eq!(int(r#"" -42 ""#), Ok(Some(-42)));
        assert_eq!(int("127.0"), Ok(Some(127)));
        assert_eq!(int("1e2"), Ok(Some(100)));
        assert_eq!(int("9223372036854775807"), Ok(Some(i64::MAX)));
        assert_eq!(int(r#""""#), Ok(None));
        assert_eq!(int("null"), Ok(None));
        assert_eq!(int("ABSENT"), Ok(None));
    }

    #[test]
    fn bad_integers_name_the_value() {
        let e = int(r#""abc""#).unwrap_err();
        assert!(e.contains("\"abc\"") && e.contains("integer"), "{e}");
        let e = int("1.5").unwrap_err();
        assert!(e.contains("1.5"), "{e}");
        assert!(int("9223372036854775808").is_err());
        assert!(int("true").is_err());
        assert!(int("[1]").is_err());
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(dec("0.1"), Ok(Some(d("0.1"))));
        assert_eq!(dec("0.1").unwrap().unwrap().to_string(), "0.1");
        let big = dec("12345678901234.5678").unwrap().unwrap();
        assert_eq!(big.to_string(), "12345678901234.5678");
        let max = dec("99999999999999.9999").unwrap().unwrap();
        assert_eq!(max.to_string(), "99999999999999.9999");
        let kept = dec(r#""1.10""#).unwrap().unwrap();
        assert_eq!((kept.to_string().as_str(), kept.scale()), ("1.10", 2));
        assert_eq!(dec("1e2").unwrap().unwrap().to_string(), "100");
        assert_eq!(dec("1.5E-3").unwrap().unwrap().to_string(), "0.0015");
        assert_eq!(dec(r#""-0.50""#).unwrap().unwrap().to_string(), "-0.50");
        assert_eq!(dec("0"), Ok(Some(Decimal::ZERO)));
        assert_eq!(dec(r#""""#), Ok(None));
        assert_eq!(dec("null"), Ok(None));
        assert_eq!(dec("ABSENT"), Ok(None));
    }

    #[test]
    fn bad_decimals_are_errors_not_roundings() {
        let e = dec(r#""abc""#).unwrap_err();
        assert!(e.contains("\"abc\""), "{e}");
        // 29 fractional digits do not fit: an error, never a rounded neighbour.
        assert!(dec("0.12345678901234567890123456789").is_err());
        assert!(dec("1e-29").is_err());
        assert!(dec("1e40").is_err());
        assert!(dec("true").is_err());
    }

    #[test]
    fn scientific_text() {
        let p = |s| parse_decimal_text(s).map(|d| d.to_string());
        assert_eq!(p("1.10e1").as_deref(), Some("11.0"));
        assert_eq!(p("1.25e+3").as_deref(), Some("1250"));
        assert_eq!(p("-2E-2").as_deref(), Some("-0.02"));
        assert_eq!(p("+3").as_deref(), Some("3"));
        assert_eq!(p("0e99").as_deref(), Some("0"));
        assert_eq!(p("1e"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("1.2.3"), None);
        assert_eq!(parse_decimal_text("0.1"), Decimal::from_str("0.1").ok());
    }

    #[test]
    fn strings() {
        assert_eq!(text(r#""abc""#), Ok(Some("abc".into())));
        assert_eq!(text(r#""""#), Ok(Some(String::new())));
        assert_eq!(text("1495759864643715076"), Ok(Some("1495759864643715076".into())));
        assert_eq!(text("12.50"), Ok(Some("12.50".into())));
        assert_eq!(text("true"), Ok(Some("true".into())));
        assert_eq!(text("null"), Ok(None));
        assert_eq!(text("ABSENT"), Ok(None));
        assert!(text("[]").is_err());
        assert!(text("{}").is_err());
    }

    #[test]
    fn flags() {
        for (input, want) in [
            ("true", Some(true)),
            ("false", Some(false)),
            ("1", Some(true)),
            ("0", Some(false)),
            (r#""1""#, Some(true)),
            (r#""0""#, Some(false)),
            (r#""true""#, Some(true)),
            (r#""FALSE""#, Some(false)),
            (r#""""#, None),
            ("null", None),
            ("ABSENT", None),
        ] {
            assert_eq!(flag(input), Ok(want), "{input}");
        }
        assert!(flag("2").unwrap_err().contains('2'));
        assert!(flag(r#""yes""#).unwrap_err().contains("yes"));
        assert!(flag("[]").is_err());
    }

    #[test]
    fn times() {
        let sample = Some(t("2023-06-14 11:13:00"));
        assert_eq!(when("1686712380000"), Ok(sample));
        assert_eq!(when(r#""1686712380000""#), Ok(sample));
        assert_eq!(when(r#""2023-06-14 11:13:00""#), Ok(sample));
        assert_eq!(when(r#""2023-06-14T11:13:00""#), Ok(sample));
        assert_eq!(when(r#"" 2023-06-14 11:13:00 ""#), Ok(sample));
        assert_eq!(
            when(r#""2023-06-14 11:13:00.123""#),
            Ok(Some(t("2023-06-14 11:13:00.123")))
        );
        assert_eq!(when("1686712380123"), Ok(Some(t("2023-06-14 11:13:00.123"))));
        for none in [r#""""#, r#""0000-00-00 00:00:00""#, "0", r#""0""#, "null", "ABSENT"] {
            assert_eq!(when(none), Ok(None), "{none}");
        }
    }

    #[test]
    fn bad_times_name_the_value() {
        let e = when(r#""2023/06/14 11:13:00""#).unwrap_err();
        assert!(e.contains("2023/06/14"), "{e}");
        assert!(when("1686712380000.5").is_err());
        assert!(when(r#""2023-13-01 00:00:00""#).is_err());
        assert!(when("true").is_err());
    }

    #[test]
    fn time_serialization_reads_back() {
        for s in [
            "2023-06-14 11:13:00",
            "2023-06-14 11:13:00.123",
            "2023-06-14 11:13:00.000001",
        ] {
            let v = Some(t(s));
            let mut out = Vec::new();
            ser_opt_time(&v, &mut serde_json::Serializer::new(&mut out)).unwrap();
            let out = String::from_utf8(out).unwrap();
            assert_eq!(out, format!("\"{s}\""));
            assert_eq!(when(&out), Ok(v));
        }
    }

    #[test]
    fn decimal_serialization_keeps_scale() {
        let mut out = Vec::new();
        ser_opt_decimal(&Some(d("1.10")), &mut serde_json::Serializer::new(&mut out)).unwrap();
        assert_eq!(out, b"\"1.10\"");
    }

    #[test]
    fn lists() {
        for empty in ["null", "ABSENT", "[]", r#""""#, "{}"] {
            assert_eq!(list(empty), Ok(vec![]), "{empty}");
        }
        assert_eq!(
            list(r#"[{"n":1},{"n":"2"},{}]"#),
            Ok(vec![Item { n: Some(1) }, Item { n: Some(2) }, Item { n: None }])
        );
        assert!(list(r#"[{"n":"x"}]"#).is_err());
        assert!(list(r#"{"n":1}"#).is_err());
        assert!(list(r#""x""#).is_err());
    }

    #[test]
    fn objects() {
        for none in ["null", "ABSENT", "[]", r#""""#] {
            assert_eq!(object(none), Ok(None), "{none}");
        }
        assert_eq!(object(r#"{"n":"5"}"#), Ok(Some(Item { n: Some(5) })));
        assert!(object("[1]").is_err());
        assert!(object("3").is_err());
    }

    #[test]
    fn codes() {
        use crate::model::enums::RefundStatus;
        probe!(status, "opt_code", Option<RefundStatus>);
        assert_eq!(status("30"), Ok(Some(RefundStatus::Reviewed)));
        assert_eq!(status(r#""90""#), Ok(Some(RefundStatus::Completed)));
        assert_eq!(status("55"), Ok(Some(RefundStatus::Unknown(55))));
        assert_eq!(status(r#""""#), Ok(None));
        assert!(status(r#""x""#).is_err());
    }
}
