//! Policy test suites: YAML files beside the policies (`policies/tests/*.yaml`) whose cases
//! give the data, the request, the time and the expected answer, run against a bundle with the
//! same evaluation the service uses.
//!
//! `spec` holds the file format, `resolve` builds each case's engine input, `coverage` checks
//! that every policy and code of the bundle is exercised, `report` renders the result. The
//! format is documented in `docs/policies.md` ("Testing policies").

mod coverage;
mod report;
mod resolve;
mod spec;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub use coverage::{Coverage, Gap};
pub use report::{CaseReport, Got, Report};
use resolve::Ask;
pub use resolve::{Case, Expected};
pub use spec::Decision;

use crate::decision::engine::{ActivationInput, EvalInput, evaluate, evaluate_activation};
use crate::policy::PolicyBundle;
use spec::{SuiteFile, World};

/// Every case of a folder of suite files, ready to run.
#[derive(Debug)]
pub struct Suite {
    pub cases: Vec<Case>,
    pub exemptions: Vec<Exemption>,
}

/// A policy a suite file declares unreachable by any case, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Exemption {
    pub policy: String,
    pub why: String,
    pub file: String,
}

/// One problem in a suite file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteProblem {
    pub file: String,
    /// 1-based; 0 when unknown.
    pub line: usize,
    pub case: Option<String>,
    pub message: String,
}

/// Why a suite could not be loaded: every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteError {
    pub problems: Vec<SuiteProblem>,
}

impl fmt::Display for SuiteProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(case) = &self.case {
            write!(f, ": case `{case}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "policy tests refused, {} problem(s):",
            self.problems.len()
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SuiteError {}

impl Suite {
    /// Loads every `*.yaml` and `*.yml` file directly inside `dir`, in name order.
    pub fn load_dir(dir: &Path) -> Result<Self, SuiteError> {
        let refuse = |message: String| SuiteError {
            problems: vec![SuiteProblem {
                file: dir.display().to_string(),
                line: 0,
                case: None,
                message,
            }],
        };
        let entries =
            std::fs::read_dir(dir).map_err(|e| refuse(format!("cannot read the folder: {e}")))?;
        let mut paths: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(refuse("the folder holds no `*.yaml` test suites".into()));
        }
        let mut files = Vec::new();
        let mut problems = Vec::new();
        for path in paths {
            let name = path.display().to_string();
            match std::fs::read_to_string(&path) {
                Ok(text) => files.push((name, text)),
                Err(e) => problems.push(SuiteProblem {
                    file: name,
                    line: 0,
                    case: None,
                    message: format!("cannot read: {e}"),
                }),
            }
        }
        if !problems.is_empty() {
            return Err(SuiteError { problems });
        }
        Self::parse(&files)
    }

    /// Parses suite files given as `(name, content)`; fixtures are shared by all of them.
    pub fn parse(files: &[(String, String)]) -> Result<Self, SuiteError> {
        let mut problems = Vec::new();
        let mut parsed = Vec::new();
        for (name, text) in files {
            match serde_yaml::from_str::<Option<SuiteFile>>(text) {
                Ok(file) => parsed.push((name, text, file.unwrap_or_default())),
                Err(err) => problems.push(yaml_problem(name, text, &err)),
            }
        }
        // A file that does not parse may define fixtures other files use: stop here rather
        // than report those uses as undefined.
        if !problems.is_empty() {
            return Err(SuiteError { problems });
        }

        let mut fixtures: BTreeMap<String, World> = BTreeMap::new();
        let mut fixture_files: BTreeMap<String, &String> = BTreeMap::new();
        for (name, text, file) in &parsed {
            for (fixture, world) in &file.fixtures {
                if let Some(other) = fixture_files.get(fixture) {
                    problems.push(SuiteProblem {
                        file: name.to_string(),
                        line: find_line(text, &format!("{fixture}:")),
                        case: None,
                        message: format!("fixture `{fixture}` is already defined in {other}"),
                    });
                    continue;
                }
                fixture_files.insert(fixture.clone(), name);
                fixtures.insert(fixture.clone(), world.clone());
            }
        }

        let mut cases = Vec::new();
        let mut exemptions = Vec::new();
        for (name, text, file) in &parsed {
            let mut seen = BTreeMap::new();
            let mut after = 0;
            for spec in &file.cases {
                let line = case_line(text, &spec.name, after);
                after = line.max(after);
                let problem = |message: String| SuiteProblem {
                    file: name.to_string(),
                    line,
                    case: Some(spec.name.clone()),
                    message,
                };
                if let Some(first) = seen.insert(spec.name.clone(), line) {
                    problems.push(problem(format!(
                        "the name is already used by the case at line {first}; names are unique within a file"
                    )));
                    continue;
                }
                match resolve::case(name, line, spec, &fixtures) {
                    Ok(case) => cases.push(case),
                    Err(message) => problems.push(problem(message)),
                }
            }
            for exempt in &file.exempt {
                if exempt.why.trim().is_empty() {
                    problems.push(SuiteProblem {
                        file: name.to_string(),
                        line: find_line(text, &exempt.policy),
                        case: None,
                        message: format!(
                            "the exemption of policy `{}` needs a `why`",
                            exempt.policy
                        ),
                    });
                }
                exemptions.push(Exemption {
                    policy: exempt.policy.clone(),
                    why: exempt.why.clone(),
                    file: name.to_string(),
                });
            }
        }
        if !problems.is_empty() {
            return Err(SuiteError { problems });
        }
        Ok(Self { cases, exemptions })
    }

    /// Runs the cases whose name or file name contains `filter` (all without one) under
    /// `bundle`. Coverage is checked only when every case runs.
    pub fn run(&self, bundle: &PolicyBundle, filter: Option<&str>) -> Report {
        let selected = |case: &&Case| {
            filter.is_none_or(|f| case.name.contains(f) || file_name(&case.file).contains(f))
        };
        let cases: Vec<CaseReport> = self
            .cases
            .iter()
            .filter(selected)
            .map(|case| run_case(bundle, case))
            .collect();
        let coverage = filter
            .is_none()
            .then(|| coverage::check(bundle, &cases, &self.exemptions));
        Report::new(bundle, filter, cases, coverage)
    }
}

fn run_case(bundle: &PolicyBundle, case: &Case) -> CaseReport {
    let evaluated = match &case.ask {
        Ask::Use {
            principal,
            query,
            product,
        } => evaluate(
            bundle,
            &EvalInput {
                tenant: &case.slice,
                principal,
                feature: &query.feature,
                product,
                version: query.version.encode(),
                environment: &query.environment,
                now: case.now,
            },
        ),
        Ask::Activate(ask) => evaluate_activation(
            bundle,
            &ActivationInput {
                tenant: &case.slice.tenant,
                entitlement: &case.slice.entitlements[ask.entitlement],
                device_id: &ask.device_id,
                device_status: &ask.device_status,
                key_id: "suite-key",
                key_status: &ask.key_status,
                active_devices: ask.active_devices,
                refresh: ask.refresh,
                now: case.now,
            },
        ),
    };
    let got = evaluated.map(|outcome| Got {
        decision: if outcome.allowed {
            Decision::Allow
        } else {
            Decision::Deny
        },
        reasons: outcome.reasons,
        advice: outcome.advice,
        entitlement: outcome.entitlement,
        policies: outcome.policies,
    });
    CaseReport::new(case, got)
}

/// The file's own name, without its folder.
fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// A YAML or shape error, with its line and, inside a case, the case's name.
fn yaml_problem(file: &str, text: &str, err: &serde_yaml::Error) -> SuiteProblem {
    let mut message = err.to_string();
    let line = err.location().map_or(0, |at| {
        let suffix = format!(" at line {} column {}", at.line(), at.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_string();
        }
        at.line()
    });
    SuiteProblem {
        file: file.to_string(),
        line,
        case: case_named_at(text, &message),
        message,
    }
}

/// The name of case `N` when `message` starts with the path `cases[N]`.
fn case_named_at(text: &str, message: &str) -> Option<String> {
    let index: usize = message
        .strip_prefix("cases[")?
        .split(']')
        .next()?
        .parse()
        .ok()?;
    let loose: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
    let name = loose.get("cases")?.get(index)?.get("name")?.as_str()?;
    Some(name.to_string())
}

/// The line of the case called `name`: the first `name:` line after line `after` that holds
/// it (cases are found in file order), or 0.
fn case_line(text: &str, name: &str, after: usize) -> usize {
    text.lines()
        .enumerate()
        .skip(after)
        .find(|(_, line)| {
            let line = line.trim_start().trim_start_matches("- ").trim_start();
            line.strip_prefix("name:")
                .is_some_and(|rest| rest.trim().trim_matches(['"', '\'']) == name)
        })
        .map_or(0, |(i, _)| i + 1)
}

fn find_line(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|line| line.contains(needle))
        .map_or(0, |i| i + 1)
}
