//! The Okta tokens after the dance: refreshed before they expire and once on a `401`, with
//! and without rotation; a revoked refresh token → `reauthorization_needed` (SCIM and
//! `/readyz` unaffected); two bridges on one database refresh once between them; DELETE
//! revokes at Okta and forgets.

use okta_sim::{Generate, SimConfig, TokenKind};
use reqwest::Method;

use crate::harness::{send, TestApp};
use crate::okta_support::*;

fn small_org() -> SimConfig {
    SimConfig {
        generate: Some(Generate::new(5, 2, 11)),
        ..SimConfig::default()
    }
}

async fn connected_app(sim: &okta_sim::RunningSim, rotation: bool) -> TestApp {
    let app = TestApp::start_with(&[("SECRET_KEY", SECRET_KEY)]).await;
    let mut client = client_for(&app);
    client.refresh_rotation = rotation;
    register(sim, client);
    connect(&app, sim).await;
    app
}

fn live_refresh_tokens(sim: &okta_sim::RunningSim) -> usize {
    sim.sim
        .tokens()
        .iter()
        .filter(|t| t.kind == "refresh" && !t.revoked && t.rotated_at.is_none())
        .count()
}

#[actix_web::test]
async fn an_expiring_token_is_refreshed_first_and_a_refused_one_once() {
    for rotation in [false, true] {
        let sim = start_sim(small_org()).await;
        let app = connected_app(&sim, rotation).await;
        let before = token_calls(&sim);
        let okta = &app.state.okta;
        // Fresh: used as it is.
        assert_eq!(okta.read_org(|_| {}).await.expect("read").users.len(), 5);
        assert_eq!(token_calls(&sim), before);
        // About to expire: refreshed before the call.
        age_access_token(&app);
        okta.read_org(|_| {}).await.expect("read after refresh");
        assert_eq!(token_calls(&sim), before + 1, "rotation {rotation}");
        // Refused by Okta (revoked early): one 401, one refresh, the call again.
        sim.sim.expire_tokens(TokenKind::Access, None);
        okta.read_org(|_| {}).await.expect("read after a 401");
        assert_eq!(token_calls(&sim), before + 2, "rotation {rotation}");
        let calls = sim.sim.calls();
        assert!(calls.log.iter().any(|c| c.status == Some(401)));
        if rotation {
            // The newest refresh token is the one kept: the old ones are spent.
            sim.sim.expire_tokens(TokenKind::Access, None);
            okta.read_org(|_| {})
                .await
                .expect("a third refresh with the rotated token");
            assert_eq!(live_refresh_tokens(&sim), 1);
        }
        let view = settings(&app).await;
        assert_eq!(view["state"], "connected");
        app.stop().await;
        sim.stop().await;
    }
}

#[actix_web::test]
async fn a_revoked_refresh_token_needs_reauthorization_and_scim_goes_on() {
    let sim = start_sim(small_org()).await;
    let app = connected_app(&sim, false).await;
    sim.sim.revoke_tokens(TokenKind::All, None);
    age_access_token(&app);
    let err = app.state.okta.read_org(|_| {}).await.unwrap_err();
    assert!(err.to_string().contains("authorize again"), "{err}");
    let view = settings(&app).await;
    assert_eq!(view["state"], "reauthorization_needed", "{view}");
    assert!(view["problem"].as_str().unwrap().contains("invalid_grant"));
    let (s, status) = send(app.admin(Method::GET, "/sync/status")).await;
    assert_eq!(s, 200);
    assert_eq!(
        status["okta"]["state"], "reauthorization_needed",
        "{status}"
    );
    let ready = app.raw(Method::GET, "/readyz").send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200, "/readyz stays ready");
    let (s, _) = send(app.scim(Method::GET, "/Users")).await;
    assert_eq!(s, 200, "the SCIM path still works");
    // Authorizing again reconnects.
    let (status, page, _) = open(&authorize_url(&app).await).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(settings(&app).await["state"], "connected");
    app.stop().await;
    sim.stop().await;
}

#[actix_web::test]
async fn two_bridges_on_one_database_refresh_once() {
    let sim = start_sim(small_org()).await;
    let first = connected_app(&sim, true).await;
    let second = TestApp::start_on(first.db.share(), &[("SECRET_KEY", SECRET_KEY)]).await;
    age_access_token(&first);
    let before = token_calls(&sim);
    let (a, b) = tokio::join!(
        first.state.okta.read_org(|_| {}),
        second.state.okta.read_org(|_| {})
    );
    assert_eq!(a.expect("first").users.len(), 5);
    assert_eq!(b.expect("second").users.len(), 5);
    assert_eq!(token_calls(&sim), before + 1, "one refresh between the two");
    assert_eq!(live_refresh_tokens(&sim), 1);
    // Concurrent callers in one process share one refresh too.
    age_access_token(&first);
    let okta = &first.state.okta;
    let (a, b, c) = tokio::join!(
        okta.read_org(|_| {}),
        okta.read_org(|_| {}),
        okta.read_org(|_| {})
    );
    assert!(a.is_ok() && b.is_ok() && c.is_ok());
    assert_eq!(token_calls(&sim), before + 2);
    second.stop().await;
    first.stop().await;
    sim.stop().await;
}

#[actix_web::test]
async fn delete_revokes_at_okta_and_forgets() {
    let sim = start_sim(small_org()).await;
    let app = connected_app(&sim, false).await;
    assert_eq!(live_refresh_tokens(&sim), 1);
    let (s, view) = send(app.admin(Method::DELETE, "/settings/okta")).await;
    assert_eq!(s, 200, "{view}");
    assert_eq!(view["state"], "needs_authorization");
    assert_eq!(live_refresh_tokens(&sim), 0, "revoked at Okta");
    assert_eq!(sim.sim.calls().count("POST /oauth2/v1/revoke"), 1);
    let err = app.state.okta.read_org(|_| {}).await.unwrap_err();
    assert!(err.to_string().contains("not authorized"), "{err}");
    let (_, audit) = send(app.admin(Method::GET, "/audit?limit=500")).await;
    assert!(audit.to_string().contains("settings.okta.disconnect"));
    app.stop().await;
    sim.stop().await;
}
