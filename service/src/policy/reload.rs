//! Activating a new bundle while serving: read and validate the files, record the version and
//! its activation, then swap the active bundle atomically.
//!
//! A decision loads the active bundle once and is evaluated wholly under it, so a swap never
//! mixes two versions in one answer. A bundle that fails validation is refused: the previous
//! one keeps serving, the failure is logged, counted (`licet_policy_reloads_total{result=
//! "failed"}`) and shown in `/readyz` until a later reload succeeds. No cache holds anything
//! derived from a bundle (the entity caches hold data only), so nothing stale survives a swap.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use super::versions::{self, Activation};
use super::{BundleError, BundleSource};
use crate::config::Config;
use crate::db::DbError;
use crate::state::AppState;

/// The last failed reload, shown in `/readyz` until a reload succeeds.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadFailure {
    pub at: String,
    pub how: String,
    pub problems: Vec<String>,
}

/// What a successful reload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ReloadOutcome {
    Activated { previous: String, version: String },
    Unchanged { version: String },
}

/// Why a reload activated nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the policy bundle was refused:\n{0}")]
    Invalid(BundleError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the policy reload task failed: {0}")]
    Task(String),
}

/// Reads the files the configuration names (or the built-in bundle).
pub fn read_source(config: &Config) -> Result<BundleSource, BundleError> {
    match (&config.policies.dir, &config.policies.schema) {
        (Some(dir), Some(schema)) => BundleSource::from_dir(dir, schema),
        _ => Ok(BundleSource::embedded()),
    }
}

/// The git commit of the configured files, when they come from a git checkout.
pub fn git_commit(config: &Config) -> Option<String> {
    match (&config.policies.dir, &config.policies.schema) {
        (Some(dir), Some(schema)) => versions::git_commit(&[dir, schema]),
        _ => None,
    }
}

/// Who asks for a reload when the process does it itself.
pub fn by_system(how: &str) -> Activation {
    Activation {
        actor: "system".into(),
        how: how.into(),
        git_commit: None,
        request_id: None,
        reason: None,
        ticket: None,
    }
}

/// Reads, validates and activates the configured bundle; `by` is recorded with the activation
/// (the git commit is read here). Reloads are serialised; a reload of the active version
/// changes nothing.
pub async fn reload(state: &AppState, by: Activation) -> Result<ReloadOutcome, ReloadError> {
    let (actor, how) = (by.actor.as_str(), by.how.as_str());
    let _one_at_a_time = state.reload_lock.lock().await;
    let config = state.config.clone();
    let compiled = actix_web::rt::task::spawn_blocking(move || {
        let bundle = read_source(&config).and_then(crate::decision::fit::compile_checked)?;
        Ok::<_, BundleError>((bundle, git_commit(&config)))
    })
    .await
    .map_err(|e| ReloadError::Task(e.to_string()))?;

    let (bundle, git_commit) = match compiled {
        Ok(ok) => ok,
        Err(err) => {
            let problems: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
            tracing::warn!(
                how,
                actor,
                problems = %problems.join("; "),
                "policy reload refused; the previous bundle keeps serving"
            );
            state.metrics.policy_reload("failed");
            if let Ok(mut last) = state.reload_failure.lock() {
                *last = Some(ReloadFailure {
                    at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    how: how.into(),
                    problems,
                });
            }
            return Err(ReloadError::Invalid(err));
        }
    };

    let current = state.policies.load_full();
    if current.version == bundle.version {
        state.metrics.policy_reload("unchanged");
        clear_failure(state);
        return Ok(ReloadOutcome::Unchanged {
            version: bundle.version,
        });
    }

    let activation = Activation {
        git_commit,
        ..by.clone()
    };
    let source = bundle.source.clone();
    let recorded = state
        .db
        .run(move |conn| versions::record_activation(conn, &source, &activation))
        .await;
    if let Err(err) = recorded {
        // Nothing is activated that auditors could not find later.
        tracing::error!(error = %err, how, actor, "cannot record the new policy version; the previous bundle keeps serving");
        state.metrics.policy_reload("failed");
        return Err(err.into());
    }

    for warning in &bundle.warnings {
        tracing::warn!(warning = %warning, "policy validation warning");
    }
    let version = bundle.version.clone();
    state.policies.store(Arc::new(bundle));
    state.metrics.set_policy_version(&version);
    state.metrics.policy_reload("activated");
    clear_failure(state);
    tracing::info!(
        previous = %current.version,
        version = %version,
        actor,
        how,
        "policy bundle activated"
    );
    Ok(ReloadOutcome::Activated {
        previous: current.version.clone(),
        version,
    })
}

fn clear_failure(state: &AppState) {
    if let Ok(mut last) = state.reload_failure.lock() {
        *last = None;
    }
}

/// Reloads on SIGHUP, until the process stops.
pub async fn on_sighup(state: actix_web::web::Data<AppState>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload policies through the admin API");
        return;
    };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP received: reloading policies");
        // A refused bundle is logged and counted inside `reload`.
        let _ = reload(&state, by_system("signal")).await;
    }
}

/// Reloads when the files change, checking every `every`. A version that failed once is not
/// tried again until the files change again.
pub async fn watch(state: actix_web::web::Data<AppState>, every: Duration) {
    let mut refused: Option<String> = None;
    let mut ticker = actix_web::rt::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let config = state.config.clone();
        let seen = actix_web::rt::task::spawn_blocking(move || {
            read_source(&config).map(|s| s.version()).ok()
        })
        .await
        .ok()
        .flatten();
        let Some(seen) = seen else { continue };
        if seen == state.policies.load().version {
            // The files are back to the active version: a refusal seen before is over.
            refused = None;
            clear_failure(&state);
            continue;
        }
        if refused.as_deref() == Some(seen.as_str()) {
            continue;
        }
        tracing::info!(version = %seen, "policy files changed: reloading");
        refused = match reload(&state, by_system("watch")).await {
            Ok(_) => None,
            Err(ReloadError::Invalid(_)) => Some(seen),
            Err(_) => None,
        };
    }
}
