//! `ocidiff completions` and `ocidiff man`: both generated from the CLI definition, so they
//! name every flag there is (the rule flags too, which are built from the library's list).

use std::io::Write;

use anyhow::Context;
use clap::CommandFactory;

use crate::ExitStatus;
use crate::cli::{Cli, CompletionsArgs, ManArgs};

pub fn completions(args: &CompletionsArgs) -> anyhow::Result<ExitStatus> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "ocidiff", &mut script);
    std::io::stdout()
        .write_all(&script)
        .context("writing the completion script")?;
    Ok(ExitStatus::Same)
}

pub fn man(args: &ManArgs) -> anyhow::Result<ExitStatus> {
    let cmd = Cli::command();
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        clap_mangen::generate_to(cmd, dir)
            .with_context(|| format!("writing man pages into {}", dir.display()))?;
    } else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut page)
            .context("rendering the man page")?;
        std::io::stdout()
            .write_all(&page)
            .context("writing the man page")?;
    }
    Ok(ExitStatus::Same)
}
