//! The local signer: an RSA key in a PKCS#8 PEM file in the data directory, created on first
//! start with file mode 0600. A key file readable by group or others is refused.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::sha2::Sha256;
use sha2::Digest;

use super::{Jwk, SignError};

/// Signs with a private key held in this process.
pub struct LocalSigner {
    key: Arc<rsa::PrivateKey>,
    public: rsa::PublicKey,
    kid: String,
}

impl LocalSigner {
    /// Loads the key at `path`, creating a `bits`-bit key there when the file does not exist.
    pub fn load_or_create(path: &Path, bits: usize) -> Result<Self, SignError> {
        let key = if path.exists() {
            check_mode(path)?;
            let pem = std::fs::read_to_string(path)
                .map_err(|e| SignError::Key(format!("cannot read `{}`: {e}", path.display())))?;
            rsa::PrivateKey::from_pkcs8_pem(&pem).map_err(|e| {
                SignError::Key(format!(
                    "`{}` is not an unencrypted PKCS#8 RSA key: {e}",
                    path.display()
                ))
            })?
        } else {
            let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits)
                .map_err(|e| SignError::Key(format!("cannot generate a key: {e}")))?;
            write_new_key(path, &key)?;
            tracing::info!(path = %path.display(), bits, "created a new local signing key");
            key
        };
        let public = key.to_public_key();
        let kid = key_id(&public)?;
        Ok(Self {
            key: Arc::new(key),
            public,
            kid,
        })
    }

    /// `local-` and the first 16 hex digits of the SHA-256 of the public key (SPKI DER).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn jwk(&self) -> Jwk {
        Jwk::rsa(&self.kid, &self.public)
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `input`, on the blocking pool (an RSA signature
    /// costs about a millisecond of CPU).
    pub async fn sign(&self, input: Vec<u8>) -> Result<Vec<u8>, SignError> {
        let key = Arc::clone(&self.key);
        actix_web::rt::task::spawn_blocking(move || key.pkcs1v15_sign::<Sha256>(&input))
            .await
            .map_err(|e| SignError::Failed(e.to_string()))?
            .map_err(|e| SignError::Failed(e.to_string()))
    }
}

fn key_id(public: &rsa::PublicKey) -> Result<String, SignError> {
    let der = public
        .to_public_key_der()
        .map_err(|e| SignError::Key(e.to_string()))?;
    let digest = sha2::Sha256::digest(der.as_bytes());
    Ok(format!("local-{}", &hex::encode(digest)[..16]))
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

fn write_new_key(path: &Path, key: &rsa::PrivateKey) -> Result<(), SignError> {
    let fail = |e: &dyn std::fmt::Display| {
        SignError::Key(format!("cannot write `{}`: {e}", path.display()))
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| fail(&e))?;
    }
    let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| fail(&e))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| fail(&e))?;
    file.write_all(pem.as_bytes()).map_err(|e| fail(&e))?;
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
}
