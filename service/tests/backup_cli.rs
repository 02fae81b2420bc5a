//! `licet backup` and `licet restore` with the real binary: a restore drill under decision
//! traffic on SQLite and PostgreSQL, and the backups a restore must refuse.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use diesel::sql_types::Text;
use diesel::{Connection as _, QueryableByName, RunQueryDsl};
use licet::db::{Database, DbConnection};
use licet::licensing::demo;

/// The tables that decisions never write: a restore must bring them back exactly.
const TABLES: [&str; 14] = [
    "tenants",
    "roles",
    "users",
    "memberships",
    "products",
    "product_releases",
    "features",
    "entitlements",
    "entitlement_features",
    "devices",
    "device_events",
    "policy_versions",
    "policy_activations",
    "audit_events",
];

/// Where a test keeps its data folder and which database it uses.
struct Target {
    dir: tempfile::TempDir,
    /// `LICET__DATABASE__URL`; `None` for the SQLite file in the data folder.
    url: Option<String>,
}

impl Target {
    fn sqlite() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            url: None,
        }
    }

    fn postgres() -> Self {
        let admin = std::env::var("LICET_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name = format!("licet_backup_{}", uuid::Uuid::new_v4().simple());
        let mut conn = diesel::PgConnection::establish(&admin).unwrap_or_else(|e| {
            panic!("PostgreSQL is needed at `{admin}` (set LICET_TEST_POSTGRES_URL): {e}")
        });
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .unwrap();
        let (path, query) = admin
            .split_once('?')
            .map_or((admin.as_str(), None), |(p, q)| (p, Some(q)));
        let (base, _) = path.rsplit_once('/').unwrap();
        let url = match query {
            Some(query) => format!("{base}/{name}?{query}"),
            None => format!("{base}/{name}"),
        };
        Self {
            dir: tempfile::tempdir().unwrap(),
            url: Some(url),
        }
    }

    fn database_url(&self) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.sqlite_file().display()))
    }

    fn sqlite_file(&self) -> PathBuf {
        self.dir.path().join("licet.db")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_licet"));
        command
            .args(args)
            .env("LICET__SERVER__DATA_DIR", self.dir.path())
            .env("LICET__LOG__LEVEL", "warn")
            .env_remove("LICET_CONFIG")
            .env_remove("LICET__DATABASE__URL");
        if let Some(url) = &self.url {
            command.env("LICET__DATABASE__URL", url);
        }
        command
    }

    fn licet(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("the licet binary runs")
    }

    /// Runs `licet` and returns its standard output, failing the test if it fails.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.licet(args);
        assert!(
            out.status.success(),
            "licet {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn import(&self, name: &str, yaml: &str) {
        let file = self.dir.path().join(name);
        std::fs::write(&file, yaml).unwrap();
        self.ok(&["import", file.to_str().unwrap()]);
    }

    fn connect(&self) -> Database {
        Database::connect(&self.database_url(), 1, Duration::from_secs(5)).unwrap()
    }

    /// Every row of the tables decisions do not write, as text, in a stable order.
    fn tables(&self) -> Vec<(String, Vec<String>)> {
        let db = self.connect();
        let mut conn = db.conn().unwrap();
        TABLES
            .iter()
            .map(|table| (table.to_string(), rows(&mut conn, table)))
            .collect()
    }

    fn count(&self, table: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let db = self.connect();
        let count: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result(&mut *db.conn().unwrap())
            .unwrap();
        count.n
    }

    /// The head hash `licet audit verify` prints, after checking that it says ok.
    fn audit_head(&self) -> (u64, String) {
        let stdout = self.ok(&["audit", "verify"]);
        let rest = stdout.trim().strip_prefix("ok: ").expect(&stdout);
        let (events, rest) = rest.split_once(' ').unwrap();
        let head = rest.rsplit(' ').next().unwrap();
        (events.parse().unwrap(), head.to_string())
    }

    fn serve(&self) -> Server {
        let mut child = self
            .command(&["serve"])
            .env("LICET__SERVER__BIND", "127.0.0.1:0")
            .env("LICET__SERVER__WORKERS", "2")
            .env("LICET__LOG__FORMAT", "json")
            .env("LICET__LOG__LEVEL", "info")
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = loop {
            let line = lines.next().expect("licet logs until it serves").unwrap();
            let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if event["message"] == "licet is serving" {
                break event["port"].as_u64().unwrap();
            }
        };
        let drain = std::thread::spawn(move || lines.map_while(Result::ok).count());
        Server {
            child,
            drain: Some(drain),
            base: format!("http://127.0.0.1:{port}"),
        }
    }
}

struct Server {
    child: Child,
    drain: Option<std::thread::JoinHandle<usize>>,
    base: String,
}

impl Server {
    /// Stops the server with SIGTERM, which writes every queued decision first.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(self.child.wait().unwrap().success());
        if let Some(drain) = self.drain.take() {
            drain.join().unwrap();
        }
    }
}

impl Drop for Server {
    /// A failing test must not leave the server running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends decisions from a thread until stopped; counts the answers.
struct Traffic {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Traffic {
    fn start(base: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let url = format!("{base}/v1/decisions");
        let (s, a) = (stop.clone(), answered.clone());
        let thread = std::thread::spawn(move || {
            let body = serde_json::json!({
                "tenant": "acme",
                "principal": { "type": "Device", "id": "d-7f3a" },
                "action": "use",
                "resource": { "type": "Feature", "id": "cad.export" },
                "context": { "product_version": "2.4.1", "environment": "prod" },
            });
            while !s.load(Ordering::SeqCst) {
                let response = ureq::post(&url).send_json(&body).unwrap();
                assert_eq!(response.status().as_u16(), 200);
                a.fetch_add(1, Ordering::SeqCst);
            }
        });
        Self {
            stop,
            answered,
            thread,
        }
    }

    fn wait_for(&self, more: u64) {
        let target = self.answered.load(Ordering::SeqCst) + more;
        while self.answered.load(Ordering::SeqCst) < target {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        self.answered.load(Ordering::SeqCst)
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    row: String,
}

fn rows(conn: &mut DbConnection, table: &str) -> Vec<String> {
    let rows: Vec<Row> = match conn {
        DbConnection::Sqlite(c) => {
            let columns: Vec<Row> = diesel::sql_query(format!(
                "SELECT name AS row FROM pragma_table_info('{table}')"
            ))
            .load(c)
            .unwrap();
            let columns: Vec<String> = columns.into_iter().map(|c| c.row).collect();
            let columns = columns.join(", ");
            diesel::sql_query(format!(
                "SELECT json_array({columns}) AS row FROM {table} ORDER BY {columns}"
            ))
            .load(c)
            .unwrap()
        }
        DbConnection::Postgres(c) => diesel::sql_query(format!(
            "SELECT row_to_json(t)::text AS row FROM {table} t ORDER BY 1"
        ))
        .load(c)
        .unwrap(),
    };
    rows.into_iter().map(|r| r.row).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn demo_data() -> String {
    demo::data(chrono::Utc::now().date_naive()).unwrap()
}

/// The demo data with Acme suspended and a device added to Umbrella.
fn changed_data() -> String {
    let data = demo_data();
    let suspended = data.replacen(
        "    name: Acme Engineering\n",
        "    name: Acme Engineering\n    status: suspended\n",
        1,
    );
    let device =
        "      - { id: u-ws-9, fingerprint: \"sha256:9999abcd\", name: Lab workstation }\n";
    assert!(suspended.contains(device) && suspended != data);
    suspended.replacen(
        device,
        &format!(
            "{device}      - {{ id: u-ws-10, fingerprint: \"sha256:1010abcd\", name: New workstation }}\n"
        ),
        1,
    )
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

/// Takes a backup while decisions flow, changes the data, restores, and checks that the
/// restored database is the one of the backup, with an intact audit chain that records the
/// restore.
fn restore_drill(target: &Target) {
    target.import("demo.yaml", &demo_data());
    let server = target.serve();
    let traffic = Traffic::start(&server.base);
    traffic.wait_for(10);

    // Imports are the only writers of these tables, and none runs now.
    let snapshot = target.tables();
    let (events, head) = target.audit_head();
    let backup = target.dir.path().join("backup");
    let printed = target.ok(&["backup", "--output", backup.to_str().unwrap()]);
    assert!(printed.starts_with("backup written to "), "{printed}");
    traffic.wait_for(10);

    let manifest = manifest(&backup);
    assert_eq!(manifest["format"], 1);
    assert_eq!(manifest["schema_version"], newest_migration().as_str());
    assert_eq!(manifest["restore_epoch"], 0);
    assert_eq!(manifest["audit_events"], events);
    assert_eq!(manifest["audit_head"], head.as_str());
    let logged_at_backup = manifest["decision_log_entries"].as_i64().unwrap();

    let answered = traffic.stop();
    server.stop();
    assert_eq!(target.count("decision_log"), answered as i64);
    target.import("changed.yaml", &changed_data());
    assert_ne!(target.tables(), snapshot);
    assert!(
        logged_at_backup < answered as i64,
        "the backup ran under traffic"
    );

    let refused = target.licet(&["restore", "--from", backup.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("run again with `--yes`"));

    let printed = target.ok(&["restore", "--from", backup.to_str().unwrap(), "--yes"]);
    assert!(printed.contains("restore epoch is now 1"), "{printed}");

    let restored = target.tables();
    for ((table, before), (_, after)) in snapshot.iter().zip(&restored) {
        if table == "audit_events" {
            let (restore, kept): (Vec<_>, Vec<_>) = after
                .iter()
                .cloned()
                .partition(|row| row.contains("\"restore\""));
            assert_eq!(restore.len(), 1, "one restore event");
            assert_eq!(&kept, before, "{table}");
        } else {
            assert_eq!(after, before, "{table}");
        }
    }
    assert_eq!(target.count("decision_log"), logged_at_backup);
    let (events_now, _) = target.audit_head();
    assert_eq!(events_now, events + 1);
    let export = target.ok(&["audit", "export"]);
    let last: serde_json::Value = serde_json::from_str(export.lines().last().unwrap()).unwrap();
    assert_eq!(last["action"], "restore");
    assert_eq!(last["prev_hash"], head.as_str());
    assert_eq!(last["after"]["restore_epoch"], 1);
    assert_eq!(last["after"]["manifest"]["sha256"], manifest["sha256"]);
    assert!(
        last["before"]["audit_events"].as_u64().unwrap() > events,
        "the restore event counts the events it replaced: {last}"
    );

    // A service started on the restored database shows its epoch.
    let server = target.serve();
    let mut ready = ureq::get(format!("{}/readyz", server.base)).call().unwrap();
    let ready: serde_json::Value = ready.body_mut().read_json().unwrap();
    assert_eq!(ready["checks"]["database"]["restore_epoch"], 1, "{ready}");
    server.stop();

    // A second restore of the same backup goes one epoch further.
    let printed = target.ok(&["restore", "--from", backup.to_str().unwrap(), "--yes"]);
    assert!(printed.contains("restore epoch is now 2"), "{printed}");
}

#[test]
fn a_sqlite_backup_taken_under_traffic_restores_the_state_at_backup_time() {
    let target = Target::sqlite();
    restore_drill(&target);
    let kept: Vec<_> = std::fs::read_dir(target.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("licet.db.before-restore-")
        })
        .collect();
    assert!(!kept.is_empty(), "the replaced file is kept");
}

#[test]
fn a_postgres_backup_taken_under_traffic_restores_the_state_at_backup_time() {
    restore_drill(&Target::postgres());
}

#[test]
fn a_restore_refuses_a_newer_schema_and_a_damaged_file_and_leaves_the_database_alone() {
    let target = Target::sqlite();
    target.import("demo.yaml", &demo_data());
    let backup = target.dir.path().join("backup");
    target.ok(&["backup", "--output", backup.to_str().unwrap()]);
    target.import("changed.yaml", &changed_data());
    let before = std::fs::read(target.sqlite_file()).unwrap();

    let newer = target.dir.path().join("newer");
    copy_dir(&backup, &newer);
    let mut manifest = manifest(&newer);
    manifest["migrations"]
        .as_array_mut()
        .unwrap()
        .push("2099-01-01-000001_future".into());
    std::fs::write(newer.join("manifest.json"), manifest.to_string()).unwrap();
    let out = target.licet(&["restore", "--from", newer.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("newer schema") && stderr.contains("`2099-01-01-000001_future`"),
        "{stderr}"
    );

    let damaged = target.dir.path().join("damaged");
    copy_dir(&backup, &damaged);
    let data = damaged.join("licet.sqlite3");
    let mut bytes = std::fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();
    let out = target.licet(&["restore", "--from", damaged.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("is damaged: its SHA-256 is"), "{stderr}");

    assert_eq!(std::fs::read(target.sqlite_file()).unwrap(), before);
    let names: Vec<String> = std::fs::read_dir(target.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.contains("before-restore") && !n.contains(".restore-")),
        "{names:?}"
    );

    let again = target.licet(&["backup", "--output", backup.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("a backup never overwrites"));
}

#[test]
fn migrate_check_says_whether_each_pending_migration_is_safe_online() {
    let target = Target::sqlite();
    let out = target.licet(&["migrate", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "pending: 2026-12-04-000001_restore_epoch: online-safe (adds a table that older versions never read)\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "pending: 2026-12-05-000001_activation: online-safe (adds tables, and columns with defaults that older versions never read)\n"
        ),
        "{stdout}"
    );
    // One line per migration in the repository.
    assert_eq!(stdout.lines().count(), migrations().len(), "{stdout}");
}

/// The names of the migrations in the repository, oldest first.
fn migrations() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn newest_migration() -> String {
    migrations().pop().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
