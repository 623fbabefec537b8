//! "Sign in with Okta" over HTTP, against okta-sim: a member of the admin group gets an
//! `admin` session that can do everything an admin token can in the console — including
//! authorizing the Okta connection again, whose callback arrives without any session — each
//! change audited under `okta:<login>`; a member of the read-only group gets a `read`
//! session refused every change; anyone else is refused with words to act on.

use okta_sim::SimConfig as OktaConfig;
use reqwest::Method;
use serde_json::{json, Value};

use crate::console_support::{audited, console_org, okta_person, through_okta, token, Browser};
use crate::harness::{send, TestApp};
use crate::mapping_support::{existing, roles_sim_with};
use crate::okta_support::{client_for, connect, register, settings, start_sim as start_okta};
use crate::sim_support::{bridge, SIM_TOKEN};

/// ZenQMS with the demo roles, okta-sim with the console's org connected, and the console's
/// sign-in groups named (by the admin token's session).
async fn setup() -> (zenqms_sim::RunningSim, okta_sim::RunningSim, TestApp) {
    let zenqms = roles_sim_with(vec![existing("a", &[]), existing("e", &[])]).await;
    let okta = start_okta(OktaConfig {
        seed: Some(console_org()),
        ..OktaConfig::default()
    })
    .await;
    let app = bridge(&zenqms, &[("SYNC_DRIFT_SWEEP_SECS", "0")]).await;
    register(&okta, client_for(&app));
    connect(&app, &okta).await;
    // The console's sign-in groups, over the REST API (the Connections page sets the same).
    let (s, body) = send(
        app.admin(Method::PUT, "/settings/console/okta-groups")
            .json(&json!({"admin_group": "Bridge Admins", "read_group": " 00greaders "})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body,
        json!({"admin_group": "Bridge Admins", "read_group": "00greaders"})
    );
    (zenqms, okta, app)
}

const BOSS: &str = "okta:boss@example.com";

fn actors(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["actor"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn an_okta_admin_can_do_what_an_admin_token_can() {
    let (zenqms, okta, app) = setup().await;
    let mut b = Browser::new(&app);
    let signin = b.get("/console/signin").await;
    assert!(signin.body.contains("Sign in with Okta"), "{}", signin.body);

    okta_person(&okta, "boss");
    let page = b.sign_in_with_okta().await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("okta:boss@example.com") && page.body.contains("admin access"),
        "{}",
        page.body
    );
    let dash = b.get("/console/dashboard").await;
    assert_eq!(dash.status, 200, "{}", dash.body);
    assert!(dash.body.contains(BOSS), "the page names who is signed in");

    // Authorize the Okta connection again: the round trip through Okta comes back to the
    // callback without the session (another site's redirect), bound to the person by state.
    let go = b
        .submit(
            "/console/setup/connections",
            "/console/setup/okta/authorize",
            &[],
        )
        .await;
    let callback = through_okta(&go).await;
    let res = reqwest::get(format!("{}{callback}", app.base))
        .await
        .expect("callback answered");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Okta is connected"), "{text}");
    let view = settings(&app).await;
    assert_eq!(view["state"], "connected", "{view}");
    // Okta's own name for who approved; the trail below has the console's.
    assert_eq!(view["authorized_by"], "boss@example.com", "{view}");

    // The rest of the console's changes.
    let form = [
        ("base_url", zenqms.base_url.as_str()),
        ("api_token", SIM_TOKEN),
    ];
    let res = b
        .submit("/console/setup/connections", "/console/setup/zenqms", &form)
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location(), "/console/setup/connections?ok=zenqms");
    let res = b
        .submit(
            "/console/setup/connections",
            "/console/setup/okta/signin",
            &[
                ("admin_group", "Bridge Admins"),
                ("read_group", "Bridge Readers"),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    for action in ["pause", "resume", "sweep", "retry"] {
        let res = b
            .submit(
                "/console/dashboard",
                &format!("/console/sync/{action}"),
                &[],
            )
            .await;
        assert_eq!(res.status, 303, "{action}: {}", res.body);
    }
    let res = b
        .submit(
            "/console/setup/sync",
            "/console/setup/sync/start",
            &[("action", "preview")],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert!(res.location().starts_with("/console/initial-sync/"));
    let res = b
        .submit(
            "/console/mappings",
            "/console/mappings",
            &[("group", "QA"), ("role", "7")],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let res = b
        .submit(
            "/console/tokens",
            "/console/tokens",
            &[("name", "made-by-okta-admin"), ("scope", "read")],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(res.body.contains("made-by-okta-admin"));
    let res = b
        .submit(
            "/console/tokens",
            "/console/tokens/made-by-okta-admin/revoke",
            &[],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);

    // Every change is the person's in the trail.
    for action in [
        "okta.authorize.start",
        "okta.authorize.complete",
        "sync.pause",
        "sync.resume",
        "mapping.create",
        "token.create",
        "token.revoke",
    ] {
        let entries = audited(&app, action).await;
        assert!(
            actors(&entries).iter().any(|a| a == BOSS),
            "{action}: {entries:?}"
        );
    }
    let (s, all) = send(app.admin(
        Method::GET,
        "/audit?actor=okta%3Aboss%40example.com&limit=1000",
    ))
    .await;
    assert_eq!(s, 200, "{all}");
    assert!(
        all["entries"].as_array().map(Vec::len).unwrap_or(0) >= 8,
        "{all}"
    );
    app.stop().await;
}

#[tokio::test]
async fn okta_read_members_look_and_strangers_are_refused() {
    let (_zenqms, okta, app) = setup().await;
    okta_person(&okta, "viewer");
    let mut b = Browser::new(&app);
    let page = b.sign_in_with_okta().await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("read-only access"), "{}", page.body);
    let conn = b.get("/console/setup/connections").await;
    assert_eq!(conn.status, 200);
    assert!(conn.body.contains("disabled"), "the buttons are disabled");
    let res = b
        .submit("/console/dashboard", "/console/sync/pause", &[])
        .await;
    assert_eq!(res.status, 403, "{}", res.body);
    let res = b
        .submit(
            "/console/setup/connections",
            "/console/setup/okta/authorize",
            &[],
        )
        .await;
    assert_eq!(res.status, 403, "{}", res.body);

    okta_person(&okta, "stranger");
    let mut s = Browser::new(&app);
    let res = s.sign_in_with_okta().await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert!(
        res.location().starts_with("/console/signin?"),
        "{}",
        res.location()
    );
    assert!(s.cookie("zqb_session").is_none(), "no session");
    let page = s.get(res.location()).await;
    assert!(
        page.body.contains("not a member of the console"),
        "the page says why: {}",
        page.body
    );
    let failed = audited(&app, "console.signin.okta").await;
    assert!(
        actors(&failed)
            .iter()
            .any(|a| a == "okta:stranger@example.com"),
        "{failed:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_sign_in_groups_over_the_rest_api() {
    let app = TestApp::start().await;
    let read = token(&app, "looker", "read").await;
    let get = |t: &str| {
        app.raw(Method::GET, "/api/v1/settings/console/okta-groups")
            .bearer_auth(t.to_string())
    };
    let (s, body) = send(get(&read)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body, json!({"admin_group": null, "read_group": null}));
    let put = |b: Value| {
        app.admin(Method::PUT, "/settings/console/okta-groups")
            .json(&b)
    };
    let (s, body) = send(put(json!({"admin_group": "Admins"}))).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = send(get(&read)).await;
    assert_eq!(s, 200);
    assert_eq!(body["admin_group"], "Admins");
    let entries = audited(&app, "settings.console.okta_groups").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor"], "test-admin");
    // Refusals say what to fix.
    let (s, body) = send(put(json!({"admin_group": "x".repeat(256)}))).await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap_or("").contains("255"),
        "{body}"
    );
    let (s, body) = send(put(json!({"admins": "A"}))).await;
    assert_eq!(s, 400, "{body}");
    let (s, _) = send(
        app.raw(Method::PUT, "/api/v1/settings/console/okta-groups")
            .bearer_auth(read)
            .json(&json!({"admin_group": "Mine"})),
    )
    .await;
    assert_eq!(s, 403);
    app.stop().await;
}
