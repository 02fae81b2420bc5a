//! Shared fixtures for unit tests: one generated RSA key per test binary, its
//! JWKS, token signing, and the claims of a licence file and a revocation
//! list.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::PrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

use crate::jwks::Jwks;

/// Key id of [`test_key`] in [`jwks`].
pub const TEST_KID: &str = "test-2026";

/// A 2048-bit key generated once per test binary (key generation is slow).
pub fn test_key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap())
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The public half of [`test_key`] as a JWK with the given kid.
pub fn jwk_value(kid: &str) -> Value {
    let public = test_key().as_public_key();
    json!({
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": "RS256",
        "n": b64(&public.n().to_be_bytes_trimmed_vartime()),
        "e": b64(&public.e().to_be_bytes_trimmed_vartime()),
    })
}

pub fn jwks_json() -> String {
    json!({ "keys": [jwk_value(TEST_KID)] }).to_string()
}

pub fn jwks() -> Jwks {
    Jwks::from_json(&jwks_json()).unwrap()
}

/// Signs `header` and `claims` as a JWS compact token with [`test_key`].
pub fn sign_parts(header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = test_key()
        .pkcs1v15_sign::<sha2::Sha256>(input.as_bytes())
        .unwrap();
    format!("{input}.{}", b64(&signature))
}

/// Signs `claims` with the standard decision header and [`TEST_KID`].
pub fn sign_token(claims: &Value) -> String {
    sign_parts(
        &json!({"alg": "RS256", "typ": "JWT", "kid": TEST_KID}),
        claims,
    )
}

/// Issue time of [`license_claims`].
pub const LICENSE_IAT: i64 = 1_764_800_000;
/// Check-in deadline of [`license_claims`].
pub const LICENSE_CHECKIN_BY: i64 = 1_765_400_000;
/// Expiry of [`license_claims`].
pub const LICENSE_EXP: i64 = 1_767_400_000;
/// Fingerprint of the device [`license_claims`] is bound to.
pub const FINGERPRINT: &str =
    "sha256:7f3a9c1e5b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a";

/// The claims of an online licence file for device `dev-1` of tenant `acme`.
pub fn license_claims() -> Value {
    json!({
        "iss": "licet",
        "kind": "license",
        "jti": "3f0c2a8e-5b7d-4e1f-9a6c-2d4b8e0f1a3c",
        "iat": LICENSE_IAT,
        "exp": LICENSE_EXP,
        "checkin_by": LICENSE_CHECKIN_BY,
        "mode": "online",
        "tenant": "acme",
        "license_key": "lk-acme-1",
        "device": "dev-1",
        "fingerprint": FINGERPRINT,
        "entitlement": {
            "id": "ent-acme-cad",
            "product": "cad",
            "model": "device",
            "seats": 5,
            "features": ["cad.export", "cad.view"],
            "environments": ["prod", "test"],
            "starts_at": "2026-01-01T00:00:00Z",
            "expires_at": "2027-01-01T00:00:00Z",
            "grace_seconds": 1_209_600,
            "min_version": "2.0.0",
            "max_version": null
        }
    })
}

/// The claims of a revocation list of tenant `acme`, valid for a day from
/// one hour after [`LICENSE_IAT`], with the given entries.
pub fn revocation_claims(entries: Value) -> Value {
    json!({
        "iss": "licet",
        "kind": "revocations",
        "tenant": "acme",
        "iat": LICENSE_IAT + 3_600,
        "exp": LICENSE_IAT + 3_600 + 86_400,
        "entries": entries
    })
}
