//! Who is calling: API tokens from the configuration, each with a role and optionally a tenant.
//!
//! Tokens are bearer secrets (`Authorization: Bearer licet_…`). The configuration keeps only
//! their SHA-256, so a leaked configuration file does not leak a token. `licet token new` makes
//! a token and prints the line to add.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::config::{AccessConfig, TokenConfig};
use crate::error::{ApiError, Challenge};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads policy versions, the decision log and audit events.
    Auditor,
    /// Everything an auditor may, and changes (policy reload).
    Admin,
}

impl Role {
    fn parse(role: &str) -> Option<Self> {
        match role {
            "admin" => Some(Role::Admin),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }

    fn allows(self, needed: Role) -> bool {
        self == Role::Admin || needed == Role::Auditor
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name, recorded as the actor of changes.
    pub name: String,
    pub role: Role,
    /// The only tenant whose data the caller may read, when limited.
    pub tenant: Option<String>,
}

impl Caller {
    /// Refuses a tenant the caller may not see; answers the tenant filter to apply.
    pub fn tenant_scope(&self, asked: Option<String>) -> Result<Option<String>, ApiError> {
        match (&self.tenant, asked) {
            (None, asked) => Ok(asked),
            (Some(own), None) => Ok(Some(own.clone())),
            (Some(own), Some(asked)) if *own == asked => Ok(Some(asked)),
            (Some(_), Some(asked)) => Err(forbidden(format!(
                "this token may not read tenant `{asked}`"
            ))),
        }
    }

    /// Whether the caller may see data of `tenant`.
    pub fn may_see(&self, tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|own| own == tenant)
    }
}

/// A new random token: `licet_` and 32 random bytes in base64url.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("licet_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The lowercase hex SHA-256 of `token`, as the configuration stores it.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Authenticates the bearer token of `req` and checks that its role allows `needed`.
pub fn authorize(
    req: &HttpRequest,
    access: &AccessConfig,
    needed: Role,
) -> Result<Caller, ApiError> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    // The scheme is case-insensitive (RFC 9110).
    let token = header
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(token) = token else {
        return Err(
            unauthenticated("send an API token as `Authorization: Bearer <token>`")
                .with_challenge(Challenge::Bearer),
        );
    };
    let presented = token_hash(token);
    let found = access
        .tokens
        .iter()
        .find(|t| constant_time_eq(t.sha256.as_bytes(), presented.as_bytes()));
    let Some(TokenConfig {
        name, role, tenant, ..
    }) = found
    else {
        return Err(
            unauthenticated("the API token is not known").with_challenge(Challenge::InvalidToken)
        );
    };
    let role = Role::parse(role).unwrap_or(Role::Auditor);
    if !role.allows(needed) {
        return Err(forbidden(format!(
            "token `{name}` has the auditor role, which may only read"
        )));
    }
    Ok(Caller {
        name: name.clone(),
        role,
        tenant: tenant.clone(),
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A 401; the caller adds the `WWW-Authenticate` challenge (RFC 6750), which says whether a
/// token was missing or wrong.
fn unauthenticated(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
}

fn forbidden(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn access() -> AccessConfig {
        AccessConfig {
            tokens: vec![
                TokenConfig {
                    name: "ops".into(),
                    role: "admin".into(),
                    sha256: token_hash("licet_admin"),
                    tenant: None,
                },
                TokenConfig {
                    name: "acme-auditor".into(),
                    role: "auditor".into(),
                    sha256: token_hash("licet_audit"),
                    tenant: Some("acme".into()),
                },
            ],
        }
    }

    fn call(token: Option<&str>, needed: Role) -> Result<Caller, ApiError> {
        let mut req = TestRequest::default();
        if let Some(token) = token {
            req = req.insert_header(("authorization", format!("bearer {token}")));
        }
        authorize(&req.to_http_request(), &access(), needed)
    }

    #[test]
    fn roles_and_tenants_are_enforced() {
        let admin = call(Some("licet_admin"), Role::Admin).unwrap();
        assert_eq!((admin.name.as_str(), admin.role), ("ops", Role::Admin));
        assert!(call(Some("licet_admin"), Role::Auditor).is_ok());

        let auditor = call(Some("licet_audit"), Role::Auditor).unwrap();
        assert_eq!(auditor.tenant.as_deref(), Some("acme"));
        assert_eq!(auditor.tenant_scope(None).unwrap().as_deref(), Some("acme"));
        assert_eq!(
            auditor
                .tenant_scope(Some("globex".into()))
                .unwrap_err()
                .code,
            "FORBIDDEN"
        );
        assert_eq!(
            call(Some("licet_audit"), Role::Admin).unwrap_err().code,
            "FORBIDDEN"
        );

        let missing = call(None, Role::Auditor).unwrap_err();
        assert_eq!(
            (missing.status.as_u16(), missing.code),
            (401, "UNAUTHENTICATED")
        );
        assert_eq!(missing.challenge, Some(Challenge::Bearer));
        let wrong = call(Some("licet_nope"), Role::Auditor).unwrap_err();
        assert_eq!(wrong.code, "UNAUTHENTICATED");
        assert_eq!(
            wrong.challenge.map(Challenge::header),
            Some(r#"Bearer error="invalid_token""#)
        );
    }

    #[test]
    fn new_tokens_are_random_and_hash_to_64_hex_digits() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with("licet_") && a.len() == "licet_".len() + 43);
        assert_eq!(token_hash(&a).len(), 64);
    }
}
