//! The revocation list: what a revoked key or a deactivated, revoked or moved device adds, and
//! the entries a tenant's signed list publishes.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::models::{NewRevocation, RevocationRow};
use std::collections::HashSet;

use crate::db::schema::{devices, revocations, tenants};
use crate::db::{DbConnection, DbError};

use super::*;

/// Adds an entry to the tenant's revocation list.
pub(super) fn publish(
    conn: &mut DbConnection,
    tenant: &str,
    kind: &str,
    subject: &str,
    fingerprint: Option<&str>,
    now: NaiveDateTime,
    actor: &Actor,
) -> QueryResult<()> {
    diesel::insert_into(revocations::table)
        .values(&NewRevocation {
            tenant_id: tenant.into(),
            kind: kind.into(),
            subject: subject.into(),
            fingerprint: fingerprint.map(str::to_string),
            revoked_at: now,
            reason: actor
                .reason
                .clone()
                .unwrap_or_else(|| format!("by {}", actor.name)),
        })
        .execute(conn)
        .map(|_| ())
}

/// Puts the licence files of `device` bound to `fingerprint` on the revocation list, for
/// changes made outside the API (the import).
pub fn revoke_device_files(
    conn: &mut DbConnection,
    tenant: &str,
    device: &str,
    fingerprint: &str,
    now: NaiveDateTime,
    reason: &str,
) -> QueryResult<()> {
    diesel::insert_into(revocations::table)
        .values(&NewRevocation {
            tenant_id: tenant.into(),
            kind: "device".into(),
            subject: device.into(),
            fingerprint: Some(fingerprint.into()),
            revoked_at: now,
            reason: reason.into(),
        })
        .execute(conn)
        .map(|_| ())
}

/// One entry of a revocation list as clients read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevocationEntry {
    pub kind: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    pub revoked_at: i64,
}

/// Every revocation of `tenant`, oldest first; `None` when the tenant does not exist.
pub fn revocation_entries(
    conn: &mut DbConnection,
    tenant: &str,
) -> Result<Option<Vec<RevocationEntry>>, DbError> {
    let known: i64 = tenants::table
        .filter(tenants::id.eq(tenant))
        .count()
        .get_result(conn)?;
    if known == 0 {
        return Ok(None);
    }
    let rows: Vec<RevocationRow> = revocations::table
        .filter(revocations::tenant_id.eq(tenant))
        .order(revocations::id.asc())
        .select(RevocationRow::as_select())
        .load(conn)?;
    // A machine that is active again with the same fingerprint (deactivated, then activated
    // again) holds its seat: its old entries no longer apply, whatever second its new file
    // was issued in.
    let active: HashSet<(String, String)> = devices::table
        .filter(devices::tenant_id.eq(tenant))
        .filter(devices::status.eq("active"))
        .select((devices::id, devices::fingerprint))
        .load(conn)?
        .into_iter()
        .collect();
    Ok(Some(
        rows.into_iter()
            .filter(|r| {
                let binding = (r.subject.clone(), r.fingerprint.clone().unwrap_or_default());
                !(r.kind == "device" && active.contains(&binding))
            })
            .map(|r| RevocationEntry {
                kind: r.kind,
                id: r.subject,
                fingerprint: r.fingerprint,
                revoked_at: r.revoked_at.and_utc().timestamp(),
            })
            .collect(),
    ))
}
