//! Changes waiting for a second admin (tenants with `require_approval`): entitlements created
//! or changed, and the tenant's own switch to approval turned off.
//!
//! A request stores the record before and after in `pending_changes` and writes nothing else,
//! so decisions keep seeing the old terms. Approval, by another token than the requester's,
//! checks that the record is still as the request found it, validates the new state again and
//! writes it, all in one transaction; rejection writes nothing but the decision. A change is
//! decided once.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::tenants::TenantTerms;
use super::{Author, Kind, ManageError, Page, entitlements, now, rfc3339, tenants};
use crate::audit::events::NewEvent;
use crate::db::models::PendingChangeRow;
use crate::db::schema::pending_changes;
use crate::db::{DbConnection, DbError, write_transaction};
use crate::licensing::import::EntitlementEntry;

/// What a change creates or changes.
pub const CREATE: &str = "entitlement.create";
pub const UPDATE: &str = "entitlement.update";
/// A change of a tenant that switches approval off, with any other field of the same request.
pub const TENANT_UPDATE: &str = "tenant.update";

/// The states of a change.
pub const STATUSES: [&str; 3] = ["pending", "approved", "rejected"];

/// The state a change was requested against (none for a new record) and the state it asks
/// for: an entitlement's terms or a tenant's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload<T> {
    pub before: Option<T>,
    pub after: T,
}

/// A change as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeView {
    pub id: String,
    pub tenant: String,
    pub kind: String,
    pub object: ObjectRef,
    pub payload: Value,
    pub requested_by: String,
    pub requested_at: String,
    pub reason: Option<String>,
    pub ticket: Option<String>,
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub decision_note: Option<String>,
}

/// The record a change is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

impl From<PendingChangeRow> for ChangeView {
    fn from(row: PendingChangeRow) -> Self {
        Self {
            object: ObjectRef {
                kind: row.kind.split('.').next().unwrap_or_default().into(),
                id: row.object_id,
            },
            payload: serde_json::from_str(&row.payload).unwrap_or(Value::Null),
            requested_at: rfc3339(&row.requested_at),
            decided_at: row.decided_at.as_ref().map(rfc3339),
            id: row.id,
            tenant: row.tenant_id,
            kind: row.kind,
            requested_by: row.requested_by,
            reason: row.reason,
            ticket: row.ticket,
            status: row.status,
            decided_by: row.decided_by,
            decision_note: row.decision_note,
        }
    }
}

/// Which changes to list.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    pub tenant: Option<String>,
    pub status: Option<String>,
}

/// A new change id: the request time in hex microseconds, so ids sort by age, and 32 random
/// bits.
fn new_id() -> String {
    let micros = chrono::Utc::now().timestamp_micros().max(0);
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("chg-{micros:014x}-{}", &random[..8])
}

/// Stores a change of `tenant`'s entitlement from `before` (none for a new one) to `after`,
/// with a `change.request` audit event. Runs inside the caller's transaction.
pub(super) fn request(
    conn: &mut DbConnection,
    tenant: &str,
    before: Option<EntitlementEntry>,
    after: EntitlementEntry,
    author: &Author,
) -> Result<ChangeView, ManageError> {
    let kind = if before.is_some() { UPDATE } else { CREATE };
    let object = after.id.clone();
    store(
        conn,
        tenant,
        kind,
        object,
        &Payload { before, after },
        author,
    )
}

/// Stores a change of a tenant's own fields from `before` to `after`, with a `change.request`
/// audit event. Runs inside the caller's transaction.
pub(super) fn request_tenant(
    conn: &mut DbConnection,
    before: TenantTerms,
    after: TenantTerms,
    author: &Author,
) -> Result<ChangeView, ManageError> {
    let tenant = before.id.clone();
    let payload = Payload {
        before: Some(before),
        after,
    };
    store(
        conn,
        &tenant,
        TENANT_UPDATE,
        tenant.clone(),
        &payload,
        author,
    )
}

fn store<T: Serialize>(
    conn: &mut DbConnection,
    tenant: &str,
    kind: &str,
    object_id: String,
    payload: &Payload<T>,
    author: &Author,
) -> Result<ChangeView, ManageError> {
    let row = PendingChangeRow {
        id: new_id(),
        tenant_id: tenant.into(),
        kind: kind.into(),
        object_id,
        payload: serde_json::to_string(payload).unwrap_or_else(|_| "null".into()),
        requested_by: author.actor.clone(),
        requested_at: now(),
        reason: author.reason.clone(),
        ticket: author.ticket.clone(),
        status: "pending".into(),
        decided_by: None,
        decided_at: None,
        decision_note: None,
    };
    diesel::insert_into(pending_changes::table)
        .values(&row)
        .execute(conn)?;
    let view = ChangeView::from(row);
    author.record(conn, vec![event(&view, "change.request", None)])?;
    Ok(view)
}

fn event(view: &ChangeView, action: &str, before: Option<Value>) -> NewEvent {
    NewEvent {
        tenant: Some(view.tenant.clone()),
        action: action.into(),
        object_type: "change".into(),
        object_id: view.id.clone(),
        before,
        after: serde_json::to_value(view).ok(),
        ..NewEvent::default()
    }
}

/// Changes in id order (oldest first).
pub fn list(
    conn: &mut DbConnection,
    filter: &ChangeFilter,
    page: &Page,
) -> Result<Vec<ChangeView>, DbError> {
    let mut query = pending_changes::table
        .select(PendingChangeRow::as_select())
        .order(pending_changes::id)
        .limit(page.limit)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(pending_changes::id.gt(after.clone()));
    }
    if let Some(tenant) = &filter.tenant {
        query = query.filter(pending_changes::tenant_id.eq(tenant.clone()));
    }
    if let Some(status) = &filter.status {
        query = query.filter(pending_changes::status.eq(status.clone()));
    }
    Ok(query.load(conn)?.into_iter().map(Into::into).collect())
}

/// One change.
pub fn get(conn: &mut DbConnection, id: &str) -> Result<Option<ChangeView>, DbError> {
    Ok(pending_changes::table
        .find(id)
        .select(PendingChangeRow::as_select())
        .first(conn)
        .optional()?
        .map(Into::into))
}

/// Locks a pending change and reads it; `Decided` when it was already decided.
fn lock_pending(conn: &mut DbConnection, id: &str) -> Result<ChangeView, ManageError> {
    diesel::update(pending_changes::table.find(id))
        .set(pending_changes::status.eq(pending_changes::status))
        .execute(conn)?;
    let change = get(conn, id)?.ok_or_else(|| ManageError::not_found(Kind::Change, id))?;
    if change.status != "pending" {
        return Err(ManageError::Decided {
            id: change.id,
            status: change.status,
        });
    }
    Ok(change)
}

fn decide(
    conn: &mut DbConnection,
    change: &ChangeView,
    status: &str,
    by: &Author,
    note: Option<String>,
) -> Result<ChangeView, ManageError> {
    diesel::update(pending_changes::table.find(&change.id))
        .set((
            pending_changes::status.eq(status),
            pending_changes::decided_by.eq(&by.actor),
            pending_changes::decided_at.eq(now()),
            pending_changes::decision_note.eq(note),
        ))
        .execute(conn)?;
    get(conn, &change.id)?.ok_or_else(|| ManageError::not_found(Kind::Change, &change.id))
}

/// Approves and applies a pending change. `approver` must not be the requester. The
/// record's audit events name the requester as actor, with the request's reason and ticket;
/// `change.approve` names the approver.
pub fn approve(
    conn: &mut DbConnection,
    id: &str,
    approver: &Author,
    note: Option<String>,
) -> Result<ChangeView, ManageError> {
    write_transaction(conn, |conn| {
        let change = lock_pending(conn, id)?;
        if change.requested_by == approver.actor {
            return Err(ManageError::SelfApproval(approver.actor.clone()));
        }
        let requester = Author {
            actor: change.requested_by.clone(),
            reason: change.reason.clone(),
            ticket: change.ticket.clone(),
            request_id: approver.request_id.clone(),
        };
        let apply = if change.kind == TENANT_UPDATE {
            check_tenant(conn, &change)?
        } else {
            check_entitlement(conn, &change)?
        };

        let decided = decide(conn, &change, "approved", approver, note)?;
        approver.record(
            conn,
            vec![event(&decided, "change.approve", json_status(&change))],
        )?;
        apply(conn, &requester)?;
        Ok(decided)
    })
}

/// The write an approved change makes, once checked.
type Apply = Box<dyn FnOnce(&mut DbConnection, &Author) -> Result<(), ManageError>>;

fn payload<T: serde::de::DeserializeOwned>(change: &ChangeView) -> Result<Payload<T>, DbError> {
    serde_json::from_value(change.payload.clone()).map_err(|e| {
        DbError::Query(format!(
            "change `{}` has an unreadable payload: {e}",
            change.id
        ))
    })
}

/// Checks that the entitlement is as the request found it and that the new terms still hold.
fn check_entitlement(conn: &mut DbConnection, change: &ChangeView) -> Result<Apply, ManageError> {
    let payload: Payload<EntitlementEntry> = payload(change)?;
    let tenant = change.tenant.clone();
    let target = &payload.after.id;
    match &payload.before {
        None => {
            if entitlements::get(conn, &tenant, target)?.is_some() {
                return Err(ManageError::exists(Kind::Entitlement, target));
            }
        }
        Some(before) => {
            if &entitlements::locked_terms(conn, &tenant, target)? != before {
                return Err(ManageError::Outdated {
                    kind: Kind::Entitlement,
                    id: target.clone(),
                });
            }
        }
    }
    ManageError::check(entitlements::issues(conn, &tenant, &payload.after)?)?;
    Ok(Box::new(move |conn, requester| {
        entitlements::apply(conn, &tenant, &payload.after, requester).map(|_| ())
    }))
}

/// Checks that the tenant is as the request found it.
fn check_tenant(conn: &mut DbConnection, change: &ChangeView) -> Result<Apply, ManageError> {
    let payload: Payload<TenantTerms> = payload(change)?;
    let current = tenants::locked_terms(conn, &change.tenant)?;
    if payload.before.as_ref() != Some(&current) {
        return Err(ManageError::Outdated {
            kind: Kind::Tenant,
            id: current.id,
        });
    }
    Ok(Box::new(move |conn, requester| {
        tenants::apply(conn, &current, &payload.after, requester).map(|_| ())
    }))
}

/// Rejects a pending change: nothing but the decision is written. The requester may reject
/// (withdraw) their own change.
pub fn reject(
    conn: &mut DbConnection,
    id: &str,
    by: &Author,
    note: Option<String>,
) -> Result<ChangeView, ManageError> {
    write_transaction(conn, |conn| {
        let change = lock_pending(conn, id)?;
        let decided = decide(conn, &change, "rejected", by, note)?;
        by.record(
            conn,
            vec![event(&decided, "change.reject", json_status(&change))],
        )?;
        Ok(decided)
    })
}

fn json_status(change: &ChangeView) -> Option<Value> {
    Some(json!({ "status": change.status }))
}
