//! Backups and restores of the whole database: a directory holding the data file (a SQLite
//! copy made with `VACUUM INTO`, or a `pg_dump` archive) and `manifest.json`, which says what
//! the copy holds and lets `licet restore` check it before it replaces anything.
//!
//! The restore epoch (`licet_meta.restore_epoch`) counts the restores a database has been
//! through; each restore raises it above both the backup's and the replaced database's and
//! records a `restore` audit event in the same transaction.

mod manifest;
mod postgres;
mod sqlite;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use diesel::prelude::*;

pub use manifest::{Manifest, State};

use crate::audit::events::{self, NewEvent};
use crate::config::Config;
use crate::db::schema::{audit_events, decision_log, licet_meta, policy_activations};
use crate::db::{Backend, DbConnection, DbError, migrate};
use crate::startup;

/// The name of the manifest inside a backup directory.
pub const MANIFEST: &str = "manifest.json";

/// Writes a backup of the configured database into the new directory `output`.
///
/// The directory is assembled under a temporary name beside `output` and renamed at the end,
/// so `output` either holds a complete backup or does not exist.
pub fn backup(config: &Config, output: &Path) -> anyhow::Result<Manifest> {
    if output.exists() {
        anyhow::bail!(
            "`{}` already exists; a backup never overwrites, choose a new path",
            output.display()
        );
    }
    let db = startup::open_existing_database(config)?;
    let partial = sibling(output, ".incomplete");
    std::fs::create_dir_all(&partial)
        .with_context(|| format!("cannot create `{}`", partial.display()))?;
    let written = (|| {
        let (data_file, state) = match db.backend() {
            Backend::Sqlite => sqlite::dump(&db, &partial)?,
            Backend::Postgres => postgres::dump(&db, &config.database_url(), &partial)?,
        };
        let manifest = Manifest::new(db.backend(), &partial, data_file, state)?;
        std::fs::write(partial.join(MANIFEST), manifest.to_json())?;
        std::fs::rename(&partial, output)
            .with_context(|| format!("cannot rename `{}`", partial.display()))?;
        Ok(manifest)
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    written
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    pub restore_epoch: i64,
    /// Where the replaced SQLite file was kept, if there was one.
    pub kept: Option<PathBuf>,
}

/// Replaces the configured database with the backup in `from`, after checking its manifest,
/// its checksum and that this binary knows every migration it was made with. `replace` must
/// be true when a database already exists.
pub fn restore(
    config: &Config,
    from: &Path,
    replace: bool,
    actor: &str,
) -> anyhow::Result<Restored> {
    let manifest = Manifest::read(from)?;
    let url = config.database_url();
    let backend = crate::db::ConnectionManager::new(&url)
        .map_err(|e| anyhow::anyhow!(e))?
        .backend();
    manifest.check(backend, from)?;
    match backend {
        Backend::Sqlite => sqlite::restore(config, &manifest, from, replace, actor),
        Backend::Postgres => postgres::restore(&url, &manifest, from, replace, actor),
    }
}

/// What the database holds that a backup describes.
pub(crate) fn read_state(conn: &mut DbConnection, backend: Backend) -> Result<State, DbError> {
    let migrations = migrate::applied(conn, backend).map_err(|e| DbError::Query(e.to_string()))?;
    let restore_epoch = restore_epoch(conn)?;
    let policy_version = policy_activations::table
        .order(policy_activations::id.desc())
        .select(policy_activations::version)
        .first(conn)
        .optional()?;
    let audit_events = audit_events::table.count().get_result(conn)?;
    let audit_head = audit_events::table
        .order(audit_events::seq.desc())
        .select(audit_events::hash)
        .first(conn)
        .optional()?
        .unwrap_or_else(|| events::GENESIS.to_string());
    let decision_log_entries = decision_log::table.count().get_result(conn)?;
    Ok(State {
        schema_version: migrations.last().cloned(),
        migrations,
        policy_version,
        restore_epoch,
        audit_events,
        audit_head,
        decision_log_entries,
    })
}

/// The database's restore epoch: 0 until its first restore.
pub fn restore_epoch(conn: &mut DbConnection) -> Result<i64, DbError> {
    let value: Option<String> = licet_meta::table
        .find("restore_epoch")
        .select(licet_meta::value)
        .first(conn)
        .optional()?;
    Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Brings a restored database to this binary's schema, raises its restore epoch above
/// `replaced` and the backup's, and records the restore in the audit trail, in one
/// transaction. Returns the new epoch.
pub(crate) fn finish_restore(
    conn: &mut DbConnection,
    manifest: &Manifest,
    replaced: Option<&State>,
    actor: &str,
) -> anyhow::Result<i64> {
    migrate::run_pending(conn).map_err(|e| anyhow::anyhow!("migrating the restored data: {e}"))?;
    let epoch = manifest
        .state
        .restore_epoch
        .max(replaced.map_or(0, |s| s.restore_epoch))
        + 1;
    crate::db::write_transaction(conn, |conn| {
        events::lock(conn)?;
        // The row exists: the migration that made the table inserted it.
        diesel::update(licet_meta::table.find("restore_epoch"))
            .set(licet_meta::value.eq(epoch.to_string()))
            .execute(conn)?;
        let before = replaced.map(|s| {
            serde_json::json!({
                "restore_epoch": s.restore_epoch,
                "audit_events": s.audit_events,
                "audit_head": s.audit_head,
                "policy_version": s.policy_version,
            })
        });
        events::append(
            conn,
            &[NewEvent {
                actor: actor.to_string(),
                action: "restore".into(),
                object_type: "database".into(),
                object_id: manifest.backend.clone(),
                before,
                after: Some(serde_json::json!({
                    "restore_epoch": epoch,
                    "manifest": manifest,
                })),
                ..NewEvent::default()
            }],
        )?;
        Ok::<_, DbError>(())
    })?;
    Ok(epoch)
}

/// `path` with `suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}
