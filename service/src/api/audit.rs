//! The auditor API (read only): policy versions with their activations, one version's files,
//! a diff of two versions, the decision log with replay, and the audit events.
//!
//! Every route needs an API token (`auditor` or `admin`). A token limited to a tenant sees that
//! tenant's decisions and events only; policy versions are the same for every tenant.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::paging::{invalid_query, limit, number};
use crate::audit::decision_log::{self, DecisionFilter};
use crate::audit::events::{self, EventFilter};
use crate::db::models::DecisionLogRow;
use crate::decision::replay;
use crate::error::ApiError;
use crate::identity::{Role, authorize};
use crate::policy::{PolicyBundle, versions};
use crate::state::AppState;

/// `GET /v1/audit/policy-versions`
pub async fn list_versions(
    req: HttpRequest,
    state: web::Data<AppState>,
    _query: web::Query<NoQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.config.access, Role::Auditor)?;
    let items = state.db.run(versions::list).await?;
    Ok(HttpResponse::Ok().json(json!({
        "active": state.policies.load().version,
        "items": items,
    })))
}

/// `GET /v1/audit/policy-versions/{version}`
pub async fn get_version(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    _query: web::Query<NoQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.config.access, Role::Auditor)?;
    let version = path.into_inner();
    let lookup = version.clone();
    let (view, source) = state
        .db
        .run(move |conn| {
            Ok::<_, crate::db::DbError>((
                versions::view(conn, &lookup)?,
                versions::source(conn, &lookup)?,
            ))
        })
        .await?;
    let (Some(view), Some(source)) = (view, source) else {
        return Err(unknown_version(&version));
    };
    Ok(HttpResponse::Ok().json(json!({
        "version": view.version,
        "stored_at": view.stored_at,
        "activations": view.activations,
        "files": source.files().collect::<Vec<_>>(),
    })))
}

/// One file's difference between two versions.
#[derive(Debug, Serialize)]
struct FileDiff {
    path: String,
    /// `added`, `removed`, `modified` or `unchanged`.
    status: &'static str,
    /// A unified diff; empty when unchanged.
    diff: String,
}

/// `GET /v1/audit/policy-versions/{from}/diff/{to}`
pub async fn diff_versions(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    _query: web::Query<NoQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.config.access, Role::Auditor)?;
    let (from, to) = path.into_inner();
    let (a, b) = (from.clone(), to.clone());
    let (old, new) = state
        .db
        .run(move |conn| {
            Ok::<_, crate::db::DbError>((versions::source(conn, &a)?, versions::source(conn, &b)?))
        })
        .await?;
    let old = old.ok_or_else(|| unknown_version(&from))?;
    let new = new.ok_or_else(|| unknown_version(&to))?;

    // The schema first, then the policy files in path order, as a version lists them.
    let mut paths: Vec<&str> = old
        .files()
        .chain(new.files())
        .map(|f| f.path.as_str())
        .collect();
    paths.sort_unstable_by_key(|p| (!p.starts_with("schema/"), *p));
    paths.dedup();
    let content = |source: &crate::policy::BundleSource, path: &str| {
        source
            .files()
            .find(|f| f.path == path)
            .map(|f| f.content.clone())
    };
    let files: Vec<FileDiff> = paths
        .into_iter()
        .map(|path| {
            let (before, after) = (content(&old, path), content(&new, path));
            let status = match (&before, &after) {
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                (Some(x), Some(y)) if x == y => "unchanged",
                _ => "modified",
            };
            let diff = if status == "unchanged" {
                String::new()
            } else {
                similar::TextDiff::from_lines(
                    before.as_deref().unwrap_or(""),
                    after.as_deref().unwrap_or(""),
                )
                .unified_diff()
                .context_radius(3)
                .header(&format!("a/{path}"), &format!("b/{path}"))
                .to_string()
            };
            FileDiff {
                path: path.to_string(),
                status,
                diff,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "from": from, "to": to, "files": files })))
}

fn unknown_version(version: &str) -> ApiError {
    ApiError::not_found(
        "POLICY_VERSION_NOT_FOUND",
        format!("no stored policy version `{version}`"),
    )
}

/// Filters of `GET /v1/audit/decisions`, as sent; [`time`] and [`number`] parse them with
/// errors that name the parameter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionQuery {
    tenant: Option<String>,
    since: Option<String>,
    until: Option<String>,
    policy_version: Option<String>,
    decision: Option<String>,
    /// The `next` value of the previous page.
    after: Option<String>,
    limit: Option<String>,
}

/// No query parameters at all.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

/// An RFC 3339 time such as `2026-12-01T00:00:00Z`.
fn time(name: &str, value: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(&v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    invalid_query(format!(
                        "`{name}` must be an RFC 3339 time such as `2026-12-01T00:00:00Z`, not `{v}` ({e}); encode `+` as `%2B`"
                    ))
                })
        })
        .transpose()
}

/// `since` before `until`, when both are given.
fn period(since: Option<String>, until: Option<String>) -> Result<crate::audit::Period, ApiError> {
    let (since, until) = (time("since", since)?, time("until", until)?);
    if let (Some(s), Some(u)) = (since, until)
        && u <= s
    {
        return Err(invalid_query(format!(
            "`until` ({u}) must be later than `since` ({s})"
        )));
    }
    Ok((since, until))
}

/// A logged decision as auditors read it.
fn decision_view(row: &DecisionLogRow) -> Value {
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    json!({
        "seq": row.seq,
        "request_id": row.request_id,
        "decided_at": DateTime::<Utc>::from_naive_utc_and_offset(row.decided_at, Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "tenant": row.tenant_id,
        "principal": { "type": row.principal_type, "id": row.principal_id },
        "action": row.action,
        "resource": { "type": "Feature", "id": row.feature_id },
        "context": parse(&row.context),
        "decision": row.decision,
        "reasons": parse(&row.reasons),
        "advice": parse(&row.advice),
        "entitlement": row.entitlement_id,
        "policy_version": row.policy_version,
        "latency_ms": row.latency_us as f64 / 1000.0,
        "inputs": parse(&row.inputs),
    })
}

/// `GET /v1/audit/decisions`
pub async fn list_decisions(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<DecisionQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Auditor)?;
    let query = query.into_inner();
    if let Some(d) = &query.decision
        && d != "allow"
        && d != "deny"
    {
        return Err(ApiError::bad_request(
            "INVALID_QUERY",
            format!("`decision` must be `allow` or `deny`, not `{d}`"),
        ));
    }
    let (since, until) = period(query.since, query.until)?;
    let filter = DecisionFilter {
        tenant: caller.tenant_scope(query.tenant)?,
        since,
        until,
        policy_version: query.policy_version,
        decision: query.decision,
        after_seq: number("after", query.after)?,
        limit: limit(number("limit", query.limit)?)?,
    };
    let page = filter.limit;
    let rows = state
        .db
        .run(move |conn| decision_log::list(conn, &filter))
        .await?;
    let next = (rows.len() as i64 == page)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    let items: Vec<Value> = rows.iter().map(decision_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next": next })))
}

async fn logged(
    state: &AppState,
    caller: &crate::identity::Caller,
    seq: &str,
) -> Result<DecisionLogRow, ApiError> {
    let not_found = || {
        ApiError::not_found(
            "DECISION_NOT_FOUND",
            format!("no logged decision `{seq}`; decisions are numbered by their `seq`"),
        )
    };
    let number: i64 = seq.parse().map_err(|_| not_found())?;
    let row = state
        .db
        .run(move |conn| decision_log::get(conn, number))
        .await?;
    match row {
        Some(row) if caller.may_see(&row.tenant_id) => Ok(row),
        _ => Err(not_found()),
    }
}

/// `GET /v1/audit/decisions/{seq}`
pub async fn get_decision(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    _query: web::Query<NoQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Auditor)?;
    let row = logged(&state, &caller, &path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(decision_view(&row)))
}

/// Which version a replay uses.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayQuery {
    /// A stored version; the active one when absent.
    version: Option<String>,
}

/// `GET /v1/audit/decisions/{seq}/replay?version=…`: the recorded answer next to the answer
/// the chosen version gives on the same inputs.
pub async fn replay_decision(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ReplayQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Auditor)?;
    let row = logged(&state, &caller, &path.into_inner()).await?;
    let bundle = match query.into_inner().version {
        Some(version) => stored_bundle(&state, &version).await?,
        None => state.policies.load_full(),
    };
    let comparison = replay::compare(&bundle, &row).map_err(|message| {
        ApiError::unprocessable(
            "REPLAY_FAILED",
            format!(
                "version {} cannot evaluate this decision: {message}",
                bundle.version
            ),
        )
    })?;
    Ok(HttpResponse::Ok().json(comparison))
}

/// A stored version compiled, from the cache of compiled versions or the database.
async fn stored_bundle(state: &AppState, version: &str) -> Result<Arc<PolicyBundle>, ApiError> {
    let active = state.policies.load_full();
    if active.version == version {
        return Ok(active);
    }
    if let Some(bundle) = state.stored_bundles.get(version) {
        return Ok(bundle);
    }
    let lookup = version.to_string();
    let source = state
        .db
        .run(move |conn| versions::source(conn, &lookup))
        .await?
        .ok_or_else(|| unknown_version(version))?;
    let compiled = actix_web::rt::task::spawn_blocking(move || PolicyBundle::compile(source))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|err| {
            ApiError::unprocessable(
                "POLICY_VERSION_UNUSABLE",
                format!("stored version `{version}` no longer compiles: {err}"),
            )
        })?;
    let bundle = Arc::new(compiled);
    state
        .stored_bundles
        .insert(version.to_string(), Arc::clone(&bundle));
    Ok(bundle)
}

/// Filters of `GET /v1/audit/events`, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    tenant: Option<String>,
    since: Option<String>,
    until: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/audit/events`
pub async fn list_events(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Auditor)?;
    let query = query.into_inner();
    let (since, until) = period(query.since, query.until)?;
    let filter = EventFilter {
        tenant: caller.tenant_scope(query.tenant)?,
        since,
        until,
        after_seq: number("after", query.after)?,
        limit: limit(number("limit", query.limit)?)?,
    };
    let page = filter.limit;
    let items = state
        .db
        .run(move |conn| events::list(conn, &filter))
        .await?;
    let next = (items.len() as i64 == page)
        .then(|| items.last().map(|e| e.seq))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next": next })))
}
