//! Coverage: every policy of the bundle must determine the answer of at least one case, and
//! every reason and advice code must be expected by at least one case, so that a new rule
//! without a test fails the run.
//!
//! A policy that no request the service builds can reach may be exempted in a suite file, with
//! the reason written down; an exemption that is stale (unknown policy, or a case reaches it
//! after all) is itself a gap.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{CaseReport, Exemption};
use crate::policy::{NOT_ENTITLED, PolicyBundle};

/// The outcome of the coverage check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Policies, reason codes and advice codes that must be covered.
    pub policies: usize,
    pub reasons: usize,
    pub advice: usize,
    pub exempt: Vec<Exemption>,
    /// What is missing; empty when coverage is complete.
    pub gaps: Vec<Gap>,
}

/// One thing no case covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// `policy`, `reason`, `advice` or `exemption`.
    pub kind: &'static str,
    pub id: String,
    pub message: String,
}

impl Coverage {
    pub fn is_complete(&self) -> bool {
        self.gaps.is_empty()
    }
}

pub(super) fn check(
    bundle: &PolicyBundle,
    cases: &[CaseReport],
    exemptions: &[Exemption],
) -> Coverage {
    let exempt: BTreeSet<&str> = exemptions.iter().map(|e| e.policy.as_str()).collect();
    let determined: BTreeSet<&str> = cases
        .iter()
        .filter_map(|c| c.got.as_ref())
        .flat_map(|got| got.policies.iter().map(String::as_str))
        .collect();
    let expected_reasons: BTreeSet<&str> = cases
        .iter()
        .flat_map(|c| c.expected.reasons.iter().map(String::as_str))
        .collect();
    let expected_advice: BTreeSet<&str> = cases
        .iter()
        .flat_map(|c| c.expected.advice.iter().map(String::as_str))
        .collect();

    let mut policies: Vec<(&str, &crate::policy::PolicyMeta)> = bundle
        .meta
        .iter()
        .map(|(id, meta)| (AsRef::<str>::as_ref(id), meta))
        .collect();
    policies.sort_by_key(|(id, _)| *id);
    let required: Vec<_> = policies
        .iter()
        .filter(|(id, _)| !exempt.contains(id))
        .collect();
    let mut reasons: BTreeSet<&str> = required
        .iter()
        .filter_map(|(_, m)| m.reason.as_deref())
        .collect();
    reasons.insert(NOT_ENTITLED);
    let advice: BTreeSet<&str> = required
        .iter()
        .filter_map(|(_, m)| m.advice.as_deref())
        .collect();

    let mut gaps = Vec::new();
    for (id, meta) in &required {
        if !determined.contains(id) {
            gaps.push(Gap {
                kind: "policy",
                id: id.to_string(),
                message: format!(
                    "policy `{id}` ({}:{}) determines the answer of no case",
                    meta.file, meta.line
                ),
            });
        }
    }
    for (kind, codes, expected) in [
        ("reason", &reasons, &expected_reasons),
        ("advice", &advice, &expected_advice),
    ] {
        for code in codes.difference(expected) {
            gaps.push(Gap {
                kind,
                id: code.to_string(),
                message: format!("{kind} `{code}` is expected by no case"),
            });
        }
    }
    for exemption in exemptions {
        let id = exemption.policy.as_str();
        let message = if !policies.iter().any(|(p, _)| *p == id) {
            format!(
                "{} exempts policy `{id}`, which is not in the bundle; remove the exemption",
                exemption.file
            )
        } else if determined.contains(id) {
            format!(
                "{} exempts policy `{id}`, but a case reaches it; remove the exemption",
                exemption.file
            )
        } else {
            continue;
        };
        gaps.push(Gap {
            kind: "exemption",
            id: id.to_string(),
            message,
        });
    }

    Coverage {
        policies: required.len(),
        reasons: reasons.len(),
        advice: advice.len(),
        exempt: exemptions.to_vec(),
        gaps,
    }
}
