//! Following one Okta user or group (`okta::follow`, what event hooks and the periodic re-read
//! call) against okta-sim and zenqms-sim: users created, updated, suspended, deactivated and
//! deleted in Okta converge in ZenQMS through the directory and the reconciler; groups follow
//! with their members and role mappings; the scope decides who is provisioned and who is
//! disabled; and a Standard initial sync's holds end with the first real change from Okta.

use std::time::Duration;

use okta_sim::{Lifecycle, NewGroup, RunningSim as OktaSim};
use reqwest::Method;
use serde_json::json;
use zenqms_bridge::okta::follow::Followed;
use zenqms_sim::{Id, Status};

use crate::harness::{send, TestApp};
use crate::initial_sync_support::*;
use crate::mapping_support::map_group;
use crate::okta_hooks_support::org;
use crate::okta_support::{connected_to, group_named, new_user, zenqms_until, CLIENT_SECRET};
use crate::sim_support::*;

const WAIT: Duration = Duration::from_secs(30);

async fn setup() -> (zenqms_sim::RunningSim, OktaSim, TestApp) {
    connected_to(org()).await
}

async fn follow_user(app: &TestApp, id: &str) -> Followed {
    app.state
        .follow
        .follow_user(id, "test-follow")
        .await
        .expect("followed")
}

async fn follow_group(app: &TestApp, id: &str) -> Followed {
    app.state
        .follow
        .follow_group(id, "test-follow")
        .await
        .expect("followed")
}

#[tokio::test]
async fn users_followed_from_okta_converge_in_zenqms() {
    let (zenqms, okta, app) = setup().await;
    // Standard links a (and e) and holds d, whom ZenQMS does not have: nothing created.
    let run = run_to_done(&app, "standard", false).await;
    assert_eq!(run["source"], "okta", "{run}");
    assert!(zenqms_user(&zenqms, "d@example.com").is_none());

    // Following d while nothing changed in Okta changes nothing: the hold stays.
    assert_eq!(
        follow_user(&app, "00ud").await,
        Followed::Applied { changed: false }
    );
    settled(&app, WAIT).await;
    assert!(
        zenqms_user(&zenqms, "d@example.com").is_none(),
        "a held user is not touched until Okta changes it"
    );

    // A change in Okta ends the hold: d is created under the full rules.
    let mut p = serde_json::Map::new();
    p.insert("title".into(), json!("Lead"));
    okta.sim.update_profile("00ud", p).expect("updated");
    assert_eq!(
        follow_user(&app, "00ud").await,
        Followed::Applied { changed: true }
    );
    let d = zenqms_until(&zenqms, "d@example.com", |_| true).await;
    assert_eq!(d.external_id.as_deref(), Some("00ud"));
    assert_eq!(d.title, "Lead");

    // A user Okta assigns after a Standard sync is created.
    let n = okta.sim.create_user(new_user("n")).expect("created");
    assert!(follow_user(&app, &n.id).await.changed());
    let z = zenqms_until(&zenqms, "n@example.com", |u| u.status == Status::Active).await;
    assert_eq!(z.external_id.as_deref(), Some(n.id.as_str()));

    // Its groups: QA mapped to role 7; n added to QA in Okta gets the role.
    let qa = group_named(&app, "QA").await.expect("QA");
    map_group(&app, qa["id"].as_str().expect("id"), &["7"]).await;
    okta.sim.add_member("00gqa", &n.id).expect("added");
    assert!(follow_user(&app, &n.id).await.changed());
    zenqms_until(&zenqms, "n@example.com", |u| {
        u.role_ids.contains(&Id::Num(7))
    })
    .await;

    // A profile change.
    let mut p = serde_json::Map::new();
    p.insert("firstName".into(), json!("Nora"));
    okta.sim.update_profile(&n.id, p).expect("updated");
    follow_user(&app, &n.id).await;
    zenqms_until(&zenqms, "n@example.com", |u| u.first_name == "Nora").await;

    // Suspended → disabled; unsuspended → active; deactivated → disabled; reactivated.
    for (op, want) in [
        (Lifecycle::Suspend, Status::Disabled),
        (Lifecycle::Unsuspend, Status::Active),
        (Lifecycle::Deactivate, Status::Disabled),
        (Lifecycle::Reactivate, Status::Active),
    ] {
        okta.sim.lifecycle(&n.id, op).expect("lifecycle");
        assert!(follow_user(&app, &n.id).await.changed(), "{op:?}");
        zenqms_until(&zenqms, "n@example.com", |u| u.status == want).await;
    }

    // Deleted in Okta (404): disabled, never deleted in ZenQMS.
    okta.sim.delete_user(&n.id).expect("deleted");
    assert_eq!(
        follow_user(&app, &n.id).await,
        Followed::Disabled { changed: true }
    );
    zenqms_until(&zenqms, "n@example.com", |u| u.status == Status::Disabled).await;
    // Followed again: nothing more to do.
    assert_eq!(
        follow_user(&app, &n.id).await,
        Followed::Disabled { changed: false }
    );
    // A user Okta never had and the directory does not know.
    assert!(matches!(
        follow_user(&app, "00unobody").await,
        Followed::Ignored(_)
    ));
    assert!(matches!(
        follow_user(&app, "../x").await,
        Followed::Ignored(_)
    ));
    app.stop().await;
    okta.stop().await;
}

#[tokio::test]
async fn groups_followed_from_okta_carry_their_members_and_roles() {
    let (zenqms, okta, app) = setup().await;
    let ops = okta
        .sim
        .create_group(NewGroup {
            name: "Ops".into(),
            description: None,
            group_type: None,
        })
        .expect("group");
    let u = okta.sim.create_user(new_user("u")).expect("user");
    okta.sim.add_member(&ops.id, &u.id).expect("member");
    // The group is written with its member, who is followed (the directory did not have it).
    assert!(follow_group(&app, &ops.id).await.changed());
    let g = group_named(&app, "Ops")
        .await
        .expect("Ops in the directory");
    assert_eq!(g["externalId"], ops.id.as_str());
    assert_eq!(g["members"].as_array().map(Vec::len), Some(1), "{g}");
    map_group(&app, g["id"].as_str().expect("id"), &["7"]).await;
    zenqms_until(&zenqms, "u@example.com", |z| {
        z.role_ids.contains(&Id::Num(7))
    })
    .await;

    // Renamed in Okta.
    okta.sim
        .update_group(&ops.id, Some("Operations".into()), None)
        .expect("renamed");
    assert!(follow_group(&app, &ops.id).await.changed());
    assert!(group_named(&app, "Operations").await.is_some());
    assert_eq!(
        follow_group(&app, &ops.id).await,
        Followed::Applied { changed: false }
    );

    // The member removed in Okta loses the role.
    okta.sim.remove_member(&ops.id, &u.id).expect("removed");
    assert!(follow_group(&app, &ops.id).await.changed());
    zenqms_until(&zenqms, "u@example.com", |z| {
        !z.role_ids.contains(&Id::Num(7))
    })
    .await;

    // Deleted in Okta: deleted from the directory.
    okta.sim.delete_group(&ops.id).expect("deleted");
    assert_eq!(
        follow_group(&app, &ops.id).await,
        Followed::Deleted { changed: true }
    );
    assert!(group_named(&app, "Operations").await.is_none());
    assert_eq!(
        follow_group(&app, &ops.id).await,
        Followed::Deleted { changed: false }
    );
    app.stop().await;
    okta.stop().await;
}

#[tokio::test]
async fn the_scope_decides_who_is_provisioned_and_who_is_disabled() {
    let (zenqms, okta, app) = setup().await;
    let (s, body) = send(app.admin(Method::PUT, "/settings/okta").json(&json!({
        "org_url": format!("http://{}/", okta.addr),
        "client_id": crate::okta_support::CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope_group_ids": ["00gqa"],
    })))
    .await;
    assert_eq!(s, 200, "{body}");
    let x = okta.sim.create_user(new_user("x")).expect("user");
    // Outside the scope, unknown: ignored.
    assert!(matches!(
        follow_user(&app, &x.id).await,
        Followed::Ignored(_)
    ));
    // Entering the scope: provisioned (with the scope group written first).
    okta.sim.add_member("00gqa", &x.id).expect("member");
    assert_eq!(
        follow_user(&app, &x.id).await,
        Followed::Applied { changed: true }
    );
    zenqms_until(&zenqms, "x@example.com", |u| u.status == Status::Active).await;
    assert!(group_named(&app, "QA").await.is_some());
    // Leaving it, seen through the group: disabled.
    okta.sim.remove_member("00gqa", &x.id).expect("removed");
    assert!(follow_group(&app, "00gqa").await.changed());
    zenqms_until(&zenqms, "x@example.com", |u| u.status == Status::Disabled).await;
    app.stop().await;
    okta.stop().await;
}
