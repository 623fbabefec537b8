//! Typed list queries and their translation to SQL conditions (built with `store::sql`).
//!
//! A filter reaches this module as an allow-list expression ([`UserFilter`], [`GroupFilter`]):
//! every attribute is an enum variant that names one column, so the SQL text is built from
//! static strings only and every client value is a bound parameter. Nothing is ever evaluated
//! in memory over the table.
//!
//! Matching rules, identical on SQLite and PostgreSQL:
//! - an absent (NULL) attribute satisfies no comparison, `ne` included; `not` is plain boolean
//!   negation (so `not (title eq "x")` matches users without a title, `title ne "x"` does not);
//! - `caseExact: false` attributes compare case-insensitively (RFC 7643 §2.2): through a shadow
//!   column lower-cased by the bridge (userName, emails.value, group displayName; full Unicode),
//!   or with SQL `lower()` on both sides (the other strings; ASCII folding on both backends, since
//!   the PostgreSQL columns use the "C" collation);
//! - `co`/`sw`/`ew` are pattern matches with `%`, `_` and `\` escaped; case-exact ones use GLOB
//!   on SQLite, whose LIKE would ignore ASCII case;
//! - strings order by code point (SQLite BINARY, PostgreSQL "C").

use chrono::NaiveDateTime;

use super::{Reason, Rejection};
use crate::store::sql::{Bind, Sql};
use crate::store::Backend;

/// A boolean expression over leaves `L`.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr<L> {
    Leaf(L),
    Not(Box<Expr<L>>),
    And(Vec<Expr<L>>),
    Or(Vec<Expr<L>>),
}

/// RFC 7644 §3.4.2.2, Table 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
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

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Text(String),
    Bool(bool),
    Time(NaiveDateTime),
}

/// A test of one attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond<A> {
    Compare(A, Op, Operand),
    Present(A),
}

/// Filterable attributes of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAttr {
    Id,
    UserName,
    ExternalId,
    DisplayName,
    GivenName,
    FamilyName,
    Title,
    Active,
    Created,
    LastModified,
}

/// Filterable sub-attributes of one email of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailAttr {
    Value,
    Type,
    Primary,
}

/// Filterable attributes of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupAttr {
    Id,
    ExternalId,
    DisplayName,
    Created,
    LastModified,
}

/// The one filterable sub-attribute of a group member: its user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberAttr {
    Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UserLeaf {
    Attr(Cond<UserAttr>),
    /// Some email of the user satisfies the expression (`emails.value eq …`,
    /// `emails[type eq "work" and value co "@x"]`).
    Emails(Expr<Cond<EmailAttr>>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum GroupLeaf {
    Attr(Cond<GroupAttr>),
    /// Some member of the group satisfies the expression.
    Members(Expr<Cond<MemberAttr>>),
}

pub type UserFilter = Expr<UserLeaf>;
pub type GroupFilter = Expr<GroupLeaf>;
pub type MemberFilter = Expr<Cond<MemberAttr>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    UserName,
    DisplayName,
    Created,
    LastModified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSort {
    DisplayName,
    Created,
    LastModified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort<S> {
    pub key: S,
    pub descending: bool,
}

/// A page request: `offset` is `startIndex - 1`; `limit` 0 asks for the total only.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery<F, S> {
    pub filter: Option<F>,
    pub sort: Option<Sort<S>>,
    pub offset: i64,
    pub limit: i64,
}

pub type UserQuery = ListQuery<UserFilter, UserSort>;
pub type GroupQuery = ListQuery<GroupFilter, GroupSort>;

/// How a text column compares case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// caseExact: compare as stored.
    Exact,
    /// The column already holds the bridge's Unicode lower case: lower the value the same way.
    Shadow,
    /// `lower()` on both sides (ASCII folding on both backends).
    Fold,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnType {
    Text(Case),
    Bool,
    Time,
}

/// One allow-listed column: static SQL text, its type, whether it can be NULL.
#[derive(Debug, Clone, Copy)]
struct Column {
    sql: &'static str,
    ty: ColumnType,
    nullable: bool,
}

trait Attribute: Copy {
    fn column(self) -> Column;
    fn name(self) -> &'static str;
}

const fn col(sql: &'static str, ty: ColumnType, nullable: bool) -> Column {
    Column { sql, ty, nullable }
}

impl Attribute for UserAttr {
    fn column(self) -> Column {
        use ColumnType::*;
        match self {
            UserAttr::Id => col("scim_users.id", Text(Case::Exact), false),
            UserAttr::UserName => col("scim_users.user_name_lower", Text(Case::Shadow), false),
            UserAttr::ExternalId => col("scim_users.external_id", Text(Case::Exact), true),
            UserAttr::DisplayName => col("scim_users.display_name", Text(Case::Fold), true),
            UserAttr::GivenName => col("scim_users.given_name", Text(Case::Fold), true),
            UserAttr::FamilyName => col("scim_users.family_name", Text(Case::Fold), true),
            UserAttr::Title => col("scim_users.title", Text(Case::Fold), true),
            UserAttr::Active => col("scim_users.active", Bool, false),
            UserAttr::Created => col("scim_users.created_at", Time, false),
            UserAttr::LastModified => col("scim_users.updated_at", Time, false),
        }
    }
    fn name(self) -> &'static str {
        match self {
            UserAttr::Id => "id",
            UserAttr::UserName => "userName",
            UserAttr::ExternalId => "externalId",
            UserAttr::DisplayName => "displayName",
            UserAttr::GivenName => "name.givenName",
            UserAttr::FamilyName => "name.familyName",
            UserAttr::Title => "title",
            UserAttr::Active => "active",
            UserAttr::Created => "meta.created",
            UserAttr::LastModified => "meta.lastModified",
        }
    }
}

impl Attribute for EmailAttr {
    fn column(self) -> Column {
        use ColumnType::*;
        match self {
            EmailAttr::Value => col("e.value_lower", Text(Case::Shadow), false),
            EmailAttr::Type => col("e.email_type", Text(Case::Fold), true),
            EmailAttr::Primary => col("e.is_primary", Bool, false),
        }
    }
    fn name(self) -> &'static str {
        match self {
            EmailAttr::Value => "emails.value",
            EmailAttr::Type => "emails.type",
            EmailAttr::Primary => "emails.primary",
        }
    }
}

impl Attribute for GroupAttr {
    fn column(self) -> Column {
        use ColumnType::*;
        match self {
            GroupAttr::Id => col("scim_groups.id", Text(Case::Exact), false),
            GroupAttr::ExternalId => col("scim_groups.external_id", Text(Case::Exact), true),
            GroupAttr::DisplayName => {
                col("scim_groups.display_name_lower", Text(Case::Shadow), false)
            }
            GroupAttr::Created => col("scim_groups.created_at", Time, false),
            GroupAttr::LastModified => col("scim_groups.updated_at", Time, false),
        }
    }
    fn name(self) -> &'static str {
        match self {
            GroupAttr::Id => "id",
            GroupAttr::ExternalId => "externalId",
            GroupAttr::DisplayName => "displayName",
            GroupAttr::Created => "meta.created",
            GroupAttr::LastModified => "meta.lastModified",
        }
    }
}

impl Attribute for MemberAttr {
    fn column(self) -> Column {
        col("m.user_id", ColumnType::Text(Case::Exact), false)
    }
    fn name(self) -> &'static str {
        "members.value"
    }
}

fn like_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    for c in v.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn glob_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    for c in v.chars() {
        match c {
            '*' => out.push_str("[*]"),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            c => out.push(c),
        }
    }
    out
}

fn reject<A: Attribute>(a: A, op: Op, what: &str) -> Rejection {
    Rejection::new(
        Reason::InvalidFilter,
        format!(
            "the {} operator cannot compare {} with {what}",
            op_name(op),
            a.name()
        ),
    )
}

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

fn relational(op: Op) -> Option<&'static str> {
    match op {
        Op::Eq => Some(" = "),
        Op::Ne => Some(" <> "),
        Op::Gt => Some(" > "),
        Op::Ge => Some(" >= "),
        Op::Lt => Some(" < "),
        Op::Le => Some(" <= "),
        Op::Co | Op::Sw | Op::Ew => None,
    }
}

fn cond<A: Attribute>(sql: &mut Sql, c: &Cond<A>) -> Result<(), Rejection> {
    let (attr, op, operand) = match c {
        Cond::Present(a) => {
            let column = a.column();
            if column.nullable {
                sql.push("(").push(column.sql).push(" IS NOT NULL)");
            } else {
                sql.push("(1 = 1)");
            }
            return Ok(());
        }
        Cond::Compare(a, op, v) => (*a, *op, v),
    };
    let column = attr.column();
    sql.push("(");
    if column.nullable {
        // Two-valued logic: a NULL must make the comparison false, not unknown, so that `not`
        // around it is true.
        sql.push(column.sql).push(" IS NOT NULL AND ");
    }
    match (column.ty, operand) {
        (ColumnType::Text(case), Operand::Text(v)) => {
            let (lhs_open, lhs_close, value) = match case {
                Case::Exact => ("", "", v.clone()),
                Case::Shadow => ("", "", v.to_lowercase()),
                Case::Fold => ("lower(", ")", v.to_ascii_lowercase()),
            };
            sql.push(lhs_open).push(column.sql).push(lhs_close);
            if let Some(rel) = relational(op) {
                sql.push(rel).bind(Bind::Text(value));
            } else {
                let exact_on_sqlite = case == Case::Exact && sql.backend() == Backend::Sqlite;
                if exact_on_sqlite {
                    let g = glob_escape(&value);
                    let pattern = match op {
                        Op::Co => format!("*{g}*"),
                        Op::Sw => format!("{g}*"),
                        _ => format!("*{g}"),
                    };
                    sql.push(" GLOB ").bind(Bind::Text(pattern));
                } else {
                    let l = like_escape(&value);
                    let pattern = match op {
                        Op::Co => format!("%{l}%"),
                        Op::Sw => format!("{l}%"),
                        _ => format!("%{l}"),
                    };
                    sql.push(" LIKE ")
                        .bind(Bind::Text(pattern))
                        .push(" ESCAPE '\\'");
                }
            }
        }
        (ColumnType::Bool, Operand::Bool(b)) => {
            let rel = match op {
                Op::Eq => " = ",
                Op::Ne => " <> ",
                _ => return Err(reject(attr, op, "a boolean")),
            };
            sql.push(column.sql).push(rel).bind(Bind::Bool(*b));
        }
        (ColumnType::Time, Operand::Time(t)) => {
            let rel = relational(op).ok_or_else(|| reject(attr, op, "a date-time"))?;
            sql.push(column.sql).push(rel).bind(Bind::Time(*t));
        }
        (ColumnType::Text(_), _) => return Err(reject(attr, op, "a non-string value")),
        (ColumnType::Bool, _) => return Err(reject(attr, op, "a non-boolean value")),
        (ColumnType::Time, _) => return Err(reject(attr, op, "a value that is not a date-time")),
    }
    sql.push(")");
    Ok(())
}

/// Emits a boolean expression, delegating leaves to `leaf`.
fn expr<L>(
    sql: &mut Sql,
    e: &Expr<L>,
    leaf: &dyn Fn(&mut Sql, &L) -> Result<(), Rejection>,
) -> Result<(), Rejection> {
    match e {
        Expr::Leaf(l) => leaf(sql, l),
        Expr::Not(inner) => {
            sql.push("(NOT ");
            expr(sql, inner, leaf)?;
            sql.push(")");
            Ok(())
        }
        Expr::And(items) | Expr::Or(items) => {
            let joiner = if matches!(e, Expr::And(_)) {
                " AND "
            } else {
                " OR "
            };
            sql.push("(");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    sql.push(joiner);
                }
                expr(sql, item, leaf)?;
            }
            sql.push(")");
            Ok(())
        }
    }
}

fn cond_expr<A: Attribute>(sql: &mut Sql, e: &Expr<Cond<A>>) -> Result<(), Rejection> {
    expr(sql, e, &|sql, c| cond(sql, c))
}

pub fn user_filter(sql: &mut Sql, f: &UserFilter) -> Result<(), Rejection> {
    expr(sql, f, &|sql, leaf| match leaf {
        UserLeaf::Attr(c) => cond(sql, c),
        UserLeaf::Emails(inner) => {
            sql.push("scim_users.id IN (SELECT e.user_id FROM scim_user_emails e WHERE ");
            cond_expr(sql, inner)?;
            sql.push(")");
            Ok(())
        }
    })
}

pub fn group_filter(sql: &mut Sql, f: &GroupFilter) -> Result<(), Rejection> {
    expr(sql, f, &|sql, leaf| match leaf {
        GroupLeaf::Attr(c) => cond(sql, c),
        GroupLeaf::Members(inner) => {
            sql.push("scim_groups.id IN (SELECT m.group_id FROM group_members m WHERE ");
            cond_expr(sql, inner)?;
            sql.push(")");
            Ok(())
        }
    })
}

/// A predicate over `group_members m` (PATCH `remove members[value eq "…"]`).
pub fn member_filter(sql: &mut Sql, f: &MemberFilter) -> Result<(), Rejection> {
    cond_expr(sql, f)
}

/// `ORDER BY` with RFC 7644 §3.4.2.3's rule that resources without a value sort last when
/// ascending and first when descending, and the id as the tie-breaker so pages are stable.
fn order_by(sql: &mut Sql, column: Option<(&str, bool)>, descending: bool, id: &str) {
    sql.push(" ORDER BY ");
    if let Some((column, nullable)) = column {
        let dir = if descending { " DESC" } else { " ASC" };
        if nullable {
            sql.push("(")
                .push(column)
                .push(" IS NULL)")
                .push(dir)
                .push(", ");
        }
        sql.push(column).push(dir).push(", ");
    }
    sql.push(id).push(" ASC");
}

pub fn user_order(sql: &mut Sql, sort: Option<Sort<UserSort>>) {
    let column = sort.map(|s| match s.key {
        UserSort::UserName => ("scim_users.user_name_lower", false),
        UserSort::DisplayName => ("lower(scim_users.display_name)", true),
        UserSort::Created => ("scim_users.created_at", false),
        UserSort::LastModified => ("scim_users.updated_at", false),
    });
    order_by(
        sql,
        column,
        sort.is_some_and(|s| s.descending),
        "scim_users.id",
    );
}

pub fn group_order(sql: &mut Sql, sort: Option<Sort<GroupSort>>) {
    let column = sort.map(|s| match s.key {
        GroupSort::DisplayName => ("scim_groups.display_name_lower", false),
        GroupSort::Created => ("scim_groups.created_at", false),
        GroupSort::LastModified => ("scim_groups.updated_at", false),
    });
    order_by(
        sql,
        column,
        sort.is_some_and(|s| s.descending),
        "scim_groups.id",
    );
}

pub fn limit_offset(sql: &mut Sql, limit: i64, offset: i64) {
    sql.push(" LIMIT ")
        .bind(Bind::Int(limit))
        .push(" OFFSET ")
        .bind(Bind::Int(offset));
}

/// The exact total of a page without a second query when the page itself proves it: a short,
/// non-empty page (or an empty first page) ends the result set.
pub fn total_from_page(offset: i64, limit: i64, returned: usize) -> Option<i64> {
    let returned = returned as i64;
    if limit > 0 && returned < limit && (returned > 0 || offset == 0) {
        Some(offset + returned)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_sql(backend: Backend, f: &UserFilter) -> Sql {
        let mut sql = Sql::new(backend);
        user_filter(&mut sql, f).unwrap();
        sql
    }

    #[test]
    fn values_are_bound_never_inlined() {
        let f = Expr::Leaf(UserLeaf::Attr(Cond::Compare(
            UserAttr::UserName,
            Op::Eq,
            Operand::Text("Robert'); DROP TABLE scim_users;--".into()),
        )));
        let sql = user_sql(Backend::Postgres, &f);
        assert_eq!(sql.text(), "(scim_users.user_name_lower = $1)");
        assert_eq!(
            sql.binds(),
            vec![&Bind::Text("robert'); drop table scim_users;--".into())]
        );
    }

    #[test]
    fn patterns_escape_wildcards_and_case_exact_uses_glob_on_sqlite() {
        let co = |a, v: &str| {
            Expr::Leaf(UserLeaf::Attr(Cond::Compare(
                a,
                Op::Co,
                Operand::Text(v.into()),
            )))
        };
        let sql = user_sql(Backend::Sqlite, &co(UserAttr::Title, "50%_A"));
        assert_eq!(
            sql.text(),
            "(scim_users.title IS NOT NULL AND lower(scim_users.title) LIKE ? ESCAPE '\\')"
        );
        assert_eq!(sql.binds(), vec![&Bind::Text("%50\\%\\_a%".into())]);
        let sql = user_sql(Backend::Sqlite, &co(UserAttr::ExternalId, "a*B"));
        assert!(sql.text().contains("GLOB"), "{}", sql.text());
        assert_eq!(sql.binds(), vec![&Bind::Text("*a[*]B*".into())]);
        let sql = user_sql(Backend::Postgres, &co(UserAttr::ExternalId, "a*B"));
        assert!(sql.text().contains("LIKE $1"), "{}", sql.text());
    }

    #[test]
    fn type_mismatches_are_invalid_filters() {
        let f = Expr::Leaf(UserLeaf::Attr(Cond::Compare(
            UserAttr::Active,
            Op::Gt,
            Operand::Bool(true),
        )));
        let mut sql = Sql::new(Backend::Sqlite);
        let e = user_filter(&mut sql, &f).unwrap_err();
        assert_eq!(e.reason, Reason::InvalidFilter);
    }

    #[test]
    fn totals_from_short_pages() {
        assert_eq!(total_from_page(0, 100, 1), Some(1));
        assert_eq!(total_from_page(0, 100, 0), Some(0));
        assert_eq!(total_from_page(200, 100, 0), None);
        assert_eq!(total_from_page(0, 100, 100), None);
        assert_eq!(total_from_page(0, 0, 0), None);
    }
}
