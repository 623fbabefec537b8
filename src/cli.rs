//! The command line: `serve`, `migrate`, `token create|list|revoke`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::auth::{tokens, Scope};
use crate::config::Config;
use crate::server;
use crate::store;

#[derive(Parser)]
#[command(
    name = "zenqms-bridge",
    version,
    about = "Provision ZenQMS from Okta over SCIM 2.0"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (SCIM, admin API, health, metrics) and the sync workers.
    Serve {
        /// Throwaway SQLite database and an embedded ZenQMS simulator: a demo with nothing
        /// to set up. Prints the URLs, a scim and an admin token, and a curl walkthrough.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage service-account tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a service account; its token is printed once, as the last line of stdout.
    Create {
        #[arg(long)]
        name: String,
        /// scim (for Okta/Entra), admin, or read.
        #[arg(long, value_parser = parse_scope)]
        scope: Scope,
    },
    /// List service accounts (never their tokens).
    List,
    /// Revoke a service account's token; effective on the next request.
    Revoke { name: String },
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    Scope::parse(s).ok_or_else(|| format!("`{s}` is not scim, admin or read"))
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::install_crypto_provider();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init_logging(&config);
    for name in Config::unknown_variables(&|| std::env::vars().map(|(k, _)| k).collect()) {
        tracing::warn!(variable = %name, "unknown setting in the environment (typo?); it is ignored");
    }
    let result = match cli.command {
        Command::Serve { demo: false } => serve(config),
        Command::Serve { demo: true } => runtime().and_then(|rt| rt.block_on(crate::demo::run())),
        Command::Migrate => migrate(config),
        Command::Token { command } => token(config, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

fn serve(config: Config) -> Result<(), String> {
    runtime()?.block_on(async move {
        tracing::info!(database = %config.database_url.redacted(), "starting");
        let scim_url = config.scim_base_url();
        let state = server::prepare(config).map_err(|e| e.to_string())?;
        if let Some(token) = server::bootstrap_admin_token(&state).map_err(|e| e.to_string())? {
            eprintln!(
                "\n=== First start: a one-time ADMIN token (shown only now; store it safely) ===\n{token}\n\
                 Create a token for Okta with: zenqms-bridge token create --name okta --scope scim\n"
            );
        }
        let running = server::start(state, true).map_err(|e| e.to_string())?;
        tracing::info!(addr = %running.addr, "listening");
        eprintln!("SCIM base URL for Okta: {scim_url}");
        running.wait().await.map_err(|e| e.to_string())?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn migrate(config: Config) -> Result<(), String> {
    let pool = store::connect(&config.database_url, 1).map_err(|e| e.to_string())?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let n = store::run_migrations(&mut conn).map_err(|e| e.to_string())?;
    println!("{n} migration(s) applied; database is current");
    Ok(())
}

fn token(config: Config, command: TokenCommand) -> Result<(), String> {
    let pool = store::connect(&config.database_url, 1).map_err(|e| e.to_string())?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    store::run_migrations(&mut conn).map_err(|e| e.to_string())?;
    match command {
        TokenCommand::Create { name, scope } => {
            let created = tokens::create(&mut conn, &name, scope).map_err(|e| e.to_string())?;
            record_cli_audit(
                &mut conn,
                "token.create",
                &name,
                serde_json::json!({"scope": scope.as_str()}),
            );
            println!(
                "Created service account `{name}` with scope `{scope}`. The token is shown once:"
            );
            println!("{}", created.token);
        }
        TokenCommand::List => {
            let accounts = tokens::list(&mut conn).map_err(|e| e.to_string())?;
            println!(
                "{:<24} {:<6} {:<12} {:<27} {:<27} REVOKED",
                "NAME", "SCOPE", "PREFIX", "CREATED", "LAST USED"
            );
            for a in accounts {
                println!(
                    "{:<24} {:<6} {:<12} {:<27} {:<27} {}",
                    a.name,
                    a.scope,
                    a.prefix,
                    crate::time::rfc3339(&a.created_at),
                    a.last_used_at
                        .as_ref()
                        .map(crate::time::rfc3339)
                        .unwrap_or_else(|| "never".into()),
                    a.revoked_at
                        .as_ref()
                        .map(crate::time::rfc3339)
                        .unwrap_or_else(|| "-".into()),
                );
            }
        }
        TokenCommand::Revoke { name } => {
            tokens::revoke(&mut conn, &name).map_err(|e| e.to_string())?;
            record_cli_audit(&mut conn, "token.revoke", &name, serde_json::json!({}));
            println!("Revoked `{name}`.");
        }
    }
    Ok(())
}

fn record_cli_audit(conn: &mut store::DbConn, action: &str, name: &str, detail: serde_json::Value) {
    let entry = crate::audit::Entry {
        actor: "cli",
        action,
        target_type: "service_account",
        target_id: Some(name),
        detail,
        outcome: crate::audit::Outcome::Success,
    };
    if let Err(e) = crate::audit::record(conn, &entry) {
        tracing::warn!(error = %e, "could not write the audit entry");
    }
}
