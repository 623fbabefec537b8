//! Parsing a PatchOp body (RFC 7644 §3.5.2) into operations as sent: op names without regard
//! to case, paths through scim_v2's grammar, and the shape checks that need no schema.

use scim_v2::filter::PatchPath;
use serde_json::{Map, Value};

use crate::directory::{Reason, Rejection};
use crate::scim::{limits, schema};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

/// One operation as sent, with its path parsed.
#[derive(Debug, Clone)]
pub struct RawOp {
    pub kind: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

pub(super) fn syntax(detail: impl Into<String>) -> Rejection {
    Rejection::new(Reason::InvalidSyntax, detail)
}

fn get_ci<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Parses a PatchOp body (RFC 7644 §3.5.2).
pub fn parse(body: &Map<String, Value>) -> Result<Vec<RawOp>, Rejection> {
    if let Some(schemas) = get_ci(body, "schemas") {
        let ok = schemas
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(schema::PATCH_OP_URN)));
        if !ok {
            return Err(syntax(format!(
                "a PATCH body must declare the schema {}",
                schema::PATCH_OP_URN
            )));
        }
    }
    let ops = get_ci(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("a PATCH body needs an \"Operations\" array"))?;
    if ops.len() > limits::MAX_OPERATIONS {
        return Err(Rejection::too_many(format!(
            "the PATCH has {} operations; at most {} are accepted per request",
            ops.len(),
            limits::MAX_OPERATIONS
        )));
    }
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let obj = op
            .as_object()
            .ok_or_else(|| syntax(format!("Operations[{i}] must be an object")))?;
        let kind = match get_ci(obj, "op").and_then(Value::as_str) {
            Some(s) if s.eq_ignore_ascii_case("add") => OpKind::Add,
            Some(s) if s.eq_ignore_ascii_case("remove") => OpKind::Remove,
            Some(s) if s.eq_ignore_ascii_case("replace") => OpKind::Replace,
            Some(s) => {
                return Err(syntax(format!(
                    "Operations[{i}].op \"{s}\" is not add, remove or replace"
                )))
            }
            None => return Err(syntax(format!("Operations[{i}] has no \"op\""))),
        };
        let path = match get_ci(obj, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) if s.len() > limits::MAX_FILTER_BYTES => {
                return Err(Rejection::invalid_path(format!(
                    "Operations[{i}].path is {} bytes; at most {} are accepted",
                    s.len(),
                    limits::MAX_FILTER_BYTES
                )))
            }
            Some(Value::String(s)) => Some(s.parse::<PatchPath>().map_err(|e| {
                Rejection::invalid_path(format!(
                    "Operations[{i}].path \"{s}\" is not a valid path: {e}"
                ))
            })?),
            Some(_) => return Err(syntax(format!("Operations[{i}].path must be a string"))),
        };
        let value = get_ci(obj, "value").cloned();
        match (kind, &path, &value) {
            // RFC 7644 §3.5.2.2: remove without a path fails with noTarget.
            (OpKind::Remove, None, _) => {
                return Err(Rejection::new(
                    Reason::NoTarget,
                    format!("Operations[{i}]: remove needs a \"path\""),
                ))
            }
            (OpKind::Add | OpKind::Replace, None, v) if !matches!(v, Some(Value::Object(_))) => {
                return Err(syntax(format!(
                    "Operations[{i}]: without a path, \"value\" must be an object of attributes"
                )))
            }
            (OpKind::Add | OpKind::Replace, Some(_), None) => {
                return Err(syntax(format!("Operations[{i}] needs a \"value\"")))
            }
            _ => {}
        }
        out.push(RawOp { kind, path, value });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::patch::testkit::body;
    use serde_json::json;

    #[test]
    fn refusals_carry_the_rfc_scim_type() {
        let e = parse(body(json!([{"op": "remove"}])).as_object().unwrap()).unwrap_err();
        assert_eq!(e.reason, Reason::NoTarget);
        let e = parse(
            body(json!([{"op": "move", "path": "x"}]))
                .as_object()
                .unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.reason, Reason::InvalidSyntax);
        let e = parse(
            body(json!([{"op": "add", "path": "emails[type eq]"}]))
                .as_object()
                .unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.reason, Reason::InvalidPath);
    }
}
