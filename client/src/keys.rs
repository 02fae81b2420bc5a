//! The keys a licence file or revocation list may be signed with: the server's
//! JWKS, or one public key pinned by the application.
//!
//! A JWKS follows key rotation by itself (refresh it on
//! [`VerifyError::UnknownKey`](crate::VerifyError::UnknownKey)). A pinned key
//! suits software that ships with the server's public key built in and never
//! fetches anything; it must be replaced when the server's key rotates.

use std::path::Path;

use pkcs8::DecodePublicKey as _;
use rsa::PublicKey;
use serde_json::Value;

use crate::error::{PinnedKeyError, VerifyError};
use crate::jwks::Jwks;
use crate::jws::{Header, verify_jws_with};

/// Where verification keys come from.
#[derive(Debug, Clone)]
pub enum TrustedKeys {
    /// The server's key set; the token's `kid` chooses the key.
    Jwks(Jwks),
    /// One RSA public key; the token's `kid` is not consulted.
    Pinned(PublicKey),
}

impl TrustedKeys {
    /// Parses a PEM `PUBLIC KEY` block (SubjectPublicKeyInfo) holding an RSA
    /// key, as written by `openssl rsa -pubout`.
    ///
    /// # Errors
    ///
    /// [`PinnedKeyError::Invalid`] if the text is not such a block.
    pub fn pinned_from_pem(pem: &str) -> Result<Self, PinnedKeyError> {
        PublicKey::from_public_key_pem(pem.trim())
            .map(Self::Pinned)
            .map_err(|err| PinnedKeyError::Invalid {
                path: None,
                reason: err.to_string(),
            })
    }

    /// Reads a PEM public key file; see [`TrustedKeys::pinned_from_pem`].
    ///
    /// # Errors
    ///
    /// [`PinnedKeyError::Read`] if the file cannot be read,
    /// [`PinnedKeyError::Invalid`] (naming the file) if it holds no RSA
    /// public key.
    pub fn pinned_from_pem_file(path: impl AsRef<Path>) -> Result<Self, PinnedKeyError> {
        let path = path.as_ref();
        let pem = std::fs::read_to_string(path).map_err(|source| PinnedKeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::pinned_from_pem(&pem).map_err(|err| match err {
            PinnedKeyError::Invalid { reason, .. } => PinnedKeyError::Invalid {
                path: Some(path.to_path_buf()),
                reason,
            },
            other => other,
        })
    }

    /// Verifies a JWS compact token with these keys, as
    /// [`verify_jws`](crate::verify_jws) does with a JWKS.
    ///
    /// # Errors
    ///
    /// As [`verify_jws`](crate::verify_jws); a pinned key never reports
    /// [`VerifyError::UnknownKey`], a token signed by another key is a
    /// [`VerifyError::BadSignature`].
    pub fn verify_jws(&self, token: &str) -> Result<(Header, Value), VerifyError> {
        match self {
            Self::Jwks(jwks) => verify_jws_with(token, |kid| jwks.get(kid)),
            Self::Pinned(key) => verify_jws_with(token, |_| Some(key)),
        }
    }
}

impl From<Jwks> for TrustedKeys {
    fn from(jwks: Jwks) -> Self {
        Self::Jwks(jwks)
    }
}

impl From<PublicKey> for TrustedKeys {
    fn from(key: PublicKey) -> Self {
        Self::Pinned(key)
    }
}

#[cfg(test)]
mod tests {
    use pkcs8::{EncodePublicKey as _, LineEnding};
    use serde_json::json;

    use super::*;
    use crate::test_support::{jwks, sign_parts, sign_token, test_key};

    fn test_key_pem() -> String {
        test_key()
            .as_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    }

    #[test]
    fn pinned_key_verifies_whatever_the_kid() {
        let keys = TrustedKeys::pinned_from_pem(&test_key_pem()).unwrap();
        let claims = json!({"kind": "license", "iat": 1});
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": "not-in-any-jwks"});
        let (header, verified) = keys.verify_jws(&sign_parts(&header, &claims)).unwrap();
        assert_eq!(header.kid, "not-in-any-jwks");
        assert_eq!(verified, claims);
    }

    #[test]
    fn pinned_key_refuses_another_keys_signature() {
        let other = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
        let keys = TrustedKeys::from(other.as_public_key().clone());
        let token = sign_token(&json!({"kind": "license"}));
        assert_eq!(
            keys.verify_jws(&token).unwrap_err(),
            VerifyError::BadSignature
        );
    }

    #[test]
    fn jwks_keys_look_up_the_kid() {
        let keys = TrustedKeys::from(jwks());
        assert!(keys.verify_jws(&sign_token(&json!({}))).is_ok());
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": "other"});
        assert_eq!(
            keys.verify_jws(&sign_parts(&header, &json!({})))
                .unwrap_err(),
            VerifyError::UnknownKey("other".into())
        );
    }

    #[test]
    fn pem_files_are_read_and_bad_ones_named() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("key.pem");
        std::fs::write(&good, test_key_pem()).unwrap();
        assert!(matches!(
            TrustedKeys::pinned_from_pem_file(&good).unwrap(),
            TrustedKeys::Pinned(key) if &key == test_key().as_public_key()
        ));

        let bad = dir.path().join("bad.pem");
        std::fs::write(
            &bad,
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        let err = TrustedKeys::pinned_from_pem_file(&bad).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("invalid public key in `{}`: ", bad.display())),
            "{err}"
        );

        let missing = dir.path().join("missing.pem");
        assert!(matches!(
            TrustedKeys::pinned_from_pem_file(&missing).unwrap_err(),
            PinnedKeyError::Read { path, .. } if path == missing
        ));
    }
}
