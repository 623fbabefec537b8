//! Issue 13, around the SCIM surface: `/metrics`, `read` tokens, the ZenQMS connection,
//! files and start-up, admin bodies, the audit trail. Each test sends the hostile request
//! itself, on SQLite and PostgreSQL alike.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::console_support::token;
use crate::harness::{send, BinaryApp, TestApp, TestDb};
use crate::mapping_support::roles_sim;
use crate::scim_support::*;
use crate::sim_support::{bridge, calls};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Finding 1: 50 requests whose methods are 20 KB of letters, each different, leave
/// `/metrics` small; `/metrics` needs a `read` token on `BIND_ADDR`, and only the separate
/// `METRICS_BIND_ADDR` serves it without one.
#[tokio::test]
async fn metrics_are_bounded_and_need_a_read_token() {
    let port = free_port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let app = TestApp::start_with(&[("METRICS_BIND_ADDR", &metrics_addr)]).await;
    for i in 0..50 {
        let method = Method::from_bytes(format!("{}{i}", "Q".repeat(20_000)).as_bytes()).unwrap();
        // The answer does not matter (a 404 or a 405); what it leaves in /metrics does.
        let _ = app.raw(method, "/healthz").send().await;
    }
    let (s, body) = send(app.raw(Method::GET, "/metrics")).await;
    assert_eq!((s, &body["error"]), (401, &json!("unauthorized")), "{body}");
    let (s, body) = send(
        app.raw(Method::GET, "/metrics")
            .bearer_auth(&app.scim_token),
    )
    .await;
    assert_eq!(s, 403, "{body}");
    let reader = token(&app, "prometheus", "read").await;
    let res = app
        .raw(Method::GET, "/metrics")
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.len() < 64 * 1024, "{} bytes", text.len());
    assert!(
        !text.contains("QQQQQQQQ"),
        "a method as sent became a label"
    );
    assert!(text.contains(r#"method="other""#), "{text}");
    assert!(text.contains("zenqms_bridge_sync_users"), "{text}");
    // The private listener: no token, /metrics only.
    let private = reqwest::Client::new();
    let res = private
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("zenqms_bridge_http_requests_total"));
    let res = private
        .get(format!("http://{metrics_addr}/api/v1/tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    app.stop().await;
}

/// Finding 5: a `read` token neither calls ZenQMS nor writes: the first role list and a
/// preview naming a role the cache does not hold are answered from the cache, saying so.
#[tokio::test]
async fn a_read_token_never_calls_zenqms() {
    let sim = roles_sim().await;
    let app = bridge(&sim, &[("ZENQMS_ROLE_REFRESH_SECS", "0")]).await;
    let reader = token(&app, "reviewer", "read").await;
    let g = create_group(&app, "Approvers", &[]).await;
    sim.sim.reset_calls();
    for _ in 0..3 {
        let (s, body) = send(
            app.raw(Method::GET, "/api/v1/zenqms/roles")
                .bearer_auth(&reader),
        )
        .await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["stale"], true, "{body}");
        assert_eq!(body["refreshed_at"], Value::Null, "{body}");
        assert!(body["refresh_problem"].as_str().unwrap().contains("admin"));
        let (s, body) = send(
            app.raw(Method::POST, "/api/v1/role-mappings/preview")
                .bearer_auth(&reader)
                .json(&json!({"group_id": g, "role_ids": ["7"]})),
        )
        .await;
        assert_eq!(s, 422, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("cached"),
            "{body}"
        );
    }
    assert_eq!(
        calls(&sim, "GET /v2/roles"),
        0,
        "a read token called ZenQMS"
    );
    let audit = audit_entries(&app);
    assert!(
        !audit
            .iter()
            .any(|(_, action, _, _)| action == "zenqms.roles.refresh"),
        "a read token wrote the role cache"
    );
    // An admin reads the list; then the reader's preview is answered from it.
    let (s, body) = send(app.admin(Method::GET, "/zenqms/roles")).await;
    assert_eq!((s, &body["stale"]), (200, &json!(false)), "{body}");
    let before = calls(&sim, "GET /v2/roles");
    let (s, body) = send(
        app.raw(Method::POST, "/api/v1/role-mappings/preview")
            .bearer_auth(&reader)
            .json(&json!({"group_id": g, "role_ids": ["7"]})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(calls(&sim, "GET /v2/roles"), before);
    app.stop().await;
}

/// A stand-in for an internal service the bridge's host can reach: `/internal` answers its
/// secret, `/redirect` redirects to `/internal-ok`, which would look like ZenQMS.
async fn internal_service(hits: Arc<AtomicU64>) -> (String, actix_web::dev::ServerHandle) {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let location = format!("{base}/internal-ok/v2/roles");
    let server = HttpServer::new(move || {
        let location = location.clone();
        let hits = hits.clone();
        App::new()
            .route(
                "/internal/v2/roles",
                web::get().to(|| async {
                    HttpResponse::NotFound().body("SECRET-INTERNAL-CONTENT: db password hunter2")
                }),
            )
            .route(
                "/redirect/v2/roles",
                web::get().to(move || {
                    let location = location.clone();
                    async move {
                        HttpResponse::Found()
                            .insert_header(("Location", location))
                            .finish()
                    }
                }),
            )
            .route(
                "/internal-ok/v2/roles",
                web::get().to(move || {
                    hits.fetch_add(1, Ordering::SeqCst);
                    async { HttpResponse::Ok().json(json!({"data": [], "total": 0})) }
                }),
            )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (base, handle)
}

/// Finding 6: the ZenQMS connection — HTTPS only (loopback excepted), no credentials in the
/// URL, no redirect followed, no upstream body echoed to the admin or the audit.
#[tokio::test]
async fn the_zenqms_connection_refuses_what_would_leak() {
    let app = TestApp::start().await;
    let hits = Arc::new(AtomicU64::new(0));
    let (internal, handle) = internal_service(hits.clone()).await;
    let put = |base_url: String| {
        let app = &app;
        async move {
            send(
                app.admin(Method::PUT, "/settings/zenqms")
                    .json(&json!({"base_url": base_url, "api_token": "tok-s3cret"})),
            )
            .await
        }
    };
    for url in [
        "http://zenqms.example.com".to_string(),
        "https://admin:pa55word@zenqms.example.com".to_string(),
        "https://zenqms.example.com/?token=x".to_string(),
        format!(
            "{}/internal",
            internal.replace("http://", "http://user:pa55word@")
        ),
    ] {
        let (s, body) = put(url.clone()).await;
        assert_eq!(s, 422, "{url}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("https://"),
            "{body}"
        );
        assert!(!body.to_string().contains("pa55word"), "{body}");
    }
    let (s, body) = put(format!("{internal}/internal")).await;
    assert!(s == 422 || s == 502, "{body}");
    assert!(!body.to_string().contains("SECRET-INTERNAL"), "{body}");
    assert!(!body.to_string().contains("hunter2"), "{body}");
    let (s, body) = put(format!("{internal}/redirect")).await;
    assert!(s == 422 || s == 502, "{body}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a redirect was followed");
    let (_, got) = send(app.admin(Method::GET, "/settings/zenqms")).await;
    assert_eq!(got["configured"], false, "nothing saved: {got}");
    let audit = serde_json::to_string(&audit_entries(&app)).unwrap();
    for secret in ["SECRET-INTERNAL", "hunter2", "pa55word", "tok-s3cret"] {
        assert!(
            !audit.contains(secret),
            "{secret} reached the audit: {audit}"
        );
    }
    handle.stop(false).await;
    app.stop().await;
}

/// Finding 6: a PostgreSQL password given as `?password=` is not logged at start-up (the
/// database is unreachable on purpose: the process logs the URL, then fails to connect).
#[tokio::test]
async fn a_database_password_in_the_query_is_never_logged() {
    let db = TestDb::new();
    let url = format!(
        "postgres://bridge@127.0.0.1:{}/bridge?sslmode=disable&password=pg-s3cret-pw",
        free_port()
    );
    let mut bin = BinaryApp::spawn(&db, &[("DATABASE_URL", &url)]);
    let exited = tokio::task::spawn_blocking(move || {
        let status = bin.child.wait();
        (status, bin)
    });
    let (status, bin) = tokio::time::timeout(Duration::from_secs(60), exited)
        .await
        .expect("the bridge gives up on an unreachable database")
        .unwrap();
    assert!(!status.unwrap().success());
    let stderr = bin.stderr();
    assert!(stderr.contains("password=***"), "{stderr}");
    assert!(!stderr.contains("pg-s3cret-pw"), "{stderr}");
}

/// Finding 7: the data directory is 0700, the SQLite database and its WAL and SHM files 0600.
#[tokio::test]
async fn data_directory_and_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::new();
    let data = db.dir.path().join("fresh").join("data");
    let data_str = data.display().to_string();
    let sqlite = format!("sqlite://{}/bridge.db", data_str);
    let mut extra = vec![("DATA_DIR", data_str.as_str())];
    if !db.is_postgres() {
        extra.push(("DATABASE_URL", sqlite.as_str()));
    }
    let app = TestApp::start_on(db, &extra).await;
    create_user(&app, "private@example.com").await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    let mut checked = vec!["secret.key"];
    if !app.db.is_postgres() {
        checked.extend(["bridge.db", "bridge.db-wal", "bridge.db-shm"]);
    }
    for name in checked {
        let file = data.join(name);
        assert!(file.exists(), "{name} exists");
        assert_eq!(mode(&file), 0o600, "{name}");
    }
    app.stop().await;
}

/// Finding 7: the first start's admin token is in the audit trail.
#[tokio::test]
async fn the_bootstrap_admin_token_is_audited() {
    let db = TestDb::new();
    let client = reqwest::Client::new();
    let bin = BinaryApp::spawn(&db, &[]);
    bin.wait_ready(&client).await;
    let stderr = bin.stderr();
    let token = stderr
        .lines()
        .find(|l| l.starts_with("zqb_"))
        .expect("a first-start token")
        .trim()
        .to_string();
    let body: Value = client
        .get(format!("{}/api/v1/audit", bin.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "token.create")
        .cloned()
        .unwrap_or_else(|| panic!("no token.create entry: {body}"));
    assert_eq!(created["actor"], "system", "{created}");
    assert_eq!(created["target_id"], "bootstrap-admin", "{created}");
    assert!(
        !created.to_string().contains(&token[4..]),
        "the token itself is not audited"
    );
}

/// Finding 8: an unknown, well-formed token with a large or broken body gets `401` on every
/// admin write, every time; a `read` token `403`; an admin's oversized body a JSON `413`.
#[tokio::test]
async fn admin_writes_authenticate_before_reading_the_body() {
    let app = TestApp::start().await;
    let reader = token(&app, "reader", "read").await;
    let unknown = format!("zqb_{}", "U".repeat(43));
    let big = format!("{{\"user_ids\": [\"{}\"]}}", "x".repeat(2 << 20));
    let broken = format!("{{\"name\": \"{}", "y".repeat(600_000));
    let writes = [
        (Method::POST, "/api/v1/tokens"),
        (Method::PUT, "/api/v1/settings/zenqms"),
        (Method::POST, "/api/v1/role-mappings"),
        (Method::POST, "/api/v1/sync/retry"),
        (Method::POST, "/api/v1/sync/recheck"),
        (Method::POST, "/api/v1/zenqms/roles/refresh"),
    ];
    for _ in 0..10 {
        for (method, path) in &writes {
            for body in [&big, &broken] {
                let (s, answer) = send(
                    app.raw(method.clone(), path)
                        .bearer_auth(&unknown)
                        .header("Content-Type", "application/json")
                        .body(body.clone()),
                )
                .await;
                assert_eq!(s, 401, "{method} {path}: {answer}");
                assert_eq!(answer["error"], "unauthorized");
                let (s, answer) = send(
                    app.raw(method.clone(), path)
                        .bearer_auth(&reader)
                        .header("Content-Type", "application/json")
                        .body(body.clone()),
                )
                .await;
                assert_eq!(s, 403, "{method} {path}: {answer}");
            }
        }
    }
    for path in ["/sync/retry", "/tokens", "/sync/recheck"] {
        let (s, answer) = send(
            app.admin(Method::POST, path)
                .header("Content-Type", "application/json")
                .body(big.clone()),
        )
        .await;
        assert_eq!(s, 413, "{path}: {answer}");
        assert_eq!(answer["error"], "payload_too_large", "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains("1048576"),
            "{answer}"
        );
    }
    app.stop().await;
}

/// Finding 8: the audit trail refuses TRUNCATE on PostgreSQL (and DELETE on both).
#[tokio::test]
async fn the_audit_trail_cannot_be_truncated() {
    use diesel::RunQueryDsl;
    let app = TestApp::start().await;
    token(&app, "audited", "read").await;
    let before = audit_entries(&app).len();
    assert!(before > 0);
    let mut conn = app.state.pool.get().unwrap();
    let statements: &[&str] = if app.db.is_postgres() {
        &["TRUNCATE audit_log", "DELETE FROM audit_log"]
    } else {
        &["DELETE FROM audit_log"]
    };
    for sql in statements {
        let refused = diesel::sql_query(*sql).execute(&mut *conn);
        assert!(refused.is_err(), "{sql} was allowed");
    }
    drop(conn);
    assert_eq!(audit_entries(&app).len(), before);
    app.stop().await;
}

/// Finding 8: a URI too long for the server, and a path that is not UTF-8, under `/scim/v2`.
#[tokio::test]
async fn odd_uris_under_scim_get_scim_answers() {
    let app = TestApp::start().await;
    // A path segment that decodes to bytes that are not UTF-8.
    let (s, body) = get(&app, "/Users/%FF%FE").await;
    assert_error(s, &body, 404, None);
    for path in ["/Users/%00", "/Groups/a%00b"] {
        let (s, body) = get(&app, path).await;
        assert_error(s, &body, 404, None);
        let (s, body) = send(app.raw(Method::GET, &format!("/scim/v2{path}"))).await;
        assert_error(s, &body, 401, None);
    }
    // The same NUL elsewhere in the admin API: 404 in a path, 400 in a query or a body.
    let (s, body) = send(app.admin(Method::DELETE, "/tokens/x%00y")).await;
    assert_eq!((s, &body["error"]), (404, &json!("not_found")), "{body}");
    let (s, body) = send(app.admin(Method::GET, "/sync/users?after=%00")).await;
    assert_eq!((s, &body["error"]), (400, &json!("bad_request")), "{body}");
    let (s, body) = send(
        app.admin(Method::POST, "/sync/retry")
            .json(&json!({"user_ids": ["a\u{0}b"]})),
    )
    .await;
    assert_eq!((s, &body["error"]), (400, &json!("bad_request")), "{body}");
    // A long query, within what the server reads: a SCIM answer.
    let (s, body) = get(&app, &format!("/Users?attributes={}", "a".repeat(20_000))).await;
    assert_eq!(s, 200, "{body}");
    app.stop().await;
}

/// What Schemathesis found against the OpenAPI document: serde read a JSON array as a body
/// struct (fields by position), `null` as an absent optional field where the schema says
/// "a string" or "an array" (`retry` and `recheck` document `"user_ids": null` as absent,
/// and keep it), and an empty `since=` or `format=` as no bound or the default. Each is refused with `400` and an actionable message, and nothing
/// is started, created or changed.
#[tokio::test]
async fn admin_bodies_are_objects_and_null_is_not_absent() {
    let app = TestApp::start().await;
    let cases: Vec<(Method, &str, Value, &str)> = vec![
        (Method::POST, "/initial-sync", json!([null]), "JSON object"),
        (Method::POST, "/initial-sync", json!({"mode": null}), "null"),
        (Method::POST, "/initial-sync", json!("full"), "JSON object"),
        (Method::POST, "/zenqms/unlink", json!([true]), "JSON object"),
        (
            Method::POST,
            "/tokens",
            json!(["ops", "admin"]),
            "JSON object",
        ),
        (
            Method::POST,
            "/role-mappings",
            json!([null, null, null]),
            "JSON object",
        ),
        (Method::POST, "/sync/retry", json!([["x"]]), "JSON object"),
        (
            Method::POST,
            "/sync/recheck",
            json!([null, true]),
            "JSON object",
        ),
        (
            Method::PUT,
            "/settings/zenqms",
            json!(["http://127.0.0.1:1", "t"]),
            "JSON object",
        ),
        (
            Method::PUT,
            "/settings/okta",
            json!({"org_url": "acme.okta.com", "client_id": "0oa1", "client_secret": null}),
            "null",
        ),
        (
            Method::PUT,
            "/settings/okta",
            json!({"org_url": "acme.okta.com", "client_id": "0oa1", "client_secret": "s", "scope_group_ids": null}),
            "null",
        ),
        (
            Method::PUT,
            "/settings/okta",
            json!(["acme.okta.com", "0oa1", "s"]),
            "JSON object",
        ),
    ];
    for (method, path, body, says) in &cases {
        let (s, answer) = send(app.admin(method.clone(), path).json(body)).await;
        assert_eq!(s, 400, "{method} {path} {body}: {answer}");
        assert_eq!(answer["error"], "bad_request", "{method} {path}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{method} {path} {body}: {message}");
    }
    let (s, answer) = send(
        app.admin(Method::PUT, "/settings/okta")
            .json(&json!({"org_url": "acme.okta.com", "client_id": "0oa1", "client_secret": "  "})),
    )
    .await;
    assert_eq!(s, 400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("blank"),
        "{answer}"
    );
    // Nothing happened: no run, no token beyond the bootstrap one, no mapping, no settings.
    let (_, runs) = send(app.admin(Method::GET, "/initial-sync")).await;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(0), "{runs}");
    let (_, tokens) = send(app.admin(Method::GET, "/tokens")).await;
    assert!(
        tokens["tokens"]
            .as_array()
            .is_some_and(|t| t.iter().all(|a| a["name"] != "ops")),
        "{tokens}"
    );
    let (_, mappings) = send(app.admin(Method::GET, "/role-mappings")).await;
    assert_eq!(
        mappings["mappings"].as_array().map(Vec::len),
        Some(0),
        "{mappings}"
    );
    let (s, okta) = send(app.admin(Method::GET, "/settings/okta")).await;
    assert_eq!(s, 200, "{okta}");
    assert_eq!(okta["state"], "not_configured", "{okta}");

    // An empty time bound is a caller's mistake on the API; a real one still works.
    for q in ["since=", "until=", "since=%20", "format=&action="] {
        let (s, answer) = send(app.admin(Method::GET, &format!("/audit?{q}"))).await;
        assert_eq!(s, 400, "{q}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or_default()
                .contains("is empty"),
            "{answer}"
        );
    }
    let (s, answer) = send(app.admin(Method::GET, "/audit?since=2020-01-01T00:00:00Z")).await;
    assert_eq!(s, 200, "{answer}");
    app.stop().await;
}
