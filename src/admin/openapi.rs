//! `GET /api/v1/openapi.json`: an OpenAPI 3.0 description of the whole `/api/v1` surface,
//! served without a token (it describes the API; it grants nothing). A unit test checks it
//! against `admin::ROUTES`, so every registered route is described and nothing else is.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use serde_json::{json, Map, Value};

pub async fn document() -> HttpResponse {
    static DOC: OnceLock<String> = OnceLock::new();
    let body = DOC.get_or_init(|| build().to_string());
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.as_str())
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn response_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn body(schema: Value, required: bool) -> Value {
    json!({"required": required, "content": {"application/json": {"schema": schema}}})
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}, "description": description})
}

/// An operation: summary, tag, scope, extra fields (parameters, requestBody), the success
/// responses, and the error responses by status.
fn op(
    tag: &str,
    summary: &str,
    scope: Option<&str>,
    extra: Value,
    success: Value,
    errors: &[&str],
) -> Value {
    let mut o = Map::new();
    o.insert("tags".into(), json!([tag]));
    o.insert("summary".into(), json!(summary));
    match scope {
        Some(s) => {
            o.insert("security".into(), json!([{"bearer": []}]));
            o.insert(
                "description".into(),
                json!(format!(
                    "Needs a token with the `{s}` scope{}.",
                    if s == "read" { " (or `admin`)" } else { "" }
                )),
            );
        }
        None => {
            o.insert("security".into(), json!([]));
        }
    }
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            if k == "description" {
                let before = o
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                o.insert(
                    k,
                    json!(format!("{} {before}", v.as_str().unwrap_or("")).trim()),
                );
            } else {
                o.insert(k, v);
            }
        }
    }
    let mut responses = match success {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if scope.is_some() {
        responses.insert("401".into(), response_ref("Unauthorized"));
        responses.insert("403".into(), response_ref("Forbidden"));
    }
    for e in errors {
        let name = match *e {
            "400" => "BadRequest",
            "404" => "NotFound",
            "409" => "Conflict",
            "422" => "Unprocessable",
            "502" => "BadGateway",
            "503" => "Unavailable",
            _ => "Error",
        };
        responses.insert((*e).into(), response_ref(name));
    }
    o.insert("responses".into(), Value::Object(responses));
    Value::Object(o)
}

fn ts() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn nullable(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.insert("nullable".into(), json!(true));
    }
    v
}

fn drift_sweep_schema() -> Value {
    let holder = json!({"type": "object", "properties": {
        "zenqms_id": {"description": "as ZenQMS sent it"}, "email": {"type": "string"},
        "external_id": nullable(json!({"type": "string"})), "status": {"type": "string"},
        "role_ids": {"type": "array", "items": {}, "description": "the managed roles it holds"}}});
    json!({"type": "object", "description": "the read of every ZenQMS user that finds changes made there by hand (SYNC_DRIFT_SWEEP_SECS); figures are the last ended sweep's", "properties": {
        "interval_secs": nullable(json!({"type": "integer", "description": "null: automatic sweeps are off"})),
        "running": {"type": "boolean"},
        "trigger": nullable(json!({"type": "string", "description": "periodic, admin, or the role whose becoming managed asked for it"})),
        "last_started_at": nullable(ts()), "last_finished_at": nullable(ts()),
        "last_outcome": nullable(json!({"type": "string", "enum": ["completed", "failed", "interrupted"]})),
        "last_error": nullable(json!({"type": "string"})),
        "users_seen": nullable(json!({"type": "integer", "description": "ZenQMS users read"})),
        "drifted": nullable(json!({"type": "integer", "description": "linked users found changed in ZenQMS, enqueued"})),
        "unlinked_holders": nullable(json!({"type": "object", "description": "ZenQMS users holding a managed role who match no directory user: reported, never changed", "properties": {
            "count": {"type": "integer"}, "first": {"type": "array", "items": holder}}})),
        "next_due_at": nullable(ts())}})
}

fn schemas() -> Value {
    let user_ref = json!({"type": "object", "required": ["scim_id", "user_name"], "properties": {
        "scim_id": {"type": "string"}, "user_name": {"type": "string"}}});
    json!({
        "Error": {"type": "object", "required": ["error", "message"], "properties": {
            "error": {"type": "string", "description": "machine code: bad_request, unauthorized, forbidden, not_found, method_not_allowed, conflict, unprocessable, upstream_error, unavailable, internal"},
            "message": {"type": "string", "description": "what happened and what to do about it"}}},
        "Account": {"type": "object", "properties": {
            "name": {"type": "string"}, "scope": {"type": "string", "enum": ["scim", "admin", "read"]},
            "prefix": {"type": "string", "description": "the token's first characters, to tell tokens apart"},
            "created_at": ts(), "last_used_at": nullable(ts()), "revoked_at": nullable(ts())}},
        "CreatedToken": {"allOf": [schema_ref("Account"), {"type": "object", "properties": {
            "token": {"type": "string", "description": "the token, shown this once; only its SHA-256 is kept"}}}]},
        "AuditEntry": {"type": "object", "properties": {
            "id": {"type": "integer"}, "at": ts(), "actor": {"type": "string", "description": "a token's name, `cli` or `system`"},
            "action": {"type": "string"}, "target_type": {"type": "string"}, "target_id": nullable(json!({"type": "string"})),
            "detail": {"type": "object", "description": "before/after, request and outcome details"},
            "outcome": {"type": "string", "enum": ["success", "failure"]}}},
        "SyncStatus": {"type": "object", "properties": {
            "okta": {"type": "object", "description": "the Okta connection (GET /api/v1/settings/okta) and its periodic re-read", "properties": {"state": {"type": "string"}, "problem": nullable(json!({"type": "string"})),
                "resync": schema_ref("OktaResync")}},
            "configured": {"type": "boolean"}, "paused": {"type": "boolean"},
            "zenqms": {"type": "object", "properties": {
                "state": {"type": "string", "enum": ["configured", "not configured"]},
                "base_url": nullable(json!({"type": "string"})), "source": nullable(json!({"type": "string", "enum": ["environment", "settings"]})),
                "connectivity": nullable(json!({"type": "string", "enum": ["unknown", "ok", "rate_limited", "unauthorized", "unreachable"]})),
                "problem": nullable(json!({"type": "string"})), "last_success_at": nullable(ts()), "rate_limited_until": nullable(ts()),
                "recent_call_ms": nullable(json!({"type": "integer", "description": "mean duration of this process's latest ZenQMS calls"}))}},
            "counts": {"type": "object", "properties": {"synced": {"type": "integer"}, "pending": {"type": "integer"}, "skipped": {"type": "integer"}, "failed": {"type": "integer"}}},
            "queue": {"type": "object", "properties": {"depth": {"type": "integer"}, "in_progress": {"type": "integer"}, "oldest_pending_age_seconds": nullable(json!({"type": "number"})),
                "backlog_reason": {"type": "string", "enum": ["empty", "paused", "not_configured", "unauthorized", "zenqms_unreachable", "rate_limited", "zenqms_slow", "budget"], "description": "what bounds how fast the queue drains now (docs/operations.md)"},
                "backlog_detail": {"type": "string"}}},
            "last_error": nullable(json!({"type": "object", "properties": {"at": ts(), "endpoint": {"type": "string"}, "kind": {"type": "string"}, "message": {"type": "string"}}})),
            "workers": {"type": "integer"},
            "role_mappings": {"type": "object", "description": "mappings per status, and the roles ZenQMS no longer lists (the reconciler skips them)", "properties": {
                "active": {"type": "integer"}, "pending_group": {"type": "integer"}, "role_missing": {"type": "integer"},
                "missing_roles": {"type": "array", "items": {"type": "object", "properties": {
                    "role_id": {"type": "string"}, "role_name": {"type": "string"}, "missing_since": nullable(ts()), "mappings": {"type": "integer"}}}},
                "roles_refreshed_at": nullable(ts())}},
            "drift_sweep": schema_ref("DriftSweep")}},
        "SweepStarted": {"type": "object", "properties": {
            "started": {"type": "boolean"}, "started_at": ts(),
            "linked_users": {"type": "integer", "description": "directory users linked to a ZenQMS user (each is compared)"},
            "page_size": {"type": "integer", "description": "users per POST /v2/users/search: the sweep costs (ZenQMS users ÷ page_size) calls"},
            "will": {"type": "string"}}},
        "SyncUser": {"type": "object", "properties": {
            "scim_id": {"type": "string"}, "user_name": {"type": "string"},
            "zenqms_id": {"description": "as ZenQMS sent it: a number or a string", "nullable": true},
            "state": {"type": "string", "enum": ["synced", "pending", "skipped", "failed"]},
            "reason": nullable(json!({"type": "string"})), "attempts": {"type": "integer"},
            "last_attempt_at": nullable(ts()), "next_attempt_at": nullable(ts()), "synced_at": nullable(ts())}},
        "ConsoleOktaGroups": {"type": "object", "additionalProperties": false, "properties": {
            "admin_group": {"type": "string", "nullable": true, "maxLength": 255, "description": "an Okta group's name (any case) or id; its members get admin sessions"},
            "read_group": {"type": "string", "nullable": true, "maxLength": 255, "description": "an Okta group's name (any case) or id; its members get read-only sessions"}}},
        "OktaConnection": {"type": "object", "properties": {
            "org_url": nullable(json!({"type": "string", "example": "https://acme.okta.com"})),
            "client_id": nullable(json!({"type": "string"})),
            "redirect_uri": {"type": "string", "description": "<PUBLIC_URL>/oauth/okta/callback: register it as the OIDC app's sign-in redirect URI"},
            "state": {"type": "string", "enum": ["not_configured", "needs_authorization", "connected", "reauthorization_needed"]},
            "scopes": {"type": "array", "items": {"type": "string"}, "description": "the scopes Okta granted"},
            "scope_group_ids": {"type": "array", "items": {"type": "string"}, "description": "the initial sync reads the members of these groups; empty: every user not deactivated"},
            "authorized_by": nullable(json!({"type": "string"})), "authorized_at": nullable(ts()),
            "access_token_expires_at": nullable(ts()),
            "problem": nullable(json!({"type": "string", "description": "what went wrong last, and what to fix in Okta"}))},
            "description": "The client secret and the tokens are never returned."},
        "Connection": {"type": "object", "properties": {
            "configured": {"type": "boolean"}, "base_url": nullable(json!({"type": "string"})),
            "source": nullable(json!({"type": "string", "enum": ["environment", "settings"]})),
            "api_token_set": {"type": "boolean", "description": "the token itself is never returned"},
            "updated_at": nullable(ts()), "updated_by": nullable(json!({"type": "string"})),
            "problem": nullable(json!({"type": "string"})),
            "roles_visible": {"type": "integer", "description": "after a PUT: roles the token can see"}}},
        "MappingBody": {"type": "object", "additionalProperties": false,
            "description": "Name the group with exactly one of `group_id` (a directory group) or `group_display_name` (binds, without regard to case, when a group of that name exists or is pushed later).",
            "required": ["role_ids"],
            "oneOf": [{"required": ["group_id"]}, {"required": ["group_display_name"]}],
            "properties": {
            "group_id": {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": "\\S"},
            "group_display_name": {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": "\\S"},
            "role_ids": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"oneOf": [{"type": "string", "minLength": 1, "pattern": "\\S"}, {"type": "integer"}]},
                "description": "ZenQMS role ids, checked against ZenQMS's role list"}}},
        "PreviewBody": {"oneOf": [schema_ref("MappingBody"), {"type": "object", "additionalProperties": false, "required": ["delete"], "properties": {
            "delete": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1, "pattern": "\\S"}, "description": "ids of mappings whose deletion to preview"}}}]},
        "Mapping": {"type": "object", "required": ["id", "group_id", "group_display_name", "role_id", "role_name", "status", "member_count", "created_at", "created_by"], "properties": {
            "id": {"type": "string"},
            "group_id": nullable(json!({"type": "string", "description": "null while pending"})),
            "group_display_name": {"type": "string", "description": "the group's current name; while pending, the name it binds by"},
            "role_id": {"type": "string"}, "role_name": {"type": "string"},
            "status": {"type": "string", "enum": ["active", "pending_group", "role_missing"]},
            "member_count": {"type": "integer"}, "created_at": ts(), "created_by": {"type": "string"},
            "group_deleted_at": nullable(ts()),
            "detail": {"type": "string", "description": "what the mapping does now, in words"}}},
        "CreateOutcome": {"type": "object", "properties": {
            "mappings": {"type": "array", "items": schema_ref("Mapping"), "description": "the rows created"},
            "existing": {"type": "array", "items": schema_ref("Mapping"), "description": "pairs that were already mapped (not duplicated)"}}},
        "UserRef": user_ref,
        "RolePreview": {"type": "object", "properties": {
            "role_id": {"type": "string"}, "role_name": {"type": "string"},
            "managed_before": {"type": "boolean"}, "managed_after": {"type": "boolean"},
            "gain_count": {"type": "integer"}, "lose_count": {"type": "integer"},
            "gain": {"type": "array", "items": schema_ref("UserRef"), "description": "the first users who would gain the role, by userName"},
            "lose": {"type": "array", "items": schema_ref("UserRef"), "description": "the first users who would lose it"},
            "note": {"type": "string"}}},
        "Preview": {"type": "object", "properties": {
            "changes": {"type": "array", "items": {"type": "object", "properties": {
                "action": {"type": "string", "enum": ["create", "delete"]}, "mapping_id": nullable(json!({"type": "string"})),
                "group_id": nullable(json!({"type": "string"})), "group_display_name": {"type": "string"},
                "role_id": {"type": "string"}, "role_name": {"type": "string"},
                "status": {"type": "string", "enum": ["active", "pending_group", "role_missing"]},
                "already_exists": {"type": "boolean"}}}},
            "roles": {"type": "array", "items": schema_ref("RolePreview")},
            "applied": {"type": "boolean", "enum": [false]}}},
        "Group": {"type": "object", "properties": {
            "id": {"type": "string"}, "display_name": {"type": "string"}, "external_id": nullable(json!({"type": "string"})),
            "member_count": {"type": "integer"}, "created_at": ts(), "updated_at": ts(),
            "mappings": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"}, "role_id": {"type": "string"}, "role_name": {"type": "string"},
                "status": {"type": "string", "enum": ["active", "pending_group", "role_missing"]}}}}}},
        "Role": {"type": "object", "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}, "description": nullable(json!({"type": "string"})),
            "status": {"type": "string", "enum": ["present", "missing"]}, "missing_since": nullable(ts()),
            "refreshed_at": ts(), "mappings": {"type": "integer"}}},
        "Roles": {"type": "object", "properties": {
            "roles": {"type": "array", "items": schema_ref("Role")},
            "refreshed_at": nullable(ts()),
            "stale": {"type": "boolean", "description": "the list was never read from ZenQMS (a `read` token never reads it)"},
            "refresh": {"type": "object", "description": "what this request's refresh changed", "properties": {
                "listed": {"type": "integer"}, "added": {"type": "array", "items": {"type": "string"}},
                "renamed": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
                "disappeared": {"type": "array", "items": {"type": "string"}},
                "reappeared": {"type": "array", "items": {"type": "string"}}, "enqueued": {"type": "integer"}}},
            "refresh_problem": {"type": "string", "description": "why ZenQMS could not be read (the cache is returned)"}}},
        "Enqueued": {"type": "object", "properties": {"enqueued": {"type": "integer"}}}
    })
}

fn responses() -> Value {
    let err = |d: &str| ok(d, schema_ref("Error"));
    json!({
        "BadRequest": err("The request is malformed; the message says what to send."),
        "Unauthorized": err("No token, or an unknown or revoked one (`WWW-Authenticate: Bearer`)."),
        "Forbidden": err("The token's scope does not allow this."),
        "NotFound": err("No such resource."),
        "Conflict": err("The bridge's state prevents it (a name taken; ZenQMS not configured or sync paused when ZenQMS must be asked)."),
        "Unprocessable": err("Well-formed but refers to something that does not exist (a role ZenQMS does not list, an unknown group or user)."),
        "BadGateway": err("ZenQMS could not be reached or refused the bridge's token; nothing was saved."),
        "Unavailable": err("Busy, or ZenQMS is rate limiting; retry shortly."),
        "Error": err("Error.")
    })
}

fn paths() -> Value {
    let limit = |d: &str| {
        query(
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": 1000}),
            d,
        )
    };
    let empty = |d: &str| json!({ "description": d });
    json!({
        "/api/v1/openapi.json": {"get": op("meta", "This document", None, json!({}), json!({"200": ok("OpenAPI 3.0 document", json!({"type": "object"}))}), &[])},
        "/api/v1/tokens": {
            "get": op("tokens", "List service accounts (never their tokens)", Some("read"), json!({}),
                json!({"200": ok("Accounts", json!({"type": "object", "properties": {"tokens": {"type": "array", "items": schema_ref("Account")}}}))}), &[]),
            "post": op("tokens", "Create a service account; its token is returned once", Some("admin"),
                json!({"requestBody": body(json!({"type": "object", "additionalProperties": false, "required": ["name", "scope"], "properties": {
                    "name": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$", "description": "1–64 letters, digits, `.`, `_`, `-`"},
                    "scope": {"type": "string", "enum": ["scim", "admin", "read"]}}}), true)}),
                json!({"201": ok("Created", schema_ref("CreatedToken"))}), &["400", "409"])},
        "/api/v1/tokens/{name}": {"delete": op("tokens", "Revoke a service account's token (effective on its next request)", Some("admin"),
            json!({"parameters": [path_param("name", "the account's name")]}), json!({"204": empty("Revoked")}), &["404"])},
        "/api/v1/audit": {"get": op("audit", "The audit trail, oldest first, a page at a time", Some("read"),
            json!({"parameters": [query("since", ts(), "entries at or after this RFC 3339 time"),
                query("until", ts(), "entries before this RFC 3339 time"),
                query("actor", json!({"type": "string"}), "only this actor (a token's name, okta:<login>, system)"),
                query("action", json!({"type": "string"}), "only this action (token.create), or every action under a prefix ending in `.` (sync.)"),
                query("target_id", json!({"type": "string"}), "only entries about this object (a user's SCIM id, a token's name)"),
                query("format", json!({"type": "string", "enum": ["json", "csv"]}), "json (the default) or csv (RFC 4180; the next page's cursor in X-Next-After)"),
                query("after", json!({"type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": i64::MAX}), "cursor: the `next_after` of the previous page"), limit("entries per page (default 100)")]}),
            json!({"200": {"description": "Entries", "content": {
                "application/json": {"schema": {"type": "object", "properties": {"entries": {"type": "array", "items": schema_ref("AuditEntry")}, "next_after": nullable(json!({"type": "integer"}))}}},
                "text/csv": {"schema": {"type": "string"}}}}}), &["400"])},
        "/api/v1/sync/status": {"get": op("sync", "Sync status: users per state, queue, ZenQMS connectivity, role mappings and missing roles", Some("read"), json!({}),
            json!({"200": ok("Status", schema_ref("SyncStatus"))}), &[])},
        "/api/v1/sync/users": {"get": op("sync", "Users with their sync state, a page at a time", Some("read"),
            json!({"parameters": [query("state", json!({"type": "string", "enum": ["", "synced", "pending", "skipped", "failed"]}), "only users in this state (empty or absent: all)"),
                query("q", json!({"type": "string", "maxLength": 200}), "only users whose userName, an email or a name (given, family, display) contains this, without regard to case"),
                query("after", json!({"type": "string"}), "cursor: the `next_after` of the previous page"), limit("users per page (default 100)")]}),
            json!({"200": ok("Users", json!({"type": "object", "properties": {"users": {"type": "array", "items": schema_ref("SyncUser")}, "next_after": nullable(json!({"type": "string"}))}}))}), &["400"])},
        "/api/v1/sync/retry": {"post": op("sync", "Reconcile users again (every failed one when the body is empty)", Some("admin"),
            json!({"requestBody": body(json!({"type": "object", "additionalProperties": false, "properties": {"user_ids": {"type": "array", "nullable": true, "minItems": 1, "items": {"type": "string", "minLength": 1}, "description": "absent or null: every failed user"}}}), false)}),
            json!({"202": ok("Enqueued", schema_ref("Enqueued"))}), &["400", "422"])},
        "/api/v1/sync/recheck": {"post": op("sync", "Read users from ZenQMS again and correct what was changed there by hand (roles, fields)", Some("admin"),
            json!({"description": "The bridge diffs against what ZenQMS last answered; a change made in ZenQMS by hand is seen on the user's next change, by the drift sweep (POST /api/v1/sync/sweep, 100 users a call), or here. One search per user.",
                "requestBody": body(json!({"type": "object", "additionalProperties": false,
                "oneOf": [
                    {"required": ["user_ids"], "properties": {"user_ids": {"type": "array"}, "all": {"enum": [false]}}},
                    {"required": ["all"], "properties": {"all": {"enum": [true]}, "user_ids": {"nullable": true, "enum": [null]}}}],
                "properties": {
                "user_ids": {"type": "array", "nullable": true, "minItems": 1, "items": {"type": "string", "minLength": 1}, "description": "these users; null is the same as absent"},
                "all": {"type": "boolean", "description": "every linked user"}}}), true)}),
            json!({"202": ok("Enqueued", schema_ref("Enqueued"))}), &["400", "422"])},
        "/api/v1/sync/sweep": {"post": op("sync", "Read every ZenQMS user now (100 a call) and correct what was changed there by hand", Some("admin"),
            json!({"description": "Linked users whose ZenQMS state (managed fields, status, roles) differs from what the bridge last saw are enqueued and restored with the reconciler's usual calls; ZenQMS users the bridge has not linked are never changed (holders of managed roles among them are reported in the status). Runs every SYNC_DRIFT_SWEEP_SECS on its own, in one process at a time."}),
            json!({"202": ok("Started", schema_ref("SweepStarted"))}), &["409"])},
        "/api/v1/sync/pause": {"post": op("sync", "Stop every call to ZenQMS (SCIM keeps accepting and queueing)", Some("admin"), json!({}),
            json!({"200": ok("Paused", json!({"type": "object", "properties": {"paused": {"type": "boolean"}, "message": {"type": "string"}}}))}), &[])},
        "/api/v1/sync/resume": {"post": op("sync", "Resume calls to ZenQMS; the backlog drains", Some("admin"), json!({}),
            json!({"200": ok("Resumed", json!({"type": "object", "properties": {"paused": {"type": "boolean"}}}))}), &[])},
        "/api/v1/settings/zenqms": {
            "get": op("settings", "The ZenQMS connection (never its token)", Some("read"), json!({}), json!({"200": ok("Connection", schema_ref("Connection"))}), &[]),
            "put": op("settings", "Set the ZenQMS connection; verified with one GET /v2/roles before it is saved (token encrypted at rest)", Some("admin"),
                json!({"requestBody": body(json!({"type": "object", "additionalProperties": false, "required": ["base_url", "api_token"], "properties": {
                    "base_url": {"type": "string", "pattern": "\\S", "example": "https://public-api.zenqms.com", "description": "https:// (http:// only on a loopback address), without credentials, query or fragment"},
                    "api_token": {"type": "string", "pattern": "\\S"}}}), true)}),
                json!({"200": ok("Saved and in force", schema_ref("Connection"))}), &["400", "422", "502"])},
        "/api/v1/role-mappings": {
            "get": op("role-mappings", "Every group→role mapping with its status", Some("read"), json!({}),
                json!({"200": ok("Mappings", json!({"type": "object", "properties": {"mappings": {"type": "array", "items": schema_ref("Mapping")}}}))}), &[]),
            "post": op("role-mappings", "Map a group to ZenQMS roles; the members are enqueued", Some("admin"),
                json!({"description": "Role ids are checked against ZenQMS's role list (read again when an id is not in the cache). A pair that is already mapped is not duplicated.",
                    "requestBody": body(schema_ref("MappingBody"), true)}),
                json!({"201": ok("Created (with any pairs that already existed)", schema_ref("CreateOutcome")),
                    "200": ok("Every pair was already mapped; nothing created", schema_ref("CreateOutcome"))}),
                &["400", "409", "422", "502", "503"])},
        "/api/v1/role-mappings/preview": {"post": op("role-mappings", "What a create or a deletion would change, per role: who would gain and who would lose it; nothing is written", Some("read"),
            json!({"parameters": [query("limit", json!({"type": "integer", "minimum": 0, "maximum": 1000}), "users listed per role and direction (default 20)")],
                "requestBody": body(schema_ref("PreviewBody"), true)}),
            json!({"200": ok("Preview", schema_ref("Preview"))}), &["400", "409", "422", "502", "503"])},
        "/api/v1/role-mappings/{id}": {"delete": op("role-mappings", "Delete a mapping; its role stays managed only if another mapping manages it (existing assignments stay otherwise)", Some("admin"),
            json!({"parameters": [path_param("id", "the mapping's id")]}), json!({"204": empty("Deleted")}), &["404"])},
        "/api/v1/groups": {"get": op("editor", "Directory groups with member counts and their mappings, by name", Some("read"),
            json!({"parameters": [query("name", json!({"type": "string"}), "part of the display name, without regard to case"),
                query("after", json!({"type": "string"}), "cursor: the `next_after` of the previous page"), limit("groups per page (default 100)")]}),
            json!({"200": ok("Groups", json!({"type": "object", "properties": {"groups": {"type": "array", "items": schema_ref("Group")}, "total": {"type": "integer"}, "next_after": nullable(json!({"type": "string"}))}}))}), &["400"])},
        "/api/v1/zenqms/roles": {"get": op("editor", "ZenQMS roles (cached; read from ZenQMS when asked, or when never read)", Some("read"),
            json!({"parameters": [query("refresh", json!({"type": "boolean"}), "read the list from ZenQMS first (needs the `admin` scope)")]}),
            json!({"200": ok("Roles", schema_ref("Roles"))}), &["400", "409", "502", "503"])},
        "/api/v1/settings/okta": {
            "get": op("okta", "The Okta connection: settings, state, who authorized, granted scopes (never the secret or a token)", Some("read"), json!({}),
                json!({"200": ok("Connection", schema_ref("OktaConnection"))}), &[]),
            "put": op("okta", "Set the Okta org and OIDC web app (client secret encrypted at rest); a new org or client needs authorizing again", Some("admin"),
                json!({"requestBody": body(json!({"type": "object", "additionalProperties": false, "required": ["org_url", "client_id"], "properties": {
                    "org_url": {"type": "string", "minLength": 1, "example": "acme.okta.com", "description": "acme.okta.com or https://acme.okta.com; HTTPS only (http:// for loopback hosts)"},
                    "client_id": {"type": "string", "pattern": "^\\s*[!-~]+\\s*$", "description": "the OIDC app's client ID: printable ASCII, no spaces inside"},
                    "client_secret": {"type": "string", "pattern": "\\S", "description": "not blank; required unless org_url and client_id are unchanged"},
                    "scope_group_ids": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z0-9]{1,64}$"}, "description": "Okta group ids the initial sync reads the members of; absent: unchanged; empty: the whole org"}}}), true)}),
                json!({"200": ok("Saved", schema_ref("OktaConnection"))}), &["400"]),
            "delete": op("okta", "Disconnect: revoke the refresh token at Okta and forget the tokens (the settings stay)", Some("admin"), json!({}),
                json!({"200": ok("Disconnected", schema_ref("OktaConnection"))}), &["404"])},
        "/api/v1/settings/console/okta-groups": {
            "get": op("okta", "The Okta groups whose members may sign in to the console (admin and read-only)", Some("read"), json!({}),
                json!({"200": ok("Groups", schema_ref("ConsoleOktaGroups"))}), &[]),
            "put": op("okta", "Name the Okta groups whose members may sign in to the console: the admin group gets admin sessions, the read-only group read sessions; empty or absent turns one off", Some("admin"),
                json!({"requestBody": body(schema_ref("ConsoleOktaGroups"), true)}),
                json!({"200": ok("Saved", schema_ref("ConsoleOktaGroups"))}), &["400"])},
        "/api/v1/okta/authorize": {"post": op("okta", "Start authorizing the connection: the URL an Okta admin opens (state single use for 10 minutes, bound to this admin; nonce; PKCE S256)", Some("admin"), json!({
                "description": "The browser comes back to GET /oauth/okta/callback, which exchanges the code, validates the id_token against the org's JWKS and stores the tokens encrypted; it answers a small HTML page, and any failure is also in GET /api/v1/settings/okta's `problem`."}),
            json!({"200": ok("Authorize URL", json!({"type": "object", "properties": {"authorize_url": {"type": "string"}}}))}), &["404", "502"])},
        "/api/v1/zenqms/roles/refresh": {"post": op("editor", "Read the role list from ZenQMS now: renamed roles follow, missing ones flag their mappings role_missing, reappearing ones apply again", Some("admin"), json!({}),
            json!({"200": ok("Roles", schema_ref("Roles"))}), &["409", "502", "503"])}
    })
}

/// The initial sync and unlink (docs/initial-sync.md).
fn initial_sync_schemas() -> Value {
    let outcomes = json!({"type": "string", "enum": ["link", "create", "update", "unchanged", "skip", "conflict"]});
    let count = json!({"type": "integer"});
    json!({
        "InitialSyncRun": {"type": "object", "properties": {
            "id": {"type": "string"}, "mode": {"type": "string", "enum": ["standard", "full"]},
            "dry_run": {"type": "boolean"}, "source": {"type": "string", "enum": ["scim", "okta"], "description": "okta: the connected Okta org; scim: the users Okta pushed over SCIM (their Okta id is their externalId)"},
            "state": {"type": "string", "enum": ["reading_okta", "reading_zenqms", "applying", "done", "failed", "cancelled"]},
            "progress": {"type": "object", "properties": {"done": count, "total": count}},
            "counts": {"type": "object", "properties": {"link": count, "create": count, "update": count, "unchanged": count, "skip": count, "conflict": count}},
            "started_at": ts(), "finished_at": nullable(ts()), "error": nullable(json!({"type": "string"})),
            "refused": {"type": "array", "items": schema_ref("InitialSyncItem"), "description": "GET of one run only: the users the run refused (skip, conflict) with the reason, the first 50 in report order; the rest with items?outcome=skip or conflict"}}},
        "InitialSyncItem": {"type": "object", "properties": {
            "seq": {"type": "integer", "description": "position in the report (the paging cursor)"},
            "okta_id": nullable(json!({"type": "string"})), "email": nullable(json!({"type": "string"})),
            "outcome": outcomes, "zenqms_id": nullable(json!({"type": "string"})),
            "reason": nullable(json!({"type": "string"})), "user_id": nullable(json!({"type": "string"})),
            "status": {"type": "string", "enum": ["planned", "in_flight", "done"]}}},
        "UnlinkReport": {"type": "object", "properties": {
            "dry_run": {"type": "boolean"}, "cleared": count, "failed": count,
            "users": {"type": "array", "items": {"type": "object", "properties": {
                "user_id": {"type": "string"}, "user_name": {"type": "string"}, "zenqms_id": {"type": "string"},
                "result": {"type": "string", "enum": ["cleared", "would_clear", "failed"]}, "reason": nullable(json!({"type": "string"}))}}}}}
    })
}

fn initial_sync_paths() -> Value {
    let id = path_param("id", "the run's id");
    json!({
        "/api/v1/initial-sync": {
            "get": op("initial-sync", "Initial sync runs, newest first", Some("read"),
                json!({"parameters": [query("limit", json!({"type": "integer", "minimum": 1, "maximum": 1000}), "runs (default 50)")]}),
                json!({"200": ok("Runs", json!({"type": "object", "properties": {"runs": {"type": "array", "items": schema_ref("InitialSyncRun")}}}))}), &["400"]),
            "post": op("initial-sync", "Start an initial sync: Standard links existing ZenQMS users by email (sets external_id, nothing else); Full applies every rule (create, update, disable, mapped roles)", Some("admin"),
                json!({"description": "One run at a time (409 while one is unfinished, or when ZenQMS is not configured). A dry run writes nothing anywhere and reports what the real run would do. Runs while sync is paused.",
                    "requestBody": body(json!({"type": "object", "additionalProperties": false, "properties": {
                    "mode": {"type": "string", "enum": ["standard", "full"], "default": "standard"}, "dry_run": {"type": "boolean", "default": false}}}), true)}),
                json!({"202": ok("Started", schema_ref("InitialSyncRun"))}), &["400", "409"])},
        "/api/v1/initial-sync/{id}": {"get": op("initial-sync", "A run: state, progress and counts", Some("read"),
            json!({"parameters": [id.clone()]}), json!({"200": ok("Run", schema_ref("InitialSyncRun"))}), &["404"])},
        "/api/v1/initial-sync/{id}/items": {"get": op("initial-sync", "A run's report, one line per user, a page at a time (JSON, or CSV with format=csv)", Some("read"),
            json!({"parameters": [id.clone(),
                query("outcome", json!({"type": "string", "enum": ["link", "create", "update", "unchanged", "skip", "conflict"]}), "only lines with this outcome"),
                query("after", json!({"type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": i64::MAX}), "cursor: the `next_after` of the previous page (CSV: the X-Next-After header)"),
                query("limit", json!({"type": "integer", "minimum": 1, "maximum": 1000}), "lines per page (default 100)"),
                query("format", json!({"type": "string", "enum": ["json", "csv"]}), "csv: okta_id,email,outcome,zenqms_id,reason,user_id")]}),
            json!({"200": {"description": "Lines", "content": {
                "application/json": {"schema": {"type": "object", "properties": {"items": {"type": "array", "items": schema_ref("InitialSyncItem")}, "next_after": nullable(json!({"type": "integer"}))}}},
                "text/csv": {"schema": {"type": "string"}}}}}), &["400", "404"])},
        "/api/v1/initial-sync/{id}/cancel": {"post": op("initial-sync", "Cancel a run; it stops after the user under way (users already linked stay linked)", Some("admin"),
            json!({"parameters": [id]}), json!({"202": ok("Cancelling", schema_ref("InitialSyncRun"))}), &["404", "409"])},
        "/api/v1/zenqms/unlink": {"post": op("initial-sync", "Clear external_id in ZenQMS for every user the bridge linked (what ZenQMS does when its own integration is removed)", Some("admin"),
            json!({"requestBody": body(json!({"type": "object", "additionalProperties": false, "properties": {"dry_run": {"type": "boolean", "default": false}}}), true)}),
            json!({"200": ok("Each user and what was done", schema_ref("UnlinkReport"))}), &["400", "409"])}
    })
}

/// The Okta re-read's schemas (`crate::okta::resync`).
fn okta_resync_schemas() -> Value {
    json!({
        "OktaResync": {"type": "object", "description": "the periodic re-read of the Okta org (OKTA_RESYNC_SECS): users changed since the last one, groups whose membership moved", "properties": {
            "state": {"type": "string", "enum": ["running", "idle", "failed", "not_connected", "waiting_for_initial_sync"]},
            "interval_secs": nullable(json!({"type": "integer", "description": "OKTA_RESYNC_SECS; null: no periodic re-read"})),
            "trigger": nullable(json!({"type": "string", "description": "why the running (else the last) re-read started: periodic, first, admin, or the reason it was requested for"})),
            "last_started_at": nullable(ts()), "last_finished_at": nullable(ts()),
            "last_outcome": nullable(json!({"type": "string", "enum": ["completed", "failed", "interrupted"]})),
            "users_read": {"type": "integer", "description": "users Okta listed as changed since the mark"},
            "users_changed": {"type": "integer", "description": "of them, users the directory changed for"},
            "users_disabled": {"type": "integer"},
            "groups_read": {"type": "integer", "description": "groups whose membership or profile changed since the mark"},
            "groups_changed": {"type": "integer"},
            "users_missing": {"type": "integer", "description": "active directory users Okta no longer lists (deleted or deactivated: followed, so disabled); compared every OKTA_PRESENCE_SECS"},
            "groups_missing": {"type": "integer", "description": "directory groups Okta no longer lists (deleted: followed, so deleted with their mapped roles); compared in every re-read"},
            "ignored": {"type": "integer", "description": "users and groups outside the scope that the directory does not have"},
            "errors": {"type": "integer", "description": "users and groups the directory refused (listed in problem)"},
            "problem": nullable(json!({"type": "string", "description": "why nothing runs, why the last re-read failed, or what it could not apply"})),
            "requested": {"type": "boolean", "description": "a re-read is asked for"},
            "next_at": nullable(ts()),
            "users_mark": nullable(ts()), "groups_mark": nullable(ts()),
            "overlap_secs": {"type": "integer", "description": "how far before the marks the next re-read starts"},
            "presence_interval_secs": nullable(json!({"type": "integer", "description": "OKTA_PRESENCE_SECS: how often a re-read also lists every user to find those deleted in Okta; null: never"})),
            "presence_checked_at": nullable(ts())}},
        "OktaResyncStarted": {"type": "object", "properties": {
            "started": {"type": "boolean", "description": "false: a re-read was already running (here or in another process) and was left to finish"},
            "message": {"type": "string"}, "resync": schema_ref("OktaResync")}}
    })
}

fn okta_resync_paths() -> Value {
    json!({
        "/api/v1/okta/resync": {"post": op("okta", "Re-read the Okta org now: users changed since the last re-read (filter lastUpdated gt, with an overlap) and groups whose membership moved, each applied from its current state", Some("admin"),
            json!({"description": "What event hooks missed (Okta retries a failed delivery once) reaches the directory and ZenQMS through the same outbox. Runs every OKTA_RESYNC_SECS on its own, in one process at a time; 409 while the Okta org is not connected or no initial sync from it has completed. Audited (okta.resync.start, okta.resync.finish)."}),
            json!({"202": ok("Started, or left to the re-read already running", schema_ref("OktaResyncStarted"))}), &["409", "503"])}
    })
}

/// The Okta event hook's schemas and routes (`admin/okta_hooks.rs`).
fn event_hook_schemas() -> Value {
    json!({
        "OktaEventHook": {"type": "object", "description": "the Okta event hook that sends changes to <PUBLIC_URL>/okta/events (docs/event-hooks.md); never its secret", "properties": {
            "id": nullable(json!({"type": "string", "description": "Okta's id (who…)"})),
            "status": {"type": "string", "enum": ["ACTIVE", "INACTIVE", "DELETED_IN_OKTA", "NOT_REGISTERED"], "description": "Okta sends events only to an ACTIVE, VERIFIED hook"},
            "verification_status": nullable(json!({"type": "string", "enum": ["VERIFIED", "UNVERIFIED"]})),
            "uri": nullable(json!({"type": "string"})),
            "events": {"type": "array", "items": {"type": "string"}, "description": "the event types subscribed"},
            "last_delivery_at": nullable(ts()),
            "deliveries": {"type": "integer", "description": "deliveries received"},
            "events_applied": {"type": "integer"}, "events_ignored": {"type": "integer", "description": "types the bridge does not follow, users outside the scope"},
            "problem": nullable(json!({"type": "string", "description": "what is wrong and what to do about it; null when the hook works"})),
            "source": {"type": "string", "enum": ["okta", "recorded"], "description": "okta: read from Okta now; recorded: as last recorded (Okta could not be read)"}}},
        "OktaEventHookEnsured": {"allOf": [schema_ref("OktaEventHook"), {"type": "object", "properties": {
            "actions": {"type": "array", "items": {"type": "string"}, "description": "what was done, in order (created, replaced, activated, verified, …)"}}}]}
    })
}

fn event_hook_paths() -> Value {
    json!({
        "/api/v1/okta/event-hook": {
            "get": op("okta", "The Okta event hook: its state read from Okta now (else as recorded), deliveries received, events applied and ignored, and the problem to act on", Some("read"), json!({}),
                json!({"200": ok("Event hook", schema_ref("OktaEventHook"))}), &[]),
            "post": op("okta", "Create the event hook in Okta, or repair it: re-create a deleted one, re-activate a deactivated one, point it at <PUBLIC_URL>/okta/events, set the event types; a fresh random secret whenever it is (re)written; then Okta verifies it", Some("admin"), json!({
                    "description": "Needs the Okta connection with the okta.eventHooks.manage scope, and PUBLIC_URL on HTTPS. A verification that fails answers 200 with the hook UNVERIFIED and `problem` saying why. Audited (okta.event_hook.create / okta.event_hook.repair), never the secret."}),
                json!({"200": ok("The hook as it now is, and what was done", schema_ref("OktaEventHookEnsured"))}), &["409", "502", "503"]),
            "delete": op("okta", "Deactivate and delete the event hook in Okta, and forget it (its secret no longer opens /okta/events)", Some("admin"), json!({}),
                json!({"200": ok("Removed", json!({"type": "object", "properties": {"id": {"type": "string"}, "deleted_in_okta": {"type": "boolean", "description": "false when Okta no longer had it"}}}))}), &["404", "409", "502", "503"])}
    })
}

pub fn build() -> Value {
    let mut schemas = schemas();
    schemas["DriftSweep"] = drift_sweep_schema();
    for more in [
        initial_sync_schemas(),
        okta_resync_schemas(),
        event_hook_schemas(),
    ] {
        if let (Value::Object(all), Value::Object(more)) = (&mut schemas, more) {
            all.extend(more);
        }
    }
    let mut paths = paths();
    for more in [
        initial_sync_paths(),
        okta_resync_paths(),
        event_hook_paths(),
    ] {
        if let (Value::Object(all), Value::Object(more)) = (&mut paths, more) {
            all.extend(more);
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "zenqms-bridge admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Administration of zenqms-bridge: service-account tokens, the audit trail, sync status and control, the ZenQMS connection, and the group→role mappings that decide ZenQMS roles from Okta groups. Every answer is JSON; errors are {\"error\": code, \"message\": text}; a method a path does not answer is 405 with `Allow`. Send `Authorization: Bearer <token>`: it is checked before any body is read. No string, query parameter or path may contain a NUL character (400; 404 in a path); bodies are at most 1 MiB (413)."
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "role-mappings", "description": "Okta groups → ZenQMS roles"},
            {"name": "editor", "description": "What the mapping editor lists"},
            {"name": "sync"}, {"name": "initial-sync", "description": "Link or provision the users of the identity provider once (docs/initial-sync.md)"}, {"name": "settings"}, {"name": "tokens"}, {"name": "audit"}, {"name": "meta"}
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "a service-account token (`zenqms-bridge token create`)"}},
            "schemas": schemas,
            "responses": responses()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_described_and_nothing_else() {
        let doc = build();
        let paths = doc["paths"].as_object().expect("paths");
        let mut described = Vec::new();
        for (path, item) in paths {
            for method in item.as_object().expect("path item").keys() {
                described.push((method.clone(), path.clone()));
            }
        }
        let registered: Vec<(String, String)> = crate::admin::ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), format!("/api/v1{p}")))
            .collect();
        for r in &registered {
            assert!(described.contains(r), "route {r:?} is not in openapi.json");
        }
        for d in &described {
            assert!(
                registered.contains(d),
                "openapi.json describes {d:?}, which is not a route"
            );
        }
    }

    #[test]
    fn references_resolve() {
        let doc = build();
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"#/components/").skip(1) {
            let target = part.split('"').next().unwrap_or("");
            let (kind, name) = target.split_once('/').expect("kind/name");
            assert!(
                doc["components"][kind].get(name).is_some(),
                "dangling $ref {target}"
            );
        }
        // Path parameters are declared.
        for (path, item) in doc["paths"].as_object().unwrap() {
            if let Some(p) = path.split('{').nth(1) {
                let name = p.trim_end_matches('}').split('}').next().unwrap();
                for (_, o) in item.as_object().unwrap() {
                    assert!(
                        o["parameters"]
                            .as_array()
                            .is_some_and(|ps| ps.iter().any(|x| x["name"] == name)),
                        "{path}: {{{name}}} undeclared"
                    );
                }
            }
        }
    }
}
