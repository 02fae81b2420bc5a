//! `POST /v1/decisions`: may this principal use this feature now?

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use crate::decision::{self, DecisionRequest};
use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry::{RequestId, TenantTag};

/// Decides, signs and answers; every failure is a problem with a stable code.
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<HttpResponse, ApiError> {
    let body: DecisionRequest = super::object(body)?;
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let query = body.validate()?;
    req.extensions_mut().insert(TenantTag(query.tenant.clone()));
    let answer = decision::decide(&state, query, &request_id).await?;
    Ok(HttpResponse::Ok().json(answer))
}
