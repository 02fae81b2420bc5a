//! What every request handler shares.

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::db::Database;
use crate::decision::slice::EntityCache;
use crate::metrics::Metrics;
use crate::policy::PolicyBundle;
use crate::signing::Signer;

/// Shared application state, built once at start.
pub struct AppState {
    pub config: Config,
    pub db: Database,
    /// The active bundle. A decision loads it once and is evaluated wholly under it.
    pub policies: ArcSwap<PolicyBundle>,
    pub signer: Signer,
    pub cache: EntityCache,
    pub metrics: Metrics,
}
