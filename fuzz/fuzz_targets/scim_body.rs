//! SCIM body normalisation (POST/PUT of Users and Groups, RFC 7643 §2 and §3): any JSON
//! object. No panic; the result keeps no `password` (under any spelling of its name), stays
//! within the documented bounds, and normalises to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use zenqms_bridge::scim::{document, limits, schema};

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for (s, group) in [(schema::user(), false), (schema::group(), true)] {
        if let Ok(doc) = document::normalize(s, &body) {
            assert!(
                doc.get("password").is_none(),
                "a password was kept: {doc:?}"
            );
            assert!(
                !doc.keys().any(|k| document::is_core_namespace(k)),
                "a key under a core schema URN was kept as an extension: {doc:?}"
            );
            limits::check_document(&doc, group).expect("a normalised body within the bounds");
            let again = document::normalize(s, &doc).expect("a normalised body normalises");
            assert_eq!(again, doc, "normalising twice changed the document");
        }
    }
    let members = body
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("members"))
        .map(|(_, v)| v);
    if let Ok(ids) = document::member_ids(members) {
        assert!(ids.len() <= limits::MAX_MEMBERS_PER_REQUEST);
        assert!(ids
            .iter()
            .all(|id| !id.contains('\0') && !id.trim().is_empty()));
    }
});
