//! `licet keys`: list, rotate and retire the signing keys of the configured backend.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;
use crate::signing::keys;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys: the active one, those that still verify, and retired ones.
    List,
    /// Make a new active key; the previous one keeps verifying until it is retired.
    Rotate,
    /// Stop publishing a previous key; refused while tokens it signed may still be valid.
    Retire {
        /// The key id, as `licet keys list` shows it.
        kid: String,
    },
}

/// Runs one `licet keys` command.
pub fn run(config: &Config, command: KeysCommand) -> anyhow::Result<ExitCode> {
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        match command {
            KeysCommand::List => {
                for key in keys::list(config).await? {
                    println!("{}\t{}\t{}", key.kid, key.state, key.note);
                }
            }
            KeysCommand::Rotate => {
                let (old, new) = keys::rotate(config).await?;
                println!("rotated: `{new}` signs new tokens (running servers switch within {} s); `{old}` keeps verifying until retired", config.signing.refresh_seconds);
            }
            KeysCommand::Retire { kid } => {
                keys::retire(config, &kid, std::time::SystemTime::now()).await?;
                println!("retired: `{kid}` leaves the JWKS within {} s", config.signing.refresh_seconds);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
