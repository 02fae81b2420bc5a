//! Key management for `licet keys`: list the keys, rotate to a new one, retire an old one.
//!
//! A key may be retired only when nothing it signed can still be valid: it must have stopped
//! signing at least `signing.token_ttl_seconds` plus `signing.refresh_seconds` ago (the second
//! term covers replicas that had not yet read the rotation).

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

use super::SignError;
use super::local::{self, LocalSigner};
use super::vault::{self, Admin};
use crate::config::Config;

/// Why a key operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("`{0}` is not a key of this signer; `licet keys list` shows them")]
    Unknown(String),
    #[error("`{0}` is the active key; rotate first, then retire it once its tokens expired")]
    Active(String),
    #[error(
        "`{kid}` may still have signed valid tokens: it stopped signing at {since} and tokens live {ttl} s (plus {refresh} s for replicas to notice); retry after {after}"
    )]
    TooEarly {
        kid: String,
        since: String,
        ttl: u64,
        refresh: u64,
        after: String,
    },
    #[error("retire `{0}` first: versions are retired oldest first")]
    Older(String),
}

/// One key as listed.
#[derive(Debug)]
pub struct KeyListing {
    pub kid: String,
    /// `active`, `verifying` (still in the JWKS) or `retired`.
    pub state: &'static str,
    /// What is known of its dates.
    pub note: String,
}

/// Every key of the configured signer, the active one first.
pub async fn list(config: &Config) -> Result<Vec<KeyListing>, KeyError> {
    if config.signing.backend == "vault-transit" {
        let admin = Admin::connect(&config.signing.vault).await?;
        return Ok(admin
            .versions()
            .await?
            .into_iter()
            .map(|v| KeyListing {
                kid: v.kid,
                state: v.state,
                note: if v.created.is_empty() {
                    String::new()
                } else {
                    format!("created {}", v.created)
                },
            })
            .collect());
    }
    let signer = open_local(config)?;
    let mut keys = vec![KeyListing {
        kid: signer.kid(),
        state: "active",
        note: format!("file {}", config.key_file().display()),
    }];
    for previous in local::previous_keys(&config.key_file())?.into_iter().rev() {
        keys.push(KeyListing {
            kid: previous.kid,
            state: "verifying",
            note: format!("replaced {}", rfc3339(previous.replaced_at)),
        });
    }
    Ok(keys)
}

/// Makes a new active key and returns its `kid`. Running servers start using it within
/// `signing.refresh_seconds`.
pub async fn rotate(config: &Config) -> Result<(String, String), KeyError> {
    if config.signing.backend == "vault-transit" {
        let admin = Admin::connect(&config.signing.vault).await?;
        let new = admin.rotate().await?;
        let key = &config.signing.vault.key;
        return Ok((vault::kid(key, new.saturating_sub(1)), vault::kid(key, new)));
    }
    let passphrase = local::passphrase(&config.signing)?;
    let path = config.key_file();
    if !path.exists() {
        open_local(config)?;
    }
    Ok(local::rotate(
        &path,
        config.signing.key_bits,
        passphrase.as_ref(),
    )?)
}

/// Removes `kid` from the JWKS for good, when nothing it signed can still be valid.
pub async fn retire(config: &Config, kid: &str, now: SystemTime) -> Result<(), KeyError> {
    if config.signing.backend == "vault-transit" {
        let admin = Admin::connect(&config.signing.vault).await?;
        let versions = admin.versions().await?;
        let Some(target) = versions.iter().find(|v| v.kid == kid) else {
            return Err(KeyError::Unknown(kid.into()));
        };
        if target.state == "active" {
            return Err(KeyError::Active(kid.into()));
        }
        if target.state == "retired" {
            return Ok(());
        }
        if let Some(older) = versions
            .iter()
            .filter(|v| v.version < target.version && v.state == "verifying")
            .min_by_key(|v| v.version)
        {
            return Err(KeyError::Older(older.kid.clone()));
        }
        let successor = versions
            .iter()
            .find(|v| v.version == target.version + 1)
            .ok_or_else(|| KeyError::Unknown(kid.into()))?;
        let replaced = DateTime::parse_from_rfc3339(&successor.created)
            .map(SystemTime::from)
            .map_err(|e| SignError::Failed(format!("unreadable creation time: {e}")))?;
        check_age(config, kid, replaced, now)?;
        admin.retire(target.version).await?;
        return Ok(());
    }
    let signer = open_local(config)?;
    if signer.kid() == kid {
        return Err(KeyError::Active(kid.into()));
    }
    let previous = local::previous_keys(&config.key_file())?;
    let Some(target) = previous.into_iter().find(|k| k.kid == kid) else {
        return Err(KeyError::Unknown(kid.into()));
    };
    check_age(config, kid, target.replaced_at, now)?;
    std::fs::remove_file(&target.path)
        .map_err(|e| SignError::Key(format!("cannot remove `{}`: {e}", target.path.display())))?;
    Ok(())
}

fn open_local(config: &Config) -> Result<LocalSigner, SignError> {
    LocalSigner::open(
        &config.key_file(),
        config.signing.key_bits,
        local::passphrase(&config.signing)?,
    )
}

fn check_age(
    config: &Config,
    kid: &str,
    replaced: SystemTime,
    now: SystemTime,
) -> Result<(), KeyError> {
    let ttl = config.signing.token_ttl_seconds;
    let refresh = config.signing.refresh_seconds;
    let after = replaced + Duration::from_secs(ttl + refresh);
    if now < after {
        return Err(KeyError::TooEarly {
            kid: kid.into(),
            since: rfc3339(replaced),
            ttl,
            refresh,
            after: rfc3339(after),
        });
    }
    Ok(())
}

fn rfc3339(time: SystemTime) -> String {
    DateTime::<Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &tempfile::TempDir) -> Config {
        let mut config = Config::default();
        config.server.data_dir = dir.path().to_path_buf();
        config.signing.token_ttl_seconds = 300;
        config.signing.refresh_seconds = 30;
        config
    }

    #[actix_web::test]
    async fn retiring_waits_until_the_tokens_of_a_key_expired() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(&dir);
        let (old, new) = rotate(&config).await.unwrap();

        let err = retire(&config, &new, SystemTime::now()).await.unwrap_err();
        assert!(matches!(err, KeyError::Active(ref k) if *k == new), "{err}");

        let err = retire(&config, &old, SystemTime::now()).await.unwrap_err();
        assert!(matches!(err, KeyError::TooEarly { .. }), "{err}");
        assert!(
            err.to_string().contains("tokens live 300 s (plus 30 s"),
            "{err}"
        );

        let later = SystemTime::now() + Duration::from_secs(331);
        retire(&config, &old, later).await.unwrap();
        let kids: Vec<String> = list(&config)
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.kid)
            .collect();
        assert_eq!(kids, vec![new]);

        let err = retire(&config, "local-0000000000000000", later)
            .await
            .unwrap_err();
        assert!(matches!(err, KeyError::Unknown(_)), "{err}");
    }
}
