//! The `feedwatch` command line. Each command lives in its own file under
//! `src/cli/`, which parses its arguments, loads config, wires files and
//! stdout to the library, and reports errors in words a user can act on.
//! No detection logic lives here or there.
//!
//! This file only installs logging, hands the parsed command to
//! [`cli::Cli::run`] and turns its outcome into the exit status.

mod cli;

use clap::Parser;
use std::io;
use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = cli::Cli::parse();
    match cli.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit_code(&e),
    }
}

/// The exit status of a failed command, its error on stderr.
fn exit_code(e: &anyhow::Error) -> ExitCode {
    // A closed stdout (e.g. piped into `head`) is not an error.
    if e.downcast_ref::<io::Error>()
        .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    {
        return ExitCode::SUCCESS;
    }
    eprintln!("feedwatch: error: {e:#}");
    ExitCode::FAILURE
}
