//! Signed allow/deny decisions: typed claims and their verification.
//!
//! [`verify_decision`] runs the JWS checks of [`verify_jws`], then decodes the
//! claims into [`DecisionClaims`] and rejects expired tokens. Claims this
//! version does not know are kept in [`DecisionClaims::extra`], so newer
//! servers can add fields without breaking installed clients.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::VerifyError;
use crate::jwks::Jwks;
use crate::jws::verify_jws;

/// The outcome the server decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The principal may perform the action on the resource.
    Allow,
    /// The principal may not; see [`DecisionClaims::reasons`].
    Deny,
}

impl Decision {
    /// `true` for [`Decision::Allow`].
    #[must_use]
    pub fn is_allow(self) -> bool {
        self == Self::Allow
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        })
    }
}

/// Who asked: a typed entity reference such as `Device::"d-7f3a"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Principal {
    /// Entity type, e.g. `Device` or `User`; the JSON member `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Entity id within its type, e.g. `d-7f3a`.
    pub id: String,
}

/// What the action applies to: a typed entity reference such as
/// `Feature::"cad.export"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resource {
    /// Entity type, e.g. `Feature`; the JSON member `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Entity id within its type, e.g. `cad.export`.
    pub id: String,
}

/// The claims of a verified decision token.
///
/// Serializes back to the same JSON members it was read from (`nonce` is
/// omitted when absent; unknown members come from [`extra`](Self::extra)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionClaims {
    /// Issuer, `licet`.
    pub iss: String,
    /// Tenant the decision was made for.
    pub tenant: String,
    /// Who asked.
    pub principal: Principal,
    /// The action asked about, e.g. `use`.
    pub action: String,
    /// What the action applies to.
    pub resource: Resource,
    /// Allow or deny.
    pub decision: Decision,
    /// Machine-readable reason codes, e.g. `EXPIRED`; empty when absent.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Machine-readable advice codes, e.g. `IN_GRACE`; empty when absent.
    #[serde(default)]
    pub advice: Vec<String>,
    /// Digest of the policy set that produced the decision, `sha256:<hex>`.
    pub policy_version: String,
    /// Server-side request id (a UUID), for support and audit.
    pub request_id: String,
    /// Issued-at time, Unix seconds.
    pub iat: i64,
    /// Expiry time, Unix seconds; the token is invalid from this second on.
    pub exp: i64,
    /// The nonce the client sent with its request, echoed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Claims this version of the client does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DecisionClaims {
    /// Checks that the token carries exactly the nonce the client sent, which
    /// ties the decision to one request and defeats replay of older tokens.
    ///
    /// # Errors
    ///
    /// [`VerifyError::NonceMismatch`] if the nonce differs or is absent.
    pub fn check_nonce(&self, expected: &str) -> Result<(), VerifyError> {
        if self.nonce.as_deref() == Some(expected) {
            Ok(())
        } else {
            Err(VerifyError::NonceMismatch {
                expected: expected.to_owned(),
                found: self.nonce.clone(),
            })
        }
    }
}

/// Tunables for [`verify_decision_with_options`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Seconds a token stays acceptable after its `exp`, to absorb clock skew
    /// between client and server. Default 0.
    pub leeway_seconds: u32,
}

/// Verifies a decision token offline and returns its claims.
///
/// Runs [`verify_jws`] (structure, `RS256`, known `kid`, signature), refuses a
/// token with a `kind` claim (a licence file or revocation list) as
/// [`VerifyError::WrongKind`], decodes the claims, and rejects the token when
/// `now_unix >= exp`. Equivalent to
/// [`verify_decision_with_options`] with default options (no leeway).
///
/// `now_unix` is the current time in Unix seconds, from the system clock or a
/// trusted time source.
///
/// # Errors
///
/// Any [`VerifyError`] except [`VerifyError::NonceMismatch`]; check the nonce
/// afterwards with [`DecisionClaims::check_nonce`].
pub fn verify_decision(
    token: &str,
    jwks: &Jwks,
    now_unix: i64,
) -> Result<DecisionClaims, VerifyError> {
    verify_decision_with_options(token, jwks, now_unix, VerifyOptions::default())
}

/// [`verify_decision`] with explicit [`VerifyOptions`]: the token is expired
/// when `now_unix >= exp + leeway_seconds`.
///
/// # Errors
///
/// As [`verify_decision`]; [`VerifyError::Expired`] reports the token's real
/// `exp`, without the leeway.
pub fn verify_decision_with_options(
    token: &str,
    jwks: &Jwks,
    now_unix: i64,
    options: VerifyOptions,
) -> Result<DecisionClaims, VerifyError> {
    let (_header, claims) = verify_jws(token, jwks)?;
    if let Some(kind) = claims.get("kind") {
        let kind = kind
            .as_str()
            .map_or_else(|| kind.to_string(), str::to_owned);
        return Err(VerifyError::WrongKind(kind));
    }
    let claims: DecisionClaims = serde_json::from_value(claims)
        .map_err(|err| VerifyError::InvalidClaims(err.to_string()))?;
    let deadline = claims.exp.saturating_add(i64::from(options.leeway_seconds));
    if now_unix >= deadline {
        return Err(VerifyError::Expired {
            exp: claims.exp,
            now: now_unix,
        });
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::{jwks, sign_token};

    const IAT: i64 = 1_767_225_600;
    const EXP: i64 = IAT + 300;

    fn claims_json() -> Value {
        json!({
            "iss": "licet",
            "tenant": "acme",
            "principal": {"type": "Device", "id": "d-7f3a"},
            "action": "use",
            "resource": {"type": "Feature", "id": "cad.export"},
            "decision": "allow",
            "reasons": [],
            "advice": ["IN_GRACE"],
            "policy_version": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "request_id": "0d7f6c2e-8a41-4a8e-9d2b-3c1f5e6a7b80",
            "iat": IAT,
            "exp": EXP,
            "nonce": "n-123"
        })
    }

    fn expected_claims() -> DecisionClaims {
        DecisionClaims {
            iss: "licet".into(),
            tenant: "acme".into(),
            principal: Principal {
                kind: "Device".into(),
                id: "d-7f3a".into(),
            },
            action: "use".into(),
            resource: Resource {
                kind: "Feature".into(),
                id: "cad.export".into(),
            },
            decision: Decision::Allow,
            reasons: vec![],
            advice: vec!["IN_GRACE".into()],
            policy_version:
                "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            request_id: "0d7f6c2e-8a41-4a8e-9d2b-3c1f5e6a7b80".into(),
            iat: IAT,
            exp: EXP,
            nonce: Some("n-123".into()),
            extra: Map::new(),
        }
    }

    #[test]
    fn valid_token_returns_exact_claims() {
        let token = sign_token(&claims_json());
        let claims = verify_decision(&token, &jwks(), IAT + 10).unwrap();
        assert_eq!(claims, expected_claims());
        assert!(claims.decision.is_allow());
        // Serializing gives back the signed JSON.
        assert_eq!(serde_json::to_value(&claims).unwrap(), claims_json());
    }

    #[test]
    fn deny_with_reasons_and_without_nonce() {
        let mut json = claims_json();
        json["decision"] = "deny".into();
        json["reasons"] = json!(["EXPIRED", "SEAT_LIMIT"]);
        json.as_object_mut().unwrap().remove("nonce");
        let claims = verify_decision(&sign_token(&json), &jwks(), IAT).unwrap();
        assert_eq!(claims.decision, Decision::Deny);
        assert_eq!(claims.decision.to_string(), "deny");
        assert_eq!(claims.reasons, vec!["EXPIRED", "SEAT_LIMIT"]);
        assert_eq!(claims.nonce, None);
        assert_eq!(serde_json::to_value(&claims).unwrap(), json);
    }

    #[test]
    fn unknown_claims_are_tolerated_and_kept() {
        let mut json = claims_json();
        json["seats"] = json!({"used": 3, "total": 5});
        json["aud"] = "cad-suite".into();
        let claims = verify_decision(&sign_token(&json), &jwks(), IAT).unwrap();
        assert_eq!(
            claims.extra.get("seats"),
            Some(&json!({"used": 3, "total": 5}))
        );
        assert_eq!(claims.extra.get("aud"), Some(&json!("cad-suite")));
        assert_eq!(claims.extra.len(), 2);
        assert_eq!(serde_json::to_value(&claims).unwrap(), json);
    }

    #[test]
    fn expiry_is_exclusive_and_reports_both_times() {
        let token = sign_token(&claims_json());
        assert!(verify_decision(&token, &jwks(), EXP - 1).is_ok());
        assert_eq!(
            verify_decision(&token, &jwks(), EXP).unwrap_err(),
            VerifyError::Expired { exp: EXP, now: EXP }
        );
        assert_eq!(
            verify_decision(&token, &jwks(), EXP + 3600).unwrap_err(),
            VerifyError::Expired {
                exp: EXP,
                now: EXP + 3600
            }
        );
    }

    #[test]
    fn leeway_extends_acceptance_past_exp() {
        let token = sign_token(&claims_json());
        let options = VerifyOptions { leeway_seconds: 60 };
        assert!(verify_decision_with_options(&token, &jwks(), EXP + 59, options).is_ok());
        assert_eq!(
            verify_decision_with_options(&token, &jwks(), EXP + 60, options).unwrap_err(),
            VerifyError::Expired {
                exp: EXP,
                now: EXP + 60
            }
        );
    }

    #[test]
    fn extreme_exp_does_not_overflow() {
        let mut json = claims_json();
        json["exp"] = i64::MAX.into();
        let token = sign_token(&json);
        let options = VerifyOptions {
            leeway_seconds: u32::MAX,
        };
        assert!(verify_decision_with_options(&token, &jwks(), IAT, options).is_ok());
        assert!(matches!(
            verify_decision_with_options(&token, &jwks(), i64::MAX, options),
            Err(VerifyError::Expired { .. })
        ));
    }

    #[test]
    fn wrongly_shaped_claims_are_invalid() {
        let cases: [(&str, Value, &str); 4] = [
            ("decision", json!("maybe"), "unknown variant `maybe`"),
            ("exp", json!("soon"), "invalid type: string \"soon\""),
            ("exp", json!(1.5), "invalid type: floating point `1.5`"),
            (
                "principal",
                json!("d-7f3a"),
                "invalid type: string \"d-7f3a\"",
            ),
        ];
        for (field, value, expected) in cases {
            let mut json = claims_json();
            json[field] = value;
            match verify_decision(&sign_token(&json), &jwks(), IAT) {
                Err(VerifyError::InvalidClaims(message)) => {
                    assert!(message.starts_with(expected), "{field}: {message}");
                }
                other => panic!("{field}: expected InvalidClaims, got {other:?}"),
            }
        }
        let mut json = claims_json();
        json.as_object_mut().unwrap().remove("exp");
        assert_eq!(
            verify_decision(&sign_token(&json), &jwks(), IAT).unwrap_err(),
            VerifyError::InvalidClaims("missing field `exp`".into())
        );
    }

    #[test]
    fn licence_files_and_revocation_lists_are_the_wrong_kind() {
        for kind in ["license", "revocations"] {
            let mut json = claims_json();
            json["kind"] = kind.into();
            assert_eq!(
                verify_decision(&sign_token(&json), &jwks(), IAT).unwrap_err(),
                VerifyError::WrongKind(kind.into())
            );
        }
    }

    #[test]
    fn nonce_check() {
        let claims = expected_claims();
        assert_eq!(claims.check_nonce("n-123"), Ok(()));
        assert_eq!(
            claims.check_nonce("n-999").unwrap_err(),
            VerifyError::NonceMismatch {
                expected: "n-999".into(),
                found: Some("n-123".into()),
            }
        );
        let without = DecisionClaims {
            nonce: None,
            ..expected_claims()
        };
        assert_eq!(
            without.check_nonce("n-123").unwrap_err(),
            VerifyError::NonceMismatch {
                expected: "n-123".into(),
                found: None,
            }
        );
    }
}
