//! A tenant's users and their roles.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;

use super::{Author, Kind, ManageError, Page, change_log, now, rfc3339, tenants};
use crate::db::models::User;
use crate::db::schema::{memberships, users};
use crate::db::{DbConnection, DbError, write_transaction};
use crate::licensing::import::UserEntry;
use crate::licensing::import::validate::{self, Known};
use crate::licensing::import::write::write_user;

/// A user as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserView {
    pub id: String,
    pub display_name: String,
    pub email: Option<String>,
    pub status: String,
    pub roles: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// The users of `tenant` in id order; `NotFound` when the tenant does not exist.
pub fn list(
    conn: &mut DbConnection,
    tenant: &str,
    page: &Page,
) -> Result<Vec<UserView>, ManageError> {
    tenants::require_approval(conn, tenant)?;
    let mut query = users::table
        .filter(users::tenant_id.eq(tenant.to_string()))
        .select(User::as_select())
        .order(users::id)
        .limit(page.limit)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(users::id.gt(after.clone()));
    }
    let rows: Vec<User> = query.load(conn)?;
    Ok(with_roles(conn, tenant, rows)?)
}

/// One user of `tenant`.
pub fn get(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<Option<UserView>, DbError> {
    let row = users::table
        .find((tenant, id))
        .select(User::as_select())
        .first(conn)
        .optional()?;
    Ok(with_roles(conn, tenant, row.into_iter().collect())?.pop())
}

/// One user of `tenant`; `NotFound` naming the tenant when it does not exist, else the user.
pub fn find(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<UserView, ManageError> {
    match get(conn, tenant, id)? {
        Some(view) => Ok(view),
        None => {
            tenants::require_approval(conn, tenant)?;
            Err(ManageError::not_found(Kind::User, id))
        }
    }
}

fn with_roles(
    conn: &mut DbConnection,
    tenant: &str,
    rows: Vec<User>,
) -> Result<Vec<UserView>, DbError> {
    let ids: Vec<&str> = rows.iter().map(|u| u.id.as_str()).collect();
    let links: Vec<(String, String)> = memberships::table
        .filter(memberships::tenant_id.eq(tenant))
        .filter(memberships::user_id.eq_any(&ids))
        .order(memberships::role_id)
        .select((memberships::user_id, memberships::role_id))
        .load(conn)?;
    let mut roles: HashMap<String, Vec<String>> = HashMap::new();
    for (user, role) in links {
        roles.entry(user).or_default().push(role);
    }
    Ok(rows
        .into_iter()
        .map(|u| UserView {
            roles: roles.remove(&u.id).unwrap_or_default(),
            created_at: rfc3339(&u.created_at),
            updated_at: rfc3339(&u.updated_at),
            id: u.id,
            display_name: u.display_name,
            email: u.email,
            status: u.status,
        })
        .collect())
}

/// Creates a user of `tenant`; `Exists` when the tenant already has a user with its id.
pub fn create(
    conn: &mut DbConnection,
    tenant: &str,
    entry: UserEntry,
    author: &Author,
) -> Result<UserView, ManageError> {
    write_transaction(conn, |conn| {
        tenants::require_approval(conn, tenant)?;
        if get(conn, tenant, &entry.id)?.is_some() {
            return Err(ManageError::exists(Kind::User, &entry.id));
        }
        let known = Known::catalogue(conn)?;
        ManageError::check(validate::user(tenant, &entry, &known))?;
        let mut log = change_log();
        write_user(conn, tenant, &entry, now(), &mut log)?;
        author.record_log(conn, log)?;
        get(conn, tenant, &entry.id)?.ok_or_else(|| ManageError::not_found(Kind::User, &entry.id))
    })
}
