//! Retention of event-hook deliveries and events (`OKTA_EVENTS_RETAIN_DAYS`, default 30): the
//! processor's task, at its start and hourly, deletes events done longer ago than that and the
//! deliveries they leave empty; recent ones and pending ones (whatever their age) stay, and a
//! delivery Okta repeats within the retention is still recognised as a duplicate. Both
//! databases, real deliveries over HTTP, the bridge restarted to run the task's first pass.

use diesel::prelude::*;
use okta_sim::Faults;
use zenqms_bridge::store::schema::{okta_hook_deliveries, okta_hook_events};

use crate::harness::{eventually, TestApp};
use crate::okta_hooks_support::*;
use crate::okta_support::SECRET_KEY;
use crate::sim_support::bridge_on;

/// The event's state and its delivery's id (`None`: no such event kept).
fn event(app: &TestApp, uuid: &str) -> Option<(String, String)> {
    let mut conn = app.state.pool.get().expect("conn");
    okta_hook_events::table
        .filter(okta_hook_events::uuid.eq(uuid))
        .select((okta_hook_events::state, okta_hook_events::delivery_id))
        .first(&mut *conn)
        .optional()
        .expect("read")
}

fn deliveries(app: &TestApp) -> i64 {
    let mut conn = app.state.pool.get().expect("conn");
    okta_hook_deliveries::table
        .count()
        .get_result(&mut *conn)
        .expect("count")
}

/// Moves an event, and its delivery, `days` into the past.
fn age(app: &TestApp, uuid: &str, days: i64) {
    let (_, delivery) = event(app, uuid).expect("the event");
    let then = chrono::Utc::now().naive_utc() - chrono::TimeDelta::days(days);
    let mut conn = app.state.pool.get().expect("conn");
    diesel::update(okta_hook_events::table.filter(okta_hook_events::uuid.eq(uuid)))
        .set((
            okta_hook_events::received_at.eq(then),
            okta_hook_events::published.eq(then),
        ))
        .execute(&mut *conn)
        .expect("aged");
    diesel::update(
        okta_hook_events::table
            .filter(okta_hook_events::uuid.eq(uuid))
            .filter(okta_hook_events::done_at.is_not_null()),
    )
    .set(okta_hook_events::done_at.eq(then))
    .execute(&mut *conn)
    .expect("aged");
    diesel::update(okta_hook_deliveries::table.filter(okta_hook_deliveries::id.eq(&delivery)))
        .set(okta_hook_deliveries::received_at.eq(then))
        .execute(&mut *conn)
        .expect("aged");
    diesel::update(
        okta_hook_deliveries::table
            .filter(okta_hook_deliveries::id.eq(&delivery))
            .filter(okta_hook_deliveries::processed_at.is_not_null()),
    )
    .set(okta_hook_deliveries::processed_at.eq(then))
    .execute(&mut *conn)
    .expect("aged");
}

fn delivery_of(uuid: &str) -> Vec<u8> {
    envelope(vec![log_event(
        uuid,
        "user.account.update_profile",
        Some("00ua"),
        None,
    )])
    .to_string()
    .into_bytes()
}

async fn deliver(app: &TestApp, uuid: &str) {
    let (s, body) = post_delivery(app, Some(HOOK_SECRET), delivery_of(uuid)).await;
    assert!(s == 200 || s == 204, "{s} {body}");
}

#[tokio::test]
async fn processed_deliveries_past_the_retention_are_deleted_and_duplicates_still_recognised() {
    let Setup { zenqms, okta, app } = setup_on(crate::harness::TestDb::new(), fast()).await;
    register_hook(&okta, &app).await;
    for uuid in ["ret-old", "ret-new"] {
        deliver(&app, uuid).await;
        eventually(WAIT, || async {
            event(&app, uuid).is_some_and(|(s, _)| s == "applied")
        })
        .await;
    }
    // Okta down: this event stays pending (retried with backoff), however old it gets.
    okta.sim
        .set_faults(Faults {
            outage: true,
            ..Faults::default()
        })
        .expect("outage");
    deliver(&app, "ret-pending").await;
    assert_eq!(
        event(&app, "ret-pending").map(|e| e.0),
        Some("pending".into())
    );
    age(&app, "ret-old", 31);
    age(&app, "ret-new", 29);
    age(&app, "ret-pending", 40);
    let pending_delivery = event(&app, "ret-pending").expect("pending").1;
    assert_eq!(deliveries(&app), 3);

    // The processor's task prunes at its start (and hourly): a restart runs it.
    let db = app.stop_keeping_db().await;
    let app = bridge_on(
        db,
        &zenqms,
        &[("SYNC_DRIFT_SWEEP_SECS", "0"), ("SECRET_KEY", SECRET_KEY)],
    )
    .await;
    eventually(WAIT, || async { event(&app, "ret-old").is_none() }).await;
    eventually(WAIT, || async { deliveries(&app) == 2 }).await;
    assert_eq!(
        event(&app, "ret-new").map(|e| e.0),
        Some("applied".into()),
        "inside the retention: kept"
    );
    assert_eq!(
        event(&app, "ret-pending"),
        Some(("pending".to_string(), pending_delivery)),
        "pending: kept with its delivery, whatever its age"
    );

    // Okta repeats a delivery it made 29 days ago: still a duplicate (nothing new to process).
    let before = event(&app, "ret-new").expect("kept");
    deliver(&app, "ret-new").await;
    assert_eq!(
        event(&app, "ret-new"),
        Some(before),
        "the event is not stored again"
    );
    let stats = app.state.okta_hooks.stats().await.expect("stats");
    assert_eq!(stats.deliveries, 3, "{stats:?}");
    assert_eq!(stats.events_pending, 1, "only ret-pending: {stats:?}");
    app.stop().await;
    okta.stop().await;
}
