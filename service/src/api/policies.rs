//! `GET /v1/policies/active`: which policy bundle answers decisions.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;

/// The active bundle's version, files, policies and the codes its policies can give.
pub async fn active(state: web::Data<AppState>) -> HttpResponse {
    let bundle = state.policies.load_full();
    let mut policies: Vec<_> = bundle
        .meta
        .iter()
        .map(|(id, m)| {
            json!({
                "id": id.to_string(),
                "file": m.file,
                "line": m.line,
                "effect": if m.effect == cedar_policy::Effect::Permit { "permit" } else { "forbid" },
                "reason": m.reason,
                "advice": m.advice,
            })
        })
        .collect();
    policies.sort_by_key(|p| p["id"].as_str().unwrap_or_default().to_string());
    HttpResponse::Ok().json(json!({
        "version": bundle.version,
        "files": bundle.source.files().map(|f| f.path.clone()).collect::<Vec<_>>(),
        "policies": policies,
        "reasons": all_reasons(&bundle),
    }))
}

/// Every reason a deny can give: the policies' codes and `NOT_ENTITLED`.
fn all_reasons(bundle: &crate::policy::PolicyBundle) -> Vec<&str> {
    let mut codes = bundle.reason_codes();
    codes.push(crate::policy::NOT_ENTITLED);
    codes.sort_unstable();
    codes
}
