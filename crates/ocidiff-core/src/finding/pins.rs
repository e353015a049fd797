//! Pins: the exact versions input 0 (the published image) has of the packages whose version
//! differs in input 1 (its rebuild), written as each package manager's install command takes
//! them, so that a rebuild can install what the published image holds. Here, below the engine,
//! because both the engine's advice and the renderers need them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Class, Finding, Findings, Kind};

/// The package managers pins are written for, in the order [`pins`] lists them: the
/// ecosystem as in [`super::Owner::ecosystem`], and its install command.
const COMMANDS: [(&str, &str); 4] = [
    ("dpkg", "apt-get install --no-install-recommends"),
    ("apk", "apk add"),
    ("rpm", "dnf install"),
    ("python", "pip install"),
];

/// A package at the version input 0 has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// `dpkg`, `apk`, `rpm` or `python`.
    pub ecosystem: String,
    /// The package's name in its database.
    pub name: String,
    /// Input 0's version, without its architecture.
    pub version: String,
}

impl Pin {
    /// The pin a finding calls for: a package (`kind: package`) whose version differs or that
    /// only input 0 has, or a file of class `package-changed` whose owner's version differs.
    /// `None` for anything else, and when the name or version holds a character no package
    /// manager uses in them: a pin is meant to be pasted into a shell, and an image is not
    /// trusted to name its packages harmlessly.
    pub fn of(f: &Finding) -> Option<Pin> {
        let (ecosystem, name, lhs, rhs) = match (f.kind, &f.owner) {
            (Kind::Package, _) => {
                let (ecosystem, name) = f.name.split_once(':')?;
                let d = f
                    .fields
                    .iter()
                    .find(|d| d.field == "version" || d.field == "entry")?;
                (
                    ecosystem,
                    name,
                    version(d.lhs.as_ref())?,
                    version(d.rhs.as_ref()),
                )
            }
            (Kind::File, Some(owner)) if f.class == Class::PackageChanged => (
                owner.ecosystem.as_str(),
                owner.name.as_str(),
                bare(owner.lhs_version.as_deref()?),
                owner.rhs_version.as_deref().map(bare),
            ),
            _ => return None,
        };
        let known = COMMANDS.iter().any(|(e, _)| *e == ecosystem);
        (known && rhs != Some(lhs) && harmless(name) && harmless(lhs)).then(|| Pin {
            ecosystem: ecosystem.to_owned(),
            name: name.to_owned(),
            version: lhs.to_owned(),
        })
    }

    /// The package at this version as its install command takes it: `curl=7.88.1-10+deb12u15`
    /// for apt and apk, `curl-7.76.1-26.el9` for dnf, `requests==2.31.0` for pip.
    pub fn spec(&self) -> String {
        let (name, version) = (&self.name, &self.version);
        match self.ecosystem.as_str() {
            "rpm" => format!("{name}-{version}"),
            "python" => format!("{name}=={version}"),
            _ => format!("{name}={version}"),
        }
    }

    /// The install command for this one package.
    pub fn command(&self) -> String {
        format!("{} {}", command(&self.ecosystem), self.spec())
    }
}

/// The install command of `ecosystem` (one of [`COMMANDS`]).
fn command(ecosystem: &str) -> &'static str {
    COMMANDS
        .iter()
        .find(|(e, _)| *e == ecosystem)
        .map_or("", |(_, c)| c)
}

/// A package's version in a field's value, without the architecture.
fn version(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).map(bare)
}

/// A version as the report shows it, `1.0 (amd64)`, without the architecture.
fn bare(version: &str) -> &str {
    version
        .strip_suffix(')')
        .and_then(|v| v.rsplit_once(" ("))
        .map_or(version, |(v, _)| v)
}

/// Whether `s` can go into a shell command unquoted: the characters of package names and
/// versions (Debian's, Alpine's, rpm's and Python's), and not the start of an option.
fn harmless(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-~:^".contains(c))
}

/// The Debian archive as it was at `created` (an RFC 3339 time, a config's `created`), on
/// snapshot.debian.org, which serves the last archive state before the time in its URL:
/// `https://snapshot.debian.org/archive/debian/20240301T120000Z/`. `None` when `created` is
/// not a time, or is before the snapshots begin (2005) as builders' placeholder dates are.
pub fn snapshot_url(created: &str) -> Option<String> {
    let at: jiff::Timestamp = created.parse().ok()?;
    let first: jiff::Timestamp = "2005-01-01T00:00:00Z".parse().ok()?;
    (at >= first).then(|| {
        format!(
            "https://snapshot.debian.org/archive/debian/{}/",
            at.strftime("%Y%m%dT%H%M%SZ")
        )
    })
}

/// Every pin of `report` gathered into one install command per package manager (apt, apk,
/// dnf, pip, in that order), each package once; when apt has pins, a comment line after its
/// command names the Debian snapshot of each input 0 config's `created`, where those versions
/// can still be found. Empty when nothing needs a pin.
pub fn pins(report: &Findings) -> Vec<String> {
    let mut by_ecosystem: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for pin in report.findings.iter().filter_map(Pin::of) {
        by_ecosystem
            .entry(pin.ecosystem.clone())
            .or_default()
            .insert(pin.spec());
    }
    let mut lines = Vec::new();
    for (ecosystem, command) in COMMANDS {
        let Some(specs) = by_ecosystem.get(ecosystem) else {
            continue;
        };
        let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
        lines.push(format!("{command} {}", specs.join(" ")));
        if ecosystem == "dpkg" {
            let snapshots: BTreeSet<String> = report
                .comparisons
                .iter()
                .filter_map(|c| snapshot_url(c.created[0].as_deref()?))
                .collect();
            for url in snapshots {
                lines.push(format!(
                    "# Debian as of input 0's created, for versions the archive no longer has: deb [check-valid-until=no] {url} <suite> main"
                ));
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::finding::{FieldDiff, Owner};

    fn package(name: &str, field: &str, lhs: Option<&str>, rhs: Option<&str>) -> Finding {
        let class = match (lhs, rhs) {
            (Some(_), Some(_)) => Class::PackageVersion,
            (Some(_), None) => Class::Removed,
            _ => Class::Added,
        };
        let d = FieldDiff::new(field, lhs.map(|v| json!(v)), rhs.map(|v| json!(v)), class);
        Finding::new(Kind::Package, "manifests-0/packages", name, vec![d])
    }

    fn owned_file(class: Class, ecosystem: &str, lhs: Option<&str>, rhs: Option<&str>) -> Finding {
        let d = FieldDiff::new("digest", Some(json!("a")), Some(json!("b")), class);
        let mut f = Finding::new(Kind::File, "manifests-0/layers-0", "usr/bin/curl", vec![d]);
        f.owner = Some(Owner {
            ecosystem: ecosystem.to_owned(),
            name: "curl".to_owned(),
            lhs_version: lhs.map(str::to_owned),
            rhs_version: rhs.map(str::to_owned),
        });
        f
    }

    fn report(findings: Vec<Finding>, created: Option<&str>) -> Findings {
        let input = || crate::finding::Input {
            reference: "oci:x".to_owned(),
            transport: "oci".to_owned(),
            digest: None,
        };
        Findings {
            schema_version: crate::finding::SCHEMA_VERSION,
            tool: crate::finding::Tool {
                name: "ocidiff".to_owned(),
                version: "0".to_owned(),
                commit: "unknown".into(),
            },
            inputs: [input(), input()],
            rules: crate::normalize::Rules::default(),
            ignore_paths: vec![],
            config_file: None,
            comparisons: vec![crate::finding::Comparison {
                location: "manifests-0".to_owned(),
                platform: None,
                digests: [None, None],
                created: [created.map(str::to_owned), None],
            }],
            summary: crate::finding::Summary::of(&findings),
            verdict: crate::finding::Verdict::of(&findings),
            findings,
        }
    }

    fn spec(f: &Finding) -> Option<String> {
        Pin::of(f).map(|p| p.spec())
    }

    #[test]
    fn a_moved_package_is_pinned_to_input_0s_version() {
        let f = package(
            "dpkg:curl",
            "version",
            Some("7.88.1-10+deb12u15 (amd64)"),
            Some("7.88.1-10+deb12u17 (amd64)"),
        );
        assert_eq!(spec(&f).as_deref(), Some("curl=7.88.1-10+deb12u15"));
        assert_eq!(
            Pin::of(&f).unwrap().command(),
            "apt-get install --no-install-recommends curl=7.88.1-10+deb12u15"
        );
        let f = package(
            "apk:musl",
            "version",
            Some("1.2.4-r2 (x86_64)"),
            Some("1.2.4-r3"),
        );
        assert_eq!(spec(&f).as_deref(), Some("musl=1.2.4-r2"));
        let f = package(
            "rpm:bash",
            "version",
            Some("5.1.8-6.el9 (x86_64)"),
            Some("5.1.8-9.el9"),
        );
        assert_eq!(spec(&f).as_deref(), Some("bash-5.1.8-6.el9"));
        let f = package("python:requests", "version", Some("2.31.0"), Some("2.32.3"));
        assert_eq!(spec(&f).as_deref(), Some("requests==2.31.0"));
        // Only input 0 has it: install it as it was.
        let f = package("dpkg:gone", "entry", Some("1:2.0-1 (amd64)"), None);
        assert_eq!(spec(&f).as_deref(), Some("gone=1:2.0-1"));
    }

    #[test]
    fn nothing_to_pin_without_a_version_of_input_0_that_moved() {
        // Only input 1 has it.
        assert_eq!(
            spec(&package("dpkg:new", "entry", None, Some("3 (amd64)"))),
            None
        );
        // The architecture alone moved.
        let f = package(
            "dpkg:libc6",
            "version",
            Some("2.36 (amd64)"),
            Some("2.36 (i386)"),
        );
        assert_eq!(spec(&f), None);
        // An ecosystem without an install command.
        assert_eq!(
            spec(&package("nix:x", "version", Some("1"), Some("2"))),
            None
        );
    }

    #[test]
    fn a_file_of_a_moved_package_is_pinned_to_its_owner() {
        let f = owned_file(
            Class::PackageChanged,
            "dpkg",
            Some("1.0 (amd64)"),
            Some("1.1"),
        );
        assert_eq!(spec(&f).as_deref(), Some("curl=1.0"));
        // Same version: nothing a pin changes.
        let f = owned_file(Class::SamePackageContent, "dpkg", Some("1.0"), Some("1.0"));
        assert_eq!(spec(&f), None);
        // The owner only input 1 has.
        assert_eq!(
            spec(&owned_file(Class::PackageChanged, "dpkg", None, Some("1"))),
            None
        );
    }

    #[test]
    fn names_and_versions_that_are_not_harmless_are_not_pinned() {
        for (name, version) in [
            ("curl;reboot", "1.0"),
            ("curl", "1.0 $(reboot)"),
            ("-oAPT::x", "1"),
            ("curl", "1.0\n2"),
            ("", "1"),
        ] {
            let f = package(&format!("dpkg:{name}"), "version", Some(version), Some("9"));
            assert_eq!(spec(&f), None, "{name:?} {version:?}");
        }
        assert!(harmless("libstdc++6") && harmless("1:2.3~rc1+dfsg-1") && harmless("1.0^git"));
    }

    #[test]
    fn the_snapshot_is_dated_by_input_0s_created_in_utc() {
        assert_eq!(
            snapshot_url("2024-03-01T12:34:56.789Z").as_deref(),
            Some("https://snapshot.debian.org/archive/debian/20240301T123456Z/")
        );
        assert_eq!(
            snapshot_url("2024-03-01T01:00:00+02:00").as_deref(),
            Some("https://snapshot.debian.org/archive/debian/20240229T230000Z/")
        );
        assert_eq!(snapshot_url("1970-01-01T00:00:00Z"), None);
        assert_eq!(snapshot_url("yesterday"), None);
    }

    #[test]
    fn pins_gather_one_command_per_package_manager() {
        let findings = vec![
            package(
                "dpkg:libcurl4",
                "version",
                Some("7.88.1-10+deb12u15 (amd64)"),
                Some("7.88.1-10+deb12u17 (amd64)"),
            ),
            package("apk:musl", "version", Some("1.2.4-r2"), Some("1.2.4-r3")),
            package(
                "dpkg:curl",
                "version",
                Some("7.88.1-10+deb12u15 (amd64)"),
                Some("7.88.1-10+deb12u17 (amd64)"),
            ),
            owned_file(
                Class::PackageChanged,
                "dpkg",
                Some("7.88.1-10+deb12u15 (amd64)"),
                Some("7.88.1-10+deb12u17 (amd64)"),
            ),
            package("dpkg:new", "entry", None, Some("1")),
        ];
        let mut report = report(findings, Some("2024-03-01T12:00:00Z"));
        assert_eq!(
            pins(&report),
            [
                "apt-get install --no-install-recommends curl=7.88.1-10+deb12u15 libcurl4=7.88.1-10+deb12u15",
                "# Debian as of input 0's created, for versions the archive no longer has: deb [check-valid-until=no] https://snapshot.debian.org/archive/debian/20240301T120000Z/ <suite> main",
                "apk add musl=1.2.4-r2",
            ]
        );
        report.findings.truncate(0);
        assert!(pins(&report).is_empty());
    }
}
