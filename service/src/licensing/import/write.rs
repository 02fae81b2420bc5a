//! Writing a validated import: insert what is new, update what differs, leave equal rows
//! alone, and record device status changes in the device history.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{
    Change, DeviceEntry, EntitlementEntry, ImportError, ImportFile, ProductEntry, Summary,
    TenantEntry, UserEntry, parse_time,
};
use crate::db::DbConnection;
use crate::db::models::*;
use crate::db::schema::*;
use crate::licensing::version::ProductVersion;

pub(super) fn write(
    conn: &mut DbConnection,
    data: &ImportFile,
    now: NaiveDateTime,
) -> Result<Summary, ImportError> {
    let mut summary = Summary::default();

    for role in &data.roles {
        let row = Role {
            id: role.id.clone(),
            description: role.description.clone(),
        };
        let existing = roles::table
            .find(&row.id)
            .select(Role::as_select())
            .first(conn)
            .optional()?;
        let change = match existing {
            None => insert(diesel::insert_into(roles::table).values(&row).execute(conn))?,
            Some(old) if old == row => Change::Unchanged,
            Some(_) => update(
                diesel::update(roles::table.find(&row.id))
                    .set(&row)
                    .execute(conn),
            )?,
        };
        summary.count("roles", change);
    }

    for product in &data.products {
        write_product(conn, product, now, &mut summary)?;
    }

    for tenant in &data.tenants {
        write_tenant(conn, tenant, now, &mut summary)?;
    }
    Ok(summary)
}

fn insert(result: QueryResult<usize>) -> QueryResult<Change> {
    result.map(|_| Change::Created)
}

fn update(result: QueryResult<usize>) -> QueryResult<Change> {
    result.map(|_| Change::Updated)
}

fn write_product(
    conn: &mut DbConnection,
    entry: &ProductEntry,
    now: NaiveDateTime,
    summary: &mut Summary,
) -> QueryResult<()> {
    let existing = products::table
        .find(&entry.id)
        .select(Product::as_select())
        .first(conn)
        .optional()?;
    let change = match existing {
        None => {
            let row = Product {
                id: entry.id.clone(),
                name: entry.name.clone(),
                created_at: now,
                updated_at: now,
            };
            insert(
                diesel::insert_into(products::table)
                    .values(&row)
                    .execute(conn),
            )?
        }
        Some(old) if old.name == entry.name => Change::Unchanged,
        Some(old) => {
            let row = Product {
                name: entry.name.clone(),
                updated_at: now,
                ..old
            };
            update(
                diesel::update(products::table.find(&entry.id))
                    .set(&row)
                    .execute(conn),
            )?
        }
    };
    summary.count("products", change);

    for release in &entry.releases {
        let row = ProductRelease {
            product_id: entry.id.clone(),
            version: release.version.clone(),
            released_on: release.released_on.clone(),
        };
        let key = (&row.product_id, &row.version);
        let existing = product_releases::table
            .find(key)
            .select(ProductRelease::as_select())
            .first(conn)
            .optional()?;
        let change = match existing {
            None => insert(
                diesel::insert_into(product_releases::table)
                    .values(&row)
                    .execute(conn),
            )?,
            Some(old) if old == row => Change::Unchanged,
            Some(_) => update(
                diesel::update(product_releases::table.find(key))
                    .set(&row)
                    .execute(conn),
            )?,
        };
        summary.count("releases", change);
    }

    for feature in &entry.features {
        let row = Feature {
            id: feature.id.clone(),
            product_id: entry.id.clone(),
            name: feature.name.clone(),
        };
        let existing = features::table
            .find(&row.id)
            .select(Feature::as_select())
            .first(conn)
            .optional()?;
        let change = match existing {
            None => insert(
                diesel::insert_into(features::table)
                    .values(&row)
                    .execute(conn),
            )?,
            Some(old) if old == row => Change::Unchanged,
            Some(_) => update(
                diesel::update(features::table.find(&row.id))
                    .set(&row)
                    .execute(conn),
            )?,
        };
        summary.count("features", change);
    }
    Ok(())
}

fn write_tenant(
    conn: &mut DbConnection,
    entry: &TenantEntry,
    now: NaiveDateTime,
    summary: &mut Summary,
) -> QueryResult<()> {
    let existing = tenants::table
        .find(&entry.id)
        .select(Tenant::as_select())
        .first(conn)
        .optional()?;
    let change = match existing {
        None => {
            let row = Tenant {
                id: entry.id.clone(),
                name: entry.name.clone(),
                status: entry.status.clone(),
                created_at: now,
                updated_at: now,
            };
            insert(
                diesel::insert_into(tenants::table)
                    .values(&row)
                    .execute(conn),
            )?
        }
        Some(old) if old.name == entry.name && old.status == entry.status => Change::Unchanged,
        Some(old) => {
            let row = Tenant {
                name: entry.name.clone(),
                status: entry.status.clone(),
                updated_at: now,
                ..old
            };
            update(
                diesel::update(tenants::table.find(&entry.id))
                    .set(&row)
                    .execute(conn),
            )?
        }
    };
    summary.count("tenants", change);

    for user in &entry.users {
        let change = write_user(conn, &entry.id, user, now)?;
        summary.count("users", change);
    }
    for ent in &entry.entitlements {
        let change = write_entitlement(conn, &entry.id, ent, now)?;
        summary.count("entitlements", change);
    }
    for device in &entry.devices {
        let change = write_device(conn, &entry.id, device, now)?;
        summary.count("devices", change);
    }
    Ok(())
}

fn write_user(
    conn: &mut DbConnection,
    tenant: &str,
    entry: &UserEntry,
    now: NaiveDateTime,
) -> QueryResult<Change> {
    let key = (tenant, entry.id.as_str());
    let existing = users::table
        .find(key)
        .select(User::as_select())
        .first(conn)
        .optional()?;
    let fresh = User {
        tenant_id: tenant.into(),
        id: entry.id.clone(),
        display_name: entry.display_name.clone(),
        email: entry.email.clone(),
        status: entry.status.clone(),
        created_at: now,
        updated_at: now,
    };
    let mut change = match existing {
        None => insert(
            diesel::insert_into(users::table)
                .values(&fresh)
                .execute(conn),
        )?,
        Some(old) => {
            let candidate = User {
                created_at: old.created_at,
                updated_at: old.updated_at,
                ..fresh.clone()
            };
            if candidate == old {
                Change::Unchanged
            } else {
                let row = User {
                    created_at: old.created_at,
                    ..fresh
                };
                update(
                    diesel::update(users::table.find(key))
                        .set(&row)
                        .execute(conn),
                )?
            }
        }
    };

    let wanted: BTreeSet<&str> = entry.roles.iter().map(String::as_str).collect();
    let current: Vec<String> = memberships::table
        .filter(
            memberships::tenant_id
                .eq(tenant)
                .and(memberships::user_id.eq(&entry.id)),
        )
        .select(memberships::role_id)
        .load(conn)?;
    let current: BTreeSet<&str> = current.iter().map(String::as_str).collect();
    if wanted != current {
        diesel::delete(
            memberships::table.filter(
                memberships::tenant_id
                    .eq(tenant)
                    .and(memberships::user_id.eq(&entry.id)),
            ),
        )
        .execute(conn)?;
        for role in &wanted {
            let row = Membership {
                tenant_id: tenant.into(),
                user_id: entry.id.clone(),
                role_id: (*role).into(),
            };
            diesel::insert_into(memberships::table)
                .values(&row)
                .execute(conn)?;
        }
        if change == Change::Unchanged {
            change = Change::Updated;
        }
    }
    Ok(change)
}

fn write_entitlement(
    conn: &mut DbConnection,
    tenant: &str,
    entry: &EntitlementEntry,
    now: NaiveDateTime,
) -> QueryResult<Change> {
    let key = (tenant, entry.id.as_str());
    // INVARIANT: validation has already checked every time and version parsed.
    let fresh = Entitlement {
        tenant_id: tenant.into(),
        id: entry.id.clone(),
        product_id: entry.product.clone(),
        model: entry.model.clone(),
        seats: entry.seats,
        environments: serde_json::to_string(&entry.environments).unwrap_or_else(|_| "[]".into()),
        starts_at: parse_time(&entry.starts_at).unwrap_or_default(),
        expires_at: parse_time(&entry.expires_at).unwrap_or_default(),
        grace_seconds: entry.grace_days * 86_400,
        min_version: normalise_version(entry.min_version.as_deref()),
        max_version: normalise_version(entry.max_version.as_deref()),
        status: entry.status.clone(),
        created_at: now,
        updated_at: now,
    };
    let existing = entitlements::table
        .find(key)
        .select(Entitlement::as_select())
        .first(conn)
        .optional()?;
    let mut change = match existing {
        None => insert(
            diesel::insert_into(entitlements::table)
                .values(&fresh)
                .execute(conn),
        )?,
        Some(old) => {
            let candidate = Entitlement {
                created_at: old.created_at,
                updated_at: old.updated_at,
                ..fresh.clone()
            };
            if candidate == old {
                Change::Unchanged
            } else {
                let row = Entitlement {
                    created_at: old.created_at,
                    ..fresh
                };
                update(
                    diesel::update(entitlements::table.find(key))
                        .set(&row)
                        .execute(conn),
                )?
            }
        }
    };

    let scope = entitlement_features::tenant_id
        .eq(tenant)
        .and(entitlement_features::entitlement_id.eq(&entry.id));
    let wanted: BTreeSet<&str> = entry.features.iter().map(String::as_str).collect();
    let current: Vec<String> = entitlement_features::table
        .filter(scope)
        .select(entitlement_features::feature_id)
        .load(conn)?;
    let current: BTreeSet<&str> = current.iter().map(String::as_str).collect();
    if wanted != current {
        diesel::delete(entitlement_features::table.filter(scope)).execute(conn)?;
        // One row at a time: the multi-backend connection has no batch insert.
        for feature in &wanted {
            let row = EntitlementFeature {
                tenant_id: tenant.into(),
                entitlement_id: entry.id.clone(),
                feature_id: (*feature).into(),
            };
            diesel::insert_into(entitlement_features::table)
                .values(&row)
                .execute(conn)?;
        }
        if change == Change::Unchanged {
            change = Change::Updated;
        }
    }
    Ok(change)
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
) -> QueryResult<Change> {
    let key = (tenant, entry.id.as_str());
    let existing = devices::table
        .find(key)
        .select(Device::as_select())
        .first(conn)
        .optional()?;
    let fresh = Device {
        tenant_id: tenant.into(),
        id: entry.id.clone(),
        fingerprint: entry.fingerprint.clone(),
        name: entry.name.clone(),
        entitlement_id: entry.entitlement.clone(),
        status: entry.status.clone(),
        created_at: now,
        updated_at: now,
    };
    let event = |name: &str, from: Option<String>| NewDeviceEvent {
        tenant_id: tenant.into(),
        device_id: entry.id.clone(),
        at: now,
        event: name.into(),
        from_status: from,
        to_status: entry.status.clone(),
        detail: Some("import".into()),
    };
    match existing {
        None => {
            diesel::insert_into(devices::table)
                .values(&fresh)
                .execute(conn)?;
            diesel::insert_into(device_events::table)
                .values(&event("registered", None))
                .execute(conn)?;
            Ok(Change::Created)
        }
        Some(old) => {
            let candidate = Device {
                created_at: old.created_at,
                updated_at: old.updated_at,
                ..fresh.clone()
            };
            if candidate == old {
                return Ok(Change::Unchanged);
            }
            if old.status != fresh.status {
                diesel::insert_into(device_events::table)
                    .values(&event("status_changed", Some(old.status.clone())))
                    .execute(conn)?;
            }
            let row = Device {
                created_at: old.created_at,
                ..fresh
            };
            diesel::update(devices::table.find(key))
                .set(&row)
                .execute(conn)?;
            Ok(Change::Updated)
        }
    }
}
