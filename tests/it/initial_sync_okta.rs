//! The initial sync with a connected Okta org as its source, against okta-sim and zenqms-sim:
//! the org's users, groups and memberships written into the directory (one record per Okta
//! user, also for users Okta pushed over SCIM), Standard then Full on the same data, and a
//! dry run that writes nothing anywhere.

use diesel::prelude::*;
use okta_sim::{RunningSim as OktaSim, Seed};
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{send, TestApp};
use crate::initial_sync_support::*;
use crate::mapping_support::map_group;
use crate::okta_support::connected_to;
use crate::scim_support::{enc, get};
use crate::sim_support::*;

/// Okta's org: the people of the SCIM tests (`initial_sync_support`) with the same Okta ids,
/// and the group QA (a, d).
fn org() -> Seed {
    let mut users = Vec::new();
    for n in ["a", "b", "c", "d", "e", "dup1", "dup2", "t"] {
        let email = if n.starts_with("dup") {
            "dup@example.com".to_string()
        } else {
            format!("{n}@example.com")
        };
        let mut profile = json!({
            "login": format!("{n}@example.com"),
            "email": email,
            "firstName": format!("Given{n}"),
            "lastName": format!("Family{n}"),
        });
        if n != "t" {
            profile["title"] = json!("QA Specialist");
        }
        users.push(json!({"id": format!("00u{n}"), "profile": profile}));
    }
    let seed = json!({
        "users": users,
        "groups": [{"id": "00gqa", "name": "QA", "members": ["00ua", "00ud"]}],
    });
    Seed::from_json(&seed.to_string()).expect("seed")
}

/// ZenQMS's tenant, a bridge on it, and the Okta org connected.
async fn setup() -> (zenqms_sim::RunningSim, OktaSim, TestApp) {
    let (zenqms, okta, app) = connected_to(org()).await;
    zenqms.sim.reset_calls();
    okta.sim.reset_calls();
    (zenqms, okta, app)
}

async fn directory_users(app: &TestApp) -> Vec<Value> {
    let (s, list) = get(app, "/Users?count=100").await;
    assert_eq!(s, 200, "{list}");
    list["Resources"].as_array().cloned().unwrap_or_default()
}

async fn group_named(app: &TestApp, name: &str) -> Value {
    let filter = enc(&format!("displayName eq \"{name}\""));
    let (s, list) = get(app, &format!("/Groups?filter={filter}")).await;
    assert_eq!(s, 200, "{list}");
    list["Resources"][0].clone()
}

#[tokio::test]
async fn standard_then_full_read_the_okta_org() {
    let (zenqms, okta, app) = setup().await;

    let run = run_to_done(&app, "standard", false).await;
    assert_eq!(run["source"], "okta", "{run}");
    assert_eq!(
        run["counts"],
        json!({"link": 2, "create": 0, "update": 0, "unchanged": 1, "skip": 2, "conflict": 3}),
        "{run}"
    );
    // Okta: only reads, 200 a page; ZenQMS: the paged search and one PATCH per match.
    let okta_calls = okta.sim.calls();
    assert!(
        okta_calls
            .records("GET /api/v1/users")
            .all(|c| c.query.contains("limit=200")),
        "{:?}",
        okta_calls.counts
    );
    assert!(
        okta_calls.counts.keys().all(|k| k.starts_with("GET ")),
        "{:?}",
        okta_calls.counts
    );
    assert_eq!(
        call_keys(&zenqms),
        ["PATCH /v2/users/{id}", "POST /v2/users/search"]
    );
    assert_eq!(calls(&zenqms, "PATCH /v2/users/{id}"), 2);
    let a = zenqms_user(&zenqms, "a@example.com").expect("a");
    assert_eq!(a.external_id.as_deref(), Some("00ua"));
    assert_eq!(zenqms.sim.state().users.len(), 5, "Standard creates nobody");

    // The org is in the directory: one user per Okta user, the group and its members.
    let users = directory_users(&app).await;
    assert_eq!(users.len(), 8, "{users:?}");
    assert!(users.iter().all(|u| u["externalId"]
        .as_str()
        .is_some_and(|x| x.starts_with("00u"))));
    let qa = group_named(&app, "QA").await;
    assert_eq!(qa["externalId"], "00gqa");
    assert_eq!(qa["members"].as_array().map(Vec::len), Some(2), "{qa}");
    let id = run["id"].as_str().expect("id");
    let items = all_items(&app, id).await;
    assert_eq!(okta_ids(&items, "link"), ["00ua", "00ue"]);
    assert_eq!(okta_ids(&items, "conflict"), ["00ub", "00udup1", "00udup2"]);
    let a_item = items.iter().find(|i| i["okta_id"] == "00ua").expect("a");
    let a_dir = users
        .iter()
        .find(|u| u["externalId"] == "00ua")
        .expect("a in the directory");
    assert_eq!(a_item["user_id"], a_dir["id"]);
    // The directory writes are audited with the run id.
    let (_, audit) = send(app.admin(Method::GET, "/audit?limit=1000")).await;
    let actor = format!("initial-sync:{id}");
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["actor"] == actor.as_str() && e["action"] == "okta.user.create")
            .count(),
        8,
        "{audit}"
    );

    // Full on the same data, with QA mapped to role 7: creates d, grants 7 to a and d,
    // corrects what differs; t has no title (skip).
    let qa_id = qa["id"].as_str().expect("group id").to_string();
    map_group(&app, &qa_id, &["7"]).await;
    zenqms.sim.reset_calls();
    let full = run_to_done(&app, "full", false).await;
    assert_eq!(full["source"], "okta", "{full}");
    let d = zenqms_user(&zenqms, "d@example.com").expect("Full creates d");
    assert_eq!(d.external_id.as_deref(), Some("00ud"));
    assert!(d.role_ids.contains(&zenqms_sim::Id::Num(7)), "{d:?}");
    let a = zenqms_user(&zenqms, "a@example.com").expect("a");
    assert!(a.role_ids.contains(&zenqms_sim::Id::Num(7)), "{a:?}");
    let e = zenqms_user(&zenqms, "e@example.com").expect("e");
    assert_eq!(e.first_name, "Givene", "Full corrects the profile");
    let items = all_items(&app, full["id"].as_str().expect("id")).await;
    assert!(okta_ids(&items, "create").contains(&"00ud".to_string()));
    assert_eq!(
        directory_users(&app).await.len(),
        8,
        "a second read makes no second record"
    );
    app.stop().await;
    okta.stop().await;
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_reports_what_the_run_does() {
    let (zenqms, okta, app) = setup().await;
    let (db_before, sim_before, org_before) = (
        db_picture(&app),
        sim_picture(&zenqms),
        format!("{:?}", okta.sim.state()),
    );
    let dry = run_to_done(&app, "standard", true).await;
    assert_eq!(dry["source"], "okta");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(db_picture(&app), db_before, "the database is unchanged");
    assert_eq!(sim_picture(&zenqms), sim_before, "ZenQMS is unchanged");
    assert_eq!(format!("{:?}", okta.sim.state()), org_before);
    assert!(directory_users(&app).await.is_empty());
    assert_eq!(
        call_keys(&zenqms),
        ["POST /v2/users/search"],
        "a dry run only reads"
    );
    let real = run_to_done(&app, "standard", false).await;
    assert_eq!(
        real["counts"], dry["counts"],
        "the dry run's report is the run's"
    );
    app.stop().await;
    okta.stop().await;
}

#[tokio::test]
async fn users_pushed_over_scim_and_read_from_okta_are_one_record_each() {
    let (zenqms, okta, app) = setup().await;
    // Okta pushed a and d (with their Okta ids) and b without an externalId.
    let mut pushed = Vec::new();
    for n in ["a", "d", "b"] {
        let mut p = Person::new(n);
        if n == "b" {
            p.external_id = None;
        }
        push(&app, &mut p).await;
        pushed.push(p);
    }
    let run = run_to_done(&app, "standard", false).await;
    assert_eq!(run["source"], "okta");
    let users = directory_users(&app).await;
    assert_eq!(users.len(), 8, "8 Okta users, 8 records: {users:?}");
    for p in &pushed {
        let u = users
            .iter()
            .find(|u| u["id"] == p.sid())
            .expect("the pushed record is the Okta user's");
        assert_eq!(u["externalId"], format!("00u{}", &p.user_name[..1]));
    }
    // A later push of a is still that record.
    let mut a = pushed.remove(0);
    a.title = Some("Chemist".into());
    push(&app, &mut a).await;
    let filter = enc("externalId eq \"00ua\"");
    let (_, list) = get(&app, &format!("/Users?filter={filter}")).await;
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(list["Resources"][0]["title"], "Chemist");
    let _ = zenqms;
    app.stop().await;
    okta.stop().await;
}

/// What the directory holds of the org after a run, for the kill-and-restart check.
fn directory_count(app: &TestApp) -> i64 {
    use zenqms_bridge::store::schema::scim_users;
    let mut conn = app.state.pool.get().expect("conn");
    scim_users::table
        .count()
        .get_result(&mut *conn)
        .expect("count")
}

#[tokio::test]
async fn a_second_run_over_the_same_org_writes_no_second_record() {
    let (zenqms, okta, app) = setup().await;
    run_to_done(&app, "standard", true).await;
    run_to_done(&app, "standard", false).await;
    let after_first = directory_count(&app);
    zenqms.sim.reset_calls();
    let again = run_to_done(&app, "standard", false).await;
    assert_eq!(directory_count(&app), after_first);
    assert_eq!(after_first, 8);
    assert_eq!(
        again["counts"]["link"], 0,
        "linked users are linked already: {again}"
    );
    assert_eq!(calls(&zenqms, "PATCH /v2/users/{id}"), 0);
    app.stop().await;
    okta.stop().await;
}

/// The item of `okta_id`.
fn item<'a>(items: &'a [Value], okta_id: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["okta_id"] == okta_id)
        .unwrap_or_else(|| panic!("{okta_id} in {items:?}"))
}

#[tokio::test]
async fn a_full_dry_run_plans_the_roles_of_users_not_yet_in_the_directory() {
    let (zenqms, okta, app) = setup().await;
    // QA is mapped by name before any run: the directory has no group and no user yet.
    let (s, body) =
        crate::mapping_support::map(&app, json!({"group_display_name": "QA", "role_ids": ["7"]}))
            .await;
    assert_eq!(s, 201, "{body}");
    assert!(directory_users(&app).await.is_empty());
    let (db_before, sim_before) = (db_picture(&app), sim_picture(&zenqms));

    let dry = run_to_done(&app, "full", true).await;
    assert_eq!(dry["source"], "okta", "{dry}");
    assert_eq!(db_picture(&app), db_before, "the database is unchanged");
    assert_eq!(sim_picture(&zenqms), sim_before, "ZenQMS is unchanged");
    let planned = all_items(&app, dry["id"].as_str().expect("id")).await;
    // a (in ZenQMS, linked by email) and d (created) are QA members: both gain role 7; e
    // (linked, not in QA) gains nothing.
    for who in ["00ua", "00ud"] {
        let i = item(&planned, who);
        assert!(
            i["reason"]
                .as_str()
                .is_some_and(|r| r.contains("roles granted: 7")),
            "{i}"
        );
    }
    assert_eq!(item(&planned, "00ud")["outcome"], "create");
    assert!(!item(&planned, "00ue")["reason"]
        .as_str()
        .unwrap_or("")
        .contains("roles"));

    // The real run does what the dry run said, and reports it in the same words.
    let real = run_to_done(&app, "full", false).await;
    assert_eq!(real["counts"], dry["counts"], "{real} vs {dry}");
    let applied = all_items(&app, real["id"].as_str().expect("id")).await;
    for who in ["00ua", "00ud", "00ue", "00ut"] {
        assert_eq!(
            item(&applied, who)["outcome"],
            item(&planned, who)["outcome"]
        );
        assert_eq!(item(&applied, who)["reason"], item(&planned, who)["reason"]);
    }
    for email in ["a@example.com", "d@example.com"] {
        let u = zenqms_user(&zenqms, email).expect("in ZenQMS");
        assert_eq!(u.role_ids, vec![zenqms_sim::Id::Num(7)], "{u:?}");
    }
    app.stop().await;
    okta.stop().await;
}

#[tokio::test]
async fn the_run_lists_the_users_it_refused_with_the_reason() {
    let (_zenqms, okta, app) = setup().await;
    // Full with no DEFAULT_TITLE: t (no title) is skipped; dup1 and dup2 share an email and b
    // is linked to another Okta id in ZenQMS: conflicts.
    let full = run_to_done(&app, "full", false).await;
    let id = full["id"].as_str().expect("id");
    let run = run_of(&app, id).await;
    let refused = run["refused"].as_array().cloned().unwrap_or_default();
    let mut who: Vec<(String, String)> = refused
        .iter()
        .map(|i| {
            (
                i["okta_id"].as_str().unwrap_or("").to_string(),
                i["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    who.sort();
    assert_eq!(
        who,
        [
            ("00ub".to_string(), "conflict".to_string()),
            ("00udup1".into(), "conflict".into()),
            ("00udup2".into(), "conflict".into()),
            ("00ut".into(), "skip".into()),
        ],
        "{run}"
    );
    let reason = |okta: &str| {
        item(&refused, okta)["reason"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(reason("00ut").starts_with("title"), "{}", reason("00ut"));
    assert!(
        reason("00udup1").contains("00udup2") && reason("00udup1").contains("dup@example.com"),
        "{}",
        reason("00udup1")
    );
    assert!(
        reason("00ub").contains("00uother") || reason("00ub").contains("another"),
        "{}",
        reason("00ub")
    );
    // The same lines, with the same reasons, in the report filtered by outcome.
    let items = all_items(&app, id).await;
    for i in &refused {
        let okta_id = i["okta_id"].as_str().unwrap_or("");
        assert_eq!(item(&items, okta_id)["reason"], i["reason"]);
        assert_eq!(i["email"], item(&items, okta_id)["email"]);
    }
    // The list of runs stays small: no refused users there.
    let (s, list) = send(app.admin(Method::GET, "/initial-sync")).await;
    assert_eq!(s, 200, "{list}");
    assert!(list["runs"][0].get("refused").is_none(), "{list}");
    app.stop().await;
    okta.stop().await;
}
