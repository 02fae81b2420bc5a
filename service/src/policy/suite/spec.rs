//! The YAML form of a test suite file, as written under `policies/tests/`.
//!
//! Everything here is text as the author wrote it; times, versions and grace periods are parsed
//! in `resolve`, where a problem can be reported with the case it belongs to. Unknown keys are
//! refused everywhere so that a misspelt field never silently tests something else.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One suite file: named fixtures, cases, and policies deliberately left without a case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SuiteFile {
    #[serde(default)]
    pub fixtures: BTreeMap<String, World>,
    #[serde(default)]
    pub cases: Vec<CaseSpec>,
    #[serde(default)]
    pub exempt: Vec<Exemption>,
}

/// A policy that no case can reach, with the reason why.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Exemption {
    pub policy: String,
    pub why: String,
}

/// The data a decision sees: the tenant, its entitlements, its principals and the catalogue.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct World {
    pub tenant: Option<TenantSpec>,
    /// Feature id to product id.
    #[serde(default)]
    pub catalogue: BTreeMap<String, String>,
    #[serde(default)]
    pub entitlements: Vec<EntitlementSpec>,
    #[serde(default)]
    pub principals: Vec<PrincipalSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TenantSpec {
    pub id: Option<String>,
    pub status: Option<String>,
}

/// An entitlement; in a case, only the fields it changes (matched by `id`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EntitlementSpec {
    pub id: String,
    /// The tenant that holds it; the fixture's tenant unless given.
    pub tenant: Option<String>,
    pub product: Option<String>,
    pub features: Option<Vec<String>>,
    pub environments: Option<Vec<String>>,
    pub starts_at: Option<String>,
    pub expires_at: Option<String>,
    /// `7d`, `12h`, `30m`, `45s` or a sum such as `1d12h`; none by default.
    pub grace: Option<String>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    pub status: Option<String>,
    pub model: Option<String>,
    pub seats: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(super) enum PrincipalType {
    Device,
    User,
}

/// A device or user of the tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PrincipalSpec {
    #[serde(rename = "type")]
    pub kind: PrincipalType,
    pub id: String,
    pub status: Option<String>,
    pub entitlement: Option<String>,
    pub roles: Option<Vec<String>>,
}

/// What a case may change about the principal its request names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PrincipalFields {
    pub status: Option<String>,
    /// The entitlement a device is bound to.
    pub entitlement: Option<String>,
    /// The roles a user holds.
    pub roles: Option<Vec<String>>,
}

/// One test case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CaseSpec {
    pub name: String,
    pub fixture: Option<String>,
    pub tenant: Option<TenantSpec>,
    #[serde(default)]
    pub catalogue: BTreeMap<String, String>,
    /// New entitlements, or changes to the fixture's (matched by `id`).
    #[serde(default)]
    pub entitlements: Vec<EntitlementSpec>,
    /// Changes to the principal the request names, or the whole principal without a fixture.
    pub principal: Option<PrincipalFields>,
    pub request: RequestSpec,
    /// RFC 3339, such as `2026-07-01T00:00:00Z`.
    pub now: String,
    pub expect: ExpectSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RequestSpec {
    /// `use` (the default): may the principal use a feature? `activate`: may a device take or
    /// keep a seat of an entitlement with a licence key?
    pub action: Option<String>,
    pub principal: PrincipalRef,
    /// `use` only: the feature, product version and environment asked for.
    pub feature: Option<String>,
    pub product_version: Option<String>,
    pub environment: Option<String>,
    /// `activate` only: the entitlement the licence key belongs to.
    pub entitlement: Option<String>,
    /// `activate` only: the licence key's status, `active` unless given.
    pub license_key: Option<String>,
    /// `activate` only: active devices of the entitlement other than this one, 0 unless given.
    pub active_devices: Option<i64>,
    /// `activate` only: a refresh of an activated machine rather than an activation.
    #[serde(default)]
    pub refresh: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PrincipalRef {
    #[serde(rename = "type")]
    pub kind: PrincipalType,
    pub id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExpectSpec {
    pub decision: Decision,
    #[serde(default)]
    pub reasons: Vec<String>,
    #[serde(default)]
    pub advice: Vec<String>,
    /// The entitlement that grants an allow, when the case wants to pin it.
    pub entitlement: Option<String>,
}
