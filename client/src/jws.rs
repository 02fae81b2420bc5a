//! JWS compact serialization (RFC 7515) with RS256 signatures.
//!
//! [`verify_jws`] checks a token's structure, algorithm, key id and signature
//! and returns its header and claims without interpreting the claims, so it
//! serves every token kind the server signs (decisions, licence files and
//! revocation lists). The claims part is decoded only after the signature verifies.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::PublicKey;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::error::VerifyError;
use crate::jwks::Jwks;

/// The only signature algorithm this client accepts.
pub const SUPPORTED_ALG: &str = "RS256";

/// The protected header of a verified token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Signature algorithm; always [`SUPPORTED_ALG`] once verified.
    pub alg: String,
    /// Token type, `JWT` for decision tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// Id of the JWKS key that signed the token.
    pub kid: String,
}

/// Verifies a JWS compact token against `jwks` and returns its header and
/// claims (always a JSON object).
///
/// Checks, in order: three base64url parts, a JSON-object header without
/// `crit`, `alg` equal to `RS256`, `kid` naming a key in `jwks`, the RSASSA
/// PKCS#1 v1.5 SHA-256 signature over `<header>.<claims>`, and finally that
/// the claims part is a JSON object. Surrounding whitespace is ignored.
/// Time-based claims are not checked here; see
/// [`verify_decision`](crate::verify_decision).
///
/// # Errors
///
/// [`VerifyError::Malformed`], [`VerifyError::UnsupportedAlgorithm`],
/// [`VerifyError::UnknownKey`] or [`VerifyError::BadSignature`].
pub fn verify_jws(token: &str, jwks: &Jwks) -> Result<(Header, Value), VerifyError> {
    verify_jws_with(token, |kid| jwks.get(kid))
}

/// [`verify_jws`] with the verification key chosen by `key_for`, which gets the
/// header's `kid` and returns `None` when it names no trusted key.
pub(crate) fn verify_jws_with<'k>(
    token: &str,
    key_for: impl FnOnce(&str) -> Option<&'k PublicKey>,
) -> Result<(Header, Value), VerifyError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(malformed("token is empty"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let &[header_b64, claims_b64, signature_b64] = parts.as_slice() else {
        return Err(VerifyError::Malformed(format!(
            "expected 3 dot-separated parts, found {}",
            parts.len()
        )));
    };

    let header = decode_header(header_b64)?;
    let key = key_for(&header.kid).ok_or_else(|| VerifyError::UnknownKey(header.kid.clone()))?;
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|err| {
        VerifyError::Malformed(format!("signature is not valid base64url: {err}"))
    })?;
    let signing_input = format!("{header_b64}.{claims_b64}");
    key.pkcs1v15_verify::<Sha256>(signing_input.as_bytes(), &signature)
        .map_err(|_| VerifyError::BadSignature)?;

    let claims = decode_object(claims_b64, "claims part")?;
    Ok((header, Value::Object(claims)))
}

/// Decodes the header and enforces the algorithm before any key lookup.
fn decode_header(header_b64: &str) -> Result<Header, VerifyError> {
    let header = decode_object(header_b64, "header")?;
    if header.contains_key("crit") {
        return Err(malformed(
            "header declares critical extensions (`crit`), which this client does not support",
        ));
    }
    match header.get("alg") {
        Some(Value::String(alg)) if alg == SUPPORTED_ALG => {}
        Some(Value::String(alg)) => return Err(VerifyError::UnsupportedAlgorithm(alg.clone())),
        Some(_) => return Err(malformed("header `alg` is not a string")),
        None => return Err(malformed("header has no `alg`")),
    }
    if !header.contains_key("kid") {
        return Err(malformed("header has no `kid`"));
    }
    serde_json::from_value(Value::Object(header))
        .map_err(|err| VerifyError::Malformed(format!("invalid header: {err}")))
}

/// Decodes one base64url part holding a JSON object; `what` names the part in
/// error messages (`header`, `claims part`).
fn decode_object(part: &str, what: &str) -> Result<Map<String, Value>, VerifyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|err| VerifyError::Malformed(format!("{what} is not valid base64url: {err}")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(VerifyError::Malformed(format!(
            "{what} is not a JSON object"
        ))),
        Err(err) => Err(VerifyError::Malformed(format!(
            "{what} is not valid JSON: {err}"
        ))),
    }
}

fn malformed(message: &str) -> VerifyError {
    VerifyError::Malformed(message.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::{TEST_KID, b64, jwks, sign_parts, sign_token};

    fn sample_claims() -> Value {
        json!({"iss": "licet", "sub": "licence-42", "exp": 2_000_000_000_i64})
    }

    #[test]
    fn valid_token_returns_header_and_claims() {
        let token = sign_token(&sample_claims());
        let (header, claims) = verify_jws(&token, &jwks()).unwrap();
        assert_eq!(
            header,
            Header {
                alg: "RS256".into(),
                typ: Some("JWT".into()),
                kid: TEST_KID.into(),
            }
        );
        assert_eq!(claims, sample_claims());
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        let token = format!("  {}\n", sign_token(&sample_claims()));
        assert!(verify_jws(&token, &jwks()).is_ok());
    }

    #[test]
    fn changed_payload_byte_is_a_bad_signature() {
        let token = sign_token(&sample_claims());
        let parts: Vec<&str> = token.split('.').collect();
        // Flip one character in the middle of the claims part, keeping it valid base64url.
        let mut claims: Vec<u8> = parts[1].as_bytes().to_vec();
        let mid = claims.len() / 2;
        claims[mid] = if claims[mid] == b'A' { b'B' } else { b'A' };
        let claims = String::from_utf8(claims).unwrap();
        let tampered = format!("{}.{claims}.{}", parts[0], parts[2]);
        assert_eq!(
            verify_jws(&tampered, &jwks()).unwrap_err(),
            VerifyError::BadSignature
        );
    }

    #[test]
    fn changed_signature_byte_is_a_bad_signature() {
        let token = sign_token(&sample_claims());
        let parts: Vec<&str> = token.split('.').collect();
        let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        signature[100] ^= 0x01;
        let tampered = format!("{}.{}.{}", parts[0], parts[1], b64(&signature));
        assert_eq!(
            verify_jws(&tampered, &jwks()).unwrap_err(),
            VerifyError::BadSignature
        );
        let truncated = format!("{}.{}.{}", parts[0], parts[1], b64(&signature[1..]));
        assert_eq!(
            verify_jws(&truncated, &jwks()).unwrap_err(),
            VerifyError::BadSignature
        );
    }

    #[test]
    fn unknown_kid_is_reported() {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": "retired-2023"});
        let token = sign_parts(&header, &sample_claims());
        assert_eq!(
            verify_jws(&token, &jwks()).unwrap_err(),
            VerifyError::UnknownKey("retired-2023".into())
        );
    }

    #[test]
    fn none_and_hmac_algorithms_are_rejected() {
        let claims = b64(sample_claims().to_string().as_bytes());
        for alg in ["none", "HS256", "RS512", "PS256", "rs256"] {
            let header = b64(json!({"alg": alg, "typ": "JWT", "kid": TEST_KID})
                .to_string()
                .as_bytes());
            for signature in ["", "c2lnbmF0dXJl"] {
                let token = format!("{header}.{claims}.{signature}");
                assert_eq!(
                    verify_jws(&token, &jwks()).unwrap_err(),
                    VerifyError::UnsupportedAlgorithm(alg.into()),
                    "alg {alg}"
                );
            }
        }
    }

    #[test]
    fn structural_errors_are_malformed() {
        let good = sign_token(&sample_claims());
        let parts: Vec<&str> = good.split('.').collect();
        let cases = [
            (String::new(), "token is empty"),
            ("abc".to_owned(), "expected 3 dot-separated parts, found 1"),
            (
                format!("{good}.extra"),
                "expected 3 dot-separated parts, found 4",
            ),
            (
                format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
                "header is not valid base64url",
            ),
            (
                format!("{}.{}.{}", b64(b"[1,2]"), parts[1], parts[2]),
                "header is not a JSON object",
            ),
            (
                format!("{}.{}.{}", b64(b"{not json"), parts[1], parts[2]),
                "header is not valid JSON",
            ),
            (
                format!("{}.{}.{}", b64(br#"{"kid":"k"}"#), parts[1], parts[2]),
                "header has no `alg`",
            ),
            (
                format!("{}.{}.{}", b64(br#"{"alg":"RS256"}"#), parts[1], parts[2]),
                "header has no `kid`",
            ),
            (
                format!(
                    "{}.{}.{}",
                    b64(br#"{"alg":"RS256","kid":7}"#),
                    parts[1],
                    parts[2]
                ),
                "invalid header: invalid type: integer `7`",
            ),
            (
                format!(
                    "{}.{}.{}",
                    b64(br#"{"alg":"RS256","kid":"k1","crit":["exp"]}"#),
                    parts[1],
                    parts[2]
                ),
                "header declares critical extensions",
            ),
            (
                format!("{}.{}.{}*", parts[0], parts[1], parts[2]),
                "signature is not valid base64url",
            ),
        ];
        for (token, expected) in cases {
            match verify_jws(&token, &jwks()) {
                Err(VerifyError::Malformed(message)) => {
                    assert!(message.starts_with(expected), "{token}: {message}");
                }
                other => panic!("{token}: expected Malformed, got {other:?}"),
            }
        }
    }

    #[test]
    fn signed_non_object_claims_are_malformed() {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": TEST_KID});
        let token = sign_parts(&header, &json!(["not", "an", "object"]));
        assert_eq!(
            verify_jws(&token, &jwks()).unwrap_err(),
            VerifyError::Malformed("claims part is not a JSON object".into())
        );
    }
}
