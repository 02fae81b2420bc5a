//! `/v1/admin/changes`: changes waiting for a second admin, and their approval or rejection.
//! A token limited to a tenant sees and decides that tenant's changes only, and may not
//! approve a change of the tenant itself (it could not have requested one).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::paging::invalid_query;
use super::records::{author, list, optional_body, page, unlimited};
use crate::error::ApiError;
use crate::identity::{Caller, Role, authorize};
use crate::licensing::manage::changes::{self, ChangeFilter, ChangeView};
use crate::licensing::manage::{Kind, ManageError};
use crate::state::AppState;

/// Filters of `GET /v1/admin/changes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeQuery {
    tenant: Option<String>,
    status: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// The optional body of approve and reject.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    note: Option<String>,
}

/// `GET /v1/admin/changes?tenant=&status=`: oldest first.
pub async fn list_changes(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ChangeQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Auditor)?;
    let query = query.into_inner();
    if let Some(status) = &query.status
        && !changes::STATUSES.contains(&status.as_str())
    {
        return Err(invalid_query(format!(
            "`status` must be one of {}, not `{status}`",
            changes::STATUSES.join(", ")
        )));
    }
    let filter = ChangeFilter {
        tenant: caller.tenant_scope(query.tenant)?,
        status: query.status,
    };
    let page = page(query.after, query.limit)?;
    let p = page.clone();
    let items = state
        .db
        .run(move |conn| changes::list(conn, &filter, &p))
        .await?;
    Ok(list(&items, &page, |c| c.id.clone()))
}

/// A change the caller may see; 404 otherwise.
async fn visible(state: &AppState, caller: &Caller, id: String) -> Result<ChangeView, ApiError> {
    let lookup = id.clone();
    let change = state
        .db
        .run(move |conn| changes::get(conn, &lookup))
        .await?;
    match change {
        Some(change) if caller.may_see(&change.tenant) => Ok(change),
        _ => Err(ManageError::NotFound {
            kind: Kind::Change,
            id,
        }
        .into()),
    }
}

/// `GET /v1/admin/changes/{id}`
pub async fn get_change(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    _query: web::Query<super::audit::NoQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Auditor)?;
    let change = visible(&state, &caller, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(change))
}

/// `POST /v1/admin/changes/{id}/approve`: applies the change. 403 `SELF_APPROVAL` for the
/// requester's own token, 409 when it was already decided or the entitlement changed since.
pub async fn approve_change(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Admin)?;
    let change = visible(&state, &caller, path.into_inner()).await?;
    if change.kind == changes::TENANT_UPDATE {
        unlimited(&caller, "approve a change of `require_approval`")?;
    }
    let body: DecisionBody =
        optional_body(&req, payload, state.config.server.body_limit_bytes).await?;
    let by = author(&req, &caller, None, None);
    let decided = state
        .db
        .run(move |conn| changes::approve(conn, &change.id, &by, body.note))
        .await?;
    state.cache.invalidate_all();
    Ok(HttpResponse::Ok().json(decided))
}

/// `POST /v1/admin/changes/{id}/reject`: writes nothing but the decision; the requester may
/// withdraw their own change this way.
pub async fn reject_change(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Admin)?;
    let change = visible(&state, &caller, path.into_inner()).await?;
    let body: DecisionBody =
        optional_body(&req, payload, state.config.server.body_limit_bytes).await?;
    let by = author(&req, &caller, None, None);
    let decided = state
        .db
        .run(move |conn| changes::reject(conn, &change.id, &by, body.note))
        .await?;
    Ok(HttpResponse::Ok().json(decided))
}
