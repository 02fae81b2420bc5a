//! What auditors read: the append-only, hash-chained audit events of every change made
//! through licet, and the decision log of every answer given.

pub mod decision_log;
pub mod events;

pub use decision_log::DecisionLog;

/// A time range to read: from `since` (inclusive) to `until` (exclusive), each optional.
pub type Period = (
    Option<chrono::DateTime<chrono::Utc>>,
    Option<chrono::DateTime<chrono::Utc>>,
);
