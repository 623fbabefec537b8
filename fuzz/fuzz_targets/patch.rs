//! PATCH (RFC 7644 §3.5.2): a PatchOp body parsed and applied to a user document, and routed
//! for a group. The input is JSON: `[document, PatchOp]`, or a PatchOp alone (applied to a
//! fixed user). Whatever the input: no panic; a result normalises to itself (canonical); no
//! `password` is ever kept; every list stays within its bound.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use zenqms_bridge::directory::Edit;
use zenqms_bridge::scim::{document, limits, patch, schema};

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let (doc, body) = match v {
        Value::Array(mut pair) if pair.len() == 2 => {
            let body = pair.pop().unwrap_or_default();
            (pair.pop().unwrap_or_default(), body)
        }
        other => (
            json!({"userName": "ada@example.com", "name": {"givenName": "Ada", "familyName": "L"},
                   "emails": [{"value": "ada@example.com", "primary": true, "type": "work"}],
                   "urn:okta:custom:1.0:user": {"tags": ["a"]}}),
            other,
        ),
    };
    let (Some(doc), Some(body)) = (doc.as_object(), body.as_object()) else {
        return;
    };
    let Ok(ops) = patch::parse(body) else {
        return;
    };
    let _ = patch::group_ops(&ops);
    let Ok(edit) = patch::user_edit(&ops) else {
        return;
    };
    let Ok(doc) = document::normalize(schema::user(), doc) else {
        return;
    };
    let Ok(out) = edit.apply(doc) else {
        return;
    };
    assert!(
        out.get("password").is_none(),
        "a password was kept: {out:?}"
    );
    limits::check_document(&out, false).expect("a patched document within the bounds");
    let again = document::normalize(schema::user(), &out).expect("a patched document normalises");
    assert_eq!(again, out, "normalising a patched document changed it");
});
