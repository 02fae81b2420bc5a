//! The decision request as clients send it, and its validated form.
//!
//! Parsing happens here, at the edge: after [`DecisionRequest::validate`] the rest of the
//! service trusts ids, the version and the environment.

use serde::Deserialize;

use super::DecisionError;
use crate::licensing::import::is_environment_name;
use crate::licensing::version::{ProductVersion, VersionError};

/// `POST /v1/decisions` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a decision request object")]
pub struct DecisionRequest {
    pub tenant: String,
    pub principal: EntityRef,
    pub action: String,
    pub resource: EntityRef,
    pub context: RequestContext,
    pub nonce: Option<String>,
}

/// A typed reference such as `{ "type": "Device", "id": "d-7f3a" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `type` and `id`")]
pub struct EntityRef {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// What the client says about where it runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with `product_version` and `environment`"
)]
pub struct RequestContext {
    pub product_version: String,
    pub environment: String,
}

/// Kinds of principal that may ask to use a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
pub enum PrincipalKind {
    Device,
    User,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Device => "Device",
            PrincipalKind::User => "User",
        }
    }
}

/// A validated decision request.
#[derive(Debug, Clone)]
pub struct Query {
    pub tenant: String,
    pub principal_kind: PrincipalKind,
    pub principal_id: String,
    pub action: String,
    pub feature: String,
    pub version: ProductVersion,
    pub environment: String,
    pub nonce: Option<String>,
}

/// Largest accepted nonce, in bytes.
pub const MAX_NONCE: usize = 256;

impl DecisionRequest {
    /// Checks every field; the error names the first field that is wrong.
    pub fn validate(self) -> Result<Query, DecisionError> {
        let invalid =
            |field: &'static str, message: String| DecisionError::InvalidField { field, message };
        check_id("tenant", &self.tenant)?;
        let principal_kind = match self.principal.kind.as_str() {
            "Device" => PrincipalKind::Device,
            "User" => PrincipalKind::User,
            other => {
                return Err(invalid(
                    "principal.type",
                    format!("`{other}` must be `Device` or `User`"),
                ));
            }
        };
        check_id("principal.id", &self.principal.id)?;
        if self.action != "use" {
            return Err(invalid(
                "action",
                format!(
                    "`{}` is not an action; the only action is `use`",
                    self.action
                ),
            ));
        }
        if self.resource.kind != "Feature" {
            return Err(invalid(
                "resource.type",
                format!("`{}` must be `Feature`", self.resource.kind),
            ));
        }
        check_id("resource.id", &self.resource.id)?;
        let version = ProductVersion::parse(&self.context.product_version).map_err(|err| {
            let reason = err.to_string();
            let value = match err {
                VersionError::Syntax(v) | VersionError::TooLarge(v) => v,
            };
            DecisionError::InvalidVersion {
                field: "context.product_version",
                value,
                reason,
            }
        })?;
        if !is_environment_name(&self.context.environment) {
            return Err(invalid(
                "context.environment",
                format!(
                    "`{}` must be 1 to 32 lowercase letters, digits, `_` or `-`",
                    self.context.environment
                ),
            ));
        }
        if let Some(nonce) = &self.nonce
            && (nonce.is_empty() || nonce.len() > MAX_NONCE)
        {
            return Err(invalid("nonce", format!("must be 1 to {MAX_NONCE} bytes")));
        }
        Ok(Query {
            tenant: self.tenant,
            principal_kind,
            principal_id: self.principal.id,
            action: self.action,
            feature: self.resource.id,
            version,
            environment: self.context.environment,
            nonce: self.nonce,
        })
    }
}

fn check_id(field: &'static str, value: &str) -> Result<(), DecisionError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
    if ok {
        Ok(())
    } else {
        let shown: String = value.chars().take(64).collect();
        Err(DecisionError::InvalidField {
            field,
            message: format!("`{shown}` must be 1 to 128 letters, digits, `.`, `_`, `:` or `-`"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> Result<Query, DecisionError> {
        serde_json::from_value::<DecisionRequest>(json)
            .unwrap()
            .validate()
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "tenant": "acme",
            "principal": { "type": "Device", "id": "d-7f3a" },
            "action": "use",
            "resource": { "type": "Feature", "id": "cad.export" },
            "context": { "product_version": "2.4.1", "environment": "prod" }
        })
    }

    #[test]
    fn valid_request_is_parsed() {
        let query = request(base()).unwrap();
        assert_eq!(query.principal_kind, PrincipalKind::Device);
        assert_eq!(query.feature, "cad.export");
        assert_eq!(query.version.to_string(), "2.4.1");
    }

    #[test]
    fn malformed_version_names_the_field() {
        let mut json = base();
        json["context"]["product_version"] = "2.x".into();
        match request(json) {
            Err(DecisionError::InvalidVersion { field, value, .. }) => {
                assert_eq!((field, value.as_str()), ("context.product_version", "2.x"))
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn wrong_kinds_and_actions_name_the_field() {
        let field_of = |json| match request(json) {
            Err(DecisionError::InvalidField { field, .. }) => field,
            other => panic!("unexpected {other:?}"),
        };
        let mut json = base();
        json["principal"]["type"] = "Printer".into();
        assert_eq!(field_of(json), "principal.type");
        let mut json = base();
        json["action"] = "delete".into();
        assert_eq!(field_of(json), "action");
        let mut json = base();
        json["context"]["environment"] = "PROD!".into();
        assert_eq!(field_of(json), "context.environment");
        let mut json = base();
        json["tenant"] = "a b".into();
        assert_eq!(field_of(json), "tenant");
    }
}
