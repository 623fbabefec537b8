//! The console in a real browser (headless Chromium over WebDriver): sign-in with a token,
//! the pages a person goes through, each checked with axe-core for accessibility violations
//! of serious or critical impact. A failing test leaves a screenshot (`browser_support.rs`).

use crate::browser_support::Browser;
use crate::harness::TestApp;
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
