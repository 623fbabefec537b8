//! `zenqms-bridge serve --demo`: the bridge on a throwaway SQLite database with an embedded
//! ZenQMS simulator (five roles, two pre-existing users), a `scim` and an `admin` token, and
//! a three-line walkthrough — from a fresh clone, with nothing else to set up. The CLI starts
//! the server on what [`Demo::start`] prepares.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use crate::auth::{tokens, Scope};
use crate::config::Config;
use crate::store::{Pool, StoreError};

/// The address the demo listens on unless `BIND_ADDR` says otherwise; a free port is
/// taken when it is busy (a demo should not fail over a port).
const DEMO_ADDR: &str = "127.0.0.1:8080";

/// A running simulator and the throwaway data directory.
pub struct Demo {
    sim: zenqms_sim::RunningSim,
    /// A fresh directory of this demo only: a random name (nobody can prepare it in advance),
    /// mode 0700, removed when the demo stops.
    data_dir: tempfile::TempDir,
}

impl Demo {
    /// Starts the simulator; returns the demo, the bridge's configuration and its socket.
    pub async fn start() -> Result<(Demo, Config, TcpListener), String> {
        use std::os::unix::fs::PermissionsExt;
        let data_dir = tempfile::Builder::new()
            .prefix("zenqms-bridge-demo-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(|e| format!("cannot create a private demo directory: {e}"))?;
        // On failure `data_dir` is dropped, and with it the directory.
        let (sim, config, listener) = prepare(data_dir.path()).await?;
        Ok((Demo { sim, data_dir }, config, listener))
    }

    /// Prints the URLs, the tokens and the walkthrough.
    pub fn print_walkthrough(&self, config: &Config, scim: &str, admin: &str) {
        let scim_url = config.scim_base_url();
        let public = &config.public_url;
        let sim_url = &self.sim.base_url;
        let user = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","externalId":"00u1ada","name":{"givenName":"Ada","familyName":"Lovelace"},"title":"QA Specialist","emails":[{"value":"ada@example.com","primary":true}],"active":true}"#;
        println!(
            "\nzenqms-bridge demo: embedded SQLite in {dir} and a ZenQMS simulator (5 roles, 2 users)\n\n\
             \x20 SCIM base URL (for Okta): {scim_url}\n\
             \x20 scim token:               {scim}\n\
             \x20 admin token:              {admin}\n\
             \x20 ZenQMS simulator:         {sim_url}   (GET {sim_url}/_sim/state shows what it holds)\n\n\
             Try it from another shell: push a user, see it in ZenQMS, read the sync status:\n\n\
             curl -s -X POST {scim_url}/Users -H 'Authorization: Bearer {scim}' -H 'Content-Type: application/scim+json' -d '{user}'\n\
             curl -s {sim_url}/_sim/state\n\
             curl -s {public}/api/v1/sync/status -H 'Authorization: Bearer {admin}'\n\n\
             Ctrl-C stops the demo and discards its data.\n",
            dir = self.data_dir.path().display(),
        );
    }

    /// Stops the simulator and discards the demo's data (throwaway by design).
    pub async fn stop(self) {
        self.sim.stop().await;
        let _ = self.data_dir.close();
    }
}

/// The demo's `scim` and `admin` tokens.
pub fn create_tokens(pool: &Pool) -> Result<(String, String), String> {
    let mut conn = pool.get().map_err(|e| StoreError::from(e).to_string())?;
    let scim = tokens::create(&mut conn, "demo-okta", Scope::Scim).map_err(|e| e.to_string())?;
    let admin = tokens::create(&mut conn, "demo-admin", Scope::Admin).map_err(|e| e.to_string())?;
    Ok((scim.token, admin.token))
}

async fn prepare(data_dir: &Path) -> Result<(zenqms_sim::RunningSim, Config, TcpListener), String> {
    let sim_token = format!("demo-{}", uuid::Uuid::new_v4().simple());
    let sim = zenqms_sim::start(
        zenqms_sim::SimConfig {
            seed: Some(zenqms_sim::demo_seed()),
            ..zenqms_sim::SimConfig::new(sim_token.clone())
        },
        "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
    )
    .await
    .map_err(|e| format!("cannot start the ZenQMS simulator: {e}"))?;

    let explicit = std::env::var("BIND_ADDR")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let listener = bind(explicit.as_deref())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;

    let mut env: HashMap<String, String> = std::env::vars().collect();
    let db: PathBuf = data_dir.join("zenqms-bridge.db");
    for (k, v) in [
        ("BIND_ADDR", addr.to_string()),
        ("DATA_DIR", data_dir.display().to_string()),
        ("DATABASE_URL", format!("sqlite://{}", db.display())),
        ("ZENQMS_BASE_URL", sim.base_url.clone()),
        ("ZENQMS_API_TOKEN", sim_token),
    ] {
        env.insert(k.to_string(), v);
    }
    // The demo's connection is the simulator, whatever the environment configures.
    env.remove("ZENQMS_API_TOKEN_FILE");
    if explicit.is_none() {
        env.remove("PUBLIC_URL");
    }
    let config = Config::from_source(&env).map_err(|e| e.to_string())?;
    Ok((sim, config, listener))
}

fn bind(explicit: Option<&str>) -> Result<TcpListener, String> {
    let wanted = explicit.unwrap_or(DEMO_ADDR);
    let addr: SocketAddr = wanted
        .parse()
        .map_err(|e| format!("configuration: BIND_ADDR: `{wanted}` is not valid: {e}"))?;
    match TcpListener::bind(addr) {
        Ok(l) => Ok(l),
        Err(e) if explicit.is_some() => Err(format!("cannot listen on {addr}: {e}")),
        Err(_) => TcpListener::bind(SocketAddr::new(addr.ip(), 0))
            .map_err(|e| format!("cannot listen on {}: {e}", addr.ip())),
    }
}
