//! Advice: how to make input 1 (a rebuild) match input 0 (the published image), for the
//! findings whose remedy is known. One table, [`ADVICE`], holds every remedy with a stable id,
//! the findings it fits, its text and where it is documented; the first entry that fits a
//! finding gives its advice, so the entries for particular paths come before the general ones.
//! `docs/advice.md` lists every entry, and a test keeps the two in step.
//!
//! The engine fills [`Finding::advice`] once the findings are classed; renderers only show it.

use std::collections::HashMap;

use crate::finding::{Class, Finding, Findings, Kind, Pin, snapshot_url};
use crate::layer::clean;

/// What a matcher and a text see besides the finding.
struct Ctx<'a> {
    /// Input 0's config `created`, of the manifest the finding is in.
    created: Option<&'a str>,
    /// The finding is inside an archive (`detail.nested`): its name is not a path in the image.
    nested: bool,
}

/// One remedy.
struct Advice {
    /// Stable: documented in `docs/advice.md`.
    id: &'static str,
    /// Whether it fits a finding.
    fits: fn(&Finding, &Ctx<'_>) -> bool,
    /// What to do; `{epoch}` is input 0's `created` in seconds, `{command}` the install
    /// command of the finding's pin, `{snapshot}` where Debian keeps the pinned version.
    text: &'static str,
    /// Where the remedy is documented.
    sources: &'static [&'static str],
}

const DOCKER_APT: &str = "https://docs.docker.com/build/building/best-practices/#apt-get";
const DEBUERREOTYPE_FIXUP: &str =
    "https://github.com/debuerreotype/debuerreotype/blob/master/scripts/debuerreotype-fixup";
const BUILDKIT_REPRO: &str = "https://github.com/moby/buildkit/blob/master/docs/build-repro.md";
const BUILDAH_BUILD: &str =
    "https://github.com/containers/buildah/blob/main/docs/buildah-build.1.md";
const SOURCE_DATE_EPOCH: &str = "https://reproducible-builds.org/docs/source-date-epoch/";

/// Every remedy, the most particular first.
const ADVICE: &[Advice] = &[
    Advice {
        id: "var-log",
        fits: |f, c| at_path(f, c, |p| p.starts_with("var/log/")),
        text: "Logs record when and what the build ran and cannot be reproduced: delete them at the end of the RUN step that writes them, e.g. `rm -f /var/log/dpkg.log /var/log/alternatives.log /var/log/apt/history.log /var/log/apt/term.log /var/log/apt/eipp.log.xz` (deleted in a later step, they stay in the earlier layer).",
        sources: &[DEBUERREOTYPE_FIXUP],
    },
    Advice {
        id: "apt-lists",
        fits: |f, c| at_path(f, c, |p| p.starts_with("var/lib/apt/lists/")),
        text: "apt's package lists are whatever the mirror served at `apt-get update`: remove them in the RUN step that installs, `apt-get update && apt-get install -y … && rm -rf /var/lib/apt/lists/*`.",
        sources: &[DOCKER_APT],
    },
    Advice {
        id: "apt-cache",
        fits: |f, c| at_path(f, c, |p| p.starts_with("var/cache/apt/")),
        text: "`/var/cache/apt` holds the downloaded .deb files and apt's binary caches: run `apt-get clean` at the end of the RUN step that installs (Debian's and Ubuntu's images do it by default through `/etc/apt/apt.conf.d/docker-clean`).",
        sources: &[DOCKER_APT],
    },
    Advice {
        id: "dpkg-old",
        fits: |f, c| {
            at_path(f, c, |p| {
                p.starts_with("var/lib/dpkg/") && p.ends_with("-old")
            })
        },
        text: "dpkg keeps the previous state of its database as `*-old` backups, which depend on what ran before: `rm -f /var/lib/dpkg/*-old` at the end of the RUN step that installs.",
        sources: &[DOCKER_APT],
    },
    Advice {
        id: "debconf-old",
        fits: |f, c| {
            at_path(f, c, |p| {
                p.starts_with("var/cache/debconf/") && p.ends_with("-old")
            })
        },
        text: "debconf backs its databases up as `*-old` whenever it changes them: `rm -f /var/cache/debconf/*-old` at the end of the RUN step that installs.",
        sources: &["https://manpages.debian.org/bookworm/debconf-doc/debconf.conf.5.en.html"],
    },
    Advice {
        id: "ldconfig-aux-cache",
        fits: |f, c| at_path(f, c, |p| p == "var/cache/ldconfig/aux-cache"),
        text: "`ldconfig` records the inode numbers and times of the libraries it scanned in its aux-cache: `rm -f /var/cache/ldconfig/aux-cache` at the end of each RUN step that installs libraries, as Debian's own images do.",
        sources: &[DEBUERREOTYPE_FIXUP],
    },
    Advice {
        id: "python-bytecode",
        fits: |f, c| {
            at_path(f, c, |p| {
                p.contains("__pycache__/")
                    || std::path::Path::new(p)
                        .extension()
                        .is_some_and(|e| e == "pyc" || e == "pyo")
            })
        },
        text: "Python writes bytecode caches, which hold their source's mtime, when it imports or installs modules: set `ENV PYTHONDONTWRITEBYTECODE=1` before the steps that run Python, install with `pip install --no-compile`, or delete them in the same RUN step, `find / -xdev -name __pycache__ -prune -exec rm -rf {} +`; to keep them, compile with SOURCE_DATE_EPOCH set, which makes `py_compile` write hash-based .pyc files (Python ≥ 3.7).",
        sources: &[
            "https://docs.python.org/3/using/cmdline.html#envvar-PYTHONDONTWRITEBYTECODE",
            "https://docs.python.org/3/library/py_compile.html",
        ],
    },
    Advice {
        id: "gzip-header",
        fits: |f, c| archive_differs_by(f, c, gzip_header),
        text: "The gzip header stores the compressed file's name and time: compress with `gzip -n` (`--no-name`), e.g. `tar … | gzip -n > x.tar.gz` or `tar --use-compress-program='gzip -n' …`.",
        sources: &["https://www.gnu.org/software/gzip/manual/gzip.html#Invoking-gzip"],
    },
    Advice {
        id: "archive-timestamps",
        fits: |f, c| archive_differs_by(f, c, |field| matches!(field, "mtime" | "atime" | "ctime")),
        text: "The archive records its members' times (and order and owners): create it with `tar --sort=name --mtime=@$SOURCE_DATE_EPOCH --clamp-mtime --owner=0 --group=0 --numeric-owner …`, or `touch -d @$SOURCE_DATE_EPOCH` its files before `zip -X`.",
        sources: &["https://reproducible-builds.org/docs/archives/"],
    },
    Advice {
        id: "apt-pin",
        fits: |f, _| pinned(f, "dpkg"),
        text: "Install the version input 0 has: `{command}`{snapshot}.",
        sources: &[
            "https://manpages.debian.org/bookworm/apt/apt-get.8.en.html",
            "https://snapshot.debian.org/",
        ],
    },
    Advice {
        id: "apk-pin",
        fits: |f, _| pinned(f, "apk"),
        text: "Install the version input 0 has: `{command}` (Alpine's repositories keep only the latest build of a branch's package; an older one needs a repository that still holds its .apk).",
        sources: &["https://wiki.alpinelinux.org/wiki/Alpine_Package_Keeper"],
    },
    Advice {
        id: "rpm-pin",
        fits: |f, _| pinned(f, "rpm"),
        text: "Install the version input 0 has: `{command}` (`dnf downgrade` to go back from a newer one).",
        sources: &["https://dnf.readthedocs.io/en/latest/command_ref.html"],
    },
    Advice {
        id: "python-pin",
        fits: |f, _| pinned(f, "python"),
        text: "Install the version input 0 has: `{command}`; pin every requirement, ideally with hashes (`pip install --require-hashes -r requirements.txt`).",
        sources: &["https://pip.pypa.io/en/stable/topics/repeatable-installs/"],
    },
    Advice {
        id: "image-created",
        fits: |f, _| {
            f.kind == Kind::Config
                && f.class == Class::Timestamp
                && (f.name == ".created" || f.name.starts_with(".history["))
        },
        text: "Build with SOURCE_DATE_EPOCH={epoch} (input 0's `created`): BuildKit ≥ 0.11 uses it for the `created` of the config and its history (`docker buildx build --build-arg SOURCE_DATE_EPOCH={epoch}`, or the variable set where buildx runs); buildah and podman: `build --timestamp {epoch}`.",
        sources: &[BUILDKIT_REPRO, BUILDAH_BUILD, SOURCE_DATE_EPOCH],
    },
    Advice {
        id: "history",
        fits: |f, _| f.kind == Kind::Config && f.class == Class::History,
        text: "History records each build step as the builder wrote it: rebuild from the same Dockerfile, with the same build arguments, the same builder (BuildKit, buildah and the classic builder word `created_by` differently) and the same base image digest (`FROM image@sha256:…`).",
        sources: &["https://github.com/opencontainers/image-spec/blob/main/config.md#properties"],
    },
    Advice {
        id: "file-timestamps",
        fits: |f, c| !c.nested && f.kind == Kind::File && f.class == Class::Timestamp,
        text: "Build with SOURCE_DATE_EPOCH={epoch} (input 0's `created`) and a builder that clamps file times to it: BuildKit ≥ 0.13 `docker buildx build --build-arg SOURCE_DATE_EPOCH={epoch} --output type=image,rewrite-timestamp=true` (or `type=oci`, `type=docker`); buildah and podman `build --timestamp {epoch}`, which also gives every file of the new layers that time.",
        sources: &[BUILDKIT_REPRO, BUILDAH_BUILD, SOURCE_DATE_EPOCH],
    },
];

/// A file of the image (not inside an archive) whose clean path satisfies `test`.
fn at_path(f: &Finding, c: &Ctx<'_>, test: impl Fn(&str) -> bool) -> bool {
    !c.nested && f.kind == Kind::File && test(&clean(&f.name))
}

/// Whether `f` is an archive whose members differ only in what archivers can be told to write
/// the same way (times, order, owners, header format), `field` among them; or, inside an
/// archive, such a member with such a field.
fn archive_differs_by(f: &Finding, c: &Ctx<'_>, field: fn(&str) -> bool) -> bool {
    let archived = |n: &Finding| {
        matches!(
            n.class,
            Class::Timestamp
                | Class::Order
                | Class::TarFormat
                | Class::Ownership
                | Class::OwnerName
        )
    };
    let has = |n: &Finding| archived(n) && n.fields.iter().any(|d| field(&d.field));
    if c.nested {
        return has(f);
    }
    let Some(inside) = f.detail.as_ref().map(|d| &d.nested) else {
        return false;
    };
    f.kind == Kind::File && inside.iter().all(archived) && inside.iter().any(has)
}

/// A gzip member's name or time: `gzip.mtime`, `gzip[2].filename`.
fn gzip_header(field: &str) -> bool {
    field.starts_with("gzip")
        && field
            .rsplit_once('.')
            .is_some_and(|(_, name)| matches!(name, "mtime" | "filename"))
}

/// Whether `f` calls for a pin of `ecosystem`.
fn pinned(f: &Finding, ecosystem: &str) -> bool {
    Pin::of(f).is_some_and(|p| p.ecosystem == ecosystem)
}

/// The advice for `f`: the text of the first entry that fits, its placeholders filled,
/// followed by the entry's id (its name in `docs/advice.md`) and sources, for the reader who
/// wants to know more.
fn advice(f: &Finding, c: &Ctx<'_>) -> Option<String> {
    let entry = ADVICE.iter().find(|a| (a.fits)(f, c))?;
    let mut text = entry.text.to_owned();
    if text.contains("{epoch}") {
        let epoch = c
            .created
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map_or_else(
                || "$SOURCE_DATE_EPOCH".to_owned(),
                |t| t.as_second().to_string(),
            );
        text = text.replace("{epoch}", &epoch);
    }
    if let Some(pin) = Pin::of(f) {
        let snapshot = c
            .created
            .filter(|_| pin.ecosystem == "dpkg")
            .and_then(snapshot_url)
            .map(|url| {
                format!("; if the archive no longer has it, add `deb [check-valid-until=no] {url} <suite> main` (Debian as of input 0's `created`) to the apt sources")
            })
            .unwrap_or_default();
        text = text
            .replace("{command}", &pin.command())
            .replace("{snapshot}", &snapshot);
    }
    Some(format!(
        "{text} ({}: {})",
        entry.id,
        entry.sources.join(", ")
    ))
}

/// Sets the advice of every finding of `report`, and of the findings inside archives.
pub(super) fn fill(report: &mut Findings) {
    let created: HashMap<String, Option<String>> = report
        .comparisons
        .iter()
        .map(|c| (c.location.clone(), c.created[0].clone()))
        .collect();
    for f in &mut report.findings {
        let manifest = f.location.split('/').next().unwrap_or_default();
        let c = Ctx {
            created: created.get(manifest).and_then(Option::as_deref),
            nested: false,
        };
        fill_one(f, &c);
    }
}

fn fill_one(f: &mut Finding, c: &Ctx<'_>) {
    f.advice = advice(f, c);
    if let Some(detail) = &mut f.detail {
        let inner = Ctx {
            created: c.created,
            nested: true,
        };
        for n in &mut detail.nested {
            fill_one(n, &inner);
        }
    }
}

#[cfg(test)]
mod tests;
