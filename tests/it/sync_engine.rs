//! The engine against the simulator with the directory written directly (the SCIM-driven
//! versions of these live in `sync_scim.rs`).

use std::time::Duration;

use crate::sim_support::*;
use crate::sync_directory::{upsert, Person};

#[tokio::test]
async fn create_update_disable_and_nothing_when_nothing_changed() {
    let sim = sim().await;
    let app = bridge(&sim, &[]).await;
    let mut ada = Person::new("ada");
    upsert(&app, &ada);
    let row = wait_state(&app, &ada.id, "synced", Duration::from_secs(10)).await;
    let state = sim.sim.state();
    let z = state.user_by_external_id("00uada").expect("created in ZenQMS");
    assert_eq!(z.email, "ada@example.com");
    assert_eq!(row["zenqms_id"], serde_json::to_value(&z.id).unwrap());
    assert_eq!(calls(&sim, "POST /v2/users"), 1);
    assert_eq!(total_calls(&sim), 1, "a new user costs one call");

    sim.sim.reset_calls();
    ada.title = Some("Head of QA".into());
    upsert(&app, &ada);
    settled(&app, Duration::from_secs(10)).await;
    assert_eq!(sim.sim.user(&z.id.to_string()).unwrap().title, "Head of QA");
    assert_eq!(total_calls(&sim), 1, "a change costs one PATCH");

    sim.sim.reset_calls();
    upsert(&app, &ada);
    settled(&app, Duration::from_secs(10)).await;
    assert_eq!(total_calls(&sim), 0, "nothing changed, nothing sent");

    ada.active = false;
    upsert(&app, &ada);
    settled(&app, Duration::from_secs(10)).await;
    assert_eq!(sim.sim.user(&z.id.to_string()).unwrap().status, zenqms_sim::Status::Disabled);
    app.stop().await;
}
