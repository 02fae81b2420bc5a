//! Checking an import file against itself and against what the database already holds.
//! Every problem is collected, so one run reports them all.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::{
    EntitlementEntry, FeatureEntry, ImportFile, Issue, ProductEntry, TenantEntry, UserEntry,
};
use crate::db::DbConnection;
use crate::db::schema::*;
use crate::licensing::version::ProductVersion;

/// Ids already in the database that an import file may refer to.
#[derive(Debug, Default)]
pub(crate) struct Known {
    roles: HashSet<String>,
    features: HashMap<String, String>,
    products: HashSet<String>,
    entitlements: HashSet<(String, String)>,
    /// (tenant, fingerprint) to the id of the device that has it.
    fingerprints: HashMap<(String, String), String>,
}

impl Known {
    /// The roles, products and features: what one record written through the admin API may
    /// refer to. Entitlements and fingerprints are left empty.
    pub(crate) fn catalogue(conn: &mut DbConnection) -> Result<Self, diesel::result::Error> {
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
            ..Self::default()
        })
    }

    /// The product a known feature belongs to.
    pub(crate) fn feature_owner(&self, feature: &str) -> Option<&str> {
        self.features.get(feature).map(String::as_str)
    }

    pub(super) fn load(conn: &mut DbConnection) -> Result<Self, diesel::result::Error> {
        Ok(Self {
            entitlements: entitlements::table
                .select((entitlements::tenant_id, entitlements::id))
                .load(conn)?
                .into_iter()
                .collect(),
            fingerprints: devices::table
                .select((devices::tenant_id, devices::fingerprint, devices::id))
                .load::<(String, String, String)>(conn)?
                .into_iter()
                .map(|(tenant, fingerprint, id)| ((tenant, fingerprint), id))
                .collect(),
            ..Self::catalogue(conn)?
        })
    }
}

/// The licensing models an entitlement may have.
pub const ENTITLEMENT_MODELS: [&str; 3] = ["named_user", "device", "floating"];
/// The states of a tenant.
pub const TENANT_STATUSES: [&str; 2] = ["active", "suspended"];

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

    /// A name people read: not blank, at most 200 characters, no control characters.
    fn name(&mut self, entry: &str, field: &str, value: &str) {
        if value.trim().is_empty() || value.chars().count() > 200 {
            self.fail(entry, field, "must be 1 to 200 characters, not all blank");
        } else if value.chars().any(char::is_control) {
            self.fail(
                entry,
                field,
                "must not hold control characters (line breaks, tabs, NUL)",
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

pub(super) fn validate(data: &ImportFile, known: &Known) -> Vec<Issue> {
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
        c.unique(&mut seen_products, &entry, "id", &product.id);
        product_ids.insert(&product.id);
        check_product(&mut c, product, known, &mut seen_features);
        for feature in &product.features {
            feature_product.insert(&feature.id, &product.id);
        }
    }

    let mut seen_tenants = HashSet::new();
    for tenant in &data.tenants {
        let entry = format!("tenant `{}`", tenant.id);
        check_tenant(&mut c, tenant);
        c.unique(&mut seen_tenants, &entry, "id", &tenant.id);

        let mut seen_users = HashSet::new();
        for user in &tenant.users {
            let entry = format!("tenant `{}`, user `{}`", tenant.id, user.id);
            check_user(&mut c, &entry, user, &role_ids);
            c.unique(&mut seen_users, &entry, "id", &user.id);
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
            c.name(&entry, "name", &device.name);
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
            // Moving a fingerprint from one stored device to another takes two imports: first
            // give the old device a new fingerprint, then the new device the old one.
            let key = (tenant.id.clone(), device.fingerprint.clone());
            if let Some(owner) = known.fingerprints.get(&key)
                && owner != &device.id
            {
                c.fail(
                    &entry,
                    "fingerprint",
                    format!(
                        "`{}` already belongs to device `{owner}`",
                        device.fingerprint
                    ),
                );
            }
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

fn check_tenant(c: &mut Checker, tenant: &TenantEntry) {
    let entry = format!("tenant `{}`", tenant.id);
    c.id(&entry, "id", &tenant.id);
    c.name(&entry, "name", &tenant.name);
    c.one_of(&entry, "status", &tenant.status, &TENANT_STATUSES);
}

fn check_user(c: &mut Checker, entry: &str, user: &UserEntry, role_ids: &HashSet<&str>) {
    c.id(entry, "id", &user.id);
    c.name(entry, "display_name", &user.display_name);
    c.one_of(entry, "status", &user.status, &["active", "blocked"]);
    if let Some(email) = &user.email
        && !email.contains('@')
    {
        c.fail(
            entry,
            "email",
            format!("`{email}` is not an e-mail address"),
        );
    }
    for role in &user.roles {
        if !role_ids.contains(role.as_str()) {
            c.fail(
                entry,
                "roles",
                format!(
                    "role `{role}` is not defined; roles are defined under `roles:` of a file \
                     loaded with `licet import`"
                ),
            );
        }
    }
}

/// A product, its releases and its features; a feature may not move to another product.
fn check_product<'a>(
    c: &mut Checker,
    product: &'a ProductEntry,
    known: &Known,
    seen_features: &mut HashSet<&'a str>,
) {
    let entry = format!("product `{}`", product.id);
    c.id(&entry, "id", &product.id);
    c.name(&entry, "name", &product.name);
    let mut seen_releases = HashSet::new();
    for release in &product.releases {
        c.version(&entry, "releases.version", Some(&release.version));
        if let Some(day) = &release.released_on
            && NaiveDate::parse_from_str(day, "%Y-%m-%d").is_err()
        {
            c.fail(
                &entry,
                "releases.released_on",
                format!("`{day}` is not a date such as `2026-04-01`"),
            );
        }
        c.unique(
            &mut seen_releases,
            &entry,
            "releases.version",
            &release.version,
        );
    }
    for feature in &product.features {
        let entry = format!("product `{}`, feature `{}`", product.id, feature.id);
        check_feature(c, &entry, &product.id, feature, known);
        c.unique(seen_features, &entry, "id", &feature.id);
    }
}

fn check_feature(
    c: &mut Checker,
    entry: &str,
    product: &str,
    feature: &FeatureEntry,
    known: &Known,
) {
    c.id(entry, "id", &feature.id);
    c.name(entry, "name", &feature.name);
    if let Some(owner) = known.features.get(&feature.id)
        && owner != product
    {
        c.fail(
            entry,
            "id",
            format!("feature already belongs to product `{owner}`"),
        );
    }
}

/// Checks one tenant's own fields, as the admin API writes it.
pub(crate) fn tenant(entry: &TenantEntry) -> Vec<Issue> {
    let mut c = Checker { issues: Vec::new() };
    check_tenant(&mut c, entry);
    c.issues
}

/// Checks one product with its releases and features, as the admin API writes it.
pub(crate) fn product(entry: &ProductEntry, known: &Known) -> Vec<Issue> {
    let mut c = Checker { issues: Vec::new() };
    check_product(&mut c, entry, known, &mut HashSet::new());
    c.issues
}

/// Checks one feature added to `product`.
pub(crate) fn feature(product: &str, entry: &FeatureEntry, known: &Known) -> Vec<Issue> {
    let mut c = Checker { issues: Vec::new() };
    let name = format!("product `{product}`, feature `{}`", entry.id);
    check_feature(&mut c, &name, product, entry, known);
    c.issues
}

/// Checks one user of `tenant`.
pub(crate) fn user(tenant: &str, entry: &UserEntry, known: &Known) -> Vec<Issue> {
    let mut c = Checker { issues: Vec::new() };
    let roles: HashSet<&str> = known.roles.iter().map(String::as_str).collect();
    let name = format!("tenant `{tenant}`, user `{}`", entry.id);
    check_user(&mut c, &name, entry, &roles);
    c.issues
}

/// Checks one entitlement of `tenant` against the stored catalogue.
pub(crate) fn entitlement(tenant: &str, entry: &EntitlementEntry, known: &Known) -> Vec<Issue> {
    let mut c = Checker { issues: Vec::new() };
    let products: HashSet<&str> = known.products.iter().map(String::as_str).collect();
    let features: HashMap<&str, &str> = known
        .features
        .iter()
        .map(|(f, p)| (f.as_str(), p.as_str()))
        .collect();
    let name = format!("tenant `{tenant}`, entitlement `{}`", entry.id);
    check_entitlement(&mut c, &name, entry, &products, &features);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licensing::import::parse;

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
    fn names_must_be_readable_and_release_dates_real() {
        let text = r#"
products:
  - id: cad
    name: "  "
    releases: [{ version: 1.0.0, released_on: "2026-13-01" }]
    features: [{ id: cad.view, name: "View\u0000" }]
tenants:
  - id: acme
    name: ""
"#;
        let data = parse("names.yaml", text).unwrap();
        let issues = validate(&data, &Known::default());
        let found: Vec<(String, String)> = issues
            .iter()
            .map(|i| (i.entry.clone(), i.field.clone()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("product `cad`".to_string(), "name".to_string()),
                ("product `cad`".into(), "releases.released_on".into()),
                ("product `cad`, feature `cad.view`".into(), "name".into()),
                ("tenant `acme`".into(), "name".into()),
            ]
        );
        assert!(issues[1].message.contains("`2026-13-01` is not a date"));
        assert!(issues[2].message.contains("control characters"));
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
}
