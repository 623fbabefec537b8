//! Writing the directory the way the SCIM layer does (rows + outbox in one transaction),
//! for the sync tests that need no SCIM protocol detail.

#![allow(dead_code)]

use diesel::prelude::*;
use zenqms_bridge::store::schema::{scim_user_emails, scim_users};
use zenqms_bridge::sync::queue;

use crate::harness::TestApp;

#[derive(Clone, Debug)]
pub struct Person {
    pub id: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub given: Option<String>,
    pub family: Option<String>,
    pub title: Option<String>,
    pub active: bool,
    pub email: Option<String>,
}

impl Person {
    pub fn new(n: &str) -> Person {
        Person {
            id: format!("scim-{n}"),
            user_name: format!("{n}@example.com"),
            external_id: Some(format!("00u{n}")),
            given: Some(format!("Given{n}")),
            family: Some(format!("Family{n}")),
            title: Some("QA Specialist".into()),
            active: true,
            email: Some(format!("{n}@example.com")),
        }
    }
}

/// Writes the person and its job, then wakes the workers (as the SCIM layer does).
pub fn upsert(app: &TestApp, p: &Person) {
    upsert_in(&app.state.pool, p);
    app.state.sync_wakeup.notify();
}

/// Writes the person and its job from outside the bridge process: only the database is
/// shared, so its workers learn of it by polling.
pub fn upsert_in(pool: &zenqms_bridge::store::Pool, p: &Person) {
    let mut conn = pool.get().expect("conn");
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        let now = zenqms_bridge::store::now();
        diesel::delete(scim_user_emails::table.filter(scim_user_emails::user_id.eq(&p.id)))
            .execute(conn)?;
        let exists: i64 = scim_users::table
            .filter(scim_users::id.eq(&p.id))
            .count()
            .get_result(conn)?;
        if exists == 0 {
            diesel::insert_into(scim_users::table)
                .values((
                    scim_users::id.eq(&p.id),
                    scim_users::user_name.eq(&p.user_name),
                    scim_users::active.eq(p.active),
                    scim_users::attributes.eq("{}"),
                    scim_users::version.eq(1i64),
                    scim_users::created_at.eq(now),
                    scim_users::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        diesel::update(scim_users::table.filter(scim_users::id.eq(&p.id)))
            .set((
                scim_users::user_name.eq(&p.user_name),
                scim_users::user_name_lower.eq(p.user_name.to_lowercase()),
                scim_users::external_id.eq(&p.external_id),
                scim_users::given_name.eq(&p.given),
                scim_users::family_name.eq(&p.family),
                scim_users::title.eq(&p.title),
                scim_users::active.eq(p.active),
                scim_users::updated_at.eq(now),
            ))
            .execute(conn)?;
        if let Some(e) = &p.email {
            diesel::insert_into(scim_user_emails::table)
                .values((
                    scim_user_emails::user_id.eq(&p.id),
                    scim_user_emails::position.eq(0),
                    scim_user_emails::value.eq(e),
                    scim_user_emails::value_lower.eq(e.to_lowercase()),
                    scim_user_emails::is_primary.eq(true),
                ))
                .execute(conn)?;
        }
        queue::enqueue_users(conn, std::slice::from_ref(&p.id))
            .map_err(|_| diesel::result::Error::RollbackTransaction)?;
        Ok(())
    })
    .expect("directory write");
}
