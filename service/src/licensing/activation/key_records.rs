//! Licence keys: make one (shown once), revoke one, list them.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::db::models::{Device, LicenseKeyRow};
use crate::db::schema::{devices, entitlements, license_keys};
use crate::db::{DbConnection, DbError};
use crate::licensing::keys;

use super::revocation_list::publish;
use super::*;

/// A new licence key for an entitlement; the key itself is returned once and never stored.
pub fn create_key(
    conn: &mut DbConnection,
    tenant: &str,
    entitlement: &str,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<(LicenseKeyRow, String), LicensingError> {
    known_tenant(conn, tenant)?;
    let exists: i64 = entitlements::table
        .filter(entitlements::tenant_id.eq(tenant))
        .filter(entitlements::id.eq(entitlement))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        return Err(LicensingError::NotFound {
            code: "ENTITLEMENT_NOT_FOUND",
            message: format!("tenant `{tenant}` has no entitlement `{entitlement}`"),
        });
    }
    let key = keys::generate().map_err(|e| DbError::Query(format!("no randomness: {e}")))?;
    let normalised = &key.normalised;
    let row = LicenseKeyRow {
        tenant_id: tenant.into(),
        id: format!("lk-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
        entitlement_id: entitlement.into(),
        key_hash: keys::hash(normalised),
        hint: keys::hint(normalised),
        status: "active".into(),
        created_at: now,
        revoked_at: None,
    };
    diesel::insert_into(license_keys::table)
        .values(&row)
        .execute(conn)?;
    audit(
        conn,
        actor,
        tenant,
        "license_key.create",
        ("license_key", &row.id),
        None,
        Some(key_json(&row)),
    )?;
    Ok((row, key.text))
}

/// The public view of a key row: never the hash.
pub fn key_json(row: &LicenseKeyRow) -> Value {
    json!({
        "tenant": row.tenant_id,
        "id": row.id,
        "entitlement": row.entitlement_id,
        "hint": row.hint,
        "status": row.status,
        "created_at": row.created_at.and_utc(),
        "revoked_at": row.revoked_at.map(|t| t.and_utc()),
    })
}

/// The key `id` of `tenant`; a tenant that does not exist is named as such.
pub fn get_key(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
) -> Result<LicenseKeyRow, LicensingError> {
    let found: Option<LicenseKeyRow> = license_keys::table
        .find((tenant, id))
        .select(LicenseKeyRow::as_select())
        .first(conn)
        .optional()?;
    match found {
        Some(row) => Ok(row),
        None => {
            known_tenant(conn, tenant)?;
            Err(LicensingError::NotFound {
                code: "LICENSE_KEY_NOT_FOUND",
                message: format!("tenant `{tenant}` has no licence key `{id}`"),
            })
        }
    }
}

/// Revokes a key: it activates nothing more, and its files appear on the revocation list.
pub fn revoke_key(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<LicenseKeyRow, LicensingError> {
    let row = get_key(conn, tenant, id)?;
    if row.status == "revoked" {
        return Err(LicensingError::Conflict(format!(
            "licence key `{id}` is already revoked"
        )));
    }
    diesel::update(license_keys::table.find((tenant, id)))
        .set((
            license_keys::status.eq("revoked"),
            license_keys::revoked_at.eq(now),
        ))
        .execute(conn)?;
    let after = LicenseKeyRow {
        status: "revoked".into(),
        revoked_at: Some(now),
        ..row.clone()
    };
    publish(conn, tenant, "license_key", id, None, now, actor)?;
    let deactivated = deactivate_devices_of(conn, tenant, id, actor, now)?;
    let mut after_json = key_json(&after);
    after_json["deactivated_devices"] = json!(deactivated);
    audit(
        conn,
        actor,
        tenant,
        "license_key.revoke",
        ("license_key", id),
        Some(key_json(&row)),
        Some(after_json),
    )?;
    Ok(after)
}

/// Deactivates every device the key activated: a revoked key (a leaked one, say) must not
/// keep machines deciding `allow`. Their seats are free; a machine may activate again with
/// another key. Answers the ids of the devices deactivated.
fn deactivate_devices_of(
    conn: &mut DbConnection,
    tenant: &str,
    key: &str,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<Vec<String>, LicensingError> {
    let active: Vec<Device> = devices::table
        .filter(devices::tenant_id.eq(tenant))
        .filter(devices::license_key_id.eq(key))
        .filter(devices::status.eq("active"))
        .order(devices::id.asc())
        .select(Device::as_select())
        .load(conn)?;
    let mut ids = Vec::with_capacity(active.len());
    for old in active {
        diesel::update(devices::table.find((tenant, &old.id)))
            .set((devices::status.eq("inactive"), devices::updated_at.eq(now)))
            .execute(conn)?;
        let device = Device {
            status: "inactive".into(),
            updated_at: now,
            ..old
        };
        let detail =
            json!({ "by": actor.name, "reason": "licence key revoked", "license_key": key });
        record_event(conn, &device, "deactivated", Some("active"), detail, now)?;
        ids.push(device.id);
    }
    Ok(ids)
}

/// A page of the tenant's licence keys, by id.
pub fn list_keys(
    conn: &mut DbConnection,
    tenant: &str,
    entitlement: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<LicenseKeyRow>, LicensingError> {
    known_tenant(conn, tenant)?;
    let mut query = license_keys::table
        .filter(license_keys::tenant_id.eq(tenant))
        .select(LicenseKeyRow::as_select())
        .order(license_keys::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(entitlement) = entitlement {
        query = query.filter(license_keys::entitlement_id.eq(entitlement.to_string()));
    }
    if let Some(after) = after {
        query = query.filter(license_keys::id.gt(after.to_string()));
    }
    Ok(query.load(conn)?)
}
