//! `ocidiff verify PUBLISHED --context CONTEXT`: build the image again with a real builder,
//! compare it with the published one (input 0) under a policy (`--semantic` unless told
//! otherwise), say how to fix what differs, and attest the result.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ocidiff_core::compare::{self, CompareOptions, Compared};
use ocidiff_core::content::{BlobSource, read_json_blob};
use ocidiff_core::image::Image;
use ocidiff_core::model::{Digest, Platform, PlatformChoice};
use ocidiff_core::normalize::Rules;
use ocidiff_core::rebuild::{self, BuildRequest, Builder, ContextSpec};
use ocidiff_core::reference::ImageRef;
use ocidiff_core::report::{dir::ReportDir, html, json};
use ocidiff_core::source::Reporter;
use ocidiff_core::source::select;
use serde_json::json;

use super::diff::{self, PendingFile};
use crate::ExitStatus;
use crate::cli::{BuildArgs, BuilderName, CompareArgs, Format, VerifyArgs};

pub fn run(args: &VerifyArgs) -> anyhow::Result<ExitStatus> {
    if let Some(file) = &args.batch {
        return super::batch::run(args, file);
    }
    let published = args
        .published
        .clone()
        .unwrap_or_else(|| unreachable!("clap requires PUBLISHED without --batch"));
    let job = Job {
        name: published.clone(),
        published,
        build: args.build.clone(),
        strict: args.strict,
    };
    let opts = &args.opts;
    let report_path = match (&opts.report_file, &args.attestation) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(attestation)) => Some(report_beside(attestation)),
        (None, None) => None,
    };
    if report_path.is_some() && report_path == args.attestation {
        anyhow::bail!("the report and the attestation cannot be the same file");
    }
    if report_path.as_deref() == Some(Path::new("-")) {
        anyhow::bail!("ocidiff verify writes its JSON report to a file: --report-file - is diff's");
    }
    let key = super::attestation::signing_key(args.signing_key.as_deref())?;
    let pending = Pending {
        report: report_path
            .as_deref()
            .map(|p| PendingFile::create(p, "report file"))
            .transpose()?,
        html: opts
            .report_html
            .as_deref()
            .map(|p| PendingFile::create(p, "HTML report"))
            .transpose()?,
        dir: opts
            .report_dir
            .as_deref()
            .map(ReportDir::create)
            .transpose()?,
        attestation: args
            .attestation
            .as_deref()
            .map(|p| PendingFile::create(p, "attestation"))
            .transpose()?,
    };
    let say = |line: &str| {
        if !opts.quiet {
            eprintln!("ocidiff: {line}");
        }
    };
    let verified = verify(&job, opts, &say, opts.verbose)?;
    let report = &verified.compared.report;
    if !opts.quiet {
        diff::print(opts, false, report)?;
        // The Markdown summary has its own advice sections.
        if opts.format == Format::Table {
            super::attestation::print_advice(report);
        }
    }
    // Serialised once: the attestation names the digest of the bytes written.
    let mut report_json = Vec::new();
    json::write_json(report, &mut report_json)?;
    if let Some(file) = pending.report {
        file.write(|out| out.write_all(&report_json))?;
    }
    if let Some(file) = pending.html {
        file.write(|out| html::write_html(report, out))?;
    }
    if let Some(mut dir) = pending.dir {
        let images = [&verified.images[0], &verified.images[1]];
        verified
            .compared
            .extract(images, &verified.options.limits, &mut dir)?;
        dir.finish(report)?;
    }
    if let (Some(file), Some(report_path)) = (pending.attestation, &report_path) {
        let bytes =
            super::attestation::document(&verified, report_path, &report_json, key.as_ref())?;
        file.write(|out| out.write_all(&bytes))?;
    }
    say(&verified.verdict_line());
    Ok(if verified.passed() {
        ExitStatus::Same
    } else {
        ExitStatus::Different
    })
}

/// `DIR/NAME.report.json` for an attestation `DIR/NAME.EXT…`.
fn report_beside(attestation: &Path) -> PathBuf {
    let name = attestation
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .split('.')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("ocidiff");
    attestation.with_file_name(format!("{stem}.report.json"))
}

/// Report files made ready before the (long) build, so that a bad path fails first.
struct Pending {
    report: Option<PendingFile>,
    html: Option<PendingFile>,
    dir: Option<ReportDir>,
    attestation: Option<PendingFile>,
}

/// One image to verify: from the command line, or an entry of a batch file.
#[derive(Debug, Clone)]
pub(super) struct Job {
    /// How the image is named in messages and file names.
    pub name: String,
    pub published: String,
    pub build: BuildArgs,
    pub strict: bool,
}

/// A verification done.
pub(super) struct Verified {
    pub compared: Compared,
    pub images: Vec<Image>,
    pub options: CompareOptions,
    /// The published image as named, and its manifest's digest (else its image ID).
    pub subject: (String, Digest),
    /// The policy: what the comparison set aside, as JSON.
    pub policy: serde_json::Value,
    /// `strict`, `semantic` or `custom`.
    pub level: &'static str,
    /// What was built, and how.
    pub rebuild: serde_json::Value,
    /// Holds an archive the rebuilt image is read from.
    _scratch: Option<tempfile::TempDir>,
}

impl Verified {
    pub fn passed(&self) -> bool {
        self.compared.report.verdict.counted == 0
    }

    pub fn verdict_line(&self) -> String {
        let report = &self.compared.report;
        let (name, level) = (&self.subject.0, self.level);
        if self.passed() {
            format!(
                "PASSED: the rebuild matches {name} ({level} policy); {}",
                report.verdict.line()
            )
        } else {
            format!(
                "FAILED: the rebuild differs from {name} ({level} policy); {}",
                report.verdict.line()
            )
        }
    }
}

/// Rebuilds `job`'s image and compares it with the published one. `say` gets what is being
/// done; with `echo_build` the builder's output goes to stderr as it comes.
pub(super) fn verify(
    job: &Job,
    args: &CompareArgs,
    say: &(dyn Fn(&str) + Sync),
    echo_build: bool,
) -> anyhow::Result<Verified> {
    if args.all_platforms || args.platform.len() > 1 {
        anyhow::bail!("verify rebuilds one platform: give at most one --platform");
    }
    let mut options = diff::options(args)?;
    options.rules = policy_rules(job, options.rules)?;
    // The report an attestation rests on says what differs in full; differing files are few
    // in a rebuild worth attesting.
    options.details = true;
    let published_ref =
        ImageRef::parse(&job.published).with_context(|| format!("input 0 ({})", job.published))?;
    let (mut images, downloaded) = diff::open_images(args, &options, vec![published_ref], 0, None)?;
    let published = images.remove(0);
    let wanted = options
        .platforms
        .wanted()
        .and_then(|p| p.into_iter().next());
    let facts = published_image(&published, wanted.as_ref(), &options)
        .with_context(|| format!("input 0 ({})", job.published))?;
    downloaded()?;
    let platform = facts.platform.clone();
    say(&format!(
        "verifying {} ({platform}, {})",
        job.published,
        match &facts.manifest {
            Some(d) => format!("manifest {d}"),
            None => format!("image ID {}", facts.config),
        }
    ));

    let (request, prepared, built) = build_it(job, &facts, say, echo_build)?;
    say(&format!("built {} ({})", built.id, built.reference));

    options.platforms = PlatformChoice::These(vec![platform.clone()]);
    let (mut rebuilt, downloaded) =
        diff::open_images(args, &options, vec![built.reference.clone()], 1, None)?;
    downloaded()?;
    let rebuilt = rebuilt.remove(0);
    if built.scratch.is_some() {
        // An archive buildah wrote: into the store, like every other rebuild.
        let store = super::store::open_store(&args.store)?;
        ocidiff_core::store::load(&store, &rebuilt, &[], &format!("buildah {}", built.id))?;
    }
    options.progress = Reporter::default();
    let mut compared = compare::compare(&published, &rebuilt, &options)?;
    compared.report.config_file = args.config.as_ref().map(|p| p.display().to_string());
    crate::COMMIT.clone_into(&mut compared.report.tool.commit);

    let rules = &compared.report.rules;
    let level = if *rules == Rules::default() && args.ignore_path.is_empty() {
        "strict"
    } else if *rules == Rules::semantic() && args.ignore_path.is_empty() {
        "semantic"
    } else {
        "custom"
    };
    let policy = json!({
        "rules": rules,
        "ignore_paths": compared.report.ignore_paths,
        "platform": platform.os_arch(),
    });
    let rebuild = json!({
        "builder": request.builder.name(),
        "context": job.build.context,
        "commit": prepared.commit,
        "dockerfile": job.build.file,
        "build_args": request.build_args.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "target": request.target,
        "platform": platform.os_arch(),
        "cache": request.cache,
        "image": built.id,
        "published": {"manifest": facts.manifest, "config": facts.config},
    });
    Ok(Verified {
        compared,
        images: vec![published, rebuilt],
        options,
        subject: (job.published.clone(), facts.subject()),
        policy,
        level,
        rebuild,
        _scratch: built.scratch,
    })
}

/// Builds `job`'s context as the published image was built: its platform, `SOURCE_DATE_EPOCH`
/// from its `created` time.
fn build_it(
    job: &Job,
    facts: &Published,
    say: &(dyn Fn(&str) + Sync),
    echo_build: bool,
) -> anyhow::Result<(BuildRequest, rebuild::Prepared, rebuild::Built)> {
    let platform = &facts.platform;
    let (request, context) = build_request(job, platform, facts.created.as_deref())?;
    let prepared = rebuild::prepare(&context)?;
    let given = job
        .build
        .build_arg
        .iter()
        .any(|a| a.starts_with("SOURCE_DATE_EPOCH="));
    let mut passed = vec![format!(
        "SOURCE_DATE_EPOCH={} ({})",
        epoch_arg(&request),
        if given {
            "as given"
        } else {
            "the published image's created time"
        }
    )];
    passed.extend(
        request
            .build_args
            .iter()
            .filter(|(k, _)| k != "SOURCE_DATE_EPOCH")
            .map(|(k, v)| format!("{k}={v}")),
    );
    passed.push(format!("platform {}", platform.os_arch()));
    passed.extend(request.target.iter().map(|t| format!("target {t}")));
    passed.extend(request.network.iter().map(|n| format!("network {n}")));
    passed.extend(
        request
            .builder_args
            .iter()
            .map(|a| format!("builder argument {a}")),
    );
    passed.push(
        if request.cache {
            "with its cache"
        } else {
            "no cache"
        }
        .to_owned(),
    );
    say(&format!(
        "building {}{} with {}: {}",
        prepared.dir.display(),
        prepared
            .commit
            .as_deref()
            .map(|c| format!(" (commit {c})"))
            .unwrap_or_default(),
        request.builder.name(),
        passed.join(", ")
    ));
    let built = rebuild::build(&prepared, &request, &mut |line: &str| {
        if echo_build {
            eprintln!("  | {line}");
        }
    })
    .inspect_err(|e| {
        if !echo_build {
            for line in e.tail() {
                eprintln!("  | {line}");
            }
        }
    })?;
    Ok((request, prepared, built))
}

/// The rules of the policy: `--semantic` when no option names any, none with `--strict`.
fn policy_rules(job: &Job, given: Rules) -> anyhow::Result<Rules> {
    match (job.strict, given == Rules::default()) {
        (true, true) => Ok(Rules::default()),
        (true, false) => anyhow::bail!(
            "--strict sets nothing aside: it cannot go with --semantic or an --ignore-* option"
        ),
        (false, true) => Ok(Rules::semantic()),
        (false, false) => Ok(given),
    }
}

/// What the rebuild takes from the published image.
struct Published {
    /// Its manifest's digest, when the source keeps the manifest as published (a registry, an
    /// OCI layout or archive); a classic `docker save` or an older daemon's export has none.
    manifest: Option<Digest>,
    /// Its config's digest: the image ID Docker shows.
    config: Digest,
    platform: Platform,
    /// The config's `created`.
    created: Option<String>,
}

impl Published {
    /// What the attestation is about: the manifest, else the config (the image ID), which
    /// is what names an image that has no manifest of its own.
    fn subject(&self) -> Digest {
        self.manifest.clone().unwrap_or_else(|| self.config.clone())
    }
}

/// The published image for the platform asked for (else the one a runtime here would run).
fn published_image(
    image: &Image,
    wanted: Option<&Platform>,
    options: &CompareOptions,
) -> anyhow::Result<Published> {
    let blobs: &dyn BlobSource = image.blobs.as_ref();
    let offered = match wanted {
        Some(p) => select::select_asked(blobs, &image.root, p, &options.limits)?,
        None => select::select(blobs, &image.root, &Platform::host(), &options.limits)?,
    };
    let manifest = &offered.manifest;
    let parsed: serde_json::Value =
        serde_json::from_slice(&manifest.bytes).context("reading its manifest")?;
    let config_desc: ocidiff_core::model::Descriptor = serde_json::from_value(
        parsed
            .get("config")
            .cloned()
            .context("its manifest names no config")?,
    )
    .context("reading its manifest's config descriptor")?;
    let config = read_json_blob(blobs, &config_desc, options.limits.json_bytes)?;
    let platform = match offered.platform {
        Some(p) => p,
        None => Platform::of_config(&config)
            .context("reading its config")?
            .context("its config names no platform")?,
    };
    let created = serde_json::from_slice::<serde_json::Value>(&config)
        .ok()
        .and_then(|c| c.get("created")?.as_str().map(str::to_owned));
    Ok(Published {
        manifest: manifest.descriptor.as_ref().map(|d| d.digest.clone()),
        config: config_desc.digest,
        platform,
        created,
    })
}

/// The build as `job` asks for it, with the published image's `created` time as
/// `SOURCE_DATE_EPOCH` unless given.
fn build_request(
    job: &Job,
    platform: &Platform,
    created: Option<&str>,
) -> anyhow::Result<(BuildRequest, ContextSpec)> {
    let b = &job.build;
    let mut build_args = Vec::new();
    for arg in &b.build_arg {
        let (k, v) = arg
            .split_once('=')
            .with_context(|| format!("--build-arg {arg:?}: write KEY=VALUE"))?;
        build_args.push((k.to_owned(), v.to_owned()));
    }
    if !build_args.iter().any(|(k, _)| k == "SOURCE_DATE_EPOCH") {
        let epoch = rebuild::source_date_epoch(created).map_err(anyhow::Error::msg)?;
        build_args.push(("SOURCE_DATE_EPOCH".to_owned(), epoch.to_string()));
    }
    let builder = match b.builder {
        Some(BuilderName::Docker) => Builder::Docker,
        Some(BuilderName::Buildkit) => Builder::BuildKit,
        Some(BuilderName::Buildah) => Builder::Buildah,
        Some(BuilderName::Podman) => Builder::Podman,
        None => rebuild::daemon_builder()?,
    };
    let context = b
        .context
        .as_deref()
        .context("--context names no build context")?;
    Ok((
        BuildRequest {
            dockerfile: b.file.clone(),
            build_args,
            target: b.target.clone(),
            platform: Some(platform.clone()),
            builder,
            cache: b.cache,
            network: b.network.clone(),
            builder_args: b.builder_arg.clone(),
        },
        ContextSpec::parse(context),
    ))
}

fn epoch_arg(request: &BuildRequest) -> &str {
    request
        .build_args
        .iter()
        .find(|(k, _)| k == "SOURCE_DATE_EPOCH")
        .map_or("", |(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_goes_beside_the_attestation() {
        assert_eq!(
            report_beside(Path::new("out/app.intoto.json")),
            Path::new("out/app.report.json")
        );
        assert_eq!(
            report_beside(Path::new("vsa")),
            Path::new("vsa.report.json")
        );
        assert_eq!(
            report_beside(Path::new(".hidden")),
            Path::new("ocidiff.report.json")
        );
    }

    #[test]
    fn semantic_unless_told() {
        let job = |strict| Job {
            name: String::new(),
            published: String::new(),
            build: BuildArgs::default(),
            strict,
        };
        assert_eq!(
            policy_rules(&job(false), Rules::default()).unwrap(),
            Rules::semantic()
        );
        assert_eq!(
            policy_rules(&job(true), Rules::default()).unwrap(),
            Rules::default()
        );
        let some = Rules {
            ignore_history: true,
            ..Rules::default()
        };
        assert_eq!(policy_rules(&job(false), some).unwrap(), some);
        assert!(policy_rules(&job(true), some).is_err());
    }
}
