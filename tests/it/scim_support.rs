//! Helpers for the SCIM tests: JSON requests in `application/scim+json`, assertions on SCIM
//! error bodies, and direct looks at the outbox and the audit trail.

#![allow(dead_code)]

use reqwest::Method;
use serde_json::{json, Value};
use zenqms_bridge::store::schema::{audit_log, sync_jobs};

use crate::harness::{send, TestApp};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A SCIM request with a JSON body labelled `application/scim+json`.
pub async fn scim_json(app: &TestApp, method: Method, path: &str, body: &Value) -> (u16, Value) {
    send(
        app.scim(method, path)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string()),
    )
    .await
}

pub async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    send(app.scim(Method::GET, path)).await
}

/// A PATCH with these operations.
pub async fn patch(app: &TestApp, path: &str, ops: Value) -> (u16, Value) {
    scim_json(
        app,
        Method::PATCH,
        path,
        &json!({"schemas": [PATCH_OP], "Operations": ops}),
    )
    .await
}

pub fn user_body(user_name: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": "Given", "familyName": "Family"},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "title": "Analyst",
        "active": true
    })
}

/// Creates a user and returns its id.
pub async fn create_user(app: &TestApp, user_name: &str) -> String {
    let (s, body) = scim_json(app, Method::POST, "/Users", &user_body(user_name)).await;
    assert_eq!(s, 201, "{body}");
    body["id"].as_str().expect("id").to_string()
}

/// Creates a group with these members and returns its id.
pub async fn create_group(app: &TestApp, name: &str, members: &[&str]) -> String {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let (s, body) = scim_json(
        app,
        Method::POST,
        "/Groups",
        &json!({"schemas": [GROUP], "displayName": name, "members": members}),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    body["id"].as_str().expect("id").to_string()
}

/// Asserts an RFC 7644 §3.12 error body.
#[track_caller]
pub fn assert_error(status: u16, body: &Value, expected: u16, scim_type: Option<&str>) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["schemas"], json!([ERROR]), "{body}");
    assert_eq!(body["status"], json!(expected.to_string()), "{body}");
    match scim_type {
        Some(t) => assert_eq!(body["scimType"], json!(t), "{body}"),
        None => assert!(body.get("scimType").is_none(), "{body}"),
    }
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

/// The outbox generation of a user (None when it has no job).
pub fn job_generation(app: &TestApp, user_id: &str) -> Option<i64> {
    use diesel::prelude::*;
    let mut conn = app.state.pool.get().expect("conn");
    sync_jobs::table
        .filter(sync_jobs::user_id.eq(user_id))
        .select(sync_jobs::generation)
        .first(&mut *conn)
        .optional()
        .expect("query")
}

/// Audit entries `(actor, action, target_id, detail)` in order.
pub fn audit_entries(app: &TestApp) -> Vec<(String, String, Option<String>, Value)> {
    use diesel::prelude::*;
    let mut conn = app.state.pool.get().expect("conn");
    let rows: Vec<(String, String, Option<String>, String)> = audit_log::table
        .order(audit_log::id.asc())
        .select((
            audit_log::actor,
            audit_log::action,
            audit_log::target_id,
            audit_log::detail,
        ))
        .load(&mut *conn)
        .expect("audit");
    rows.into_iter()
        .map(|(a, b, c, d)| (a, b, c, serde_json::from_str(&d).unwrap_or(Value::Null)))
        .collect()
}

/// The ids of a ListResponse's resources.
pub fn ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// URL-encodes a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
