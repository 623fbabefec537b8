//! Okta's `filter` and `search` expressions: `attr op "value"` terms joined by `and` /
//! `or`, with parentheses and `not (…)`; `pr` (present) takes no value. Parsing is
//! shared; which attributes and operators a query may use is the caller's allow-list
//! ([`Expr::check`]), because `filter` allows fewer than `search`.
//!
//! Semantics chosen where Okta's documentation leaves room: string comparisons ignore
//! case (`profile.login eq "Ada@Example.com"` finds `ada@example.com`, as Okta's search
//! does); timestamps compare as instants, and their value must be RFC 3339.

use chrono::{DateTime, Utc};

/// Longest expression accepted, and deepest nesting: a hostile query costs nothing.
const MAX_LEN: usize = 4096;
const MAX_DEPTH: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Sw,
    Co,
    Ew,
    Pr,
}

impl Op {
    fn parse(word: &str) -> Option<Op> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            "sw" => Op::Sw,
            "co" => Op::Co,
            "ew" => Op::Ew,
            "pr" => Op::Pr,
            _ => return None,
        })
    }

    pub fn is_ordering(self) -> bool {
        matches!(self, Op::Gt | Op::Ge | Op::Lt | Op::Le)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Str(String),
    Bool(bool),
    Num(f64),
    Null,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp {
        attr: String,
        op: Op,
        value: Literal,
    },
}

/// What an object holds under an attribute path.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    Str(String),
    Time(DateTime<Utc>),
    Bool(bool),
    Num(f64),
    Missing,
}

/// An object a filter can be evaluated on.
pub trait Record {
    fn field(&self, attr: &str) -> Field;
}

/// Attributes whose values are timestamps (their literal must be RFC 3339).
pub fn is_time_attr(attr: &str) -> bool {
    matches!(
        attr,
        "created"
            | "activated"
            | "statusChanged"
            | "lastLogin"
            | "lastUpdated"
            | "passwordChanged"
            | "lastMembershipUpdated"
    )
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Expr {
    /// Every term's attribute and operator must be allowed by `allowed`; timestamp terms
    /// need an RFC 3339 value. `Err` names the offending term.
    pub fn check(&self, allowed: &dyn Fn(&str, Op) -> bool) -> Result<(), String> {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.check(allowed)?;
                b.check(allowed)
            }
            Expr::Not(e) => e.check(allowed),
            Expr::Cmp { attr, op, value } => {
                if !allowed(attr, *op) {
                    return Err(format!("{attr} {op:?} is not supported here"));
                }
                if is_time_attr(attr) && *op != Op::Pr {
                    match value {
                        Literal::Str(s) if parse_time(s).is_some() => {}
                        _ => return Err(format!("{attr} needs an RFC 3339 timestamp")),
                    }
                }
                Ok(())
            }
        }
    }

    pub fn matches(&self, r: &dyn Record) -> bool {
        match self {
            Expr::And(a, b) => a.matches(r) && b.matches(r),
            Expr::Or(a, b) => a.matches(r) || b.matches(r),
            Expr::Not(e) => !e.matches(r),
            Expr::Cmp { attr, op, value } => compare(&r.field(attr), *op, value),
        }
    }
}

fn compare(field: &Field, op: Op, value: &Literal) -> bool {
    use std::cmp::Ordering;
    if op == Op::Pr {
        return !matches!(field, Field::Missing);
    }
    let ordering: Option<Ordering> = match (field, value) {
        (Field::Missing, Literal::Null) => Some(Ordering::Equal),
        (Field::Missing, _) | (_, Literal::Null) => None,
        (Field::Time(t), Literal::Str(s)) => parse_time(s).map(|v| t.cmp(&v)),
        (Field::Str(s), Literal::Str(v)) => {
            let (s, v) = (s.to_lowercase(), v.to_lowercase());
            return match op {
                Op::Sw => s.starts_with(&v),
                Op::Co => s.contains(&v),
                Op::Ew => s.ends_with(&v),
                _ => ordered(op, s.cmp(&v)),
            };
        }
        (Field::Bool(b), Literal::Bool(v)) => Some(b.cmp(v)),
        (Field::Num(n), Literal::Num(v)) => n.partial_cmp(v),
        _ => None,
    };
    match ordering {
        Some(o) => ordered(op, o),
        // Missing or of another type: only `ne` holds.
        None => op == Op::Ne,
    }
}

fn ordered(op: Op, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => o == Equal,
        Op::Ne => o != Equal,
        Op::Gt => o == Greater,
        Op::Ge => o != Less,
        Op::Lt => o == Less,
        Op::Le => o != Greater,
        Op::Sw | Op::Co | Op::Ew => o == Equal,
        Op::Pr => true,
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated string".into()),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e) => s.push(e),
                            None => return Err("unterminated string".into()),
                        },
                        Some(ch) => s.push(ch),
                    }
                }
                tokens.push(Token::Str(s));
            }
            _ => {
                let mut w = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_whitespace() || ch == '(' || ch == ')' || ch == '"' {
                        break;
                    }
                    w.push(ch);
                    chars.next();
                }
                tokens.push(Token::Word(w));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

/// Parses a `filter` or `search` expression.
pub fn parse(text: &str) -> Result<Expr, String> {
    if text.len() > MAX_LEN {
        return Err(format!("expression longer than {MAX_LEN} characters"));
    }
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err("empty expression".into());
    }
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let e = p.or()?;
    if p.pos != p.tokens.len() {
        return Err(format!("unexpected {:?}", p.tokens[p.pos]));
    }
    Ok(e)
}

impl Parser {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("expression nested too deeply".into());
        }
        let e = if self.peek_word("not") {
            self.pos += 1;
            Expr::Not(Box::new(self.primary()?))
        } else {
            self.primary()?
        };
        self.depth -= 1;
        Ok(e)
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.tokens.get(self.pos).cloned() {
            Some(Token::Open) => {
                self.pos += 1;
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err("expression nested too deeply".into());
                }
                let e = self.or()?;
                self.depth -= 1;
                match self.tokens.get(self.pos) {
                    Some(Token::Close) => {
                        self.pos += 1;
                        Ok(e)
                    }
                    _ => Err("missing )".into()),
                }
            }
            Some(Token::Word(attr)) => {
                self.pos += 1;
                let op = match self.tokens.get(self.pos) {
                    Some(Token::Word(w)) => {
                        Op::parse(w).ok_or_else(|| format!("unknown operator {w}"))?
                    }
                    other => {
                        return Err(format!("expected an operator after {attr}, got {other:?}"))
                    }
                };
                self.pos += 1;
                if !attr
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
                {
                    return Err(format!("invalid attribute {attr}"));
                }
                if op == Op::Pr {
                    return Ok(Expr::Cmp {
                        attr,
                        op,
                        value: Literal::Null,
                    });
                }
                let value = match self.tokens.get(self.pos).cloned() {
                    Some(Token::Str(s)) => Literal::Str(s),
                    Some(Token::Word(w)) => match w.as_str() {
                        "true" => Literal::Bool(true),
                        "false" => Literal::Bool(false),
                        "null" => Literal::Null,
                        n => Literal::Num(
                            n.parse::<f64>().map_err(|_| format!("invalid value {n}"))?,
                        ),
                    },
                    other => return Err(format!("expected a value after {attr}, got {other:?}")),
                };
                self.pos += 1;
                Ok(Expr::Cmp { attr, op, value })
            }
            other => Err(format!("expected a term, got {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct R(Vec<(&'static str, Field)>);
    impl Record for R {
        fn field(&self, attr: &str) -> Field {
            self.0
                .iter()
                .find(|(a, _)| *a == attr)
                .map(|(_, f)| f.clone())
                .unwrap_or(Field::Missing)
        }
    }

    fn t(s: &str) -> Field {
        Field::Time(parse_time(s).unwrap())
    }

    #[test]
    fn parses_and_evaluates() {
        let r = R(vec![
            ("status", Field::Str("ACTIVE".into())),
            ("lastUpdated", t("2026-01-02T00:00:00.000Z")),
            ("profile.login", Field::Str("ada@example.com".into())),
        ]);
        let yes = [
            r#"status eq "ACTIVE""#,
            r#"status eq "active""#,
            r#"lastUpdated gt "2026-01-01T00:00:00.000Z""#,
            r#"lastUpdated ge "2026-01-02T00:00:00.000Z" and status eq "ACTIVE""#,
            r#"status eq "SUSPENDED" or profile.login eq "Ada@Example.com""#,
            r#"(status eq "X" or status eq "ACTIVE") and profile.login sw "ada""#,
            r#"profile.login pr and not (status eq "DEPROVISIONED")"#,
            r#"profile.title ne "x""#,
        ];
        for q in yes {
            assert!(parse(q).unwrap().matches(&r), "{q}");
        }
        let no = [
            r#"lastUpdated lt "2026-01-01T00:00:00.000Z""#,
            r#"status eq "ACTIVE" and profile.title pr"#,
            r#"profile.title eq "x""#,
        ];
        for q in no {
            assert!(!parse(q).unwrap().matches(&r), "{q}");
        }
    }

    #[test]
    fn rejects_garbage_and_hostile_input() {
        for q in [
            "",
            "status",
            "status eq",
            r#"status eq "x"#,
            r#"status foo "x""#,
            r#"(status eq "x""#,
            r#"status eq "x" and"#,
            r#"status eq "x" "y""#,
            r#"sta$us eq "x""#,
        ] {
            assert!(parse(q).is_err(), "{q}");
        }
        let deep = format!("{}status eq \"x\"{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).is_err());
        assert!(parse(&"a".repeat(5000)).is_err());
        let e = parse(r#"lastUpdated gt "yesterday""#).unwrap();
        assert!(e.check(&|_, _| true).is_err());
        let e = parse(r#"profile.title eq "x""#).unwrap();
        assert!(e.check(&|a, _| a == "status").is_err());
    }
}
