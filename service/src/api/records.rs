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
use crate::licensing::manage::changes::ChangeView;
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
    let body = super::from_json(Value::Object(fields)).map_err(|e| invalid_shape(with_notes(e)))?;
    Ok(Noted {
        body,
        reason,
        ticket,
    })
}

/// A `PATCH` body: as [`noted`], but `null` is refused for every field not in `nullable`,
/// since a field left out already keeps its stored value and `null` would silently do the
/// same.
pub fn noted_patch<T: DeserializeOwned>(
    body: web::Json<Map<String, Value>>,
    nullable: &[&str],
) -> Result<Noted<T>, ApiError> {
    let mut nulls: Vec<&str> = body
        .iter()
        .filter(|(name, value)| {
            value.is_null() && !nullable.contains(&name.as_str()) && !NOTES.contains(&name.as_str())
        })
        .map(|(name, _)| name.as_str())
        .collect();
    nulls.sort_unstable();
    if !nulls.is_empty() {
        let named: Vec<String> = nulls.iter().map(|n| format!("`{n}`")).collect();
        return Err(invalid_shape(format!(
            "{} may not be null; leave a field out to keep its stored value",
            named.join(", ")
        )));
    }
    noted(body)
}

/// The fields [`noted`] takes off every body.
const NOTES: [&str; 2] = ["reason", "ticket"];

/// Adds `reason` and `ticket` to the fields a refused unknown field lists, since [`noted`]
/// takes them off before the record's own fields are read.
fn with_notes(message: String) -> String {
    if !message.starts_with("unknown field") {
        return message;
    }
    // serde lists one field as "expected `a`", two as "expected `a` or `b`", more as
    // "expected one of `a`, `b`, `c`"; every form becomes the last.
    let expected = |fields: &str| fields.replace("` or `", "`, `");
    if let Some((head, fields)) = message.split_once(", expected one of ") {
        format!(
            "{head}, expected one of {}, `reason`, `ticket`",
            expected(fields)
        )
    } else if let Some((head, fields)) = message.split_once(", expected ") {
        format!(
            "{head}, expected one of {}, `reason`, `ticket`",
            expected(fields)
        )
    } else if let Some(head) = message.strip_suffix(", there are no fields") {
        format!("{head}, expected one of `reason`, `ticket`")
    } else {
        message
    }
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

/// 202 with a change waiting for a second admin and where it lives.
pub fn pending(change: ChangeView) -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/v1/admin/changes/{}", change.id),
        ))
        .json(change)
}

/// Reads a nullable field so that `null` (`Some(None)`) differs from an absent one (`None`).
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        id: Option<String>,
        seats: Option<i64>,
        #[serde(default, deserialize_with = "nullable")]
        min_version: Option<Option<String>>,
    }

    fn json(value: Value) -> web::Json<Map<String, Value>> {
        match value {
            Value::Object(map) => web::Json(map),
            _ => unreachable!("an object"),
        }
    }

    #[test]
    fn unknown_fields_list_reason_and_ticket_too() {
        let err = noted::<Body>(json(serde_json::json!({ "extra": 1 })))
            .err()
            .unwrap();
        assert_eq!(
            err.detail,
            "the request does not have the expected shape: unknown field `extra`, expected one \
             of `id`, `seats`, `min_version`, `reason`, `ticket`"
        );
    }

    #[test]
    fn a_mistyped_value_names_its_field() {
        let err = noted::<Body>(json(serde_json::json!({ "id": "e1", "seats": "5" })))
            .err()
            .unwrap();
        assert_eq!(
            err.detail,
            "the request does not have the expected shape: `seats`: invalid type: string \"5\", \
             expected i64"
        );
    }

    #[test]
    fn one_or_two_expected_fields_read_like_many() {
        assert_eq!(
            with_notes("unknown field `bogus`, expected `id` or `name`".into()),
            "unknown field `bogus`, expected one of `id`, `name`, `reason`, `ticket`"
        );
        assert_eq!(
            with_notes("unknown field `bogus`, expected `id`".into()),
            "unknown field `bogus`, expected one of `id`, `reason`, `ticket`"
        );
        assert_eq!(
            with_notes("unknown field `bogus`, there are no fields".into()),
            "unknown field `bogus`, expected one of `reason`, `ticket`"
        );
    }

    #[test]
    fn a_patch_refuses_null_except_on_nullable_fields() {
        let body = serde_json::json!({ "seats": null, "id": null, "reason": null });
        let err = noted_patch::<Body>(json(body), &["min_version"])
            .err()
            .unwrap();
        assert_eq!((err.status.as_u16(), err.code), (422, "INVALID_REQUEST"));
        assert!(
            err.detail.ends_with(
                "`id`, `seats` may not be null; leave a field out to keep its stored value"
            ),
            "{}",
            err.detail
        );

        let body = serde_json::json!({ "min_version": null, "seats": 2 });
        let ok = noted_patch::<Body>(json(body), &["min_version"]).unwrap();
        assert_eq!((ok.body.seats, ok.body.min_version), (Some(2), Some(None)));
    }
}
