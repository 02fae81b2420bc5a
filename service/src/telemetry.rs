//! Logging setup and the request middleware that gives every request an id, one structured
//! log line, and its metrics.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;
use crate::error::ApiError;
use crate::state::AppState;

/// The header that carries the request id in and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being served, in request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The tenant a request concerned, set by handlers that know it, for the access log.
#[derive(Debug, Clone)]
pub struct TenantTag(pub String);

/// Installs the global tracing subscriber. `RUST_LOG` overrides `log.level`.
pub fn init(config: &LogConfig) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = if config.format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    // A subscriber installed earlier (tests start several applications) is kept.
    drop(result);
}

/// Accepts a caller's request id when it is short and plain, otherwise makes one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Milliseconds with microsecond resolution: plenty, and it keeps log lines short.
fn millis(elapsed: Duration) -> f64 {
    elapsed.as_micros() as f64 / 1000.0
}

/// One access log line and the HTTP metrics for every request.
pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let id = request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().to_string();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let limit = Duration::from_secs(
        state
            .as_ref()
            .map_or(10, |s| s.config.server.request_timeout_seconds),
    );

    // The whole request, body included, must arrive and be answered within the limit, so a
    // client that trickles its body cannot hold a connection open indefinitely. (The request
    // must not be cloned before routing, so the timeout answer is built as an error.)
    if let Some(problem) = nul_in_target(&req) {
        let res = req.into_response(actix_web::ResponseError::error_response(&problem));
        return Ok(finish(res, state.as_ref(), &method, &id, started));
    }
    let Ok(outcome) = actix_web::rt::time::timeout(limit, next.call(req)).await else {
        let elapsed = started.elapsed();
        if let Some(state) = &state {
            state.metrics.observe_request("unmatched", 408, elapsed);
        }
        tracing::warn!(%method, status = 408, latency_ms = millis(elapsed), request_id = %id, "request timed out");
        let problem = ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            format!(
                "the request was not received and answered within {} s",
                limit.as_secs()
            ),
        );
        let mut answer = actix_web::ResponseError::error_response(&problem);
        if let Ok(value) = HeaderValue::from_str(&id) {
            answer
                .headers_mut()
                .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
        }
        return Err(actix_web::error::InternalError::from_response(problem, answer).into());
    };
    let res = outcome?.map_into_boxed_body();
    Ok(finish(res, state.as_ref(), &method, &id, started))
}

/// A problem for a NUL character (`%00`) in the path or the query string. No id or filter
/// holds one, and PostgreSQL can neither store nor compare it: refused before any handler.
fn nul_in_target(req: &ServiceRequest) -> Option<ApiError> {
    let target = req.uri().path_and_query().map_or("", |p| p.as_str());
    target.to_ascii_lowercase().contains("%00").then(|| {
        ApiError::bad_request(
            "INVALID_REQUEST",
            "the path or query string holds a NUL character (`%00`)",
        )
    })
}

/// Adds the request id, records the metrics and writes the access line.
fn finish(
    mut res: ServiceResponse<BoxBody>,
    state: Option<&web::Data<AppState>>,
    method: &str,
    id: &str,
    started: Instant,
) -> ServiceResponse<BoxBody> {
    let elapsed = started.elapsed();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    let status = res.status().as_u16();
    // A handler tags the tenant it served; routes under `/v1/admin/tenants/{tenant}` name it
    // in their path.
    let tenant = res
        .request()
        .extensions()
        .get::<TenantTag>()
        .map(|t| t.0.clone())
        .or_else(|| res.request().match_info().get("tenant").map(str::to_string))
        .unwrap_or_default();
    if let Ok(value) = HeaderValue::from_str(id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    if let Some(state) = state {
        state.metrics.observe_request(&route, status, elapsed);
    }
    let latency_ms = millis(elapsed);
    if status >= 500 {
        tracing::error!(%method, %route, status, latency_ms, request_id = %id, %tenant, "request");
    } else {
        tracing::info!(%method, %route, status, latency_ms, request_id = %id, %tenant, "request");
    }
    res
}
