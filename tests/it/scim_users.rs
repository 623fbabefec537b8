//! `/Users` over HTTP: the lifecycle, representation, uniqueness, outbox and audit.

use reqwest::Method;
use serde_json::json;

use crate::harness::{send, TestApp};
use crate::scim_support::*;

#[tokio::test]
async fn user_lifecycle_enqueues_and_audits_every_write() {
    let app = TestApp::start().await;
    let mut body = user_body("Ada@Example.com");
    body["externalId"] = json!("00u1abcd");
    body["password"] = json!("t3mp0rary");
    body["groups"] = json!([]);
    let res = app
        .scim(Method::POST, "/Users")
        .header("Content-Type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["content-type"], "application/scim+json");
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let created: serde_json::Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    assert_eq!(
        created["userName"], "Ada@Example.com",
        "returned exactly as sent"
    );
    assert_eq!(created["externalId"], "00u1abcd");
    assert!(created.get("password").is_none(), "{created}");
    assert!(!created.to_string().contains("t3mp0rary"));
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_eq!(created["meta"]["location"], location);
    assert_eq!(location, app.url(&format!("/scim/v2/Users/{id}")));
    assert_eq!(created["meta"]["version"], etag);
    assert_eq!(created["schemas"], json!([USER]));
    assert_eq!(job_generation(&app, &id), Some(1));

    // Found without regard to case, as Okta looks users up before creating them.
    let (s, list) = get(
        &app,
        &format!(
            "/Users?filter={}&startIndex=1&count=100",
            enc("userName eq \"ada@EXAMPLE.com\"")
        ),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(list["schemas"], json!([LIST]));
    assert_eq!(list["totalResults"], 1);
    assert_eq!(list["itemsPerPage"], 1);
    assert_eq!(list["startIndex"], 1);
    assert_eq!(ids(&list), vec![id.clone()]);

    // A duplicate userName, in another case: 409 uniqueness.
    let (s, err) = scim_json(&app, Method::POST, "/Users", &user_body("ADA@example.COM")).await;
    assert_error(s, &err, 409, Some("uniqueness"));

    // Okta custom app: GET, edit, PUT the whole body back (read-only parts ignored).
    let (_, mut current) = get(&app, &format!("/Users/{id}")).await;
    current["active"] = json!(false);
    current["title"] = json!("Director");
    let (s, put) = scim_json(&app, Method::PUT, &format!("/Users/{id}"), &current).await;
    assert_eq!(s, 200, "{put}");
    assert_eq!(put["active"], false);
    assert_eq!(put["title"], "Director");
    assert_eq!(put["id"], id.as_str());
    assert_ne!(put["meta"]["version"], created["meta"]["version"]);
    assert_eq!(job_generation(&app, &id), Some(2));

    // A PUT without change is no change: same version, nobody enqueued.
    let (s, again) = scim_json(&app, Method::PUT, &format!("/Users/{id}"), &put).await;
    assert_eq!(s, 200);
    assert_eq!(again["meta"]["version"], put["meta"]["version"]);
    assert_eq!(job_generation(&app, &id), Some(2));

    // Catalog app: PATCH without a path.
    let (s, patched) = patch(
        &app,
        &format!("/Users/{id}"),
        json!([{"op": "replace", "value": {"active": true}}]),
    )
    .await;
    assert_eq!(s, 200, "{patched}");
    assert_eq!(patched["active"], true);
    assert_eq!(job_generation(&app, &id), Some(3));

    // DELETE: 204, then gone from SCIM, but the row stays marked for ZenQMS.
    let res = app
        .scim(Method::DELETE, &format!("/Users/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (s, err) = get(&app, &format!("/Users/{id}")).await;
    assert_error(s, &err, 404, None);
    let (_, list) = get(&app, "/Users").await;
    assert_eq!(list["totalResults"], 0);
    assert_eq!(job_generation(&app, &id), Some(4));
    {
        use diesel::prelude::*;
        use zenqms_bridge::store::schema::scim_users;
        let mut conn = app.state.pool.get().unwrap();
        let (active, deleted, lower): (bool, Option<chrono::NaiveDateTime>, Option<String>) =
            scim_users::table
                .find(&id)
                .select((
                    scim_users::active,
                    scim_users::deleted_at,
                    scim_users::user_name_lower,
                ))
                .first(&mut *conn)
                .unwrap();
        assert!(!active && deleted.is_some() && lower.is_none());
    }
    // The name is free again.
    let again = create_user(&app, "ada@example.com").await;
    assert_ne!(again, id);

    let actions: Vec<(String, String)> = audit_entries(&app)
        .into_iter()
        .filter(|e| e.1.starts_with("scim."))
        .map(|e| (e.0, e.1))
        .collect();
    let expected = [
        "scim.user.create",
        "scim.user.replace",
        "scim.user.replace",
        "scim.user.patch",
        "scim.user.delete",
        "scim.user.create",
    ];
    assert_eq!(
        actions.iter().map(|a| a.1.as_str()).collect::<Vec<_>>(),
        expected
    );
    assert!(actions.iter().all(|a| a.0 == "test-okta"));
    assert!(!audit_entries(&app)
        .iter()
        .any(|e| e.3.to_string().contains("t3mp0rary")));
    app.stop().await;
}

#[tokio::test]
async fn concurrent_creates_of_one_user_name_give_one_201_and_409s() {
    let app = TestApp::start().await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let req = app
            .scim(Method::POST, "/Users")
            .header("Content-Type", "application/scim+json")
            .body(
                user_body(if i % 2 == 0 {
                    "race@example.com"
                } else {
                    "RACE@example.com"
                })
                .to_string(),
            );
        tasks.push(tokio::spawn(send(req)));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        let (s, body) = t.await.unwrap();
        if s == 409 {
            assert_error(s, &body, 409, Some("uniqueness"));
        }
        statuses.push(s);
    }
    statuses.sort();
    assert_eq!(statuses, vec![201, 409, 409, 409, 409, 409, 409, 409]);

    // A create is one unit (on PostgreSQL one statement, on SQLite one transaction): the
    // winner's user, email, sync job and audit entry are there, and nothing of the losers.
    let creates: Vec<_> = audit_entries(&app)
        .into_iter()
        .filter(|e| e.1 == "scim.user.create")
        .collect();
    assert_eq!(creates.len(), 1, "{creates:?}");
    let winner = creates[0].2.clone().expect("the create names its user");
    assert_eq!(
        creates[0].3["userName"].as_str().map(str::to_lowercase),
        Some("race@example.com".into())
    );
    assert_eq!(job_generation(&app, &winner), Some(1));
    {
        use diesel::prelude::*;
        use zenqms_bridge::store::schema::{scim_user_emails, scim_users, sync_jobs};
        let mut conn = app.state.pool.get().unwrap();
        let users: i64 = scim_users::table.count().get_result(&mut *conn).unwrap();
        let jobs: i64 = sync_jobs::table.count().get_result(&mut *conn).unwrap();
        let emails: Vec<(String, i32, String, Option<String>, bool)> = scim_user_emails::table
            .select((
                scim_user_emails::user_id,
                scim_user_emails::position,
                scim_user_emails::value_lower,
                scim_user_emails::email_type,
                scim_user_emails::is_primary,
            ))
            .load(&mut *conn)
            .unwrap();
        assert_eq!((users, jobs), (1, 1));
        assert_eq!(
            emails,
            vec![(
                winner.clone(),
                0,
                "race@example.com".into(),
                Some("work".into()),
                true
            )]
        );
    }
    // The email is found by filter, as the shadow rows serve it.
    let (s, list) = get(
        &app,
        &format!(
            "/Users?filter={}",
            enc("emails.value eq \"RACE@EXAMPLE.COM\"")
        ),
    )
    .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(ids(&list), vec![winner]);
    app.stop().await;
}
