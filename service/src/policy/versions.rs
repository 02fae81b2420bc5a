//! Stored policy versions: every bundle ever activated, whole, with each activation (when, by
//! whom, how, from which git commit). Activations are audit events too.

use std::path::Path;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::{BundleFile, BundleSource};
use crate::audit::events::{self, NewEvent};
use crate::db::models::{NewPolicyActivation, PolicyActivation, PolicyVersionRow};
use crate::db::schema::{policy_activations, policy_versions};
use crate::db::{DbConnection, DbError};

/// Who activated a bundle and how.
#[derive(Debug, Clone)]
pub struct Activation {
    /// An API token's name, or `system` for activations the process makes itself.
    pub actor: String,
    /// `start`, `api`, `signal` or `watch`.
    pub how: String,
    /// The commit of the git checkout the files came from; `-dirty` when they differ from it.
    pub git_commit: Option<String>,
    pub request_id: Option<String>,
    pub reason: Option<String>,
    pub ticket: Option<String>,
}

/// One activation as auditors see it.
#[derive(Debug, Clone, Serialize)]
pub struct ActivationView {
    pub version: String,
    pub activated_at: String,
    pub activated_by: String,
    pub how: String,
    pub git_commit: Option<String>,
}

impl From<PolicyActivation> for ActivationView {
    fn from(row: PolicyActivation) -> Self {
        Self {
            version: row.version,
            activated_at: rfc3339(row.activated_at),
            activated_by: row.activated_by,
            how: row.source,
            git_commit: row.git_commit,
        }
    }
}

/// A stored version with its activations, newest activation first.
#[derive(Debug, Clone, Serialize)]
pub struct VersionView {
    pub version: String,
    pub stored_at: String,
    pub activations: Vec<ActivationView>,
}

fn rfc3339(time: NaiveDateTime) -> String {
    DateTime::<Utc>::from_naive_utc_and_offset(time, Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Stores `source` when new and records its activation, unless it is already the version most
/// recently activated (a restart, or a second replica starting on the same files). Runs in one
/// transaction with the audit event. Returns whether an activation was recorded.
pub fn record_activation(
    conn: &mut DbConnection,
    source: &BundleSource,
    activation: &Activation,
) -> Result<bool, DbError> {
    let version = source.version();
    crate::db::write_transaction(conn, |conn| {
        // Take the audit lock first: replicas starting together record one activation.
        events::lock(conn)?;
        let latest: Option<String> = policy_activations::table
            .order(policy_activations::id.desc())
            .select(policy_activations::version)
            .first(conn)
            .optional()?;
        if latest.as_deref() == Some(version.as_str()) {
            return Ok(false);
        }
        let now = crate::db::now();
        let stored = policy_versions::table
            .find(&version)
            .select(policy_versions::version)
            .first::<String>(conn)
            .optional()?;
        if stored.is_none() {
            let files: Vec<&BundleFile> = source.files().collect();
            diesel::insert_into(policy_versions::table)
                .values(PolicyVersionRow {
                    version: version.clone(),
                    files: serde_json::to_string(&files).unwrap_or_else(|_| "[]".into()),
                    created_at: now,
                })
                .execute(conn)?;
        }
        diesel::insert_into(policy_activations::table)
            .values(NewPolicyActivation {
                version: version.clone(),
                activated_at: now,
                activated_by: activation.actor.clone(),
                source: activation.how.clone(),
                git_commit: activation.git_commit.clone(),
            })
            .execute(conn)?;
        events::append(
            conn,
            &[NewEvent {
                actor: activation.actor.clone(),
                tenant: None,
                action: "policy.activate".into(),
                object_type: "policy_bundle".into(),
                object_id: version.clone(),
                before: latest.map(|v| json!({ "version": v })),
                after: Some(json!({
                    "version": version,
                    "how": activation.how,
                    "git_commit": activation.git_commit,
                    "files": source.files().map(|f| f.path.as_str()).collect::<Vec<_>>(),
                })),
                reason: activation.reason.clone(),
                ticket: activation.ticket.clone(),
                request_id: activation.request_id.clone(),
            }],
        )?;
        Ok(true)
    })
}

/// Every stored version with its activations, the most recently activated first.
pub fn list(conn: &mut DbConnection) -> Result<Vec<VersionView>, DbError> {
    let versions: Vec<(String, NaiveDateTime)> = policy_versions::table
        .order(policy_versions::created_at.desc())
        .select((policy_versions::version, policy_versions::created_at))
        .load(conn)?;
    let activations: Vec<PolicyActivation> = policy_activations::table
        .order(policy_activations::id.desc())
        .select(PolicyActivation::as_select())
        .load(conn)?;
    let latest = |version: &str| {
        activations
            .iter()
            .find(|a| a.version == version)
            .map_or(0, |a| a.id)
    };
    let mut versions = versions;
    versions.sort_by_key(|(version, _)| std::cmp::Reverse(latest(version)));
    Ok(versions
        .into_iter()
        .map(|(version, stored_at)| VersionView {
            activations: activations
                .iter()
                .filter(|a| a.version == version)
                .cloned()
                .map(ActivationView::from)
                .collect(),
            version,
            stored_at: rfc3339(stored_at),
        })
        .collect())
}

/// The files of a stored version, schema first.
pub fn source(conn: &mut DbConnection, version: &str) -> Result<Option<BundleSource>, DbError> {
    let files: Option<String> = policy_versions::table
        .find(version)
        .select(policy_versions::files)
        .first(conn)
        .optional()?;
    let Some(files) = files else { return Ok(None) };
    let mut files: Vec<BundleFile> = serde_json::from_str(&files).map_err(|e| {
        DbError::Query(format!(
            "stored policy version `{version}` is unreadable: {e}"
        ))
    })?;
    if files.is_empty() {
        return Err(DbError::Query(format!(
            "stored policy version `{version}` has no files"
        )));
    }
    let schema = files.remove(0);
    Ok(Some(BundleSource {
        schema,
        policies: files,
    }))
}

/// One stored version with its activations.
pub fn view(conn: &mut DbConnection, version: &str) -> Result<Option<VersionView>, DbError> {
    Ok(list(conn)?.into_iter().find(|v| v.version == version))
}

/// The git commit of the checkout holding `paths`, with `-dirty` when any of them differs
/// from it. `None` outside a git checkout or without git.
pub fn git_commit(paths: &[&Path]) -> Option<String> {
    let paths: Vec<std::path::PathBuf> =
        paths.iter().filter_map(|p| p.canonicalize().ok()).collect();
    let first = paths.first()?;
    let dir = if first.is_dir() {
        first.as_path()
    } else {
        first.parent()?
    };
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"])?;
    let mut status_args = vec!["status", "--porcelain", "--"];
    let owned: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    status_args.extend(owned.iter().map(String::as_str));
    let dirty = git(&status_args).is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let status = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .output()
            .unwrap()
            .status;
        assert!(status.success(), "git {args:?}");
    }

    #[test]
    fn git_commit_names_the_checkout_and_marks_uncommitted_changes() {
        let dir = tempfile::tempdir().unwrap();
        let policies = dir.path().join("policies");
        std::fs::create_dir(&policies).unwrap();
        let rule = policies.join("a.cedar");
        std::fs::write(&rule, "// a rule\n").unwrap();
        assert_eq!(git_commit(&[&policies]), None, "not a checkout yet");

        git(dir.path(), &["init", "-q"]);
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-q", "-m", "rules"]);
        let clean = git_commit(&[&policies]).unwrap();
        assert_eq!(clean.len(), 40);
        assert!(clean.bytes().all(|b| b.is_ascii_hexdigit()));

        std::fs::write(&rule, "// a changed rule\n").unwrap();
        assert_eq!(git_commit(&[&policies]), Some(format!("{clean}-dirty")));
    }
}
