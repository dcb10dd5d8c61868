//! The ConnectWise query grammar: `conditions` (also used for `childConditions` and
//! `customFieldConditions`), `orderBy`, `fields` and `page`/`pageSize`, parsed and applied to
//! records held as JSON.
//!
//! Grammar (API-NOTES.md §7), keywords case-insensitive, `and` binding tighter than `or` as in SQL:
//! ```text
//! expr  := conj ("or" conj)*
//! conj  := term ("and" term)*
//! term  := "(" expr ")" | path op value
//! path  := ident ("/" ident)*
//! op    := = | != | <> | < | <= | > | >= | [not] like | [not] contains | [not] in
//! value := "str" | 'str' | number | true | false | null | [datetime] | "(" value ("," value)* ")"
//! ```
//! String comparisons ignore case, as the SQL Server collation behind Manage does. A path that
//! crosses an array (`communicationItems/value`) matches when any element matches; its negated
//! operators match when no element matches.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use crate::catalog::Model;

/// Default and maximum `pageSize` (API-NOTES.md §6: "default 25, max 1,000", clamped).
pub const DEFAULT_PAGE_SIZE: usize = 25;
pub const MAX_PAGE_SIZE: usize = 1000;

/// Fields that live in `_info` but are filtered and sorted on by their top-level name.
const INFO_FIELDS: &[&str] = &["lastUpdated", "dateEntered", "enteredBy", "updatedBy"];

/// Why a query parameter was refused; every variant becomes a 400 with a ConnectWise body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("{message} (at position {position})")]
    Syntax { position: usize, message: String },
    #[error("Unknown field '{0}': only fields returned in a GET can be used")]
    UnknownField(String),
    #[error("{name} must be {expected}, got '{got}'")]
    BadParameter {
        name: &'static str,
        expected: &'static str,
        got: String,
    },
}

/// A literal on the right of an operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Date(DateTime<Utc>),
    List(Vec<Literal>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    NotLike,
    Contains,
    NotContains,
    In,
    NotIn,
}

impl Op {
    fn negated(self) -> bool {
        matches!(self, Op::Ne | Op::NotLike | Op::NotContains | Op::NotIn)
    }
}

/// A parsed `conditions` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp {
        path: Vec<String>,
        op: Op,
        value: Literal,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Date(DateTime<Utc>),
    LParen,
    RParen,
    Comma,
    Sym(&'static str),
}

fn lex(src: &str) -> Result<Vec<(usize, Tok)>, QueryError> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |position: usize, message: String| QueryError::Syntax { position, message };
    while i < chars.len() {
        let (pos, c) = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((pos, Tok::LParen));
                i += 1;
            }
            ')' => {
                out.push((pos, Tok::RParen));
                i += 1;
            }
            ',' => {
                out.push((pos, Tok::Comma));
                i += 1;
            }
            '=' => {
                out.push((pos, Tok::Sym("=")));
                i += 1;
            }
            '!' | '<' | '>' => {
                let next = chars.get(i + 1).map(|&(_, c)| c);
                let (sym, len) = match (c, next) {
                    ('!', Some('=')) => ("!=", 2),
                    ('<', Some('=')) => ("<=", 2),
                    ('<', Some('>')) => ("!=", 2),
                    ('>', Some('=')) => (">=", 2),
                    ('<', _) => ("<", 1),
                    ('>', _) => (">", 1),
                    _ => return Err(err(pos, "Expected '=' after '!'".into())),
                };
                out.push((pos, Tok::Sym(sym)));
                i += len;
            }
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err(pos, "Unterminated string".into())),
                        Some(&(_, '\\')) if chars.get(i + 1).is_some() => {
                            s.push(chars[i + 1].1);
                            i += 2;
                        }
                        Some(&(_, c)) if c == quote => {
                            i += 1;
                            break;
                        }
                        Some(&(_, c)) => {
                            s.push(c);
                            i += 1;
                        }
                    }
                }
                out.push((pos, Tok::Str(s)));
            }
            '[' => {
                let start = i + 1;
                let end = chars[start..]
                    .iter()
                    .position(|&(_, c)| c == ']')
                    .map(|n| start + n)
                    .ok_or_else(|| err(pos, "Unterminated date: expected ']'".into()))?;
                let text: String = chars[start..end].iter().map(|&(_, c)| c).collect();
                let date = parse_datetime(text.trim())
                    .ok_or_else(|| err(pos, format!("Invalid date [{text}]")))?;
                out.push((pos, Tok::Date(date)));
                i = end + 1;
            }
            c if c.is_ascii_digit() || c == '-' || c == '.' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].1.is_ascii_digit() || chars[i].1 == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().map(|&(_, c)| c).collect();
                let n = text
                    .parse::<f64>()
                    .map_err(|_| err(pos, format!("Invalid number {text}")))?;
                out.push((pos, Tok::Num(n)));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].1.is_alphanumeric() || matches!(chars[i].1, '_' | '/' | '.'))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().map(|&(_, c)| c).collect();
                out.push((pos, Tok::Ident(text)));
            }
            other => return Err(err(pos, format!("Unexpected character '{other}'"))),
        }
    }
    Ok(out)
}

/// Parses `2026-03-02T01:05:00Z`, `2026-03-02T01:05:00` (taken as UTC) or `2026-03-02`.
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S") {
        return Some(d.and_utc());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    at: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|(_, t)| t)
    }
    fn pos(&self) -> usize {
        self.toks.get(self.at).map(|&(p, _)| p).unwrap_or(self.end)
    }
    fn err<T>(&self, message: impl Into<String>) -> Result<T, QueryError> {
        Err(QueryError::Syntax {
            position: self.pos(),
            message: message.into(),
        })
    }
    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(word))
    }
    fn expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.conj()?;
        while self.keyword("or") {
            self.at += 1;
            let right = self.conj()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn conj(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.term()?;
        while self.keyword("and") {
            self.at += 1;
            let right = self.term()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn term(&mut self) -> Result<Expr, QueryError> {
        match self.peek().cloned() {
            Some(Tok::LParen) => {
                self.at += 1;
                let inner = self.expr()?;
                if self.peek() != Some(&Tok::RParen) {
                    return self.err("Expected ')'");
                }
                self.at += 1;
                Ok(inner)
            }
            Some(Tok::Ident(name)) => {
                self.at += 1;
                let path: Vec<String> = name.split('/').map(str::to_string).collect();
                if path.iter().any(String::is_empty) {
                    return self.err(format!("Invalid field path '{name}'"));
                }
                let op = self.op(&name)?;
                let value = self.value(op)?;
                Ok(Expr::Cmp { path, op, value })
            }
            Some(_) => self.err("Expected a field name or '('"),
            None => self.err("Unexpected end of conditions: expected a field name"),
        }
    }
    fn op(&mut self, field: &str) -> Result<Op, QueryError> {
        let op = match self.peek() {
            Some(Tok::Sym(s)) => match *s {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            },
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("like") => Op::Like,
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("contains") => Op::Contains,
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("in") => Op::In,
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("not") => {
                self.at += 1;
                let op = match self.peek() {
                    Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("like") => Op::NotLike,
                    Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("contains") => Op::NotContains,
                    Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("in") => Op::NotIn,
                    _ => return self.err("Expected like, contains or in after not"),
                };
                self.at += 1;
                return Ok(op);
            }
            _ => return self.err(format!("Expected an operator after '{field}'")),
        };
        self.at += 1;
        Ok(op)
    }
    fn value(&mut self, op: Op) -> Result<Literal, QueryError> {
        if matches!(op, Op::In | Op::NotIn) {
            if self.peek() != Some(&Tok::LParen) {
                return self.err("Expected '(' after in");
            }
            self.at += 1;
            let mut items = vec![self.scalar()?];
            while self.peek() == Some(&Tok::Comma) {
                self.at += 1;
                items.push(self.scalar()?);
            }
            if self.peek() != Some(&Tok::RParen) {
                return self.err("Expected ')' to close the in list");
            }
            self.at += 1;
            return Ok(Literal::List(items));
        }
        self.scalar()
    }
    fn scalar(&mut self) -> Result<Literal, QueryError> {
        let lit = match self.peek() {
            Some(Tok::Str(s)) => Literal::Str(s.clone()),
            Some(Tok::Num(n)) => Literal::Num(*n),
            Some(Tok::Date(d)) => Literal::Date(*d),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("null") => Literal::Null,
            Some(Tok::Ident(w)) => {
                return self.err(format!("Expected a value, found '{w}' (quote strings)"));
            }
            _ => return self.err("Expected a value"),
        };
        self.at += 1;
        Ok(lit)
    }
}

/// Parses a `conditions` (or `childConditions`, `customFieldConditions`) string.
pub fn parse_conditions(src: &str) -> Result<Expr, QueryError> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        at: 0,
        end: src.len(),
    };
    let expr = p.expr()?;
    if p.at < p.toks.len() {
        return p.err("Expected and, or or the end of conditions");
    }
    Ok(expr)
}

/// Checks every path against the model and rewrites it to the wire names (field names are matched
/// without regard to case, as the server does).
pub fn canonicalize(expr: &mut Expr, model: &Model) -> Result<(), QueryError> {
    match expr {
        Expr::And(a, b) | Expr::Or(a, b) => {
            canonicalize(a, model)?;
            canonicalize(b, model)
        }
        Expr::Cmp { path, .. } => canonical_path(path, model),
    }
}

/// Resolves a path against a model, rewriting each segment to its wire name.
pub fn canonical_path(path: &mut [String], model: &Model) -> Result<(), QueryError> {
    let unknown = |path: &[String]| QueryError::UnknownField(path.join("/"));
    let mut current = model;
    let len = path.len();
    for i in 0..len {
        if current.name == "Info" || current.name.is_empty() {
            return Err(unknown(path));
        }
        let Some(field) = current.field_ci(&path[i]) else {
            if i == 0
                && len == 1
                && let Some(info) = INFO_FIELDS
                    .iter()
                    .find(|f| f.eq_ignore_ascii_case(&path[0]))
            {
                path[0] = (*info).to_string();
                return Ok(());
            }
            return Err(unknown(path));
        };
        path[i] = field.name.to_string();
        if field.ty.starts_with("object") {
            // `_info/lastUpdated`, `customFields/value`: free-form below this point.
            return Ok(());
        }
        match field.target() {
            Some(next) => current = next,
            None if i + 1 == len => return Ok(()),
            None => return Err(unknown(path)),
        }
    }
    Ok(())
}

/// Every value found at `path` (several when the path crosses arrays).
pub fn lookup<'a>(record: &'a Value, path: &[String]) -> Vec<&'a Value> {
    let mut current = vec![record];
    for (i, seg) in path.iter().enumerate() {
        let mut next = Vec::new();
        for v in current {
            let found = match v.get(seg.as_str()) {
                Some(found) => Some(found),
                // `lastUpdated` and friends are read from `_info` when not a top-level field.
                None if i == 0 && path.len() == 1 && INFO_FIELDS.contains(&seg.as_str()) => {
                    v.get("_info").and_then(|info| info.get(seg.as_str()))
                }
                None => None,
            };
            match found {
                Some(Value::Array(items)) if i + 1 < path.len() => next.extend(items.iter()),
                Some(x) => next.push(x),
                None => {}
            }
        }
        current = next;
    }
    current
}

impl Expr {
    /// Whether `record` satisfies the expression.
    pub fn matches(&self, record: &Value) -> bool {
        match self {
            Expr::And(a, b) => a.matches(record) && b.matches(record),
            Expr::Or(a, b) => a.matches(record) || b.matches(record),
            Expr::Cmp { path, op, value } => {
                let found = lookup(record, path);
                let positive = |v: &Value| compare_positive(v, *op, value);
                if found.is_empty() {
                    let hit = positive(&Value::Null);
                    return if op.negated() { !hit } else { hit };
                }
                if op.negated() {
                    !found.iter().any(|v| positive(v))
                } else {
                    found.iter().any(|v| positive(v))
                }
            }
        }
    }

    /// `customFieldConditions` semantics: some element of `customFields` satisfies the whole expression.
    pub fn matches_custom_fields(&self, record: &Value) -> bool {
        record
            .get("customFields")
            .and_then(Value::as_array)
            .is_some_and(|fields| fields.iter().any(|f| self.matches(f)))
    }
}

/// The positive form of `op` (`!=` is evaluated as `=` and negated by the caller).
fn compare_positive(field: &Value, op: Op, lit: &Literal) -> bool {
    match op {
        Op::Eq | Op::Ne => equals(field, lit),
        Op::In | Op::NotIn => match lit {
            Literal::List(items) => items.iter().any(|item| equals(field, item)),
            other => equals(field, other),
        },
        Op::Like | Op::NotLike => match (field, lit) {
            (Value::String(f), Literal::Str(p)) => like(f, p),
            (Value::Number(_) | Value::Bool(_), Literal::Str(p)) => like(&field.to_string(), p),
            _ => equals(field, lit),
        },
        Op::Contains | Op::NotContains => match (field, lit) {
            (Value::String(f), Literal::Str(p)) => f.to_lowercase().contains(&p.to_lowercase()),
            (Value::Number(_), Literal::Str(p)) => field.to_string().contains(p.as_str()),
            _ => false,
        },
        Op::Lt => order(field, lit) == Some(Ordering::Less),
        Op::Le => matches!(order(field, lit), Some(Ordering::Less | Ordering::Equal)),
        Op::Gt => order(field, lit) == Some(Ordering::Greater),
        Op::Ge => matches!(order(field, lit), Some(Ordering::Greater | Ordering::Equal)),
    }
}

fn equals(field: &Value, lit: &Literal) -> bool {
    match lit {
        Literal::Null => field.is_null(),
        Literal::List(_) => false,
        _ => order(field, lit) == Some(Ordering::Equal),
    }
}

fn order(field: &Value, lit: &Literal) -> Option<Ordering> {
    match (field, lit) {
        (Value::Number(n), Literal::Num(l)) => n.as_f64()?.partial_cmp(l),
        (Value::String(s), Literal::Num(l)) => s.trim().parse::<f64>().ok()?.partial_cmp(l),
        (Value::Number(n), Literal::Str(s)) => {
            n.as_f64()?.partial_cmp(&s.trim().parse::<f64>().ok()?)
        }
        (Value::String(s), Literal::Str(l)) => Some(s.to_lowercase().cmp(&l.to_lowercase())),
        (Value::String(s), Literal::Date(d)) => Some(parse_datetime(s)?.cmp(d)),
        (Value::Bool(b), Literal::Bool(l)) => Some(b.cmp(l)),
        (Value::Bool(b), Literal::Str(s)) => Some(b.to_string().cmp(&s.to_lowercase())),
        _ => None,
    }
}

/// SQL `LIKE` with `%` (and ConnectWise's `*`) as the wildcard, ignoring case.
fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.to_lowercase().chars().collect();
    let parts: Vec<Vec<char>> = pattern
        .to_lowercase()
        .split(['%', '*'])
        .map(|p| p.chars().collect())
        .collect();
    if parts.len() == 1 {
        return text == parts[0];
    }
    let (first, rest) = parts.split_first().unwrap_or((&parts[0], &[]));
    if !text.starts_with(first) {
        return false;
    }
    let mut at = first.len();
    let Some((last, middle)) = rest.split_last() else {
        return true;
    };
    for part in middle {
        if part.is_empty() {
            continue;
        }
        match text[at..]
            .windows(part.len())
            .position(|w| w == part.as_slice())
        {
            Some(found) => at += found + part.len(),
            None => return false,
        }
    }
    text.len() >= at + last.len() && text.ends_with(last)
}

/// One `orderBy` key.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub path: Vec<String>,
    pub descending: bool,
}

/// Parses `orderBy`: `field [asc|desc] (, field [asc|desc])*`.
pub fn parse_order_by(src: &str) -> Result<Vec<SortKey>, QueryError> {
    let mut keys = Vec::new();
    let mut offset = 0;
    for part in src.split(',') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let syntax = |message: String| QueryError::Syntax {
            position: offset,
            message,
        };
        let (field, descending) = match words.as_slice() {
            [field] => (*field, false),
            [field, dir] if dir.eq_ignore_ascii_case("asc") => (*field, false),
            [field, dir] if dir.eq_ignore_ascii_case("desc") => (*field, true),
            [_, dir] => return Err(syntax(format!("Expected asc or desc, found '{dir}'"))),
            [] => return Err(syntax("Empty orderBy field".into())),
            _ => return Err(syntax(format!("Invalid orderBy '{}'", part.trim()))),
        };
        let path: Vec<String> = field.split('/').map(str::to_string).collect();
        if path.iter().any(|s| s.is_empty()) {
            return Err(syntax(format!("Invalid orderBy field '{field}'")));
        }
        keys.push(SortKey { path, descending });
        offset += part.len() + 1;
    }
    Ok(keys)
}

fn rank(v: Option<&Value>) -> u8 {
    match v {
        None | Some(Value::Null) => 0,
        Some(Value::Bool(_)) => 1,
        Some(Value::Number(_)) => 2,
        Some(Value::String(_)) => 3,
        Some(_) => 4,
    }
}

/// Orders two records by the keys; nulls first when ascending (SQL Server's order); ties keep
/// their previous (id) order because the sort is stable.
pub fn compare_records(a: &Value, b: &Value, keys: &[SortKey]) -> Ordering {
    for key in keys {
        let va = lookup(a, &key.path).into_iter().next();
        let vb = lookup(b, &key.path).into_iter().next();
        let ord = match (va, vb) {
            (Some(Value::Number(x)), Some(Value::Number(y))) => x
                .as_f64()
                .partial_cmp(&y.as_f64())
                .unwrap_or(Ordering::Equal),
            (Some(Value::String(x)), Some(Value::String(y))) => {
                x.to_lowercase().cmp(&y.to_lowercase())
            }
            (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
            _ => rank(va).cmp(&rank(vb)),
        };
        let ord = if key.descending { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Parses `fields`: a comma list of paths.
pub fn parse_fields(src: &str) -> Vec<Vec<String>> {
    src.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| f.split('/').map(str::to_string).collect())
        .collect()
}

/// The partial record holding only the listed paths, with the same nesting.
pub fn project(record: &Value, fields: &[Vec<String>]) -> Value {
    let mut out = Value::Object(Map::new());
    for path in fields {
        copy_path(record, path, &mut out);
    }
    out
}

fn copy_path(src: &Value, path: &[String], dst: &mut Value) {
    let Some((head, rest)) = path.split_first() else {
        return;
    };
    let Some(found) = src.get(head.as_str()) else {
        return;
    };
    let Value::Object(dst_map) = dst else { return };
    if rest.is_empty() {
        dst_map.insert(head.clone(), found.clone());
        return;
    }
    match found {
        Value::Object(_) => {
            let slot = dst_map
                .entry(head.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            copy_path(found, rest, slot);
        }
        Value::Array(items) => {
            let slot = dst_map.entry(head.clone()).or_insert_with(|| {
                Value::Array(items.iter().map(|_| Value::Object(Map::new())).collect())
            });
            if let Value::Array(slots) = slot {
                for (item, slot) in items.iter().zip(slots.iter_mut()) {
                    copy_path(item, rest, slot);
                }
            }
        }
        _ => {}
    }
}

/// `page` and `pageSize` as the server applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: usize,
    pub page_size: usize,
}

impl Paging {
    /// From the raw parameters: page is 1-based; pageSize defaults to 25 and is clamped to 1000.
    pub fn parse(page: Option<&str>, page_size: Option<&str>) -> Result<Paging, QueryError> {
        let number = |name: &'static str, raw: Option<&str>| -> Result<Option<i64>, QueryError> {
            match raw.map(str::trim) {
                None | Some("") => Ok(None),
                Some(text) => text
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| QueryError::BadParameter {
                        name,
                        expected: "an integer",
                        got: text.to_string(),
                    }),
            }
        };
        let page = number("page", page)?.unwrap_or(1).max(1) as usize;
        let page_size = match number("pageSize", page_size)? {
            Some(n) if n >= 1 => (n as usize).min(MAX_PAGE_SIZE),
            _ => DEFAULT_PAGE_SIZE,
        };
        Ok(Paging { page, page_size })
    }

    /// The number of pages for `total` rows (at least 1).
    pub fn last_page(&self, total: usize) -> usize {
        total.div_ceil(self.page_size).max(1)
    }

    /// The slice of `total` rows this page covers.
    pub fn range(&self, total: usize) -> std::ops::Range<usize> {
        let start = (self.page - 1).saturating_mul(self.page_size).min(total);
        start..(start + self.page_size).min(total)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ticket() -> Value {
        json!({
            "id": 42,
            "summary": "Printer offline in Accounts",
            "closedFlag": false,
            "board": {"id": 1, "name": "Help Desk"},
            "status": {"id": 3, "name": "New"},
            "company": {"id": 250, "identifier": "ACME"},
            "budgetHours": 1.5,
            "requiredDate": "2026-03-02T01:05:00Z",
            "communicationItems": [
                {"type": "Email", "value": "fred@acme.example"},
                {"type": "Phone", "value": "0255501234"}
            ],
            "_info": {"lastUpdated": "2026-03-02T01:12:44Z"}
        })
    }

    #[test]
    fn conditions_table() {
        let cases: &[(&str, bool)] = &[
            ("id = 42", true),
            ("id=41", false),
            ("id != 41", true),
            ("id > 41 and id < 43", true),
            ("id >= 43", false),
            ("id <= 42", true),
            ("summary = \"printer offline in accounts\"", true),
            ("summary = 'Printer offline in Accounts'", true),
            ("summary like \"%offline%\"", true),
            ("summary like 'printer*'", true),
            ("summary like '%scanner%'", false),
            ("summary not like '%scanner%'", true),
            ("summary contains \"ACCOUNTS\"", true),
            ("summary not contains \"accounts\"", false),
            ("closedFlag = false", true),
            ("closedFlag = True", false),
            ("board/name = \"Help Desk\" and status/name = \"New\"", true),
            ("board/name = \"Projects\" or company/id = 250", true),
            (
                "(board/id = 2 or board/id = 1) and closedFlag = false",
                true,
            ),
            ("board/id = 2 or board/id = 3 and id = 42", false),
            ("board/id in (3,2,1)", true),
            ("status/name in (\"Closed\", \"Resolved\")", false),
            ("status/name not in (\"Closed\", \"Resolved\")", true),
            ("parentTicketId = null", true),
            ("budgetHours != null", true),
            ("budgetHours > 1", true),
            ("requiredDate > [2026-03-01T00:00:00Z]", true),
            ("requiredDate < [2026-03-02]", false),
            ("lastUpdated > [2026-03-02T01:00:00Z]", true),
            ("_info/lastUpdated < [2026-03-02T01:00:00Z]", false),
            ("communicationItems/value like \"%@acme.example\"", true),
            ("communicationItems/value = \"nobody@x\"", false),
            ("communicationItems/value != \"nobody@x\"", true),
            ("AND_ignored = 1", false),
            ("company/identifier <> \"ACME\"", false),
        ];
        let record = ticket();
        for (src, expected) in cases {
            let expr = parse_conditions(src).unwrap_or_else(|e| panic!("{src}: {e}"));
            assert_eq!(expr.matches(&record), *expected, "{src}");
        }
    }

    #[test]
    fn malformed_conditions_are_refused_with_a_position() {
        let cases: &[(&str, usize)] = &[
            ("summary", 7),
            ("summary = ", 10),
            ("summary = \"open", 10),
            ("id = 1 and", 10),
            ("(id = 1", 7),
            ("id = 1)", 6),
            ("id == 1", 4),
            ("summary = printer", 10),
            ("id in 1", 6),
            ("id not = 1", 7),
            ("dateEntered > [yesterday]", 14),
            ("id = 1 # 2", 7),
        ];
        for (src, position) in cases {
            match parse_conditions(src) {
                Err(QueryError::Syntax { position: p, .. }) => assert_eq!(p, *position, "{src}"),
                other => panic!("{src}: expected a syntax error, got {other:?}"),
            }
        }
    }

    #[test]
    fn paths_are_checked_against_the_model() {
        let model = crate::catalog::model("Ticket").unwrap();
        let cases: &[(&str, Result<&str, ()>)] = &[
            ("Board/Name = \"x\"", Ok("board/name")),
            ("lastupdated > [2026-01-01]", Ok("lastUpdated")),
            ("_info/lastUpdated > [2026-01-01]", Ok("_info/lastUpdated")),
            ("customFields/value = 1", Ok("customFields/value")),
            ("nosuchfield = 1", Err(())),
            ("board/nosuch = 1", Err(())),
            ("summary/length = 1", Err(())),
        ];
        for (src, expected) in cases {
            let mut expr = parse_conditions(src).unwrap();
            let got = canonicalize(&mut expr, model).map(|_| match &expr {
                Expr::Cmp { path, .. } => path.join("/"),
                _ => unreachable!(),
            });
            match expected {
                Ok(path) => assert_eq!(got.as_deref(), Ok(*path), "{src}"),
                Err(()) => assert!(matches!(got, Err(QueryError::UnknownField(_))), "{src}"),
            }
        }
    }

    #[test]
    fn order_by_table() {
        let rows = vec![
            json!({"id": 1, "name": "beta", "n": 2}),
            json!({"id": 2, "name": "Alpha", "n": 2}),
            json!({"id": 3, "name": "gamma"}),
            json!({"id": 4, "name": "alpha", "n": 1}),
        ];
        let cases: &[(&str, &[i64])] = &[
            ("name asc", &[2, 4, 1, 3]),
            ("name desc", &[3, 1, 2, 4]),
            ("n asc, id desc", &[3, 4, 2, 1]),
            ("n desc,name", &[2, 1, 4, 3]),
            ("id", &[1, 2, 3, 4]),
        ];
        for (src, expected) in cases {
            let keys = parse_order_by(src).unwrap();
            let mut sorted = rows.clone();
            sorted.sort_by(|a, b| compare_records(a, b, &keys));
            let ids: Vec<i64> = sorted.iter().map(|r| r["id"].as_i64().unwrap()).collect();
            assert_eq!(ids, *expected, "{src}");
        }
        assert!(parse_order_by("name upward").is_err());
        assert!(parse_order_by("name asc,").is_err());
    }

    #[test]
    fn fields_projection_keeps_nesting() {
        let fields =
            parse_fields("id, board/name,_info/lastUpdated,communicationItems/value,nosuch");
        let got = project(&ticket(), &fields);
        assert_eq!(
            got,
            json!({
                "id": 42,
                "board": {"name": "Help Desk"},
                "_info": {"lastUpdated": "2026-03-02T01:12:44Z"},
                "communicationItems": [{"value": "fred@acme.example"}, {"value": "0255501234"}]
            })
        );
    }

    #[test]
    fn paging_table() {
        let cases: &[(Option<&str>, Option<&str>, usize, usize)] = &[
            (None, None, 1, 25),
            (Some("3"), Some("10"), 3, 10),
            (Some("0"), Some("5000"), 1, 1000),
            (Some("-2"), Some("0"), 1, 25),
        ];
        for (page, size, want_page, want_size) in cases {
            let p = Paging::parse(*page, *size).unwrap();
            assert_eq!(
                (p.page, p.page_size),
                (*want_page, *want_size),
                "{page:?} {size:?}"
            );
        }
        assert!(Paging::parse(Some("two"), None).is_err());
        let p = Paging::parse(Some("3"), Some("10")).unwrap();
        assert_eq!(p.range(25), 20..25);
        assert_eq!(p.range(15), 15..15);
        assert_eq!(p.last_page(25), 3);
        assert_eq!(p.last_page(0), 1);
    }
}
