//! The whole first run in a real browser (headless Chromium over WebDriver), against
//! okta-sim and zenqms-sim: an empty bridge → sign-in with the admin token → page 1 (Okta
//! settings, the authorize round trip through okta-sim, a ZenQMS token refused in words then
//! the right one tested and saved, the console's Okta groups) → page 2 → a Standard initial
//! sync that finishes → a mapping saved in the form → the mapped role present in zenqms-sim.
//! Then "Sign in with Okta" as a member of the admin group (who authorizes the connection
//! again), and refusal of someone in neither group. Every page visited is checked with
//! axe-core (no serious or critical violation), then again at a phone's width (390 px, no
//! sideways scroll), with one browser session throughout.
//!
//! `console_screenshots` (ignored) walks the same way and saves the pictures of
//! `docs/screenshots/`: `cargo test --test it console_screenshots -- --ignored` (or
//! `scripts/screenshots.sh`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::key::Key;
use okta_sim::SimConfig as OktaConfig;
use serde_json::json;

use crate::browser_support::Browser;
use crate::console_support::{console_org, okta_person};
use crate::harness::{eventually, TestApp};
use crate::mapping_support::{existing, roles_sim_with};
use crate::okta_support::{
    client_for, register, start_sim as start_okta, CLIENT_ID, CLIENT_SECRET,
};
use crate::scim_support::{enc, get};
use crate::sim_support::{patch_user, SIM_TOKEN};

const T: Duration = Duration::from_secs(30);

/// Document Approver, in the demo roles.
const ROLE: u64 = 7;

#[tokio::test]
async fn the_wizard_from_an_empty_bridge_to_a_mapped_role_and_okta_sign_in() {
    walk("wizard", None).await;
}

#[tokio::test]
#[ignore = "writes docs/screenshots/: cargo test --test it console_screenshots -- --ignored"]
async fn console_screenshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    walk("screenshots", Some(dir)).await;
}

/// The directory id of the user `user_name` (SCIM).
async fn scim_id(app: &TestApp, user_name: &str) -> String {
    let filter = enc(&format!("userName eq \"{user_name}\""));
    let (s, list) = get(app, &format!("/Users?filter={filter}")).await;
    assert_eq!(s, 200, "{list}");
    list["Resources"][0]["id"]
        .as_str()
        .expect("the user is in the directory")
        .to_string()
}

/// Saves `name.png` when taking pictures.
async fn shot(b: &Browser, dir: &Option<PathBuf>, name: &str) {
    if let Some(d) = dir {
        b.save_screenshot(&d.join(format!("{name}.png"))).await;
    }
}

async fn walk(name: &str, shots: Option<PathBuf>) {
    let zenqms = roles_sim_with(vec![existing("a", &[]), existing("e", &[])]).await;
    let okta = start_okta(OktaConfig {
        seed: Some(console_org()),
        ..OktaConfig::default()
    })
    .await;
    // Nothing configured: no ZenQMS settings, no Okta.
    let app = TestApp::start_with(&[
        ("SYNC_DRIFT_SWEEP_SECS", "0"),
        ("ZENQMS_MAX_RPS", "1000"),
        ("SYNC_BACKOFF_CAP_SECS", "1"),
    ])
    .await;
    register(&okta, client_for(&app));
    let base = app.base.clone();
    let url = |p: &str| format!("{base}{p}");
    let b = Browser::start(name).await;
    b.run(async {
        // Sign-in, by keyboard: the token typed, Enter sends the form.
        b.goto(&url("/console")).await;
        assert!(
            b.path().await.starts_with("/console/signin"),
            "{}",
            b.path().await
        );
        b.assert_accessible().await;
        shot(&b, &shots, "signin").await;
        b.fill("#token", &app.admin_token).await;
        b.press(Key::Enter).await;
        // An unconfigured bridge opens on the wizard's first page.
        b.wait_path("/console/setup/connections", T).await;
        b.assert_accessible().await;
        // The first Tab reaches "Skip to content"; every input has a label (axe checks).
        b.client
            .execute(
                "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);",
                vec![],
            )
            .await
            .expect("blurred");
        b.press(Key::Tab).await;
        let focused = b.focused().await;
        assert!(focused.contains("Skip to content"), "first Tab: {focused}");

        // Page 1, Okta: the settings, then the authorize round trip through okta-sim.
        b.fill("#org_url", &format!("http://{}/", okta.addr)).await;
        b.fill("#client_id", CLIENT_ID).await;
        b.fill("#client_secret", CLIENT_SECRET).await;
        b.click("form[action='/console/setup/okta'] button[type=submit]")
            .await;
        b.wait_path("/console/setup/connections?ok=okta", T).await;
        assert!(b.text("#okta-state").await.contains("authorize"));
        b.click("form[action='/console/setup/okta/authorize'] button[type=submit]")
            .await;
        b.wait_for_text("Okta is connected", T).await;
        b.goto(&url("/console/setup/connections")).await;
        assert_eq!(b.text("#okta-state").await, "connected");

        // ZenQMS: a wrong token is refused in words a person can act on; the right one saved.
        b.fill("#base_url", &zenqms.base_url).await;
        b.fill("#api_token", "not-the-token").await;
        b.click("form[action='/console/setup/zenqms'] button[type=submit]")
            .await;
        b.wait_for_text("refused the API token", T).await;
        assert!(b.text(".notice.error").await.contains("API Settings"));
        b.assert_accessible().await;
        b.fill("#base_url", &zenqms.base_url).await;
        b.fill("#api_token", SIM_TOKEN).await;
        b.click("form[action='/console/setup/zenqms'] button[type=submit]")
            .await;
        b.wait_path("/console/setup/connections?ok=zenqms", T).await;
        assert_eq!(b.text("#zenqms-state").await, "connected");

        // The console's Okta groups.
        b.fill("#admin_group", "Bridge Admins").await;
        b.fill("#read_group", "Bridge Readers").await;
        b.click("form[action='/console/setup/okta/signin'] button[type=submit]")
            .await;
        b.wait_path("/console/setup/connections?ok=groups", T).await;
        b.assert_accessible().await;
        shot(&b, &shots, "connections").await;

        // Page 2: the switch stays off (Standard); start, and watch it finish.
        b.click("a[href='/console/setup/sync'].button").await;
        b.wait_path("/console/setup/sync", T).await;
        b.assert_accessible().await;
        assert!(b.body().await.contains("Off — Standard"));
        assert_eq!(
            b.attr("#full", "checked").await,
            None,
            "Standard by default"
        );
        shot(&b, &shots, "sync_settings").await;
        b.click("button[name=action][value=start]").await;
        eventually(T, || async {
            b.path().await.starts_with("/console/initial-sync/")
        })
        .await;
        b.wait_for_text("id=\"run-state\">done<", T).await;
        assert_eq!(
            b.text("#outcome-link").await,
            "2",
            "a and e are linked by email"
        );
        b.assert_accessible().await;
        shot(&b, &shots, "initial_sync_run").await;

        // The mapping form: QA → Document Approver.
        b.goto(&url("/console/mappings")).await;
        b.fill("#group", "QA").await;
        b.click(&format!("input[name=role][value='{ROLE}']")).await;
        b.click("#mapping-form button[type=submit]:not([formaction])")
            .await;
        b.wait_path("/console/mappings?ok=saved", T).await;
        let table = b.text("section[aria-labelledby=list-h] table").await;
        assert!(
            table.contains("QA") && table.contains("Document Approver"),
            "{table}"
        );
        b.assert_accessible().await;
        shot(&b, &shots, "mappings").await;
        // A Standard run leaves the users it linked alone until Okta changes them
        // (docs/initial-sync.md, "the hold"): Okta pushes a change to `a` over SCIM, and
        // from then on the full rules apply to `a` — the mapped role lands in ZenQMS.
        let a_id = scim_id(&app, "a@example.com").await;
        patch_user(
            &app,
            &a_id,
            json!([{"op": "replace", "value": {"title": "QA Lead"}}]),
        )
        .await;
        eventually(T, || async {
            zenqms.sim.state().users.iter().any(|u| {
                u.email == "a@example.com"
                    && u.title == "QA Lead"
                    && u.role_ids.contains(&zenqms_sim::Id::Num(ROLE))
            })
        })
        .await;

        // Day two's pages.
        b.goto(&url("/console/dashboard")).await;
        b.assert_accessible().await;
        shot(&b, &shots, "dashboard").await;
        b.goto(&url("/console/users")).await;
        b.assert_accessible().await;
        shot(&b, &shots, "users").await;
        b.fill("#q", "a@example").await;
        b.press(Key::Enter).await;
        eventually(T, || async { b.path().await.contains("q=a%40example") }).await;
        b.click("table a[href^='/console/users/']").await;
        b.wait_for_text("Document Approver", T).await;
        b.assert_accessible().await;
        shot(&b, &shots, "user").await;
        b.goto(&url("/console/audit")).await;
        b.assert_accessible().await;
        shot(&b, &shots, "audit").await;
        b.goto(&url("/console/tokens")).await;
        b.assert_accessible().await;
        shot(&b, &shots, "tokens").await;

        // The same pages at a phone's width: nothing scrolls sideways.
        b.resize(390, 844).await;
        for page in [
            "/console/dashboard",
            "/console/setup/connections",
            "/console/setup/sync",
            "/console/mappings",
            "/console/users",
            "/console/audit",
            "/console/tokens",
        ] {
            b.goto(&url(page)).await;
            b.assert_readable().await;
        }
        b.goto(&url("/console/dashboard")).await;
        shot(&b, &shots, "dashboard_phone").await;
        b.resize(1280, 900).await;

        // Sign out; sign in with Okta as a member of the admin group.
        b.sign_out().await;
        okta_person(&okta, "boss");
        b.click("a[href='/console/okta/signin']").await;
        b.wait_path("/console/dashboard", T).await;
        let header = b.text("header.top").await;
        assert!(
            header.contains("okta:boss@example.com") && header.contains("admin"),
            "{header}"
        );
        // …who may authorize the connection again.
        b.goto(&url("/console/setup/connections")).await;
        b.click("form[action='/console/setup/okta/authorize'] button[type=submit]")
            .await;
        b.wait_for_text("Okta is connected", T).await;

        // Someone in neither group is refused, and told why.
        b.goto(&url("/console/dashboard")).await;
        b.sign_out().await;
        okta_person(&okta, "stranger");
        b.click("a[href='/console/okta/signin']").await;
        b.wait_for_text("not a member of the console", T).await;
        assert!(b.path().await.starts_with("/console/signin"));
        b.assert_accessible().await;
        b.goto(&url("/console/dashboard")).await;
        assert!(b.path().await.starts_with("/console/signin"), "no session");
    })
    .await;
    app.stop().await;
}
