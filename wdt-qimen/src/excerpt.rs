//! Descriptions of answer bodies and decode failures that carry no record data, for errors and
//! logs.
//!
//! A body of a page holds buyers' names, phones and addresses. Errors end up in logs, alerts and
//! issue reports, so they never quote a body: [`body_summary`] shows the shape of a JSON body
//! (its keys, the values of the envelope's status, code and message fields, and how many
//! elements each array holds), the title of an HTML page, or the start of a short ASCII text.
//! [`without_values`] takes the quoted value out of serde's messages
//! (`invalid type: string "张三", expected …` becomes `invalid type: a string, expected …`).

use crate::scan::{elements, escaped_text, members, skip_blank};

/// Keys whose scalar values are shown: the envelope's status, codes and messages.
const SHOWN: [&str; 12] = [
    "status",
    "code",
    "flag",
    "message",
    "msg",
    "sub_code",
    "sub_msg",
    "sub_message",
    "request_id",
    "total_count",
    "error_code",
    "error_msg",
];

/// The longest summary, in characters.
const MAX_CHARS: usize = 400;
/// The longest shown value, in characters.
const MAX_VALUE_CHARS: usize = 120;

/// Whether the object under `key` is opened: the envelope's wrappers and `data`.
fn opened(key: &[u8]) -> bool {
    key == b"response" || key.ends_with(b"_response") || key == b"data"
}

fn truncated(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// A record-free description of a body: its JSON shape with the envelope's status, codes and
/// messages, an HTML page's title, or the start of a short ASCII text; always with its length.
pub(crate) fn body_summary(body: &[u8]) -> String {
    let start = skip_blank(body, 0);
    let what = match body.get(start) {
        None => return format!("an empty body ({} bytes)", body.len()),
        Some(b'{' | b'[') => shape(body, start, 0),
        Some(_) => text_summary(body),
    };
    format!("{} ({} bytes)", truncated(&what, MAX_CHARS), body.len())
}

/// The shape of the JSON value at `start`.
fn shape(b: &[u8], start: usize, depth: usize) -> String {
    match b[start] {
        b'{' => {
            let (found, complete) = members(b, start);
            let mut parts: Vec<String> = found
                .iter()
                .map(|m| {
                    let key = &b[m.key.clone()];
                    let value = &b[m.value.clone()];
                    let shown = match value.first() {
                        Some(b'{') if opened(key) && depth < 3 => shape(b, m.value.start, depth + 1),
                        Some(b'{') => "{…}".to_owned(),
                        Some(b'[') => shape(b, m.value.start, depth + 1),
                        _ if SHOWN.iter().any(|k| k.as_bytes() == key) => {
                            truncated(&escaped_text(value), MAX_VALUE_CHARS)
                        }
                        Some(b'"') if m.whole => "<string>".to_owned(),
                        Some(b'"') => "<string…>".to_owned(),
                        _ if value == b"null" => "null".to_owned(),
                        _ if value == b"true" || value == b"false" => "<bool>".to_owned(),
                        _ => "<number>".to_owned(),
                    };
                    format!("\"{}\": {shown}", truncated(&escaped_text(key), 40))
                })
                .collect();
            if !complete && found.last().is_none_or(|m| m.whole) {
                parts.push(format!("… cut or broken after byte {}", cut_at(b, &found, start)));
            }
            format!("{{{}}}", parts.join(", "))
        }
        _ => match elements(b, start) {
            Some((items, _)) => format!("[{} elements]", items.len()),
            None => "[… cut or broken]".to_owned(),
        },
    }
}

/// Where the readable part of an object ends.
fn cut_at(b: &[u8], found: &[crate::scan::Member], start: usize) -> usize {
    found.last().map_or(start + 1, |m| m.value.end).min(b.len())
}

/// The position of `needle` (ASCII, any case) in `hay`.
fn find_ignoring_case(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle))
}

/// A non-JSON body: an HTML page's title, or a short ASCII text.
fn text_summary(body: &[u8]) -> String {
    let head = &body[..body.len().min(4096)];
    let html = head.first() == Some(&b'<')
        || find_ignoring_case(head, b"<html").is_some()
        || find_ignoring_case(head, b"<!doctype").is_some();
    if html {
        let title = find_ignoring_case(head, b"<title>").and_then(|open| {
            let rest = &head[open + b"<title>".len()..];
            let close = find_ignoring_case(rest, b"</title>")?;
            Some(truncated(escaped_text(&rest[..close]).trim(), 80))
        });
        return match title {
            Some(t) if !t.is_empty() => format!("an HTML page titled {t:?}"),
            _ => "an HTML page".to_owned(),
        };
    }
    let first_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    // Text before JSON (a JSONP callback, a warning printed ahead of the answer) is shown up to
    // where the JSON starts: what follows may be records.
    let json_at = first_line.iter().position(|b| matches!(b, b'{' | b'[' | b'"'));
    let shown = &first_line[..json_at.unwrap_or(first_line.len()).min(80)];
    if shown.iter().all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\r') {
        let more = if shown.len() < first_line.len() { "…" } else { "" };
        format!("text starting {:?}{more}", String::from_utf8_lossy(shown).trim())
    } else {
        "text that is not JSON".to_owned()
    }
}

/// What serde's unexpected value is, without the value: `string "张三"` → `a string`.
fn kind_of(unexpected: &str) -> &'static str {
    const KINDS: [(&str, &str); 7] = [
        ("string", "a string"),
        ("integer", "an integer"),
        ("floating point", "a number"),
        ("boolean", "a boolean"),
        ("character", "a character"),
        ("map", "a map"),
        ("sequence", "a sequence"),
    ];
    if unexpected == "null" {
        return "null";
    }
    KINDS
        .iter()
        .find(|(prefix, _)| unexpected.starts_with(prefix))
        .map_or("a value", |(_, kind)| kind)
}

/// serde's message with the offending value taken out (its kind stays): values of records
/// must not reach errors and logs. Messages without a value pass unchanged.
pub(crate) fn without_values(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(at) = message.find(prefix) {
            let rest = &message[at + prefix.len()..];
            if let Some(end) = rest.rfind(", expected ") {
                return format!("{}{prefix}{}{}", &message[..at], kind_of(&rest[..end]), &rest[end..]);
            }
        }
    }
    if let Some(at) = message.find("unknown variant `") {
        let rest = &message[at + "unknown variant `".len()..];
        if let Some(end) = rest.rfind("`, expected") {
            return format!("{}unknown variant{}", &message[..at], &rest[end + 1..]);
        }
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIVATE: [&str; 4] = ["张三", "13800138000", "北京市朝阳区", "TK2306"];

    fn assert_private(s: &str) {
        for p in PRIVATE {
            assert!(!s.contains(p), "{p:?} leaked in {s}");
        }
    }

    const RECORD: &str = r#"{"refund_id":1,"refund_no":"TK2306000001","receiver_name":"张三","receiver_telno":"13800138000","receiver_address":"北京市朝阳区某路1号"}"#;

    #[test]
    fn a_page_shows_its_envelope_not_its_records() {
        let body = format!(r#"{{"status":0,"message":"ok","data":{{"total_count":"2","order":[{RECORD},{RECORD}]}}}}"#);
        let s = body_summary(body.as_bytes());
        assert_private(&s);
        assert!(
            s.starts_with(r#"{"status": 0, "message": "ok", "data": {"total_count": "2", "order": [2 elements]}}"#),
            "{s}"
        );
        // Cut in the middle of a record.
        let cut = &body[..body.len() - 60];
        let s = body_summary(cut.as_bytes());
        assert_private(&s);
        assert!(
            s.starts_with(
                r#"{"status": 0, "message": "ok", "data": {"total_count": "2", "order": [… cut or broken]}}"#
            ),
            "{s}"
        );
        let s = body_summary(br#"{"status":0,"message":"cut her"#);
        assert!(s.starts_with(r#"{"status": 0, "message": "cut her}"#), "{s}");
        let s = body_summary(r#"{"status":0,"data":{"name":"张三"#.as_bytes());
        assert!(s.starts_with(r#"{"status": 0, "data": {"name": <string…>}}"#), "{s}");
    }

    #[test]
    fn gateway_failures_show_their_codes() {
        let body = r#"{"response":{"flag":"failure","code":7,"message":"App Call Limited","sub_message":"This ban will last for 3 more seconds","request_id":"abc"}}"#;
        let s = body_summary(body.as_bytes());
        assert!(
            s.contains(r#""code": 7"#) && s.contains("This ban will last for 3"),
            "{s}"
        );
    }

    #[test]
    fn data_fields_of_other_shapes_show_types_only() {
        let body = r#"{"status":0,"data":{"receiver_name":"张三","phone":13800138000,"ok":true,"addr":{"city":"北京市朝阳区"},"n":null}}"#;
        let s = body_summary(body.as_bytes());
        assert_private(&s);
        assert!(
            s.contains(r#""receiver_name": <string>, "phone": <number>, "ok": <bool>, "addr": {…}, "n": null"#),
            "{s}"
        );
        let s = body_summary(format!("[{RECORD}]").as_bytes());
        assert!(s.starts_with("[1 elements]"), "{s}");
        assert_private(&s);
    }

    #[test]
    fn html_and_text_bodies() {
        let html = "<html>\r\n<head><title>502 Bad Gateway</title></head><body>张三</body></html>";
        let s = body_summary(html.as_bytes());
        assert!(s.starts_with(r#"an HTML page titled "502 Bad Gateway""#), "{s}");
        assert_private(&s);
        assert!(body_summary(b"Service Unavailable").contains("Service Unavailable"));
        // Text ahead of JSON is shown up to the JSON, never the records after it.
        let jsonp = format!(r#"callback({{"status":0,"data":{{"order":[{RECORD}]}}}})"#);
        let s = body_summary(jsonp.as_bytes());
        assert_private(&s);
        assert!(s.starts_with(r#"text starting "callback("…"#), "{s}");
        let s = body_summary(br#"Warning: x "13800138000" y"#);
        assert_private(&s);
        let s = body_summary("名字 张三".as_bytes());
        assert!(s.starts_with("text that is not JSON"), "{s}");
        assert_eq!(body_summary(b"  "), "an empty body (2 bytes)");
    }

    #[test]
    fn serde_messages_lose_their_values() {
        let cases = [
            (
                r#"invalid type: string "张三", expected a sequence at line 1 column 9"#,
                "invalid type: a string, expected a sequence at line 1 column 9",
            ),
            (
                "invalid value: integer `13800138000`, expected u8",
                "invalid value: an integer, expected u8",
            ),
            (
                "invalid value: 13800138000, expected an integer",
                "invalid value: a value, expected an integer",
            ),
            (
                "invalid type: null, expected a string",
                "invalid type: null, expected a string",
            ),
            (
                "unknown variant `北京市朝阳区`, expected `a` or `b`",
                "unknown variant, expected `a` or `b`",
            ),
            ("missing field `refund_id`", "missing field `refund_id`"),
            (
                "expected `,` or `}` at line 1 column 20",
                "expected `,` or `}` at line 1 column 20",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(without_values(input), want);
        }
    }
}
