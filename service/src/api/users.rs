//! `/v1/admin/tenants/{tenant}/users`: a tenant's users, one at a time or as a list.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value};

use super::records::{PageQuery, author, created, list, may_touch, noted};
use crate::error::ApiError;
use crate::identity::{Role, authorize};
use crate::licensing::import::UserEntry;
use crate::licensing::manage::users;
use crate::state::AppState;

/// `GET /v1/admin/tenants/{tenant}/users`
pub async fn list_users(
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
        .run(move |conn| users::list(conn, &tenant, &p))
        .await?;
    Ok(list(&items, &page, |u| u.id.clone()))
}

/// `GET /v1/admin/tenants/{tenant}/users/{user}`: the user as its list shows it.
pub async fn get_user(
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
        .run(move |conn| users::find(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /v1/admin/tenants/{tenant}/users`: 201 with the user and its address.
pub async fn create_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Admin)?;
    let tenant = path.into_inner();
    may_touch(&caller, &tenant)?;
    let noted = noted::<UserEntry>(body)?;
    let by = author(&req, &caller, noted.reason, noted.ticket);
    let entry = noted.body;
    let t = tenant.clone();
    let view = state
        .db
        .run(move |conn| users::create(conn, &t, entry, &by))
        .await?;
    state.cache.invalidate_all();
    let location = format!("/v1/admin/tenants/{tenant}/users/{}", view.id);
    Ok(created(location, view))
}
