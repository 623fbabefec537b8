//! `serve --demo` with its embedded Okta org: the printed walkthrough, pasted into a shell,
//! authorizes Okta (the simulator's `/authorize` redirect followed like a browser), runs a
//! Full initial sync that creates the Okta users in the embedded ZenQMS, reports the user it
//! refused, adds a mapping whose role reaches ZenQMS, and a change made in okta-sim reaches
//! ZenQMS. The demo always runs on its own SQLite file, whatever `TEST_DATABASE_URL` says.

use std::time::Duration;

use serde_json::Value;

use crate::demo_support::{curl_missing, sh, Demo};
use crate::harness::eventually;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The ZenQMS simulator's user with this email.
fn zenqms_user(sim_state: &Value, email: &str) -> Option<Value> {
    sim_state["users"]
        .as_array()?
        .iter()
        .find(|u| u["email"] == email)
        .cloned()
}

/// Starts a run with a printed `curl` line; waits for it to be done.
async fn run_to_end(public: &str, admin: &str, line: &str) -> (String, Value) {
    let started = json(&sh(line));
    let id = started["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{started}"))
        .to_string();
    let get =
        format!("curl -s {public}/api/v1/initial-sync/{id} -H 'Authorization: Bearer {admin}'");
    eventually(Duration::from_secs(60), || async {
        json(&sh(&get))["state"] == "done"
    })
    .await;
    let end = json(&sh(&get));
    (id, end)
}

#[tokio::test]
async fn the_demo_walkthrough_connects_okta_and_provisions_zenqms_from_it() {
    if curl_missing("the demo's Okta walkthrough test") {
        return;
    }
    let demo = Demo::start().await;
    let (port, lines) = (demo.port, &demo.lines);
    let field = |label: &str| demo.field(label);
    let public = format!("http://127.0.0.1:{port}");
    assert_eq!(field("console:"), format!("{public}/"));
    let okta_url = field("Okta simulator:");
    let zenqms_url = field("ZenQMS simulator:");
    // The indented curl lines of the Okta walkthrough, in the order printed.
    let steps: Vec<String> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| l.starts_with("curl ") && !l.contains("/scim/v2/Users"))
        .map(str::to_string)
        .collect();
    let step = |needle: &str| {
        steps
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no step with `{needle}` in {steps:#?}"))
            .clone()
    };
    let zenqms_state = || json(&sh(&format!("curl -s {zenqms_url}/_sim/state")));

    // 1. Okta: the settings are saved; the authorize URL, opened like a browser would (curl
    // follows the simulator's redirect to the bridge's callback), connects the org.
    let authorize = json(&sh(&step("/api/v1/okta/authorize")));
    let url = authorize["authorize_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{authorize}"));
    assert!(
        url.starts_with(&format!("{okta_url}/oauth2/v1/authorize?")),
        "{url}"
    );
    let page = sh(&format!("curl -s -L '{url}'"));
    assert!(page.contains("Okta is connected"), "{page}");
    let admin = field("admin token:");
    let okta_view = json(&sh(&format!(
        "curl -s {public}/api/v1/settings/okta -H 'Authorization: Bearer {admin}'"
    )));
    assert_eq!(okta_view["state"], "connected", "{okta_view}");
    assert_eq!(
        okta_view["authorized_by"], "admin@example.com",
        "{okta_view}"
    );

    // 3. A Standard dry run, then Full: every titled Okta user in ZenQMS, linked.
    let (_, dry) = run_to_end(&public, &admin, &step("\"dry_run\":true")).await;
    assert_eq!(dry["source"], "okta", "{dry}");
    assert_eq!(dry["counts"]["link"], 2, "grace and alan: {dry}");
    let before = zenqms_state();
    assert!(zenqms_user(&before, "katherine.johnson@example.com").is_none());

    let (full_id, full) = run_to_end(&public, &admin, &step("\"mode\":\"full\"")).await;
    assert_eq!(full["source"], "okta", "{full}");
    let state = zenqms_state();
    for (email, okta_id) in [
        ("ada@example.com", Some("00u1ada")),
        ("katherine.johnson@example.com", None),
        ("margaret.hamilton@example.com", None),
        ("grace.hopper@example.com", None),
    ] {
        let u = zenqms_user(&state, email).unwrap_or_else(|| panic!("{email} in {state}"));
        let ext = u["external_id"].as_str().unwrap_or_default();
        assert!(ext.starts_with("00u"), "{email} linked: {u}");
        if let Some(id) = okta_id {
            assert_eq!(ext, id);
        }
    }
    // The user without a title is refused, and the report says why.
    assert!(zenqms_user(&state, "radia.perlman@example.com").is_none());
    let items = json(&sh(&step("/items").replace("<id>", &full_id)));
    let radia = items["items"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["email"] == "radia.perlman@example.com"))
        .unwrap_or_else(|| panic!("radia in {items}"))
        .clone();
    assert_eq!(radia["outcome"], "skip", "{radia}");
    assert!(
        radia["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("title"),
        "{radia}"
    );

    // 4. The mapping: Quality Assurance's members gain role 15 in ZenQMS.
    let mapped = json(&sh(&step("/api/v1/role-mappings")));
    assert!(mapped["mappings"].is_array(), "{mapped}");
    eventually(Duration::from_secs(30), || async {
        zenqms_user(&zenqms_state(), "margaret.hamilton@example.com").is_some_and(|u| {
            u["role_ids"]
                .as_array()
                .is_some_and(|r| r.contains(&15.into()))
        })
    })
    .await;

    // 5. A change in okta-sim reaches ZenQMS (here through a Full run, which brings it at once).
    let changed = json(&sh(&step("/_sim/users/katherine.johnson@example.com")));
    assert_eq!(changed["profile"]["title"], "Quality Manager", "{changed}");
    run_to_end(&public, &admin, &step("\"mode\":\"full\"")).await;
    eventually(Duration::from_secs(30), || async {
        zenqms_user(&zenqms_state(), "katherine.johnson@example.com")
            .is_some_and(|u| u["title"] == "Quality Manager")
    })
    .await;

    demo.stop().await;
}
