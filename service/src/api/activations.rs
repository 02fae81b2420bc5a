//! What installed software calls with a licence key: online activation, offline activation by
//! challenge and response, licence-file refresh, and the signed revocation list.
//!
//! None of these routes takes an API token: the licence key is the credential. Every attempt
//! counts against the key's rate limit (`activation.attempts_per_minute`), answered 429 with
//! `Retry-After` when spent.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::licensing::activation::{self, ActivationInput, Grant, LicensingError};
use crate::licensing::keys::{self, TypedKey};
use crate::licensing::license_file::{
    self, LICENSE_LABEL, LicenseClaims, Mode, REQUEST_LABEL, REVOCATIONS_LABEL,
};
use crate::state::AppState;
use crate::telemetry::{RequestId, TenantTag};

/// Longest fingerprint, device name and metadata accepted.
const MAX_FINGERPRINT: usize = 256;
const MAX_NAME: usize = 200;
const MAX_METADATA_BYTES: usize = 4096;

/// `POST /v1/activations`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationBody {
    license_key: TypedKey,
    fingerprint: String,
    name: Option<String>,
    metadata: Option<serde_json::Map<String, Value>>,
}

/// `POST /v1/licenses/refresh`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    license_key: TypedKey,
    fingerprint: String,
}

/// `POST /v1/activations/offline`: the armoured request `licet-client request` wrote.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineBody {
    request: String,
}

/// The activation request file, inside its armour.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OfflineRequest {
    v: u32,
    license_key: TypedKey,
    fingerprint: String,
    nonce: String,
    name: Option<String>,
    #[allow(dead_code)]
    created_at: Option<String>,
}

/// Activates a machine and answers its licence file: 201 when the device is new (or comes
/// back after a deactivation), 200 when the fingerprint was already active.
pub async fn activate(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<serde_json::Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let result = activate_inner(req, state.clone(), body).await;
    count(&state, "online", &result);
    result
}

async fn activate_inner(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<serde_json::Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let body: ActivationBody = super::object(body)?;
    let metadata = body.metadata.map(Value::Object);
    let too_large = metadata
        .as_ref()
        .is_some_and(|m| m.to_string().len() > MAX_METADATA_BYTES)
        .then(|| format!("`metadata` is larger than {MAX_METADATA_BYTES} bytes"));
    refuse([
        fingerprint_problem(&body.fingerprint),
        name_problem(body.name.as_deref()),
        too_large,
    ])?;
    limit(&state, &body.license_key)?;
    let input = ActivationInput {
        key: body.license_key,
        fingerprint: body.fingerprint,
        name: body.name,
        metadata,
    };
    let grant = register(&req, &state, input).await?;
    respond(&req, &state, grant, Mode::Online, None).await
}

/// Answers a fresh licence file with the current terms for an activated machine.
pub async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<serde_json::Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let result = refresh_inner(req, state.clone(), body).await;
    count(&state, "refresh", &result);
    result
}

async fn refresh_inner(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<serde_json::Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let body: RefreshBody = super::object(body)?;
    check_fingerprint(&body.fingerprint)?;
    limit(&state, &body.license_key)?;
    let bundle = state.policies.load_full();
    let grant = state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                activation::refresh(conn, &bundle, &body.license_key, &body.fingerprint, now())
            })
        })
        .await?;
    respond(&req, &state, grant, Mode::Online, None).await
}

/// Activates from an uploaded request file and answers an offline licence file that carries
/// the request's nonce, so that `licet-client install` can tell it answers its own request.
pub async fn activate_offline(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<serde_json::Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let result = activate_offline_inner(req, state.clone(), body).await;
    count(&state, "offline", &result);
    result
}

async fn activate_offline_inner(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<serde_json::Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let body: OfflineBody = super::object(body)?;
    let request = read_request(&body.request)?;
    refuse([
        fingerprint_problem(&request.fingerprint),
        name_problem(request.name.as_deref()),
    ])?;
    limit(&state, &request.license_key)?;
    let nonce = request.nonce.clone();
    let input = ActivationInput {
        key: request.license_key,
        fingerprint: request.fingerprint,
        name: request.name,
        metadata: Some(json!({ "activated": "offline" })),
    };
    let grant = register(&req, &state, input).await?;
    respond(&req, &state, grant, Mode::Offline, Some(nonce)).await
}

/// Activates `input` under the active policies, in one write transaction off the workers.
async fn register(
    req: &HttpRequest,
    state: &AppState,
    input: ActivationInput,
) -> Result<Grant, ApiError> {
    let request_id = request_id(req);
    let bundle = state.policies.load_full();
    let grant = state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                activation::activate(conn, &bundle, &input, request_id, now())
            })
        })
        .await?;
    Ok(grant)
}

fn read_request(text: &str) -> Result<OfflineRequest, ApiError> {
    let body = license_file::unarmor(REQUEST_LABEL, text).map_err(invalid_request_file)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(body.trim_end_matches('='))
        .map_err(|e| invalid_request_file(format!("the request is not base64url: {e}")))?;
    let request: OfflineRequest = serde_json::from_slice(&bytes).map_err(|e| {
        invalid_request_file(format!("the request does not have the expected shape: {e}"))
    })?;
    if request.v != 1 {
        return Err(invalid_request_file(format!(
            "request format version {} is not known; this server reads version 1",
            request.v
        )));
    }
    if request.nonce.len() < 16 || request.nonce.len() > 128 {
        return Err(invalid_request_file(
            "the request's nonce must be 16 to 128 characters".into(),
        ));
    }
    Ok(request)
}

fn invalid_request_file(message: String) -> ApiError {
    ApiError::unprocessable(
        "ACTIVATION_REQUEST_INVALID",
        format!("the activation request cannot be read: {message}"),
    )
}

/// `GET /v1/revocations?tenant=…`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationsQuery {
    tenant: String,
}

/// The tenant's signed revocation list: licence keys and device bindings whose licence files
/// no longer count. Public, like the JWKS: it carries ids and fingerprints, nothing personal.
pub async fn revocations(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<RevocationsQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = query.into_inner().tenant;
    req.extensions_mut().insert(TenantTag(tenant.clone()));
    let wanted = tenant.clone();
    let entries = state
        .db
        .run(move |conn| activation::revocation_entries(conn, &wanted))
        .await?
        .ok_or_else(|| ApiError::not_found("TENANT_NOT_FOUND", format!("no tenant `{tenant}`")))?;
    let iat = Utc::now().timestamp();
    let exp = iat + i64::from(state.config.activation.revocations_valid_hours) * 3600;
    let claims = json!({
        "iss": "licet",
        "kind": "revocations",
        "tenant": tenant,
        "iat": iat,
        "exp": exp,
        "entries": entries,
    });
    let signed = state.signer.sign_jws(&claims).await;
    state
        .metrics
        .observe_signing(state.signer.backend(), &signed);
    let token = signed?.token;
    Ok(HttpResponse::Ok().json(json!({
        "tenant": tenant,
        "issued_at": timestamp(iat),
        "expires_at": timestamp(exp),
        "entries": entries,
        "token": token,
        "armored": license_file::armor(REVOCATIONS_LABEL, &token),
    })))
}

/// Signs the licence file of `grant` and answers it.
async fn respond(
    req: &HttpRequest,
    state: &AppState,
    grant: Grant,
    mode: Mode,
    nonce: Option<String>,
) -> Result<HttpResponse, ApiError> {
    req.extensions_mut().insert(TenantTag(grant.tenant.clone()));
    // A device change must be seen by the next decision on this replica at once.
    if grant.created {
        state.cache.invalidate_all();
    }
    let settings = &state.config.activation;
    let iat = Utc::now().timestamp();
    let (valid, checkin) = match mode {
        Mode::Online => (
            i64::from(settings.license_valid_days) * 86_400,
            i64::from(settings.checkin_hours) * 3600,
        ),
        Mode::Offline => {
            let days = i64::from(settings.offline_valid_days) * 86_400;
            (days, days)
        }
    };
    let exp = (iat + valid).min(grant.terms.usable_until());
    let claims = LicenseClaims {
        iss: "licet".into(),
        kind: license_file::KIND.into(),
        jti: uuid::Uuid::new_v4().to_string(),
        iat,
        exp,
        checkin_by: (iat + checkin).min(exp),
        mode,
        nonce,
        tenant: grant.tenant.clone(),
        license_key: grant.license_key.clone(),
        device: grant.device.id.clone(),
        fingerprint: grant.device.fingerprint.clone(),
        entitlement: grant.terms,
    };
    let signed = state.signer.sign_jws(&claims).await;
    state
        .metrics
        .observe_signing(state.signer.backend(), &signed);
    let token = signed?.token;
    let body = json!({
        "device": activation::device_json(&grant.device),
        "license": token,
        "armored": license_file::armor(LICENSE_LABEL, &token),
        "mode": claims.mode,
        "issued_at": timestamp(claims.iat),
        "expires_at": timestamp(claims.exp),
        "checkin_by": timestamp(claims.checkin_by),
    });
    if grant.created {
        let location = format!(
            "/v1/admin/tenants/{}/devices/{}",
            grant.tenant, grant.device.id
        );
        Ok(super::records::created(location, body))
    } else {
        Ok(HttpResponse::Ok().json(body))
    }
}

/// Counts a licence-file request by its outcome.
fn count(state: &AppState, kind: &str, result: &Result<HttpResponse, ApiError>) {
    let outcome = match result {
        Ok(_) => "issued",
        Err(err) => err.code,
    };
    state.metrics.observe_activation(kind, outcome);
}

/// Counts an attempt against the key's rate limit.
fn limit(state: &AppState, typed_key: &TypedKey) -> Result<(), ApiError> {
    let Some(normalised) = keys::normalise(typed_key.as_str()) else {
        return Err(LicensingError::KeyMalformed(activation::mask(typed_key.as_str())).into());
    };
    state
        .key_limiter
        .check(&keys::hash(&normalised))
        .map_err(|wait| {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ApiError::new(
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                format!("too many attempts with this licence key; try again in {seconds} s"),
            )
            .with_retry_after(seconds.max(1))
        })
}

/// Refuses a fingerprint that is empty, too long or not printable ASCII.
pub(super) fn check_fingerprint(fingerprint: &str) -> Result<(), ApiError> {
    refuse([fingerprint_problem(fingerprint)])
}

/// 422 `INVALID_REQUEST` when any field has a problem: `errors` lists every one, as the admin
/// API does, and the detail joins them so that a client showing only the detail misses none.
fn refuse<const N: usize>(problems: [Option<String>; N]) -> Result<(), ApiError> {
    let problems: Vec<String> = problems.into_iter().flatten().collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(ApiError::unprocessable("INVALID_REQUEST", problems.join("; ")).with_errors(problems))
}

fn fingerprint_problem(fingerprint: &str) -> Option<String> {
    let printable = fingerprint.bytes().all(|b| b.is_ascii_graphic());
    (fingerprint.is_empty() || fingerprint.len() > MAX_FINGERPRINT || !printable).then(|| {
        format!(
            "`fingerprint` must be 1 to {MAX_FINGERPRINT} printable ASCII characters without spaces"
        )
    })
}

fn name_problem(name: Option<&str>) -> Option<String> {
    match name {
        Some(n) if n.trim().is_empty() || n.chars().count() > MAX_NAME => Some(format!(
            "`name` must be 1 to {MAX_NAME} characters when given"
        )),
        Some(n) if n.chars().any(char::is_control) => {
            Some("`name` must not hold control characters (line breaks, tabs, NUL)".into())
        }
        _ => None,
    }
}

fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions().get::<RequestId>().map(|r| r.0.clone())
}

use crate::db::now;

fn timestamp(unix: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(unix, 0)
}
