//! HTTP routes: one module per resource, one function per route.

mod activations;
mod admin;
mod audit;
mod changes;
mod decisions;
mod devices;
mod entitlements;
mod health;
mod keys;
pub mod openapi;
pub(crate) mod paging;
mod policies;
mod products;
mod records;
mod seats;
mod tenants;
mod users;

use actix_web::error::JsonPayloadError;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;

/// Registers every route and the JSON body rules.
pub fn configure(cfg: &mut web::ServiceConfig, body_limit: usize) {
    cfg.app_data(json_config(body_limit))
        .app_data(query_config())
        .app_data(path_config());
    register(cfg);
}

/// Every route, declared once: the paths and methods here are what actix serves, what a 405's
/// `Allow` header lists and what [`route_table`] reports to the OpenAPI document's test.
fn register(cfg: &mut web::ServiceConfig) -> Vec<(String, Vec<&'static str>)> {
    let t = "/v1/admin/tenants/{tenant}";
    let e = "/v1/admin/tenants/{tenant}/entitlements/{entitlement}";
    let routes = [
        Route::new("/v1/decisions").post(decisions::create),
        Route::new("/v1/policies/active").get(policies::active),
        Route::new("/v1/admin/policies/reload").post(admin::reload_policies),
        Route::new("/v1/admin/tenants")
            .get(tenants::list_tenants)
            .post(tenants::create_tenant),
        Route::new(t)
            .get(tenants::get_tenant)
            .patch(tenants::update_tenant),
        Route::new(&format!("{t}/users"))
            .get(users::list_users)
            .post(users::create_user),
        Route::new(&format!("{t}/users/{{user}}")).get(users::get_user),
        Route::new(&format!("{t}/entitlements"))
            .get(entitlements::list_entitlements)
            .post(entitlements::create_entitlement),
        Route::new(e)
            .get(entitlements::get_entitlement)
            .patch(entitlements::update_entitlement),
        Route::new(&format!("{e}/seats"))
            .get(seats::list_seats)
            .post(seats::assign_seat),
        Route::new(&format!("{e}/seats/{{user}}"))
            .get(seats::get_seat)
            .delete(seats::release_seat),
        Route::new("/v1/admin/products")
            .get(products::list_products)
            .post(products::create_product),
        Route::new("/v1/admin/products/{product}").get(products::get_product),
        Route::new("/v1/admin/products/{product}/features").post(products::add_feature),
        Route::new("/v1/admin/changes").get(changes::list_changes),
        Route::new("/v1/admin/changes/{id}").get(changes::get_change),
        Route::new("/v1/admin/changes/{id}/approve").post(changes::approve_change),
        Route::new("/v1/admin/changes/{id}/reject").post(changes::reject_change),
        Route::new("/v1/activations").post(activations::activate),
        Route::new("/v1/activations/offline").post(activations::activate_offline),
        Route::new("/v1/licenses/refresh").post(activations::refresh),
        Route::new("/v1/revocations").get(activations::revocations),
        Route::new(&format!("{t}/license-keys"))
            .get(devices::list_keys)
            .post(devices::create_key),
        Route::new(&format!("{t}/license-keys/{{key}}")).get(devices::get_key),
        Route::new(&format!("{t}/license-keys/{{key}}/revoke")).post(devices::revoke_key),
        Route::new(&format!("{t}/devices")).get(devices::list_devices),
        Route::new(&format!("{t}/devices/{{device}}")).get(devices::get_device),
        Route::new(&format!("{t}/devices/{{device}}/deactivate")).post(devices::deactivate),
        Route::new(&format!("{t}/devices/{{device}}/revoke")).post(devices::revoke),
        Route::new(&format!("{t}/devices/{{device}}/replace")).post(devices::replace),
        Route::new("/v1/audit/policy-versions").get(audit::list_versions),
        Route::new("/v1/audit/policy-versions/{version}").get(audit::get_version),
        Route::new("/v1/audit/policy-versions/{from}/diff/{to}").get(audit::diff_versions),
        Route::new("/v1/audit/decisions").get(audit::list_decisions),
        Route::new("/v1/audit/decisions/{seq}").get(audit::get_decision),
        Route::new("/v1/audit/decisions/{seq}/replay").get(audit::replay_decision),
        Route::new("/v1/audit/events").get(audit::list_events),
        Route::new("/v1/openapi.json").get(openapi::document),
        Route::new("/.well-known/jwks.json").get(keys::jwks),
        Route::new("/healthz").get(health::healthz),
        Route::new("/readyz").get(health::readyz),
        Route::new("/metrics").get(health::metrics),
    ];
    routes.into_iter().map(|route| route.serve(cfg)).collect()
}

/// Every registered path with its methods, as [`configure`] serves them.
pub fn route_table() -> Vec<(String, Vec<&'static str>)> {
    let mut table = Vec::new();
    let _app = actix_web::App::new().configure(|cfg| table = register(cfg));
    table
}

/// One path and the handlers of its methods; other methods answer 405 with an `Allow` header
/// that lists these.
struct Route {
    path: String,
    resource: actix_web::Resource,
    methods: Vec<&'static str>,
}

impl Route {
    fn new(path: &str) -> Self {
        Self {
            path: path.to_string(),
            resource: web::resource(path),
            methods: Vec::new(),
        }
    }

    fn with<F, Args>(mut self, method: &'static str, route: actix_web::Route, handler: F) -> Self
    where
        F: actix_web::Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        self.resource = self.resource.route(route.to(handler));
        self.methods.push(method);
        self
    }

    /// GET, and HEAD with the same handler.
    fn get<F, Args>(self, handler: F) -> Self
    where
        F: actix_web::Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        self.with("GET", web::get(), handler.clone())
            .with("HEAD", web::head(), handler)
    }

    fn post<F, Args>(self, handler: F) -> Self
    where
        F: actix_web::Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        self.with("POST", web::post(), handler)
    }

    fn patch<F, Args>(self, handler: F) -> Self
    where
        F: actix_web::Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        self.with("PATCH", web::patch(), handler)
    }

    fn delete<F, Args>(self, handler: F) -> Self
    where
        F: actix_web::Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        self.with("DELETE", web::delete(), handler)
    }

    /// Registers the resource with its 405 answer; returns its path and methods.
    fn serve(self, cfg: &mut web::ServiceConfig) -> (String, Vec<&'static str>) {
        let allow = self.methods.join(", ");
        cfg.service(
            self.resource
                .default_service(web::to(move |req: HttpRequest| {
                    let allow = allow.clone();
                    async move { method_not_allowed(&req, &allow) }
                })),
        );
        (self.path, self.methods)
    }
}

/// Answers requests that match no route.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(
        "NOT_FOUND",
        format!("no resource at `{}`", req.path()),
    ))
}

fn method_not_allowed(req: &HttpRequest, allow: &str) -> HttpResponse {
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
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(allow) {
        response
            .headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    response
}

/// Reads a JSON object body as `T`. Taking an object first refuses a JSON array, which serde
/// would otherwise accept for a struct.
pub fn object<T: serde::de::DeserializeOwned>(
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<T, ApiError> {
    let value = serde_json::Value::Object(body.into_inner());
    refuse_nul(&value)?;
    from_json(value).map_err(invalid_shape)
}

/// Reads a JSON value as `T`; an error names the field it concerns (`seats: invalid type:
/// string "5", expected i64`), which serde's own message leaves out for mistyped values.
pub fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        // An unknown field of the body itself is named by serde's message already.
        let top_level = !path.contains(['.', '[']);
        if path == "." || (top_level && inner.starts_with("unknown field")) {
            inner
        } else {
            format!("`{path}`: {inner}")
        }
    })
}

/// Refuses a NUL character anywhere in a JSON body (a key or a string): no field holds one,
/// and PostgreSQL cannot store it.
pub fn refuse_nul(value: &serde_json::Value) -> Result<(), ApiError> {
    use serde_json::Value;
    let found = match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => return items.iter().try_for_each(refuse_nul),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                true
            } else {
                return map.values().try_for_each(refuse_nul);
            }
        }
        _ => false,
    };
    if found {
        return Err(ApiError::unprocessable(
            "INVALID_REQUEST",
            "the request body holds a NUL character (`\\u0000`)",
        ));
    }
    Ok(())
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
