//! Whether a bundle fits the service: Cedar validates policies against the schema, but only an
//! evaluation shows that the schema also accepts the entities and context this service builds.
//! A schema that, say, requires an attribute the service does not supply would otherwise pass
//! every check and then fail every decision.

use chrono::{TimeZone, Utc};

use super::engine::{ActivationInput, EvalInput, evaluate, evaluate_activation};
use super::request::PrincipalKind;
use super::slice::{EntitlementView, PrincipalView, TenantSlice};
use crate::db::models::{Entitlement, Tenant};
use crate::policy::{BundleError, BundleSource, PolicyBundle};

/// Compiles `source` and checks that it can evaluate the requests this service makes.
pub fn compile_checked(source: BundleSource) -> Result<PolicyBundle, BundleError> {
    let schema_path = source.schema.path.clone();
    let bundle = PolicyBundle::compile(source)?;
    check(&bundle).map_err(|message| {
        BundleError::at(
            &schema_path,
            0,
            format!("the schema does not accept what licet sends to the policies: {message}"),
        )
    })?;
    Ok(bundle)
}

/// Evaluates a device and a user, with and without an entitlement, and an activation and a
/// refresh, on sample data.
pub fn check(bundle: &PolicyBundle) -> Result<(), String> {
    let time = Utc
        .timestamp_opt(1_767_225_600, 0)
        .single()
        .unwrap_or_default();
    let naive = time.naive_utc();
    let tenant = TenantSlice {
        tenant: Tenant {
            id: "fit-check".into(),
            name: String::new(),
            status: "active".into(),
            created_at: naive,
            updated_at: naive,
        },
        entitlements: vec![EntitlementView {
            row: Entitlement {
                tenant_id: "fit-check".into(),
                id: "e".into(),
                product_id: "p".into(),
                model: "device".into(),
                seats: 1,
                environments: "[\"prod\"]".into(),
                starts_at: naive,
                expires_at: naive,
                grace_seconds: 86_400,
                min_version: None,
                max_version: None,
                status: "active".into(),
                created_at: naive,
                updated_at: naive,
            },
            features: vec!["f".into()],
            environments: vec!["prod".into()],
            min_version: 0,
            max_version: crate::licensing::version::UNBOUNDED,
        }],
    };
    let no_entitlement = TenantSlice {
        tenant: tenant.tenant.clone(),
        entitlements: Vec::new(),
    };
    let device = PrincipalView {
        kind: PrincipalKind::Device,
        id: "d".into(),
        status: "active".into(),
        entitlement: Some("e".into()),
        roles: Vec::new(),
    };
    let user = PrincipalView {
        kind: PrincipalKind::User,
        id: "u".into(),
        status: "active".into(),
        entitlement: None,
        roles: vec!["r".into()],
    };
    for slice in [&tenant, &no_entitlement] {
        for principal in [&device, &user] {
            let input = EvalInput {
                tenant: slice,
                principal,
                feature: "f",
                product: "p",
                version: 1,
                environment: "prod",
                now: time,
            };
            evaluate(bundle, &input)?;
        }
    }
    for (status, refresh) in [("new", false), ("active", true)] {
        let input = ActivationInput {
            tenant: &tenant.tenant,
            entitlement: &tenant.entitlements[0],
            device_id: "d",
            device_status: status,
            key_id: "k",
            key_status: "active",
            active_devices: 0,
            refresh,
            now: time,
        };
        evaluate_activation(bundle, &input)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_that_breaks_activation_is_refused() {
        let mut source = BundleSource::embedded();
        source.schema.content = source.schema.content.replacen(
            "entity LicenseKey = {",
            "entity LicenseKey = {\n    site: String,",
            1,
        );
        let err = compile_checked(source).unwrap_err().problems[0].to_string();
        assert!(err.contains("site"), "{err}");
    }

    #[test]
    fn the_shipped_bundle_fits() {
        assert!(compile_checked(BundleSource::embedded()).is_ok());
    }

    #[test]
    fn a_schema_requiring_an_attribute_licet_does_not_send_is_refused() {
        let mut source = BundleSource::embedded();
        source.schema.content = source.schema.content.replacen(
            "entity Entitlement = {",
            "entity Entitlement = {\n    region: String,",
            1,
        );
        assert_ne!(
            source.schema.content,
            BundleSource::embedded().schema.content
        );
        let err = compile_checked(source).unwrap_err().problems[0].to_string();
        assert!(
            err.starts_with("schema/licet.cedarschema: the schema does not accept what licet sends to the policies: "),
            "{err}"
        );
        assert!(err.contains("region"), "{err}");
    }
}
