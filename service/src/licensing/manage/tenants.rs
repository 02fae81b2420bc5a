//! Tenants: created and renamed, suspended, and switched to needing a second admin for
//! entitlement changes.
//!
//! Switching approval on takes effect at once, since it only makes changes stricter. Switching
//! it off while it is on is itself a change that waits for a second admin
//! ([`super::changes`]): otherwise one admin could switch it off, change an entitlement alone
//! and switch it back on. The whole `PATCH` that asks for it waits, with any other field in it.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Author, Kind, ManageError, Page, change_log, changes, now, rfc3339};
use crate::audit::events::NewEvent;
use crate::db::models::Tenant;
use crate::db::schema::tenants;
use crate::db::{DbConnection, DbError, write_transaction};
use crate::licensing::import::write::write_tenant;
use crate::licensing::import::{Summary, TenantEntry, validate};

/// A tenant as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantView {
    pub id: String,
    pub name: String,
    pub status: String,
    /// Whether entitlement changes wait for a second admin's approval.
    pub require_approval: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl TenantView {
    fn new(row: Tenant, require_approval: bool) -> Self {
        Self {
            created_at: rfc3339(&row.created_at),
            updated_at: rfc3339(&row.updated_at),
            id: row.id,
            name: row.name,
            status: row.status,
            require_approval,
        }
    }
}

/// A tenant's own fields, as a change waiting for approval stores them before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantTerms {
    pub id: String,
    pub name: String,
    pub status: String,
    pub require_approval: bool,
}

impl From<TenantView> for TenantTerms {
    fn from(view: TenantView) -> Self {
        Self {
            id: view.id,
            name: view.name,
            status: view.status,
            require_approval: view.require_approval,
        }
    }
}

/// What became of a change of a tenant.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Written now.
    Applied(TenantView),
    /// It switches approval off: stored as a change waiting for a second admin; nothing else
    /// was written.
    Pending(Box<changes::ChangeView>),
}

/// A new tenant.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: String,
    pub name: String,
    pub status: String,
    pub require_approval: bool,
}

/// The fields of a tenant to change; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct TenantPatch {
    pub name: Option<String>,
    pub status: Option<String>,
    pub require_approval: Option<bool>,
}

/// Tenants in id order, only `only` when given.
pub fn list(
    conn: &mut DbConnection,
    page: &Page,
    only: Option<&str>,
) -> Result<Vec<TenantView>, DbError> {
    let mut query = tenants::table
        .select((Tenant::as_select(), tenants::require_approval))
        .order(tenants::id)
        .limit(page.limit)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(tenants::id.gt(after.clone()));
    }
    if let Some(only) = only {
        query = query.filter(tenants::id.eq(only.to_string()));
    }
    let rows: Vec<(Tenant, bool)> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(row, flag)| TenantView::new(row, flag))
        .collect())
}

/// One tenant.
pub fn get(conn: &mut DbConnection, id: &str) -> Result<Option<TenantView>, DbError> {
    let row: Option<(Tenant, bool)> = tenants::table
        .find(id)
        .select((Tenant::as_select(), tenants::require_approval))
        .first(conn)
        .optional()?;
    Ok(row.map(|(row, flag)| TenantView::new(row, flag)))
}

/// Whether `tenant` exists and needs approval for entitlement changes; `NotFound` otherwise.
pub(super) fn require_approval(conn: &mut DbConnection, tenant: &str) -> Result<bool, ManageError> {
    tenants::table
        .find(tenant)
        .select(tenants::require_approval)
        .first(conn)
        .optional()?
        .ok_or_else(|| ManageError::not_found(Kind::Tenant, tenant))
}

/// Creates a tenant; `Exists` when its id is taken.
pub fn create(
    conn: &mut DbConnection,
    new: NewTenant,
    author: &Author,
) -> Result<TenantView, ManageError> {
    let entry = entry(new.id, new.name, new.status);
    ManageError::check(validate::tenant(&entry))?;
    write_transaction(conn, |conn| {
        if get(conn, &entry.id)?.is_some() {
            return Err(ManageError::exists(Kind::Tenant, &entry.id));
        }
        write(conn, &entry, false, new.require_approval, author)
    })
}

/// Changes a tenant, or asks for the change's approval when it switches approval off;
/// `NotFound` when the tenant does not exist.
pub fn update(
    conn: &mut DbConnection,
    id: &str,
    patch: TenantPatch,
    author: &Author,
) -> Result<Outcome, ManageError> {
    write_transaction(conn, |conn| {
        let current = locked_terms(conn, id)?;
        let wanted = TenantTerms {
            id: current.id.clone(),
            name: patch.name.unwrap_or_else(|| current.name.clone()),
            status: patch.status.unwrap_or_else(|| current.status.clone()),
            require_approval: patch.require_approval.unwrap_or(current.require_approval),
        };
        let entry = entry(
            wanted.id.clone(),
            wanted.name.clone(),
            wanted.status.clone(),
        );
        ManageError::check(validate::tenant(&entry))?;
        if current.require_approval && !wanted.require_approval {
            return changes::request_tenant(conn, current, wanted, author)
                .map(|change| Outcome::Pending(Box::new(change)));
        }
        apply(conn, &current, &wanted, author).map(Outcome::Applied)
    })
}

/// The stored fields of a tenant, read under its row lock (a no-op update: PostgreSQL locks
/// the row, SQLite already holds the write lock); `NotFound` when it does not exist.
pub(super) fn locked_terms(conn: &mut DbConnection, id: &str) -> Result<TenantTerms, ManageError> {
    let touched = diesel::update(tenants::table.find(id))
        .set(tenants::updated_at.eq(tenants::updated_at))
        .execute(conn)?;
    if touched == 0 {
        return Err(ManageError::not_found(Kind::Tenant, id));
    }
    get(conn, id)?
        .map(TenantTerms::from)
        .ok_or_else(|| ManageError::not_found(Kind::Tenant, id))
}

/// Checks `wanted` again and writes it over `current`, with its audit events.
pub(super) fn apply(
    conn: &mut DbConnection,
    current: &TenantTerms,
    wanted: &TenantTerms,
    author: &Author,
) -> Result<TenantView, ManageError> {
    let entry = entry(
        wanted.id.clone(),
        wanted.name.clone(),
        wanted.status.clone(),
    );
    ManageError::check(validate::tenant(&entry))?;
    write(
        conn,
        &entry,
        current.require_approval,
        wanted.require_approval,
        author,
    )
}

fn entry(id: String, name: String, status: String) -> TenantEntry {
    TenantEntry {
        id,
        name,
        status,
        users: Vec::new(),
        entitlements: Vec::new(),
        devices: Vec::new(),
    }
}

/// Writes the tenant's own fields as an import would, then the approval switch, which has an
/// audit event of its own (`tenant.require_approval`) so that turning it off stands out.
fn write(
    conn: &mut DbConnection,
    entry: &TenantEntry,
    stored_flag: bool,
    wanted_flag: bool,
    author: &Author,
) -> Result<TenantView, ManageError> {
    let mut log = change_log();
    let at = now();
    write_tenant(conn, entry, at, &mut Summary::default(), &mut log)?;
    if stored_flag != wanted_flag {
        diesel::update(tenants::table.find(&entry.id))
            .set((
                tenants::require_approval.eq(wanted_flag),
                tenants::updated_at.eq(at),
            ))
            .execute(conn)?;
        log.events.push(NewEvent {
            tenant: Some(entry.id.clone()),
            action: "tenant.require_approval".into(),
            object_type: "tenant".into(),
            object_id: entry.id.clone(),
            before: Some(json!({ "require_approval": stored_flag })),
            after: Some(json!({ "require_approval": wanted_flag })),
            ..NewEvent::default()
        });
    }
    author.record_log(conn, log)?;
    get(conn, &entry.id)?.ok_or_else(|| ManageError::not_found(Kind::Tenant, &entry.id))
}
