//! Compiling a [`BundleSource`] into a validated [`PolicyBundle`].
//!
//! Policies are parsed file by file and re-identified by their `@id` annotation (cedar-policy
//! numbers policies itself when parsing a set). Every `forbid` must carry `@reason("CODE")`;
//! a `permit` may carry `@advice("CODE")`. The set is validated strictly against the schema.
//! Problems name the file and line.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use cedar_policy::{Effect, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use miette::Diagnostic;

use super::source::{BundleFile, BundleSource};

/// What the service needs to know about one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyMeta {
    pub file: String,
    pub line: usize,
    pub effect: Effect,
    /// The reason code of a `forbid`.
    pub reason: Option<String>,
    /// The advice code of a `permit`.
    pub advice: Option<String>,
}

/// A loaded, validated policy bundle. Immutable: a reload builds a new one.
#[derive(Debug)]
pub struct PolicyBundle {
    pub version: String,
    pub source: BundleSource,
    pub schema: Schema,
    pub policies: PolicySet,
    pub meta: HashMap<PolicyId, PolicyMeta>,
    /// Validator warnings, as `file:line: message`.
    pub warnings: Vec<String>,
}

/// One problem in a bundle file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// 1-based; 0 when the problem concerns the file as a whole.
    pub line: usize,
    pub message: String,
}

/// Why a bundle was refused: every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleError {
    pub problems: Vec<Problem>,
}

impl BundleError {
    /// One problem in `file` at `line` (0 for the file as a whole).
    pub fn at(file: &str, line: usize, message: impl Into<String>) -> Self {
        Self {
            problems: vec![Problem {
                file: file.into(),
                line,
                message: message.into(),
            }],
        }
    }

    pub(crate) fn io(path: &Path, err: std::io::Error) -> Self {
        Self::at(
            &path.display().to_string(),
            0,
            format!("cannot read: {err}"),
        )
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "policy bundle refused, {} problem(s):",
            self.problems.len()
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BundleError {}

impl PolicyBundle {
    /// Parses and validates `source`.
    pub fn compile(source: BundleSource) -> Result<Self, BundleError> {
        let mut problems = Vec::new();

        let schema = match Schema::from_cedarschema_str(&source.schema.content) {
            Ok((schema, _warnings)) => schema,
            Err(err) => {
                problems.push(problem(&source.schema, &err));
                return Err(BundleError { problems });
            }
        };

        let mut policies = PolicySet::new();
        let mut meta = HashMap::new();
        for file in &source.policies {
            parse_file(file, &mut policies, &mut meta, &mut problems);
        }
        if !problems.is_empty() {
            return Err(BundleError { problems });
        }

        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        let locate = |id: &PolicyId, diag: &dyn Diagnostic| {
            let owner = meta.get(id);
            let file = owner.map(|m| m.file.clone()).unwrap_or_default();
            let text = source
                .policies
                .iter()
                .find(|f| f.path == file)
                .map(|f| f.content.as_str());
            let line = text
                .and_then(|text| line_of(diag, text))
                .or_else(|| owner.map(|m| m.line))
                .unwrap_or(0);
            Problem {
                file,
                line,
                message: format!("policy `{id}`: {}", flatten(diag)),
            }
        };
        for err in result.validation_errors() {
            problems.push(locate(err.policy_id(), err));
        }
        if !problems.is_empty() {
            return Err(BundleError { problems });
        }
        let warnings = result
            .validation_warnings()
            .map(|w| locate(w.policy_id(), w).to_string())
            .collect();

        let version = source.version();
        Ok(Self {
            version,
            source,
            schema,
            policies,
            meta,
            warnings,
        })
    }

    /// Reason codes every `forbid` may give, sorted.
    pub fn reason_codes(&self) -> Vec<&str> {
        let mut codes: Vec<&str> = self
            .meta
            .values()
            .filter_map(|m| m.reason.as_deref())
            .collect();
        codes.sort_unstable();
        codes.dedup();
        codes
    }
}

fn parse_file(
    file: &BundleFile,
    policies: &mut PolicySet,
    meta: &mut HashMap<PolicyId, PolicyMeta>,
    problems: &mut Vec<Problem>,
) {
    let parsed = match PolicySet::from_str(&file.content) {
        Ok(set) => set,
        Err(errs) => {
            problems.extend(errs.iter().map(|e| problem(file, e)));
            return;
        }
    };
    if parsed.templates().next().is_some() {
        problems.push(Problem {
            file: file.path.clone(),
            line: 0,
            message: "policy templates are not supported".into(),
        });
    }
    for policy in parsed.policies() {
        let Some(id) = policy.annotation("id") else {
            problems.push(Problem {
                file: file.path.clone(),
                line: 0,
                message:
                    "a policy has no `@id(\"...\")` annotation; every policy needs a unique id"
                        .into(),
            });
            continue;
        };
        let line = find_line(&file.content, &format!("\"{id}\"")).unwrap_or(0);
        let fail = |message: String| Problem {
            file: file.path.clone(),
            line,
            message,
        };
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            problems.push(fail(format!(
                "policy id `{id}` must be letters, digits, `.`, `_` or `-`"
            )));
            continue;
        }
        let reason = policy.annotation("reason").map(str::to_string);
        let advice = policy.annotation("advice").map(str::to_string);
        match policy.effect() {
            Effect::Forbid if reason.is_none() => {
                problems.push(fail(format!(
                    "forbid policy `{id}` needs a `@reason(\"CODE\")` annotation"
                )));
            }
            Effect::Forbid if advice.is_some() => {
                problems.push(fail(format!(
                    "forbid policy `{id}` cannot carry `@advice`; use `@reason`"
                )));
            }
            Effect::Permit if reason.is_some() => {
                problems.push(fail(format!(
                    "permit policy `{id}` cannot carry `@reason`; use `@advice`"
                )));
            }
            _ => {}
        }
        for code in reason.iter().chain(advice.iter()) {
            if !is_code(code) {
                problems.push(fail(format!(
                    "code `{code}` must be uppercase letters, digits and `_`"
                )));
            }
        }
        let policy_id = PolicyId::new(id);
        if let Some(other) = meta.get(&policy_id) {
            problems.push(fail(format!(
                "policy id `{id}` is already used in {}:{}",
                other.file, other.line
            )));
            continue;
        }
        if let Err(err) = policies.add(policy.new_id(policy_id.clone())) {
            problems.push(fail(err.to_string()));
            continue;
        }
        let effect = policy.effect();
        meta.insert(
            policy_id,
            PolicyMeta {
                file: file.path.clone(),
                line,
                effect,
                reason,
                advice,
            },
        );
    }
}

fn is_code(code: &str) -> bool {
    code.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn problem(file: &BundleFile, diag: &dyn Diagnostic) -> Problem {
    Problem {
        file: file.path.clone(),
        line: line_of(diag, &file.content).unwrap_or(0),
        message: flatten(diag),
    }
}

/// The message of a diagnostic with its help, on one line.
fn flatten(diag: &dyn Diagnostic) -> String {
    let mut message = diag.to_string();
    if let Some(help) = diag.help() {
        message.push_str(&format!(" ({help})"));
    }
    message
}

/// The 1-based line of the first labelled span of `diag` in `text`.
fn line_of(diag: &dyn Diagnostic, text: &str) -> Option<usize> {
    let offset = diag.labels()?.next()?.offset();
    Some(text.get(..offset)?.matches('\n').count() + 1)
}

fn find_line(text: &str, needle: &str) -> Option<usize> {
    let offset = text.find(needle)?;
    Some(text[..offset].matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_policy(name: &str, content: &str) -> BundleSource {
        let mut source = BundleSource::embedded();
        source.policies.push(BundleFile {
            path: format!("policies/{name}"),
            content: content.into(),
        });
        source
    }

    #[test]
    fn shipped_bundle_compiles_with_ids_and_reasons() {
        let bundle = PolicyBundle::compile(BundleSource::embedded()).unwrap();
        let expired = bundle.meta.get(&PolicyId::new("term.expired")).unwrap();
        assert_eq!(expired.file, "policies/term.cedar");
        assert_eq!(expired.reason.as_deref(), Some("EXPIRED"));
        assert_eq!(
            bundle.reason_codes(),
            vec![
                "DEVICE_INACTIVE",
                "DEVICE_LIMIT_REACHED",
                "DEVICE_NOT_ACTIVATED",
                "DEVICE_REVOKED",
                "ENTITLEMENT_EXPIRED",
                "ENTITLEMENT_NOT_STARTED",
                "ENTITLEMENT_SUSPENDED",
                "ENVIRONMENT_NOT_ENTITLED",
                "EXPIRED",
                "FEATURE_NOT_ENTITLED",
                "LICENSE_KEY_REVOKED",
                "NOT_YET_VALID",
                "TENANT_MISMATCH",
                "TENANT_SUSPENDED",
                "USER_BLOCKED",
                "VERSION_OUT_OF_RANGE",
            ]
        );
        assert!(bundle.warnings.is_empty(), "{:?}", bundle.warnings);
    }

    #[test]
    fn attribute_missing_from_schema_is_refused_with_file_and_line() {
        let text = "// extra\n\n@id(\"x.colour\")\n@reason(\"COLOUR\")\nforbid (principal, action, resource)\nwhen { principal.colour == \"red\" };\n";
        let err = PolicyBundle::compile(with_policy("zz.cedar", text)).unwrap_err();
        // One problem for each principal type the policy could apply to.
        assert_eq!(err.problems.len(), 2, "{err}");
        for problem in &err.problems {
            assert_eq!(
                (problem.file.as_str(), problem.line),
                ("policies/zz.cedar", 6)
            );
            assert!(problem.message.contains("attribute `colour`"), "{err}");
        }
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let err = PolicyBundle::compile(with_policy(
            "zz.cedar",
            "\n\n@id(\"a\")\npermit (principal action, resource);\n",
        ))
        .unwrap_err();
        assert_eq!(
            (err.problems[0].file.as_str(), err.problems[0].line),
            ("policies/zz.cedar", 4),
            "{err}"
        );
    }

    #[test]
    fn forbid_without_reason_and_duplicate_ids_are_refused() {
        let text = "@id(\"term.expired\")\n@reason(\"X\")\nforbid (principal, action, resource);\n\n@id(\"n\")\nforbid (principal, action, resource);\n";
        let err = PolicyBundle::compile(with_policy("zz.cedar", text)).unwrap_err();
        let messages: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].starts_with(
            "policies/zz.cedar:1: policy id `term.expired` is already used in policies/term.cedar:"
        ));
        assert_eq!(
            messages[1],
            "policies/zz.cedar:5: forbid policy `n` needs a `@reason(\"CODE\")` annotation"
        );
    }

    #[test]
    fn policy_without_id_is_refused() {
        let err = PolicyBundle::compile(with_policy(
            "zz.cedar",
            "permit (principal, action, resource);",
        ))
        .unwrap_err();
        assert!(err.to_string().contains("has no `@id"), "{err}");
    }
}
