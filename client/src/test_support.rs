//! Shared fixtures for unit tests: one generated RSA key per test binary, its
//! JWKS, and token signing.

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
