//! Entitlements: created and changed directly, or through a pending change when the tenant
//! requires a second admin's approval ([`super::changes`]).
//!
//! An entitlement travels as the import's [`EntitlementEntry`], normalised (times in RFC 3339
//! UTC, versions as parsed, features and environments sorted, each once) so that two entries with the same terms are equal.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;

use super::{Author, Kind, ManageError, Page, change_log, changes, now, rfc3339, tenants};
use crate::db::models::Entitlement;
use crate::db::schema::{entitlement_features, entitlements, seat_assignments};
use crate::db::{DbConnection, DbError, write_transaction};
use crate::licensing::import::validate::{self, Known};
use crate::licensing::import::write::write_entitlement;
use crate::licensing::import::{EntitlementEntry, Issue, parse_time, set_of};
use crate::licensing::version::ProductVersion;

/// An entitlement as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntitlementView {
    pub tenant: String,
    #[serde(flatten)]
    pub terms: EntitlementEntry,
    /// Users holding one of its seats.
    pub seats_assigned: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// The terms to change; `None` keeps the stored value. The version bounds take `Some(None)`
/// to remove a bound.
#[derive(Debug, Clone, Default)]
pub struct EntitlementPatch {
    pub product: Option<String>,
    pub model: Option<String>,
    pub seats: Option<i64>,
    pub features: Option<Vec<String>>,
    pub environments: Option<Vec<String>>,
    pub starts_at: Option<String>,
    pub expires_at: Option<String>,
    pub grace_days: Option<i64>,
    pub min_version: Option<Option<String>>,
    pub max_version: Option<Option<String>>,
    pub status: Option<String>,
}

impl EntitlementPatch {
    fn apply(self, mut entry: EntitlementEntry) -> EntitlementEntry {
        macro_rules! take {
            ($($field:ident),*) => {$(
                if let Some(value) = self.$field {
                    entry.$field = value;
                }
            )*};
        }
        take!(
            product,
            model,
            seats,
            features,
            environments,
            starts_at,
            expires_at,
            grace_days,
            min_version,
            max_version,
            status
        );
        entry
    }
}

/// What became of a create or change.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Written now.
    Applied(EntitlementView),
    /// The request asked for the terms already stored: nothing was written.
    Unchanged(EntitlementView),
    /// Stored as a change waiting for a second admin; nothing else was written.
    Pending(changes::ChangeView),
}

/// The entitlements of `tenant` in id order; `NotFound` when the tenant does not exist.
pub fn list(
    conn: &mut DbConnection,
    tenant: &str,
    page: &Page,
) -> Result<Vec<EntitlementView>, ManageError> {
    tenants::require_approval(conn, tenant)?;
    let mut query = entitlements::table
        .filter(entitlements::tenant_id.eq(tenant.to_string()))
        .select(Entitlement::as_select())
        .order(entitlements::id)
        .limit(page.limit)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(entitlements::id.gt(after.clone()));
    }
    let rows: Vec<Entitlement> = query.load(conn)?;
    Ok(views(conn, tenant, rows)?)
}

/// One entitlement of `tenant`.
pub fn get(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
) -> Result<Option<EntitlementView>, DbError> {
    let row = entitlements::table
        .find((tenant, id))
        .select(Entitlement::as_select())
        .first(conn)
        .optional()?;
    Ok(views(conn, tenant, row.into_iter().collect())?.pop())
}

/// One entitlement of `tenant`; `NotFound` naming the tenant when it does not exist, else the
/// entitlement.
pub fn find(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
) -> Result<EntitlementView, ManageError> {
    match get(conn, tenant, id)? {
        Some(view) => Ok(view),
        None => Err(missing(conn, tenant, id)),
    }
}

/// Why entitlement `id` of `tenant` was not found: the tenant, or the entitlement.
pub(super) fn missing(conn: &mut DbConnection, tenant: &str, id: &str) -> ManageError {
    match tenants::require_approval(conn, tenant) {
        Ok(_) => ManageError::not_found(Kind::Entitlement, id),
        Err(err) => err,
    }
}

fn views(
    conn: &mut DbConnection,
    tenant: &str,
    rows: Vec<Entitlement>,
) -> Result<Vec<EntitlementView>, DbError> {
    let ids: Vec<&str> = rows.iter().map(|e| e.id.as_str()).collect();
    let links: Vec<(String, String)> = entitlement_features::table
        .filter(entitlement_features::tenant_id.eq(tenant))
        .filter(entitlement_features::entitlement_id.eq_any(&ids))
        .order(entitlement_features::feature_id)
        .select((
            entitlement_features::entitlement_id,
            entitlement_features::feature_id,
        ))
        .load(conn)?;
    let holders: Vec<String> = seat_assignments::table
        .filter(seat_assignments::tenant_id.eq(tenant))
        .filter(seat_assignments::entitlement_id.eq_any(&ids))
        .select(seat_assignments::entitlement_id)
        .load(conn)?;
    let mut features: HashMap<String, Vec<String>> = HashMap::new();
    for (entitlement, feature) in links {
        features.entry(entitlement).or_default().push(feature);
    }
    let mut assigned: HashMap<String, i64> = HashMap::new();
    for entitlement in holders {
        *assigned.entry(entitlement).or_default() += 1;
    }
    Ok(rows
        .into_iter()
        .map(|row| EntitlementView {
            tenant: row.tenant_id.clone(),
            seats_assigned: assigned.get(&row.id).copied().unwrap_or(0),
            created_at: rfc3339(&row.created_at),
            updated_at: rfc3339(&row.updated_at),
            terms: terms(&row, features.remove(&row.id).unwrap_or_default()),
        })
        .collect())
}

/// A stored entitlement as the import would write it.
fn terms(row: &Entitlement, features: Vec<String>) -> EntitlementEntry {
    EntitlementEntry {
        id: row.id.clone(),
        product: row.product_id.clone(),
        model: row.model.clone(),
        seats: row.seats,
        features,
        environments: serde_json::from_str(&row.environments).unwrap_or_default(),
        starts_at: rfc3339(&row.starts_at),
        expires_at: rfc3339(&row.expires_at),
        grace_days: row.grace_seconds / 86_400,
        min_version: row.min_version.clone(),
        max_version: row.max_version.clone(),
        status: row.status.clone(),
    }
}

/// The same terms in their one written form. Call after validation.
fn normalise(mut entry: EntitlementEntry) -> EntitlementEntry {
    let time = |text: &str| {
        parse_time(text)
            .map(|t| rfc3339(&t))
            .unwrap_or_else(|| text.to_string())
    };
    let version = |text: Option<String>| {
        text.map(|v| ProductVersion::parse(&v).map_or(v, |parsed| parsed.to_string()))
    };
    entry.starts_at = time(&entry.starts_at);
    entry.expires_at = time(&entry.expires_at);
    entry.min_version = version(entry.min_version);
    entry.max_version = version(entry.max_version);
    entry.features = set_of(&entry.features);
    entry.environments = set_of(&entry.environments);
    entry
}

/// Every problem with `entry` as terms of `tenant`: the import's rules, and no fewer seats
/// than are assigned.
pub(super) fn issues(
    conn: &mut DbConnection,
    tenant: &str,
    entry: &EntitlementEntry,
) -> Result<Vec<Issue>, DbError> {
    let known = Known::catalogue(conn)?;
    let mut issues = validate::entitlement(tenant, entry, &known);
    let assigned: i64 = seat_assignments::table
        .filter(seat_assignments::tenant_id.eq(tenant))
        .filter(seat_assignments::entitlement_id.eq(&entry.id))
        .count()
        .get_result(conn)?;
    if entry.seats < assigned {
        issues.push(Issue {
            entry: format!("tenant `{tenant}`, entitlement `{}`", entry.id),
            field: "seats".into(),
            message: format!(
                "`{}` is fewer than the {assigned} seat(s) assigned; release seats first",
                entry.seats
            ),
        });
    }
    Ok(issues)
}

/// Takes the entitlement's row lock until the transaction ends (a no-op update: PostgreSQL
/// locks the row, SQLite already holds the write lock); `NotFound` when it does not exist.
pub(super) fn lock(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<(), ManageError> {
    let touched = diesel::update(entitlements::table.find((tenant, id)))
        .set(entitlements::updated_at.eq(entitlements::updated_at))
        .execute(conn)?;
    if touched == 0 {
        return Err(missing(conn, tenant, id));
    }
    Ok(())
}

/// The stored terms of an entitlement, read under its row lock.
pub(super) fn locked_terms(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
) -> Result<EntitlementEntry, ManageError> {
    lock(conn, tenant, id)?;
    get(conn, tenant, id)?
        .map(|view| view.terms)
        .ok_or_else(|| ManageError::not_found(Kind::Entitlement, id))
}

/// Creates an entitlement of `tenant`, or asks for its approval.
pub fn create(
    conn: &mut DbConnection,
    tenant: &str,
    entry: EntitlementEntry,
    author: &Author,
) -> Result<Outcome, ManageError> {
    write_transaction(conn, |conn| {
        let approval = tenants::require_approval(conn, tenant)?;
        if get(conn, tenant, &entry.id)?.is_some() {
            return Err(ManageError::exists(Kind::Entitlement, &entry.id));
        }
        ManageError::check(issues(conn, tenant, &entry)?)?;
        let entry = normalise(entry);
        if approval {
            return changes::request(conn, tenant, None, entry, author).map(Outcome::Pending);
        }
        apply(conn, tenant, &entry, author).map(Outcome::Applied)
    })
}

/// Changes an entitlement of `tenant`, or asks for the change's approval.
pub fn update(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
    patch: EntitlementPatch,
    author: &Author,
) -> Result<Outcome, ManageError> {
    write_transaction(conn, |conn| {
        let approval = tenants::require_approval(conn, tenant)?;
        let current = locked_terms(conn, tenant, id)?;
        let wanted = patch.apply(current.clone());
        ManageError::check(issues(conn, tenant, &wanted)?)?;
        let wanted = normalise(wanted);
        if wanted == current {
            let view = get(conn, tenant, id)?;
            return view
                .map(Outcome::Unchanged)
                .ok_or_else(|| ManageError::not_found(Kind::Entitlement, id));
        }
        if approval {
            return changes::request(conn, tenant, Some(current), wanted, author)
                .map(Outcome::Pending);
        }
        apply(conn, tenant, &wanted, author).map(Outcome::Applied)
    })
}

/// Writes validated, normalised terms as the import would, with their audit events.
pub(super) fn apply(
    conn: &mut DbConnection,
    tenant: &str,
    entry: &EntitlementEntry,
    author: &Author,
) -> Result<EntitlementView, ManageError> {
    let mut log = change_log();
    write_entitlement(conn, tenant, entry, now(), &mut log)?;
    author.record_log(conn, log)?;
    get(conn, tenant, &entry.id)?
        .ok_or_else(|| ManageError::not_found(Kind::Entitlement, &entry.id))
}
