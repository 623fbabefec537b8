//! Connecting the Okta org: the settings, the authorize dance against okta-sim (state,
//! nonce, PKCE S256, the id_token validated against the org's JWKS), and each failure the
//! admin must be told how to fix — as a page, and as `problem` in the settings.

use diesel::prelude::*;
use okta_sim::{Denial, SimConfig};
use reqwest::Method;
use serde_json::json;
use zenqms_bridge::store::schema::okta_authorizations;

use crate::harness::{send, TestApp};
use crate::okta_support::*;

#[actix_web::test]
async fn the_whole_dance_connects_and_records_who_authorized() {
    let sim = start_sim(SimConfig::default()).await;
    let app = TestApp::start().await;
    let view = settings(&app).await;
    assert_eq!(view["state"], "not_configured");
    assert_eq!(
        view["redirect_uri"],
        format!("{}/oauth/okta/callback", app.base)
    );
    register(&sim, client_for(&app));
    let view = put_settings(&app, &sim, CLIENT_SECRET).await;
    assert_eq!(view["state"], "needs_authorization", "{view}");
    assert_eq!(
        view["org_url"], sim.base_url,
        "normalised: no trailing slash"
    );
    assert!(
        !view.to_string().contains(CLIENT_SECRET),
        "the secret is never returned"
    );

    let url = authorize_url(&app).await;
    let parsed = reqwest::Url::parse(&url).expect("a URL");
    let q: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
    assert!(url.starts_with(&format!("{}/oauth2/v1/authorize?", sim.base_url)));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(
        q["redirect_uri"],
        format!("{}/oauth/okta/callback", app.base)
    );
    assert_eq!(
        q["scope"],
        "openid email offline_access okta.users.read okta.groups.read okta.eventHooks.manage"
    );
    assert!(q["state"].len() >= 32 && q["nonce"].len() >= 32 && q["code_challenge"].len() == 43);

    let (status, page, location) = open(&url).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Okta is connected") && page.contains("admin@example.com"),
        "{page}"
    );
    let view = settings(&app).await;
    assert_eq!(view["state"], "connected", "{view}");
    assert_eq!(view["authorized_by"], "admin@example.com");
    assert!(view["authorized_at"].is_string() && view["access_token_expires_at"].is_string());
    for scope in [
        "okta.users.read",
        "okta.groups.read",
        "okta.eventHooks.manage",
    ] {
        assert!(
            view["scopes"].as_array().unwrap().contains(&json!(scope)),
            "{view}"
        );
    }
    assert!(view["problem"].is_null());

    // The same callback again: the state works once.
    let (status, page) = callback(&location).await;
    assert_eq!(status, 400);
    assert!(page.contains("already used"), "{page}");
    let view = settings(&app).await;
    assert_eq!(
        view["state"], "connected",
        "a replay does not undo the connection"
    );
    assert!(view["problem"].as_str().unwrap().contains("already used"));

    // The trail: who started it, who completed it, the calls made.
    let (_, audit) = send(app.admin(Method::GET, "/audit?limit=500")).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .or(audit.as_array())
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    for needed in [
        "settings.okta.update",
        "okta.authorize.start",
        "okta.authorize.complete",
        "okta.call",
    ] {
        assert!(actions.contains(&needed), "{needed} in {actions:?}");
    }
    assert!(!audit.to_string().contains(CLIENT_SECRET));
    // Calls are counted in /metrics.
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            "zenqms_bridge_okta_calls_total{endpoint=\"POST /oauth2/v1/token\",outcome=\"ok\"} 1"
        ),
        "{metrics}"
    );
    app.stop().await;
    sim.stop().await;
}

/// Connects after `prepare` changed the simulator, and returns the callback's page and the
/// settings' `problem`.
async fn failed_dance(
    cfg: SimConfig,
    prepare: impl FnOnce(&TestApp, &okta_sim::RunningSim),
    tamper: impl FnOnce(String) -> String,
) -> (String, String) {
    let sim = start_sim(cfg).await;
    let app = TestApp::start().await;
    register(&sim, client_for(&app));
    put_settings(&app, &sim, CLIENT_SECRET).await;
    prepare(&app, &sim);
    let url = tamper(authorize_url(&app).await);
    let (status, page, _) = open(&url).await;
    assert_eq!(status, 400, "{page}");
    let view = settings(&app).await;
    assert_ne!(view["state"], "connected", "{view}");
    let problem = view["problem"].as_str().unwrap_or_default().to_string();
    app.stop().await;
    sim.stop().await;
    (page, problem)
}

#[actix_web::test]
async fn access_denied_says_to_assign_the_app() {
    let (page, problem) = failed_dance(
        SimConfig::default(),
        |_, sim| {
            sim.sim
                .deny_next_authorize(
                    Denial {
                        error: "access_denied".into(),
                        error_description: Some(
                            "The user is not assigned to the client application.".into(),
                        ),
                    },
                    1,
                )
                .unwrap()
        },
        |u| u,
    )
    .await;
    assert!(
        page.contains("access_denied") && problem.contains("assign the app"),
        "{problem}"
    );
}

#[actix_web::test]
async fn a_scope_not_granted_is_named() {
    let (page, problem) = failed_dance(
        SimConfig::default(),
        |app, sim| {
            let mut client = client_for(app);
            client
                .allowed_scopes
                .retain(|s| s != "okta.eventHooks.manage");
            register(sim, client);
        },
        |u| u,
    )
    .await;
    assert!(
        problem.contains("did not grant okta.eventHooks.manage")
            && problem.contains("Okta API Scopes"),
        "{problem}"
    );
    assert!(page.contains("okta.eventHooks.manage"));
}

#[actix_web::test]
async fn a_stale_state_is_refused() {
    let sim = start_sim(SimConfig::default()).await;
    let app = TestApp::start().await;
    register(&sim, client_for(&app));
    put_settings(&app, &sim, CLIENT_SECRET).await;
    let url = authorize_url(&app).await;
    // Eleven minutes later: the state lived ten.
    {
        let mut conn = app.state.pool.get().expect("conn");
        let past = chrono::Utc::now().naive_utc() - chrono::TimeDelta::minutes(1);
        diesel::update(okta_authorizations::table)
            .set(okta_authorizations::expires_at.eq(past))
            .execute(&mut *conn)
            .expect("aged");
    }
    let (status, page, _) = open(&url).await;
    assert_eq!(status, 400);
    assert!(page.contains("expired"), "{page}");
    let view = settings(&app).await;
    assert_eq!(view["state"], "needs_authorization");
    assert!(view["problem"].as_str().unwrap().contains("expired"));
    // No state at all, or one never issued.
    let (status, page) = callback(&format!("{}/oauth/okta/callback?code=x", app.base)).await;
    assert_eq!(status, 400);
    assert!(page.contains("no `state`"), "{page}");
    let (status, page) = callback(&format!(
        "{}/oauth/okta/callback?code=x&state=forged",
        app.base
    ))
    .await;
    assert_eq!(status, 400);
    assert!(page.contains("unknown"), "{page}");
    app.stop().await;
    sim.stop().await;
}

#[actix_web::test]
async fn a_wrong_client_secret_is_invalid_client() {
    let sim = start_sim(SimConfig::default()).await;
    let app = TestApp::start().await;
    register(&sim, client_for(&app));
    put_settings(&app, &sim, "not-the-secret").await;
    let (status, page, _) = open(&authorize_url(&app).await).await;
    assert_eq!(status, 400);
    assert!(page.contains("invalid_client"), "{page}");
    let problem = settings(&app).await["problem"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        problem.contains("invalid_client") && problem.contains("PUT /api/v1/settings/okta"),
        "{problem}"
    );
    assert!(!page.contains("not-the-secret") && !problem.contains("not-the-secret"));
    app.stop().await;
    sim.stop().await;
}

#[actix_web::test]
async fn an_id_token_with_another_nonce_is_refused() {
    // The browser's request altered on the way: Okta signs the nonce it was given.
    let (page, problem) = failed_dance(
        SimConfig::default(),
        |_, _| {},
        |url| {
            let mut u = reqwest::Url::parse(&url).unwrap();
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        if k == "nonce" {
                            "replayed-nonce".to_string()
                        } else {
                            v.to_string()
                        },
                    )
                })
                .collect();
            u.query_pairs_mut().clear().extend_pairs(pairs);
            u.to_string()
        },
    )
    .await;
    assert!(problem.contains("nonce"), "{problem}");
    assert!(page.contains("nonce"));
}

#[actix_web::test]
async fn an_id_token_from_another_issuer_is_refused() {
    // The org calls itself by another URL than the one configured.
    let cfg = SimConfig {
        org_url: Some("http://127.0.0.1:9".into()),
        ..SimConfig::default()
    };
    let (_, problem) = failed_dance(cfg, |_, _| {}, |u| u).await;
    assert!(problem.contains("issuer"), "{problem}");
}

#[actix_web::test]
async fn org_urls_are_normalised_and_http_only_for_loopback() {
    let app = TestApp::start().await;
    let put = |org: &str| {
        app.admin(Method::PUT, "/settings/okta")
            .json(&json!({"org_url": org, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}))
    };
    let (s, body) = send(put("ACME.okta.com/")).await;
    assert_eq!(
        (s, body["org_url"].as_str()),
        (200, Some("https://acme.okta.com")),
        "{body}"
    );
    let (s, body) = send(put("http://acme.okta.com")).await;
    assert_eq!(s, 400);
    assert!(
        body["message"].as_str().unwrap().contains("https"),
        "{body}"
    );
    let (s, body) = send(put("https://acme.okta.com/oauth2/default")).await;
    assert_eq!(s, 400);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("org authorization server"));
    // A read token may look, not change.
    let (s, _) = send(
        app.raw(Method::PUT, "/api/v1/settings/okta")
            .json(&json!({"org_url": "acme.okta.com", "client_id": "x", "client_secret": "y"})),
    )
    .await;
    assert_eq!(s, 401);
    // Scope groups are kept and shown; the secret may be left out for the same org and client.
    let (s, body) = send(app.admin(Method::PUT, "/settings/okta").json(&json!({
        "org_url": "https://acme.okta.com", "client_id": CLIENT_ID, "scope_group_ids": ["00gabc123"]
    })))
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["scope_group_ids"], json!(["00gabc123"]));
    let (s, body) = send(app.admin(Method::PUT, "/settings/okta").json(&json!({
        "org_url": "https://other.okta.com", "client_id": CLIENT_ID
    })))
    .await;
    assert_eq!(s, 400, "a new org needs its secret: {body}");
    app.stop().await;
}
