//! `ocidiff diff IMAGE0 IMAGE1`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use ocidiff_core::compare::{self, CompareOptions};
use ocidiff_core::finding::Findings;
use ocidiff_core::image::Image;
use ocidiff_core::reference::{DockerRef, ImageRef};
use ocidiff_core::report::{dir::ReportDir, html, json, markdown, table};
use ocidiff_core::source::{self, Progress, Reporter};
use ocidiff_core::store::{DiffIds, Store};

use crate::ExitStatus;
use crate::cli::{CompareArgs, DiffArgs, Format};
use crate::hint::Input;

pub fn run(args: &DiffArgs) -> anyhow::Result<ExitStatus> {
    let mut opts = options(&args.opts)?;
    // Refuse unusable report paths before the (possibly long) comparison.
    let json_to_stdout = args.opts.report_file.as_deref() == Some(Path::new("-"));
    if json_to_stdout && (args.opts.quiet || args.opts.format == Format::Markdown) {
        anyhow::bail!(
            "--report-file - writes the JSON report on stdout: it cannot go with --quiet or \
             --format markdown"
        );
    }
    let report_file = match &args.opts.report_file {
        Some(path) if !json_to_stdout => Some(PendingFile::create(path, "report file")?),
        _ => None,
    };
    let report_html = match &args.opts.report_html {
        Some(path) => Some(PendingFile::create(path, "HTML report")?),
        None => None,
    };
    let mut report_dir = match &args.opts.report_dir {
        Some(d) => Some(ReportDir::create(d)?),
        None => None,
    };
    // Parsed once: telling an archive from a layout reads the file.
    let parse = |n: usize, s: &str| ImageRef::parse(s).with_context(|| format!("input {n}"));
    let refs = [parse(0, &args.lhs)?, parse(1, &args.rhs)?];
    let progress = if args.opts.quiet {
        None
    } else {
        crate::progress::bars(tasks_of(&refs))
    };
    opts.progress = progress.clone().map(Reporter::to).unwrap_or_default();
    let (images, downloaded) = open_images(&args.opts, &opts, refs.into(), 0, progress)?;
    let [lhs, rhs]: [Image; 2] = images
        .try_into()
        .unwrap_or_else(|_| unreachable!("one image per reference"));
    tracing::info!(lhs = %lhs.reference, rhs = %rhs.reference, "comparing");
    let mut compared = compare::compare(&lhs, &rhs, &opts)?;
    compared.report.config_file = args.opts.config.as_ref().map(|p| p.display().to_string());
    crate::COMMIT.clone_into(&mut compared.report.tool.commit);
    // A layer the comparison did not read (the same on both sides) may still be
    // downloading: a pull that fails is an error, as when it failed before comparing.
    downloaded()?;
    let report = &compared.report;

    if !args.opts.quiet {
        print(&args.opts, json_to_stdout, report)?;
    }
    if let Some(file) = report_file {
        file.write(|out| json::write_json(report, out))?;
    }
    if let Some(file) = report_html {
        file.write(|out| html::write_html(report, out))?;
    }
    if let Some(dir) = report_dir.as_mut() {
        compared.extract([&lhs, &rhs], &opts.limits, dir)?;
    }
    if let Some(dir) = report_dir {
        dir.finish(report)?;
    }
    if !args.opts.quiet {
        eprintln!("ocidiff: {}", report.verdict.line());
    }
    Ok(if report.verdict.counted == 0 {
        ExitStatus::Same
    } else {
        ExitStatus::Different
    })
}

/// Writes on stdout what `--format` (or `--report-file -`) asks for.
pub(super) fn print(
    args: &CompareArgs,
    json_to_stdout: bool,
    report: &Findings,
) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let printed = if json_to_stdout {
        json::write_json(report, &mut out)
    } else {
        match args.format {
            Format::Table => {
                table::write_table(report, &mut out, table::TableOptions { full: args.verbose })
            }
            Format::Markdown => markdown::write_markdown(report, &mut out),
        }
    }
    .and_then(|()| out.flush());
    match printed {
        // A reader that stopped reading (`ocidiff diff … | head`) changes neither the verdict
        // nor the reports asked for.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        printed => printed.context("writing to standard output"),
    }
}

/// A report file made ready before the comparison, so that a path that cannot be written
/// fails before the work. A regular file is written to a temporary file beside it and renamed
/// into place once the report is complete, so a run that fails leaves no partial report; a
/// device or a pipe (`/dev/stdout`, a FIFO) is written in place.
pub(super) struct PendingFile {
    path: PathBuf,
    what: &'static str,
    target: Target,
}

enum Target {
    /// A temporary file, renamed to this path when complete.
    Replace(tempfile::NamedTempFile, PathBuf),
    InPlace(std::fs::File),
}

impl PendingFile {
    pub(super) fn create(path: &Path, what: &'static str) -> anyhow::Result<PendingFile> {
        let creating = || format!("creating {what} {}", path.display());
        let target = match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                anyhow::bail!("{what} {}: is a directory", path.display())
            }
            Ok(meta) if !meta.is_file() => {
                Target::InPlace(std::fs::File::create(path).with_context(creating)?)
            }
            // Through a symbolic link, the file it names is replaced, not the link.
            Ok(_) => {
                let real = std::fs::canonicalize(path).with_context(creating)?;
                Target::Replace(temp_beside(&real).with_context(creating)?, real)
            }
            Err(_) => Target::Replace(temp_beside(path).with_context(creating)?, path.to_owned()),
        };
        Ok(PendingFile {
            path: path.to_owned(),
            what,
            target,
        })
    }

    pub(super) fn write(
        self,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> anyhow::Result<()> {
        let (path, what) = (self.path, self.what);
        let writing = || format!("writing {what} {}", path.display());
        match self.target {
            Target::InPlace(file) => {
                let mut out = io::BufWriter::new(file);
                write(&mut out)
                    .and_then(|()| out.flush())
                    .with_context(writing)
            }
            Target::Replace(tmp, real) => {
                let mut out = io::BufWriter::new(tmp);
                write(&mut out)
                    .and_then(|()| out.flush())
                    .with_context(writing)?;
                let tmp = out
                    .into_inner()
                    .map_err(io::IntoInnerError::into_error)
                    .with_context(writing)?;
                tmp.persist(&real)
                    .map_err(|e| e.error)
                    .with_context(writing)?;
                Ok(())
            }
        }
    }
}

/// A temporary file in the directory of `path`, with the mode a plain create would give.
fn temp_beside(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".ocidiff-report-");
    // 0666 less the umask, not the 0600 of temporary files.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder.tempfile_in(dir)
}

/// Opens the inputs together: registry images are pulled side by side, their layers still
/// downloading when this returns; the function returned waits for them (dropping it stops
/// them). Input `n` of the comparison is `refs[n - first]`.
pub(super) fn open_images(
    args: &CompareArgs,
    opts: &CompareOptions,
    refs: Vec<ImageRef>,
    first: usize,
    progress: Option<Arc<dyn Progress>>,
) -> anyhow::Result<(Vec<Image>, impl FnOnce() -> anyhow::Result<()>)> {
    let mut ctx =
        super::store::context_with(&args.store, args.pull, opts.platforms.clone(), progress);
    ctx.registry.limits = opts.limits;
    ctx.keep_layers = opts.details || opts.rules.packages;
    ctx.registry.credentials = super::store::credentials(&args.auth)?;
    ctx.containerd = source::containerd::ContainerdOptions {
        address: args.containerd.containerd_address.clone(),
        namespace: args.containerd.containerd_namespace.clone(),
    };
    let (opened, pending) = source::open_all(&refs, &ctx);
    let images = opened
        .into_iter()
        .enumerate()
        .map(|(i, opened)| {
            opened.map_err(|e| {
                let suggestion = suggestion(&refs[i], &e);
                anyhow::Error::new(e).context(Input {
                    n: first + i,
                    reference: refs[i].to_string(),
                    suggestion,
                })
            })
        })
        .collect::<anyhow::Result<Vec<Image>>>()?;
    let downloaded = move || {
        pending.wait().map_err(|(i, e)| {
            anyhow::Error::new(e).context(format!("input {} ({})", first + i, refs[i]))
        })
    };
    Ok((images, downloaded))
}

/// The progress tasks of downloading or exporting the inputs, in input order, named as the
/// library names them.
pub(super) fn tasks_of(refs: &[ImageRef]) -> Vec<String> {
    refs.iter()
        .filter_map(|r| match r {
            ImageRef::Registry(name) => DockerRef::parse(name).ok().map(|r| r.familiar()),
            ImageRef::Docker(name) => Some(format!("docker://{name}")),
            ImageRef::Podman(name) => Some(format!("podman://{name}")),
            _ => None,
        })
        .collect()
}

/// What the user may have meant when an input could not be opened: a name the registry does
/// not give but the local Docker daemon has is one built locally and meant as `docker://`.
fn suggestion(reference: &ImageRef, err: &source::SourceError) -> Option<String> {
    use source::SourceError;
    let ImageRef::Registry(name) = reference else {
        return None;
    };
    let registry_failed = matches!(
        err,
        SourceError::Registry(_) | SourceError::NotInStore { .. }
    );
    (registry_failed && source::daemon::has_image(source::daemon::Engine::Docker, name))
        .then(|| format!("(the Docker daemon has {name}: did you mean docker://{name}?)"))
}

pub(super) fn options(args: &CompareArgs) -> anyhow::Result<CompareOptions> {
    let rules = args.rules.rules;

    let platforms = super::store::platforms(&args.platform, args.all_platforms)?;
    Ok(CompareOptions {
        rules,
        platforms,
        limits: args.limits.limits()?,
        ignore_paths: ocidiff_core::normalize::PathFilter::new(&args.ignore_path)?,
        // Beside the store, which need not exist: comparing two local archives still keeps
        // the diff IDs it had to compute for layers they share.
        diff_ids: args
            .store
            .store
            .clone()
            .or_else(|| Store::default_root().ok())
            .and_then(|root| DiffIds::open(&root)),
        // Only the JSON, HTML and report-dir reports show details; the table does not.
        details: args.report_file.is_some()
            || args.report_html.is_some()
            || args.report_dir.is_some(),
        progress: Reporter::default(),
    })
}
