//! `serve --demo` from nothing: it prints what it promises, and its walkthrough works when
//! pasted into a shell.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::eventually;

fn sh(line: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(line).output().expect("sh");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test]
async fn the_demo_prints_urls_tokens_and_a_walkthrough_that_works() {
    if Command::new("curl").arg("--version").output().is_err() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED the demo walkthrough test: curl is not installed"
        );
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let work = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zenqms-bridge"))
        .args(["serve", "--demo"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .current_dir(work.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the demo");
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let done = line.starts_with("Ctrl-C");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    let lines = tokio::time::timeout(Duration::from_secs(60), lines)
        .await
        .expect("demo prints")
        .unwrap();
    let field = |label: &str| {
        lines
            .iter()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(label)
                    .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
            })
            .unwrap_or_else(|| panic!("no `{label}` in {lines:#?}"))
    };
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
            .join(format!("zenqms-bridge-demo-{}", child.id()))
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

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success());
    let dir = lines[1]
        .split(" in ")
        .nth(1)
        .and_then(|r| r.split(" and ").next())
        .unwrap_or_default()
        .to_string();
    assert!(dir.contains("zenqms-bridge-demo"), "{:?}", lines[1]);
    assert!(
        !std::path::Path::new(&dir).exists(),
        "the demo's data is discarded"
    );
}
