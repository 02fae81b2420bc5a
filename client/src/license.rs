//! Signed licence files: typed claims and their offline verification.
//!
//! A licence file is a JWS compact token (RS256, same keys as decisions) with
//! `kind: "license"`, stored armoured (`-----BEGIN LICET LICENSE-----`) or
//! bare. [`verify_license`] checks one against the caller's clock, device
//! fingerprint and revocation list; it reads and writes nothing. The clock
//! high-water mark kept between runs lives in [`StateDir`](crate::StateDir),
//! which wraps this function.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::armor::{ArmorKind, read_armored_or_bare};
use crate::error::LicenseError;
use crate::keys::TrustedKeys;
use crate::revocation::RevocationList;

/// The `kind` claim of a licence file.
pub const LICENSE_KIND: &str = "license";

/// How far, in seconds, the clock may be behind a time already seen before a
/// check is refused as [`LicenseError::ClockRolledBack`]. Absorbs small clock
/// corrections and skew between client and server.
pub const CLOCK_TOLERANCE_SECONDS: i64 = 300;

/// How the licence file was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LicenseMode {
    /// Fetched from the server (`POST /v1/licenses/refresh`); the client checks
    /// in again before `checkin_by`.
    Online,
    /// Answer to an offline activation request; `checkin_by` equals `exp`.
    Offline,
}

impl fmt::Display for LicenseMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Online => "online",
            Self::Offline => "offline",
        })
    }
}

/// The entitlement a licence file grants, as the server knew it at `iat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    /// Entitlement id, e.g. `ent-acme-cad`.
    pub id: String,
    /// Product id, e.g. `cad`.
    pub product: String,
    /// Licence model: `device`, `named_user` or `floating`.
    pub model: String,
    /// Seats bought.
    pub seats: u32,
    /// Feature ids granted, e.g. `cad.export`.
    pub features: Vec<String>,
    /// Environments the software may run in, e.g. `prod`, `test`.
    pub environments: Vec<String>,
    /// Start of the term.
    pub starts_at: DateTime<Utc>,
    /// End of the term, before grace.
    pub expires_at: DateTime<Utc>,
    /// Seconds of grace after `expires_at`.
    pub grace_seconds: u64,
    /// Lowest product version covered, inclusive; `None` for no bound.
    pub min_version: Option<String>,
    /// Highest product version covered; `None` for no bound.
    pub max_version: Option<String>,
    /// Members this version of the client does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Entitlement {
    /// `true` if `feature` is one of [`features`](Self::features).
    #[must_use]
    pub fn grants(&self, feature: &str) -> bool {
        self.features.iter().any(|granted| granted == feature)
    }
}

/// The claims of a verified licence file.
///
/// Serializes back to the JSON members it was read from (`nonce` is omitted
/// when absent; unknown members come from [`extra`](Self::extra)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseClaims {
    /// Issuer, `licet`.
    pub iss: String,
    /// Always [`LICENSE_KIND`] once verified.
    pub kind: String,
    /// Unique id of this file (a UUID).
    pub jti: String,
    /// Issued-at time, Unix seconds.
    pub iat: i64,
    /// The file is invalid from this second on.
    pub exp: i64,
    /// The client must fetch a fresh file before this second; equals `exp`
    /// for offline files.
    pub checkin_by: i64,
    /// Online or offline.
    pub mode: LicenseMode,
    /// For offline files, the nonce of the activation request answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Tenant the licence belongs to.
    pub tenant: String,
    /// Public id of the licence key (`lk-...`), never the key itself.
    pub license_key: String,
    /// Device id (`dev-...`) the file was issued to.
    pub device: String,
    /// Fingerprint of that device, e.g. `sha256:7f3a...`.
    pub fingerprint: String,
    /// What the licence grants.
    pub entitlement: Entitlement,
    /// Claims this version of the client does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What [`verify_license`] checks a licence file against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LicenseCheck<'a> {
    /// The current time, Unix seconds.
    pub now: i64,
    /// This device's fingerprint; when given, the file must be bound to it.
    pub fingerprint: Option<&'a str>,
    /// A verified revocation list of the licence's tenant, if one is at hand.
    pub revocations: Option<&'a RevocationList>,
}

impl LicenseCheck<'_> {
    /// A check at `now` with no fingerprint binding and no revocation list.
    #[must_use]
    pub fn at(now: i64) -> Self {
        Self {
            now,
            fingerprint: None,
            revocations: None,
        }
    }
}

/// Verifies a licence file offline and returns its claims.
///
/// `text` is the armoured form or a bare compact token. Checks, in order:
/// armour and token shape; signature (`RS256`, a key of `keys`); `kind` is
/// `license`; the claims' shape; the clock is not more than
/// [`CLOCK_TOLERANCE_SECONDS`] behind the file's `iat`; `now < exp`;
/// `now < checkin_by`; the fingerprint, when `check` has one; and no entry
/// of the revocation list, when `check` has one, matches.
///
/// The clock is checked before the expiry because a clock set back would
/// make an expired file look valid.
///
/// # Errors
///
/// Every [`LicenseError`] except [`LicenseError::StaleRevocations`],
/// [`LicenseError::WrongMode`] and [`LicenseError::NonceMismatch`].
pub fn verify_license(
    text: &str,
    keys: &TrustedKeys,
    check: &LicenseCheck<'_>,
) -> Result<LicenseClaims, LicenseError> {
    let claims: LicenseClaims = verify_signed(text, ArmorKind::License, LICENSE_KIND, keys)?;
    let now = check.now;

    check_not_before_issue(now, claims.iat)?;
    if now >= claims.exp {
        return Err(LicenseError::Expired {
            exp: claims.exp,
            now,
        });
    }
    if now >= claims.checkin_by {
        return Err(LicenseError::CheckinOverdue {
            checkin_by: claims.checkin_by,
            now,
        });
    }
    if let Some(expected) = check.fingerprint {
        check_fingerprint(&claims, expected)?;
    }
    if let Some(list) = check.revocations {
        list.check(&claims)?;
    }
    Ok(claims)
}

/// Refuses a licence file bound to another fingerprint than `expected`.
pub(crate) fn check_fingerprint(
    claims: &LicenseClaims,
    expected: &str,
) -> Result<(), LicenseError> {
    if claims.fingerprint == expected {
        Ok(())
    } else {
        Err(LicenseError::FingerprintMismatch {
            expected: expected.to_owned(),
            found: claims.fingerprint.clone(),
        })
    }
}

/// Refuses a check whose clock is more than the tolerance behind `seen`, a
/// time known to have passed (an `iat`, or the state's high-water mark).
pub(crate) fn check_not_before_issue(now: i64, seen: i64) -> Result<(), LicenseError> {
    if now.saturating_add(CLOCK_TOLERANCE_SECONDS) < seen {
        Err(LicenseError::ClockRolledBack {
            now,
            latest_seen: seen,
        })
    } else {
        Ok(())
    }
}

/// The shared first steps for licence files and revocation lists: armour,
/// signature, the `kind` claim, then the typed claims.
pub(crate) fn verify_signed<T: serde::de::DeserializeOwned>(
    text: &str,
    armor: ArmorKind,
    kind: &'static str,
    keys: &TrustedKeys,
) -> Result<T, LicenseError> {
    let token = read_armored_or_bare(armor, text)?;
    let (_header, claims) = keys.verify_jws(&token).map_err(LicenseError::Token)?;
    match claims.get("kind") {
        Some(Value::String(found)) if found == kind => {}
        Some(Value::String(found)) => {
            return Err(LicenseError::WrongKind {
                expected: kind,
                found: Some(found.clone()),
            });
        }
        Some(other) => {
            return Err(LicenseError::WrongKind {
                expected: kind,
                found: Some(other.to_string()),
            });
        }
        None => {
            return Err(LicenseError::WrongKind {
                expected: kind,
                found: None,
            });
        }
    }
    serde_json::from_value(claims).map_err(|err| LicenseError::InvalidClaims {
        what: match armor {
            ArmorKind::Revocations => "revocation list",
            ArmorKind::License | ArmorKind::ActivationRequest => "licence",
        },
        reason: err.to_string(),
    })
}

#[cfg(test)]
mod tests;
