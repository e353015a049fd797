//! One file per subcommand, each a short chain of calls into the library.

mod diff;

use crate::Verdict;
use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<Verdict> {
    match cli.command {
        Command::Diff(args) => diff::run(&args),
    }
}
