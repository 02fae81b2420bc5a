//! HTTP routes: one module per resource, one function per route.

mod decisions;
mod health;
mod keys;
mod policies;

use actix_web::error::JsonPayloadError;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;

/// Registers every route and the JSON body rules.
pub fn configure(cfg: &mut web::ServiceConfig, body_limit: usize) {
    cfg.app_data(json_config(body_limit))
        .service(
            web::resource("/v1/decisions")
                .route(web::post().to(decisions::create))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/v1/policies/active")
                .route(web::get().to(policies::active))
                .default_service(web::to(method_not_allowed)),
        )
        .service(web::resource("/.well-known/jwks.json").route(web::get().to(keys::jwks)))
        .service(web::resource("/healthz").route(web::get().to(health::healthz)))
        .service(web::resource("/readyz").route(web::get().to(health::readyz)))
        .service(web::resource("/metrics").route(web::get().to(health::metrics)));
}

/// Answers requests that match no route.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(
        "NOT_FOUND",
        format!("no resource at `{}`", req.path()),
    ))
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("`{}` is not allowed on `{}`", req.method(), req.path()),
    ))
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
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::unprocessable(
            "INVALID_REQUEST",
            format!("the request does not have the expected shape: {e}"),
        ),
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
