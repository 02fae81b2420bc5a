//! Impact analysis: replay the logged decisions of a period under a candidate bundle and list
//! every decision that would change, grouped by tenant and by reason.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::PolicyBundle;
use crate::audit::decision_log::{self, DecisionFilter};
use crate::db::{DbConnection, DbError};
use crate::decision::replay::{Change, Comparison, compare};

/// Decisions read from the log per query.
const PAGE: i64 = 1000;
/// Replay failures kept in a report.
const MAX_ERRORS: usize = 20;

/// Every decision of the period that the candidate answers differently.
#[derive(Debug, Clone, Serialize)]
pub struct ImpactReport {
    pub candidate_version: String,
    pub since: Option<String>,
    pub until: Option<String>,
    pub tenant: Option<String>,
    /// Logged decisions replayed.
    pub replayed: u64,
    /// Logged decisions the candidate could not evaluate; see `errors`.
    pub failed: u64,
    /// Of those, how many the candidate answers differently.
    pub changed: u64,
    pub allow_to_deny: u64,
    pub deny_to_allow: u64,
    pub reasons_changed: u64,
    /// By tenant, then kind of change, then the reasons before and after.
    pub groups: Vec<ImpactGroup>,
    /// Why decisions could not be replayed (the first 20).
    pub errors: Vec<String>,
}

/// Changed decisions that share tenant, kind of change and reasons.
#[derive(Debug, Clone, Serialize)]
pub struct ImpactGroup {
    pub tenant: String,
    pub change: Change,
    /// Reasons (deny) or advice (allow) recorded, then replayed.
    pub before: Vec<String>,
    pub after: Vec<String>,
    pub count: u64,
    pub decisions: Vec<Comparison>,
}

/// Replays the logged decisions that `filter` selects under `candidate`.
pub fn analyse(
    conn: &mut DbConnection,
    candidate: &PolicyBundle,
    filter: &DecisionFilter,
) -> Result<ImpactReport, DbError> {
    let mut filter = filter.clone();
    filter.limit = PAGE;
    let mut groups: BTreeMap<(String, Change, Vec<String>, Vec<String>), ImpactGroup> =
        BTreeMap::new();
    let mut report = ImpactReport {
        candidate_version: candidate.version.clone(),
        since: filter.since.map(stamp),
        until: filter.until.map(stamp),
        tenant: filter.tenant.clone(),
        replayed: 0,
        failed: 0,
        changed: 0,
        allow_to_deny: 0,
        deny_to_allow: 0,
        reasons_changed: 0,
        groups: Vec::new(),
        errors: Vec::new(),
    };
    loop {
        let rows = decision_log::list(conn, &filter)?;
        let Some(last) = rows.last() else { break };
        filter.after_seq = Some(last.seq);
        for row in &rows {
            let comparison = match compare(candidate, row) {
                Ok(c) => c,
                Err(err) => {
                    report.failed += 1;
                    if report.errors.len() < MAX_ERRORS {
                        report.errors.push(format!("decision {}: {err}", row.seq));
                    }
                    continue;
                }
            };
            report.replayed += 1;
            let Some(change) = comparison.change else {
                continue;
            };
            report.changed += 1;
            match change {
                Change::AllowToDeny => report.allow_to_deny += 1,
                Change::DenyToAllow => report.deny_to_allow += 1,
                Change::ReasonsChanged => report.reasons_changed += 1,
            }
            let codes = |o: &crate::decision::replay::Outcome| {
                if o.decision == "allow" {
                    o.advice.clone()
                } else {
                    o.reasons.clone()
                }
            };
            let before = codes(&comparison.recorded);
            let after = codes(&comparison.replayed);
            let key = (
                comparison.tenant.clone(),
                change,
                before.clone(),
                after.clone(),
            );
            let group = groups.entry(key).or_insert_with(|| ImpactGroup {
                tenant: comparison.tenant.clone(),
                change,
                before,
                after,
                count: 0,
                decisions: Vec::new(),
            });
            group.count += 1;
            group.decisions.push(comparison);
        }
    }
    report.groups = groups.into_values().collect();
    Ok(report)
}

fn stamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl ImpactReport {
    /// Whether every logged decision of the period could be replayed.
    pub fn complete(&self) -> bool {
        self.failed == 0
    }

    /// The report for people: a summary, then each group with its decisions.
    pub fn render_text(&self, show: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "candidate {}: replayed {} logged decisions from {} to {}{}",
            self.candidate_version,
            self.replayed,
            self.since.as_deref().unwrap_or("the first"),
            self.until.as_deref().unwrap_or("now"),
            self.tenant
                .as_ref()
                .map(|t| format!(" (tenant {t})"))
                .unwrap_or_default(),
        );
        let _ = writeln!(
            out,
            "{} would change: {} allow → deny, {} deny → allow, {} with other reasons",
            self.changed, self.allow_to_deny, self.deny_to_allow, self.reasons_changed
        );
        let mut tenant = "";
        for group in &self.groups {
            if group.tenant != tenant {
                tenant = &group.tenant;
                let total: u64 = self
                    .groups
                    .iter()
                    .filter(|g| g.tenant == tenant)
                    .map(|g| g.count)
                    .sum();
                let _ = writeln!(out, "\ntenant {tenant}: {total}");
            }
            let _ = writeln!(
                out,
                "  {} {:?} → {:?}: {}",
                group.change.label(),
                group.before,
                group.after,
                group.count
            );
            for d in group.decisions.iter().take(show) {
                let _ = writeln!(
                    out,
                    "    #{} {} {} {} request {}",
                    d.seq, d.decided_at, d.principal, d.feature, d.request_id
                );
            }
            if group.decisions.len() > show {
                let _ = writeln!(out, "    … and {} more", group.decisions.len() - show);
            }
        }
        if self.failed > 0 {
            let _ = writeln!(
                out,
                "\n{} logged decisions could not be replayed, so this report is incomplete:",
                self.failed
            );
            for error in &self.errors {
                let _ = writeln!(out, "  {error}");
            }
        }
        out
    }
}
