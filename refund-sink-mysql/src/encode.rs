//! The LOAD DATA text encoding: fields separated by tab, rows ended by newline, backslash as
//! the escape character, `\N` for NULL, and no enclosing quotes.
//!
//! With `ESCAPED BY '\\'` the server turns `\0`, `\t`, `\n`, `\r` and `\\` back into NUL, tab,
//! newline, carriage return and backslash, and reads a field that is exactly `\N` as NULL; every
//! other byte is taken as is. So the encoder escapes exactly those five bytes, and a literal text
//! `\N` (or `NULL`) stays text.

use std::io::Write as _;

use bytes::Bytes;
use chrono::{Datelike, NaiveDateTime, Timelike};
use rust_decimal::Decimal;

use crate::row::{Cell, Encoding};

/// The clauses after the table name that match this encoding.
pub(crate) const LOAD_DATA_FORMAT: &str = "CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' \
     ENCLOSED BY '' ESCAPED BY '\\\\' LINES STARTING BY '' TERMINATED BY '\\n'";

/// Appends `s` with tab, newline, carriage return, backslash and NUL escaped.
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let needs = |b: &u8| matches!(b, b'\\' | b'\t' | b'\n' | b'\r' | 0);
    if !bytes.iter().any(needs) {
        out.extend_from_slice(bytes);
        return;
    }
    out.reserve(bytes.len() + 8);
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => out.extend_from_slice(b"\\0"),
            _ => out.push(b),
        }
    }
}

/// Appends `n` in decimal.
fn push_int(out: &mut Vec<u8>, n: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends a decimal checked for DECIMAL(19,4) (scale at most 4) as plain digits, keeping its
/// scale (`19.90`, `-0.005`); anything else goes through `Display`.
pub(crate) fn push_decimal(out: &mut Vec<u8>, d: &Decimal) {
    let scale = d.scale();
    let Ok(m) = u64::try_from(d.mantissa().unsigned_abs()) else {
        let _ = write!(out, "{d}");
        return;
    };
    if scale > 4 {
        let _ = write!(out, "{d}");
        return;
    }
    if d.is_sign_negative() && m != 0 {
        out.push(b'-');
    }
    let pow = 10u64.pow(scale);
    push_int(out, (m / pow) as i64);
    if scale > 0 {
        out.push(b'.');
        push_padded(out, (m % pow) as u32, scale as usize);
    }
}

/// Appends `v` as exactly `width` digits (zero-padded).
fn push_padded(out: &mut Vec<u8>, v: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut v = v;
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

/// Appends `yyyy-mm-dd hh:mm:ss[.ffffff]` (the fraction only when there is one).
pub(crate) fn push_datetime(out: &mut Vec<u8>, t: &NaiveDateTime) {
    push_padded(out, t.year() as u32, 4);
    out.push(b'-');
    push_padded(out, t.month(), 2);
    out.push(b'-');
    push_padded(out, t.day(), 2);
    out.push(b' ');
    push_padded(out, t.hour(), 2);
    out.push(b':');
    push_padded(out, t.minute(), 2);
    out.push(b':');
    push_padded(out, t.second(), 2);
    let micros = t.nanosecond() % 1_000_000_000 / 1_000;
    if micros != 0 {
        out.push(b'.');
        push_padded(out, micros, 6);
    }
}

/// LOAD DATA text, one buffer per table.
#[derive(Debug, Default)]
pub(crate) struct TextEncoding {
    /// The encoded rows.
    pub buf: Vec<u8>,
}

impl Encoding for TextEncoding {
    fn position(&self) -> usize {
        self.buf.len()
    }

    fn truncate(&mut self, position: usize) {
        self.buf.truncate(position);
    }

    fn put(&mut self, first: bool, cell: Cell<'_>) {
        let out = &mut self.buf;
        if !first {
            out.push(b'\t');
        }
        match cell {
            Cell::Null => out.extend_from_slice(b"\\N"),
            Cell::Int(v) => push_int(out, v),
            Cell::Dec(d) => push_decimal(out, &d),
            Cell::Text(s) => escape_into(out, s),
            Cell::Time(t) => push_datetime(out, &t),
            Cell::Date(d) => {
                let _ = write!(out, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
            }
            Cell::Bool(b) => out.push(if b { b'1' } else { b'0' }),
        }
    }

    fn end_row(&mut self) {
        self.buf.push(b'\n');
    }

    fn repeat(&mut self, first: bool, range: std::ops::Range<usize>) {
        if !first {
            self.buf.push(b'\t');
        }
        self.buf.extend_from_within(range);
    }
}

/// Cuts the byte ranges `ranges` of `data` into chunks of at most `chunk` bytes, merging
/// adjacent ranges; the chunks share `data`'s memory.
pub(crate) fn chunk_ranges(data: &Bytes, ranges: impl IntoIterator<Item = (usize, usize)>, chunk: usize) -> Vec<Bytes> {
    let chunk = chunk.max(1);
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (start, end) in ranges {
        if start == end {
            continue;
        }
        match merged.last_mut() {
            Some(last) if last.1 == start => last.1 = end,
            _ => merged.push((start, end)),
        }
    }
    let mut out = Vec::new();
    for (mut start, end) in merged {
        while start < end {
            let stop = (start + chunk).min(end);
            out.push(data.slice(start..stop));
            start = stop;
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The server's reading of one field (MySQL `READ_INFO::read_field` with ESCAPED BY '\\'):
    /// `None` for NULL.
    pub(crate) fn unescape_field(field: &[u8]) -> Option<Vec<u8>> {
        if field == b"\\N" {
            return None;
        }
        let mut out = Vec::new();
        let mut it = field.iter();
        while let Some(&b) = it.next() {
            if b == b'\\' {
                match it.next() {
                    Some(b'0') => out.push(0),
                    Some(b't') => out.push(b'\t'),
                    Some(b'n') => out.push(b'\n'),
                    Some(b'r') => out.push(b'\r'),
                    Some(b'b') => out.push(8),
                    Some(b'Z') => out.push(26),
                    Some(&other) => out.push(other),
                    None => out.push(b'\\'),
                }
            } else {
                out.push(b);
            }
        }
        Some(out)
    }

    /// Splits encoded text into rows of fields (on unescaped tabs and newlines).
    pub(crate) fn split_rows(buf: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut field = Vec::new();
        let mut escaped = false;
        for &b in buf {
            if escaped {
                field.push(b);
                escaped = false;
            } else if b == b'\\' {
                field.push(b);
                escaped = true;
            } else if b == b'\t' {
                row.push(std::mem::take(&mut field));
            } else if b == b'\n' {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            } else {
                field.push(b);
            }
        }
        rows
    }

    #[test]
    fn special_bytes_are_escaped() {
        let mut out = Vec::new();
        escape_into(&mut out, "a\tb\nc\rd\\e\0f\"'g");
        assert_eq!(out, b"a\\tb\\nc\\rd\\\\e\\0f\"'g");
        let mut e = TextEncoding::default();
        e.put(true, Cell::Null);
        e.put(false, Cell::Text("\\N"));
        e.put(false, Cell::Text("NULL"));
        e.put(false, Cell::Int(-42));
        e.put(false, Cell::Bool(true));
        e.put(false, Cell::Dec("-0.0100".parse().unwrap()));
        e.end_row();
        assert_eq!(e.buf, b"\\N\t\\\\N\tNULL\t-42\t1\t-0.0100\n");
    }

    #[test]
    fn datetimes_are_written_with_their_fraction() {
        let t = chrono::NaiveDate::from_ymd_opt(2024, 1, 2)
            .unwrap()
            .and_hms_milli_opt(3, 4, 5, 60)
            .unwrap();
        let mut out = Vec::new();
        push_datetime(&mut out, &t);
        assert_eq!(out, b"2024-01-02 03:04:05.060000");
        out.clear();
        push_datetime(&mut out, &t.with_nanosecond(0).unwrap());
        assert_eq!(out, b"2024-01-02 03:04:05");
    }

    #[test]
    fn decimals_are_written_like_display() {
        for s in [
            "0",
            "19.99",
            "-0.005",
            "-12",
            "999999999999999.9999",
            "0.1000",
            "-0.0000",
            "123456789.12",
        ] {
            let d: Decimal = s.parse().unwrap();
            let mut out = Vec::new();
            push_decimal(&mut out, &d);
            assert_eq!(String::from_utf8(out).unwrap(), d.to_string(), "{s}");
        }
        let mut out = Vec::new();
        push_decimal(&mut out, &"1.234567".parse().unwrap());
        assert_eq!(out, b"1.234567");
    }

    #[test]
    fn integers_are_written_in_decimal() {
        for n in [0, 7, -7, 1_234_567, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            push_int(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }
    }

    #[test]
    fn ranges_are_merged_and_chunked_without_copying() {
        let data = Bytes::from_static(b"0123456789");
        let chunks = chunk_ranges(&data, [(0, 2), (2, 5), (7, 10), (5, 5)], 4);
        let got: Vec<&[u8]> = chunks.iter().map(|b| b.as_ref()).collect();
        assert_eq!(got, vec![&b"0123"[..], b"4", b"789"]);
    }

    proptest! {
        /// Any string survives encode -> the server's field reading, whatever it contains.
        #[test]
        fn any_text_round_trips(fields in proptest::collection::vec(any::<String>(), 1..6)) {
            let mut e = TextEncoding::default();
            for (i, f) in fields.iter().enumerate() {
                e.put(i == 0, Cell::Text(f));
            }
            e.end_row();
            let rows = split_rows(&e.buf);
            prop_assert_eq!(rows.len(), 1);
            let back: Vec<String> = rows[0]
                .iter()
                .map(|f| String::from_utf8(unescape_field(f).expect("not NULL")).unwrap())
                .collect();
            prop_assert_eq!(back, fields);
        }

        /// Text made of the troublesome characters only.
        #[test]
        fn nasty_text_round_trips(s in "[\\\\\t\n\r\u{0}'\"N😀]{0,24}") {
            let mut e = TextEncoding::default();
            e.put(true, Cell::Text(&s));
            e.put(false, Cell::Null);
            e.end_row();
            let rows = split_rows(&e.buf);
            prop_assert_eq!(unescape_field(&rows[0][0]), Some(s.into_bytes()));
            prop_assert_eq!(unescape_field(&rows[0][1]), None);
        }
    }
}
