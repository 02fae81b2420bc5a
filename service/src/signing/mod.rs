//! Signing: JWS compact tokens over decisions, the signer backends that hold the private key,
//! and the JWKS that publishes the public keys.
//!
//! Tokens are ordinary JWS (RS256, `kid` in the header) so that any JOSE library verifies them.
//! Both backends keep their current key set in a [`KeyRing`] that a background task reads
//! again every `signing.refresh_seconds`, so that a rotation reaches a running server without
//! a restart. Key management (list, rotate, retire) lives in [`keys`].

mod jwk;
pub mod keys;
mod local;
mod vault;
mod vault_api;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::config::Config;
use crate::metrics::Metrics;

pub use jwk::{Jwk, Jwks};
pub use local::LocalSigner;
pub use vault::VaultSigner;

/// Why a signature could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The key is missing, unreadable or of the wrong kind.
    #[error("signing key problem: {0}")]
    Key(String),
    /// The signer backend could not be reached or did not answer in time, or refused.
    #[error("{message}")]
    Backend { cause: Cause, message: String },
    /// Anything else.
    #[error("signing failed: {0}")]
    Failed(String),
}

/// Why a signer backend failed, as a bounded metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// No connection, or the server is sealed or unavailable.
    Unreachable,
    /// No answer within `signing.vault.timeout_seconds`.
    Timeout,
    /// The credentials lack permission.
    Denied,
    /// The server refused the request for another reason.
    Rejected,
}

impl Cause {
    pub fn label(self) -> &'static str {
        match self {
            Cause::Unreachable => "unreachable",
            Cause::Timeout => "timeout",
            Cause::Denied => "denied",
            Cause::Rejected => "rejected",
        }
    }
}

impl SignError {
    /// The metric label of this failure.
    pub fn cause(&self) -> &'static str {
        match self {
            SignError::Key(_) => "key",
            SignError::Backend { cause, .. } => cause.label(),
            SignError::Failed(_) => "failed",
        }
    }
}

/// The keys a signer uses now: the one that signs and all that verify.
#[derive(Debug, Clone)]
pub struct KeyRing {
    /// The `kid` of the key that signs new tokens.
    pub active: String,
    /// Every key that may still verify an outstanding token, the active one included.
    pub jwks: Jwks,
}

/// The configured signer backend.
pub enum Signer {
    Local(LocalSigner),
    Vault(VaultSigner),
}

/// The protected header of every token.
#[derive(Debug, Serialize)]
struct Header<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// A signed token and what the metrics record of it.
#[derive(Debug)]
pub struct Signed {
    pub token: String,
    pub kid: String,
    pub elapsed: Duration,
}

impl Signer {
    /// Opens the backend the configuration names: checks that the key exists and signs, and
    /// starts the task that reads the key set again every `signing.refresh_seconds`.
    pub fn open(config: &Config, metrics: &Metrics) -> Result<Self, SignError> {
        let refresh = Duration::from_secs(config.signing.refresh_seconds);
        let signer = match config.signing.backend.as_str() {
            "vault-transit" => Signer::Vault(VaultSigner::connect(
                &config.signing.vault,
                metrics.clone(),
            )?),
            _ => Signer::Local(LocalSigner::open(
                &config.key_file(),
                config.signing.key_bits,
                local::passphrase(&config.signing)?,
            )?),
        };
        signer.spawn_refresh(refresh);
        Ok(signer)
    }

    /// The backend's name, for metrics and logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Signer::Local(_) => "local",
            Signer::Vault(_) => "vault-transit",
        }
    }

    /// The current key ring.
    pub fn ring(&self) -> Arc<KeyRing> {
        match self {
            Signer::Local(s) => s.ring(),
            Signer::Vault(s) => s.ring(),
        }
    }

    /// The id of the key that signs new tokens.
    pub fn kid(&self) -> String {
        self.ring().active.clone()
    }

    /// The public keys that verify tokens.
    pub fn jwks(&self) -> Jwks {
        self.ring().jwks.clone()
    }

    /// Reads the key set again now.
    pub async fn refresh(&self) -> Result<(), SignError> {
        match self {
            Signer::Local(s) => s.refresh(),
            Signer::Vault(s) => s.refresh().await,
        }
    }

    /// Signs `claims` as a JWS compact token with the active key.
    pub async fn sign_jws<C: Serialize>(&self, claims: &C) -> Result<Signed, SignError> {
        let started = Instant::now();
        let (kid, signing_input, signature) = match self {
            Signer::Local(s) => {
                let key = s.active();
                let input = signing_input(&key.kid, claims)?;
                let signature = key.sign(input.as_bytes().to_vec()).await?;
                (key.kid.clone(), input, signature)
            }
            Signer::Vault(s) => {
                let (kid, version) = s.active();
                let input = signing_input(&kid, claims)?;
                let signature = s.sign(input.as_bytes().to_vec(), version).await?;
                (kid, input, signature)
            }
        };
        Ok(Signed {
            token: format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)),
            kid,
            elapsed: started.elapsed(),
        })
    }

    /// Signs a probe to show the signer works, for readiness.
    pub async fn check(&self) -> Result<(), SignError> {
        self.sign_jws(&serde_json::json!({ "probe": true }))
            .await
            .map(|_| ())
    }

    /// Reads the key set again every `every`, on the current runtime, for as long as the
    /// signer lives. Without a runtime (command-line tools) nothing is started.
    fn spawn_refresh(&self, every: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        match self {
            Signer::Local(s) => {
                let weak = s.downgrade();
                runtime.spawn(async move {
                    loop {
                        tokio::time::sleep(every).await;
                        let Some(signer) = weak.upgrade() else { break };
                        // File reads, and decryption after a rotation, stay off the runtime.
                        let done = tokio::task::spawn_blocking(move || signer.refresh()).await;
                        if let Ok(Err(err)) = done {
                            tracing::warn!(error = %err, "cannot read the local key set again");
                        }
                    }
                });
            }
            Signer::Vault(s) => {
                let weak = s.downgrade();
                runtime.spawn(async move {
                    loop {
                        tokio::time::sleep(every).await;
                        let Some(signer) = weak.upgrade() else { break };
                        if let Err(err) = signer.refresh().await {
                            tracing::warn!(error = %err, "cannot read the transit key again");
                        }
                    }
                });
            }
        }
    }
}

/// `header.claims`, both base64url of their JSON.
fn signing_input<C: Serialize>(kid: &str, claims: &C) -> Result<String, SignError> {
    let header = Header {
        alg: "RS256",
        typ: "JWT",
        kid,
    };
    Ok(format!("{}.{}", b64_json(&header)?, b64_json(claims)?))
}

/// Base64url (no padding) of the JSON form of `value`.
fn b64_json<T: Serialize + ?Sized>(value: &T) -> Result<String, SignError> {
    let bytes = serde_json::to_vec(value).map_err(|e| SignError::Failed(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}
