//! `ocidiff.toml`: defaults for `ocidiff diff` that a project keeps next to its Dockerfile, so
//! that everyone verifying its images ignores the same known noise.
//!
//! ```toml
//! [diff]
//! semantic = true
//! ignore-path = ["/var/log/dpkg.log", "/var/cache/**"]
//! platform = ["linux/amd64"]
//! ```
//!
//! Every boolean flag of `ocidiff diff` may be set here under its long name; the command line
//! can turn more on, never off.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::cli::CompareArgs;
use crate::rule_flags::RuleFlags;

/// The file's contents.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub diff: DiffDefaults,
}

/// The `[diff]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DiffDefaults {
    #[serde(default)]
    all_platforms: bool,
    #[serde(default)]
    ignore_path: Vec<String>,
    #[serde(default)]
    platform: Vec<String>,
    /// The comparison switches, by [`RuleFlags`] name.
    #[serde(flatten)]
    switches: BTreeMap<String, bool>,
}

/// The config file to read: the one named, else `./ocidiff.toml` if present.
fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        Some(p.to_owned())
    } else {
        let here = PathBuf::from("ocidiff.toml");
        here.is_file().then_some(here)
    }
}

/// `args` with the config file's defaults merged in.
pub fn apply(mut args: CompareArgs) -> anyhow::Result<CompareArgs> {
    let Some(path) = locate(args.config.as_deref()) else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    let file: ConfigFile =
        toml::from_str(&text).with_context(|| format!("config file {}", path.display()))?;
    tracing::info!(path = %path.display(), "read config file");
    args.config = Some(path.clone());
    let d = file.diff;
    for (name, on) in d.switches {
        let mut flags = RuleFlags::default();
        if !flags.turn_on(&name) {
            let known: Vec<_> = RuleFlags::names()
                .chain(["all-platforms", "ignore-path", "platform"])
                .collect();
            anyhow::bail!(
                "config file {}: unknown key `{name}` in [diff], expected one of: {}",
                path.display(),
                known.join(", ")
            );
        }
        if on {
            args.rules.rules = args.rules.rules | flags.rules;
        }
    }
    args.ignore_path.extend(d.ignore_path);
    if args.platform.is_empty() && !args.all_platforms {
        args.platform = d.platform;
        args.all_platforms = d.all_platforms;
    }
    Ok(args)
}
