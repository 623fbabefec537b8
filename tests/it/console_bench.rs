//! Benchmark, ignored by default; run it on purpose, in release:
//!
//! ```sh
//! cargo test --release --test it console_bench -- --ignored --nocapture --test-threads 1
//! # and on PostgreSQL:
//! TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo test --release --test it console_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! 100,000 directory users (`BENCH_USERS` overrides) are written straight into the database
//! (98 % synced, 1 % failed, 1 % skipped, the rest pending), then the console's pages are
//! timed over loopback HTTP: the sign-in page (the first page a browser loads), the dashboard
//! (counts per state, the queue, the failed users' first page), the users list, a search of
//! it, and one user's page. Reports median, p95 and max of 30 requests each; no timed assertion.

use std::time::{Duration, Instant};

use diesel::RunQueryDsl;

use crate::console_support::admin_browser;
use crate::harness::TestApp;

fn seed(app: &TestApp, n: usize) {
    let mut conn = app.state.pool.get().expect("conn");
    let pg = app.db.is_postgres();
    let yes = if pg { "true" } else { "1" };
    let users = format!(
        "INSERT INTO scim_users (id, user_name, user_name_lower, external_id, display_name, given_name, \
         family_name, title, active, attributes, version, created_at, updated_at) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
         SELECT 'bench-' || i, 'user' || i || '@example.com', 'user' || i || '@example.com', '00ubench' || i, \
         'User ' || i, 'User', 'Number' || i, 'Analyst', {yes}, \
         '{{\"userName\":\"user' || i || '@example.com\"}}', 1, '2026-12-01 00:00:00', '2026-12-01 00:00:00' FROM n"
    );
    let states = format!(
        "INSERT INTO sync_users (user_id, zenqms_id, zenqms_id_json, state, reason, attempts, \
         last_attempt_at, synced_at, updated_at) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
         SELECT 'bench-' || i, CAST(i AS TEXT), CAST(i AS TEXT), \
         CASE WHEN i % 100 = 0 THEN 'failed' WHEN i % 100 = 1 THEN 'skipped' ELSE 'synced' END, \
         CASE WHEN i % 100 = 0 THEN 'ZenQMS answered 422: email is owned by another user' \
              WHEN i % 100 = 1 THEN 'title is missing' ELSE NULL END, \
         1, '2026-12-01 00:00:00', '2026-12-01 00:00:00', '2026-12-01 00:00:00' FROM n WHERE i % 100 <> 2"
    );
    let started = Instant::now();
    if !pg {
        diesel::sql_query("PRAGMA recursive_triggers = OFF")
            .execute(&mut *conn)
            .expect("pragma");
    }
    diesel::sql_query(users)
        .execute(&mut *conn)
        .expect("users seeded");
    diesel::sql_query(states)
        .execute(&mut *conn)
        .expect("states seeded");
    if pg {
        diesel::sql_query("ANALYZE")
            .execute(&mut *conn)
            .expect("analyze");
    }
    println!(
        "BENCH console: {n} users seeded in {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        if pg { "PostgreSQL" } else { "SQLite" }
    );
}

fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    format!(
        "median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        ms(p(0.5)),
        ms(p(0.95)),
        ms(times[times.len() - 1])
    )
}

#[tokio::test]
#[ignore = "benchmark: cargo test --release --test it console_bench -- --ignored --nocapture"]
async fn bench_console_pages_at_100k_users() {
    let n: usize = std::env::var("BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let app = TestApp::start_with(&[("RUST_LOG", "warn")]).await;
    seed(&app, n);
    let mut b = admin_browser(&app).await;
    let pages = [
        ("sign-in page (first load)", "/console/signin".to_string()),
        ("dashboard", "/console/dashboard".to_string()),
        ("users list", "/console/users".to_string()),
        // A search reads users in id order until a page of matches: one match, or none, in
        // 100,000 is the worst case (every row read).
        (
            "users search, one match",
            "/console/users?q=user4242%40".to_string(),
        ),
        (
            "users search, no match",
            "/console/users?q=nobody-is-called-this".to_string(),
        ),
        ("user page", "/console/users/bench-4242".to_string()),
    ];
    for (name, path) in pages {
        // One warm-up request (caches, prepared statements), then 30 timed.
        let warm = b.get(&path).await;
        assert_eq!(warm.status, 200, "{path}: {}", warm.body);
        let mut times = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            let page = b.get(&path).await;
            times.push(t.elapsed());
            assert_eq!(page.status, 200);
        }
        println!("BENCH console: {name} at {n} users: {}", summary(times));
    }
    let dash = b.get("/console/dashboard").await;
    let failed = (1..=n).filter(|i| i % 100 == 0).count() as i64;
    assert!(
        dash.body
            .contains(&format!("id=\"count-failed\">{}<", grouped(failed))),
        "the counts are shown"
    );
    app.stop().await;
}

/// `100,000` as the console writes it.
fn grouped(n: i64) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
