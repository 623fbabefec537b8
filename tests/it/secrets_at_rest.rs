//! Secrets at rest: the ZenQMS token is sealed bound to its base URL (`src/crypto.rs`), so a
//! base URL changed in the database beside it makes the token unusable — the bridge asks for
//! it again instead of sending it to the new URL; a token sealed the old way still opens and
//! is re-sealed bound. The Okta client secret and tokens never appear in clear in the
//! database or the logs.

use diesel::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};
use zenqms_bridge::crypto::Key;
use zenqms_bridge::store::schema::settings;

use std::time::Duration;

use crate::harness::{send, TestApp};
use crate::sim_support::{self, SIM_TOKEN};

fn stored_connection(app: &TestApp) -> Value {
    let mut conn = app.state.pool.get().expect("conn");
    let text: String = settings::table
        .filter(settings::key.eq("zenqms.connection"))
        .select(settings::value)
        .first(&mut *conn)
        .expect("the stored connection");
    serde_json::from_str(&text).expect("json")
}

/// `GET /api/v1/settings/zenqms` once the restarted bridge has loaded the stored connection
/// (its housekeeping does, right after start).
async fn loaded_view(app: &TestApp) -> Value {
    let end = std::time::Instant::now() + crate::harness::failure_bound(Duration::from_secs(10));
    loop {
        let (s, view) = send(app.admin(Method::GET, "/settings/zenqms")).await;
        let loading = view["problem"]
            .as_str()
            .unwrap_or_default()
            .contains("not configured");
        if s == 200 && !loading {
            return view;
        }
        assert!(std::time::Instant::now() < end, "never loaded: {view}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn write_connection(app: &TestApp, value: &Value) {
    let mut conn = app.state.pool.get().expect("conn");
    diesel::update(settings::table.filter(settings::key.eq("zenqms.connection")))
        .set(settings::value.eq(value.to_string()))
        .execute(&mut *conn)
        .expect("written");
}

/// `PUT /api/v1/settings/zenqms` pointing at `sim`, with its token.
async fn connect_zenqms(app: &TestApp, sim: &zenqms_sim::RunningSim) {
    let (s, body) = send(
        app.admin(Method::PUT, "/settings/zenqms")
            .json(&json!({"base_url": sim.base_url, "api_token": SIM_TOKEN})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
}

#[actix_web::test]
async fn a_zenqms_token_does_not_follow_a_base_url_changed_in_the_database() {
    let sim = sim_support::sim().await;
    let elsewhere = sim_support::sim().await;
    let app = TestApp::start().await;
    connect_zenqms(&app, &sim).await;
    let verification_calls = sim.sim.calls().total();
    let mut stored = stored_connection(&app);
    let sealed = stored["api_token_encrypted"]
        .as_str()
        .expect("sealed")
        .to_string();
    assert!(sealed.starts_with("v2:"), "{sealed}");
    assert!(!stored.to_string().contains(SIM_TOKEN));

    // Someone with write access to the database points the connection elsewhere.
    stored["base_url"] = json!(elsewhere.base_url);
    write_connection(&app, &stored);
    let db = app.stop_keeping_db().await;
    let app = TestApp::start_on(db, &[]).await;
    let view = loaded_view(&app).await;
    assert_eq!(view["configured"], false, "{view}");
    let problem = view["problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains("entered again") && problem.contains("PUT /api/v1/settings/zenqms"),
        "{problem}"
    );
    // A push that would be synced if the connection were usable: nothing reaches the new URL.
    let (s, _) = send(app.scim(Method::POST, "/Users").json(&json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ann@example.com", "name": {"givenName": "Ann", "familyName": "Lee"},
        "emails": [{"value": "ann@example.com", "primary": true}], "title": "QA", "active": true
    })))
    .await;
    assert_eq!(s, 201);
    app.state.sync.refresh().await.expect("refresh");
    assert_eq!(
        elsewhere.sim.calls().total(),
        0,
        "the token never went to the new URL"
    );
    assert_eq!(
        sim.sim.calls().total(),
        verification_calls,
        "nor anywhere else"
    );
    app.stop().await;
    elsewhere.stop().await;
    sim.stop().await;
}

#[actix_web::test]
async fn a_token_sealed_before_binding_still_opens_and_is_resealed_bound() {
    let sim = sim_support::sim().await;
    let app = TestApp::start().await;
    connect_zenqms(&app, &sim).await;
    // The value as a version before binding stored it: `v1:`, no associated data.
    let key = Key::load_or_create(None, app.db.dir.path()).expect("the bridge's key");
    let mut stored = stored_connection(&app);
    stored["api_token_encrypted"] = json!(key.encrypt(SIM_TOKEN));
    write_connection(&app, &stored);
    let db = app.stop_keeping_db().await;
    let app = TestApp::start_on(db, &[]).await;
    let view = loaded_view(&app).await;
    assert_eq!(view["configured"], true, "{view}");
    let resealed = stored_connection(&app);
    let text = resealed["api_token_encrypted"].as_str().unwrap_or_default();
    assert!(text.starts_with("v2:"), "re-sealed bound: {text}");
    let opened = key
        .open("zenqms.api_token", &sim.base_url, text)
        .expect("opens for its base URL");
    assert_eq!(opened.plaintext, SIM_TOKEN);
    assert!(!opened.legacy);
    app.stop().await;
    sim.stop().await;
}

#[actix_web::test]
async fn okta_secrets_and_tokens_never_appear_in_clear_in_the_database() {
    use crate::okta_support::*;
    use zenqms_bridge::store::schema::{audit_log, okta_authorizations, okta_connection};

    let sim = start_sim(okta_sim::SimConfig::default()).await;
    let app = TestApp::start_with(&[("SECRET_KEY", SECRET_KEY)]).await;
    let mut client = client_for(&app);
    client.refresh_rotation = true;
    register(&sim, client);
    connect(&app, &sim).await;
    age_access_token(&app);
    app.state
        .okta
        .read_org(|_| {})
        .await
        .expect("a read after a refresh");
    let mut conn = app.state.pool.get().expect("conn");
    let (secret, refresh, access): (String, Option<String>, Option<String>) =
        okta_connection::table
            .select((
                okta_connection::client_secret_sealed,
                okta_connection::refresh_token_sealed,
                okta_connection::access_token_sealed,
            ))
            .first(&mut *conn)
            .expect("the connection");
    let key = Key::from_hex(SECRET_KEY).expect("key");
    let bound = format!("http://{} {CLIENT_ID}", sim.addr);
    let open = |purpose: &str, sealed: &str| {
        key.open(purpose, &bound, sealed)
            .expect("opens for its org and client")
            .plaintext
    };
    let clear = [
        open("okta.client_secret", &secret),
        open(
            "okta.refresh_token",
            refresh.as_deref().expect("refresh token"),
        ),
        open(
            "okta.access_token",
            access.as_deref().expect("access token"),
        ),
    ];
    assert_eq!(clear[0], CLIENT_SECRET);
    // Every text the database holds about Okta and its trail.
    let mut dump: Vec<String> = vec![
        secret,
        refresh.unwrap_or_default(),
        access.unwrap_or_default(),
    ];
    dump.extend(
        audit_log::table
            .select(audit_log::detail)
            .load::<String>(&mut *conn)
            .expect("audit"),
    );
    dump.extend(
        okta_authorizations::table
            .select((
                okta_authorizations::state_hash,
                okta_authorizations::nonce,
                okta_authorizations::verifier_sealed,
            ))
            .load::<(String, String, String)>(&mut *conn)
            .expect("authorizations")
            .into_iter()
            .map(|(a, b, c)| format!("{a} {b} {c}")),
    );
    let text = dump.join("\n");
    for value in &clear {
        assert!(
            !text.contains(value.as_str()),
            "a secret in clear in the database"
        );
    }
    // Bound to their org and client: another org does not open them.
    assert!(key
        .open(
            "okta.refresh_token",
            &format!("https://evil.example {CLIENT_ID}"),
            &dump[1]
        )
        .is_err());
    drop(conn);
    app.stop().await;
    sim.stop().await;
}
