//! Event hooks over real HTTP, against a small receiver started in each test:
//! registration, verification, delivery (auth header, envelope, batching), retries, and
//! the delivery faults.

mod common;

use std::collections::HashSet;

use common::*;
use okta_sim::{DeliveryOutcome, DeliveryRecord, HookDelivery, SimConfig, EVENT_TYPES};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

const SECRET: &str = "Bearer hook-secret-123";

struct Setup {
    org: Org,
    rx: Receiver,
    token: String,
    hook_id: String,
}

fn delivery(d: HookDelivery) -> SimConfig {
    SimConfig {
        hook_delivery: d,
        generate: Some(okta_sim::Generate::new(10, 2, 5)),
        ..config()
    }
}

fn fast() -> HookDelivery {
    HookDelivery {
        batch_window_ms: 30,
        retry_delay_ms: 10,
        ..HookDelivery::default()
    }
}

/// An org, a receiver and a verified hook on every event type the sim emits.
async fn setup(d: HookDelivery) -> Setup {
    let org = start(delivery(d)).await;
    let rx = Receiver::start(SECRET).await;
    let token = org.access_token().await;
    let items: Vec<&str> = EVENT_TYPES[..12].to_vec();
    let a = org
        .api(
            Method::POST,
            "/api/v1/eventHooks",
            &token,
            Some(hook_body(&rx.url, SECRET, &items)),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let hook_id = a.body["id"].as_str().unwrap().to_owned();
    let v = org
        .api(
            Method::POST,
            &format!("/api/v1/eventHooks/{hook_id}/lifecycle/verify"),
            &token,
            None,
        )
        .await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.body);
    assert_eq!(v.body["verificationStatus"], "VERIFIED");
    Setup {
        org,
        rx,
        token,
        hook_id,
    }
}

impl Setup {
    async fn stop(self) {
        self.org.stop().await;
        self.rx.stop().await;
    }
}

/// Events received so far, in arrival order: (eventType, uuid).
fn received_events(rx: &Receiver) -> Vec<(String, String)> {
    rx.posts()
        .iter()
        .flat_map(|p| {
            p.body["data"]["events"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|e| {
            (
                e["eventType"].as_str().unwrap().to_owned(),
                e["uuid"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn wait_records(
    org: &Org,
    what: &str,
    pred: impl Fn(&[DeliveryRecord]) -> bool,
) -> Vec<DeliveryRecord> {
    eventually(what, || {
        let d = org.sim().deliveries();
        let ok = pred(&d);
        async move { ok.then_some(d) }
    })
    .await
}

/// Waits until there are `n` delivery records and the last has ended (is not pending).
async fn wait_ended(org: &Org, what: &str, n: usize) -> Vec<DeliveryRecord> {
    wait_records(org, what, |d| {
        d.len() == n && d[n - 1].outcome != DeliveryOutcome::Pending
    })
    .await
}

/// Waits until the receiver has had exactly `n` POSTs.
async fn wait_posts(rx: &Receiver, what: &str, n: usize) {
    let posts = eventually(what, || {
        let got = rx.posts().len();
        async move { (got == n).then_some(got) }
    })
    .await;
    assert_eq!(posts, n);
}

fn title(t: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("title".into(), json!(t));
    m
}

fn first_active(org: &Org) -> String {
    org.sim()
        .state()
        .users
        .into_iter()
        .find(|u| u.status == okta_sim::UserStatus::Active)
        .unwrap()
        .id
}

#[tokio::test]
async fn register_verify_and_receive_events_with_the_secret_in_the_okta_envelope() {
    let org = start(delivery(fast())).await;
    let rx = Receiver::start(SECRET).await;
    let token = org.access_token().await;
    let items = [
        "user.lifecycle.create",
        "group.user_membership.add",
        "user.account.update_profile",
    ];

    // HTTPS is required, except to a loopback host.
    let a = org
        .api(
            Method::POST,
            "/api/v1/eventHooks",
            &token,
            Some(hook_body(
                "http://bridge.example.com/okta/events",
                SECRET,
                &items,
            )),
        )
        .await;
    a.assert_error(StatusCode::BAD_REQUEST, "E0000001");
    let a = org
        .api(
            Method::POST,
            "/api/v1/eventHooks",
            &token,
            Some(hook_body(&rx.url, SECRET, &["user.bogus"])),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    let a = org
        .api(
            Method::POST,
            "/api/v1/eventHooks",
            &token,
            Some(hook_body(&rx.url, SECRET, &items)),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let hook = a.body.clone();
    let id = hook["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("who"));
    assert_eq!(
        (hook["status"].as_str(), hook["verificationStatus"].as_str()),
        (Some("ACTIVE"), Some("UNVERIFIED"))
    );
    assert_eq!(hook["channel"]["config"]["uri"], rx.url.as_str());
    assert_eq!(
        hook["channel"]["config"]["authScheme"],
        json!({"type": "HEADER", "key": "Authorization"})
    );
    assert!(
        !hook.to_string().contains("hook-secret"),
        "the secret never leaves"
    );
    assert_eq!(hook["events"]["items"], json!(items));
    for key in ["name", "created", "lastUpdated"] {
        assert!(hook.get(key).is_some(), "{key}");
    }

    let v = org
        .api(
            Method::POST,
            &format!("/api/v1/eventHooks/{id}/lifecycle/verify"),
            &token,
            None,
        )
        .await;
    assert_eq!(v.body["verificationStatus"], "VERIFIED");
    let gets: Vec<Received> = rx.got().into_iter().filter(|r| r.method == "GET").collect();
    assert_eq!(gets.len(), 1);
    assert_eq!(gets[0].headers["authorization"], SECRET);
    assert!(!gets[0].headers["x-okta-verification-challenge"].is_empty());

    let listed = org.get("/api/v1/eventHooks", &token).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(
        org.get(&format!("/api/v1/eventHooks/{id}"), &token)
            .await
            .body["verificationStatus"],
        "VERIFIED"
    );

    // A change in the org reaches the hook.
    let user = org
        .sim()
        .create_user(okta_sim::NewUser {
            profile: serde_json::from_value(json!({"login": "h@example.com", "email": "h@example.com", "firstName": "H", "lastName": "K"})).unwrap(),
            status: None,
            group_ids: vec![],
        })
        .unwrap();
    let post = eventually("a delivery", || {
        let p = rx.posts();
        async move { p.into_iter().next() }
    })
    .await;
    assert_eq!(post.headers["authorization"], SECRET);
    assert!(post.headers["content-type"].starts_with("application/json"));
    let b = &post.body;
    assert_eq!(b["eventType"], "com.okta.event_hook");
    assert_eq!(b["eventTypeVersion"], "1.0");
    assert_eq!(b["cloudEventsVersion"], "0.1");
    assert_eq!(b["contentType"], "application/json");
    assert!(b["source"].as_str().unwrap().ends_with(&id));
    assert!(b["eventId"].is_string() && b["eventTime"].is_string());
    let events = b["data"]["events"].as_array().unwrap();
    // Only subscribed types: the create, not the activate.
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["eventType"], "user.lifecycle.create");
    assert_eq!(events[0]["target"][0]["id"], user.id.as_str());
    assert_eq!(events[0]["target"][0]["alternateId"], "h@example.com");

    let records = wait_records(&org, "the delivery recorded as delivered", |d| {
        d.first()
            .is_some_and(|r| r.outcome == DeliveryOutcome::Delivered)
    })
    .await;
    assert_eq!(records[0].attempts.len(), 1);
    assert_eq!(records[0].attempts[0].status, Some(200));
    assert_eq!(records[0].event_id, b["eventId"].as_str().unwrap());
    org.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn a_failed_verification_is_retried_once_and_leaves_the_hook_unverified() {
    let org = start(delivery(fast())).await;
    let rx = Receiver::start(SECRET).await;
    rx.bad_verification(true);
    let token = org.access_token().await;
    let a = org
        .api(
            Method::POST,
            "/api/v1/eventHooks",
            &token,
            Some(hook_body(&rx.url, SECRET, &["user.lifecycle.create"])),
        )
        .await;
    let id = a.body["id"].as_str().unwrap().to_owned();
    let v = org
        .api(
            Method::POST,
            &format!("/api/v1/eventHooks/{id}/lifecycle/verify"),
            &token,
            None,
        )
        .await;
    v.assert_error(StatusCode::BAD_REQUEST, "E0000001");
    assert!(v.body["errorCauses"][0]["errorSummary"]
        .as_str()
        .unwrap()
        .contains("verification"));
    assert_eq!(rx.got().iter().filter(|r| r.method == "GET").count(), 2);
    assert_eq!(
        org.sim().hooks()[0].verification_status,
        okta_sim::Verification::Unverified
    );

    // A wrong secret at the receiver (401) fails too; the right one then verifies.
    let mut body = hook_body(&rx.url, "Bearer wrong", &["user.lifecycle.create"]);
    org.api(
        Method::PUT,
        &format!("/api/v1/eventHooks/{id}"),
        &token,
        Some(body.clone()),
    )
    .await;
    rx.bad_verification(false);
    let v = org
        .api(
            Method::POST,
            &format!("/api/v1/eventHooks/{id}/lifecycle/verify"),
            &token,
            None,
        )
        .await;
    assert_eq!(v.status, StatusCode::BAD_REQUEST);
    body["channel"]["config"]["authScheme"]["value"] = json!(SECRET);
    let put = org
        .api(
            Method::PUT,
            &format!("/api/v1/eventHooks/{id}"),
            &token,
            Some(body.clone()),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK);
    let v = org
        .api(
            Method::POST,
            &format!("/api/v1/eventHooks/{id}/lifecycle/verify"),
            &token,
            None,
        )
        .await;
    assert_eq!(v.body["verificationStatus"], "VERIFIED");
    // A PUT without the secret's value keeps it; a new URI needs verifying again.
    body["channel"]["config"]["authScheme"] = json!({"type": "HEADER", "key": "Authorization"});
    let put = org
        .api(
            Method::PUT,
            &format!("/api/v1/eventHooks/{id}"),
            &token,
            Some(body.clone()),
        )
        .await;
    assert_eq!(put.body["verificationStatus"], "VERIFIED");
    assert_eq!(
        org.sim().hooks()[0].auth_scheme.as_ref().unwrap().value,
        SECRET
    );
    body["channel"]["config"]["uri"] = json!(format!("{}?v=2", rx.url));
    let put = org
        .api(
            Method::PUT,
            &format!("/api/v1/eventHooks/{id}"),
            &token,
            Some(body),
        )
        .await;
    assert_eq!(put.body["verificationStatus"], "UNVERIFIED");
    org.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn events_are_batched_by_window_and_by_size() {
    let s = setup(HookDelivery {
        batch_window_ms: 400,
        ..fast()
    })
    .await;
    let uid = first_active(&s.org);
    for t in ["A", "B", "C", "D", "E"] {
        s.org.sim().update_profile(&uid, title(t)).unwrap();
    }
    let records = wait_records(&s.org, "one batched delivery", |d| {
        d.iter().map(|r| r.events).sum::<usize>() == 5
            && d.iter().all(|r| r.outcome == DeliveryOutcome::Delivered)
    })
    .await;
    assert_eq!(records.len(), 1, "five events in one delivery");
    assert_eq!(
        s.rx.posts()[0].body["data"]["events"]
            .as_array()
            .unwrap()
            .len(),
        5
    );

    s.org.sim().reset_deliveries();
    s.org
        .sim()
        .set_hook_delivery(HookDelivery {
            batch_max_events: 2,
            batch_window_ms: 5000,
            ..fast()
        })
        .unwrap();
    for t in ["F", "G", "H", "I"] {
        s.org.sim().update_profile(&uid, title(t)).unwrap();
    }
    let records = wait_records(&s.org, "two full batches", |d| {
        d.len() == 2 && d.iter().all(|r| r.outcome == DeliveryOutcome::Delivered)
    })
    .await;
    assert!(records.iter().all(|r| r.events == 2));
    let got: Vec<String> = received_events(&s.rx).into_iter().map(|(_, u)| u).collect();
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 9);
    s.stop().await;
}

#[tokio::test]
async fn a_5xx_or_timeout_is_retried_once_and_a_4xx_never() {
    let s = setup(HookDelivery {
        timeout_ms: 300,
        ..fast()
    })
    .await;
    let uid = first_active(&s.org);
    let change = |t: &str| s.org.sim().update_profile(&uid, title(t)).unwrap();

    s.rx.answer_next(&[500]);
    change("one");
    let r = wait_ended(&s.org, "retry after 500", 1).await;
    let statuses: Vec<Option<u16>> = r[0].attempts.iter().map(|a| a.status).collect();
    assert_eq!(
        (r[0].outcome, statuses),
        (DeliveryOutcome::Delivered, vec![Some(500), Some(200)])
    );

    s.rx.answer_next(&[503, 502]);
    change("two");
    let r = wait_ended(&s.org, "two failures", 2).await;
    assert_eq!(
        (r[1].outcome, r[1].attempts.len()),
        (DeliveryOutcome::Failed, 2)
    );

    s.rx.answer_next(&[400]);
    change("three");
    let r = wait_ended(&s.org, "a 4xx", 3).await;
    assert_eq!(
        (r[2].outcome, r[2].attempts.len()),
        (DeliveryOutcome::Failed, 1)
    );
    assert_eq!(r[2].attempts[0].status, Some(400));

    s.rx.slow(600);
    change("four");
    let r = wait_ended(&s.org, "two timeouts", 4).await;
    assert_eq!(
        (r[3].outcome, r[3].attempts.len()),
        (DeliveryOutcome::Failed, 2)
    );
    assert!(r[3]
        .attempts
        .iter()
        .all(|a| a.status.is_none() && a.error.as_deref().unwrap().contains("300 ms")));
    // The receiver saw 2 + 2 + 1 + 2 POSTs.
    wait_posts(&s.rx, "the slow POSTs to arrive", 7).await;
    s.stop().await;
}

#[tokio::test]
async fn duplicates_drops_late_and_abandoned_deliveries() {
    let s = setup(HookDelivery {
        duplicate_rate: 1.0,
        ..fast()
    })
    .await;
    let uid = first_active(&s.org);
    s.org.sim().update_profile(&uid, title("dup")).unwrap();
    let r = wait_records(&s.org, "a delivery and its duplicate", |d| {
        d.len() == 2 && d.iter().all(|r| r.outcome == DeliveryOutcome::Delivered)
    })
    .await;
    assert_eq!(r[1].duplicate_of, Some(r[0].seq));
    let posts = s.rx.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].body["eventId"], posts[1].body["eventId"]);
    assert_eq!(
        posts[0].body["data"]["events"][0]["uuid"],
        posts[1].body["data"]["events"][0]["uuid"]
    );

    // Dropped while the flag is set: recorded, never sent.
    s.org.sim().reset_deliveries();
    s.org
        .admin(
            Method::PUT,
            "/_sim/hooks/delivery",
            Some(json!({"drop": true, "batch_window_ms": 30})),
        )
        .await;
    s.org.sim().update_profile(&uid, title("lost")).unwrap();
    wait_records(&s.org, "a dropped delivery", |d| {
        d.len() == 1 && d[0].outcome == DeliveryOutcome::Dropped
    })
    .await;
    s.org
        .admin(
            Method::PATCH,
            "/_sim/hooks/delivery",
            Some(json!({"drop": false, "delay_ms": 300})),
        )
        .await;
    s.org.sim().update_profile(&uid, title("late")).unwrap();
    let r = wait_records(&s.org, "a late delivery", |d| {
        d.len() == 2 && d[1].outcome == DeliveryOutcome::Delivered
    })
    .await;
    let late = &r[1];
    assert_eq!(late.delayed_ms, 300);
    assert!((late.attempts[0].at - late.queued_at).num_milliseconds() >= 300);
    assert_eq!(s.rx.posts().len(), 3, "the dropped one never arrived");

    // Abandoned: sent, answer not waited for, not retried.
    s.rx.slow(500);
    s.org
        .admin(
            Method::PATCH,
            "/_sim/hooks/delivery",
            Some(json!({"delay_ms": 0, "abandon_rate": 1.0, "abandon_after_ms": 50})),
        )
        .await;
    s.org
        .sim()
        .update_profile(&uid, title("abandoned"))
        .unwrap();
    let r = wait_ended(&s.org, "an abandoned delivery", 3).await;
    assert_eq!(
        (r[2].outcome, r[2].attempts.len()),
        (DeliveryOutcome::Abandoned, 1)
    );
    assert_eq!(r[2].attempts[0].status, None);
    wait_posts(&s.rx, "the abandoned POST at the receiver", 4).await;
    s.stop().await;
}

#[tokio::test]
async fn a_held_back_delivery_arrives_after_a_later_one() {
    let s = setup(HookDelivery {
        reorder: true,
        reorder_hold_ms: 20_000,
        ..fast()
    })
    .await;
    let uid = first_active(&s.org);
    s.org.sim().update_profile(&uid, title("first")).unwrap();
    wait_records(&s.org, "the first delivery held", |d| {
        d.len() == 1 && d[0].reordered
    })
    .await;
    s.org.sim().update_profile(&uid, title("second")).unwrap();
    wait_records(&s.org, "both delivered", |d| {
        d.len() == 2 && d.iter().all(|r| r.outcome == DeliveryOutcome::Delivered)
    })
    .await;
    let events = s.org.sim().events();
    let got: Vec<String> = received_events(&s.rx).into_iter().map(|(_, u)| u).collect();
    assert_eq!(
        got,
        [events[1].uuid.clone(), events[0].uuid.clone()],
        "second before first"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_deactivated_hook_gets_nothing_and_only_an_inactive_hook_can_be_deleted() {
    let s = setup(fast()).await;
    let uid = first_active(&s.org);
    let path = format!("/api/v1/eventHooks/{}", s.hook_id);
    let a = s.org.api(Method::DELETE, &path, &s.token, None).await;
    a.assert_error(StatusCode::BAD_REQUEST, "E0000001");

    let a = s
        .org
        .api(
            Method::POST,
            &format!("{path}/lifecycle/deactivate"),
            &s.token,
            None,
        )
        .await;
    assert_eq!(a.body["status"], "INACTIVE");
    s.org.sim().update_profile(&uid, title("unseen")).unwrap();
    let a = s
        .org
        .api(
            Method::POST,
            &format!("{path}/lifecycle/activate"),
            &s.token,
            None,
        )
        .await;
    assert_eq!(
        (
            a.body["status"].as_str(),
            a.body["verificationStatus"].as_str()
        ),
        (Some("ACTIVE"), Some("VERIFIED"))
    );
    s.org.sim().update_profile(&uid, title("seen")).unwrap();
    // Events are dispatched in order: once "seen" arrived, "unseen" was already passed by.
    let got = eventually("the second change's delivery", || {
        let ev = received_events(&s.rx);
        async move { (!ev.is_empty()).then_some(ev) }
    })
    .await;
    let events = s.org.sim().events();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, events.last().unwrap().uuid);

    s.org
        .api(
            Method::POST,
            &format!("{path}/lifecycle/deactivate"),
            &s.token,
            None,
        )
        .await;
    let a = s.org.api(Method::DELETE, &path, &s.token, None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = s.org.get(&path, &s.token).await;
    a.assert_error(StatusCode::NOT_FOUND, "E0000007");

    // Managing hooks needs okta.eventHooks.manage.
    let reader = s.org.login("openid okta.users.read").await;
    let a = s
        .org
        .api(
            Method::POST,
            "/api/v1/eventHooks",
            &reader.access,
            Some(hook_body(&s.rx.url, SECRET, &["user.lifecycle.create"])),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    s.stop().await;
}

#[tokio::test]
async fn membership_events_name_the_user_then_the_group_and_admin_calls_do_not_wait_for_delivery() {
    let s = setup(HookDelivery {
        delay_ms: 2000,
        ..fast()
    })
    .await;
    let uid = first_active(&s.org);
    let group = s
        .org
        .sim()
        .state()
        .groups
        .into_iter()
        .find(|g| g.group_type == okta_sim::GroupType::OktaGroup)
        .unwrap();
    s.org.sim().remove_member(&group.id, &uid).unwrap();
    let started = std::time::Instant::now();
    let a = s
        .org
        .admin(
            Method::PUT,
            &format!("/_sim/groups/{}/users/{uid}", group.id),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        started.elapsed().as_millis() < 1500,
        "the admin call did not wait for the (late) delivery"
    );
    let posts = eventually("the membership delivery", || {
        let p = s.rx.posts();
        async move {
            let found = p
                .iter()
                .flat_map(|p| {
                    p.body["data"]["events"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .find(|e| e["eventType"] == "group.user_membership.add");
            found
        }
    })
    .await;
    assert_eq!(posts["target"][0]["type"], "User");
    assert_eq!(posts["target"][0]["id"], uid.as_str());
    assert_eq!(posts["target"][1]["type"], "UserGroup");
    assert_eq!(posts["target"][1]["id"], group.id.as_str());
    s.stop().await;
}
