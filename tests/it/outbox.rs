//! The outbox's upsert, on the real database: one job per user, coalesced, bumped on change.

use diesel::prelude::*;
use zenqms_bridge::outbox;
use zenqms_bridge::store::schema::{group_members, scim_groups, scim_users};
use zenqms_bridge::sync::queue;

use crate::harness::TestApp;

fn insert_user(conn: &mut zenqms_bridge::store::DbConn, id: &str) {
    let now = zenqms_bridge::store::now();
    diesel::insert_into(scim_users::table)
        .values((
            scim_users::id.eq(id),
            scim_users::user_name.eq(id),
            scim_users::user_name_lower.eq(id),
            scim_users::active.eq(true),
            scim_users::attributes.eq("{}"),
            scim_users::version.eq(1i64),
            scim_users::created_at.eq(now),
            scim_users::updated_at.eq(now),
        ))
        .execute(conn)
        .expect("insert user");
}

#[tokio::test]
async fn enqueue_coalesces_per_user_and_covers_group_members() {
    let app = TestApp::start().await;
    // The start-up backfill (users without sync state are enqueued) runs before the first
    // housekeeping round ends; users inserted earlier would be enqueued by it too.
    crate::sim_support::housekeeping_rounds(&app, 1).await;
    let mut conn = app.state.pool.get().expect("conn");
    for id in ["u1", "u2", "u3"] {
        insert_user(&mut conn, id);
    }
    let n = outbox::enqueue_users(&mut conn, &["u1".into(), "u2".into(), "nobody".into()])
        .expect("enqueue");
    assert_eq!(n, 2, "unknown ids are ignored");
    assert_eq!(queue::depth(&mut conn).unwrap(), 2);
    let first = queue::job_of(&mut conn, "u1").unwrap().expect("job");
    assert_eq!((first.generation, first.attempts), (1, 0));

    outbox::enqueue_users(&mut conn, &["u1".into()]).unwrap();
    let again = queue::job_of(&mut conn, "u1").unwrap().expect("job");
    assert_eq!(again.generation, 2, "a second change bumps the one job");
    assert_eq!(queue::depth(&mut conn).unwrap(), 2);

    let now = zenqms_bridge::store::now();
    diesel::insert_into(scim_groups::table)
        .values((
            scim_groups::id.eq("g1"),
            scim_groups::display_name.eq("QA"),
            scim_groups::display_name_lower.eq("qa"),
            scim_groups::attributes.eq("{}"),
            scim_groups::member_count.eq(2i64),
            scim_groups::version.eq(1i64),
            scim_groups::created_at.eq(now),
            scim_groups::updated_at.eq(now),
        ))
        .execute(&mut *conn)
        .unwrap();
    for u in ["u2", "u3"] {
        diesel::insert_into(group_members::table)
            .values((
                group_members::group_id.eq("g1"),
                group_members::user_id.eq(u),
            ))
            .execute(&mut *conn)
            .unwrap();
    }
    assert_eq!(outbox::enqueue_group_members(&mut conn, "g1").unwrap(), 2);
    assert_eq!(queue::depth(&mut conn).unwrap(), 3);
    assert_eq!(
        queue::job_of(&mut conn, "u2").unwrap().unwrap().generation,
        2
    );
    assert_eq!(
        queue::job_of(&mut conn, "u3").unwrap().unwrap().generation,
        1
    );
    drop(conn);
    app.stop().await;
}
