//! The filter parser and its SQL translation, run for real: every filter the SCIM layer
//! accepts (for Users and for Groups) must run on SQLite against a directory that has a user
//! with emails and a group with a member — an accepted filter that the database refuses is a
//! `500` in waiting (issue 13 §4). Member filters of PATCH paths are translated for both
//! backends.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use zenqms_bridge::directory::query::{self, GroupQuery, UserQuery};
use zenqms_bridge::directory::{groups, users, Actor, DirectoryError};
use zenqms_bridge::scim::request::ListParams;
use zenqms_bridge::scim::{document, filter, schema};
use zenqms_bridge::store::sql::Sql;
use zenqms_bridge::store::{self, Backend, DatabaseUrl, Pool};

struct Fixture {
    pool: Pool,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = DatabaseUrl::Sqlite(dir.path().join("fuzz.db"));
        let pool = store::connect(&url, 1).expect("sqlite");
        let mut conn = pool.get().expect("connection");
        store::run_migrations(&mut conn).expect("migrations");
        let user = document::normalize(
            schema::user(),
            json!({"userName": "Ada@Example.com", "displayName": "Ada", "title": "QA",
                   "name": {"givenName": "Ada", "familyName": "Lovelace"}, "externalId": "00u1",
                   "emails": [{"value": "ada@example.com", "type": "work", "primary": true},
                              {"value": "a.l@example.org", "type": "home"}]})
            .as_object()
            .expect("object"),
        )
        .expect("a valid user");
        let id = users::create(&mut conn, Actor::scim("fuzz"), &user, false)
            .expect("user")
            .value
            .id
            .clone();
        let group = document::normalize(
            schema::group(),
            json!({"displayName": "QA Team", "externalId": "00g1"})
                .as_object()
                .expect("object"),
        )
        .expect("a valid group");
        groups::create(&mut conn, Actor::scim("fuzz"), &group, &[id], false).expect("group");
        drop(conn);
        Fixture { pool, _dir: dir }
    })
}

fn must_run<T>(filter: &str, what: &str, r: Result<T, DirectoryError>) {
    match r {
        Ok(_) | Err(DirectoryError::Rejected(_)) => {}
        Err(e) => panic!("an accepted {what} filter failed on SQLite: {filter:?}: {e}"),
    }
}

fn translate_for_both<F>(
    f: &F,
    emit: fn(&mut Sql, &F) -> Result<(), zenqms_bridge::directory::Rejection>,
) {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let mut sql = Sql::new(backend);
        if emit(&mut sql, f).is_ok() {
            let _ = sql.text();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let params = ListParams::from_query(vec![("filter".to_string(), text.to_string())]);
    let fx = fixture();
    let Ok(mut conn) = fx.pool.get() else {
        return;
    };
    if let Ok((_, q)) = params.user_query(1000) {
        let q: UserQuery = q;
        if let Some(f) = &q.filter {
            translate_for_both(f, query::user_filter);
        }
        must_run(text, "user", users::list(&mut conn, &q, true));
    }
    if let Ok((_, q)) = params.group_query(1000) {
        let q: GroupQuery = q;
        if let Some(f) = &q.filter {
            translate_for_both(f, query::group_filter);
        }
        must_run(text, "group", groups::list(&mut conn, &q, true));
    }
    // The same text as a PATCH path of a group's members.
    if let Ok(scim_v2::filter::PatchPath::Value(vp)) = text.parse::<scim_v2::filter::PatchPath>() {
        if let Ok(f) = filter::members(&vp.filter) {
            translate_for_both(&f, query::member_filter);
        }
    }
});
