//! The console's sessions over HTTP: sign-in with each kind of token, the cookie's
//! attributes, sign-out that ends the session on the server, idle and absolute expiry, a
//! revoked token, CSRF refusal, a `read` session refused every change, and the security
//! headers of every page.

use diesel::prelude::*;
use reqwest::Method;
use zenqms_bridge::store::schema::console_sessions;

use crate::console_support::{admin_browser, audited, token, Browser};
use crate::harness::{send, TestApp};

#[tokio::test]
async fn admin_token_signs_in_and_sign_out_ends_the_session_on_the_server() {
    let app = TestApp::start().await;
    let mut b = Browser::new(&app);
    // Not signed in: every page leads to sign-in, and comes back after it.
    let first = b.get("/console/dashboard").await;
    assert_eq!(first.status, 303);
    assert_eq!(
        first.location(),
        "/console/signin?next=%2Fconsole%2Fdashboard"
    );
    let res = b.sign_in(&app.admin_token).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location(), "/console/dashboard");
    let cookie = res.set_cookie("zqb_session").expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    // http://: not Secure (a browser would drop a Secure cookie over plain HTTP).
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(
        !cookie.contains(&app.admin_token),
        "the token is not the cookie"
    );

    let page = b.get("/console/dashboard").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("test-admin"),
        "who is signed in is shown"
    );
    let h = &page.headers;
    let csp = h["content-security-policy"].to_str().expect("csp");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-store");

    let stolen = b.cookie("zqb_session").expect("kept");
    let csrf = page.input("csrf").expect("csrf");
    let out = b.post("/console/signout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), "/console/signin?reason=signed_out");
    // The old cookie, replayed, opens nothing: the session ended on the server.
    let mut thief = Browser::new(&app);
    thief.cookies.push(("zqb_session".into(), stolen));
    let again = thief.get("/console/dashboard").await;
    assert_eq!(again.status, 303);
    assert!(
        again
            .location()
            .starts_with("/console/signin?reason=signed_out"),
        "{}",
        again.location()
    );

    let ins = audited(&app, "console.signin").await;
    assert_eq!(ins.len(), 1, "{ins:?}");
    assert_eq!(ins[0]["actor"], "test-admin");
    assert_eq!(ins[0]["detail"]["via"], "token");
    let outs = audited(&app, "console.signout").await;
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0]["actor"], "test-admin");
    app.stop().await;
}

#[tokio::test]
async fn a_read_session_sees_everything_and_changes_nothing() {
    let app = TestApp::start().await;
    let read = token(&app, "auditor", "read").await;
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in(&read).await.status, 303);
    let page = b.get("/console/dashboard").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("read-only"), "the page says so");
    assert!(
        !page.body.contains("action=\"/console/sync/pause\""),
        "no pause button"
    );
    let csrf = page.input("csrf").expect("csrf (sign-out form)");
    for action in [
        "/console/sync/pause",
        "/console/sync/retry",
        "/console/sync/sweep",
        "/console/setup/zenqms",
        "/console/setup/okta",
    ] {
        let res = b
            .post(
                action,
                &[
                    ("csrf", &csrf),
                    ("base_url", "http://x"),
                    ("api_token", "t"),
                ],
            )
            .await;
        assert_eq!(res.status, 403, "{action}: {}", res.body);
        assert!(
            res.body.contains("read-only access"),
            "{action}: {}",
            res.body
        );
    }
    let (_, status) = send(app.admin(Method::GET, "/sync/status")).await;
    assert_eq!(status["paused"], false);
    assert!(audited(&app, "sync.pause").await.is_empty());
    // The read session may still sign out.
    assert_eq!(
        b.post("/console/signout", &[("csrf", &csrf)]).await.status,
        303
    );
    app.stop().await;
}

#[tokio::test]
async fn a_form_without_the_session_csrf_token_is_refused() {
    let app = TestApp::start().await;
    let mut b = admin_browser(&app).await;
    for csrf in [None, Some(""), Some("forged")] {
        let form: Vec<(&str, &str)> = csrf.map(|c| vec![("csrf", c)]).unwrap_or_default();
        let res = b.post("/console/sync/pause", &form).await;
        assert_eq!(res.status, 403, "{csrf:?}");
        assert!(res.body.contains("security token"), "{}", res.body);
    }
    // Another session's token is not this one's.
    let mut other = admin_browser(&app).await;
    let theirs = other
        .get("/console/dashboard")
        .await
        .input("csrf")
        .expect("csrf");
    assert_eq!(
        b.post("/console/sync/pause", &[("csrf", &theirs)])
            .await
            .status,
        403
    );
    let (_, status) = send(app.admin(Method::GET, "/sync/status")).await;
    assert_eq!(status["paused"], false, "nothing was paused");
    // With it, the same form works and is audited under the person's name.
    let res = b
        .submit("/console/dashboard", "/console/sync/pause", &[])
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let (_, status) = send(app.admin(Method::GET, "/sync/status")).await;
    assert_eq!(status["paused"], true);
    let paused = audited(&app, "sync.pause").await;
    assert_eq!(paused.len(), 1);
    assert_eq!(paused[0]["actor"], "test-admin");
    // Sign-in has no session yet: its form must match the cookie its page set.
    let mut fresh = Browser::new(&app);
    let res = fresh
        .post(
            "/console/signin",
            &[("signin", "guess"), ("token", &app.admin_token)],
        )
        .await;
    assert_eq!(res.status, 403);
    assert!(res.set_cookie("zqb_session").is_none());
    app.stop().await;
}

#[tokio::test]
async fn sessions_expire_when_idle_and_at_their_absolute_limit() {
    let app = TestApp::start_with(&[
        ("CONSOLE_SESSION_IDLE_SECS", "600"),
        ("CONSOLE_SESSION_MAX_SECS", "3600"),
    ])
    .await;
    let age = |column: &str, secs: i64| {
        let mut conn = app.state.pool.get().expect("conn");
        let then = chrono::Utc::now().naive_utc() - chrono::TimeDelta::seconds(secs);
        let q = diesel::update(console_sessions::table);
        match column {
            "idle" => q
                .set(console_sessions::last_seen_at.eq(then))
                .execute(&mut *conn),
            _ => q
                .set(console_sessions::created_at.eq(then))
                .execute(&mut *conn),
        }
        .expect("aged");
    };
    let mut b = admin_browser(&app).await;
    assert_eq!(b.get("/console/dashboard").await.status, 200);
    age("idle", 601);
    let res = b.get("/console/dashboard").await;
    assert_eq!(res.status, 303);
    assert!(
        res.location().starts_with("/console/signin?reason=idle"),
        "{}",
        res.location()
    );
    let signin = b.get(res.location()).await;
    assert!(
        signin.body.contains("without activity"),
        "the page says why"
    );

    let mut b = admin_browser(&app).await;
    age("max", 3601);
    let res = b.get("/console/dashboard").await;
    assert_eq!(res.status, 303);
    assert!(
        res.location().starts_with("/console/signin?reason=expired"),
        "{}",
        res.location()
    );
    app.stop().await;
}

#[tokio::test]
async fn tokens_that_cannot_sign_in_are_told_why_and_revoking_a_token_ends_its_sessions() {
    let app = TestApp::start().await;
    let mut b = Browser::new(&app);
    let res = b.sign_in(&app.scim_token).await;
    assert_eq!(res.status, 401);
    assert!(res.body.contains("SCIM token"), "{}", res.body);
    let res = b.sign_in("not-a-token").await;
    assert_eq!(res.status, 401);
    assert!(res.body.contains("zqb_"), "{}", res.body);
    let res = b.sign_in(&format!("zqb_{}", "A".repeat(43))).await;
    assert_eq!(res.status, 401);
    assert!(res.body.contains("unknown or was revoked"), "{}", res.body);

    let ops = token(&app, "ops", "admin").await;
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in(&ops).await.status, 303);
    assert_eq!(b.get("/console/dashboard").await.status, 200);
    let (s, _) = send(app.admin(Method::DELETE, "/tokens/ops")).await;
    assert_eq!(s, 204);
    let res = b.get("/console/dashboard").await;
    assert_eq!(res.status, 303, "the session died with its token");
    app.stop().await;
}

#[tokio::test]
async fn under_https_the_cookie_is_secure_and_host_only() {
    let app = TestApp::start_with(&[("PUBLIC_URL", "https://bridge.example.com")]).await;
    let mut b = Browser::new(&app);
    let res = b.sign_in(&app.admin_token).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let cookie = res
        .set_cookie("__Host-zqb_session")
        .expect("a __Host- cookie");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(
        cookie.contains("Path=/") && !cookie.contains("Domain"),
        "{cookie}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unconfigured_bridge_opens_on_the_wizard() {
    let app = TestApp::start().await;
    let mut b = admin_browser(&app).await;
    let home = b.get("/").await;
    assert_eq!(home.status, 303);
    assert_eq!(home.location(), "/console");
    let res = b.get("/console").await;
    assert_eq!(res.status, 303);
    assert_eq!(res.location(), "/console/setup/connections");
    let page = b.get("/console/setup/connections").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&format!("{}/scim/v2", app.base)),
        "the SCIM base URL"
    );
    assert!(
        page.body.contains("/oauth/okta/callback"),
        "the redirect URI"
    );
    assert!(page.body.contains("okta.users.read"), "the scopes to grant");
    // A failed ZenQMS test says what to do, and saves nothing.
    let res = b
        .submit(
            "/console/setup/connections",
            "/console/setup/zenqms",
            &[("base_url", "http://127.0.0.1:9"), ("api_token", "t")],
        )
        .await;
    assert!(res.status >= 400, "{}", res.status);
    assert!(res.body.contains("nothing was saved"), "{}", res.body);
    app.stop().await;
}

#[tokio::test]
async fn expired_and_ended_sessions_are_purged() {
    let app = TestApp::start_with(&[
        ("CONSOLE_SESSION_IDLE_SECS", "600"),
        ("CONSOLE_SESSION_MAX_SECS", "3600"),
        ("CONSOLE_SESSION_PURGE_SECS", "1"),
    ])
    .await;
    let rows = || -> i64 {
        let mut conn = app.state.pool.get().expect("conn");
        console_sessions::table
            .count()
            .get_result(&mut *conn)
            .expect("counted")
    };
    let mut idle = admin_browser(&app).await;
    let mut live = admin_browser(&app).await;
    let mut gone = admin_browser(&app).await;
    assert_eq!(idle.get("/console/dashboard").await.status, 200);
    assert_eq!(rows(), 3);
    // One goes idle, one signs out; the third stays in use.
    {
        let mut conn = app.state.pool.get().expect("conn");
        let idle_hash =
            zenqms_bridge::auth::sessions::hash(&idle.cookie("zqb_session").expect("idle cookie"));
        let then = chrono::Utc::now().naive_utc() - chrono::TimeDelta::seconds(601);
        diesel::update(console_sessions::table.filter(console_sessions::id_hash.eq(idle_hash)))
            .set(console_sessions::last_seen_at.eq(then))
            .execute(&mut *conn)
            .expect("aged");
    }
    let out = gone
        .submit("/console/dashboard", "/console/signout", &[])
        .await;
    assert_eq!(out.status, 303, "{}", out.body);
    // The purge runs every second: both rows go, the live one stays.
    crate::harness::eventually(std::time::Duration::from_secs(15), || async { rows() == 1 }).await;
    let res = idle.get("/console/dashboard").await;
    assert_eq!(res.status, 303, "an expired session no longer opens a page");
    assert!(
        res.location().starts_with("/console/signin"),
        "{}",
        res.location()
    );
    assert_eq!(gone.get("/console/dashboard").await.status, 303);
    assert_eq!(live.get("/console/dashboard").await.status, 200);
    assert_eq!(rows(), 1);
    app.stop().await;
}
