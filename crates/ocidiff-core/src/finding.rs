//! The plain result of a comparison. The engine fills it; renderers only read it. Its serde form
//! is the JSON report (`--report-file`), whose schema `docs/report.schema.json` is generated
//! from these types and versioned by [`SCHEMA_VERSION`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::model::{Digest, Platform};
use crate::normalize::Rules;

/// Bumped whenever a field is removed or changes meaning; adding fields keeps the version.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything one run found.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Report {
    /// The report format's version, see [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The program that wrote the report.
    pub tool: Tool,
    /// Input 0 and input 1, in the order given on the command line.
    pub inputs: [Input; 2],
    /// What was ignored.
    pub rules: Rules,
    /// The manifests compared, one pair per platform.
    pub comparisons: Vec<Comparison>,
    /// Every difference found, in walk order.
    pub findings: Vec<Finding>,
    /// Counts of [`Report::findings`] by kind.
    pub summary: Summary,
}

/// Names the program and its version.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Tool {
    pub name: String,
    pub version: String,
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
        }
    }
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Finding {
    pub kind: Kind,
    /// Where in the walk, e.g. `manifests-0/layers-2` or `manifests-0/config`.
    pub location: String,
    /// For files, the entry's path; for JSON documents, the jq-style path of the value
    /// (`.config.Env`); for descriptors and layers, empty.
    pub name: String,
    /// What differs; never empty.
    pub fields: Vec<FieldDiff>,
}

/// One field that differs, with both sides' values; `null`/absent where a side lacks it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct FieldDiff {
    /// The field: `digest`, `mtime`, `mode`, … for files and descriptors; `value` for a JSON
    /// value; `entry` when the whole entry exists on one side only.
    pub field: String,
    /// Input 0's value; absent when input 0 does not have it.
    pub lhs: Option<Value>,
    /// Input 1's value; absent when input 1 does not have it.
    pub rhs: Option<Value>,
}

impl FieldDiff {
    pub fn new(field: impl Into<String>, lhs: Option<Value>, rhs: Option<Value>) -> FieldDiff {
        FieldDiff {
            field: field.into(),
            lhs,
            rhs,
        }
    }
}

/// Totals.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Summary {
    /// Number of findings.
    pub differences: usize,
    /// Number of findings of each kind.
    pub by_kind: BTreeMap<Kind, usize>,
}

impl Summary {
    pub fn of(findings: &[Finding]) -> Summary {
        let mut by_kind = BTreeMap::new();
        for f in findings {
            *by_kind.entry(f.kind).or_insert(0) += 1;
        }
        Summary {
            differences: findings.len(),
            by_kind,
        }
    }
}

/// The JSON Schema of [`Report`], as committed in `docs/report.schema.json`.
pub fn report_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(Report)).expect("a schema is plain JSON")
}
