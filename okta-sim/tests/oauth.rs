//! The org authorization server over real HTTP: the authorization-code dance with PKCE,
//! id_tokens verified against the JWKS, refresh with and without rotation, revocation,
//! and every error the spec names.

mod common;

use common::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use okta_sim::{OAuthClient, SimConfig, TokenKind};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn verify_id_token(org: &Org, jwks: &Value, id_token: &str) -> Value {
    let header = jsonwebtoken::decode_header(id_token).expect("JWS header");
    assert_eq!(header.alg, Algorithm::RS256);
    let kid = header.kid.expect("kid");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the kid is in the JWKS");
    assert_eq!(
        (jwk["alg"].as_str(), jwk["use"].as_str()),
        (Some("RS256"), Some("sig"))
    );
    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
            .unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[CLIENT_ID]);
    v.set_issuer(&[org.running.base_url.as_str()]);
    jsonwebtoken::decode::<Value>(id_token, &key, &v)
        .expect("id_token verifies")
        .claims
}

#[tokio::test]
async fn the_dance_yields_tokens_and_an_id_token_that_verifies_against_the_jwks() {
    let org = start(config()).await;
    let (verifier, challenge) = pkce();
    let q = org.authorize_code(ALL_SCOPES, &challenge, "n-42").await;
    assert_eq!(q["state"], "st-123");
    let code = q["code"].clone();
    let t = org
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ])
        .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.body);
    assert_eq!(t.body["token_type"], "Bearer");
    assert_eq!(t.body["expires_in"], 3600);
    assert_eq!(t.body["scope"], ALL_SCOPES);
    assert_eq!(t.header("cache-control"), Some("no-store"));
    assert!(t.body["refresh_token"].is_string());
    let jwks = org.get("/oauth2/v1/keys", "").await.body;
    let claims = verify_id_token(&org, &jwks, t.body["id_token"].as_str().unwrap());
    let admin = org.sim().admin();
    assert_eq!(claims["sub"], admin.id.as_str());
    assert_eq!(claims["email"], admin.email.as_str());
    assert_eq!(claims["preferred_username"], admin.login.as_str());
    assert_eq!(claims["nonce"], "n-42");
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());

    // The access token works on the API; the call log names the client and token.
    let access = t.body["access_token"].as_str().unwrap();
    assert_eq!(
        org.get("/api/v1/users", access).await.status,
        StatusCode::OK
    );
    let calls = org.sim().calls();
    let rec = calls.records("GET /api/v1/users").last().unwrap();
    assert_eq!(rec.client_id.as_deref(), Some(CLIENT_ID));
    assert_eq!(
        rec.token.as_deref(),
        Some(okta_sim::fingerprint(access).as_str())
    );
    let token_call = calls.records("POST /oauth2/v1/token").last().unwrap();
    assert_eq!(token_call.client_id.as_deref(), Some(CLIENT_ID));

    // Without openid there is no authorization; without offline_access no refresh token.
    let tokens = org.login("openid okta.users.read").await;
    assert!(tokens.refresh.is_none());
    assert!(tokens.id_token.is_some());
    org.stop().await;
}

#[tokio::test]
async fn code_exchange_errors() {
    let org = start(config()).await;
    let exchange = |code: String, verifier: String, redirect: &'static str| {
        let org = &org;
        async move {
            org.token(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
                ("code_verifier", &verifier),
            ])
            .await
        }
    };
    // PKCE mismatch.
    let (_, challenge) = pkce();
    let (other_verifier, _) = pkce();
    let code = org.authorize_code(ALL_SCOPES, &challenge, "n").await["code"].clone();
    let a = exchange(code, other_verifier, REDIRECT_URI).await;
    a.assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(a.body["error_description"]
        .as_str()
        .unwrap()
        .contains("PKCE"));

    // redirect_uri mismatch.
    let (verifier, challenge) = pkce();
    let code = org.authorize_code(ALL_SCOPES, &challenge, "n").await["code"].clone();
    let a = exchange(code, verifier, "http://127.0.0.1:9/elsewhere").await;
    a.assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(a.body["error_description"]
        .as_str()
        .unwrap()
        .contains("redirect_uri"));

    // A reused code fails and revokes what the first exchange produced.
    let (verifier, challenge) = pkce();
    let code = org.authorize_code(ALL_SCOPES, &challenge, "n").await["code"].clone();
    let first = exchange(code.clone(), verifier.clone(), REDIRECT_URI).await;
    assert_eq!(first.status, StatusCode::OK);
    let access = first.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        org.get("/api/v1/users", &access).await.status,
        StatusCode::OK
    );
    let again = exchange(code, verifier, REDIRECT_URI).await;
    again.assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let after = org.get("/api/v1/users", &access).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    // An expired code.
    let (verifier, challenge) = pkce();
    let code = org.authorize_code(ALL_SCOPES, &challenge, "n").await["code"].clone();
    assert_eq!(org.sim().expire_tokens(TokenKind::Code, Some(&code)), 1);
    let a = exchange(code, verifier, REDIRECT_URI).await;
    assert_eq!(a.oauth_error(), "invalid_grant");

    // Bad client secret, unknown client: 401 invalid_client.
    let a = org
        .send(
            org.http
                .post(org.url("/oauth2/v1/token"))
                .basic_auth(CLIENT_ID, Some("wrong"))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")]),
        )
        .await;
    a.assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    let a = org
        .send(
            org.http
                .post(org.url("/oauth2/v1/token"))
                .form(&[("grant_type", "refresh_token")]),
        )
        .await;
    a.assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");

    // client_secret_post works too; an unknown grant type is refused.
    let a = org
        .send(org.http.post(org.url("/oauth2/v1/token")).form(&[
            ("grant_type", "password"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ]))
        .await;
    assert_eq!(a.oauth_error(), "unsupported_grant_type");
    org.stop().await;
}

#[tokio::test]
async fn authorize_checks_client_redirect_scopes_and_pkce_and_can_deny() {
    let org = start(config()).await;
    let (_, challenge) = pkce();
    let base = |scope: &'static str, redirect: &'static str, challenge: String| {
        vec![
            ("client_id", CLIENT_ID.to_owned()),
            ("response_type", "code".to_owned()),
            ("scope", scope.to_owned()),
            ("redirect_uri", redirect.to_owned()),
            ("state", "s1".to_owned()),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256".to_owned()),
        ]
    };
    let call = |params: Vec<(&'static str, String)>| {
        let org = &org;
        async move {
            let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            org.authorize(&p).await
        }
    };
    // An unregistered redirect URI is never redirected to.
    let a = call(base(
        ALL_SCOPES,
        "http://127.0.0.1:9/evil",
        challenge.clone(),
    ))
    .await;
    a.assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    let mut unknown = base(ALL_SCOPES, REDIRECT_URI, challenge.clone());
    unknown[0].1 = "nobody".into();
    assert_eq!(call(unknown).await.oauth_error(), "invalid_client");

    // Unknown scope → invalid_scope in the redirect, with the state.
    let a = call(base(
        "openid okta.nonsense.read",
        REDIRECT_URI,
        challenge.clone(),
    ))
    .await;
    let q = redirect_query(a.header("location").unwrap());
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("invalid_scope", "s1")
    );

    // PKCE is required by default; only S256.
    let mut no_pkce = base(ALL_SCOPES, REDIRECT_URI, challenge.clone());
    no_pkce.truncate(5);
    let q = redirect_query(call(no_pkce).await.header("location").unwrap());
    assert_eq!(q["error"], "invalid_request");
    let mut plain = base(ALL_SCOPES, REDIRECT_URI, challenge.clone());
    plain[6].1 = "plain".into();
    let q = redirect_query(call(plain).await.header("location").unwrap());
    assert_eq!(q["error"], "invalid_request");

    // access_denied (once), set over /_sim.
    let d = org
        .admin(
            Method::POST,
            "/_sim/oauth/deny",
            Some(json!({"error": "access_denied", "error_description": "User is not assigned"})),
        )
        .await;
    assert_eq!(d.body["pending_denials"], 1);
    let q = redirect_query(
        call(base(ALL_SCOPES, REDIRECT_URI, challenge.clone()))
            .await
            .header("location")
            .unwrap(),
    );
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["error_description"], "User is not assigned");
    assert_eq!(q["state"], "s1");
    assert!(!q.contains_key("code"));
    let q = redirect_query(
        call(base(ALL_SCOPES, REDIRECT_URI, challenge.clone()))
            .await
            .header("location")
            .unwrap(),
    );
    assert!(q.contains_key("code"));
    // unauthorized_client through the same switch, from Rust.
    org.sim()
        .deny_next_authorize(
            okta_sim::Denial {
                error: "unauthorized_client".into(),
                error_description: None,
            },
            1,
        )
        .unwrap();
    let q = redirect_query(
        call(base(ALL_SCOPES, REDIRECT_URI, challenge))
            .await
            .header("location")
            .unwrap(),
    );
    assert_eq!(q["error"], "unauthorized_client");
    org.stop().await;
}

#[tokio::test]
async fn a_scope_the_client_lacks_is_left_out_and_the_api_answers_403() {
    let org = start(SimConfig::with_client(OAuthClient {
        allowed_scopes: vec![
            "openid".into(),
            "email".into(),
            "offline_access".into(),
            "okta.users.read".into(),
        ],
        ..test_client()
    }))
    .await;
    let t = org.login(ALL_SCOPES).await;
    assert_eq!(t.scope, "openid email offline_access okta.users.read");
    assert_eq!(
        org.get("/api/v1/users", &t.access).await.status,
        StatusCode::OK
    );
    let a = org.get("/api/v1/groups", &t.access).await;
    a.assert_error(StatusCode::FORBIDDEN, "E0000006");
    let www = a.header("www-authenticate").unwrap();
    assert!(
        www.starts_with("Bearer ") && www.contains("error=\"insufficient_scope\""),
        "{www}"
    );
    let a = org.get("/api/v1/eventHooks", &t.access).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    // With rejection switched on, the same request is invalid_scope at /authorize.
    org.admin(
        Method::PATCH,
        &format!("/_sim/oauth/clients/{CLIENT_ID}"),
        Some(json!({"reject_unallowed_scopes": true})),
    )
    .await;
    let (_, challenge) = pkce();
    let a = org
        .authorize(&[
            ("client_id", CLIENT_ID),
            ("response_type", "code"),
            ("scope", ALL_SCOPES),
            ("redirect_uri", REDIRECT_URI),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_eq!(
        redirect_query(a.header("location").unwrap())["error"],
        "invalid_scope"
    );
    org.stop().await;
}

#[tokio::test]
async fn refresh_without_rotation_keeps_the_token_and_narrows_scope() {
    let org = start(config()).await;
    let t = org.login(ALL_SCOPES).await;
    let refresh = t.refresh.clone().unwrap();
    let r = org
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["refresh_token"], refresh.as_str());
    assert_ne!(r.body["access_token"], t.access.as_str());
    // A subset of the scopes; no id_token without openid.
    let r = org
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", "okta.users.read"),
        ])
        .await;
    assert_eq!(r.body["scope"], "okta.users.read");
    assert!(r.body.get("id_token").is_none());
    let narrow = r.body["access_token"].as_str().unwrap();
    assert_eq!(
        org.get("/api/v1/groups", narrow).await.status,
        StatusCode::FORBIDDEN
    );
    // More than was granted: invalid_scope.
    let r = org
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", "okta.users.manage"),
        ])
        .await;
    r.assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_scope");
    org.stop().await;
}

#[tokio::test]
async fn refresh_with_rotation_hands_out_new_tokens_and_the_old_one_dies_after_the_grace() {
    let org = start(SimConfig::with_client(OAuthClient {
        refresh_rotation: true,
        rotation_grace_s: 0,
        ..test_client()
    }))
    .await;
    let t = org.login(ALL_SCOPES).await;
    let first = t.refresh.unwrap();
    let r = org
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &first)])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let second = r.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    // With a grace period of 0 the rotated token stops working as soon as any time has
    // passed since the rotation.
    let old = eventually("the rotated token to stop working", || {
        let org = &org;
        let first = first.clone();
        async move {
            let a = org
                .token(&[("grant_type", "refresh_token"), ("refresh_token", &first)])
                .await;
            (a.status == StatusCode::BAD_REQUEST).then_some(a)
        }
    })
    .await;
    assert_eq!(old.oauth_error(), "invalid_grant");
    let r = org
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &second)])
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // With a grace period, the old token still works right after rotation.
    org.admin(
        Method::PATCH,
        &format!("/_sim/oauth/clients/{CLIENT_ID}"),
        Some(json!({"rotation_grace_s": 60})),
    )
    .await;
    let third = r.body["refresh_token"].as_str().unwrap().to_owned();
    let r = org
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &third)])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let again = org
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &third)])
        .await;
    assert_eq!(again.status, StatusCode::OK);
    org.stop().await;
}

#[tokio::test]
async fn revoked_and_expired_tokens() {
    let org = start(config()).await;
    let t = org.login(ALL_SCOPES).await;
    let refresh = t.refresh.clone().unwrap();
    // Revoke over the real endpoint: 200, empty body; then invalid_grant.
    let a = org
        .send(
            org.http
                .post(org.url("/oauth2/v1/revoke"))
                .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
                .form(&[
                    ("token", refresh.as_str()),
                    ("token_type_hint", "refresh_token"),
                ]),
        )
        .await;
    assert_eq!((a.status, a.body.clone()), (StatusCode::OK, Value::Null));
    let r = org
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    r.assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // Unknown tokens revoke fine.
    let a = org
        .send(
            org.http
                .post(org.url("/oauth2/v1/revoke"))
                .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
                .form(&[("token", "never-issued")]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);

    // An expired access token: 401 invalid_token with E0000011.
    let t = org.login(ALL_SCOPES).await;
    assert_eq!(
        org.get("/api/v1/users", &t.access).await.status,
        StatusCode::OK
    );
    let n = org
        .admin(
            Method::POST,
            "/_sim/oauth/expire",
            Some(json!({"kind": "access"})),
        )
        .await;
    assert!(n.body["changed"].as_u64().unwrap() >= 1);
    let a = org.get("/api/v1/users", &t.access).await;
    a.assert_error(StatusCode::UNAUTHORIZED, "E0000011");
    let www = a.header("www-authenticate").unwrap();
    assert!(
        www.contains("error=\"invalid_token\"") && www.contains("expired"),
        "{www}"
    );
    // The refresh token still gives a working access token.
    let r = org
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", t.refresh.as_deref().unwrap()),
        ])
        .await;
    let fresh = r.body["access_token"].as_str().unwrap();
    assert_eq!(org.get("/api/v1/users", fresh).await.status, StatusCode::OK);
    // An expired refresh token.
    org.sim().expire_tokens(TokenKind::Refresh, None);
    let r = org
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", t.refresh.as_deref().unwrap()),
        ])
        .await;
    assert_eq!(r.oauth_error(), "invalid_grant");
    // Unknown and missing bearer tokens.
    assert_eq!(
        org.get("/api/v1/users", "garbage").await.status,
        StatusCode::UNAUTHORIZED
    );
    let a = org.send(org.http.get(org.url("/api/v1/users"))).await;
    a.assert_error(StatusCode::UNAUTHORIZED, "E0000011");
    org.stop().await;
}

#[tokio::test]
async fn the_token_endpoint_has_its_own_rate_limit() {
    let org = start(SimConfig {
        rate_limits: okta_sim::RateLimits {
            token: 2,
            ..okta_sim::RateLimits::default()
        },
        ..config()
    })
    .await;
    let t = org.login(ALL_SCOPES).await; // one token call
    let refresh = t.refresh.unwrap();
    let ok = org
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.header("x-rate-limit-remaining"), Some("0"));
    let limited = org
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "E0000047");
    // Other families are not affected.
    assert_eq!(
        org.get("/api/v1/users", &t.access).await.status,
        StatusCode::OK
    );
    org.stop().await;
}
