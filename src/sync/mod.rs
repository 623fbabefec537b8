//! Keeping ZenQMS in step with the directory: the outbox queue of users to reconcile (and,
//! with the ZenQMS issue, desired state, diff, worker, backoff and rate budget).

pub mod queue;

use std::sync::Arc;

use tokio::sync::Notify;

/// Wakes the sync workers of this process after a transaction that enqueued jobs commits,
/// so an idle system reconciles at once instead of on its next poll.
#[derive(Clone, Default)]
pub struct Wakeup(Arc<Notify>);

impl Wakeup {
    pub fn new() -> Wakeup {
        Wakeup::default()
    }

    /// Call after the enqueuing transaction has committed.
    pub fn notify(&self) {
        self.0.notify_waiters();
        // A worker between two waits would miss `notify_waiters`; keep one permit for it.
        self.0.notify_one();
    }

    /// Resolves on the next `notify` (or at once when a permit is stored).
    pub async fn notified(&self) {
        self.0.notified().await
    }
}
