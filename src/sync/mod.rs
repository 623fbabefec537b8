//! Keeping ZenQMS in step with the directory: the outbox queue of users to reconcile, the
//! desired state and its diff, the reconciler, the workers with their leases, backoff and
//! rate budget, the drift sweep that finds changes made by hand in ZenQMS, and the engine the
//! admin API drives (status, retry, recheck, sweep, pause, connection).

pub mod backoff;
pub mod budget;
mod calls;
pub mod desired;
pub mod directory_view;
pub mod drift;
pub mod engine;
pub mod error;
pub mod health;
pub mod queue;
pub mod reconcile;
pub mod roles;
pub mod settings;
pub mod state;
pub mod sweep;
mod throttle;
pub mod worker;

pub use engine::{ConnectionView, Engine, StatusView};
pub use error::SyncError;
pub use state::SyncState;
pub use worker::SyncHandle;
