//! `licet-client`: command-line front end to the `licet_client` library.
//!
//! `licet-client verify` checks a signed decision token offline against the
//! server's JWKS and prints its claims as JSON. Failures print
//! `error: <message>` on stderr and exit with a code per failure class (see
//! [`EXIT_CODES`]).

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use clap::{Args, Parser, Subcommand};
use licet_client::{Jwks, JwksError, VerifyError, verify_decision};

/// Exit codes, shown in `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  token verified; claims printed on stdout
  2  usage error, unreadable token input, or JWKS that cannot be loaded
  3  malformed token or invalid claims
  4  bad signature, unknown key, or unsupported algorithm
  5  token expired
  6  nonce mismatch";

/// Verify licet decision tokens offline.
#[derive(Debug, Parser)]
#[command(name = "licet-client", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify a signed decision token and print its claims as JSON.
    #[command(after_help = EXIT_CODES)]
    Verify(VerifyArgs),
    // Planned: `request` (ask the server for a decision) and `install`
    // (install an offline licence file).
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// JWKS with the server's public keys: a file path, or an http(s) URL.
    #[arg(long, value_name = "FILE|URL")]
    jwks: String,

    /// Verify as of this time (Unix seconds) instead of the system clock; for
    /// testing, or when a trusted clock source is available.
    #[arg(long, value_name = "UNIX_SECONDS", allow_negative_numbers = true)]
    now: Option<i64>,

    /// Require the token to carry this nonce (the one sent with the request).
    #[arg(long, value_name = "NONCE")]
    nonce: Option<String>,

    /// The token, or `-` to read it from standard input.
    #[arg(value_name = "TOKEN|-")]
    token: String,
}

/// A failure, classified for the exit code.
#[derive(Debug)]
enum Failure {
    /// Usage, I/O or clock problems (exit 2).
    Io(anyhow::Error),
    /// The JWKS could not be loaded (exit 2).
    Jwks(JwksError),
    /// The token did not verify (exit 3 to 6).
    Verify(VerifyError),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Io(_) | Self::Jwks(_) => 2,
            Self::Verify(err) => match err {
                VerifyError::Malformed(_) | VerifyError::InvalidClaims(_) => 3,
                VerifyError::BadSignature
                | VerifyError::UnknownKey(_)
                | VerifyError::UnsupportedAlgorithm(_) => 4,
                VerifyError::Expired { .. } => 5,
                VerifyError::NonceMismatch { .. } => 6,
            },
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(err) => write!(f, "{err:#}"),
            Self::Jwks(err) => write!(f, "{err}"),
            Self::Verify(err) => write!(f, "{err}"),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Verify(args) => verify(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

fn verify(args: &VerifyArgs) -> Result<(), Failure> {
    let token = read_token(&args.token).map_err(Failure::Io)?;
    let jwks = Jwks::load(&args.jwks).map_err(Failure::Jwks)?;
    let now = match args.now {
        Some(now) => now,
        None => system_now().map_err(Failure::Io)?,
    };
    let claims = verify_decision(&token, &jwks, now).map_err(Failure::Verify)?;
    if let Some(nonce) = &args.nonce {
        claims.check_nonce(nonce).map_err(Failure::Verify)?;
    }
    let json = serde_json::to_string_pretty(&claims)
        .context("cannot encode claims")
        .map_err(Failure::Io)?;
    writeln!(io::stdout().lock(), "{json}")
        .context("cannot write to standard output")
        .map_err(Failure::Io)
}

/// The token argument, or all of stdin for `-`.
fn read_token(arg: &str) -> anyhow::Result<String> {
    if arg != "-" {
        return Ok(arg.to_owned());
    }
    let mut token = String::new();
    io::stdin()
        .read_to_string(&mut token)
        .context("cannot read the token from standard input")?;
    Ok(token)
}

fn system_now() -> anyhow::Result<i64> {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| anyhow!("the system clock is before 1970; pass `--now`"))?;
    i64::try_from(since_epoch.as_secs()).context("the system clock is out of range; pass `--now`")
}
