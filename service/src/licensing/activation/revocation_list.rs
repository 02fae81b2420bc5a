//! The revocation list: what a revoked key or a deactivated, revoked or moved device adds, and
//! the entries a tenant's signed list publishes.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::models::{NewRevocation, RevocationRow};
use std::collections::{HashMap, HashSet};

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

/// The revocations of `tenant`, one per subject, oldest first; `None` when the tenant does not
/// exist.
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
    let current = rows.into_iter().filter(|r| {
        let binding = (r.subject.clone(), r.fingerprint.clone().unwrap_or_default());
        !(r.kind == "device" && active.contains(&binding))
    });
    Ok(Some(latest_per_subject(current)))
}

/// One entry per revoked subject (a key, or a device with one fingerprint), holding the latest
/// `revoked_at`, in the order of each subject's latest row.
///
/// A client counts a file as revoked when its subject matches and it was issued at or before
/// `revoked_at`, so the latest time of a subject revokes every file an earlier one did: a
/// device deactivated, activated again and then moved keeps one entry, dated by the move.
fn latest_per_subject(rows: impl Iterator<Item = RevocationRow>) -> Vec<RevocationEntry> {
    let rows: Vec<RevocationRow> = rows.collect();
    let subject = |r: &RevocationRow| (r.kind.clone(), r.subject.clone(), r.fingerprint.clone());
    let mut latest: HashMap<_, NaiveDateTime> = HashMap::new();
    for row in &rows {
        let at = latest.entry(subject(row)).or_insert(row.revoked_at);
        *at = (*at).max(row.revoked_at);
    }
    let mut entries: Vec<RevocationEntry> = rows
        .into_iter()
        .rev()
        .filter_map(|r| {
            let revoked_at = latest.remove(&subject(&r))?;
            Some(RevocationEntry {
                kind: r.kind,
                id: r.subject,
                fingerprint: r.fingerprint,
                revoked_at: revoked_at.and_utc().timestamp(),
            })
        })
        .collect();
    entries.reverse();
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        id: i64,
        kind: &str,
        subject: &str,
        fingerprint: Option<&str>,
        at: i64,
    ) -> RevocationRow {
        RevocationRow {
            id,
            tenant_id: "acme".into(),
            kind: kind.into(),
            subject: subject.into(),
            fingerprint: fingerprint.map(str::to_string),
            revoked_at: chrono::DateTime::from_timestamp(at, 0).unwrap().naive_utc(),
            reason: "test".into(),
        }
    }

    #[test]
    fn a_subject_revoked_twice_is_listed_once_with_the_later_time() {
        let rows = vec![
            row(1, "device", "dev-1", Some("sha256:aaaa"), 100),
            row(2, "license_key", "lk-1", None, 150),
            row(3, "device", "dev-1", Some("sha256:aaaa"), 200),
            row(4, "device", "dev-1", Some("sha256:bbbb"), 300),
        ];
        let listed: Vec<_> = latest_per_subject(rows.into_iter())
            .into_iter()
            .map(|e| (e.id, e.fingerprint, e.revoked_at))
            .collect();
        assert_eq!(
            listed,
            [
                ("lk-1".to_string(), None, 150),
                ("dev-1".to_string(), Some("sha256:aaaa".to_string()), 200),
                ("dev-1".to_string(), Some("sha256:bbbb".to_string()), 300),
            ]
        );
    }

    #[test]
    fn the_later_time_wins_whatever_order_the_rows_were_written_in() {
        let rows = vec![
            row(1, "device", "dev-1", Some("sha256:aaaa"), 500),
            row(2, "device", "dev-1", Some("sha256:aaaa"), 400),
        ];
        let listed = latest_per_subject(rows.into_iter());
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].revoked_at, 500);
    }
}
