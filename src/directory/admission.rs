//! Write admission: how many directory writes may run at once, and how many may wait.
//!
//! Past what the database sustains, extra writes do not make more writes happen — they wait
//! for a connection (up to the pool's timeout), hold a thread and memory while they wait, and
//! push every answer, reads included, towards the client's timeout, after which the identity
//! provider sends them again. So a write is admitted only when one of
//! `DB_MAX_WRITES_IN_FLIGHT` slots is free, or within [`MAX_WAIT`] in a queue of at most
//! `DB_MAX_WRITES_QUEUED`; any other is refused at once with `503` and `Retry-After`, before
//! its token is checked or its body read (both cost database or CPU work). The slots below the
//! pool size leave connections for reads, so reads keep answering while writes are refused.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The longest a write waits in the queue for a slot: a write that could not start within
/// this is better refused (and retried by the client) than left to run into its timeout.
pub const MAX_WAIT: Duration = Duration::from_secs(2);

/// How many writes may run and wait, shared by every request of the process.
#[derive(Clone)]
pub struct Admission {
    slots: Arc<Semaphore>,
    in_flight: usize,
    queued: usize,
    waiting: Arc<AtomicUsize>,
    refused: Counter,
}

/// A write's slot, held until its answer is ready.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// The write was refused: too many are running and waiting already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

impl Admission {
    /// `in_flight` writes at once (at least one), `queued` more waiting; `refused` counts the
    /// writes turned away (`zenqms_bridge_writes_refused_total`).
    pub fn new(in_flight: usize, queued: usize, refused: Counter) -> Admission {
        let in_flight = in_flight.max(1);
        Admission {
            slots: Arc::new(Semaphore::new(in_flight)),
            in_flight,
            queued,
            waiting: Arc::new(AtomicUsize::new(0)),
            refused,
        }
    }

    /// Writes running now.
    pub fn running(&self) -> usize {
        self.in_flight - self.slots.available_permits()
    }

    /// A slot for one write: at once when one is free, after a short wait in a bounded queue,
    /// or [`Refused`].
    pub async fn admit(&self) -> Result<Slot, Refused> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(Slot { _permit: permit });
        }
        // Take a place in the queue, or give up when it is full.
        let place = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.queued).then_some(n + 1)
            });
        if place.is_err() {
            self.refused.inc();
            return Err(Refused);
        }
        let waited = tokio::time::timeout(MAX_WAIT, self.slots.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Ok(Slot { _permit: permit }),
            // Timed out (or the semaphore closed, which this type never does).
            _ => {
                self.refused.inc();
                Err(Refused)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn admits_up_to_the_slots_then_queues_then_refuses() {
        let refused = Counter::default();
        let admission = Admission::new(2, 1, refused.clone());
        let a = admission.admit().await.expect("first slot");
        let _b = admission.admit().await.expect("second slot");
        assert_eq!(admission.running(), 2);
        // The third waits in the queue; the fourth finds the queue full.
        let queued = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.admit().await.is_ok() })
        };
        while admission.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(admission.admit().await.err(), Some(Refused));
        assert_eq!(refused.get(), 1);
        // A slot freed goes to the one waiting.
        drop(a);
        assert!(queued.await.expect("task"));
        assert_eq!(refused.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_longer_than_max_wait_is_refused() {
        let refused = Counter::default();
        let admission = Admission::new(1, 4, refused.clone());
        let _held = admission.admit().await.expect("slot");
        assert_eq!(admission.admit().await.err(), Some(Refused));
        assert_eq!(refused.get(), 1);
        assert_eq!(admission.waiting.load(Ordering::Acquire), 0);
    }
}
