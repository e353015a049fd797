//! The comparison engine: walks two images level by level — index, manifests (per platform),
//! config, layers, tar entries — and returns every difference as a [`Finding`].
//!
//! Blobs with the same digest on both sides are verified (hashed) but never decompressed or
//! walked; layer pairs are walked in parallel, each side of a pair on its own thread.

mod capture;
mod classify;
mod details;
mod entries;
mod extract;
mod jobs;
mod json;
mod layers;
mod packages;

use std::collections::HashMap;

use serde_json::{Value, json};

pub use extract::ExtractError;

use crate::content::{self, ContentError, Limits};
use crate::finding::{
    self, Class, Comparison, FieldDiff, Finding, Input, Kind, Report, Summary, Verdict,
};
use crate::image::Image;
use crate::layer::{self, ApplyError, LayerError};
pub use crate::model::PlatformChoice;
use crate::model::{
    Blob, Descriptor, Digest, Document, DocumentError, GoJsonError, Manifest, Platform, gojson,
    media,
};
use crate::normalize::{Rules, document};
use crate::source::select::{self, Offered, SelectError};
use crate::store::DiffIds;
use jobs::largest_first;

/// How to compare.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub rules: Rules,
    pub platforms: PlatformChoice,
    pub limits: Limits,
    /// Paths whose differences are set aside (`--ignore-path`).
    pub ignore_paths: PathFilter,
    /// Where diff IDs computed by earlier runs are kept (see [`DiffIds`]); `None` computes
    /// every one that is needed.
    pub diff_ids: Option<DiffIds>,
    /// Look closer at every file whose content differs — unified diffs of text files, ELF
    /// sections — not only at archives. It reads those files' layers again, so it is worth it
    /// only when a report will show the details.
    pub details: bool,
}

/// Why the options could not be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid --ignore-path pattern {pattern:?}: {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: String,
}

/// `--ignore-path` patterns, compiled: globs over entry paths, a leading `/` optional, `*`
/// within one directory and `**` across them; a pattern matching a directory covers what is
/// below it.
#[derive(Debug, Clone, Default)]
pub struct PathFilter {
    patterns: Vec<String>,
    set: Option<globset::GlobSet>,
}

impl PathFilter {
    pub fn new(patterns: &[String]) -> Result<PathFilter, PatternError> {
        if patterns.is_empty() {
            return Ok(PathFilter::default());
        }
        let mut set = globset::GlobSetBuilder::new();
        for p in patterns {
            let glob = globset::GlobBuilder::new(p.trim_start_matches('/').trim_end_matches('/'))
                .literal_separator(true)
                .build()
                .map_err(|e| PatternError {
                    pattern: p.clone(),
                    reason: e.kind().to_string(),
                })?;
            set.add(glob);
        }
        let set = set.build().map_err(|e| PatternError {
            pattern: patterns.join(" "),
            reason: e.to_string(),
        })?;
        Ok(PathFilter {
            patterns: patterns.to_vec(),
            set: Some(set),
        })
    }

    /// The patterns as given.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether `path` or one of its parent directories matches.
    pub fn matches(&self, path: &str) -> bool {
        let Some(set) = &self.set else { return false };
        let clean = layer::clean(path);
        let mut p = clean.as_str();
        loop {
            if set.is_match(p) {
                return true;
            }
            match p.rsplit_once('/') {
                Some((parent, _)) => p = parent,
                None => return false,
            }
        }
    }
}

/// A comparison that could not be completed, naming the input at fault (`side`), or none
/// when the two inputs are at fault together.
#[derive(Debug)]
pub struct CompareError {
    pub side: Option<usize>,
    pub reference: String,
    /// Boxed: errors are rare and results are passed around a lot.
    pub source: Box<InputError>,
}

impl std::fmt::Display for CompareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.side {
            Some(side) => write!(f, "input {side} ({}): {}", self.reference, self.source),
            None => write!(f, "{}", self.source),
        }
    }
}

impl std::error::Error for CompareError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// What was wrong with an input.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error("{what}: {source}")]
    Document { what: String, source: DocumentError },
    #[error("image config {digest}: {source}")]
    Config { digest: Digest, source: GoJsonError },
    #[error("{what} {digest}: malformed JSON: {source}")]
    Json {
        what: &'static str,
        digest: Digest,
        source: serde_json::Error,
    },
    #[error("{what} {digest} is a {found}, expected {expected}")]
    WrongKind {
        what: &'static str,
        digest: Digest,
        found: &'static str,
        expected: &'static str,
    },
    #[error(
        "layer {index} ({layer}): the config's rootfs.diff_ids names {declared}, but the layer \
         unpacks a stream whose digest is {actual}; container runtimes refuse the image, or run \
         another layer they already hold under that diff ID"
    )]
    DiffId {
        index: usize,
        layer: Digest,
        declared: Digest,
        actual: Digest,
    },
    #[error(
        "the manifest lists {layers} layers but the config's rootfs.diff_ids lists {diff_ids}; \
         container runtimes refuse the image"
    )]
    DiffIdCount { layers: usize, diff_ids: usize },
    #[error("layer {index} ({layer}): {source}")]
    Refused {
        index: usize,
        layer: Digest,
        source: ApplyError,
    },
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(
        "nothing to compare: input 0 ({lhs}) offers {lhs_offers}, input 1 ({rhs}) offers \
         {rhs_offers}, and no platform is in both"
    )]
    NoPair {
        lhs: String,
        lhs_offers: String,
        rhs: String,
        rhs_offers: String,
    },
    #[error(
        "{what} lists {count} {items}, more than the limit of {limit} (raise it with --max-scale)"
    )]
    TooMany {
        what: String,
        count: usize,
        items: &'static str,
        limit: u64,
    },
}

/// The report plus what a second pass needs to extract the differing files.
pub struct Outcome {
    pub report: Report,
    pairs: Vec<Pair>,
}

/// One compared pair of manifests, kept for extraction.
struct Pair {
    location: String,
    sides: [PairSide; 2],
    squashed: bool,
}

struct PairSide {
    manifest: Blob,
    config: Option<Vec<u8>>,
    layers: Vec<Descriptor>,
    /// For squashed comparisons: for each differing path, the layer that last wrote it and the
    /// name the entry has there.
    origin: HashMap<String, (usize, String)>,
}

/// Compares two images.
pub fn compare(lhs: &Image, rhs: &Image, opts: &Options) -> Result<Outcome, CompareError> {
    Engine {
        sides: [lhs, rhs],
        opts,
    }
    .run()
}

struct Engine<'a> {
    sides: [&'a Image; 2],
    opts: &'a Options,
}

enum Root {
    Index(Value),
    Manifest(Box<Blob>),
}

impl<'a> Engine<'a> {
    fn err(&self, side: usize, e: impl Into<InputError>) -> CompareError {
        CompareError {
            side: Some(side),
            reference: self.sides[side].reference.to_string(),
            source: Box::new(e.into()),
        }
    }

    fn rules(&self) -> &Rules {
        &self.opts.rules
    }

    fn run(&self) -> Result<Outcome, CompareError> {
        let mut findings = Vec::new();
        let [l, r] = self.sides;
        if let (Some(ld), Some(rd)) = (&l.root.descriptor, &r.root.descriptor) {
            findings.extend(self.descriptors("root", ld, rd));
        }
        let roots = [self.root(0)?, self.root(1)?];
        if let [Root::Index(ld), Root::Index(rd)] = &roots {
            findings.extend(values(
                Kind::Index,
                "index",
                [ld, rd].map(|d| document::index(d.clone(), &Rules::default())),
                [ld, rd].map(|d| document::index(d.clone(), self.rules())),
            ));
        }
        let (pairs_to_compare, platform_findings) = self.choose(&roots)?;
        findings.extend(platform_findings);
        let mut comparisons = Vec::new();
        let mut pairs = Vec::new();
        for (i, (platform, lm, rm)) in pairs_to_compare.into_iter().enumerate() {
            let location = format!("manifests-{i}");
            comparisons.push(Comparison {
                location: location.clone(),
                platform: platform.clone(),
                digests: [
                    lm.descriptor.as_ref().map(|d| d.digest.clone()),
                    rm.descriptor.as_ref().map(|d| d.digest.clone()),
                ],
            });
            let (pair, found) = self.manifests(location, platform.as_ref(), lm, rm)?;
            findings.extend(found);
            pairs.push(pair);
        }
        let report = Report {
            schema_version: finding::SCHEMA_VERSION,
            tool: finding::Tool {
                name: "ocidiff".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            inputs: [input(l), input(r)],
            rules: *self.rules(),
            ignore_paths: self.opts.ignore_paths.patterns().to_vec(),
            comparisons,
            summary: Summary::of(&findings),
            verdict: Verdict::of(&findings),
            findings,
        };
        Ok(Outcome { report, pairs })
    }

    fn root(&self, side: usize) -> Result<Root, CompareError> {
        let image = self.sides[side];
        let declared = image
            .root
            .descriptor
            .as_ref()
            .map(|d| d.media_type.as_str());
        let what = match &image.root.descriptor {
            Some(d) => format!("the image's root document {}", d.digest),
            None => "the image's root document".into(),
        };
        let document_error = |source: DocumentError| {
            self.err(
                side,
                InputError::Document {
                    what: what.clone(),
                    source,
                },
            )
        };
        match Document::parse(&image.root.bytes, declared).map_err(document_error)? {
            Document::Manifest(_) => Ok(Root::Manifest(Box::new(image.root.clone()))),
            Document::Index(_) => Ok(Root::Index(
                serde_json::from_slice(&image.root.bytes).map_err(|e| document_error(e.into()))?,
            )),
        }
    }

    fn json_blob(&self, side: usize, desc: &Descriptor) -> Result<Vec<u8>, CompareError> {
        content::read_json_blob(&*self.sides[side].blobs, desc, self.opts.limits.json_bytes)
            .map_err(|e| self.err(side, e))
    }

    /// Pairs up the manifests to compare: for each platform asked for, the image a runtime
    /// would run from each input; or, for every platform, the images both offer. A run that
    /// would compare nothing is an error: "identical" must never mean "nothing looked at".
    #[allow(clippy::type_complexity)]
    fn choose(
        &self,
        roots: &[Root; 2],
    ) -> Result<(Vec<(Option<Platform>, Blob, Blob)>, Vec<Finding>), CompareError> {
        if let [Root::Manifest(l), Root::Manifest(r)] = roots {
            return Ok((vec![(None, (**l).clone(), (**r).clone())], vec![]));
        }
        let wanted = match &self.opts.platforms {
            PlatformChoice::These(list) => list,
            PlatformChoice::All => return self.pair_all(),
        };
        let mut pairs = Vec::new();
        for p in wanted {
            let [l, r] = [0, 1].map(|side| {
                let image = self.sides[side];
                select::select(&*image.blobs, &image.root, p, &self.opts.limits)
                    .map_err(|e| self.err(side, e))
            });
            pairs.push((Some(p.clone()), l?.manifest, r?.manifest));
        }
        Ok((pairs, Vec::new()))
    }

    /// `--all-platforms`: the images of both inputs paired by platform (normalised, so that
    /// `arm64` pairs with `arm64/v8` but `amd64/v3` only with `amd64/v3`), in the order of the
    /// left input; images with no platform at all pair in order. Images in one input only are
    /// a difference of their own.
    #[allow(clippy::type_complexity)]
    fn pair_all(
        &self,
    ) -> Result<(Vec<(Option<Platform>, Blob, Blob)>, Vec<Finding>), CompareError> {
        let offered = |side: usize| {
            let image = self.sides[side];
            select::offered(&*image.blobs, &image.root, &self.opts.limits)
                .map_err(|e| self.err(side, e))
        };
        let (lhs, rhs) = (offered(0)?, offered(1)?);
        let mut pairs = Vec::new();
        let mut only_lhs = Vec::new();
        let mut unpaired_rhs: Vec<Option<Offered>> = rhs.into_iter().map(Some).collect();
        for l in lhs {
            let key = l.platform.as_ref().map(Platform::key);
            let hit = unpaired_rhs.iter_mut().find(|r| {
                r.as_ref()
                    .is_some_and(|r| r.platform.as_ref().map(Platform::key) == key)
            });
            match hit.and_then(Option::take) {
                Some(r) => pairs.push((l.platform.clone().or(r.platform), l.manifest, r.manifest)),
                None => only_lhs.push(l),
            }
        }
        let only_rhs: Vec<Offered> = unpaired_rhs.into_iter().flatten().collect();
        if pairs.is_empty() {
            return Err(CompareError {
                side: None,
                reference: String::new(),
                source: Box::new(InputError::NoPair {
                    lhs: self.sides[0].reference.to_string(),
                    lhs_offers: select::describe(&only_lhs),
                    rhs: self.sides[1].reference.to_string(),
                    rhs_offers: select::describe(&only_rhs),
                }),
            });
        }
        let mut findings = Vec::new();
        if !only_lhs.is_empty() || !only_rhs.is_empty() {
            let names =
                |images: &[Offered]| {
                    Value::Array(
                        images
                            .iter()
                            .map(|o| {
                                json!(o.platform.as_ref().map_or_else(
                                    || "(no platform)".to_owned(),
                                    ToString::to_string
                                ))
                            })
                            .collect(),
                    )
                };
            findings.push(classify::finding(
                Kind::Index,
                "index",
                ".manifests",
                vec![FieldDiff::new(
                    "platforms",
                    Some(names(&only_lhs)),
                    Some(names(&only_rhs)),
                    Class::Platform,
                )],
            ));
        }
        Ok((pairs, findings))
    }

    fn parse_manifest(&self, side: usize, blob: &Blob) -> Result<Manifest, CompareError> {
        let declared = blob.descriptor.as_ref().map(|d| d.media_type.as_str());
        let digest = blob
            .descriptor
            .as_ref()
            .map_or_else(|| Digest::sha256_of(&blob.bytes), |d| d.digest.clone());
        match Document::parse(&blob.bytes, declared) {
            Ok(Document::Manifest(m)) => {
                let limit = self.opts.limits.layers;
                if m.layers.len() as u64 > limit {
                    return Err(self.err(
                        side,
                        InputError::TooMany {
                            what: format!("manifest {digest}"),
                            count: m.layers.len(),
                            items: "layers",
                            limit,
                        },
                    ));
                }
                Ok(*m)
            }
            Ok(Document::Index(_)) => Err(self.err(
                side,
                InputError::WrongKind {
                    what: "manifest",
                    digest,
                    found: "index",
                    expected: "manifest",
                },
            )),
            Err(source) => Err(self.err(
                side,
                InputError::Document {
                    what: format!("manifest {digest}"),
                    source,
                },
            )),
        }
    }

    fn manifests(
        &self,
        location: String,
        platform: Option<&Platform>,
        lm: Blob,
        rm: Blob,
    ) -> Result<(Pair, Vec<Finding>), CompareError> {
        let mut findings = Vec::new();
        // Root manifests' descriptors were compared as the roots.
        if let (Some(_), Some(ld), Some(rd)) = (platform, &lm.descriptor, &rm.descriptor) {
            findings.extend(self.descriptors(&location, ld, rd));
        }
        let manifests = [self.parse_manifest(0, &lm)?, self.parse_manifest(1, &rm)?];
        let docs = [self.json_value(0, &lm)?, self.json_value(1, &rm)?];
        findings.extend(values(
            Kind::Manifest,
            &location,
            docs.clone()
                .map(|d| document::manifest(d, &Rules::default())),
            docs.map(|d| document::manifest(d, self.rules())),
        ));

        let config_loc = format!("{location}/config");
        let [lc, rc] = [&manifests[0].config, &manifests[1].config];
        findings.extend(self.descriptors(&config_loc, lc, rc));
        let mut configs = [None, None];
        let config_bytes = if lc.digest == rc.digest {
            self.verify_both(lc, rc)?;
            let bytes = self.json_blob(0, lc)?;
            [bytes.clone(), bytes]
        } else {
            let bytes = [self.json_blob(0, lc)?, self.json_blob(1, rc)?];
            let parsed: [Value; 2] = [
                self.config_as(0, lc, &bytes[0])?,
                self.config_as(1, rc, &bytes[1])?,
            ];
            let found = values(
                Kind::Config,
                &config_loc,
                parsed.clone(),
                parsed.map(|v| document::config(v, self.rules())),
            );
            if found.iter().any(|f| f.counted) {
                configs = bytes.clone().map(Some);
            }
            findings.extend(found);
            bytes
        };
        let diff_ids = [
            self.diff_ids(0, lc, &config_bytes[0])?,
            self.diff_ids(1, rc, &config_bytes[1])?,
        ];

        let [ll, rl] = [&manifests[0].layers, &manifests[1].layers];
        let flatten = self.rules().flatten;
        let squashed = flatten || ll.len() != rl.len();
        if ll.len() != rl.len() {
            let d = FieldDiff::new(
                "count",
                Some(json!(ll.len())),
                Some(json!(rl.len())),
                Class::Layering,
            );
            findings.push(classify::finding(
                Kind::Manifest,
                &location,
                ".layers",
                vec![if flatten { d.set_aside() } else { d }],
            ));
        }
        let found = self.layers(&location, [ll, rl], [&diff_ids[0], &diff_ids[1]], squashed)?;
        findings.extend(found.findings);
        let trees = found.trees;
        let rootfs = format!("{location}/rootfs");
        let mut origins = [HashMap::new(), HashMap::new()];
        if let (true, Some(trees)) = (squashed, &trees) {
            for f in findings.iter().filter(|f| f.location == rootfs) {
                for (side, tree) in trees.iter().enumerate() {
                    if let Some(e) = tree.get(&layer::clean(&f.name)) {
                        origins[side].insert(f.name.clone(), (e.layer, layer::clean(&e.name)));
                    }
                }
            }
        }
        self.apply_ignore_paths(&mut findings);
        let layer_prefix = format!("{location}/layers-");
        self.details(
            [ll, rl],
            |side, f| {
                if f.location == rootfs {
                    origins[side].get(&f.name).cloned()
                } else {
                    let layer = f.location.strip_prefix(&layer_prefix)?.parse().ok()?;
                    Some((layer, layer::clean(&f.name)))
                }
            },
            &mut findings,
        )?;
        if let (true, Some([lt, rt])) = (self.rules().packages, &trees) {
            self.packages(&location, [lt, rt], [ll, rl], &mut findings)?;
        }
        let manifest_blobs = [lm, rm];
        let [ol, or] = origins;
        let [cl, cr] = configs;
        let [ml, mr] = manifest_blobs;
        let [mfl, mfr] = manifests;
        Ok((
            Pair {
                location,
                squashed,
                sides: [
                    PairSide {
                        manifest: ml,
                        config: cl,
                        layers: mfl.layers,
                        origin: ol,
                    },
                    PairSide {
                        manifest: mr,
                        config: cr,
                        layers: mfr.layers,
                        origin: or,
                    },
                ],
            },
            findings,
        ))
    }

    fn json_value(&self, side: usize, blob: &Blob) -> Result<Value, CompareError> {
        serde_json::from_slice(&blob.bytes).map_err(|source| {
            self.err(
                side,
                InputError::Json {
                    what: "manifest",
                    digest: blob
                        .descriptor
                        .as_ref()
                        .map_or_else(|| Digest::sha256_of(&blob.bytes), |d| d.digest.clone()),
                    source,
                },
            )
        })
    }

    /// The config as `T` (its JSON value, or the fields the engine reads), refused where Go
    /// would read it ambiguously.
    fn config_as<T: serde::de::DeserializeOwned>(
        &self,
        side: usize,
        desc: &Descriptor,
        bytes: &[u8],
    ) -> Result<T, CompareError> {
        gojson::from_slice(bytes, &gojson::IMAGE_CONFIG).map_err(|source| {
            self.err(
                side,
                InputError::Config {
                    digest: desc.digest.clone(),
                    source,
                },
            )
        })
    }

    /// The config's `rootfs.diff_ids`.
    fn diff_ids(
        &self,
        side: usize,
        desc: &Descriptor,
        bytes: &[u8],
    ) -> Result<Vec<Digest>, CompareError> {
        let config: crate::model::Config = self.config_as(side, desc, bytes)?;
        Ok(config.rootfs.map(|r| r.diff_ids).unwrap_or_default())
    }

    /// Both sides name the same blob: it need not be compared, only checked on each side, so
    /// that a source cannot pass off other content under a digest it has not earned.
    fn verify_both(&self, ld: &Descriptor, rd: &Descriptor) -> Result<(), CompareError> {
        self.verify_shared(&[(ld, rd)], false)
    }

    /// [`Engine::verify_both`] for many pairs, largest blobs first on rayon's threads. Layers
    /// (`layers`) are also checked to decompress alike in every runtime under each side's
    /// media type ([`content::verify_layer`]).
    fn verify_shared(
        &self,
        pairs: &[(&Descriptor, &Descriptor)],
        layers: bool,
    ) -> Result<(), CompareError> {
        let same_source = self.sides[0].blobs.describe() == self.sides[1].blobs.describe();
        let mut jobs = Vec::new();
        for &(ld, rd) in pairs {
            // The same blob of the same source (an image against itself, two tags of one
            // layout) is the same bytes on both sides, whatever they are: reading it could not
            // reveal a difference, so it is only looked up (a layer's first bytes read).
            if ld.digest == rd.digest && same_source {
                for (side, d) in [(0, ld), (1, rd)] {
                    let blobs = &*self.sides[0].blobs;
                    let found = if layers {
                        content::verify_layer(blobs, d, false).map(drop)
                    } else {
                        blobs.open(&d.digest).map(drop)
                    };
                    found.map_err(|e| self.err(side, e))?;
                }
            } else {
                jobs.extend([(0, ld), (1, rd)]);
            }
        }
        largest_first(
            jobs,
            |(_, d)| d.size,
            |(side, d)| {
                let blobs = &*self.sides[side].blobs;
                let verified = if layers {
                    content::verify_layer(blobs, d, true).map(drop)
                } else {
                    content::verify_blob(blobs, d)
                };
                verified.map_err(|e| self.err(side, e))
            },
        )
        .map(drop)
    }

    /// Sets aside the file findings `--ignore-path` matches.
    fn apply_ignore_paths(&self, findings: &mut [Finding]) {
        for f in findings.iter_mut() {
            if f.kind == Kind::File && self.opts.ignore_paths.matches(&f.name) {
                for field in &mut f.fields {
                    field.counted = false;
                }
                classify::refresh(f);
                f.class = Class::IgnoredPath;
                f.explanation = Class::IgnoredPath.explain(false);
            }
        }
    }

    fn descriptors(&self, location: &str, l: &Descriptor, r: &Descriptor) -> Vec<Finding> {
        let rules = self.rules();
        let mut fields = Vec::new();
        let mut cmp =
            |field: &str, lv: Option<Value>, rv: Option<Value>, class: Class, ignored: bool| {
                if lv != rv {
                    let d = FieldDiff::new(field, lv, rv, class);
                    fields.push(if ignored { d.set_aside() } else { d });
                }
            };
        let same_kind = media::canonical(&l.media_type) == media::canonical(&r.media_type);
        cmp(
            "mediaType",
            Some(json!(l.media_type)),
            Some(json!(r.media_type)),
            if same_kind {
                Class::StorageFormat
            } else {
                Class::Other
            },
            same_kind && rules.ignore_storage_format,
        );
        cmp(
            "digest",
            Some(json!(l.digest)),
            Some(json!(r.digest)),
            Class::Derived,
            rules.any(),
        );
        cmp(
            "size",
            Some(json!(l.size)),
            Some(json!(r.size)),
            Class::Derived,
            rules.any(),
        );
        let keys = l.annotations.keys().chain(
            r.annotations
                .keys()
                .filter(|k| !l.annotations.contains_key(*k)),
        );
        for k in keys {
            let path = format!("annotations[{}]", json!(k));
            cmp(
                &path,
                l.annotations.get(k).map(|v| json!(v)),
                r.annotations.get(k).map(|v| json!(v)),
                classify::json_class(Kind::Descriptor, &format!(".{path}"), true),
                rules.ignores_annotation(k),
            );
        }
        let platform = |d: &Descriptor| d.platform.as_ref().map(|p| json!(p));
        cmp("platform", platform(l), platform(r), Class::Platform, false);
        let urls = |d: &Descriptor| (!d.urls.is_empty()).then(|| json!(d.urls));
        cmp("urls", urls(l), urls(r), Class::Other, false);
        cmp(
            "artifactType",
            l.artifact_type.as_ref().map(|v| json!(v)),
            r.artifact_type.as_ref().map(|v| json!(v)),
            Class::Other,
            false,
        );
        if fields.is_empty() {
            return vec![];
        }
        vec![classify::finding(Kind::Descriptor, location, "", fields)]
    }
}

/// A finding for each differing value of two JSON documents: `raw` as stored (less what is
/// compared elsewhere), `normalized` as the rules see them. A value that differs raw but not
/// normalized is set aside.
fn values(kind: Kind, location: &str, raw: [Value; 2], normalized: [Value; 2]) -> Vec<Finding> {
    let kept: Vec<String> = json::diff(&normalized[0], &normalized[1])
        .into_iter()
        .map(|(p, ..)| p)
        .collect();
    json::diff(&raw[0], &raw[1])
        .into_iter()
        .map(|(path, l, r)| {
            let counted = kept
                .iter()
                .any(|k| json::within(k, &path) || json::within(&path, k));
            let class = classify::json_class(kind, &path, counted);
            let d = FieldDiff::new("value", l, r, class);
            classify::finding(
                kind,
                location,
                &path,
                vec![if counted { d } else { d.set_aside() }],
            )
        })
        .collect()
}

fn input(image: &Image) -> Input {
    Input {
        reference: image.reference.to_string(),
        transport: image.reference.transport().to_owned(),
        digest: image.root.descriptor.as_ref().map(|d| d.digest.clone()),
    }
}
#[cfg(test)]
mod tests;
