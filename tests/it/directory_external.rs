//! The directory's writes keyed by the identity provider's id (`directory/external.rs`): the
//! Okta pull and event hooks write through them; what they wrote is read back over SCIM.

use reqwest::Method;
use serde_json::{json, Value};
use zenqms_bridge::directory::external::{
    self, ExternalGroup, ExternalUser, Imported, Members, Upsert,
};
use zenqms_bridge::directory::{Actor, DirectoryError};

use crate::harness::TestApp;
use crate::scim_support::{audit_entries, get, job_generation, scim_json, user_body};

fn profile(okta_id: &str, login: &str, title: Option<&str>) -> ExternalUser {
    let mut doc = json!({
        "userName": login,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": login, "type": "work", "primary": true}],
        "active": true,
    });
    if let Some(t) = title {
        doc["title"] = json!(t);
    }
    let Value::Object(doc) = doc else {
        unreachable!("a JSON object")
    };
    ExternalUser {
        external_id: okta_id.to_string(),
        doc,
    }
}

async fn upsert(app: &TestApp, batch: Vec<ExternalUser>, hold: Option<&str>) -> Imported {
    let hold = hold.map(str::to_string);
    app.state
        .directory
        .write(move |c| {
            external::upsert_users(c, Actor::okta("okta-test"), &batch, hold.as_deref())
        })
        .await
        .expect("upsert")
        .value
}

async fn users_named(app: &TestApp, user_name: &str) -> Vec<Value> {
    let filter = crate::scim_support::enc(&format!("userName eq \"{user_name}\""));
    let (s, list) = get(app, &format!("/Users?filter={filter}")).await;
    assert_eq!(s, 200, "{list}");
    list["Resources"].as_array().cloned().unwrap_or_default()
}

#[actix_web::test]
async fn a_pushed_user_and_the_same_okta_user_are_one_record() {
    let app = TestApp::start().await;
    // Okta pushed ada over SCIM with her Okta id as externalId, and a nickName the API
    // profile does not carry.
    let mut body = user_body("ada@example.com");
    body["externalId"] = json!("00u-ada");
    body["nickName"] = json!("ada");
    let (s, pushed) = scim_json(&app, Method::POST, "/Users", &body).await;
    assert_eq!(s, 201, "{pushed}");
    let ada = pushed["id"].as_str().expect("id").to_string();
    // bob was pushed without an externalId: adopted by his userName.
    let (s, bob) = scim_json(&app, Method::POST, "/Users", &user_body("bob@example.com")).await;
    assert_eq!(s, 201, "{bob}");
    let bob = bob["id"].as_str().expect("id").to_string();

    // What the Okta read brings: ada and bob, and cyd, whom SCIM never pushed.
    let read = || {
        vec![
            profile("00u-ada", "ada@example.com", Some("Chemist")),
            profile("00u-bob", "bob@example.com", Some("Analyst")),
            profile("00u-cyd", "cyd@example.com", None),
        ]
    };
    let imported = upsert(&app, read(), None).await;
    assert_eq!(
        (imported.created, imported.updated, imported.unchanged),
        (1, 2, 0)
    );
    assert_eq!(imported.map["00u-ada"], ada);
    assert_eq!(imported.map["00u-bob"], bob);
    let (s, all) = get(&app, "/Users").await;
    assert_eq!(s, 200);
    assert_eq!(all["totalResults"], 3, "one record per Okta user: {all}");
    let (_, a) = get(&app, &format!("/Users/{ada}")).await;
    assert_eq!(a["title"], "Chemist");
    assert_eq!(
        a["nickName"], "ada",
        "what the push said beyond the profile stays"
    );
    let b = users_named(&app, "bob@example.com").await;
    assert_eq!(
        b[0]["externalId"], "00u-bob",
        "bob is linked to his Okta id"
    );
    assert!(job_generation(&app, &imported.map["00u-cyd"]).is_some());

    // The same read again changes nothing and enqueues nobody.
    let again = upsert(&app, read(), None).await;
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 3));

    // Looked up by her Okta id over SCIM: one record.
    let filter = crate::scim_support::enc("externalId eq \"00u-ada\"");
    let (_, by_ext) = get(&app, &format!("/Users?filter={filter}")).await;
    assert_eq!(by_ext["totalResults"], 1, "{by_ext}");

    let audit = audit_entries(&app);
    let creates: Vec<_> = audit.iter().filter(|e| e.1 == "okta.user.create").collect();
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].0, "okta-test");
    assert_eq!(
        audit.iter().filter(|e| e.1 == "okta.user.update").count(),
        2
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_user_name_linked_to_another_okta_id_is_refused_not_guessed() {
    let app = TestApp::start().await;
    let mut body = user_body("eve@example.com");
    body["externalId"] = json!("00u-eve");
    let (s, _) = scim_json(&app, Method::POST, "/Users", &body).await;
    assert_eq!(s, 201);
    let imported = upsert(
        &app,
        vec![
            profile("00u-other", "EVE@example.com", None),
            profile("00u-fay", "fay@example.com", None),
        ],
        None,
    )
    .await;
    assert_eq!(imported.created, 1, "the rest of the batch is written");
    assert_eq!(imported.refused.len(), 1, "{imported:?}");
    assert_eq!(imported.refused[0].0, "00u-other");
    assert!(
        imported.refused[0].1.contains("00u-eve"),
        "{:?}",
        imported.refused
    );
    assert_eq!(users_named(&app, "eve@example.com").await.len(), 1);

    // One user through the single-user call.
    let one = app
        .state
        .directory
        .write(|c| {
            external::upsert_user(
                c,
                Actor::okta("okta-test"),
                &profile("00u-other", "eve@example.com", None),
            )
        })
        .await
        .expect("upsert");
    assert!(matches!(one.value, Upsert::Refused(_)), "{:?}", one.value);
    app.stop().await;
}

#[actix_web::test]
async fn groups_and_memberships_by_okta_id() {
    let app = TestApp::start().await;
    let imported = upsert(
        &app,
        vec![
            profile("00u-1", "one@example.com", None),
            profile("00u-2", "two@example.com", None),
        ],
        Some("run-1"),
    )
    .await;
    let (one, two) = (imported.map["00u-1"].clone(), imported.map["00u-2"].clone());
    assert_eq!(
        job_generation(&app, &one),
        None,
        "held for the run, not enqueued"
    );
    // A group pushed over SCIM without an externalId is adopted by name.
    let (s, pushed) = scim_json(
        &app,
        Method::POST,
        "/Groups",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "QA"}),
    )
    .await;
    assert_eq!(s, 201, "{pushed}");
    let qa = pushed["id"].as_str().expect("id").to_string();
    let upsert_group = |ext: &str, name: &str| {
        let g = ExternalGroup {
            external_id: ext.into(),
            display_name: name.into(),
        };
        app.state
            .directory
            .write(move |c| external::upsert_group(c, Actor::okta("okta-test"), &g))
    };
    let w = upsert_group("00g-qa", "QA").await.expect("group");
    assert_eq!(w.value, Upsert::Updated(qa.clone()));
    let w = upsert_group("00g-ops", "Ops").await.expect("group");
    let Upsert::Created(ops) = w.value else {
        panic!("created: {:?}", w.value)
    };

    let set = |group: &'static str, members: Vec<&str>| {
        let members: Vec<String> = members.into_iter().map(str::to_string).collect();
        app.state.directory.write(move |c| {
            external::set_group_members(c, Actor::okta("okta-test"), group, &members, None)
        })
    };
    let m = set("00g-qa", vec!["00u-1", "00u-2", "00u-unknown"])
        .await
        .expect("members");
    assert_eq!(
        m.value,
        Members {
            added: 2,
            removed: 0,
            unknown: vec!["00u-unknown".into()]
        }
    );
    assert!(
        job_generation(&app, &one).is_some(),
        "joining a group may grant a role"
    );
    let (_, g) = get(&app, &format!("/Groups/{qa}")).await;
    assert_eq!(g["members"].as_array().map(Vec::len), Some(2), "{g}");
    let m = set("00g-qa", vec!["00u-2"]).await.expect("members");
    assert_eq!((m.value.added, m.value.removed), (0, 1));

    // The user's groups among the Okta groups: two joins Ops and leaves QA.
    let w = app
        .state
        .directory
        .write(|c| {
            external::set_user_groups(c, Actor::okta("okta-test"), "00u-2", &["00g-ops".into()])
        })
        .await
        .expect("user groups");
    assert_eq!((w.value.added, w.value.removed), (1, 1));
    let (_, u) = get(&app, &format!("/Users/{two}")).await;
    let groups: Vec<&str> = u["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(|x| x["value"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(groups, vec![ops.as_str()], "{u}");
    let (_, g) = get(&app, &format!("/Groups/{qa}")).await;
    assert_eq!(g["members"].as_array().map(Vec::len).unwrap_or(0), 0, "{g}");

    // Deleting by Okta id, twice (an event may come twice).
    for expected in [true, false] {
        let w = app
            .state
            .directory
            .write(|c| external::delete_group(c, Actor::okta("okta-test"), "00g-ops"))
            .await
            .expect("delete");
        assert_eq!(w.value, expected);
    }
    let (s, _) = get(&app, &format!("/Groups/{ops}")).await;
    assert_eq!(s, 404);

    // Unknown ids are typed errors, never a panic.
    let err = app
        .state
        .directory
        .write(|c| external::set_group_members(c, Actor::okta("t"), "00g-none", &[], None))
        .await
        .expect_err("unknown group");
    assert!(matches!(err, DirectoryError::NotFound { .. }), "{err}");
    let found = app
        .state
        .directory
        .read(|c| external::user_id_by_external_id(c, "00u-1"))
        .await
        .expect("lookup");
    assert_eq!(found, Some(one));
    app.stop().await;
}
