//! `licet import`: loads tenants, products, features, entitlements, users and devices from a
//! YAML file.
//!
//! The whole file is validated before anything is written, and every problem found is reported
//! with the file, the entry and the field. Writing is one transaction that inserts what is new,
//! updates what differs and leaves equal rows alone, so importing the same file twice changes
//! nothing. Import never deletes: an entry missing from the file is left as it is.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;

use super::version::ProductVersion;
use crate::db::models::*;
use crate::db::schema::*;
use crate::db::{DbConnection, DbError};
use crate::state::AppState;

/// The import file. Every list may be omitted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportFile {
    #[serde(default)]
    pub roles: Vec<RoleEntry>,
    #[serde(default)]
    pub products: Vec<ProductEntry>,
    #[serde(default)]
    pub tenants: Vec<TenantEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleEntry {
    pub id: String,
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductEntry {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub releases: Vec<ReleaseEntry>,
    #[serde(default)]
    pub features: Vec<FeatureEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseEntry {
    pub version: String,
    pub released_on: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureEntry {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantEntry {
    pub id: String,
    pub name: String,
    #[serde(default = "active")]
    pub status: String,
    #[serde(default)]
    pub users: Vec<UserEntry>,
    #[serde(default)]
    pub entitlements: Vec<EntitlementEntry>,
    #[serde(default)]
    pub devices: Vec<DeviceEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    pub id: String,
    pub display_name: String,
    pub email: Option<String>,
    #[serde(default = "active")]
    pub status: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitlementEntry {
    pub id: String,
    pub product: String,
    pub model: String,
    pub seats: i64,
    pub features: Vec<String>,
    pub environments: Vec<String>,
    pub starts_at: String,
    pub expires_at: String,
    #[serde(default)]
    pub grace_days: i64,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    #[serde(default = "active")]
    pub status: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    pub id: String,
    pub fingerprint: String,
    pub name: String,
    pub entitlement: Option<String>,
    #[serde(default = "active")]
    pub status: String,
}

fn active() -> String {
    "active".into()
}

/// One problem found in an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub entry: String,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, field `{}`: {}",
            self.entry, self.field, self.message
        )
    }
}

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: {} problem(s) found, nothing was written:\n{}", issues.len(), list(file, issues))]
    Invalid { file: String, issues: Vec<Issue> },
    #[error(transparent)]
    Db(#[from] DbError),
    /// Carries a dry run's summary out of its rolled-back transaction.
    #[error("dry run rolled back: {0}")]
    RolledBack(Summary),
}

impl From<diesel::result::Error> for ImportError {
    fn from(err: diesel::result::Error) -> Self {
        ImportError::Db(err.into())
    }
}

fn list(file: &str, issues: &[Issue]) -> String {
    issues
        .iter()
        .map(|i| format!("  {file}: {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What an import did, by kind of record.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub created: BTreeMap<&'static str, usize>,
    pub updated: BTreeMap<&'static str, usize>,
    pub unchanged: BTreeMap<&'static str, usize>,
}

impl Summary {
    fn count(&mut self, kind: &'static str, change: Change) {
        let map = match change {
            Change::Created => &mut self.created,
            Change::Updated => &mut self.updated,
            Change::Unchanged => &mut self.unchanged,
        };
        *map.entry(kind).or_default() += 1;
    }

    /// Records created or updated; zero means the import changed nothing.
    pub fn changes(&self) -> usize {
        self.created.values().sum::<usize>() + self.updated.values().sum::<usize>()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |map: &BTreeMap<&str, usize>| {
            if map.is_empty() {
                "nothing".to_string()
            } else {
                map.iter()
                    .map(|(k, v)| format!("{v} {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        write!(
            f,
            "created: {}; updated: {}; unchanged: {}",
            show(&self.created),
            show(&self.updated),
            show(&self.unchanged)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Created,
    Updated,
    Unchanged,
}

/// Parses `text` (named `file` in messages).
pub fn parse(file: &str, text: &str) -> Result<ImportFile, ImportError> {
    serde_yaml::from_str(text).map_err(|e| ImportError::Parse {
        file: file.into(),
        message: e.to_string(),
    })
}

/// Validates and writes `data` in one transaction.
pub fn import(
    conn: &mut DbConnection,
    file: &str,
    data: &ImportFile,
) -> Result<Summary, ImportError> {
    conn.transaction(|conn| validate_and_write(conn, file, data))
}

/// Imports through a running service: writes off the worker threads, then drops the cached
/// entity slices so that the next decision on this process sees the change.
pub async fn apply(state: &AppState, file: &str, data: ImportFile) -> Result<Summary, ImportError> {
    let name = file.to_string();
    let summary = state.db.run(move |conn| import(conn, &name, &data)).await?;
    if summary.changes() > 0 {
        state.cache.invalidate_all();
    }
    Ok(summary)
}

/// Like [`import`], but rolls everything back: reports what an import would change.
pub fn dry_run(
    conn: &mut DbConnection,
    file: &str,
    data: &ImportFile,
) -> Result<Summary, ImportError> {
    let outcome = conn.transaction(|conn| {
        let summary = validate_and_write(conn, file, data)?;
        Err::<(), _>(ImportError::RolledBack(summary))
    });
    match outcome {
        Err(ImportError::RolledBack(summary)) => Ok(summary),
        Err(other) => Err(other),
        Ok(()) => Ok(Summary::default()),
    }
}

fn validate_and_write(
    conn: &mut DbConnection,
    file: &str,
    data: &ImportFile,
) -> Result<Summary, ImportError> {
    let known = Known::load(conn)?;
    let issues = validate(data, &known);
    if !issues.is_empty() {
        return Err(ImportError::Invalid {
            file: file.into(),
            issues,
        });
    }
    write(conn, data, Utc::now().naive_utc())
}

/// Ids already in the database that an import file may refer to.
#[derive(Debug, Default)]
struct Known {
    roles: HashSet<String>,
    features: HashMap<String, String>,
    products: HashSet<String>,
    entitlements: HashSet<(String, String)>,
}

impl Known {
    fn load(conn: &mut DbConnection) -> Result<Self, diesel::result::Error> {
        Ok(Self {
            roles: roles::table
                .select(roles::id)
                .load(conn)?
                .into_iter()
                .collect(),
            features: features::table
                .select((features::id, features::product_id))
                .load::<(String, String)>(conn)?
                .into_iter()
                .collect(),
            products: products::table
                .select(products::id)
                .load(conn)?
                .into_iter()
                .collect(),
            entitlements: entitlements::table
                .select((entitlements::tenant_id, entitlements::id))
                .load(conn)?
                .into_iter()
                .collect(),
        })
    }
}

const ENTITLEMENT_MODELS: [&str; 3] = ["named_user", "device", "floating"];

struct Checker {
    issues: Vec<Issue>,
}

impl Checker {
    fn fail(&mut self, entry: &str, field: &str, message: impl Into<String>) {
        self.issues.push(Issue {
            entry: entry.into(),
            field: field.into(),
            message: message.into(),
        });
    }

    fn id(&mut self, entry: &str, field: &str, value: &str) {
        let ok = !value.is_empty()
            && value.len() <= 128
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
        if !ok {
            self.fail(
                entry,
                field,
                format!("`{value}` must be 1 to 128 letters, digits, `.`, `_`, `:` or `-`"),
            );
        }
    }

    fn one_of(&mut self, entry: &str, field: &str, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.fail(
                entry,
                field,
                format!("`{value}` must be one of {}", allowed.join(", ")),
            );
        }
    }

    fn unique<'a>(
        &mut self,
        seen: &mut HashSet<&'a str>,
        entry: &str,
        field: &str,
        value: &'a str,
    ) {
        if !seen.insert(value) {
            self.fail(entry, field, format!("`{value}` appears more than once"));
        }
    }

    fn time(&mut self, entry: &str, field: &str, value: &str) -> Option<NaiveDateTime> {
        let parsed = parse_time(value);
        if parsed.is_none() {
            self.fail(
                entry,
                field,
                format!("`{value}` is not a time such as `2026-01-31T00:00:00Z` or `2026-01-31`"),
            );
        }
        parsed
    }

    fn version(&mut self, entry: &str, field: &str, value: Option<&str>) -> Option<ProductVersion> {
        let value = value?;
        match ProductVersion::parse(value) {
            Ok(version) => Some(version),
            Err(err) => {
                self.fail(entry, field, err.to_string());
                None
            }
        }
    }
}

/// Reads an RFC 3339 time or a bare date (midnight UTC).
pub fn parse_time(value: &str) -> Option<NaiveDateTime> {
    if let Ok(time) = DateTime::parse_from_rfc3339(value) {
        return Some(time.with_timezone(&Utc).naive_utc());
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)
}

fn validate(data: &ImportFile, known: &Known) -> Vec<Issue> {
    let mut c = Checker { issues: Vec::new() };

    let mut role_ids: HashSet<&str> = known.roles.iter().map(String::as_str).collect();
    let mut seen = HashSet::new();
    for role in &data.roles {
        let entry = format!("role `{}`", role.id);
        c.id(&entry, "id", &role.id);
        c.unique(&mut seen, &entry, "id", &role.id);
        role_ids.insert(&role.id);
    }

    let mut feature_product: HashMap<&str, &str> = known
        .features
        .iter()
        .map(|(f, p)| (f.as_str(), p.as_str()))
        .collect();
    let mut product_ids: HashSet<&str> = known.products.iter().map(String::as_str).collect();
    let mut seen_products = HashSet::new();
    let mut seen_features = HashSet::new();
    for product in &data.products {
        let entry = format!("product `{}`", product.id);
        c.id(&entry, "id", &product.id);
        c.unique(&mut seen_products, &entry, "id", &product.id);
        product_ids.insert(&product.id);
        let mut seen_releases = HashSet::new();
        for release in &product.releases {
            c.version(&entry, "releases.version", Some(&release.version));
            c.unique(
                &mut seen_releases,
                &entry,
                "releases.version",
                &release.version,
            );
        }
        for feature in &product.features {
            let entry = format!("product `{}`, feature `{}`", product.id, feature.id);
            c.id(&entry, "id", &feature.id);
            c.unique(&mut seen_features, &entry, "id", &feature.id);
            if let Some(owner) = known.features.get(&feature.id)
                && owner != &product.id
            {
                c.fail(
                    &entry,
                    "id",
                    format!("feature already belongs to product `{owner}`"),
                );
            }
            feature_product.insert(&feature.id, &product.id);
        }
    }

    let mut seen_tenants = HashSet::new();
    for tenant in &data.tenants {
        let entry = format!("tenant `{}`", tenant.id);
        c.id(&entry, "id", &tenant.id);
        c.unique(&mut seen_tenants, &entry, "id", &tenant.id);
        c.one_of(&entry, "status", &tenant.status, &["active", "suspended"]);

        let mut seen_users = HashSet::new();
        for user in &tenant.users {
            let entry = format!("tenant `{}`, user `{}`", tenant.id, user.id);
            c.id(&entry, "id", &user.id);
            c.unique(&mut seen_users, &entry, "id", &user.id);
            c.one_of(&entry, "status", &user.status, &["active", "blocked"]);
            if let Some(email) = &user.email
                && !email.contains('@')
            {
                c.fail(
                    &entry,
                    "email",
                    format!("`{email}` is not an e-mail address"),
                );
            }
            for role in &user.roles {
                if !role_ids.contains(role.as_str()) {
                    c.fail(&entry, "roles", format!("role `{role}` is not defined"));
                }
            }
        }

        let mut entitlement_ids: HashSet<&str> = known
            .entitlements
            .iter()
            .filter(|(t, _)| t == &tenant.id)
            .map(|(_, e)| e.as_str())
            .collect();
        let mut seen_entitlements = HashSet::new();
        for ent in &tenant.entitlements {
            let entry = format!("tenant `{}`, entitlement `{}`", tenant.id, ent.id);
            check_entitlement(&mut c, &entry, ent, &product_ids, &feature_product);
            c.unique(&mut seen_entitlements, &entry, "id", &ent.id);
            entitlement_ids.insert(&ent.id);
        }

        let mut seen_devices = HashSet::new();
        let mut seen_fingerprints = HashSet::new();
        for device in &tenant.devices {
            let entry = format!("tenant `{}`, device `{}`", tenant.id, device.id);
            c.id(&entry, "id", &device.id);
            c.unique(&mut seen_devices, &entry, "id", &device.id);
            c.one_of(
                &entry,
                "status",
                &device.status,
                &["active", "revoked", "inactive"],
            );
            if device.fingerprint.trim().is_empty() || device.fingerprint.len() > 256 {
                c.fail(&entry, "fingerprint", "must be 1 to 256 characters");
            }
            c.unique(
                &mut seen_fingerprints,
                &entry,
                "fingerprint",
                &device.fingerprint,
            );
            if let Some(ent) = &device.entitlement
                && !entitlement_ids.contains(ent.as_str())
            {
                c.fail(
                    &entry,
                    "entitlement",
                    format!("entitlement `{ent}` is not defined for this tenant"),
                );
            }
        }
    }
    c.issues
}

fn check_entitlement(
    c: &mut Checker,
    entry: &str,
    ent: &EntitlementEntry,
    products: &HashSet<&str>,
    feature_product: &HashMap<&str, &str>,
) {
    c.id(entry, "id", &ent.id);
    c.one_of(entry, "model", &ent.model, &ENTITLEMENT_MODELS);
    c.one_of(entry, "status", &ent.status, &["active", "suspended"]);
    if !products.contains(ent.product.as_str()) {
        c.fail(
            entry,
            "product",
            format!("product `{}` is not defined", ent.product),
        );
    }
    if !(1..=1_000_000).contains(&ent.seats) {
        c.fail(
            entry,
            "seats",
            format!("`{}` must be between 1 and 1000000", ent.seats),
        );
    }
    if ent.features.is_empty() {
        c.fail(entry, "features", "must list at least one feature");
    }
    for feature in &ent.features {
        match feature_product.get(feature.as_str()) {
            None => c.fail(
                entry,
                "features",
                format!("feature `{feature}` is not defined"),
            ),
            Some(owner) if *owner != ent.product => c.fail(
                entry,
                "features",
                format!(
                    "feature `{feature}` belongs to product `{owner}`, not `{}`",
                    ent.product
                ),
            ),
            Some(_) => {}
        }
    }
    if ent.environments.is_empty() {
        c.fail(entry, "environments", "must list at least one environment");
    }
    for env in &ent.environments {
        if !is_environment_name(env) {
            c.fail(
                entry,
                "environments",
                format!("`{env}` must be 1 to 32 lowercase letters, digits, `_` or `-`"),
            );
        }
    }
    let starts = c.time(entry, "starts_at", &ent.starts_at);
    let expires = c.time(entry, "expires_at", &ent.expires_at);
    if let (Some(starts), Some(expires)) = (starts, expires)
        && expires <= starts
    {
        c.fail(
            entry,
            "expires_at",
            format!(
                "`{}` must be later than starts_at `{}`",
                ent.expires_at, ent.starts_at
            ),
        );
    }
    if !(0..=3650).contains(&ent.grace_days) {
        c.fail(
            entry,
            "grace_days",
            format!("`{}` must be between 0 and 3650", ent.grace_days),
        );
    }
    let min = c.version(entry, "min_version", ent.min_version.as_deref());
    let max = c.version(entry, "max_version", ent.max_version.as_deref());
    if let (Some(min), Some(max)) = (min, max)
        && min.encode() >= max.encode()
    {
        c.fail(
            entry,
            "max_version",
            format!("`{max}` must be greater than min_version `{min}`"),
        );
    }
}

/// Environment names: short, lowercase, safe in logs and metrics.
pub fn is_environment_name(env: &str) -> bool {
    !env.is_empty()
        && env.len() <= 32
        && env
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn write(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_accept_rfc3339_and_bare_dates() {
        let expected = NaiveDate::from_ymd_opt(2026, 1, 31)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        assert_eq!(parse_time("2026-01-31"), Some(expected));
        assert_eq!(parse_time("2026-01-31T01:00:00+01:00"), Some(expected));
        assert_eq!(parse_time("31.01.2026"), None);
    }

    #[test]
    fn every_problem_is_reported_with_entry_and_field() {
        let text = r#"
products:
  - id: cad
    name: CAD
    features: [{ id: cad.view, name: View }]
tenants:
  - id: acme
    name: Acme
    entitlements:
      - id: e1
        product: cad
        model: subscription
        seats: 0
        features: [cad.view, cad.nope]
        environments: [Prod]
        starts_at: 2026-02-01
        expires_at: 2026-01-01
        min_version: 3.0.0
        max_version: 2.0.0
    devices:
      - { id: d1, fingerprint: fp, name: D, entitlement: e9 }
"#;
        let data = parse("bad.yaml", text).unwrap();
        let issues = validate(&data, &Known::default());
        let found: Vec<(String, String)> = issues
            .iter()
            .map(|i| (i.entry.clone(), i.field.clone()))
            .collect();
        let e = "tenant `acme`, entitlement `e1`".to_string();
        assert_eq!(
            found,
            vec![
                (e.clone(), "model".into()),
                (e.clone(), "seats".into()),
                (e.clone(), "features".into()),
                (e.clone(), "environments".into()),
                (e.clone(), "expires_at".into()),
                (e.clone(), "max_version".into()),
                ("tenant `acme`, device `d1`".into(), "entitlement".into()),
            ]
        );
        assert_eq!(issues[2].message, "feature `cad.nope` is not defined");
    }

    #[test]
    fn unknown_field_is_a_parse_error_with_a_location() {
        let err = parse(
            "x.yaml",
            "tenants:\n  - id: a\n    name: A\n    colour: red\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("x.yaml: "), "{text}");
        assert!(text.contains("unknown field `colour`"), "{text}");
        assert!(text.contains("line 4"), "{text}");
    }
}
