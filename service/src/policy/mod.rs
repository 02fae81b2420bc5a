//! Policy bundles: the Cedar schema plus every policy file, loaded, validated strictly and
//! identified by the SHA-256 of their canonical form.
//!
//! Evaluation of requests lives in `decision`; this module knows policies and runs their test
//! suites ([`suite`]) through that evaluation.

mod bundle;
pub mod impact;
pub mod reload;
mod source;
pub mod suite;
pub mod versions;

pub use bundle::{BundleError, PolicyBundle, PolicyMeta};
pub use source::{BundleFile, BundleSource};

/// The reason given for a deny that no `forbid` policy explains.
pub const NOT_ENTITLED: &str = "NOT_ENTITLED";
