//! Signed licence files: what an activated machine keeps to prove, offline, what it may use.
//!
//! A licence file is a JWS (the same keys and JWKS as decisions) whose claims carry the tenant,
//! the entitlement's terms, the fingerprint the file is bound to, when it was issued, when it
//! stops being valid (`exp`) and when the client must fetch a fresh one (`checkin_by`). The
//! armoured text form wraps the token between `BEGIN`/`END` lines for e-mail and file transfer.
//! `licet-client` verifies both forms; docs/licensing.md describes every claim.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::db::models::Entitlement;

/// The `kind` claim of licence files, telling them apart from decision tokens.
pub const KIND: &str = "license";
/// Armour markers of licence files, activation requests and revocation lists.
pub const LICENSE_LABEL: &str = "LICET LICENSE";
pub const REQUEST_LABEL: &str = "LICET ACTIVATION REQUEST";
pub const REVOCATIONS_LABEL: &str = "LICET REVOCATIONS";

/// How a file was obtained: online (refreshed by the client) or offline (challenge and
/// response, renewed the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Online,
    Offline,
}

/// The claims of a licence file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LicenseClaims {
    pub iss: String,
    pub kind: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub checkin_by: i64,
    pub mode: Mode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub tenant: String,
    pub license_key: String,
    pub device: String,
    pub fingerprint: String,
    pub entitlement: Terms,
}

/// The entitlement's terms as a licence file carries them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Terms {
    pub id: String,
    pub product: String,
    pub model: String,
    pub seats: i64,
    pub features: Vec<String>,
    pub environments: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub grace_seconds: i64,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
}

impl Terms {
    /// The terms of `entitlement` with its `features`.
    pub fn of(entitlement: &Entitlement, mut features: Vec<String>) -> Self {
        features.sort();
        Self {
            id: entitlement.id.clone(),
            product: entitlement.product_id.clone(),
            model: entitlement.model.clone(),
            seats: entitlement.seats,
            features,
            environments: serde_json::from_str(&entitlement.environments).unwrap_or_default(),
            starts_at: entitlement.starts_at.and_utc(),
            expires_at: entitlement.expires_at.and_utc(),
            grace_seconds: entitlement.grace_seconds,
            min_version: entitlement.min_version.clone(),
            max_version: entitlement.max_version.clone(),
        }
    }

    /// The last instant the entitlement allows use: its end plus grace.
    pub fn usable_until(&self) -> i64 {
        self.expires_at
            .timestamp()
            .saturating_add(self.grace_seconds)
    }
}

/// Wraps `body` between `-----BEGIN {label}-----` and `-----END {label}-----`, 64 columns wide.
pub fn armor(label: &str, body: &str) -> String {
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(line));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

/// The body between the armour lines of `label`, whitespace removed; text without armour is
/// taken as the bare body. Lines before `BEGIN` are comments and ignored.
pub fn unarmor(label: &str, text: &str) -> Result<String, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = match text.find(&begin) {
        Some(start) => {
            let rest = &text[start + begin.len()..];
            let stop = rest
                .find(&end)
                .ok_or_else(|| format!("the text has `{begin}` but no `{end}` line"))?;
            &rest[..stop]
        }
        None if text.contains("-----BEGIN ") => {
            return Err(format!(
                "the text is not a `{label}`: its armour names something else"
            ));
        }
        None => text,
    };
    let body: String = body.split_whitespace().collect();
    if body.is_empty() {
        return Err(format!("the `{label}` is empty"));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armour_wraps_at_64_columns_and_comes_off_again() {
        let body = "a".repeat(150);
        let text = armor(LICENSE_LABEL, &body);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN LICET LICENSE-----");
        assert_eq!(
            lines[1..4].iter().map(|l| l.len()).collect::<Vec<_>>(),
            [64, 64, 22]
        );
        assert_eq!(lines[4], "-----END LICET LICENSE-----");
        let commented = format!("Licence for acme\r\n{text}");
        assert_eq!(unarmor(LICENSE_LABEL, &commented).unwrap(), body);
        assert_eq!(
            unarmor(LICENSE_LABEL, "  abc.def.ghi \n").unwrap(),
            "abc.def.ghi"
        );
    }

    #[test]
    fn the_wrong_armour_or_a_cut_file_is_refused() {
        let request = armor(REQUEST_LABEL, "xyz");
        assert!(
            unarmor(LICENSE_LABEL, &request)
                .unwrap_err()
                .contains("names something else")
        );
        let cut = "-----BEGIN LICET LICENSE-----\nabc\n";
        assert!(
            unarmor(LICENSE_LABEL, cut)
                .unwrap_err()
                .contains("no `-----END")
        );
        assert!(
            unarmor(LICENSE_LABEL, "  \n")
                .unwrap_err()
                .contains("empty")
        );
    }
}
