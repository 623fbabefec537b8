//! Helpers for the Okta tests: okta-sim in-process with an OIDC client whose redirect URI is
//! the test bridge's callback, the settings PUT, and the authorize dance completed without a
//! browser — the simulator answers `/authorize` at once with a redirect, which is followed to
//! the bridge like a browser would.

#![allow(dead_code)]

use std::time::Duration;

use diesel::prelude::*;
use okta_sim::{NewUser, OAuthClient, RunningSim, SimConfig};
use reqwest::Method;
use serde_json::{json, Value};
use zenqms_bridge::store::schema::okta_connection;

use crate::harness::{eventually, send, TestApp};
use crate::initial_sync_support::{connected, tenant_sim, zenqms_user};
use crate::scim_support::{enc, get};
use crate::sim_support::bridge;

pub const CLIENT_ID: &str = "0oatestclient0000001";
pub const CLIENT_SECRET: &str = "okta-test-client-secret-0123456789";
/// A fixed key, so that several bridges on one database open each other's secrets.
pub const SECRET_KEY: &str = "5f3c1a9e7b2d4f6081a3c5e7092b4d6f8a1c3e5079b2d4f6a8c0e2b4d6f8a0c2";

pub async fn start_sim(cfg: SimConfig) -> RunningSim {
    okta_sim::start(cfg, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("okta-sim starts")
}

/// The OIDC web app in the simulator, its redirect URI at `app`'s callback.
pub fn client_for(app: &TestApp) -> OAuthClient {
    OAuthClient::new(
        CLIENT_ID,
        CLIENT_SECRET,
        &format!("{}/oauth/okta/callback", app.base),
    )
}

/// Registers `client` (already pointed at the bridge) in the simulator.
pub fn register(sim: &RunningSim, client: OAuthClient) {
    sim.sim.set_client(client).expect("client accepted");
}

/// `PUT /api/v1/settings/okta` with the simulator's org URL.
pub async fn put_settings(app: &TestApp, sim: &RunningSim, secret: &str) -> Value {
    let (s, body) = send(app.admin(Method::PUT, "/settings/okta").json(&json!({
        // The address it serves on (its `base_url` is what it calls itself, maybe another).
        "org_url": format!("http://{}/", sim.addr),
        "client_id": CLIENT_ID,
        "client_secret": secret,
    })))
    .await;
    assert_eq!(s, 200, "{body}");
    body
}

/// `POST /api/v1/okta/authorize` → the URL.
pub async fn authorize_url(app: &TestApp) -> String {
    let (s, body) = send(app.admin(Method::POST, "/okta/authorize")).await;
    assert_eq!(s, 200, "{body}");
    body["authorize_url"]
        .as_str()
        .expect("authorize_url")
        .to_string()
}

/// Opens `url` like a browser: the simulator's redirect is followed to the bridge's
/// callback, whose status and page are returned (with the callback URL, to replay it).
pub async fn open(url: &str) -> (u16, String, String) {
    let location = redirect_of(&no_redirects(), url).await;
    let (status, page) = callback(&location).await;
    (status, page, location)
}

/// A client that stops at redirects, to see where the simulator sends the browser.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// `GET` of the simulator's `/authorize` URL: asserts the redirect back; its `Location`.
pub async fn redirect_of(browser: &reqwest::Client, url: &str) -> String {
    let res = browser.get(url).send().await.expect("authorize answered");
    assert_eq!(res.status().as_u16(), 302, "the simulator redirects back");
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_string()
}

/// `GET` of a callback URL.
pub async fn callback(location: &str) -> (u16, String) {
    let res = reqwest::get(location).await.expect("callback answered");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

/// Settings, authorize, and the callback: the connection is `connected`.
pub async fn connect(app: &TestApp, sim: &RunningSim) -> Value {
    put_settings(app, sim, CLIENT_SECRET).await;
    let url = authorize_url(app).await;
    let (status, page, _) = open(&url).await;
    assert_eq!(status, 200, "{page}");
    let view = settings(app).await;
    assert_eq!(view["state"], "connected", "{view}");
    view
}

pub async fn settings(app: &TestApp) -> Value {
    let (s, body) = send(app.admin(Method::GET, "/settings/okta")).await;
    assert_eq!(s, 200, "{body}");
    body
}

/// Makes the stored access token look about to expire (the next use refreshes it first).
pub fn age_access_token(app: &TestApp) {
    let mut conn = app.state.pool.get().expect("conn");
    diesel::update(okta_connection::table)
        .set(okta_connection::access_token_expires_at.eq(chrono::Utc::now().naive_utc()))
        .execute(&mut *conn)
        .expect("aged");
}

/// The number of refresh-token grants the simulator answered (its call log does not
/// distinguish grants: the token endpoint's calls minus the code exchanges).
pub fn token_calls(sim: &RunningSim) -> u64 {
    sim.sim.calls().count("POST /oauth2/v1/token")
}

/// The bridge's client registered in `sim` and the org connected; the bridge's ZenQMS
/// connection loaded and ZenQMS's roles read: where the tests that follow Okta start.
pub async fn connect_with_roles(app: &TestApp, sim: &RunningSim) {
    register(sim, client_for(app));
    connect(app, sim).await;
    connected(app).await;
    let (s, body) = send(app.admin(Method::POST, "/zenqms/roles/refresh")).await;
    assert_eq!(s, 200, "{body}");
}

/// ZenQMS's tenant (`tenant()`), okta-sim with `seed`, and a bridge on a fresh database
/// connected to both, ZenQMS's roles read.
pub async fn connected_to(seed: okta_sim::Seed) -> (zenqms_sim::RunningSim, RunningSim, TestApp) {
    let zenqms = tenant_sim().await;
    let okta = start_sim(SimConfig {
        seed: Some(seed),
        ..SimConfig::default()
    })
    .await;
    let app = bridge(&zenqms, &[("SYNC_DRIFT_SWEEP_SECS", "0")]).await;
    connect_with_roles(&app, &okta).await;
    (zenqms, okta, app)
}

/// A new Okta user `n@example.com`, an Engineer.
pub fn new_user(n: &str) -> NewUser {
    let profile = json!({"login": format!("{n}@example.com"), "email": format!("{n}@example.com"),
        "firstName": format!("Given{n}"), "lastName": format!("Family{n}"), "title": "Engineer"});
    NewUser {
        profile: profile.as_object().cloned().unwrap_or_default(),
        ..NewUser::default()
    }
}

/// Waits (at most 30 s) until ZenQMS's user of `email` satisfies `check`.
pub async fn zenqms_until(
    zenqms: &zenqms_sim::RunningSim,
    email: &str,
    check: impl Fn(&zenqms_sim::User) -> bool,
) -> zenqms_sim::User {
    eventually(Duration::from_secs(30), || async {
        zenqms_user(zenqms, email).as_ref().is_some_and(&check)
    })
    .await;
    zenqms_user(zenqms, email).expect("the user")
}

/// The bridge's SCIM group named `name`, if the directory has it.
pub async fn group_named(app: &TestApp, name: &str) -> Option<Value> {
    let filter = enc(&format!("displayName eq \"{name}\""));
    let (s, list) = get(app, &format!("/Groups?filter={filter}")).await;
    assert_eq!(s, 200, "{list}");
    list["Resources"]
        .as_array()
        .and_then(|l| l.first().cloned())
}
