//! The revocation list: what a revoked key or a deactivated, revoked or moved device adds, and
//! the entries a tenant's signed list publishes.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::models::{NewRevocation, RevocationRow};
use crate::db::schema::{revocations, tenants};
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
    Ok(Some(
        rows.into_iter()
            .map(|r| RevocationEntry {
                kind: r.kind,
                id: r.subject,
                fingerprint: r.fingerprint,
                revoked_at: r.revoked_at.and_utc().timestamp(),
            })
            .collect(),
    ))
}
