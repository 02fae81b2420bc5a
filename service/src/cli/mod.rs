//! The command line: `licet serve | demo | migrate | backup | restore | import | policy |
//! audit | token | keys`.

mod audit;
mod backup;
mod keys;
mod policy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::db::migrate;
use crate::decision::{self, DecisionRequest};
use crate::licensing::{demo, import};
use crate::startup::{self, Application};
use crate::telemetry;
pub use audit::{AuditCommand, TokenCommand};
pub use keys::KeysCommand;
pub use policy::{PolicyCommand, ReportFormat};

/// licet: signed licence decisions from Cedar policies.
#[derive(Debug, Parser)]
#[command(name = "licet", version, about)]
pub struct Cli {
    /// Configuration file (YAML); `LICET__SECTION__KEY` variables override it.
    #[arg(long, short, global = true, env = "LICET_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the decision API.
    Serve,
    /// Load the demo data set, print example requests with their answers, and serve.
    Demo,
    /// Apply pending database migrations.
    Migrate {
        /// Only list pending migrations and whether each is safe to run while the previous
        /// version serves; exit 1 when there are some.
        #[arg(long)]
        check: bool,
    },
    /// Copy the database, consistently while it serves, into a new directory with a manifest.
    Backup {
        /// The directory to create (default: `licet-backup-<time>` in the working directory).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Replace the database with a backup made by `licet backup`; stop licet first.
    Restore {
        /// The backup directory.
        #[arg(long)]
        from: PathBuf,
        /// Replace an existing database (a SQLite file is kept beside it).
        #[arg(long)]
        yes: bool,
    },
    /// Import tenants, products, features, entitlements, users and devices from a YAML file.
    Import {
        file: PathBuf,
        /// Validate and report what would change, then roll back.
        #[arg(long)]
        dry_run: bool,
    },
    /// Work with policy bundles.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Check and export the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Make API tokens for the admin and auditor APIs.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage the signing keys of the configured backend (local files or Vault transit).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

/// Runs the command line and returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&config.log);
    match dispatch(cli.command, config) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => serve(config, false),
        Command::Demo => serve(config, true),
        Command::Migrate { check } => run_migrate(&config, check),
        Command::Backup { output } => backup::backup(&config, output),
        Command::Restore { from, yes } => backup::restore(&config, &from, yes),
        Command::Import { file, dry_run } => run_import(&config, &file, dry_run),
        Command::Keys { command } => keys::run(&config, command),
        Command::Policy { command } => policy::run(command, &config),
        Command::Audit { command } => audit::run(command, &config),
        Command::Token { command } => audit::token(command),
    }
}

/// A point in time given on the command line: a duration back from now (`7d`, `12h 30m`) or
/// an RFC 3339 time.
#[derive(Debug, Clone, Copy)]
pub enum When {
    Ago(chrono::Duration),
    At(DateTime<Utc>),
}

impl When {
    /// Reads a `--since` or `--until` value; clap reports an error as a usage error (exit 2).
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Ok(time) = DateTime::parse_from_rfc3339(text) {
            return Ok(When::At(time.with_timezone(&Utc)));
        }
        humantime::parse_duration(text)
            .ok()
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(When::Ago)
            .ok_or_else(|| {
                format!("`{text}` is neither a duration such as `7d` or `12h` nor an RFC 3339 time such as `2026-12-01T00:00:00Z`")
            })
    }

    /// The time this names, counted back from `now`.
    pub fn resolve(self, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
        match self {
            When::At(time) => Ok(time),
            When::Ago(back) => now
                .checked_sub_signed(back)
                .ok_or_else(|| anyhow::anyhow!("a duration reaches before the calendar starts")),
        }
    }
}

/// Resolves `--since` and `--until`, refusing a period that ends before it starts.
pub(crate) fn period(
    since: Option<When>,
    until: Option<When>,
) -> anyhow::Result<crate::audit::Period> {
    let now = Utc::now();
    let since = since.map(|s| s.resolve(now)).transpose()?;
    let until = until.map(|u| u.resolve(now)).transpose()?;
    if let (Some(s), Some(u)) = (since, until)
        && u <= s
    {
        anyhow::bail!("`--until` ({u}) must be later than `--since` ({s})");
    }
    Ok((since, until))
}

fn serve(config: Config, demo: bool) -> anyhow::Result<ExitCode> {
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let app = Application::build(config)?;
        if demo {
            load_demo(&app).await?;
        }
        app.run_until_stopped().await?;
        Ok(ExitCode::SUCCESS)
    })
}

fn run_migrate(config: &Config, check: bool) -> anyhow::Result<ExitCode> {
    let url = config.database_url();
    let sqlite_file = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"));
    let (backend, pending) = match sqlite_file {
        // A check must not create the database it checks.
        Some(path) if check && !Path::new(path).exists() => (
            crate::db::Backend::Sqlite,
            migrate::all(crate::db::Backend::Sqlite).map_err(|e| anyhow::anyhow!("{e}"))?,
        ),
        _ => {
            let mut config = config.clone();
            config.database.migrate_on_start = false;
            let db = startup::open_database(&config)?;
            let mut conn = db.conn()?;
            if check {
                let pending = migrate::pending(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))?;
                (db.backend(), pending)
            } else {
                let applied =
                    migrate::run_pending(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))?;
                if applied.is_empty() {
                    println!("database is up to date");
                }
                for name in applied {
                    println!("applied: {name}");
                }
                return Ok(ExitCode::SUCCESS);
            }
        }
    };
    if pending.is_empty() {
        println!("no pending migrations");
        return Ok(ExitCode::SUCCESS);
    }
    for name in &pending {
        println!("pending: {name}: {}", migrate::safety(backend, name));
    }
    Ok(ExitCode::from(1))
}

fn run_import(config: &Config, file: &Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read `{name}`"))?;
    let data = import::parse(&name, &text)?;
    let db = startup::open_database(config)?;
    let mut conn = db.conn()?;
    if dry_run {
        let summary = import::dry_run(&mut conn, &name, &data)?;
        println!("dry run, nothing written: {summary}");
    } else {
        let actor = format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        );
        let summary = import::import(&mut conn, &name, &data, &actor)?;
        println!("{name}: {summary}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Imports the demo data and prints example requests with what they return.
async fn load_demo(app: &Application) -> anyhow::Result<()> {
    let state = app.state();
    let today = chrono::Utc::now().date_naive();
    let text = demo::data(today).map_err(|e| anyhow::anyhow!(e))?;
    let data = import::parse("demo/demo.yaml", &text)?;
    let summary = import::apply(&state, "demo/demo.yaml", data).await?;
    println!("demo data loaded ({summary})\n");

    let host = state
        .config
        .server
        .bind
        .rsplit_once(':')
        .map_or("127.0.0.1", |(host, _)| host);
    let base = format!("http://{host}:{}", app.port());
    let examples = [
        (
            "an active device-bound contract",
            "acme",
            "d-7f3a",
            "cad.export",
            "2.4.1",
            "prod",
        ),
        (
            "a contract in its grace period",
            "globex",
            "g-ws-01",
            "cad.render",
            "3.1.0",
            "prod",
        ),
        (
            "a contract whose grace period is over",
            "initech",
            "i-node-1",
            "sim.solve",
            "2.0.0",
            "prod",
        ),
    ];
    for (label, tenant, device, feature, version, env) in examples {
        let body = serde_json::json!({
            "tenant": tenant,
            "principal": { "type": "Device", "id": device },
            "action": "use",
            "resource": { "type": "Feature", "id": feature },
            "context": { "product_version": version, "environment": env },
        });
        let request: DecisionRequest = serde_json::from_value(body.clone())?;
        let answer = decision::decide(&state, request.validate()?, "demo").await?;
        println!("# {label}");
        println!("curl -s {base}/v1/decisions -H 'content-type: application/json' -d '{body}'");
        println!(
            "# -> {{\"decision\":\"{}\",\"reasons\":{:?},\"advice\":{:?},\"policy_version\":\"{}\",\"token\":\"{}...\", ...}}\n",
            answer.decision,
            answer.reasons,
            answer.advice,
            answer.policy_version,
            &answer.token[..24.min(answer.token.len())]
        );
    }
    let actor = crate::licensing::activation::Actor {
        name: "demo".into(),
        reason: Some("licet demo".into()),
        ..Default::default()
    };
    let (_, key) = state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                crate::licensing::activation::create_key(
                    conn,
                    "acme",
                    "ent-acme-cad",
                    &actor,
                    crate::db::now(),
                )
            })
        })
        .await?;
    let activation = serde_json::json!({
        "license_key": key,
        "fingerprint": "sha256:demo-machine",
        "name": "Demo machine",
    });
    println!("# activate a machine with a licence key made for this demo (docs/licensing.md)");
    println!("curl -s {base}/v1/activations -H 'content-type: application/json' -d '{activation}'");
    println!(
        "# -> 201 the first time (200 after): the device, and its signed licence file as `license` and `armored`\n"
    );
    println!("# public keys: curl -s {base}/.well-known/jwks.json");
    println!("# active policies: curl -s {base}/v1/policies/active\n");
    Ok(())
}
