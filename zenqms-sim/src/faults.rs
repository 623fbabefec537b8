//! Injected faults, for `/v2` only (never `/_sim`). Set at start ([`SimConfig::faults`],
//! CLI flags) or at run time (`PUT`/`PATCH /_sim/faults`, [`Simulator::set_faults`]).
//!
//! A `/v2` request meets them in this order: latency (and maybe a hang) → outage (`503`)
//! → token check (`401`) → rate limit (`429`) → permission (`403`) → injected error
//! (`500`/`503`, before anything is changed) → the endpoint → lost response (the change
//! is made, then `500` is answered). The token and the rate limit are judged on arrival,
//! before the latency (a `429` is answered after it, like any answer).
//!
//! The rate limit is a sliding one-second window over the requests it let through, counted
//! at their arrival: with
//! `rate_limit_rps = n`, a request is refused when `n` others were let through in the
//! second before it. Refused requests and requests without a valid token do not use up
//! the budget. `Retry-After` is the whole number of seconds until the window has room
//! (at least 1), or `retry_after_s` when set.
//!
//! [`SimConfig::faults`]: crate::SimConfig::faults
//! [`Simulator::set_faults`]: crate::Simulator::set_faults

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{FieldError, SimError};

/// Longest delay any fault may ask for (one day): keeps timer arithmetic sane.
const MAX_MS: u64 = 86_400_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Fixed delay before every answer, in milliseconds.
    pub latency_ms: u64,
    /// With `latency_max_ms`: a further delay drawn uniformly from this range.
    pub latency_min_ms: Option<u64>,
    pub latency_max_ms: Option<u64>,
    /// Tenant-wide budget of requests per second; `None` is unlimited, `0` refuses all.
    pub rate_limit_rps: Option<u32>,
    /// Overrides the computed `Retry-After` of `429` answers.
    pub retry_after_s: Option<u64>,
    /// Fraction (0..=1) of requests answered `500` or `503` (even odds) without effect.
    pub error_rate: f64,
    /// Fraction (0..=1) of requests that are carried out and then answered `500`, as if
    /// the response were lost: the retry of a create meets `409`.
    pub lost_response_rate: f64,
    /// Fraction (0..=1) of requests that wait `hang_ms` before being handled.
    pub hang_rate: f64,
    /// How long a hanging request waits; by default two minutes, past any client timeout.
    pub hang_ms: u64,
    /// Every `/v2` request answers `503`.
    pub outage: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            latency_min_ms: None,
            latency_max_ms: None,
            rate_limit_rps: None,
            retry_after_s: None,
            error_rate: 0.0,
            lost_response_rate: 0.0,
            hang_rate: 0.0,
            hang_ms: 120_000,
            outage: false,
        }
    }
}

impl Faults {
    /// `422 validation_failed` naming every field out of range.
    pub fn validate(&self) -> Result<(), SimError> {
        let mut errors = Vec::new();
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("lost_response_rate", self.lost_response_rate),
            ("hang_rate", self.hang_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                errors.push(FieldError::new(name, "must be between 0 and 1"));
            }
        }
        for (name, ms) in [
            ("latency_ms", Some(self.latency_ms)),
            ("latency_min_ms", self.latency_min_ms),
            ("latency_max_ms", self.latency_max_ms),
            ("hang_ms", Some(self.hang_ms)),
            ("retry_after_s", self.retry_after_s),
        ] {
            if ms.is_some_and(|ms| ms > MAX_MS) {
                errors.push(FieldError::new(name, "must be at most 86400000"));
            }
        }
        match (self.latency_min_ms, self.latency_max_ms) {
            (Some(min), Some(max)) if min > max => errors.push(FieldError::new(
                "latency_min_ms",
                "must not exceed latency_max_ms",
            )),
            (Some(_), None) => errors.push(FieldError::new(
                "latency_max_ms",
                "is required with latency_min_ms",
            )),
            _ => {}
        }
        if self.retry_after_s == Some(0) {
            errors.push(FieldError::new("retry_after_s", "must be at least 1"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(SimError::Validation(errors))
        }
    }
}

/// The faults in force and the rate limiter's window.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    faults: Faults,
    let_through: VecDeque<Instant>,
}

impl FaultState {
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Replaces the faults (already validated) and empties the rate-limit window.
    pub fn set(&mut self, faults: Faults) {
        self.faults = faults;
        self.let_through.clear();
    }

    /// How long this request waits before anything else: latency plus, by chance, a hang.
    pub fn delay(&self, rng: &mut impl Rng) -> Duration {
        let f = &self.faults;
        let mut ms = f.latency_ms;
        if let Some(max) = f.latency_max_ms {
            let min = f.latency_min_ms.unwrap_or(0).min(max);
            ms += rng.random_range(min..=max);
        }
        if chance(rng, f.hang_rate) {
            ms += f.hang_ms;
        }
        Duration::from_millis(ms)
    }

    pub fn outage(&self) -> bool {
        self.faults.outage
    }

    /// Lets a request through the rate limit, or says how many seconds to wait.
    pub fn admit(&mut self, now: Instant) -> Result<(), u64> {
        let Some(rps) = self.faults.rate_limit_rps else {
            return Ok(());
        };
        let window = Duration::from_secs(1);
        while let Some(&oldest) = self.let_through.front() {
            if now.duration_since(oldest) >= window {
                self.let_through.pop_front();
            } else {
                break;
            }
        }
        if self.let_through.len() < rps as usize {
            self.let_through.push_back(now);
            return Ok(());
        }
        let computed = self
            .let_through
            .front()
            .map(|&oldest| (window - now.duration_since(oldest)).as_secs_f64().ceil() as u64)
            .unwrap_or(1)
            .max(1);
        Err(self.faults.retry_after_s.unwrap_or(computed))
    }

    /// `Some(500 | 503)` when this request is to fail before it has any effect.
    pub fn injected_error(&self, rng: &mut impl Rng) -> Option<u16> {
        chance(rng, self.faults.error_rate).then(|| if rng.random::<bool>() { 500 } else { 503 })
    }

    /// True when this request's answer is to be lost after its effect.
    pub fn lose_response(&self, rng: &mut impl Rng) -> bool {
        chance(rng, self.faults.lost_response_rate)
    }
}

fn chance(rng: &mut impl Rng, rate: f64) -> bool {
    rate > 0.0 && rng.random::<f64>() < rate
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(f: Faults) -> FaultState {
        let mut s = FaultState::default();
        s.set(f);
        s
    }

    #[test]
    fn validation() {
        assert!(Faults::default().validate().is_ok());
        let bad = Faults {
            error_rate: 1.5,
            hang_rate: f64::NAN,
            latency_min_ms: Some(10),
            latency_max_ms: Some(5),
            hang_ms: u64::MAX,
            ..Faults::default()
        };
        let SimError::Validation(errors) = bad.validate().unwrap_err() else {
            panic!("expected validation_failed");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["error_rate", "hang_rate", "hang_ms", "latency_min_ms"]
        );
    }

    #[test]
    fn rate_limit_window_slides() {
        let mut s = state(Faults {
            rate_limit_rps: Some(2),
            ..Faults::default()
        });
        let t0 = Instant::now();
        assert_eq!(s.admit(t0), Ok(()));
        assert_eq!(s.admit(t0 + Duration::from_millis(300)), Ok(()));
        assert_eq!(s.admit(t0 + Duration::from_millis(400)), Err(1));
        assert_eq!(s.admit(t0 + Duration::from_millis(1000)), Ok(()));
        assert_eq!(s.admit(t0 + Duration::from_millis(1100)), Err(1));
        assert_eq!(s.admit(t0 + Duration::from_millis(1300)), Ok(()));

        let mut zero = state(Faults {
            rate_limit_rps: Some(0),
            retry_after_s: Some(7),
            ..Faults::default()
        });
        assert_eq!(zero.admit(t0), Err(7));
        assert_eq!(state(Faults::default()).admit(t0), Ok(()));
    }

    #[test]
    fn rates_and_delays() {
        let mut rng = rand::rng();
        let always = state(Faults {
            error_rate: 1.0,
            lost_response_rate: 1.0,
            hang_rate: 1.0,
            hang_ms: 50,
            latency_ms: 10,
            latency_min_ms: Some(5),
            latency_max_ms: Some(6),
            ..Faults::default()
        });
        let never = state(Faults::default());
        for _ in 0..50 {
            assert!(matches!(always.injected_error(&mut rng), Some(500 | 503)));
            assert!(always.lose_response(&mut rng));
            let d = always.delay(&mut rng).as_millis();
            assert!((65..=66).contains(&d), "{d}");
            assert_eq!(never.injected_error(&mut rng), None);
            assert!(!never.lose_response(&mut rng));
            assert_eq!(never.delay(&mut rng), Duration::ZERO);
        }
    }
}
