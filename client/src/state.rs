//! The client's state directory: the clock high-water mark, the pending
//! offline activation request and the installed licence file.
//!
//! | file | holds |
//! | --- | --- |
//! | `clock.json` | `{"v":1,"high_water":UNIX}`: the latest time seen |
//! | `pending-request.json` | nonce, fingerprint, name and time of the last activation request |
//! | `license.lic` | the installed licence file (online or offline), armoured |
//!
//! Files are written atomically (a temporary file in the directory, then a
//! rename) with mode 0600; the directory is created with mode 0700. A missing
//! file means a first run; an unreadable or corrupt one is an error, never a
//! silent reset, since resetting the high-water mark would re-open the clock
//! rollback it guards against.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::activation::ActivationRequest;
use crate::armor::{ArmorKind, armor, read_armored_or_bare};
use crate::error::LicenseError;
use crate::keys::TrustedKeys;
use crate::license::{
    LicenseCheck, LicenseClaims, LicenseMode, check_fingerprint, check_not_before_issue,
    verify_license,
};
use crate::revocation::{RevocationList, verify_revocations};

/// File holding the clock high-water mark.
pub const CLOCK_FILE: &str = "clock.json";
/// File holding the pending activation request.
pub const PENDING_REQUEST_FILE: &str = "pending-request.json";
/// File holding the installed licence file.
pub const LICENSE_FILE: &str = "license.lic";

/// Format version of the JSON state files.
const STATE_VERSION: u32 = 1;

/// Why the state directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The directory could not be created or is not a directory.
    #[error("cannot use state directory `{}`: {source}", path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A state file exists but could not be read.
    #[error("cannot read state file `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A state file could not be written or removed.
    #[error("cannot write state file `{}`: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A state file holds something this client cannot read.
    #[error("state file `{}` is corrupt: {reason}; restore it from a backup, or remove it only if the system clock is known to be right", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// `install` found no pending activation request.
    #[error("no pending activation request in `{}`; make one with `licet-client request` first", path.display())]
    NoPendingRequest {
        /// The state directory.
        path: PathBuf,
    },
}

/// A failed check through a [`StateDir`]: the file was refused, or the state
/// could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The licence file, revocation list or response was refused.
    #[error(transparent)]
    License(#[from] LicenseError),
    /// The state directory could not be used.
    #[error(transparent)]
    State(#[from] StateError),
}

/// What the state directory remembers of an activation request: enough to
/// check the answer, not the licence key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequest {
    /// Format version.
    pub v: u32,
    /// The request's nonce, which the answer must carry.
    pub nonce: String,
    /// The fingerprint the request was made for.
    pub fingerprint: String,
    /// The machine name sent.
    pub name: String,
    /// When the request was made.
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ClockState {
    v: u32,
    high_water: i64,
}

/// A state directory, created on [`open`](Self::open) if missing.
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// Opens the directory at `path`, creating it (mode 0700, with missing
    /// parents) if it does not exist.
    ///
    /// # Errors
    ///
    /// [`StateError::Directory`] if it cannot be created or is not a
    /// directory.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StateError> {
        let path = path.as_ref().to_path_buf();
        let directory_error = |source| StateError::Directory {
            path: path.clone(),
            source,
        };
        if !path.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(&path).map_err(directory_error)?;
        }
        if !path.is_dir() {
            return Err(directory_error(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "not a directory",
            )));
        }
        Ok(Self { path })
    }

    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where an installed licence file is kept.
    #[must_use]
    pub fn license_path(&self) -> PathBuf {
        self.path.join(LICENSE_FILE)
    }

    /// The latest time seen, Unix seconds; `None` before the first check.
    ///
    /// # Errors
    ///
    /// [`StateError::Read`] or [`StateError::Corrupt`].
    pub fn high_water_mark(&self) -> Result<Option<i64>, StateError> {
        let state: Option<ClockState> = self.read_json(CLOCK_FILE)?;
        Ok(state.map(|state| state.high_water))
    }

    /// Raises the high-water mark to `seen` if it is later than the current
    /// one.
    ///
    /// LIMITATION: two processes raising the mark at the same moment may
    /// leave the smaller of their two values; both are times just seen, so
    /// the mark lags by at most the time between them.
    ///
    /// # Errors
    ///
    /// As [`high_water_mark`](Self::high_water_mark), or [`StateError::Write`].
    pub fn raise_high_water_mark(&self, seen: i64) -> Result<(), StateError> {
        if self
            .high_water_mark()?
            .is_some_and(|current| current >= seen)
        {
            return Ok(());
        }
        let state = ClockState {
            v: STATE_VERSION,
            high_water: seen,
        };
        self.write_json(CLOCK_FILE, &state)
    }

    /// Refuses `now` when it is more than
    /// [`CLOCK_TOLERANCE_SECONDS`](crate::CLOCK_TOLERANCE_SECONDS) behind the
    /// high-water mark.
    ///
    /// # Errors
    ///
    /// [`LicenseError::ClockRolledBack`], or a [`StateError`] reading the mark.
    pub fn check_clock(&self, now: i64) -> Result<(), CheckError> {
        if let Some(high_water) = self.high_water_mark()? {
            check_not_before_issue(now, high_water)?;
        }
        Ok(())
    }

    /// [`verify_license`] with the clock rule of this directory: refused when
    /// the clock is behind the high-water mark, which, on success, is raised
    /// to the later of `check.now` and the file's `iat`.
    ///
    /// # Errors
    ///
    /// As [`verify_license`] and [`check_clock`](Self::check_clock), or a
    /// [`StateError`] writing the mark.
    pub fn verify_license(
        &self,
        text: &str,
        keys: &TrustedKeys,
        check: &LicenseCheck<'_>,
    ) -> Result<LicenseClaims, CheckError> {
        self.check_clock(check.now)?;
        let claims = verify_license(text, keys, check)?;
        self.raise_high_water_mark(check.now.max(claims.iat))?;
        Ok(claims)
    }

    /// [`verify_revocations`] with the clock rule of this directory, as
    /// [`verify_license`](Self::verify_license).
    ///
    /// # Errors
    ///
    /// As [`verify_revocations`] and [`check_clock`](Self::check_clock), or a
    /// [`StateError`] writing the mark.
    pub fn verify_revocations(
        &self,
        text: &str,
        keys: &TrustedKeys,
        now: i64,
    ) -> Result<RevocationList, CheckError> {
        self.check_clock(now)?;
        let list = verify_revocations(text, keys, now)?;
        self.raise_high_water_mark(now.max(list.iat))?;
        Ok(list)
    }

    /// Records `request` as the pending activation request, replacing any
    /// earlier one: only the answer to the latest request can be installed.
    ///
    /// # Errors
    ///
    /// [`StateError::Write`].
    pub fn save_pending_request(&self, request: &ActivationRequest) -> Result<(), StateError> {
        let pending = PendingRequest {
            v: STATE_VERSION,
            nonce: request.nonce.clone(),
            fingerprint: request.fingerprint.clone(),
            name: request.name.clone(),
            created_at: request.created_at,
        };
        self.write_json(PENDING_REQUEST_FILE, &pending)
    }

    /// The pending activation request, if there is one.
    ///
    /// # Errors
    ///
    /// [`StateError::Read`] or [`StateError::Corrupt`].
    pub fn pending_request(&self) -> Result<Option<PendingRequest>, StateError> {
        self.read_json(PENDING_REQUEST_FILE)
    }

    /// Installs the server's answer to the pending activation request.
    ///
    /// Verifies `response` as a licence file at `now` (clock rule included),
    /// then checks that it is an offline file, that its nonce is the pending
    /// request's and that it is bound to the request's fingerprint. Then
    /// writes it armoured to [`LICENSE_FILE`], raises the high-water mark and
    /// removes the pending request. Returns the installed claims.
    ///
    /// # Errors
    ///
    /// [`StateError::NoPendingRequest`]; as
    /// [`verify_license`](Self::verify_license);
    /// [`LicenseError::WrongMode`], [`LicenseError::NonceMismatch`],
    /// [`LicenseError::FingerprintMismatch`]; or a [`StateError`] writing.
    pub fn install(
        &self,
        response: &str,
        keys: &TrustedKeys,
        now: i64,
    ) -> Result<LicenseClaims, CheckError> {
        let pending = self
            .pending_request()?
            .ok_or_else(|| StateError::NoPendingRequest {
                path: self.path.clone(),
            })?;
        self.check_clock(now)?;
        let claims = verify_license(response, keys, &LicenseCheck::at(now))?;
        check_answers(&claims, &pending)?;

        let token =
            read_armored_or_bare(ArmorKind::License, response).map_err(LicenseError::from)?;
        self.write_file(LICENSE_FILE, license_file_text(&claims, &token).as_bytes())?;
        self.raise_high_water_mark(now.max(claims.iat))?;
        self.remove_file(PENDING_REQUEST_FILE)?;
        Ok(claims)
    }

    /// Stores an online licence file the server just answered (to an
    /// activation or a refresh) as [`LICENSE_FILE`], replacing the one there.
    ///
    /// Verifies `license` at `now` with the clock rule of this directory and
    /// bound to `fingerprint`, checks that it is an online file, then writes
    /// it armoured and raises the high-water mark. On any refusal the file
    /// already installed is left as it was. Returns the stored claims.
    ///
    /// # Errors
    ///
    /// As [`verify_license`](Self::verify_license) with a fingerprint;
    /// [`LicenseError::WrongMode`] for an offline file; or a [`StateError`]
    /// writing.
    pub fn install_online(
        &self,
        license: &str,
        keys: &TrustedKeys,
        fingerprint: &str,
        now: i64,
    ) -> Result<LicenseClaims, CheckError> {
        self.check_clock(now)?;
        let check = LicenseCheck {
            fingerprint: Some(fingerprint),
            ..LicenseCheck::at(now)
        };
        let claims = verify_license(license, keys, &check)?;
        if claims.mode != LicenseMode::Online {
            return Err(LicenseError::WrongMode {
                expected: LicenseMode::Online,
                found: claims.mode,
            }
            .into());
        }

        let token =
            read_armored_or_bare(ArmorKind::License, license).map_err(LicenseError::from)?;
        self.write_file(LICENSE_FILE, license_file_text(&claims, &token).as_bytes())?;
        self.raise_high_water_mark(now.max(claims.iat))?;
        Ok(claims)
    }

    fn read_json<T: serde::de::DeserializeOwned + Versioned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, StateError> {
        let path = self.path.join(name);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let value: T = serde_json::from_slice(&bytes).map_err(|err| StateError::Corrupt {
            path: path.clone(),
            reason: err.to_string(),
        })?;
        if value.version() != STATE_VERSION {
            return Err(StateError::Corrupt {
                path,
                reason: format!(
                    "unsupported version {}; this client reads version {STATE_VERSION}",
                    value.version()
                ),
            });
        }
        Ok(Some(value))
    }

    fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StateError> {
        let json = serde_json::to_vec_pretty(value).map_err(|err| StateError::Write {
            path: self.path.join(name),
            source: std::io::Error::other(err),
        })?;
        self.write_file(name, &json)
    }

    /// Writes `name` atomically with mode 0600: a temporary file in the same
    /// directory, synced, then renamed over the old one.
    fn write_file(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        let path = self.path.join(name);
        let write_error = |source| StateError::Write {
            path: path.clone(),
            source,
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix(".licet-").suffix(".tmp");
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600));
        let mut file = builder.tempfile_in(&self.path).map_err(write_error)?;
        file.write_all(bytes).map_err(write_error)?;
        file.as_file().sync_all().map_err(write_error)?;
        file.persist(&path).map_err(|err| write_error(err.error))?;
        self.sync_directory().map_err(write_error)
    }

    fn remove_file(&self, name: &str) -> Result<(), StateError> {
        let path = self.path.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => self
                .sync_directory()
                .map_err(|source| StateError::Write { path, source }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Write { path, source }),
        }
    }

    /// Makes a rename or removal durable.
    fn sync_directory(&self) -> std::io::Result<()> {
        #[cfg(unix)]
        std::fs::File::open(&self.path)?.sync_all()?;
        Ok(())
    }
}

/// The state files carry a format version.
trait Versioned {
    fn version(&self) -> u32;
}

impl Versioned for ClockState {
    fn version(&self) -> u32 {
        self.v
    }
}

impl Versioned for PendingRequest {
    fn version(&self) -> u32 {
        self.v
    }
}

/// Checks that an offline licence file answers `pending`.
fn check_answers(claims: &LicenseClaims, pending: &PendingRequest) -> Result<(), LicenseError> {
    if claims.mode != LicenseMode::Offline {
        return Err(LicenseError::WrongMode {
            expected: LicenseMode::Offline,
            found: claims.mode,
        });
    }
    if claims.nonce.as_deref() != Some(pending.nonce.as_str()) {
        return Err(LicenseError::NonceMismatch {
            expected: pending.nonce.clone(),
            found: claims.nonce.clone(),
        });
    }
    check_fingerprint(claims, &pending.fingerprint)
}

/// The armoured licence file, with comment lines saying what it is.
fn license_file_text(claims: &LicenseClaims, token: &str) -> String {
    let expires = DateTime::from_timestamp(claims.exp, 0).map_or_else(
        || claims.exp.to_string(),
        |exp| exp.to_rfc3339_opts(SecondsFormat::Secs, true),
    );
    let comments = [
        format!(
            "licet licence for tenant `{}`, product `{}`, device `{}`",
            claims.tenant, claims.entitlement.product, claims.device
        ),
        format!("valid until {expires}"),
        String::new(),
    ];
    let comments: Vec<&str> = comments.iter().map(String::as_str).collect();
    armor(ArmorKind::License, token, &comments)
}

#[cfg(test)]
mod tests;
