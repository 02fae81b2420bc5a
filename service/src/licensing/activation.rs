//! Activation and the device lifecycle, as database work.
//!
//! Every function here runs inside one write transaction (`crate::db::write_transaction`), so
//! a refused request writes nothing, and the device limit holds across replicas: before
//! counting a tenant's devices for an entitlement, the entitlement's row is locked with a no-op
//! update, which queues concurrent activations of the same entitlement on both backends.
//!
//! Signing the licence file happens after the commit (see `api::activations`): a signer that
//! is down answers 503 and the client tries again; the second try finds the same device.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use crate::audit::events::{self, NewEvent};
use crate::db::models::{
    Device, DeviceEvent, Entitlement, LicenseKeyRow, NewDeviceEvent, NewRevocation, RevocationRow,
    Tenant,
};
use crate::db::schema::{
    device_events, devices, entitlement_features, entitlements, license_keys, revocations, tenants,
};
use crate::db::{DbConnection, DbError};
use crate::decision::engine;
use crate::decision::slice::EntitlementView;
use crate::licensing::keys;
use crate::licensing::license_file::Terms;
use crate::policy::PolicyBundle;

/// Why a licensing request was refused.
#[derive(Debug, thiserror::Error)]
pub enum LicensingError {
    /// The text cannot be a licence key.
    #[error(
        "`{0}` is not a licence key: expect 25 letters and digits, such as `K7MQ2-XWR4T-ABCDE-FGH23-456PQ`"
    )]
    KeyMalformed(String),
    /// No licence key with that hash.
    #[error("the licence key is not known")]
    KeyUnknown,
    /// One or more reasons, all reported at once.
    #[error("{}", .0.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>().join("; "))]
    Refused(Vec<(String, String)>),
    #[error(
        "all {limit} device seat(s) of entitlement `{entitlement}` are taken; deactivate a device first"
    )]
    DeviceLimit { entitlement: String, limit: i64 },
    #[error("fingerprint `{fingerprint}` already belongs to device `{device}`")]
    FingerprintInUse { fingerprint: String, device: String },
    #[error(
        "device `{device}` moved {count} time(s) in the last {days} day(s), the most allowed; the next transfer is possible after {next}"
    )]
    TransferLimit {
        device: String,
        count: i64,
        days: u32,
        next: String,
    },
    /// The policies could not evaluate the request (a schema that does not fit).
    #[error("the activation policies could not be evaluated: {0}")]
    Policy(String),
    /// A record the request names does not exist; `code` names its kind.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for LicensingError {
    fn from(err: diesel::result::Error) -> Self {
        LicensingError::Db(err.into())
    }
}

/// Who asked, and why, for device events and the audit trail.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub name: String,
    pub reason: Option<String>,
    pub ticket: Option<String>,
    pub request_id: Option<String>,
}

/// A device allowed a licence file: what the file will carry.
#[derive(Debug, Clone)]
pub struct Grant {
    pub tenant: String,
    pub license_key: String,
    pub device: Device,
    pub terms: Terms,
    /// The device was registered (or brought back) by this request.
    pub created: bool,
}

/// What a machine sends to be activated.
#[derive(Debug, Clone)]
pub struct ActivationInput {
    pub key: String,
    pub fingerprint: String,
    pub name: Option<String>,
    pub metadata: Option<Value>,
}

/// The licence key row for a key as typed.
pub fn find_key(conn: &mut DbConnection, typed: &str) -> Result<LicenseKeyRow, LicensingError> {
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
fn mask(typed: &str) -> String {
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
            format!("entitlement `{}` starts at {}Z", row.id, row.starts_at)
        }
        "ENTITLEMENT_EXPIRED" => format!(
            "entitlement `{}` ended at {}Z and its grace period is over",
            row.id, row.expires_at
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

fn device_by_fingerprint(
    conn: &mut DbConnection,
    tenant: &str,
    fingerprint: &str,
) -> QueryResult<Option<Device>> {
    devices::table
        .filter(devices::tenant_id.eq(tenant))
        .filter(devices::fingerprint.eq(fingerprint))
        .select(Device::as_select())
        .first(conn)
        .optional()
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

fn record_event(
    conn: &mut DbConnection,
    device: &Device,
    event: &str,
    from_status: Option<&str>,
    detail: Value,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(device_events::table)
        .values(&NewDeviceEvent {
            tenant_id: device.tenant_id.clone(),
            device_id: device.id.clone(),
            at,
            event: event.into(),
            from_status: from_status.map(str::to_string),
            to_status: device.status.clone(),
            detail: Some(detail.to_string()),
        })
        .execute(conn)
        .map(|_| ())
}

fn audit(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant: &str,
    action: &str,
    object: (&str, &str),
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), DbError> {
    events::append(
        conn,
        &[NewEvent {
            actor: actor.name.clone(),
            tenant: Some(tenant.into()),
            action: action.into(),
            object_type: object.0.into(),
            object_id: object.1.into(),
            before,
            after,
            reason: actor.reason.clone(),
            ticket: actor.ticket.clone(),
            request_id: actor.request_id.clone(),
        }],
    )
}

/// The public view of a device, for answers and audit events.
pub fn device_json(device: &Device) -> Value {
    json!({
        "tenant": device.tenant_id,
        "id": device.id,
        "fingerprint": device.fingerprint,
        "name": device.name,
        "entitlement": device.entitlement_id,
        "status": device.status,
    })
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
    typed_key: &str,
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

/// A new licence key for an entitlement; the key itself is returned once and never stored.
pub fn create_key(
    conn: &mut DbConnection,
    tenant: &str,
    entitlement: &str,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<(LicenseKeyRow, String), LicensingError> {
    let exists: i64 = entitlements::table
        .filter(entitlements::tenant_id.eq(tenant))
        .filter(entitlements::id.eq(entitlement))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        return Err(LicensingError::NotFound {
            code: "ENTITLEMENT_NOT_FOUND",
            message: format!("tenant `{tenant}` has no entitlement `{entitlement}`"),
        });
    }
    let key = keys::generate().map_err(|e| DbError::Query(format!("no randomness: {e}")))?;
    let normalised = keys::normalise(&key).expect("generated keys are well formed");
    let row = LicenseKeyRow {
        tenant_id: tenant.into(),
        id: format!("lk-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
        entitlement_id: entitlement.into(),
        key_hash: keys::hash(&normalised),
        hint: keys::hint(&normalised),
        status: "active".into(),
        created_at: now,
        revoked_at: None,
    };
    diesel::insert_into(license_keys::table)
        .values(&row)
        .execute(conn)?;
    audit(
        conn,
        actor,
        tenant,
        "license_key.create",
        ("license_key", &row.id),
        None,
        Some(key_json(&row)),
    )?;
    Ok((row, key))
}

/// The public view of a key row: never the hash.
pub fn key_json(row: &LicenseKeyRow) -> Value {
    json!({
        "tenant": row.tenant_id,
        "id": row.id,
        "entitlement": row.entitlement_id,
        "hint": row.hint,
        "status": row.status,
        "created_at": row.created_at.and_utc(),
        "revoked_at": row.revoked_at.map(|t| t.and_utc()),
    })
}

/// Revokes a key: it activates nothing more, and its files appear on the revocation list.
pub fn revoke_key(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<LicenseKeyRow, LicensingError> {
    let row: LicenseKeyRow = license_keys::table
        .find((tenant, id))
        .select(LicenseKeyRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| LicensingError::NotFound {
            code: "LICENSE_KEY_NOT_FOUND",
            message: format!("tenant `{tenant}` has no licence key `{id}`"),
        })?;
    if row.status == "revoked" {
        return Err(LicensingError::Conflict(format!(
            "licence key `{id}` is already revoked"
        )));
    }
    diesel::update(license_keys::table.find((tenant, id)))
        .set((
            license_keys::status.eq("revoked"),
            license_keys::revoked_at.eq(now),
        ))
        .execute(conn)?;
    let after = LicenseKeyRow {
        status: "revoked".into(),
        revoked_at: Some(now),
        ..row.clone()
    };
    publish(conn, tenant, "license_key", id, None, now, actor)?;
    audit(
        conn,
        actor,
        tenant,
        "license_key.revoke",
        ("license_key", id),
        Some(key_json(&row)),
        Some(key_json(&after)),
    )?;
    Ok(after)
}

/// Adds an entry to the tenant's revocation list.
fn publish(
    conn: &mut DbConnection,
    tenant: &str,
    kind: &str,
    subject: &str,
    fingerprint: Option<&str>,
    now: NaiveDateTime,
    actor: &Actor,
) -> QueryResult<()> {
    diesel::insert_into(revocations::table)
        .values(&NewRevocation {
            tenant_id: tenant.into(),
            kind: kind.into(),
            subject: subject.into(),
            fingerprint: fingerprint.map(str::to_string),
            revoked_at: now,
            reason: actor
                .reason
                .clone()
                .unwrap_or_else(|| format!("by {}", actor.name)),
        })
        .execute(conn)
        .map(|_| ())
}

fn load_device(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<Device, LicensingError> {
    devices::table
        .find((tenant, id))
        .select(Device::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| LicensingError::NotFound {
            code: "DEVICE_NOT_FOUND",
            message: format!("tenant `{tenant}` has no device `{id}`"),
        })
}

/// Deactivates (`inactive`, the seat is free and the machine may activate again) or revokes
/// (`revoked`, for good) a device. Its licence files appear on the revocation list either way.
pub fn set_status(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
    to: &str,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<Device, LicensingError> {
    let old = load_device(conn, tenant, id)?;
    if old.status == to || old.status == "revoked" {
        return Err(LicensingError::Conflict(format!(
            "device `{id}` is already {}",
            old.status
        )));
    }
    diesel::update(devices::table.find((tenant, id)))
        .set((devices::status.eq(to), devices::updated_at.eq(now)))
        .execute(conn)?;
    let device = Device {
        status: to.into(),
        updated_at: now,
        ..old.clone()
    };
    let event = if to == "revoked" {
        "revoked"
    } else {
        "deactivated"
    };
    record_event(
        conn,
        &device,
        event,
        Some(&old.status),
        json!({ "by": actor.name, "reason": actor.reason }),
        now,
    )?;
    publish(
        conn,
        tenant,
        "device",
        id,
        Some(&old.fingerprint),
        now,
        actor,
    )?;
    let action = if to == "revoked" {
        "device.revoke"
    } else {
        "device.deactivate"
    };
    audit(
        conn,
        actor,
        tenant,
        action,
        ("device", id),
        Some(device_json(&old)),
        Some(device_json(&device)),
    )?;
    Ok(device)
}

/// Limits on moving a seat to another machine.
#[derive(Debug, Clone, Copy)]
pub struct TransferLimit {
    pub per_period: u32,
    pub period_days: u32,
}

/// The machine a seat moves to.
#[derive(Debug, Clone)]
pub struct Replacement {
    pub fingerprint: String,
    /// A new name for the device; the old one stays when `None`.
    pub name: Option<String>,
}

/// Moves the device's seat to a new fingerprint (a replaced machine). The device keeps its id
/// and history; files bound to the old fingerprint appear on the revocation list.
pub fn replace(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
    to: Replacement,
    limit: TransferLimit,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<Device, LicensingError> {
    let (fingerprint, name) = (to.fingerprint.as_str(), to.name);
    let old = load_device(conn, tenant, id)?;
    if old.status == "revoked" {
        return Err(LicensingError::Conflict(format!(
            "device `{id}` is revoked and cannot move"
        )));
    }
    if old.fingerprint == fingerprint {
        return Err(LicensingError::Conflict(format!(
            "device `{id}` already has fingerprint `{fingerprint}`"
        )));
    }
    if let Some(other) = device_by_fingerprint(conn, tenant, fingerprint)? {
        return Err(LicensingError::FingerprintInUse {
            fingerprint: fingerprint.into(),
            device: other.id,
        });
    }
    let since = now - Duration::days(i64::from(limit.period_days));
    let recent: Vec<NaiveDateTime> = device_events::table
        .filter(device_events::tenant_id.eq(tenant))
        .filter(device_events::device_id.eq(id))
        .filter(device_events::event.eq("transferred"))
        .filter(device_events::at.gt(since))
        .order(device_events::at.asc())
        .select(device_events::at)
        .load(conn)?;
    if recent.len() as i64 >= i64::from(limit.per_period) {
        let oldest = recent.first().copied().unwrap_or(now);
        return Err(LicensingError::TransferLimit {
            device: id.into(),
            count: recent.len() as i64,
            days: limit.period_days,
            next: format!("{}Z", oldest + Duration::days(i64::from(limit.period_days))),
        });
    }
    let device = Device {
        fingerprint: fingerprint.into(),
        name: name.unwrap_or(old.name.clone()),
        updated_at: now,
        ..old.clone()
    };
    diesel::update(devices::table.find((tenant, id)))
        .set((
            devices::fingerprint.eq(&device.fingerprint),
            devices::name.eq(&device.name),
            devices::updated_at.eq(now),
        ))
        .execute(conn)?;
    record_event(
        conn,
        &device,
        "transferred",
        Some(&old.status),
        json!({ "from_fingerprint": old.fingerprint, "to_fingerprint": fingerprint, "by": actor.name, "reason": actor.reason }),
        now,
    )?;
    publish(
        conn,
        tenant,
        "device",
        id,
        Some(&old.fingerprint),
        now,
        actor,
    )?;
    audit(
        conn,
        actor,
        tenant,
        "device.transfer",
        ("device", id),
        Some(device_json(&old)),
        Some(device_json(&device)),
    )?;
    Ok(device)
}

/// One entry of a revocation list as clients read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevocationEntry {
    pub kind: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    pub revoked_at: i64,
}

/// Every revocation of `tenant`, oldest first; `None` when the tenant does not exist.
pub fn revocation_entries(
    conn: &mut DbConnection,
    tenant: &str,
) -> Result<Option<Vec<RevocationEntry>>, DbError> {
    let known: i64 = tenants::table
        .filter(tenants::id.eq(tenant))
        .count()
        .get_result(conn)?;
    if known == 0 {
        return Ok(None);
    }
    let rows: Vec<RevocationRow> = revocations::table
        .filter(revocations::tenant_id.eq(tenant))
        .order(revocations::id.asc())
        .select(RevocationRow::as_select())
        .load(conn)?;
    Ok(Some(
        rows.into_iter()
            .map(|r| RevocationEntry {
                kind: r.kind,
                id: r.subject,
                fingerprint: r.fingerprint,
                revoked_at: r.revoked_at.and_utc().timestamp(),
            })
            .collect(),
    ))
}

/// A device with its history, oldest event first.
pub fn device_with_history(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
) -> Result<(Device, Vec<DeviceEvent>), LicensingError> {
    let device = load_device(conn, tenant, id)?;
    let history = device_events::table
        .filter(device_events::tenant_id.eq(tenant))
        .filter(device_events::device_id.eq(id))
        .order(device_events::id.asc())
        .select(DeviceEvent::as_select())
        .load(conn)?;
    Ok((device, history))
}

/// Which devices a list shows: by entitlement and status, after a device id, at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    pub entitlement: Option<String>,
    pub status: Option<String>,
    pub after: Option<String>,
    pub limit: i64,
}

/// A page of the tenant's devices, by id.
pub fn list_devices(
    conn: &mut DbConnection,
    tenant: &str,
    filter: &DeviceFilter,
) -> Result<Vec<Device>, DbError> {
    let mut query = devices::table
        .filter(devices::tenant_id.eq(tenant))
        .select(Device::as_select())
        .order(devices::id.asc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(entitlement) = &filter.entitlement {
        query = query.filter(devices::entitlement_id.eq(entitlement.clone()));
    }
    if let Some(status) = &filter.status {
        query = query.filter(devices::status.eq(status.clone()));
    }
    if let Some(after) = &filter.after {
        query = query.filter(devices::id.gt(after.clone()));
    }
    Ok(query.load(conn)?)
}

/// A page of the tenant's licence keys, by id.
pub fn list_keys(
    conn: &mut DbConnection,
    tenant: &str,
    entitlement: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<LicenseKeyRow>, DbError> {
    let mut query = license_keys::table
        .filter(license_keys::tenant_id.eq(tenant))
        .select(LicenseKeyRow::as_select())
        .order(license_keys::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(entitlement) = entitlement {
        query = query.filter(license_keys::entitlement_id.eq(entitlement.to_string()));
    }
    if let Some(after) = after {
        query = query.filter(license_keys::id.gt(after.to_string()));
    }
    Ok(query.load(conn)?)
}
