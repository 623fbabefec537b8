//! `serve --demo` as a child process: started on a free port in a scratch directory, read
//! until it has printed its walkthrough, and stopped the way a user stops it (SIGTERM).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Runs one shell line (a printed walkthrough step) and returns what it wrote to stdout.
pub fn sh(line: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(line).output().expect("sh");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The walkthrough is `curl` lines: without curl the test says it skipped, and is skipped.
pub fn curl_missing(test: &str) -> bool {
    if Command::new("curl").arg("--version").output().is_ok() {
        return false;
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\nSKIPPED {test}: curl is not installed");
    true
}

pub struct Demo {
    pub port: u16,
    pub child: Child,
    /// What the demo printed, up to and including its `Ctrl-C` line.
    pub lines: Vec<String>,
    // Kept until the demo has exited: the demo runs in it.
    _work: tempfile::TempDir,
}

impl Demo {
    /// Starts `serve --demo` with nothing but PATH and a bind address in its environment, and
    /// waits (at most a minute) for it to print everything up to its `Ctrl-C` line.
    pub async fn start() -> Demo {
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
        Demo {
            port,
            child,
            lines,
            _work: work,
        }
    }

    /// The first word after `label` on the printed line that starts with it.
    pub fn field(&self, label: &str) -> String {
        let lines = &self.lines;
        lines
            .iter()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(label)
                    .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
            })
            .unwrap_or_else(|| panic!("no `{label}` in {lines:#?}"))
    }

    /// Sends SIGTERM and asserts the demo exits successfully.
    pub async fn stop(self) {
        let Demo {
            mut child, _work, ..
        } = self;
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
    }
}
