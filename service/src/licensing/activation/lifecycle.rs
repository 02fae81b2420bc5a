//! The device lifecycle: deactivate, revoke, move a seat to another machine, and read devices
//! with their history.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde_json::json;

use crate::db::DbConnection;
use crate::db::models::{Device, DeviceEvent};
use crate::db::schema::{device_events, devices};

use super::revocation_list::publish;
use super::*;

/// The device `id` of `tenant`; a tenant that does not exist is named as such.
fn load_device(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<Device, LicensingError> {
    let found = devices::table
        .find((tenant, id))
        .select(Device::as_select())
        .first(conn)
        .optional()?;
    match found {
        Some(device) => Ok(device),
        None => {
            known_tenant(conn, tenant)?;
            Err(LicensingError::NotFound {
                code: "DEVICE_NOT_FOUND",
                message: format!("tenant `{tenant}` has no device `{id}`"),
            })
        }
    }
}

/// Deactivates (`inactive`, the seat is free and the machine may activate again) or revokes
/// (`revoked`, for good) a device. Its licence files appear on the revocation list either way.
pub fn set_status(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
    to: &str,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<Device, LicensingError> {
    let old = load_device(conn, tenant, id)?;
    if old.status == to || old.status == "revoked" {
        return Err(LicensingError::Conflict(format!(
            "device `{id}` is already {}",
            old.status
        )));
    }
    diesel::update(devices::table.find((tenant, id)))
        .set((devices::status.eq(to), devices::updated_at.eq(now)))
        .execute(conn)?;
    let device = Device {
        status: to.into(),
        updated_at: now,
        ..old.clone()
    };
    let event = if to == "revoked" {
        "revoked"
    } else {
        "deactivated"
    };
    record_event(
        conn,
        &device,
        event,
        Some(&old.status),
        json!({ "by": actor.name, "reason": actor.reason }),
        now,
    )?;
    publish(
        conn,
        tenant,
        "device",
        id,
        Some(&old.fingerprint),
        now,
        actor,
    )?;
    let action = if to == "revoked" {
        "device.revoke"
    } else {
        "device.deactivate"
    };
    audit(
        conn,
        actor,
        tenant,
        action,
        ("device", id),
        Some(device_json(&old)),
        Some(device_json(&device)),
    )?;
    Ok(device)
}

/// Limits on moving a seat to another machine.
#[derive(Debug, Clone, Copy)]
pub struct TransferLimit {
    pub per_period: u32,
    pub period_days: u32,
}

/// The machine a seat moves to.
#[derive(Debug, Clone)]
pub struct Replacement {
    pub fingerprint: String,
    /// A new name for the device; the old one stays when `None`.
    pub name: Option<String>,
}

/// Moves the device's seat to a new fingerprint (a replaced machine). The device keeps its id
/// and history; files bound to the old fingerprint appear on the revocation list.
pub fn replace(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
    to: Replacement,
    limit: TransferLimit,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<Device, LicensingError> {
    let (fingerprint, name) = (to.fingerprint.as_str(), to.name);
    let old = load_device(conn, tenant, id)?;
    if old.status == "revoked" {
        return Err(LicensingError::Conflict(format!(
            "device `{id}` is revoked and cannot move"
        )));
    }
    if old.fingerprint == fingerprint {
        return Err(LicensingError::Conflict(format!(
            "device `{id}` already has fingerprint `{fingerprint}`"
        )));
    }
    if let Some(other) = device_by_fingerprint(conn, tenant, fingerprint)? {
        return Err(LicensingError::FingerprintInUse {
            fingerprint: fingerprint.into(),
            device: other.id,
        });
    }
    let since = now - Duration::days(i64::from(limit.period_days));
    let recent: Vec<NaiveDateTime> = device_events::table
        .filter(device_events::tenant_id.eq(tenant))
        .filter(device_events::device_id.eq(id))
        .filter(device_events::event.eq("transferred"))
        .filter(device_events::at.gt(since))
        .order(device_events::at.asc())
        .select(device_events::at)
        .load(conn)?;
    if recent.len() as i64 >= i64::from(limit.per_period) {
        let oldest = recent.first().copied().unwrap_or(now);
        return Err(LicensingError::TransferLimit {
            device: id.into(),
            count: recent.len() as i64,
            days: limit.period_days,
            next: rfc3339(oldest + Duration::days(i64::from(limit.period_days))),
        });
    }
    let device = Device {
        fingerprint: fingerprint.into(),
        name: name.unwrap_or(old.name.clone()),
        updated_at: now,
        ..old.clone()
    };
    diesel::update(devices::table.find((tenant, id)))
        .set((
            devices::fingerprint.eq(&device.fingerprint),
            devices::name.eq(&device.name),
            devices::updated_at.eq(now),
        ))
        .execute(conn)?;
    record_event(
        conn,
        &device,
        "transferred",
        Some(&old.status),
        json!({ "from_fingerprint": old.fingerprint, "to_fingerprint": fingerprint, "by": actor.name, "reason": actor.reason }),
        now,
    )?;
    publish(
        conn,
        tenant,
        "device",
        id,
        Some(&old.fingerprint),
        now,
        actor,
    )?;
    audit(
        conn,
        actor,
        tenant,
        "device.transfer",
        ("device", id),
        Some(device_json(&old)),
        Some(device_json(&device)),
    )?;
    Ok(device)
}

/// A device with its history, oldest event first.
pub fn device_with_history(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
) -> Result<(Device, Vec<DeviceEvent>), LicensingError> {
    let device = load_device(conn, tenant, id)?;
    let history = device_events::table
        .filter(device_events::tenant_id.eq(tenant))
        .filter(device_events::device_id.eq(id))
        .order(device_events::id.asc())
        .select(DeviceEvent::as_select())
        .load(conn)?;
    Ok((device, history))
}

/// Which devices a list shows: by entitlement and status, after a device id, at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    pub entitlement: Option<String>,
    pub status: Option<String>,
    pub after: Option<String>,
    pub limit: i64,
}

/// A page of the tenant's devices, by id.
pub fn list_devices(
    conn: &mut DbConnection,
    tenant: &str,
    filter: &DeviceFilter,
) -> Result<Vec<Device>, LicensingError> {
    known_tenant(conn, tenant)?;
    let mut query = devices::table
        .filter(devices::tenant_id.eq(tenant))
        .select(Device::as_select())
        .order(devices::id.asc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(entitlement) = &filter.entitlement {
        query = query.filter(devices::entitlement_id.eq(entitlement.clone()));
    }
    if let Some(status) = &filter.status {
        query = query.filter(devices::status.eq(status.clone()));
    }
    if let Some(after) = &filter.after {
        query = query.filter(devices::id.gt(after.clone()));
    }
    Ok(query.load(conn)?)
}
