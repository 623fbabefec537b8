//! The bounds on what one SCIM request may carry, in one place (`docs/limits.md` lists them
//! for operators; `ServiceProviderConfig` advertises them in the block [`LIMITS_URN`]).
//!
//! Each exists because of an input that once cost a `500` or seconds of CPU: a 300 KB
//! `userName` overflows PostgreSQL's unique index; a NUL byte is refused by PostgreSQL's text
//! type; a `co` value over 50,000 bytes is "too complex" for SQLite's LIKE; an `or` chain of
//! 1,000 terms is deeper than SQLite's expression tree allows; 40,000 values of one attribute
//! kept a worker thread busy for seconds. Past a bound the answer is a `400` whose detail
//! names the bound — never a `500`, and never a partial write.

use serde_json::Value;

use crate::directory::Rejection;

/// Values of one multi-valued attribute (`emails`, `phoneNumbers`, …; group `members` has
/// its own bound), and items of any list inside an extension block.
pub const MAX_VALUES_PER_ATTRIBUTE: usize = 1_000;
/// Members one request may name (a `POST`/`PUT` of a group, or all the operations of a `PATCH`).
pub const MAX_MEMBERS_PER_REQUEST: usize = 50_000;
/// Operations of one `PatchOp` (RFC 7644 §3.5.2).
pub const MAX_OPERATIONS: usize = 10_000;
/// Bytes of a value the directory indexes or matches on: `userName`, `externalId`, group
/// `displayName`, `emails.value`.
pub const MAX_IDENTIFIER_BYTES: usize = 1_024;
/// Bytes of any other string value.
pub const MAX_STRING_BYTES: usize = 16 * 1_024;
/// Bytes of one extension block this service does not know (kept verbatim), as JSON.
pub const MAX_EXTENSION_BYTES: usize = 64 * 1_024;
/// Bytes of a `filter` (query string or `.search` body), and of a PATCH `path`.
pub const MAX_FILTER_BYTES: usize = 4_096;
/// Comparisons in one filter (`a eq 1 or b eq 2` has two).
pub const MAX_FILTER_TERMS: usize = 100;
/// Bytes of the value of a `co`, `sw` or `ew` comparison.
pub const MAX_PATTERN_BYTES: usize = 1_024;

/// The extension block of `ServiceProviderConfig` that advertises these bounds.
pub const LIMITS_URN: &str = "urn:zenqms-bridge:params:scim:limits";

/// The bounds as `ServiceProviderConfig` shows them.
pub fn advertised() -> Value {
    serde_json::json!({
        "maxValuesPerAttribute": MAX_VALUES_PER_ATTRIBUTE,
        "maxMembersPerRequest": MAX_MEMBERS_PER_REQUEST,
        "maxPatchOperations": MAX_OPERATIONS,
        "maxIdentifierBytes": MAX_IDENTIFIER_BYTES,
        "maxStringBytes": MAX_STRING_BYTES,
        "maxExtensionBytes": MAX_EXTENSION_BYTES,
        "maxFilterBytes": MAX_FILTER_BYTES,
        "maxFilterTerms": MAX_FILTER_TERMS,
        "maxPatternBytes": MAX_PATTERN_BYTES,
        "nulCharacters": false
    })
}

/// Top-level attributes whose values are identifiers (indexed, matched on).
const IDENTIFIERS: &[&str] = &["userName", "externalId", "displayName"];

/// A NUL anywhere, or a string over its bound, in a normalised document (core attributes,
/// known extensions and unknown blocks alike). `kind` is `User` or `Group`: a user's
/// `displayName` is prose, a group's an identifier.
pub fn check_document(doc: &serde_json::Map<String, Value>, group: bool) -> Result<(), Rejection> {
    for (key, value) in doc {
        let identifier = IDENTIFIERS.contains(&key.as_str()) && (group || key != "displayName");
        if key.contains(':') && !value.is_null() {
            let size = serde_json::to_string(value).map(|s| s.len()).unwrap_or(0);
            if size > MAX_EXTENSION_BYTES {
                return Err(Rejection::invalid_value(format!(
                    "{key}: the block is {size} bytes; at most {MAX_EXTENSION_BYTES} are accepted"
                )));
            }
        }
        let bound = if identifier {
            MAX_IDENTIFIER_BYTES
        } else {
            MAX_STRING_BYTES
        };
        check_value(key, value, bound)?;
        if key == "emails" {
            for (i, email) in value.as_array().into_iter().flatten().enumerate() {
                if let Some(v) = email.get("value") {
                    check_value(&format!("emails[{i}].value"), v, MAX_IDENTIFIER_BYTES)?;
                }
            }
        }
    }
    Ok(())
}

/// Every string inside `v`: no NUL, at most `bound` bytes; every list at most
/// [`MAX_VALUES_PER_ATTRIBUTE`] items.
pub fn check_value(path: &str, v: &Value, bound: usize) -> Result<(), Rejection> {
    match v {
        Value::String(s) => check_text(path, s, bound),
        Value::Array(items) => {
            if items.len() > MAX_VALUES_PER_ATTRIBUTE {
                return Err(too_many_values(path, items.len()));
            }
            items.iter().try_for_each(|i| check_value(path, i, bound))
        }
        Value::Object(m) => m.iter().try_for_each(|(k, v)| {
            check_text(path, k, MAX_STRING_BYTES)?;
            check_value(&format!("{path}.{k}"), v, bound)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// One string: no NUL (PostgreSQL's text cannot hold it), at most `bound` bytes.
pub fn check_text(path: &str, s: &str, bound: usize) -> Result<(), Rejection> {
    if s.contains('\0') {
        return Err(Rejection::invalid_value(format!(
            "{path}: a NUL character (\\u0000) is not accepted in any value"
        )));
    }
    if s.len() > bound {
        return Err(Rejection::invalid_value(format!(
            "{path}: the value is {} bytes; at most {bound} are accepted",
            s.len()
        )));
    }
    Ok(())
}

pub fn too_many_values(path: &str, n: usize) -> Rejection {
    Rejection::invalid_value(format!(
        "{path}: {n} values; at most {MAX_VALUES_PER_ATTRIBUTE} are accepted per attribute"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_length_and_list_bounds() {
        let doc = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert!(check_document(&doc(json!({"userName": "a\u{0}b"})), false).is_err());
        assert!(check_document(&doc(json!({"userName": "a".repeat(1025)})), false).is_err());
        assert!(check_document(&doc(json!({"displayName": "a".repeat(2000)})), false).is_ok());
        assert!(check_document(&doc(json!({"displayName": "a".repeat(2000)})), true).is_err());
        assert!(check_document(&doc(json!({"urn:x:y": {"k": vec![1; 1001]}})), false).is_err());
        assert!(check_document(
            &doc(json!({"urn:x:y": {"k": "a".repeat(MAX_EXTENSION_BYTES)}})),
            false
        )
        .is_err());
        assert!(check_document(
            &doc(json!({"emails": [{"value": "a".repeat(1100)}]})),
            false
        )
        .is_err());
        assert!(check_document(&doc(json!({"userName": "ada", "title": "QA"})), false).is_ok());
    }
}
