//! `licet import`: loads tenants, products, features, entitlements, users and devices from a
//! YAML file.
//!
//! The whole file is validated before anything is written ([`validate`]), and every problem
//! found is reported with the file, the entry and the field. Writing ([`write`]) is one
//! transaction that inserts what is new, updates what differs and leaves equal rows alone, so
//! importing the same file twice changes nothing. Import never deletes: an entry missing from
//! the file is left as it is.

pub(crate) mod validate;
pub(crate) mod write;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::audit::events;
use crate::db::{DbConnection, DbError};
use crate::state::AppState;
pub use validate::{is_environment_name, parse_time};

/// The import file. Every list may be omitted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportFile {
    #[serde(default)]
    pub roles: Vec<RoleEntry>,
    #[serde(default)]
    pub products: Vec<ProductEntry>,
    #[serde(default)]
    pub tenants: Vec<TenantEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleEntry {
    pub id: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProductEntry {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub releases: Vec<ReleaseEntry>,
    #[serde(default)]
    pub features: Vec<FeatureEntry>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseEntry {
    pub version: String,
    pub released_on: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureEntry {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TenantEntry {
    pub id: String,
    pub name: String,
    #[serde(default = "active")]
    pub status: String,
    #[serde(default)]
    pub users: Vec<UserEntry>,
    #[serde(default)]
    pub entitlements: Vec<EntitlementEntry>,
    #[serde(default)]
    pub devices: Vec<DeviceEntry>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    pub id: String,
    pub display_name: String,
    pub email: Option<String>,
    #[serde(default = "active")]
    pub status: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EntitlementEntry {
    pub id: String,
    pub product: String,
    pub model: String,
    pub seats: i64,
    pub features: Vec<String>,
    pub environments: Vec<String>,
    pub starts_at: String,
    pub expires_at: String,
    #[serde(default)]
    pub grace_days: i64,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    #[serde(default = "active")]
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    pub id: String,
    pub fingerprint: String,
    pub name: String,
    pub entitlement: Option<String>,
    #[serde(default = "active")]
    pub status: String,
}

fn active() -> String {
    "active".into()
}

/// One problem found in an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub entry: String,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, field `{}`: {}",
            self.entry, self.field, self.message
        )
    }
}

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: {} problem(s) found, nothing was written:\n{}", issues.len(), list(file, issues))]
    Invalid { file: String, issues: Vec<Issue> },
    #[error(transparent)]
    Db(#[from] DbError),
    /// Carries a dry run's summary out of its rolled-back transaction.
    #[error("dry run rolled back: {0}")]
    RolledBack(Summary),
}

impl From<diesel::result::Error> for ImportError {
    fn from(err: diesel::result::Error) -> Self {
        ImportError::Db(err.into())
    }
}

fn list(file: &str, issues: &[Issue]) -> String {
    issues
        .iter()
        .map(|i| format!("  {file}: {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What an import did, by kind of record.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub created: BTreeMap<&'static str, usize>,
    pub updated: BTreeMap<&'static str, usize>,
    pub unchanged: BTreeMap<&'static str, usize>,
}

impl Summary {
    fn count(&mut self, kind: &'static str, change: Change) {
        let map = match change {
            Change::Created => &mut self.created,
            Change::Updated => &mut self.updated,
            Change::Unchanged => &mut self.unchanged,
        };
        *map.entry(kind).or_default() += 1;
    }

    /// Records created or updated; zero means the import changed nothing.
    pub fn changes(&self) -> usize {
        self.created.values().sum::<usize>() + self.updated.values().sum::<usize>()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |map: &BTreeMap<&str, usize>| {
            if map.is_empty() {
                "nothing".to_string()
            } else {
                map.iter()
                    .map(|(kind, n)| {
                        format!(
                            "{n} {}",
                            if *n == 1 {
                                kind.trim_end_matches('s')
                            } else {
                                kind
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        write!(
            f,
            "created: {}; updated: {}; unchanged: {}",
            show(&self.created),
            show(&self.updated),
            show(&self.unchanged)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Created,
    Updated,
    Unchanged,
}

/// The features or environments of an entitlement as stored: sorted, each once. Both are sets;
/// a name given twice means the same as given once.
pub fn set_of(items: &[String]) -> Vec<String> {
    let set: std::collections::BTreeSet<&String> = items.iter().collect();
    set.into_iter().cloned().collect()
}

/// Parses `text` (named `file` in messages).
pub fn parse(file: &str, text: &str) -> Result<ImportFile, ImportError> {
    serde_yaml::from_str(text).map_err(|e| ImportError::Parse {
        file: file.into(),
        message: e.to_string(),
    })
}

/// Validates and writes `data` in one transaction, with an audit event for every change
/// recorded as made by `actor`.
pub fn import(
    conn: &mut DbConnection,
    file: &str,
    data: &ImportFile,
    actor: &str,
) -> Result<Summary, ImportError> {
    crate::db::write_transaction(conn, |conn| validate_and_write(conn, file, data, actor))
}

/// Imports through a running service: writes off the worker threads, then drops the cached
/// entity slices so that the next decision on this process sees the change.
pub async fn apply(state: &AppState, file: &str, data: ImportFile) -> Result<Summary, ImportError> {
    let name = file.to_string();
    let summary = state
        .db
        .run(move |conn| import(conn, &name, &data, "system"))
        .await?;
    if summary.changes() > 0 {
        state.cache.invalidate_all();
    }
    Ok(summary)
}

/// Like [`import`], but rolls everything back: reports what an import would change.
pub fn dry_run(
    conn: &mut DbConnection,
    file: &str,
    data: &ImportFile,
) -> Result<Summary, ImportError> {
    let outcome = crate::db::write_transaction(conn, |conn| {
        let summary = validate_and_write(conn, file, data, "dry-run")?;
        Err::<(), _>(ImportError::RolledBack(summary))
    });
    match outcome {
        Err(ImportError::RolledBack(summary)) => Ok(summary),
        Err(other) => Err(other),
        Ok(()) => Ok(Summary::default()),
    }
}

fn validate_and_write(
    conn: &mut DbConnection,
    file: &str,
    data: &ImportFile,
    actor: &str,
) -> Result<Summary, ImportError> {
    let known = validate::Known::load(conn)?;
    let issues = validate::validate(data, &known);
    if !issues.is_empty() {
        return Err(ImportError::Invalid {
            file: file.into(),
            issues,
        });
    }
    let mut log = write::ChangeLog::default();
    let summary = write::write(conn, data, crate::db::now(), &mut log)?;
    for event in &mut log.events {
        event.actor = actor.to_string();
        event.reason = Some(format!("import of {file}"));
    }
    events::append(conn, &log.events)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_is_a_parse_error_with_a_location() {
        let err = parse(
            "x.yaml",
            "tenants:\n  - id: a\n    name: A\n    colour: red\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("x.yaml: "), "{text}");
        assert!(text.contains("unknown field `colour`"), "{text}");
        assert!(text.contains("line 4"), "{text}");
    }
}
