//! One struct owns the Prometheus registry and every metric licet exports.
//!
//! Labels are bounded: route templates (never raw paths), status codes, decision outcomes,
//! cache names, signer backends, key ids (one per key version) and failure causes.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use crate::signing::{SignError, Signed};

/// Histogram buckets (seconds) that resolve a p99 between 1 and 50 ms.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03,
    0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Every metric, cheap to clone (the handles share their state).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    decision_duration: HistogramVec,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    sign_duration: HistogramVec,
    sign_calls: IntCounterVec,
    sign_errors: IntCounterVec,
    sign_batch: HistogramVec,
    cache_lookups: IntCounterVec,
    cache_entries: IntGauge,
    db_connections: IntGaugeVec,
    policy_info: IntGaugeVec,
    policy_reloads: IntCounterVec,
    decision_log_written: IntCounter,
    decision_log_dropped: IntCounterVec,
    decision_log_queue: IntGauge,
    tenant_decisions: IntCounterVec,
    activations: IntCounterVec,
    db_pool_wait: prometheus::Histogram,
    ready: IntGaugeVec,
    /// Tenants that get their own label value; every other tenant counts as `other`.
    tenant_labels: std::sync::Arc<std::collections::HashSet<String>>,
}

impl Metrics {
    /// Builds the registry. Fails only if two metrics share a name, a programming error.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                labels,
            )
        };
        let metrics = Self {
            decision_duration: histogram(
                "licet_decision_duration_seconds",
                "Time to answer a decision, from validated request to signed token, by outcome",
                &["decision"],
            )?,
            http_requests: IntCounterVec::new(
                Opts::new(
                    "licet_http_requests_total",
                    "HTTP requests answered, by route template and status",
                ),
                &["route", "status"],
            )?,
            http_duration: histogram(
                "licet_http_request_duration_seconds",
                "Time to answer an HTTP request, by route template",
                &["route"],
            )?,
            sign_duration: histogram(
                "licet_sign_duration_seconds",
                "Time to sign one token, by backend",
                &["backend"],
            )?,
            sign_calls: IntCounterVec::new(
                Opts::new(
                    "licet_sign_total",
                    "Tokens signed, by backend and key id (which names the key version)",
                ),
                &["backend", "kid"],
            )?,
            sign_errors: IntCounterVec::new(
                Opts::new(
                    "licet_sign_errors_total",
                    "Signing attempts that failed, by backend and cause (unreachable, timeout, denied, rejected, key, failed)",
                ),
                &["backend", "cause"],
            )?,
            sign_batch: HistogramVec::new(
                HistogramOpts::new(
                    "licet_sign_batch_size",
                    "Signatures sent to the signer backend in one call, by backend",
                )
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
                &["backend"],
            )?,
            cache_lookups: IntCounterVec::new(
                Opts::new(
                    "licet_cache_lookups_total",
                    "Entity cache lookups, by cache and result (hit or miss)",
                ),
                &["cache", "result"],
            )?,
            cache_entries: IntGauge::new(
                "licet_cache_entries",
                "Entries held in the entity caches",
            )?,
            db_connections: IntGaugeVec::new(
                Opts::new(
                    "licet_db_pool_connections",
                    "Database pool connections, by state (in_use or idle)",
                ),
                &["state"],
            )?,
            policy_info: IntGaugeVec::new(
                Opts::new(
                    "licet_policy_info",
                    "The active policy bundle version (value 1)",
                ),
                &["version"],
            )?,
            policy_reloads: IntCounterVec::new(
                Opts::new(
                    "licet_policy_reloads_total",
                    "Policy reload attempts, by result (activated, unchanged or failed)",
                ),
                &["result"],
            )?,
            decision_log_written: IntCounter::new(
                "licet_decision_log_written_total",
                "Decisions written to the decision log",
            )?,
            decision_log_dropped: IntCounterVec::new(
                Opts::new(
                    "licet_decision_log_dropped_total",
                    "Decisions not written to the decision log, by cause (queue_full, write_failed or closed)",
                ),
                &["cause"],
            )?,
            decision_log_queue: IntGauge::new(
                "licet_decision_log_queue_depth",
                "Decisions waiting to be written to the decision log",
            )?,
            tenant_decisions: IntCounterVec::new(
                Opts::new(
                    "licet_tenant_decisions_total",
                    "Decisions by tenant (the configured `metrics.tenant_labels`; every other tenant is `other`) and outcome",
                ),
                &["tenant", "decision"],
            )?,
            activations: IntCounterVec::new(
                Opts::new(
                    "licet_activations_total",
                    "Licence-file requests by kind (online, offline, refresh) and outcome (issued, or the problem code of a refusal)",
                ),
                &["kind", "outcome"],
            )?,
            ready: IntGaugeVec::new(
                Opts::new(
                    "licet_ready",
                    "1 when the readiness check passes, 0 when it fails, by check (database, policies, signer), as measured at this scrape; /readyz answers 503 when any is 0",
                ),
                &["check"],
            )?,
            db_pool_wait: prometheus::Histogram::with_opts(
                HistogramOpts::new(
                    "licet_db_pool_wait_seconds",
                    "Time spent waiting for a pooled database connection",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )?,
            tenant_labels: std::sync::Arc::default(),
            registry,
        };
        let r = &metrics.registry;
        r.register(Box::new(metrics.decision_duration.clone()))?;
        r.register(Box::new(metrics.http_requests.clone()))?;
        r.register(Box::new(metrics.http_duration.clone()))?;
        r.register(Box::new(metrics.sign_duration.clone()))?;
        r.register(Box::new(metrics.sign_calls.clone()))?;
        r.register(Box::new(metrics.sign_errors.clone()))?;
        r.register(Box::new(metrics.sign_batch.clone()))?;
        r.register(Box::new(metrics.cache_lookups.clone()))?;
        r.register(Box::new(metrics.cache_entries.clone()))?;
        r.register(Box::new(metrics.db_connections.clone()))?;
        r.register(Box::new(metrics.policy_info.clone()))?;
        r.register(Box::new(metrics.policy_reloads.clone()))?;
        r.register(Box::new(metrics.decision_log_written.clone()))?;
        r.register(Box::new(metrics.decision_log_dropped.clone()))?;
        r.register(Box::new(metrics.decision_log_queue.clone()))?;
        r.register(Box::new(metrics.tenant_decisions.clone()))?;
        r.register(Box::new(metrics.activations.clone()))?;
        r.register(Box::new(metrics.db_pool_wait.clone()))?;
        r.register(Box::new(metrics.ready.clone()))?;
        // CPU seconds, resident memory, open file descriptors, start time (Linux only).
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        for result in ["activated", "unchanged", "failed"] {
            metrics.policy_reloads.with_label_values(&[result]);
        }
        for cause in ["queue_full", "write_failed", "closed"] {
            metrics.decision_log_dropped.with_label_values(&[cause]);
        }
        Ok(metrics)
    }

    pub fn observe_decision(&self, decision: &str, elapsed: Duration) {
        self.decision_duration
            .with_label_values(&[decision])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a licence-file request: `outcome` is `issued` or a refusal's problem code, a
    /// bounded set of constants.
    pub fn observe_activation(&self, kind: &str, outcome: &str) {
        self.activations.with_label_values(&[kind, outcome]).inc();
    }

    pub fn observe_request(&self, route: &str, status: u16, elapsed: Duration) {
        self.http_requests
            .with_label_values(&[route, &status.to_string()])
            .inc();
        self.http_duration
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
    }

    /// Makes the signing series of `backend` visible at zero before its first use.
    pub fn register_signer(&self, backend: &str) {
        self.sign_duration.with_label_values(&[backend]);
        for cause in [
            "unreachable",
            "timeout",
            "denied",
            "rejected",
            "key",
            "failed",
        ] {
            self.sign_errors.with_label_values(&[backend, cause]);
        }
    }

    /// Records a signature: its duration and key, or the cause of its failure.
    pub fn observe_signing(&self, backend: &str, signed: &Result<Signed, SignError>) {
        match signed {
            Ok(signed) => {
                self.sign_duration
                    .with_label_values(&[backend])
                    .observe(signed.elapsed.as_secs_f64());
                self.sign_calls
                    .with_label_values(&[backend, &signed.kid])
                    .inc();
            }
            Err(err) => self.sign_failed(backend, err.cause()),
        }
    }

    /// Counts a failed signing attempt.
    pub fn sign_failed(&self, backend: &str, cause: &str) {
        self.sign_errors.with_label_values(&[backend, cause]).inc();
    }

    /// Records how many signatures went to the backend in one call.
    pub fn observe_sign_batch(&self, backend: &str, size: usize) {
        self.sign_batch
            .with_label_values(&[backend])
            .observe(size as f64);
    }

    pub fn cache_lookup(&self, cache: &str, hit: bool) {
        self.cache_lookups
            .with_label_values(&[cache, if hit { "hit" } else { "miss" }])
            .inc();
    }

    /// Sets the gauges that are read at scrape time.
    pub fn set_gauges(&self, cache_entries: u64, pool_in_use: u32, pool_idle: u32) {
        self.cache_entries
            .set(i64::try_from(cache_entries).unwrap_or(i64::MAX));
        self.db_connections
            .with_label_values(&["in_use"])
            .set(i64::from(pool_in_use));
        self.db_connections
            .with_label_values(&["idle"])
            .set(i64::from(pool_idle));
    }

    /// Marks `version` as the active policy bundle.
    pub fn set_policy_version(&self, version: &str) {
        self.policy_info.reset();
        self.policy_info.with_label_values(&[version]).set(1);
    }

    /// Gives each of `tenants` its own label value in per-tenant metrics.
    pub fn with_tenant_labels(mut self, tenants: &[String]) -> Self {
        self.tenant_labels = std::sync::Arc::new(tenants.iter().cloned().collect());
        self
    }

    /// Counts a decision for its tenant, or for `other` when the tenant has no label of its own.
    pub fn observe_tenant_decision(&self, tenant: &str, decision: &str) {
        let label = if self.tenant_labels.contains(tenant) {
            tenant
        } else {
            "other"
        };
        self.tenant_decisions
            .with_label_values(&[label, decision])
            .inc();
    }

    /// The histogram of waits for a pooled connection, for the database handle to fill.
    pub fn db_pool_wait(&self) -> prometheus::Histogram {
        self.db_pool_wait.clone()
    }

    /// Counts a policy reload attempt by its result.
    pub fn policy_reload(&self, result: &str) {
        self.policy_reloads.with_label_values(&[result]).inc();
    }

    pub fn decision_log_written(&self, count: usize) {
        self.decision_log_written
            .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }

    pub fn decision_log_dropped(&self, cause: &str, count: usize) {
        self.decision_log_dropped
            .with_label_values(&[cause])
            .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }

    /// Records whether one readiness check passed.
    pub fn set_ready(&self, check: &str, ok: bool) {
        self.ready.with_label_values(&[check]).set(i64::from(ok));
    }

    pub fn set_decision_log_queue(&self, depth: usize) {
        self.decision_log_queue
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(err) = encoder.encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %err, "cannot encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}
