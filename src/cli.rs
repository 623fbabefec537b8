//! The command line: `serve`, `migrate`, `token create|list|revoke`, `mapping export|import`,
//! `initial-sync`.

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
        /// Throwaway SQLite database, an embedded ZenQMS simulator and an embedded Okta org
        /// (okta-sim): a demo with nothing to set up. Prints the URLs, a scim and an admin
        /// token, and the walkthrough (SCIM push, or authorize Okta and run an initial sync).
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
    /// Export or import the group→role mapping table as a reviewable document.
    Mapping {
        #[command(subcommand)]
        command: MappingCommand,
    },
    /// Link (standard) or provision (full) the identity provider's users in ZenQMS once; with
    /// --dry-run, report what it would do and change nothing (docs/initial-sync.md). Runs in
    /// this process against the same database as the service (a running service resumes the
    /// run if this command is interrupted); prints the summary at the end.
    InitialSync {
        #[arg(long, value_parser = ["standard", "full"], default_value = "standard")]
        mode: String,
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum MappingCommand {
    /// Print the mapping table as JSON (stable: sorted, no timestamps, so a diff is the change).
    Export,
    /// Make the mapping table equal to a document (mappings it lacks are removed); prints what
    /// was created, removed and left. Role ids are checked against ZenQMS's role list (the
    /// cache, read again from ZenQMS when an id is not in it).
    Import {
        /// A document as `mapping export` writes it.
        file: std::path::PathBuf,
        /// Say what would change (and who would gain or lose each role); change nothing.
        #[arg(long)]
        dry_run: bool,
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
        Command::Serve { demo: true } => runtime().and_then(|rt| rt.block_on(demo())),
        Command::Migrate => migrate(config),
        Command::Token { command } => token(config, command),
        Command::Mapping { command } => mapping(config, command),
        Command::InitialSync { mode, dry_run } => initial_sync(config, &mode, dry_run),
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
        let services = server::prepare(config).map_err(|e| e.to_string())?;
        if let Some(token) = server::bootstrap_admin_token(&services).map_err(|e| e.to_string())? {
            eprintln!(
                "\n=== First start: a one-time ADMIN token (shown only now; store it safely) ===\n{token}\n\
                 Create a token for Okta with: zenqms-bridge token create --name okta --scope scim\n"
            );
        }
        let running = server::start(services, true).map_err(|e| e.to_string())?;
        tracing::info!(addr = %running.addr, "listening");
        eprintln!("SCIM base URL for Okta: {scim_url}");
        running.wait().await.map_err(|e| e.to_string())?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// `serve --demo`: the server on what `demo.rs` prepares (a simulator, a throwaway database).
async fn demo() -> Result<(), String> {
    let (demo, config, listener) = crate::demo::Demo::start().await?;
    let result = async {
        let shown = config.clone();
        let services = server::prepare(config).map_err(|e| e.to_string())?;
        let (scim, admin) = crate::demo::create_tokens(&services.pool)?;
        demo.configure_okta(&services.okta).await?;
        let running = server::start_on(services, listener, true).map_err(|e| e.to_string())?;
        demo.print_walkthrough(&shown, &scim, &admin);
        running.wait().await.map_err(|e| e.to_string())
    }
    .await;
    demo.stop().await;
    result
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

fn mapping(mut config: Config, command: MappingCommand) -> Result<(), String> {
    use crate::mappings::document;
    // One command at a time: a couple of connections, not a server's pool (a PostgreSQL
    // shared with running bridges has a connection limit).
    config.db_pool_size = config.db_pool_size.min(2);
    runtime()?.block_on(async move {
        let services = server::prepare(config).map_err(|e| e.to_string())?;
        // The connection in force (environment or stored settings), to check role ids.
        if let Err(e) = services.sync.refresh().await {
            tracing::warn!(error = %e, "cannot read the ZenQMS connection; role ids are checked against the cache only");
        }
        let mappings = services.mappings;
        match command {
            MappingCommand::Export => {
                let doc = mappings.export().await.map_err(|e| e.to_string())?;
                print!("{}", document::to_text(&doc));
            }
            MappingCommand::Import { file, dry_run } => {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
                let doc = document::parse(&text).map_err(|e| format!("{}: {e}", file.display()))?;
                let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
                let source = format!("{} (sha256 {digest})", file.display());
                let report = mappings
                    .import("cli", doc, dry_run, &source, crate::mappings::DEFAULT_LISTED)
                    .await
                    .map_err(|e| e.to_string())?;
                print_import(&report, &source);
            }
        }
        Ok(())
    })
}

fn print_import(r: &crate::mappings::ImportReport, source: &str) {
    let line = |verb: &str, l: &crate::mappings::ImportLine| {
        println!(
            "{verb:<10} \"{}\" ({}) -> role {} {} [{}]",
            l.group_display_name,
            l.group_id.as_deref().unwrap_or("no group yet"),
            l.role_id,
            l.role_name,
            l.status.as_str()
        )
    };
    println!(
        "{} {source}",
        if r.dry_run {
            "Dry run (nothing changed) of"
        } else {
            "Imported"
        }
    );
    for l in &r.created {
        line(if r.dry_run { "would add" } else { "added" }, l);
    }
    for l in &r.removed {
        line(if r.dry_run { "would rm" } else { "removed" }, l);
    }
    for l in &r.unchanged {
        line("unchanged", l);
    }
    for role in &r.roles {
        println!(
            "role {} {}: {} gain, {} lose — {}",
            role.role_id, role.role_name, role.gain_count, role.lose_count, role.note
        );
    }
    for w in &r.warnings {
        println!("warning: {w}");
    }
    println!(
        "{} created, {} removed, {} unchanged; {} users enqueued",
        r.created.len(),
        r.removed.len(),
        r.unchanged.len(),
        r.users_enqueued
    );
}

fn initial_sync(mut config: Config, mode: &str, dry_run: bool) -> Result<(), String> {
    use crate::initial_sync::{Mode, State};
    use std::io::IsTerminal;
    let mode = Mode::parse(mode).ok_or_else(|| format!("unknown mode `{mode}`"))?;
    config.db_pool_size = config.db_pool_size.min(4);
    runtime()?.block_on(async move {
        let services = server::prepare(config).map_err(|e| e.to_string())?;
        // The connection in force (environment or stored settings).
        services.sync.refresh().await.map_err(|e| e.to_string())?;
        let svc = services.initial_sync;
        let run = svc
            .start("cli", mode, dry_run)
            .await
            .map_err(|e| e.to_string())?;
        eprintln!(
            "initial sync {} started ({}{}, source: {})",
            run.id,
            run.mode,
            if dry_run { ", dry run" } else { "" },
            run.source
        );
        // A progress bar only on a terminal; logs and pipes get the summary alone.
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} {msg:<16} [{bar:40}] {pos}/{len} ({eta})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        let watch = async {
            let Some(bar) = &bar else {
                return std::future::pending::<()>().await;
            };
            loop {
                if let Ok(v) = svc.get(&run.id).await {
                    bar.set_length(v.progress.total.max(0) as u64);
                    bar.set_position(v.progress.done.max(0) as u64);
                    bar.set_message(v.state);
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        };
        let end = tokio::select! {
            r = svc.run_to_end(&run.id) => r.map_err(|e| e.to_string())?,
            _ = watch => return Err("the progress display stopped".into()),
        };
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        println!(
            "initial sync {}: {} ({}{}, source: {}); {}/{} users",
            end.id,
            end.state,
            end.mode,
            if end.dry_run {
                ", dry run: nothing was changed"
            } else {
                ""
            },
            end.source,
            end.progress.done,
            end.progress.total
        );
        for (outcome, n) in &end.counts {
            println!("  {outcome:<10} {n}");
        }
        if let Some(e) = &end.error {
            println!("error: {e}");
        }
        println!(
            "report: GET /api/v1/initial-sync/{}/items (format=csv for a spreadsheet)",
            end.id
        );
        match State::parse(end.state) {
            Some(State::Done) => Ok(()),
            _ => Err(format!("the run ended {}", end.state)),
        }
    })
}
