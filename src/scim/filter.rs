//! RFC 7644 §3.4.2.2 filters: scim_v2's AST → the directory's allow-list expressions.
//!
//! The whole grammar is accepted (every operator, `and`/`or`/`not`, grouping, value paths,
//! URN-qualified attribute names, attribute names in any case). What is filterable is an
//! explicit list per resource; anything else is `400 invalidFilter` — never an empty `200`, which
//! an IdP would read as "absent" and answer with a duplicate create.

use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, ValFilter};

use super::{limits, schema};
use crate::directory::query::{
    Cond, EmailAttr, Expr, GroupAttr, GroupFilter, GroupLeaf, MemberAttr, MemberFilter, Op,
    Operand, UserAttr, UserFilter, UserLeaf,
};
use crate::directory::Rejection;

const USER_ATTRS: &str = "userName, externalId, id, displayName, name.givenName, \
    name.familyName, title, active, emails, emails.value, emails.type, emails.primary, \
    meta.created, meta.lastModified";
const GROUP_ATTRS: &str =
    "id, externalId, displayName, members, members.value, meta.created, meta.lastModified";

fn unsupported(p: &AttrPath, resource: &str, list: &str) -> Rejection {
    Rejection::invalid_filter(format!(
        "filtering {resource}s on \"{p}\" is not supported; filterable attributes: {list}"
    ))
}

fn op(o: &CompareOp) -> Op {
    match o {
        CompareOp::Eq => Op::Eq,
        CompareOp::Ne => Op::Ne,
        CompareOp::Co => Op::Co,
        CompareOp::Sw => Op::Sw,
        CompareOp::Ew => Op::Ew,
        CompareOp::Gt => Op::Gt,
        CompareOp::Ge => Op::Ge,
        CompareOp::Lt => Op::Lt,
        CompareOp::Le => Op::Le,
    }
}

#[derive(Clone, Copy)]
enum Ty {
    Text,
    Bool,
    Time,
}

fn operand(p: &AttrPath, ty: Ty, v: &CompValue) -> Result<Operand, Rejection> {
    let bad = |what: &str| {
        Rejection::invalid_filter(format!("\"{p}\" compares with {what}, not with {v}"))
    };
    match (ty, v) {
        (Ty::Text, CompValue::Str(s)) => Ok(Operand::Text(s.clone())),
        (Ty::Text, _) => Err(bad("a string")),
        (Ty::Bool, CompValue::True) => Ok(Operand::Bool(true)),
        (Ty::Bool, CompValue::False) => Ok(Operand::Bool(false)),
        // Entra writes booleans as strings.
        (Ty::Bool, CompValue::Str(s)) if s.eq_ignore_ascii_case("true") => Ok(Operand::Bool(true)),
        (Ty::Bool, CompValue::Str(s)) if s.eq_ignore_ascii_case("false") => {
            Ok(Operand::Bool(false))
        }
        (Ty::Bool, _) => Err(bad("true or false")),
        (Ty::Time, CompValue::Str(s)) => crate::time::parse_rfc3339(s)
            .map(Operand::Time)
            .ok_or_else(|| bad("an RFC 3339 date-time such as \"2026-01-02T03:04:05Z\"")),
        (Ty::Time, _) => Err(bad("a date-time string")),
    }
}

/// `attr eq null` means "absent" and `attr ne null` "present"; other comparisons with null
/// are refused.
fn cond<A: Copy>(p: &AttrPath, a: A, ty: Ty, e: &AttrExp) -> Result<Expr<Cond<A>>, Rejection> {
    Ok(match e {
        AttrExp::Present(_) => Expr::Leaf(Cond::Present(a)),
        AttrExp::Comparison(_, CompareOp::Eq, CompValue::Null) => {
            Expr::Not(Box::new(Expr::Leaf(Cond::Present(a))))
        }
        AttrExp::Comparison(_, CompareOp::Ne, CompValue::Null) => Expr::Leaf(Cond::Present(a)),
        AttrExp::Comparison(_, _, CompValue::Null) => {
            return Err(Rejection::invalid_filter(format!(
                "\"{p}\" can only be compared with null by eq or ne"
            )))
        }
        AttrExp::Comparison(_, o, v) => {
            bounded(p, o, v)?;
            Expr::Leaf(Cond::Compare(a, op(o), operand(p, ty, v)?))
        }
    })
}

/// A comparison value every backend can run (`crate::scim::limits`): no NUL, and a pattern
/// (`co`/`sw`/`ew`) no longer than SQLite's LIKE accepts with room to spare.
fn bounded(p: &AttrPath, o: &CompareOp, v: &CompValue) -> Result<(), Rejection> {
    let CompValue::Str(s) = v else {
        return Ok(());
    };
    let (bound, what) = match o {
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            (limits::MAX_PATTERN_BYTES, "a co/sw/ew value")
        }
        _ => (limits::MAX_STRING_BYTES, "a comparison value"),
    };
    if s.contains('\0') {
        return Err(Rejection::invalid_filter(format!(
            "\"{p}\": a NUL character (\\u0000) is not accepted in a filter"
        )));
    }
    if s.len() > bound {
        return Err(Rejection::invalid_filter(format!(
            "\"{p}\": {what} is {} bytes; at most {bound} are accepted",
            s.len()
        )));
    }
    Ok(())
}

/// The comparisons of a filter (`a eq 1 or emails[type eq "w" and value co "x"]` has three),
/// bounded by [`limits::MAX_FILTER_TERMS`] so that the SQL it becomes stays well inside
/// SQLite's expression depth.
pub fn check_terms(f: &Filter) -> Result<(), Rejection> {
    fn val(f: &ValFilter) -> usize {
        match f {
            ValFilter::Attr(_) => 1,
            ValFilter::Not(inner) => val(inner),
            ValFilter::And(items) | ValFilter::Or(items) => items.iter().map(val).sum(),
        }
    }
    fn count(f: &Filter) -> usize {
        match f {
            Filter::Attr(_) => 1,
            Filter::ValuePath(vp) => val(&vp.filter),
            Filter::Not(inner) => count(inner),
            Filter::And(items) | Filter::Or(items) => items.iter().map(count).sum(),
        }
    }
    let n = count(f);
    if n > limits::MAX_FILTER_TERMS {
        return Err(Rejection::invalid_filter(format!(
            "the filter has {n} comparisons; at most {} are accepted",
            limits::MAX_FILTER_TERMS
        )));
    }
    Ok(())
}

/// The attribute path without a core-schema URN prefix, lower-cased: `(name, sub)`.
fn key(p: &AttrPath, core_urn: &str) -> Result<(String, Option<String>), ()> {
    if let Some(uri) = &p.uri {
        if !uri.eq_ignore_ascii_case(core_urn) {
            return Err(());
        }
    }
    Ok((
        p.name.to_ascii_lowercase(),
        p.sub_attr.as_ref().map(|s| s.to_ascii_lowercase()),
    ))
}

fn path_of(e: &AttrExp) -> &AttrPath {
    match e {
        AttrExp::Present(p) | AttrExp::Comparison(p, _, _) => p,
    }
}

fn email_attr(sub: &str) -> Option<(EmailAttr, Ty)> {
    Some(match sub {
        "value" => (EmailAttr::Value, Ty::Text),
        "type" => (EmailAttr::Type, Ty::Text),
        "primary" => (EmailAttr::Primary, Ty::Bool),
        _ => return None,
    })
}

fn user_attr(e: &AttrExp) -> Result<Expr<UserLeaf>, Rejection> {
    let p = path_of(e);
    let Ok((name, sub)) = key(p, schema::USER_URN) else {
        return Err(unsupported(p, "user", USER_ATTRS));
    };
    let attr = match (name.as_str(), sub.as_deref()) {
        ("id", None) => (UserAttr::Id, Ty::Text),
        ("username", None) => (UserAttr::UserName, Ty::Text),
        ("externalid", None) => (UserAttr::ExternalId, Ty::Text),
        ("displayname", None) => (UserAttr::DisplayName, Ty::Text),
        ("name", Some("givenname")) => (UserAttr::GivenName, Ty::Text),
        ("name", Some("familyname")) => (UserAttr::FamilyName, Ty::Text),
        ("title", None) => (UserAttr::Title, Ty::Text),
        ("active", None) => (UserAttr::Active, Ty::Bool),
        ("meta", Some("created")) => (UserAttr::Created, Ty::Time),
        ("meta", Some("lastmodified")) => (UserAttr::LastModified, Ty::Time),
        ("emails", sub) => {
            // RFC 7644 §3.4.2.2: a multi-valued attribute without a sub-attribute compares
            // its `value`; it matches when any one value does.
            let Some((a, ty)) = email_attr(sub.unwrap_or("value")) else {
                return Err(unsupported(p, "user", USER_ATTRS));
            };
            return Ok(match cond(p, a, ty, e)? {
                // `emails eq null`: the user has no email at all.
                Expr::Not(inner) => Expr::Not(Box::new(Expr::Leaf(UserLeaf::Emails(*inner)))),
                c => Expr::Leaf(UserLeaf::Emails(c)),
            });
        }
        _ => return Err(unsupported(p, "user", USER_ATTRS)),
    };
    Ok(map_leaves(cond(p, attr.0, attr.1, e)?, &|c| {
        UserLeaf::Attr(c)
    }))
}

fn map_leaves<A: Clone, L>(e: Expr<A>, f: &dyn Fn(A) -> L) -> Expr<L> {
    match e {
        Expr::Leaf(a) => Expr::Leaf(f(a)),
        Expr::Not(inner) => Expr::Not(Box::new(map_leaves(*inner, f))),
        Expr::And(items) => Expr::And(items.into_iter().map(|i| map_leaves(i, f)).collect()),
        Expr::Or(items) => Expr::Or(items.into_iter().map(|i| map_leaves(i, f)).collect()),
    }
}

/// Translates a value filter's inner expression with `leaf`.
fn val_filter<L>(
    f: &ValFilter,
    leaf: &dyn Fn(&AttrExp) -> Result<Expr<L>, Rejection>,
) -> Result<Expr<L>, Rejection> {
    Ok(match f {
        ValFilter::Attr(e) => leaf(e)?,
        ValFilter::Not(inner) => Expr::Not(Box::new(val_filter(inner, leaf)?)),
        ValFilter::And(items) => Expr::And(
            items
                .iter()
                .map(|i| val_filter(i, leaf))
                .collect::<Result<_, _>>()?,
        ),
        ValFilter::Or(items) => Expr::Or(
            items
                .iter()
                .map(|i| val_filter(i, leaf))
                .collect::<Result<_, _>>()?,
        ),
    })
}

type AttrFn<'a, L> = &'a dyn Fn(&AttrExp) -> Result<Expr<L>, Rejection>;
type ValuePathFn<'a, L> = &'a dyn Fn(&AttrPath, &ValFilter) -> Result<Expr<L>, Rejection>;

fn walk<L>(f: &Filter, attr: AttrFn<L>, value_path: ValuePathFn<L>) -> Result<Expr<L>, Rejection> {
    Ok(match f {
        Filter::Attr(e) => attr(e)?,
        Filter::ValuePath(vp) => value_path(&vp.attr, &vp.filter)?,
        Filter::Not(inner) => Expr::Not(Box::new(walk(inner, attr, value_path)?)),
        Filter::And(items) => Expr::And(
            items
                .iter()
                .map(|i| walk(i, attr, value_path))
                .collect::<Result<_, _>>()?,
        ),
        Filter::Or(items) => Expr::Or(
            items
                .iter()
                .map(|i| walk(i, attr, value_path))
                .collect::<Result<_, _>>()?,
        ),
    })
}

pub fn users(f: &Filter) -> Result<UserFilter, Rejection> {
    walk(f, &user_attr, &|attr, inner| {
        let Ok((name, None)) = key(attr, schema::USER_URN) else {
            return Err(unsupported(attr, "user", USER_ATTRS));
        };
        if name != "emails" {
            return Err(unsupported(attr, "user", USER_ATTRS));
        }
        let inner = val_filter(inner, &|e| {
            let p = path_of(e);
            match email_attr(&p.name.to_ascii_lowercase()) {
                Some((a, ty)) if p.sub_attr.is_none() && p.uri.is_none() => cond(p, a, ty, e),
                _ => Err(Rejection::invalid_filter(format!(
                    "emails[…] can test value, type and primary, not \"{p}\""
                ))),
            }
        })?;
        Ok(Expr::Leaf(UserLeaf::Emails(inner)))
    })
}

fn member_cond(e: &AttrExp) -> Result<MemberFilter, Rejection> {
    let p = path_of(e);
    if p.name.eq_ignore_ascii_case("value") && p.sub_attr.is_none() && p.uri.is_none() {
        cond(p, MemberAttr::Value, Ty::Text, e)
    } else {
        Err(Rejection::invalid_filter(format!(
            "members[…] can test value (the user id), not \"{p}\""
        )))
    }
}

/// The filter of a `members[…]` PATCH path.
pub fn members(f: &ValFilter) -> Result<MemberFilter, Rejection> {
    val_filter(f, &member_cond)
}

/// The ids a member filter names when it is `value eq "a"` or `value eq "a" or value eq "b"`
/// (Okta's removes), so the delete can use the primary key directly.
pub fn member_ids_of(f: &MemberFilter) -> Option<Vec<String>> {
    let one = |e: &MemberFilter| match e {
        Expr::Leaf(Cond::Compare(MemberAttr::Value, Op::Eq, Operand::Text(id))) => Some(id.clone()),
        _ => None,
    };
    match f {
        Expr::Or(items) => items.iter().map(one).collect(),
        other => one(other).map(|id| vec![id]),
    }
}

fn group_attr(e: &AttrExp) -> Result<GroupFilter, Rejection> {
    let p = path_of(e);
    let Ok((name, sub)) = key(p, schema::GROUP_URN) else {
        return Err(unsupported(p, "group", GROUP_ATTRS));
    };
    let (attr, ty) = match (name.as_str(), sub.as_deref()) {
        ("id", None) => (GroupAttr::Id, Ty::Text),
        ("externalid", None) => (GroupAttr::ExternalId, Ty::Text),
        ("displayname", None) => (GroupAttr::DisplayName, Ty::Text),
        ("meta", Some("created")) => (GroupAttr::Created, Ty::Time),
        ("meta", Some("lastmodified")) => (GroupAttr::LastModified, Ty::Time),
        ("members", None | Some("value")) => {
            return Ok(match cond(p, MemberAttr::Value, Ty::Text, e)? {
                Expr::Not(inner) => Expr::Not(Box::new(Expr::Leaf(GroupLeaf::Members(*inner)))),
                c => Expr::Leaf(GroupLeaf::Members(c)),
            });
        }
        _ => return Err(unsupported(p, "group", GROUP_ATTRS)),
    };
    Ok(map_leaves(cond(p, attr, ty, e)?, &|c| GroupLeaf::Attr(c)))
}

pub fn groups(f: &Filter) -> Result<GroupFilter, Rejection> {
    walk(f, &group_attr, &|attr, inner| {
        match key(attr, schema::GROUP_URN) {
            Ok((name, None)) if name == "members" => {}
            _ => return Err(unsupported(attr, "group", GROUP_ATTRS)),
        }
        Ok(Expr::Leaf(GroupLeaf::Members(members(inner)?)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Result<UserFilter, Rejection> {
        users(&s.parse::<Filter>().unwrap())
    }

    #[test]
    fn okta_and_entra_lookups() {
        assert_eq!(
            u(r#"userName eq "ada@example.com""#).unwrap(),
            Expr::Leaf(UserLeaf::Attr(Cond::Compare(
                UserAttr::UserName,
                Op::Eq,
                Operand::Text("ada@example.com".into())
            )))
        );
        assert!(u(r#"externalId eq "00u1""#).is_ok());
        assert!(u(r#"urn:ietf:params:scim:schemas:core:2.0:User:USERNAME sw "a""#).is_ok());
        assert!(
            u(r#"emails[type eq "work" and value co "@x"] or not (active eq "False")"#).is_ok()
        );
        assert!(u(r#"meta.lastModified gt "2026-01-01T00:00:00Z""#).is_ok());
    }

    #[test]
    fn everything_else_is_invalid_filter() {
        for f in [
            r#"nickName eq "x""#,
            r#"active gt true"#,
            r#"userName eq 5"#,
            r#"meta.created gt "yesterday""#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x""#,
            r#"emails[display eq "x"]"#,
            r#"phoneNumbers[type eq "work"]"#,
        ] {
            let r = u(f).map(|_| ()).and_then(|_| {
                // Type errors of operators surface when the SQL is built.
                let mut sql = crate::store::sql::Sql::new(crate::store::Backend::Sqlite);
                crate::directory::query::user_filter(&mut sql, &u(f)?)
            });
            assert!(r.is_err(), "{f} should be refused");
        }
    }

    #[test]
    fn group_filters_and_member_ids() {
        let g = |s: &str| groups(&s.parse::<Filter>().unwrap());
        assert!(g(r#"displayName eq "QA""#).is_ok());
        assert!(g(r#"members[value eq "u1"]"#).is_ok());
        assert!(g(r#"members.value eq "u1""#).is_ok());
        assert!(g(r#"members.display eq "x""#).is_err());
        let path: scim_v2::filter::PatchPath =
            r#"members[value eq "a" or value eq "b"]"#.parse().unwrap();
        let scim_v2::filter::PatchPath::Value(vp) = path else {
            panic!()
        };
        assert_eq!(
            member_ids_of(&members(&vp.filter).unwrap()),
            Some(vec!["a".to_string(), "b".to_string()])
        );
    }
}
