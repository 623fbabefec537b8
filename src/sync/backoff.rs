//! Retry delays: exponential from one second, capped (`SYNC_BACKOFF_CAP_SECS`), with "equal
//! jitter" (half fixed, half random) so that users failed by one outage do not all come
//! back in the same instant, while none retries sooner than half its step.

use std::time::Duration;

use rand::Rng;

const BASE: Duration = Duration::from_secs(1);

/// The wait before attempt `attempt + 1`, after `attempt` (≥ 1) failures.
pub fn delay(attempt: u32, cap: Duration) -> Duration {
    let step = BASE
        .checked_mul(1u32 << attempt.saturating_sub(1).min(20))
        .unwrap_or(cap)
        .min(cap);
    let half = step / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let cap = Duration::from_secs(600);
        for _ in 0..100 {
            let d1 = delay(1, cap);
            assert!(
                d1 >= Duration::from_millis(500) && d1 <= Duration::from_secs(1),
                "{d1:?}"
            );
            let d4 = delay(4, cap);
            assert!(
                d4 >= Duration::from_secs(4) && d4 <= Duration::from_secs(8),
                "{d4:?}"
            );
            let big = delay(40, cap);
            assert!(big >= Duration::from_secs(300) && big <= cap, "{big:?}");
        }
        assert!(delay(3, Duration::from_secs(1)) <= Duration::from_secs(1));
    }
}
