//! Go's `encoding/json` as an oracle: the program in `go/jsonread`, built once with the
//! machine's Go toolchain and kept running, says what the runtimes' Go structs decode from an
//! image document and which of its keys Go reads ambiguously.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

/// What a document is, and so which Go structs read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// An image config: image-spec `Image`, moby `Image`, docker-image-spec `DockerOCIImage`,
    /// and containerd's read of its platform.
    Config,
    /// A manifest or an index: image-spec's and distribution's types, and containerd's probe.
    Document,
    /// `docker save`'s `manifest.json`.
    SaveManifest,
    /// `docker save`'s `repositories`.
    Repositories,
    /// An OCI layout's `oci-layout`.
    OciLayout,
}

impl DocKind {
    fn byte(self) -> u8 {
        match self {
            DocKind::Config => b'c',
            DocKind::Document => b'd',
            DocKind::SaveManifest => b'm',
            DocKind::Repositories => b'r',
            DocKind::OciLayout => b'l',
        }
    }
}

/// One Go struct's reading: the error `json.Unmarshal` returned, or the fields that matter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GoReading {
    /// What `json.Unmarshal` returned, when it failed.
    pub error: Option<String>,
    /// The decoded fields that decide how a container runs, by name; empty on an error.
    #[serde(default)]
    pub view: BTreeMap<String, Value>,
}

/// Everything Go made of one document.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GoDecoded {
    /// `runtime.Version()` of the oracle.
    pub go: String,
    /// By reader: `oci`, `moby`, `docker_oci`, `containerd_platform` for configs;
    /// `oci_manifest`, `oci_index`, `docker_manifest`, `docker_list` for documents; `go`
    /// for the others.
    pub readers: BTreeMap<String, GoReading>,
    /// `duplicate PATH` and `folded PATH FIELD`, in the order Go met them.
    pub ambiguous: Vec<String>,
    /// For documents, containerd's probe: `mediaType` and the byte lengths of the raw
    /// `config`, `layers`, `manifests` and `fsLayers` members.
    pub probe: Option<BTreeMap<String, Value>>,
}

impl GoDecoded {
    /// The first error any reader gave.
    pub fn error(&self) -> Option<&str> {
        self.readers.values().find_map(|r| r.error.as_deref())
    }
}

/// The oracle's sources, in this crate.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("go/jsonread")
}

pub use crate::go::installed as go_installed;

/// Builds the oracle into `out_dir`; the path of the binary.
pub fn build(out_dir: &Path) -> Result<PathBuf, String> {
    crate::go::build(&source_dir(), "jsonread", out_dir)
}

/// The non-ASCII characters Go's case folding takes to an ASCII one, as the oracle built by
/// [`build`] lists them, and the Unicode version of Go's tables.
pub fn ascii_folds(bin: &Path) -> Result<(String, Vec<(char, char)>), String> {
    let out = Command::new(bin)
        .arg("-folds")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let version = lines
        .next()
        .and_then(|l| l.strip_prefix("unicode "))
        .ok_or_else(|| format!("no Unicode version from {}: {text}", bin.display()))?
        .to_owned();
    let pairs = lines
        .map(|l| {
            let (hex, folded) = l.split_once(' ').ok_or(l)?;
            let from = u32::from_str_radix(hex, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or(l)?;
            Ok((from, folded.chars().next().ok_or(l)?))
        })
        .collect::<Result<_, &str>>()
        .map_err(|l| format!("bad line from {}: {l}", bin.display()))?;
    Ok((version, pairs))
}

/// A running oracle that reads one document per call.
pub struct GoJson(crate::go::Server);

impl GoJson {
    /// Starts the oracle built by [`build`].
    pub fn start(bin: &Path) -> Result<GoJson, String> {
        crate::go::Server::start(bin).map(GoJson)
    }

    /// What Go reads from `doc` taken as a `kind`.
    pub fn read(&mut self, kind: DocKind, doc: &[u8]) -> GoDecoded {
        self.0.ask(&[kind.byte()], doc)
    }
}
