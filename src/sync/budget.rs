//! The ZenQMS call budget of this process: a token bucket of capacity one refilled at
//! `ZENQMS_MAX_RPS` (so calls are evenly spaced: a tenant-wide sliding-window limit of the
//! same size is never exceeded by a burst), and the shared `429` pause — when ZenQMS says
//! `Retry-After`, no worker of the process sends anything before it has passed.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Calls are spaced 2 % wider than `1 / ZENQMS_MAX_RPS`. A tenant that counts requests in
/// a sliding one-second window sees them when they arrive, and scheduling jitter of a few
/// milliseconds on either side would otherwise put `rps + 1` arrivals in some window —
/// a `429` whose `Retry-After` (whole seconds) costs far more than the 2 %.
const HEADROOM: f64 = 1.02;

pub struct Budget {
    interval: Duration,
    state: Mutex<State>,
}

struct State {
    /// The earliest moment the next call may go.
    next_free: Instant,
    paused_until: Option<Instant>,
}

impl Budget {
    pub fn new(max_rps: f64) -> Budget {
        let rps = if max_rps.is_finite() && max_rps > 0.0 {
            max_rps
        } else {
            1.0
        };
        Budget {
            interval: Duration::from_secs_f64(HEADROOM / rps),
            state: Mutex::new(State {
                next_free: Instant::now(),
                paused_until: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is two instants, always consistent: a panic elsewhere cannot corrupt it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for this call's turn: after any `429` pause, one interval after the previous.
    pub async fn acquire(&self) {
        loop {
            let now = Instant::now();
            let wait = {
                let mut s = self.lock();
                match s.paused_until {
                    Some(p) if p > now => Err(p),
                    _ => {
                        s.paused_until = None;
                        let slot = s.next_free.max(now);
                        s.next_free = slot + self.interval;
                        Ok(slot)
                    }
                }
            };
            match wait {
                Err(pause_end) => tokio::time::sleep_until(pause_end).await,
                Ok(slot) => {
                    if slot > now {
                        tokio::time::sleep_until(slot).await;
                    }
                    // A 429 seen while this call waited for its slot wins.
                    if self.paused_until().is_none() {
                        return;
                    }
                }
            }
        }
    }

    /// Nothing goes before `now + retry_after` (a longer pause already in force stays).
    pub fn pause_for(&self, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        let mut s = self.lock();
        let until = s.paused_until.map_or(until, |p| p.max(until));
        s.paused_until = Some(until);
        s.next_free = s.next_free.max(until);
    }

    /// The end of the `429` pause in force, if any.
    pub fn paused_until(&self) -> Option<Instant> {
        let s = self.lock();
        s.paused_until.filter(|p| *p > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_are_spaced_and_429_pauses_everyone() {
        let b = std::sync::Arc::new(Budget::new(10.0));
        let t0 = Instant::now();
        for _ in 0..5 {
            b.acquire().await;
        }
        // 0, 102, 204, 306, 408 ms.
        assert_eq!(t0.elapsed(), Duration::from_millis(408));
        b.pause_for(Duration::from_secs(2));
        let t1 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                b.acquire().await;
                Instant::now()
            }));
        }
        let mut at: Vec<Instant> = Vec::new();
        for t in tasks {
            at.push(t.await.unwrap());
        }
        at.sort();
        assert!(at[0] >= t1 + Duration::from_secs(2));
        assert!(at[2] >= at[0] + Duration::from_millis(204));
        assert!(b.paused_until().is_none());
    }
}
