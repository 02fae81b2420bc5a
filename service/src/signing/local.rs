//! The local signer: RSA keys in PKCS#8 PEM files, created with file mode 0600; a key file
//! readable by group or others is refused.
//!
//! The active key is `signing.key_file` (by default `<data_dir>/signing-key.pem`). A rotation
//! keeps the previous key beside it as `<stem>.<kid>.pem`, whose modification time records
//! when it stopped signing; the JWKS publishes the active key and every previous one until it
//! is retired (deleted). Keys may be encrypted (PKCS#8 PBES2 with scrypt and AES-256) with a
//! passphrase from the environment or a file.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::sha2::Sha256;
use sha2::Digest;

use super::{Jwk, Jwks, KeyRing, SignError};
use crate::config::SigningConfig;

/// A passphrase for encrypted key files. Its `Debug` says nothing.
#[derive(Clone)]
pub struct Passphrase(String);

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(..)")
    }
}

impl Passphrase {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

/// The passphrase the configuration points at, if any.
pub fn passphrase(config: &SigningConfig) -> Result<Option<Passphrase>, SignError> {
    if let Some(var) = &config.key_passphrase_env {
        return match std::env::var(var) {
            Ok(text) if !text.is_empty() => Ok(Some(Passphrase(text))),
            _ => Err(SignError::Key(format!(
                "the environment variable `{var}` (`signing.key_passphrase_env`) is not set"
            ))),
        };
    }
    if let Some(path) = &config.key_passphrase_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            SignError::Key(format!(
                "cannot read the passphrase file `{}` (`signing.key_passphrase_file`): {e}",
                path.display()
            ))
        })?;
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            return Err(SignError::Key(format!(
                "the passphrase file `{}` is empty",
                path.display()
            )));
        }
        return Ok(Some(Passphrase(text.to_string())));
    }
    Ok(None)
}

/// One private key and its id.
pub struct ActiveKey {
    pub kid: String,
    key: Arc<rsa::PrivateKey>,
}

impl ActiveKey {
    /// RSASSA-PKCS1-v1_5 with SHA-256 over `input`, on the blocking pool (an RSA signature
    /// costs a few milliseconds of CPU).
    pub async fn sign(&self, input: Vec<u8>) -> Result<Vec<u8>, SignError> {
        let key = Arc::clone(&self.key);
        actix_web::rt::task::spawn_blocking(move || key.pkcs1v15_sign::<Sha256>(&input))
            .await
            .map_err(|e| SignError::Failed(e.to_string()))?
            .map_err(|e| SignError::Failed(e.to_string()))
    }
}

struct Inner {
    path: PathBuf,
    passphrase: Option<Passphrase>,
    active: ArcSwap<ActiveKey>,
    ring: ArcSwap<KeyRing>,
    /// The PEM text of the active key as last loaded, to notice a rotation.
    active_pem: Mutex<String>,
    /// Public keys of previous key files, by path and PEM text, so each is decrypted once.
    previous: Mutex<HashMap<PathBuf, (String, Jwk)>>,
}

/// Signs with private keys held in this process.
#[derive(Clone)]
pub struct LocalSigner {
    inner: Arc<Inner>,
}

/// A previous local key, as `licet keys list` shows it.
#[derive(Debug)]
pub struct PreviousKey {
    pub kid: String,
    pub path: PathBuf,
    /// When it stopped being the active key.
    pub replaced_at: SystemTime,
}

impl LocalSigner {
    /// Loads the unencrypted key at `path`, creating a `bits`-bit key there when the file does
    /// not exist.
    pub fn load_or_create(path: &Path, bits: usize) -> Result<Self, SignError> {
        Self::open(path, bits, None)
    }

    /// Loads the key at `path` (decrypting it with `passphrase` when given), creating a
    /// `bits`-bit key there when the file does not exist, and the previous keys beside it.
    pub fn open(
        path: &Path,
        bits: usize,
        passphrase: Option<Passphrase>,
    ) -> Result<Self, SignError> {
        if !path.exists() {
            let key = generate(bits)?;
            write_new_key(path, &key, passphrase.as_ref())?;
            tracing::info!(path = %path.display(), bits, "created a new local signing key");
        }
        let (pem, key) = read_key(path, passphrase.as_ref())?;
        let active = active_key(key)?;
        let ring = KeyRing {
            active: active.kid.clone(),
            jwks: Jwks { keys: vec![] },
        };
        let signer = Self {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                passphrase,
                active: ArcSwap::from_pointee(active),
                ring: ArcSwap::from_pointee(ring),
                active_pem: Mutex::new(pem),
                previous: Mutex::new(HashMap::new()),
            }),
        };
        signer.refresh()?;
        Ok(signer)
    }

    pub(super) fn downgrade(&self) -> WeakLocal {
        WeakLocal(Arc::downgrade(&self.inner))
    }

    /// `local-` and the first 16 hex digits of the SHA-256 of the active public key.
    pub fn kid(&self) -> String {
        self.inner.active.load().kid.clone()
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> Arc<ActiveKey> {
        self.inner.active.load_full()
    }

    pub fn ring(&self) -> Arc<KeyRing> {
        self.inner.ring.load_full()
    }

    /// Reads the key files again: a new active key (after `licet keys rotate`) starts signing,
    /// and the JWKS lists the active key and every previous key file still present.
    pub fn refresh(&self) -> Result<(), SignError> {
        let inner = &self.inner;
        let pem = std::fs::read_to_string(&inner.path)
            .map_err(|e| SignError::Key(format!("cannot read `{}`: {e}", inner.path.display())))?;
        let changed = *lock(&inner.active_pem) != pem;
        if changed {
            let (pem, key) = read_key(&inner.path, inner.passphrase.as_ref())?;
            let active = active_key(key)?;
            tracing::info!(kid = %active.kid, "local signing key changed");
            inner.active.store(Arc::new(active));
            *lock(&inner.active_pem) = pem;
        }
        let active = inner.active.load();
        let mut keys = vec![Jwk::rsa(&active.kid, &active.key.to_public_key())];
        let mut cache = lock(&inner.previous);
        let found = previous_keys(&inner.path)?;
        cache.retain(|path, _| found.iter().any(|p| &p.path == path));
        for previous in found {
            let text = std::fs::read_to_string(&previous.path).map_err(|e| {
                SignError::Key(format!("cannot read `{}`: {e}", previous.path.display()))
            })?;
            let cached = cache.get(&previous.path).filter(|(t, _)| *t == text);
            let jwk = match cached {
                Some((_, jwk)) => jwk.clone(),
                None => {
                    let (_, key) = read_key(&previous.path, inner.passphrase.as_ref())?;
                    let public = key.to_public_key();
                    let jwk = Jwk::rsa(&key_id(&public)?, &public);
                    cache.insert(previous.path.clone(), (text, jwk.clone()));
                    jwk
                }
            };
            if keys.iter().all(|k| k.kid != jwk.kid) {
                keys.push(jwk);
            }
        }
        inner.ring.store(Arc::new(KeyRing {
            active: active.kid.clone(),
            jwks: Jwks { keys },
        }));
        Ok(())
    }
}

/// A handle that does not keep the signer alive, for its refresh task.
pub(super) struct WeakLocal(Weak<Inner>);

impl WeakLocal {
    pub(super) fn upgrade(&self) -> Option<LocalSigner> {
        self.0.upgrade().map(|inner| LocalSigner { inner })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn generate(bits: usize) -> Result<rsa::PrivateKey, SignError> {
    rsa::PrivateKey::new(&mut getrandom::SysRng, bits)
        .map_err(|e| SignError::Key(format!("cannot generate a key: {e}")))
}

fn active_key(key: rsa::PrivateKey) -> Result<ActiveKey, SignError> {
    Ok(ActiveKey {
        kid: key_id(&key.to_public_key())?,
        key: Arc::new(key),
    })
}

/// Reads and decodes a key file, refusing one readable by others.
fn read_key(
    path: &Path,
    passphrase: Option<&Passphrase>,
) -> Result<(String, rsa::PrivateKey), SignError> {
    check_mode(path)?;
    let pem = std::fs::read_to_string(path)
        .map_err(|e| SignError::Key(format!("cannot read `{}`: {e}", path.display())))?;
    let encrypted = pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----");
    let key = match (encrypted, passphrase) {
        (true, Some(passphrase)) => rsa::PrivateKey::from_pkcs8_encrypted_pem(&pem, &passphrase.0)
            .map_err(|_| {
                SignError::Key(format!(
                    "cannot decrypt `{}`: wrong passphrase, or not an encrypted PKCS#8 RSA key",
                    path.display()
                ))
            })?,
        (true, None) => {
            return Err(SignError::Key(format!(
                "`{}` is encrypted; set `signing.key_passphrase_env` or `signing.key_passphrase_file`",
                path.display()
            )));
        }
        (false, _) => rsa::PrivateKey::from_pkcs8_pem(&pem).map_err(|e| {
            SignError::Key(format!(
                "`{}` is not a PKCS#8 RSA private key: {e}",
                path.display()
            ))
        })?,
    };
    Ok((pem, key))
}

/// `local-` and 16 hex digits of the SHA-256 of the public key (SPKI DER).
pub fn key_id(public: &rsa::PublicKey) -> Result<String, SignError> {
    let der = public
        .to_public_key_der()
        .map_err(|e| SignError::Key(e.to_string()))?;
    let digest = sha2::Sha256::digest(der.as_bytes());
    Ok(format!("local-{}", &hex::encode(digest)[..16]))
}

/// The file a previous key with `kid` lives in, beside the active key file.
pub fn previous_path(active: &Path, kid: &str) -> PathBuf {
    let stem = active
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "signing-key".into());
    active.with_file_name(format!("{stem}.{kid}.pem"))
}

/// The previous key files beside `active`, oldest first.
pub fn previous_keys(active: &Path) -> Result<Vec<PreviousKey>, SignError> {
    let dir = match active.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let stem = active
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!("{stem}.local-");
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| SignError::Key(format!("cannot list `{}`: {e}", dir.display())))?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(kid) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".pem"))
        else {
            continue;
        };
        if kid.len() != 16 || !kid.chars().all(|c| c.is_ascii_hexdigit()) {
            continue;
        }
        let replaced_at = entry
            .metadata()
            .and_then(|m| m.modified())
            .map_err(|e| SignError::Key(format!("cannot read `{name}`: {e}")))?;
        found.push(PreviousKey {
            kid: format!("local-{kid}"),
            path: entry.path(),
            replaced_at,
        });
    }
    found.sort_by_key(|k| k.replaced_at);
    Ok(found)
}

/// Makes a new active key: the current one is copied to its previous-key file (whose
/// modification time, now, records when it stopped signing), then a new key replaces the
/// active file in one rename. Returns the old and the new `kid`.
pub fn rotate(
    path: &Path,
    bits: usize,
    passphrase: Option<&Passphrase>,
) -> Result<(String, String), SignError> {
    let (pem, key) = read_key(path, passphrase)?;
    let old = key_id(&key.to_public_key())?;
    let previous = previous_path(path, &old);
    if !previous.exists() {
        write_file(&previous, pem.as_bytes())?;
    }
    let new_key = generate(bits)?;
    let new = key_id(&new_key.to_public_key())?;
    let staging = path.with_extension("pem.new");
    let _ = std::fs::remove_file(&staging);
    write_new_key(&staging, &new_key, passphrase)?;
    std::fs::rename(&staging, path).map_err(|e| {
        SignError::Key(format!(
            "cannot replace `{}`: {e}; the new key is in `{}`",
            path.display(),
            staging.display()
        ))
    })?;
    Ok((old, new))
}

#[cfg(unix)]
fn check_mode(path: &Path) -> Result<(), SignError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| SignError::Key(format!("cannot read `{}`: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(SignError::Key(format!(
            "`{}` is readable by other users (mode {:o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_path: &Path) -> Result<(), SignError> {
    Ok(())
}

fn write_new_key(
    path: &Path,
    key: &rsa::PrivateKey,
    passphrase: Option<&Passphrase>,
) -> Result<(), SignError> {
    let fail = |e: &dyn std::fmt::Display| {
        SignError::Key(format!("cannot write `{}`: {e}", path.display()))
    };
    let pem = match passphrase {
        Some(passphrase) => key.to_pkcs8_encrypted_pem(&passphrase.0, LineEnding::LF),
        None => key.to_pkcs8_pem(LineEnding::LF),
    }
    .map_err(|e| fail(&e))?;
    write_file(path, pem.as_bytes())
}

/// Creates `path` (and its folder) with mode 0600 and writes `bytes` to it.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), SignError> {
    let fail = |e: &dyn std::fmt::Display| {
        SignError::Key(format!("cannot write `{}`: {e}", path.display()))
    };
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| fail(&e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| fail(&e))?;
    file.write_all(bytes).map_err(|e| fail(&e))?;
    file.sync_all().map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_with_mode_0600_and_reloaded_with_the_same_kid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("signing-key.pem");
        let first = LocalSigner::load_or_create(&path, 2048).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let again = LocalSigner::load_or_create(&path, 2048).unwrap();
        assert_eq!(first.kid(), again.kid());
        assert!(first.kid().starts_with("local-") && first.kid().len() == 22);
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = LocalSigner::load_or_create(&path, 2048)
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("readable by other users (mode 644)"), "{err}");
        }
    }

    #[test]
    fn encrypted_key_opens_with_the_right_passphrase_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing-key.pem");
        let right = Passphrase::new("correct horse battery staple");
        let created = LocalSigner::open(&path, 2048, Some(right.clone())).unwrap();
        let pem = std::fs::read_to_string(&path).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));

        let reopened = LocalSigner::open(&path, 2048, Some(right)).unwrap();
        assert_eq!(reopened.kid(), created.kid());

        let err = LocalSigner::open(&path, 2048, Some(Passphrase::new("wrong")))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            format!(
                "signing key problem: cannot decrypt `{}`: wrong passphrase, or not an encrypted PKCS#8 RSA key",
                path.display()
            )
        );
        let err = LocalSigner::open(&path, 2048, None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("is encrypted; set `signing.key_passphrase_env`"),
            "{err}"
        );
    }

    #[test]
    fn rotation_switches_the_active_key_and_keeps_the_old_one_in_the_jwks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing-key.pem");
        let signer = LocalSigner::open(&path, 2048, None).unwrap();
        let before = signer.kid();
        assert_eq!(signer.ring().jwks.keys.len(), 1);

        let (old, new) = rotate(&path, 2048, None).unwrap();
        assert_eq!(old, before);
        assert_ne!(new, old);
        signer.refresh().unwrap();
        assert_eq!(signer.kid(), new);
        let kids: Vec<String> = signer
            .ring()
            .jwks
            .keys
            .iter()
            .map(|k| k.kid.clone())
            .collect();
        assert_eq!(kids, vec![new.clone(), old.clone()]);

        let previous = previous_keys(&path).unwrap();
        assert_eq!(previous.len(), 1);
        assert_eq!(previous[0].kid, old);
        assert_eq!(previous[0].path, previous_path(&path, &old));
    }
}
