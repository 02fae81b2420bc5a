//! Building the application from a configuration: policies, database, signer, caches, and the
//! HTTP server bound to its listener (port 0 picks a free port, as tests do).

use std::net::TcpListener;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use arc_swap::ArcSwap;

use crate::api;
use crate::audit::DecisionLog;
use crate::config::Config;
use crate::db::{Database, connection_redacted, migrate};
use crate::decision::fit;
use crate::decision::slice::EntityCache;
use crate::metrics::Metrics;
use crate::policy::PolicyBundle;
use crate::policy::reload;
use crate::policy::versions::{self, Activation};
use crate::signing::Signer;
use crate::state::AppState;
use crate::telemetry;

/// A configured application, bound to its port, not yet serving.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    state: web::Data<AppState>,
}

/// Loads the policy bundle the configuration names.
pub fn load_bundle(config: &Config) -> anyhow::Result<PolicyBundle> {
    Ok(fit::compile_checked(reload::read_source(config)?)?)
}

/// Opens the database the configuration names and applies pending migrations when asked to.
pub fn open_database(config: &Config) -> anyhow::Result<Database> {
    if config.database.url.is_none() {
        prepare_data_dir(&config.server.data_dir)?;
    }
    let url = config.database_url();
    let timeout = Duration::from_secs(config.database.pool_timeout_seconds);
    let db = Database::connect(&url, config.database.pool_size, timeout)
        .with_context(|| format!("cannot open database `{}`", connection_redacted(&url)))?;
    if config.database.migrate_on_start {
        let mut conn = db.conn()?;
        let applied = migrate::run_pending(&mut conn)
            .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "applied database migrations");
        }
    }
    Ok(db)
}

/// Opens a database that must already exist and be migrated, for tools that only read it
/// (`licet audit`, `licet policy impact`): a mistyped path is an error, not a new empty
/// database.
pub fn open_existing_database(config: &Config) -> anyhow::Result<Database> {
    let url = config.database_url();
    let file = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"));
    if let Some(path) = file
        && !std::path::Path::new(path).is_file()
    {
        anyhow::bail!(
            "there is no database at `{path}`; check `database.url` or `server.data_dir`"
        );
    }
    let timeout = Duration::from_secs(config.database.pool_timeout_seconds);
    let db = Database::connect(&url, 1, timeout)
        .with_context(|| format!("cannot open database `{}`", connection_redacted(&url)))?;
    let pending = migrate::pending(&mut *db.conn()?).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !pending.is_empty() {
        anyhow::bail!(
            "the database lacks {} migration(s) this version needs; run `licet migrate` first",
            pending.len()
        );
    }
    Ok(db)
}

/// Creates the data directory, readable by its owner only, when it does not exist yet.
pub fn prepare_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).with_context(|| {
        format!(
            "cannot create the data directory `{}` (`server.data_dir`)",
            dir.display()
        )
    })
}

/// Builds the shared state: everything but the HTTP server.
pub fn build_state(config: Config) -> anyhow::Result<AppState> {
    let bundle = load_bundle(&config)?;
    prepare_data_dir(&config.server.data_dir)?;
    for warning in &bundle.warnings {
        tracing::warn!(warning = %warning, "policy validation warning");
    }
    tracing::info!(version = %bundle.version, policies = bundle.meta.len(), "policy bundle loaded");

    let db = open_database(&config)?;
    let activation = Activation {
        actor: "system".into(),
        how: "start".into(),
        git_commit: reload::git_commit(&config),
        request_id: None,
        reason: None,
        ticket: None,
    };
    let recorded = versions::record_activation(&mut *db.conn()?, &bundle.source, &activation)
        .context("cannot record the active policy version in the database")?;
    if recorded {
        tracing::info!(version = %bundle.version, "policy version activated and recorded");
    }
    let metrics = Metrics::new()?.with_tenant_labels(&config.metrics.tenant_labels);
    let db = db.with_wait_metric(metrics.db_pool_wait());
    metrics.set_policy_version(&bundle.version);
    let signer =
        Signer::open(&config, &metrics).with_context(|| match config.signing.backend.as_str() {
            "local" => "cannot load the local signing key (`signing.key_file`)".to_string(),
            _ => format!(
                "cannot use the Vault transit key (`signing.vault`) at `{}`",
                config.signing.vault.address
            ),
        })?;
    tracing::info!(
        backend = signer.backend(),
        kid = signer.kid(),
        "signer ready"
    );
    metrics.register_signer(signer.backend());
    let cache = EntityCache::new(
        Duration::from_secs(config.cache.ttl_seconds),
        config.cache.max_entries,
        metrics.clone(),
    );
    let decision_log = DecisionLog::new(
        config.decision_log.enabled,
        config.decision_log.queue_capacity,
        config.decision_log.batch_size,
        db.clone(),
        metrics.clone(),
    );
    let key_limiter = crate::licensing::limits::KeyLimiter::new(&config.activation);
    Ok(AppState {
        key_limiter,
        config,
        db,
        policies: ArcSwap::from_pointee(bundle),
        reload_lock: tokio::sync::Mutex::new(()),
        reload_failure: std::sync::Mutex::new(None),
        stored_bundles: moka::sync::Cache::new(16),
        signer,
        cache,
        decision_log,
        metrics,
    })
}

impl Application {
    /// Builds the state and binds `server.bind`.
    pub fn build(config: Config) -> anyhow::Result<Self> {
        let bind = config.server.bind.clone();
        let state = web::Data::new(build_state(config)?);
        let listener = TcpListener::bind(&bind)
            .with_context(|| format!("cannot listen on `{bind}` (`server.bind`)"))?;
        Self::serve(state, listener)
    }

    /// Serves `state` on an already bound listener.
    pub fn serve(state: web::Data<AppState>, listener: TcpListener) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let limit = state.config.server.body_limit_bytes;
        let shared = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .wrap(from_fn(telemetry::access_log))
                .configure(|cfg| api::configure(cfg, limit))
                .default_service(web::to(api::not_found))
        })
        .shutdown_timeout(state.config.server.shutdown_timeout_seconds);
        if state.config.server.workers > 0 {
            server = server.workers(state.config.server.workers);
        }
        let server = server.listen(listener)?.run();
        state.decision_log.start();
        actix_web::rt::spawn(reload::on_sighup(state.clone()));
        let watch = state.config.policies.watch_seconds;
        if watch > 0 {
            actix_web::rt::spawn(reload::watch(state.clone(), Duration::from_secs(watch)));
        }
        Ok(Self {
            port,
            server,
            state,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state, for tools and tests that act beside the server.
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGINT or SIGTERM, then drains requests in flight and writes the queued
    /// decision log entries.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        tracing::info!(port = self.port, "licet is serving");
        let served = self.server.await;
        let timeout = Duration::from_secs(self.state.config.server.shutdown_timeout_seconds.max(1));
        self.state.decision_log.flush_and_stop(timeout).await;
        tracing::info!("licet stopped");
        served
    }
}
