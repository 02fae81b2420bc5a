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
    reason: Option<String>,
    ticket: Option<String>,
}

/// `POST /v1/admin/policies/reload`: reads the configured policy files, validates them and
/// activates them. A refused bundle changes nothing and answers 422 with every problem.
pub async fn reload_policies(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Admin)?;
    let note: ChangeNote = if body.iter().all(u8::is_ascii_whitespace) {
        ChangeNote::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            if e.is_data() {
                super::invalid_shape(e)
            } else {
                ApiError::bad_request(
                    "MALFORMED_JSON",
                    format!("the request body is not valid JSON: {e}"),
                )
            }
        })?
    };
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
