//! A user create on PostgreSQL in one statement: the user, its emails, its sync job (the
//! outbox row) and its audit entry as one data-modifying `WITH` query. A single statement is
//! atomic on its own, so the four rows still commit together (or not at all), in one round
//! trip instead of six (`BEGIN`, user, emails, job, audit, `COMMIT`) — the round trips, not
//! the work, were what held creates to a third of what PostgreSQL serves (see
//! `loadgen/bench.sh postgres create`).
//!
//! What the generic path (`users::create`, SQLite) does and this one need not:
//! - release a hold (`outbox::enqueue_changed_users`): a user id made just now has none;
//! - bump an existing job: none exists for a new id, so the job is a plain insert.
//!
//! A `userName` taken meanwhile (by this statement's own check or a concurrent create) fails
//! the whole statement with a unique violation on `user_name_lower`, which the caller answers
//! `409` exactly as on the generic path.

use chrono::NaiveDateTime;

use super::{EmailRow, Fields};
use crate::audit;
use crate::store::sql::{Bind, Sql};
use crate::store::{Backend, DbConn};

/// The row the statement returns (the new user's id): its presence says the insert happened.
#[derive(diesel::QueryableByName)]
struct Inserted {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// Inserts the user `id` with its emails, sync job and audit entry, all at `now`.
pub(super) fn insert(
    conn: &mut DbConn,
    id: &str,
    now: NaiveDateTime,
    fields: &Fields,
    attributes: &str,
    entry: &audit::Entry<'_>,
) -> diesel::QueryResult<()> {
    let sql = statement(id, now, fields, attributes, entry);
    let rows: Vec<Inserted> = sql.load(conn)?;
    match rows.first() {
        Some(row) if row.id == id => Ok(()),
        // RETURNING of a plain INSERT always yields its row; anything else is not a create.
        _ => Err(diesel::result::Error::NotFound),
    }
}

fn statement(
    id: &str,
    now: NaiveDateTime,
    fields: &Fields,
    attributes: &str,
    entry: &audit::Entry<'_>,
) -> Sql {
    let opt = |v: &Option<String>| Bind::OptText(v.clone());
    let mut sql = Sql::new(Backend::Postgres);
    // Only the parameters change from one create to the next, whatever the number of emails
    // (they travel as one JSON array): one prepared statement per connection.
    sql.fixed_shape();
    sql.push(
        "WITH u AS (INSERT INTO scim_users (id, user_name, user_name_lower, external_id, \
         display_name, given_name, family_name, title, active, attributes, version, created_at, \
         updated_at) VALUES (",
    )
    .bind(Bind::Text(id.to_string()))
    .push(", ")
    .bind(Bind::Text(fields.user_name.clone()))
    .push(", ")
    .bind(Bind::Text(fields.user_name.to_lowercase()))
    .push(", ")
    .bind(opt(&fields.external_id))
    .push(", ")
    .bind(opt(&fields.display_name))
    .push(", ")
    .bind(opt(&fields.given_name))
    .push(", ")
    .bind(opt(&fields.family_name))
    .push(", ")
    .bind(opt(&fields.title))
    .push(", ")
    .bind(Bind::Bool(fields.active))
    .push(", ")
    .bind(Bind::Text(attributes.to_string()))
    .push(", 1, ")
    .bind(Bind::Time(now))
    .push(", ")
    .bind(Bind::Time(now))
    // Emails: positions and lower-cased values computed here, as the generic path does (Rust's
    // lower-casing, not the database's, so both backends store the same `value_lower`).
    .push(
        ") RETURNING id), \
         e AS (INSERT INTO scim_user_emails (user_id, position, value, value_lower, email_type, \
         is_primary) SELECT u.id, x.n, x.v, x.l, x.t, x.p FROM u, jsonb_to_recordset(",
    )
    .bind(Bind::Text(emails_json(&fields.emails)))
    .push(
        "::jsonb) AS x(n integer, v text, l text, t text, p boolean)), \
         j AS (INSERT INTO sync_jobs (user_id, generation, enqueued_at, run_after, attempts) \
         SELECT u.id, 1, ",
    )
    .bind(Bind::Time(now))
    .push(", ")
    .bind(Bind::Time(now))
    .push(" , 0 FROM u), a AS (");
    audit::push_insert_select(&mut sql, entry, now, "u", "u.id");
    sql.push(") SELECT id FROM u");
    sql
}

/// The emails as `[{"n": position, "v": value, "l": lower-cased, "t": type, "p": primary}]`.
fn emails_json(emails: &[EmailRow]) -> String {
    let rows: Vec<serde_json::Value> = emails
        .iter()
        .enumerate()
        .map(|(i, e)| {
            serde_json::json!({
                "n": i,
                "v": e.value,
                "l": e.value.to_lowercase(),
                "t": e.email_type,
                "p": e.primary,
            })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_statement_whatever_the_emails() {
        let fields = |n: usize| Fields {
            user_name: "Ada".into(),
            external_id: None,
            display_name: None,
            given_name: Some("Ada".into()),
            family_name: None,
            title: None,
            active: true,
            emails: (0..n)
                .map(|i| EmailRow {
                    value: format!("A{i}@Example.com"),
                    email_type: None,
                    primary: i == 0,
                })
                .collect(),
        };
        let entry = audit::Entry {
            actor: "okta",
            action: "scim.user.create",
            target_type: "user",
            target_id: None,
            detail: serde_json::json!({}),
            outcome: audit::Outcome::Success,
        };
        let now = crate::store::now();
        let one = statement("u1", now, &fields(1), "{}", &entry);
        let three = statement("u1", now, &fields(3), "{}", &entry);
        assert_eq!(
            one.text(),
            three.text(),
            "the text does not depend on the emails"
        );
        assert!(one.text().starts_with("WITH u AS (INSERT INTO scim_users"));
        let rows: serde_json::Value =
            serde_json::from_str(&emails_json(&fields(2).emails)).unwrap();
        assert_eq!(
            rows,
            serde_json::json!([
                {"n": 0, "v": "A0@Example.com", "l": "a0@example.com", "t": null, "p": true},
                {"n": 1, "v": "A1@Example.com", "l": "a1@example.com", "t": null, "p": false},
            ])
        );
    }
}
