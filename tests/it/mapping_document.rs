//! `zenqms-bridge mapping export` / `mapping import`: a mapping set as a reviewed document.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{cli, send, TestApp};
use crate::mapping_support::*;
use crate::scim_support::audit_entries;
use crate::sim_support::*;

/// What defines a mapping, without its id and creation stamp.
fn table(rows: &[Value]) -> Vec<String> {
    let mut t: Vec<String> = rows
        .iter()
        .map(|m| {
            format!(
                "{} | {} | {} | {} | {} | deleted group: {}",
                m["group_display_name"],
                m["group_id"],
                m["role_id"],
                m["role_name"],
                m["status"],
                m["group_deleted_at"].is_string()
            )
        })
        .collect();
    t.sort();
    t
}

fn run(app: &TestApp, args: &[&str]) -> String {
    let out = cli(&app.db, args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn export_wipe_import_reproduces_the_table() {
    let sim = roles_sim().await;
    let app = bridge(&sim, &[("ZENQMS_ROLE_REFRESH_SECS", "0")]).await;
    let ps = people(&app, &["vic", "wes"]).await;
    let qa = group(&app, "QA Approvers", &[&ps[0]]).await;
    let tr = group(&app, "Trainers", &[&ps[1]]).await;
    let old = group(&app, "Old Team", &[&ps[1]]).await;
    map_group(&app, &qa, &["7", "12"]).await;
    map_group(&app, &tr, &["12"]).await;
    map_group(&app, &old, &["31"]).await;
    map(
        &app,
        json!({"group_display_name": "Future Team", "role_ids": ["21"]}),
    )
    .await;
    let (s, _) = send(app.scim(Method::DELETE, &format!("/Groups/{old}"))).await;
    assert_eq!(s, 204);
    assert_roles(&app, &sim, &[&ps[0]], &["12", "7"]).await;
    assert_roles(&app, &sim, &[&ps[1]], &["12"]).await;
    let before = table(&mappings(&app).await);
    assert_eq!(before.len(), 5);

    // Export: a stable document (the same bytes twice), sorted by group name.
    let text = run(&app, &["mapping", "export"]);
    assert_eq!(run(&app, &["mapping", "export"]), text, "stable");
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(doc["format"], "zenqms-bridge/role-mappings");
    let order: Vec<&str> = doc["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["group_display_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "Future Team",
            "Old Team",
            "QA Approvers",
            "QA Approvers",
            "Trainers"
        ]
    );
    assert_eq!(doc["mappings"][1]["group_deleted"], true);
    assert_eq!(doc["mappings"][2]["role_name"], "Document Approver");
    let file = app.db.dir.path().join("approved.json");
    std::fs::write(&file, &text).unwrap();
    let path = file.to_str().unwrap();

    // Wipe.
    for m in mappings(&app).await {
        let id = m["id"].as_str().unwrap();
        let (s, _) = send(app.admin(Method::DELETE, &format!("/role-mappings/{id}"))).await;
        assert_eq!(s, 204);
    }
    assert!(mappings(&app).await.is_empty());

    // A dry run says what would happen and changes nothing.
    let out = run(&app, &["mapping", "import", path, "--dry-run"]);
    assert!(out.contains("Dry run"), "{out}");
    assert!(out.contains("5 created, 0 removed, 0 unchanged"), "{out}");
    assert!(mappings(&app).await.is_empty());

    // Import reproduces the table.
    let out = run(&app, &["mapping", "import", path]);
    assert!(out.contains("5 created, 0 removed, 0 unchanged"), "{out}");
    assert_eq!(table(&mappings(&app).await), before);
    assert_roles(&app, &sim, &[&ps[0]], &["12", "7"]).await;

    // Idempotent: a second import changes nothing.
    let out = run(&app, &["mapping", "import", path]);
    assert!(out.contains("0 created, 0 removed, 5 unchanged"), "{out}");

    // The table is made equal to the document: what it drops is removed.
    let mut edited = doc.clone();
    let entries = edited["mappings"].as_array_mut().unwrap();
    entries.retain(|m| m["group_display_name"] != "Trainers");
    entries.push(json!({"group_display_name": "trainers", "role_id": 15}));
    std::fs::write(&file, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
    let out = run(&app, &["mapping", "import", path]);
    assert!(out.contains("1 created, 1 removed, 4 unchanged"), "{out}");
    // Wes keeps only what a group still grants him: 12 now comes from QA Approvers alone.
    assert_roles(&app, &sim, &[&ps[1]], &["15"]).await;

    // Every change is in the trail, with the document's digest.
    let imports: Vec<Value> = audit_entries(&app)
        .into_iter()
        .filter(|(actor, action, _, _)| actor == "cli" && action == "mapping.import")
        .map(|(_, _, _, d)| d)
        .collect();
    assert_eq!(imports.len(), 3);
    assert!(imports[0]["source"].as_str().unwrap().contains("sha256"));

    // A document naming a role ZenQMS has not shown the bridge cannot be checked without a
    // ZenQMS connection (the CLI here has none): refused, nothing changed.
    entries_with(
        &file,
        &edited,
        json!({"group_display_name": "X", "role_id": "999"}),
    );
    let out = cli(&app.db, &["mapping", "import", path]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`999`") && err.contains("not configured"),
        "{err}"
    );
    let out = cli(&app.db, &["mapping", "import", "/no/such/file.json"]);
    assert!(!out.status.success());
    app.stop().await;
}

fn entries_with(file: &std::path::Path, doc: &Value, extra: Value) {
    let mut d = doc.clone();
    d["mappings"].as_array_mut().unwrap().push(extra);
    std::fs::write(file, serde_json::to_string_pretty(&d).unwrap()).unwrap();
}
