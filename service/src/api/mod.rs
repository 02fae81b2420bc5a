//! HTTP routes: one module per resource, one function per route.

mod activations;
mod admin;
mod audit;
mod decisions;
mod devices;
mod health;
mod keys;
pub(crate) mod paging;
mod policies;

use actix_web::error::JsonPayloadError;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;

/// Registers every route and the JSON body rules.
pub fn configure(cfg: &mut web::ServiceConfig, body_limit: usize) {
    cfg.app_data(json_config(body_limit))
        .app_data(query_config())
        .app_data(path_config())
        .service(resource("/v1/decisions", "POST").route(web::post().to(decisions::create)))
        .service(get("/v1/policies/active", policies::active))
        .service(
            resource("/v1/admin/policies/reload", "POST")
                .route(web::post().to(admin::reload_policies)),
        )
        .service(get("/v1/audit/policy-versions", audit::list_versions))
        .service(get(
            "/v1/audit/policy-versions/{version}",
            audit::get_version,
        ))
        .service(get(
            "/v1/audit/policy-versions/{from}/diff/{to}",
            audit::diff_versions,
        ))
        .service(get("/v1/audit/decisions", audit::list_decisions))
        .service(get("/v1/audit/decisions/{seq}", audit::get_decision))
        .service(get(
            "/v1/audit/decisions/{seq}/replay",
            audit::replay_decision,
        ))
        .service(get("/v1/audit/events", audit::list_events))
        .service(resource("/v1/activations", "POST").route(web::post().to(activations::activate)))
        .service(
            resource("/v1/activations/offline", "POST")
                .route(web::post().to(activations::activate_offline)),
        )
        .service(
            resource("/v1/licenses/refresh", "POST").route(web::post().to(activations::refresh)),
        )
        .service(get("/v1/revocations", activations::revocations))
        .service(
            resource("/v1/admin/tenants/{tenant}/license-keys", "GET, HEAD, POST")
                .route(web::get().to(devices::list_keys))
                .route(web::head().to(devices::list_keys))
                .route(web::post().to(devices::create_key)),
        )
        .service(post(
            "/v1/admin/tenants/{tenant}/license-keys/{key}/revoke",
            devices::revoke_key,
        ))
        .service(get(
            "/v1/admin/tenants/{tenant}/devices",
            devices::list_devices,
        ))
        .service(get(
            "/v1/admin/tenants/{tenant}/devices/{device}",
            devices::get_device,
        ))
        .service(post(
            "/v1/admin/tenants/{tenant}/devices/{device}/deactivate",
            devices::deactivate,
        ))
        .service(post(
            "/v1/admin/tenants/{tenant}/devices/{device}/revoke",
            devices::revoke,
        ))
        .service(post(
            "/v1/admin/tenants/{tenant}/devices/{device}/replace",
            devices::replace,
        ))
        .service(get("/.well-known/jwks.json", keys::jwks))
        .service(get("/healthz", health::healthz))
        .service(get("/readyz", health::readyz))
        .service(get("/metrics", health::metrics));
}

/// A resource that answers other methods than `allow` with a 405 problem and an `Allow`
/// header.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| async move {
        method_not_allowed(&req, allow)
    }))
}

/// A read-only resource: GET and HEAD.
fn get<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    resource(path, "GET, HEAD")
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
}

/// A resource that only takes POST.
fn post<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    resource(path, "POST").route(web::post().to(handler))
}

/// Answers requests that match no route.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(
        "NOT_FOUND",
        format!("no resource at `{}`", req.path()),
    ))
}

fn method_not_allowed(req: &HttpRequest, allow: &'static str) -> HttpResponse {
    let problem = ApiError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!(
            "`{}` is not allowed on `{}`; use {allow}",
            req.method(),
            req.path()
        ),
    );
    let mut response = actix_web::ResponseError::error_response(&problem);
    response.headers_mut().insert(
        actix_web::http::header::ALLOW,
        actix_web::http::header::HeaderValue::from_static(allow),
    );
    response
}

/// Reads a JSON object body as `T`. Taking an object first refuses a JSON array, which serde
/// would otherwise accept for a struct.
pub fn object<T: serde::de::DeserializeOwned>(
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::Object(body.into_inner())).map_err(invalid_shape)
}

/// A JSON body of the wrong shape: a missing, unknown or mistyped field.
pub fn invalid_shape(err: impl std::fmt::Display) -> ApiError {
    ApiError::unprocessable(
        "INVALID_REQUEST",
        format!("the request does not have the expected shape: {err}"),
    )
}

/// Query strings: unknown or mistyped parameters are 400 problems.
fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::bad_request(
            "INVALID_QUERY",
            format!("the query string is not valid: {err}"),
        )
        .into()
    })
}

/// Path segments that cannot be read are 404s.
fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err, req| {
        ApiError::not_found("NOT_FOUND", format!("no resource at `{}`", req.path())).into()
    })
}

/// JSON bodies: `application/json` only, bounded in size, errors as problems.
fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| json_error(err, limit).into())
}

fn json_error(err: JsonPayloadError, limit: usize) -> ApiError {
    use actix_web::http::StatusCode;
    match err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("the request body is larger than {limit} bytes"),
            )
        }
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request body as `application/json`",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => invalid_shape(e),
        JsonPayloadError::Deserialize(e) => ApiError::bad_request(
            "MALFORMED_JSON",
            format!("the request body is not valid JSON: {e}"),
        ),
        other => ApiError::bad_request(
            "MALFORMED_JSON",
            format!("the request body could not be read: {other}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_errors_map_to_their_status_and_code() {
        let syntax = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let data = serde_json::from_str::<Vec<u8>>("{}").unwrap_err();
        let cases = [
            (
                JsonPayloadError::OverflowKnownLength {
                    length: 9,
                    limit: 1,
                },
                413,
                "PAYLOAD_TOO_LARGE",
            ),
            (JsonPayloadError::ContentType, 415, "UNSUPPORTED_MEDIA_TYPE"),
            (JsonPayloadError::Deserialize(syntax), 400, "MALFORMED_JSON"),
            (JsonPayloadError::Deserialize(data), 422, "INVALID_REQUEST"),
        ];
        for (err, status, code) in cases {
            let mapped = json_error(err, 1);
            assert_eq!((mapped.status.as_u16(), mapped.code), (status, code));
        }
    }
}
