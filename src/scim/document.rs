//! Incoming resources → stored documents, driven by the served schemas.
//!
//! Lenient on input, canonical in storage (what real IdPs send: the recorded conversations
//! under `tests/data/okta` and `tests/data/entra`):
//! - attribute names match without regard to case (RFC 7643 §2.1) and are stored canonically;
//! - read-only attributes (`id`, `meta`, `groups`, `members.display`) and unknown core
//!   attributes are ignored, not rejected — Okta echoes back whatever a GET returned
//!   (RFC 7644 §3.5.1: "readOnly … SHALL be ignored");
//! - `password` is accepted and dropped: it is never stored and never returned;
//! - `null`, `""` and `[]` mean "no value" (RFC 7643 §2.5; Okta sends empty strings);
//! - booleans may arrive as strings (`"True"`, Entra), numbers for strings are kept as text;
//! - known extension blocks (enterprise) are normalised; any other `urn:` block (an Okta custom
//!   schema) is kept verbatim so it round-trips.

use serde_json::{Map, Value};

use super::limits;
use super::schema::{AttrDef, AttrType, Mutability, ResourceSchema};
use crate::directory::{Document, Rejection};

fn invalid(path: &str, what: &str) -> Rejection {
    Rejection::invalid_value(format!("{path}: {what}"))
}

/// Normalises one value of a simple (non-complex) attribute.
fn simple(def: &AttrDef, v: &Value, path: &str) -> Result<Option<Value>, Rejection> {
    Ok(match (def.kind, v) {
        (_, Value::Null) => None,
        (AttrType::Boolean, Value::Bool(b)) => Some(Value::Bool(*b)),
        (AttrType::Boolean, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            "" => None,
            _ => return Err(invalid(path, "must be a boolean")),
        },
        (AttrType::Boolean, _) => return Err(invalid(path, "must be a boolean")),
        (AttrType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Some(v.clone()),
        (AttrType::Integer, Value::String(s)) => match s.trim() {
            "" => None,
            t => Some(Value::from(
                t.parse::<i64>()
                    .map_err(|_| invalid(path, "must be an integer"))?,
            )),
        },
        (AttrType::Integer, _) => return Err(invalid(path, "must be an integer")),
        (AttrType::Decimal, Value::Number(_)) => Some(v.clone()),
        (AttrType::Decimal, Value::String(s)) => match s.trim() {
            "" => None,
            t => Some(
                t.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| invalid(path, "must be a number"))?,
            ),
        },
        (AttrType::Decimal, _) => return Err(invalid(path, "must be a number")),
        // string, reference, dateTime, binary: text, returned exactly as sent.
        (_, Value::String(s)) if s.trim().is_empty() => None,
        (_, Value::String(_)) => Some(v.clone()),
        (_, Value::Number(_) | Value::Bool(_)) => Some(Value::String(v.to_string())),
        (_, Value::Array(_) | Value::Object(_)) => return Err(invalid(path, "must be a string")),
    })
}

/// Normalises one value of a (possibly complex) attribute; `None` when it carries nothing.
fn single(def: &AttrDef, v: &Value, path: &str) -> Result<Option<Value>, Rejection> {
    if def.kind != AttrType::Complex {
        return simple(def, v, path);
    }
    let obj = match v {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        // Entra sends the enterprise manager as a bare id string.
        Value::String(s) if def.sub("value").is_some() => {
            return Ok((!s.trim().is_empty()).then(|| {
                let mut m = Map::new();
                m.insert("value".into(), v.clone());
                Value::Object(m)
            }))
        }
        _ => return Err(invalid(path, "must be an object")),
    };
    let mut out = Map::new();
    for (key, value) in obj {
        let Some(sub) = def.sub(key) else { continue };
        if sub.is_read_only() {
            continue;
        }
        if let Some(v) = simple(sub, value, &format!("{path}.{}", sub.name))? {
            out.insert(sub.name.clone(), v);
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

/// Normalises an attribute's value: a list for multi-valued attributes (a single value is
/// accepted as a list of one), with RFC 7643 §2.4's "primary at most once" enforced.
pub fn attribute(def: &AttrDef, v: &Value, path: &str) -> Result<Option<Value>, Rejection> {
    if !def.multi_valued {
        return single(def, v, path);
    }
    let items: Vec<&Value> = match v {
        Value::Null => return Ok(None),
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    // Bounded before any work per value (40,000 phone numbers once took seconds).
    if items.len() > limits::MAX_VALUES_PER_ATTRIBUTE {
        return Err(limits::too_many_values(path, items.len()));
    }
    let mut out = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        if let Some(v) = single(def, item, &format!("{path}[{i}]"))? {
            // Linear de-duplication over a canonical text of each value (serde_json's maps
            // are ordered, so equal values print equally).
            if seen.insert(canonical(&v)) {
                out.push(v);
            }
        }
    }
    let primaries = out
        .iter()
        .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
        .count();
    if primaries > 1 {
        return Err(invalid(
            path,
            "at most one value may have \"primary\": true (RFC 7643 §2.4)",
        ));
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

/// A value's canonical text, the key of linear de-duplication: equal values, equal texts.
pub fn canonical(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// What an attribute of the core schema is, for writing.
pub enum Writable<'a> {
    Yes(&'a AttrDef),
    /// Read-only: ignored in bodies; an explicit PATCH path to it is a `mutability` error.
    ReadOnly(&'a AttrDef),
    /// `password`: accepted and dropped.
    Dropped,
    Unknown,
}

pub fn writable<'a>(schema: &'a ResourceSchema, name: &str) -> Writable<'a> {
    match schema.top(name) {
        None => Writable::Unknown,
        Some(d) if d.mutability == Mutability::WriteOnly => Writable::Dropped,
        Some(d) if d.is_read_only() => Writable::ReadOnly(d),
        Some(d) => Writable::Yes(d),
    }
}

/// Normalises the block of a known extension.
pub fn extension_block(
    ext: &super::schema::SchemaDef,
    v: &Value,
) -> Result<Option<Map<String, Value>>, Rejection> {
    let obj = match v {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        _ => return Err(invalid(&ext.id, "must be an object")),
    };
    let mut out = Map::new();
    for (key, value) in obj {
        let Some(def) = ext.attr(key) else { continue };
        if def.is_read_only() || def.mutability == Mutability::WriteOnly {
            continue;
        }
        if let Some(v) = attribute(def, value, &format!("{}:{}", ext.id, def.name))? {
            out.insert(def.name.clone(), v);
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// A resource body (POST, PUT) → its stored document. `id`, `meta`, `schemas` and computed
/// attributes are dropped; for groups, `members` stays in the result for the caller to take.
pub fn normalize(
    schema: &ResourceSchema,
    input: &Map<String, Value>,
) -> Result<Document, Rejection> {
    // RFC 7643 §3: `schemas` names the resource's schema. It may be left out (lenient), but a
    // body that declares another resource type is refused rather than guessed at.
    if let Some((_, declared)) = input
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
    {
        let ok = declared.as_array().is_some_and(|a| {
            a.iter()
                .any(|s| s.as_str().is_some_and(|s| schema.is_core_urn(s)))
        });
        if !ok {
            return Err(invalid(
                "schemas",
                &format!(
                    "must include {} for a {}",
                    schema.core.id, schema.resource_type
                ),
            ));
        }
    }
    let group = schema.resource_type == "Group";
    let mut doc = Document::new();
    for (key, value) in input {
        if key.eq_ignore_ascii_case("schemas") || schema.is_core_urn(key) {
            continue;
        }
        // RFC 7643 §3.3: `<core URN>:<attribute>` is the core attribute under its full name
        // (any case). Resolved here so that it follows every rule of the short name —
        // `password` dropped above all — instead of being kept as an unknown extension.
        let key = match core_attribute_name(schema, key) {
            Some(short) => short,
            // Another resource's core schema (`…:core:2.0:User:password` in a group) is not an
            // extension to keep verbatim: ignored like any unknown attribute.
            None if is_core_namespace(key) => continue,
            None => key.as_str(),
        };
        // A group's members are read by `member_ids`, never as document values.
        if group && key.eq_ignore_ascii_case("members") {
            continue;
        }
        if let Some(ext) = schema.extension(key) {
            if let Some(block) = extension_block(ext, value)? {
                doc.insert(ext.id.clone(), Value::Object(block));
            }
            continue;
        }
        if key.contains(':') {
            // An extension this service does not know (e.g. an Okta custom schema): verbatim.
            if !value.is_null() {
                doc.insert(key.to_string(), value.clone());
            }
            continue;
        }
        match writable(schema, key) {
            Writable::Yes(def) => {
                if let Some(v) = attribute(def, value, &def.name)? {
                    doc.insert(def.name.clone(), v);
                }
            }
            // `groups` is a read-only member list; group `members` is writable and kept.
            Writable::ReadOnly(_) | Writable::Dropped | Writable::Unknown => {}
        }
    }
    limits::check_document(&doc, group)?;
    Ok(doc)
}

/// Whether a key is under RFC 7643's core schema namespace (any resource type, any case).
pub fn is_core_namespace(key: &str) -> bool {
    const CORE: &str = "urn:ietf:params:scim:schemas:core:";
    key.get(..CORE.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(CORE))
}

/// `urn:ietf:params:scim:schemas:core:2.0:User:password` → `password` (the prefix in any
/// case); `None` for any other key.
pub fn core_attribute_name<'k>(schema: &ResourceSchema, key: &'k str) -> Option<&'k str> {
    let urn_len = schema.core.id.len();
    let (head, rest) = (key.get(..urn_len)?, key.get(urn_len..)?);
    let name = rest.strip_prefix(':')?;
    (schema.is_core_urn(head) && !name.is_empty()).then_some(name)
}

/// The schema URNs a document uses: the core one, then each extension block present.
pub fn schemas_of(schema: &ResourceSchema, doc: &Map<String, Value>) -> Vec<Value> {
    let mut out = vec![Value::String(schema.core.id.clone())];
    for key in doc.keys() {
        if key.contains(':') && doc.get(key).is_some_and(|v| !v.is_null()) {
            out.push(Value::String(key.clone()));
        }
    }
    out
}

/// The user ids of a `members` list. Only users can be members (`type` other than `User` is
/// refused); `display` and `$ref` are ignored.
pub fn member_ids(v: Option<&Value>) -> Result<Vec<String>, Rejection> {
    let items: Vec<&Value> = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(other) => vec![other],
    };
    if items.len() > limits::MAX_MEMBERS_PER_REQUEST {
        return Err(Rejection::invalid_value(format!(
            "members: {} values; at most {} members are accepted per request",
            items.len(),
            limits::MAX_MEMBERS_PER_REQUEST
        )));
    }
    let mut ids = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let (value, kind) = match item {
            Value::String(s) => (Some(s.as_str()), None),
            Value::Object(o) => {
                let get = |name: &str| {
                    o.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v)
                };
                (get("value").and_then(Value::as_str), get("type"))
            }
            _ => (None, None),
        };
        let Some(value) = value.map(str::trim).filter(|s| !s.is_empty()) else {
            return Err(invalid(
                &format!("members[{i}]"),
                "each member needs a \"value\" with the user's id",
            ));
        };
        match kind.and_then(Value::as_str) {
            None => {}
            Some(t) if t.eq_ignore_ascii_case("user") => {}
            Some(t) => {
                return Err(invalid(
                    &format!("members[{i}].type"),
                    &format!("only users can be members of a group here, not \"{t}\""),
                ))
            }
        }
        limits::check_text(
            &format!("members[{i}].value"),
            value,
            limits::MAX_IDENTIFIER_BYTES,
        )?;
        ids.push(value.to_string());
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::super::schema;
    use super::*;
    use serde_json::json;

    fn norm(v: Value) -> Result<Document, Rejection> {
        normalize(schema::user(), v.as_object().unwrap())
    }

    #[test]
    fn okta_create_body() {
        let doc = norm(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada@example.com",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"primary": true, "value": "ada@example.com", "type": "work"}],
            "displayName": "Ada Lovelace", "locale": "en-US", "externalId": "00u1",
            "groups": [], "password": "t3mp0rary", "active": true,
            "id": "client-chosen", "meta": {"created": "x"}, "nonsense": 1
        }))
        .unwrap();
        assert!(!doc.contains_key("password"));
        assert!(!doc.contains_key("groups"));
        assert!(
            !doc.contains_key("id") && !doc.contains_key("meta") && !doc.contains_key("nonsense")
        );
        assert_eq!(doc["name"]["givenName"], "Ada");
        assert_eq!(doc["externalId"], "00u1");
    }

    #[test]
    fn lenient_names_types_and_empties() {
        let doc = norm(json!({
            "USERNAME": "x", "Active": "False", "title": "", "nickName": null,
            "emails": {"value": "x@y", "primary": "True"}, "phoneNumbers": [],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"EmployeeNumber": 42, "manager": "m-1"},
            "urn:okta:custom:1.0:user": {"costCenter": {"deep": [1, 2]}}
        }))
        .unwrap();
        assert_eq!(doc["userName"], "x");
        assert_eq!(doc["active"], false);
        assert!(
            !doc.contains_key("title")
                && !doc.contains_key("nickName")
                && !doc.contains_key("phoneNumbers")
        );
        assert_eq!(doc["emails"], json!([{"value": "x@y", "primary": true}]));
        let ent = &doc[schema::ENTERPRISE_URN];
        assert_eq!(ent["employeeNumber"], "42");
        assert_eq!(ent["manager"], json!({"value": "m-1"}));
        assert_eq!(
            doc["urn:okta:custom:1.0:user"],
            json!({"costCenter": {"deep": [1, 2]}})
        );
    }

    #[test]
    fn refusals() {
        assert!(norm(json!({"userName": "x", "active": "maybe"})).is_err());
        assert!(norm(json!({"userName": "x", "name": "Ada"})).is_err());
        let two_primaries = norm(json!({"userName": "x", "emails": [
            {"value": "a@x", "primary": true}, {"value": "b@x", "primary": true}]}));
        assert!(two_primaries.is_err());
    }

    #[test]
    fn members() {
        let ids = member_ids(Some(
            &json!([{"value": "u1", "display": "a"}, {"value": "u2", "type": "user"}, "u3"]),
        ))
        .unwrap();
        assert_eq!(ids, vec!["u1", "u2", "u3"]);
        assert!(member_ids(Some(&json!([{"value": "g1", "type": "Group"}]))).is_err());
        assert!(member_ids(Some(&json!([{"display": "nobody"}]))).is_err());
    }
}
