//! What each `licet-client` command does, in terms of the library.

use std::io::{self, Read, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use licet_client::{
    ActivationRequest, Jwks, LicenseCheck, LicenseKey, StateDir, TrustedKeys, VerifyError,
    machine_fingerprint, verify_decision, verify_license, verify_revocations,
};
use serde::Serialize;

use super::exit::Failure;
use crate::{
    ActivateArgs, InstallArgs, KeyArgs, LicenseVerifyArgs, NowArg, RefreshArgs, RequestArgs,
    RevocationsVerifyArgs, ServerArgs, VerifyArgs,
};

/// Where the host name is read for a request's default `--name`.
const HOSTNAME_FILES: [&str; 2] = ["/proc/sys/kernel/hostname", "/etc/hostname"];

pub fn verify(args: &VerifyArgs) -> Result<(), Failure> {
    let token = read_argument_or_stdin(&args.token).map_err(Failure::Io)?;
    // Decisions are never armoured: an armoured file is a licence file or revocation list.
    if let Some(label) = token.lines().find_map(|line| {
        let label = line
            .trim()
            .strip_prefix("-----BEGIN ")?
            .strip_suffix("-----")?;
        Some(label.to_owned())
    }) {
        return Err(Failure::Verify(VerifyError::WrongKind(label)));
    }
    let jwks = Jwks::load(&args.jwks).map_err(Failure::setup)?;
    let now = args.now.resolve()?;
    let claims = verify_decision(&token, &jwks, now).map_err(Failure::Verify)?;
    if let Some(nonce) = &args.nonce {
        claims.check_nonce(nonce).map_err(Failure::Verify)?;
    }
    print_json(&claims)
}

pub fn license_verify(args: &LicenseVerifyArgs) -> Result<(), Failure> {
    let text = read_file_or_stdin(&args.file, "licence file")?;
    let keys = args.keys.load()?;
    let now = args.now.resolve()?;
    let state = args.state.as_deref().map(StateDir::open).transpose()?;

    let revocations = match &args.revocations {
        Some(path) => {
            let list_text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the revocation list `{}`", path.display()))
                .map_err(Failure::Io)?;
            Some(match &state {
                Some(state) => state.verify_revocations(&list_text, &keys, now)?,
                None => verify_revocations(&list_text, &keys, now)?,
            })
        }
        None => None,
    };
    let check = LicenseCheck {
        now,
        fingerprint: args.fingerprint.as_deref(),
        revocations: revocations.as_ref(),
    };
    let claims = match &state {
        Some(state) => state.verify_license(&text, &keys, &check)?,
        None => verify_license(&text, &keys, &check)?,
    };
    print_json(&claims)
}

pub fn revocations_verify(args: &RevocationsVerifyArgs) -> Result<(), Failure> {
    let text = read_file_or_stdin(&args.file, "revocation list")?;
    let keys = args.keys.load()?;
    let now = args.now.resolve()?;
    let list = match args.state.as_deref() {
        Some(dir) => StateDir::open(dir)?.verify_revocations(&text, &keys, now)?,
        None => verify_revocations(&text, &keys, now)?,
    };
    print_json(&list)
}

pub fn request(args: &RequestArgs) -> Result<(), Failure> {
    let fingerprint = match &args.fingerprint {
        Some(fingerprint) => fingerprint.clone(),
        None => machine_fingerprint().map_err(Failure::setup)?,
    };
    let name = match &args.name {
        Some(name) => name.clone(),
        None => host_name().map_err(Failure::Io)?,
    };
    let state = StateDir::open(&args.state)?;
    let request = ActivationRequest::new(LicenseKey::new(&args.license_key), &fingerprint, &name)
        .map_err(Failure::setup)?;
    state.save_pending_request(&request)?;

    let text = request.to_armored();
    if args.out == "-" {
        return write_stdout(&text);
    }
    write_private_file(Path::new(&args.out), &text).map_err(Failure::Io)?;
    eprintln!(
        "wrote the activation request to `{}`; send it to your licence administrator, then run `licet-client install` with the answer",
        args.out
    );
    Ok(())
}

pub fn install(args: &InstallArgs) -> Result<(), Failure> {
    let text = read_file_or_stdin(&args.response, "response")?;
    let keys = args.keys.load()?;
    let now = args.now.resolve()?;
    let state = StateDir::open(&args.state)?;
    let claims = state.install(&text, &keys, now)?;
    eprintln!(
        "installed the licence as `{}`",
        state.license_path().display()
    );
    print_json(&claims)
}

pub fn activate(args: &ActivateArgs) -> Result<(), Failure> {
    let fingerprint = args.server.fingerprint()?;
    let name = match &args.name {
        Some(name) => name.clone(),
        None => host_name().map_err(Failure::Io)?,
    };
    let keys = args.keys.load()?;
    let now = args.now.resolve()?;
    let state = StateDir::open(&args.state)?;
    let claims = licet_client::activate(
        &args.server.server,
        &args.server.license_key(),
        &fingerprint,
        &name,
        None,
        &state,
        &keys,
        now,
    )?;
    eprintln!(
        "activated; stored the licence as `{}`",
        state.license_path().display()
    );
    print_json(&claims)
}

pub fn refresh(args: &RefreshArgs) -> Result<(), Failure> {
    let fingerprint = args.server.fingerprint()?;
    let keys = args.keys.load()?;
    let now = args.now.resolve()?;
    let state = StateDir::open(&args.state)?;
    let claims = licet_client::refresh(
        &args.server.server,
        &args.server.license_key(),
        &fingerprint,
        &state,
        &keys,
        now,
    )?;
    eprintln!(
        "refreshed; stored the licence as `{}`",
        state.license_path().display()
    );
    print_json(&claims)
}

pub fn fingerprint() -> Result<(), Failure> {
    let fingerprint = machine_fingerprint().map_err(Failure::setup)?;
    write_stdout(&format!("{fingerprint}\n"))
}

impl KeyArgs {
    /// The JWKS or the pinned key; clap guarantees exactly one is given.
    fn load(&self) -> Result<TrustedKeys, Failure> {
        match (&self.jwks, &self.key) {
            (Some(jwks), _) => Ok(Jwks::load(jwks).map_err(Failure::setup)?.into()),
            (None, Some(pem)) => TrustedKeys::pinned_from_pem_file(pem).map_err(Failure::setup),
            (None, None) => Err(Failure::Io(anyhow!("pass `--jwks` or `--key`"))),
        }
    }
}

impl ServerArgs {
    /// `--fingerprint`, or this machine's.
    fn fingerprint(&self) -> Result<String, Failure> {
        match &self.fingerprint {
            Some(fingerprint) => Ok(fingerprint.clone()),
            None => machine_fingerprint().map_err(Failure::setup),
        }
    }

    fn license_key(&self) -> LicenseKey {
        LicenseKey::new(&self.license_key)
    }
}

impl NowArg {
    /// `--now`, or the system clock.
    fn resolve(&self) -> Result<i64, Failure> {
        match self.now {
            Some(now) => Ok(now),
            None => system_now().map_err(Failure::Io),
        }
    }
}

fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    let json = serde_json::to_string_pretty(value)
        .context("cannot encode the output")
        .map_err(Failure::Io)?;
    write_stdout(&format!("{json}\n"))
}

fn write_stdout(text: &str) -> Result<(), Failure> {
    io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("cannot write to standard output")
        .map_err(Failure::Io)
}

/// The token argument, or all of stdin for `-`.
fn read_argument_or_stdin(arg: &str) -> anyhow::Result<String> {
    if arg != "-" {
        return Ok(arg.to_owned());
    }
    read_stdin("the token")
}

/// The contents of the file `arg`, or all of stdin for `-`; `what` names it
/// in errors.
fn read_file_or_stdin(arg: &str, what: &str) -> Result<String, Failure> {
    if arg == "-" {
        return read_stdin(&format!("the {what}")).map_err(Failure::Io);
    }
    std::fs::read_to_string(arg)
        .with_context(|| format!("cannot read the {what} `{arg}`"))
        .map_err(Failure::Io)
}

fn read_stdin(what: &str) -> anyhow::Result<String> {
    let mut text = String::new();
    io::stdin()
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {what} from standard input"))?;
    Ok(text)
}

/// Writes `text` to `path` readable by its owner only, replacing any file
/// there.
fn write_private_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write `{}`", path.display()))
}

fn host_name() -> anyhow::Result<String> {
    HOSTNAME_FILES
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
        .ok_or_else(|| anyhow!("cannot tell this machine's host name; pass `--name`"))
}

fn system_now() -> anyhow::Result<i64> {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| anyhow!("the system clock is before 1970; pass `--now`"))?;
    i64::try_from(since_epoch.as_secs()).context("the system clock is out of range; pass `--now`")
}
