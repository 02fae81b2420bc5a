//! PostgreSQL: `pg_dump --format=custom` on a snapshot exported by a read-only transaction,
//! so that the manifest describes exactly what the archive holds; a restore runs
//! `pg_restore --clean --if-exists --single-transaction`, which leaves the database as it was
//! when it fails.
//!
//! The password never appears on a command line: it is taken out of the URL and handed to
//! the tools in `PGPASSWORD`.

use std::path::Path;
use std::process::Command;

use anyhow::Context as _;
use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::{Manifest, Restored, State, finish_restore, read_state};
use crate::db::{Backend, Database, connection_redacted};

/// The data file's name in a PostgreSQL backup.
const DATA_FILE: &str = "licet.pgdump";

#[derive(QueryableByName)]
struct Snapshot {
    #[diesel(sql_type = Text)]
    id: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Dumps the database into `dir` and reads its state in the same snapshot.
pub(super) fn dump(db: &Database, url: &str, dir: &Path) -> anyhow::Result<(&'static str, State)> {
    let mut conn = db.conn()?;
    conn.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
    let snapshot: Snapshot =
        diesel::sql_query("SELECT pg_export_snapshot() AS id").get_result(&mut *conn)?;
    let state = read_state(&mut conn, Backend::Postgres)?;
    let file = dir.join(DATA_FILE);
    let ran = run(
        "pg_dump",
        "LICET_PG_DUMP",
        url,
        &[
            "--format=custom".into(),
            "--no-owner".into(),
            format!("--snapshot={}", snapshot.id),
            format!("--file={}", file.display()),
        ],
    );
    conn.batch_execute("COMMIT")?;
    ran?;
    Ok((DATA_FILE, state))
}

/// Restores the archive into the configured database, then raises the restore epoch and
/// records the restore.
pub(super) fn restore(
    url: &str,
    manifest: &Manifest,
    from: &Path,
    replace: bool,
    actor: &str,
) -> anyhow::Result<Restored> {
    let db = Database::connect(url, 1, std::time::Duration::from_secs(10))
        .with_context(|| format!("cannot open database `{}`", connection_redacted(url)))?;
    let tables: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = current_schema()",
    )
    .get_result(&mut *db.conn()?)?;
    let replaced = if tables.n > 0 {
        if !replace {
            anyhow::bail!(
                "the database `{}` already holds tables; stop licet and run again with `--yes` to replace its contents",
                connection_redacted(url)
            );
        }
        read_state(&mut *db.conn()?, Backend::Postgres).ok()
    } else {
        None
    };
    // LIMITATION: tables the archive does not hold are left in place by `--clean`; a backup
    // is only restored over a database of the same or an older schema, whose tables it holds.
    run(
        "pg_restore",
        "LICET_PG_RESTORE",
        url,
        &[
            "--clean".into(),
            "--if-exists".into(),
            "--single-transaction".into(),
            "--exit-on-error".into(),
            "--no-owner".into(),
            from.join(&manifest.data_file).display().to_string(),
        ],
    )?;
    let epoch = finish_restore(&mut *db.conn()?, manifest, replaced.as_ref(), actor)?;
    Ok(Restored {
        manifest: manifest.clone(),
        restore_epoch: epoch,
        kept: None,
    })
}

/// Runs a PostgreSQL client tool (found on `PATH`, or at the path in `override_var`) against
/// `url`, with the password in the environment.
fn run(tool: &str, override_var: &str, url: &str, args: &[String]) -> anyhow::Result<()> {
    let program = std::env::var(override_var).unwrap_or_else(|_| tool.to_string());
    let (dbname, password) = split_password(url);
    let mut command = Command::new(&program);
    command.arg(format!("--dbname={dbname}")).args(args);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let output = command.output().with_context(|| {
        format!(
            "cannot run `{program}`; install the PostgreSQL client tools (the server's major version or later) or set `{override_var}` to its path"
        )
    })?;
    if !output.status.success() {
        anyhow::bail!(
            "`{program}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Takes the password out of a connection URL: the URL without it, and the decoded password.
fn split_password(url: &str) -> (String, Option<String>) {
    let (Some(scheme), Some(at)) = (url.find("://"), url.rfind('@')) else {
        return (url.to_string(), None);
    };
    let start = scheme + 3;
    if at < start {
        return (url.to_string(), None);
    }
    let userinfo = &url[start..at];
    let Some((user, password)) = userinfo.split_once(':') else {
        return (url.to_string(), None);
    };
    let password = percent_encoding::percent_decode_str(password)
        .decode_utf8_lossy()
        .into_owned();
    (
        format!("{}{user}{}", &url[..start], &url[at..]),
        Some(password),
    )
}

#[cfg(test)]
mod tests {
    use super::split_password;

    #[test]
    fn the_password_leaves_the_url_and_is_decoded() {
        assert_eq!(
            split_password("postgres://licet:s%40cret@db:5432/licet"),
            (
                "postgres://licet@db:5432/licet".to_string(),
                Some("s@cret".to_string())
            )
        );
        assert_eq!(
            split_password("postgres://licet@db/licet"),
            ("postgres://licet@db/licet".to_string(), None)
        );
        assert_eq!(
            split_password("postgres://db/licet"),
            ("postgres://db/licet".to_string(), None)
        );
    }
}
