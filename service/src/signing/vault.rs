//! The Vault transit signer: the private key lives in Vault (or OpenBao) and never leaves it;
//! licet sends what to sign and gets the signature back.
//!
//! One task owns a queue of signing requests. With `signing.vault.coalesce` on, it gathers up
//! to `batch_max` requests, waiting at most `batch_wait_ms` after the first, and sends them in
//! one `batch_input` call; otherwise each request is its own call. Every waiter gives up after
//! `timeout_seconds`, so a Vault that is down turns into a prompt error, never a hang.

use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pkcs8::DecodePublicKey;
use tokio::sync::{mpsc, oneshot};
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;

use super::vault_api::{KeyDescription, ReadKey, SetMinVersion, SignBatch, SignInput};
use super::{Cause, Jwk, Jwks, KeyRing, SignError};
use crate::config::VaultConfig;
use crate::metrics::Metrics;

/// Room for this many signing requests in the queue before callers wait.
const QUEUE: usize = 4096;

/// What the signer knows of the transit key now.
struct State {
    ring: Arc<KeyRing>,
    version: u64,
}

/// One request to sign: the bytes, the key version, and where the answer goes.
struct Job {
    input: Vec<u8>,
    version: u64,
    reply: oneshot::Sender<Result<Vec<u8>, SignError>>,
}

struct Inner {
    config: VaultConfig,
    client: ArcSwap<VaultClient>,
    state: ArcSwap<State>,
    metrics: Metrics,
}

/// Signs through a Vault transit key.
pub struct VaultSigner {
    inner: Arc<Inner>,
    queue: mpsc::Sender<Job>,
    timeout: Duration,
}

/// What `licet keys list` shows of one transit key version.
#[derive(Debug)]
pub struct VersionInfo {
    pub kid: String,
    pub version: u64,
    pub created: String,
    pub state: &'static str,
}

impl VaultSigner {
    /// Logs in, checks that the key exists, is RSA and signs, and starts the batching task on
    /// the current runtime. Blocks the calling thread until the checks are done.
    pub fn connect(config: &VaultConfig, metrics: Metrics) -> Result<Self, SignError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            SignError::Failed("the Vault signer needs an async runtime".to_string())
        })?;
        let (description, token) = {
            let config = config.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| SignError::Failed(e.to_string()))?;
                runtime.block_on(async move {
                    let admin = Admin::connect(&config).await?;
                    let description = admin.describe().await?;
                    admin.probe(description.latest_version).await?;
                    Ok::<_, SignError>((description, admin.client.settings.token.clone()))
                })
            })
            .join()
            .map_err(|_| SignError::Failed("the Vault start check panicked".to_string()))??
        };
        let state = state_of(&config.key, &description)?;
        tracing::info!(
            address = %config.address,
            mount = %config.mount,
            key = %config.key,
            version = state.version,
            "transit key ready"
        );
        // The checks ran on a runtime of their own; the serving client belongs to this one.
        let client = settings(config, &token)?;
        let inner = Arc::new(Inner {
            config: config.clone(),
            client: ArcSwap::from_pointee(client),
            state: ArcSwap::from_pointee(state),
            metrics,
        });
        let (queue, jobs) = mpsc::channel(QUEUE);
        runtime.spawn(Arc::clone(&inner).run(jobs));
        Ok(Self {
            inner,
            queue,
            timeout: Duration::from_secs(config.timeout_seconds),
        })
    }

    pub(super) fn downgrade(&self) -> WeakVault {
        WeakVault(Arc::downgrade(&self.inner))
    }

    pub fn ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.inner.state.load().ring)
    }

    /// The `kid` and the key version that sign new tokens.
    pub fn active(&self) -> (String, u64) {
        let state = self.inner.state.load();
        (state.ring.active.clone(), state.version)
    }

    /// Reads the key again: a rotation starts signing with the new version, and the JWKS
    /// follows.
    pub async fn refresh(&self) -> Result<(), SignError> {
        self.inner.refresh().await
    }

    /// Signs `input` (RSASSA-PKCS1-v1_5, SHA-256) with key `version`, waiting at most the
    /// configured timeout.
    pub async fn sign(&self, input: Vec<u8>, version: u64) -> Result<Vec<u8>, SignError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            input,
            version,
            reply,
        };
        let timeout = || SignError::Backend {
            cause: Cause::Timeout,
            message: format!(
                "Vault did not sign within {} s (`signing.vault.timeout_seconds`)",
                self.timeout.as_secs()
            ),
        };
        tokio::time::timeout(self.timeout, async {
            self.queue
                .send(job)
                .await
                .map_err(|_| SignError::Failed("the Vault signing task stopped".to_string()))?;
            answer
                .await
                .map_err(|_| SignError::Failed("the Vault signing task stopped".to_string()))?
        })
        .await
        .map_err(|_| timeout())?
    }
}

/// A handle that does not keep the signer alive, for its refresh task.
pub(super) struct WeakVault(Weak<Inner>);

impl WeakVault {
    pub(super) fn upgrade(&self) -> Option<RefreshHandle> {
        self.0.upgrade().map(RefreshHandle)
    }
}

/// What the refresh task holds while it works.
pub(super) struct RefreshHandle(Arc<Inner>);

impl RefreshHandle {
    pub(super) async fn refresh(&self) -> Result<(), SignError> {
        self.0.refresh().await
    }
}

impl Inner {
    /// Collects jobs into batches and signs each batch on its own task.
    async fn run(self: Arc<Self>, mut jobs: mpsc::Receiver<Job>) {
        let wait = Duration::from_millis(self.config.batch_wait_ms);
        let max = if self.config.coalesce {
            self.config.batch_max
        } else {
            1
        };
        while let Some(first) = jobs.recv().await {
            let mut batch = vec![first];
            let deadline = tokio::time::Instant::now() + wait;
            while batch.len() < max {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) if wait.is_zero() => break,
                    Err(_) => match tokio::time::timeout_at(deadline, jobs.recv()).await {
                        Ok(Some(job)) => batch.push(job),
                        _ => break,
                    },
                }
            }
            let inner = Arc::clone(&self);
            tokio::spawn(async move { inner.sign_batch(batch).await });
        }
    }

    /// Signs one batch, one call per key version in it, and answers every waiter.
    async fn sign_batch(&self, mut batch: Vec<Job>) {
        while let Some(version) = batch.first().map(|j| j.version) {
            let (same, rest): (Vec<Job>, Vec<Job>) =
                batch.into_iter().partition(|j| j.version == version);
            batch = rest;
            let inputs = same
                .iter()
                .map(|j| SignInput {
                    input: STANDARD.encode(&j.input),
                })
                .collect();
            match self.call_sign(version, inputs).await {
                Ok(signatures) => {
                    for (job, signature) in same.into_iter().zip(signatures) {
                        let _ = job.reply.send(signature);
                    }
                }
                Err(err) => {
                    let message = err.to_string();
                    let cause = match &err {
                        SignError::Backend { cause, .. } => *cause,
                        _ => Cause::Rejected,
                    };
                    for job in same {
                        let _ = job.reply.send(Err(SignError::Backend {
                            cause,
                            message: message.clone(),
                        }));
                    }
                }
            }
        }
    }

    async fn call_sign(
        &self,
        version: u64,
        inputs: Vec<SignInput>,
    ) -> Result<Vec<Result<Vec<u8>, SignError>>, SignError> {
        let count = inputs.len();
        self.metrics.observe_sign_batch("vault-transit", count);
        let request = SignBatch {
            mount: self.config.mount.clone(),
            key: self.config.key.clone(),
            key_version: version,
            hash_algorithm: "sha2-256",
            signature_algorithm: "pkcs1v15",
            prehashed: false,
            batch_input: inputs,
        };
        let client = self.client.load_full();
        let answer = vaultrs::api::exec_with_result(client.as_ref(), request)
            .await
            .map_err(|e| classify(&self.config, "sign with", e))?;
        if answer.batch_results.len() != count {
            return Err(SignError::Failed(format!(
                "Vault answered {} signatures for {count} inputs",
                answer.batch_results.len()
            )));
        }
        Ok(answer
            .batch_results
            .into_iter()
            .map(|result| match (result.signature, result.error) {
                (Some(signature), None) => decode_signature(&signature, version),
                (_, error) => Err(SignError::Backend {
                    cause: Cause::Rejected,
                    message: format!(
                        "Vault refused to sign: {}",
                        error.unwrap_or_else(|| "no signature".into())
                    ),
                }),
            })
            .collect())
    }

    async fn refresh(&self) -> Result<(), SignError> {
        let client = self.client.load_full();
        let description = match describe(&client, &self.config).await {
            // An AppRole token that expired is replaced by a new login.
            Err(SignError::Backend {
                cause: Cause::Denied,
                ..
            }) if self.config.auth == "approle" => {
                self.login().await?;
                describe(&self.client.load_full(), &self.config).await?
            }
            other => other?,
        };
        let state = state_of(&self.config.key, &description)?;
        let old = self.state.load().version;
        if state.version != old {
            tracing::info!(
                from = old,
                to = state.version,
                "transit key version changed"
            );
        }
        self.state.store(Arc::new(state));
        Ok(())
    }

    /// Builds a client holding a fresh token (from the environment or file, or an AppRole
    /// login).
    async fn login(&self) -> Result<(), SignError> {
        let client = authenticated_client(&self.config).await?;
        self.client.store(Arc::new(client));
        Ok(())
    }
}

/// A short-lived client for start checks and for `licet keys`.
pub struct Admin {
    client: VaultClient,
    config: VaultConfig,
}

impl Admin {
    /// A client logged in as the configuration says.
    pub async fn connect(config: &VaultConfig) -> Result<Self, SignError> {
        Ok(Self {
            client: authenticated_client(config).await?,
            config: config.clone(),
        })
    }

    async fn describe(&self) -> Result<KeyDescription, SignError> {
        let description = describe(&self.client, &self.config).await?;
        if !description.key_type.starts_with("rsa-") || !description.supports_signing {
            return Err(SignError::Key(format!(
                "transit key `{}` at mount `{}` is of type `{}`; licet needs an RSA key that signs (rsa-2048, rsa-3072 or rsa-4096)",
                self.config.key, self.config.mount, description.key_type
            )));
        }
        Ok(description)
    }

    /// Signs one probe with `version`, to prove the credentials may sign.
    async fn probe(&self, version: u64) -> Result<(), SignError> {
        let request = SignBatch {
            mount: self.config.mount.clone(),
            key: self.config.key.clone(),
            key_version: version,
            hash_algorithm: "sha2-256",
            signature_algorithm: "pkcs1v15",
            prehashed: false,
            batch_input: vec![SignInput {
                input: STANDARD.encode(b"licet start check"),
            }],
        };
        let answer = vaultrs::api::exec_with_result(&self.client, request)
            .await
            .map_err(|e| classify(&self.config, "sign with", e))?;
        match answer.batch_results.into_iter().next() {
            Some(result) if result.signature.is_some() => Ok(()),
            other => Err(SignError::Key(format!(
                "transit key `{}` did not sign a probe: {}",
                self.config.key,
                other.and_then(|r| r.error).unwrap_or_default()
            ))),
        }
    }

    /// Every version of the key, newest first.
    pub async fn versions(&self) -> Result<Vec<VersionInfo>, SignError> {
        let description = self.describe().await?;
        let mut versions: Vec<VersionInfo> = description
            .keys
            .iter()
            .filter_map(|(n, v)| Some((n.parse::<u64>().ok()?, v)))
            .map(|(n, v)| VersionInfo {
                kid: kid(&self.config.key, n),
                version: n,
                created: v.creation_time.clone(),
                state: if n == description.latest_version {
                    "active"
                } else if n < description.min_decryption_version {
                    "retired"
                } else {
                    "verifying"
                },
            })
            .collect();
        // Transit no longer lists the public keys of retired versions.
        for n in 1..description.min_decryption_version {
            if versions.iter().all(|v| v.version != n) {
                versions.push(VersionInfo {
                    kid: kid(&self.config.key, n),
                    version: n,
                    created: String::new(),
                    state: "retired",
                });
            }
        }
        versions.sort_by_key(|v| std::cmp::Reverse(v.version));
        Ok(versions)
    }

    /// Adds a key version; new tokens use it once each replica has read the key again.
    pub async fn rotate(&self) -> Result<u64, SignError> {
        vaultrs::transit::key::rotate(&self.client, &self.config.mount, &self.config.key)
            .await
            .map_err(|e| classify(&self.config, "rotate", e))?;
        Ok(self.describe().await?.latest_version)
    }

    /// Stops `version` from verifying by raising the key's oldest verifying version past it.
    pub async fn retire(&self, version: u64) -> Result<(), SignError> {
        let request = SetMinVersion {
            mount: self.config.mount.clone(),
            key: self.config.key.clone(),
            min_decryption_version: version + 1,
        };
        vaultrs::api::exec_with_result(&self.client, request)
            .await
            .map(|_| ())
            .or_else(|e| match e {
                // The config endpoint answers 204 without a body on some servers.
                ClientError::RestClientError { .. } => Ok(()),
                other => Err(other),
            })
            .map_err(|e| classify(&self.config, "configure", e))
    }
}

async fn describe(client: &VaultClient, config: &VaultConfig) -> Result<KeyDescription, SignError> {
    let request = ReadKey {
        mount: config.mount.clone(),
        key: config.key.clone(),
    };
    vaultrs::api::exec_with_result(client, request)
        .await
        .map_err(|e| classify(config, "read", e))
}

/// `vault-<key>-v<version>`.
pub fn kid(key: &str, version: u64) -> String {
    format!("vault-{key}-v{version}")
}

/// The key ring of a key description: every version from the oldest that still verifies.
fn state_of(key: &str, description: &KeyDescription) -> Result<State, SignError> {
    let version = description.latest_version;
    let mut keys = Vec::new();
    for (number, entry) in description.keys.iter().rev() {
        let Ok(n) = number.parse::<u64>() else {
            continue;
        };
        if n < description.min_decryption_version || n > version {
            continue;
        }
        let public = rsa::PublicKey::from_public_key_pem(&entry.public_key).map_err(|e| {
            SignError::Key(format!(
                "the public key of version {n} of transit key `{key}` is not an RSA key: {e}"
            ))
        })?;
        keys.push(Jwk::rsa(&kid(key, n), &public));
    }
    keys.sort_by_key(|k| std::cmp::Reverse(version_of(&k.kid)));
    Ok(State {
        ring: Arc::new(KeyRing {
            active: kid(key, version),
            jwks: Jwks { keys },
        }),
        version,
    })
}

fn version_of(kid: &str) -> u64 {
    kid.rsplit_once("-v")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}

/// The raw signature in `vault:v<version>:<base64>`.
fn decode_signature(signature: &str, version: u64) -> Result<Vec<u8>, SignError> {
    let prefix = format!("vault:v{version}:");
    let encoded = signature.strip_prefix(&prefix).ok_or_else(|| {
        SignError::Failed(format!(
            "Vault signed with another key version than {version}: `{}`",
            signature.split(':').take(2).collect::<Vec<_>>().join(":")
        ))
    })?;
    STANDARD
        .decode(encoded)
        .map_err(|e| SignError::Failed(format!("Vault's signature is not base64: {e}")))
}

fn settings(config: &VaultConfig, token: &str) -> Result<VaultClient, SignError> {
    // TLS to Vault uses ring, the cryptography the rest of the workspace already builds; the
    // call fails harmlessly when a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = VaultClientSettingsBuilder::default();
    builder
        .address(&config.address)
        .token(token)
        .timeout(Some(Duration::from_secs(config.timeout_seconds)))
        .verify(!config.tls_skip_verify)
        .ca_certs(
            config
                .ca_file
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
        );
    let settings = builder
        .build()
        .map_err(|e| SignError::Key(format!("invalid Vault client settings: {e}")))?;
    VaultClient::new(settings)
        .map_err(|e| SignError::Key(format!("cannot build the Vault client: {e}")))
}

async fn authenticated_client(config: &VaultConfig) -> Result<VaultClient, SignError> {
    if config.auth == "approle" {
        let role_id = secret(&config.role_id_env, None, "signing.vault.role_id_env")?;
        let secret_id = secret(
            &config.secret_id_env,
            config.secret_id_file.as_deref(),
            "signing.vault.secret_id_env",
        )?;
        let client = settings(config, "")?;
        let auth =
            vaultrs::auth::approle::login(&client, &config.approle_mount, &role_id, &secret_id)
                .await
                .map_err(|e| classify(config, "log in with AppRole to", e))?;
        return settings(config, &auth.client_token);
    }
    let token = secret(
        &config.token_env,
        config.token_file.as_deref(),
        "signing.vault.token_env",
    )?;
    settings(config, &token)
}

/// A credential from the environment variable `var`, else from `file`.
fn secret(
    var: &str,
    file: Option<&std::path::Path>,
    key: &'static str,
) -> Result<String, SignError> {
    if let Ok(value) = std::env::var(var)
        && !value.is_empty()
    {
        return Ok(value);
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SignError::Key(format!("cannot read `{}`: {e}", path.display())))?;
        return Ok(text.trim().to_string());
    }
    Err(SignError::Key(format!(
        "the environment variable `{var}` (`{key}`) is not set"
    )))
}

/// Turns a client error into a message that says what to do.
fn classify(config: &VaultConfig, action: &str, err: ClientError) -> SignError {
    let what = format!("transit key `{}` at mount `{}`", config.key, config.mount);
    match err {
        ClientError::APIError { code: 403, errors } => SignError::Backend {
            cause: Cause::Denied,
            message: format!(
                "the Vault token lacks permission to {action} {what}: {}; apply vault/licet-sign.hcl",
                errors.join("; ")
            ),
        },
        ClientError::APIError { code: 404, .. } => SignError::Key(format!(
            "{what} not found at `{}`; create it with vault/setup.sh",
            config.address
        )),
        ClientError::APIError { code, errors } if code >= 500 => SignError::Backend {
            cause: Cause::Unreachable,
            message: format!(
                "Vault at `{}` cannot {action} {what} (status {code}): {}",
                config.address,
                errors.join("; ")
            ),
        },
        ClientError::APIError { code, errors } => SignError::Backend {
            cause: Cause::Rejected,
            message: format!(
                "Vault refused to {action} {what} (status {code}): {}",
                errors.join("; ")
            ),
        },
        other => SignError::Backend {
            cause: Cause::Unreachable,
            message: format!(
                "cannot reach Vault at `{}`: {}",
                config.address,
                error_chain(&other)
            ),
        },
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_prefix_is_stripped_and_the_version_checked() {
        assert_eq!(decode_signature("vault:v2:aGk=", 2).unwrap(), b"hi");
        let err = decode_signature("vault:v3:aGk=", 2)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("another key version than 2: `vault:v3`"),
            "{err}"
        );
        assert!(decode_signature("vault:v2:***", 2).is_err());
    }

    #[test]
    fn kid_names_key_and_version() {
        assert_eq!(kid("licet", 12), "vault-licet-v12");
        assert_eq!(version_of("vault-licet-v12"), 12);
        assert_eq!(version_of("vault-my-v2-key-v3"), 3);
    }
}
