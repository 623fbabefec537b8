//! Black-box tests: the real server over HTTP against a real database (SQLite by default,
//! PostgreSQL when `TEST_DATABASE_URL` is set).

mod harness;

mod architecture;
mod faults_overload;
mod faults_postgres;
mod foundation;
mod initial_sync_modes;
mod initial_sync_runs;
mod initial_sync_support;
mod mapping_api;
mod mapping_bench;
mod mapping_document;
mod mapping_enforce;
mod mapping_preview;
mod mapping_roles;
mod mapping_support;
mod okta_connect;
mod okta_reader;
mod okta_support;
mod okta_tokens;
mod outbox;
mod pg_tls;
mod scim_discovery;
mod scim_errors;
mod scim_filter_property;
mod scim_groups;
mod scim_replay;
mod scim_support;
mod scim_users;
mod secrets_at_rest;
mod security_scim;
mod security_server;
mod sim_support;
mod sync_bench;
mod sync_budget;
mod sync_demo;
mod sync_drift;
mod sync_engine;
mod sync_faults;
mod sync_processes;
mod sync_scim;
