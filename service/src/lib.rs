//! licet: a license server whose every answer comes from a Cedar policy engine.
//!
//! Installed software asks whether a principal may use a feature of a product, at a version,
//! in an environment, now; licet answers allow or deny with the reasons, signed as a JWS that
//! the client verifies offline. See `docs/ARCHITECTURE.md` for the map of this crate.

pub mod api;
pub mod audit;
pub mod backup;
pub mod cli;
pub mod config;
pub mod db;
pub mod decision;
pub mod error;
pub mod identity;
pub mod licensing;
pub mod metrics;
pub mod policy;
pub mod signing;
pub mod startup;
pub mod state;
pub mod telemetry;
