//! Every setting, declared once with its name, type, default, secret flag and documentation.
//!
//! The declarations ([`SETTINGS`], written with the `settings!` table below) are what the
//! parser reads defaults from, what `.env.example` and the README's configuration table are
//! checked against (tests at the end), and what the warning about unknown variables compares
//! with. Adding a setting is one line in the table, one field of [`Config`] and the line in
//! [`Config::from_source`] that fills it.
//!
//! Values come from the environment, from `<NAME>_FILE` (the file's content, trimmed — for
//! secrets kept in files), and from an optional `.env` in the working directory. A bad value
//! stops start-up with a message naming the variable. Secrets print as `***`.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::store::DatabaseUrl;

/// One declared setting, without its type (the table `.env.example` and the README mirror).
#[derive(Debug)]
pub struct Setting {
    pub name: &'static str,
    pub default: Fallback,
    pub secret: bool,
    pub doc: &'static str,
}

/// What a setting is when its variable is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// This text, read like a value given in the environment.
    Value(&'static str),
    /// No value; the text says what happens instead (`unset`, `http://<BIND_ADDR>`), and the
    /// parser derives the value or leaves the feature off.
    Described(&'static str),
}

impl Fallback {
    pub fn text(&self) -> &'static str {
        match self {
            Fallback::Value(t) | Fallback::Described(t) => t,
        }
    }
}

/// A setting with a [`Fallback::Value`]: reading it yields a `T`, the default when unset.
pub struct Key<T>(Setting, PhantomData<fn() -> T>);

/// A setting with a [`Fallback::Described`]: reading it yields `Option<T>`.
pub struct Optional<T>(Setting, PhantomData<fn() -> T>);

impl<T> Key<T> {
    pub const fn name(&self) -> &'static str {
        self.0.name
    }
}

impl<T> Optional<T> {
    pub const fn name(&self) -> &'static str {
        self.0.name
    }
}

/// Declares each setting as a typed constant (`BIND_ADDR: Key<SocketAddr>`, read with
/// `Reader::get`/`Reader::optional`) and lists them all in [`SETTINGS`].
macro_rules! settings {
    (@fallback Key $text:literal) => { Fallback::Value($text) };
    (@fallback Optional $text:literal) => { Fallback::Described($text) };
    ($($name:ident: $kind:ident<$ty:ty> = $default:literal, secret: $secret:literal, $doc:literal;)*) => {
        $(
            #[doc = $doc]
            pub const $name: $kind<$ty> = $kind(
                Setting {
                    name: stringify!($name),
                    default: settings!(@fallback $kind $default),
                    secret: $secret,
                    doc: $doc,
                },
                PhantomData,
            );
        )*
        /// Every setting, in the order of `.env.example` and the README's table.
        pub const SETTINGS: &[Setting] = &[$($name.0),*];
    };
}

// One line a setting: NAME: Key<type> (a default value) or Optional<type> (no value by
// default; the text says what happens), whether it is secret, and its documentation.
settings! {
    BIND_ADDR: Key<SocketAddr> = "127.0.0.1:8080", secret: false, "Address and port the HTTP server listens on.";
    METRICS_BIND_ADDR: Optional<SocketAddr> = "unset", secret: false, "A second address that serves only /metrics, without a token (for a Prometheus scraper on a private network); unset: /metrics is on BIND_ADDR and needs a read or admin token.";
    PUBLIC_URL: Optional<String> = "http://<BIND_ADDR>", secret: false, "External base URL (scheme, host, optional path prefix) used in meta.location and the printed SCIM base URL.";
    DATA_DIR: Key<PathBuf> = "./data", secret: false, "Directory for the SQLite database and the generated secret key; created on start.";
    DATABASE_URL: Optional<DatabaseUrl> = "sqlite://<DATA_DIR>/zenqms-bridge.db", secret: true, "sqlite://PATH (or a bare path) for embedded SQLite, postgres://USER:PASS@HOST/DB for PostgreSQL.";
    DB_POOL_SIZE: Key<u32> = "8", secret: false, "Database connections in the pool; bounds concurrent database work.";
    DB_MAX_WRITES_IN_FLIGHT: Optional<u32> = "three quarters of DB_POOL_SIZE (at least 1)", secret: false, "SCIM writes (POST, PUT, PATCH, DELETE) running at once; the rest of the pool stays for reads. Writes beyond this and DB_MAX_WRITES_QUEUED get 503 with Retry-After at once (docs/operations.md).";
    DB_MAX_WRITES_QUEUED: Optional<u32> = "4 × DB_MAX_WRITES_IN_FLIGHT, at least 64", secret: false, "SCIM writes that may wait (at most 2 s) for a free write slot; more are refused with 503 and Retry-After.";
    LOG_FORMAT: Key<LogFormat> = "pretty", secret: false, "pretty (human) or json (one object per line).";
    RUST_LOG: Key<String> = "info", secret: false, "Log filter, e.g. info or zenqms_bridge=debug,info.";
    SECRET_KEY: Optional<Secret> = "generated into DATA_DIR/secret.key (mode 0600)", secret: true, "64 hex characters (32 bytes): key that encrypts secrets at rest (the ZenQMS API token, the Okta client secret and tokens), each bound to what it is for.";
    SCIM_MAX_BODY_BYTES: Key<usize> = "1048576", secret: false, "Largest request body accepted; larger bodies get 413.";
    SCIM_MAX_PAGE_SIZE: Key<u32> = "1000", secret: false, "Largest `count` a list request may ask for (advertised as filter.maxResults).";
    ZENQMS_BASE_URL: Optional<String> = "unset", secret: false, "ZenQMS API base URL, e.g. https://public-api.zenqms.com (or set it at run time over the admin API); unset: not configured.";
    ZENQMS_API_TOKEN: Optional<Secret> = "unset", secret: true, "ZenQMS API token (Settings → API Settings in ZenQMS).";
    ZENQMS_MAX_RPS: Key<f64> = "10", secret: false, "Budget of ZenQMS calls per second for the tenant, across all workers of all instances sharing the database.";
    ZENQMS_CONNECT_TIMEOUT_MS: Key<u64> = "5000", secret: false, "Connect timeout for ZenQMS calls.";
    ZENQMS_REQUEST_TIMEOUT_MS: Key<u64> = "30000", secret: false, "Whole-request timeout for ZenQMS calls.";
    ZENQMS_ROLE_REFRESH_SECS: Key<u64> = "300", secret: false, "How often the ZenQMS role list is re-read while role mappings exist (renamed roles, deleted ones → role_missing); 0 turns the periodic read off (on demand only).";
    SYNC_WORKERS: Key<usize> = "4", secret: false, "Concurrent reconciler workers in this process.";
    SYNC_BACKOFF_CAP_SECS: Key<u64> = "600", secret: false, "Longest wait between retries of a failing ZenQMS call.";
    SYNC_DRIFT_SWEEP_SECS: Key<u64> = "3600", secret: false, "How often every ZenQMS user is read (POST /v2/users/search, 100 a call) and compared with what the bridge last saw, so changes made by hand in ZenQMS are corrected; once across processes. 0 turns automatic sweeps off (POST /api/v1/sync/sweep still runs one).";
    SYNC_LEASE_SECS: Key<u64> = "60", secret: false, "How long a worker holds a claimed job before another process may take it (renewed while the run lasts).";
    DEFAULT_TITLE: Optional<String> = "unset", secret: false, "ZenQMS title for users whose SCIM title is empty; unset: such users are skipped.";
    OKTA_CONNECT_TIMEOUT_MS: Key<u64> = "5000", secret: false, "Connect timeout for calls to the Okta org (OAuth and the Users/Groups APIs).";
    OKTA_REQUEST_TIMEOUT_MS: Key<u64> = "30000", secret: false, "Whole-request timeout for calls to the Okta org.";
    OKTA_RESYNC_SECS: Key<u64> = "3600", secret: false, "How often the connected Okta org is re-read for users and group memberships changed since the last re-read (what event hooks missed); once across processes. 0 turns periodic re-reads off (POST /api/v1/okta/resync and a repaired event hook still run one).";
    OKTA_PRESENCE_SECS: Key<u64> = "86400", secret: false, "How often an Okta re-read also lists every user of the org (one call per 200) to find the users deleted or deactivated in Okta that the directory still has active (a deleted user is in no list of changes); groups are compared in every re-read. 0 turns the user check off.";
    OKTA_EVENTS_RETAIN_DAYS: Key<u64> = "30", secret: false, "How long Okta event-hook deliveries and their events are kept once processed, in days (1 to 3650); older ones are deleted hourly. An event's uuid is remembered as long, so a delivery Okta repeats (it retries within seconds) is still recognised as a duplicate.";
    CONSOLE_SESSION_IDLE_SECS: Key<u64> = "1800", secret: false, "The admin console signs a browser out after this long without a request.";
    CONSOLE_SESSION_MAX_SECS: Key<u64> = "43200", secret: false, "The admin console signs a browser out this long after sign-in, however active.";
    CONSOLE_SESSION_PURGE_SECS: Key<u64> = "600", secret: false, "How often ended and expired console sessions are deleted from the database.";
}

/// How a setting's text becomes its typed value; the error is the message that follows the
/// variable's name.
trait Parse: Sized {
    fn parse(raw: &str) -> Result<Self, String>;
}

macro_rules! parse_with_from_str {
    ($($t:ty),*) => {$(
        impl Parse for $t {
            fn parse(raw: &str) -> Result<Self, String> {
                raw.parse::<$t>().map_err(|e| format!("`{raw}` is not valid: {e}"))
            }
        }
    )*};
}

parse_with_from_str!(SocketAddr, PathBuf, String, u32, u64, usize, f64);

impl Parse for DatabaseUrl {
    fn parse(raw: &str) -> Result<Self, String> {
        DatabaseUrl::parse(raw)
    }
}

impl Parse for LogFormat {
    fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "pretty" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("`{other}` is not pretty or json")),
        }
    }
}

impl Parse for Secret {
    fn parse(raw: &str) -> Result<Self, String> {
        Ok(Secret::new(raw))
    }
}

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
    /// `None`: `/metrics` is served on `bind_addr` only, to `read` tokens.
    pub metrics_bind_addr: Option<SocketAddr>,
    pub public_url: String,
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    pub db_pool_size: u32,
    /// Writes admitted at once (`directory::Admission`).
    pub db_max_writes_in_flight: u32,
    /// Writes that may wait for a slot.
    pub db_max_writes_queued: u32,
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
    pub okta_connect_timeout: Duration,
    pub okta_request_timeout: Duration,
    /// `None`: no periodic Okta re-read (on request only).
    pub okta_resync: Option<Duration>,
    /// `None`: the Okta re-read never lists every user (`OKTA_PRESENCE_SECS`).
    pub okta_presence: Option<Duration>,
    /// How long processed event-hook deliveries and events are kept (`OKTA_EVENTS_RETAIN_DAYS`).
    pub okta_events_retain: Duration,
    pub console_session_idle: Duration,
    pub console_session_max: Duration,
    pub console_session_purge: Duration,
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
        let bind_addr = r.get(&BIND_ADDR)?;
        let metrics_bind_addr = r.optional(&METRICS_BIND_ADDR)?;
        let public_url = match r.optional(&PUBLIC_URL)? {
            Some(u) => {
                let u = u.trim_end_matches('/').to_string();
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(bad(
                        PUBLIC_URL.name(),
                        "must start with http:// or https://",
                    ));
                }
                u
            }
            None => format!("http://{bind_addr}"),
        };
        let data_dir = r.get(&DATA_DIR)?;
        let database_url = r
            .optional(&DATABASE_URL)?
            .unwrap_or_else(|| DatabaseUrl::Sqlite(data_dir.join("zenqms-bridge.db")));
        let db_pool_size = r.get(&DB_POOL_SIZE)?;
        if db_pool_size == 0 || db_pool_size > 512 {
            return Err(bad(DB_POOL_SIZE.name(), "must be between 1 and 512"));
        }
        let db_max_writes_in_flight = match r.optional(&DB_MAX_WRITES_IN_FLIGHT)? {
            Some(n) if n == 0 || n > db_pool_size => {
                return Err(bad(
                    DB_MAX_WRITES_IN_FLIGHT.name(),
                    format!("must be between 1 and DB_POOL_SIZE ({db_pool_size})"),
                ))
            }
            Some(n) => n,
            // Three quarters of the pool: a quarter of the connections stays for reads.
            None => (db_pool_size * 3 / 4).max(1),
        };
        let db_max_writes_queued = match r.optional(&DB_MAX_WRITES_QUEUED)? {
            Some(n) if n > 100_000 => {
                return Err(bad(DB_MAX_WRITES_QUEUED.name(), "must be at most 100000"))
            }
            Some(n) => n,
            None => (db_max_writes_in_flight * 4).max(64),
        };
        let log_format = r.get(&LOG_FORMAT)?;
        let rust_log = r.get(&RUST_LOG)?;
        let secret_key = r.optional(&SECRET_KEY)?;
        if let Some(k) = &secret_key {
            crate::crypto::Key::from_hex(k.expose()).map_err(|m| bad(SECRET_KEY.name(), m))?;
        }
        let scim_max_body_bytes = r.get(&SCIM_MAX_BODY_BYTES)?;
        if scim_max_body_bytes < 1024 {
            return Err(bad(SCIM_MAX_BODY_BYTES.name(), "must be at least 1024"));
        }
        let scim_max_page_size = r.get(&SCIM_MAX_PAGE_SIZE)?;
        if scim_max_page_size == 0 {
            return Err(bad(SCIM_MAX_PAGE_SIZE.name(), "must be at least 1"));
        }
        let zenqms_base_url = r
            .optional(&ZENQMS_BASE_URL)?
            .map(|u| u.trim_end_matches('/').to_string());
        if let Some(u) = &zenqms_base_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(bad(
                    ZENQMS_BASE_URL.name(),
                    "must start with http:// or https://",
                ));
            }
            // Credentials in the URL would be shown wherever the URL is (status, audit).
            let parsed = reqwest::Url::parse(u)
                .map_err(|e| bad(ZENQMS_BASE_URL.name(), format!("is not a URL: {e}")))?;
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(bad(
                    ZENQMS_BASE_URL.name(),
                    "must not contain credentials; set ZENQMS_API_TOKEN",
                ));
            }
        }
        let zenqms_api_token = r.optional(&ZENQMS_API_TOKEN)?;
        let zenqms_max_rps = r.get(&ZENQMS_MAX_RPS)?;
        if !(zenqms_max_rps.is_finite() && zenqms_max_rps > 0.0) {
            return Err(bad(ZENQMS_MAX_RPS.name(), "must be a positive number"));
        }
        let connect_ms = r.get(&ZENQMS_CONNECT_TIMEOUT_MS)?;
        let request_ms = r.get(&ZENQMS_REQUEST_TIMEOUT_MS)?;
        let role_refresh_secs = r.get(&ZENQMS_ROLE_REFRESH_SECS)?;
        if role_refresh_secs > 86_400 {
            return Err(bad(
                ZENQMS_ROLE_REFRESH_SECS.name(),
                "must be at most 86400 (a day); 0 turns the periodic refresh off",
            ));
        }
        let sync_workers = r.get(&SYNC_WORKERS)?;
        if sync_workers == 0 || sync_workers > 256 {
            return Err(bad(SYNC_WORKERS.name(), "must be between 1 and 256"));
        }
        let backoff_cap = r.get(&SYNC_BACKOFF_CAP_SECS)?;
        let lease_secs = r.get(&SYNC_LEASE_SECS)?;
        if !(2..=3600).contains(&lease_secs) {
            return Err(bad(SYNC_LEASE_SECS.name(), "must be between 2 and 3600"));
        }
        let drift_sweep_secs = r.get(&SYNC_DRIFT_SWEEP_SECS)?;
        if drift_sweep_secs > 7 * 86_400 {
            return Err(bad(
                SYNC_DRIFT_SWEEP_SECS.name(),
                "must be at most 604800 (a week); 0 turns automatic sweeps off",
            ));
        }
        let default_title = r.optional(&DEFAULT_TITLE)?;
        let okta_connect_ms = r.get(&OKTA_CONNECT_TIMEOUT_MS)?;
        let okta_request_ms = r.get(&OKTA_REQUEST_TIMEOUT_MS)?;
        let okta_resync_secs = r.get(&OKTA_RESYNC_SECS)?;
        if okta_resync_secs > 7 * 86_400 {
            return Err(bad(
                OKTA_RESYNC_SECS.name(),
                "must be at most 604800 (a week); 0 turns periodic re-reads off",
            ));
        }
        let okta_presence_secs = r.get(&OKTA_PRESENCE_SECS)?;
        if okta_presence_secs > 30 * 86_400 {
            return Err(bad(
                OKTA_PRESENCE_SECS.name(),
                "must be at most 2592000 (30 days); 0 turns the check off",
            ));
        }
        let okta_events_retain_days = r.get(&OKTA_EVENTS_RETAIN_DAYS)?;
        if !(1..=3650).contains(&okta_events_retain_days) {
            return Err(bad(
                OKTA_EVENTS_RETAIN_DAYS.name(),
                "must be between 1 and 3650 days (at least a day: a delivery Okta repeats must still be recognised as a duplicate)",
            ));
        }
        let console_idle = r.get(&CONSOLE_SESSION_IDLE_SECS)?;
        let console_max = r.get(&CONSOLE_SESSION_MAX_SECS)?;
        if !(1..=86_400).contains(&console_idle) {
            return Err(bad(
                CONSOLE_SESSION_IDLE_SECS.name(),
                "must be between 1 and 86400 (a day)",
            ));
        }
        if !(console_idle..=30 * 86_400).contains(&console_max) {
            return Err(bad(
                CONSOLE_SESSION_MAX_SECS.name(),
                "must be at least CONSOLE_SESSION_IDLE_SECS and at most 2592000 (30 days)",
            ));
        }
        let console_purge = r.get(&CONSOLE_SESSION_PURGE_SECS)?;
        if !(1..=86_400).contains(&console_purge) {
            return Err(bad(
                CONSOLE_SESSION_PURGE_SECS.name(),
                "must be between 1 and 86400 (a day)",
            ));
        }
        Ok(Config {
            bind_addr,
            metrics_bind_addr,
            public_url,
            data_dir,
            database_url,
            db_pool_size,
            db_max_writes_in_flight,
            db_max_writes_queued,
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
            okta_connect_timeout: Duration::from_millis(okta_connect_ms.max(1)),
            okta_request_timeout: Duration::from_millis(okta_request_ms.max(1)),
            okta_resync: (okta_resync_secs > 0).then(|| Duration::from_secs(okta_resync_secs)),
            okta_presence: (okta_presence_secs > 0)
                .then(|| Duration::from_secs(okta_presence_secs)),
            okta_events_retain: Duration::from_secs(okta_events_retain_days * 86_400),
            console_session_idle: Duration::from_secs(console_idle),
            console_session_max: Duration::from_secs(console_max),
            console_session_purge: Duration::from_secs(console_purge),
        })
    }

    /// The base URL Okta must be given.
    pub fn scim_base_url(&self) -> String {
        format!("{}/scim/v2", self.public_url)
    }

    /// Variables that look like ours but are not settings (likely typos).
    pub fn unknown_variables(src: &dyn Fn() -> Vec<String>) -> Vec<String> {
        // A new family of settings (`OKTA_…`) adds its prefix here.
        const PREFIXES: &[&str] = &["ZENQMS_", "SCIM_", "SYNC_", "DB_", "CONSOLE_"];
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

    /// A setting with a default: its value, else the default it was declared with.
    fn get<T: Parse>(&self, key: &Key<T>) -> Result<T, ConfigError> {
        let s = &key.0;
        let raw = self
            .value(s.name)?
            .unwrap_or_else(|| s.default.text().to_string());
        T::parse(&raw).map_err(|m| bad(s.name, m))
    }

    /// A setting without a default value: its value, if set.
    fn optional<T: Parse>(&self, key: &Optional<T>) -> Result<Option<T>, ConfigError> {
        let name = key.0.name;
        self.value(name)?
            .map(|raw| T::parse(&raw).map_err(|m| bad(name, m)))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zenqms_base_url_without_credentials() {
        let e = cfg(&[("ZENQMS_BASE_URL", "https://u:p4ss@zenqms.example.com")]).unwrap_err();
        assert_eq!(e.name, "ZENQMS_BASE_URL");
        assert!(!e.to_string().contains("p4ss"));
        assert!(cfg(&[("ZENQMS_BASE_URL", "https://zenqms.example.com")]).is_ok());
    }

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
        // Write admission: three quarters of the pool of 8, and a queue of at least 64.
        assert_eq!((c.db_max_writes_in_flight, c.db_max_writes_queued), (6, 64));
        let c = cfg(&[("DB_POOL_SIZE", "40")]).unwrap();
        assert_eq!(
            (c.db_max_writes_in_flight, c.db_max_writes_queued),
            (30, 120)
        );
        let e = cfg(&[("DB_MAX_WRITES_IN_FLIGHT", "9")]).unwrap_err();
        assert_eq!(e.name, "DB_MAX_WRITES_IN_FLIGHT");
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

    /// A declared setting, found by a name that may carry the `_FILE` suffix.
    fn declared(name: &str) -> Option<&'static Setting> {
        let base = name.strip_suffix("_FILE").unwrap_or(name);
        SETTINGS
            .iter()
            .find(|s| s.name == name)
            .or_else(|| SETTINGS.iter().find(|s| s.name == base))
    }

    /// `names` holds each declared setting exactly once and nothing else.
    fn exactly_the_declared(names: &[&str], file: &str) {
        for s in SETTINGS {
            let n = names.iter().filter(|n| **n == s.name).count();
            assert_eq!(n, 1, "{file} lists {} {n} times, not once", s.name);
        }
        for n in names {
            assert!(
                SETTINGS.iter().any(|s| s.name == *n),
                "{file} lists {n}, which is not a declared setting"
            );
        }
    }

    /// `.env.example`: a setting with a default value is an uncommented `NAME=default`; one
    /// without is commented out (`# NAME=example` or `# NAME_FILE=…`) after comment lines that
    /// say `Default: <the declared text>`.
    #[test]
    fn env_example_lists_exactly_the_settings_with_their_defaults() {
        let text = include_str!("../.env.example");
        let mut names = Vec::new();
        let mut comments = String::new();
        for line in text.lines() {
            let commented = line.starts_with('#');
            let body = line.trim_start_matches('#').trim();
            let assignment = body.split_once('=').filter(|(k, _)| {
                !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            });
            let Some((key, value)) = assignment else {
                comments.push(' ');
                comments.push_str(body);
                continue;
            };
            let s = declared(key)
                .unwrap_or_else(|| panic!(".env.example sets {key}, which is not a setting"));
            names.push(s.name);
            match s.default {
                Fallback::Value(default) => {
                    assert!(!commented, ".env.example comments out {key}");
                    assert_eq!(key, s.name, ".env.example sets {key} instead of {}", s.name);
                    assert_eq!(
                        value, default,
                        ".env.example: {key}={value}, declared {default}"
                    );
                }
                Fallback::Described(default) => {
                    assert!(
                        commented,
                        ".env.example sets {key}, which has no default value (only an example)"
                    );
                    let said = format!("Default: {default}");
                    assert!(
                        comments.contains(&said),
                        ".env.example: the comment before {key} does not say \"{said}\""
                    );
                }
            }
            comments.clear();
        }
        exactly_the_declared(&names, ".env.example");
    }

    /// The README's configuration table: one row a setting, its default cell (backticks aside)
    /// the declared default.
    #[test]
    fn readme_table_lists_exactly_the_settings_with_their_defaults() {
        let readme = include_str!("../README.md");
        let section = readme
            .split("\n## Configuration\n")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("the README has a Configuration section");
        let mut names = Vec::new();
        for row in section.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`');
            let s = SETTINGS
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("README row {row:?} names no single setting"));
            assert_eq!(
                cells[2].replace('`', ""),
                s.default.text(),
                "README: the default of {name}"
            );
            names.push(s.name);
        }
        exactly_the_declared(&names, "the README's table");
    }

    /// Every declared setting is read (a declaration without a field would go unnoticed).
    #[test]
    fn every_setting_is_read() {
        struct Asked(std::cell::RefCell<Vec<String>>);
        impl Source for Asked {
            fn get(&self, name: &str) -> Option<String> {
                self.0.borrow_mut().push(name.to_string());
                None
            }
        }
        let asked = Asked(Default::default());
        Config::from_source(&asked).unwrap();
        let asked = asked.0.into_inner();
        for s in SETTINGS {
            assert!(
                asked.iter().any(|n| n == s.name),
                "{} is never read",
                s.name
            );
        }
    }

    /// Every setting declared secret stays out of `Config`'s debug output.
    #[test]
    fn secrets_never_print() {
        let samples = [
            (
                "DATABASE_URL",
                "postgres://bridge:pw-7f3a9c@db/bridge",
                "pw-7f3a9c",
            ),
            ("SECRET_KEY", &"ab".repeat(32), &"ab".repeat(32)),
            ("ZENQMS_API_TOKEN", "zq-token-51e0", "zq-token-51e0"),
        ];
        for s in SETTINGS.iter().filter(|s| s.secret) {
            assert!(
                samples.iter().any(|(n, _, _)| *n == s.name),
                "no sample value for the secret {}",
                s.name
            );
        }
        let pairs: Vec<(&str, &str)> = samples.iter().map(|(n, v, _)| (*n, *v)).collect();
        let shown = format!("{:?}", cfg(&pairs).unwrap());
        for (name, _, secret) in &samples {
            assert!(!shown.contains(secret), "{name} shows in {shown}");
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
