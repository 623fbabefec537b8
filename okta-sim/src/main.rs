//! `okta-sim`: a simulated Okta org as a standalone server.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use okta_sim::{
    AdminIdentity, Faults, Generate, HookDelivery, LinkStyle, OAuthClient, RateLimits, Seed,
    SimConfig, Simulator,
};

/// A simulator of an Okta org: OAuth 2.0 org authorization server, Users/Groups/Event
/// Hooks APIs, with faults and inspection endpoints under /_sim.
#[derive(Parser, Debug)]
#[command(name = "okta-sim", version)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "OKTA_SIM_PORT", default_value_t = 8091)]
    port: u16,
    /// Address to listen on.
    #[arg(long, env = "OKTA_SIM_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The org URL the simulator calls itself (iss, links); default: its own address.
    #[arg(long, env = "OKTA_SIM_ORG_URL")]
    org_url: Option<String>,
    /// JSON seed file: {"users": [...], "groups": [...]} (generated groups step aside).
    #[arg(long, env = "OKTA_SIM_SEED_FILE")]
    seed: Option<PathBuf>,
    /// Generate this many users (0 with --groups 0: none)…
    #[arg(long, env = "OKTA_SIM_USERS", default_value_t = 25)]
    users: usize,
    /// …in this many groups.
    #[arg(long, env = "OKTA_SIM_GROUPS", default_value_t = 4)]
    groups: usize,
    /// Seed of the generator (same seed, same org, same ids).
    #[arg(long, env = "OKTA_SIM_RANDOM_SEED", default_value_t = 1)]
    random_seed: u64,
    /// OAuth client id.
    #[arg(
        long,
        env = "OKTA_SIM_CLIENT_ID",
        default_value = "0oasimclient00000000"
    )]
    client_id: String,
    /// OAuth client secret.
    #[arg(
        long,
        env = "OKTA_SIM_CLIENT_SECRET",
        default_value = "okta-sim-client-secret",
        hide_env_values = true
    )]
    client_secret: String,
    /// A sign-in redirect URI of the client (repeat for several).
    #[arg(
        long = "redirect-uri",
        env = "OKTA_SIM_REDIRECT_URIS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8080/oauth/okta/callback,http://localhost:8080/oauth/okta/callback"
    )]
    redirect_uris: Vec<String>,
    /// Scopes the client may be granted (comma-separated).
    #[arg(long, env = "OKTA_SIM_SCOPES", value_delimiter = ',')]
    scopes: Option<Vec<String>>,
    /// Refresh-token rotation.
    #[arg(long, env = "OKTA_SIM_ROTATION")]
    rotation: bool,
    /// Access-token lifetime in seconds.
    #[arg(long, env = "OKTA_SIM_ACCESS_TOKEN_LIFETIME", default_value_t = 3600)]
    access_token_lifetime: u64,
    /// Refresh-token lifetime in seconds.
    #[arg(
        long,
        env = "OKTA_SIM_REFRESH_TOKEN_LIFETIME",
        default_value_t = 7_776_000
    )]
    refresh_token_lifetime: u64,
    /// Login of the admin /authorize signs in.
    #[arg(long, env = "OKTA_SIM_ADMIN", default_value = "admin@example.com")]
    admin: String,
    /// The admin's role lacks the API permission (calls answer 403 despite the scope).
    #[arg(long, env = "OKTA_SIM_ADMIN_LACKS_PERMISSION")]
    admin_lacks_permission: bool,
    /// Requests per window per endpoint family.
    #[arg(long, env = "OKTA_SIM_RATE_LIMIT", default_value_t = 600)]
    rate_limit: u32,
    /// Requests per window for /oauth2/v1/token (default: --rate-limit).
    #[arg(long, env = "OKTA_SIM_TOKEN_RATE_LIMIT")]
    token_rate_limit: Option<u32>,
    /// Rate-limit window in milliseconds.
    #[arg(long, env = "OKTA_SIM_RATE_WINDOW_MS", default_value_t = 60_000)]
    rate_window_ms: u64,
    /// Fixed latency before every real-API answer.
    #[arg(long, env = "OKTA_SIM_LATENCY_MS", default_value_t = 0)]
    latency_ms: u64,
    /// Random extra latency: lower bound (with --latency-max-ms).
    #[arg(long, requires = "latency_max_ms")]
    latency_min_ms: Option<u64>,
    /// Random extra latency: upper bound.
    #[arg(long)]
    latency_max_ms: Option<u64>,
    /// Fraction (0..1) of real-API requests answered 500 E0000009.
    #[arg(long, env = "OKTA_SIM_ERROR_RATE", default_value_t = 0.0)]
    error_rate: f64,
    /// Start in an outage (every real-API request answers 503).
    #[arg(long)]
    outage: bool,
    /// Send both Link relations in one header instead of one header each.
    #[arg(long)]
    combined_links: bool,
    /// Event-hook batch window in milliseconds.
    #[arg(long, env = "OKTA_SIM_HOOK_BATCH_MS", default_value_t = 100)]
    hook_batch_ms: u64,
}

impl Args {
    fn config(&self) -> Result<SimConfig, String> {
        let seed = match &self.seed {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read seed file {}: {e}", path.display()))?;
                Some(
                    Seed::from_json(&text)
                        .map_err(|e| format!("invalid seed file {}: {e}", path.display()))?,
                )
            }
            None => None,
        };
        let mut client = OAuthClient {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            redirect_uris: self.redirect_uris.clone(),
            refresh_rotation: self.rotation,
            access_token_lifetime_s: self.access_token_lifetime,
            refresh_token_lifetime_s: self.refresh_token_lifetime,
            ..OAuthClient::default()
        };
        if let Some(scopes) = &self.scopes {
            client.allowed_scopes = scopes.clone();
        }
        let admin = AdminIdentity {
            login: self.admin.clone(),
            email: self.admin.clone(),
            lacks_permission: self.admin_lacks_permission,
            ..AdminIdentity::default()
        };
        let mut rate_limits = RateLimits::uniform(self.rate_limit);
        rate_limits.token = self.token_rate_limit.unwrap_or(self.rate_limit);
        rate_limits.window_ms = self.rate_window_ms;
        Ok(SimConfig {
            seed,
            generate: (self.users > 0 || self.groups > 0)
                .then(|| Generate::new(self.users, self.groups, self.random_seed)),
            id_seed: Some(self.random_seed),
            clients: vec![client],
            admin,
            faults: Faults {
                latency_ms: self.latency_ms,
                latency_min_ms: self.latency_min_ms,
                latency_max_ms: self.latency_max_ms,
                error_rate: self.error_rate,
                outage: self.outage,
            },
            rate_limits,
            hook_delivery: HookDelivery {
                batch_window_ms: self.hook_batch_ms,
                ..HookDelivery::default()
            },
            link_style: if self.combined_links {
                LinkStyle::Combined
            } else {
                LinkStyle::Separate
            },
            org_url: self.org_url.clone(),
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let sim = match args.config().and_then(Simulator::new) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("okta-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let running = match okta_sim::serve(sim, SocketAddr::new(args.bind, args.port)).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!(
                "okta-sim: cannot listen on {}:{}: {e}",
                args.bind, args.port
            );
            return ExitCode::FAILURE;
        }
    };
    let sim = &running.sim;
    let state = sim.state();
    println!("okta-sim listening on {}", running.base_url);
    for c in sim.clients() {
        println!("client_id:     {}", c.client_id);
        println!("client_secret: {}", c.client_secret);
        println!("redirect URIs: {}", c.redirect_uris.join(", "));
        println!("scopes:        {}", c.allowed_scopes.join(" "));
    }
    let admin = sim.admin();
    println!(
        "admin:         {} ({}, sub {})",
        admin.login, admin.name, admin.id
    );
    println!(
        "org:           {} users, {} groups",
        state.users.len(),
        state.groups.len()
    );
    shutdown_signal().await;
    running.stop().await;
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
