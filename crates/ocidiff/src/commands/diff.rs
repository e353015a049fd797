//! `ocidiff diff IMAGE0 IMAGE1`.

use std::io::{self, Write};

use anyhow::{Context, bail};
use ocidiff_core::compare::{self, Options};
use ocidiff_core::content::Limits;
use ocidiff_core::normalize::Rules;
use ocidiff_core::reference::ImageRef;
use ocidiff_core::report::{dir::ReportDir, json, table};
use ocidiff_core::source;

use crate::Verdict;
use crate::cli::DiffArgs;

pub fn run(args: &DiffArgs) -> anyhow::Result<Verdict> {
    let opts = options(args)?;
    // Refuse an unusable report dir before the (possibly long) comparison.
    let mut report_dir = match &args.report_dir {
        Some(d) => Some(ReportDir::create(d)?),
        None => None,
    };
    let (lhs, rhs) = open_inputs(args, &opts)?;
    tracing::info!(lhs = %lhs.reference, rhs = %rhs.reference, "comparing");
    let outcome = compare::compare(&lhs, &rhs, &opts)?;
    let report = &outcome.report;

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    table::write_table(report, &mut out, table::TableOptions { full: args.verbose })?;
    out.flush()?;

    if let Some(path) = &args.report_file {
        let mut file = io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("creating report file {}", path.display()))?,
        );
        json::write_json(report, &mut file)
            .and_then(|()| file.flush())
            .with_context(|| format!("writing report file {}", path.display()))?;
    }
    if let Some(dir) = report_dir.as_mut() {
        outcome.extract([&lhs, &rhs], &opts.limits, dir)?;
    }
    if let Some(dir) = report_dir {
        dir.finish(report)?;
    }
    eprintln!("ocidiff: {}", report.verdict.line());
    Ok(if report.verdict.counted == 0 {
        Verdict::Same
    } else {
        Verdict::Different
    })
}

/// Opens both inputs together: registry images are pulled side by side.
fn open_inputs(args: &DiffArgs, opts: &Options) -> anyhow::Result<(source::Image, source::Image)> {
    let parse = |n: usize, s: &str| ImageRef::parse(s).with_context(|| format!("input {n}"));
    let refs = [parse(0, &args.lhs)?, parse(1, &args.rhs)?];
    let ctx = super::store::context(&args.store, args.pull, opts.platforms.clone());
    let mut opened = source::open_all(&refs, &ctx).into_iter();
    let mut next = |n: usize| -> anyhow::Result<source::Image> {
        opened
            .next()
            .unwrap_or_else(|| unreachable!("one result per reference"))
            .with_context(|| format!("input {n} ({})", refs[n]))
    };
    let lhs = next(0)?;
    let rhs = next(1)?;
    Ok((lhs, rhs))
}

fn options(args: &DiffArgs) -> anyhow::Result<Options> {
    let mut rules = if args.semantic {
        Rules::semantic()
    } else {
        Rules::default()
    };
    rules.ignore_history |= args.ignore_history;
    rules.ignore_file_order |= args.ignore_file_order;
    rules.ignore_file_mode_redundant_bits |= args.ignore_file_mode_redundant_bits;
    rules.ignore_file_timestamps |= args.ignore_file_timestamps || args.ignore_timestamps;
    rules.ignore_image_timestamps |= args.ignore_image_timestamps || args.ignore_timestamps;
    rules.ignore_image_name |= args.ignore_image_name;
    rules.ignore_tar_format |= args.ignore_tar_format;
    rules.treat_canonical_paths_equal |= args.treat_canonical_paths_equal;
    rules.flatten |= args.flatten;
    compare::check_patterns(&args.ignore_path)?;

    let platforms = super::store::platforms(&args.platform, args.all_platforms)?;
    if !(args.max_scale.is_finite() && args.max_scale > 0.0) {
        bail!(
            "--max-scale must be a positive number, not {}",
            args.max_scale
        );
    }
    Ok(Options {
        rules,
        platforms,
        limits: Limits::default().scaled(args.max_scale),
        ignore_paths: args.ignore_path.clone(),
    })
}
