//! `/v1/admin/tenants/{tenant}/entitlements`: a tenant's entitlements. When the tenant
//! requires approval, a create or change answers 202 with a pending change instead
//! (`api/changes.rs`).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::records::{
    PageQuery, author, created, list, may_touch, noted, noted_patch, nullable, pending,
};
use crate::error::ApiError;
use crate::identity::{Role, authorize};
use crate::licensing::import::EntitlementEntry;
use crate::licensing::manage::entitlements::{self, EntitlementPatch, Outcome};
use crate::state::AppState;

/// The body of `PATCH`: the terms to change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    product: Option<String>,
    model: Option<String>,
    seats: Option<i64>,
    features: Option<Vec<String>>,
    environments: Option<Vec<String>>,
    starts_at: Option<String>,
    expires_at: Option<String>,
    grace_days: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    min_version: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    max_version: Option<Option<String>>,
    status: Option<String>,
}

impl From<PatchBody> for EntitlementPatch {
    fn from(b: PatchBody) -> Self {
        Self {
            product: b.product,
            model: b.model,
            seats: b.seats,
            features: b.features,
            environments: b.environments,
            starts_at: b.starts_at,
            expires_at: b.expires_at,
            grace_days: b.grace_days,
            min_version: b.min_version,
            max_version: b.max_version,
            status: b.status,
        }
    }
}

/// `GET /v1/admin/tenants/{tenant}/entitlements`
pub async fn list_entitlements(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Auditor)?;
    let tenant = path.into_inner();
    may_touch(&caller, &tenant)?;
    let page = query.into_inner().page()?;
    let p = page.clone();
    let items = state
        .db
        .run(move |conn| entitlements::list(conn, &tenant, &p))
        .await?;
    Ok(list(&items, &page, |e| e.terms.id.clone()))
}

/// `GET /v1/admin/tenants/{tenant}/entitlements/{entitlement}`
pub async fn get_entitlement(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    _query: web::Query<super::audit::NoQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Auditor)?;
    let (tenant, id) = path.into_inner();
    may_touch(&caller, &tenant)?;
    let view = state
        .db
        .run(move |conn| entitlements::find(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /v1/admin/tenants/{tenant}/entitlements`: the fields of an import file's entitlement;
/// 201 with it, or 202 with the pending change.
pub async fn create_entitlement(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Admin)?;
    let tenant = path.into_inner();
    may_touch(&caller, &tenant)?;
    let noted = noted::<EntitlementEntry>(body)?;
    let by = author(&req, &caller, noted.reason, noted.ticket);
    let entry = noted.body;
    let t = tenant.clone();
    let outcome = state
        .db
        .run(move |conn| entitlements::create(conn, &t, entry, &by))
        .await?;
    Ok(answer(&state, &tenant, outcome, true))
}

/// `PATCH /v1/admin/tenants/{tenant}/entitlements/{entitlement}`: 200 with the entitlement, or
/// 202 with the pending change.
pub async fn update_entitlement(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Admin)?;
    let (tenant, id) = path.into_inner();
    may_touch(&caller, &tenant)?;
    let noted = noted_patch::<PatchBody>(body, &["min_version", "max_version"])?;
    let by = author(&req, &caller, noted.reason, noted.ticket);
    let patch = EntitlementPatch::from(noted.body);
    let t = tenant.clone();
    let outcome = state
        .db
        .run(move |conn| entitlements::update(conn, &t, &id, patch, &by))
        .await?;
    Ok(answer(&state, &tenant, outcome, false))
}

/// 201 (`new`) or 200 with an applied entitlement, 202 with a pending change.
fn answer(state: &AppState, tenant: &str, outcome: Outcome, new: bool) -> HttpResponse {
    match outcome {
        Outcome::Applied(view) => {
            state.cache.invalidate_all();
            let location = format!("/v1/admin/tenants/{tenant}/entitlements/{}", view.terms.id);
            if new {
                created(location, view)
            } else {
                HttpResponse::Ok().json(view)
            }
        }
        Outcome::Unchanged(view) => HttpResponse::Ok().json(view),
        Outcome::Pending(change) => pending(change),
    }
}
