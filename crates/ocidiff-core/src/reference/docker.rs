//! Docker-style image references (`alpine`, `ghcr.io/o/x:1`, `host:5000/x@sha256:…`), parsed and
//! normalised the way the Docker CLI does, so that a name means here what it means to `docker
//! pull`.
//!
//! Written by hand: the grammar is short (distribution's `reference` package) and the crates
//! that implement it either pull in a regex engine or normalise differently from Docker.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::Digest;

/// The registry that names without a host refer to.
pub const DOCKER_HUB: &str = "docker.io";

/// Longest repository name (with its registry) that registries accept.
const MAX_NAME_LEN: usize = 255;
/// Longest tag.
const MAX_TAG_LEN: usize = 128;

/// A normalised Docker image reference.
///
/// `tag` is `latest` when the input named neither a tag nor a digest. When both are given the
/// digest is what is fetched; the tag is kept for display.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DockerRef {
    /// `docker.io`, `ghcr.io`, `localhost:5000`, `[::1]:5000`…
    pub registry: String,
    /// `library/alpine`, `owner/project/image`…
    pub repository: String,
    /// The tag, as written, or `latest` when neither a tag nor a digest is named.
    pub tag: Option<String>,
    /// The digest, when named: it is what is fetched.
    pub digest: Option<Digest>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct DockerRefError {
    /// The string as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl DockerRef {
    /// Parses and normalises a reference as `docker pull` does.
    pub fn parse(input: &str) -> Result<DockerRef, DockerRefError> {
        let err = |reason: &str| DockerRefError {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if input.is_empty() {
            return Err(err("it is empty"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => {
                let digest = d.parse::<Digest>().map_err(|e| err(&e.to_string()))?;
                (rest, Some(digest))
            }
            None => (input, None),
        };
        // A tag is a `:` after the last `/`; an earlier `:` separates a registry's port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let (name, tag) = rest.split_at(last_slash + i);
                (name, Some(&tag[1..]))
            }
            None => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(tag).map_err(err)?;
        }
        if name.is_empty() {
            return Err(err("the repository name is empty"));
        }
        let (registry, path) = split_registry(name);
        if let Some(registry) = registry {
            check_registry(registry).map_err(err)?;
        } else if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err(
                "a 64-character hexadecimal string is an image ID, not a name",
            ));
        }
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(err("the repository name must be lowercase"));
        }
        for component in path.split('/') {
            check_component(component).map_err(err)?;
        }
        let registry = match registry {
            None | Some("index.docker.io") => DOCKER_HUB.to_owned(),
            Some(r) => r.to_owned(),
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        // Measured in full, as Docker measures it (`docker.io/library/…`): a name short enough
        // only as written would print as one that does not parse.
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(err(
                "the repository name, with its registry, is longer than 255 characters",
            ));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, None) => Some("latest".to_owned()),
            (None, Some(_)) => None,
        };
        Ok(DockerRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What to ask the registry for: the digest when there is one, else the tag.
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        }
    }

    /// The short form Docker shows: `alpine:3.18`, `user/app:1`, `ghcr.io/o/x@sha256:…`.
    pub fn familiar(&self) -> String {
        let name = if self.registry == DOCKER_HUB {
            self.repository
                .strip_prefix("library/")
                .filter(|r| !r.contains('/'))
                .unwrap_or(&self.repository)
                .to_owned()
        } else {
            self.name()
        };
        let mut out = name;
        self.push_suffix(&mut out);
        out
    }

    /// The same image pinned to `digest`, keeping the tag for display.
    pub fn with_digest(&self, digest: Digest) -> DockerRef {
        DockerRef {
            digest: Some(digest),
            ..self.clone()
        }
    }

    fn push_suffix(&self, out: &mut String) {
        if let Some(t) = &self.tag {
            out.push(':');
            out.push_str(t);
        }
        if let Some(d) = &self.digest {
            out.push('@');
            out.push_str(&d.to_string());
        }
    }
}

/// Splits off the registry the way Docker does: the first component is a registry when it has
/// a `.` or `:`, is `localhost`, or has upper-case letters (repositories may not).
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// `host[:port]` where host is DNS labels or a bracketed IPv6 address.
fn check_registry(registry: &str) -> Result<(), &'static str> {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let (addr, after) = rest
            .split_once(']')
            .ok_or("the registry's IPv6 address has no closing bracket")?;
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("the registry's IPv6 address is invalid");
        }
        match after {
            "" => (None, None),
            p => (
                None,
                Some(
                    p.strip_prefix(':')
                        .ok_or("unexpected text after the registry's IPv6 address")?,
                ),
            ),
        }
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(registry), None),
        }
    };
    if let Some(host) = host {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !host.split('.').all(label_ok) {
            return Err("the registry host name is invalid");
        }
    }
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.len() > 5 {
            return Err("the registry port must be a number");
        }
    }
    Ok(())
}

/// A path component: lower-case alphanumerics separated by `.`, `_`, `__` or runs of `-`.
fn check_component(component: &str) -> Result<(), &'static str> {
    const BAD: &str = "a repository path component must be lower-case letters and digits, \
                       separated by '.', '_', '__' or '-'";
    if component.is_empty() {
        return Err("the repository name has an empty path component");
    }
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(BAD);
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let valid = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !valid {
            return Err(BAD);
        }
    }
    Ok(())
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), &'static str> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    match tag.as_bytes() {
        [] => Err("the tag after ':' is empty"),
        t if t.len() > MAX_TAG_LEN => Err("the tag is longer than 128 characters"),
        [first, rest @ ..]
            if word(*first) && rest.iter().all(|&b| word(b) || b == b'.' || b == b'-') =>
        {
            Ok(())
        }
        _ => Err(
            "a tag may hold only letters, digits, '_', '.' and '-', and not start with '.' or '-'",
        ),
    }
}

impl FromStr for DockerRef {
    type Err = DockerRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DockerRef::parse(s)
    }
}

/// The full normalised form: `docker.io/library/alpine:latest`.
impl fmt::Display for DockerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.name();
        self.push_suffix(&mut out);
        f.write_str(&out)
    }
}

impl Serialize for DockerRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DockerRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn normalises_like_docker() {
        let cases: &[(&str, &str, &str)] = &[
            ("alpine", "docker.io/library/alpine:latest", "alpine:latest"),
            (
                "alpine:3.18",
                "docker.io/library/alpine:3.18",
                "alpine:3.18",
            ),
            (
                "library/alpine",
                "docker.io/library/alpine:latest",
                "alpine:latest",
            ),
            (
                "docker.io/alpine",
                "docker.io/library/alpine:latest",
                "alpine:latest",
            ),
            (
                "index.docker.io/alpine:1",
                "docker.io/library/alpine:1",
                "alpine:1",
            ),
            ("user/app:v1.0", "docker.io/user/app:v1.0", "user/app:v1.0"),
            (
                "docker.io/library/a/b",
                "docker.io/library/a/b:latest",
                "library/a/b:latest",
            ),
            ("ghcr.io/o/x:1", "ghcr.io/o/x:1", "ghcr.io/o/x:1"),
            ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
            (
                "localhost:5000/ns/name:tag",
                "localhost:5000/ns/name:tag",
                "localhost:5000/ns/name:tag",
            ),
            (
                "127.0.0.1:5000/x",
                "127.0.0.1:5000/x:latest",
                "127.0.0.1:5000/x:latest",
            ),
            ("[::1]:5000/x:y", "[::1]:5000/x:y", "[::1]:5000/x:y"),
            ("Registry/x", "Registry/x:latest", "Registry/x:latest"),
            (
                "a.b-c/d__e/f-g--h.i_j:T_a.g-1",
                "a.b-c/d__e/f-g--h.i_j:T_a.g-1",
                "a.b-c/d__e/f-g--h.i_j:T_a.g-1",
            ),
        ];
        for (input, full, familiar) in cases {
            let r = DockerRef::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), *full, "{input}");
            assert_eq!(r.familiar(), *familiar, "{input}");
            assert_eq!(DockerRef::parse(full).unwrap(), r, "{input} round trip");
        }
    }

    #[test]
    fn digests_win_and_tags_are_kept() {
        let r = DockerRef::parse(&format!("alpine@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.reference(), D);
        assert_eq!(r.to_string(), format!("docker.io/library/alpine@{D}"));
        assert_eq!(r.familiar(), format!("alpine@{D}"));

        let r = DockerRef::parse(&format!("host:5000/a/b:3.1@{D}")).unwrap();
        assert_eq!(r.registry, "host:5000");
        assert_eq!(r.repository, "a/b");
        assert_eq!(r.tag.as_deref(), Some("3.1"));
        assert_eq!(r.reference(), D);
        assert_eq!(r.to_string(), format!("host:5000/a/b:3.1@{D}"));

        let r = DockerRef::parse("alpine:3").unwrap();
        assert_eq!(r.reference(), "3");
        assert_eq!(r.name(), "docker.io/library/alpine");
    }

    /// Docker limits `docker.io/library/…` in full to 255 characters, not the name as typed.
    #[test]
    fn the_name_is_measured_with_its_registry() {
        let fits = "a".repeat(255 - "docker.io/library/".len());
        assert_eq!(DockerRef::parse(&fits).unwrap().name().len(), 255);
        let over = format!("{fits}a");
        let e = DockerRef::parse(&over).unwrap_err();
        assert!(e.reason.contains("longer than 255"), "{e}");
        let nested = format!("ns/{}", "a".repeat(255 - "docker.io/ns/".len()));
        assert!(DockerRef::parse(&nested).is_ok());
        assert!(DockerRef::parse(&format!("{nested}a")).is_err());
        let host = format!("h.io/{}", "a".repeat(250));
        assert!(DockerRef::parse(&host).is_ok());
        assert!(DockerRef::parse(&format!("{host}a")).is_err());
    }

    #[test]
    fn refuses_invalid_references_quoting_them() {
        let long_tag = format!("a:{}", "t".repeat(129));
        let long_name = "a".repeat(256);
        let hex_id = "0".repeat(64);
        let cases: &[&str] = &[
            "",
            "Alpine",
            "ns/Upper",
            "docker.io/Library/alpine",
            "alpine:",
            "alpine:-tag",
            "alpine:.tag",
            "alpine:ta/g",
            &long_tag,
            &long_name,
            &hex_id,
            "alpine@sha256:abc",
            "alpine@md5:abc",
            "alpine@",
            "-alpine",
            "alpine-",
            "al..pine",
            "al___pine",
            "a//b",
            "/alpine",
            "host:port/x",
            "host:/x",
            "-host.io/x",
            "[::1/x",
            "[zz::1]:5000/x",
            "ho_st.io/x",
            "x y",
            ":tag",
        ];
        for input in cases {
            let err = DockerRef::parse(input).expect_err(input);
            assert!(
                err.to_string()
                    .starts_with(&format!("invalid image reference {input:?}")),
                "{err}"
            );
        }
    }

    #[test]
    fn serde_uses_the_full_form() {
        let r = DockerRef::parse("alpine").unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#""docker.io/library/alpine:latest""#);
        assert_eq!(serde_json::from_str::<DockerRef>(&json).unwrap(), r);
        let r2 = r.with_digest(D.parse().unwrap());
        assert_eq!(
            r2.to_string(),
            format!("docker.io/library/alpine:latest@{D}")
        );
    }
}
