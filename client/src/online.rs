//! Online activation and refresh: asking the licet server for a licence file
//! and storing it in the [`StateDir`] once it verifies.
//!
//! [`activate`] registers this device (`POST /v1/activations`); [`refresh`]
//! fetches a fresh file for a device already activated
//! (`POST /v1/licenses/refresh`). Both verify the answer as `license verify`
//! does (signature, kind, expiry, this device's fingerprint, the clock rule)
//! before writing it to [`LICENSE_FILE`](crate::LICENSE_FILE), so a refused
//! or unreadable answer never replaces the file already there.
//!
//! The calls block for at most [`FETCH_TIMEOUT`] and honour the
//! `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` environment variables. The
//! licence key is sent in the request body only: it appears in no error
//! message and no `Debug` output.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::activation::LicenseKey;
use crate::error::LicenseError;
use crate::jwks::FETCH_TIMEOUT;
use crate::keys::TrustedKeys;
use crate::license::LicenseClaims;
use crate::state::{CheckError, StateDir, StateError};

/// Path of online activation on the server.
pub const ACTIVATIONS_PATH: &str = "/v1/activations";
/// Path of licence-file refresh on the server.
pub const REFRESH_PATH: &str = "/v1/licenses/refresh";

/// Largest answer read from the server, in bytes.
const MAX_ANSWER_BYTES: u64 = 1024 * 1024;

/// What replaces the licence key should a server echo it in a message.
const REDACTED_KEY: &str = "<licence key>";

/// Why an online activation or refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum OnlineError {
    /// The server answered with a problem document (`application/problem+json`):
    /// the key is unknown or revoked, the device limit is reached, the device
    /// was deactivated, too many attempts, the server is degraded, ….
    #[error(
        "the server refused: `{code}` (status {status}): {detail}{}{}",
        describe_reasons(.reasons),
        describe_retry_after(.retry_after)
    )]
    Refused {
        /// HTTP status, e.g. 403, 409 or 429.
        status: u16,
        /// Stable machine-readable code, e.g. `ACTIVATION_REFUSED` or
        /// `DEVICE_LIMIT_REACHED`.
        code: String,
        /// The server's human-readable explanation.
        detail: String,
        /// Stable codes of every reason, e.g. `DEVICE_INACTIVE`; empty when the
        /// server names none.
        reasons: Vec<String>,
        /// When to try again, from `Retry-After` or `retry_after_seconds`.
        retry_after: Option<Duration>,
    },

    /// No answer: connection refused, name not resolved, timeout, TLS
    /// failure, or a proxy or gateway that could not reach the server.
    #[error(
        "cannot reach the licence server at `{url}`: {reason}; check the address, the network and any proxy, then try again"
    )]
    Unreachable {
        /// The URL requested.
        url: String,
        /// What failed.
        reason: String,
    },

    /// An answer that is not one of a licet server: not JSON, no `armored`
    /// member, an unexpected status without a problem document, a redirect.
    #[error(
        "unexpected answer from `{url}`: {reason}; check that this is the licet server's address"
    )]
    BadAnswer {
        /// The URL requested.
        url: String,
        /// What is wrong with the answer.
        reason: String,
    },

    /// The server address is not an `http://` or `https://` URL.
    #[error("invalid server address `{url}`: {reason}")]
    InvalidServer {
        /// The address given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The licence file answered was refused by the checks of `license
    /// verify` (signature, kind, expiry, fingerprint, clock) or is not an
    /// online file.
    #[error(transparent)]
    License(#[from] LicenseError),

    /// The state directory could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
}

impl From<CheckError> for OnlineError {
    fn from(err: CheckError) -> Self {
        match err {
            CheckError::License(err) => Self::License(err),
            CheckError::State(err) => Self::State(err),
        }
    }
}

fn describe_reasons(reasons: &[String]) -> String {
    if reasons.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = reasons.iter().map(|code| format!("`{code}`")).collect();
    format!("; reasons: {}", quoted.join(", "))
}

fn describe_retry_after(retry_after: &Option<Duration>) -> String {
    retry_after.map_or_else(String::new, |after| {
        format!("; try again in {} s", after.as_secs())
    })
}

/// Activates this device with `key` and stores the licence file the server
/// answers in `state`.
///
/// Sends `POST {server}/v1/activations` with the licence key, `fingerprint`,
/// `name` (shown to administrators) and `metadata` (a JSON object, or
/// `None`). The answer is verified at `now` against `keys` and bound to
/// `fingerprint` ([`StateDir::install_online`]), then written to the state's
/// licence file. Activating a device that is already active answers a fresh
/// file without taking another seat.
///
/// # Errors
///
/// [`OnlineError::Refused`] when the server says no (for example
/// `DEVICE_LIMIT_REACHED`), [`OnlineError::Unreachable`],
/// [`OnlineError::BadAnswer`], [`OnlineError::InvalidServer`], or a licence
/// or state error from storing the answer.
#[expect(
    clippy::too_many_arguments,
    reason = "one call with everything an activation needs; each argument is distinct"
)]
pub fn activate(
    server: &str,
    key: &LicenseKey,
    fingerprint: &str,
    name: &str,
    metadata: Option<Value>,
    state: &StateDir,
    keys: &TrustedKeys,
    now: i64,
) -> Result<LicenseClaims, OnlineError> {
    let mut body = json!({
        "license_key": key.expose(),
        "fingerprint": fingerprint,
        "name": name,
    });
    if let (Some(metadata), Value::Object(members)) = (metadata, &mut body) {
        members.insert("metadata".to_owned(), metadata);
    }
    let license = post(server, ACTIVATIONS_PATH, &body, key)?;
    Ok(state.install_online(&license, keys, fingerprint, now)?)
}

/// Fetches a fresh licence file for this device, already activated with
/// `key`, and stores it in `state`.
///
/// Sends `POST {server}/v1/licenses/refresh` with the licence key and
/// `fingerprint`; the answer is checked and stored as by [`activate`]. A
/// refusal (a device deactivated, revoked or moved, a revoked key, an
/// entitlement over) leaves the file already stored as it was.
///
/// # Errors
///
/// As [`activate`]; a device no longer active is refused with code
/// `ACTIVATION_REFUSED` and its reasons, e.g. `DEVICE_INACTIVE`.
pub fn refresh(
    server: &str,
    key: &LicenseKey,
    fingerprint: &str,
    state: &StateDir,
    keys: &TrustedKeys,
    now: i64,
) -> Result<LicenseClaims, OnlineError> {
    let body = json!({ "license_key": key.expose(), "fingerprint": fingerprint });
    let license = post(server, REFRESH_PATH, &body, key)?;
    Ok(state.install_online(&license, keys, fingerprint, now)?)
}

/// Posts `body` to `server` + `path` and returns the `armored` member of a
/// 200 or 201 answer.
fn post(server: &str, path: &str, body: &Value, key: &LicenseKey) -> Result<String, OnlineError> {
    let url = endpoint(server, path)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(FETCH_TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .build()
        .into();
    let mut response = agent
        .post(&url)
        .header("Accept", "application/json, application/problem+json")
        .send_json(body)
        .map_err(|err| transport_error(&url, &err))?;

    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let status = response.status().as_u16();
    let content_type = header("content-type").unwrap_or_default();
    let retry_after = header("retry-after");
    let location = header("location");
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_to_string()
        .map_err(|err| transport_error(&url, &err))?;
    let answer = Answer {
        status,
        content_type,
        retry_after,
        location,
        text,
    };
    read_answer(&url, answer, key)
}

/// The server's base address joined with `path`.
fn endpoint(server: &str, path: &str) -> Result<String, OnlineError> {
    let server = server.trim();
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        return Err(OnlineError::InvalidServer {
            url: server.to_owned(),
            reason: "expected an `http://` or `https://` URL".to_owned(),
        });
    }
    Ok(format!("{}{path}", server.trim_end_matches('/')))
}

/// Classifies a failure before an answer arrived.
fn transport_error(url: &str, err: &ureq::Error) -> OnlineError {
    let reason = err.to_string();
    let url = url.to_owned();
    match err {
        ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::InvalidProxyUrl => {
            OnlineError::InvalidServer { url, reason }
        }
        ureq::Error::Protocol(_)
        | ureq::Error::BodyExceedsLimit(_)
        | ureq::Error::RedirectFailed
        | ureq::Error::TooManyRedirects
        | ureq::Error::LargeResponseHeader(..)
        | ureq::Error::Json(_) => OnlineError::BadAnswer { url, reason },
        _ => OnlineError::Unreachable { url, reason },
    }
}

/// An HTTP answer reduced to what [`read_answer`] looks at.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    retry_after: Option<String>,
    location: Option<String>,
    text: String,
}

/// The members of a problem document this client reads.
#[derive(Deserialize)]
struct Problem {
    code: String,
    detail: String,
    #[serde(default)]
    reasons: Vec<String>,
    retry_after_seconds: Option<u64>,
}

#[derive(Deserialize)]
struct Issued {
    armored: String,
}

/// The armoured licence file of a successful answer, or the error the
/// answer stands for.
fn read_answer(url: &str, answer: Answer, key: &LicenseKey) -> Result<String, OnlineError> {
    let bad = |reason: String| OnlineError::BadAnswer {
        url: url.to_owned(),
        reason,
    };
    let status = answer.status;
    if status == 200 || status == 201 {
        let issued: Issued = serde_json::from_str(&answer.text).map_err(|err| {
            bad(format!(
                "status {status} without a licence file in `armored`: {err}"
            ))
        })?;
        return Ok(issued.armored);
    }
    if is_problem(&answer.content_type) {
        let problem: Problem = serde_json::from_str(&answer.text).map_err(|err| {
            bad(format!(
                "status {status} with an unreadable problem document: {err}"
            ))
        })?;
        let retry_after = answer
            .retry_after
            .as_deref()
            .and_then(|value| value.trim().parse::<u64>().ok())
            .or(problem.retry_after_seconds)
            .map(Duration::from_secs);
        return Err(OnlineError::Refused {
            status,
            code: problem.code,
            detail: redact(&problem.detail, key),
            reasons: problem.reasons,
            retry_after,
        });
    }
    match (status, answer.location) {
        (502..=504, _) => Err(OnlineError::Unreachable {
            url: url.to_owned(),
            reason: format!("a proxy or gateway answered status {status}"),
        }),
        (300..=399, Some(location)) => Err(bad(format!(
            "status {status} redirecting to `{location}`; use that address if it is the licet server's"
        ))),
        _ => Err(bad(format!("status {status} without a problem document"))),
    }
}

fn is_problem(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|media| {
        media
            .trim()
            .eq_ignore_ascii_case("application/problem+json")
    })
}

/// `text` with every occurrence of the licence key replaced.
fn redact(text: &str, key: &LicenseKey) -> String {
    let secret = key.expose();
    if secret.is_empty() {
        return text.to_owned();
    }
    text.replace(secret, REDACTED_KEY)
}

#[cfg(test)]
mod tests;
