//! Property test: filter translation to SQL agrees with an in-memory evaluation of the same
//! filter over the same generated users, on whichever database the suite runs on.
//!
//! A tiny deterministic generator (SplitMix64, fixed seeds) builds users with values chosen to
//! collide (shared names, mixed case, `%` and `_` in titles, missing attributes, several
//! emails) and random filters over every filterable attribute with every operator, `and`, `or`,
//! `not`, grouping and value paths. The evaluator below encodes the documented semantics: an
//! absent value satisfies no comparison; userName and emails.value fold case fully, the other
//! case-insensitive strings fold ASCII case; strings order by code point.

use std::cmp::Ordering;

use chrono::NaiveDateTime;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::TestApp;
use crate::scim_support::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[derive(Debug, Clone)]
struct Email {
    value: String,
    kind: Option<String>,
}

#[derive(Debug, Clone)]
struct User {
    id: String,
    user_name: String,
    external_id: Option<String>,
    display_name: Option<String>,
    given: Option<String>,
    family: Option<String>,
    title: Option<String>,
    active: bool,
    emails: Vec<Email>,
    created: NaiveDateTime,
    modified: NaiveDateTime,
}

const GIVEN: &[&str] = &["Ada", "ada", "Grace", "Élodie", "Linus", "Marie", "ADA"];
const FAMILY: &[&str] = &[
    "Lovelace", "Hopper", "Curie", "Pauling", "lovelace", "O'Neil",
];
const TITLES: &[&str] = &[
    "Analyst",
    "QA Lead",
    "qa lead",
    "Director",
    "50% Officer",
    "Under_Score",
    "a\\b",
];
const TYPES: &[&str] = &["work", "home", "WORK", "other"];
const DOMAINS: &[&str] = &["example.com", "Example.COM", "contoso.com"];

fn vary_case(rng: &mut Rng, s: &str) -> String {
    match rng.below(3) {
        0 => s.to_string(),
        1 => s.to_uppercase(),
        _ => s.to_lowercase(),
    }
}

fn generate_body(rng: &mut Rng, n: usize) -> Value {
    let given = *rng.pick(GIVEN);
    let family = *rng.pick(FAMILY);
    // Some userNames have non-ASCII letters (full Unicode case folding applies to them).
    let user_name = if n % 7 == 0 {
        format!("Ärzte{n}@{}", rng.pick(DOMAINS))
    } else {
        format!("{given}.{family}{n}@{}", rng.pick(DOMAINS))
    };
    let mut body = json!({"schemas": [USER], "userName": user_name, "active": rng.chance(70)});
    if rng.chance(80) {
        body["name"] = json!({"givenName": given, "familyName": family});
    }
    if rng.chance(60) {
        body["displayName"] = json!(format!("{given} {family}"));
    }
    if rng.chance(70) {
        body["title"] = json!(rng.pick(TITLES));
    }
    if rng.chance(60) {
        body["externalId"] = json!(format!(
            "{}-{}",
            if rng.chance(50) { "ExT" } else { "ext" },
            n % 13
        ));
    }
    let count = rng.below(3);
    let mut emails = Vec::new();
    for i in 0..count {
        let mut e = json!({"value": format!("{}{i}@{}", vary_case(rng, given), rng.pick(DOMAINS))});
        if rng.chance(80) {
            e["type"] = json!(rng.pick(TYPES));
        }
        if i == 0 && rng.chance(50) {
            e["primary"] = json!(true);
        }
        emails.push(e);
    }
    if !emails.is_empty() {
        body["emails"] = Value::Array(emails);
    }
    body
}

fn time(v: &Value) -> NaiveDateTime {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .naive_utc()
}

fn model(v: &Value) -> User {
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    User {
        id: s("/id").unwrap(),
        user_name: s("/userName").unwrap(),
        external_id: s("/externalId"),
        display_name: s("/displayName"),
        given: s("/name/givenName"),
        family: s("/name/familyName"),
        title: s("/title"),
        active: v["active"].as_bool().unwrap(),
        emails: v["emails"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|e| Email {
                        value: e["value"].as_str().unwrap().to_string(),
                        kind: e["type"].as_str().map(str::to_string),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        created: time(&v["meta"]["created"]),
        modified: time(&v["meta"]["lastModified"]),
    }
}

// ------------------------------------------------------------------------------------------
// Filters: a small AST rendered to SCIM syntax and evaluated in memory.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fold {
    Exact,
    Unicode,
    Ascii,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Attr {
    Id,
    UserName,
    ExternalId,
    DisplayName,
    Given,
    Family,
    Title,
    Active,
    Created,
    Modified,
    Emails,
    EmailValue,
    EmailType,
}

const ATTRS: &[Attr] = &[
    Attr::Id,
    Attr::UserName,
    Attr::ExternalId,
    Attr::DisplayName,
    Attr::Given,
    Attr::Family,
    Attr::Title,
    Attr::Active,
    Attr::Created,
    Attr::Modified,
    Attr::Emails,
    Attr::EmailValue,
    Attr::EmailType,
];

impl Attr {
    fn name(self) -> &'static str {
        match self {
            Attr::Id => "id",
            Attr::UserName => "userName",
            Attr::ExternalId => "externalId",
            Attr::DisplayName => "displayName",
            Attr::Given => "name.givenName",
            Attr::Family => "name.familyName",
            Attr::Title => "title",
            Attr::Active => "active",
            Attr::Created => "meta.created",
            Attr::Modified => "meta.lastModified",
            Attr::Emails => "emails",
            Attr::EmailValue => "emails.value",
            Attr::EmailType => "emails.type",
        }
    }
    fn fold(self) -> Fold {
        match self {
            Attr::Id | Attr::ExternalId => Fold::Exact,
            Attr::UserName | Attr::Emails | Attr::EmailValue => Fold::Unicode,
            _ => Fold::Ascii,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

const STRING_OPS: &[Op] = &[
    Op::Eq,
    Op::Ne,
    Op::Co,
    Op::Sw,
    Op::Ew,
    Op::Gt,
    Op::Ge,
    Op::Lt,
    Op::Le,
];
const TIME_OPS: &[Op] = &[Op::Eq, Op::Ne, Op::Gt, Op::Ge, Op::Lt, Op::Le];

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Eq => "eq",
        Op::Ne => "ne",
        Op::Co => "co",
        Op::Sw => "sw",
        Op::Ew => "ew",
        Op::Gt => "gt",
        Op::Ge => "ge",
        Op::Lt => "lt",
        Op::Le => "le",
    }
}

#[derive(Debug, Clone)]
enum Val {
    Text(String),
    Bool(bool),
    Time(NaiveDateTime, String),
}

#[derive(Debug, Clone)]
enum F {
    Cmp(Attr, Op, Val),
    Pr(Attr),
    /// emails[type eq "…" and value co "…"]-style value path over one email.
    EmailPath(Box<F>),
    Not(Box<F>),
    And(Box<F>, Box<F>),
    Or(Box<F>, Box<F>),
}

fn render(f: &F) -> String {
    match f {
        F::Cmp(a, op, v) => {
            let v = match v {
                Val::Text(s) => serde_json::to_string(s).unwrap(),
                Val::Bool(b) => b.to_string(),
                Val::Time(_, s) => format!("\"{s}\""),
            };
            format!("{} {} {v}", a.name(), op_name(*op))
        }
        F::Pr(a) => format!("{} pr", a.name()),
        F::EmailPath(inner) => format!("emails[{}]", render_inner(inner)),
        F::Not(inner) => format!("not ({})", render(inner)),
        F::And(a, b) => format!("({}) and ({})", render(a), render(b)),
        F::Or(a, b) => format!("({}) or ({})", render(a), render(b)),
    }
}

/// Inside `emails[…]`: `value`/`type` without the `emails.` prefix.
fn render_inner(f: &F) -> String {
    let strip = |s: String| {
        s.replace("emails.value", "value")
            .replace("emails.type", "type")
    };
    strip(render(f))
}

fn fold(s: &str, how: Fold) -> String {
    match how {
        Fold::Exact => s.to_string(),
        Fold::Unicode => s.to_lowercase(),
        Fold::Ascii => s.to_ascii_lowercase(),
    }
}

fn cmp_text(actual: &str, op: Op, expected: &str, how: Fold) -> bool {
    let (a, e) = (fold(actual, how), fold(expected, how));
    match op {
        Op::Eq => a == e,
        Op::Ne => a != e,
        Op::Co => a.contains(&e),
        Op::Sw => a.starts_with(&e),
        Op::Ew => a.ends_with(&e),
        Op::Gt => a > e,
        Op::Ge => a >= e,
        Op::Lt => a < e,
        Op::Le => a <= e,
    }
}

fn cmp_time(a: NaiveDateTime, op: Op, e: NaiveDateTime) -> bool {
    match op {
        Op::Eq => a == e,
        Op::Ne => a != e,
        Op::Gt => a > e,
        Op::Ge => a >= e,
        Op::Lt => a < e,
        Op::Le => a <= e,
        _ => unreachable!(),
    }
}

fn text_of(u: &User, a: Attr) -> Option<&str> {
    match a {
        Attr::Id => Some(&u.id),
        Attr::UserName => Some(&u.user_name),
        Attr::ExternalId => u.external_id.as_deref(),
        Attr::DisplayName => u.display_name.as_deref(),
        Attr::Given => u.given.as_deref(),
        Attr::Family => u.family.as_deref(),
        Attr::Title => u.title.as_deref(),
        _ => None,
    }
}

fn eval_email(e: &Email, f: &F) -> bool {
    match f {
        F::Cmp(Attr::EmailValue | Attr::Emails, op, Val::Text(v)) => {
            cmp_text(&e.value, *op, v, Fold::Unicode)
        }
        F::Cmp(Attr::EmailType, op, Val::Text(v)) => e
            .kind
            .as_deref()
            .is_some_and(|k| cmp_text(k, *op, v, Fold::Ascii)),
        F::Pr(Attr::EmailValue | Attr::Emails) => true,
        F::Pr(Attr::EmailType) => e.kind.is_some(),
        F::Not(inner) => !eval_email(e, inner),
        F::And(a, b) => eval_email(e, a) && eval_email(e, b),
        F::Or(a, b) => eval_email(e, a) || eval_email(e, b),
        other => panic!("not an email filter: {other:?}"),
    }
}

fn eval(u: &User, f: &F) -> bool {
    match f {
        F::Cmp(Attr::Active, op, Val::Bool(b)) => match op {
            Op::Eq => u.active == *b,
            Op::Ne => u.active != *b,
            _ => unreachable!(),
        },
        F::Cmp(Attr::Created, op, Val::Time(t, _)) => cmp_time(u.created, *op, *t),
        F::Cmp(Attr::Modified, op, Val::Time(t, _)) => cmp_time(u.modified, *op, *t),
        F::Cmp(Attr::Emails | Attr::EmailValue | Attr::EmailType, ..)
        | F::Pr(Attr::Emails | Attr::EmailValue | Attr::EmailType) => {
            u.emails.iter().any(|e| eval_email(e, f))
        }
        F::Cmp(a, op, Val::Text(v)) => {
            text_of(u, *a).is_some_and(|t| cmp_text(t, *op, v, a.fold()))
        }
        F::Pr(Attr::Active | Attr::Created | Attr::Modified | Attr::Id | Attr::UserName) => true,
        F::Pr(a) => text_of(u, *a).is_some(),
        F::EmailPath(inner) => u.emails.iter().any(|e| eval_email(e, inner)),
        F::Not(inner) => !eval(u, inner),
        F::And(a, b) => eval(u, a) && eval(u, b),
        F::Or(a, b) => eval(u, a) || eval(u, b),
        other => panic!("ill-typed filter {other:?}"),
    }
}

/// A value to compare `a` with: usually taken from some user (so filters match), with its case
/// varied and, for substring operators, cut to a substring.
fn text_value(rng: &mut Rng, users: &[User], a: Attr, op: Op) -> String {
    let u = rng.pick(users);
    let source = match a {
        Attr::Emails | Attr::EmailValue => u.emails.first().map(|e| e.value.clone()),
        Attr::EmailType => u.emails.first().and_then(|e| e.kind.clone()),
        _ => text_of(u, a).map(str::to_string),
    };
    let mut s = source.unwrap_or_else(|| rng.pick(&["zzz", "%", "_", "a", ""]).to_string());
    if rng.chance(30) {
        s = vary_case(rng, &s);
    }
    if matches!(op, Op::Co | Op::Sw | Op::Ew) && !s.is_empty() {
        let chars: Vec<char> = s.chars().collect();
        let start = if op == Op::Sw {
            0
        } else {
            rng.below(chars.len())
        };
        let end = if op == Op::Ew {
            chars.len()
        } else {
            start + 1 + rng.below(chars.len() - start)
        };
        s = chars[start..end].iter().collect();
    }
    s
}

fn leaf(rng: &mut Rng, users: &[User], email_only: bool) -> F {
    let a = if email_only {
        *rng.pick(&[Attr::EmailValue, Attr::EmailType])
    } else {
        *rng.pick(ATTRS)
    };
    if rng.chance(10) {
        return F::Pr(a);
    }
    match a {
        Attr::Active => F::Cmp(a, *rng.pick(&[Op::Eq, Op::Ne]), Val::Bool(rng.chance(50))),
        Attr::Created | Attr::Modified => {
            let u = rng.pick(users);
            let t = if a == Attr::Created {
                u.created
            } else {
                u.modified
            };
            let text = t
                .and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            F::Cmp(a, *rng.pick(TIME_OPS), Val::Time(t, text))
        }
        _ => {
            let op = *rng.pick(STRING_OPS);
            F::Cmp(a, op, Val::Text(text_value(rng, users, a, op)))
        }
    }
}

fn filter(rng: &mut Rng, users: &[User], depth: u32) -> F {
    if depth == 0 || rng.chance(35) {
        if rng.chance(12) {
            let inner = if rng.chance(50) {
                leaf(rng, users, true)
            } else {
                F::And(
                    Box::new(leaf(rng, users, true)),
                    Box::new(leaf(rng, users, true)),
                )
            };
            return F::EmailPath(Box::new(inner));
        }
        return leaf(rng, users, false);
    }
    match rng.below(3) {
        0 => F::Not(Box::new(filter(rng, users, depth - 1))),
        1 => F::And(
            Box::new(filter(rng, users, depth - 1)),
            Box::new(filter(rng, users, depth - 1)),
        ),
        _ => F::Or(
            Box::new(filter(rng, users, depth - 1)),
            Box::new(filter(rng, users, depth - 1)),
        ),
    }
}

async fn load_users(app: &TestApp, rng: &mut Rng, n: usize) -> Vec<User> {
    let mut users = Vec::new();
    for i in 0..n {
        let (s, body) = scim_json(app, Method::POST, "/Users", &generate_body(rng, i)).await;
        assert_eq!(s, 201, "{body}");
        users.push(body);
    }
    // Some later edits, so lastModified differs from created.
    for (i, u) in users.iter_mut().enumerate() {
        if i % 3 == 0 {
            let id = u["id"].as_str().unwrap().to_string();
            let (s, body) = patch(
                app,
                &format!("/Users/{id}"),
                json!([{"op": "replace", "path": "nickName", "value": format!("n{i}")}]),
            )
            .await;
            assert_eq!(s, 200, "{body}");
            *u = body;
        }
    }
    users.iter().map(model).collect()
}

#[tokio::test]
async fn filters_in_sql_agree_with_an_in_memory_evaluation() {
    let app = TestApp::start().await;
    let mut rng = Rng(0x5C1D_2026);
    let users = load_users(&app, &mut rng, 60).await;
    let mut nonempty = 0;
    for case in 0..400 {
        let f = filter(&mut rng, &users, 3);
        let text = render(&f);
        let (s, body) = get(&app, &format!("/Users?filter={}&count=1000", enc(&text))).await;
        assert_eq!(s, 200, "case {case}: {text}: {body}");
        let mut got = ids(&body);
        got.sort();
        let mut want: Vec<String> = users
            .iter()
            .filter(|u| eval(u, &f))
            .map(|u| u.id.clone())
            .collect();
        want.sort();
        assert_eq!(got, want, "case {case}: {text}");
        assert_eq!(
            body["totalResults"],
            json!(want.len()),
            "case {case}: {text}"
        );
        if !want.is_empty() && want.len() < users.len() {
            nonempty += 1;
        }
    }
    // The generator must produce discriminating filters, not just all-or-nothing ones.
    assert!(nonempty > 100, "only {nonempty} discriminating filters");
    app.stop().await;
}

#[tokio::test]
async fn sorting_and_paging_agree_with_an_in_memory_sort() {
    let app = TestApp::start().await;
    let mut rng = Rng(0x00DE_C0DE);
    let users = load_users(&app, &mut rng, 45).await;
    type Key = fn(&User) -> Option<String>;
    let keys: [(&str, Key); 3] = [
        ("userName", |u| Some(u.user_name.to_lowercase())),
        ("displayName", |u| {
            u.display_name.as_ref().map(|d| d.to_ascii_lowercase())
        }),
        ("meta.created", |u| {
            Some(u.created.format("%Y%m%d%H%M%S%.6f").to_string())
        }),
    ];
    for (name, key) in keys {
        for descending in [false, true] {
            let mut want: Vec<&User> = users.iter().collect();
            // RFC 7644 §3.4.2.3: no value sorts last ascending, first descending; ids break ties.
            want.sort_by(|a, b| {
                let (ka, kb) = (key(a), key(b));
                let primary = match (&ka, &kb) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Greater,
                    (Some(_), None) => Ordering::Less,
                    (Some(x), Some(y)) => x.cmp(y),
                };
                let primary = if descending {
                    primary.reverse()
                } else {
                    primary
                };
                primary.then_with(|| a.id.cmp(&b.id))
            });
            let want: Vec<String> = want.iter().map(|u| u.id.clone()).collect();
            let order = if descending {
                "descending"
            } else {
                "ascending"
            };
            let mut got = Vec::new();
            let mut start = 1;
            loop {
                let (s, page) = get(
                    &app,
                    &format!("/Users?sortBy={name}&sortOrder={order}&startIndex={start}&count=7"),
                )
                .await;
                assert_eq!(s, 200, "{page}");
                assert_eq!(page["totalResults"], json!(users.len()));
                let page_ids = ids(&page);
                if page_ids.is_empty() {
                    break;
                }
                got.extend(page_ids);
                start += 7;
            }
            assert_eq!(got, want, "sortBy={name} {order}");
        }
    }
    app.stop().await;
}
