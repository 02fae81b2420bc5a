//! Activation and the device lifecycle, as database work.
//!
//! Every function here runs inside one write transaction (`crate::db::write_transaction`), so
//! a refused request writes nothing, and the device limit holds across replicas: before
//! counting a tenant's devices for an entitlement, the entitlement's row is locked with a no-op
//! update, which queues concurrent activations of the same entitlement on both backends.
//!
//! Signing the licence file happens after the commit (see `api::activations`): a signer that
//! is down answers 503 and the client tries again; the second try finds the same device.

mod activate;
mod key_records;
mod lifecycle;
mod revocation_list;

pub use activate::{activate, find_key, mask, refresh};
pub use key_records::{create_key, get_key, key_json, list_keys, revoke_key};
pub use lifecycle::{
    DeviceFilter, Replacement, TransferLimit, device_with_history, list_devices, replace,
    set_status,
};
pub use revocation_list::{RevocationEntry, revocation_entries, revoke_device_files};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::audit::events::{self, NewEvent};
use crate::db::models::{Device, NewDeviceEvent};
use crate::db::schema::{device_events, devices, tenants};
use crate::db::{DbConnection, DbError};
use crate::licensing::keys::TypedKey;
use crate::licensing::license_file::Terms;

/// Why a licensing request was refused.
#[derive(Debug, thiserror::Error)]
pub enum LicensingError {
    /// The text cannot be a licence key.
    #[error(
        "`{0}` is not a licence key: expect 25 letters and digits without `0`, `O`, `1` or `I`, such as `K7MQ2-XWR4T-ABCDE-FGH23-456PQ`"
    )]
    KeyMalformed(String),
    /// No licence key with that hash.
    #[error("the licence key is not known")]
    KeyUnknown,
    /// One or more reasons, all reported at once.
    #[error("{}", .0.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>().join("; "))]
    Refused(Vec<(String, String)>),
    #[error(
        "all {limit} device seat(s) of entitlement `{entitlement}` are taken; deactivate a device first"
    )]
    DeviceLimit { entitlement: String, limit: i64 },
    #[error("fingerprint `{fingerprint}` already belongs to device `{device}`")]
    FingerprintInUse { fingerprint: String, device: String },
    #[error(
        "device `{device}` moved {count} time(s) in the last {days} day(s), the most allowed; the next transfer is possible after {next}"
    )]
    TransferLimit {
        device: String,
        count: i64,
        days: u32,
        next: String,
    },
    /// The policies could not evaluate the request (a schema that does not fit).
    #[error("the activation policies could not be evaluated: {0}")]
    Policy(String),
    /// A record the request names does not exist; `code` names its kind.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for LicensingError {
    fn from(err: diesel::result::Error) -> Self {
        LicensingError::Db(err.into())
    }
}

/// Who asked, and why, for device events and the audit trail.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub name: String,
    pub reason: Option<String>,
    pub ticket: Option<String>,
    pub request_id: Option<String>,
}

/// A device allowed a licence file: what the file will carry.
#[derive(Debug, Clone)]
pub struct Grant {
    pub tenant: String,
    pub license_key: String,
    pub device: Device,
    pub terms: Terms,
    /// The device was registered (or brought back) by this request.
    pub created: bool,
}

/// What a machine sends to be activated.
#[derive(Debug, Clone)]
pub struct ActivationInput {
    pub key: TypedKey,
    pub fingerprint: String,
    pub name: Option<String>,
    pub metadata: Option<Value>,
}

fn device_by_fingerprint(
    conn: &mut DbConnection,
    tenant: &str,
    fingerprint: &str,
) -> QueryResult<Option<Device>> {
    devices::table
        .filter(devices::tenant_id.eq(tenant))
        .filter(devices::fingerprint.eq(fingerprint))
        .select(Device::as_select())
        .first(conn)
        .optional()
}

fn record_event(
    conn: &mut DbConnection,
    device: &Device,
    event: &str,
    from_status: Option<&str>,
    detail: Value,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(device_events::table)
        .values(&NewDeviceEvent {
            tenant_id: device.tenant_id.clone(),
            device_id: device.id.clone(),
            at,
            event: event.into(),
            from_status: from_status.map(str::to_string),
            to_status: device.status.clone(),
            detail: Some(detail.to_string()),
        })
        .execute(conn)
        .map(|_| ())
}

fn audit(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant: &str,
    action: &str,
    object: (&str, &str),
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), DbError> {
    events::append(
        conn,
        &[NewEvent {
            actor: actor.name.clone(),
            tenant: Some(tenant.into()),
            action: action.into(),
            object_type: object.0.into(),
            object_id: object.1.into(),
            before,
            after,
            reason: actor.reason.clone(),
            ticket: actor.ticket.clone(),
            request_id: actor.request_id.clone(),
        }],
    )
}

/// A time as messages show it: RFC 3339 to the second.
fn rfc3339(time: NaiveDateTime) -> String {
    time.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Refuses a tenant that does not exist, so that a list of an unknown tenant is a 404 rather
/// than an empty page.
fn known_tenant(conn: &mut DbConnection, tenant: &str) -> Result<(), LicensingError> {
    let found: i64 = tenants::table
        .filter(tenants::id.eq(tenant))
        .count()
        .get_result(conn)?;
    if found == 0 {
        return Err(LicensingError::NotFound {
            code: "TENANT_NOT_FOUND",
            message: format!("no tenant `{tenant}`"),
        });
    }
    Ok(())
}

/// The public view of a device, for answers and audit events.
pub fn device_json(device: &Device) -> Value {
    json!({
        "tenant": device.tenant_id,
        "id": device.id,
        "fingerprint": device.fingerprint,
        "name": device.name,
        "entitlement": device.entitlement_id,
        "status": device.status,
    })
}
