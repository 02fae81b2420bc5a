//! `licet backup` and `licet restore`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::backup;
use crate::config::Config;

/// Writes a backup directory and prints what it holds.
pub fn backup(config: &Config, output: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let output = output.unwrap_or_else(|| {
        PathBuf::from(format!(
            "licet-backup-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ))
    });
    let manifest = backup::backup(config, &output)?;
    println!(
        "backup written to `{}`: {} bytes, schema {}, policy {}, restore epoch {}, {} audit events (head {}), {} logged decisions",
        output.display(),
        manifest.bytes,
        manifest.state.schema_version.as_deref().unwrap_or("none"),
        manifest.state.policy_version.as_deref().unwrap_or("none"),
        manifest.state.restore_epoch,
        manifest.state.audit_events,
        manifest.state.audit_head,
        manifest.state.decision_log_entries,
    );
    Ok(ExitCode::SUCCESS)
}

/// Restores a backup directory over the configured database.
pub fn restore(config: &Config, from: &Path, yes: bool) -> anyhow::Result<ExitCode> {
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    let restored = backup::restore(config, from, yes, &actor)?;
    let manifest = &restored.manifest;
    println!(
        "restored the backup of {} from `{}`: schema {}, policy {}, {} audit events (head {}), {} logged decisions; restore epoch is now {}",
        manifest.created_at,
        from.display(),
        manifest.state.schema_version.as_deref().unwrap_or("none"),
        manifest.state.policy_version.as_deref().unwrap_or("none"),
        manifest.state.audit_events,
        manifest.state.audit_head,
        manifest.state.decision_log_entries,
        restored.restore_epoch,
    );
    if let Some(kept) = restored.kept {
        println!("the replaced database is kept as `{}`", kept.display());
    }
    Ok(ExitCode::SUCCESS)
}
