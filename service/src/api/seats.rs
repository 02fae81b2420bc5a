//! `/v1/admin/tenants/{tenant}/entitlements/{entitlement}/seats`: named users holding seats.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::records::{NoteBody, PageQuery, author, created, list, may_touch, noted, optional_body};
use crate::error::ApiError;
use crate::identity::{Role, authorize};
use crate::licensing::manage::seats;
use crate::state::AppState;

/// The body of `POST`: who gets a seat.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    user: String,
}

/// `GET …/seats`
pub async fn list_seats(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Auditor)?;
    let (tenant, entitlement) = path.into_inner();
    may_touch(&caller, &tenant)?;
    let page = query.into_inner().page()?;
    let p = page.clone();
    let items = state
        .db
        .run(move |conn| seats::list(conn, &tenant, &entitlement, &p))
        .await?;
    Ok(list(&items, &page, |s| s.user.clone()))
}

/// `POST …/seats`: 201 with the seat and its address; 409 `SEAT_LIMIT_REACHED` when every seat is taken.
pub async fn assign_seat(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Admin)?;
    let (tenant, entitlement) = path.into_inner();
    may_touch(&caller, &tenant)?;
    let noted = noted::<AssignBody>(body)?;
    let by = author(&req, &caller, noted.reason, noted.ticket);
    let user = noted.body.user;
    let (t, e) = (tenant.clone(), entitlement.clone());
    let seat = state
        .db
        .run(move |conn| seats::assign(conn, &t, &e, &user, &by))
        .await?;
    state.cache.invalidate_all();
    let location = format!(
        "/v1/admin/tenants/{tenant}/entitlements/{entitlement}/seats/{}",
        seat.user
    );
    Ok(created(location, seat))
}

/// `GET …/seats/{user}`: the seat as its list shows it.
pub async fn get_seat(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    _query: web::Query<super::audit::NoQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Auditor)?;
    let (tenant, entitlement, user) = path.into_inner();
    may_touch(&caller, &tenant)?;
    let seat = state
        .db
        .run(move |conn| seats::get(conn, &tenant, &entitlement, &user))
        .await?;
    Ok(HttpResponse::Ok().json(seat))
}

/// `DELETE …/seats/{user}`: 204; an optional body gives `reason` and `ticket`.
pub async fn release_seat(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Admin)?;
    let (tenant, entitlement, user) = path.into_inner();
    may_touch(&caller, &tenant)?;
    let note: NoteBody = optional_body(&req, payload, state.config.server.body_limit_bytes).await?;
    let by = author(&req, &caller, note.reason, note.ticket);
    state
        .db
        .run(move |conn| seats::release(conn, &tenant, &entitlement, &user, &by))
        .await?;
    state.cache.invalidate_all();
    Ok(HttpResponse::NoContent().finish())
}
