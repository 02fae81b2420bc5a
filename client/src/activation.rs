//! Offline activation: the request a machine without network access writes
//! for an administrator to carry to the server, and this machine's default
//! fingerprint.
//!
//! The request is armoured base64url (no padding) of a small JSON document
//! (`-----BEGIN LICET ACTIVATION REQUEST-----`). The server answers it with an
//! offline licence file carrying the request's nonce, which
//! [`StateDir::install`](crate::StateDir::install) checks and stores. The
//! pending request itself is kept by [`StateDir`](crate::StateDir).

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::armor::{ArmorKind, armor, unarmor};
use crate::error::ArmorError;

/// The request format version this client writes and reads.
pub const REQUEST_VERSION: u32 = 1;

/// Where [`machine_fingerprint`] reads the machine id.
pub const MACHINE_ID_PATH: &str = "/etc/machine-id";

/// Random bytes in a request nonce.
const NONCE_BYTES: usize = 32;

/// The symbols of a licence key (letters without `I` and `O`, digits without `0` and `1`) and
/// how many a key has, as the server makes them.
const KEY_ALPHABET: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const KEY_SYMBOLS: usize = 25;

/// The longest fingerprint and machine name the server accepts.
const MAX_FINGERPRINT: usize = 256;
const MAX_NAME: usize = 200;

/// A licence key as the customer received it, e.g. `ABCDE-FGHJK-...`.
///
/// It is a secret: `Debug` shows only its first five characters.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LicenseKey(String);

impl LicenseKey {
    /// Wraps a licence key, trimming surrounding whitespace.
    #[must_use]
    pub fn new(key: &str) -> Self {
        Self(key.trim().to_owned())
    }

    /// The key itself.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the key can be one the server made: 25 symbols of its alphabet once case,
    /// spaces and dashes are set aside, as the server reads keys.
    #[must_use]
    pub fn is_well_formed(&self) -> bool {
        let symbols: Vec<char> = self
            .0
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        symbols.len() == KEY_SYMBOLS && symbols.iter().all(|c| KEY_ALPHABET.contains(*c))
    }
}

impl fmt::Debug for LicenseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.0.chars().take(5).collect();
        write!(f, "LicenseKey({shown}…)")
    }
}

/// Every rule of the server's that a new request breaks, in one message.
fn check_fields(key: &LicenseKey, fingerprint: &str, name: &str) -> Result<(), RequestError> {
    let mut problems = Vec::new();
    if !key.is_well_formed() {
        problems.push(format!(
            "the licence key must be {KEY_SYMBOLS} letters and digits without 0, 1, I and O \
             (case, spaces and dashes do not matter), like `K7MQ2-XWR4T-ABCDE-FGH23-456PQ`"
        ));
    }
    let printable = fingerprint.bytes().all(|b| b.is_ascii_graphic());
    if fingerprint.is_empty() || fingerprint.len() > MAX_FINGERPRINT || !printable {
        problems.push(format!(
            "the fingerprint must be 1 to {MAX_FINGERPRINT} printable ASCII characters without \
             spaces"
        ));
    }
    if name.trim().is_empty() || name.chars().count() > MAX_NAME {
        problems.push(format!("the name must be 1 to {MAX_NAME} characters"));
    } else if name.chars().any(char::is_control) {
        problems.push("the name must not hold control characters (line breaks, tabs)".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RequestError::Field(problems.join("; ")))
    }
}

/// Why an activation request could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The operating system's random number generator failed.
    #[error("cannot draw a random nonce: {0}")]
    Random(getrandom::Error),

    /// The armour is broken.
    #[error("malformed armour: {0}")]
    Armor(#[from] ArmorError),

    /// The body is not base64url of a version 1 request.
    #[error("invalid activation request: {0}")]
    Invalid(String),

    /// A field of a new request breaks a rule the server would refuse it for.
    #[error("cannot make an activation request: {0}")]
    Field(String),
}

/// An offline activation request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationRequest {
    /// Format version, [`REQUEST_VERSION`].
    pub v: u32,
    /// The licence key to activate.
    pub license_key: LicenseKey,
    /// Fingerprint of the machine to activate.
    pub fingerprint: String,
    /// 32 random bytes, base64url without padding; the answer must echo it.
    pub nonce: String,
    /// A name for the machine, shown to administrators (the host name by
    /// default).
    pub name: String,
    /// When the request was made, to the second.
    pub created_at: DateTime<Utc>,
}

impl ActivationRequest {
    /// A new request made now, with a fresh random nonce.
    ///
    /// The fields are checked against the server's rules first, so that a request the server
    /// would refuse is refused here, before anyone carries it to the administrator.
    ///
    /// # Errors
    ///
    /// [`RequestError::Field`] for a licence key that is not 25 symbols of the key alphabet, a
    /// fingerprint that is not 1 to 256 printable ASCII characters without spaces, or a name
    /// that is blank, longer than 200 characters or holds control characters;
    /// [`RequestError::Random`] if the system's random source fails.
    pub fn new(
        license_key: LicenseKey,
        fingerprint: &str,
        name: &str,
    ) -> Result<Self, RequestError> {
        check_fields(&license_key, fingerprint, name)?;
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(RequestError::Random)?;
        let now = Utc::now();
        let created_at = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        Ok(Self {
            v: REQUEST_VERSION,
            license_key,
            fingerprint: fingerprint.to_owned(),
            nonce: URL_SAFE_NO_PAD.encode(nonce),
            name: name.to_owned(),
            created_at,
        })
    }

    /// The armoured text to hand to the server's administrator, with comment
    /// lines naming the machine.
    #[must_use]
    pub fn to_armored(&self) -> String {
        #[expect(
            clippy::expect_used,
            reason = "a struct of strings, integers and a date always serializes"
        )]
        let json = serde_json::to_vec(self).expect("activation request serializes");
        let comments = [
            format!("licet offline activation request for `{}`", self.name),
            format!(
                "created {}; send this file to your licence administrator",
                self.created_at.format("%Y-%m-%dT%H:%M:%SZ")
            ),
            String::new(),
        ];
        let comments: Vec<&str> = comments.iter().map(String::as_str).collect();
        armor(
            ArmorKind::ActivationRequest,
            &URL_SAFE_NO_PAD.encode(json),
            &comments,
        )
    }

    /// Reads an armoured request.
    ///
    /// # Errors
    ///
    /// [`RequestError::Armor`] for broken (or missing) armour,
    /// [`RequestError::Invalid`] when the body is not a version 1 request.
    pub fn from_armored(text: &str) -> Result<Self, RequestError> {
        let body = unarmor(ArmorKind::ActivationRequest, text)?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|err| RequestError::Invalid(format!("body is not base64url: {err}")))?;
        let request: Self =
            serde_json::from_slice(&json).map_err(|err| RequestError::Invalid(err.to_string()))?;
        if request.v != REQUEST_VERSION {
            return Err(RequestError::Invalid(format!(
                "unsupported version {}; this client reads version {REQUEST_VERSION}",
                request.v
            )));
        }
        Ok(request)
    }
}

/// Why the machine fingerprint could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    /// The machine id file could not be read.
    #[error("cannot read the machine id `{}`: {source}; pass a fingerprint explicitly", path.display())]
    Read {
        /// The file read.
        path: std::path::PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The machine id file is empty.
    #[error("the machine id `{}` is empty; pass a fingerprint explicitly", path.display())]
    Empty {
        /// The file read.
        path: std::path::PathBuf,
    },
}

/// This machine's default fingerprint: `sha256:` and the hex SHA-256 of the
/// trimmed contents of [`MACHINE_ID_PATH`].
///
/// # Errors
///
/// [`FingerprintError`] when the file is missing, unreadable or empty;
/// callers can always pass a fingerprint of their own instead.
pub fn machine_fingerprint() -> Result<String, FingerprintError> {
    fingerprint_of_file(Path::new(MACHINE_ID_PATH))
}

/// The fingerprint [`machine_fingerprint`] derives from the id file at `path`.
///
/// # Errors
///
/// As [`machine_fingerprint`].
pub fn fingerprint_of_file(path: &Path) -> Result<String, FingerprintError> {
    let id = std::fs::read_to_string(path).map_err(|source| FingerprintError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let id = id.trim();
    if id.is_empty() {
        return Err(FingerprintError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(format!(
        "sha256:{}",
        hex::encode(Sha256::digest(id.as_bytes()))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ActivationRequest {
        ActivationRequest::new(
            LicenseKey::new(" k7mq2-xwr4t abcde-fgh23-456pq "),
            "sha256:ab",
            "ws-01",
        )
        .unwrap()
    }

    #[test]
    fn new_requests_have_fresh_32_byte_nonces() {
        let (a, b) = (request(), request());
        assert_eq!(URL_SAFE_NO_PAD.decode(&a.nonce).unwrap().len(), 32);
        assert_eq!(a.nonce.len(), 43);
        assert_ne!(a.nonce, b.nonce);
        assert_eq!(a.license_key.expose(), "k7mq2-xwr4t abcde-fgh23-456pq");
        assert_eq!(a.v, 1);
        assert_eq!(a.created_at.timestamp_subsec_nanos(), 0);
        let age = Utc::now().timestamp() - a.created_at.timestamp();
        assert!((0..60).contains(&age), "{age}");
    }

    #[test]
    fn armored_request_round_trips_and_has_the_wire_shape() {
        let request = request();
        let text = request.to_armored();
        assert!(
            text.starts_with("licet offline activation request for `ws-01`\n"),
            "{text}"
        );
        let body = unarmor(ArmorKind::ActivationRequest, &text).unwrap();
        let body_lines: Vec<&str> = text
            .lines()
            .skip_while(|line| !line.starts_with("-----BEGIN"))
            .skip(1)
            .take_while(|line| !line.starts_with("-----END"))
            .collect();
        assert_eq!(body_lines.concat(), body);
        assert!(body_lines.iter().all(|line| line.len() <= 64), "{text}");
        assert_eq!(body_lines[0].len(), 64, "{text}");
        let json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "v": 1,
                "license_key": "k7mq2-xwr4t abcde-fgh23-456pq",
                "fingerprint": "sha256:ab",
                "nonce": request.nonce,
                "name": "ws-01",
                "created_at": request.created_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            })
        );
        assert_eq!(ActivationRequest::from_armored(&text).unwrap(), request);
    }

    #[test]
    fn other_versions_and_bad_bodies_are_refused() {
        let mut request = request();
        request.v = 2;
        let err = ActivationRequest::from_armored(&request.to_armored()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid activation request: unsupported version 2; this client reads version 1"
        );
        let text = armor(ArmorKind::ActivationRequest, "!!", &[]);
        assert!(matches!(
            ActivationRequest::from_armored(&text).unwrap_err(),
            RequestError::Invalid(message) if message.starts_with("body is not base64url")
        ));
    }

    #[test]
    fn licence_key_debug_is_redacted() {
        let key = LicenseKey::new("ABCDE-FGHJK-LMNPQ");
        assert_eq!(format!("{key:?}"), "LicenseKey(ABCDE…)");
        assert!(!format!("{:?}", request()).contains("xwr4t"));
    }

    #[test]
    fn fingerprint_is_sha256_of_the_trimmed_machine_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("machine-id");
        std::fs::write(&path, "0123456789abcdef0123456789abcdef\n").unwrap();
        assert_eq!(
            fingerprint_of_file(&path).unwrap(),
            "sha256:3eb1bd439947eb762998e566ccc2e099c791118b2f40579cc4f7da2b5061b7f9"
        );
        std::fs::write(&path, " \n").unwrap();
        assert!(matches!(
            fingerprint_of_file(&path).unwrap_err(),
            FingerprintError::Empty { .. }
        ));
        let missing = dir.path().join("missing");
        let err = fingerprint_of_file(&missing).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "cannot read the machine id `{}`: ",
                missing.display()
            )),
            "{err}"
        );
    }
}
