//! The expression transform, in [Rhai](https://rhai.rs): `value` is the input, and any field
//! path of the record is a variable (`status`, `detail_list.goods_no`).
//!
//! Why Rhai: it embeds in Rust with no runtime to install, it has an exact decimal type (with
//! `no_float` there is no floating point at all, so `value * 0.01` stays exact money), its
//! syntax reads like the JavaScript or Python data engineers write, it has no file, network or
//! process access, and every evaluation is bounded (operations, string and array sizes, call
//! depth). An expression is compiled once at start-up (a syntax error or an unknown variable
//! is refused before any request) and evaluated per row. CEL (no decimals; money as float),
//! jaq (numbers are floats) and MiniJinja (templates out, floats in) were the alternatives.

use std::sync::{Arc, OnceLock};

use rhai::{Dynamic, Engine, Scope, AST};
use rust_decimal::Decimal;

use super::source::{self, Field, Level, Record};
use super::value::Value;

/// The shared, sandboxed engine.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut e = Engine::new();
        e.set_max_operations(100_000);
        e.set_max_expr_depths(64, 32);
        e.set_max_string_size(1 << 20);
        e.set_max_array_size(100_000);
        e.set_max_map_size(10_000);
        e.set_max_call_levels(32);
        e.set_strict_variables(true);
        e.disable_symbol("eval");
        e.on_print(|_| {});
        e.on_debug(|_, _, _| {});
        e
    })
}

/// A variable an expression reads.
#[derive(Debug, Clone)]
enum Var {
    /// A field, under its own name.
    Field(&'static Field),
    /// `detail_list` / `amount_detail_list`: a map of the line fields the expression names.
    Lines(&'static str, Vec<&'static Field>),
}

/// A compiled expression.
#[derive(Clone)]
pub(crate) struct Expr {
    code: Arc<str>,
    ast: Arc<AST>,
    vars: Vec<Var>,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expr").field("code", &self.code).finish_non_exhaustive()
    }
}

/// The identifiers of `code`, with one `.member` after them when present (`a`, `a.b`).
fn names(code: &str) -> Vec<(String, Option<String>)> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let ident = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && (chars[*i].is_ascii_alphanumeric() || chars[*i] == '_') {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            // A line comment.
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // A block comment.
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if c == '`' {
            // A template string: the expressions interpolated in it (`${shop_no}`) read fields.
            i += 1;
            while i < chars.len() && chars[i] != '`' {
                if chars[i] == '$' && chars.get(i + 1) == Some(&'{') {
                    let start = i + 2;
                    let (mut depth, mut j) = (1, start);
                    while j < chars.len() && depth > 0 {
                        match chars[j] {
                            '{' => depth += 1,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        j += 1;
                    }
                    let end = if depth == 0 { j - 1 } else { j };
                    out.extend(names(&chars[start..end].iter().collect::<String>()));
                    i = j;
                } else {
                    i += 1;
                }
            }
            i += 1;
        } else if c == '"' || c == '\'' {
            // Skip a string literal.
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let preceded_by_dot = i > 0 && chars[i - 1] == '.';
            let a = ident(&mut i);
            let member = if i + 1 < chars.len()
                && chars[i] == '.'
                && (chars[i + 1].is_ascii_alphabetic() || chars[i + 1] == '_')
            {
                i += 1;
                Some(ident(&mut i))
            } else {
                None
            };
            if !preceded_by_dot {
                out.push((a, member));
            }
        } else {
            i += 1;
        }
    }
    out
}

impl Expr {
    /// Compiles `code`; the error says what is wrong and where.
    pub(crate) fn compile(code: &str) -> Result<Expr, String> {
        let mut vars: Vec<Var> = Vec::new();
        for (name, member) in names(code) {
            if name == "value" {
                continue;
            }
            if let Some(member) = &member {
                let path = format!("{name}.{member}");
                if matches!(name.as_str(), "detail_list" | "amount_detail_list") && source::field(&path).is_none() {
                    return Err(format!(
                        "expression {code:?} reads {}",
                        super::transform::unknown_path(&path)
                    ));
                }
                if let Some(f) = source::field(&path) {
                    if matches!(f.level, Level::Line | Level::Amount) {
                        let group = if f.level == Level::Line {
                            "detail_list"
                        } else {
                            "amount_detail_list"
                        };
                        match vars.iter_mut().find(|v| matches!(v, Var::Lines(g, _) if *g == group)) {
                            Some(Var::Lines(_, fields)) if !fields.iter().any(|x| x.path == f.path) => fields.push(f),
                            Some(_) => {}
                            None => vars.push(Var::Lines(group, vec![f])),
                        }
                        continue;
                    }
                }
            }
            if let Some(f) = source::field(&name) {
                if f.level == Level::Refund && !vars.iter().any(|v| matches!(v, Var::Field(x) if x.path == f.path)) {
                    vars.push(Var::Field(f));
                }
            }
        }
        let mut scope = Scope::new();
        scope.push_dynamic("value", Dynamic::UNIT);
        for v in &vars {
            match v {
                Var::Field(f) => scope.push_dynamic(f.path, Dynamic::UNIT),
                Var::Lines(g, _) => scope.push_dynamic(*g, Dynamic::from_map(Default::default())),
            };
        }
        let ast = engine().compile_expression_with_scope(&scope, code).map_err(|e| {
            let hint = match &*e.0 {
                rhai::ParseErrorType::VariableUndefined(name) => {
                    // A line field under its own name, or a near spelling.
                    let suffix = format!(".{name}");
                    let mut near: Vec<&str> = source::fields()
                        .map(|f| f.path)
                        .filter(|p| p.ends_with(&suffix))
                        .collect();
                    for p in source::closest(name) {
                        if !near.contains(&p) {
                            near.push(p);
                        }
                    }
                    if near.is_empty() {
                        " (a variable is `value` or a source field's path)".to_owned()
                    } else {
                        let near: Vec<String> = near.iter().map(|p| format!("{p:?}")).collect();
                        format!(" (did you mean {}?)", near.join(" or "))
                    }
                }
                _ => String::new(),
            };
            format!("expression {code:?} does not compile: {e}{hint}")
        })?;
        Ok(Expr {
            code: code.into(),
            ast: Arc::new(ast),
            vars,
        })
    }

    /// True when the expression reads the refund-level field `path`.
    pub(crate) fn reads(&self, path: &str) -> bool {
        self.vars.iter().any(|v| matches!(v, Var::Field(f) if f.path == path))
    }

    /// Evaluates the expression for `input` in `rec`.
    pub(crate) fn eval<'a>(&self, input: Value<'a>, rec: &Record<'a>) -> Result<Value<'static>, String> {
        let mut scope = Scope::new();
        scope.push_dynamic("value", to_dynamic(&input));
        for v in &self.vars {
            match v {
                Var::Field(f) => {
                    scope.push_dynamic(f.path, to_dynamic(&f.read(rec)));
                }
                Var::Lines(g, fields) => {
                    let mut map = rhai::Map::new();
                    for f in fields {
                        let key = f.path.rsplit('.').next().unwrap_or(f.path);
                        map.insert(key.into(), to_dynamic(&f.read(rec)));
                    }
                    scope.push_dynamic(*g, Dynamic::from_map(map));
                }
            }
        }
        let out = engine()
            .eval_ast_with_scope::<Dynamic>(&mut scope, &self.ast)
            .map_err(|e| format!("expression {:?} failed: {e}", self.code))?;
        from_dynamic(out).map_err(|p| format!("expression {:?} {p}", self.code))
    }
}

fn to_dynamic(v: &Value<'_>) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Int(i) => Dynamic::from_int(*i),
        Value::Dec(d) => Dynamic::from_decimal(*d),
        Value::Text(s) => Dynamic::from(s.to_string()),
        Value::Time(_) | Value::Date(_) => Dynamic::from(v.to_string()),
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::List(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
    }
}

fn from_dynamic(d: Dynamic) -> Result<Value<'static>, String> {
    if d.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(i) = d.as_int() {
        return Ok(Value::Int(i));
    }
    if let Ok(x) = d.as_decimal() {
        let x: Decimal = x;
        return Ok(Value::Dec(x));
    }
    if let Ok(b) = d.as_bool() {
        return Ok(Value::Bool(b));
    }
    if d.is_string() {
        return Ok(Value::Text(d.into_string().unwrap_or_default().into()));
    }
    if d.is_array() {
        let items = d.into_array().unwrap_or_default();
        return Ok(Value::List(
            items.into_iter().map(from_dynamic).collect::<Result<_, _>>()?,
        ));
    }
    Err(format!(
        "returned a {}, which no column holds (return a number, text, flag or ())",
        d.type_name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::source::RowOf;
    use chrono::NaiveDateTime;
    use wdt_qimen::model::{Refund, RefundDetail};

    fn rec(r: &Refund) -> Record<'_> {
        Record {
            refund: r,
            row: RowOf::Refund,
            account: "a",
            raw: "{}",
            synced_at: NaiveDateTime::default(),
        }
    }

    #[test]
    fn decimals_stay_exact_and_fields_are_variables() {
        let r = Refund {
            refund_id: 9,
            shop_no: Some("S1".into()),
            status: Some(90.into()),
            detail_list: vec![RefundDetail {
                goods_no: Some("g".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let e = Expr::compile("value * 0.1 + 0.2").unwrap();
        assert_eq!(
            e.eval(Value::Dec("0.1".parse().unwrap()), &rec(&r)).unwrap(),
            Value::Dec("0.21".parse().unwrap())
        );
        let e = Expr::compile(r#"if status == 90 && shop_no == "S1" { "done:" + refund_id } else { () }"#).unwrap();
        assert_eq!(e.eval(Value::Null, &rec(&r)).unwrap(), Value::Text("done:9".into()));
        let e = Expr::compile("detail_list.goods_no.len()").unwrap();
        assert_eq!(e.eval(Value::Null, &rec(&r)).unwrap(), Value::Int(1));
    }

    #[test]
    fn unknown_variables_and_bad_syntax_are_refused_at_compile_time() {
        let e = Expr::compile("shop_noo + 1").unwrap_err();
        assert!(e.contains("shop_noo"), "{e}");
        assert!(Expr::compile("value +").is_err());
        // Statements (and so loops) are not expressions.
        assert!(Expr::compile("loop { }").is_err());
        assert!(Expr::compile("eval(\"1\")").is_err());
    }

    #[test]
    fn runaway_work_is_stopped() {
        let r = Refund::default();
        let e = Expr::compile(r#""x".pad(100000000, "y")"#).unwrap();
        assert!(e.eval(Value::Null, &rec(&r)).is_err());
        let e = Expr::compile("value.to_upper()").unwrap();
        assert!(e.eval(Value::Int(1), &rec(&r)).unwrap_err().contains("failed"));
    }
}
