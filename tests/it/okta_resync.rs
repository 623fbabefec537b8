//! The periodic Okta re-read (`okta::resync`) against okta-sim and zenqms-sim, with no event
//! hook delivering (every change below is an event the bridge missed): a profile change, a
//! deactivation, a membership that grants a mapped role and a user leaving the scope all
//! reach ZenQMS after `POST /api/v1/okta/resync`; the periodic re-read runs by itself; two
//! processes on one database make one re-read; an Okta outage fails the re-read without
//! moving its marks and the next one catches up; nothing runs while Okta is not connected; a
//! bridge stopped while Okta's hook delivered to it is level again after its restart.

use std::time::Duration;

use okta_sim::{
    DeliveryOutcome, Faults, Lifecycle, NewUser, RunningSim as OktaSim, Seed,
    SimConfig as OktaConfig,
};
use reqwest::Method;
use serde_json::{json, Value};
use zenqms_sim::{Id, Status};

use crate::harness::{eventually, send, TestApp};
use crate::initial_sync_support::*;
use crate::mapping_support::map_group;
use crate::okta_hooks_support::register_hook;
use crate::okta_support::{
    connect_with_roles, group_named, start_sim as start_okta, zenqms_until, CLIENT_SECRET,
    SECRET_KEY,
};
use crate::sim_support::*;

const WAIT: Duration = Duration::from_secs(30);
const STAFF: &str = "00gstaff";
const ENG: &str = "00geng";

/// Okta's org: a, d, e and f in Staff (the scope), nobody in Eng (also in the scope, mapped
/// to role 7 once the directory has it); ZenQMS has a and e already (`tenant()`).
fn org() -> Seed {
    let users: Vec<Value> = ["a", "d", "e", "f"]
        .iter()
        .map(|n| {
            // Last changed long before the initial sync: only what changes later is listed.
            json!({"id": format!("00u{n}"), "created": "2026-01-05T09:00:00.000Z",
                "lastUpdated": "2026-01-05T10:00:00.000Z", "profile": {
                "login": format!("{n}@example.com"), "email": format!("{n}@example.com"),
                "firstName": format!("Given{n}"), "lastName": format!("Family{n}"),
                "title": "QA Specialist"}})
        })
        .collect();
    Seed::from_json(
        &json!({"users": users, "groups": [
            {"id": STAFF, "name": "Staff", "members": ["00ua", "00ud", "00ue", "00uf"]},
            {"id": ENG, "name": "Eng", "members": []}]})
        .to_string(),
    )
    .expect("seed")
}

/// The bridge connected to Okta with Staff and Eng as the scope (no initial sync yet).
async fn setup_on(
    db: crate::harness::TestDb,
    extra: &[(&str, &str)],
) -> (zenqms_sim::RunningSim, OktaSim, TestApp) {
    setup_scoped(db, extra, &[STAFF, ENG]).await
}

/// The bridge connected to Okta with these scope groups (none: the whole org).
async fn setup_scoped(
    db: crate::harness::TestDb,
    extra: &[(&str, &str)],
    scope_ids: &[&str],
) -> (zenqms_sim::RunningSim, OktaSim, TestApp) {
    let zenqms = tenant_sim().await;
    let okta = start_okta(OktaConfig {
        seed: Some(org()),
        ..OktaConfig::default()
    })
    .await;
    let mut settings = vec![
        ("SYNC_DRIFT_SWEEP_SECS", "0"),
        ("OKTA_RESYNC_SECS", "0"),
        ("SECRET_KEY", SECRET_KEY),
    ];
    settings.extend_from_slice(extra);
    let app = bridge_on(db, &zenqms, &settings).await;
    connect_with_roles(&app, &okta).await;
    scope(&app, &okta, scope_ids).await;
    (zenqms, okta, app)
}

async fn scope(app: &TestApp, okta: &OktaSim, ids: &[&str]) {
    let (s, body) = send(app.admin(Method::PUT, "/settings/okta").json(&json!({
        "org_url": format!("http://{}/", okta.addr),
        "client_id": crate::okta_support::CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope_group_ids": ids,
    })))
    .await;
    assert_eq!(s, 200, "{body}");
}

/// Connected, a Full initial sync done (a, d, e, f in ZenQMS), Eng mapped to role 7.
async fn setup(extra: &[(&str, &str)]) -> (zenqms_sim::RunningSim, OktaSim, TestApp) {
    synced_and_mapped(setup_on(crate::harness::TestDb::new(), extra).await).await
}

/// A Full initial sync done (a, d, e, f in ZenQMS), Eng mapped to role 7.
async fn synced_and_mapped(
    (zenqms, okta, app): (zenqms_sim::RunningSim, OktaSim, TestApp),
) -> (zenqms_sim::RunningSim, OktaSim, TestApp) {
    let run = run_to_done(&app, "full", false).await;
    assert_eq!(run["source"], "okta", "{run}");
    settled(&app, WAIT).await;
    for n in ["a", "d", "e", "f"] {
        zenqms_until(&zenqms, &format!("{n}@example.com"), |u| {
            u.status == Status::Active
        })
        .await;
    }
    let eng = group_named(&app, "Eng")
        .await
        .expect("Eng in the directory");
    map_group(&app, eng["id"].as_str().expect("id"), &["7"]).await;
    (zenqms, okta, app)
}

/// `okta.resync` of the sync status.
pub(crate) async fn resync_status(app: &TestApp) -> Value {
    status(app).await["okta"]["resync"].clone()
}

/// `POST /api/v1/okta/resync`.
async fn post_resync(app: &TestApp) -> (u16, Value) {
    send(app.admin(Method::POST, "/okta/resync")).await
}

/// Waits until no re-read runs and the last one began at or after `after` (text, RFC 3339
/// with microseconds: comparable as text); returns the status.
async fn finished_since(app: &TestApp, after: &str) -> Value {
    eventually(WAIT, || async {
        let r = resync_status(app).await;
        r["state"] != "running"
            && r["last_finished_at"].is_string()
            && r["last_started_at"].as_str().is_some_and(|s| s >= after)
            && r["last_finished_at"].as_str() >= r["last_started_at"].as_str()
    })
    .await;
    resync_status(app).await
}

/// Starts a re-read over the admin API and waits for its end.
pub(crate) async fn resync(app: &TestApp) -> Value {
    let (s, body) = post_resync(app).await;
    assert_eq!(s, 202, "{body}");
    assert_eq!(body["started"], true, "{body}");
    let started = body["resync"]["last_started_at"]
        .as_str()
        .expect("started_at")
        .to_string();
    finished_since(app, &started).await
}

/// First pages of `key`'s listings in okta-sim's call log: (with a filter, without one).
fn listings(okta: &OktaSim, key: &str) -> (usize, usize) {
    let calls = okta.sim.calls();
    let (filtered, whole): (Vec<_>, Vec<_>) = calls
        .records(key)
        .filter(|r| !r.query.contains("after="))
        .partition(|r| r.query.contains("filter="));
    (filtered.len(), whole.len())
}

/// Listings of users: (changed since the mark, every user).
fn user_listings(okta: &OktaSim) -> (usize, usize) {
    listings(okta, "GET /api/v1/users")
}

/// Reads of `key` (`GET /api/v1/users/{id}`, …) Okta answered 404.
fn not_found(okta: &OktaSim, key: &str) -> usize {
    okta.sim
        .calls()
        .records(key)
        .filter(|r| r.status == Some(404))
        .count()
}

fn profile(pairs: &[(&str, &str)]) -> serde_json::Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect()
}

/// Four changes in Okta: a's first name, d deactivated, e added to Eng (a mapped role), f
/// out of Staff (out of the scope).
fn change_a_d_e_and_f(okta: &OktaSim) {
    okta.sim
        .update_profile("00ua", profile(&[("firstName", "Adele")]))
        .expect("profile");
    okta.sim
        .lifecycle("00ud", Lifecycle::Deactivate)
        .expect("deactivated");
    okta.sim.add_member(ENG, "00ue").expect("added to Eng");
    okta.sim.remove_member(STAFF, "00uf").expect("left Staff");
}

#[tokio::test]
async fn missed_changes_reach_zenqms_after_a_resync() {
    let (zenqms, okta, app) = setup(&[]).await;
    assert!(okta.sim.hooks().is_empty(), "no event hook delivers");
    // Events the bridge never hears of.
    change_a_d_e_and_f(&okta);
    settled(&app, WAIT).await;
    assert_eq!(
        zenqms_user(&zenqms, "a@example.com").map(|u| u.first_name),
        Some("Givena".to_string()),
        "nothing reaches ZenQMS without an event or a re-read"
    );

    let r = resync(&app).await;
    assert_eq!(r["last_outcome"], "completed", "{r}");
    assert_eq!(r["trigger"], "admin", "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    // a and d changed (their lastUpdated moved); e and f only through their groups.
    assert_eq!(r["users_read"], 2, "{r}");
    assert_eq!(r["users_changed"], 2, "{r}");
    assert!(r["groups_read"].as_i64() >= Some(2), "{r}");
    assert!(r["groups_changed"].as_i64() >= Some(2), "{r}");
    assert!(
        r["users_mark"].is_string() && r["groups_mark"].is_string(),
        "{r}"
    );

    zenqms_until(&zenqms, "a@example.com", |u| u.first_name == "Adele").await;
    zenqms_until(&zenqms, "d@example.com", |u| u.status == Status::Disabled).await;
    zenqms_until(&zenqms, "e@example.com", |u| {
        u.role_ids.contains(&Id::Num(7))
    })
    .await;
    zenqms_until(&zenqms, "f@example.com", |u| u.status == Status::Disabled).await;

    // Audited, start and finish.
    let (s, audit) = send(app.admin(Method::GET, "/audit?action=okta.resync.")).await;
    assert_eq!(s, 200, "{audit}");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .map(|l| l.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert!(actions.contains(&"okta.resync.start"), "{audit}");
    assert!(actions.contains(&"okta.resync.finish"), "{audit}");

    // Nothing changed since: a second re-read changes nothing.
    let again = resync(&app).await;
    assert_eq!(again["last_outcome"], "completed", "{again}");
    assert_eq!(again["users_changed"], 0, "{again}");
    assert_eq!(again["groups_changed"], 0, "{again}");

    // f joins Staff again; its own record in Okta has not changed, only the group shows it:
    // the re-read brings it back into the scope, active in ZenQMS.
    okta.sim.add_member(STAFF, "00uf").expect("back in Staff");
    let back = resync(&app).await;
    assert_eq!(back["last_outcome"], "completed", "{back}");
    assert_eq!(back["errors"], 0, "{back}");
    zenqms_until(&zenqms, "f@example.com", |u| u.status == Status::Active).await;
    app.stop().await;
    okta.stop().await;
}

/// Deleted in Okta while no hook delivers: a user (deactivated, then deleted) and a mapped
/// group. Neither is in any list of changes; the re-read finds both missing from Okta's whole
/// lists and follows them by id (Okta answers 404): ZenQMS shows the user inactive and the
/// group's role revoked. The whole org is the scope, so no scope group's member list leads to
/// the user. Groups are listed whole in every re-read, users once per OKTA_PRESENCE_SECS.
#[tokio::test]
async fn users_and_groups_deleted_in_okta_are_found_by_the_resync() {
    let (zenqms, okta, app) = setup_scoped(crate::harness::TestDb::new(), &[], &[]).await;
    // e in Eng before the initial sync: Eng's mapping gives it role 7.
    okta.sim.add_member(ENG, "00ue").expect("e in Eng");
    let (zenqms, okta, app) = synced_and_mapped((zenqms, okta, app)).await;
    zenqms_until(&zenqms, "e@example.com", |u| {
        u.role_ids.contains(&Id::Num(7))
    })
    .await;
    assert!(okta.sim.hooks().is_empty(), "no event hook delivers");

    okta.sim
        .lifecycle("00ud", Lifecycle::Deactivate)
        .expect("deactivated");
    okta.sim.delete_user("00ud").expect("deleted");
    okta.sim.delete_group(ENG).expect("deleted");
    settled(&app, WAIT).await;
    assert_eq!(
        zenqms_user(&zenqms, "d@example.com").map(|u| u.status),
        Some(Status::Active),
        "nothing reaches ZenQMS without an event or a re-read"
    );
    okta.sim.reset_calls();

    let r = resync(&app).await;
    assert_eq!(r["last_outcome"], "completed", "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["users_missing"], 1, "{r}");
    assert_eq!(r["groups_missing"], 1, "{r}");
    assert_eq!(r["presence_interval_secs"], 86_400, "{r}");
    assert!(r["presence_checked_at"].is_string(), "{r}");
    zenqms_until(&zenqms, "d@example.com", |u| u.status == Status::Disabled).await;
    zenqms_until(&zenqms, "e@example.com", |u| {
        u.status == Status::Active && !u.role_ids.contains(&Id::Num(7))
    })
    .await;
    assert!(group_named(&app, "Eng").await.is_none(), "Eng is deleted");
    assert!(
        not_found(&okta, "GET /api/v1/users/{id}") >= 1,
        "d read: 404"
    );
    assert!(
        not_found(&okta, "GET /api/v1/groups/{id}") >= 1,
        "Eng read: 404"
    );
    assert_eq!(user_listings(&okta), (1, 1), "changed users, every user");
    let groups = listings(&okta, "GET /api/v1/groups");
    assert_eq!(groups, (1, 1), "changed groups, every group");

    // Within OKTA_PRESENCE_SECS: the groups are compared again, the users are not listed.
    okta.sim.reset_calls();
    let again = resync(&app).await;
    assert_eq!(again["last_outcome"], "completed", "{again}");
    assert_eq!(again["users_missing"], 0, "{again}");
    assert_eq!(again["groups_missing"], 0, "{again}");
    assert_eq!(
        again["presence_checked_at"], r["presence_checked_at"],
        "{again}"
    );
    assert_eq!(user_listings(&okta), (1, 0), "only the changed users");
    assert_eq!(listings(&okta, "GET /api/v1/groups"), (1, 1));
    app.stop().await;
    okta.stop().await;
}

#[tokio::test]
async fn the_periodic_resync_runs_by_itself() {
    let (zenqms, okta, app) = setup(&[("OKTA_RESYNC_SECS", "1")]).await;
    okta.sim
        .update_profile("00ue", profile(&[("title", "Principal")]))
        .expect("profile");
    zenqms_until(&zenqms, "e@example.com", |u| u.title == "Principal").await;
    let r = resync_status(&app).await;
    assert_eq!(r["interval_secs"], 1, "{r}");
    assert!(
        ["periodic", "first"].contains(&r["trigger"].as_str().unwrap_or("")),
        "{r}"
    );
    app.stop().await;
    okta.stop().await;
}

#[tokio::test]
async fn an_okta_outage_fails_the_resync_and_the_next_one_catches_up() {
    let (zenqms, okta, app) = setup(&[]).await;
    let first = resync(&app).await;
    assert_eq!(first["last_outcome"], "completed", "{first}");
    let mark = first["users_mark"].clone();
    assert!(mark.is_string(), "{first}");

    okta.sim
        .update_profile("00ua", profile(&[("lastName", "Lovelace")]))
        .expect("profile");
    okta.sim
        .set_faults(Faults {
            outage: true,
            ..Faults::default()
        })
        .expect("outage");
    let failed = resync(&app).await;
    assert_eq!(failed["last_outcome"], "failed", "{failed}");
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(failed["problem"].is_string(), "{failed}");
    assert_eq!(
        failed["users_mark"], mark,
        "a failed re-read keeps its mark"
    );
    assert_eq!(
        failed["requested"], true,
        "a failed re-read asks for another"
    );

    okta.sim.set_faults(Faults::default()).expect("recovered");
    let caught_up = resync(&app).await;
    assert_eq!(caught_up["last_outcome"], "completed", "{caught_up}");
    assert_eq!(caught_up["problem"], Value::Null, "{caught_up}");
    zenqms_until(&zenqms, "a@example.com", |u| u.last_name == "Lovelace").await;
    app.stop().await;
    okta.stop().await;
}

#[tokio::test]
async fn two_processes_make_one_resync() {
    let (zenqms, okta, one) = setup(&[]).await;
    let two = bridge_on(
        one.db.share(),
        &zenqms,
        &[
            ("SYNC_DRIFT_SWEEP_SECS", "0"),
            ("OKTA_RESYNC_SECS", "0"),
            // Opens the Okta tokens the first process stored.
            ("SECRET_KEY", SECRET_KEY),
        ],
    )
    .await;
    // Each call to Okta takes a while, so the first re-read is still running when the
    // second process is asked.
    okta.sim
        .set_faults(Faults {
            latency_ms: 200,
            ..Faults::default()
        })
        .expect("latency");
    okta.sim.reset_calls();
    let (s, a) = post_resync(&one).await;
    assert_eq!(s, 202, "{a}");
    assert_eq!(a["started"], true, "{a}");
    let (s, b) = post_resync(&two).await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["started"], false, "{b}");
    assert_eq!(b["resync"]["state"], "running", "{b}");
    let started = a["resync"]["last_started_at"]
        .as_str()
        .expect("started")
        .to_string();
    finished_since(&two, &started).await;
    assert_eq!(
        user_listings(&okta),
        (1, 1),
        "one listing of changed users, and (the first re-read) one of every user"
    );

    // Both processes asked at once through the persisted request: one re-read.
    okta.sim.set_faults(Faults::default()).expect("no latency");
    okta.sim.reset_calls();
    let before = resync_status(&one).await["last_started_at"].clone();
    one.state.resync.request_now("test").await.expect("asked");
    two.state.resync.request_now("test").await.expect("asked");
    eventually(WAIT, || async {
        let r = resync_status(&two).await;
        r["last_started_at"] != before && r["state"] == "idle" && r["requested"] == false
    })
    .await;
    let r = resync_status(&one).await;
    assert_eq!(r["trigger"], "test", "{r}");
    assert_eq!(r["last_outcome"], "completed", "{r}");
    assert_eq!(user_listings(&okta), (1, 0), "{r}");
    two.stop().await;
    one.stop().await;
    okta.stop().await;
}

#[tokio::test]
async fn nothing_runs_while_okta_is_not_connected_or_not_yet_read() {
    let zenqms = tenant_sim().await;
    let app = bridge(&zenqms, &[("OKTA_RESYNC_SECS", "1")]).await;
    let (s, body) = post_resync(&app).await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"], "conflict", "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("not connected") && m.contains("/api/v1/settings/okta")),
        "{body}"
    );
    let r = resync_status(&app).await;
    assert_eq!(r["state"], "not_connected", "{r}");
    assert!(r["problem"].is_string(), "{r}");
    assert_eq!(r["next_at"], Value::Null, "{r}");
    app.stop().await;

    // Connected, but no initial sync from Okta yet: no starting point.
    let (zenqms, okta, app) = setup_on(crate::harness::TestDb::new(), &[]).await;
    let (s, body) = post_resync(&app).await;
    assert_eq!(s, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("initial sync")),
        "{body}"
    );
    assert_eq!(
        resync_status(&app).await["state"],
        "waiting_for_initial_sync"
    );
    drop(zenqms);
    app.stop().await;
    okta.stop().await;
}

/// The settings every bridge of these tests runs with (`setup`'s).
const SETTINGS: [(&str, &str); 3] = [
    ("SYNC_DRIFT_SWEEP_SECS", "0"),
    ("OKTA_RESYNC_SECS", "0"),
    ("SECRET_KEY", SECRET_KEY),
];

#[tokio::test]
async fn a_bridge_stopped_while_okta_changes_is_level_again_after_its_restart() {
    let (zenqms, okta, app) = setup(&[]).await;
    register_hook(&okta, &app).await;
    // The hook delivers while the bridge runs.
    okta.sim
        .update_profile("00ue", profile(&[("title", "Lead")]))
        .expect("profile");
    zenqms_until(&zenqms, "e@example.com", |u| u.title == "Lead").await;
    eventually(WAIT, || async {
        let d = okta.sim.deliveries();
        !d.is_empty() && d.iter().all(|r| r.outcome == DeliveryOutcome::Delivered)
    })
    .await;
    let received = app
        .state
        .okta_hooks
        .stats()
        .await
        .expect("stats")
        .deliveries;
    assert!(received >= 1, "the hook delivered to the running bridge");

    // The bridge stops (periodic re-reads are off: OKTA_RESYNC_SECS=0); Okta changes.
    let port = app.port();
    let db = app.stop_keeping_db().await;
    okta.sim.reset_deliveries();
    change_a_d_e_and_f(&okta);
    okta.sim
        .create_user(NewUser {
            profile: profile(&[
                ("login", "g@example.com"),
                ("email", "g@example.com"),
                ("firstName", "Givg"),
                ("lastName", "Famg"),
                ("title", "Auditor"),
            ]),
            status: None,
            group_ids: vec![STAFF.to_string()],
        })
        .expect("a new user assigned");
    // Okta sent each event to the stopped bridge, retried once, and gave up.
    eventually(WAIT, || async {
        let d = okta.sim.deliveries();
        let types: Vec<&String> = d.iter().flat_map(|r| &r.event_types).collect();
        d.iter().all(|r| r.outcome == DeliveryOutcome::Failed)
            && types.iter().any(|t| *t == "user.lifecycle.create")
            && types.iter().any(|t| *t == "group.user_membership.remove")
    })
    .await;
    let lost = okta.sim.deliveries();
    assert!(
        lost.iter().all(|r| r.attempts.len() == 2),
        "each failed delivery was tried twice: {lost:?}"
    );

    // Started again on the same database and address: a hook is recorded, so the start asks
    // for a re-read, which brings ZenQMS level with no event delivered.
    let app = crate::sim_support::bridge_at(db, port, &zenqms, &SETTINGS).await;
    zenqms_until(&zenqms, "a@example.com", |u| u.first_name == "Adele").await;
    zenqms_until(&zenqms, "d@example.com", |u| u.status == Status::Disabled).await;
    zenqms_until(&zenqms, "e@example.com", |u| {
        u.role_ids.contains(&Id::Num(7))
    })
    .await;
    zenqms_until(&zenqms, "f@example.com", |u| u.status == Status::Disabled).await;
    zenqms_until(&zenqms, "g@example.com", |u| {
        u.status == Status::Active && u.title == "Auditor"
    })
    .await;
    let r = finished_since(&app, "").await;
    assert_eq!(r["last_outcome"], "completed", "{r}");
    assert_eq!(
        r["trigger"],
        zenqms_bridge::okta_hooks::registration::RESTARTED,
        "{r}"
    );
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(
        app.state
            .okta_hooks
            .stats()
            .await
            .expect("stats")
            .deliveries,
        received,
        "no event was delivered: the re-read did it"
    );
    assert!(
        okta.sim
            .deliveries()
            .iter()
            .all(|r| r.outcome == DeliveryOutcome::Failed),
        "nothing was delivered after the stop"
    );
    app.stop().await;
    okta.stop().await;
}
