//! `ocidiff verify --batch FILE`: many images, `--jobs` at once, `--shard K/N` of them on this
//! machine; a report and an attestation per image and a summary table.
//!
//! ```toml
//! [defaults]            # any key of an [[image]] but name and published
//! builder = "buildkit"
//!
//! [[image]]
//! name = "app"          # file names in --output; default: from `published`
//! published = "registry.example.com/app:1.2"
//! context = "https://git.example.com/app.git#v1.2"
//! file = "Dockerfile"
//! build-args = { VERSION = "1.2" }
//! target = "final"
//! platform = "linux/amd64"
//! cache = false
//! network = "host"
//! builder-args = ["--layers"]
//! strict = false
//! rules = ["ignore-history"]          # flags of `ocidiff diff`, instead of --semantic
//! ignore-path = ["/var/log/**"]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context as _;
use serde::Deserialize;

use super::verify::{self, Job};
use crate::ExitStatus;
use crate::cli::{BuildArgs, BuilderName, CompareArgs, Format, VerifyArgs};
use crate::rule_flags::RuleFlags;

/// The file's contents.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchFile {
    #[serde(default)]
    defaults: Entry,
    #[serde(default)]
    image: Vec<Entry>,
}

/// One `[[image]]`, or the `[defaults]` its absent keys come from.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Entry {
    name: Option<String>,
    published: Option<String>,
    context: Option<String>,
    file: Option<PathBuf>,
    build_args: Option<BTreeMap<String, String>>,
    target: Option<String>,
    platform: Option<String>,
    builder: Option<BuilderName>,
    cache: Option<bool>,
    network: Option<String>,
    builder_args: Option<Vec<String>>,
    strict: Option<bool>,
    rules: Option<Vec<String>>,
    ignore_path: Option<Vec<String>>,
}

impl Entry {
    /// This entry, with what it leaves out taken from `defaults`.
    fn over(self, d: &Entry) -> Entry {
        let d = d.clone();
        Entry {
            name: self.name,
            published: self.published,
            context: self.context.or(d.context),
            file: self.file.or(d.file),
            build_args: self.build_args.or(d.build_args),
            target: self.target.or(d.target),
            platform: self.platform.or(d.platform),
            builder: self.builder.or(d.builder),
            cache: self.cache.or(d.cache),
            network: self.network.or(d.network),
            builder_args: self.builder_args.or(d.builder_args),
            strict: self.strict.or(d.strict),
            rules: self.rules.or(d.rules),
            ignore_path: self.ignore_path.or(d.ignore_path),
        }
    }
}

/// A job with the comparison options it runs with.
struct Planned {
    job: Job,
    args: CompareArgs,
}

pub fn run(args: &VerifyArgs, file: &Path) -> anyhow::Result<ExitStatus> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading batch file {}", file.display()))?;
    let parsed: BatchFile =
        toml::from_str(&text).with_context(|| format!("batch file {}", file.display()))?;
    let all = plan(parsed, args).with_context(|| format!("batch file {}", file.display()))?;
    let total = all.len();
    let (first, end) = match &args.shard {
        Some(s) => shard(s, total)?,
        None => (0, total),
    };
    let planned: Vec<Planned> = all.into_iter().skip(first).take(end - first).collect();
    let key = super::attestation::signing_key(args.signing_key.as_deref())?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let opts = &args.opts;
    if !opts.quiet {
        eprintln!(
            "ocidiff: verifying {} of the {total} images of {} ({} at once)",
            planned.len(),
            file.display(),
            args.jobs.max(1)
        );
    }
    let rows: Mutex<Vec<Option<Row>>> = Mutex::new((0..planned.len()).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..args.jobs.clamp(1, planned.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(p) = planned.get(i) else { break };
                    let row = one(p, &args.output, key.as_ref(), opts.quiet);
                    rows.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(row);
                }
            });
        }
    });
    let rows: Vec<Row> = rows
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .flatten()
        .collect();
    let markdown = summary_markdown(&rows, args.shard.as_deref());
    let summary = args.output.join("summary.md");
    std::fs::write(&summary, &markdown)
        .with_context(|| format!("writing {}", summary.display()))?;
    if !opts.quiet {
        let text = match opts.format {
            Format::Markdown => markdown,
            Format::Table => summary_table(&rows),
        };
        let mut out = std::io::stdout().lock();
        // A reader that stopped reading changes nothing written to --output.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }
    let count = |r: Outcome| rows.iter().filter(|row| row.outcome == r).count();
    let (passed, failed, errors) = (
        count(Outcome::Passed),
        count(Outcome::Failed),
        count(Outcome::Error),
    );
    if !opts.quiet {
        eprintln!(
            "ocidiff: {passed} passed, {failed} failed, {errors} not verified; reports in {}",
            args.output.display()
        );
    }
    if errors > 0 {
        anyhow::bail!(
            "{errors} of {} images could not be verified (see {})",
            rows.len(),
            summary.display()
        );
    }
    Ok(if failed > 0 {
        ExitStatus::Different
    } else {
        ExitStatus::Same
    })
}

/// The jobs of the file, in its order, each name once.
fn plan(file: BatchFile, args: &VerifyArgs) -> anyhow::Result<Vec<Planned>> {
    if file.image.is_empty() {
        anyhow::bail!("it lists no [[image]]");
    }
    if file.defaults.name.is_some() || file.defaults.published.is_some() {
        anyhow::bail!("[defaults] cannot hold name or published: they are each image's own");
    }
    let mut names = BTreeSet::new();
    let mut planned = Vec::new();
    for (i, entry) in file.image.into_iter().enumerate() {
        let e = entry.over(&file.defaults);
        let published = e
            .published
            .clone()
            .with_context(|| format!("[[image]] {} has no `published`", i + 1))?;
        let name = e.name.clone().unwrap_or_else(|| file_name(&published));
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            anyhow::bail!("[[image]] {}: name {name:?} cannot name a file", i + 1);
        }
        if !names.insert(name.clone()) {
            anyhow::bail!("two images are named {name:?}: give each its own `name`");
        }
        if e.context.is_none() {
            anyhow::bail!("[[image]] {name:?} has no `context`");
        }
        let mut compare = args.opts.clone();
        if let Some(p) = &e.platform {
            compare.platform = vec![p.clone()];
        }
        compare
            .ignore_path
            .extend(e.ignore_path.clone().unwrap_or_default());
        if let Some(rules) = &e.rules {
            let mut flags = RuleFlags::default();
            for rule in rules {
                if !flags.turn_on(rule) {
                    anyhow::bail!("[[image]] {name:?}: unknown rule {rule:?}");
                }
            }
            compare.rules = flags;
        }
        let build = BuildArgs {
            context: e.context.clone(),
            file: e.file.clone(),
            build_arg: e
                .build_args
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
            target: e.target.clone(),
            builder: e.builder.or(args.build.builder),
            cache: e.cache.unwrap_or(args.build.cache),
            network: e.network.clone().or_else(|| args.build.network.clone()),
            builder_arg: e
                .builder_args
                .unwrap_or_else(|| args.build.builder_arg.clone()),
        };
        planned.push(Planned {
            job: Job {
                name,
                published,
                build,
                strict: e.strict.unwrap_or(args.strict),
            },
            args: compare,
        });
    }
    Ok(planned)
}

/// A file name for an image reference: `registry.example.com/app:1.2` → `app-1.2`.
fn file_name(published: &str) -> String {
    let last = published.rsplit('/').next().unwrap_or(published);
    let last = last.split('@').next().unwrap_or(last);
    last.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_owned()
}

/// The entries `[first, end)` of the K-th of N slices of `total`.
fn shard(text: &str, total: usize) -> anyhow::Result<(usize, usize)> {
    let parsed = text
        .split_once('/')
        .and_then(|(k, n)| Some((k.parse::<usize>().ok()?, n.parse::<usize>().ok()?)));
    let Some((k, n)) = parsed.filter(|(k, n)| (1..=*n).contains(k)) else {
        anyhow::bail!("--shard {text:?}: write K/N with 1 <= K <= N, e.g. 2/4");
    };
    Ok(((k - 1) * total / n, k * total / n))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed,
    Error,
}

/// One line of the summary.
struct Row {
    name: String,
    published: String,
    outcome: Outcome,
    /// The verdict, or the error.
    detail: String,
}

fn one(
    p: &Planned,
    dir: &Path,
    key: Option<&ocidiff_core::attest::SigningKey>,
    quiet: bool,
) -> Row {
    let name = &p.job.name;
    let say = |line: &str| {
        if !quiet {
            eprintln!("ocidiff: [{name}] {line}");
        }
    };
    let result = (|| -> anyhow::Result<(Outcome, String)> {
        let verified = verify::verify(&p.job, &p.args, &say, false)?;
        let report_path = dir.join(format!("{name}.report.json"));
        let mut report = Vec::new();
        ocidiff_core::report::json::write_json(&verified.compared.report, &mut report)?;
        std::fs::write(&report_path, &report)
            .with_context(|| format!("writing {}", report_path.display()))?;
        let attestation = dir.join(format!("{name}.intoto.json"));
        let bytes = super::attestation::document(&verified, &report_path, &report, key)?;
        std::fs::write(&attestation, bytes)
            .with_context(|| format!("writing {}", attestation.display()))?;
        let outcome = if verified.passed() {
            Outcome::Passed
        } else {
            Outcome::Failed
        };
        Ok((outcome, verified.compared.report.verdict.line()))
    })();
    let (outcome, detail) = result.unwrap_or_else(|e| {
        let line = crate::one_line(&e);
        say(&format!("error: {line}"));
        (Outcome::Error, line)
    });
    say(&format!("{outcome:?}").to_uppercase());
    Row {
        name: name.clone(),
        published: p.job.published.clone(),
        outcome,
        detail,
    }
}

fn label(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "PASSED",
        Outcome::Failed => "FAILED",
        Outcome::Error => "ERROR",
    }
}

fn summary_table(rows: &[Row]) -> String {
    let width = |f: &dyn Fn(&Row) -> usize, title: &str| {
        rows.iter().map(f).max().unwrap_or(0).max(title.len())
    };
    let n = width(&|r| r.name.chars().count(), "NAME");
    let p = width(&|r| r.published.chars().count(), "PUBLISHED");
    let mut out = format!(
        "{:<n$}  {:<p$}  {:<6}  DETAIL\n",
        "NAME", "PUBLISHED", "RESULT"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<n$}  {:<p$}  {:<6}  {}",
            r.name,
            r.published,
            label(r.outcome),
            r.detail
        );
    }
    out
}

fn summary_markdown(rows: &[Row], shard: Option<&str>) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = String::from("## ocidiff verify\n\n");
    if let Some(s) = shard {
        let _ = writeln!(out, "Shard {s}.\n");
    }
    out.push_str("| Image | Published | Result | Detail |\n|---|---|---|---|\n");
    for r in rows {
        let icon = match r.outcome {
            Outcome::Passed => "✅",
            Outcome::Failed => "❌",
            Outcome::Error => "⚠️",
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {icon} {} | {} |",
            cell(&r.name),
            cell(&r.published),
            label(r.outcome),
            cell(&r.detail)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_entry_once() {
        for total in 0..12 {
            for n in 1..5 {
                let mut covered = Vec::new();
                for k in 1..=n {
                    let (a, b) = shard(&format!("{k}/{n}"), total).unwrap();
                    covered.extend(a..b);
                }
                assert_eq!(covered, (0..total).collect::<Vec<_>>(), "{total} in {n}");
            }
        }
        for bad in ["0/2", "3/2", "1", "a/b", "1/0"] {
            assert!(shard(bad, 3).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_names_from_references() {
        assert_eq!(file_name("registry.example.com/team/app:1.2"), "app-1.2");
        assert_eq!(file_name("alpine@sha256:abc"), "alpine");
        assert_eq!(file_name("oci:/tmp/x:y"), "x-y");
    }

    #[test]
    fn entries_take_what_they_leave_out_from_defaults() {
        let file: BatchFile = toml::from_str(
            "[defaults]\nbuilder = \"buildah\"\nnetwork = \"host\"\n\
             [[image]]\npublished = \"a:1\"\ncontext = \".\"\n\
             [[image]]\nname = \"b\"\npublished = \"b:1\"\ncontext = \".\"\nbuilder = \"docker\"\n",
        )
        .unwrap();
        let e: Vec<Entry> = file
            .image
            .iter()
            .map(|e| e.clone().over(&file.defaults))
            .collect();
        assert_eq!(e[0].builder, Some(BuilderName::Buildah));
        assert_eq!(e[1].builder, Some(BuilderName::Docker));
        assert_eq!(e[1].network.as_deref(), Some("host"));
        assert!(toml::from_str::<BatchFile>("[[image]]\npublishd = \"x\"\n").is_err());
    }
}
