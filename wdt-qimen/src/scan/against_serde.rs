//! The scanner against serde_json on valid JSON: every split it makes is the one serde_json
//! parses, whatever the escapes, the blanks and the bytes inside strings.

use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::Value;

use super::{elements, members, order_array};

/// Characters that matter to a scanner: structure inside strings, escapes, quotes, multi-byte
/// and astral characters, control characters.
fn arb_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec!['"', '\\', ']', '}', '[', '{', ',', ':', '/', ' ']),
        2 => prop::sample::select(vec!['张', '三', '😀', '\u{7f}', '\u{2028}', '\u{feff}']),
        1 => prop::sample::select(vec!['\n', '\t', '\u{0}', '\u{1f}', '\r', '\u{8}']),
        3 => prop::char::range('a', 'z'),
    ]
}

fn arb_string() -> impl Strategy<Value = String> {
    prop::collection::vec(arb_char(), 0..8).prop_map(|c| c.into_iter().collect())
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1.0e6f64..1.0e6).prop_map(Value::from),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(arb_string(), inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Writes JSON with a random choice, driven by `rng`, of blanks between tokens and of how each
/// character of a string is written (raw, short escape, `\u` escape, surrogate pairs).
struct Writer {
    rng: fastrand::Rng,
    out: String,
}

impl Writer {
    fn blank(&mut self) {
        for _ in 0..self.rng.usize(0..3) {
            let b = [' ', '\t', '\n', '\r'][self.rng.usize(0..4)];
            self.out.push(b);
        }
    }

    fn string(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            let short = match c {
                '"' => Some("\\\""),
                '\\' => Some("\\\\"),
                '/' => Some("\\/"),
                '\n' => Some("\\n"),
                '\t' => Some("\\t"),
                '\r' => Some("\\r"),
                '\u{8}' => Some("\\b"),
                '\u{c}' => Some("\\f"),
                _ => None,
            };
            let must_escape = c == '"' || c == '\\' || c < ' ';
            match self.rng.usize(0..3) {
                0 if !must_escape => self.out.push(c),
                1 if short.is_some() => self.out.push_str(short.unwrap_or_default()),
                _ => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        self.out.push_str(&format!("\\u{:04x}", u));
                    }
                }
            }
        }
        self.out.push('"');
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    self.blank();
                    if i > 0 {
                        self.out.push(',');
                        self.blank();
                    }
                    self.value(item);
                }
                self.blank();
                self.out.push(']');
            }
            Value::Object(map) => {
                self.out.push('{');
                for (i, (k, item)) in map.iter().enumerate() {
                    self.blank();
                    if i > 0 {
                        self.out.push(',');
                        self.blank();
                    }
                    self.string(k);
                    self.blank();
                    self.out.push(':');
                    self.blank();
                    self.value(item);
                }
                self.blank();
                self.out.push('}');
            }
            other => self.out.push_str(&other.to_string()),
        }
    }
}

fn write(v: &Value, seed: u64) -> String {
    let mut w = Writer {
        rng: fastrand::Rng::with_seed(seed),
        out: String::new(),
    };
    w.value(v);
    w.out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    #[test]
    fn arrays_are_split_where_serde_json_splits_them(items in prop::collection::vec(arb_value(), 0..6), seed in any::<u64>()) {
        let text = write(&Value::Array(items.clone()), seed);
        let raw: Vec<&RawValue> = serde_json::from_str(&text).expect("the writer writes valid JSON");
        let (found, close) = elements(text.as_bytes(), 0).expect("a closed array");
        prop_assert_eq!(close, text.len() - 1);
        let found: Vec<&str> = found.into_iter().map(|r| &text[r]).collect();
        let want: Vec<&str> = raw.iter().map(|r| r.get()).collect();
        prop_assert_eq!(found, want, "{}", text);
    }

    #[test]
    fn objects_are_split_into_the_members_serde_json_reads(map in prop::collection::btree_map(arb_string(), arb_value(), 0..6), seed in any::<u64>()) {
        let value = Value::Object(map.clone().into_iter().collect());
        let text = write(&value, seed);
        let (found, complete) = members(text.as_bytes(), 0);
        prop_assert!(complete, "{}", text);
        prop_assert_eq!(found.len(), map.len(), "{}", text);
        for (m, (key, want)) in found.iter().zip(&map) {
            prop_assert!(m.whole);
            let k: String = serde_json::from_str(&text[m.key.start - 1..m.key.end + 1]).expect("a key");
            prop_assert_eq!(&k, key, "{}", text);
            let v: Value = serde_json::from_str(&text[m.value.clone()]).expect("a value");
            prop_assert_eq!(&v, want, "{}", text);
        }
    }

    #[test]
    fn the_order_array_is_found_among_any_other_members(
        records in prop::collection::vec(arb_value(), 0..4),
        before in prop::collection::btree_map("[a-z]{1,6}", arb_value(), 0..3),
        after in prop::collection::btree_map("[a-z]{1,6}", arb_value(), 0..3),
        qimen in any::<bool>(),
        seed in any::<u64>(),
    ) {
        // Other members (one mentions `"order":[` inside a string) around `order`, written as
        // text so `order` keeps its place; keys as WDT writes them, without escapes.
        let member = |k: &str, v: &Value, seed: u64| format!("\"{k}\":{}", write(v, seed));
        let mut data: Vec<String> = before
            .iter()
            .filter(|(k, _)| *k != "order")
            .map(|(k, v)| member(k, v, seed))
            .collect();
        data.push(member("note", &Value::String(r#"{"order":[1,2]}"#.into()), seed));
        data.push(member("order", &Value::Array(records.clone()), seed));
        data.extend(after.iter().filter(|(k, _)| *k != "order").map(|(k, v)| member(k, v, seed)));
        let inner = format!(r#"{{"status":0,"data":{{{}}}}}"#, data.join(","));
        let text = if qimen { format!(r#"{{"response":{inner}}}"#) } else { inner };
        let order = order_array(text.as_bytes(), "order").unwrap_or_else(|| panic!("not found in {text}"));
        let parsed: Value = serde_json::from_str(&text).expect("valid");
        let data = if qimen { &parsed["response"]["data"] } else { &parsed["data"] };
        let got: Value = serde_json::from_str(&text[order]).expect("an array");
        prop_assert_eq!(&got, &data["order"], "{}", text);
    }
}
