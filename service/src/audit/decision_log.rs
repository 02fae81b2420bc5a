//! The decision log: one row per decision, written in batches off the request path.
//!
//! A decision hands its entry to a bounded queue with `try_send` and moves on; it never waits
//! for the database. One writer task takes what is queued, up to `batch_size` entries at a
//! time, and inserts them in one transaction. When the queue is full the entry is dropped and
//! counted in `licet_decision_log_dropped_total{cause="queue_full"}`; a batch the database
//! refuses after retries is counted with `cause="write_failed"`. On graceful shutdown the writer
//! drains the queue before the process exits.
//!
//! LIMITATION: a crash (SIGKILL, power loss) loses what is queued and not yet written: at most
//! `decision_log.queue_capacity` entries, and usually only the last few milliseconds of traffic.
//! The signed tokens the clients hold are unaffected.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::db::models::DecisionLogRow;
use crate::db::schema::decision_log;
use crate::db::{Database, DbConnection, DbError};
use crate::decision::slice::{EntitlementView, PrincipalView, TenantSlice};
use crate::metrics::Metrics;

/// What a decision was evaluated on, enough to evaluate it again under another bundle: the
/// tenant, the principal, the entitlements for the feature's product, and the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inputs {
    pub tenant: crate::db::models::Tenant,
    pub principal: PrincipalView,
    pub entitlements: Vec<EntitlementView>,
    pub feature: String,
    pub product: String,
    /// The product version as the policies see it (encoded).
    pub version: i64,
    pub environment: String,
    pub now: DateTime<Utc>,
}

/// One decision on its way to the log.
pub struct Entry {
    pub request_id: String,
    pub decided_at: DateTime<Utc>,
    pub tenant: Arc<TenantSlice>,
    pub principal: Arc<PrincipalView>,
    pub action: String,
    pub feature: String,
    pub product: String,
    pub product_version: String,
    pub encoded_version: i64,
    pub environment: String,
    pub decision: &'static str,
    pub reasons: Vec<String>,
    pub advice: Vec<String>,
    pub entitlement: Option<String>,
    pub policy_version: String,
    pub latency: Duration,
}

impl Entry {
    /// The row as stored. Serialising happens here, on the writer, not on the request path.
    fn into_row(self) -> DecisionLogRow {
        let inputs = Inputs {
            // Ids and terms only: the tenant's display name is not needed to replay.
            tenant: crate::db::models::Tenant {
                name: String::new(),
                ..self.tenant.tenant.clone()
            },
            principal: (*self.principal).clone(),
            entitlements: self
                .tenant
                .entitlements
                .iter()
                .filter(|e| e.row.product_id == self.product)
                .cloned()
                .collect(),
            feature: self.feature.clone(),
            product: self.product.clone(),
            version: self.encoded_version,
            environment: self.environment.clone(),
            now: self.decided_at,
        };
        DecisionLogRow {
            seq: 0,
            request_id: self.request_id,
            decided_at: self.decided_at.naive_utc(),
            tenant_id: self.tenant.tenant.id.clone(),
            principal_type: self.principal.kind.as_str().to_string(),
            principal_id: self.principal.id.clone(),
            action: self.action,
            feature_id: self.feature,
            context: json(&serde_json::json!({
                "product_version": self.product_version,
                "environment": self.environment,
            })),
            decision: self.decision.to_string(),
            reasons: json(&self.reasons),
            advice: json(&self.advice),
            entitlement_id: self.entitlement,
            policy_version: self.policy_version,
            latency_us: i64::try_from(self.latency.as_micros()).unwrap_or(i64::MAX),
            inputs: json(&inputs),
        }
    }
}

/// JSON text of plain data (string keys, no maps with other keys), which cannot fail.
fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// The sending side, held by the application state.
pub struct DecisionLog {
    sender: Option<mpsc::Sender<Entry>>,
    metrics: Metrics,
    writer: Mutex<Option<Writer>>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    stopped: Mutex<Option<oneshot::Receiver<()>>>,
    /// Unix time of the last "queue full" warning.
    last_drop_warning: AtomicI64,
}

/// The receiving side, until the server starts it.
pub struct Writer {
    receiver: mpsc::Receiver<Entry>,
    db: Database,
    metrics: Metrics,
    batch_size: usize,
    stop: oneshot::Receiver<()>,
    stopped: oneshot::Sender<()>,
}

impl DecisionLog {
    /// A log with a queue of `capacity` entries, written `batch_size` at a time. A log that is
    /// not `enabled` records nothing.
    pub fn new(
        enabled: bool,
        capacity: usize,
        batch_size: usize,
        db: Database,
        metrics: Metrics,
    ) -> Self {
        let (stop_tx, stop_rx) = oneshot::channel();
        let (stopped_tx, stopped_rx) = oneshot::channel();
        let (sender, writer) = if enabled {
            let (tx, rx) = mpsc::channel(capacity.max(1));
            let writer = Writer {
                receiver: rx,
                db,
                metrics: metrics.clone(),
                batch_size: batch_size.max(1),
                stop: stop_rx,
                stopped: stopped_tx,
            };
            (Some(tx), Some(writer))
        } else {
            (None, None)
        };
        Self {
            sender,
            metrics,
            writer: Mutex::new(writer),
            stop: Mutex::new(Some(stop_tx)),
            stopped: Mutex::new(Some(stopped_rx)),
            last_drop_warning: AtomicI64::new(0),
        }
    }

    /// Queues `entry` without waiting; a full queue drops it and counts the drop.
    pub fn record(&self, entry: Entry) {
        let Some(sender) = &self.sender else { return };
        match sender.try_send(entry) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.decision_log_dropped("queue_full", 1);
                self.warn_dropped();
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.metrics.decision_log_dropped("closed", 1);
            }
        }
    }

    /// Says in the log that entries are being dropped, at most once every ten seconds.
    fn warn_dropped(&self) {
        let now = chrono::Utc::now().timestamp();
        let last = self.last_drop_warning.load(Ordering::Relaxed);
        if now - last >= 10
            && self
                .last_drop_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                capacity = self.sender.as_ref().map_or(0, |s| s.max_capacity()),
                "the decision log queue is full: decisions are not being logged (see licet_decision_log_dropped_total)"
            );
        }
    }

    /// Entries waiting to be written.
    pub fn queued(&self) -> usize {
        self.sender
            .as_ref()
            .map_or(0, |s| s.max_capacity() - s.capacity())
    }

    /// Starts the writer on the current runtime. Only the first call starts one.
    pub fn start(&self) {
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            actix_web::rt::spawn(writer.run());
        }
    }

    /// Asks the writer to write everything queued, and waits until it has (or `timeout`).
    pub async fn flush_and_stop(&self, timeout: Duration) {
        let stop = self.stop.lock().ok().and_then(|mut s| s.take());
        let stopped = self.stopped.lock().ok().and_then(|mut s| s.take());
        let (Some(stop), Some(stopped)) = (stop, stopped) else {
            return;
        };
        if self.sender.is_none() || stop.send(()).is_err() {
            return;
        }
        if tokio::time::timeout(timeout, stopped).await.is_err() {
            tracing::warn!(
                queued = self.queued(),
                "the decision log was not flushed within the shutdown timeout"
            );
        }
    }
}

impl Writer {
    async fn run(mut self) {
        let mut stopping = false;
        loop {
            let first = if stopping {
                self.receiver.try_recv().ok()
            } else {
                tokio::select! {
                    entry = self.receiver.recv() => entry,
                    _ = &mut self.stop => {
                        stopping = true;
                        self.receiver.close();
                        continue;
                    }
                }
            };
            let Some(first) = first else { break };
            let mut batch = vec![first];
            while batch.len() < self.batch_size {
                match self.receiver.try_recv() {
                    Ok(entry) => batch.push(entry),
                    Err(_) => break,
                }
            }
            self.write(batch).await;
        }
        let _ = self.stopped.send(());
    }

    async fn write(&self, batch: Vec<Entry>) {
        let count = batch.len();
        let rows: Vec<DecisionLogRow> = batch.into_iter().map(Entry::into_row).collect();
        let rows = Arc::new(rows);
        for attempt in 0..3u32 {
            let shared = Arc::clone(&rows);
            let outcome = self
                .db
                .run(move |conn| insert(conn, &shared).map_err(DbError::from))
                .await;
            match outcome {
                Ok(()) => {
                    self.metrics.decision_log_written(count);
                    return;
                }
                Err(err) => {
                    tracing::warn!(error = %err, attempt, entries = count, "cannot write the decision log");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
        tracing::error!(
            entries = count,
            "decision log entries dropped after three failed writes"
        );
        self.metrics.decision_log_dropped("write_failed", count);
    }
}

fn insert(conn: &mut DbConnection, rows: &[DecisionLogRow]) -> QueryResult<()> {
    crate::db::write_transaction(conn, |conn| {
        // One row at a time: the multi-backend connection has no batch insert.
        for row in rows {
            diesel::insert_into(decision_log::table)
                .values(row)
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Which logged decisions to read.
#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    pub tenant: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub policy_version: Option<String>,
    pub decision: Option<String>,
    /// Only rows with a larger sequence number (paging).
    pub after_seq: Option<i64>,
    pub limit: i64,
}

/// Logged decisions matching `filter`, oldest first.
pub fn list(
    conn: &mut DbConnection,
    filter: &DecisionFilter,
) -> Result<Vec<DecisionLogRow>, DbError> {
    let mut query = decision_log::table
        .order(decision_log::seq.asc())
        .limit(filter.limit)
        .select(DecisionLogRow::as_select())
        .into_boxed();
    if let Some(tenant) = &filter.tenant {
        query = query.filter(decision_log::tenant_id.eq(tenant.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(decision_log::decided_at.ge(since.naive_utc()));
    }
    if let Some(until) = filter.until {
        query = query.filter(decision_log::decided_at.lt(until.naive_utc()));
    }
    if let Some(version) = &filter.policy_version {
        query = query.filter(decision_log::policy_version.eq(version.clone()));
    }
    if let Some(decision) = &filter.decision {
        query = query.filter(decision_log::decision.eq(decision.clone()));
    }
    if let Some(after) = filter.after_seq {
        query = query.filter(decision_log::seq.gt(after));
    }
    Ok(query.load(conn)?)
}

/// One logged decision by its sequence number.
pub fn get(conn: &mut DbConnection, seq: i64) -> Result<Option<DecisionLogRow>, DbError> {
    Ok(decision_log::table
        .find(seq)
        .select(DecisionLogRow::as_select())
        .first(conn)
        .optional()?)
}
