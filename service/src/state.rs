//! What every request handler shares.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::audit::DecisionLog;
use crate::config::Config;
use crate::db::Database;
use crate::decision::slice::EntityCache;
use crate::metrics::Metrics;
use crate::policy::PolicyBundle;
use crate::policy::reload::ReloadFailure;
use crate::signing::Signer;

/// Shared application state, built once at start.
pub struct AppState {
    pub config: Config,
    pub db: Database,
    /// The active bundle. A decision loads it once and is evaluated wholly under it.
    pub policies: ArcSwap<PolicyBundle>,
    /// Held while a reload reads, records and swaps a bundle: reloads never interleave.
    pub reload_lock: tokio::sync::Mutex<()>,
    /// The last refused reload, until a reload succeeds.
    pub reload_failure: Mutex<Option<ReloadFailure>>,
    /// Stored bundles compiled for replays, by version.
    pub stored_bundles: moka::sync::Cache<String, Arc<PolicyBundle>>,
    pub signer: Signer,
    pub cache: EntityCache,
    pub decision_log: DecisionLog,
    pub metrics: Metrics,
    /// Activation and licence-file attempts per licence key.
    pub key_limiter: crate::licensing::limits::KeyLimiter,
}
