//! Offline verification of licet decision tokens and licence files.
//!
//! The licet server answers "may this principal perform this action on this
//! resource?" with a signed allow/deny decision: a JWS compact token (RS256)
//! whose key is published as a JWKS. This crate lets installed software check
//! such a token without contacting the server:
//!
//! 1. load the server's keys once with [`Jwks::load`] (file or URL) and keep
//!    them; refresh when verification reports [`VerifyError::UnknownKey`];
//! 2. verify each token with [`verify_decision`], passing the current time;
//! 3. if the request carried a nonce, check it with
//!    [`DecisionClaims::check_nonce`].
//!
//! ```no_run
//! use licet_client::{Jwks, VerifyError, verify_decision};
//!
//! fn may_export(token: &str, now_unix: i64) -> Result<bool, Box<dyn std::error::Error>> {
//!     let jwks = Jwks::load("/etc/licet/jwks.json")?;
//!     match verify_decision(token, &jwks, now_unix) {
//!         Ok(claims) => {
//!             claims.check_nonce("nonce-sent-with-the-request")?;
//!             Ok(claims.decision.is_allow())
//!         }
//!         Err(VerifyError::Expired { .. }) => Ok(false), // ask the server again
//!         Err(err) => Err(err.into()),
//!     }
//! }
//! ```
//!
//! [`verify_jws`] is the lower-level building block for other token kinds.
//!
//! # Licence files
//!
//! A licence file is a signed token too (`kind: "license"`), kept on disk
//! armoured (`-----BEGIN LICET LICENSE-----`) or bare:
//!
//! - [`verify_license`] checks one against the clock, this device's
//!   fingerprint ([`machine_fingerprint`] by default) and a revocation list
//!   verified with [`verify_revocations`];
//! - [`StateDir`] adds the clock high-water mark kept between runs
//!   ([`StateDir::verify_license`]) and the offline flow: write an
//!   [`ActivationRequest`], record it with [`StateDir::save_pending_request`],
//!   and install the server's answer with [`StateDir::install`];
//! - keys come from the JWKS or from one pinned PEM public key
//!   ([`TrustedKeys`]);
//! - an application with network access gets and renews its file with
//!   [`activate`] and [`refresh`], which verify the server's answer and store
//!   it in the [`StateDir`].
//!
//! ```no_run
//! use licet_client::{Jwks, LicenseCheck, StateDir, TrustedKeys, machine_fingerprint};
//!
//! fn licensed(now_unix: i64) -> Result<bool, Box<dyn std::error::Error>> {
//!     let keys = TrustedKeys::from(Jwks::load("/etc/licet/jwks.json")?);
//!     let state = StateDir::open("/var/lib/myapp/licet")?;
//!     let text = std::fs::read_to_string(state.license_path())?;
//!     let fingerprint = machine_fingerprint()?;
//!     let check = LicenseCheck {
//!         fingerprint: Some(&fingerprint),
//!         ..LicenseCheck::at(now_unix)
//!     };
//!     let claims = state.verify_license(&text, &keys, &check)?;
//!     Ok(claims.entitlement.grants("cad.export"))
//! }
//! ```

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(missing_docs)]

mod activation;
mod armor;
mod decision;
mod error;
mod jwks;
mod jws;
mod keys;
mod license;
mod online;
mod revocation;
mod state;
#[cfg(test)]
mod test_support;

pub use activation::{
    ActivationRequest, FingerprintError, LicenseKey, MACHINE_ID_PATH, REQUEST_VERSION,
    RequestError, fingerprint_of_file, machine_fingerprint,
};
pub use armor::{ArmorKind, LINE_WIDTH, armor, read_armored_or_bare, unarmor};
pub use decision::{
    Decision, DecisionClaims, Principal, Resource, VerifyOptions, verify_decision,
    verify_decision_with_options,
};
pub use error::{ArmorError, JwksError, LicenseError, PinnedKeyError, VerifyError};
pub use jwks::{FETCH_TIMEOUT, Jwks};
pub use jws::{Header, SUPPORTED_ALG, verify_jws};
pub use keys::TrustedKeys;
pub use license::{
    CLOCK_TOLERANCE_SECONDS, Entitlement, LICENSE_KIND, LicenseCheck, LicenseClaims, LicenseMode,
    verify_license,
};
pub use online::{ACTIVATIONS_PATH, OnlineError, REFRESH_PATH, activate, refresh};
pub use revocation::{REVOCATIONS_KIND, RevocationEntry, RevocationList, verify_revocations};
pub use state::{
    CLOCK_FILE, CheckError, LICENSE_FILE, PENDING_REQUEST_FILE, PendingRequest, StateDir,
    StateError,
};
