//! Signing: JWS compact tokens over decisions, the signer backends that hold the private key,
//! and the JWKS that publishes the public keys.
//!
//! Tokens are ordinary JWS (RS256, `kid` in the header) so that any JOSE library verifies them.

mod jwk;
mod local;

use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

pub use jwk::{Jwk, Jwks};
pub use local::LocalSigner;

/// Why a signature could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("signing key problem: {0}")]
    Key(String),
    #[error("signing failed: {0}")]
    Failed(String),
}

/// The configured signer backend.
pub enum Signer {
    Local(LocalSigner),
}

/// The protected header of every token.
#[derive(Debug, Serialize)]
struct Header<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

impl Signer {
    /// The backend's name, for metrics and logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Signer::Local(_) => "local",
        }
    }

    /// The id of the key that signs new tokens.
    pub fn kid(&self) -> &str {
        match self {
            Signer::Local(s) => s.kid(),
        }
    }

    /// The public keys that verify tokens.
    pub fn jwks(&self) -> Jwks {
        match self {
            Signer::Local(s) => Jwks {
                keys: vec![s.jwk()],
            },
        }
    }

    /// Signs `claims` as a JWS compact token. Returns the token and the time spent signing.
    pub async fn sign_jws<C: Serialize>(
        &self,
        claims: &C,
    ) -> Result<(String, std::time::Duration), SignError> {
        let header = Header {
            alg: "RS256",
            typ: "JWT",
            kid: self.kid(),
        };
        let signing_input = format!("{}.{}", b64_json(&header)?, b64_json(claims)?);
        let started = Instant::now();
        let signature = match self {
            Signer::Local(s) => s.sign(signing_input.as_bytes().to_vec()).await?,
        };
        let elapsed = started.elapsed();
        Ok((
            format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)),
            elapsed,
        ))
    }

    /// Signs a probe to show the signer works, for readiness.
    pub async fn check(&self) -> Result<(), SignError> {
        self.sign_jws(&serde_json::json!({ "probe": true }))
            .await
            .map(|_| ())
    }
}

/// Base64url (no padding) of the JSON form of `value`.
fn b64_json<T: Serialize + ?Sized>(value: &T) -> Result<String, SignError> {
    let bytes = serde_json::to_vec(value).map_err(|e| SignError::Failed(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}
