//! Turning a case as written (a fixture plus the case's own changes) into the exact values the
//! decision engine receives: a tenant slice, a principal, a validated request and a time.
//!
//! The values are built the way the service builds them from its database: entitlements in id
//! order, unset version bounds open, a bound device considered only with its own entitlement.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike, Utc};

use super::spec::{
    CaseSpec, Decision, EntitlementSpec, PrincipalFields, PrincipalSpec, PrincipalType, World,
};
use crate::db::models::{Entitlement, Tenant};
use crate::decision::request::{EntityRef, PrincipalKind, RequestContext};
use crate::decision::slice::{EntitlementView, PrincipalView, TenantSlice};
use crate::decision::{DecisionRequest, Query};
use crate::licensing::version::{ProductVersion, UNBOUNDED};

/// A case ready to evaluate.
#[derive(Debug)]
pub struct Case {
    /// The suite file, as found (`policies/tests/term.yaml`).
    pub file: String,
    pub line: usize,
    pub name: String,
    pub(super) slice: TenantSlice,
    pub(super) ask: Ask,
    pub(super) now: DateTime<Utc>,
    pub expect: Expected,
}

/// The question a case asks.
#[derive(Debug)]
pub(super) enum Ask {
    /// May the principal use a feature?
    Use {
        principal: Box<PrincipalView>,
        query: Box<Query>,
        product: String,
    },
    /// May a device take or keep a seat of an entitlement?
    Activate(Activation),
}

/// An activation question: the device (`new` when it was never activated), the entitlement
/// (an index into the slice's entitlements), the key's status and the seats taken by others.
#[derive(Debug)]
pub(super) struct Activation {
    pub device_id: String,
    pub device_status: String,
    pub entitlement: usize,
    pub key_status: String,
    pub active_devices: i64,
    pub refresh: bool,
}

/// What a case expects. Reasons and advice are compared as sets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Expected {
    pub decision: Decision,
    pub reasons: BTreeSet<String>,
    pub advice: BTreeSet<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<String>,
}

/// Builds the case `spec` of `file` over `fixtures`; the error says what is wrong with it.
pub(super) fn case(
    file: &str,
    line: usize,
    spec: &CaseSpec,
    fixtures: &BTreeMap<String, World>,
) -> Result<Case, String> {
    let mut world = match &spec.fixture {
        Some(name) => fixtures
            .get(name)
            .cloned()
            .ok_or_else(|| format!("fixture `{name}` is not defined in any suite file"))?,
        None => World::default(),
    };
    apply_changes(&mut world, spec);

    let tenant = world.tenant.clone().unwrap_or_default();
    let tenant_id = tenant
        .id
        .ok_or("no tenant: give `tenant: { id: ... }` in the fixture or in the case".to_string())?;
    let mut entitlements = world
        .entitlements
        .iter()
        .map(|e| entitlement(e, &tenant_id, &world.catalogue))
        .collect::<Result<Vec<_>, _>>()?;
    entitlements.sort_by(|a, b| a.row.id.cmp(&b.row.id));
    let twice = entitlements.windows(2).find_map(|pair| match pair {
        [a, b] if a.row.id == b.row.id => Some(a.row.id.clone()),
        _ => None,
    });
    if let Some(id) = twice {
        return Err(format!("entitlement `{id}` is defined twice"));
    }

    let ask = match spec.request.action.as_deref().unwrap_or("use") {
        "use" => {
            let query = request(spec, &tenant_id)?;
            let product = world
                .catalogue
                .get(&query.feature)
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "`request.feature`: `{}` is not in the catalogue; add it under `catalogue:` with its product",
                        query.feature
                    )
                })?;
            Ask::Use {
                principal: Box::new(principal(spec, &world.principals, &entitlements)?),
                query: Box::new(query),
                product,
            }
        }
        "activate" => Ask::Activate(activation(spec, &world.principals, &entitlements)?),
        other => {
            return Err(format!(
                "`request.action`: `{other}` is not an action; use `use` or `activate`"
            ));
        }
    };
    let now = DateTime::parse_from_rfc3339(&spec.now)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            format!(
                "`now`: `{}` is not an RFC 3339 time such as `2026-07-01T00:00:00Z`",
                spec.now
            )
        })?;

    Ok(Case {
        file: file.to_string(),
        line,
        name: spec.name.clone(),
        slice: TenantSlice {
            tenant: Tenant {
                id: tenant_id.clone(),
                name: tenant_id,
                status: tenant.status.unwrap_or_else(|| "active".into()),
                created_at: NaiveDateTime::default(),
                updated_at: NaiveDateTime::default(),
            },
            entitlements,
        },
        ask,
        now,
        expect: expected(spec)?,
    })
}

/// Lays the case's own tenant, catalogue, entitlements and principal over the fixture.
fn apply_changes(world: &mut World, spec: &CaseSpec) {
    if let Some(change) = &spec.tenant {
        let tenant = world.tenant.get_or_insert_with(Default::default);
        if change.id.is_some() {
            tenant.id.clone_from(&change.id);
        }
        if change.status.is_some() {
            tenant.status.clone_from(&change.status);
        }
    }
    world.catalogue.extend(spec.catalogue.clone());
    for change in &spec.entitlements {
        match world.entitlements.iter_mut().find(|e| e.id == change.id) {
            Some(existing) => overlay_entitlement(existing, change),
            None => world.entitlements.push(change.clone()),
        }
    }
    let asked = &spec.request.principal;
    let change = spec.principal.clone().unwrap_or_default();
    match world
        .principals
        .iter_mut()
        .find(|p| p.kind == asked.kind && p.id == asked.id)
    {
        Some(existing) => overlay_principal(existing, change),
        None if spec.principal.is_some() => world.principals.push(PrincipalSpec {
            kind: asked.kind,
            id: asked.id.clone(),
            status: change.status,
            entitlement: change.entitlement,
            roles: change.roles,
        }),
        None => {}
    }
}

fn overlay_entitlement(base: &mut EntitlementSpec, change: &EntitlementSpec) {
    macro_rules! take {
        ($($field:ident),*) => {
            $(if change.$field.is_some() {
                base.$field.clone_from(&change.$field);
            })*
        };
    }
    take!(
        tenant,
        product,
        features,
        environments,
        starts_at,
        expires_at,
        grace,
        min_version,
        max_version,
        status,
        model,
        seats
    );
}

fn overlay_principal(base: &mut PrincipalSpec, change: PrincipalFields) {
    if change.status.is_some() {
        base.status = change.status;
    }
    if change.entitlement.is_some() {
        base.entitlement = change.entitlement;
    }
    if change.roles.is_some() {
        base.roles = change.roles;
    }
}

/// The request as the service would validate it at its edge.
/// An `activate` case: a Device, the entitlement of the key, and the key's status.
fn activation(
    spec: &CaseSpec,
    principals: &[PrincipalSpec],
    entitlements: &[EntitlementView],
) -> Result<Activation, String> {
    let asked = &spec.request;
    if asked.principal.kind != PrincipalType::Device {
        return Err("`request.principal`: only a Device is activated".into());
    }
    if asked.feature.is_some() || asked.product_version.is_some() || asked.environment.is_some() {
        return Err(
            "`request`: `feature`, `product_version` and `environment` belong to action `use`"
                .into(),
        );
    }
    let wanted = asked.entitlement.as_deref().ok_or(
        "`request.entitlement`: action `activate` names the entitlement of the licence key",
    )?;
    let entitlement = entitlements
        .iter()
        .position(|e| e.row.id == wanted)
        .ok_or_else(|| format!("`request.entitlement`: entitlement `{wanted}` is not defined"))?;
    // A device the world does not hold is a machine activating for the first time.
    let status = principals
        .iter()
        .find(|p| p.kind == PrincipalType::Device && p.id == asked.principal.id)
        .map_or_else(
            || "new".to_string(),
            |p| p.status.clone().unwrap_or_else(|| "active".into()),
        );
    Ok(Activation {
        device_id: asked.principal.id.clone(),
        device_status: status,
        entitlement,
        key_status: asked.license_key.clone().unwrap_or_else(|| "active".into()),
        active_devices: asked.active_devices.unwrap_or(0),
        refresh: asked.refresh,
    })
}

fn request(spec: &CaseSpec, tenant: &str) -> Result<Query, String> {
    let asked = &spec.request;
    let needed = |name: &str, value: &Option<String>| {
        value
            .clone()
            .ok_or_else(|| format!("`request.{name}` is required for action `use`"))
    };
    let (feature, product_version, environment) = (
        needed("feature", &asked.feature)?,
        needed("product_version", &asked.product_version)?,
        needed("environment", &asked.environment)?,
    );
    if asked.entitlement.is_some()
        || asked.license_key.is_some()
        || asked.active_devices.is_some()
        || asked.refresh
    {
        return Err(
            "`request`: `entitlement`, `license_key`, `active_devices` and `refresh` belong to action `activate`"
                .into(),
        );
    }
    DecisionRequest {
        tenant: tenant.to_string(),
        principal: EntityRef {
            kind: kind(asked.principal.kind).as_str().to_string(),
            id: asked.principal.id.clone(),
        },
        action: "use".into(),
        resource: EntityRef {
            kind: "Feature".into(),
            id: feature,
        },
        context: RequestContext {
            product_version,
            environment,
        },
        nonce: None,
    }
    .validate()
    .map_err(|e| format!("`request`: {e}"))
}

fn kind(kind: PrincipalType) -> PrincipalKind {
    match kind {
        PrincipalType::Device => PrincipalKind::Device,
        PrincipalType::User => PrincipalKind::User,
    }
}

fn entitlement(
    spec: &EntitlementSpec,
    tenant: &str,
    catalogue: &BTreeMap<String, String>,
) -> Result<EntitlementView, String> {
    let id = &spec.id;
    let missing = |field: &str| {
        format!("entitlement `{id}` has no `{field}`; give it in the fixture or in the case")
    };
    let product = spec.product.clone().ok_or_else(|| missing("product"))?;
    let features = spec.features.clone().ok_or_else(|| missing("features"))?;
    let environments = spec
        .environments
        .clone()
        .ok_or_else(|| missing("environments"))?;
    let starts_at = spec
        .starts_at
        .as_deref()
        .ok_or_else(|| missing("starts_at"))?;
    let expires_at = spec
        .expires_at
        .as_deref()
        .ok_or_else(|| missing("expires_at"))?;
    let field = |name: &str, message: String| format!("entitlement `{id}`, `{name}`: {message}");

    if let Some(unknown) = features.iter().find(|f| !catalogue.contains_key(*f)) {
        return Err(field(
            "features",
            format!("`{unknown}` is not in the catalogue"),
        ));
    }
    let version = |name: &str, text: &Option<String>| -> Result<Option<i64>, String> {
        text.as_deref()
            .map(|v| {
                ProductVersion::parse(v)
                    .map(|v| v.encode())
                    .map_err(|e| field(name, e.to_string()))
            })
            .transpose()
    };
    let min_version = version("min_version", &spec.min_version)?;
    let max_version = version("max_version", &spec.max_version)?;
    let grace = match spec.grace.as_deref() {
        Some(text) => parse_duration(text).map_err(|m| field("grace", m))?,
        None => 0,
    };

    let row = Entitlement {
        tenant_id: spec.tenant.clone().unwrap_or_else(|| tenant.to_string()),
        id: id.clone(),
        product_id: product,
        model: spec.model.clone().unwrap_or_else(|| "device".into()),
        seats: spec.seats.unwrap_or(1),
        environments: serde_json::to_string(&environments).unwrap_or_default(),
        starts_at: parse_term_time(starts_at).map_err(|m| field("starts_at", m))?,
        expires_at: parse_term_time(expires_at).map_err(|m| field("expires_at", m))?,
        grace_seconds: grace,
        min_version: spec.min_version.clone(),
        max_version: spec.max_version.clone(),
        status: spec.status.clone().unwrap_or_else(|| "active".into()),
        created_at: NaiveDateTime::default(),
        updated_at: NaiveDateTime::default(),
    };
    Ok(EntitlementView {
        row,
        features,
        environments,
        min_version: min_version.unwrap_or(0),
        max_version: max_version.unwrap_or(UNBOUNDED),
    })
}

fn principal(
    spec: &CaseSpec,
    principals: &[PrincipalSpec],
    entitlements: &[EntitlementView],
) -> Result<PrincipalView, String> {
    let asked = &spec.request.principal;
    let kind = kind(asked.kind);
    let found = principals
        .iter()
        .find(|p| p.kind == asked.kind && p.id == asked.id)
        .ok_or_else(|| {
            format!(
                "{} `{}` is not defined; add it under the fixture's `principals:` or give `principal:` in the case",
                kind.as_str(),
                asked.id
            )
        })?;
    let roles = found.roles.clone().unwrap_or_default();
    if kind == PrincipalKind::Device && !roles.is_empty() {
        return Err(format!(
            "Device `{}` has `roles`; only a User holds roles",
            asked.id
        ));
    }
    if let Some(bound) = &found.entitlement {
        if kind == PrincipalKind::User {
            return Err(format!(
                "User `{}` has `entitlement`; only a Device is bound to an entitlement",
                asked.id
            ));
        }
        if !entitlements.iter().any(|e| &e.row.id == bound) {
            return Err(format!(
                "Device `{}` is bound to entitlement `{bound}`, which is not defined",
                asked.id
            ));
        }
    }
    Ok(PrincipalView {
        kind,
        id: found.id.clone(),
        status: found.status.clone().unwrap_or_else(|| "active".into()),
        entitlement: found.entitlement.clone(),
        roles,
    })
}

fn expected(spec: &CaseSpec) -> Result<Expected, String> {
    let expect = &spec.expect;
    match expect.decision {
        Decision::Allow if !expect.reasons.is_empty() => {
            return Err("`expect`: an allow has no `reasons`; only a deny does".into());
        }
        Decision::Deny if expect.reasons.is_empty() => {
            return Err(
                "`expect`: a deny always has at least one reason; list it under `reasons`".into(),
            );
        }
        Decision::Deny if !expect.advice.is_empty() || expect.entitlement.is_some() => {
            return Err(
                "`expect`: a deny has no `advice` and no `entitlement`; only an allow does".into(),
            );
        }
        _ => {}
    }
    Ok(Expected {
        decision: expect.decision,
        reasons: expect.reasons.iter().cloned().collect(),
        advice: expect.advice.iter().cloned().collect(),
        entitlement: expect.entitlement.clone(),
    })
}

/// A term boundary: a date (midnight UTC) or an RFC 3339 time on a whole second, as the
/// database stores it.
fn parse_term_time(text: &str) -> Result<NaiveDateTime, String> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_time(Default::default()));
    }
    let time = DateTime::parse_from_rfc3339(text)
        .map_err(|_| {
            format!(
                "`{text}` is not a date (`2026-01-31`) or an RFC 3339 time (`2026-01-31T12:00:00Z`)"
            )
        })?
        .naive_utc();
    if time.nanosecond() != 0 {
        return Err(format!(
            "`{text}` has a fraction of a second; term boundaries are whole seconds"
        ));
    }
    Ok(time)
}

/// Seconds in a duration written as `7d`, `12h`, `30m`, `45s`, a sum such as `1d12h`, or `0`.
pub(super) fn parse_duration(text: &str) -> Result<i64, String> {
    let refuse =
        || format!("`{text}` is not a duration such as `7d`, `12h`, `30m`, `45s` or `1d12h`");
    if text == "0" {
        return Ok(0);
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: i64 = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(refuse()),
        };
        let amount: i64 = digits.parse().map_err(|_| refuse())?;
        total = amount
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(refuse)?;
        digits.clear();
    }
    // Cedar durations count milliseconds in an i64.
    if !digits.is_empty() || text.is_empty() || total > i64::MAX / 1000 {
        return Err(refuse());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_add_up_their_parts() {
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400));
        assert_eq!(parse_duration("12h"), Ok(12 * 3_600));
        assert_eq!(parse_duration("30m"), Ok(1_800));
        assert_eq!(parse_duration("45s"), Ok(45));
        assert_eq!(parse_duration("1d12h"), Ok(129_600));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("0s"), Ok(0));
    }

    #[test]
    fn malformed_durations_are_refused() {
        for text in ["", "7", "d", "7w", "7 d", "-1d", "99999999999999999d"] {
            assert_eq!(
                parse_duration(text),
                Err(format!(
                    "`{text}` is not a duration such as `7d`, `12h`, `30m`, `45s` or `1d12h`"
                )),
                "{text}"
            );
        }
    }

    #[test]
    fn term_times_are_dates_or_whole_seconds() {
        assert_eq!(
            parse_term_time("2026-01-31").unwrap().to_string(),
            "2026-01-31 00:00:00"
        );
        assert_eq!(
            parse_term_time("2026-01-31T12:00:00+02:00")
                .unwrap()
                .to_string(),
            "2026-01-31 10:00:00"
        );
        assert!(
            parse_term_time("2026-01-31T12:00:00.5Z")
                .unwrap_err()
                .contains("fraction of a second")
        );
        assert!(
            parse_term_time("31/01/2026")
                .unwrap_err()
                .contains("is not a date")
        );
    }
}
