//! `licet audit` and `licet token`: verify and export the audit trail, make API tokens.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use super::{When, period};
use crate::audit::events::{self, EventFilter, Verification};
use crate::config::Config;
use crate::identity;
use crate::startup;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain of audit events; exit 1 and name the first broken link if any.
    Verify,
    /// Write audit events as JSON Lines, oldest first.
    Export {
        /// Only this tenant's events.
        #[arg(long)]
        tenant: Option<String>,
        /// Start: a duration back from now (`30d`) or an RFC 3339 time.
        #[arg(long, value_parser = When::parse)]
        since: Option<When>,
        /// End (same forms as `--since`).
        #[arg(long, value_parser = When::parse)]
        until: Option<When>,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a new random token and the configuration entry that admits it.
    New {
        /// Who will hold the token; recorded as the actor of what it does.
        #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
        name: String,
        /// `admin` or `auditor`.
        #[arg(long, value_parser = ["admin", "auditor"])]
        role: String,
        /// Limit the token to one tenant's data.
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// Runs one `licet audit` command.
pub fn run(command: AuditCommand, config: &Config) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify => verify(config),
        AuditCommand::Export {
            tenant,
            since,
            until,
            output,
        } => export(config, tenant, since, until, output),
    }
}

fn verify(config: &Config) -> anyhow::Result<ExitCode> {
    let db = startup::open_existing_database(config)?;
    match events::verify(&mut *db.conn()?)? {
        Verification::Intact { events, head } => {
            println!("ok: {events} audit events, chain intact, head {head}");
            Ok(ExitCode::SUCCESS)
        }
        Verification::Broken {
            seq,
            id,
            problem,
            checked,
        } => {
            println!(
                "BROKEN at event {seq} ({id}): {problem}; the {checked} events before it verify"
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn export(
    config: &Config,
    tenant: Option<String>,
    since: Option<When>,
    until: Option<When>,
    output: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let (since, until) = period(since, until)?;
    let mut filter = EventFilter {
        tenant,
        since,
        until,
        after_seq: None,
        limit: 1000,
    };
    let db = startup::open_existing_database(config)?;
    let mut conn = db.conn()?;
    let mut out: Box<dyn std::io::Write> = match &output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create `{}`", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut written = 0u64;
    loop {
        let page = events::list(&mut conn, &filter)?;
        let Some(last) = page.last() else { break };
        filter.after_seq = Some(last.seq);
        for event in &page {
            serde_json::to_writer(&mut out, event)?;
            out.write_all(b"\n")?;
            written += 1;
        }
    }
    out.flush()?;
    if output.is_some() {
        println!("exported {written} audit events");
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs one `licet token` command.
pub fn token(command: TokenCommand) -> anyhow::Result<ExitCode> {
    let TokenCommand::New { name, role, tenant } = command;
    let token = identity::new_token().map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("token (shown once; give it to {name}):\n  {token}\n");
    println!("add to licet.yaml under `access.tokens`:");
    println!("  - name: {name}");
    println!("    role: {role}");
    println!("    sha256: {}", identity::token_hash(&token));
    if let Some(tenant) = tenant {
        println!("    tenant: {tenant}");
    }
    Ok(ExitCode::SUCCESS)
}
