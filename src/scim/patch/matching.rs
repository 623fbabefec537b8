//! Element matching: value filters on one attribute's values (RFC 7644 §3.5.2, `valuePath`),
//! evaluated on the values of the one locked resource — never over a table — and when two
//! values of a multi-valued attribute are the same value.

use scim_v2::filter::{AttrExp, CompValue, CompareOp, ValFilter};
use serde_json::{Map, Value};

use crate::directory::Rejection;
use crate::scim::schema::AttrDef;

pub(super) fn check_element_filter(def: &AttrDef, f: &ValFilter) -> Result<(), Rejection> {
    match f {
        ValFilter::Attr(AttrExp::Present(p)) | ValFilter::Attr(AttrExp::Comparison(p, _, _)) => {
            if p.sub_attr.is_some() || def.sub(&p.name).is_none() {
                return Err(Rejection::invalid_filter(format!(
                    "\"{p}\" is not a sub-attribute of {}",
                    def.name
                )));
            }
            Ok(())
        }
        ValFilter::Not(inner) => check_element_filter(def, inner),
        ValFilter::And(items) | ValFilter::Or(items) => {
            items.iter().try_for_each(|i| check_element_filter(def, i))
        }
    }
}

pub(super) fn element_matches(
    def: &AttrDef,
    item: &Value,
    f: &ValFilter,
) -> Result<bool, Rejection> {
    Ok(match f {
        ValFilter::Not(inner) => !element_matches(def, item, inner)?,
        ValFilter::And(items) => {
            for i in items.iter() {
                if !element_matches(def, item, i)? {
                    return Ok(false);
                }
            }
            true
        }
        ValFilter::Or(items) => {
            for i in items.iter() {
                if element_matches(def, item, i)? {
                    return Ok(true);
                }
            }
            false
        }
        ValFilter::Attr(AttrExp::Present(p)) => {
            let sub = def.sub(&p.name);
            sub.and_then(|s| item.get(&s.name))
                .is_some_and(|v| !v.is_null())
        }
        ValFilter::Attr(AttrExp::Comparison(p, op, expected)) => {
            let Some(sub) = def.sub(&p.name) else {
                return Ok(false);
            };
            let Some(actual) = item.get(&sub.name) else {
                return Ok(false);
            };
            compare(sub, actual, op, expected)
        }
    })
}

fn compare(sub: &AttrDef, actual: &Value, op: &CompareOp, expected: &CompValue) -> bool {
    match (actual, expected) {
        (Value::String(a), CompValue::Str(b)) => {
            let (a, b) = if sub.case_exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                CompareOp::Gt => a > b,
                CompareOp::Ge => a >= b,
                CompareOp::Lt => a < b,
                CompareOp::Le => a <= b,
            }
        }
        (Value::Bool(a), CompValue::True | CompValue::False) => {
            let b = matches!(expected, CompValue::True);
            match op {
                CompareOp::Eq => *a == b,
                CompareOp::Ne => *a != b,
                _ => false,
            }
        }
        // Entra writes booleans as strings, in filters too.
        (Value::Bool(a), CompValue::Str(s))
            if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") =>
        {
            let b = s.eq_ignore_ascii_case("true");
            match op {
                CompareOp::Eq => *a == b,
                CompareOp::Ne => *a != b,
                _ => false,
            }
        }
        (Value::Number(a), CompValue::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                CompareOp::Gt => a > b,
                CompareOp::Ge => a >= b,
                CompareOp::Lt => a < b,
                CompareOp::Le => a <= b,
                _ => false,
            },
            _ => false,
        },
        _ => false,
    }
}

/// The sub-attribute values an equality-only filter (`type eq "work"`, `a eq 1 and b eq 2`)
/// pins down, to create the element it describes.
pub(super) fn equality_seed(def: &AttrDef, f: &ValFilter) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    let mut add = |e: &AttrExp| -> Option<()> {
        let AttrExp::Comparison(p, CompareOp::Eq, v) = e else {
            return None;
        };
        let sub = def.sub(&p.name)?;
        let v = match v {
            CompValue::Str(s) => Value::String(s.clone()),
            CompValue::True => Value::Bool(true),
            CompValue::False => Value::Bool(false),
            CompValue::Number(n) => Value::Number(n.clone()),
            CompValue::Null => return None,
        };
        out.insert(sub.name.clone(), v);
        Some(())
    };
    match f {
        ValFilter::Attr(e) => add(e)?,
        ValFilter::And(items) => {
            for item in items.iter() {
                match item {
                    ValFilter::Attr(e) => add(e)?,
                    _ => return None,
                }
            }
        }
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use crate::scim::patch::testkit::{body, patch_user};
    use serde_json::json;

    use crate::directory::Reason;

    #[test]
    fn value_filters_replace_create_and_remove() {
        let doc = json!({"userName": "a", "emails": [
            {"value": "a@work", "type": "work", "primary": true},
            {"value": "a@home", "type": "home"}]});
        let out = patch_user(
            doc.clone(),
            body(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@work"}])),
        )
        .unwrap();
        assert_eq!(out["emails"][0]["value"], "new@work");
        assert_eq!(out["emails"][0]["type"], "work");
        // Entra: add of an email that does not exist yet.
        let out = patch_user(
            json!({"userName": "a"}),
            body(json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "x@w"}])),
        )
        .unwrap();
        assert_eq!(out["emails"], json!([{"type": "work", "value": "x@w"}]));
        let out = patch_user(
            doc.clone(),
            body(json!([{"op": "remove", "path": "emails[type eq \"HOME\"]"}])),
        )
        .unwrap();
        assert_eq!(out["emails"].as_array().unwrap().len(), 1);
        // A new primary demotes the old one.
        let out = patch_user(
            doc,
            body(json!([{"op": "add", "path": "emails", "value": [{"value": "p@x", "primary": true}]}])),
        )
        .unwrap();
        let primaries: Vec<_> = out["emails"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["primary"] == true)
            .collect();
        assert_eq!(primaries.len(), 1);
        assert_eq!(primaries[0]["value"], "p@x");
    }

    #[test]
    fn refusals_carry_the_rfc_scim_type() {
        let e = patch_user(
            json!({"userName": "a", "emails": [{"value": "x", "type": "work"}]}),
            body(json!([{"op": "replace", "path": "emails[type co \"o\"].value", "value": "y"}, {"op": "replace", "path": "emails[type ew \"zz\"].value", "value": "y"}])),
        )
        .unwrap_err();
        assert_eq!(e.reason, Reason::NoTarget);
    }
}
