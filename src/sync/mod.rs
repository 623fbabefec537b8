//! Keeping ZenQMS in step with the directory: the consumer side of the outbox (jobs claimed
//! with leases), the desired state and its diff, the reconciler, the workers with their
//! backoff and the one throttle of ZenQMS calls, the drift sweep that finds changes made by
//! hand in ZenQMS, and the engine the admin API drives (status, retry, recheck, sweep, pause,
//! connection). `server.rs` builds the engine and runs its tasks (`worker`, `housekeeping`,
//! `sweep`); the role mappings are reached through the `roles::RolePolicy` port.

pub mod backlog;
pub mod backoff;
pub mod budget;
mod budget_row;
mod calls;
pub mod creates;
pub mod desired;
pub mod directory_view;
pub mod drift;
pub mod engine;
pub mod error;
pub mod health;
pub mod housekeeping;
pub mod lease;
pub mod queue;
pub mod reconcile;
pub mod roles;
pub mod settings;
pub mod state;
pub mod sweep;
pub(crate) mod throttle;
pub mod worker;

pub use engine::{ConnectionView, Engine, StatusView};
pub use error::SyncError;
pub use roles::RolePolicy;
pub use state::SyncState;

use std::time::Duration;

/// How often a process looks for sync work on its own, besides the wake-ups that every
/// enqueue in this process sends (`outbox::Wakeup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Polling {
    /// Housekeeping: re-reads the pause flag and the connection, and wakes the workers for a
    /// due job nobody holds (enqueued by another process, or a backoff that ran out).
    pub housekeeping: Duration,
    /// A worker with nothing to do also looks on its own this often.
    pub idle_worker: Duration,
}

impl Default for Polling {
    fn default() -> Polling {
        Polling {
            housekeeping: Duration::from_millis(500),
            idle_worker: Duration::from_secs(5),
        }
    }
}
