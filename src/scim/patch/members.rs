//! Member routing for group PATCH: operations on `members` become membership set operations
//! ([`MemberOp`]) that the directory runs as statements; every other operation becomes an
//! attribute edit of the group document. Request order is kept.

use scim_v2::filter::{AttrPath, PatchPath};
use serde_json::{Map, Value};

use crate::directory::membership::{GroupOp, MemberOp};
use crate::directory::Rejection;
use crate::scim::schema::{self, ResourceSchema};
use crate::scim::{document, filter, limits};

use super::parse::syntax;
use super::{DocEdit, OpKind, RawOp};

fn is_members(p: &AttrPath) -> bool {
    p.name.eq_ignore_ascii_case("members")
        && p.uri
            .as_deref()
            .is_none_or(|u| schema::group().is_core_urn(u))
}

fn push_member(ops: &mut Vec<GroupOp>, op: MemberOp) {
    // Okta sends one remove per departing member: adjacent operations of one kind become one
    // statement. Order across kinds is kept ([remove X, add X] ≠ [add X, remove X]).
    if let Some(GroupOp::Members(last)) = ops.last_mut() {
        match (last, &op) {
            (MemberOp::Add(a), MemberOp::Add(b)) | (MemberOp::Remove(a), MemberOp::Remove(b)) => {
                a.extend(b.iter().cloned());
                return;
            }
            _ => {}
        }
    }
    ops.push(GroupOp::Members(op));
}

fn push_edit(
    ops: &mut Vec<GroupOp>,
    schema: &'static ResourceSchema,
    op: &RawOp,
) -> Result<(), Rejection> {
    let mut edit = DocEdit::new(schema);
    edit.push(schema, op)?;
    if edit.steps.is_empty() {
        return Ok(());
    }
    ops.push(GroupOp::Edit(Box::new(edit)));
    Ok(())
}

/// A group PATCH: attribute edits and membership operations, in request order.
pub fn group_ops(raw: &[RawOp]) -> Result<Vec<GroupOp>, Rejection> {
    let schema = schema::group();
    let mut ops: Vec<GroupOp> = Vec::new();
    for op in raw {
        match &op.path {
            Some(PatchPath::Attr(p)) if is_members(p) => {
                if let Some(sub) = &p.sub_attr {
                    return Err(Rejection::invalid_path(format!(
                        "members.{sub} cannot be modified; add or remove members instead"
                    )));
                }
                let ids = document::member_ids(op.value.as_ref())?;
                let m = match op.kind {
                    OpKind::Add => MemberOp::Add(ids),
                    OpKind::Replace => MemberOp::Replace(ids),
                    // Entra: remove with a value array removes only the listed members.
                    OpKind::Remove if op.value.as_ref().is_some_and(|v| !v.is_null()) => {
                        MemberOp::Remove(ids)
                    }
                    OpKind::Remove => MemberOp::RemoveAll,
                };
                push_member(&mut ops, m);
            }
            Some(PatchPath::Value(vp)) if is_members(&vp.attr) => {
                if vp.sub_attr.is_some() {
                    return Err(Rejection::invalid_path(
                        "a member's sub-attributes cannot be modified",
                    ));
                }
                let f = filter::members(&vp.filter)?;
                let m = match op.kind {
                    OpKind::Remove => match filter::member_ids_of(&f) {
                        Some(ids) => MemberOp::Remove(ids),
                        None => MemberOp::RemoveWhere(f),
                    },
                    OpKind::Replace => {
                        MemberOp::ReplaceWhere(f, document::member_ids(op.value.as_ref())?)
                    }
                    OpKind::Add => {
                        return Err(Rejection::invalid_path(
                            "add to members takes the path \"members\", without a filter",
                        ))
                    }
                };
                push_member(&mut ops, m);
            }
            None => {
                let Some(Value::Object(v)) = &op.value else {
                    return Err(syntax("a path-less operation needs an object value"));
                };
                let mut rest = Map::new();
                let mut members = None;
                for (k, val) in v {
                    if k.eq_ignore_ascii_case("members") {
                        members = Some(val);
                    } else {
                        rest.insert(k.clone(), val.clone());
                    }
                }
                push_edit(
                    &mut ops,
                    schema,
                    &RawOp {
                        kind: op.kind,
                        path: None,
                        value: Some(Value::Object(rest)),
                    },
                )?;
                if let Some(val) = members {
                    let ids = document::member_ids(Some(val))?;
                    let m = match op.kind {
                        OpKind::Replace => MemberOp::Replace(ids),
                        _ => MemberOp::Add(ids),
                    };
                    push_member(&mut ops, m);
                }
            }
            Some(_) => push_edit(&mut ops, schema, op)?,
        }
    }
    let named: usize = ops
        .iter()
        .map(|op| match op {
            GroupOp::Members(
                MemberOp::Add(ids)
                | MemberOp::Remove(ids)
                | MemberOp::Replace(ids)
                | MemberOp::ReplaceWhere(_, ids),
            ) => ids.len(),
            _ => 0,
        })
        .sum();
    if named > limits::MAX_MEMBERS_PER_REQUEST {
        return Err(Rejection::invalid_value(format!(
            "the PATCH names {named} members; at most {} are accepted per request",
            limits::MAX_MEMBERS_PER_REQUEST
        )));
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::patch::testkit::{body, ops};
    use serde_json::json;

    #[test]
    fn group_forms() {
        let raw = ops(body(json!([
            {"op": "replace", "value": {"id": "g", "displayName": "QA"}},
            {"op": "remove", "path": "members[value eq \"u1\"]"},
            {"op": "remove", "path": "members[value eq \"u2\"]"},
            {"op": "add", "path": "members", "value": [{"value": "u3", "display": "c"}]},
            {"op": "Remove", "path": "members", "value": [{"value": "u4"}]},
            {"op": "replace", "path": "members", "value": []},
            {"op": "remove", "path": "members"}
        ])));
        let g = group_ops(&raw).unwrap();
        let shape: Vec<String> = g.iter().map(|o| format!("{o:?}")).collect();
        assert_eq!(
            shape,
            vec![
                "Edit(..)".to_string(),
                "Members(Remove([\"u1\", \"u2\"]))".into(),
                "Members(Add([\"u3\"]))".into(),
                "Members(Remove([\"u4\"]))".into(),
                "Members(Replace([]))".into(),
                "Members(RemoveAll)".into(),
            ]
        );
    }
}
