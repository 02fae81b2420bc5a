//! Admin actions (an `admin` API token): policy reload.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::error::ApiError;
use crate::identity::{Role, authorize};
use crate::policy::reload::{self, ReloadError};
use crate::policy::versions::Activation;
use crate::state::AppState;
use crate::telemetry::RequestId;

/// An optional body: why, and under which ticket, for the audit trail.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeNote {
    pub reason: Option<String>,
    pub ticket: Option<String>,
}

/// Reads the optional `{reason, ticket}` body of an admin action.
pub(super) async fn read_note(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<ChangeNote, ApiError> {
    let body = read_body(req, payload, limit).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(ChangeNote::default())
    } else {
        parse_note(&body)
    }
}

/// `POST /v1/admin/policies/reload`: reads the configured policy files, validates them and
/// activates them. A refused bundle changes nothing and answers 422 with every problem.
pub async fn reload_policies(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Admin)?;
    if let Some(tenant) = &caller.tenant {
        return Err(ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "FORBIDDEN",
            format!(
                "token `{}` is limited to tenant `{tenant}` and may not change the policies every tenant shares",
                caller.name
            ),
        ));
    }
    let note = read_note(&req, payload, state.config.server.body_limit_bytes).await?;
    let by = Activation {
        actor: caller.name,
        how: "api".into(),
        git_commit: None,
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        reason: note.reason,
        ticket: note.ticket,
    };
    match reload::reload(&state, by).await {
        Ok(outcome) => Ok(HttpResponse::Ok().json(outcome)),
        Err(ReloadError::Invalid(err)) => Err(ApiError::unprocessable(
            "POLICY_BUNDLE_INVALID",
            format!(
                "the policy bundle was refused ({} problem(s)); the active version keeps serving",
                err.problems.len()
            ),
        )
        .with_errors(err.problems.iter().map(ToString::to_string).collect())),
        Err(ReloadError::Db(err)) => Err(err.into()),
        Err(ReloadError::Task(message)) => {
            tracing::error!(error = %message, "policy reload task failed");
            Err(ApiError::internal())
        }
    }
}

/// Reads an optional JSON body of at most `limit` bytes.
pub(super) async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let body = match payload.to_bytes_limited(limit).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            return Err(ApiError::bad_request(
                "MALFORMED_JSON",
                format!("the request body could not be read: {e}"),
            ));
        }
        Err(_) => {
            return Err(ApiError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("the request body is larger than {limit} bytes"),
            ));
        }
    };
    let json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or("").trim() == "application/json");
    if !body.iter().all(u8::is_ascii_whitespace) && !json {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request body as `application/json`",
        ));
    }
    // Bodies that are not JSON are refused by their callers with the right message.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) {
        super::refuse_nul(&value)?;
    }
    Ok(body)
}

fn parse_note(body: &[u8]) -> Result<ChangeNote, ApiError> {
    serde_json::from_slice::<Option<ChangeNote>>(body)
        .map_err(|e| {
            if e.is_data() {
                ApiError::unprocessable(
                    "INVALID_REQUEST",
                    format!(
                        "the body must be a JSON object with optional `reason` and `ticket` strings: {e}"
                    ),
                )
            } else {
                ApiError::bad_request(
                    "MALFORMED_JSON",
                    format!("the request body is not valid JSON: {e}"),
                )
            }
        })
        .map(Option::unwrap_or_default)
}
