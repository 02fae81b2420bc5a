//! The result of a suite run, readable by people (`render_text`) and by tools (serialised as
//! JSON).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use super::{Case, Coverage, Decision, Expected, file_name};
use crate::policy::PolicyBundle;

/// Every case run, the coverage check and the totals.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub policy_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    pub cases: Vec<CaseReport>,
    /// Absent when a filter selected only some cases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
    pub passed: usize,
    pub failed: usize,
}

/// One case: what it expected, what the bundle answered, and whether they agree.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    pub file: String,
    pub line: usize,
    pub name: String,
    pub passed: bool,
    pub expected: Expected,
    /// The answer; absent when evaluation failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub got: Option<Got>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the engine answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Got {
    pub decision: Decision,
    pub reasons: Vec<String>,
    pub advice: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<String>,
    /// Ids of the policies that determined the answer.
    pub policies: Vec<String>,
}

impl CaseReport {
    pub(super) fn new(case: &Case, got: Result<Got, String>) -> Self {
        let (got, error) = match got {
            Ok(got) => (Some(got), None),
            Err(error) => (None, Some(error)),
        };
        Self {
            file: case.file.clone(),
            line: case.line,
            name: case.name.clone(),
            passed: got.as_ref().is_some_and(|g| agrees(&case.expect, g)),
            expected: case.expect.clone(),
            got,
            error,
        }
    }
}

fn agrees(expected: &Expected, got: &Got) -> bool {
    let set = |codes: &[String]| codes.iter().cloned().collect::<BTreeSet<_>>();
    expected.decision == got.decision
        && expected.reasons == set(&got.reasons)
        && expected.advice == set(&got.advice)
        && expected
            .entitlement
            .as_ref()
            .is_none_or(|e| got.entitlement.as_ref() == Some(e))
}

impl Report {
    pub(super) fn new(
        bundle: &PolicyBundle,
        filter: Option<&str>,
        cases: Vec<CaseReport>,
        coverage: Option<Coverage>,
    ) -> Self {
        let passed = cases.iter().filter(|c| c.passed).count();
        Self {
            policy_version: bundle.version.clone(),
            filter: filter.map(str::to_string),
            failed: cases.len() - passed,
            passed,
            cases,
            coverage,
        }
    }

    /// True when every case ran and agreed and coverage, if checked, is complete. A filter
    /// that selects nothing is a failure, so that a misspelt filter is not mistaken for a pass.
    pub fn succeeded(&self) -> bool {
        self.failed == 0
            && !self.cases.is_empty()
            && self.coverage.as_ref().is_none_or(Coverage::is_complete)
    }

    /// The report for a terminal: a line per case, details for each failure, coverage, totals.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let width = self
            .cases
            .iter()
            .map(|c| file_name(&c.file).len())
            .max()
            .unwrap_or(0);
        for case in &self.cases {
            let status = if case.passed { "ok  " } else { "FAIL" };
            let file = file_name(&case.file);
            let _ = writeln!(out, "{status}  {file:<width$}  {}", case.name);
            if !case.passed {
                render_failure(&mut out, case);
            }
        }
        match (&self.filter, &self.coverage) {
            (Some(filter), _) if self.cases.is_empty() => {
                let _ = writeln!(out, "no case name or file name contains `{filter}`");
            }
            (Some(_), _) | (_, None) => {
                let _ = writeln!(
                    out,
                    "coverage: not checked, a filter selects only some cases"
                );
            }
            (None, Some(coverage)) => render_coverage(&mut out, coverage),
        }
        let incomplete = self.coverage.as_ref().is_some_and(|c| !c.is_complete());
        let _ = writeln!(
            out,
            "{} passed, {} failed{}",
            self.passed,
            self.failed,
            if incomplete {
                "; coverage incomplete"
            } else {
                ""
            }
        );
        out
    }
}

fn render_failure(out: &mut String, case: &CaseReport) {
    let _ = writeln!(out, "        at {}:{}", case.file, case.line);
    let expected = &case.expected;
    let _ = writeln!(
        out,
        "        expected  {:<5}  reasons: {}  advice: {}{}",
        expected.decision.as_str(),
        list(expected.reasons.iter()),
        list(expected.advice.iter()),
        expected
            .entitlement
            .as_ref()
            .map(|e| format!("  entitlement: {e}"))
            .unwrap_or_default()
    );
    match (&case.got, &case.error) {
        (Some(got), _) => {
            let _ = writeln!(
                out,
                "        got       {:<5}  reasons: {}  advice: {}{}",
                got.decision.as_str(),
                list(got.reasons.iter()),
                list(got.advice.iter()),
                got.entitlement
                    .as_ref()
                    .map(|e| format!("  entitlement: {e}"))
                    .unwrap_or_default()
            );
            let _ = writeln!(out, "        policies  {}", list(got.policies.iter()));
        }
        (None, error) => {
            let _ = writeln!(
                out,
                "        error     {}",
                error.as_deref().unwrap_or("no answer")
            );
        }
    }
}

fn render_coverage(out: &mut String, coverage: &Coverage) {
    if coverage.is_complete() {
        let _ = write!(
            out,
            "coverage: complete ({}, {}, {}",
            count(coverage.policies, "policy", "policies"),
            count(coverage.reasons, "reason code", "reason codes"),
            count(coverage.advice, "advice code", "advice codes"),
        );
        for exempt in &coverage.exempt {
            let _ = write!(out, "; `{}` exempt: {}", exempt.policy, exempt.why.trim());
        }
        let _ = writeln!(out, ")");
        return;
    }
    let _ = writeln!(out, "coverage: FAIL, {} gap(s)", coverage.gaps.len());
    for gap in &coverage.gaps {
        let _ = writeln!(out, "  {}", gap.message);
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn list<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let items: Vec<&str> = items.map(String::as_str).collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
