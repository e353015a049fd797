//! One file per subcommand, each a short chain of calls into the library.

mod attestation;
mod batch;
mod diff;
mod manual;
mod store;
mod verify;

use crate::ExitStatus;
use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Diff(mut args) => {
            args.opts = crate::config::apply(args.opts)?;
            diff::run(&args)
        }
        Command::Verify(mut args) => {
            args.opts = crate::config::apply(args.opts)?;
            verify::run(&args)
        }
        Command::Pull(args) => store::pull(&args),
        Command::Images(args) => store::images(&args),
        Command::Load(args) => store::load(&args),
        Command::Rm(args) => store::rm(&args),
        Command::Prune(args) => store::prune(&args),
        Command::Info(args) => store::info(&args),
        Command::Completions(args) => manual::completions(&args),
        Command::Man(args) => manual::man(&args),
    }
}
