//! A private PostgreSQL cluster for the tests that stop and start the whole server
//! (`faults_pg_restart`): the shared server of `TEST_DATABASE_URL` must keep serving the other
//! tests. `initdb` into a temporary directory, a server on a free port of 127.0.0.1 (trust
//! authentication, socket in the same directory), `pg_ctl stop -m fast` / `start` on demand.
//!
//! PostgreSQL refuses to run as root, so the cluster belongs to the `postgres` user
//! (`runuser`, which needs root: CI runs as root). [`Cluster::start_new`] returns `None`, with
//! the reason, where that is not possible.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Cluster {
    pub port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// A fresh cluster, started; `Err` says why none can be made here.
    pub fn start_new() -> Result<Cluster, String> {
        let bin = bindir().ok_or("no PostgreSQL server programs (initdb, pg_ctl) found")?;
        if !is_root() {
            return Err("needs root (runuser to the postgres user)".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        run(Command::new("chown").arg("postgres").arg(dir.path()))?;
        let cluster = Cluster { port, bin, dir };
        cluster.as_postgres(
            "initdb",
            &[
                "-D",
                &cluster.data().display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ],
        )?;
        cluster.start()?;
        Ok(cluster)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.dir.path().join("server.log").display().to_string(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        )
    }

    /// Stops the server as a restart does (`-m fast`: sessions are ended, transactions in
    /// progress rolled back).
    pub fn stop(&self) -> Result<(), String> {
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        )
    }

    /// The server's log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn as_postgres(&self, program: &str, args: &[&str]) -> Result<(), String> {
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .args(args)
            .current_dir(self.dir.path()))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "immediate",
                "stop",
            ],
        );
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Where `initdb` and `pg_ctl` are: `pg_config --bindir`, else Debian's versioned directory.
fn bindir() -> Option<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let debian = std::fs::read_dir("/usr/lib/postgresql").ok().and_then(|d| {
        let mut versions: Vec<PathBuf> = d.flatten().map(|e| e.path().join("bin")).collect();
        versions.sort();
        versions.pop()
    });
    [from_pg_config, debian]
        .into_iter()
        .flatten()
        .find(|b| has_server_programs(b))
}

fn has_server_programs(bin: &Path) -> bool {
    bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()
}
