//! The decision: "may this principal use this feature, now?" answered by the policies and
//! signed.
//!
//! Flow: validate the request ([`request`]), load the entity slice ([`slice`]), evaluate under
//! the active bundle ([`engine`]), sign the claims, answer.

pub mod engine;
pub mod fit;
pub mod replay;
pub mod request;
pub mod slice;

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use serde::Serialize;

use crate::audit::decision_log::Entry;
use crate::db::DbError;
use crate::signing::SignError;
use crate::state::AppState;
use engine::{EvalInput, evaluate};
pub use request::{DecisionRequest, Query};

/// Why a decision could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("tenant `{0}` does not exist")]
    UnknownTenant(String),
    #[error("{kind} `{id}` does not exist in this tenant")]
    UnknownPrincipal { kind: String, id: String },
    #[error("feature `{0}` does not exist")]
    UnknownFeature(String),
    #[error("field `{field}`: {reason}")]
    InvalidVersion {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("field `{field}`: {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("policy evaluation failed: {0}")]
    Policy(String),
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// A typed entity reference in answers and tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EntityRef {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// The signed claims of a decision token.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionClaims {
    pub iss: &'static str,
    pub tenant: String,
    pub principal: EntityRef,
    pub action: String,
    pub resource: EntityRef,
    /// What the client said about where it runs, so that a verifier can check the decision
    /// was made for its own version and environment.
    pub context: ClaimedContext,
    pub decision: &'static str,
    pub reasons: Vec<String>,
    pub advice: Vec<String>,
    /// The entitlement that granted an allow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<String>,
    pub policy_version: String,
    pub request_id: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// The request context as the decision token carries it.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimedContext {
    /// The product version, normalised (`v2.4.1` becomes `2.4.1`).
    pub product_version: String,
    pub environment: String,
}

/// The answer to `POST /v1/decisions`.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionResponse {
    pub decision: &'static str,
    pub reasons: Vec<String>,
    pub advice: Vec<String>,
    pub policy_version: String,
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<String>,
    pub expires_at: String,
    pub token: String,
}

/// Decides `query` under the active policy bundle and signs the answer.
pub async fn decide(
    state: &AppState,
    query: Query,
    request_id: &str,
) -> Result<DecisionResponse, DecisionError> {
    let started = Instant::now();
    let bundle = state.policies.load_full();

    let catalogue = state.cache.catalogue(&state.db).await?;
    let product = catalogue
        .features
        .get(&query.feature)
        .cloned()
        .ok_or_else(|| DecisionError::UnknownFeature(query.feature.clone()))?;
    let tenant = state.cache.tenant(&state.db, &query.tenant).await?;
    let principal = state
        .cache
        .principal(
            &state.db,
            &query.tenant,
            query.principal_kind,
            &query.principal_id,
        )
        .await?;

    let now = Utc::now();
    let input = EvalInput {
        tenant: &tenant,
        principal: &principal,
        feature: &query.feature,
        product: &product,
        version: query.version.encode(),
        environment: &query.environment,
        now,
    };
    let outcome = evaluate(&bundle, &input).map_err(DecisionError::Policy)?;
    let decision = if outcome.allowed { "allow" } else { "deny" };
    tracing::debug!(
        tenant = %query.tenant,
        decision,
        reasons = ?outcome.reasons,
        policies = ?outcome.policies,
        "decision evaluated"
    );

    let iat = now.timestamp();
    let exp = iat + i64::try_from(state.config.signing.token_ttl_seconds).unwrap_or(300);
    let claims = DecisionClaims {
        iss: "licet",
        tenant: query.tenant.clone(),
        principal: EntityRef {
            kind: query.principal_kind.as_str().into(),
            id: query.principal_id.clone(),
        },
        action: query.action.clone(),
        resource: EntityRef {
            kind: "Feature".into(),
            id: query.feature.clone(),
        },
        context: ClaimedContext {
            product_version: query.version.to_string(),
            environment: query.environment.clone(),
        },
        decision,
        reasons: outcome.reasons.clone(),
        advice: outcome.advice.clone(),
        entitlement: outcome.entitlement.clone(),
        policy_version: bundle.version.clone(),
        request_id: request_id.to_string(),
        iat,
        exp,
        nonce: query.nonce.clone(),
    };
    let signed = state.signer.sign_jws(&claims).await;
    state
        .metrics
        .observe_signing(state.signer.backend(), &signed);
    let token = signed?.token;

    let latency = started.elapsed();
    state.metrics.observe_decision(decision, latency);
    state
        .metrics
        .observe_tenant_decision(&query.tenant, decision);
    state.decision_log.record(Entry {
        request_id: request_id.to_string(),
        decided_at: now,
        tenant: Arc::clone(&tenant),
        principal: Arc::clone(&principal),
        action: query.action.clone(),
        feature: query.feature.clone(),
        product: product.clone(),
        product_version: query.version.to_string(),
        encoded_version: query.version.encode(),
        environment: query.environment.clone(),
        decision,
        reasons: outcome.reasons.clone(),
        advice: outcome.advice.clone(),
        entitlement: outcome.entitlement.clone(),
        policy_version: bundle.version.clone(),
        latency,
    });
    let expires_at = chrono::DateTime::from_timestamp(exp, 0).unwrap_or(now);
    Ok(DecisionResponse {
        decision,
        reasons: outcome.reasons,
        advice: outcome.advice,
        policy_version: bundle.version.clone(),
        request_id: request_id.to_string(),
        entitlement: outcome.entitlement,
        expires_at: expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        token,
    })
}
