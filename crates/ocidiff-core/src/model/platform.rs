//! Platforms (`os/arch[/variant]`) and how container runtimes match them.
//!
//! Docker, containerd, `BuildKit` and nerdctl choose an image from an index with containerd's
//! `platforms` package; the rules here follow its current release (`github.com/containerd/
//! platforms`, read at commit 09756f5): names are normalised (`x86_64` is `amd64`, `aarch64` is
//! `arm64`, `arm64/v8` is `arm64`, `arm` is `arm/v7`, `amd64/v1` is `amd64`), and a request also
//! accepts the platforms it can run, in order of preference: `amd64/v3` then `v2`, `amd64`,
//! `386`; `arm/v7` then `v6`, `v5`; `arm64/v8.2` then `v8.1`, `v8`, `arm/v8` … `arm/v5`.
//! Older containerd (1.6, which Debian ships) knows fewer fallbacks (no `amd64/vN` nor
//! `arm64/v8.x` steps) but agrees on every exact match.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::gojson::{self, GoJsonError};
use super::oci::Descriptor;

/// A platform as in an index entry or an image config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Platform {
    /// The operating system, as Go's `GOOS` spells it (`linux`, `windows`).
    pub os: String,
    /// The CPU architecture, as Go's `GOARCH` spells it (`amd64`, `arm64`).
    pub architecture: String,
    /// The CPU variant (`v7` for 32-bit ARM, `v8`…), when it matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The OS version an image requires (Windows builds).
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// OS features an image requires (`win32k`).
    #[serde(default, rename = "os.features", skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
}

/// Which platforms of a multi-platform image to read and compare.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PlatformChoice {
    /// What a runtime asked for each of these would run, in this order. The user asked for
    /// them: an image for one platform only must be for each (`docker run --platform`
    /// refuses an image for another).
    These(Vec<Platform>),
    /// Nothing asked for: what a runtime on this machine would run. An image for one platform
    /// only is read whatever platform it is for, as runtimes run it (Docker with a warning).
    #[default]
    Host,
    /// Every image an index offers, paired by platform across the two inputs; those in one
    /// input only are reported as differences.
    All,
}

impl PlatformChoice {
    /// The platforms to choose an image for, in order; `None` for every platform.
    pub fn wanted(&self) -> Option<Vec<Platform>> {
        match self {
            PlatformChoice::These(ps) => Some(ps.clone()),
            PlatformChoice::Host => Some(vec![Platform::host()]),
            PlatformChoice::All => None,
        }
    }
}

/// Why a `--platform` value was refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid platform {0:?}: expected OS/ARCH[/VARIANT], OS or ARCH, e.g. linux/amd64, \
     linux/arm64/v8 or arm64"
)]
pub struct PlatformError(String);

impl Platform {
    /// A platform with nothing but OS, architecture and variant.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
            os_version: None,
            os_features: Vec::new(),
        }
    }

    /// `os/arch[/variant]`, as `docker build --platform` and the Engine API take it.
    pub fn os_arch(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }

    /// The platform images are compared for by default: what a runtime on this machine asks
    /// for, except that the OS is always Linux (container images are Linux images even where
    /// the tool runs on macOS, a known stumbling block with diffoci, which asks for the host
    /// OS). Like containerd, the variant is only looked up on ARM.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8".to_owned())),
            "arm" => ("arm", arm_variant()),
            "x86" => ("386", None),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Platform {
            variant,
            ..Platform::new("linux", architecture, None)
        }
    }

    /// The platform as containerd compares it: lower case, canonical architecture names,
    /// default variants dropped or filled in, features sorted without repeats.
    pub fn normalized(&self) -> Platform {
        let os = match self.os.to_lowercase().as_str() {
            // containerd fills in its own OS; ours is Linux.
            "" => "linux".to_owned(),
            "macos" => "darwin".to_owned(),
            other => other.to_owned(),
        };
        let arch = self.architecture.to_lowercase();
        let variant = self.variant.as_deref().unwrap_or_default().to_lowercase();
        let (architecture, variant) = match arch.as_str() {
            "i386" => ("386".to_owned(), String::new()),
            "x86_64" | "x86-64" | "amd64" => (
                "amd64".to_owned(),
                if variant == "v1" {
                    String::new()
                } else {
                    variant
                },
            ),
            "aarch64" | "arm64" => (
                "arm64".to_owned(),
                match variant.as_str() {
                    "8" | "v8" | "v8.0" => String::new(),
                    "9" | "9.0" | "v9.0" => "v9".to_owned(),
                    _ => variant,
                },
            ),
            "armhf" => ("arm".to_owned(), "v7".to_owned()),
            "armel" => ("arm".to_owned(), "v6".to_owned()),
            "arm" => (
                "arm".to_owned(),
                match variant.as_str() {
                    "" | "7" => "v7".to_owned(),
                    "5" | "6" | "8" => format!("v{variant}"),
                    _ => variant,
                },
            ),
            _ => (arch, variant),
        };
        let mut os_features = self.os_features.clone();
        os_features.sort();
        os_features.dedup();
        Platform {
            os,
            architecture,
            variant: (!variant.is_empty()).then_some(variant),
            os_version: self.os_version.clone().filter(|v| !v.is_empty()),
            os_features,
        }
    }

    /// The platform an image config declares, as containerd reads it from a config (`os`,
    /// `architecture`, `variant`, `os.version`, `os.features`), if it names an OS and an
    /// architecture. A config Go would read ambiguously is refused ([`gojson`]).
    pub fn of_config(config: &[u8]) -> Result<Option<Platform>, GoJsonError> {
        #[derive(Deserialize)]
        struct Fields {
            #[serde(default)]
            os: Option<String>,
            #[serde(default)]
            architecture: Option<String>,
            #[serde(default)]
            variant: Option<String>,
            #[serde(default, rename = "os.version")]
            os_version: Option<String>,
            #[serde(default, rename = "os.features")]
            os_features: Option<Vec<String>>,
        }
        let f: Fields = gojson::from_slice(config, &gojson::IMAGE_CONFIG)?;
        Ok(match (f.os, f.architecture) {
            (Some(os), Some(architecture)) if !os.is_empty() && !architecture.is_empty() => {
                Some(Platform {
                    os,
                    architecture,
                    variant: f.variant.filter(|v| !v.is_empty()),
                    os_version: f.os_version.filter(|v| !v.is_empty()),
                    os_features: f.os_features.unwrap_or_default(),
                })
            }
            _ => None,
        })
    }

    /// The key `--all-platforms` pairs images by: the normalised platform, so that `arm64`
    /// pairs with `arm64/v8` but never with `arm/v7`, nor `amd64/v3` with `amd64`.
    pub fn key(&self) -> Platform {
        self.normalized()
    }
}

/// The variant of a 32-bit ARM host, as containerd finds it: from `/proc/cpuinfo`, else from
/// the machine name `uname` gives (`armv7l`); none when `/proc/cpuinfo` cannot be read.
fn arm_variant() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let uname = rustix::system::uname();
    arm_variant_of(&info, &uname.machine().to_string_lossy())
}

/// containerd's reading of a `/proc/cpuinfo` text and a machine name (`getArmCPUVariant`):
/// the first `CPU architecture` line, any case; a Raspberry Pi 1 that says 7 is v6; spellings
/// the kernel uses map to `v3`…`v8`, anything else to `unknown`, which then matches only an
/// image that says so.
fn arm_variant_of(info: &str, machine: &str) -> Option<String> {
    // Go splits each line at every `:` and takes the text between the first two.
    let field = |name: &str| {
        info.lines().find_map(|line| {
            let mut parts = line.split(':');
            let key = parts.next()?;
            let value = parts.next()?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    };
    let variant = if let Some(v) = field("cpu architecture") {
        v.to_lowercase()
    } else {
        let machine = machine.to_lowercase();
        if machine == "aarch64" {
            "8".to_owned()
        } else {
            let level = machine.strip_prefix("armv")?.chars().next()?;
            if ('3'..='8').contains(&level) {
                level.to_string()
            } else {
                "unknown".to_owned()
            }
        }
    };
    let raspberry_pi_1 = variant == "7"
        && field("model name").is_some_and(|m| m.to_lowercase().starts_with("armv6-compatible"));
    Some(
        match if raspberry_pi_1 { "6" } else { &variant } {
            "8" | "aarch64" => "v8",
            "7" | "7m" | "?(12)" | "?(13)" | "?(14)" | "?(15)" | "?(16)" | "?(17)" => "v7",
            "6" | "6tej" => "v6",
            "5" | "5t" | "5te" | "5tej" => "v5",
            "4" | "4t" => "v4",
            "3" => "v3",
            _ => "unknown",
        }
        .to_owned(),
    )
}

/// What a runtime asked for a platform accepts, best first: containerd's `platforms.Only`.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Normalised platforms in order of preference.
    accepted: Vec<Platform>,
}

impl Matcher {
    /// The matcher for a request of `wanted`, with the fallbacks a runtime allows.
    pub fn only(wanted: &Platform) -> Matcher {
        Matcher {
            accepted: vector(&wanted.normalized()),
        }
    }

    /// Where `p` ranks among what the request accepts (0 is best), if it is accepted at all.
    fn rank(&self, p: &Platform) -> Option<usize> {
        let have = p.normalized();
        self.accepted.iter().position(|want| accepts(want, &have))
    }

    /// Whether the request accepts `p`, fallbacks included.
    pub fn matches(&self, p: &Platform) -> bool {
        self.rank(p).is_some()
    }

    /// containerd's `Less` of its ordered matcher: the better rank first; at the same rank,
    /// more OS features first.
    fn compare(&self, a: &Platform, b: &Platform) -> Ordering {
        match (self.rank(a), self.rank(b)) {
            (Some(x), Some(y)) if x == y => b.os_features.len().cmp(&a.os_features.len()),
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }

    /// The index entry a runtime would follow: among the entries this request accepts and
    /// those with no platform at all, the best-ranked, in document order among equals, entries
    /// without a platform last (containerd's `images.Manifest`, which follows that one entry
    /// only, even when it turns out not to fit).
    pub fn best<'a>(&self, entries: &'a [Descriptor]) -> Option<&'a Descriptor> {
        let mut candidates: Vec<&Descriptor> = entries
            .iter()
            .filter(|d| d.platform.as_ref().is_none_or(|p| self.matches(p)))
            .collect();
        candidates.sort_by(|a, b| match (&a.platform, &b.platform) {
            (Some(x), Some(y)) => self.compare(x, y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        });
        candidates.first().copied()
    }
}

/// Whether the normalised candidate `have` is what the normalised `want` asks for: the same OS,
/// architecture and variant, and no OS feature the request lacks (on Windows, `win32k` is not
/// held against an image, as containerd strips it). OS versions are only compared for Windows
/// requests that name one, which ours never do.
fn accepts(want: &Platform, have: &Platform) -> bool {
    if want.os != have.os || want.architecture != have.architecture || want.variant != have.variant
    {
        return false;
    }
    have.os_features
        .iter()
        .filter(|f| !(want.os == "windows" && *f == "win32k"))
        .all(|f| want.os_features.contains(f))
}

/// The platforms a request of the normalised `p` accepts, best first.
fn vector(p: &Platform) -> Vec<Platform> {
    let with = |architecture: &str, variant: Option<String>| Platform {
        architecture: architecture.to_owned(),
        variant,
        ..p.clone()
    };
    let level =
        |v: &Option<String>| -> Option<u32> { v.as_deref()?.strip_prefix('v')?.parse().ok() };
    let mut out = Vec::new();
    match p.architecture.as_str() {
        "amd64" => {
            out.push(p.clone());
            if let Some(n) = level(&p.variant).filter(|n| *n > 1) {
                // `amd64/v1` is normalised to plain `amd64`.
                out.extend((2..n).rev().map(|k| with("amd64", Some(format!("v{k}")))));
                out.push(with("amd64", None));
            }
            out.push(with("386", None));
        }
        "arm" => {
            out.push(p.clone());
            if let Some(n) = level(&p.variant).filter(|n| *n > 5) {
                out.extend((5..n).rev().map(|k| with("arm", Some(format!("v{k}")))));
            }
        }
        "arm64" => {
            let variant = p.variant.clone().unwrap_or_else(|| "v8".to_owned());
            let Some(steps) = arm64_steps(&variant) else {
                // An unknown arm64 variant accepts nothing, as in containerd.
                return Vec::new();
            };
            out.extend(
                steps
                    .into_iter()
                    .map(|v| with("arm64", Some(v)).normalized()),
            );
            let arm = if variant.starts_with("v8") || variant.starts_with("v9") {
                "v8".to_owned()
            } else {
                variant
            };
            out.extend(vector(&with("arm", Some(arm))));
        }
        _ => out.push(p.clone()),
    }
    out
}

/// The arm64 variants an `arm64/<variant>` request runs, best first: `v9.x` runs `v9.x`…`v9`
/// and then `v8.(x+5)`…`v8` (capped at `v8.9`); `v8.x` runs `v8.x`…`v8`.
fn arm64_steps(variant: &str) -> Option<Vec<String>> {
    // containerd knows the variants by name (`v8.1`, not `v8.01` nor `v8.+1`): one digit after
    // the point, as written.
    let (major, minor) = match variant.strip_prefix('v')?.split_once('.') {
        Some((major, minor)) if minor.len() == 1 => (major, minor.parse::<u32>().ok()?),
        Some(_) => return None,
        None => (variant.strip_prefix('v')?, 0),
    };
    let ranges: Vec<(u32, u32)> = match major {
        "8" => vec![(8, minor)],
        "9" if minor <= 7 => vec![(9, minor), (8, (minor + 5).min(9))],
        _ => return None,
    };
    Some(
        ranges
            .into_iter()
            .flat_map(|(major, top)| {
                (0..=top).rev().map(move |minor| {
                    if minor == 0 {
                        format!("v{major}")
                    } else {
                        format!("v{major}.{minor}")
                    }
                })
            })
            .collect(),
    )
}

/// Whether an index entry is an image a runtime could be asked to run: `BuildKit`'s attestation
/// manifests (annotated, with platform `unknown/unknown`) are not.
pub fn is_runnable(d: &Descriptor) -> bool {
    d.annotations
        .get("vnd.docker.reference.type")
        .is_none_or(|t| t != "attestation-manifest")
        && d.platform.as_ref().is_none_or(|p| p.os != "unknown")
}

/// OS names containerd knows, for a one-word `--platform`.
const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "windows",
    "zos",
];

/// Parses a `--platform` value as containerd does: `OS/ARCH[/VARIANT]`, or one word that is an
/// OS (on this machine's architecture) or an architecture (on Linux).
impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PlatformError(s.to_owned());
        let parts: Vec<&str> = s.split('/').collect();
        let valid = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        };
        if !(1..=3).contains(&parts.len()) || !parts.iter().all(valid) {
            return Err(err());
        }
        let os = parts[0].to_lowercase();
        Ok(match parts[..] {
            [_] if KNOWN_OS.contains(&os.as_str()) => Platform {
                os,
                ..Platform::host()
            },
            [arch] => {
                let p = Platform::new("linux", arch, None).normalized();
                if !KNOWN_ARCH.contains(&p.architecture.as_str()) {
                    return Err(err());
                }
                p
            }
            [_, arch] => Platform::new(&os, arch, None),
            [_, arch, variant] => Platform::new(&os, arch, Some(variant)),
            _ => return Err(err()),
        })
    }
}

/// Architectures containerd knows, for a one-word `--platform`.
const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "ppc64",
    "ppc64le",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.os)?;
        if self.os_version.is_some() || !self.os_features.is_empty() {
            write!(f, "({}", self.os_version.as_deref().unwrap_or_default())?;
            for feature in &self.os_features {
                write!(f, "+{feature}")?;
            }
            write!(f, ")")?;
        }
        write!(f, "/{}", self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Digest;

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    fn only(s: &str) -> Matcher {
        Matcher::only(&p(s))
    }

    #[test]
    fn parses_and_displays() {
        assert_eq!(p("linux/arm64/v8").to_string(), "linux/arm64/v8");
        assert_eq!(p("arm64").to_string(), "linux/arm64");
        assert_eq!(p("linux").os, "linux");
        assert!("plan".parse::<Platform>().is_err());
        assert!("linux//v7".parse::<Platform>().is_err());
        assert!("a/b/c/d".parse::<Platform>().is_err());
        assert!("linux/amd 64".parse::<Platform>().is_err());
        let mut win = Platform::new("windows", "amd64", None);
        win.os_version = Some("10.0.20348.2227".into());
        win.os_features = vec!["win32k".into()];
        assert_eq!(win.to_string(), "windows(10.0.20348.2227+win32k)/amd64");
        win.os_features.clear();
        assert_eq!(win.to_string(), "windows(10.0.20348.2227)/amd64");
        win.os_version = None;
        win.os_features = vec!["win32k".into()];
        assert_eq!(win.to_string(), "windows(+win32k)/amd64");
        // One word that names an OS: that OS on this machine's architecture.
        assert_eq!(p("windows").os, "windows");
        assert_eq!(p("windows").architecture, Platform::host().architecture);
    }

    #[test]
    fn a_plain_request_takes_no_other_variant() {
        // The request amd64 is not amd64/v3: an image built for v3 may not run on a v1 CPU.
        assert!(!only("linux/amd64").matches(&p("linux/amd64/v3")));
        assert!(only("linux/amd64").matches(&p("linux/amd64/v1")));
        assert!(only("linux/amd64").matches(&p("linux/x86_64")));
        assert!(only("linux/amd64").matches(&p("linux/386")));
        assert!(!only("linux/386").matches(&p("linux/amd64")));
        assert!(only("linux/arm64").matches(&p("linux/arm64/v8")));
        assert!(only("linux/arm64/v8").matches(&p("linux/aarch64")));
        assert!(!only("linux/arm64").matches(&p("linux/arm64/v8.2")));
        assert!(!only("windows/amd64").matches(&p("linux/amd64")));
        assert!(!only("linux/amd64").matches(&p("LINUX/amd64").clone().with_os("freebsd")));
    }

    impl Platform {
        fn with_os(mut self, os: &str) -> Platform {
            self.os = os.to_owned();
            self
        }
    }

    #[test]
    fn fallbacks_follow_containerd() {
        let order =
            |m: &Matcher| -> Vec<String> { m.accepted.iter().map(ToString::to_string).collect() };
        assert_eq!(
            order(&only("linux/amd64/v3")),
            [
                "linux/amd64/v3",
                "linux/amd64/v2",
                "linux/amd64",
                "linux/386"
            ]
        );
        assert_eq!(
            order(&only("linux/arm/v7")),
            ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]
        );
        assert_eq!(
            order(&only("linux/arm64/v8.2")),
            [
                "linux/arm64/v8.2",
                "linux/arm64/v8.1",
                "linux/arm64",
                "linux/arm/v8",
                "linux/arm/v7",
                "linux/arm/v6",
                "linux/arm/v5"
            ]
        );
        assert_eq!(
            order(&only("linux/arm64/v9.1"))[..4],
            [
                "linux/arm64/v9.1",
                "linux/arm64/v9",
                "linux/arm64/v8.6",
                "linux/arm64/v8.5"
            ]
        );
        assert!(only("linux/arm64/v7").accepted.is_empty());
        // Variants containerd does not list accept nothing.
        assert_eq!(
            order(&only("linux/arm64/v8.9"))[..2],
            ["linux/arm64/v8.9", "linux/arm64/v8.8"]
        );
        assert_eq!(
            order(&only("linux/arm64/v9.7"))[..2],
            ["linux/arm64/v9.7", "linux/arm64/v9.6"]
        );
        for unlisted in ["v8.10", "v8.01", "v8.+1", "v8.", "v9.8", "v10"] {
            let request = Platform::new("linux", "arm64", Some(unlisted));
            assert!(Matcher::only(&request).accepted.is_empty(), "{unlisted}");
        }
        assert!(only("linux/arm").matches(&p("linux/armhf")));
        assert!(only("linux/arm").matches(&p("linux/arm/v6")));
        assert!(!only("linux/arm/v6").matches(&p("linux/arm/v7")));
    }

    #[test]
    fn os_features_must_be_requested() {
        let mut have = p("linux/amd64");
        have.os_features = vec!["sse4".into()];
        assert!(!only("linux/amd64").matches(&have));
        let mut win = p("windows/amd64");
        win.os_features = vec!["win32k".into()];
        assert!(only("windows/amd64").matches(&win));
        // Only on Windows, and only win32k.
        have.os_features = vec!["win32k".into()];
        assert!(!only("linux/amd64").matches(&have));
        win.os_features = vec!["sse4".into()];
        assert!(!only("windows/amd64").matches(&win));
    }

    fn entry(platform: Option<&str>, n: u8) -> Descriptor {
        let mut d = Descriptor::new(
            crate::model::media::OCI_MANIFEST,
            Digest::sha256_of(&[n]),
            1,
        );
        d.platform = platform.map(p);
        d
    }

    #[test]
    fn best_prefers_rank_then_document_order_then_entries_without_platform() {
        let entries = [
            entry(Some("linux/amd64/v3"), 0),
            entry(None, 1),
            entry(Some("linux/386"), 2),
            entry(Some("linux/amd64"), 3),
            entry(Some("linux/amd64"), 4),
        ];
        let m = only("linux/amd64");
        assert_eq!(m.best(&entries), Some(&entries[3]));
        assert_eq!(only("linux/amd64/v3").best(&entries), Some(&entries[0]));
        assert_eq!(only("linux/386").best(&entries), Some(&entries[2]));
        assert_eq!(only("linux/arm64").best(&entries), Some(&entries[1]));
        assert_eq!(only("linux/arm64").best(&entries[2..]), None);
        // At the same rank, the entry with more OS features first (Windows' win32k is never
        // held against an image).
        let mut win32k = entry(Some("windows/amd64"), 6);
        win32k.platform.as_mut().unwrap().os_features = vec!["win32k".into()];
        let entries = [entry(Some("windows/amd64"), 5), win32k];
        assert_eq!(only("windows/amd64").best(&entries), Some(&entries[1]));
    }

    #[test]
    fn attestations_are_not_runnable() {
        let mut a = entry(Some("unknown/unknown"), 0);
        assert!(!is_runnable(&a));
        a.platform = None;
        a.annotations.insert(
            "vnd.docker.reference.type".into(),
            "attestation-manifest".into(),
        );
        assert!(!is_runnable(&a));
        assert!(is_runnable(&entry(None, 1)));
    }

    #[test]
    fn names_normalise_as_in_containerd() {
        let norm = |s: &str| p(s).normalized().to_string();
        assert_eq!(norm("linux/i386"), "linux/386");
        assert_eq!(norm("linux/armel"), "linux/arm/v6");
        assert_eq!(norm("linux/armhf"), "linux/arm/v7");
        assert_eq!(norm("linux/arm"), "linux/arm/v7");
        for v in ["5", "6", "8"] {
            assert_eq!(norm(&format!("linux/arm/{v}")), format!("linux/arm/v{v}"));
        }
        for v in ["9", "9.0", "v9.0"] {
            assert_eq!(norm(&format!("linux/arm64/{v}")), "linux/arm64/v9");
        }
        assert_eq!(norm("linux/arm64/v8.0"), "linux/arm64");
        assert_eq!(norm("MacOS/X86_64/V1"), "darwin/amd64");
        let mut win = p("windows/amd64");
        win.os_version = Some(String::new());
        assert_eq!(win.normalized().os_version, None);
        win.os_version = Some("10.0.17763".into());
        assert_eq!(win.normalized().os_version.as_deref(), Some("10.0.17763"));
    }

    #[test]
    fn a_config_names_a_platform_only_with_an_os_and_an_architecture() {
        let of = |json: &str| Platform::of_config(json.as_bytes()).unwrap();
        assert_eq!(
            of(r#"{"os":"linux","architecture":"arm","variant":"v7","os.version":"1"}"#),
            Some(Platform {
                os_version: Some("1".into()),
                ..Platform::new("linux", "arm", Some("v7"))
            })
        );
        for json in [
            r#"{"architecture":"amd64"}"#,
            r#"{"os":"linux"}"#,
            r#"{"os":"","architecture":"amd64"}"#,
            r#"{"os":"linux","architecture":""}"#,
        ] {
            assert_eq!(of(json), None, "{json}");
        }
        assert_eq!(
            of(r#"{"os":"linux","architecture":"amd64","variant":"","os.version":""}"#),
            Some(Platform::new("linux", "amd64", None))
        );
    }

    #[test]
    fn os_arch_is_what_docker_build_takes() {
        assert_eq!(p("linux/arm/v7").os_arch(), "linux/arm/v7");
        assert_eq!(p("linux/amd64").os_arch(), "linux/amd64");
    }

    #[test]
    fn arm_hosts_read_their_variant_as_containerd_does() {
        let info = |arch: &str| format!("processor\t: 0\nCPU architecture: {arch}\n");
        let of = |info: &str| arm_variant_of(info, "armv7l");
        assert_eq!(of(&info("7")).as_deref(), Some("v7"));
        assert_eq!(of(&info("7M")).as_deref(), Some("v7"));
        assert_eq!(of(&info("?(12)")).as_deref(), Some("v7"));
        assert_eq!(of(&info("8")).as_deref(), Some("v8"));
        assert_eq!(of(&info("AArch64")).as_deref(), Some("v8"));
        assert_eq!(of(&info("6TEJ")).as_deref(), Some("v6"));
        assert_eq!(of(&info("5te")).as_deref(), Some("v5"));
        assert_eq!(of(&info("4")).as_deref(), Some("v4"));
        assert_eq!(of(&info("3")).as_deref(), Some("v3"));
        assert_eq!(of(&info("9")).as_deref(), Some("unknown"));
        assert_eq!(of(&info("")).as_deref(), Some("unknown"));
        assert_eq!(of("cpu ARCHITECTURE\t: 6\n").as_deref(), Some("v6"));
        // The Raspberry Pi 1's kernel says 7.
        assert_eq!(
            of("model name\t: ARMv6-compatible processor rev 7 (v6l)\nCPU architecture: 7\n")
                .as_deref(),
            Some("v6")
        );
        // No such line: the machine name.
        let bare = "processor\t: 0\n";
        assert_eq!(arm_variant_of(bare, "armv6l").as_deref(), Some("v6"));
        assert_eq!(arm_variant_of(bare, "aarch64").as_deref(), Some("v8"));
        assert_eq!(arm_variant_of(bare, "armv9l").as_deref(), Some("unknown"));
        assert_eq!(arm_variant_of(bare, "armv"), None);
        assert_eq!(arm_variant_of(bare, "x86_64"), None);
    }

    #[test]
    fn host_is_linux() {
        assert_eq!(Platform::host().os, "linux");
    }
}
