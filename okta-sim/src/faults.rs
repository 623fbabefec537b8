//! Injected faults on the real API (`/api/v1`, `/oauth2/v1`; never `/_sim`), set at start
//! ([`SimConfig::faults`](crate::SimConfig::faults), CLI flags) or at run time
//! (`PUT`/`PATCH /_sim/faults`, [`Simulator::set_faults`](crate::Simulator::set_faults)).
//!
//! A request meets them in this order (`gate.rs`): latency → rate limit (`429`) →
//! outage (`503`) → token and scope (`401`/`403`) → injected error (`500`, before anything
//! changes) → the endpoint.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Longest delay any fault may ask for (one day).
const MAX_MS: u64 = 86_400_000;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Fixed delay before every answer, in milliseconds.
    pub latency_ms: u64,
    /// With `latency_max_ms`: a further delay drawn uniformly from this range.
    pub latency_min_ms: Option<u64>,
    pub latency_max_ms: Option<u64>,
    /// Fraction (0..=1) of requests answered `500` E0000009 without effect.
    pub error_rate: f64,
    /// Every real-API request answers `503` E0000009.
    pub outage: bool,
}

impl Faults {
    /// Every field out of range, named.
    pub fn validate(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        if !(0.0..=1.0).contains(&self.error_rate) {
            errors.push("error_rate must be between 0 and 1".to_owned());
        }
        for (name, ms) in [
            ("latency_ms", Some(self.latency_ms)),
            ("latency_min_ms", self.latency_min_ms),
            ("latency_max_ms", self.latency_max_ms),
        ] {
            if ms.is_some_and(|ms| ms > MAX_MS) {
                errors.push(format!("{name} must be at most {MAX_MS}"));
            }
        }
        match (self.latency_min_ms, self.latency_max_ms) {
            (Some(min), Some(max)) if min > max => {
                errors.push("latency_min_ms must not exceed latency_max_ms".into())
            }
            (Some(_), None) => errors.push("latency_max_ms is required with latency_min_ms".into()),
            _ => {}
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    pub(crate) fn delay(&self, rng: &mut impl Rng) -> Duration {
        let mut ms = self.latency_ms;
        if let Some(max) = self.latency_max_ms {
            let min = self.latency_min_ms.unwrap_or(0).min(max);
            ms += rng.random_range(min..=max);
        }
        Duration::from_millis(ms)
    }

    pub(crate) fn inject_error(&self, rng: &mut impl Rng) -> bool {
        chance(rng, self.error_rate)
    }
}

pub(crate) fn chance(rng: &mut impl Rng, rate: f64) -> bool {
    rate > 0.0 && rng.random::<f64>() < rate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_and_delays() {
        assert!(Faults::default().validate().is_ok());
        let bad = Faults {
            error_rate: 1.5,
            latency_min_ms: Some(10),
            latency_max_ms: Some(5),
            ..Faults::default()
        };
        let e = bad.validate().unwrap_err();
        assert!(
            e.contains("error_rate") && e.contains("latency_min_ms"),
            "{e}"
        );
        let mut rng = rand::rng();
        let f = Faults {
            latency_ms: 10,
            latency_min_ms: Some(5),
            latency_max_ms: Some(6),
            error_rate: 1.0,
            ..Faults::default()
        };
        for _ in 0..20 {
            let d = f.delay(&mut rng).as_millis();
            assert!((15..=16).contains(&d));
            assert!(f.inject_error(&mut rng));
            assert!(!Faults::default().inject_error(&mut rng));
        }
    }
}
