//! `/v1/admin/tenants`: list, create, read and change tenants.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::records::{
    PageQuery, author, created, list, may_touch, noted, noted_patch, pending, unlimited,
};
use crate::error::ApiError;
use crate::identity::{Role, authorize};
use crate::licensing::manage::{ManageError, tenants};
use crate::state::AppState;

/// The body of `POST /v1/admin/tenants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenantBody {
    id: String,
    name: String,
    #[serde(default = "active")]
    status: String,
    #[serde(default)]
    require_approval: bool,
}

fn active() -> String {
    "active".into()
}

/// The body of `PATCH /v1/admin/tenants/{tenant}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantPatchBody {
    name: Option<String>,
    status: Option<String>,
    require_approval: Option<bool>,
}

/// `GET /v1/admin/tenants`: a token limited to a tenant sees that tenant only.
pub async fn list_tenants(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Auditor)?;
    let page = query.into_inner().page()?;
    let (p, only) = (page.clone(), caller.tenant.clone());
    let items = state
        .db
        .run(move |conn| tenants::list(conn, &p, only.as_deref()))
        .await?;
    Ok(list(&items, &page, |t| t.id.clone()))
}

/// `POST /v1/admin/tenants`: 201 with the tenant.
pub async fn create_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Admin)?;
    unlimited(&caller, "create tenants")?;
    let noted = noted::<NewTenantBody>(body)?;
    let by = author(&req, &caller, noted.reason, noted.ticket);
    let new = tenants::NewTenant {
        id: noted.body.id,
        name: noted.body.name,
        status: noted.body.status,
        require_approval: noted.body.require_approval,
    };
    let view = state
        .db
        .run(move |conn| tenants::create(conn, new, &by))
        .await?;
    state.cache.invalidate_all();
    Ok(created(format!("/v1/admin/tenants/{}", view.id), view))
}

/// `GET /v1/admin/tenants/{tenant}`
pub async fn get_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    _query: web::Query<super::audit::NoQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Auditor)?;
    let id = path.into_inner();
    may_touch(&caller, &id)?;
    let lookup = id.clone();
    let view = state
        .db
        .run(move |conn| tenants::get(conn, &lookup))
        .await?;
    let view = view.ok_or(ManageError::NotFound {
        kind: crate::licensing::manage::Kind::Tenant,
        id,
    })?;
    Ok(HttpResponse::Ok().json(view))
}

/// `PATCH /v1/admin/tenants/{tenant}`: name, status, and whether entitlement changes need a
/// second admin. Only a token for every tenant may change `require_approval`, so that the
/// admins it restrains cannot turn it off. 200 with the tenant, or 202 with a pending change
/// when the patch switches approval off while it is on.
pub async fn update_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Admin)?;
    let id = path.into_inner();
    may_touch(&caller, &id)?;
    let noted = noted_patch::<TenantPatchBody>(body, &[])?;
    if noted.body.require_approval.is_some() {
        unlimited(&caller, "change `require_approval`")?;
    }
    let by = author(&req, &caller, noted.reason, noted.ticket);
    let patch = tenants::TenantPatch {
        name: noted.body.name,
        status: noted.body.status,
        require_approval: noted.body.require_approval,
    };
    let outcome = state
        .db
        .run(move |conn| tenants::update(conn, &id, patch, &by))
        .await?;
    match outcome {
        tenants::Outcome::Applied(view) => {
            state.cache.invalidate_all();
            Ok(HttpResponse::Ok().json(view))
        }
        tenants::Outcome::Pending(change) => Ok(pending(*change)),
    }
}
