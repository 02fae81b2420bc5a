//! The commands of the `licet-client` binary and their exit codes; `main.rs`
//! holds only the command-line definition.

pub mod commands;
pub mod exit;
