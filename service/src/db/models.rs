//! Rows as diesel reads and writes them. Times are UTC.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::*;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = roles)]
pub struct Role {
    pub id: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
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

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = memberships)]
pub struct Membership {
    pub tenant_id: String,
    pub user_id: String,
    pub role_id: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = products)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = product_releases, treat_none_as_null = true)]
pub struct ProductRelease {
    pub product_id: String,
    pub version: String,
    pub released_on: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = features)]
pub struct Feature {
    pub id: String,
    pub product_id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
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

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = entitlement_features)]
pub struct EntitlementFeature {
    pub tenant_id: String,
    pub entitlement_id: String,
    pub feature_id: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
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
