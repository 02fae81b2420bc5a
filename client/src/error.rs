//! Error types: [`VerifyError`] for token verification and [`JwksError`] for
//! loading the server's public keys.
//!
//! Messages are lowercase, carry no final period, and quote values taken from
//! the token or the JWKS in backticks, so they can be shown to users as-is.

use std::error::Error as StdError;
use std::path::PathBuf;

/// Why a token failed verification.
///
/// Each variant corresponds to a distinct failure class, so callers (and the
/// `licet-client` CLI exit codes) can react differently to, for example, an
/// expired token and a forged one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The token is not a well-formed JWS compact serialization: wrong number
    /// of parts, invalid base64url, header or claims not a JSON object, or a
    /// header missing required fields.
    #[error("malformed token: {0}")]
    Malformed(String),

    /// The header names a signature algorithm other than `RS256`
    /// (including `none` and the HMAC family).
    #[error("unsupported signature algorithm `{0}`; only RS256 is accepted")]
    UnsupportedAlgorithm(String),

    /// The header's `kid` does not name a usable key in the JWKS.
    #[error("token signed by unknown key `{0}`; refresh the JWKS")]
    UnknownKey(String),

    /// The signature does not match the header and claims under the named key.
    #[error("token signature is invalid")]
    BadSignature,

    /// The token's `exp` has passed: `now >= exp` (plus any leeway).
    #[error("token expired at {exp} (now {now})")]
    Expired {
        /// The token's expiry, Unix seconds.
        exp: i64,
        /// The time verification used, Unix seconds.
        now: i64,
    },

    /// The signature is valid but the claims do not have the expected shape
    /// (missing field, wrong type, unknown decision value).
    #[error("invalid decision claims: {0}")]
    InvalidClaims(String),

    /// The token's `nonce` differs from the one the caller sent (or is absent).
    #[error("nonce mismatch: expected `{expected}`, {}", describe_found_nonce(.found.as_deref()))]
    NonceMismatch {
        /// The nonce the caller expected.
        expected: String,
        /// The nonce carried by the token, if any.
        found: Option<String>,
    },
}

fn describe_found_nonce(found: Option<&str>) -> String {
    match found {
        Some(nonce) => format!("token carries `{nonce}`"),
        None => "token carries no nonce".to_owned(),
    }
}

/// Why a JWKS (JSON Web Key Set) could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The JWKS file could not be read.
    #[error("cannot read JWKS file `{}`: {source}", path.display())]
    Read {
        /// The file that was requested.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The JWKS could not be downloaded (network error, timeout, non-2xx status).
    #[error("cannot fetch JWKS from `{url}`: {source}")]
    Fetch {
        /// The URL that was requested.
        url: String,
        /// The underlying HTTP client error.
        #[source]
        source: Box<dyn StdError + Send + Sync + 'static>,
    },

    /// The document is not valid JSON or lacks the `keys` array.
    #[error("invalid JWKS: {0}")]
    Json(#[source] serde_json::Error),

    /// An entry of the `keys` array is not a JSON object, has no `kty`, or is
    /// an RSA key without a `kid`.
    #[error("invalid JWKS entry #{index}: {reason}")]
    InvalidEntry {
        /// Zero-based position of the entry in the `keys` array.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// An RSA key entry is malformed (missing or invalid `n` / `e`, or not a
    /// valid RSA public key).
    #[error("invalid JWKS key `{kid}`: {reason}")]
    InvalidKey {
        /// The `kid` of the offending entry.
        kid: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Two usable keys share the same `kid`, so lookups would be ambiguous.
    #[error("JWKS has more than one key with id `{0}`")]
    DuplicateKid(String),

    /// The set has no key this client can use (RSA, `use` absent or `sig`,
    /// `alg` absent or `RS256`).
    #[error("JWKS has no usable RS256 signing key")]
    NoUsableKeys,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_error_messages_follow_the_style_guide() {
        assert_eq!(
            VerifyError::UnknownKey("k1".into()).to_string(),
            "token signed by unknown key `k1`; refresh the JWKS"
        );
        assert_eq!(
            VerifyError::UnsupportedAlgorithm("none".into()).to_string(),
            "unsupported signature algorithm `none`; only RS256 is accepted"
        );
        assert_eq!(
            VerifyError::Expired { exp: 100, now: 160 }.to_string(),
            "token expired at 100 (now 160)"
        );
        assert_eq!(
            VerifyError::BadSignature.to_string(),
            "token signature is invalid"
        );
        assert_eq!(
            VerifyError::Malformed("token is empty".into()).to_string(),
            "malformed token: token is empty"
        );
        assert_eq!(
            VerifyError::InvalidClaims("missing field `exp`".into()).to_string(),
            "invalid decision claims: missing field `exp`"
        );
    }

    #[test]
    fn nonce_mismatch_message_describes_what_the_token_carries() {
        let with = VerifyError::NonceMismatch {
            expected: "n-1".into(),
            found: Some("n-2".into()),
        };
        assert_eq!(
            with.to_string(),
            "nonce mismatch: expected `n-1`, token carries `n-2`"
        );
        let without = VerifyError::NonceMismatch {
            expected: "n-1".into(),
            found: None,
        };
        assert_eq!(
            without.to_string(),
            "nonce mismatch: expected `n-1`, token carries no nonce"
        );
    }

    #[test]
    fn jwks_error_messages_name_the_key() {
        let err = JwksError::InvalidKey {
            kid: "k9".into(),
            reason: "missing `n`".into(),
        };
        assert_eq!(err.to_string(), "invalid JWKS key `k9`: missing `n`");
        assert_eq!(
            JwksError::DuplicateKid("k1".into()).to_string(),
            "JWKS has more than one key with id `k1`"
        );
    }
}
