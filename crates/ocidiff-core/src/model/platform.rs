//! Platforms (`os/arch[/variant]`) and the matching rules container runtimes use.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A platform as in an index entry or an image config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

/// Which platforms of a multi-platform image to read and compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformChoice {
    /// These, in this order; each must be present.
    These(Vec<Platform>),
    /// Every platform present (in a comparison: in both images; those in one only are
    /// reported as differences).
    All,
}

impl Default for PlatformChoice {
    fn default() -> Self {
        PlatformChoice::These(vec![Platform::host()])
    }
}

/// Why a `--platform` value was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid platform {0:?}: expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8")]
pub struct PlatformError(String);

impl Platform {
    /// The platform images are compared for by default: Linux on this machine's CPU, because
    /// container images are Linux images even where the tool runs on macOS (a known stumbling
    /// block with diffoci, which defaults to the host OS).
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: None,
            os_version: None,
        }
    }

    /// Normalised architecture and variant, as containerd's matcher sees them.
    fn normalized(&self) -> (String, Option<String>) {
        let arch = match self.architecture.as_str() {
            "x86_64" | "x86-64" => "amd64",
            "aarch64" => "arm64",
            "i386" => "386",
            other => other,
        }
        .to_owned();
        let variant = match (arch.as_str(), self.variant.as_deref()) {
            ("arm64", Some("v8") | None) => None,
            ("amd64", Some("v1") | None) => None,
            ("arm", None) => Some("v7".to_owned()),
            (_, v) => v.map(str::to_owned),
        };
        (arch, variant)
    }

    /// Whether an image for `self` is what a user asking for `wanted` means. A request without
    /// a variant matches any variant of the architecture.
    pub fn matches(&self, wanted: &Platform) -> bool {
        if self.os != wanted.os {
            return false;
        }
        let (arch, variant) = self.normalized();
        let (want_arch, want_variant) = wanted.normalized();
        if arch != want_arch {
            return false;
        }
        wanted.variant.is_none() || variant == want_variant
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) || !(2..=3).contains(&parts.len()) {
            return Err(PlatformError(s.to_owned()));
        }
        Ok(Platform {
            os: parts[0].to_owned(),
            architecture: parts[1].to_owned(),
            variant: parts.get(2).map(|v| (*v).to_owned()),
            os_version: None,
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_displays() {
        assert_eq!(p("linux/arm64/v8").to_string(), "linux/arm64/v8");
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux//v7".parse::<Platform>().is_err());
        assert!("a/b/c/d".parse::<Platform>().is_err());
    }

    #[test]
    fn matches_like_containerd() {
        assert!(p("linux/arm64/v8").matches(&p("linux/arm64")));
        assert!(p("linux/arm64").matches(&p("linux/arm64/v8")));
        assert!(p("linux/arm/v7").matches(&p("linux/arm")));
        assert!(!p("linux/arm/v6").matches(&p("linux/arm/v7")));
        assert!(!p("windows/amd64").matches(&p("linux/amd64")));
        assert!(p("linux/x86_64").matches(&p("linux/amd64")));
    }

    #[test]
    fn host_is_linux() {
        assert_eq!(Platform::host().os, "linux");
    }
}
