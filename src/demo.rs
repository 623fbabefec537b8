//! `zenqms-bridge serve --demo`: the bridge on a throwaway SQLite database with an embedded
//! ZenQMS simulator (five roles, two pre-existing users) and an embedded Okta org (okta-sim:
//! six users in three groups, an admin whom `/authorize` signs in at once, an OIDC app whose
//! redirect URI is this bridge's callback), a `scim` and an `admin` token, the Okta settings
//! saved (only the authorization is left to do, from the console or with `curl`), and the
//! walkthrough — from a fresh clone, with nothing else to set up. The CLI starts the server
//! on what [`Demo::start`] prepares and calls [`Demo::configure_okta`] once the services exist.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use crate::auth::{tokens, Scope};
use crate::config::Config;
use crate::okta::{Okta, SettingsInput};
use crate::store::{Pool, StoreError};

/// The address the demo listens on unless `BIND_ADDR` says otherwise; a free port is
/// taken when it is busy (a demo should not fail over a port).
const DEMO_ADDR: &str = "127.0.0.1:8080";

/// The OIDC app registered in the demo's Okta org (its secret is drawn per demo).
const OKTA_CLIENT_ID: &str = "0oademobridge0000001";

/// The running simulators and the throwaway data directory.
pub struct Demo {
    sim: zenqms_sim::RunningSim,
    okta: okta_sim::RunningSim,
    okta_secret: String,
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
        let okta_secret = format!("demo-{}", uuid::Uuid::new_v4().simple());
        let redirect_uri = format!(
            "{}/oauth/okta/callback",
            config.public_url.trim_end_matches('/')
        );
        let okta = okta_sim::start(
            okta_sim::SimConfig {
                seed: Some(okta_seed()),
                id_seed: Some(10),
                ..okta_sim::SimConfig::with_client(okta_sim::OAuthClient::new(
                    OKTA_CLIENT_ID,
                    &okta_secret,
                    &redirect_uri,
                ))
            },
            "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
        )
        .await
        .map_err(|e| format!("cannot start the Okta simulator: {e}"))?;
        Ok((
            Demo {
                sim,
                okta,
                okta_secret,
                data_dir,
            },
            config,
            listener,
        ))
    }

    /// Saves the Okta settings (the simulator's org URL, the app's client ID and secret), as
    /// `PUT /api/v1/settings/okta` would: what is left is the admin's authorization.
    pub async fn configure_okta(&self, okta: &Okta) -> Result<(), String> {
        okta.put_settings(
            SettingsInput {
                org_url: self.okta.base_url.clone(),
                client_id: OKTA_CLIENT_ID.into(),
                client_secret: Some(self.okta_secret.clone()),
                scope_group_ids: None,
            },
            "demo",
        )
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot save the demo's Okta settings: {e}"))
    }

    /// Prints the URLs, the tokens and the walkthrough.
    pub fn print_walkthrough(&self, config: &Config, scim: &str, admin: &str) {
        let scim_url = config.scim_base_url();
        let public = config.public_url.trim_end_matches('/');
        let sim_url = &self.sim.base_url;
        let okta_url = &self.okta.base_url;
        let auth = format!("-H 'Authorization: Bearer {admin}'");
        let json = "-H 'Content-Type: application/json'";
        let user = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","externalId":"00u1ada","name":{"givenName":"Ada","familyName":"Lovelace"},"title":"QA Specialist","emails":[{"value":"ada@example.com","primary":true}],"active":true}"#;
        println!(
            "\nzenqms-bridge demo: embedded SQLite in {dir} and two simulators: ZenQMS (5 roles, 2 users) and Okta (6 users, 3 groups)\n\n\
             \x20 SCIM base URL (for Okta): {scim_url}\n\
             \x20 scim token:               {scim}\n\
             \x20 admin token:              {admin}\n\
             \x20 ZenQMS simulator:         {sim_url}   (GET {sim_url}/_sim/state shows what it holds)\n\
             \x20 Okta simulator:           {okta_url}   (6 users in 3 groups; /authorize signs in admin@example.com at once)\n\
             \x20 console:                  {public}/   (sign in with the admin token)\n\n\
             Try it from another shell: push a user, see it in ZenQMS, read the sync status:\n\n\
             curl -s -X POST {scim_url}/Users -H 'Authorization: Bearer {scim}' -H 'Content-Type: application/scim+json' -d '{user}'\n\
             curl -s {sim_url}/_sim/state\n\
             curl -s {public}/api/v1/sync/status {auth}\n\n\
             Or provision from the Okta API, in the console ({public}/, wizard page 1 then 2) or with curl:\n\n\
             \x20 1. Okta: the org URL, client ID and secret are saved; authorize the connection (\"Authorize\" on\n\
             \x20    page 1, or open the authorize_url this prints in a browser — okta-sim sends you straight back):\n\
             \x20      curl -s -X POST {public}/api/v1/okta/authorize {auth}\n\
             \x20 2. ZenQMS: already connected to the simulator (GET {public}/api/v1/settings/zenqms).\n\
             \x20 3. Initial sync: a Standard dry run, then Full (creates the Okta users in ZenQMS; a user without a\n\
             \x20    title is refused, with the reason, as DEFAULT_TITLE is unset); then read the report:\n\
             \x20      curl -s -X POST {public}/api/v1/initial-sync {auth} {json} -d '{{\"mode\":\"standard\",\"dry_run\":true}}'\n\
             \x20      curl -s -X POST {public}/api/v1/initial-sync {auth} {json} -d '{{\"mode\":\"full\",\"dry_run\":false}}'\n\
             \x20      curl -s {public}/api/v1/initial-sync {auth}\n\
             \x20      curl -s '{public}/api/v1/initial-sync/<id>/items' {auth}\n\
             \x20 4. A mapping: Okta group \"Quality Assurance\" -> ZenQMS role 15 (QA Reviewer), on the console's\n\
             \x20    Role mappings page or with curl (its members gain the role in ZenQMS):\n\
             \x20      curl -s -X POST {public}/api/v1/role-mappings {auth} {json} -d '{{\"group_display_name\":\"Quality Assurance\",\"role_ids\":[\"15\"]}}'\n\
             \x20 5. Change a user in Okta and watch ZenQMS follow (event hooks or the periodic re-read, once\n\
             \x20    set up, bring the change; a Full initial sync brings it at once):\n\
             \x20      curl -s -X PATCH {okta_url}/_sim/users/katherine.johnson@example.com {json} -d '{{\"profile\":{{\"title\":\"Quality Manager\"}}}}'\n\
             \x20      curl -s {sim_url}/_sim/state\n\n\
             Ctrl-C stops the demo and discards its data.\n",
            dir = self.data_dir.path().display(),
        );
    }

    /// Stops the simulators and discards the demo's data (throwaway by design).
    pub async fn stop(self) {
        self.okta.stop().await;
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

/// The demo's Okta org: two users ZenQMS already has (a Standard run links them), Ada with
/// the id the SCIM walkthrough pushes (push and pull are one record), two newcomers, and one
/// without a title (a Full run refuses her, with the reason, while `DEFAULT_TITLE` is unset).
fn okta_seed() -> okta_sim::Seed {
    use okta_sim::{Seed, SeedGroup, SeedUser};
    let user = |email: &str, first: &str, last: &str, title: Option<&str>, groups: &[&str]| {
        let mut u = SeedUser::new(email, first, last);
        if let Some(t) = title {
            u = u.with("title", t);
        }
        u.groups = groups.iter().map(|g| g.to_string()).collect();
        u
    };
    let qa = "Quality Assurance";
    let docs = "Document Control";
    let audit = "Auditors";
    let mut ada = user(
        "ada@example.com",
        "Ada",
        "Lovelace",
        Some("QA Specialist"),
        &[qa],
    );
    ada.id = Some("00u1ada".into());
    Seed {
        groups: vec![
            SeedGroup {
                description: Some("Quality assurance team".into()),
                ..SeedGroup::new(qa)
            },
            SeedGroup {
                description: Some("Document controllers".into()),
                ..SeedGroup::new(docs)
            },
            SeedGroup {
                description: Some("Internal auditors".into()),
                ..SeedGroup::new(audit)
            },
        ],
        users: vec![
            user(
                "grace.hopper@example.com",
                "Grace",
                "Hopper",
                Some("Head of Quality"),
                &[qa, docs],
            ),
            user(
                "alan.turing@example.com",
                "Alan",
                "Turing",
                Some("Validation Engineer"),
                &[audit],
            ),
            ada,
            user(
                "katherine.johnson@example.com",
                "Katherine",
                "Johnson",
                Some("Document Controller"),
                &[docs],
            ),
            user(
                "margaret.hamilton@example.com",
                "Margaret",
                "Hamilton",
                Some("Software Engineer"),
                &[qa],
            ),
            user(
                "radia.perlman@example.com",
                "Radia",
                "Perlman",
                None,
                &[audit],
            ),
        ],
    }
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
