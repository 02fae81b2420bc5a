//! Evaluating one decision with Cedar: build the entities and the request from the slice,
//! ask the authorizer once per candidate entitlement, and read reason and advice codes from
//! the annotations of the policies that determined each answer.

use std::collections::BTreeSet;
use std::str::FromStr;

use cedar_policy::{Authorizer, Context, Decision, Entities, EntityUid, Request};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};

use super::slice::{EntitlementView, PrincipalView, TenantSlice};
use crate::policy::{NOT_ENTITLED, PolicyBundle};

/// Everything one evaluation needs.
pub struct EvalInput<'a> {
    pub tenant: &'a TenantSlice,
    pub principal: &'a PrincipalView,
    pub feature: &'a str,
    pub product: &'a str,
    pub version: i64,
    pub environment: &'a str,
    pub now: DateTime<Utc>,
}

/// The combined answer over all candidate entitlements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub allowed: bool,
    /// Reason codes of a deny, sorted; empty for an allow.
    pub reasons: Vec<String>,
    /// Advice codes of an allow, sorted.
    pub advice: Vec<String>,
    /// The entitlement that granted an allow.
    pub entitlement: Option<String>,
    /// Ids of the policies that determined the answer, sorted.
    pub policies: Vec<String>,
}

/// Evaluates `input` under `bundle`.
///
/// The candidates are the principal's bound entitlement when it has one and it is for the
/// feature's product, and otherwise every entitlement of the tenant for the feature's product;
/// a device bound to another product's entitlement has none. The first candidate that allows
/// (with the least advice) wins; when none allows, the deny lists every reason that applied to
/// any candidate. With no candidate at all, Cedar is asked without an entitlement: nothing
/// permits, and unless a forbid applies (a suspended tenant, a revoked device) the reason is
/// `NOT_ENTITLED`.
pub fn evaluate(bundle: &PolicyBundle, input: &EvalInput<'_>) -> Result<Evaluation, String> {
    let for_product = |e: &&EntitlementView| e.row.product_id == input.product;
    let all = input.tenant.entitlements.iter();
    let candidates: Vec<&EntitlementView> = match &input.principal.entitlement {
        Some(bound) => all
            .filter(|e| &e.row.id == bound)
            .filter(for_product)
            .collect(),
        None => all.filter(for_product).collect(),
    };

    if candidates.is_empty() {
        return evaluate_one(bundle, input, None);
    }
    let mut denied = Vec::new();
    let mut best: Option<Evaluation> = None;
    for candidate in candidates {
        let outcome = evaluate_one(bundle, input, Some(candidate))?;
        if outcome.allowed {
            if best
                .as_ref()
                .is_none_or(|b| outcome.advice.len() < b.advice.len())
            {
                best = Some(outcome);
            }
        } else {
            denied.push(outcome);
        }
    }
    if let Some(allow) = best {
        return Ok(allow);
    }
    let reasons: BTreeSet<String> = denied
        .iter()
        .flat_map(|d| d.reasons.iter().cloned())
        .collect();
    let policies: BTreeSet<String> = denied
        .iter()
        .flat_map(|d| d.policies.iter().cloned())
        .collect();
    Ok(Evaluation {
        allowed: false,
        reasons: reasons.into_iter().collect(),
        advice: Vec::new(),
        entitlement: None,
        policies: policies.into_iter().collect(),
    })
}

fn evaluate_one(
    bundle: &PolicyBundle,
    input: &EvalInput<'_>,
    entitlement: Option<&EntitlementView>,
) -> Result<Evaluation, String> {
    let entities =
        Entities::from_json_value(entities_json(input, entitlement), Some(&bundle.schema))
            .map_err(|e| format!("entities do not match the schema: {}", chain(&e)))?;
    let action = uid("Action", "use")?;
    let context = Context::from_json_value(
        context_json(input, entitlement),
        Some((&bundle.schema, &action)),
    )
    .map_err(|e| format!("context does not match the schema: {}", chain(&e)))?;
    let request = Request::new(
        uid(input.principal.kind.as_str(), &input.principal.id)?,
        action,
        uid("Feature", input.feature)?,
        context,
        Some(&bundle.schema),
    )
    .map_err(|e| format!("request does not match the schema: {}", chain(&e)))?;

    let response = Authorizer::new().is_authorized(&request, &bundle.policies, &entities);
    Ok(outcome(
        bundle,
        &response,
        entitlement.map(|e| e.row.id.clone()),
    ))
}

/// Reads the answer of the authorizer: decision, and the reason or advice codes of the
/// policies that determined it.
fn outcome(
    bundle: &PolicyBundle,
    response: &cedar_policy::Response,
    entitlement: Option<String>,
) -> Evaluation {
    for error in response.diagnostics().errors() {
        tracing::warn!(error = %error, "a policy failed to evaluate and was skipped");
    }
    let policies: Vec<String> = response
        .diagnostics()
        .reason()
        .map(ToString::to_string)
        .collect();
    let codes = |pick: fn(&crate::policy::PolicyMeta) -> Option<&String>| -> Vec<String> {
        let set: BTreeSet<String> = response
            .diagnostics()
            .reason()
            .filter_map(|id| bundle.meta.get(id).and_then(pick).cloned())
            .collect();
        set.into_iter().collect()
    };
    let mut sorted = policies;
    sorted.sort();
    match response.decision() {
        Decision::Allow => Evaluation {
            allowed: true,
            reasons: Vec::new(),
            advice: codes(|m| m.advice.as_ref()),
            entitlement,
            policies: sorted,
        },
        Decision::Deny => {
            let mut reasons = codes(|m| m.reason.as_ref());
            if reasons.is_empty() {
                reasons.push(NOT_ENTITLED.to_string());
            }
            Evaluation {
                allowed: false,
                reasons,
                advice: Vec::new(),
                entitlement: None,
                policies: sorted,
            }
        }
    }
}

/// Everything an activation decision needs: may `device` take (or keep) a seat of
/// `entitlement` with this licence key now?
pub struct ActivationInput<'a> {
    pub tenant: &'a crate::db::models::Tenant,
    pub entitlement: &'a EntitlementView,
    /// The machine: its device id and status, or `new` for a first activation.
    pub device_id: &'a str,
    pub device_status: &'a str,
    pub key_id: &'a str,
    pub key_status: &'a str,
    /// Active devices of the entitlement other than this machine.
    pub active_devices: i64,
    /// A refresh of an activated machine rather than an activation.
    pub refresh: bool,
    pub now: DateTime<Utc>,
}

/// Evaluates the `activate` action under `bundle`.
pub fn evaluate_activation(
    bundle: &PolicyBundle,
    input: &ActivationInput<'_>,
) -> Result<Evaluation, String> {
    let tenant = &input.tenant.id;
    let row = &input.entitlement.row;
    let mut list = vec![
        json!({ "uid": { "type": "Licet::Tenant", "id": tenant }, "attrs": { "status": input.tenant.status }, "parents": [] }),
        json!({
            "uid": { "type": "Licet::Device", "id": input.device_id },
            "attrs": { "tenant": entity_ref("Tenant", tenant), "status": input.device_status },
            "parents": [{ "type": "Licet::Tenant", "id": tenant }]
        }),
        json!({
            "uid": { "type": "Licet::LicenseKey", "id": input.key_id },
            "attrs": { "tenant": entity_ref("Tenant", tenant), "status": input.key_status },
            "parents": []
        }),
        json!({ "uid": { "type": "Licet::Product", "id": row.product_id }, "attrs": {}, "parents": [] }),
        entitlement_entity(input.entitlement),
    ];
    if row.tenant_id != *tenant {
        list.push(json!({ "uid": { "type": "Licet::Tenant", "id": row.tenant_id }, "attrs": { "status": "active" }, "parents": [] }));
    }
    let features: BTreeSet<&String> = input.entitlement.features.iter().collect();
    for feature in features {
        list.push(json!({
            "uid": { "type": "Licet::Feature", "id": feature },
            "attrs": { "product": entity_ref("Product", &row.product_id) },
            "parents": [{ "type": "Licet::Product", "id": row.product_id }]
        }));
    }
    let entities = Entities::from_json_value(Value::Array(list), Some(&bundle.schema))
        .map_err(|e| format!("entities do not match the schema: {}", chain(&e)))?;
    let action = uid("Action", "activate")?;
    let context = json!({
        "tenant": entity_ref("Tenant", tenant),
        "now": { "__extn": { "fn": "datetime", "arg": input.now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string() } },
        "license_key": entity_ref("LicenseKey", input.key_id),
        "active_devices": input.active_devices,
        "refresh": input.refresh,
    });
    let context = Context::from_json_value(context, Some((&bundle.schema, &action)))
        .map_err(|e| format!("context does not match the schema: {}", chain(&e)))?;
    let request = Request::new(
        uid("Device", input.device_id)?,
        action,
        uid("Entitlement", &row.id)?,
        context,
        Some(&bundle.schema),
    )
    .map_err(|e| format!("request does not match the schema: {}", chain(&e)))?;
    let response = Authorizer::new().is_authorized(&request, &bundle.policies, &entities);
    Ok(outcome(bundle, &response, Some(row.id.clone())))
}

/// An error with its causes, which name the attribute at fault.
fn chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

fn uid(kind: &str, id: &str) -> Result<EntityUid, String> {
    let type_name = cedar_policy::EntityTypeName::from_str(&format!("Licet::{kind}"))
        .map_err(|e| e.to_string())?;
    Ok(EntityUid::from_type_name_and_id(
        type_name,
        cedar_policy::EntityId::new(id),
    ))
}

fn entity_ref(kind: &str, id: &str) -> Value {
    json!({ "__entity": { "type": format!("Licet::{kind}"), "id": id } })
}

fn datetime(time: &NaiveDateTime) -> Value {
    json!({ "__extn": { "fn": "datetime", "arg": time.format("%Y-%m-%dT%H:%M:%SZ").to_string() } })
}

fn entities_json(input: &EvalInput<'_>, entitlement: Option<&EntitlementView>) -> Value {
    let tenant = &input.tenant.tenant;
    let principal = input.principal;
    let mut parents = vec![json!({ "type": "Licet::Tenant", "id": tenant.id })];
    parents.extend(
        principal
            .roles
            .iter()
            .map(|r| json!({ "type": "Licet::Role", "id": r })),
    );
    let mut list = vec![
        json!({ "uid": { "type": "Licet::Tenant", "id": tenant.id }, "attrs": { "status": tenant.status }, "parents": [] }),
        json!({ "uid": { "type": "Licet::Product", "id": input.product }, "attrs": {}, "parents": [] }),
        json!({
            "uid": { "type": "Licet::Feature", "id": input.feature },
            "attrs": { "product": entity_ref("Product", input.product) },
            "parents": [{ "type": "Licet::Product", "id": input.product }]
        }),
        json!({
            "uid": { "type": format!("Licet::{}", principal.kind.as_str()), "id": principal.id },
            "attrs": { "tenant": entity_ref("Tenant", &tenant.id), "status": principal.status },
            "parents": parents
        }),
    ];
    list.extend(
        principal.roles.iter().map(
            |r| json!({ "uid": { "type": "Licet::Role", "id": r }, "attrs": {}, "parents": [] }),
        ),
    );
    if let Some(e) = entitlement {
        let row = &e.row;
        if row.product_id != input.product {
            list.push(json!({ "uid": { "type": "Licet::Product", "id": row.product_id }, "attrs": {}, "parents": [] }));
        }
        list.push(entitlement_entity(e));
    }
    Value::Array(list)
}

/// The entitlement as the schema's `Entitlement` entity.
fn entitlement_entity(e: &EntitlementView) -> Value {
    let row = &e.row;
    json!({
        "uid": { "type": "Licet::Entitlement", "id": row.id },
        "attrs": {
            "tenant": entity_ref("Tenant", &row.tenant_id),
            "product": entity_ref("Product", &row.product_id),
            "model": row.model,
            "seats": row.seats,
            "features": e.features.iter().map(|f| entity_ref("Feature", f)).collect::<Vec<_>>(),
            "environments": e.environments,
            "starts_at": datetime(&row.starts_at),
            "expires_at": datetime(&row.expires_at),
            "grace": { "__extn": { "fn": "duration", "arg": format!("{}s", row.grace_seconds) } },
            "min_version": e.min_version,
            "max_version": e.max_version,
            "status": row.status,
        },
        "parents": []
    })
}

fn context_json(input: &EvalInput<'_>, entitlement: Option<&EntitlementView>) -> Value {
    let mut context = json!({
        "tenant": entity_ref("Tenant", &input.tenant.tenant.id),
        "now": { "__extn": { "fn": "datetime", "arg": input.now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string() } },
        "environment": input.environment,
        "product_version": input.version,
    });
    if let (Some(e), Some(map)) = (entitlement, context.as_object_mut()) {
        map.insert("entitlement".into(), entity_ref("Entitlement", &e.row.id));
    }
    context
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, NaiveDate, TimeZone};

    use super::*;
    use crate::db::models::{Entitlement, Tenant};
    use crate::decision::request::PrincipalKind;
    use crate::policy::BundleSource;

    fn at(y: i32, m: u32, d: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
    }

    fn slice(grace_days: i64) -> TenantSlice {
        let row = Entitlement {
            tenant_id: "t".into(),
            id: "e".into(),
            product_id: "cad".into(),
            model: "device".into(),
            seats: 1,
            environments: "[\"prod\"]".into(),
            starts_at: at(2026, 1, 1),
            expires_at: at(2026, 7, 1),
            grace_seconds: grace_days * 86_400,
            min_version: None,
            max_version: None,
            status: "active".into(),
            created_at: at(2026, 1, 1),
            updated_at: at(2026, 1, 1),
        };
        TenantSlice {
            tenant: Tenant {
                id: "t".into(),
                name: "T".into(),
                status: "active".into(),
                created_at: at(2026, 1, 1),
                updated_at: at(2026, 1, 1),
            },
            entitlements: vec![EntitlementView {
                row,
                features: vec!["cad.view".into()],
                environments: vec!["prod".into()],
                min_version: 0,
                max_version: crate::licensing::version::UNBOUNDED,
            }],
        }
    }

    fn decide(slice: &TenantSlice, now: DateTime<Utc>) -> (bool, Vec<String>, Vec<String>) {
        let bundle = PolicyBundle::compile(BundleSource::embedded()).unwrap();
        let principal = PrincipalView {
            kind: PrincipalKind::Device,
            id: "d".into(),
            status: "active".into(),
            entitlement: None,
            roles: vec![],
        };
        let input = EvalInput {
            tenant: slice,
            principal: &principal,
            feature: "cad.view",
            product: "cad",
            version: 1,
            environment: "prod",
            now,
        };
        let out = evaluate(&bundle, &input).unwrap();
        (out.allowed, out.reasons, out.advice)
    }

    fn utc(time: NaiveDateTime) -> DateTime<Utc> {
        Utc.from_utc_datetime(&time)
    }

    #[test]
    fn grace_period_boundaries() {
        let s = slice(7);
        let expiry = utc(at(2026, 7, 1));
        let grace_end = expiry + Duration::days(7);
        let second = Duration::seconds(1);
        let grace = vec!["IN_GRACE".to_string()];
        assert_eq!(
            decide(&s, expiry - second),
            (true, vec![], vec![]),
            "last second of the term"
        );
        assert_eq!(
            decide(&s, expiry),
            (true, vec![], grace.clone()),
            "the instant of expiry"
        );
        assert_eq!(
            decide(&s, grace_end - second),
            (true, vec![], grace),
            "last second of grace"
        );
        assert_eq!(
            decide(&s, grace_end),
            (false, vec!["EXPIRED".into()], vec![]),
            "first second after"
        );
    }

    #[test]
    fn without_grace_the_term_ends_at_expiry() {
        let s = slice(0);
        let expiry = utc(at(2026, 7, 1));
        assert!(decide(&s, expiry - Duration::milliseconds(1)).0);
        assert_eq!(decide(&s, expiry), (false, vec!["EXPIRED".into()], vec![]));
    }

    #[test]
    fn use_before_the_start_is_not_yet_valid() {
        let s = slice(7);
        let start = utc(at(2026, 1, 1));
        assert_eq!(
            decide(&s, start - Duration::seconds(1)),
            (false, vec!["NOT_YET_VALID".into()], vec![])
        );
        assert!(decide(&s, start).0);
    }
}
