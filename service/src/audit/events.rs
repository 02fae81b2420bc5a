//! Audit events: every change made through licet, in an append-only hash chain.
//!
//! Each event's `hash` is the SHA-256 of its own fields and the `hash` of the event before it
//! (`prev_hash`; the first event links to [`GENESIS`]). Changing, inserting or removing a row
//! in the middle breaks the chain at that row, which [`verify`] names. The database refuses
//! UPDATE and DELETE on the table (triggers on both backends), so tampering needs someone who
//! can disable triggers; the chain finds it afterwards. Removing the newest rows leaves a
//! shorter chain that still verifies: compare the head hash `licet audit verify` prints with one
//! kept elsewhere to notice that.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::db::models::AuditEventRow;
use crate::db::schema::{audit_events, licet_locks};
use crate::db::{DbConnection, DbError};

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A change about to be recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewEvent {
    /// Who made the change: an API token's name, `cli:<user>`, or the process for automatic
    /// changes.
    pub actor: String,
    /// The tenant the changed object belongs to; `None` for global objects.
    pub tenant: Option<String>,
    /// What was done, such as `import.create` or `policy.activate`.
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// Why, in the actor's words, when given.
    pub reason: Option<String>,
    /// A ticket or change reference, when given.
    pub ticket: Option<String>,
    pub request_id: Option<String>,
}

/// A stored event as the API and the export show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub seq: i64,
    pub id: String,
    pub occurred_at: String,
    pub actor: String,
    pub tenant: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub reason: Option<String>,
    pub ticket: Option<String>,
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditEventRow> for Event {
    fn from(row: AuditEventRow) -> Self {
        let parse = |text: Option<String>| {
            text.map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t)))
        };
        Self {
            seq: row.seq,
            id: row.id,
            occurred_at: timestamp(&row.occurred_at),
            actor: row.actor,
            tenant: row.tenant_id,
            action: row.action,
            object_type: row.object_type,
            object_id: row.object_id,
            before: parse(row.before_state),
            after: parse(row.after_state),
            reason: row.reason,
            ticket: row.ticket,
            request_id: row.request_id,
            prev_hash: row.prev_hash,
            hash: row.hash,
        }
    }
}

/// RFC 3339 with microseconds, the precision both backends keep.
pub fn timestamp(time: &NaiveDateTime) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The hash of a row: SHA-256 over a JSON array of its fields in a fixed order, as stored
/// (`seq` and `hash` excluded).
fn hash_of(row: &AuditEventRow) -> String {
    let fields = serde_json::json!([
        row.id,
        timestamp(&row.occurred_at),
        row.actor,
        row.tenant_id,
        row.action,
        row.object_type,
        row.object_id,
        row.before_state,
        row.after_state,
        row.reason,
        row.ticket,
        row.request_id,
        row.prev_hash,
    ]);
    hex::encode(Sha256::digest(fields.to_string().as_bytes()))
}

/// Appends `events` to the chain inside the caller's transaction.
///
/// The caller must be inside a transaction: the append first takes the `audit` row lock, so
/// concurrent appenders (other requests, other replicas, the command line) queue up instead of
/// forking the chain.
pub fn append(conn: &mut DbConnection, events: &[NewEvent]) -> Result<(), DbError> {
    if events.is_empty() {
        return Ok(());
    }
    lock(conn)?;
    let mut prev: String = audit_events::table
        .order(audit_events::seq.desc())
        .select(audit_events::hash)
        .first(conn)
        .optional()?
        .unwrap_or_else(|| GENESIS.to_string());
    let now = crate::db::now();
    for event in events {
        let json = |v: &Option<Value>| v.as_ref().map(Value::to_string);
        let mut row = AuditEventRow {
            seq: 0,
            id: uuid::Uuid::new_v4().to_string(),
            occurred_at: now,
            actor: event.actor.clone(),
            tenant_id: event.tenant.clone(),
            action: event.action.clone(),
            object_type: event.object_type.clone(),
            object_id: event.object_id.clone(),
            before_state: json(&event.before),
            after_state: json(&event.after),
            reason: event.reason.clone(),
            ticket: event.ticket.clone(),
            request_id: event.request_id.clone(),
            prev_hash: prev,
            hash: String::new(),
        };
        row.hash = hash_of(&row);
        prev = row.hash.clone();
        diesel::insert_into(audit_events::table)
            .values(&row)
            .execute(conn)?;
    }
    Ok(())
}

/// Takes the `audit` row lock until the end of the caller's transaction. Appenders serialise
/// on it on both backends (a row lock on PostgreSQL, the write lock on SQLite).
pub fn lock(conn: &mut DbConnection) -> Result<(), DbError> {
    diesel::update(licet_locks::table.find("audit"))
        .set(licet_locks::name.eq("audit"))
        .execute(conn)?;
    Ok(())
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every link holds. `head` is the hash of the newest event (GENESIS when empty).
    Intact { events: u64, head: String },
    /// The first event whose link does not hold, and why.
    Broken {
        seq: i64,
        id: String,
        problem: String,
        checked: u64,
    },
}

/// Walks the whole chain, oldest first, in pages.
pub fn verify(conn: &mut DbConnection) -> Result<Verification, DbError> {
    const PAGE: i64 = 1000;
    let mut prev = GENESIS.to_string();
    let mut after = i64::MIN;
    let mut checked = 0u64;
    loop {
        let rows: Vec<AuditEventRow> = audit_events::table
            .filter(audit_events::seq.gt(after))
            .order(audit_events::seq.asc())
            .limit(PAGE)
            .select(AuditEventRow::as_select())
            .load(conn)?;
        let Some(last) = rows.last() else {
            return Ok(Verification::Intact {
                events: checked,
                head: prev,
            });
        };
        after = last.seq;
        for row in rows {
            let broken = |problem: String| Verification::Broken {
                seq: row.seq,
                id: row.id.clone(),
                problem,
                checked,
            };
            if row.prev_hash != prev {
                return Ok(broken(format!(
                    "its prev_hash {} is not the hash of the event before it ({prev}): an event was removed or inserted before it",
                    short(&row.prev_hash),
                )));
            }
            let expected = hash_of(&row);
            if row.hash != expected {
                return Ok(broken(format!(
                    "its content does not match its hash (stored {}, computed {}): the row was changed",
                    short(&row.hash),
                    short(&expected),
                )));
            }
            prev = row.hash;
            checked += 1;
        }
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(16)]
}

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub tenant: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only events with a larger sequence number (paging).
    pub after_seq: Option<i64>,
    pub limit: i64,
}

/// Events matching `filter`, oldest first.
pub fn list(conn: &mut DbConnection, filter: &EventFilter) -> Result<Vec<Event>, DbError> {
    let mut query = audit_events::table
        .order(audit_events::seq.asc())
        .limit(filter.limit)
        .select(AuditEventRow::as_select())
        .into_boxed();
    if let Some(tenant) = &filter.tenant {
        query = query.filter(audit_events::tenant_id.eq(tenant.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_events::occurred_at.ge(since.naive_utc()));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_events::occurred_at.lt(until.naive_utc()));
    }
    if let Some(after) = filter.after_seq {
        query = query.filter(audit_events::seq.gt(after));
    }
    let rows = query.load(conn)?;
    Ok(rows.into_iter().map(Event::from).collect())
}
