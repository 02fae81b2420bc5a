//! Settings of activation: how long licence files last, how often clients check in, how often a
//! seat may move to another machine, and how many attempts a licence key may make.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Activation, licence files and revocation lists.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActivationConfig {
    /// Days an online licence file stays valid; never past the entitlement's end plus grace.
    pub license_valid_days: u32,
    /// Hours after which an online client must fetch a fresh file (the file's `checkin_by`).
    pub checkin_hours: u32,
    /// Days an offline licence file stays valid before it must be renewed the same way.
    pub offline_valid_days: u32,
    /// Times one device's seat may move to another fingerprint within `transfer_period_days`.
    pub transfers_per_period: u32,
    /// The window, in days, over which transfers are counted.
    pub transfer_period_days: u32,
    /// Activation and licence-file requests one licence key may make per minute.
    pub attempts_per_minute: u32,
    /// Requests a licence key may make at once before the per-minute rate applies.
    pub attempts_burst: u32,
    /// Hours a signed revocation list stays valid; clients fetch a new one before then.
    pub revocations_valid_hours: u32,
}

impl Default for ActivationConfig {
    fn default() -> Self {
        Self {
            license_valid_days: 30,
            checkin_hours: 72,
            offline_valid_days: 90,
            transfers_per_period: 3,
            transfer_period_days: 30,
            attempts_per_minute: 10,
            attempts_burst: 5,
            revocations_valid_hours: 24,
        }
    }
}

impl ActivationConfig {
    /// Checks every bound; the error names the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bounds: [(&'static str, u32, u32, u32); 8] = [
            (
                "activation.license_valid_days",
                self.license_valid_days,
                1,
                3650,
            ),
            ("activation.checkin_hours", self.checkin_hours, 1, 87_600),
            (
                "activation.offline_valid_days",
                self.offline_valid_days,
                1,
                3650,
            ),
            (
                "activation.transfers_per_period",
                self.transfers_per_period,
                0,
                1000,
            ),
            (
                "activation.transfer_period_days",
                self.transfer_period_days,
                1,
                3650,
            ),
            (
                "activation.attempts_per_minute",
                self.attempts_per_minute,
                1,
                100_000,
            ),
            ("activation.attempts_burst", self.attempts_burst, 1, 100_000),
            (
                "activation.revocations_valid_hours",
                self.revocations_valid_hours,
                1,
                8760,
            ),
        ];
        for (key, value, low, high) in bounds {
            if !(low..=high).contains(&value) {
                return Err(ConfigError::Invalid {
                    key,
                    message: format!("must be between {low} and {high}, not {value}"),
                });
            }
        }
        Ok(())
    }
}
