//! Credentials as Docker users already have them (`~/.docker/config.json`: `auths`,
//! `credsStore`, `credHelpers`) and the `WWW-Authenticate` challenges registries answer with.
//!
//! The config reading is written here rather than taken from `docker_credential` so that the
//! config directory and the helpers' search path can be passed in (tests cannot change the
//! process environment) and so that errors say which file or helper failed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::{CredentialSources, RegistryError};
use crate::reference::DOCKER_HUB;

/// The key Docker files Docker Hub's credentials under.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// What to present to a registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Basic {
        username: String,
        password: String,
    },
    /// An `OAuth2` refresh token, exchanged at the token service for access tokens.
    IdentityToken(String),
}

/// Credentials and where they were found, for error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub secret: Secret,
    pub origin: String,
}

/// Secrets stay out of logs and error messages.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential from {}", self.origin)
    }
}

/// Shows who, never the secret.
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Basic { username, .. } => write!(f, "Basic({username})"),
            Secret::IdentityToken(_) => f.write_str("IdentityToken"),
        }
    }
}

impl Secret {
    pub fn basic_header(username: &str, password: &str) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{username}:{password}"))
        )
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

impl CredentialSources {
    fn config_dir(&self) -> Option<PathBuf> {
        if let Some(d) = &self.docker_config {
            return Some(d.clone());
        }
        if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(d));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker"))
    }

    /// The credentials for `registry` (as the user names it: `docker.io`, `host:5000`), or
    /// `None` for anonymous access. Order as Docker: `credHelpers`, then `credsStore`, then
    /// `auths` (also when the store has nothing for this registry).
    pub fn lookup(&self, registry: &str) -> Result<Option<Credential>, RegistryError> {
        if let Some((username, password)) = &self.explicit {
            return Ok(Some(Credential {
                secret: Secret::Basic {
                    username: username.clone(),
                    password: password.clone(),
                },
                origin: "the credentials given on the command line".into(),
            }));
        }
        let (path, must_exist) = match (&self.auth_file, self.config_dir()) {
            (Some(file), _) => (file.clone(), true),
            (None, Some(dir)) => (dir.join("config.json"), false),
            (None, None) => return Ok(None),
        };
        let config: DockerConfig = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| RegistryError::CredentialsJson {
                    registry: registry.to_owned(),
                    path: path.clone(),
                    source,
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => return Ok(None),
            Err(source) => {
                return Err(RegistryError::CredentialsFile {
                    registry: registry.to_owned(),
                    path,
                    source,
                });
            }
        };
        let server = if registry == DOCKER_HUB {
            DOCKER_HUB_AUTH_KEY
        } else {
            registry
        };
        let helper = config
            .cred_helpers
            .iter()
            .find(|(k, _)| host_of(k) == host_of(server))
            .map(|(_, h)| h)
            .or(config.creds_store.as_ref());
        if let Some(helper) = helper {
            if let Some(c) = self.run_helper(helper, server, registry)? {
                return Ok(Some(c));
            }
        }
        let entry = config.auths.get(server).or_else(|| {
            config
                .auths
                .iter()
                .find(|(k, _)| host_of(k) == host_of(server))
                .map(|(_, e)| e)
        });
        match entry {
            Some(e) => entry_credential(e, &path, registry),
            None => Ok(None),
        }
    }

    fn run_helper(
        &self,
        helper: &str,
        server: &str,
        registry: &str,
    ) -> Result<Option<Credential>, RegistryError> {
        let program = format!("docker-credential-{helper}");
        let fail = |reason: String| RegistryError::Credentials {
            registry: registry.to_owned(),
            reason: format!("{program}: {reason}"),
        };
        let mut cmd = Command::new(&program);
        cmd.arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(path) = &self.helper_path {
            cmd.env("PATH", path);
        }
        let mut child = cmd.spawn().map_err(|e| {
            fail(format!(
                "cannot run the credential helper named in the Docker config: {e}"
            ))
        })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(server.as_bytes())
                .map_err(|e| fail(e.to_string()))?;
        }
        let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
        if !out.status.success() {
            let said = String::from_utf8_lossy(&out.stdout).trim().to_owned()
                + String::from_utf8_lossy(&out.stderr).trim();
            if said.contains("credentials not found") {
                return Ok(None);
            }
            return Err(fail(format!("{} ({said})", out.status)));
        }
        let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
            .map_err(|e| fail(format!("unreadable answer: {e}")))?;
        let origin = format!("credential helper {program}");
        let secret = if answer.username == "<token>" {
            Secret::IdentityToken(answer.secret)
        } else {
            Secret::Basic {
                username: answer.username,
                password: answer.secret,
            }
        };
        Ok(Some(Credential { secret, origin }))
    }
}

fn entry_credential(
    e: &AuthEntry,
    path: &Path,
    registry: &str,
) -> Result<Option<Credential>, RegistryError> {
    let origin = format!("{}", path.display());
    if let Some(token) = e.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential {
            secret: Secret::IdentityToken(token.clone()),
            origin,
        }));
    }
    if let Some(auth) = e.auth.as_ref().filter(|a| !a.is_empty()) {
        let bad = |why: &str| RegistryError::Credentials {
            registry: registry.to_owned(),
            reason: format!(
                "{}: the \"auth\" entry for {registry} {why}",
                path.display()
            ),
        };
        let decoded = STANDARD
            .decode(auth.trim())
            .map_err(|_| bad("is not base64"))?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad("is not UTF-8"))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| bad("is not USER:PASSWORD"))?;
        return Ok(Some(Credential {
            secret: Secret::Basic {
                username: username.to_owned(),
                password: password.to_owned(),
            },
            origin,
        }));
    }
    match (&e.username, &e.password) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Credential {
            secret: Secret::Basic {
                username: u.clone(),
                password: p.clone(),
            },
            origin,
        })),
        _ => Ok(None),
    }
}

/// The host a config key names, as Docker compares them: without scheme and path. Docker
/// Hub's many spellings are one.
fn host_of(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = rest.split('/').next().unwrap_or(rest);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io",
        h => h,
    }
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`. Values may be quoted
/// (with `\` escapes) or bare tokens.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        })
    } else {
        None
    }
}

fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ','))
            .collect::<String>()
            .trim()
            .to_owned();
        if name.is_empty() {
            return out;
        }
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .clone_into(&mut value);
        }
        out.push((name, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"bearer realm=http://x/t, scope="a,b""#),
            Some(Challenge::Bearer {
                realm: "http://x/t".into(),
                service: None,
                scope: Some("a,b".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="basic-realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    fn sources(dir: &Path, config: &str) -> CredentialSources {
        std::fs::write(dir.join("config.json"), config).unwrap();
        CredentialSources {
            explicit: None,
            docker_config: Some(dir.to_owned()),
            auth_file: None,
            helper_path: Some(dir.as_os_str().to_owned()),
        }
    }

    #[test]
    fn an_auth_file_replaces_config_json_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            r#"{{"auths":{{"r.example":{{"auth":"{}"}}}}}}"#,
            STANDARD.encode("c:1")
        );
        let mut s = sources(dir.path(), &config);
        let file = dir.path().join("auth.json");
        let other = format!(
            r#"{{"auths":{{"r.example":{{"auth":"{}"}}}}}}"#,
            STANDARD.encode("f:2")
        );
        std::fs::write(&file, other).unwrap();
        s.auth_file = Some(file);
        assert_eq!(
            basic(s.lookup("r.example").unwrap()),
            Some(("f".into(), "2".into()))
        );
        s.auth_file = Some(dir.path().join("missing.json"));
        assert!(matches!(
            s.lookup("r.example"),
            Err(RegistryError::CredentialsFile { .. })
        ));
    }

    fn basic(c: Option<Credential>) -> Option<(String, String)> {
        match c?.secret {
            Secret::Basic { username, password } => Some((username, password)),
            Secret::IdentityToken(_) => None,
        }
    }

    #[test]
    fn reads_auths_entries() {
        let dir = tempfile::tempdir().unwrap();
        let auth = STANDARD.encode("u:p:w");
        let s = sources(
            dir.path(),
            &format!(
                r#"{{"auths":{{
                "https://index.docker.io/v1/":{{"auth":"{auth}"}},
                "http://h.io:5000/v2/":{{"username":"a","password":"b"}},
                "tok.io":{{"identitytoken":"rt"}},
                "bad.io":{{"auth":"!!"}}}}}}"#
            ),
        );
        assert_eq!(
            basic(s.lookup("docker.io").unwrap()),
            Some(("u".into(), "p:w".into()))
        );
        assert_eq!(
            basic(s.lookup("h.io:5000").unwrap()),
            Some(("a".into(), "b".into()))
        );
        assert_eq!(
            s.lookup("tok.io").unwrap().unwrap().secret,
            Secret::IdentityToken("rt".into())
        );
        assert!(s.lookup("other.io").unwrap().is_none());
        let err = s.lookup("bad.io").unwrap_err().to_string();
        assert!(err.contains("bad.io") && err.contains("base64"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn runs_credential_helpers() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-fake");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread host\ncase \"$host\" in\n  helped.io) echo '{\"ServerURL\":\"helped.io\",\"Username\":\"hu\",\"Secret\":\"hs\"}';;\n  https://index.docker.io/v1/) echo '{\"Username\":\"<token>\",\"Secret\":\"idt\"}';;\n  broken.io) echo boom >&2; exit 3;;\n  *) echo 'credentials not found in native keychain'; exit 1;;\nesac\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let s = sources(
            dir.path(),
            r#"{"credsStore":"fake","credHelpers":{"nohelper.io":"missing"},
                "auths":{"fallback.io":{"username":"f","password":"g"}}}"#,
        );
        assert_eq!(
            basic(s.lookup("helped.io").unwrap()),
            Some(("hu".into(), "hs".into()))
        );
        assert_eq!(
            s.lookup("docker.io").unwrap().unwrap().secret,
            Secret::IdentityToken("idt".into())
        );
        assert_eq!(
            basic(s.lookup("fallback.io").unwrap()),
            Some(("f".into(), "g".into()))
        );
        assert!(s.lookup("none.io").unwrap().is_none());
        let err = s.lookup("broken.io").unwrap_err().to_string();
        assert!(
            err.contains("docker-credential-fake") && err.contains("boom"),
            "{err}"
        );
        let err = s.lookup("nohelper.io").unwrap_err().to_string();
        assert!(err.contains("docker-credential-missing"), "{err}");
    }

    #[test]
    fn explicit_credentials_win_and_no_config_is_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        let s = CredentialSources {
            explicit: Some(("e".into(), "f".into())),
            docker_config: Some(dir.path().to_owned()),
            auth_file: None,
            helper_path: None,
        };
        assert_eq!(
            basic(s.lookup("x.io").unwrap()),
            Some(("e".into(), "f".into()))
        );
        let s = CredentialSources {
            explicit: None,
            ..s
        };
        assert!(s.lookup("x.io").unwrap().is_none());
    }
}
