//! Directory records → SCIM JSON (RFC 7643 §3.1 `meta`, RFC 7644 §3.4.2 ListResponse) and
//! the HTTP answers that carry them.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use serde_json::{Map, Value};

use super::document::schemas_of;
use super::error::CONTENT_TYPE;
use super::projection::Projection;
use super::schema::{self, ResourceSchema};
use crate::directory::groups::Group;
use crate::directory::users::User;
use crate::directory::Meta;

/// `meta.version` and the `ETag` header: a weak tag of the stored version (RFC 7644 §3.14).
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

fn meta(schema: &ResourceSchema, base: &str, id: &str, m: &Meta) -> Value {
    let mut out = Map::new();
    out.insert("resourceType".into(), schema.resource_type.into());
    out.insert("created".into(), crate::time::rfc3339(&m.created).into());
    out.insert(
        "lastModified".into(),
        crate::time::rfc3339(&m.last_modified).into(),
    );
    out.insert(
        "location".into(),
        format!("{base}/{}/{id}", schema.endpoint).into(),
    );
    out.insert("version".into(), etag(m.version).into());
    Value::Object(out)
}

fn reference(value: &str, display: &str, href: String, kind: &str) -> Value {
    let mut m = Map::new();
    m.insert("value".into(), value.into());
    m.insert("display".into(), display.into());
    m.insert("$ref".into(), href.into());
    m.insert("type".into(), kind.into());
    Value::Object(m)
}

/// A user as SCIM JSON. `groups` is computed from memberships (RFC 7643 §4.1.2: read-only,
/// `type` "direct" — this service has no nested groups).
pub fn user(base: &str, u: &User, proj: &Projection) -> Value {
    let s = schema::user();
    let mut out = u.doc.clone();
    out.insert("schemas".into(), Value::Array(schemas_of(s, &u.doc)));
    out.insert("id".into(), u.id.clone().into());
    out.insert("active".into(), Value::Bool(u.active));
    if let Some(groups) = u.groups.as_ref().filter(|g| !g.is_empty()) {
        let list = groups
            .iter()
            .map(|g| {
                reference(
                    &g.id,
                    &g.display_name,
                    format!("{base}/Groups/{}", g.id),
                    "direct",
                )
            })
            .collect();
        out.insert("groups".into(), Value::Array(list));
    }
    out.insert("meta".into(), meta(s, base, &u.id, &u.meta));
    Value::Object(proj.apply(out))
}

/// A group as SCIM JSON; `members` only when they were loaded.
pub fn group(base: &str, g: &Group, proj: &Projection) -> Value {
    let s = schema::group();
    let mut out = g.doc.clone();
    out.insert("schemas".into(), Value::Array(schemas_of(s, &g.doc)));
    out.insert("id".into(), g.id.clone().into());
    if let Some(members) = g.members.as_ref().filter(|m| !m.is_empty()) {
        let list = members
            .iter()
            .map(|m| {
                let display = m.display_name.as_deref().unwrap_or(&m.user_name);
                reference(
                    &m.user_id,
                    display,
                    format!("{base}/Users/{}", m.user_id),
                    "User",
                )
            })
            .collect();
        out.insert("members".into(), Value::Array(list));
    }
    out.insert("meta".into(), meta(s, base, &g.id, &g.meta));
    Value::Object(proj.apply(out))
}

/// RFC 7644 §3.4.2: integers, a 1-based `startIndex`, `itemsPerPage` = resources returned.
pub fn list(total: i64, start_index: i64, resources: Vec<Value>) -> Value {
    let mut out = Map::new();
    out.insert(
        "schemas".into(),
        Value::Array(vec![schema::LIST_RESPONSE_URN.into()]),
    );
    out.insert("totalResults".into(), total.into());
    out.insert("startIndex".into(), start_index.into());
    out.insert("itemsPerPage".into(), (resources.len() as i64).into());
    out.insert("Resources".into(), Value::Array(resources));
    Value::Object(out)
}

/// A JSON answer in `application/scim+json`.
pub fn json(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
        .body(body.to_string())
}

/// A single resource, with its `ETag` (and `Location` on `201`, RFC 7644 §3.3).
pub fn resource(status: StatusCode, body: &Value, version: i64) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
        .insert_header((header::ETAG, etag(version)));
    if status == StatusCode::CREATED {
        if let Some(loc) = body.pointer("/meta/location").and_then(Value::as_str) {
            res.insert_header((header::LOCATION, loc));
        }
    }
    res.body(body.to_string())
}

/// `304 Not Modified` for a matching `If-None-Match` (RFC 7232 §4.1).
pub fn not_modified(version: i64) -> HttpResponse {
    HttpResponse::NotModified()
        .insert_header((header::ETAG, etag(version)))
        .finish()
}
