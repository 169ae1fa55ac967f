//! A tolerant JSON scanner over raw bytes: where values, object members and array elements begin
//! and end, in text that may be cut off, hold bytes that are not UTF-8, or contain a broken
//! record. It validates nothing (serde_json does that on the pieces it finds); it only has to
//! find the pieces.
//!
//! Every structural byte of JSON is ASCII, so bytes that are not UTF-8 can only sit inside a
//! string or a broken token, never be mistaken for structure. A `"` inside a string ends it only
//! when the next non-blank byte can follow a string (`,` `:` `]` `}` or the end of the text):
//! valid JSON always has one there, so valid text is split exactly, and an unescaped quote in a
//! broken string (`"name":"a"b"`) does not throw the scanner out of step with the records
//! around it.
//!
//! A string whose closing quote is missing or escaped (`"remark":"abc\"}`) runs on, as scanned,
//! into the next record; records that lost the comma between them (`{…}{…}`) read as one. A
//! damaged element is split in such places ([`split_damaged`]) only when the record split off
//! is valid JSON by itself, so the damage stays with the one record it belongs to.

use std::ops::Range;

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The first non-blank position at or after `i` (the length when there is none).
pub(crate) fn skip_blank(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_blank(b[i]) {
        i += 1;
    }
    i
}

/// The end (exclusive) of the string whose opening quote is at `start`; `None` when the text
/// ends first.
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => {
                let next = skip_blank(b, i + 1);
                if next >= b.len() || matches!(b[next], b',' | b':' | b']' | b'}') {
                    return Some(i + 1);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// The end (exclusive) of the value starting at `start`; `None` when the text ends first. A
/// scalar ends at the next structural or blank byte (it may be empty when `start` holds one).
pub(crate) fn value_end(b: &[u8], start: usize) -> Option<usize> {
    match *b.get(start)? {
        b'"' => string_end(b, start),
        b'{' | b'[' => {
            // Brackets of either kind count alike: a mismatched one is for serde to report.
            let mut depth = 0usize;
            let mut i = start;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = string_end(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let mut i = start;
            while i < b.len() && !matches!(b[i], b',' | b':' | b']' | b'}' | b'{' | b'[' | b'"') && !is_blank(b[i]) {
                i += 1;
            }
            Some(i)
        }
    }
}

/// One member of an object: the key's bytes (inside its quotes) and the value's range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub key: Range<usize>,
    pub value: Range<usize>,
    /// Whether the value ends before the text does (`false`: cut off, it runs to the end).
    pub whole: bool,
}

/// The members of the object whose `{` is at `start`, as far as they can be told apart (the
/// last one possibly cut off, see [`Member::whole`]), and whether the object was read to its
/// `}`.
pub(crate) fn members(b: &[u8], start: usize) -> (Vec<Member>, bool) {
    let mut out = Vec::new();
    if b.get(start) != Some(&b'{') {
        return (out, false);
    }
    let mut i = skip_blank(b, start + 1);
    if b.get(i) == Some(&b'}') {
        return (out, true);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return (out, false);
        }
        let Some(key_end) = string_end(b, i) else {
            return (out, false);
        };
        let key = i + 1..key_end - 1;
        i = skip_blank(b, key_end);
        if b.get(i) != Some(&b':') {
            return (out, false);
        }
        i = skip_blank(b, i + 1);
        match value_end(b, i) {
            Some(end) if end > i => {
                out.push(Member {
                    key,
                    value: i..end,
                    whole: true,
                });
                i = skip_blank(b, end);
            }
            None if i < b.len() => {
                out.push(Member {
                    key,
                    value: i..b.len(),
                    whole: false,
                });
                return (out, false);
            }
            _ => return (out, false),
        }
        match b.get(i) {
            Some(b',') => i = skip_blank(b, i + 1),
            Some(b'}') => return (out, true),
            _ => return (out, false),
        }
    }
}

/// The elements of the array whose `[` is at `start`, and the position of its `]`; `None` when
/// the text ends first. Stray bytes between an element and the next `,` belong to the element
/// (it is broken, and serde will say so); empty elements (`[1,,2]`, a trailing comma) are left
/// out.
pub(crate) fn elements(b: &[u8], start: usize) -> Option<(Vec<Range<usize>>, usize)> {
    if b.get(start) != Some(&b'[') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = skip_blank(b, start + 1);
    loop {
        let first = i;
        let mut end = value_end(b, i)?;
        let mut next = skip_blank(b, end);
        while next < b.len() && !matches!(b[next], b',' | b']') {
            end = value_end(b, next)?.max(next + 1);
            next = skip_blank(b, end);
        }
        if end > first {
            out.push(first..end);
        }
        match b.get(next)? {
            b']' => return Some((out, next)),
            _ => i = skip_blank(b, next + 1),
        }
    }
}

/// The most record boundaries [`split_damaged`] tries in one element.
const MAX_RUN_ON_CANDIDATES: usize = 16;

/// Where a string directly inside the object at `r.start` runs over a record boundary: a
/// string whose closing quote is missing or escaped (`"remark":"abc\"}`) goes on, as scanned,
/// through `}` `,` `{"` into the next record, up to that record's first key; the rest of the
/// next record then reads as the rest of this one. Returns, for each such boundary, the end of
/// the first record (after its `}`) and the start of the next (its `{`).
fn run_on_boundaries(b: &[u8], r: Range<usize>) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    if b.get(r.start) != Some(&b'{') {
        return out;
    }
    let mut depth = 0usize;
    let mut i = r.start;
    while i < r.end && out.len() < MAX_RUN_ON_CANDIDATES {
        match b[i] {
            b'"' => {
                let end = string_end(b, i).unwrap_or(r.end).min(r.end);
                if depth == 1 {
                    let mut j = i + 1;
                    while j < end && out.len() < MAX_RUN_ON_CANDIDATES {
                        if b[j] == b'}' {
                            let comma = skip_blank(b, j + 1);
                            let open = skip_blank(b, comma + 1);
                            let key = skip_blank(b, open + 1);
                            if b.get(comma) == Some(&b',') && b.get(open) == Some(&b'{') && b.get(key) == Some(&b'"') {
                                out.push((j + 1, open));
                            }
                        }
                        j += 1;
                    }
                }
                i = end;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    out
}

/// Splits a damaged element (`r`, not `valid` as a whole) that holds more than one record:
/// - two records because a string of the first runs on into the second (see
///   [`run_on_boundaries`]): split at the first such boundary after which the rest of the
///   element is `valid` by itself (the first part stays damaged);
/// - records side by side without the comma between them (`{…}{…}`): split when every one is
///   `valid`.
///
/// Returns `r` alone otherwise, so a record is never split on a guess that nothing confirms.
pub(crate) fn split_damaged(b: &[u8], r: Range<usize>, valid: impl Fn(&[u8]) -> bool) -> Vec<Range<usize>> {
    for (first_end, next) in run_on_boundaries(b, r.clone()) {
        if valid(&b[next..r.end]) {
            return vec![r.start..first_end, next..r.end];
        }
    }
    let mut side_by_side = Vec::new();
    let mut i = r.start;
    while i < r.end && b[i] == b'{' {
        match value_end(b, i) {
            Some(end) if end <= r.end && valid(&b[i..end]) => side_by_side.push(i..end),
            _ => break,
        }
        i = skip_blank(b, side_by_side.last().map_or(i, |p| p.end));
    }
    if i >= r.end && side_by_side.len() > 1 {
        return side_by_side;
    }
    vec![r]
}

/// The value of the first member whose key satisfies `wanted`.
pub(crate) fn member(b: &[u8], start: usize, wanted: impl Fn(&[u8]) -> bool) -> Option<Range<usize>> {
    let (found, _) = members(b, start);
    found
        .into_iter()
        .find(|m| m.whole && wanted(&b[m.key.clone()]))
        .map(|m| m.value)
}

/// Where the records of a page are: the range of the `order` array (from `[` to `]` inclusive),
/// inside `data`, inside the Qimen wrapper (`response`, or any `…_response`) when there is one.
pub(crate) fn order_array(b: &[u8], list_key: &str) -> Option<Range<usize>> {
    let root = skip_blank(b, 0);
    let (mut top, _) = members(b, root);
    top.retain(|m| m.whole);
    let wrapper = top
        .iter()
        .find(|m| &b[m.key.clone()] == b"response")
        .or_else(|| top.iter().find(|m| b[m.key.clone()].ends_with(b"_response")))
        .map(|m| m.value.start);
    let inner = wrapper.unwrap_or(root);
    let data = member(b, inner, |k| k == b"data")?;
    let order = member(b, data.start, |k| k == list_key.as_bytes())?;
    (b.get(order.start) == Some(&b'[')).then_some(order)
}

/// The `refund_id` (or `rec_id`) of a record that may not parse: a top-level member's number,
/// or its string's text (at most 64 bytes, without escapes or control characters).
pub(crate) fn record_key(b: &[u8], key_field: &str) -> Option<String> {
    let start = skip_blank(b, 0);
    let (found, _) = members(b, start);
    [key_field.as_bytes(), b"rec_id"].into_iter().find_map(|name| {
        let m = found.iter().find(|m| m.whole && &b[m.key.clone()] == name)?;
        let raw = &b[m.value.clone()];
        let text = match raw.strip_prefix(b"\"").and_then(|r| r.strip_suffix(b"\"")) {
            Some(inner) => inner,
            None if raw.first().is_some_and(|c| c.is_ascii_digit() || *c == b'-') => raw,
            None => return None,
        };
        let plain = !text.is_empty() && text.len() <= 64 && !text.iter().any(|c| *c < 0x20 || *c == b'\\');
        plain.then(|| escaped_text(text))
    })
}

/// The bytes as text: UTF-8 as is, every byte that is not UTF-8 written as `\xNN`.
pub(crate) fn escaped_text(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod against_serde;

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &[u8]) -> Vec<String> {
        let (els, close) = elements(text, 0).expect("a closed array");
        assert_eq!(text[close], b']');
        els.into_iter().map(|r| escaped_text(&text[r])).collect()
    }

    #[test]
    fn valid_json_is_split_exactly() {
        let text = br#"[ {"a":"x,}]\"y","b":[1,{"c":2}]} , 3 ,"s\\" ,{} ]"#;
        assert_eq!(
            split(text),
            [r#"{"a":"x,}]\"y","b":[1,{"c":2}]}"#, "3", r#""s\\""#, "{}"]
        );
        assert_eq!(split(b"[]"), Vec::<String>::new());
        assert_eq!(split(b"[ ]"), Vec::<String>::new());
    }

    #[test]
    fn a_broken_record_keeps_its_neighbours() {
        // An unescaped quote, a missing value, a bare word: each stays inside its own record.
        let text = br#"[{"n":1},{"name":"a"b","n":2},{"n":},{"n":3}x,{"n":4}]"#;
        assert_eq!(
            split(text),
            [
                r#"{"n":1}"#,
                r#"{"name":"a"b","n":2}"#,
                r#"{"n":}"#,
                r#"{"n":3}x"#,
                r#"{"n":4}"#
            ]
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_stay_inside_their_record() {
        let mut text = br#"[{"n":1},{"name":""#.to_vec();
        text.extend_from_slice(&[0xE5, 0xBC, b'"', b'}', b',', 0xFF]);
        text.extend_from_slice(br#"{"n":3}]"#);
        let parts = split(&text);
        assert_eq!(parts[0], r#"{"n":1}"#);
        assert_eq!(parts[1], r#"{"name":"\xE5\xBC"}"#);
        assert_eq!(parts[2], r#"\xFF{"n":3}"#);
    }

    fn split_on(text: &[u8]) -> Vec<String> {
        let valid = |b: &[u8]| b.first() == Some(&b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(b).is_ok();
        let (els, _) = elements(text, 0).expect("a closed array");
        els.into_iter()
            .flat_map(|r| split_damaged(text, r, valid))
            .map(|r| escaped_text(&text[r]))
            .collect()
    }

    #[test]
    fn a_string_that_runs_on_into_the_next_record_is_split_off_it() {
        // Unterminated, or its closing quote escaped: it runs on to the next record's first key.
        for broken in [
            r#"{"n":2,"s":"abc}"#,
            r#"{"n":2,"s":"abc\"}"#,
            r#"{ "n":2, "s":"a\"  } ,{"#,
        ] {
            let next = if broken.ends_with('{') {
                r#" "n":3}"#
            } else {
                r#", {"n":3}"#
            };
            let text = format!(r#"[{{"n":1}},{broken}{next},{{"n":4}}]"#);
            let (els, _) = elements(text.as_bytes(), 0).unwrap();
            assert_eq!(els.len(), 3, "the scanner alone merges 2 and 3: {text}");
            let parts = split_on(text.as_bytes());
            assert_eq!(parts.len(), 4, "{text}: {parts:?}");
            assert_eq!(parts[2].replace(' ', ""), r#"{"n":3}"#);
            assert_eq!(parts[3], r#"{"n":4}"#);
        }
    }

    #[test]
    fn records_that_lost_the_comma_between_them_are_split() {
        let text = br#"[{"n":1},{"n":2,"s":"}{"} {"n":3}{"n":4},{"n":5}]"#;
        assert_eq!(
            split_on(text),
            [
                r#"{"n":1}"#,
                r#"{"n":2,"s":"}{"}"#,
                r#"{"n":3}"#,
                r#"{"n":4}"#,
                r#"{"n":5}"#
            ]
        );
    }

    #[test]
    fn a_damaged_record_is_not_split_on_a_guess() {
        for text in [
            // Inside a nested list the boundary is a detail line's, not a record's.
            &br#"[{"n":2,"lines":[{"s":"abc\"},{"id":1}],"x":1}]"#[..],
            br#"[{"n":2,"lines":[{"s":"abc\"},{"id":1},{"id":2}]}]"#,
            // What follows the boundary is no record by itself.
            br#"[{"n":2,"s":"abc\"},{"n":3,"t":"x"y"}]"#,
            br#"[{"n":2,"s":"abc\"},{"n":3} tail]"#,
            // An unescaped quote ends a string early: the first part would pass for a record.
            br#"[{"n":2,"s":"a"}{b","m":1}]"#,
            br#"[{"n":2,"s":"a"}{"b":1}x]"#,
        ] {
            let (els, _) = elements(text, 0).unwrap();
            let whole: Vec<String> = els.into_iter().map(|r| escaped_text(&text[r])).collect();
            assert_eq!(split_on(text), whole, "{}", escaped_text(text));
        }
    }

    #[test]
    fn a_cut_off_array_is_not_split() {
        assert_eq!(elements(br#"[{"n":1},{"n":"#, 0), None);
        assert_eq!(elements(br#"[{"n":1}"#, 0), None);
    }

    #[test]
    fn finds_the_order_array_on_both_routes() {
        for body in [
            &br#"{"status":0,"data":{"total_count":2,"order":[{"n":1},{"n":2}]}}"#[..],
            br#"{"response":{"status":"0","data":{"order":[{"n":1},{"n":2}],"total_count":"2"}}}"#,
            br#"{"refund_search_response":{"data":{"order":[{"n":1},{"n":2}]}}}"#,
        ] {
            let r = order_array(body, "order").expect("found");
            assert_eq!(&body[r], br#"[{"n":1},{"n":2}]"#);
        }
        assert_eq!(order_array(br#"{"status":0,"data":{"order":"none"}}"#, "order"), None);
        assert_eq!(order_array(b"<html>", "order"), None);
    }

    #[test]
    fn record_keys_are_read_from_broken_records() {
        assert_eq!(
            record_key(br#"{"refund_id":77,"x":}"#, "refund_id").as_deref(),
            Some("77")
        );
        assert_eq!(
            record_key(br#"{"refund_id":"78","name":"a"b"}"#, "refund_id").as_deref(),
            Some("78")
        );
        assert_eq!(
            record_key(br#"{"detail":{"refund_id":1},"rec_id":5}"#, "refund_id").as_deref(),
            Some("5")
        );
        assert_eq!(record_key(br#"{"x":}"#, "refund_id"), None);
        assert_eq!(record_key(br#"{"refund_id":"7"#, "refund_id"), None);
        assert_eq!(record_key(br#"{"refund_id":"a1"}"#, "refund_id").as_deref(), Some("a1"));
        assert_eq!(record_key(br#"{"refund_id":null}"#, "refund_id"), None);
        assert_eq!(record_key(br#"{"refund_id":{"x":1}}"#, "refund_id"), None);
    }

    #[test]
    fn escaping_keeps_utf8_and_marks_the_rest() {
        assert_eq!(escaped_text("张三".as_bytes()), "张三");
        assert_eq!(escaped_text(&[b'a', 0xFF, 0xE5, 0xBC, b'b']), r"a\xFF\xE5\xBCb");
    }
}
