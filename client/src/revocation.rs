//! Signed revocation lists: which licence keys and devices of a tenant the
//! server has revoked, so that an offline client stops honouring licence files
//! issued to them.
//!
//! A list is a JWS compact token with `kind: "revocations"`, armoured as
//! `-----BEGIN LICET REVOCATIONS-----` or bare. [`verify_revocations`] checks
//! it; [`RevocationList::check`] applies it to a verified licence file.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::armor::ArmorKind;
use crate::error::LicenseError;
use crate::keys::TrustedKeys;
use crate::license::{LicenseClaims, check_not_before_issue, verify_signed};

/// The `kind` claim of a revocation list.
pub const REVOCATIONS_KIND: &str = "revocations";

/// One revocation. A licence file issued at or before `revoked_at` and
/// matching the entry is revoked; a file issued later (the device or key was
/// activated again) is not.
///
/// An entry of a kind this client does not know makes the whole list invalid,
/// so that an unknown revocation is never silently ignored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RevocationEntry {
    /// Every licence file issued for a licence key.
    LicenseKey {
        /// Public id of the licence key, `lk-...`.
        id: String,
        /// When it was revoked, Unix seconds.
        revoked_at: i64,
    },
    /// Every licence file issued to a device with this fingerprint.
    Device {
        /// Device id, `dev-...`.
        id: String,
        /// The device's fingerprint, e.g. `sha256:7f3a...`.
        fingerprint: String,
        /// When it was revoked, Unix seconds.
        revoked_at: i64,
    },
}

impl RevocationEntry {
    /// When the entry was revoked, Unix seconds.
    #[must_use]
    pub fn revoked_at(&self) -> i64 {
        match self {
            Self::LicenseKey { revoked_at, .. } | Self::Device { revoked_at, .. } => *revoked_at,
        }
    }

    /// `true` if the entry revokes `license`: same key (or same device and
    /// fingerprint), and the file was issued no later than the revocation.
    #[must_use]
    pub fn matches(&self, license: &LicenseClaims) -> bool {
        let same_subject = match self {
            Self::LicenseKey { id, .. } => license.license_key == *id,
            Self::Device {
                id, fingerprint, ..
            } => license.device == *id && license.fingerprint == *fingerprint,
        };
        same_subject && license.iat <= self.revoked_at()
    }
}

impl fmt::Display for RevocationEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LicenseKey { id, revoked_at } => {
                write!(f, "licence key `{id}` revoked at {revoked_at}")
            }
            Self::Device {
                id,
                fingerprint,
                revoked_at,
            } => write!(
                f,
                "device `{id}` with fingerprint `{fingerprint}` revoked at {revoked_at}"
            ),
        }
    }
}

/// The claims of a verified revocation list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationList {
    /// Issuer, `licet`.
    pub iss: String,
    /// Always [`REVOCATIONS_KIND`] once verified.
    pub kind: String,
    /// The tenant whose revocations these are.
    pub tenant: String,
    /// Issued-at time, Unix seconds.
    pub iat: i64,
    /// The list is stale from this second on.
    pub exp: i64,
    /// The revocations.
    pub entries: Vec<RevocationEntry>,
    /// Claims this version of the client does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RevocationList {
    /// The first entry that revokes `license`, if any. Entries of another
    /// tenant's list never match; [`check`](Self::check) refuses such a list.
    #[must_use]
    pub fn revoking_entry(&self, license: &LicenseClaims) -> Option<&RevocationEntry> {
        if self.tenant != license.tenant {
            return None;
        }
        self.entries.iter().find(|entry| entry.matches(license))
    }

    /// Applies the list to a verified licence file.
    ///
    /// # Errors
    ///
    /// [`LicenseError::RevocationsForOtherTenant`] when the list is not for
    /// the licence's tenant (so a misconfigured list is noticed rather than
    /// silently useless), [`LicenseError::Revoked`] naming the first matching
    /// entry.
    pub fn check(&self, license: &LicenseClaims) -> Result<(), LicenseError> {
        if self.tenant != license.tenant {
            return Err(LicenseError::RevocationsForOtherTenant {
                list: self.tenant.clone(),
                license: license.tenant.clone(),
            });
        }
        match self.revoking_entry(license) {
            Some(entry) => Err(LicenseError::Revoked(entry.clone())),
            None => Ok(()),
        }
    }
}

/// Verifies a revocation list offline and returns it.
///
/// `text` is the armoured form or a bare compact token. Checks, in order:
/// armour and token shape; signature; `kind` is `revocations`; the claims'
/// shape (every entry of a known kind); the clock is not more than
/// [`CLOCK_TOLERANCE_SECONDS`](crate::CLOCK_TOLERANCE_SECONDS) behind the
/// list's `iat`; and `now < exp`.
///
/// # Errors
///
/// [`LicenseError::Armor`], [`LicenseError::Token`],
/// [`LicenseError::WrongKind`], [`LicenseError::InvalidClaims`],
/// [`LicenseError::ClockRolledBack`] or [`LicenseError::StaleRevocations`].
pub fn verify_revocations(
    text: &str,
    keys: &TrustedKeys,
    now: i64,
) -> Result<RevocationList, LicenseError> {
    let list: RevocationList = verify_signed(text, ArmorKind::Revocations, REVOCATIONS_KIND, keys)?;
    check_not_before_issue(now, list.iat)?;
    if now >= list.exp {
        return Err(LicenseError::StaleRevocations { exp: list.exp, now });
    }
    Ok(list)
}
