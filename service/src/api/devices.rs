//! Admin routes for a tenant's licence keys and devices: make, read and revoke keys, list devices
//! with their history, deactivate, revoke and replace (transfer a seat to a new machine).
//!
//! Reads take an auditor or admin token, changes an admin token; a token limited to a tenant
//! reaches only that tenant. Every change is an audit event and, for devices, a device event.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::{ChangeNote, read_note};
use super::paging::{invalid_query, limit, next_after, number};
use crate::db::models::{Device, DeviceEvent};
use crate::error::ApiError;
use crate::identity::{Caller, Role, authorize};
use crate::licensing::activation::{self, Actor, DeviceFilter, Replacement, TransferLimit};
use crate::state::AppState;
use crate::telemetry::{RequestId, TenantTag};

/// Authenticates and checks that the caller may reach `tenant`.
fn caller_for(
    req: &HttpRequest,
    state: &AppState,
    tenant: &str,
    needed: Role,
) -> Result<Caller, ApiError> {
    let caller = authorize(req, &state.config.access, needed)?;
    super::records::may_touch(&caller, tenant)?;
    req.extensions_mut().insert(TenantTag(tenant.to_string()));
    Ok(caller)
}

fn actor(req: &HttpRequest, caller: Caller, note: ChangeNote) -> Actor {
    Actor {
        name: caller.name,
        reason: note.reason,
        ticket: note.ticket,
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
    }
}

use crate::db::now;

/// `GET …/license-keys?entitlement=&after=&limit=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyQuery {
    entitlement: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

pub async fn list_keys(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<KeyQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = path.into_inner();
    caller_for(&req, &state, &tenant, Role::Auditor)?;
    let query = query.into_inner();
    let page = limit(number("limit", query.limit)?)?;
    let rows = state
        .db
        .run(move |conn| {
            activation::list_keys(
                conn,
                &tenant,
                query.entitlement.as_deref(),
                query.after.as_deref(),
                page,
            )
        })
        .await?;
    let next = next_after(&rows, page, |r| r.id.clone());
    let items: Vec<Value> = rows.iter().map(activation::key_json).collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next": next })))
}

/// `GET …/license-keys/{key}`: the key as its list shows it (its hint, never the key).
pub async fn get_key(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    _query: web::Query<super::audit::NoQuery>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, id) = path.into_inner();
    caller_for(&req, &state, &tenant, Role::Auditor)?;
    let row = state
        .db
        .run(move |conn| activation::get_key(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::Ok().json(activation::key_json(&row)))
}

/// `POST …/license-keys`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    entitlement: String,
    reason: Option<String>,
    ticket: Option<String>,
}

/// Makes a licence key: 201 with its address. The answer is the only place the key itself ever
/// appears.
pub async fn create_key(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<serde_json::Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let tenant = path.into_inner();
    let caller = caller_for(&req, &state, &tenant, Role::Admin)?;
    let body: NewKeyBody = super::object(body)?;
    let note = ChangeNote {
        reason: body.reason,
        ticket: body.ticket,
    };
    let actor = actor(&req, caller, note);
    let t = tenant.clone();
    let (row, key) = state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                activation::create_key(conn, &t, &body.entitlement, &actor, now())
            })
        })
        .await?;
    let location = format!("/v1/admin/tenants/{tenant}/license-keys/{}", row.id);
    let mut answer = activation::key_json(&row);
    answer["key"] = Value::String(key);
    Ok(super::records::created(location, answer))
}

/// `POST …/license-keys/{key}/revoke`
pub async fn revoke_key(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (tenant, id) = path.into_inner();
    let caller = caller_for(&req, &state, &tenant, Role::Admin)?;
    let note = read_note(&req, payload, state.config.server.body_limit_bytes).await?;
    let actor = actor(&req, caller, note);
    let row = state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                activation::revoke_key(conn, &tenant, &id, &actor, now())
            })
        })
        .await?;
    // The key's devices were deactivated: decisions see it at once.
    state.cache.invalidate_all();
    Ok(HttpResponse::Ok().json(activation::key_json(&row)))
}

/// `GET …/devices?entitlement=&status=&after=&limit=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceQuery {
    entitlement: Option<String>,
    status: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

pub async fn list_devices(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<DeviceQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = path.into_inner();
    caller_for(&req, &state, &tenant, Role::Auditor)?;
    let query = query.into_inner();
    let filter = DeviceFilter {
        entitlement: query.entitlement,
        status: device_status(query.status)?,
        after: query.after,
        limit: limit(number("limit", query.limit)?)?,
    };
    let page = filter.limit;
    let rows = state
        .db
        .run(move |conn| activation::list_devices(conn, &tenant, &filter))
        .await?;
    let next = next_after(&rows, page, |d| d.id.clone());
    let items: Vec<Value> = rows.iter().map(activation::device_json).collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next": next })))
}

/// The `status` filter, checked: a misspelt status would otherwise match nothing silently.
fn device_status(status: Option<String>) -> Result<Option<String>, ApiError> {
    match status.as_deref() {
        None | Some("active" | "inactive" | "revoked") => Ok(status),
        Some(other) => Err(invalid_query(format!(
            "`status` must be `active`, `inactive` or `revoked`, not `{other}`"
        ))),
    }
}

/// `GET …/devices/{device}`: the device and every event in its life.
pub async fn get_device(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, id) = path.into_inner();
    caller_for(&req, &state, &tenant, Role::Auditor)?;
    let (device, history) = state
        .db
        .run(move |conn| activation::device_with_history(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::Ok().json(with_history(&device, &history)))
}

fn with_history(device: &Device, history: &[DeviceEvent]) -> Value {
    let mut body = activation::device_json(device);
    body["created_at"] = json!(device.created_at.and_utc());
    body["history"] = history
        .iter()
        .map(|e| {
            json!({
                "at": e.at.and_utc(),
                "event": e.event,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "detail": e.detail.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()
                    .or_else(|| Some(Value::String(d.to_string())))),
            })
        })
        .collect();
    body
}

/// `POST …/devices/{device}/deactivate`: frees the seat; the machine may activate again.
pub async fn deactivate(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    set_status(req, state, path, payload, "inactive").await
}

/// `POST …/devices/{device}/revoke`: for good; the machine cannot activate again.
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    set_status(req, state, path, payload, "revoked").await
}

async fn set_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    to: &'static str,
) -> Result<HttpResponse, ApiError> {
    let (tenant, id) = path.into_inner();
    let caller = caller_for(&req, &state, &tenant, Role::Admin)?;
    let note = read_note(&req, payload, state.config.server.body_limit_bytes).await?;
    let actor = actor(&req, caller, note);
    let device = state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                activation::set_status(conn, &tenant, &id, to, &actor, now())
            })
        })
        .await?;
    // Decisions see the new status at once.
    state.cache.invalidate_all();
    Ok(HttpResponse::Ok().json(activation::device_json(&device)))
}

/// `POST …/devices/{device}/replace`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceBody {
    fingerprint: String,
    name: Option<String>,
    reason: Option<String>,
    ticket: Option<String>,
}

/// Moves the device's seat to a new fingerprint, within `activation.transfers_per_period`.
pub async fn replace(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<serde_json::Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, id) = path.into_inner();
    let caller = caller_for(&req, &state, &tenant, Role::Admin)?;
    let body: ReplaceBody = super::object(body)?;
    super::activations::check_fingerprint(&body.fingerprint)?;
    let note = ChangeNote {
        reason: body.reason,
        ticket: body.ticket,
    };
    let actor = actor(&req, caller, note);
    let limits = TransferLimit {
        per_period: state.config.activation.transfers_per_period,
        period_days: state.config.activation.transfer_period_days,
    };
    let to = Replacement {
        fingerprint: body.fingerprint,
        name: body.name,
    };
    let device = state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                activation::replace(conn, &tenant, &id, to, limits, &actor, now())
            })
        })
        .await?;
    state.cache.invalidate_all();
    Ok(HttpResponse::Ok().json(activation::device_json(&device)))
}
