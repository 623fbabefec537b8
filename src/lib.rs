//! zenqms-bridge: a SCIM 2.0 service provider that Okta provisions into, keeping ZenQMS in step.
//!
//! Layers (`docs/architecture.md`): front doors (`scim`, `admin`, `cli`) → services
//! (`directory`, `mappings`, `sync`) → `outbox`, `store` and the ZenQMS client (`zenqms`);
//! `server` is the composition root that builds the services and starts everything.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod console;
pub mod crypto;
pub mod csv;
pub mod demo;
pub mod directory;
pub mod initial_sync;
pub mod json_body;
pub mod mappings;
pub mod okta;
pub mod okta_api;
pub mod okta_callback;
pub mod okta_events;
pub mod okta_hooks;
pub mod outbox;
pub mod scim;
pub mod server;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod time;
pub mod zenqms;

pub use config::Config;

/// reqwest is built without a bundled TLS provider (a lean build): install ring once per
/// process before any HTTP client is made.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
