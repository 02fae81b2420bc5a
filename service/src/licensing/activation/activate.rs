//! Activation and refresh: find the key, ask the `activate` policies, take or keep a seat.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::db::DbConnection;
use crate::db::models::{Device, Entitlement, LicenseKeyRow, Tenant};
use crate::db::schema::{devices, entitlement_features, entitlements, license_keys, tenants};
use crate::decision::engine;
use crate::decision::slice::EntitlementView;
use crate::licensing::keys::{self, TypedKey};
use crate::licensing::license_file::Terms;
use crate::policy::PolicyBundle;

use super::*;

/// The licence key row for a key as typed.
pub fn find_key(
    conn: &mut DbConnection,
    typed: &TypedKey,
) -> Result<LicenseKeyRow, LicensingError> {
    let typed = typed.as_str();
    let normalised =
        keys::normalise(typed).ok_or_else(|| LicensingError::KeyMalformed(mask(typed)))?;
    license_keys::table
        .filter(license_keys::key_hash.eq(keys::hash(&normalised)))
        .select(LicenseKeyRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(LicensingError::KeyUnknown)
}

/// Shows the shape of a mistyped key without echoing a real one whole.
pub fn mask(typed: &str) -> String {
    let chars: Vec<char> = typed.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    format!(
        "{}…{}",
        chars[..3].iter().collect::<String>(),
        chars[chars.len() - 3..].iter().collect::<String>()
    )
}

/// What an activation decision is made on: the key's tenant and entitlement.
struct KeyContext {
    tenant: Tenant,
    entitlement: EntitlementView,
    terms: Terms,
}

impl KeyContext {
    fn load(conn: &mut DbConnection, key: &LicenseKeyRow) -> Result<Self, LicensingError> {
        let tenant: Tenant = tenants::table
            .find(&key.tenant_id)
            .select(Tenant::as_select())
            .first(conn)?;
        let row: Entitlement = entitlements::table
            .find((&key.tenant_id, &key.entitlement_id))
            .select(Entitlement::as_select())
            .first(conn)?;
        let features: Vec<String> = entitlement_features::table
            .filter(entitlement_features::tenant_id.eq(&key.tenant_id))
            .filter(entitlement_features::entitlement_id.eq(&key.entitlement_id))
            .select(entitlement_features::feature_id)
            .load(conn)?;
        let terms = Terms::of(&row, features.clone());
        Ok(Self {
            tenant,
            entitlement: EntitlementView::new(row, features),
            terms,
        })
    }
}

/// The machine a decision is about: an existing device, or one activating for the first time.
struct Machine<'a> {
    id: &'a str,
    status: &'a str,
}

/// Asks the policies (the `activate` action) whether `machine` may take or keep a seat of the
/// key's entitlement; a refusal carries every reason the policies gave.
fn decide(
    bundle: &PolicyBundle,
    context: &KeyContext,
    key: &LicenseKeyRow,
    machine: Machine<'_>,
    active_devices: i64,
    refresh: bool,
    now: NaiveDateTime,
) -> Result<(), LicensingError> {
    let input = engine::ActivationInput {
        tenant: &context.tenant,
        entitlement: &context.entitlement,
        device_id: machine.id,
        device_status: machine.status,
        key_id: &key.id,
        key_status: &key.status,
        active_devices,
        refresh,
        now: now.and_utc(),
    };
    let evaluation = engine::evaluate_activation(bundle, &input).map_err(LicensingError::Policy)?;
    if evaluation.allowed {
        return Ok(());
    }
    let row = &context.entitlement.row;
    if evaluation.reasons == ["DEVICE_LIMIT_REACHED"] {
        return Err(LicensingError::DeviceLimit {
            entitlement: row.id.clone(),
            limit: row.seats,
        });
    }
    let explain = |code: &str| match code {
        "LICENSE_KEY_REVOKED" => "the licence key has been revoked".to_string(),
        "TENANT_SUSPENDED" => format!(
            "tenant `{}` is {}",
            context.tenant.id, context.tenant.status
        ),
        "ENTITLEMENT_SUSPENDED" => format!("entitlement `{}` is {}", row.id, row.status),
        "ENTITLEMENT_NOT_STARTED" => {
            format!(
                "entitlement `{}` starts at {}",
                row.id,
                rfc3339(row.starts_at)
            )
        }
        "ENTITLEMENT_EXPIRED" => format!(
            "entitlement `{}` ended at {} and its grace period is over",
            row.id,
            rfc3339(row.expires_at)
        ),
        "DEVICE_REVOKED" => format!("device `{}` has been revoked", machine.id),
        "DEVICE_INACTIVE" => format!("device `{}` was deactivated; activate it again", machine.id),
        "DEVICE_NOT_ACTIVATED" => {
            "no device with this fingerprint is activated with this key's entitlement".to_string()
        }
        "DEVICE_LIMIT_REACHED" => format!(
            "all {} device seat(s) of entitlement `{}` are taken",
            row.seats, row.id
        ),
        other => format!("refused by the policies ({other})"),
    };
    let reasons = evaluation
        .reasons
        .iter()
        .map(|code| (code.clone(), explain(code)))
        .collect();
    Err(LicensingError::Refused(reasons))
}

/// Holds the entitlement's row until the transaction ends, so that device counts made under
/// it cannot race another activation of the same entitlement.
fn lock_entitlement(conn: &mut DbConnection, tenant: &str, id: &str) -> QueryResult<()> {
    diesel::update(entitlements::table.find((tenant, id)))
        .set(entitlements::updated_at.eq(entitlements::updated_at))
        .execute(conn)
        .map(|_| ())
}

fn active_devices(conn: &mut DbConnection, tenant: &str, entitlement: &str) -> QueryResult<i64> {
    devices::table
        .filter(devices::tenant_id.eq(tenant))
        .filter(devices::entitlement_id.eq(entitlement))
        .filter(devices::status.eq("active"))
        .count()
        .get_result(conn)
}

/// Registers the machine under the key's entitlement, or finds it when the same fingerprint
/// was activated before. Over the device limit nothing is written.
pub fn activate(
    conn: &mut DbConnection,
    bundle: &PolicyBundle,
    input: &ActivationInput,
    actor_request_id: Option<String>,
    now: NaiveDateTime,
) -> Result<Grant, LicensingError> {
    let key = find_key(conn, &input.key)?;
    let context = KeyContext::load(conn, &key)?;
    let entitlement = context.entitlement.row.clone();
    let tenant = key.tenant_id.clone();
    let actor = Actor {
        name: format!("license-key:{}", key.id),
        request_id: actor_request_id,
        ..Actor::default()
    };
    lock_entitlement(conn, &tenant, &entitlement.id)?;
    let existing = device_by_fingerprint(conn, &tenant, &input.fingerprint)?;
    if let Some(device) = &existing
        && device.entitlement_id.as_deref() != Some(entitlement.id.as_str())
    {
        return Err(LicensingError::FingerprintInUse {
            fingerprint: input.fingerprint.clone(),
            device: device.id.clone(),
        });
    }
    let new_id = format!("dev-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let machine = match &existing {
        Some(d) => Machine {
            id: &d.id,
            status: &d.status,
        },
        None => Machine {
            id: &new_id,
            status: "new",
        },
    };
    let others = active_devices(conn, &tenant, &entitlement.id)?
        - i64::from(existing.as_ref().is_some_and(|d| d.status == "active"));
    decide(bundle, &context, &key, machine, others, false, now)?;
    let terms = context.terms;
    if let Some(device) = existing.as_ref().filter(|d| d.status == "active") {
        // The same machine again: the same device, not a second seat.
        touch(conn, device, now)?;
        return Ok(Grant {
            tenant,
            license_key: key.id,
            device: device.clone(),
            terms,
            created: false,
        });
    }
    let metadata = input.metadata.as_ref().map(Value::to_string);
    let device = match existing {
        Some(old) => {
            // A deactivated machine comes back: it takes a seat again.
            let device = Device {
                status: "active".into(),
                updated_at: now,
                name: input.name.clone().unwrap_or(old.name.clone()),
                ..old.clone()
            };
            diesel::update(devices::table.find((&tenant, &old.id)))
                .set((
                    devices::status.eq("active"),
                    devices::name.eq(&device.name),
                    devices::updated_at.eq(now),
                    devices::license_key_id.eq(&key.id),
                    devices::metadata.eq(&metadata),
                    devices::last_checkin_at.eq(now),
                ))
                .execute(conn)?;
            record_event(
                conn,
                &device,
                "reactivated",
                Some(&old.status),
                json!({ "license_key": key.id }),
                now,
            )?;
            audit(
                conn,
                &actor,
                &tenant,
                "device.reactivate",
                ("device", &device.id),
                Some(device_json(&old)),
                Some(device_json(&device)),
            )?;
            device
        }
        None => {
            let id = new_id;
            let device = Device {
                tenant_id: tenant.clone(),
                id: id.clone(),
                fingerprint: input.fingerprint.clone(),
                name: input.name.clone().unwrap_or_else(|| id.clone()),
                entitlement_id: Some(entitlement.id.clone()),
                status: "active".into(),
                created_at: now,
                updated_at: now,
            };
            diesel::insert_into(devices::table)
                .values(&device)
                .execute(conn)?;
            diesel::update(devices::table.find((&tenant, &id)))
                .set((
                    devices::license_key_id.eq(&key.id),
                    devices::metadata.eq(&metadata),
                    devices::last_checkin_at.eq(now),
                ))
                .execute(conn)?;
            record_event(
                conn,
                &device,
                "activated",
                None,
                json!({ "license_key": key.id }),
                now,
            )?;
            audit(
                conn,
                &actor,
                &tenant,
                "device.activate",
                ("device", &id),
                None,
                Some(device_json(&device)),
            )?;
            device
        }
    };
    Ok(Grant {
        tenant,
        license_key: key.id,
        device,
        terms,
        created: true,
    })
}

/// Notes that the device fetched a licence file.
fn touch(conn: &mut DbConnection, device: &Device, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(devices::table.find((&device.tenant_id, &device.id)))
        .set(devices::last_checkin_at.eq(now))
        .execute(conn)
        .map(|_| ())
}

/// Current terms for a machine activated before: renewals and revocations reach it here.
pub fn refresh(
    conn: &mut DbConnection,
    bundle: &PolicyBundle,
    typed_key: &TypedKey,
    fingerprint: &str,
    now: NaiveDateTime,
) -> Result<Grant, LicensingError> {
    let key = find_key(conn, typed_key)?;
    let context = KeyContext::load(conn, &key)?;
    let device = device_by_fingerprint(conn, &key.tenant_id, fingerprint)?
        .filter(|d| d.entitlement_id.as_deref() == Some(key.entitlement_id.as_str()));
    let machine = match &device {
        Some(d) => Machine {
            id: &d.id,
            status: &d.status,
        },
        None => Machine {
            id: fingerprint,
            status: "new",
        },
    };
    let others = active_devices(conn, &key.tenant_id, &key.entitlement_id)?;
    decide(bundle, &context, &key, machine, others, true, now)?;
    let device = device.ok_or_else(|| {
        LicensingError::Policy(
            "the policies allowed a refresh for a machine that was never activated".into(),
        )
    })?;
    touch(conn, &device, now)?;
    Ok(Grant {
        tenant: key.tenant_id,
        license_key: key.id,
        device,
        terms: context.terms,
        created: false,
    })
}
