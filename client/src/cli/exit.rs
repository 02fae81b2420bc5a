//! Failures of the `licet-client` commands and their exit codes.

use std::fmt;

use licet_client::{ArmorError, CheckError, LicenseError, OnlineError, StateError, VerifyError};

/// Exit codes of `verify`, shown in its `--help`.
pub const VERIFY_EXIT_CODES: &str = "\
Exit codes:
  0  token verified; claims printed on stdout
  2  usage error, unreadable token input, or JWKS that cannot be loaded
  3  malformed token or invalid claims
  4  bad signature, unknown key, or unsupported algorithm
  5  token expired
  6  nonce mismatch
 12  wrong kind of token: a licence file or revocation list, not a decision";

/// Every exit code, shown in the `--help` of the licence commands.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success: claims or list printed on stdout, request written, or licence installed
     (install, activate, refresh)
  2  usage error; unreadable input or output; keys (JWKS or PEM) that cannot be loaded;
     no machine fingerprint (pass --fingerprint); a server address that is not an
     http(s) URL
  3  malformed token, armour or claims
  4  bad signature, unknown key, or unsupported algorithm
  5  token expired (decision token or licence file)
  6  nonce mismatch (a decision, or an offline licence answering another request)
  7  licence check-in overdue: fetch a fresh licence file
  8  fingerprint mismatch: the licence belongs to another device
  9  licence revoked
 10  clock rolled back: the clock is more than 300 s behind a time already seen
 11  stale revocation list: fetch a fresh one
 12  wrong kind of token or file (a decision or a revocation list given as a licence,
     a licence file or revocation list given to verify, an online licence file given to
     install)
 13  revocation list for another tenant than the licence
 14  state directory unusable (unreadable, corrupt or not writable), or no pending
     activation request for install
 15  refused by the server (activate, refresh): its code, detail and reasons are printed,
     e.g. DEVICE_LIMIT_REACHED, or ACTIVATION_REFUSED with DEVICE_INACTIVE
 16  server unreachable (connection refused, timeout, proxy or gateway error), or an
     answer that is not from a licet server: check --server and the network";

/// A failure, classified for the exit code.
#[derive(Debug)]
pub enum Failure {
    /// Usage, I/O or clock problems (exit 2).
    Io(anyhow::Error),
    /// Keys, fingerprint or randomness could not be had, or the server
    /// address is not a URL (exit 2); the message already names the cause.
    Setup(Box<dyn std::error::Error>),
    /// A decision token did not verify (exit 3 to 6).
    Verify(VerifyError),
    /// A licence file, revocation list or offline response was refused (exit
    /// 3 to 13).
    License(LicenseError),
    /// The state directory could not be used (exit 14).
    State(StateError),
    /// The server refused an activation or refresh (exit 15).
    Refused(OnlineError),
    /// The server could not be reached or did not answer like licet (exit
    /// 16).
    Unreachable(OnlineError),
}

impl Failure {
    /// Wraps a setup error (keys, fingerprint) for exit code 2.
    pub fn setup(err: impl std::error::Error + 'static) -> Self {
        Self::Setup(Box::new(err))
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Io(_) | Self::Setup(_) => 2,
            Self::Verify(err) => verify_exit_code(err),
            Self::License(err) => license_exit_code(err),
            Self::State(_) => 14,
            Self::Refused(_) => 15,
            Self::Unreachable(_) => 16,
        }
    }
}

fn verify_exit_code(err: &VerifyError) -> u8 {
    match err {
        VerifyError::Malformed(_) | VerifyError::InvalidClaims(_) => 3,
        VerifyError::BadSignature
        | VerifyError::UnknownKey(_)
        | VerifyError::UnsupportedAlgorithm(_) => 4,
        VerifyError::Expired { .. } => 5,
        VerifyError::NonceMismatch { .. } => 6,
        VerifyError::WrongKind(_) => 12,
    }
}

fn license_exit_code(err: &LicenseError) -> u8 {
    match err {
        // Another kind of file in its armour is the wrong kind, as a bare token would be.
        LicenseError::Armor(ArmorError::WrongLabel { .. }) => 12,
        LicenseError::Armor(_) | LicenseError::InvalidClaims { .. } => 3,
        LicenseError::Token(err) => verify_exit_code(err),
        LicenseError::Expired { .. } => 5,
        LicenseError::NonceMismatch { .. } => 6,
        LicenseError::CheckinOverdue { .. } => 7,
        LicenseError::FingerprintMismatch { .. } => 8,
        LicenseError::Revoked(_) => 9,
        LicenseError::ClockRolledBack { .. } => 10,
        LicenseError::StaleRevocations { .. } => 11,
        LicenseError::WrongKind { .. } | LicenseError::WrongMode { .. } => 12,
        LicenseError::RevocationsForOtherTenant { .. } => 13,
    }
}

impl From<LicenseError> for Failure {
    fn from(err: LicenseError) -> Self {
        Self::License(err)
    }
}

impl From<StateError> for Failure {
    fn from(err: StateError) -> Self {
        Self::State(err)
    }
}

impl From<CheckError> for Failure {
    fn from(err: CheckError) -> Self {
        match err {
            CheckError::License(err) => Self::License(err),
            CheckError::State(err) => Self::State(err),
        }
    }
}

impl From<OnlineError> for Failure {
    fn from(err: OnlineError) -> Self {
        match err {
            OnlineError::License(err) => Self::License(err),
            OnlineError::State(err) => Self::State(err),
            OnlineError::InvalidServer { .. } => Self::setup(err),
            OnlineError::Refused { .. } => Self::Refused(err),
            OnlineError::Unreachable { .. } | OnlineError::BadAnswer { .. } => {
                Self::Unreachable(err)
            }
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(err) => write!(f, "{err:#}"),
            Self::Setup(err) => write!(f, "{err}"),
            Self::Verify(err) => write!(f, "{err}"),
            Self::License(err) => write!(f, "{err}"),
            Self::State(err) => write!(f, "{err}"),
            Self::Refused(err) | Self::Unreachable(err) => write!(f, "{err}"),
        }
    }
}
