//! Command-line flags as the user types them. They are turned into the library's options in
//! `commands/`, so that validation lives in one place.

// The doc comments here are clap's --help text, printed verbatim: backticks would show.
#![allow(clippy::doc_markdown)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::rule_flags::RuleFlags;

/// Compare container images (Docker and OCI) and tell what differs.
///
/// Exit status: 0 when the images are the same under the chosen options, 1 when they differ,
/// 2 on any error (bad arguments, unreadable or malformed input, a failed write).
#[derive(Debug, Parser)]
#[command(
    name = "ocidiff",
    version = crate::VERSION,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Log what is being done, in detail, on stderr. OCIDIFF_LOG takes a tracing filter
    /// instead (e.g. OCIDIFF_LOG=ocidiff_core::source=debug).
    #[arg(long, global = true)]
    pub debug: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare two images.
    #[command(after_long_help = IMAGE_HELP)]
    Diff(Box<DiffArgs>),
    /// Rebuild a published image from its source, compare the two, say how to fix what
    /// differs, and attest the result.
    #[command(after_long_help = VERIFY_HELP)]
    Verify(Box<VerifyArgs>),
    /// Pull images from a registry into the local store.
    Pull(PullArgs),
    /// List the images in the local store: registry pulls, docker:// and podman:// exports,
    /// loaded archives.
    ///
    /// NAME says where each image came from: alpine:3.18 for a registry image or a named
    /// load, docker://app:a or podman://app:a for an engine image (the name it was read by;
    /// `docker://<none>` once a rebuild took the name: `ocidiff prune` removes it), and
    /// "(loaded FILE)" for an unnamed load. ID is the engine's image ID, or the root digest,
    /// shortened to 12 digits. Any of NAME, ID or DIGEST can be given to `ocidiff rm`.
    Images(StoreArgs),
    /// Load `docker save` or OCI archives into the local store.
    Load(LoadArgs),
    /// Remove images from the local store and free the blobs nothing else uses.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unnamed images (exports a rebuild superseded, unnamed loads) and the blobs no
    /// image uses; with --all, every image and blob.
    Prune(PruneArgs),
    /// Show where the local store is and what it holds, by kind of image.
    Info(StoreArgs),
    /// Print the completion script for a shell, e.g.
    /// `ocidiff completions bash > ~/.local/share/bash-completion/completions/ocidiff`.
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command into a directory.
    Man(ManArgs),
}

/// `ocidiff completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `ocidiff man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `ocidiff.1` and a page per command (`ocidiff-diff.1`, …) into this directory
    /// instead of printing `ocidiff.1`.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Where the local image store is, and how registries are reached.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// The local image store's directory. Default: $XDG_CACHE_HOME/ocidiff (~/.cache/ocidiff).
    #[arg(
        long,
        value_name = "DIR",
        env = "OCIDIFF_STORE",
        help_heading = "Store"
    )]
    pub store: Option<PathBuf>,

    /// Reach this registry (HOST or HOST:PORT) over unverified TLS, or plain HTTP when TLS
    /// does not answer, like Docker's option of that name; repeatable. Loopback registries
    /// always are.
    #[arg(long, value_name = "HOST", help_heading = "Store")]
    pub insecure_registry: Vec<String>,
}

/// Credentials for registries, as skopeo takes them.
#[derive(Debug, Args, Clone, Default)]
pub struct AuthArgs {
    /// Credentials for the registries of both images, ahead of the Docker config. Without
    /// `:PASSWORD` the password is asked for on the terminal.
    #[arg(long, value_name = "USER[:PASSWORD]", help_heading = "Registry")]
    pub creds: Option<String>,

    /// Read registry credentials from this file, in the Docker config's format (`auths`,
    /// `credHelpers`, `credsStore`), instead of ~/.docker/config.json.
    #[arg(
        long,
        value_name = "FILE",
        env = "REGISTRY_AUTH_FILE",
        help_heading = "Registry"
    )]
    pub authfile: Option<PathBuf>,
}

/// When to ask the registry for an image the store may already hold.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Pull {
    Always,
    Missing,
    Never,
}

/// What `ocidiff diff` writes on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One aligned row per difference (diffoci's table).
    Table,
    /// A Markdown summary: verdict, counts by class, the differences as a table.
    Markdown,
}

/// `ocidiff pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Images to pull, e.g. alpine:3.18 or registry.example.com/team/app@sha256:….
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,

    /// Platform to pull, OS/ARCH[/VARIANT], OS or ARCH; repeatable. The image pulled is the
    /// one a runtime asking for it would run (containerd's matching: amd64 also runs 386,
    /// arm64 also runs arm/v8…). Default: linux on this machine's architecture.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Vec<String>,

    /// Pull every platform of a multi-platform image.
    #[arg(long, conflicts_with = "platform")]
    pub all_platforms: bool,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `ocidiff load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The archive to load (`docker save` output or an OCI archive). Default: standard input.
    #[arg(long, short, value_name = "FILE")]
    pub input: Option<PathBuf>,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// `ocidiff rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Images to remove, as `ocidiff images` shows them: a NAME (alpine:3.18,
    /// docker://app:a), an ID or DIGEST, whole or its first 12 or more hex digits. An engine
    /// image read by several names keeps the others. One that is not in the store is an error
    /// (exit 2), and nothing is removed.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// `ocidiff prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove every image and blob: the store is left empty (its directory stays).
    #[arg(long, short)]
    pub all: bool,

    #[command(flatten)]
    pub store: StoreArgs,
}

const IMAGE_HELP: &str = "\
IMAGES may be named as:
  oci:PATH[:REF]             an OCI image layout directory (REF: its ref.name)
  oci-archive:PATH[:REF]     a tar of an OCI image layout
  docker-archive:PATH[:REF]  `docker save` output (REF: one of its RepoTags)
  docker://REF               an image in the Docker daemon (DOCKER_HOST or the docker context)
  docker-daemon:REF          the same, in skopeo's spelling
  podman://REF               an image in Podman (its API socket, else `podman save`)
  PATH                       an existing layout directory or archive, recognised by its content
  NAME[:TAG][@DIGEST]        an image in a registry (alpine:3.18, ghcr.io/o/app@sha256:…),
                             pulled into the local store as --pull says
  containerd://REF           an image in containerd's image store, read in place through its
                             socket, in the namespace of --containerd-namespace (REF as
                             `ctr images ls` shows it, or short: alpine:3.18, or sha256:…)
  containerd://NS//REF       the same in namespace NS (moby: Docker's; k8s.io: Kubernetes')

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

    #[command(flatten)]
    pub opts: CompareArgs,
}

/// How two images are compared and the result written: every option of `ocidiff diff`, which
/// `ocidiff verify` takes too.
#[derive(Debug, Args, Clone)]
pub struct CompareArgs {
    #[command(flatten)]
    pub rules: RuleFlags,

    /// Set aside differences in files matching this glob (`*` stays within a directory, `**`
    /// crosses them; a leading `/` is optional; a directory covers what is below it);
    /// repeatable. E.g. --ignore-path /var/log/dpkg.log --ignore-path '/var/cache/**'.
    #[arg(long, value_name = "PATTERN", help_heading = "Comparison")]
    pub ignore_path: Vec<String>,

    /// Read option defaults and --ignore-path patterns from this TOML file (default:
    /// ./ocidiff.toml when it exists). Flags on the command line add to it.
    #[arg(long, value_name = "FILE", help_heading = "Comparison")]
    pub config: Option<PathBuf>,

    /// Platform to compare, OS/ARCH[/VARIANT], OS or ARCH; repeatable. From each image, the
    /// one a runtime asking for it would run is compared (containerd's matching, see
    /// docs/platforms.md). Default: linux on this machine's architecture.
    #[arg(long, value_name = "PLATFORM", help_heading = "Platforms")]
    pub platform: Vec<String>,

    /// Compare every image of both inputs, paired by platform; an image in one input only
    /// is a difference, and inputs with no platform in common are an error.
    #[arg(long, conflicts_with = "platform", help_heading = "Platforms")]
    pub all_platforms: bool,

    /// Show full values (digests, long strings) in the table, and log progress.
    #[arg(short, long, help_heading = "Output")]
    pub verbose: bool,

    /// Write nothing on stdout and no verdict line or progress on stderr: the exit status
    /// says it (errors are still written on stderr). Report files are still written.
    #[arg(short, long, conflicts_with = "verbose", help_heading = "Output")]
    pub quiet: bool,

    /// What to write on stdout: the table of differences, or a Markdown summary for CI job
    /// summaries (e.g. >> "$GITHUB_STEP_SUMMARY").
    #[arg(long, value_enum, default_value_t = Format::Table, help_heading = "Output")]
    pub format: Format,

    /// Write the report as JSON to this file; `-` writes it on stdout instead of the table.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub report_file: Option<PathBuf>,

    /// Write the report as one self-contained HTML page to this file: the verdict, the
    /// differences grouped by kind and class with their details, a filter box. It loads
    /// nothing from the network.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub report_html: Option<PathBuf>,

    /// Write the JSON report and the differing files of each input into this directory,
    /// which must not exist or be empty.
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub report_dir: Option<PathBuf>,

    /// When to pull registry images the local store already holds.
    #[arg(long, value_enum, default_value_t = Pull::Missing, help_heading = "Store")]
    pub pull: Pull,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    pub containerd: ContainerdArgs,

    #[command(flatten)]
    pub limits: LimitArgs,
}

const VERIFY_HELP: &str = "\
PUBLISHED is any image `ocidiff diff` reads (see `ocidiff diff --help`); it is input 0, the
rebuild input 1. The rebuild gets SOURCE_DATE_EPOCH (from the published image's `created`
time, unless given with --build-arg) and the published image's platform.

The comparison takes every option of `ocidiff diff`; without any, it is --semantic.

Exit status: 0 PASSED (the rebuild matches under the policy), 1 FAILED (it does not), 2 error
(a failed build shows the builder's last lines). With --batch: 0 when every image passed, 1 when
one failed, 2 when one could not be verified.";

/// Which builder rebuilds the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuilderName {
    /// Docker's classic builder, through the Engine API.
    Docker,
    /// BuildKit in the Docker daemon, through the docker CLI (buildx where installed).
    Buildkit,
    /// buildah bud.
    Buildah,
    /// podman build.
    Podman,
}

/// How the image is built again.
#[derive(Debug, Args, Clone, Default)]
pub struct BuildArgs {
    /// The build context: a directory, or a Git repository as `docker build` takes it
    /// (URL#REF:SUBDIR; git://, git@, ssh://, file:// or an http(s) URL ending in .git),
    /// cloned at REF (branch, tag or commit).
    #[arg(
        long,
        value_name = "DIR|URL#REF:SUBDIR",
        required_unless_present = "batch",
        help_heading = "Build"
    )]
    pub context: Option<String>,

    /// The Dockerfile (default: Dockerfile in the context); relative to the working
    /// directory for a directory context, to the context for a Git one, as with docker build.
    #[arg(short = 'f', long, value_name = "FILE", help_heading = "Build")]
    pub file: Option<PathBuf>,

    /// A build argument; repeatable. SOURCE_DATE_EPOCH given here is used instead of the
    /// published image's created time.
    #[arg(long, value_name = "KEY=VALUE", help_heading = "Build")]
    pub build_arg: Vec<String>,

    /// The Dockerfile stage to build.
    #[arg(long, value_name = "STAGE", help_heading = "Build")]
    pub target: Option<String>,

    /// The builder. Default: the Docker daemon's (BuildKit when the daemon says it builds
    /// with it, else the classic builder).
    #[arg(long, value_enum, help_heading = "Build")]
    pub builder: Option<BuilderName>,

    /// Let the builder reuse its cache. A cached step is not rebuilt: without this every
    /// step runs again.
    #[arg(long, help_heading = "Build")]
    pub cache: bool,

    /// The network of RUN steps (e.g. host), when not the builder's default.
    #[arg(long, value_name = "MODE", help_heading = "Build")]
    pub network: Option<String>,

    /// An argument passed as it is to a CLI builder (buildkit, buildah, podman), e.g.
    /// --builder-arg=--layers; repeatable.
    #[arg(
        long,
        value_name = "ARG",
        allow_hyphen_values = true,
        help_heading = "Build"
    )]
    pub builder_arg: Vec<String>,
}

/// `ocidiff verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The published image (input 0).
    #[arg(
        value_name = "PUBLISHED",
        required_unless_present = "batch",
        conflicts_with = "batch"
    )]
    pub published: Option<String>,

    #[command(flatten)]
    pub build: BuildArgs,

    /// Demand a bit-for-bit rebuild: no difference is set aside.
    #[arg(long, help_heading = "Comparison")]
    pub strict: bool,

    /// Write an in-toto statement with a SLSA verification summary of the result to this
    /// file, and the JSON report beside it (NAME.report.json, unless --report-file names it).
    #[arg(long, value_name = "FILE", help_heading = "Attestation")]
    pub attestation: Option<PathBuf>,

    /// Sign the attestation with this private key (PKCS#8 PEM: ECDSA P-256 or P-384, or
    /// Ed25519): the file is then a DSSE envelope.
    #[arg(long, value_name = "KEY", help_heading = "Attestation")]
    pub signing_key: Option<PathBuf>,

    /// Verify every image this TOML file lists (see docs/verify.md), writing a report and an
    /// attestation per image and a summary into --output.
    #[arg(long, value_name = "FILE", help_heading = "Batch")]
    pub batch: Option<PathBuf>,

    /// Where --batch writes its reports, attestations and summary.md.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "ocidiff-verify",
        requires = "batch",
        help_heading = "Batch"
    )]
    pub output: PathBuf,

    /// How many images --batch verifies at once.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        requires = "batch",
        help_heading = "Batch"
    )]
    pub jobs: usize,

    /// Verify only the K-th of N equal slices of the --batch list (1 <= K <= N), so that N CI
    /// jobs share a fleet.
    #[arg(long, value_name = "K/N", requires = "batch", help_heading = "Batch")]
    pub shard: Option<String>,

    #[command(flatten)]
    pub opts: CompareArgs,
}

/// `--max-scale`, for every command that reads images.
#[derive(Debug, Args, Clone)]
pub struct LimitArgs {
    /// Multiply every size and count limit by this factor (a layer over 4 GiB compressed
    /// needs 2 or more).
    #[arg(
        long,
        value_name = "FACTOR",
        default_value_t = 1.0,
        help_heading = "Limits"
    )]
    pub max_scale: f64,
}

impl LimitArgs {
    pub fn limits(&self) -> anyhow::Result<ocidiff_core::content::Limits> {
        if !(self.max_scale.is_finite() && self.max_scale > 0.0) {
            anyhow::bail!(
                "--max-scale must be a positive number, not {}",
                self.max_scale
            );
        }
        Ok(ocidiff_core::content::Limits::default().scaled(self.max_scale))
    }
}

/// Where containerd is, for `containerd://` images (diffoci's flags and variables).
#[derive(Debug, Args, Clone)]
pub struct ContainerdArgs {
    /// containerd's socket.
    #[arg(
        long,
        value_name = "SOCKET",
        env = "CONTAINERD_ADDRESS",
        default_value = ocidiff_core::source::containerd::DEFAULT_ADDRESS,
        help_heading = "containerd"
    )]
    pub containerd_address: String,

    /// The namespace of containerd://REF images (Docker's is moby, Kubernetes' k8s.io);
    /// containerd://NS//REF names one for that image alone.
    #[arg(
        long,
        value_name = "NS",
        env = "CONTAINERD_NAMESPACE",
        default_value = ocidiff_core::source::containerd::DEFAULT_NAMESPACE,
        help_heading = "containerd"
    )]
    pub containerd_namespace: String,
}
