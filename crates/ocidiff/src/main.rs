//! `ocidiff`: the command-line front end. It parses flags, calls the library and maps the
//! outcome to an exit status: 0 same, 1 different, 2 error.

mod cli;
mod commands;
mod config;
mod hint;
mod progress;
mod rule_flags;

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use clap::Parser;

/// `0.1.0 (abc123456789 2026-12-03)`: the version and the commit it was built from (build.rs),
/// so that a report or a bug can be traced to its source.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("OCIDIFF_BUILD"), ")");

/// The commit of [`VERSION`] alone, for the reports' `tool.commit`.
const COMMIT: &str = env!("OCIDIFF_COMMIT");

/// musl's own allocator made the static release 1.3-1.5x slower on layers of many small files
/// (docs/release.md); mimalloc brings it back to glibc's speed.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The result of a command that ran to its end.
pub enum ExitStatus {
    Same,
    Different,
}

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with status 0; usage errors are status 2.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(&cli);
    match commands::run(cli) {
        Ok(ExitStatus::Same) => ExitCode::SUCCESS,
        Ok(ExitStatus::Different) => ExitCode::from(1),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("ocidiff: error: {}", one_line(&err));
            ExitCode::from(2)
        }
    }
}

fn init_logging(cli: &cli::Cli) {
    let verbose = match &cli.command {
        cli::Command::Diff(d) => d.opts.verbose,
        cli::Command::Verify(v) => v.opts.verbose,
        _ => false,
    };
    let level = if cli.debug {
        "debug"
    } else if verbose {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("OCIDIFF_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("ocidiff={level},ocidiff_core={level}"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// The error and its causes on one line, then the flag that would change the outcome, if one
/// would. Library messages often quote their cause already; a cause whose text is already
/// there is not repeated.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    if let Some(hint) = hint::for_error(err) {
        line.push(' ');
        line.push_str(&hint);
    }
    line.replace('\n', " ")
}

/// A reader that closed our stdout (`ocidiff diff … | head`) is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
