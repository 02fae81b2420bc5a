//! What the admin routes for the commercial data share: bodies carrying an optional `reason`
//! and `ticket`, the author of a change, tenant scope checks and list pages.

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::admin::read_body;
use super::invalid_shape;
use super::paging::{limit, next_after, number};
use crate::error::ApiError;
use crate::identity::Caller;
use crate::licensing::manage::{Author, Page};
use crate::telemetry::RequestId;

/// A JSON object body: the record's fields, and why it is changed.
pub struct Noted<T> {
    pub body: T,
    pub reason: Option<String>,
    pub ticket: Option<String>,
}

/// Splits `reason` and `ticket` off a JSON object and reads the rest as `T`, whose unknown
/// fields are refused.
pub fn noted<T: DeserializeOwned>(
    body: web::Json<Map<String, Value>>,
) -> Result<Noted<T>, ApiError> {
    let mut fields = body.into_inner();
    for value in fields.values() {
        super::refuse_nul(value)?;
    }
    let mut text = |name: &str| match fields.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid_shape(format!(
            "`{name}` must be a string, not `{other}`"
        ))),
    };
    let reason = text("reason")?;
    let ticket = text("ticket")?;
    let body = serde_json::from_value(Value::Object(fields)).map_err(invalid_shape)?;
    Ok(Noted {
        body,
        reason,
        ticket,
    })
}

/// An optional JSON object body (`DELETE`, approve, reject): empty means `T::default()`.
pub async fn optional_body<T: DeserializeOwned + Default>(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    let body = read_body(req, payload, limit).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice::<Option<T>>(&body)
        .map_err(|e| {
            if e.is_data() {
                invalid_shape(e)
            } else {
                ApiError::bad_request(
                    "MALFORMED_JSON",
                    format!("the request body is not valid JSON: {e}"),
                )
            }
        })
        .map(Option::unwrap_or_default)
}

/// `reason` and `ticket` alone, for changes without a record in the body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    pub reason: Option<String>,
    pub ticket: Option<String>,
}

/// The author of a change: the caller's token, the request id, the note.
pub fn author(
    req: &HttpRequest,
    caller: &Caller,
    reason: Option<String>,
    ticket: Option<String>,
) -> Author {
    Author {
        actor: caller.name.clone(),
        reason,
        ticket,
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
    }
}

/// Refuses a tenant the caller's token is not limited to.
pub fn may_touch(caller: &Caller, tenant: &str) -> Result<(), ApiError> {
    caller.tenant_scope(Some(tenant.to_string())).map(|_| ())
}

/// Refuses a token limited to a tenant: `what` concerns every tenant.
pub fn unlimited(caller: &Caller, what: &str) -> Result<(), ApiError> {
    match &caller.tenant {
        None => Ok(()),
        Some(tenant) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            format!(
                "token `{}` is limited to tenant `{tenant}` and may not {what}",
                caller.name
            ),
        )),
    }
}

/// `?after=&limit=` of a list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    after: Option<String>,
    limit: Option<String>,
}

impl PageQuery {
    pub fn page(self) -> Result<Page, ApiError> {
        page(self.after, self.limit)
    }
}

/// A checked page.
pub fn page(after: Option<String>, asked: Option<String>) -> Result<Page, ApiError> {
    Ok(Page {
        after,
        limit: limit(number("limit", asked)?)?,
    })
}

/// `{"items": [...], "next": ...}`, where `next` is the key of the last item of a full page.
pub fn list<T: Serialize>(items: &[T], page: &Page, key: impl Fn(&T) -> String) -> HttpResponse {
    let next = next_after(items, page.limit, key);
    HttpResponse::Ok().json(json!({ "items": items, "next": next }))
}

/// 201 with the created record and where it lives.
pub fn created(location: String, body: impl Serialize) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((actix_web::http::header::LOCATION, location))
        .json(body)
}

/// Reads a nullable field so that `null` (`Some(None)`) differs from an absent one (`None`).
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
