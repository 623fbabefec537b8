//! The console in a real browser (headless Chromium over WebDriver): sign-in with a token,
//! the pages a person goes through, each checked with axe-core for accessibility violations
//! of serious or critical impact; a `read` session refused every change (its buttons absent
//! or disabled), forged and missing CSRF tokens refused, idle expiry back to sign-in, and the
//! audit export's CSV and JSON downloads. A failing test leaves a screenshot
//! (`browser_support.rs`). The wizard and Okta sign-in: `console_browser_wizard.rs`.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::browser_support::Browser;
use crate::console_support::token;
use crate::harness::{send, TestApp};
use crate::sim_support::{bridge, sim};

#[tokio::test]
async fn sign_in_with_a_token_reaches_an_accessible_dashboard() {
    let zenqms = sim().await;
    let app = bridge(&zenqms, &[]).await;
    let b = Browser::start("sign_in_dashboard").await;
    b.run(async {
        b.goto(&format!("{}/console/dashboard", app.base)).await;
        assert!(
            b.path().await.starts_with("/console/signin"),
            "{}",
            b.path().await
        );
        b.assert_accessible().await;
        b.fill("#token", &app.admin_token).await;
        b.click("form[action='/console/signin'] button[type=submit]")
            .await;
        b.wait_left_signin().await;
        assert_eq!(b.path().await, "/console/dashboard");
        let body = b.body().await;
        assert!(
            body.contains("test-admin") && body.contains("Queue"),
            "{body}"
        );
        b.assert_accessible().await;
        b.goto(&format!("{}/console/setup/connections", app.base))
            .await;
        assert!(b.body().await.contains("Step 1: Connections"));
        b.assert_accessible().await;
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn the_dashboard_reads_at_phone_width() {
    let app = TestApp::start().await;
    let b = Browser::start_sized("phone_width", 390, 844).await;
    b.run(async {
        b.sign_in(&app.base, &app.admin_token).await;
        b.goto(&format!("{}/console/dashboard", app.base)).await;
        // Nothing wider than the screen but the tables, which scroll in their own box.
        let overflow = b
            .client
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                vec![],
            )
            .await
            .expect("measured");
        assert!(overflow.as_i64().unwrap_or(1) <= 0, "the page scrolls sideways by {overflow}px");
        b.assert_accessible().await;
    })
    .await;
    app.stop().await;
}

/// Posts a form from inside the page (the session's cookie, the page's origin): the status.
async fn post_from_page(b: &Browser, action: &str, fields: serde_json::Value) -> u64 {
    let v = b
        .client
        .execute_async(
            "const [action, fields, done] = arguments;\
             fetch(action, {method: 'POST', credentials: 'same-origin', redirect: 'manual',\
               body: new URLSearchParams(fields)}).then(r => done(r.status)).catch(e => done(String(e)));",
            vec![serde_json::json!(action), fields],
        )
        .await
        .expect("posted");
    v.as_u64().unwrap_or(0)
}

#[tokio::test]
async fn read_sessions_forged_forms_idle_expiry_and_the_audit_export() {
    use diesel::prelude::*;
    use zenqms_bridge::store::schema::console_sessions;

    let zenqms = sim().await;
    let app = bridge(
        &zenqms,
        &[
            ("CONSOLE_SESSION_IDLE_SECS", "600"),
            ("CONSOLE_SESSION_MAX_SECS", "3600"),
        ],
    )
    .await;
    let read = token(&app, "auditor", "read").await;
    let url = |p: &str| format!("{}{p}", app.base);
    let b = Browser::start("read_csrf_expiry_export").await;
    b.run(async {
        // A read session sees every page; the buttons that change things are absent or
        // disabled, and a change sent anyway is refused.
        b.sign_in(&app.base, &read).await;
        b.wait_for_text("read-only access", Duration::from_secs(10)).await;
        assert!(b.text("header.top").await.contains("read-only"));
        assert!(!b.has("form[action='/console/sync/pause']").await, "no pause button");
        assert!(!b.has("form[action='/console/sync/retry']").await, "no retry button");
        b.assert_accessible().await;
        b.goto(&url("/console/setup/connections")).await;
        for form in ["/console/setup/okta", "/console/setup/zenqms"] {
            let css = format!("form[action='{form}'] button[type=submit]");
            assert!(b.attr(&css, "disabled").await.is_some(), "{form}: disabled");
        }
        b.goto(&url("/console/setup/sync")).await;
        assert!(b.attr("button[value=start]", "disabled").await.is_some());
        b.goto(&url("/console/tokens")).await;
        assert!(!b.has("form[action='/console/tokens']").await, "no create form");
        b.goto(&url("/console/mappings")).await;
        assert!(b
            .attr("#mapping-form button.primary", "disabled")
            .await
            .is_some());
        let csrf = b.attr("input[name=csrf]", "value").await.expect("csrf");
        for (action, fields) in [
            ("/console/sync/pause", json!({})),
            ("/console/sync/sweep", json!({})),
            ("/console/setup/zenqms", json!({"base_url": zenqms.base_url, "api_token": "x"})),
            ("/console/setup/okta", json!({"org_url": "https://x.okta.com", "client_id": "c"})),
            ("/console/setup/sync/start", json!({"action": "start"})),
            ("/console/mappings", json!({"group": "QA", "role": "7"})),
            ("/console/tokens", json!({"name": "sneaky", "scope": "admin"})),
        ] {
            let mut f = fields.as_object().cloned().unwrap_or_default();
            f.insert("csrf".into(), json!(csrf));
            let status = post_from_page(&b, action, serde_json::Value::Object(f)).await;
            assert_eq!(status, 403, "{action} from a read session");
        }
        // The disabled button enabled by hand: the answer says why, in words.
        b.client
            .execute(
                "const x = document.querySelector('#mapping-form button.primary'); x.disabled = false;",
                vec![],
            )
            .await
            .expect("enabled");
        b.fill("#group", "QA").await;
        b.click("#mapping-form button.primary").await;
        // Every page of a read session says "read-only access"; only the refusal says why
        // this change was not made.
        b.wait_for_text("to make this change", Duration::from_secs(10)).await;
        assert!(b.body().await.contains("change nothing"));
        let (s, body) = send(app.admin(Method::GET, "/tokens")).await;
        assert_eq!(s, 200);
        assert!(!body.to_string().contains("sneaky"), "nothing was made");

        // An admin session: a forged or missing CSRF token is refused before anything runs.
        b.goto(&url("/console/dashboard")).await;
        b.sign_out().await;
        b.sign_in(&app.base, &app.admin_token).await;
        b.goto(&url("/console/dashboard")).await;
        b.client
            .execute(
                "document.querySelector(\"form[action='/console/sync/pause'] input[name=csrf]\").value = 'forged';",
                vec![],
            )
            .await
            .expect("forged");
        b.click("form[action='/console/sync/pause'] button").await;
        b.wait_for_text("security token does not match", Duration::from_secs(10))
            .await;
        b.assert_accessible().await;
        b.goto(&url("/console/dashboard")).await;
        b.client
            .execute(
                "document.querySelector(\"form[action='/console/sync/pause'] input[name=csrf]\").remove();",
                vec![],
            )
            .await
            .expect("removed");
        b.click("form[action='/console/sync/pause'] button").await;
        b.wait_for_text("security token does not match", Duration::from_secs(10))
            .await;
        let (_, status) = send(app.admin(Method::GET, "/sync/status")).await;
        assert_eq!(status["paused"], false, "{status}");

        // The audit export: the filter's entries as CSV and JSON downloads.
        b.goto(&url("/console/audit?action=console.signin")).await;
        b.assert_accessible().await;
        for (id, kind, file) in [
            ("#export-csv", "text/csv", "audit.csv"),
            ("#export-json", "application/json", "audit.json"),
        ] {
            assert!(b.attr(id, "download").await.is_some(), "{id} downloads");
            let href = b.attr(id, "href").await.expect("href");
            let (status, ctype, disposition, body) = b.fetch(&href).await;
            assert_eq!(status, 200, "{href}: {body}");
            assert!(ctype.starts_with(kind), "{ctype}");
            assert!(
                disposition.starts_with("attachment") && disposition.contains(file),
                "{disposition}"
            );
            if kind == "text/csv" {
                let mut lines = body.lines();
                assert!(lines.next().unwrap_or("").starts_with("id,"), "{body}");
                let rows: Vec<&str> = lines.collect();
                assert!(rows.len() >= 2, "both sign-ins: {body}");
                assert!(rows.iter().all(|r| r.contains("console.signin")), "{body}");
            } else {
                let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
                let entries = v["entries"].as_array().cloned().unwrap_or_default();
                assert!(entries.len() >= 2, "{v}");
                assert!(entries.iter().all(|e| e["action"] == "console.signin"));
                assert!(entries.iter().any(|e| e["actor"] == "auditor"));
            }
        }

        // Idle expiry: no request for longer than the idle limit → back to sign-in, told why.
        {
            let mut conn = app.state.pool.get().expect("conn");
            let then = chrono::Utc::now().naive_utc() - chrono::TimeDelta::seconds(601);
            diesel::update(console_sessions::table)
                .set(console_sessions::last_seen_at.eq(then))
                .execute(&mut *conn)
                .expect("aged");
        }
        b.goto(&url("/console/users")).await;
        assert!(b.path().await.starts_with("/console/signin?reason=idle"), "{}", b.path().await);
        assert!(b.body().await.contains("without activity"));
        b.assert_accessible().await;
    })
    .await;
    app.stop().await;
}
