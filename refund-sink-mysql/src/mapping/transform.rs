//! The transforms: each compiled once against the kind of value it receives (a transform that
//! does not fit is refused at start-up), then applied per row. A transform that cannot map a
//! value (a code missing from a label map, an overflow) fails the record, which becomes a dead
//! letter naming the column: never a silently wrong value.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use rust_decimal::{Decimal, RoundingStrategy};

use super::expr::Expr;
use super::source::{self, Field, Record};
use super::spec::{LabelsSpec, Literal, RoundSpec, TransformSpec};
use super::value::{Kind, Value};
use crate::schema::ColumnType;

/// A transform written in Rust, for library users: registered by name in [`Transforms`] and
/// used in a mapping as `{ custom = "name" }`.
pub trait Transform: Send + Sync {
    /// What it yields for an input of `input` kind, or why it does not apply to it
    /// (the default: anything, checked per row when written).
    fn output(&self, input: Kind) -> Result<Kind, String> {
        let _ = input;
        Ok(Kind::Any)
    }

    /// Maps one value; an error makes the record a dead letter naming the column.
    fn apply<'a>(&self, value: Value<'a>, record: &Record<'a>) -> Result<Value<'a>, String>;
}

/// A closure as a [`Transform`].
struct FnTransform<F>(F);

impl<F> Transform for FnTransform<F>
where
    F: for<'a> Fn(Value<'a>) -> Result<Value<'a>, String> + Send + Sync,
{
    fn apply<'a>(&self, value: Value<'a>, _record: &Record<'a>) -> Result<Value<'a>, String> {
        (self.0)(value)
    }
}

/// The Rust transforms a mapping may name (`{ custom = "name" }`).
#[derive(Clone, Default)]
pub struct Transforms {
    by_name: HashMap<String, Arc<dyn Transform>>,
}

impl std::fmt::Debug for Transforms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.by_name.keys().collect();
        names.sort();
        f.debug_struct("Transforms").field("names", &names).finish()
    }
}

impl Transforms {
    /// No custom transforms.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a transform under `name`.
    pub fn with(mut self, name: impl Into<String>, t: impl Transform + 'static) -> Self {
        self.by_name.insert(name.into(), Arc::new(t));
        self
    }

    /// Adds a closure under `name`.
    pub fn with_fn<F>(self, name: impl Into<String>, f: F) -> Self
    where
        F: for<'a> Fn(Value<'a>) -> Result<Value<'a>, String> + Send + Sync + 'static,
    {
        self.with(name, FnTransform(f))
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<dyn Transform>> {
        self.by_name.get(name).cloned()
    }

    pub(crate) fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        v.sort();
        v
    }
}

/// A code → label map.
#[derive(Debug)]
pub(crate) struct Labels {
    map: HashMap<String, String>,
    default: Option<String>,
}

/// One compiled transform.
#[derive(Clone)]
pub(crate) enum Step {
    Shift(TimeDelta),
    Format(Arc<str>),
    Date,
    Round(u32, RoundingStrategy),
    Multiply(Decimal),
    Divide(Decimal),
    Labels(Arc<Labels>),
    Default(Value<'static>),
    Constant(Value<'static>),
    Trim,
    Upper,
    Lower,
    Clip(usize),
    Join(Arc<str>),
    Concat(Arc<[&'static Field]>, Arc<str>),
    Expr(Expr),
    Custom(Arc<dyn Transform>),
}

impl Step {
    /// True when the result can differ between the lines of one refund (so the column is not
    /// encoded once per refund).
    pub(crate) fn reads_lines(&self) -> bool {
        match self {
            Step::Concat(fields, _) => fields.iter().any(|f| f.level != source::Level::Refund),
            Step::Expr(_) | Step::Custom(_) => true,
            _ => false,
        }
    }

    /// True when the transform can read the `raw` source (a Rust transform gets the whole
    /// record, so it may).
    pub(crate) fn reads_raw(&self) -> bool {
        match self {
            Step::Concat(fields, _) => fields.iter().any(|f| f.path == "raw"),
            Step::Expr(e) => e.reads("raw"),
            Step::Custom(_) => true,
            _ => false,
        }
    }

    /// Applies the transform.
    pub(crate) fn apply<'a>(&self, v: Value<'a>, rec: &Record<'a>) -> Result<Value<'a>, String> {
        Ok(match (self, v) {
            (Step::Default(d), v) if v.is_empty() => d.clone(),
            (Step::Default(_), v) => v,
            (Step::Constant(c), _) => c.clone(),
            (Step::Expr(e), v) => e.eval(v, rec)?,
            (Step::Custom(t), v) => t.apply(v, rec)?,
            (Step::Concat(fields, sep), v) => {
                let mut out = String::new();
                let mut parts = std::iter::once(v).chain(fields.iter().map(|f| f.read(rec)));
                let mut first = true;
                for part in &mut parts {
                    if part.is_empty() {
                        continue;
                    }
                    if !first {
                        out.push_str(sep);
                    }
                    first = false;
                    let _ = write!(out, "{part}");
                }
                if first {
                    Value::Null
                } else {
                    Value::Text(out.into())
                }
            }
            (_, Value::Null) => Value::Null,
            // An expression hands times on as text.
            (step @ (Step::Shift(_) | Step::Format(_) | Step::Date), Value::Text(s)) if parse_time(&s).is_some() => {
                let t = parse_time(&s).unwrap_or_default();
                if s.trim().len() == 10 && matches!(step, Step::Format(_)) {
                    step.apply(Value::Date(t.date()), rec)?
                } else {
                    step.apply(Value::Time(t), rec)?
                }
            }
            (Step::Shift(d), Value::Time(t)) => Value::Time(
                t.checked_add_signed(*d)
                    .ok_or_else(|| format!("{t} moved by {d} is out of range"))?,
            ),
            (Step::Format(f), Value::Time(t)) => Value::Text(format_with(f, |s| write!(s, "{}", t.format(f)))?.into()),
            (Step::Format(f), Value::Date(d)) => Value::Text(format_with(f, |s| write!(s, "{}", d.format(f)))?.into()),
            (Step::Date, Value::Time(t)) => Value::Date(t.date()),
            (Step::Round(p, m), Value::Dec(d)) => Value::Dec(d.round_dp_with_strategy(*p, *m)),
            (Step::Round(..), v @ Value::Int(_)) => v,
            (Step::Multiply(k), v @ (Value::Int(_) | Value::Dec(_))) => {
                let d = as_decimal(&v);
                Value::Dec(d.checked_mul(*k).ok_or_else(|| format!("{d} × {k} overflows"))?)
            }
            (Step::Divide(k), v @ (Value::Int(_) | Value::Dec(_))) => {
                let d = as_decimal(&v);
                Value::Dec(d.checked_div(*k).ok_or_else(|| format!("{d} ÷ {k} overflows"))?)
            }
            (Step::Labels(l), v @ (Value::Int(_) | Value::Text(_) | Value::Bool(_))) => {
                let code = v.to_string();
                match l.map.get(code.trim()).or(l.default.as_ref()) {
                    Some(label) => Value::Text(label.clone().into()),
                    None => {
                        return Err(format!(
                            "code {code} has no label in the map and the map has no default \
                             (add it to the map, or a default)"
                        ))
                    }
                }
            }
            (Step::Trim, Value::Text(s)) => match s {
                std::borrow::Cow::Borrowed(b) => Value::Text(b.trim().into()),
                std::borrow::Cow::Owned(o) => Value::Text(o.trim().to_owned().into()),
            },
            (Step::Upper, Value::Text(s)) => Value::Text(s.to_uppercase().into()),
            (Step::Lower, Value::Text(s)) => Value::Text(s.to_lowercase().into()),
            (Step::Clip(n), Value::Text(s)) => match s.char_indices().nth(*n) {
                None => Value::Text(s),
                Some((at, _)) => Value::Text(s[..at].to_owned().into()),
            },
            (Step::Join(sep), Value::List(items)) => {
                let mut out = String::new();
                for (i, x) in items.iter().filter(|x| !matches!(x, Value::Null)).enumerate() {
                    if i > 0 {
                        out.push_str(sep);
                    }
                    let _ = write!(out, "{x}");
                }
                Value::Text(out.into())
            }
            (step, v) => return Err(format!("{} does not apply to the {} value {v}", step.name(), v.kind())),
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Step::Shift(_) => "timezone",
            Step::Format(_) => "format",
            Step::Date => "date",
            Step::Round(..) => "round",
            Step::Multiply(_) => "multiply",
            Step::Divide(_) => "divide",
            Step::Labels(_) => "labels",
            Step::Default(_) => "default",
            Step::Constant(_) => "constant",
            Step::Trim => "trim",
            Step::Upper => "upper",
            Step::Lower => "lower",
            Step::Clip(_) => "clip",
            Step::Join(_) => "join",
            Step::Concat(..) => "concat",
            Step::Expr(_) => "expr",
            Step::Custom(_) => "custom",
        }
    }
}

fn format_with(pattern: &str, f: impl FnOnce(&mut String) -> std::fmt::Result) -> Result<String, String> {
    let mut s = String::new();
    f(&mut s).map_err(|_| format!("the format {pattern:?} cannot format this value"))?;
    Ok(s)
}

fn as_decimal(v: &Value<'_>) -> Decimal {
    match v {
        Value::Int(i) => Decimal::from(*i),
        Value::Dec(d) => *d,
        _ => Decimal::ZERO,
    }
}

/// The kind a column of type `ty` holds.
pub(crate) fn column_kind(ty: ColumnType) -> Kind {
    match ty {
        ColumnType::BigInt | ColumnType::Int => Kind::Int,
        ColumnType::Bool => Kind::Bool,
        ColumnType::Decimal | ColumnType::Numeric(..) => Kind::Dec,
        ColumnType::DateTime(_) => Kind::Time,
        ColumnType::Date => Kind::Date,
        ColumnType::Varchar(_) | ColumnType::Key(_) | ColumnType::Text | ColumnType::LongText => Kind::Text,
    }
}

/// A literal as a value of `kind`.
pub(crate) fn literal(lit: &Literal, kind: Kind) -> Result<Value<'static>, String> {
    let bad = || format!("{lit} is not a {}", kind.name());
    Ok(match (kind, lit) {
        (Kind::Int, Literal::Int(i)) => Value::Int(*i),
        (Kind::Int, Literal::Text(s)) => Value::Int(s.trim().parse().map_err(|_| bad())?),
        (Kind::Dec, Literal::Int(i)) => Value::Dec(Decimal::from(*i)),
        (Kind::Dec, Literal::Text(s)) => Value::Dec(s.trim().parse().map_err(|_| bad())?),
        (Kind::Bool, Literal::Bool(b)) => Value::Bool(*b),
        (Kind::Bool, Literal::Int(i @ (0 | 1))) => Value::Bool(*i == 1),
        (Kind::Time, Literal::Text(s)) => Value::Time(parse_time(s).ok_or_else(bad)?),
        (Kind::Date, Literal::Text(s)) => {
            Value::Date(NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| bad())?)
        }
        (Kind::Text, Literal::Text(s)) => Value::Text(s.clone().into()),
        (Kind::Text, Literal::Int(i)) => Value::Text(i.to_string().into()),
        (Kind::Text, Literal::Bool(b)) => Value::Text(if *b { "1" } else { "0" }.into()),
        (Kind::Any, Literal::Int(i)) => Value::Int(*i),
        (Kind::Any, Literal::Bool(b)) => Value::Bool(*b),
        (Kind::Any, Literal::Text(s)) => Value::Text(s.clone().into()),
        _ => return Err(bad()),
    })
}

/// `YYYY-MM-DD HH:MM:SS[.f]`, `YYYY-MM-DDTHH:MM:SS[.f]` or `YYYY-MM-DD` (midnight).
pub(crate) fn parse_time(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

/// The built-in label maps: one per code field.
pub(crate) fn builtin_labels(name: &str) -> Option<Vec<(i64, &'static str)>> {
    source::field(name).and_then(|f| f.labels).map(|l| l())
}

fn builtin_names() -> String {
    source::fields()
        .filter(|f| f.labels.is_some())
        .map(|f| f.path)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Compiles `spec` for an input of kind `input` (the column's type `ty`, the field `field` it
/// reads). Returns the step and the kind it yields, or the problem and its fix.
pub(crate) fn compile(
    spec: &TransformSpec,
    input: Kind,
    field: Option<&'static Field>,
    ty: ColumnType,
    custom: &Transforms,
) -> Result<(Step, Kind), String> {
    let needs = |what: &str, ok: bool| -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(format!("applies to {what}, but its input is {}", input.name()))
        }
    };
    Ok(match spec {
        TransformSpec::Timezone(zone) => {
            needs("a datetime", matches!(input, Kind::Time | Kind::Any))?;
            (Step::Shift(zone_shift(zone)?), Kind::Time)
        }
        TransformSpec::Format(pattern) => {
            needs(
                "a datetime or a date",
                matches!(input, Kind::Time | Kind::Date | Kind::Any),
            )?;
            let sample = NaiveDate::from_ymd_opt(2024, 5, 6)
                .and_then(|d| d.and_hms_opt(7, 8, 9))
                .unwrap_or_default();
            let ok = if input == Kind::Date {
                format_with(pattern, |s| write!(s, "{}", sample.date().format(pattern)))
            } else {
                format_with(pattern, |s| write!(s, "{}", sample.format(pattern)))
            };
            ok.map_err(|_| {
                format!(
                    "format {pattern:?} is not a valid strftime pattern for a {} (e.g. \"%Y-%m-%d %H:%M:%S\")",
                    input.name()
                )
            })?;
            (Step::Format(pattern.as_str().into()), Kind::Text)
        }
        TransformSpec::Date => {
            needs("a datetime", matches!(input, Kind::Time | Kind::Any))?;
            (Step::Date, Kind::Date)
        }
        TransformSpec::Round(r) => {
            needs("a number", input.is_numeric())?;
            let (places, mode) = match r {
                RoundSpec::Places(p) => (*p, None),
                RoundSpec::With { places, mode } => (*places, mode.as_deref()),
            };
            if places > 28 {
                return Err(format!("round keeps at most 28 places, not {places}"));
            }
            let mode = match mode.unwrap_or("half_up") {
                "half_up" => RoundingStrategy::MidpointAwayFromZero,
                "half_even" => RoundingStrategy::MidpointNearestEven,
                "down" => RoundingStrategy::ToZero,
                "up" => RoundingStrategy::AwayFromZero,
                "floor" => RoundingStrategy::ToNegativeInfinity,
                "ceiling" => RoundingStrategy::ToPositiveInfinity,
                other => {
                    return Err(format!(
                        "round mode {other:?} is unknown; use half_up, half_even, down, up, floor or ceiling"
                    ))
                }
            };
            (
                Step::Round(places, mode),
                if input == Kind::Int { Kind::Int } else { Kind::Dec },
            )
        }
        TransformSpec::Multiply(k) | TransformSpec::Divide(k) => {
            let name = if matches!(spec, TransformSpec::Multiply(_)) {
                "multiply"
            } else {
                "divide"
            };
            needs("a number", input.is_numeric())?;
            let Value::Dec(k) =
                literal(k, Kind::Dec).map_err(|e| format!("{name}: {e}; write a number such as 100 or \"0.01\""))?
            else {
                unreachable!()
            };
            if name == "divide" && k.is_zero() {
                return Err("divide by 0".into());
            }
            (
                if name == "multiply" {
                    Step::Multiply(k)
                } else {
                    Step::Divide(k)
                },
                Kind::Dec,
            )
        }
        TransformSpec::Labels(l) => {
            if matches!(input, Kind::Dec | Kind::Time | Kind::Date | Kind::List) {
                return Err(format!(
                    "labels maps codes, but its input is a {}; put it on a code field such as status or stockin_status",
                    input.name()
                ));
            }
            let (builtin, own, default) = match l {
                LabelsSpec::Builtin(name) => (Some(name.as_str()), None, None),
                LabelsSpec::Map { map, default, builtin } => (builtin.as_deref(), Some(map), default.clone()),
            };
            let mut map: HashMap<String, String> = HashMap::new();
            if let Some(name) = builtin {
                let known = builtin_labels(name).ok_or_else(|| {
                    format!(
                        "there is no built-in label map {name:?}; the built-in maps are {}",
                        builtin_names()
                    )
                })?;
                map.extend(known.into_iter().map(|(c, l)| (c.to_string(), l.to_owned())));
            }
            if let Some(own) = own {
                map.extend(own.iter().map(|(k, v)| (k.trim().to_owned(), v.clone())));
            }
            if map.is_empty() && default.is_none() {
                return Err("labels has an empty map and no default".into());
            }
            let _ = field;
            if let ColumnType::Varchar(n) = ty {
                if let Some(long) = map
                    .values()
                    .chain(default.iter())
                    .find(|l| l.chars().count() > usize::from(n))
                {
                    return Err(format!(
                        "the label {long:?} has {} characters; the column holds {n} (widen the column)",
                        long.chars().count()
                    ));
                }
            }
            (Step::Labels(Arc::new(Labels { map, default })), Kind::Text)
        }
        TransformSpec::Default(lit) => {
            let kind = if input == Kind::Any { column_kind(ty) } else { input };
            let v = literal(lit, kind).map_err(|e| format!("default: {e} (the input is {})", kind.name()))?;
            (Step::Default(v), kind)
        }
        TransformSpec::Constant(lit) => {
            let kind = column_kind(ty);
            let v = literal(lit, kind).map_err(|e| format!("constant: {e} (the column is {})", ty.sql()))?;
            (Step::Constant(v), kind)
        }
        TransformSpec::Trim | TransformSpec::Upper | TransformSpec::Lower => {
            needs("text", matches!(input, Kind::Text | Kind::Any))?;
            let step = match spec {
                TransformSpec::Trim => Step::Trim,
                TransformSpec::Upper => Step::Upper,
                _ => Step::Lower,
            };
            (step, Kind::Text)
        }
        TransformSpec::Clip => {
            needs("text", matches!(input, Kind::Text | Kind::Any))?;
            let width = match ty {
                ColumnType::Varchar(w) => usize::from(w),
                ColumnType::Text => 65_535 / 4,
                other => {
                    return Err(format!(
                        "clip cuts text to a VARCHAR or TEXT column's width, not {}",
                        other.sql()
                    ))
                }
            };
            (Step::Clip(width), Kind::Text)
        }
        TransformSpec::Join(sep) => {
            needs(
                "a list (a line field read at refund grain)",
                matches!(input, Kind::List | Kind::Any),
            )?;
            (Step::Join(sep.as_str().into()), Kind::Text)
        }
        TransformSpec::Concat(c) => {
            if c.fields.is_empty() {
                return Err("concat has no fields".into());
            }
            let mut fields = Vec::new();
            for path in &c.fields {
                fields.push(source::field(path).ok_or_else(|| unknown_path(path))?);
            }
            (Step::Concat(fields.into(), c.separator.as_str().into()), Kind::Text)
        }
        TransformSpec::Expr(code) => (Step::Expr(Expr::compile(code)?), Kind::Any),
        TransformSpec::Custom(name) => {
            let t = custom.get(name).ok_or_else(|| {
                let names = custom.names();
                if names.is_empty() {
                    format!("there is no custom transform {name:?} (custom transforms are registered in Rust, with Transforms::with)")
                } else {
                    format!("there is no custom transform {name:?}; registered: {}", names.join(", "))
                }
            })?;
            let out = t.output(input)?;
            (Step::Custom(t), out)
        }
    })
}

/// The error for a path that is no field.
pub(crate) fn unknown_path(path: &str) -> String {
    let near = source::closest(path);
    if near.is_empty() {
        format!("{path:?} is not a field of a refund (see the README's list of source paths)")
    } else {
        let near: Vec<String> = near.iter().map(|p| format!("{p:?}")).collect();
        format!(
            "{path:?} is not a field of a refund; did you mean {}?",
            near.join(" or ")
        )
    }
}

/// The shift from Beijing time to `zone`.
fn zone_shift(zone: &str) -> Result<TimeDelta, String> {
    let z = zone.trim().to_ascii_lowercase();
    let offset_minutes: i64 = match z.as_str() {
        "utc" | "z" | "+00:00" => 0,
        "beijing" | "asia/shanghai" | "cst" | "+08:00" => 8 * 60,
        other => {
            let bad = || format!("timezone {zone:?} is not utc, beijing or an offset such as \"+09:00\"");
            let (sign, rest) = match other.as_bytes().first() {
                Some(b'+') => (1, &other[1..]),
                Some(b'-') => (-1, &other[1..]),
                _ => return Err(bad()),
            };
            let (h, m) = rest.split_once(':').ok_or_else(bad)?;
            let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            if h > 14 || m > 59 {
                return Err(bad());
            }
            sign * (h * 60 + m)
        }
    };
    Ok(TimeDelta::minutes(offset_minutes - 8 * 60))
}
