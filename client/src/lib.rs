//! Offline verification of licet decision tokens.
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

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(missing_docs)]

mod decision;
mod error;
mod jwks;
mod jws;
#[cfg(test)]
mod test_support;

pub use decision::{
    Decision, DecisionClaims, Principal, Resource, VerifyOptions, verify_decision,
    verify_decision_with_options,
};
pub use error::{JwksError, VerifyError};
pub use jwks::{FETCH_TIMEOUT, Jwks};
pub use jws::{Header, SUPPORTED_ALG, verify_jws};
