//! The one place where errors become HTTP answers: `application/problem+json` bodies
//! (RFC 9457) carrying a stable machine-readable `code`.
//!
//! Domain layers return their own error enums; `From` impls here decide the status and code.
//! A 5xx body never says anything internal: the cause goes to the log instead.

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::db::DbError;
use crate::decision::DecisionError;
use crate::licensing::activation::LicensingError;
use crate::licensing::manage::{Kind, ManageError};
use crate::signing::SignError;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer: status, stable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Every individual problem, when there are several (a refused policy bundle).
    pub errors: Vec<String>,
    /// Stable codes of every reason a request was refused, when there are several at once.
    pub reasons: Vec<String>,
    /// Seconds after which a refused request may be tried again (`Retry-After`).
    pub retry_after: Option<u64>,
    /// The `WWW-Authenticate` challenge of a 401 (RFC 6750), telling the caller how to
    /// authenticate.
    pub challenge: Option<Challenge>,
}

/// The `WWW-Authenticate` challenge of a 401 from the token-protected APIs (RFC 6750).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// No bearer token was sent.
    Bearer,
    /// A bearer token was sent but is not known.
    InvalidToken,
}

impl Challenge {
    /// The header value.
    pub fn header(self) -> &'static str {
        match self {
            Challenge::Bearer => "Bearer",
            Challenge::InvalidToken => r#"Bearer error="invalid_token""#,
        }
    }
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    errors: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    reasons: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_seconds: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            reasons: Vec::new(),
            retry_after: None,
            challenge: None,
        }
    }

    /// The same problem, naming the stable code of every reason.
    pub fn with_reasons(mut self, reasons: Vec<String>) -> Self {
        self.reasons = reasons;
        self
    }

    /// The same problem, telling the caller when to try again.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The same problem, with a `WWW-Authenticate` challenge.
    pub fn with_challenge(mut self, challenge: Challenge) -> Self {
        self.challenge = Some(challenge);
        self
    }

    /// The same problem, listing each individual error.
    pub fn with_errors(mut self, errors: Vec<String>) -> Self {
        self.errors = errors;
        self
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail)
    }

    /// A fault of ours; the detail is fixed so nothing internal leaks.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "an internal error occurred; it has been logged",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = ProblemBody {
            kind: format!("urn:licet:problem:{}", self.code.to_ascii_lowercase()),
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            code: self.code,
            detail: &self.detail,
            errors: &self.errors,
            reasons: &self.reasons,
            retry_after_seconds: self.retry_after,
        };
        let json = serde_json::to_string(&body).unwrap_or_else(|_| "{}".into());
        let mut response = HttpResponse::build(self.status);
        response.insert_header(ContentType(PROBLEM_JSON.parse().unwrap_or(mime_json())));
        if let Some(seconds) = self.retry_after {
            response.insert_header((actix_web::http::header::RETRY_AFTER, seconds.to_string()));
        }
        if let Some(challenge) = self.challenge {
            response.insert_header((
                actix_web::http::header::WWW_AUTHENTICATE,
                challenge.header(),
            ));
        }
        response.body(json)
    }
}

fn mime_json() -> actix_web::mime::Mime {
    actix_web::mime::APPLICATION_JSON
}

impl From<DecisionError> for ApiError {
    fn from(err: DecisionError) -> Self {
        let detail = err.to_string();
        match err {
            DecisionError::UnknownTenant(_) => Self::not_found("TENANT_NOT_FOUND", detail),
            DecisionError::UnknownPrincipal { .. } => {
                Self::not_found("PRINCIPAL_NOT_FOUND", detail)
            }
            DecisionError::UnknownFeature(_) => Self::not_found("FEATURE_NOT_FOUND", detail),
            DecisionError::InvalidVersion { .. } => Self::bad_request("INVALID_VERSION", detail),
            DecisionError::InvalidField { .. } => Self::unprocessable("INVALID_FIELD", detail),
            DecisionError::Db(db) => db.into(),
            DecisionError::Sign(sign) => sign.into(),
            DecisionError::Policy(message) => {
                tracing::error!(error = %message, "policy evaluation failed");
                Self::internal()
            }
        }
    }
}

impl From<LicensingError> for ApiError {
    fn from(err: LicensingError) -> Self {
        let message = err.to_string();
        match err {
            LicensingError::KeyMalformed(_) => {
                ApiError::unprocessable("LICENSE_KEY_MALFORMED", message)
            }
            LicensingError::KeyUnknown => ApiError::not_found("LICENSE_KEY_UNKNOWN", message),
            LicensingError::Refused(reasons) => {
                let (codes, messages): (Vec<String>, Vec<String>) = reasons.into_iter().unzip();
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "ACTIVATION_REFUSED",
                    format!("refused: {}", messages.join("; ")),
                )
                .with_reasons(codes)
                .with_errors(messages)
            }
            LicensingError::DeviceLimit { .. } => {
                ApiError::new(StatusCode::CONFLICT, "DEVICE_LIMIT_REACHED", message)
            }
            LicensingError::FingerprintInUse { .. } => {
                ApiError::new(StatusCode::CONFLICT, "FINGERPRINT_IN_USE", message)
            }
            LicensingError::TransferLimit { .. } => {
                ApiError::new(StatusCode::CONFLICT, "TRANSFER_LIMIT_REACHED", message)
            }
            LicensingError::Policy(_) => {
                tracing::error!(error = %message, "activation policies failed");
                ApiError::internal()
            }
            LicensingError::NotFound { code, .. } => ApiError::not_found(code, message),
            LicensingError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "CONFLICT", message),
            LicensingError::Db(err) => err.into(),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Self::unavailable(
                    "DATABASE_UNAVAILABLE",
                    "the database is unavailable; retry shortly",
                )
            }
            DbError::Query(cause) => {
                tracing::error!(error = %cause, "database query failed");
                Self::internal()
            }
        }
    }
}

impl From<SignError> for ApiError {
    fn from(err: SignError) -> Self {
        tracing::error!(error = %err, cause = err.cause(), "signing failed");
        Self::unavailable(
            "SIGNING_UNAVAILABLE",
            "decisions cannot be signed right now; retry shortly",
        )
    }
}

impl From<ManageError> for ApiError {
    fn from(err: ManageError) -> Self {
        let detail = err.to_string();
        match err {
            ManageError::NotFound { kind, .. } => Self::not_found(not_found_code(kind), detail),
            ManageError::Exists { kind, .. } => {
                Self::new(StatusCode::CONFLICT, exists_code(kind), detail)
            }
            ManageError::Invalid(issues) => Self::unprocessable("VALIDATION_FAILED", detail)
                .with_errors(issues.iter().map(ToString::to_string).collect()),
            ManageError::SeatLimit { .. } => {
                Self::new(StatusCode::CONFLICT, "SEAT_LIMIT_REACHED", detail)
            }
            ManageError::SelfApproval(_) => {
                Self::new(StatusCode::FORBIDDEN, "SELF_APPROVAL", detail)
            }
            ManageError::Decided { .. } => {
                Self::new(StatusCode::CONFLICT, "CHANGE_ALREADY_DECIDED", detail)
            }
            ManageError::Outdated { .. } => {
                Self::new(StatusCode::CONFLICT, "CHANGE_OUTDATED", detail)
            }
            ManageError::Conflict => Self::new(StatusCode::CONFLICT, "CONFLICT", detail),
            ManageError::Db(db) => db.into(),
        }
    }
}

fn not_found_code(kind: Kind) -> &'static str {
    match kind {
        Kind::Tenant => "TENANT_NOT_FOUND",
        Kind::Product => "PRODUCT_NOT_FOUND",
        Kind::Feature => "FEATURE_NOT_FOUND",
        Kind::User => "USER_NOT_FOUND",
        Kind::Entitlement => "ENTITLEMENT_NOT_FOUND",
        Kind::Seat => "SEAT_NOT_FOUND",
        Kind::Change => "CHANGE_NOT_FOUND",
    }
}

fn exists_code(kind: Kind) -> &'static str {
    match kind {
        Kind::Tenant => "TENANT_EXISTS",
        Kind::Product => "PRODUCT_EXISTS",
        Kind::Feature => "FEATURE_EXISTS",
        Kind::User => "USER_EXISTS",
        Kind::Entitlement => "ENTITLEMENT_EXISTS",
        Kind::Seat => "SEAT_ALREADY_ASSIGNED",
        Kind::Change => "CHANGE_EXISTS",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_and_code(err: impl Into<ApiError>) -> (u16, &'static str) {
        let err = err.into();
        (err.status.as_u16(), err.code)
    }

    #[test]
    fn decision_errors_map_to_their_status_and_code() {
        assert_eq!(
            status_and_code(DecisionError::UnknownTenant("x".into())),
            (404, "TENANT_NOT_FOUND")
        );
        assert_eq!(
            status_and_code(DecisionError::UnknownPrincipal {
                kind: "Device".into(),
                id: "d".into()
            }),
            (404, "PRINCIPAL_NOT_FOUND")
        );
        assert_eq!(
            status_and_code(DecisionError::UnknownFeature("f".into())),
            (404, "FEATURE_NOT_FOUND")
        );
        assert_eq!(
            status_and_code(DecisionError::InvalidVersion {
                field: "context.product_version",
                value: "x".into(),
                reason: "bad".into()
            }),
            (400, "INVALID_VERSION")
        );
        assert_eq!(
            status_and_code(DecisionError::InvalidField {
                field: "action",
                message: "m".into()
            }),
            (422, "INVALID_FIELD")
        );
        assert_eq!(
            status_and_code(DecisionError::Policy("p".into())),
            (500, "INTERNAL")
        );
    }

    #[test]
    fn database_errors_map_to_503_or_500() {
        assert_eq!(
            status_and_code(DbError::Unavailable("down".into())),
            (503, "DATABASE_UNAVAILABLE")
        );
        assert_eq!(
            status_and_code(DbError::Query("boom".into())),
            (500, "INTERNAL")
        );
    }

    #[test]
    fn signing_errors_map_to_503() {
        assert_eq!(
            status_and_code(SignError::Key("k".into())),
            (503, "SIGNING_UNAVAILABLE")
        );
        assert_eq!(
            status_and_code(SignError::Backend {
                cause: crate::signing::Cause::Unreachable,
                message: "vault down".into()
            }),
            (503, "SIGNING_UNAVAILABLE")
        );
    }

    #[test]
    fn management_errors_map_to_their_status_and_code() {
        let issue = crate::licensing::import::Issue {
            entry: "tenant `a`, entitlement `e`".into(),
            field: "seats".into(),
            message: "`0` must be between 1 and 1000000".into(),
        };
        let invalid: ApiError = ManageError::Invalid(vec![issue.clone(), issue]).into();
        assert_eq!(
            (invalid.status.as_u16(), invalid.code, invalid.errors.len()),
            (422, "VALIDATION_FAILED", 2)
        );
        let cases = [
            (
                ManageError::NotFound {
                    kind: Kind::Tenant,
                    id: "t".into(),
                },
                404,
                "TENANT_NOT_FOUND",
            ),
            (
                ManageError::NotFound {
                    kind: Kind::Product,
                    id: "p".into(),
                },
                404,
                "PRODUCT_NOT_FOUND",
            ),
            (
                ManageError::NotFound {
                    kind: Kind::Feature,
                    id: "f".into(),
                },
                404,
                "FEATURE_NOT_FOUND",
            ),
            (
                ManageError::NotFound {
                    kind: Kind::User,
                    id: "u".into(),
                },
                404,
                "USER_NOT_FOUND",
            ),
            (
                ManageError::NotFound {
                    kind: Kind::Entitlement,
                    id: "e".into(),
                },
                404,
                "ENTITLEMENT_NOT_FOUND",
            ),
            (
                ManageError::NotFound {
                    kind: Kind::Seat,
                    id: "u".into(),
                },
                404,
                "SEAT_NOT_FOUND",
            ),
            (
                ManageError::NotFound {
                    kind: Kind::Change,
                    id: "c".into(),
                },
                404,
                "CHANGE_NOT_FOUND",
            ),
            (
                ManageError::Exists {
                    kind: Kind::Tenant,
                    id: "t".into(),
                },
                409,
                "TENANT_EXISTS",
            ),
            (
                ManageError::Exists {
                    kind: Kind::Product,
                    id: "p".into(),
                },
                409,
                "PRODUCT_EXISTS",
            ),
            (
                ManageError::Exists {
                    kind: Kind::Feature,
                    id: "f".into(),
                },
                409,
                "FEATURE_EXISTS",
            ),
            (
                ManageError::Exists {
                    kind: Kind::User,
                    id: "u".into(),
                },
                409,
                "USER_EXISTS",
            ),
            (
                ManageError::Exists {
                    kind: Kind::Entitlement,
                    id: "e".into(),
                },
                409,
                "ENTITLEMENT_EXISTS",
            ),
            (
                ManageError::Exists {
                    kind: Kind::Seat,
                    id: "u".into(),
                },
                409,
                "SEAT_ALREADY_ASSIGNED",
            ),
            (
                ManageError::Exists {
                    kind: Kind::Change,
                    id: "c".into(),
                },
                409,
                "CHANGE_EXISTS",
            ),
            (
                ManageError::SeatLimit {
                    entitlement: "e".into(),
                    seats: 2,
                },
                409,
                "SEAT_LIMIT_REACHED",
            ),
            (
                ManageError::SelfApproval("ops".into()),
                403,
                "SELF_APPROVAL",
            ),
            (
                ManageError::Decided {
                    id: "c".into(),
                    status: "approved".into(),
                },
                409,
                "CHANGE_ALREADY_DECIDED",
            ),
            (
                ManageError::Outdated {
                    kind: Kind::Entitlement,
                    id: "e".into(),
                },
                409,
                "CHANGE_OUTDATED",
            ),
            (ManageError::Conflict, 409, "CONFLICT"),
            (
                ManageError::Db(DbError::Unavailable("down".into())),
                503,
                "DATABASE_UNAVAILABLE",
            ),
        ];
        for (err, status, code) in cases {
            assert_eq!(status_and_code(err), (status, code));
        }
    }

    #[test]
    fn internal_error_body_says_nothing_internal() {
        let response = ApiError::internal().error_response();
        assert_eq!(response.status().as_u16(), 500);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            PROBLEM_JSON
        );
    }
}
