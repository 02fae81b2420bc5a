//! `licet policy`: check a bundle, run its test suites, and measure a candidate's impact on
//! logged decisions.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use super::{When, period};
use crate::audit::decision_log::DecisionFilter;
use crate::config::Config;
use crate::policy::suite::Suite;
use crate::policy::{BundleSource, impact};
use crate::startup;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate the configured bundle strictly against its schema and print its version.
    Check,
    /// Run the policy test suites against the configured bundle; exit 1 when a case fails or
    /// coverage is incomplete, 2 when a suite file cannot be read or is malformed.
    Test {
        /// Folder of `*.yaml` suites; default `tests` inside `policies.dir`, else
        /// `policies/tests`.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Run only the cases whose name or file name contains this text (skips coverage).
        #[arg(long)]
        filter: Option<String>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
    /// Replay logged decisions under a candidate bundle and list every decision that would
    /// change (allow to deny, deny to allow, other reasons), grouped by tenant and reason.
    Impact {
        /// Folder of the candidate's `*.cedar` files.
        #[arg(long)]
        candidate: PathBuf,
        /// The candidate's schema; the configured (or built-in) schema when absent.
        #[arg(long)]
        schema: Option<PathBuf>,
        /// Start of the period: a duration back from now (`7d`, `12h`) or an RFC 3339 time.
        #[arg(long, default_value = "7d", value_parser = When::parse)]
        since: When,
        /// End of the period (same forms as `--since`); now when absent.
        #[arg(long, value_parser = When::parse)]
        until: Option<When>,
        /// Only this tenant's decisions.
        #[arg(long)]
        tenant: Option<String>,
        /// `text` for people, `json` for CI comments and scripts.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
        /// Decisions listed per group in the text report.
        #[arg(long, default_value_t = 10)]
        show: usize,
        /// Exit with status 1 when any decision would change.
        #[arg(long)]
        fail_on_change: bool,
    },
}

/// How `policy test` and `policy impact` print their reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

/// Runs one `licet policy` command.
pub fn run(command: PolicyCommand, config: &Config) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Check => check(config),
        PolicyCommand::Test {
            dir,
            filter,
            format,
        } => run_policy_tests(config, dir, filter.as_deref(), format),
        PolicyCommand::Impact {
            candidate,
            schema,
            since,
            until,
            tenant,
            format,
            show,
            fail_on_change,
        } => {
            let schema = schema.or_else(|| config.policies.schema.clone());
            let source = match schema {
                Some(schema) => BundleSource::from_dir(&candidate, &schema)?,
                None => {
                    BundleSource::from_dir_with_schema(&candidate, BundleSource::embedded().schema)?
                }
            };
            let bundle = crate::decision::fit::compile_checked(source)?;
            let (since, until) = period(Some(since), until)?;
            let filter = DecisionFilter {
                tenant,
                since,
                until,
                ..DecisionFilter::default()
            };
            let db = startup::open_existing_database(config)?;
            let report = impact::analyse(&mut *db.conn()?, &bundle, &filter)?;
            match format {
                ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                ReportFormat::Text => print!("{}", report.render_text(show)),
            }
            Ok(
                if !report.complete() || (fail_on_change && report.changed > 0) {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                },
            )
        }
    }
}

fn check(config: &Config) -> anyhow::Result<ExitCode> {
    let bundle = startup::load_bundle(config)?;
    for warning in &bundle.warnings {
        println!("warning: {warning}");
    }
    println!(
        "ok: {} policies in {} files, version {}",
        bundle.meta.len(),
        bundle.source.policies.len(),
        bundle.version
    );
    Ok(ExitCode::SUCCESS)
}

/// What to do when the folder of suites is missing. The suites are not built into the binary
/// with the default bundle: they live in the repository, next to the policies they test.
fn missing_tests(dir: &std::path::Path, given: bool, config: &Config) -> String {
    let at = dir.display();
    if given {
        format!(
            "there is no policy test folder at `{at}`; pass `--dir` a folder of `*.yaml` suites"
        )
    } else if config.policies.dir.is_some() {
        format!(
            "there is no policy test folder at `{at}` (`tests` inside `policies.dir`); create it \
             or pass `--dir` a folder of `*.yaml` suites"
        )
    } else {
        format!(
            "there is no policy test folder at `{at}`: the built-in bundle's suites are not part \
             of the binary; run this in the licet repository, or pass `--dir` the folder of \
             `*.yaml` suites (the repository's `policies/tests`)"
        )
    }
}

fn run_policy_tests(
    config: &Config,
    dir: Option<PathBuf>,
    filter: Option<&str>,
    format: ReportFormat,
) -> anyhow::Result<ExitCode> {
    let bundle = startup::load_bundle(config)?;
    let given = dir.is_some();
    let dir = dir.unwrap_or_else(|| match &config.policies.dir {
        Some(policies) => policies.join("tests"),
        None => PathBuf::from("policies/tests"),
    });
    if !dir.is_dir() {
        eprintln!("error: {}", missing_tests(&dir, given, config));
        return Ok(ExitCode::from(2));
    }
    let suite = match Suite::load_dir(&dir) {
        Ok(suite) => suite,
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(ExitCode::from(2));
        }
    };
    let report = suite.run(&bundle, filter);
    match format {
        ReportFormat::Text => print!("{}", report.render_text()),
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
