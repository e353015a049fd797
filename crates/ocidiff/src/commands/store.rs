//! What the store-using commands share: the source context built from flags, and `pull`, `images`, `load`, `rm`, `prune`, `info`.

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use ocidiff_core::model::{Platform, PlatformChoice};
use ocidiff_core::reference::{DockerRef, ImageRef};
use ocidiff_core::source::registry::{self, Progress, PullOptions};
use ocidiff_core::source::{self, Context, CredentialSources, PullPolicy, Reporter};
use ocidiff_core::store::{self, RecordKind, Store};

use crate::ExitStatus;
use crate::cli::{AuthArgs, LoadArgs, PruneArgs, Pull, PullArgs, RmArgs, StoreArgs};

/// The context for opening images, from the store flags.
pub fn context(args: &StoreArgs, pull: Pull, platforms: PlatformChoice) -> Context {
    context_with(args, pull, platforms, crate::progress::bars(Vec::new()))
}

/// [`context`], telling `progress` how downloads and exports go.
pub fn context_with(
    args: &StoreArgs,
    pull: Pull,
    platforms: PlatformChoice,
    progress: Option<Arc<dyn Progress>>,
) -> Context {
    Context {
        store_root: args.store.clone(),
        pull: match pull {
            Pull::Always => PullPolicy::Always,
            Pull::Missing => PullPolicy::Missing,
            Pull::Never => PullPolicy::Never,
        },
        platforms,
        registry: PullOptions {
            insecure_registries: args.insecure_registry.clone(),
            progress: progress.clone(),
            ..PullOptions::default()
        },
        progress: progress.map(Reporter::to).unwrap_or_default(),
        keep_layers: false,
        containerd: Default::default(),
    }
}

/// `--creds` and `--authfile` as the library takes them.
pub fn credentials(auth: &AuthArgs) -> anyhow::Result<CredentialSources> {
    let explicit = match auth.creds.as_deref() {
        None => None,
        Some(creds) => {
            let (user, password) = match creds.split_once(':') {
                Some((user, password)) => (user, password.to_owned()),
                None => (creds, ask_password(creds)?),
            };
            if user.is_empty() {
                bail!("--creds: the user name is empty (write USER[:PASSWORD])");
            }
            Some((user.to_owned(), password))
        }
    };
    Ok(CredentialSources {
        explicit,
        auth_file: auth.authfile.clone(),
        ..CredentialSources::default()
    })
}

/// The password for `--creds USER`, asked for on the terminal; without one, an error.
fn ask_password(user: &str) -> anyhow::Result<String> {
    if !io::stdin().is_terminal() {
        anyhow::bail!(
            "--creds {user}: no password given, and no terminal to ask for it (write \
             --creds {user}:PASSWORD, or use --authfile)"
        );
    }
    rpassword::prompt_password(format!("Password for {user}: "))
        .context("reading the password from the terminal")
}

/// `--platform`/`--all-platforms` as the library takes them.
pub fn platforms(list: &[String], all: bool) -> anyhow::Result<PlatformChoice> {
    if all {
        return Ok(PlatformChoice::All);
    }
    if list.is_empty() {
        return Ok(PlatformChoice::default());
    }
    Ok(PlatformChoice::These(
        list.iter()
            .map(|p| p.parse::<Platform>())
            .collect::<Result<_, _>>()?,
    ))
}

pub fn open_store(args: &StoreArgs) -> anyhow::Result<Store> {
    Ok(context(args, Pull::Missing, PlatformChoice::default()).store()?)
}

pub fn pull(args: &PullArgs) -> anyhow::Result<ExitStatus> {
    let choice = platforms(&args.platform, args.all_platforms)?;
    let mut ctx = context(&args.store, Pull::Always, choice.clone());
    ctx.registry.limits = args.limits.limits()?;
    ctx.registry.credentials = credentials(&args.auth)?;
    let store = ctx.store()?;
    let requests = args
        .images
        .iter()
        .map(|s| Ok((DockerRef::parse(s)?, choice.clone())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let results = registry::pull_all(&store, &requests, &ctx.registry);
    let mut out = io::stdout().lock();
    for ((name, _), result) in requests.iter().zip(results) {
        let digest = result.with_context(|| format!("pulling {name}"))?;
        writeln!(out, "{} {digest}", name.familiar())?;
    }
    Ok(ExitStatus::Same)
}

pub fn images(args: &StoreArgs) -> anyhow::Result<ExitStatus> {
    let store = open_store(args)?;
    let mut rows: Vec<[String; 6]> = Vec::new();
    for record in store.list_images()? {
        let platforms: Vec<String> = record.platforms.iter().map(ToString::to_string).collect();
        let platforms = if platforms.is_empty() {
            "-".to_owned()
        } else {
            platforms.join(",")
        };
        for name in record.display_names() {
            rows.push([
                name,
                record.kind().as_str().to_owned(),
                record.short_id(),
                record.root.digest.to_string(),
                platforms.clone(),
                human_size(record.size),
            ]);
        }
    }
    rows.sort();
    let header = ["NAME", "KIND", "ID", "DIGEST", "PLATFORMS", "SIZE"].map(str::to_owned);
    print_table(std::iter::once(header).chain(rows).collect())
}

/// Rows in columns aligned on their widest cell, two spaces apart.
fn print_table<const N: usize>(rows: Vec<[String; N]>) -> anyhow::Result<ExitStatus> {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = io::stdout().lock();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    Ok(ExitStatus::Same)
}

// For display to one decimal: the precision lost above 2^52 bytes does not show.
#[allow(clippy::cast_precision_loss)]
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

pub fn load(args: &LoadArgs) -> anyhow::Result<ExitStatus> {
    let store = open_store(&args.store)?;
    // The archive readers seek; standard input is spooled into the store's directory first.
    let spooled;
    let path = if let Some(p) = &args.input {
        p.clone()
    } else {
        if io::stdin().is_terminal() {
            bail!(
                "no archive given: pass --input FILE or pipe one in (docker save IMAGE | ocidiff load)"
            );
        }
        let mut file =
            tempfile::NamedTempFile::new_in(store.root()).context("spooling standard input")?;
        io::copy(&mut io::stdin().lock(), &mut file).context("reading standard input")?;
        spooled = file;
        spooled.path().to_owned()
    };
    let display = args
        .input
        .as_ref()
        .map_or_else(|| "standard input".to_owned(), |p| p.display().to_string());
    // What `ocidiff images` shows for an unnamed image of the archive.
    let from = args
        .input
        .as_ref()
        .and_then(|p| p.file_name())
        .map_or_else(|| display.clone(), |f| f.to_string_lossy().into_owned());
    let kind = ImageRef::parse(&path.display().to_string())
        .with_context(|| format!("loading {display}"))?;
    let mut out = io::stdout().lock();
    for archived in source::archived_images(&path).with_context(|| format!("loading {display}"))? {
        let reference = match &kind {
            ImageRef::OciArchive { path, .. } => ImageRef::OciArchive {
                path: path.clone(),
                reference: archived.selector.clone(),
            },
            ImageRef::DockerArchive { path, .. } => ImageRef::DockerArchive {
                path: path.clone(),
                reference: archived.selector.clone(),
            },
            other => bail!("{display} is not an archive ({})", other.transport()),
        };
        let image = source::open(&reference, &Default::default())
            .with_context(|| format!("loading {display}"))?;
        let names = archived
            .names
            .iter()
            .map(|n| DockerRef::parse(n))
            .collect::<Result<Vec<_>, _>>()?;
        for record in store::load(&store, &image, &names, &from)? {
            writeln!(out, "Loaded {} {}", record.key(), record.root.digest)?;
        }
    }
    Ok(ExitStatus::Same)
}

pub fn rm(args: &RmArgs) -> anyhow::Result<ExitStatus> {
    let store = open_store(&args.store)?;
    let removal = store.remove_selected(&args.images)?;
    let mut out = io::stdout().lock();
    for name in &removal.untagged {
        writeln!(out, "Untagged {name}")?;
    }
    report_removal(&mut out, &removal)
}

pub fn prune(args: &PruneArgs) -> anyhow::Result<ExitStatus> {
    let store = open_store(&args.store)?;
    let removal = store.prune(args.all)?;
    report_removal(&mut io::stdout().lock(), &removal)
}

/// `Removed NAME (ID)` per record, then what was freed.
fn report_removal(out: &mut impl Write, removal: &store::Removal) -> anyhow::Result<ExitStatus> {
    for record in &removal.removed {
        writeln!(
            out,
            "Removed {} ({})",
            record.display_names().join(", "),
            record.short_id()
        )?;
    }
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    writeln!(
        out,
        "Freed {}, {}, {}",
        count(removal.removed.len(), "image"),
        count(removal.freed_blobs, "blob"),
        human_size(removal.freed_bytes)
    )?;
    Ok(ExitStatus::Same)
}

pub fn info(args: &StoreArgs) -> anyhow::Result<ExitStatus> {
    let store = open_store(args)?;
    let info = store.info()?;
    let mut out = io::stdout().lock();
    writeln!(out, "ocidiff {}", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "Store:     {}", info.root.display())?;
    writeln!(out, "Images:    {} ({} unnamed)", info.images, info.unnamed)?;
    for (kind, usage) in &info.kinds {
        let title = match kind {
            RecordKind::Registry => "registry images",
            RecordKind::Docker => "docker:// exports",
            RecordKind::Podman => "podman:// exports",
            RecordKind::Archive => "loaded archives",
        };
        writeln!(
            out,
            "  {title:<18} {:>4}  {:>5} blobs  {:>9}",
            usage.images,
            usage.blobs,
            human_size(usage.bytes)
        )?;
    }
    writeln!(
        out,
        "Blobs:     {} ({})",
        info.blobs,
        human_size(info.bytes)
    )?;
    writeln!(
        out,
        "Listings:  {} ({}; {} of layers kept without their bytes)",
        info.listings.0,
        human_size(info.listings.1),
        info.listed_only
    )?;
    writeln!(
        out,
        "Unused:    {} blobs ({}; `ocidiff prune` frees them)",
        info.unused.blobs,
        human_size(info.unused.bytes)
    )?;
    writeln!(
        out,
        "Platform:  {} (default for --platform)",
        Platform::host()
    )?;
    Ok(ExitStatus::Same)
}
