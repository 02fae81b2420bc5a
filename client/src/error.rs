//! Error types: [`VerifyError`] for decision tokens (and the JWS layer of
//! every token), [`LicenseError`] for licence files, revocation lists and
//! offline activation responses, [`ArmorError`] for the armoured text form,
//! and [`JwksError`] / [`PinnedKeyError`] for loading the server's public keys.
//!
//! Messages are lowercase, carry no final period, and quote values taken from
//! the token or the JWKS in backticks, so they can be shown to users as-is.

use std::error::Error as StdError;
use std::path::PathBuf;

use crate::license::LicenseMode;
use crate::revocation::RevocationEntry;

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

    /// The token is validly signed but is not a decision: it carries a `kind`
    /// claim (`license` or `revocations`), which decisions never have.
    #[error(
        "wrong kind of token: expected a decision, found `{0}`; check licence files and revocation lists with `licet-client license verify` and `licet-client revocations verify`"
    )]
    WrongKind(String),

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

/// Why the armoured form of a licence file, revocation list or activation
/// request could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArmorError {
    /// The input is empty or only whitespace.
    #[error("input is empty")]
    Empty,

    /// The input has no `-----BEGIN ...-----` line where one is required.
    #[error("no `-----BEGIN {label}-----` line found")]
    NotArmored {
        /// The label that was looked for, e.g. `LICET ACTIVATION REQUEST`.
        label: &'static str,
    },

    /// The BEGIN line names another kind of block, e.g. a revocation list
    /// given where a licence file was expected.
    #[error("expected a `{expected}` block, found `{found}`")]
    WrongLabel {
        /// The label that was expected.
        expected: &'static str,
        /// The BEGIN line found, trimmed.
        found: String,
    },

    /// A line starting with `-----` other than the expected END line.
    #[error("unexpected line {line}; expected `{expected}`")]
    UnexpectedLine {
        /// One-based line number in the input.
        line: usize,
        /// The END line that was expected.
        expected: String,
    },

    /// The input ends before the END line.
    #[error("`-----END {label}-----` line missing")]
    MissingEnd {
        /// The label of the block.
        label: &'static str,
    },

    /// Nothing between the BEGIN and END lines.
    #[error("the `{label}` block is empty")]
    EmptyBody {
        /// The label of the block.
        label: &'static str,
    },
}

/// Why a licence file, a revocation list or an offline activation response was
/// refused.
///
/// Each variant is a distinct failure class with its own `licet-client` exit
/// code, so an application can, for example, tell a licence that needs a
/// check-in ([`CheckinOverdue`](Self::CheckinOverdue)) from one that is over
/// ([`Expired`](Self::Expired)) or one that was forged ([`Token`](Self::Token)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseError {
    /// The armoured text form is broken.
    #[error("malformed armour: {0}")]
    Armor(#[from] ArmorError),

    /// The JWS layer failed: [`VerifyError::Malformed`],
    /// [`VerifyError::UnsupportedAlgorithm`], [`VerifyError::UnknownKey`] or
    /// [`VerifyError::BadSignature`] (never another variant).
    #[error(transparent)]
    Token(VerifyError),

    /// The token is validly signed but is another kind of token, e.g. a
    /// decision token or a revocation list presented as a licence file.
    #[error("wrong kind of token: expected `{expected}`, {}", describe_found_kind(.found.as_deref()))]
    WrongKind {
        /// The `kind` claim expected: `license` or `revocations`.
        expected: &'static str,
        /// The token's `kind` claim, if it has one.
        found: Option<String>,
    },

    /// The claims have the right kind but not the expected shape.
    #[error("invalid {what} claims: {reason}")]
    InvalidClaims {
        /// `licence` or `revocation list`.
        what: &'static str,
        /// What is wrong, e.g. ``missing field `device` ``.
        reason: String,
    },

    /// The clock is more than [`CLOCK_TOLERANCE_SECONDS`] behind a time
    /// already seen: the state directory's high-water mark, or the `iat` of
    /// the file being checked.
    ///
    /// [`CLOCK_TOLERANCE_SECONDS`]: crate::CLOCK_TOLERANCE_SECONDS
    #[error(
        "clock rolled back: now {now} is more than {} s before {latest_seen}, a time already seen; correct the system clock",
        crate::CLOCK_TOLERANCE_SECONDS
    )]
    ClockRolledBack {
        /// The time the check used, Unix seconds.
        now: i64,
        /// The later time already seen, Unix seconds.
        latest_seen: i64,
    },

    /// The licence file's `exp` has passed: `now >= exp`.
    #[error("licence expired at {exp} (now {now})")]
    Expired {
        /// The file's expiry, Unix seconds.
        exp: i64,
        /// The time the check used, Unix seconds.
        now: i64,
    },

    /// The licence file is not expired, but its `checkin_by` has passed:
    /// `now >= checkin_by`. Fetch a fresh file from the server.
    #[error("licence check-in overdue since {checkin_by} (now {now}); refresh the licence file")]
    CheckinOverdue {
        /// The file's check-in deadline, Unix seconds.
        checkin_by: i64,
        /// The time the check used, Unix seconds.
        now: i64,
    },

    /// The licence file (or offline response) is bound to another device
    /// fingerprint than the one expected.
    #[error("licence is bound to fingerprint `{found}`, not `{expected}`")]
    FingerprintMismatch {
        /// The fingerprint of this device (or of the pending request).
        expected: String,
        /// The fingerprint in the licence file.
        found: String,
    },

    /// An entry of the revocation list matches the licence file.
    #[error("licence revoked: {0}")]
    Revoked(RevocationEntry),

    /// The revocation list's `exp` has passed: `now >= exp`.
    #[error("stale revocation list: expired at {exp} (now {now}); fetch a fresh one")]
    StaleRevocations {
        /// The list's expiry, Unix seconds.
        exp: i64,
        /// The time the check used, Unix seconds.
        now: i64,
    },

    /// The revocation list was issued for another tenant than the licence.
    #[error("revocation list is for tenant `{list}`, the licence for tenant `{license}`")]
    RevocationsForOtherTenant {
        /// The list's tenant.
        list: String,
        /// The licence file's tenant.
        license: String,
    },

    /// An online licence file was given where an offline activation response
    /// was expected, or the other way round.
    #[error("expected an `{expected}` licence file, found an `{found}` one")]
    WrongMode {
        /// The mode expected.
        expected: LicenseMode,
        /// The file's `mode`.
        found: LicenseMode,
    },

    /// The offline licence file answers another activation request than the
    /// pending one.
    #[error("offline licence answers another request: expected nonce `{expected}`, {}", describe_found_nonce(.found.as_deref()))]
    NonceMismatch {
        /// The pending request's nonce.
        expected: String,
        /// The file's nonce, if any.
        found: Option<String>,
    },
}

fn describe_found_kind(found: Option<&str>) -> String {
    match found {
        Some(kind) => format!("found `{kind}`"),
        None => "found a token without `kind`, such as a decision".to_owned(),
    }
}

/// Why a pinned public key (a PEM SubjectPublicKeyInfo file) could not be
/// loaded.
#[derive(Debug, thiserror::Error)]
pub enum PinnedKeyError {
    /// The file could not be read.
    #[error("cannot read public key file `{}`: {source}", path.display())]
    Read {
        /// The file that was requested.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The text is not a PEM `PUBLIC KEY` holding an RSA key.
    #[error("invalid public key{}: {reason}; expected a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) with an RSA key", describe_path(.path.as_ref()))]
    Invalid {
        /// The file it came from, if any.
        path: Option<PathBuf>,
        /// What the parser reported.
        reason: String,
    },
}

fn describe_path(path: Option<&PathBuf>) -> String {
    path.map(|path| format!(" in `{}`", path.display()))
        .unwrap_or_default()
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
    fn license_error_messages_follow_the_style_guide() {
        let cases = [
            (
                LicenseError::Armor(ArmorError::MissingEnd {
                    label: "LICET LICENSE",
                }),
                "malformed armour: `-----END LICET LICENSE-----` line missing",
            ),
            (
                LicenseError::WrongKind {
                    expected: "license",
                    found: None,
                },
                "wrong kind of token: expected `license`, found a token without `kind`, such as a decision",
            ),
            (
                LicenseError::InvalidClaims {
                    what: "revocation list",
                    reason: "missing field `tenant`".into(),
                },
                "invalid revocation list claims: missing field `tenant`",
            ),
            (
                LicenseError::Expired { exp: 10, now: 12 },
                "licence expired at 10 (now 12)",
            ),
            (
                LicenseError::FingerprintMismatch {
                    expected: "sha256:a".into(),
                    found: "sha256:b".into(),
                },
                "licence is bound to fingerprint `sha256:b`, not `sha256:a`",
            ),
            (
                LicenseError::WrongMode {
                    expected: LicenseMode::Offline,
                    found: LicenseMode::Online,
                },
                "expected an `offline` licence file, found an `online` one",
            ),
            (
                LicenseError::NonceMismatch {
                    expected: "n-1".into(),
                    found: None,
                },
                "offline licence answers another request: expected nonce `n-1`, token carries no nonce",
            ),
            (
                LicenseError::Token(VerifyError::BadSignature),
                "token signature is invalid",
            ),
        ];
        for (err, message) in cases {
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn armor_error_messages_name_the_label() {
        assert_eq!(
            ArmorError::WrongLabel {
                expected: "LICET LICENSE",
                found: "-----BEGIN LICET REVOCATIONS-----".into(),
            }
            .to_string(),
            "expected a `LICET LICENSE` block, found `-----BEGIN LICET REVOCATIONS-----`"
        );
        assert_eq!(
            ArmorError::UnexpectedLine {
                line: 3,
                expected: "-----END LICET LICENSE-----".into(),
            }
            .to_string(),
            "unexpected line 3; expected `-----END LICET LICENSE-----`"
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
