//! `licet-client`: command-line front end to the `licet_client` library.
//!
//! `licet-client verify` checks a signed decision token offline against the
//! server's JWKS and prints its claims as JSON. `license verify`,
//! `revocations verify`, `request`, `install` and `fingerprint` cover signed
//! licence files and the offline activation flow; `activate` and `refresh`
//! the online one. Failures print
//! `error: <message>` on stderr and exit with a code per failure class (see
//! [`cli::exit::EXIT_CODES`]).

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::cli::exit::{EXIT_CODES, VERIFY_EXIT_CODES};

/// Verify licet decision tokens and licence files offline.
#[derive(Debug, Parser)]
#[command(name = "licet-client", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify a signed decision token and print its claims as JSON.
    #[command(after_help = VERIFY_EXIT_CODES)]
    Verify(VerifyArgs),

    /// Signed licence files.
    #[command(subcommand)]
    License(LicenseCommand),

    /// Signed revocation lists.
    #[command(subcommand)]
    Revocations(RevocationsCommand),

    /// Write an offline activation request and record it as pending in the
    /// state directory.
    ///
    /// Carry the request to the licence administrator; install the answer with
    /// `licet-client install`. A new request replaces the pending one.
    #[command(after_help = EXIT_CODES)]
    Request(RequestArgs),

    /// Install the server's answer to the pending offline activation request
    /// as `license.lic` in the state directory, and print its claims as JSON.
    #[command(after_help = EXIT_CODES)]
    Install(InstallArgs),

    /// Activate this device with the licet server, and store the licence file
    /// it answers as `license.lic` in the state directory.
    ///
    /// Sends `POST <server>/v1/activations`, verifies the answer like `license
    /// verify` (signature, kind, expiry, this device's fingerprint, the clock)
    /// and prints its claims as JSON. Activating a device that is already
    /// active answers a fresh file without taking another seat.
    #[command(after_help = EXIT_CODES)]
    Activate(ActivateArgs),

    /// Fetch a fresh licence file for this device, already activated, and
    /// store it as `license.lic` in the state directory.
    ///
    /// Sends `POST <server>/v1/licenses/refresh`; the answer is checked and
    /// printed as for `activate`. When the server refuses (device deactivated,
    /// key revoked, ...) the stored file is left as it was.
    #[command(after_help = EXIT_CODES)]
    Refresh(RefreshArgs),

    /// Print this machine's default fingerprint: `sha256:` and the hex
    /// SHA-256 of `/etc/machine-id`.
    #[command(after_help = EXIT_CODES)]
    Fingerprint,
}

#[derive(Debug, Subcommand)]
enum LicenseCommand {
    /// Verify a licence file (armoured or a bare token) and print its claims
    /// as JSON.
    ///
    /// Checks, in order: armour and shape, signature, that it is a licence,
    /// the clock, expiry, check-in deadline, fingerprint (with
    /// `--fingerprint`) and revocation (with `--revocations`).
    #[command(after_help = EXIT_CODES)]
    Verify(LicenseVerifyArgs),
}

#[derive(Debug, Subcommand)]
enum RevocationsCommand {
    /// Verify a revocation list (armoured or a bare token) and print it as
    /// JSON.
    #[command(after_help = EXIT_CODES)]
    Verify(RevocationsVerifyArgs),
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// JWKS with the server's public keys: a file path, or an http(s) URL.
    #[arg(long, value_name = "FILE|URL")]
    jwks: String,

    #[command(flatten)]
    now: NowArg,

    /// Require the token to carry this nonce (the one sent with the request).
    #[arg(long, value_name = "NONCE")]
    nonce: Option<String>,

    /// The token, or `-` to read it from standard input.
    #[arg(value_name = "TOKEN|-")]
    token: String,
}

/// The keys licence files and revocation lists are verified with.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct KeyArgs {
    /// JWKS with the server's public keys: a file path, or an http(s) URL.
    #[arg(long, value_name = "FILE|URL")]
    jwks: Option<String>,

    /// A pinned public key instead of a JWKS: a PEM `PUBLIC KEY` file.
    #[arg(long, value_name = "PEM")]
    key: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct NowArg {
    /// Check as of this time (Unix seconds) instead of the system clock; for
    /// testing, or when a trusted clock source is available.
    #[arg(long, value_name = "UNIX_SECONDS", allow_negative_numbers = true)]
    now: Option<i64>,
}

#[derive(Debug, Args)]
struct LicenseVerifyArgs {
    /// The licence file, or `-` to read it from standard input.
    #[arg(value_name = "FILE|-")]
    file: String,

    #[command(flatten)]
    keys: KeyArgs,

    /// Require the licence to be bound to this device fingerprint (see
    /// `licet-client fingerprint`).
    #[arg(long, value_name = "FP")]
    fingerprint: Option<String>,

    /// State directory: refuse a clock set back behind the latest time seen,
    /// and record this check's time.
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,

    /// A revocation list to check the licence against.
    #[arg(long, value_name = "FILE")]
    revocations: Option<PathBuf>,

    #[command(flatten)]
    now: NowArg,
}

#[derive(Debug, Args)]
struct RevocationsVerifyArgs {
    /// The revocation list, or `-` to read it from standard input.
    #[arg(value_name = "FILE|-")]
    file: String,

    #[command(flatten)]
    keys: KeyArgs,

    /// State directory for the clock rule, as for `license verify`.
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,

    #[command(flatten)]
    now: NowArg,
}

#[derive(Debug, Args)]
struct RequestArgs {
    /// The licence key to activate.
    #[arg(
        long,
        value_name = "KEY",
        env = "LICET_LICENSE_KEY",
        hide_env_values = true
    )]
    license_key: String,

    /// The device fingerprint; default: `licet-client fingerprint`.
    #[arg(long, value_name = "FP")]
    fingerprint: Option<String>,

    /// A name for this machine, shown to administrators; default: the host
    /// name.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// State directory where the pending request is recorded.
    #[arg(long, value_name = "DIR")]
    state: PathBuf,

    /// Where to write the armoured request (mode 0600: it holds the licence
    /// key), or `-` for standard output.
    #[arg(long, value_name = "FILE|-")]
    out: String,
}

/// The licet server and the licence key, for `activate` and `refresh`.
#[derive(Debug, Args)]
struct ServerArgs {
    /// Base URL of the licet server, e.g. `https://licet.example.com`. The
    /// `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` variables are honoured.
    #[arg(long, value_name = "URL")]
    server: String,

    /// The licence key.
    #[arg(
        long,
        value_name = "KEY",
        env = "LICET_LICENSE_KEY",
        hide_env_values = true
    )]
    license_key: String,

    /// The device fingerprint; default: `licet-client fingerprint`.
    #[arg(long, value_name = "FP")]
    fingerprint: Option<String>,
}

#[derive(Debug, Args)]
struct ActivateArgs {
    #[command(flatten)]
    server: ServerArgs,

    /// A name for this machine, shown to administrators; default: the host
    /// name.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// State directory where the licence file is stored.
    #[arg(long, value_name = "DIR")]
    state: PathBuf,

    #[command(flatten)]
    keys: KeyArgs,

    #[command(flatten)]
    now: NowArg,
}

#[derive(Debug, Args)]
struct RefreshArgs {
    #[command(flatten)]
    server: ServerArgs,

    /// State directory where the licence file is stored.
    #[arg(long, value_name = "DIR")]
    state: PathBuf,

    #[command(flatten)]
    keys: KeyArgs,

    #[command(flatten)]
    now: NowArg,
}

#[derive(Debug, Args)]
struct InstallArgs {
    /// The server's answer (an offline licence file), or `-` to read it from
    /// standard input.
    #[arg(value_name = "RESPONSE_FILE|-")]
    response: String,

    /// State directory holding the pending request.
    #[arg(long, value_name = "DIR")]
    state: PathBuf,

    #[command(flatten)]
    keys: KeyArgs,

    #[command(flatten)]
    now: NowArg,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Verify(args) => cli::commands::verify(&args),
        Command::License(LicenseCommand::Verify(args)) => cli::commands::license_verify(&args),
        Command::Revocations(RevocationsCommand::Verify(args)) => {
            cli::commands::revocations_verify(&args)
        }
        Command::Request(args) => cli::commands::request(&args),
        Command::Install(args) => cli::commands::install(&args),
        Command::Activate(args) => cli::commands::activate(&args),
        Command::Refresh(args) => cli::commands::refresh(&args),
        Command::Fingerprint => cli::commands::fingerprint(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}
