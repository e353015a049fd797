//! `ocidiff diff IMAGE0 IMAGE1`.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Context;
use ocidiff_core::compare::{self, CompareOptions};
use ocidiff_core::image::Image;
use ocidiff_core::reference::ImageRef;
use ocidiff_core::report::{dir::ReportDir, html, json, markdown, table};
use ocidiff_core::source;
use ocidiff_core::store::{DiffIds, Store};

use crate::ExitStatus;
use crate::cli::{DiffArgs, Format};

pub fn run(args: &DiffArgs) -> anyhow::Result<ExitStatus> {
    let opts = options(args)?;
    // Refuse an unusable report dir before the (possibly long) comparison.
    let mut report_dir = match &args.report_dir {
        Some(d) => Some(ReportDir::create(d)?),
        None => None,
    };
    let (lhs, rhs, downloaded) = open_inputs(args, &opts)?;
    tracing::info!(lhs = %lhs.reference, rhs = %rhs.reference, "comparing");
    let compared = compare::compare(&lhs, &rhs, &opts)?;
    // A layer the comparison did not read (the same on both sides) may still be
    // downloading: a pull that fails is an error, as when it failed before comparing.
    downloaded()?;
    let report = &compared.report;

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let printed = match args.format {
        Format::Table => {
            table::write_table(report, &mut out, table::TableOptions { full: args.verbose })
        }
        Format::Markdown => markdown::write_markdown(report, &mut out),
    }
    .and_then(|()| out.flush());
    match printed {
        // A reader that stopped reading (`ocidiff diff … | head`) changes neither the verdict
        // nor the reports asked for.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        printed => printed.context("writing to standard output")?,
    }

    if let Some(path) = &args.report_file {
        write_file(path, "report file", |out| json::write_json(report, out))?;
    }
    if let Some(path) = &args.report_html {
        write_file(path, "HTML report", |out| html::write_html(report, out))?;
    }
    if let Some(dir) = report_dir.as_mut() {
        compared.extract([&lhs, &rhs], &opts.limits, dir)?;
    }
    if let Some(dir) = report_dir {
        dir.finish(report)?;
    }
    eprintln!("ocidiff: {}", report.verdict.line());
    Ok(if report.verdict.counted == 0 {
        ExitStatus::Same
    } else {
        ExitStatus::Different
    })
}

/// Writes one report file with `write`, naming it (as `what`) in any error.
fn write_file(
    path: &Path,
    what: &str,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> anyhow::Result<()> {
    let mut file = io::BufWriter::new(
        std::fs::File::create(path)
            .with_context(|| format!("creating {what} {}", path.display()))?,
    );
    write(&mut file)
        .and_then(|()| file.flush())
        .with_context(|| format!("writing {what} {}", path.display()))
}

/// Opens both inputs together: registry images are pulled side by side, their layers still
/// downloading when this returns; the function returned waits for them (dropping it stops
/// them).
fn open_inputs(
    args: &DiffArgs,
    opts: &CompareOptions,
) -> anyhow::Result<(Image, Image, impl FnOnce() -> anyhow::Result<()>)> {
    let parse = |n: usize, s: &str| ImageRef::parse(s).with_context(|| format!("input {n}"));
    let refs = [parse(0, &args.lhs)?, parse(1, &args.rhs)?];
    let mut ctx = super::store::context(&args.store, args.pull, opts.platforms.clone());
    ctx.registry.limits = opts.limits;
    ctx.containerd = source::containerd::ContainerdOptions {
        address: args.containerd.containerd_address.clone(),
        namespace: args.containerd.containerd_namespace.clone(),
    };
    let (opened, pending) = source::open_all(&refs, &ctx);
    let mut opened = opened.into_iter();
    let mut next = |n: usize| -> anyhow::Result<Image> {
        opened
            .next()
            .unwrap_or_else(|| unreachable!("one result per reference"))
            .with_context(|| format!("input {n} ({})", refs[n]))
    };
    let lhs = next(0)?;
    let rhs = next(1)?;
    let downloaded = move || {
        pending
            .wait()
            .map_err(|(n, e)| anyhow::Error::new(e).context(format!("input {n} ({})", refs[n])))
    };
    Ok((lhs, rhs, downloaded))
}

fn options(args: &DiffArgs) -> anyhow::Result<CompareOptions> {
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
    })
}
