//! The plain result of a comparison. The engine fills it; renderers only read it. Its serde form
//! is the JSON report (`--report-file`), whose schema `docs/report.schema.json` is generated
//! from these types and versioned by [`SCHEMA_VERSION`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::model::{Digest, Platform};
use crate::normalize::Rules;

mod pins;
pub use pins::{Pin, pins, snapshot_url};

/// Bumped whenever a field is removed or changes meaning; adding fields keeps the version.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything one run found.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(rename = "Report")]
pub struct Findings {
    /// The report format's version, see [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The program that wrote the report.
    pub tool: Tool,
    /// Input 0 and input 1, in the order given on the command line.
    pub inputs: [Input; 2],
    /// What was ignored.
    pub rules: Rules,
    /// The `--ignore-path` patterns.
    pub ignore_paths: Vec<String>,
    /// The `ocidiff.toml` whose defaults the run read, as named; absent when none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<String>,
    /// The manifests compared, one pair per platform.
    pub comparisons: Vec<Comparison>,
    /// Every difference found, in walk order: those the options count and those they set aside
    /// (`counted: false`), so that a reader can see what was ignored and why.
    pub findings: Vec<Finding>,
    /// Counts of the counted findings by kind.
    pub summary: Summary,
    /// The run summed up.
    pub verdict: Verdict,
}

/// Names the program and its version.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Tool {
    /// Always `ocidiff`.
    pub name: String,
    /// The version that wrote the report, e.g. `0.1.0`.
    pub version: String,
    /// The git commit it was built from (abbreviated, as `ocidiff --version` shows it), so that
    /// a report can be traced to its source; `unknown` for a build from outside a checkout, or
    /// when the program using the library does not say.
    pub commit: String,
}

/// One side of the comparison.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Input {
    /// The image as the user named it.
    pub reference: String,
    /// `oci`, `oci-archive`, `docker-archive`, …
    pub transport: String,
    /// Digest of the index or manifest the walk started at; absent when the source has no
    /// content-addressed root (an OCI layout's `index.json`, a classic `docker save`).
    pub digest: Option<Digest>,
}

/// One pair of manifests that was compared, at `location`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Comparison {
    /// Where its findings are, e.g. `manifests-0`.
    pub location: String,
    /// The platform it was chosen for, when chosen from an index.
    pub platform: Option<Platform>,
    /// The manifests' digests, input 0 then input 1, where known.
    pub digests: [Option<Digest>; 2],
    /// The configs' `created`, input 0 then input 1, where they have one: input 0's dates the
    /// package archive snapshot that advice points a rebuild at.
    #[serde(default)]
    pub created: [Option<String>; 2],
}

/// The level a difference was found at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A descriptor (digest, size, media type, annotations of a referenced blob).
    Descriptor,
    /// An image index or manifest list.
    Index,
    /// An image manifest.
    Manifest,
    /// An image config.
    Config,
    /// A layer as a whole (e.g. its compression or entry count).
    Layer,
    /// A tar entry in a layer.
    File,
    /// A package in the images' package databases (`--packages`).
    Package,
}

impl Kind {
    /// The short name in the table's TYPE column (diffoci's).
    pub fn short(self) -> &'static str {
        match self {
            Kind::Descriptor => "Desc",
            Kind::Index => "Idx",
            Kind::Manifest => "Mani",
            Kind::Config => "Cfg",
            Kind::Layer => "Layer",
            Kind::File => "File",
            Kind::Package => "Pkg",
        }
    }
}

/// Why a difference exists, as far as ocidiff can tell. Renderers group and count by it; the
/// verdict says how many of each class were counted or set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// A file's content, type or link target.
    Content,
    /// Present in input 1 only.
    Added,
    /// Present in input 0 only.
    Removed,
    /// Permission bits, or file-type bits in the mode.
    Permission,
    /// uid or gid, or a user or group name with another id.
    Ownership,
    /// A user or group name, the numeric ids being equal (runtimes apply the ids).
    OwnerName,
    /// A file or image timestamp.
    Timestamp,
    /// The position of an entry in its layer.
    Order,
    /// USTAR, PAX or GNU headers for the same data.
    TarFormat,
    /// Extended attributes, PAX records, device numbers.
    Metadata,
    /// Docker vs OCI media types, compression, Docker-only config fields.
    StorageFormat,
    /// A digest or size that follows from differences below it (the content is compared on its
    /// own), or `rootfs.diff_ids`.
    Derived,
    /// The same files split into layers differently.
    Layering,
    /// A whiteout that hides nothing (e.g. an opaque directory with nothing below it).
    WhiteoutWithoutEffect,
    /// An entry a layer writes again as a lower layer left it: for a directory, the same
    /// type, mode and numeric owner.
    UnchangedRewrite,
    /// An empty directory or file at a path runtimes mount over (`/proc`, `/etc/hosts`, …).
    MountPoint,
    /// An archive or compressed file whose inner entries differ only in what the options
    /// ignore (timestamps, gzip header name and mtime).
    NestedMetadata,
    /// An annotation naming the image.
    ImageName,
    /// Config history.
    History,
    /// A label, annotation, history comment or config field a builder adds about itself.
    BuilderMetadata,
    /// Any other config field.
    ConfigField,
    /// Any other annotation.
    Annotation,
    /// A platform present in one image only.
    Platform,
    /// The same path spelled differently (`/a`, `./a`, `a`).
    PathSpelling,
    /// A path the user asked to ignore (`--ignore-path`).
    IgnoredPath,
    /// A package whose version or architecture differs (`--packages`).
    PackageVersion,
    /// A file owned by a package whose version differs: expected in a later rebuild.
    PackageChanged,
    /// A file owned by a package of the same version on both sides, yet different: a
    /// reproducibility problem a reviewer must look at.
    SamePackageContent,
    /// A file no package database names.
    Unowned,
    /// An entry that container runtimes unpack differently (a duplicate path, a whiteout of an
    /// entry of its own layer, a write through a lower layer's symlink…): what the image runs
    /// depends on the runtime, so it is never set aside.
    RuntimeDependent,
    /// Anything else in a manifest, index or descriptor.
    Other,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Finding {
    /// The level it was found at.
    pub kind: Kind,
    /// Where in the walk, e.g. `manifests-0/layers-2` or `manifests-0/config`.
    pub location: String,
    /// For files, the entry's path; for JSON documents, the jq-style path of the value
    /// (`.config.Env`); for descriptors and layers, empty.
    pub name: String,
    /// What differs; never empty.
    pub fields: Vec<FieldDiff>,
    /// The class of the most significant counted field (of the first field when none counts).
    pub class: Class,
    /// Whether the options count this difference; `false` means it was set aside.
    pub counted: bool,
    /// One sentence on what this difference is and why it was counted or set aside.
    pub explanation: String,
    /// What a closer look at differing content found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Detail>,
    /// The package that owns the file, with `--packages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// How to make input 1 match input 0 (input 0 being the published image, input 1 its
    /// rebuild), when a remedy is known; `docs/advice.md` lists them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

/// The package owning a differing file.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Owner {
    /// `dpkg`, `apk`, `rpm` or `python`.
    pub ecosystem: String,
    /// The package's name in its database.
    pub name: String,
    /// Its version in input 0, if there.
    pub lhs_version: Option<String>,
    /// Its version in input 1, if there.
    pub rhs_version: Option<String>,
}

/// One field that differs, with both sides' values; a side that lacks the field has no member
/// (a JSON `null` is a value a side has).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct FieldDiff {
    /// The field: `digest`, `mtime`, `mode`, … for files and descriptors; `value` for a JSON
    /// value; `entry` when the whole entry exists on one side only. A descriptor's `digest` is
    /// its OCI digest (`sha256:HEX`); a file's is a digest of its content, `sha256:HEX` under
    /// 4096 bytes and `blake3:HEX` from 4096 bytes — or `sha256:HEX` for every file when all
    /// layers of both images are uncompressed blobs hashed as they are read (docs/report.md).
    pub field: String,
    /// Input 0's value; absent when input 0 does not have it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lhs: Option<Value>,
    /// Input 1's value; absent when input 1 does not have it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rhs: Option<Value>,
    /// Why this field differs, as far as ocidiff can tell.
    pub class: Class,
    /// Whether the options count this field.
    pub counted: bool,
}

impl FieldDiff {
    /// A counted field of class `class`.
    pub fn new(
        field: impl Into<String>,
        lhs: Option<Value>,
        rhs: Option<Value>,
        class: Class,
    ) -> FieldDiff {
        FieldDiff {
            field: field.into(),
            lhs,
            rhs,
            class,
            counted: true,
        }
    }

    /// The same field, set aside.
    pub fn set_aside(mut self) -> FieldDiff {
        self.counted = false;
        self
    }

    /// Whether `--semantic` sets this field aside, whatever the options of this run. On the
    /// safe side: an entry's position is left out, since under `--semantic` the order of
    /// entries that changes what a layer unpacks to still counts, and which those are is only
    /// known once it was looked for.
    pub fn semantic_sets_aside(&self) -> bool {
        match self.class {
            Class::Timestamp
            | Class::TarFormat
            | Class::StorageFormat
            | Class::Derived
            | Class::WhiteoutWithoutEffect
            | Class::UnchangedRewrite
            | Class::MountPoint
            | Class::OwnerName
            | Class::BuilderMetadata
            | Class::NestedMetadata
            | Class::ImageName
            | Class::History
            | Class::PathSpelling => true,
            // Only the file-type bits differ: `--ignore-file-mode-redundant-bits`.
            Class::Permission => {
                let perm = |v: &Option<Value>| {
                    v.as_ref()
                        .and_then(Value::as_str)
                        .and_then(|s| i64::from_str_radix(s, 8).ok())
                        .map(|m| m & 0o7777)
                };
                self.field == "mode"
                    && perm(&self.lhs).is_some()
                    && perm(&self.lhs) == perm(&self.rhs)
            }
            _ => false,
        }
    }
}

/// What a closer look at two differing files found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct Detail {
    /// A unified diff of two text files, cut at a bounded size (`truncated` says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_diff: Option<String>,
    /// The unified diff was cut.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// For archives and compressed files: the differences inside, as findings whose `name` is
    /// the inner path and whose `location` is the outer file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nested: Vec<Finding>,
    /// For ELF files: the sections whose content differs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elf_sections: Vec<String>,
    /// Why no closer look was possible (too large, unreadable archive, depth limit), if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// No difference at all.
    Identical,
    /// Differences, all set aside by the options.
    Equivalent,
    /// Counted differences.
    Different,
}

/// The run summed up: counted and set-aside findings, by class.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Verdict {
    /// `different` if any finding counts, else `equivalent` if any was set aside, else `identical`.
    pub outcome: Outcome,
    /// Findings the options count.
    pub counted: usize,
    /// Findings the options set aside.
    pub set_aside: usize,
    /// Counted findings per class; classes with none are absent.
    pub counted_by_class: BTreeMap<Class, usize>,
    /// Set-aside findings per class; classes with none are absent.
    pub set_aside_by_class: BTreeMap<Class, usize>,
    /// Findings count, yet every counted field is of a kind `--semantic` sets aside: the
    /// images are equivalent under `--semantic` (always `false` when nothing counts).
    #[serde(default)]
    pub equivalent_under_semantic: bool,
}

impl Verdict {
    /// Sums up `findings` (the whole list, counted and set aside).
    pub fn of(findings: &[Finding]) -> Verdict {
        let mut counted_by_class = BTreeMap::new();
        let mut set_aside_by_class = BTreeMap::new();
        for f in findings {
            let map = if f.counted {
                &mut counted_by_class
            } else {
                &mut set_aside_by_class
            };
            *map.entry(f.class).or_insert(0) += 1;
        }
        let counted = counted_by_class.values().sum();
        let set_aside = set_aside_by_class.values().sum();
        let equivalent_under_semantic = counted > 0
            && findings
                .iter()
                .flat_map(|f| &f.fields)
                .filter(|d| d.counted)
                .all(FieldDiff::semantic_sets_aside);
        Verdict {
            outcome: if counted > 0 {
                Outcome::Different
            } else if set_aside > 0 {
                Outcome::Equivalent
            } else {
                Outcome::Identical
            },
            counted,
            set_aside,
            counted_by_class,
            set_aside_by_class,
            equivalent_under_semantic,
        }
    }

    /// The one-line summary printed on stderr at the end of a run.
    pub fn line(&self) -> String {
        let classes = |m: &BTreeMap<Class, usize>| {
            m.iter()
                .map(|(c, n)| format!("{}: {n}", c.name()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.outcome {
            Outcome::Identical => "identical: no differences".to_owned(),
            Outcome::Equivalent => format!(
                "equivalent under the chosen options: {} difference{} set aside ({})",
                self.set_aside,
                plural(self.set_aside),
                classes(&self.set_aside_by_class)
            ),
            Outcome::Different => {
                let mut line = format!(
                    "different: {} difference{} ({})",
                    self.counted,
                    plural(self.counted),
                    classes(&self.counted_by_class)
                );
                if self.set_aside > 0 {
                    let _ = write!(
                        line,
                        "; {} more set aside ({})",
                        self.set_aside,
                        classes(&self.set_aside_by_class)
                    );
                }
                if self.equivalent_under_semantic {
                    line.push_str(
                        "; all of kinds --semantic sets aside: equivalent under --semantic",
                    );
                }
                line
            }
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl Finding {
    /// A finding from its fields: counted when any field is, classed by its most significant
    /// counted field (or most significant field, when none is counted), with the sentence that
    /// explains it.
    pub fn new(kind: Kind, location: &str, name: &str, fields: Vec<FieldDiff>) -> Finding {
        let counted = fields.iter().any(|f| f.counted);
        let class = fields
            .iter()
            .filter(|f| f.counted || !counted)
            .map(|f| f.class)
            .min_by_key(|c| c.rank())
            .unwrap_or(Class::Other);
        Finding {
            kind,
            location: location.to_owned(),
            name: name.to_owned(),
            explanation: class.explain(counted),
            fields,
            class,
            counted,
            detail: None,
            owner: None,
            advice: None,
        }
    }

    /// Re-derives class, counted and explanation after the fields changed.
    pub fn refresh(&mut self) {
        let fresh = Finding::new(
            self.kind,
            &self.location,
            &self.name,
            std::mem::take(&mut self.fields),
        );
        self.fields = fresh.fields;
        self.class = fresh.class;
        self.counted = fresh.counted;
        self.explanation = fresh.explanation;
    }
}

impl Class {
    /// Most significant first: a file whose content and mtime both differ is a content
    /// difference.
    fn rank(self) -> u8 {
        match self {
            Class::Content | Class::RuntimeDependent | Class::SamePackageContent => 0,
            Class::Added
            | Class::Removed
            | Class::PackageVersion
            | Class::PackageChanged
            | Class::Unowned => 1,
            Class::Permission => 2,
            Class::Ownership => 3,
            Class::Platform => 4,
            Class::ConfigField => 5,
            Class::Metadata => 6,
            Class::Annotation => 7,
            Class::Other => 8,
            Class::Layering => 9,
            Class::History => 10,
            Class::OwnerName => 11,
            Class::BuilderMetadata => 12,
            Class::Timestamp => 13,
            Class::ImageName => 14,
            Class::NestedMetadata => 15,
            Class::MountPoint => 16,
            Class::WhiteoutWithoutEffect => 17,
            Class::UnchangedRewrite => 18,
            Class::Order => 19,
            Class::TarFormat => 20,
            Class::PathSpelling => 21,
            Class::StorageFormat => 22,
            Class::Derived => 23,
            Class::IgnoredPath => 24,
        }
    }

    /// How soon a reviewer must look at a finding of this class, 0 first: the order of the
    /// table's, the Markdown summary's and the HTML report's rows (see [`review_order`]).
    ///
    /// First what may make the images behave differently and has no expected cause
    /// (`runtime-dependent`, `same-package-content`, `unowned`, `content`, `removed`, `added`,
    /// `permission`, `ownership`, `metadata`, `platform`, `config-field`, `annotation`,
    /// `other`); then what a rebuild is expected to change (`package-version` and
    /// `package-changed`, `history`, `builder-metadata`, `layering`, `owner-name`, `timestamp`,
    /// `image-name`, `nested-metadata`, `mount-point`, `whiteout-without-effect`,
    /// `unchanged-rewrite`, `order`, `tar-format`, `path-spelling`, `storage-format`,
    /// `derived`, `ignored-path`).
    pub fn review_rank(self) -> u8 {
        match self {
            Class::RuntimeDependent => 0,
            Class::SamePackageContent => 1,
            Class::Unowned => 2,
            Class::Content => 3,
            Class::Removed => 4,
            Class::Added => 5,
            Class::Permission => 6,
            Class::Ownership => 7,
            Class::Metadata => 8,
            Class::Platform => 9,
            Class::ConfigField => 10,
            Class::Annotation => 11,
            Class::Other => 12,
            // A package's row and the files it explains rank together; the row comes first.
            Class::PackageVersion | Class::PackageChanged => 13,
            Class::History => 14,
            Class::BuilderMetadata => 15,
            Class::Layering => 16,
            Class::OwnerName => 17,
            Class::Timestamp => 18,
            Class::ImageName => 19,
            Class::NestedMetadata => 20,
            Class::MountPoint => 21,
            Class::WhiteoutWithoutEffect => 22,
            Class::UnchangedRewrite => 23,
            Class::Order => 24,
            Class::TarFormat => 25,
            Class::PathSpelling => 26,
            Class::StorageFormat => 27,
            Class::Derived => 28,
            Class::IgnoredPath => 29,
        }
    }

    /// What this class of difference is and why it was counted or set aside, in a sentence.
    pub fn explain(self, counted: bool) -> String {
        let what = match self {
            Class::Content => "the content differs",
            Class::Added => "only input 1 has it",
            Class::Removed => "only input 0 has it",
            Class::Permission => "the permission bits differ",
            Class::Ownership => "the owner differs",
            Class::OwnerName => {
                "only the user or group name differs; the numeric uid and gid, which runtimes apply, are equal"
            }
            Class::MountPoint => {
                "an empty directory or file where container runtimes mount (/proc, /sys, /dev, /etc/hosts, /etc/hostname, /etc/resolv.conf, /run), which builders leave behind"
            }
            Class::BuilderMetadata => {
                "what a builder records about itself (io.buildah.version, moby.buildkit.*, base-image annotations, history comments, ArgsEscaped outside Windows)"
            }
            Class::Timestamp => "only timestamps differ",
            Class::Order => "only the position in the layer differs",
            Class::TarFormat => "the same entry is written with another tar header format",
            Class::Metadata => "extended attributes, PAX records or device numbers differ",
            Class::StorageFormat => {
                "only the storage format differs (Docker vs OCI media types, compression, Docker-only config fields such as the classic builder's parent image `.config.Image`, annotations a Docker manifest cannot carry)"
            }
            Class::Derived => {
                "a digest or size that follows from differences below it, which are compared on their own"
            }
            Class::Layering => "the same files are split into layers differently",
            Class::WhiteoutWithoutEffect => "a whiteout that hides nothing in the layers below",
            Class::UnchangedRewrite => {
                "an entry written again as a lower layer left it (for a directory: same type, mode and numeric owner)"
            }
            Class::NestedMetadata => {
                "an archive whose entries differ only in what the options ignore (timestamps, order, header format)"
            }
            Class::ImageName => "an annotation naming the image",
            Class::History => "the build history differs",
            Class::ConfigField => "a config field differs",
            Class::Annotation => "an annotation differs",
            Class::Platform => "a platform is present in one image only",
            Class::PathSpelling => "the same path spelled differently (/a, ./a, a)",
            Class::IgnoredPath => "the path matches --ignore-path",
            Class::PackageVersion => "the package's version or architecture differs",
            Class::PackageChanged => {
                "its package's version differs between the images: expected in a later rebuild"
            }
            Class::SamePackageContent => {
                "its package has the same version in both images, yet the file differs: a reproducibility problem to look at"
            }
            Class::Unowned => "no package owns it",
            Class::RuntimeDependent => {
                "container runtimes unpack this entry differently, so what the image holds depends on the runtime"
            }
            Class::Other => "a field differs",
        };
        let why = if counted {
            "counted"
        } else {
            match self {
                Class::IgnoredPath => "set aside as asked",
                Class::WhiteoutWithoutEffect | Class::UnchangedRewrite | Class::Layering => {
                    "set aside: it does not change the file system"
                }
                Class::MountPoint | Class::OwnerName | Class::BuilderMetadata => {
                    "set aside: no container sees it"
                }
                _ => "set aside by the chosen options",
            }
        };
        format!("{what}; {why}")
    }

    /// The kebab-case name used in JSON and in the verdict line.
    pub fn name(self) -> &'static str {
        match self {
            Class::Content => "content",
            Class::Added => "added",
            Class::Removed => "removed",
            Class::Permission => "permission",
            Class::Ownership => "ownership",
            Class::OwnerName => "owner-name",
            Class::MountPoint => "mount-point",
            Class::BuilderMetadata => "builder-metadata",
            Class::Timestamp => "timestamp",
            Class::Order => "order",
            Class::TarFormat => "tar-format",
            Class::Metadata => "metadata",
            Class::StorageFormat => "storage-format",
            Class::Derived => "derived",
            Class::Layering => "layering",
            Class::WhiteoutWithoutEffect => "whiteout-without-effect",
            Class::UnchangedRewrite => "unchanged-rewrite",
            Class::NestedMetadata => "nested-metadata",
            Class::ImageName => "image-name",
            Class::History => "history",
            Class::ConfigField => "config-field",
            Class::Annotation => "annotation",
            Class::Platform => "platform",
            Class::PathSpelling => "path-spelling",
            Class::IgnoredPath => "ignored-path",
            Class::PackageVersion => "package-version",
            Class::PackageChanged => "package-changed",
            Class::SamePackageContent => "same-package-content",
            Class::Unowned => "unowned",
            Class::RuntimeDependent => "runtime-dependent",
            Class::Other => "other",
        }
    }
}

/// `findings` in the order a reviewer should read them, the order of the table, the Markdown
/// summary and the HTML report (the JSON report keeps walk order):
///
/// 1. counted findings before set-aside ones;
/// 2. then by [`Class::review_rank`] of the finding's class;
/// 3. a `Pkg` row before the other rows of its rank, and never after the files it explains
///    (those whose [`Finding::owner`] it is, in the same manifest): it takes the rank of the
///    first of them when that is smaller than its own;
/// 4. otherwise in walk order.
pub fn review_order(findings: &[Finding]) -> Vec<&Finding> {
    // The smallest rank of the files each package owns, by (manifest location, `ECO:NAME`).
    let mut explained: BTreeMap<(&str, String), (bool, u8)> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.kind == Kind::File) {
        let Some(owner) = &f.owner else { continue };
        let manifest = f.location.split('/').next().unwrap_or_default();
        let key = (!f.counted, f.class.review_rank());
        explained
            .entry((manifest, format!("{}:{}", owner.ecosystem, owner.name)))
            .and_modify(|k| *k = (*k).min(key))
            .or_insert(key);
    }
    let sort_key = |(i, f): &(usize, &Finding)| {
        let own = (!f.counted, f.class.review_rank());
        let (aside, rank) = if f.kind == Kind::Package {
            let manifest = f.location.strip_suffix("/packages").unwrap_or(&f.location);
            explained
                .get(&(manifest, f.name.clone()))
                .map_or(own, |&first| own.min(first))
        } else {
            own
        };
        (aside, rank, f.kind != Kind::Package, *i)
    };
    let mut ordered: Vec<(usize, &Finding)> = findings.iter().enumerate().collect();
    ordered.sort_by_cached_key(sort_key);
    ordered.into_iter().map(|(_, f)| f).collect()
}

/// Totals.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Summary {
    /// Number of counted findings.
    pub differences: usize,
    /// Number of counted findings of each kind.
    pub by_kind: BTreeMap<Kind, usize>,
}

impl Summary {
    /// Counts the counted findings.
    pub fn of(findings: &[Finding]) -> Summary {
        let mut by_kind = BTreeMap::new();
        let mut differences = 0;
        for f in findings.iter().filter(|f| f.counted) {
            differences += 1;
            *by_kind.entry(f.kind).or_insert(0) += 1;
        }
        Summary {
            differences,
            by_kind,
        }
    }
}

/// The JSON Schema of [`Findings`], as committed in `docs/report.schema.json`.
pub fn report_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(Findings)).expect("a schema is plain JSON")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn field(class: Class) -> FieldDiff {
        FieldDiff::new("f", Some(json!(1)), Some(json!(2)), class)
    }

    fn file(fields: Vec<FieldDiff>) -> Finding {
        Finding::new(Kind::File, "", "etc/a", fields)
    }

    #[test]
    fn a_finding_is_named_by_its_most_significant_field() {
        // Most significant first; each class names a finding it shares with any class after it.
        let order = [
            Class::Content,
            Class::Added,
            Class::Permission,
            Class::Ownership,
            Class::Platform,
            Class::ConfigField,
            Class::Metadata,
            Class::Annotation,
            Class::Other,
            Class::Layering,
            Class::History,
            Class::OwnerName,
            Class::BuilderMetadata,
            Class::Timestamp,
            Class::ImageName,
            Class::NestedMetadata,
            Class::MountPoint,
            Class::WhiteoutWithoutEffect,
            Class::UnchangedRewrite,
            Class::Order,
            Class::TarFormat,
            Class::PathSpelling,
            Class::StorageFormat,
            Class::Derived,
            Class::IgnoredPath,
        ];
        for (i, &first) in order.iter().enumerate() {
            for &later in &order[i + 1..] {
                for fields in [
                    vec![field(later), field(first)],
                    vec![field(first), field(later)],
                ] {
                    assert_eq!(file(fields).class, first, "{first:?} before {later:?}");
                }
            }
        }
        // Ties keep the first field's class.
        assert_eq!(
            file(vec![field(Class::RuntimeDependent), field(Class::Content)]).class,
            Class::RuntimeDependent
        );
        assert_eq!(
            file(vec![field(Class::Removed), field(Class::Added)]).class,
            Class::Removed
        );
        // The package classes rank with content (same version) and with added files.
        assert_eq!(
            file(vec![
                field(Class::Permission),
                field(Class::SamePackageContent)
            ])
            .class,
            Class::SamePackageContent
        );
        for class in [Class::PackageVersion, Class::PackageChanged, Class::Unowned] {
            assert_eq!(
                file(vec![field(Class::Permission), field(class)]).class,
                class
            );
            assert_eq!(
                file(vec![field(Class::Content), field(class)]).class,
                Class::Content
            );
        }
    }

    #[test]
    fn explanations_say_why_a_difference_is_counted_or_set_aside() {
        assert_eq!(Class::Content.explain(true), "the content differs; counted");
        assert_eq!(
            Class::IgnoredPath.explain(false),
            "the path matches --ignore-path; set aside as asked"
        );
        for class in [
            Class::WhiteoutWithoutEffect,
            Class::UnchangedRewrite,
            Class::Layering,
        ] {
            assert!(
                class
                    .explain(false)
                    .ends_with("; set aside: it does not change the file system"),
                "{class:?}"
            );
        }
        assert!(
            Class::Timestamp
                .explain(false)
                .ends_with("; set aside by the chosen options")
        );
        for class in [Class::MountPoint, Class::OwnerName, Class::BuilderMetadata] {
            assert!(
                class
                    .explain(false)
                    .ends_with("; set aside: no container sees it"),
                "{class:?}"
            );
            assert!(class.explain(true).ends_with("; counted"), "{class:?}");
        }
    }

    #[test]
    fn equivalent_under_semantic_only_when_every_counted_field_is_its_kind() {
        let counted = |class| file(vec![field(class)]);
        let mode = |l: &str, r: &str| {
            file(vec![FieldDiff::new(
                "mode",
                Some(json!(l)),
                Some(json!(r)),
                Class::Permission,
            )])
        };
        let verdict = |fs: &[Finding]| Verdict::of(fs).equivalent_under_semantic;
        assert!(verdict(&[
            counted(Class::Timestamp),
            counted(Class::StorageFormat)
        ]));
        assert!(verdict(&[mode("100644", "0644")]), "file-type bits only");
        assert!(!verdict(&[mode("0644", "0755")]), "permission bits");
        assert!(
            !verdict(&[counted(Class::Order)]),
            "order that matters stays counted"
        );
        assert!(!verdict(&[
            counted(Class::Timestamp),
            counted(Class::Content)
        ]));
        assert!(!verdict(&[]));
        assert!(
            Verdict::of(&[counted(Class::Timestamp)])
                .line()
                .ends_with("; all of kinds --semantic sets aside: equivalent under --semantic")
        );
    }

    #[test]
    fn the_verdict_line_counts_each_outcome() {
        let counted = |class| file(vec![field(class)]);
        let aside = |class| file(vec![field(class).set_aside()]);
        assert_eq!(Verdict::of(&[]).line(), "identical: no differences");
        assert_eq!(
            Verdict::of(&[aside(Class::Timestamp)]).line(),
            "equivalent under the chosen options: 1 difference set aside (timestamp: 1)"
        );
        assert_eq!(
            Verdict::of(&[counted(Class::Content), counted(Class::Content)]).line(),
            "different: 2 differences (content: 2)"
        );
        assert_eq!(
            Verdict::of(&[
                counted(Class::Permission),
                aside(Class::Order),
                aside(Class::Timestamp),
            ])
            .line(),
            "different: 1 difference (permission: 1); 2 more set aside (timestamp: 1, order: 1)"
        );
    }

    #[test]
    fn the_summary_counts_counted_findings_by_kind() {
        let config = Finding::new(Kind::Config, "", ".User", vec![field(Class::ConfigField)]);
        let findings = [
            file(vec![field(Class::Content)]),
            file(vec![field(Class::Permission)]),
            file(vec![field(Class::Timestamp).set_aside()]),
            config,
        ];
        let summary = Summary::of(&findings);
        assert_eq!(summary.differences, 3);
        assert_eq!(
            summary.by_kind.into_iter().collect::<Vec<_>>(),
            [(Kind::Config, 1), (Kind::File, 2)]
        );
    }

    fn names<'a>(findings: &[&'a Finding]) -> Vec<&'a str> {
        findings.iter().map(|f| f.name.as_str()).collect()
    }

    fn owned(name: &str, class: Class, package: &str) -> Finding {
        let mut f = Finding::new(Kind::File, "manifests-0/layers-0", name, vec![field(class)]);
        f.owner = Some(Owner {
            ecosystem: "dpkg".to_owned(),
            name: package.to_owned(),
            lhs_version: Some("1".to_owned()),
            rhs_version: Some("2".to_owned()),
        });
        f
    }

    fn package(name: &str, class: Class) -> Finding {
        Finding::new(
            Kind::Package,
            "manifests-0/packages",
            name,
            vec![field(class)],
        )
    }

    #[test]
    fn review_order_puts_what_to_look_at_first_first() {
        let named =
            |name: &str, fields| Finding::new(Kind::File, "manifests-0/layers-0", name, fields);
        let findings = [
            named("derived", vec![field(Class::Derived)]),
            named("aside", vec![field(Class::Content).set_aside()]),
            named("timestamp", vec![field(Class::Timestamp)]),
            owned("changed-1", Class::PackageChanged, "foo"),
            named("content-1", vec![field(Class::Content)]),
            named("same", vec![field(Class::SamePackageContent)]),
            named("unowned", vec![field(Class::Unowned)]),
            named("content-2", vec![field(Class::Content)]),
            named("runtime", vec![field(Class::RuntimeDependent)]),
            owned("changed-2", Class::PackageChanged, "foo"),
            package("dpkg:foo", Class::PackageVersion),
        ];
        assert_eq!(
            names(&review_order(&findings)),
            [
                "runtime",
                "same",
                "unowned",
                "content-1",
                "content-2",
                "dpkg:foo",
                "changed-1",
                "changed-2",
                "timestamp",
                "derived",
                "aside",
            ]
        );
        // The JSON report's order, the walk's, is untouched.
        assert_eq!(findings[0].name, "derived");
    }

    #[test]
    fn a_package_row_comes_before_the_files_it_explains() {
        // Whatever its own class: it takes the rank of its first file, in its own manifest.
        let mut elsewhere = owned("other-manifest", Class::SamePackageContent, "late");
        elsewhere.location = "manifests-1/layers-0".to_owned();
        let findings = [
            file(vec![field(Class::Content)]),
            owned("usr/bin/late", Class::SamePackageContent, "late"),
            elsewhere,
            package("dpkg:late", Class::Derived),
            package("dpkg:unrelated", Class::Added),
        ];
        assert_eq!(
            names(&review_order(&findings)),
            [
                "dpkg:late",
                "usr/bin/late",
                "other-manifest",
                "etc/a",
                "dpkg:unrelated"
            ]
        );
        // Rows of one rank keep walk order, a package's first.
        let findings = [
            file(vec![field(Class::Added)]),
            package("dpkg:new", Class::Added),
            package("dpkg:newer", Class::Added),
        ];
        assert_eq!(
            names(&review_order(&findings)),
            ["dpkg:new", "dpkg:newer", "etc/a"]
        );
    }

    #[test]
    fn what_a_rebuild_is_expected_to_change_comes_after_what_it_is_not() {
        let must_look = [
            Class::RuntimeDependent,
            Class::SamePackageContent,
            Class::Unowned,
            Class::Content,
            Class::Removed,
            Class::Added,
            Class::Permission,
            Class::Ownership,
            Class::Metadata,
            Class::Platform,
            Class::ConfigField,
            Class::Annotation,
            Class::Other,
        ];
        let expected = [
            Class::PackageVersion,
            Class::PackageChanged,
            Class::History,
            Class::BuilderMetadata,
            Class::Layering,
            Class::OwnerName,
            Class::Timestamp,
            Class::ImageName,
            Class::NestedMetadata,
            Class::MountPoint,
            Class::WhiteoutWithoutEffect,
            Class::UnchangedRewrite,
            Class::Order,
            Class::TarFormat,
            Class::PathSpelling,
            Class::StorageFormat,
            Class::Derived,
            Class::IgnoredPath,
        ];
        let ranks: Vec<u8> = must_look
            .iter()
            .chain(&expected)
            .map(|c| c.review_rank())
            .collect();
        assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{ranks:?}");
        assert!(
            must_look
                .iter()
                .all(|c| c.review_rank() < Class::PackageChanged.review_rank())
        );
    }
}
