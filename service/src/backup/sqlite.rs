//! SQLite: `VACUUM INTO` copies the database in one read transaction, so the copy is
//! consistent while the service keeps writing; a restore replaces the file by a rename.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::{Manifest, Restored, State, finish_restore, read_state, sibling};
use crate::config::Config;
use crate::db::{Backend, Database, DbConnection};

/// The data file's name in a SQLite backup.
const DATA_FILE: &str = "licet.sqlite3";

/// Files SQLite keeps beside a database; they belong to the file they sit next to.
const SIDECARS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Copies the database into `dir` and reads its state from the copy.
pub(super) fn dump(db: &Database, dir: &Path) -> anyhow::Result<(&'static str, State)> {
    let target = dir.join(DATA_FILE);
    let path = target
        .to_str()
        .context("the backup path must be valid UTF-8")?
        .to_string();
    let mut conn = db.conn()?;
    let DbConnection::Sqlite(sqlite) = &mut *conn else {
        anyhow::bail!("not a SQLite database");
    };
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(&path)
        .execute(sqlite)
        .context("copying the database with `VACUUM INTO`")?;
    let copy = open(&target)?;
    let state = read_state(&mut *copy.conn()?, Backend::Sqlite)?;
    Ok((DATA_FILE, state))
}

fn open(file: &Path) -> anyhow::Result<Database> {
    let url = format!("sqlite://{}", file.display());
    Ok(Database::connect(&url, 1, Duration::from_secs(5))?)
}

/// Builds the restored database beside the target, then renames it over the target; the
/// replaced file is kept as `<db>.before-restore-<time>`.
pub(super) fn restore(
    config: &Config,
    manifest: &Manifest,
    from: &Path,
    replace: bool,
    actor: &str,
) -> anyhow::Result<Restored> {
    let url = config.database_url();
    let target = PathBuf::from(
        url.strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(&url),
    );
    let existed = target.exists();
    let replaced = if existed {
        if !replace {
            anyhow::bail!(
                "`{}` already exists; stop licet and run again with `--yes` to replace it (the current file is kept beside it)",
                target.display()
            );
        }
        refuse_if_busy(&target)?;
        let db = open(&target)?;
        read_state(&mut *db.conn()?, Backend::Sqlite).ok()
    } else {
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        None
    };

    let staged = sibling(&target, &format!(".restore-{}", std::process::id()));
    let outcome = (|| {
        std::fs::copy(from.join(&manifest.data_file), &staged)
            .with_context(|| format!("cannot write `{}`", staged.display()))?;
        let db = open(&staged)?;
        let epoch = finish_restore(&mut *db.conn()?, manifest, replaced.as_ref(), actor)?;
        drop(db);
        let kept = if existed {
            Some(keep_aside(&target)?)
        } else {
            None
        };
        std::fs::rename(&staged, &target)
            .with_context(|| format!("cannot move the restored file to `{}`", target.display()))?;
        Ok(Restored {
            manifest: manifest.clone(),
            restore_epoch: epoch,
            kept,
        })
    })();
    if outcome.is_err() {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(sibling(&staged, suffix));
        }
    }
    outcome
}

/// Refuses to replace a file another connection is writing to. A licet that is running but
/// idle holds no lock, so this catches only a busy one: the service must be stopped first.
fn refuse_if_busy(target: &Path) -> anyhow::Result<()> {
    let mut conn = SqliteConnection::establish(&target.display().to_string())?;
    let free = conn
        .batch_execute("PRAGMA busy_timeout = 0; BEGIN EXCLUSIVE; ROLLBACK;")
        .is_ok();
    if !free {
        anyhow::bail!(
            "`{}` is in use; stop every licet that uses it, then restore",
            target.display()
        );
    }
    Ok(())
}

/// Hard-links the target to `<db>.before-restore-<time>` (so that the target stays in place
/// until the rename replaces it) and moves its SQLite sidecar files along, since they must
/// never be applied to the restored file.
fn keep_aside(target: &Path) -> anyhow::Result<PathBuf> {
    let time = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let kept = sibling(target, &format!(".before-restore-{time}"));
    if std::fs::hard_link(target, &kept).is_err() {
        std::fs::copy(target, &kept)
            .with_context(|| format!("cannot keep the current file as `{}`", kept.display()))?;
    }
    for suffix in SIDECARS {
        let side = sibling(target, suffix);
        if side.exists() {
            std::fs::rename(&side, sibling(&kept, suffix))
                .with_context(|| format!("cannot move `{}` aside", side.display()))?;
        }
    }
    Ok(kept)
}
