//! `zenqms-sim`: the ZenQMS public API simulator as a standalone server.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use zenqms_sim::{demo_seed, Faults, Seed, SimConfig, Simulator};

/// A simulator of the ZenQMS public API (users and roles), with faults and inspection
/// endpoints under /_sim.
#[derive(Parser, Debug)]
#[command(name = "zenqms-sim", version)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "ZENQMS_SIM_PORT", default_value_t = 8090)]
    port: u16,
    /// Address to listen on.
    #[arg(long, env = "ZENQMS_SIM_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// API token clients must send as `Authorization: Bearer <token>`.
    #[arg(long, env = "ZENQMS_SIM_TOKEN", hide_env_values = true)]
    token: String,
    /// A second token that may read but gets 403 on writes.
    #[arg(long, env = "ZENQMS_SIM_READONLY_TOKEN", hide_env_values = true)]
    readonly_token: Option<String>,
    /// JSON seed file: {"roles": [...], "users": [...]} (applied after --demo-seed).
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Start with the demo tenant: five roles and two users.
    #[arg(long)]
    demo_seed: bool,
    /// Generate ids as strings ("u-1001") instead of numbers.
    #[arg(long)]
    string_ids: bool,
    /// Fixed latency added to every /v2 answer.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Random extra latency: lower bound (with --latency-max-ms).
    #[arg(long, requires = "latency_max_ms")]
    latency_min_ms: Option<u64>,
    /// Random extra latency: upper bound.
    #[arg(long)]
    latency_max_ms: Option<u64>,
    /// Tenant-wide requests per second; past it /v2 answers 429 with Retry-After.
    #[arg(long)]
    rate_limit_rps: Option<u32>,
    /// Fraction (0..1) of /v2 requests answered 500 or 503.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Fraction (0..1) of /v2 requests carried out and then answered 500.
    #[arg(long, default_value_t = 0.0)]
    lost_response_rate: f64,
    /// Fraction (0..1) of /v2 requests that hang for --hang-ms first.
    #[arg(long, default_value_t = 0.0)]
    hang_rate: f64,
    /// How long a hanging request waits.
    #[arg(long, default_value_t = 120_000)]
    hang_ms: u64,
    /// Start in an outage: every /v2 request answers 503.
    #[arg(long)]
    outage: bool,
}

impl Args {
    fn config(&self) -> Result<SimConfig, String> {
        let mut seed = Seed::default();
        if self.demo_seed {
            seed = demo_seed();
        }
        if let Some(path) = &self.seed {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read seed file {}: {e}", path.display()))?;
            let file = Seed::from_json(&text)
                .map_err(|e| format!("invalid seed file {}: {e}", path.display()))?;
            seed.roles.extend(file.roles);
            seed.users.extend(file.users);
        }
        Ok(SimConfig {
            token: self.token.clone(),
            readonly_token: self.readonly_token.clone(),
            string_ids: self.string_ids,
            seed: Some(seed),
            faults: Faults {
                latency_ms: self.latency_ms,
                latency_min_ms: self.latency_min_ms,
                latency_max_ms: self.latency_max_ms,
                rate_limit_rps: self.rate_limit_rps,
                retry_after_s: None,
                error_rate: self.error_rate,
                lost_response_rate: self.lost_response_rate,
                hang_rate: self.hang_rate,
                hang_ms: self.hang_ms,
                outage: self.outage,
            },
        })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let sim = match args
        .config()
        .and_then(|cfg| Simulator::new(cfg).map_err(|e| e.to_string()))
    {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("zenqms-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let running = match zenqms_sim::serve(sim, SocketAddr::new(args.bind, args.port)).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!(
                "zenqms-sim: cannot listen on {}:{}: {e}",
                args.bind, args.port
            );
            return ExitCode::FAILURE;
        }
    };
    println!("zenqms-sim listening on http://{}", running.addr);
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
