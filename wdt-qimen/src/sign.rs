//! The three signature schemes, as pure functions over `(params, secret)`.
//!
//! - [`native_sign`]: the native open API (`/openapi`): `md5(secret + k1v1k2v2… + secret)`, lowercase,
//!   over every parameter including `body` (the exact JSON text POSTed), sorted by key.
//! - [`qimen_wdt_sign`]: the inner `wdt_sign` of a Qimen custom call: the application parameters
//!   plus `method`, flattened recursively (JSON-string values parsed, `wdt3_customer_id` and
//!   `wdt_sign` skipped at every level, nulls skipped), `md5(secret + flat + secret)`, lowercase.
//! - [`top_sign`]: the Qimen (TOP) gateway `sign` over every parameter sent, sorted by key, with
//!   [`SignMethod::Md5`], [`SignMethod::Hmac`] (HMAC-MD5) or [`SignMethod::HmacSha256`], uppercase.
//!   Blank keys and values are left out exactly as the gateway (TOP-Java) leaves them out: see
//!   [`is_top_blank`].
//!
//! Parameter order never matters: every function sorts by key (byte order) itself.
//!
//! The functions sign whatever they are given. What the [`Client`](crate::Client) gives them is
//! restricted first, because the official `wdt_sign` helpers (WDT's PHP and Java code) disagree
//! with each other on some shapes of `params`: [`params::normalize`] rewrites or refuses those
//! shapes before anything is sent; its module documentation states the rule. Credentials that
//! TOP-Java would skip as blank are refused when they are built.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use serde_json::Value;
use sha2::Sha256;

use crate::error::Error;

pub mod params;

/// Keys the `wdt_sign` flattening skips at every nesting level.
const WDT_SIGN_EXCLUDED: [&str; 2] = ["wdt3_customer_id", "wdt_sign"];

/// The TOP gateway signature method (`sign_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignMethod {
    /// `md5(secret + params + secret)`, the PHP SDK's default.
    #[default]
    Md5,
    /// HMAC-MD5 keyed with the app secret.
    Hmac,
    /// HMAC-SHA256 keyed with the app secret, the newer Java/C# SDK default.
    HmacSha256,
}

impl SignMethod {
    /// The value of the `sign_method` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "md5",
            Self::Hmac => "hmac",
            Self::HmacSha256 => "hmac-sha256",
        }
    }
}

impl fmt::Display for SignMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SignMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "md5" => Ok(Self::Md5),
            "hmac" | "hmac-md5" => Ok(Self::Hmac),
            "hmac-sha256" | "hmac_sha256" => Ok(Self::HmacSha256),
            _ => Err(Error::config(
                "sign_method",
                s,
                "use one of md5, hmac, hmac-sha256 (QIMEN_SIGN_METHOD)",
            )),
        }
    }
}

fn sorted<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<(&'a str, &'a str)> {
    let mut v: Vec<_> = params.into_iter().collect();
    v.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    v
}

fn hex(bytes: &[u8], upper: bool) -> String {
    const LOWER: &[u8; 16] = b"0123456789abcdef";
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    let table = if upper { UPPER } else { LOWER };
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(table[(b >> 4) as usize] as char);
        s.push(table[(b & 0xf) as usize] as char);
    }
    s
}

fn md5_wrapped(secret: &str, content: &str, upper: bool) -> String {
    let mut h = Md5::new();
    h.update(secret.as_bytes());
    h.update(content.as_bytes());
    h.update(secret.as_bytes());
    hex(&h.finalize(), upper)
}

/// The native sign: `params` are every request parameter **including `body`** (the exact JSON
/// text that is POSTed); a `sign` entry is ignored. Returns 32 lowercase hex digits.
pub fn native_sign<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>, secret: &str) -> String {
    let mut content = String::new();
    for (k, v) in sorted(params) {
        if k == "sign" {
            continue;
        }
        content.push_str(k);
        content.push_str(v);
    }
    md5_wrapped(secret, &content, false)
}

/// The method name as the `wdt_sign` hashes it: a prefix before `wdt.` is removed
/// (`3ldsmu02o9.wdt.x` becomes `wdt.x`), as WDT's PHP helper does.
pub fn normalize_wdt_method(method: &str) -> &str {
    if method.starts_with("wdt.") {
        method
    } else {
        match method.find('.') {
            Some(i) => &method[i + 1..],
            None => method,
        }
    }
}

fn parse_container(s: &str) -> Option<Value> {
    let t = s.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    match serde_json::from_str::<Value>(s) {
        Ok(v @ (Value::Object(_) | Value::Array(_))) => Some(v),
        _ => None,
    }
}

fn flatten_str(out: &mut String, s: &str) {
    match parse_container(s) {
        Some(v) => flatten_value(out, &v),
        None => out.push_str(s),
    }
}

fn flatten_value(out: &mut String, v: &Value) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for k in keys {
                let val = &map[k];
                if WDT_SIGN_EXCLUDED.contains(&k.as_str()) || val.is_null() {
                    continue;
                }
                out.push_str(k);
                flatten_value(out, val);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| flatten_value(out, i)),
        Value::String(s) => flatten_str(out, s),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Null => {}
    }
}

/// The string the `wdt_sign` hashes (between the two copies of the secret). Exposed for
/// debugging a signature mismatch; it contains the salt, so never log it.
pub fn qimen_wdt_sign_content<'a>(app_params: impl IntoIterator<Item = (&'a str, &'a str)>, method: &str) -> String {
    let mut params: Vec<(&str, &str)> = app_params.into_iter().collect();
    params.retain(|(k, _)| *k != "method");
    params.push(("method", normalize_wdt_method(method)));
    let mut out = String::new();
    for (k, v) in sorted(params) {
        if WDT_SIGN_EXCLUDED.contains(&k) {
            continue;
        }
        out.push_str(k);
        flatten_str(&mut out, v);
    }
    out
}

/// The inner `wdt_sign` of a Qimen custom call. `app_params` are the application (form) fields:
/// `params`, `pager`, `datetime`, `wdt_appkey`, `wdt_salt`, `wdt3_customer_id` (skipped), …;
/// `method` is the Qimen method name. Returns 32 lowercase hex digits. For `params` as
/// [`params::normalize`] leaves them and a method starting with `wdt.`, WDT's PHP and Java
/// helpers compute the same sign.
pub fn qimen_wdt_sign<'a>(
    app_params: impl IntoIterator<Item = (&'a str, &'a str)>,
    method: &str,
    wdt_secret: &str,
) -> String {
    md5_wrapped(wdt_secret, &qimen_wdt_sign_content(app_params, method), false)
}

/// Whether a character is whitespace for Java's `Character.isWhitespace` (Java 9 and later): the
/// Unicode space, line and paragraph separators except the non-breaking ones (U+00A0, U+2007,
/// U+202F), and U+0009–U+000D, U+001C–U+001F. U+0085 is not whitespace for Java; U+180E was
/// only up to Java 8.
pub fn is_java_whitespace(c: char) -> bool {
    matches!(c,
        '\u{9}'..='\u{d}' | '\u{1c}'..='\u{20}' | '\u{1680}' | '\u{2000}'..='\u{2006}'
        | '\u{2008}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{205f}' | '\u{3000}')
}

/// Whether TOP-Java leaves a key or value out of the gateway `sign`: its `StringUtils.isEmpty` is
/// true for the empty string and for a string of [Java whitespace](is_java_whitespace) only
/// (`" "`, `"\t"`, `"\u{3000}"`, …; not `"\u{a0}"`). Values are otherwise signed as they are,
/// surrounding whitespace included.
pub fn is_top_blank(s: &str) -> bool {
    s.chars().all(is_java_whitespace)
}

/// Whether a credential is blank for some implementation: [`is_top_blank`], or whitespace for
/// Unicode (`char::is_whitespace`), or U+180E (whitespace for Java 8). Such a credential cannot
/// sign a request that every side verifies alike.
pub(crate) fn is_blank_anywhere(s: &str) -> bool {
    s.chars()
        .all(|c| is_java_whitespace(c) || c.is_whitespace() || c == '\u{180e}')
}

/// The TOP gateway `sign` over every parameter sent (system and application), `sign` itself and
/// blank keys or values ([`is_top_blank`], as TOP-Java skips them) excluded. Returns uppercase
/// hex (32 digits, 64 for HMAC-SHA256).
pub fn top_sign<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    app_secret: &str,
    method: SignMethod,
) -> String {
    let mut content = String::new();
    for (k, v) in sorted(params) {
        if k == "sign" || is_top_blank(k) || is_top_blank(v) {
            continue;
        }
        content.push_str(k);
        content.push_str(v);
    }
    match method {
        SignMethod::Md5 => md5_wrapped(app_secret, &content, true),
        SignMethod::Hmac => {
            let mut mac = Hmac::<Md5>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
            mac.update(content.as_bytes());
            hex(&mac.finalize().into_bytes(), true)
        }
        SignMethod::HmacSha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
            mac.update(content.as_bytes());
            hex(&mac.finalize().into_bytes(), true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn v1_native_official_example() {
        let p = [
            ("sid", "wdterp30"),
            ("key", "czhc"),
            ("salt", "dd488d0802b1e431e4c72cd355847853"),
            ("method", "wms.stockout.Sales.weighingExt"),
            ("timestamp", "232623153"),
            ("v", "1.0"),
            ("body", r#"["xc109393939393939","",1.2,0,false]"#),
        ];
        assert_eq!(
            native_sign(p, "693f9fed686bfe13441385da98b436b6"),
            "20f557aaf9190797c581bbceeb6d5a5c"
        );
    }

    #[test]
    fn v2_native_third_party() {
        let p = [
            ("body", "[]"),
            ("key", "wdt_test"),
            ("method", "system.Core.now"),
            ("salt", "dd"),
            ("sid", "wdtapi3"),
            ("timestamp", "100"),
            ("v", "1.0"),
        ];
        assert_eq!(native_sign(p, "aa"), "b5745bf1f4721a0d16e9a68cb7513032");
    }

    #[test]
    fn v3_native_refund_search_paged() {
        let p = [
            ("sid", "wdtapi3"),
            ("key", "wdtapi3-test9"),
            ("salt", "testsalt"),
            ("method", "aftersales.refund.Refund.search"),
            ("timestamp", "454601419"),
            ("v", "1.0"),
            ("page_size", "200"),
            ("page_no", "0"),
            ("calc_total", "1"),
            (
                "body",
                r#"[{"modified_from":"2020-01-01 00:00:00","modified_to":"2020-01-20 00:00:00"}]"#,
            ),
            ("sign", "ignored"),
        ];
        assert_eq!(native_sign(p, "testsecret"), "b10ba319a20d07ec8be942bef901c537");
    }

    #[test]
    fn v4_qimen_wdt_sign_reference() {
        let p = [
            ("datetime", "2020-09-17 19:22:26"),
            ("wdt_salt", "salt"),
            ("wdt3_customer_id", "wdtapi3"),
            ("wdt_appkey", "wdt_appkey"),
            ("pager", r#"{"page_no":1,"page_size":10}"#),
            (
                "params",
                r#"{"end_date":"2020-09-20 00:00:00","spec_no":null,"start_date":"2020-08-23 00:00:00","warehouse_no":"1001"}"#,
            ),
        ];
        assert_eq!(
            qimen_wdt_sign(p, "3ldsmu02o9.wdt.wms.stockspec.querychangehistory", "secret"),
            "1f5e87bbbc8bc68f4f0af70f79620b7d"
        );
    }

    fn v5_params() -> Vec<(&'static str, &'static str)> {
        vec![
            (
                "params",
                r#"{"modified_from":"2020-01-01 00:00:00","modified_to":"2020-01-20 00:00:00","status":90,"fuzzy_query":false}"#,
            ),
            ("pager", r#"{"page_size":100,"page_no":1}"#),
            ("datetime", "2026-01-02 03:04:05"),
            ("wdt_appkey", "wdtapi3-test9"),
            ("wdt_salt", "testsalt"),
            ("wdt3_customer_id", "wdtapi3"),
        ]
    }

    #[test]
    fn v5_qimen_wdt_sign_refund_search() {
        let content = qimen_wdt_sign_content(v5_params(), "wdt.aftersales.refund.refund.search");
        assert_eq!(
            content,
            "datetime2026-01-02 03:04:05methodwdt.aftersales.refund.refund.searchpagerpage_no1page_size100paramsfuzzy_queryfalsemodified_from2020-01-01 00:00:00modified_to2020-01-20 00:00:00status90wdt_appkeywdtapi3-test9wdt_salttestsalt"
        );
        assert_eq!(
            qimen_wdt_sign(v5_params(), "wdt.aftersales.refund.refund.search", "testsecret"),
            "9f7a85182a4b43674651a877dfaa2e11"
        );
    }

    fn v6_params(sign_method: &'static str) -> Vec<(&'static str, &'static str)> {
        let mut p = v5_params();
        p.extend([
            ("method", "wdt.aftersales.refund.refund.search"),
            ("app_key", "12345678"),
            ("timestamp", "2026-01-02 03:04:05"),
            ("format", "json"),
            ("v", "2.0"),
            ("sign_method", sign_method),
            ("target_app_key", "21363512"),
            ("wdt_sign", "9f7a85182a4b43674651a877dfaa2e11"),
        ]);
        p
    }

    #[test]
    fn v6_top_sign_md5_and_hmac_sha256() {
        assert_eq!(
            top_sign(v6_params("md5"), "qmsecret", SignMethod::Md5),
            "F4AB2214BA4918A16C07A350D67D84AC"
        );
        assert_eq!(
            top_sign(v6_params("hmac-sha256"), "qmsecret", SignMethod::HmacSha256),
            "D25046288684B8BE63033C451DF0C1E1526F20CB39676EB74EE84AC14B0986D8"
        );
    }

    #[test]
    fn v7_top_official_doc_vector() {
        let p = [
            ("method", "taobao.item.seller.get"),
            ("app_key", "12345678"),
            ("session", "test"),
            ("timestamp", "2016-01-01 12:00:00"),
            ("format", "json"),
            ("v", "2.0"),
            ("sign_method", "md5"),
            ("fields", "num_iid,title,nick,price,num"),
            ("num_iid", "11223344"),
        ];
        assert_eq!(
            top_sign(p, "helloworld", SignMethod::Md5),
            "66987CB115214E59E6EC978214934FB8"
        );
    }

    #[test]
    fn hmac_md5_is_uppercase_32_hex_and_differs_from_md5() {
        let s = top_sign(v6_params("hmac"), "qmsecret", SignMethod::Hmac);
        assert_eq!(s.len(), 32);
        assert!(s.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_ne!(s, top_sign(v6_params("hmac"), "qmsecret", SignMethod::Md5));
        // HMAC-MD5 of "" keyed with "" (RFC 2104 style known value).
        assert_eq!(top_sign([], "", SignMethod::Hmac), "74E6F7298A9C2D168935F58C001BAD88");
    }

    #[test]
    fn top_sign_skips_blank_values_as_top_java_does() {
        // The differential run's minimal cases (secret `s`): TOP-Java's sign, first 12 digits.
        let cases = [
            (" ", SignMethod::Md5, "3691308F2A4C"),
            ("\u{3000}", SignMethod::Md5, "3691308F2A4C"),
            (" ", SignMethod::Hmac, "1B090946D29E"),
            (" ", SignMethod::HmacSha256, "64ECA07CCE67"),
            ("", SignMethod::Md5, "3691308F2A4C"),
        ];
        for (value, method, java) in cases {
            let sign = top_sign([("a", value)], "s", method);
            assert!(sign.starts_with(java), "a={value:?} {method}: {sign}, TOP-Java {java}…");
        }
        // Blank keys too; a no-break space is not whitespace for Java, and what is not blank is
        // signed with its surrounding whitespace.
        assert!(top_sign([("\t", "x")], "s", SignMethod::Md5).starts_with("3691308F2A4C"));
        assert_eq!(
            top_sign([("a", "\u{a0}")], "s", SignMethod::Md5),
            md5_wrapped("s", "a\u{a0}", true)
        );
        assert_eq!(
            top_sign([("a", " x ")], "s", SignMethod::Md5),
            md5_wrapped("s", "a x ", true)
        );
    }

    #[test]
    fn java_whitespace_is_exactly_character_is_whitespace() {
        // Every BMP character for which Java 17's `Character.isWhitespace` is true.
        let java: Vec<u32> = [
            0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
            0x2005, 0x2006, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x205f, 0x3000,
        ]
        .into();
        let ours: Vec<u32> = (0..=0x10ffff_u32)
            .filter_map(char::from_u32)
            .filter(|c| is_java_whitespace(*c))
            .map(u32::from)
            .collect();
        assert_eq!(ours, java);
        assert!(is_top_blank("") && is_top_blank(" \t\u{3000}") && !is_top_blank("\u{a0}"));
        assert!(is_blank_anywhere("\u{a0}\u{85}\u{180e}") && !is_blank_anywhere(" x "));
    }

    #[test]
    fn sign_method_parses_and_names_the_field_on_error() {
        assert_eq!("HMAC-SHA256".parse::<SignMethod>().unwrap(), SignMethod::HmacSha256);
        let e = "sha1".parse::<SignMethod>().unwrap_err().to_string();
        assert!(
            e.contains("sign_method") && e.contains("sha1") && e.contains("md5"),
            "{e}"
        );
    }

    #[test]
    fn nested_json_strings_and_lists_flatten_without_indexes() {
        let c = qimen_wdt_sign_content(
            [(
                "params",
                r#"{"b":"{\"y\":2,\"x\":[1,\"a\"]}","a":[true,null],"wdt_sign":"z"}"#,
            )],
            "wdt.x",
        );
        assert_eq!(c, "methodwdt.xparamsatruebx1ay2");
    }

    fn arb_params() -> impl Strategy<Value = Vec<(String, String)>> {
        proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{0,12}", 0..8).prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        #[test]
        fn order_does_not_matter(params in arb_params(), seed in any::<u64>()) {
            let mut shuffled = params.clone();
            // A deterministic shuffle from the seed.
            let n = shuffled.len();
            let mut s = seed;
            for i in (1..n).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let a = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            let b = shuffled.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            prop_assert_eq!(native_sign(a.clone(), "s"), native_sign(b.clone(), "s"));
            prop_assert_eq!(qimen_wdt_sign(a.clone(), "wdt.m", "s"), qimen_wdt_sign(b.clone(), "wdt.m", "s"));
            for m in [SignMethod::Md5, SignMethod::Hmac, SignMethod::HmacSha256] {
                prop_assert_eq!(top_sign(a.clone(), "s", m), top_sign(b.clone(), "s", m));
            }
        }

        #[test]
        fn non_ascii_and_spaces_are_hashed_raw(v in "[\\u{4e00}-\\u{9fa5} a-z]{1,10}") {
            // The native sign of one param equals md5(secret + k + v + secret) over UTF-8.
            let expected = {
                let mut h = Md5::new();
                h.update(format!("skey{v}s").as_bytes());
                hex(&h.finalize(), false)
            };
            prop_assert_eq!(native_sign([("key", v.as_str())], "s"), expected);
        }

        #[test]
        fn json_string_values_equal_their_flattened_fields(a in "[a-z]{1,6}", n in 0u32..1000) {
            let json = format!(r#"{{"k":"{a}","n":{n}}}"#);
            let via_json = qimen_wdt_sign_content([("params", json.as_str())], "wdt.m");
            prop_assert_eq!(via_json, format!("methodwdt.mparamsk{a}n{n}"));
        }
    }
}
