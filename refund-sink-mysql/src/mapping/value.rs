//! The values a mapping moves from a refund's fields through its transforms into a column.

use std::borrow::Cow;
use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;

/// One value on its way from a source field to a column.
///
/// Times are wall times: Beijing (UTC+8) as WDT sends them, unless a `timezone` transform
/// converted them. Decimals are exact; there is no floating-point variant on purpose.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// No value (SQL NULL).
    Null,
    /// An integer (ids, codes, counts).
    Int(i64),
    /// An exact decimal (amounts, quantities).
    Dec(Decimal),
    /// Text.
    Text(Cow<'a, str>),
    /// A date and time.
    Time(NaiveDateTime),
    /// A calendar day.
    Date(NaiveDate),
    /// A flag.
    Bool(bool),
    /// The values of one field over a refund's lines (a line field read at refund grain).
    List(Vec<Value<'a>>),
}

impl Value<'_> {
    /// The value with any borrowed text copied, so it outlives its record.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Int(v) => Value::Int(v),
            Value::Dec(v) => Value::Dec(v),
            Value::Text(s) => Value::Text(Cow::Owned(s.into_owned())),
            Value::Time(v) => Value::Time(v),
            Value::Date(v) => Value::Date(v),
            Value::Bool(v) => Value::Bool(v),
            Value::List(v) => Value::List(v.into_iter().map(Value::into_owned).collect()),
        }
    }

    /// True for [`Value::Null`] and empty (or all-blank) text.
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Text(s) => s.trim().is_empty(),
            Value::List(v) => v.is_empty(),
            _ => false,
        }
    }

    /// The kind of this value ([`Kind::Any`] for NULL).
    pub fn kind(&self) -> Kind {
        match self {
            Value::Null => Kind::Any,
            Value::Int(_) => Kind::Int,
            Value::Dec(_) => Kind::Dec,
            Value::Text(_) => Kind::Text,
            Value::Time(_) => Kind::Time,
            Value::Date(_) => Kind::Date,
            Value::Bool(_) => Kind::Bool,
            Value::List(_) => Kind::List,
        }
    }
}

/// Text form of a value, as written into a text column: integers and decimals as digits
/// (decimals with their own places), times as `YYYY-MM-DD HH:MM:SS[.fff]` (the fraction in 3,
/// 6 or 9 digits when there is one), dates as
/// `YYYY-MM-DD`, flags as `1` / `0`, lists joined with `,`, NULL as nothing.
impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Int(v) => write!(f, "{v}"),
            Value::Dec(v) => write!(f, "{v}"),
            Value::Text(s) => f.write_str(s),
            // WDT's form, with the fraction when there is one (WDT sends milliseconds).
            Value::Time(t) => write!(f, "{}", t.format("%Y-%m-%d %H:%M:%S%.f")),
            Value::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Value::Bool(b) => f.write_str(if *b { "1" } else { "0" }),
            Value::List(v) => {
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{x}")?;
                }
                Ok(())
            }
        }
    }
}

/// What a source or a transform yields, known when the mapping is compiled (so a transform
/// that does not fit is refused before any request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Integers.
    Int,
    /// Exact decimals.
    Dec,
    /// Text.
    Text,
    /// Date and time.
    Time,
    /// Calendar days.
    Date,
    /// Flags.
    Bool,
    /// A list of values (a line field read at refund grain).
    List,
    /// Decided per record (an expression's result); checked when the row is written.
    Any,
}

impl Kind {
    /// The kind's name in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Int => "integer",
            Kind::Dec => "decimal",
            Kind::Text => "text",
            Kind::Time => "datetime",
            Kind::Date => "date",
            Kind::Bool => "flag",
            Kind::List => "list",
            Kind::Any => "any",
        }
    }

    /// True when a value of this kind may be a number (integer or decimal).
    pub fn is_numeric(self) -> bool {
        matches!(self, Kind::Int | Kind::Dec | Kind::Any)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
