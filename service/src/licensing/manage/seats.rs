//! Seats of an entitlement held by named users.
//!
//! An assignment counts the seats already assigned inside the write transaction, after taking
//! the entitlement's row lock, so concurrent requests — on this replica or another — cannot
//! assign more seats than the entitlement has.

use diesel::prelude::*;
use serde::Serialize;

use super::{Author, Kind, ManageError, Page, entitlements, now, rfc3339, users};
use crate::audit::events::NewEvent;
use crate::db::models::SeatAssignment;
use crate::db::schema::{entitlements as entitlement_rows, seat_assignments};
use crate::db::{DbConnection, write_transaction};

/// A seat as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeatView {
    pub user: String,
    pub assigned_at: String,
}

impl From<SeatAssignment> for SeatView {
    fn from(row: SeatAssignment) -> Self {
        Self {
            user: row.user_id,
            assigned_at: rfc3339(&row.assigned_at),
        }
    }
}

/// The seats of an entitlement in user order; `NotFound` when it does not exist.
pub fn list(
    conn: &mut DbConnection,
    tenant: &str,
    entitlement: &str,
    page: &Page,
) -> Result<Vec<SeatView>, ManageError> {
    entitlements::find(conn, tenant, entitlement)?;
    let mut query = seat_assignments::table
        .filter(seat_assignments::tenant_id.eq(tenant.to_string()))
        .filter(seat_assignments::entitlement_id.eq(entitlement.to_string()))
        .select(SeatAssignment::as_select())
        .order(seat_assignments::user_id)
        .limit(page.limit)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(seat_assignments::user_id.gt(after.clone()));
    }
    Ok(query.load(conn)?.into_iter().map(Into::into).collect())
}

/// The seat `user` holds on an entitlement; `NotFound` naming the tenant, the entitlement or
/// the seat, whichever is missing.
pub fn get(
    conn: &mut DbConnection,
    tenant: &str,
    entitlement: &str,
    user: &str,
) -> Result<SeatView, ManageError> {
    entitlements::find(conn, tenant, entitlement)?;
    match find(conn, tenant, entitlement, user)? {
        Some(row) => Ok(row.into()),
        None => Err(ManageError::not_found(Kind::Seat, user)),
    }
}

fn find(
    conn: &mut DbConnection,
    tenant: &str,
    entitlement: &str,
    user: &str,
) -> QueryResult<Option<SeatAssignment>> {
    seat_assignments::table
        .find((tenant, entitlement, user))
        .select(SeatAssignment::as_select())
        .first(conn)
        .optional()
}

/// Gives `user` a seat; `SeatLimit` when every seat is taken, `Exists` when the user holds one.
pub fn assign(
    conn: &mut DbConnection,
    tenant: &str,
    entitlement: &str,
    user: &str,
    author: &Author,
) -> Result<SeatView, ManageError> {
    write_transaction(conn, |conn| {
        entitlements::lock(conn, tenant, entitlement)?;
        if users::get(conn, tenant, user)?.is_none() {
            return Err(ManageError::not_found(Kind::User, user));
        }
        if find(conn, tenant, entitlement, user)?.is_some() {
            return Err(ManageError::exists(Kind::Seat, user));
        }
        let seats: i64 = entitlement_rows::table
            .find((tenant, entitlement))
            .select(entitlement_rows::seats)
            .first(conn)?;
        let assigned: i64 = seat_assignments::table
            .filter(seat_assignments::tenant_id.eq(tenant))
            .filter(seat_assignments::entitlement_id.eq(entitlement))
            .count()
            .get_result(conn)?;
        if assigned >= seats {
            return Err(ManageError::SeatLimit {
                entitlement: entitlement.into(),
                seats,
            });
        }
        let row = SeatAssignment {
            tenant_id: tenant.into(),
            entitlement_id: entitlement.into(),
            user_id: user.into(),
            assigned_at: now(),
        };
        diesel::insert_into(seat_assignments::table)
            .values(&row)
            .execute(conn)?;
        let view = SeatView::from(row);
        author.record(
            conn,
            vec![event(tenant, entitlement, "seat.assign", None, Some(&view))],
        )?;
        Ok(view)
    })
}

/// Takes `user`'s seat back; `NotFound` when the user holds none.
pub fn release(
    conn: &mut DbConnection,
    tenant: &str,
    entitlement: &str,
    user: &str,
    author: &Author,
) -> Result<(), ManageError> {
    write_transaction(conn, |conn| {
        entitlements::lock(conn, tenant, entitlement)?;
        let Some(row) = find(conn, tenant, entitlement, user)? else {
            return Err(ManageError::not_found(Kind::Seat, user));
        };
        diesel::delete(seat_assignments::table.find((tenant, entitlement, user))).execute(conn)?;
        let view = SeatView::from(row);
        author.record(
            conn,
            vec![event(
                tenant,
                entitlement,
                "seat.release",
                Some(&view),
                None,
            )],
        )?;
        Ok(())
    })
}

fn event(
    tenant: &str,
    entitlement: &str,
    action: &str,
    before: Option<&SeatView>,
    after: Option<&SeatView>,
) -> NewEvent {
    let json = |v: &SeatView| serde_json::to_value(v).unwrap_or_default();
    NewEvent {
        tenant: Some(tenant.into()),
        action: action.into(),
        object_type: "seat".into(),
        object_id: format!("{entitlement}/{}", before.or(after).map_or("", |v| &v.user)),
        before: before.map(json),
        after: after.map(json),
        ..NewEvent::default()
    }
}
