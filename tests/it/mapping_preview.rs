//! The preview says what applying then does: compared with the simulator's state and calls.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::send;
use crate::mapping_support::*;
use crate::sim_support::*;

fn names(list: &Value) -> Vec<String> {
    let mut n: Vec<String> = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u["user_name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    n.sort();
    n
}

fn role<'a>(p: &'a Value, id: &str) -> &'a Value {
    p["roles"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["role_id"] == id))
        .unwrap_or_else(|| panic!("no role {id} in {p}"))
}

#[tokio::test]
async fn preview_matches_what_applying_does() {
    // In ZenQMS before the bridge, with QA Reviewer (15) given by hand: one who will be in the
    // group, one who will not.
    let sim = roles_sim_with(vec![
        existing("inside", &[15]),
        existing("outside", &[15, 7]),
    ])
    .await;
    let app = bridge(&sim, &[]).await;
    let ps = people(&app, &["inside", "outside", "new1", "new2", "other"]).await;
    let (inside, outside, new1, new2, other) = (&ps[0], &ps[1], &ps[2], &ps[3], &ps[4]);
    let g = group(&app, "Reviewers", &[inside, new1, new2]).await;
    let h = group(&app, "Other reviewers", &[other, new2]).await;
    settled(&app, T).await;
    let before = holders(&sim, 15);
    assert_eq!(before, ["inside@example.com", "outside@example.com"]);

    // 1. The role becomes managed: the group's members without it gain it, and whoever holds
    //    it outside the group loses it.
    let body = json!({"group_id": g, "role_ids": ["15"]});
    let p = preview(&app, body.clone()).await;
    assert_eq!(p["applied"], false);
    assert_eq!(p["changes"][0]["action"], "create");
    assert_eq!(p["changes"][0]["status"], "active");
    let r = role(&p, "15");
    assert_eq!(
        (&r["managed_before"], &r["managed_after"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(names(&r["gain"]), ["new1@example.com", "new2@example.com"]);
    assert_eq!(names(&r["lose"]), ["outside@example.com"]);
    assert_eq!((&r["gain_count"], &r["lose_count"]), (&json!(2), &json!(1)));
    assert!(mappings(&app).await.is_empty(), "nothing written");
    sim.sim.reset_calls();
    let rows = map_group(&app, &g, &["15"]).await;
    settled(&app, T).await;
    assert_eq!(
        holders(&sim, 15),
        ["inside@example.com", "new1@example.com", "new2@example.com"]
    );
    assert_eq!(role_calls(&sim), (2, 1), "one call per gain and per loss");
    assert_eq!(zroles(&sim, outside), ["7"], "only the mapped role went");

    // 2. A second group for the same role: only its members who lack it gain it.
    let p = preview(&app, json!({"group_id": h, "role_ids": ["15"]})).await;
    let r = role(&p, "15");
    assert_eq!(names(&r["gain"]), ["other@example.com"]);
    assert_eq!(r["lose_count"], 0);
    sim.sim.reset_calls();
    let h_rows = map_group(&app, &h, &["15"]).await;
    settled(&app, T).await;
    assert_eq!(role_calls(&sim), (1, 0));

    // 3. Deleting the first mapping while the second still manages the role: the first
    //    group's members who are not in the second lose it.
    let first = rows[0]["id"].as_str().unwrap().to_string();
    let p = preview(&app, json!({"delete": [first]})).await;
    assert_eq!(p["changes"][0]["action"], "delete");
    let r = role(&p, "15");
    assert_eq!(
        (&r["managed_before"], &r["managed_after"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(
        names(&r["lose"]),
        ["inside@example.com", "new1@example.com"]
    );
    assert_eq!(r["gain_count"], 0);
    sim.sim.reset_calls();
    let (s, _) = send(app.admin(Method::DELETE, &format!("/role-mappings/{first}"))).await;
    assert_eq!(s, 204);
    settled(&app, T).await;
    assert_eq!(holders(&sim, 15), ["new2@example.com", "other@example.com"]);
    assert_eq!(role_calls(&sim), (0, 2));

    // 4. Deleting the last mapping of a role: it is no longer managed, nobody loses it.
    let last = h_rows[0]["id"].as_str().unwrap().to_string();
    let p = preview(&app, json!({"delete": [last]})).await;
    let r = role(&p, "15");
    assert_eq!(
        (&r["managed_after"], &r["gain_count"], &r["lose_count"]),
        (&json!(false), &json!(0), &json!(0))
    );
    assert!(
        r["note"].as_str().unwrap().contains("nobody loses it"),
        "{r}"
    );
    sim.sim.reset_calls();
    let (s, _) = send(app.admin(Method::DELETE, &format!("/role-mappings/{last}"))).await;
    assert_eq!(s, 204);
    settled(&app, T).await;
    assert_eq!(holders(&sim, 15), ["new2@example.com", "other@example.com"]);
    assert_eq!(role_calls(&sim), (0, 0));

    // 5. A mapping by a name no group has: pending, changes nothing.
    let p = preview(
        &app,
        json!({"group_display_name": "Not pushed yet", "role_ids": ["21"]}),
    )
    .await;
    assert_eq!(p["changes"][0]["status"], "pending_group");
    let r = role(&p, "21");
    assert_eq!(
        (&r["managed_after"], &r["gain_count"]),
        (&json!(false), &json!(0))
    );

    // The first users are listed, all are counted.
    let p = send(
        app.admin(Method::POST, "/role-mappings/preview?limit=1")
            .json(&json!({"group_id": g, "role_ids": ["12"]})),
    )
    .await
    .1;
    let r = role(&p, "12");
    assert_eq!(
        (r["gain_count"].as_i64(), r["gain"].as_array().map(Vec::len)),
        (Some(3), Some(1))
    );
    app.stop().await;
}
