//! Writing a validated import: insert what is new, update what differs, leave equal rows
//! alone, record device creation and status changes in the device history, and collect every
//! change (before and after) for the audit trail.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{
    Change, DeviceEntry, EntitlementEntry, ImportError, ImportFile, ProductEntry, Summary,
    TenantEntry, UserEntry, parse_time,
};
use crate::audit::events::NewEvent;
use crate::db::DbConnection;
use crate::db::models::*;
use crate::db::schema::*;
use crate::licensing::activation::revoke_device_files;
use crate::licensing::version::ProductVersion;

/// Rows carry creation and update times that an import keeps rather than compares.
trait Stamped: Clone + PartialEq {
    fn stamps(&self) -> Option<(NaiveDateTime, NaiveDateTime)>;
    fn with_stamps(self, created: NaiveDateTime, updated: NaiveDateTime) -> Self;
}

macro_rules! stamped {
    ($($model:ty),*) => {$(
        impl Stamped for $model {
            fn stamps(&self) -> Option<(NaiveDateTime, NaiveDateTime)> {
                Some((self.created_at, self.updated_at))
            }
            fn with_stamps(mut self, created: NaiveDateTime, updated: NaiveDateTime) -> Self {
                self.created_at = created;
                self.updated_at = updated;
                self
            }
        }
    )*};
}

macro_rules! unstamped {
    ($($model:ty),*) => {$(
        impl Stamped for $model {
            fn stamps(&self) -> Option<(NaiveDateTime, NaiveDateTime)> {
                None
            }
            fn with_stamps(self, _: NaiveDateTime, _: NaiveDateTime) -> Self {
                self
            }
        }
    )*};
}

stamped!(Tenant, User, Product, Entitlement, Device);
unstamped!(Role, Feature, ProductRelease);

/// What to do with a row from the file, given the row stored under its key.
enum Plan<T> {
    Insert(T),
    Keep,
    /// The new row, carrying the stored creation time and the import's update time.
    Update(T),
}

fn plan<T: Stamped>(existing: Option<T>, fresh: T) -> Plan<T> {
    let Some(old) = existing else {
        return Plan::Insert(fresh);
    };
    match (old.stamps(), fresh.stamps()) {
        (Some((created, updated)), Some((_, now))) => {
            if fresh.clone().with_stamps(created, updated) == old {
                Plan::Keep
            } else {
                Plan::Update(fresh.with_stamps(created, now))
            }
        }
        _ if fresh == old => Plan::Keep,
        _ => Plan::Update(fresh),
    }
}

/// The changes an import made, as audit events without an actor yet.
#[derive(Debug, Default)]
pub(crate) struct ChangeLog {
    pub events: Vec<NewEvent>,
    /// Names actions after the object (`entitlement.update`) rather than the import
    /// (`import.update`): set for changes made through the admin API.
    pub by_object: bool,
}

impl ChangeLog {
    fn record<T: serde::Serialize>(
        &mut self,
        object_type: &str,
        tenant: Option<&str>,
        object_id: &str,
        before: Option<&T>,
        after: &T,
    ) {
        let json = |v: &T| serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
        let verb = if before.is_some() { "update" } else { "create" };
        let source = if self.by_object {
            object_type
        } else {
            "import"
        };
        self.events.push(NewEvent {
            action: format!("{source}.{verb}"),
            object_type: object_type.into(),
            tenant: tenant.map(str::to_string),
            object_id: object_id.into(),
            before: before.map(json),
            after: Some(json(after)),
            ..NewEvent::default()
        });
    }
}

/// Inserts `$row` into `$table`, or updates the row stored at `$key` when it differs, logs
/// the change as `$kind` `$id` of `$tenant`, and evaluates to the [`Change`] made.
macro_rules! reconcile {
    ($conn:expr, $log:expr, $kind:literal, $tenant:expr, $id:expr, $table:ident, $model:ty, $key:expr, $row:expr) => {{
        let existing = $table::table
            .find($key)
            .select(<$model>::as_select())
            .first::<$model>($conn)
            .optional()?;
        let before = existing.clone();
        match plan(existing, $row) {
            Plan::Insert(row) => {
                diesel::insert_into($table::table)
                    .values(&row)
                    .execute($conn)?;
                $log.record($kind, $tenant, $id, None, &row);
                Change::Created
            }
            Plan::Update(row) => {
                diesel::update($table::table.find($key))
                    .set(&row)
                    .execute($conn)?;
                $log.record($kind, $tenant, $id, before.as_ref(), &row);
                Change::Updated
            }
            Plan::Keep => Change::Unchanged,
        }
    }};
}

/// Makes a stored set of ids equal `wanted`; true when it had to change.
fn sync_set(
    conn: &mut DbConnection,
    current: Vec<String>,
    wanted: &BTreeSet<&str>,
    clear: impl FnOnce(&mut DbConnection) -> QueryResult<usize>,
    mut add: impl FnMut(&mut DbConnection, &str) -> QueryResult<usize>,
) -> QueryResult<bool> {
    let current: BTreeSet<&str> = current.iter().map(String::as_str).collect();
    if &current == wanted {
        return Ok(false);
    }
    clear(conn)?;
    // One row at a time: the multi-backend connection has no batch insert.
    for id in wanted {
        add(conn, id)?;
    }
    Ok(true)
}

fn sorted(set: &BTreeSet<&str>) -> Vec<String> {
    set.iter().map(|s| s.to_string()).collect()
}

/// A set change turns an unchanged record into an updated one.
fn with_set_change(change: Change, set_changed: bool) -> Change {
    if set_changed && change == Change::Unchanged {
        Change::Updated
    } else {
        change
    }
}

pub(super) fn write(
    conn: &mut DbConnection,
    data: &ImportFile,
    now: NaiveDateTime,
    log: &mut ChangeLog,
) -> Result<Summary, ImportError> {
    let mut summary = Summary::default();
    for role in &data.roles {
        let row = Role {
            id: role.id.clone(),
            description: role.description.clone(),
        };
        let change = reconcile!(
            conn, log, "role", None, &role.id, roles, Role, &role.id, row
        );
        summary.count("roles", change);
    }
    for product in &data.products {
        write_product(conn, product, now, &mut summary, log)?;
    }
    for tenant in &data.tenants {
        write_tenant(conn, tenant, now, &mut summary, log)?;
    }
    Ok(summary)
}

pub(crate) fn write_product(
    conn: &mut DbConnection,
    entry: &ProductEntry,
    now: NaiveDateTime,
    summary: &mut Summary,
    log: &mut ChangeLog,
) -> QueryResult<()> {
    let row = Product {
        id: entry.id.clone(),
        name: entry.name.clone(),
        created_at: now,
        updated_at: now,
    };
    summary.count(
        "products",
        reconcile!(
            conn, log, "product", None, &entry.id, products, Product, &entry.id, row
        ),
    );

    for release in &entry.releases {
        let row = ProductRelease {
            product_id: entry.id.clone(),
            version: release.version.clone(),
            released_on: release.released_on.clone(),
        };
        let key = (&entry.id, &release.version);
        let id = format!("{}@{}", entry.id, release.version);
        summary.count(
            "releases",
            reconcile!(
                conn,
                log,
                "product_release",
                None,
                &id,
                product_releases,
                ProductRelease,
                key,
                row
            ),
        );
    }

    for feature in &entry.features {
        let row = Feature {
            id: feature.id.clone(),
            product_id: entry.id.clone(),
            name: feature.name.clone(),
        };
        summary.count(
            "features",
            reconcile!(
                conn,
                log,
                "feature",
                None,
                &feature.id,
                features,
                Feature,
                &feature.id,
                row
            ),
        );
    }
    Ok(())
}

pub(crate) fn write_tenant(
    conn: &mut DbConnection,
    entry: &TenantEntry,
    now: NaiveDateTime,
    summary: &mut Summary,
    log: &mut ChangeLog,
) -> QueryResult<()> {
    let row = Tenant {
        id: entry.id.clone(),
        name: entry.name.clone(),
        status: entry.status.clone(),
        created_at: now,
        updated_at: now,
    };
    let tenant = Some(entry.id.as_str());
    let change = reconcile!(
        conn, log, "tenant", tenant, &entry.id, tenants, Tenant, &entry.id, row
    );
    summary.count("tenants", change);

    for user in &entry.users {
        let change = write_user(conn, &entry.id, user, now, log)?;
        summary.count("users", change);
    }
    for ent in &entry.entitlements {
        let change = write_entitlement(conn, &entry.id, ent, now, log)?;
        summary.count("entitlements", change);
    }
    for device in &entry.devices {
        let change = write_device(conn, &entry.id, device, now, log)?;
        summary.count("devices", change);
    }
    Ok(())
}

pub(crate) fn write_user(
    conn: &mut DbConnection,
    tenant: &str,
    entry: &UserEntry,
    now: NaiveDateTime,
    log: &mut ChangeLog,
) -> QueryResult<Change> {
    let row = User {
        tenant_id: tenant.into(),
        id: entry.id.clone(),
        display_name: entry.display_name.clone(),
        email: entry.email.clone(),
        status: entry.status.clone(),
        created_at: now,
        updated_at: now,
    };
    let key = (tenant, entry.id.as_str());
    let change = reconcile!(
        conn,
        log,
        "user",
        Some(tenant),
        &entry.id,
        users,
        User,
        key,
        row
    );

    let mine = memberships::tenant_id
        .eq(tenant)
        .and(memberships::user_id.eq(&entry.id));
    let current = memberships::table
        .filter(mine)
        .select(memberships::role_id)
        .load(conn)?;
    let wanted: BTreeSet<&str> = entry.roles.iter().map(String::as_str).collect();
    let mut before: Vec<String> = current.clone();
    before.sort();
    let changed = sync_set(
        conn,
        current,
        &wanted,
        |conn| diesel::delete(memberships::table.filter(mine)).execute(conn),
        |conn, role| {
            let row = Membership {
                tenant_id: tenant.into(),
                user_id: entry.id.clone(),
                role_id: role.into(),
            };
            diesel::insert_into(memberships::table)
                .values(&row)
                .execute(conn)
        },
    )?;
    if changed {
        let id = format!("{}/roles", entry.id);
        log.record(
            "user_roles",
            Some(tenant),
            &id,
            Some(&before),
            &sorted(&wanted),
        );
    }
    Ok(with_set_change(change, changed))
}

pub(crate) fn write_entitlement(
    conn: &mut DbConnection,
    tenant: &str,
    entry: &EntitlementEntry,
    now: NaiveDateTime,
    log: &mut ChangeLog,
) -> QueryResult<Change> {
    // INVARIANT: validation has already checked that every time and version parses.
    let row = Entitlement {
        tenant_id: tenant.into(),
        id: entry.id.clone(),
        product_id: entry.product.clone(),
        model: entry.model.clone(),
        seats: entry.seats,
        environments: serde_json::to_string(&super::set_of(&entry.environments))
            .unwrap_or_else(|_| "[]".into()),
        starts_at: parse_time(&entry.starts_at).unwrap_or_default(),
        expires_at: parse_time(&entry.expires_at).unwrap_or_default(),
        grace_seconds: entry.grace_days * 86_400,
        min_version: normalise_version(entry.min_version.as_deref()),
        max_version: normalise_version(entry.max_version.as_deref()),
        status: entry.status.clone(),
        created_at: now,
        updated_at: now,
    };
    let key = (tenant, entry.id.as_str());
    let change = reconcile!(
        conn,
        log,
        "entitlement",
        Some(tenant),
        &entry.id,
        entitlements,
        Entitlement,
        key,
        row
    );

    let mine = entitlement_features::tenant_id
        .eq(tenant)
        .and(entitlement_features::entitlement_id.eq(&entry.id));
    let current = entitlement_features::table
        .filter(mine)
        .select(entitlement_features::feature_id)
        .load(conn)?;
    let wanted: BTreeSet<&str> = entry.features.iter().map(String::as_str).collect();
    let mut before: Vec<String> = current.clone();
    before.sort();
    let changed = sync_set(
        conn,
        current,
        &wanted,
        |conn| diesel::delete(entitlement_features::table.filter(mine)).execute(conn),
        |conn, feature| {
            let row = EntitlementFeature {
                tenant_id: tenant.into(),
                entitlement_id: entry.id.clone(),
                feature_id: feature.into(),
            };
            diesel::insert_into(entitlement_features::table)
                .values(&row)
                .execute(conn)
        },
    )?;
    if changed {
        let id = format!("{}/features", entry.id);
        log.record(
            "entitlement_features",
            Some(tenant),
            &id,
            Some(&before),
            &sorted(&wanted),
        );
    }
    Ok(with_set_change(change, changed))
}

fn normalise_version(value: Option<&str>) -> Option<String> {
    value
        .and_then(|v| ProductVersion::parse(v).ok())
        .map(|v| v.to_string())
}

fn write_device(
    conn: &mut DbConnection,
    tenant: &str,
    entry: &DeviceEntry,
    now: NaiveDateTime,
    log: &mut ChangeLog,
) -> QueryResult<Change> {
    let key = (tenant, entry.id.as_str());
    let old: Option<(String, String)> = devices::table
        .find(key)
        .select((devices::status, devices::fingerprint))
        .first(conn)
        .optional()?;
    let (old_status, old_fingerprint) = old.unzip();
    let row = Device {
        tenant_id: tenant.into(),
        id: entry.id.clone(),
        fingerprint: entry.fingerprint.clone(),
        name: entry.name.clone(),
        entitlement_id: entry.entitlement.clone(),
        status: entry.status.clone(),
        created_at: now,
        updated_at: now,
    };
    let change = reconcile!(
        conn,
        log,
        "device",
        Some(tenant),
        &entry.id,
        devices,
        Device,
        key,
        row
    );

    let event = match (&old_status, change) {
        (None, Change::Created) => Some("registered"),
        (Some(old), Change::Updated) if old != &entry.status => Some("status_changed"),
        _ => None,
    };
    if let Some(event) = event {
        let row = NewDeviceEvent {
            tenant_id: tenant.into(),
            device_id: entry.id.clone(),
            at: now,
            event: event.into(),
            from_status: old_status.clone(),
            to_status: entry.status.clone(),
            detail: Some("import".into()),
        };
        diesel::insert_into(device_events::table)
            .values(&row)
            .execute(conn)?;
    }
    // Licence files of a machine the import takes out of service, or of the fingerprint it
    // moved away from, stop counting offline too.
    let out_of_service = entry.status != "active" && old_status.as_deref() != Some(&entry.status);
    if out_of_service {
        let fingerprint = old_fingerprint.as_deref().unwrap_or(&entry.fingerprint);
        revoke_device_files(conn, tenant, &entry.id, fingerprint, now, "import")?;
    } else if let Some(moved_from) = old_fingerprint.filter(|f| *f != entry.fingerprint) {
        revoke_device_files(conn, tenant, &entry.id, &moved_from, now, "import")?;
    }
    Ok(change)
}
