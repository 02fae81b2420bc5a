//! Replaying a logged decision: the same inputs (as recorded when it was made) evaluated again
//! under any bundle, and compared with what was answered then.

use serde::Serialize;

use super::engine::{EvalInput, evaluate};
use super::slice::TenantSlice;
use crate::audit::decision_log::Inputs;
use crate::db::models::DecisionLogRow;
use crate::policy::PolicyBundle;

/// An answer, recorded or replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub decision: String,
    pub reasons: Vec<String>,
    pub advice: Vec<String>,
    pub entitlement: Option<String>,
    pub policy_version: String,
    /// Ids of the policies that determined a replayed answer (not recorded in the log).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
}

/// How a replayed answer differs from the recorded one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    AllowToDeny,
    DenyToAllow,
    /// Same decision, other reasons or advice.
    ReasonsChanged,
}

impl Change {
    pub fn label(self) -> &'static str {
        match self {
            Change::AllowToDeny => "allow → deny",
            Change::DenyToAllow => "deny → allow",
            Change::ReasonsChanged => "reasons changed",
        }
    }
}

/// A logged decision next to its replay.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub seq: i64,
    pub request_id: String,
    pub decided_at: String,
    pub tenant: String,
    pub principal: String,
    pub feature: String,
    pub recorded: Outcome,
    pub replayed: Outcome,
    /// `None` when the replay gives the recorded answer.
    pub change: Option<Change>,
}

/// What the log says was answered.
pub fn recorded(row: &DecisionLogRow) -> Outcome {
    let list = |text: &str| serde_json::from_str::<Vec<String>>(text).unwrap_or_default();
    Outcome {
        decision: row.decision.clone(),
        reasons: list(&row.reasons),
        advice: list(&row.advice),
        entitlement: row.entitlement_id.clone(),
        policy_version: row.policy_version.clone(),
        policies: Vec::new(),
    }
}

/// Evaluates the recorded inputs of `row` under `bundle`.
pub fn replay(bundle: &PolicyBundle, row: &DecisionLogRow) -> Result<Outcome, String> {
    let inputs: Inputs = serde_json::from_str(&row.inputs).map_err(|e| {
        format!(
            "the inputs of logged decision {} cannot be read: {e}",
            row.seq
        )
    })?;
    let tenant = TenantSlice {
        tenant: inputs.tenant,
        entitlements: inputs.entitlements,
    };
    let input = EvalInput {
        tenant: &tenant,
        principal: &inputs.principal,
        feature: &inputs.feature,
        product: &inputs.product,
        version: inputs.version,
        environment: &inputs.environment,
        now: inputs.now,
    };
    let evaluation = evaluate(bundle, &input)?;
    Ok(Outcome {
        decision: if evaluation.allowed { "allow" } else { "deny" }.into(),
        reasons: evaluation.reasons,
        advice: evaluation.advice,
        entitlement: evaluation.entitlement,
        policy_version: bundle.version.clone(),
        policies: evaluation.policies,
    })
}

/// Replays `row` under `bundle` and says how the answer differs from the recorded one.
pub fn compare(bundle: &PolicyBundle, row: &DecisionLogRow) -> Result<Comparison, String> {
    let recorded = recorded(row);
    let replayed = replay(bundle, row)?;
    let change = match (recorded.decision.as_str(), replayed.decision.as_str()) {
        ("allow", "deny") => Some(Change::AllowToDeny),
        ("deny", "allow") => Some(Change::DenyToAllow),
        _ if recorded.reasons != replayed.reasons || recorded.advice != replayed.advice => {
            Some(Change::ReasonsChanged)
        }
        _ => None,
    };
    Ok(Comparison {
        seq: row.seq,
        request_id: row.request_id.clone(),
        decided_at: chrono::DateTime::<chrono::Utc>::from_naive_utc_and_offset(
            row.decided_at,
            chrono::Utc,
        )
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        tenant: row.tenant_id.clone(),
        principal: format!("{}::{}", row.principal_type, row.principal_id),
        feature: row.feature_id.clone(),
        recorded,
        replayed,
        change,
    })
}
