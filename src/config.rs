//! Every setting, declared once with its type, default and documentation.
//!
//! Values come from the environment, from `<NAME>_FILE` (the file's content, trimmed — for
//! secrets kept in files), and from an optional `.env` in the working directory. A bad value
//! stops start-up with a message naming the variable. Secrets print as `***`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::store::DatabaseUrl;

/// One documented setting (the table `.env.example` and the README mirror).
pub struct Setting {
    pub name: &'static str,
    pub default: &'static str,
    pub secret: bool,
    pub doc: &'static str,
}

pub const SETTINGS: &[Setting] = &[
    Setting { name: "BIND_ADDR", default: "127.0.0.1:8080", secret: false, doc: "Address and port the HTTP server listens on." },
    Setting { name: "PUBLIC_URL", default: "http://<BIND_ADDR>", secret: false, doc: "External base URL (scheme, host, optional path prefix) used in meta.location and the printed SCIM base URL." },
    Setting { name: "DATA_DIR", default: "./data", secret: false, doc: "Directory for the SQLite database and the generated secret key; created on start." },
    Setting { name: "DATABASE_URL", default: "sqlite://<DATA_DIR>/zenqms-bridge.db", secret: true, doc: "sqlite://PATH (or a bare path) for embedded SQLite, postgres://USER:PASS@HOST/DB for PostgreSQL." },
    Setting { name: "DB_POOL_SIZE", default: "8", secret: false, doc: "Database connections in the pool; bounds concurrent database work." },
    Setting { name: "LOG_FORMAT", default: "pretty", secret: false, doc: "pretty (human) or json (one object per line)." },
    Setting { name: "RUST_LOG", default: "info", secret: false, doc: "Log filter, e.g. info or zenqms_bridge=debug,info." },
    Setting { name: "SECRET_KEY", default: "(generated into DATA_DIR/secret.key)", secret: true, doc: "64 hex characters (32 bytes): key that encrypts secrets at rest (the ZenQMS API token)." },
    Setting { name: "SCIM_MAX_BODY_BYTES", default: "1048576", secret: false, doc: "Largest request body accepted; larger bodies get 413." },
    Setting { name: "SCIM_MAX_PAGE_SIZE", default: "1000", secret: false, doc: "Largest `count` a list request may ask for (advertised as filter.maxResults)." },
    Setting { name: "ZENQMS_BASE_URL", default: "(unset: not configured)", secret: false, doc: "ZenQMS API base URL, e.g. https://public-api.zenqms.com (or set it at run time over the admin API)." },
    Setting { name: "ZENQMS_API_TOKEN", default: "(unset)", secret: true, doc: "ZenQMS API token (Settings → API Settings in ZenQMS)." },
    Setting { name: "ZENQMS_MAX_RPS", default: "10", secret: false, doc: "Budget of ZenQMS calls per second across all workers of this process." },
    Setting { name: "ZENQMS_CONNECT_TIMEOUT_MS", default: "5000", secret: false, doc: "Connect timeout for ZenQMS calls." },
    Setting { name: "ZENQMS_REQUEST_TIMEOUT_MS", default: "30000", secret: false, doc: "Whole-request timeout for ZenQMS calls." },
    Setting { name: "ZENQMS_ROLE_REFRESH_SECS", default: "300", secret: false, doc: "How often the ZenQMS role list is re-read while role mappings exist (renamed roles, deleted ones → role_missing); 0 turns the periodic read off (on demand only)." },
    Setting { name: "SYNC_WORKERS", default: "4", secret: false, doc: "Concurrent reconciler workers in this process." },
    Setting { name: "SYNC_BACKOFF_CAP_SECS", default: "600", secret: false, doc: "Longest wait between retries of a failing ZenQMS call." },
    Setting { name: "SYNC_DRIFT_SWEEP_SECS", default: "3600", secret: false, doc: "How often every ZenQMS user is read (POST /v2/users/search, 100 a call) and compared with what the bridge last saw, so changes made by hand in ZenQMS are corrected; once across processes. 0 turns automatic sweeps off (POST /api/v1/sync/sweep still runs one)." },
    Setting { name: "SYNC_LEASE_SECS", default: "60", secret: false, doc: "How long a worker holds a claimed job before another process may take it (renewed while the run lasts)." },
    Setting { name: "DEFAULT_TITLE", default: "(unset: users without a title are skipped)", secret: false, doc: "ZenQMS title for users whose SCIM title is empty." },
];

#[derive(Debug, thiserror::Error)]
#[error("configuration: {name}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub message: String,
}

fn bad(name: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        message: message.into(),
    }
}

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind_addr: SocketAddr,
    pub public_url: String,
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    pub db_pool_size: u32,
    pub log_format: LogFormat,
    pub rust_log: String,
    pub secret_key: Option<Secret>,
    pub scim_max_body_bytes: usize,
    pub scim_max_page_size: u32,
    pub zenqms_base_url: Option<String>,
    pub zenqms_api_token: Option<Secret>,
    pub zenqms_max_rps: f64,
    pub zenqms_connect_timeout: Duration,
    pub zenqms_request_timeout: Duration,
    /// `None`: the role list is read on demand only.
    pub zenqms_role_refresh: Option<Duration>,
    pub sync_workers: usize,
    pub sync_backoff_cap: Duration,
    pub sync_lease: Duration,
    /// `None`: no automatic drift sweep (periodic or after a role becomes managed).
    pub sync_drift_sweep: Option<Duration>,
    pub default_title: Option<String>,
}

/// Where values are read from: the process environment by default, a map in tests.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct Env;

impl Source for Env {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Source for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl Config {
    /// Reads `.env` (when present) into the environment, then the configuration.
    pub fn from_env() -> Result<Config, ConfigError> {
        // A missing .env is normal; a malformed one is reported.
        if let Err(e) = dotenvy::dotenv() {
            if !e.not_found() {
                return Err(bad(".env", e.to_string()));
            }
        }
        Config::from_source(&Env)
    }

    pub fn from_source(src: &dyn Source) -> Result<Config, ConfigError> {
        let r = Reader { src };
        let bind_addr: SocketAddr = r.parse("BIND_ADDR", "127.0.0.1:8080")?;
        let public_url = match r.value("PUBLIC_URL")? {
            Some(u) => {
                let u = u.trim_end_matches('/').to_string();
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(bad("PUBLIC_URL", "must start with http:// or https://"));
                }
                u
            }
            None => format!("http://{bind_addr}"),
        };
        let data_dir = PathBuf::from(r.value("DATA_DIR")?.unwrap_or_else(|| "./data".into()));
        let database_url = match r.value("DATABASE_URL")? {
            Some(u) => DatabaseUrl::parse(&u).map_err(|m| bad("DATABASE_URL", m))?,
            None => DatabaseUrl::Sqlite(data_dir.join("zenqms-bridge.db")),
        };
        let db_pool_size: u32 = r.parse("DB_POOL_SIZE", "8")?;
        if db_pool_size == 0 || db_pool_size > 512 {
            return Err(bad("DB_POOL_SIZE", "must be between 1 and 512"));
        }
        let log_format = match r.value("LOG_FORMAT")?.as_deref().unwrap_or("pretty") {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                return Err(bad(
                    "LOG_FORMAT",
                    format!("`{other}` is not pretty or json"),
                ))
            }
        };
        let rust_log = r.value("RUST_LOG")?.unwrap_or_else(|| "info".into());
        let secret_key = r.value("SECRET_KEY")?.map(Secret::new);
        if let Some(k) = &secret_key {
            crate::crypto::Key::from_hex(k.expose()).map_err(|m| bad("SECRET_KEY", m))?;
        }
        let scim_max_body_bytes: usize = r.parse("SCIM_MAX_BODY_BYTES", "1048576")?;
        if scim_max_body_bytes < 1024 {
            return Err(bad("SCIM_MAX_BODY_BYTES", "must be at least 1024"));
        }
        let scim_max_page_size: u32 = r.parse("SCIM_MAX_PAGE_SIZE", "1000")?;
        if scim_max_page_size == 0 {
            return Err(bad("SCIM_MAX_PAGE_SIZE", "must be at least 1"));
        }
        let zenqms_base_url = r
            .value("ZENQMS_BASE_URL")?
            .map(|u| u.trim_end_matches('/').to_string());
        if let Some(u) = &zenqms_base_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(bad(
                    "ZENQMS_BASE_URL",
                    "must start with http:// or https://",
                ));
            }
        }
        let zenqms_api_token = r.value("ZENQMS_API_TOKEN")?.map(Secret::new);
        let zenqms_max_rps: f64 = r.parse("ZENQMS_MAX_RPS", "10")?;
        if !(zenqms_max_rps.is_finite() && zenqms_max_rps > 0.0) {
            return Err(bad("ZENQMS_MAX_RPS", "must be a positive number"));
        }
        let connect_ms: u64 = r.parse("ZENQMS_CONNECT_TIMEOUT_MS", "5000")?;
        let request_ms: u64 = r.parse("ZENQMS_REQUEST_TIMEOUT_MS", "30000")?;
        let role_refresh_secs: u64 = r.parse("ZENQMS_ROLE_REFRESH_SECS", "300")?;
        if role_refresh_secs > 86_400 {
            return Err(bad(
                "ZENQMS_ROLE_REFRESH_SECS",
                "must be at most 86400 (a day); 0 turns the periodic refresh off",
            ));
        }
        let sync_workers: usize = r.parse("SYNC_WORKERS", "4")?;
        if sync_workers == 0 || sync_workers > 256 {
            return Err(bad("SYNC_WORKERS", "must be between 1 and 256"));
        }
        let backoff_cap: u64 = r.parse("SYNC_BACKOFF_CAP_SECS", "600")?;
        let lease_secs: u64 = r.parse("SYNC_LEASE_SECS", "60")?;
        if !(2..=3600).contains(&lease_secs) {
            return Err(bad("SYNC_LEASE_SECS", "must be between 2 and 3600"));
        }
        let drift_sweep_secs: u64 = r.parse("SYNC_DRIFT_SWEEP_SECS", "3600")?;
        if drift_sweep_secs > 7 * 86_400 {
            return Err(bad(
                "SYNC_DRIFT_SWEEP_SECS",
                "must be at most 604800 (a week); 0 turns automatic sweeps off",
            ));
        }
        let default_title = r.value("DEFAULT_TITLE")?;
        Ok(Config {
            bind_addr,
            public_url,
            data_dir,
            database_url,
            db_pool_size,
            log_format,
            rust_log,
            secret_key,
            scim_max_body_bytes,
            scim_max_page_size,
            zenqms_base_url,
            zenqms_api_token,
            zenqms_max_rps,
            zenqms_connect_timeout: Duration::from_millis(connect_ms.max(1)),
            zenqms_request_timeout: Duration::from_millis(request_ms.max(1)),
            zenqms_role_refresh: (role_refresh_secs > 0)
                .then(|| Duration::from_secs(role_refresh_secs)),
            sync_workers,
            sync_backoff_cap: Duration::from_secs(backoff_cap.max(1)),
            sync_lease: Duration::from_secs(lease_secs),
            sync_drift_sweep: (drift_sweep_secs > 0).then(|| Duration::from_secs(drift_sweep_secs)),
            default_title,
        })
    }

    /// The base URL Okta must be given.
    pub fn scim_base_url(&self) -> String {
        format!("{}/scim/v2", self.public_url)
    }

    /// Variables that look like ours but are not settings (likely typos).
    pub fn unknown_variables(src: &dyn Fn() -> Vec<String>) -> Vec<String> {
        const PREFIXES: &[&str] = &["ZENQMS_", "SCIM_", "SYNC_", "DB_"];
        src()
            .into_iter()
            .filter(|k| PREFIXES.iter().any(|p| k.starts_with(p)))
            .filter(|k| {
                let base = k.strip_suffix("_FILE").unwrap_or(k);
                !SETTINGS.iter().any(|s| s.name == base)
            })
            .collect()
    }
}

struct Reader<'a> {
    src: &'a dyn Source,
}

impl Reader<'_> {
    /// `NAME`, else the content of the file named by `NAME_FILE`; empty counts as unset.
    fn value(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        if let Some(v) = self.src.get(name).filter(|v| !v.trim().is_empty()) {
            return Ok(Some(v.trim().to_string()));
        }
        let file_var = format!("{name}_FILE");
        if let Some(path) = self.src.get(&file_var).filter(|v| !v.trim().is_empty()) {
            let content = std::fs::read_to_string(path.trim())
                .map_err(|e| bad(name, format!("cannot read {file_var}={path}: {e}")))?;
            let content = content.trim().to_string();
            return Ok((!content.is_empty()).then_some(content));
        }
        Ok(None)
    }

    fn parse<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: &str,
    ) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        let raw = self.value(name)?.unwrap_or_else(|| default.to_string());
        raw.parse::<T>()
            .map_err(|e| bad(name, format!("`{raw}` is not valid: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_source(&map)
    }

    #[test]
    fn defaults() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.scim_base_url(), "http://127.0.0.1:8080/scim/v2");
        assert_eq!(
            c.database_url,
            DatabaseUrl::Sqlite("./data/zenqms-bridge.db".into())
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = cfg(&[("DB_POOL_SIZE", "lots")]).unwrap_err();
        assert_eq!(e.name, "DB_POOL_SIZE");
        let e = cfg(&[("DATABASE_URL", "mysql://x/y")]).unwrap_err();
        assert_eq!(e.name, "DATABASE_URL");
        let e = cfg(&[("LOG_FORMAT", "xml")]).unwrap_err();
        assert_eq!(e.name, "LOG_FORMAT");
        let e = cfg(&[("SECRET_KEY", "short")]).unwrap_err();
        assert_eq!(e.name, "SECRET_KEY");
    }

    #[test]
    fn file_variant_and_redaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tok");
        std::fs::write(&path, "zq-secret-value\n").unwrap();
        let c = cfg(&[("ZENQMS_API_TOKEN_FILE", path.to_str().unwrap())]).unwrap();
        assert_eq!(
            c.zenqms_api_token.as_ref().map(Secret::expose),
            Some("zq-secret-value")
        );
        assert!(!format!("{c:?}").contains("zq-secret-value"));
    }

    #[test]
    fn every_setting_is_documented() {
        let env_example = include_str!("../.env.example");
        let readme = include_str!("../README.md");
        for s in SETTINGS {
            assert!(
                env_example.contains(s.name),
                "{} is not in .env.example",
                s.name
            );
            assert!(
                readme.contains(&format!("`{}`", s.name)),
                "{} is not in the README's table",
                s.name
            );
        }
    }

    #[test]
    fn unknown_prefixed_variables() {
        let vars = || {
            vec![
                "ZENQMS_BASE_URL".into(),
                "ZENQMS_BASEURL".into(),
                "HOME".into(),
                "ZENQMS_API_TOKEN_FILE".into(),
            ]
        };
        assert_eq!(
            Config::unknown_variables(&vars),
            vec!["ZENQMS_BASEURL".to_string()]
        );
    }
}
