//! The `dbuild` binary: parses the command line and hands each command to the crates that
//! do the work. It owns the terminal: progress, summaries and exit codes live here.

mod build;
mod clean;
mod cli;
mod debian;
mod load;
mod lock;
mod progress;
mod query;
mod settings;
mod summary;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let args = cli::expand_shorthand(std::env::args_os().collect());
    let cli = Cli::parse_from(args);
    let code = match &cli.command {
        Command::Build(args) => build::run(&cli.global, args),
        Command::Query(args) => report(query::run(args)),
        Command::Clean(args) => report(clean::run(&cli.global, args)),
        Command::Load(args) => report(load::run(&cli.global, args)),
        Command::Lock(args) => report(lock::run(&cli.global, args)),
    };
    ExitCode::from(code as u8)
}

/// Prints a command's error as one sentence plus its causes, and picks the exit code.
fn report(result: anyhow::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}
