//! Where a container engine's API is: found the way the docker and podman CLIs find it.

use std::fmt;
use std::path::{Path, PathBuf};

use super::DaemonError;
use crate::model::Digest;

/// The Docker daemon's socket when nothing says otherwise.
pub const DOCKER_DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// A socket an engine listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A unix socket's path.
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
}

/// An engine's address and what pointed to it, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Where to connect.
    pub address: Address,
    /// `DOCKER_HOST`, `docker context "x"`, `the default`…
    pub origin: String,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "unix://{}", p.display()),
            Address::Tcp(h) => write!(f, "tcp://{h}"),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {})", self.address, self.origin)
    }
}

/// Parses `unix:///path`, `tcp://host:port` (and, as docker does, a bare `/path`).
pub fn parse_host(host: &str, origin: &str) -> Result<Endpoint, DaemonError> {
    let unsupported = |reason: &str| DaemonError::BadHost {
        host: host.to_owned(),
        origin: origin.to_owned(),
        reason: reason.to_owned(),
    };
    let address = if let Some(path) = host.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(unsupported("it names no socket path"));
        }
        Address::Unix(PathBuf::from(path))
    } else if host.starts_with('/') {
        Address::Unix(PathBuf::from(host))
    } else if let Some(rest) = host
        .strip_prefix("tcp://")
        .or_else(|| host.strip_prefix("http://"))
    {
        let hostport = rest.trim_end_matches('/');
        if hostport.is_empty() || hostport.contains('/') {
            return Err(unsupported("expected tcp://HOST:PORT"));
        }
        // Docker's default plain-HTTP port when none is given.
        if hostport
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            && !hostport.ends_with(']')
        {
            Address::Tcp(hostport.to_owned())
        } else {
            Address::Tcp(format!("{hostport}:2375"))
        }
    } else if host.starts_with("ssh://") {
        return Err(unsupported(
            "ssh:// is not supported; forward the socket (ssh -L /tmp/d.sock:/var/run/docker.sock) \
             and use unix:///tmp/d.sock",
        ));
    } else {
        return Err(unsupported("expected unix:///PATH or tcp://HOST:PORT"));
    };
    Ok(Endpoint {
        address,
        origin: origin.to_owned(),
    })
}

/// The Docker daemon as the docker CLI finds it: `DOCKER_HOST`, else the context named by
/// `DOCKER_CONTEXT` or by `currentContext` in `$DOCKER_CONFIG/config.json` (default
/// `~/.docker`), else `/var/run/docker.sock`.
pub fn docker(env: &dyn Fn(&str) -> Option<String>) -> Result<Endpoint, DaemonError> {
    let non_empty = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(host) = non_empty("DOCKER_HOST") {
        if non_empty("DOCKER_TLS_VERIFY").is_some() {
            return Err(DaemonError::BadHost {
                host,
                origin: "DOCKER_HOST".into(),
                reason: "TLS (DOCKER_TLS_VERIFY) is not supported; reach the daemon through \
                         its unix socket"
                    .into(),
            });
        }
        return parse_host(&host, "DOCKER_HOST");
    }
    let config_dir = match (non_empty("DOCKER_CONFIG"), non_empty("HOME")) {
        (Some(dir), _) => Some(PathBuf::from(dir)),
        (None, Some(home)) => Some(Path::new(&home).join(".docker")),
        (None, None) => None,
    };
    let context = match non_empty("DOCKER_CONTEXT") {
        Some(c) => Some(c),
        None => match &config_dir {
            Some(dir) => current_context(&dir.join("config.json"))?,
            None => None,
        },
    };
    match (context, config_dir) {
        (Some(name), Some(dir)) if name != "default" => context_host(&dir, &name),
        _ => Ok(Endpoint {
            address: Address::Unix(PathBuf::from(DOCKER_DEFAULT_SOCKET)),
            origin: "the default; set DOCKER_HOST to use another".into(),
        }),
    }
}

/// `currentContext` of the docker CLI's config, when the file exists and names one.
fn current_context(config: &Path) -> Result<Option<String>, DaemonError> {
    let bytes = match std::fs::read(config) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(DaemonError::ConfigUnreadable {
                path: config.to_owned(),
                source,
            });
        }
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|source| DaemonError::ConfigJson {
            path: config.to_owned(),
            source,
        })?;
    Ok(value
        .get("currentContext")
        .and_then(|c| c.as_str())
        .filter(|c| !c.is_empty())
        .map(str::to_owned))
}

/// The docker endpoint of a named context: `contexts/meta/<sha256 of name>/meta.json`.
fn context_host(config_dir: &Path, name: &str) -> Result<Endpoint, DaemonError> {
    let meta = config_dir
        .join("contexts/meta")
        .join(Digest::sha256_of(name.as_bytes()).hex())
        .join("meta.json");
    let bad = |reason: String| DaemonError::Config {
        path: meta.clone(),
        reason,
    };
    let bytes = std::fs::read(&meta).map_err(|source| DaemonError::ContextUnreadable {
        path: meta.clone(),
        name: name.to_owned(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|source| DaemonError::ConfigJson {
            path: meta.clone(),
            source,
        })?;
    let host = value
        .pointer("/Endpoints/docker/Host")
        .and_then(|h| h.as_str())
        .ok_or_else(|| {
            bad(format!(
                "docker context {name:?} has no Endpoints.docker.Host"
            ))
        })?;
    parse_host(host, &format!("docker context {name:?}"))
}

/// Podman's Docker-compatible API socket, when one is configured or listening:
/// `CONTAINER_HOST`, else `$XDG_RUNTIME_DIR/podman/podman.sock`, else
/// `/run/podman/podman.sock`. `None`: no service runs, use `podman save`.
pub fn podman(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Endpoint>, DaemonError> {
    if let Some(host) = env("CONTAINER_HOST").filter(|v| !v.is_empty()) {
        return parse_host(&host, "CONTAINER_HOST").map(Some);
    }
    let mut candidates = Vec::new();
    if let Some(dir) = env("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        candidates.push(Path::new(&dir).join("podman/podman.sock"));
    }
    candidates.push(PathBuf::from("/run/podman/podman.sock"));
    // A socket file left by a service that stopped refuses connections: only a listening one
    // counts, so that `podman save` is used instead.
    Ok(candidates
        .into_iter()
        .find(|p| std::os::unix::net::UnixStream::connect(p).is_ok())
        .map(|p| Endpoint {
            origin: format!("Podman's socket {}", p.display()),
            address: Address::Unix(p),
        }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn hosts_parse_like_docker() {
        let unix = |p: &str| Address::Unix(PathBuf::from(p));
        assert_eq!(
            parse_host("unix:///x/d.sock", "t").unwrap().address,
            unix("/x/d.sock")
        );
        assert_eq!(
            parse_host("/x/d.sock", "t").unwrap().address,
            unix("/x/d.sock")
        );
        assert_eq!(
            parse_host("tcp://127.0.0.1:2376", "t").unwrap().address,
            Address::Tcp("127.0.0.1:2376".into())
        );
        assert_eq!(
            parse_host("tcp://dockerhost", "t").unwrap().address,
            Address::Tcp("dockerhost:2375".into())
        );
        for bad in [
            "ssh://me@host",
            "npipe:////./pipe/docker",
            "unix://",
            "tcp://a/b",
        ] {
            let err = parse_host(bad, "DOCKER_HOST").unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("DOCKER_HOST"), "{err}");
        }
    }

    #[test]
    fn docker_host_wins_then_context_then_default() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_str().unwrap();
        let config = dir.path().join(".docker");
        let meta = config
            .join("contexts/meta")
            .join(Digest::sha256_of(b"remote").hex());
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"remote","Metadata":{},"Endpoints":{"docker":{"Host":"unix:///ctx/d.sock","SkipTLSVerify":false}}}"#,
        )
        .unwrap();

        let got = |pairs: &[(&str, &str)]| docker(&env_of(pairs)).map(|e| e.to_string());
        assert_eq!(
            got(&[("HOME", home)]).unwrap(),
            "unix:///var/run/docker.sock (from the default; set DOCKER_HOST to use another)"
        );
        std::fs::write(config.join("config.json"), r#"{"currentContext":"remote"}"#).unwrap();
        assert_eq!(
            got(&[("HOME", home)]).unwrap(),
            r#"unix:///ctx/d.sock (from docker context "remote")"#
        );
        assert_eq!(
            got(&[("HOME", home), ("DOCKER_HOST", "tcp://h:1")]).unwrap(),
            "tcp://h:1 (from DOCKER_HOST)"
        );
        assert!(
            got(&[("HOME", home), ("DOCKER_CONTEXT", "default")])
                .unwrap()
                .starts_with("unix:///var/run/docker.sock")
        );
        let err = got(&[("HOME", home), ("DOCKER_CONTEXT", "gone")]).unwrap_err();
        assert!(
            err.to_string().contains(r#"docker context "gone""#),
            "{err}"
        );
        // DOCKER_CONFIG moves the whole directory.
        assert!(
            got(&[("DOCKER_CONFIG", config.to_str().unwrap())])
                .unwrap()
                .starts_with("unix:///ctx/d.sock")
        );
        let err = got(&[("DOCKER_HOST", "tcp://h:1"), ("DOCKER_TLS_VERIFY", "1")]).unwrap_err();
        assert!(err.to_string().contains("TLS"), "{err}");
    }

    #[test]
    fn podman_socket_must_listen() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().to_str().unwrap();
        let env = env_of(&[("XDG_RUNTIME_DIR", run)]);
        let sock = dir.path().join("podman/podman.sock");
        std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        assert_eq!(
            podman(&env).unwrap().unwrap().address,
            Address::Unix(sock.clone())
        );
        drop(listener);
        // The file stays, but nothing answers: `/run/podman/podman.sock` is not there either
        // on a test machine, so `podman save` is what remains.
        if !Path::new("/run/podman/podman.sock").exists() {
            assert!(podman(&env).unwrap().is_none());
        }
        let env = env_of(&[("CONTAINER_HOST", "unix:///p.sock")]);
        assert_eq!(
            podman(&env).unwrap().unwrap().address,
            Address::Unix("/p.sock".into())
        );
    }
}
