//! The slice of data one decision needs (the tenant with its entitlements, the principal, the
//! feature catalogue), loaded from the database and kept in a moka cache.
//!
//! A change made through this process invalidates the affected entries at once. Changes made
//! elsewhere (another replica, `licet import`) are seen once the entry's time to live
//! (`cache.ttl_seconds`) has passed: that is the staleness bound. Unknown principals are not
//! cached, so a newly registered device is found at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use moka::sync::Cache;

use super::DecisionError;
use super::request::PrincipalKind;
use crate::db::models::{Device, Entitlement, Tenant, User};
use crate::db::schema::*;
use crate::db::{Database, DbConnection, DbError};
use crate::licensing::version::{ProductVersion, UNBOUNDED};
use crate::metrics::Metrics;

/// A tenant and every entitlement it holds.
#[derive(Debug)]
pub struct TenantSlice {
    pub tenant: Tenant,
    pub entitlements: Vec<EntitlementView>,
}

/// An entitlement with its features, environments and encoded version bounds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EntitlementView {
    pub row: Entitlement,
    pub features: Vec<String>,
    pub environments: Vec<String>,
    pub min_version: i64,
    pub max_version: i64,
}

impl EntitlementView {
    /// The view of `row` with its `features`: environments read, version bounds encoded.
    pub fn new(row: Entitlement, features: Vec<String>) -> Self {
        let environments = serde_json::from_str(&row.environments).unwrap_or_default();
        let encode = |v: &Option<String>| {
            v.as_deref()
                .and_then(|v| ProductVersion::parse(v).ok())
                .map(|v| v.encode())
        };
        EntitlementView {
            features,
            environments,
            min_version: encode(&row.min_version).unwrap_or(0),
            max_version: encode(&row.max_version).unwrap_or(UNBOUNDED),
            row,
        }
    }
}

/// The asking device or user.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PrincipalView {
    pub kind: PrincipalKind,
    pub id: String,
    pub status: String,
    /// The entitlement a device is bound to, if any.
    pub entitlement: Option<String>,
    pub roles: Vec<String>,
}

/// Feature id to product id, for every feature.
#[derive(Debug, Default)]
pub struct Catalogue {
    pub features: HashMap<String, String>,
}

type PrincipalKey = (String, PrincipalKind, String);

/// The caches in front of the database.
pub struct EntityCache {
    tenants: Cache<String, Arc<TenantSlice>>,
    principals: Cache<PrincipalKey, Arc<PrincipalView>>,
    catalogue: Cache<(), Arc<Catalogue>>,
    metrics: Metrics,
}

impl EntityCache {
    /// A cache whose entries live `ttl`; a zero `ttl` disables caching.
    pub fn new(ttl: Duration, max_entries: u64, metrics: Metrics) -> Self {
        let capacity = if ttl.is_zero() { 0 } else { max_entries };
        let ttl = ttl.max(Duration::from_millis(1));
        Self {
            tenants: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            principals: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            catalogue: Cache::builder()
                .max_capacity(capacity.min(1))
                .time_to_live(ttl)
                .build(),
            metrics,
        }
    }

    /// Forgets everything.
    pub fn invalidate_all(&self) {
        self.tenants.invalidate_all();
        self.principals.invalidate_all();
        self.catalogue.invalidate_all();
    }

    /// Entries held, for metrics.
    pub fn entry_count(&self) -> u64 {
        self.tenants.entry_count() + self.principals.entry_count() + self.catalogue.entry_count()
    }

    pub async fn catalogue(&self, db: &Database) -> Result<Arc<Catalogue>, DecisionError> {
        if let Some(hit) = self.catalogue.get(&()) {
            self.metrics.cache_lookup("catalogue", true);
            return Ok(hit);
        }
        self.metrics.cache_lookup("catalogue", false);
        let loaded = Arc::new(db.run(load_catalogue).await?);
        self.catalogue.insert((), Arc::clone(&loaded));
        Ok(loaded)
    }

    pub async fn tenant(
        &self,
        db: &Database,
        tenant: &str,
    ) -> Result<Arc<TenantSlice>, DecisionError> {
        if let Some(hit) = self.tenants.get(tenant) {
            self.metrics.cache_lookup("tenant", true);
            return Ok(hit);
        }
        self.metrics.cache_lookup("tenant", false);
        let id = tenant.to_string();
        let loaded = db.run(move |conn| load_tenant(conn, &id)).await?;
        let slice =
            Arc::new(loaded.ok_or_else(|| DecisionError::UnknownTenant(tenant.to_string()))?);
        self.tenants.insert(tenant.to_string(), Arc::clone(&slice));
        Ok(slice)
    }

    pub async fn principal(
        &self,
        db: &Database,
        tenant: &str,
        kind: PrincipalKind,
        id: &str,
    ) -> Result<Arc<PrincipalView>, DecisionError> {
        let key = (tenant.to_string(), kind, id.to_string());
        if let Some(hit) = self.principals.get(&key) {
            self.metrics.cache_lookup("principal", true);
            return Ok(hit);
        }
        self.metrics.cache_lookup("principal", false);
        let (t, i) = (tenant.to_string(), id.to_string());
        let loaded = db
            .run(move |conn| load_principal(conn, &t, kind, &i))
            .await?;
        let view = Arc::new(loaded.ok_or_else(|| DecisionError::UnknownPrincipal {
            kind: kind.as_str().to_string(),
            id: id.to_string(),
        })?);
        self.principals.insert(key, Arc::clone(&view));
        Ok(view)
    }
}

fn load_catalogue(conn: &mut DbConnection) -> Result<Catalogue, DbError> {
    let rows: Vec<(String, String)> = features::table
        .select((features::id, features::product_id))
        .load(conn)?;
    Ok(Catalogue {
        features: rows.into_iter().collect(),
    })
}

fn load_tenant(conn: &mut DbConnection, id: &str) -> Result<Option<TenantSlice>, DbError> {
    let Some(tenant) = tenants::table
        .find(id)
        .select(Tenant::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let rows: Vec<Entitlement> = entitlements::table
        .filter(entitlements::tenant_id.eq(id))
        .order(entitlements::id)
        .select(Entitlement::as_select())
        .load(conn)?;
    let links: Vec<(String, String)> = entitlement_features::table
        .filter(entitlement_features::tenant_id.eq(id))
        .select((
            entitlement_features::entitlement_id,
            entitlement_features::feature_id,
        ))
        .load(conn)?;
    let mut features: HashMap<String, Vec<String>> = HashMap::new();
    for (entitlement, feature) in links {
        features.entry(entitlement).or_default().push(feature);
    }
    let entitlements = rows
        .into_iter()
        .map(|row| {
            let features = features.remove(&row.id).unwrap_or_default();
            EntitlementView::new(row, features)
        })
        .collect();
    Ok(Some(TenantSlice {
        tenant,
        entitlements,
    }))
}

fn load_principal(
    conn: &mut DbConnection,
    tenant: &str,
    kind: PrincipalKind,
    id: &str,
) -> Result<Option<PrincipalView>, DbError> {
    match kind {
        PrincipalKind::Device => {
            let device = devices::table
                .find((tenant, id))
                .select(Device::as_select())
                .first(conn)
                .optional()?;
            Ok(device.map(|d| PrincipalView {
                kind,
                id: d.id,
                status: d.status,
                entitlement: d.entitlement_id,
                roles: Vec::new(),
            }))
        }
        PrincipalKind::User => {
            let Some(user) = users::table
                .find((tenant, id))
                .select(User::as_select())
                .first(conn)
                .optional()?
            else {
                return Ok(None);
            };
            let roles = memberships::table
                .filter(
                    memberships::tenant_id
                        .eq(tenant)
                        .and(memberships::user_id.eq(id)),
                )
                .select(memberships::role_id)
                .load(conn)?;
            Ok(Some(PrincipalView {
                kind,
                id: user.id,
                status: user.status,
                entitlement: None,
                roles,
            }))
        }
    }
}
