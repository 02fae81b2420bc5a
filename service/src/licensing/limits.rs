//! Abuse limits: how many activation and licence-file requests one licence key may make.
//!
//! A GCRA limiter per key (the `governor` crate), keyed by the key's hash so that no key is
//! held in clear in memory longer than a request. Keys that have been quiet long enough to be
//! back at full burst are forgotten regularly, so the map stays as small as the set of keys in
//! recent use.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::ActivationConfig;

/// Forget idle keys when the map has grown past this many entries.
const SWEEP_AT: usize = 10_000;

/// Attempts per licence key.
pub struct KeyLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl KeyLimiter {
    pub fn new(config: &ActivationConfig) -> Self {
        let per_minute = NonZeroU32::new(config.attempts_per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.attempts_burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// Counts an attempt with the key whose hash is `key_hash`; `Err` carries how long to wait.
    pub fn check(&self, key_hash: &str) -> Result<(), Duration> {
        if self.limiter.len() > SWEEP_AT {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key_hash.to_string())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits_while_others_are_unaffected() {
        let config = ActivationConfig {
            attempts_per_minute: 6,
            attempts_burst: 2,
            ..ActivationConfig::default()
        };
        let limiter = KeyLimiter::new(&config);
        assert_eq!(limiter.check("a"), Ok(()));
        assert_eq!(limiter.check("a"), Ok(()));
        let wait = limiter.check("a").unwrap_err();
        // Six a minute: one every ten seconds.
        assert!(
            wait > Duration::from_secs(5) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        assert_eq!(limiter.check("b"), Ok(()));
    }
}
