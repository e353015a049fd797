//! Command-line flags as the user types them. They are turned into the library's options in
//! `commands/`, so that validation lives in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Compare container images (Docker and OCI) and tell what differs.
///
/// Exit status: 0 when the images are the same under the chosen options, 1 when they differ,
/// 2 on any error (bad arguments, unreadable or malformed input, a failed write).
#[derive(Debug, Parser)]
#[command(
    name = "ocidiff",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Log what is being done, in detail, on stderr.
    #[arg(long, global = true)]
    pub debug: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare two images.
    #[command(after_long_help = IMAGE_HELP)]
    Diff(DiffArgs),
}

const IMAGE_HELP: &str = "\
IMAGES may be named as:
  oci:PATH[:REF]             an OCI image layout directory (REF: its ref.name)
  oci-archive:PATH[:REF]     a tar of an OCI image layout
  docker-archive:PATH[:REF]  `docker save` output (REF: one of its RepoTags)
  docker://REF               an image in the Docker daemon (DOCKER_HOST or the docker context)
  podman://REF               an image in Podman (its API socket, else `podman save`)
  PATH                       an existing layout directory or archive, recognised by its content

Exit status: 0 same, 1 different, 2 error.";

/// `ocidiff diff`: the options keep diffoci's names and meanings.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The first image (input 0).
    #[arg(value_name = "IMAGE0")]
    pub lhs: String,

    /// The second image (input 1).
    #[arg(value_name = "IMAGE1")]
    pub rhs: String,

    /// Ignore what does not change what the image does: all the --ignore-* options and
    /// --treat-canonical-paths-equal, plus the storage format (Docker or OCI media types,
    /// layer compression, Docker-only config fields).
    #[arg(long, help_heading = "Comparison")]
    pub semantic: bool,

    /// Ignore file and image timestamps.
    #[arg(long, help_heading = "Comparison")]
    pub ignore_timestamps: bool,

    /// Ignore the config's history.
    #[arg(long, help_heading = "Comparison")]
    pub ignore_history: bool,

    /// Ignore the order of entries in a layer.
    #[arg(long, help_heading = "Comparison")]
    pub ignore_file_order: bool,

    /// Compare only permission bits of modes (mode & 07777), not file-type bits.
    #[arg(long, help_heading = "Comparison")]
    pub ignore_file_mode_redundant_bits: bool,

    /// Ignore mtime, atime and ctime of layer entries.
    #[arg(long, help_heading = "Comparison")]
    pub ignore_file_timestamps: bool,

    /// Ignore `created` in config and history and the created annotation.
    #[arg(long, help_heading = "Comparison")]
    pub ignore_image_timestamps: bool,

    /// Ignore the annotations that name the image (ref.name, io.containerd.image.name).
    #[arg(long, help_heading = "Comparison")]
    pub ignore_image_name: bool,

    /// Ignore whether entries are written as USTAR, PAX or GNU tar.
    #[arg(long, help_heading = "Comparison")]
    pub ignore_tar_format: bool,

    /// Treat "/a", "./a" and "a" as the same path.
    #[arg(long, help_heading = "Comparison")]
    pub treat_canonical_paths_equal: bool,

    /// Platform to compare, OS/ARCH[/VARIANT]; repeatable. Default: linux on this machine's
    /// architecture.
    #[arg(long, value_name = "PLATFORM", help_heading = "Platforms")]
    pub platform: Vec<String>,

    /// Compare every platform present in both images, one pair at a time.
    #[arg(long, conflicts_with = "platform", help_heading = "Platforms")]
    pub all_platforms: bool,

    /// Show full values (digests, long strings) in the table, and log progress.
    #[arg(short, long, help_heading = "Output")]
    pub verbose: bool,

    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub report_file: Option<PathBuf>,

    /// Write the JSON report and the differing files of each input into this directory,
    /// which must not exist or be empty.
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub report_dir: Option<PathBuf>,

    /// Multiply every size and count limit by this factor.
    #[arg(
        long,
        value_name = "FACTOR",
        default_value_t = 1.0,
        help_heading = "Limits"
    )]
    pub max_scale: f64,
}
