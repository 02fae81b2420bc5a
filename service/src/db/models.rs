//! Rows as diesel reads and writes them. Times are UTC.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::schema::*;

#[derive(
    Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset, Serialize, Deserialize,
)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset, Serialize, Deserialize,
)]
#[diesel(table_name = roles)]
pub struct Role {
    pub id: String,
    pub description: String,
}

#[derive(
    Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset, Serialize, Deserialize,
)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub struct User {
    pub tenant_id: String,
    pub id: String,
    pub display_name: String,
    pub email: Option<String>,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize, Deserialize)]
#[diesel(table_name = memberships)]
pub struct Membership {
    pub tenant_id: String,
    pub user_id: String,
    pub role_id: String,
}

#[derive(
    Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset, Serialize, Deserialize,
)]
#[diesel(table_name = products)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset, Serialize, Deserialize,
)]
#[diesel(table_name = product_releases, treat_none_as_null = true)]
pub struct ProductRelease {
    pub product_id: String,
    pub version: String,
    pub released_on: Option<String>,
}

#[derive(
    Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset, Serialize, Deserialize,
)]
#[diesel(table_name = features)]
pub struct Feature {
    pub id: String,
    pub product_id: String,
    pub name: String,
}

#[derive(
    Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset, Serialize, Deserialize,
)]
#[diesel(table_name = entitlements, treat_none_as_null = true)]
pub struct Entitlement {
    pub tenant_id: String,
    pub id: String,
    pub product_id: String,
    pub model: String,
    pub seats: i64,
    /// A JSON array of environment names.
    pub environments: String,
    pub starts_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub grace_seconds: i64,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize, Deserialize)]
#[diesel(table_name = entitlement_features)]
pub struct EntitlementFeature {
    pub tenant_id: String,
    pub entitlement_id: String,
    pub feature_id: String,
}

#[derive(
    Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset, Serialize, Deserialize,
)]
#[diesel(table_name = devices, treat_none_as_null = true)]
pub struct Device {
    pub tenant_id: String,
    pub id: String,
    pub fingerprint: String,
    pub name: String,
    pub entitlement_id: Option<String>,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = device_events)]
pub struct DeviceEvent {
    pub id: i64,
    pub tenant_id: String,
    pub device_id: String,
    pub at: NaiveDateTime,
    pub event: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = device_events)]
pub struct NewDeviceEvent {
    pub tenant_id: String,
    pub device_id: String,
    pub at: NaiveDateTime,
    pub event: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = policy_versions)]
pub struct PolicyVersionRow {
    pub version: String,
    /// A JSON array of `{"path", "content"}`, schema first.
    pub files: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = policy_activations)]
pub struct PolicyActivation {
    pub id: i64,
    pub version: String,
    pub activated_at: NaiveDateTime,
    pub activated_by: String,
    pub source: String,
    pub git_commit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = policy_activations)]
pub struct NewPolicyActivation {
    pub version: String,
    pub activated_at: NaiveDateTime,
    pub activated_by: String,
    pub source: String,
    pub git_commit: Option<String>,
}

/// One logged decision. JSON columns hold text as written.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = decision_log)]
pub struct DecisionLogRow {
    /// Assigned by the database; ignored when inserting.
    #[diesel(skip_insertion)]
    pub seq: i64,
    pub request_id: String,
    pub decided_at: NaiveDateTime,
    pub tenant_id: String,
    pub principal_type: String,
    pub principal_id: String,
    pub action: String,
    pub feature_id: String,
    pub context: String,
    pub decision: String,
    pub reasons: String,
    pub advice: String,
    pub entitlement_id: Option<String>,
    pub policy_version: String,
    pub latency_us: i64,
    pub inputs: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEventRow {
    /// Assigned by the database; ignored when inserting.
    #[diesel(skip_insertion)]
    pub seq: i64,
    pub id: String,
    pub occurred_at: NaiveDateTime,
    pub actor: String,
    pub tenant_id: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub before_state: Option<String>,
    pub after_state: Option<String>,
    pub reason: Option<String>,
    pub ticket: Option<String>,
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = license_keys)]
pub struct LicenseKeyRow {
    pub tenant_id: String,
    pub id: String,
    pub entitlement_id: String,
    pub key_hash: String,
    pub hint: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize, Deserialize)]
#[diesel(table_name = seat_assignments)]
pub struct SeatAssignment {
    pub tenant_id: String,
    pub entitlement_id: String,
    pub user_id: String,
    pub assigned_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = revocations)]
pub struct RevocationRow {
    pub id: i64,
    pub tenant_id: String,
    pub kind: String,
    pub subject: String,
    pub fingerprint: Option<String>,
    pub revoked_at: NaiveDateTime,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = revocations)]
pub struct NewRevocation {
    pub tenant_id: String,
    pub kind: String,
    pub subject: String,
    pub fingerprint: Option<String>,
    pub revoked_at: NaiveDateTime,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = pending_changes)]
pub struct PendingChangeRow {
    pub id: String,
    pub tenant_id: String,
    pub kind: String,
    pub object_id: String,
    pub payload: String,
    pub requested_by: String,
    pub requested_at: NaiveDateTime,
    pub reason: Option<String>,
    pub ticket: Option<String>,
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub decision_note: Option<String>,
}
