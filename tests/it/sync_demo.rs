//! `serve --demo` from nothing: it prints what it promises, and its walkthrough works when
//! pasted into a shell.

use std::time::Duration;

use crate::demo_support::{curl_missing, sh, Demo};
use crate::harness::eventually;

#[tokio::test]
async fn the_demo_prints_urls_tokens_and_a_walkthrough_that_works() {
    if curl_missing("the demo walkthrough test") {
        return;
    }
    let demo = Demo::start().await;
    let (port, lines) = (demo.port, &demo.lines);
    let field = |label: &str| demo.field(label);
    let scim_url = field("SCIM base URL (for Okta):");
    assert_eq!(scim_url, format!("http://127.0.0.1:{port}/scim/v2"));
    assert!(field("scim token:").starts_with("zqb_"));
    assert!(field("admin token:").starts_with("zqb_"));
    let sim_url = field("ZenQMS simulator:");
    let walkthrough: Vec<&String> = lines.iter().filter(|l| l.starts_with("curl ")).collect();
    assert_eq!(walkthrough.len(), 3, "{lines:#?}");
    let pushed = sh(walkthrough[0]);
    assert!(
        pushed.contains("\"userName\":\"ada@example.com\""),
        "{pushed}"
    );
    assert!(walkthrough[1].contains(&sim_url));
    eventually(Duration::from_secs(10), || async {
        sh(walkthrough[1]).contains("00u1ada")
    })
    .await;
    eventually(Duration::from_secs(10), || async {
        sh(walkthrough[2]).contains("\"synced\":1")
    })
    .await;
    // The seeded tenant is there too.
    assert!(sh(walkthrough[1]).contains("Document Approver"));
    // Issue 13 §7: a fresh directory of this demo only — not named after the pid, which
    // anyone could have prepared in advance — readable by this user only, and so its database.
    let running_dir = lines[1]
        .split(" in ")
        .nth(1)
        .and_then(|r| r.split(" and ").next())
        .unwrap_or_default()
        .to_string();
    assert_ne!(
        running_dir,
        std::env::temp_dir()
            .join(format!("zenqms-bridge-demo-{}", demo.child.id()))
            .display()
            .to_string()
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = std::path::Path::new(&running_dir);
        assert_eq!(mode(dir), 0o700, "{running_dir}");
        assert_eq!(mode(&dir.join("zenqms-bridge.db")), 0o600);
    }

    let started = lines[1].clone();
    demo.stop().await;
    // The same directory as `running_dir`, now that the demo has exited.
    let dir = running_dir;
    assert!(dir.contains("zenqms-bridge-demo"), "{started:?}");
    assert!(
        !std::path::Path::new(&dir).exists(),
        "the demo's data is discarded"
    );
}
