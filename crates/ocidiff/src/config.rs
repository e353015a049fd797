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

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::cli::DiffArgs;

/// The file's contents.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub diff: DiffDefaults,
}

/// The `[diff]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DiffDefaults {
    #[serde(default)]
    semantic: bool,
    #[serde(default)]
    ignore_timestamps: bool,
    #[serde(default)]
    ignore_history: bool,
    #[serde(default)]
    ignore_file_order: bool,
    #[serde(default)]
    ignore_file_mode_redundant_bits: bool,
    #[serde(default)]
    ignore_file_timestamps: bool,
    #[serde(default)]
    ignore_image_timestamps: bool,
    #[serde(default)]
    ignore_image_name: bool,
    #[serde(default)]
    ignore_tar_format: bool,
    #[serde(default)]
    treat_canonical_paths_equal: bool,
    #[serde(default)]
    flatten: bool,
    #[serde(default)]
    all_platforms: bool,
    #[serde(default)]
    ignore_path: Vec<String>,
    #[serde(default)]
    platform: Vec<String>,
}

/// The config file to read: the one named, else `./ocidiff.toml` if present.
fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_owned()),
        None => {
            let here = PathBuf::from("ocidiff.toml");
            here.is_file().then_some(here)
        }
    }
}

/// `args` with the config file's defaults merged in.
pub fn apply(mut args: DiffArgs) -> anyhow::Result<DiffArgs> {
    let Some(path) = locate(args.config.as_deref()) else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    let file: ConfigFile =
        toml::from_str(&text).with_context(|| format!("config file {}", path.display()))?;
    tracing::info!(path = %path.display(), "read config file");
    let d = file.diff;
    args.semantic |= d.semantic;
    args.ignore_timestamps |= d.ignore_timestamps;
    args.ignore_history |= d.ignore_history;
    args.ignore_file_order |= d.ignore_file_order;
    args.ignore_file_mode_redundant_bits |= d.ignore_file_mode_redundant_bits;
    args.ignore_file_timestamps |= d.ignore_file_timestamps;
    args.ignore_image_timestamps |= d.ignore_image_timestamps;
    args.ignore_image_name |= d.ignore_image_name;
    args.ignore_tar_format |= d.ignore_tar_format;
    args.treat_canonical_paths_equal |= d.treat_canonical_paths_equal;
    args.flatten |= d.flatten;
    args.ignore_path.extend(d.ignore_path);
    if args.platform.is_empty() && !args.all_platforms {
        args.platform = d.platform;
        args.all_platforms = d.all_platforms;
    }
    Ok(args)
}
