//! Changes to the commercial data one record at a time, as the admin API makes them: tenants,
//! products and features, users, entitlements, seat assignments, and the changes that wait for a
//! second admin ([`changes`]).
//!
//! Validation and writing are the import's ([`crate::licensing::import`]), called per record,
//! so a record the API accepts is one an import file would accept too. Every function here runs
//! inside the caller's write transaction and appends its audit events there; HTTP lives in
//! `api/`.

pub mod changes;
pub mod entitlements;
pub mod products;
pub mod seats;
pub mod tenants;
pub mod users;

use std::fmt;

use chrono::NaiveDateTime;

use crate::audit::events::{self, NewEvent};
use crate::db::{DbConnection, DbError};
use crate::licensing::import::Issue;
use crate::licensing::import::write::ChangeLog;

/// Who makes a change and why, as the audit trail records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Author {
    /// The API token's name.
    pub actor: String,
    pub reason: Option<String>,
    pub ticket: Option<String>,
    pub request_id: Option<String>,
}

impl Author {
    /// Appends `events` as made by this author.
    fn record(&self, conn: &mut DbConnection, mut events: Vec<NewEvent>) -> Result<(), DbError> {
        for event in &mut events {
            event.actor.clone_from(&self.actor);
            event.reason.clone_from(&self.reason);
            event.ticket.clone_from(&self.ticket);
            event.request_id.clone_from(&self.request_id);
        }
        events::append(conn, &events)
    }

    /// Appends what an import write logged, as made by this author.
    fn record_log(&self, conn: &mut DbConnection, log: ChangeLog) -> Result<(), DbError> {
        self.record(conn, log.events)
    }
}

/// A change log whose actions are named after the object (`tenant.update`).
fn change_log() -> ChangeLog {
    ChangeLog {
        by_object: true,
        ..ChangeLog::default()
    }
}

use crate::db::now;

/// What kind of record a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tenant,
    Product,
    Feature,
    User,
    Entitlement,
    Seat,
    Change,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Tenant => "tenant",
            Kind::Product => "product",
            Kind::Feature => "feature",
            Kind::User => "user",
            Kind::Entitlement => "entitlement",
            Kind::Seat => "seat",
            Kind::Change => "change",
        })
    }
}

/// Why a change was refused or failed. Nothing is written in any case.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("{kind} `{id}` does not exist")]
    NotFound { kind: Kind, id: String },
    #[error("{kind} `{id}` already exists")]
    Exists { kind: Kind, id: String },
    #[error("{} problem(s) found, nothing was written", .0.len())]
    Invalid(Vec<Issue>),
    #[error("all {seats} seat(s) of entitlement `{entitlement}` are assigned; release one first")]
    SeatLimit { entitlement: String, seats: i64 },
    #[error("token `{0}` requested this change; another admin must approve it")]
    SelfApproval(String),
    #[error("change `{id}` was already {status}")]
    Decided { id: String, status: String },
    #[error(
        "{kind} `{id}` changed after this change was requested; reject it and request the change again"
    )]
    Outdated { kind: Kind, id: String },
    /// Another writer created the same record at the same moment.
    #[error("the record was changed by another request at the same time; retry")]
    Conflict,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ManageError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => ManageError::Conflict,
            other => ManageError::Db(other.into()),
        }
    }
}

impl ManageError {
    fn not_found(kind: Kind, id: &str) -> Self {
        ManageError::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    fn exists(kind: Kind, id: &str) -> Self {
        ManageError::Exists {
            kind,
            id: id.to_string(),
        }
    }

    /// Refuses when `issues` is not empty.
    fn check(issues: Vec<Issue>) -> Result<(), Self> {
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ManageError::Invalid(issues))
        }
    }
}

/// A page of a list: at most `limit` items after the key `after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub after: Option<String>,
    pub limit: i64,
}

/// RFC 3339 in UTC with seconds, as answers show times.
pub fn rfc3339(time: &NaiveDateTime) -> String {
    time.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
