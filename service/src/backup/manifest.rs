//! `manifest.json`: what a backup holds, and the checks a restore makes on it.

use std::io::Read as _;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::MANIFEST;
use crate::db::{Backend, migrate};

/// The manifest format this binary writes and reads.
pub const FORMAT: u32 = 1;

/// What the database held at the instant of the backup, read from the copy itself (SQLite) or
/// from the snapshot `pg_dump` used (PostgreSQL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The newest applied migration.
    pub schema_version: Option<String>,
    /// Every applied migration, oldest first.
    pub migrations: Vec<String>,
    /// The most recently activated policy version.
    pub policy_version: Option<String>,
    pub restore_epoch: i64,
    pub audit_events: i64,
    /// The hash of the newest audit event (64 zeros when there is none).
    pub audit_head: String,
    pub decision_log_entries: i64,
}

/// The contents of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    pub licet_version: String,
    /// The data file's name inside the backup directory.
    pub data_file: String,
    /// SHA-256 of the data file, hex.
    pub sha256: String,
    pub bytes: u64,
    #[serde(flatten)]
    pub state: State,
}

impl Manifest {
    /// Describes the data file `data_file` written into `dir`.
    pub(crate) fn new(
        backend: Backend,
        dir: &Path,
        data_file: &str,
        state: State,
    ) -> anyhow::Result<Self> {
        let path = dir.join(data_file);
        Ok(Self {
            format: FORMAT,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            backend: backend.name().to_string(),
            licet_version: env!("CARGO_PKG_VERSION").to_string(),
            data_file: data_file.to_string(),
            sha256: sha256_of(&path)?,
            bytes: std::fs::metadata(&path)?.len(),
            state,
        })
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Reads `manifest.json` from the backup directory `dir`.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read `{}`; `--from` must name a directory written by `licet backup`",
                path.display()
            )
        })?;
        let manifest: Self = serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not a licet backup manifest", path.display()))?;
        if manifest.format != FORMAT {
            anyhow::bail!(
                "`{}` has manifest format {}, this licet reads format {FORMAT}; use the licet version that wrote it",
                path.display(),
                manifest.format
            );
        }
        Ok(manifest)
    }

    /// Refuses a backup of another backend, one made with migrations this binary does not
    /// know (a newer schema), or one whose data file does not match its checksum.
    pub fn check(&self, backend: Backend, dir: &Path) -> anyhow::Result<()> {
        if self.backend != backend.name() {
            anyhow::bail!(
                "the backup is of a `{}` database and `database.url` names a `{}` one; restore it into a database of its kind",
                self.backend,
                backend.name()
            );
        }
        let known = migrate::all(backend).map_err(|e| anyhow::anyhow!("{e}"))?;
        let unknown: Vec<&str> = self
            .state
            .migrations
            .iter()
            .filter(|m| !known.contains(m))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            anyhow::bail!(
                "the backup has a newer schema than this licet knows (unknown migrations: `{}`); restore it with licet {} or later",
                unknown.join("`, `"),
                self.licet_version
            );
        }
        let data = dir.join(&self.data_file);
        if self.data_file.contains(['/', '\\']) || !data.is_file() {
            anyhow::bail!("the backup's data file `{}` is missing", data.display());
        }
        let actual = sha256_of(&data)?;
        if actual != self.sha256 {
            anyhow::bail!(
                "the backup's data file `{}` is damaged: its SHA-256 is {actual}, the manifest says {}; use another backup",
                data.display(),
                self.sha256
            );
        }
        Ok(())
    }
}

/// SHA-256 of a file's bytes, hex.
pub(crate) fn sha256_of(path: &Path) -> anyhow::Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}
