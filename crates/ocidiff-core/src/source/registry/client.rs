//! One registry over HTTP: the scheme it is reached by, authentication (basic, bearer tokens),
//! and retries with backoff. Knows nothing of manifests or the store.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, RANGE, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use tokio::sync::Mutex;

use super::auth::{Challenge, Credential, Secret, parse_challenge};
use super::{PullOptions, RegistryError};
use crate::reference::DOCKER_HUB;

/// A registry host with its HTTP client and the authorization obtained so far.
pub(crate) struct Registry {
    http: reqwest::Client,
    /// As the user names it (`docker.io`), for credentials and messages.
    pub(crate) name: String,
    /// `https://registry-1.docker.io`, `http://127.0.0.1:5000`.
    base: String,
    options: RetryPolicy,
    // Outer: looked up yet (once, on first need); inner: whether there is a credential.
    #[allow(clippy::option_option)]
    credential: Mutex<Option<Option<Credential>>>,
    authorization: Mutex<Option<String>>,
    sources: super::CredentialSources,
}

#[derive(Clone, Copy)]
struct RetryPolicy {
    attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

/// Where the registry's API lives: Docker Hub's is not at `docker.io`.
fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        "registry-1.docker.io"
    } else {
        registry
    }
}

/// `localhost`, `*.localhost` and loopback addresses, with or without a port: insecure
/// registries by default, as Docker treats `127.0.0.0/8`.
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        registry.split(':').next().unwrap_or(registry)
    };
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn is_insecure(registry: &str, insecure: &[String]) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(h, _)| h);
    insecure.iter().any(|i| i == registry || i == host)
}

fn client(options: &PullOptions, verify_tls: bool) -> Result<reqwest::Client, RegistryError> {
    reqwest::Client::builder()
        .connect_timeout(options.connect_timeout)
        .read_timeout(options.read_timeout)
        .danger_accept_invalid_certs(!verify_tls)
        .user_agent(concat!("ocidiff/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|source| RegistryError::Client { source })
}

impl Registry {
    /// Reaches `registry` over verified TLS, or, for loopback registries and those named
    /// insecure, as Docker does: TLS without verification, falling back to plain HTTP when
    /// TLS does not answer (a local registry may serve either).
    pub(crate) async fn connect(
        registry: &str,
        options: &PullOptions,
    ) -> Result<Registry, RegistryError> {
        let host = api_host(registry);
        let insecure = is_loopback(registry) || is_insecure(registry, &options.insecure_registries);
        let http = client(options, !insecure)?;
        let base = if insecure {
            let probe = http.get(format!("https://{host}/v2/")).send().await;
            match probe {
                Err(e) if e.is_connect() || e.is_request() => format!("http://{host}"),
                _ => format!("https://{host}"),
            }
        } else {
            format!("https://{host}")
        };
        Ok(Registry {
            http,
            name: registry.to_owned(),
            base,
            options: RetryPolicy {
                attempts: options.max_attempts.max(1),
                initial_backoff: options.initial_backoff,
                max_backoff: options.max_backoff,
            },
            credential: Mutex::new(None),
            authorization: Mutex::new(None),
            sources: options.credentials.clone(),
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request, retrying transient failures, and authenticates once when the
    /// registry asks for it. `repository` scopes bearer tokens.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        accept: Option<&str>,
        repository: &str,
    ) -> Result<Response, RegistryError> {
        self.send_ranged(method, url, accept, repository, 0).await
    }

    /// `GET url` for the bytes from offset `from` on (all of them when it is 0).
    pub(crate) async fn send_from(
        &self,
        url: &str,
        repository: &str,
        from: u64,
    ) -> Result<Response, RegistryError> {
        self.send_ranged(Method::GET, url, None, repository, from)
            .await
    }

    async fn send_ranged(
        &self,
        method: Method,
        url: &str,
        accept: Option<&str>,
        repository: &str,
        from: u64,
    ) -> Result<Response, RegistryError> {
        let mut authenticated = false;
        loop {
            let authorization = self.authorization.lock().await.clone();
            let resp = self
                .send_retrying(url, || {
                    let mut req = self.http.request(method.clone(), url);
                    if let Some(a) = accept {
                        req = req.header(ACCEPT, a);
                    }
                    if from > 0 {
                        req = req.header(RANGE, format!("bytes={from}-"));
                    }
                    if let Some(a) = &authorization {
                        req = req.header(AUTHORIZATION, a);
                    }
                    req
                })
                .await?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            if authenticated {
                return Err(self.refused(repository).await);
            }
            let challenge = resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_challenge)
                .ok_or_else(|| RegistryError::AuthFailed {
                    registry: self.name.clone(),
                    reason: "the registry asked for authentication without a usable \
                             WWW-Authenticate challenge"
                        .into(),
                })?;
            let header = self.authenticate(&challenge, repository).await?;
            *self.authorization.lock().await = Some(header);
            authenticated = true;
        }
    }

    /// The error for a registry that still refuses after authenticating.
    async fn refused(&self, repository: &str) -> RegistryError {
        let reason = match self.credential().await {
            Ok(Some(c)) => format!("the registry refused the credentials from {}", c.origin),
            Ok(None) => format!(
                "pull access denied for {repository}: the repository does not exist or needs \
                 credentials (docker login {})",
                self.name
            ),
            Err(e) => return e,
        };
        RegistryError::AuthFailed {
            registry: self.name.clone(),
            reason,
        }
    }

    /// Looks the credentials up once, on first need, so anonymous pulls never run helpers.
    async fn credential(&self) -> Result<Option<Credential>, RegistryError> {
        let mut slot = self.credential.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let sources = self.sources.clone();
        let name = self.name.clone();
        let found = tokio::task::spawn_blocking(move || sources.lookup(&name))
            .await
            .map_err(|source| RegistryError::CredentialsLookup {
                registry: self.name.clone(),
                source,
            })??;
        *slot = Some(found.clone());
        Ok(found)
    }

    /// Answers a challenge with an `Authorization` header value.
    async fn authenticate(
        &self,
        challenge: &Challenge,
        repository: &str,
    ) -> Result<String, RegistryError> {
        let credential = self.credential().await?;
        let fail = |reason: String| RegistryError::AuthFailed {
            registry: self.name.clone(),
            reason,
        };
        match challenge {
            Challenge::Basic => match credential.map(|c| c.secret) {
                Some(Secret::Basic { username, password }) => {
                    Ok(Secret::basic_header(&username, &password))
                }
                Some(Secret::IdentityToken(_)) => Err(fail(
                    "the registry wants a user name and password, but the Docker config holds \
                     an identity token for it"
                        .into(),
                )),
                None => Err(fail(format!(
                    "the registry requires credentials and none were found (docker login {})",
                    self.name
                ))),
            },
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let scope = scope
                    .clone()
                    .unwrap_or_else(|| format!("repository:{repository}:pull"));
                let token = self
                    .fetch_token(realm, service.as_deref(), &scope, credential.as_ref())
                    .await?;
                Ok(format!("Bearer {token}"))
            }
        }
    }

    /// The token flow of the distribution spec: a GET with basic credentials (or none), or,
    /// for an identity token, the `OAuth2` refresh-token POST.
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        credential: Option<&Credential>,
    ) -> Result<String, RegistryError> {
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
        }
        let mut params = vec![("scope", scope.to_owned())];
        if let Some(s) = service {
            params.push(("service", s.to_owned()));
        }
        let resp = self
            .send_retrying(realm, || match credential.map(|c| &c.secret) {
                Some(Secret::IdentityToken(token)) => {
                    let mut form = params.clone();
                    form.push(("grant_type", "refresh_token".into()));
                    form.push(("refresh_token", token.clone()));
                    form.push(("client_id", "ocidiff".into()));
                    self.http.post(realm).form(&form)
                }
                Some(Secret::Basic { username, password }) => self
                    .http
                    .get(realm)
                    .query(&params)
                    .basic_auth(username, Some(password)),
                None => self.http.get(realm).query(&params),
            })
            .await?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let reason = match credential {
                Some(c) => format!(
                    "the token service {realm} refused the credentials from {}",
                    c.origin
                ),
                None => format!(
                    "the token service {realm} refused anonymous access (docker login {})",
                    self.name
                ),
            };
            return Err(RegistryError::AuthFailed {
                registry: self.name.clone(),
                reason,
            });
        }
        if !status.is_success() {
            return Err(status_error(realm, resp).await);
        }
        let answer: TokenAnswer =
            resp.json()
                .await
                .map_err(|source| RegistryError::TokenAnswer {
                    registry: self.name.clone(),
                    realm: realm.to_string(),
                    source,
                })?;
        answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::AuthFailed {
                registry: self.name.clone(),
                reason: format!("the token service {realm} answered without a token"),
            })
    }

    /// Sends `build()` until it gets an answer that is not a transient failure: connection
    /// errors and timeouts, 5xx and 408 are retried with exponential backoff, 429 after the
    /// `Retry-After` the server asks for. The last answer is returned as it is.
    pub(crate) async fn send_retrying(
        &self,
        url: &str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.options.attempts;
            match build().send().await {
                Ok(resp) if !last && is_transient(resp.status()) => {
                    let wait = retry_after(resp.headers()).map_or_else(
                        || self.backoff(attempt),
                        |w| w.min(self.options.max_backoff.max(Duration::from_secs(60))),
                    );
                    tracing::debug!(url, status = %resp.status(), ?wait, "retrying");
                    tokio::time::sleep(wait).await;
                }
                Ok(resp) => return Ok(resp),
                Err(e) if !last && is_transient_error(&e) => {
                    let wait = self.backoff(attempt);
                    tracing::debug!(url, error = %e, ?wait, "retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(source) => {
                    return Err(RegistryError::Http {
                        url: url.to_owned(),
                        source,
                    });
                }
            }
        }
    }

    /// The wait before attempt `attempt + 1`: doubling from the initial backoff, capped.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.options
            .initial_backoff
            .saturating_mul(factor)
            .min(self.options.max_backoff)
    }

    pub(crate) fn attempts(&self) -> u32 {
        self.options.attempts
    }
}

pub(crate) fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED
}

pub(crate) fn is_transient_error(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request() || e.is_body() || e.is_decode()
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = when.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// An unexpected answer, with the registry's own error message when it sent one.
pub(crate) async fn status_error(url: &str, resp: Response) -> RegistryError {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let message = match serde_json::from_str::<Errors>(&body) {
        Ok(e) => e
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        Err(_) => body.chars().take(200).collect(),
    };
    RegistryError::Status {
        url: url.to_owned(),
        status: status.as_u16(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_insecure_hosts() {
        for r in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "[::1]:5000",
            "a.localhost",
        ] {
            assert!(is_loopback(r), "{r}");
        }
        for r in ["docker.io", "10.0.0.1:5000", "localhost.example.com"] {
            assert!(!is_loopback(r), "{r}");
        }
        let insecure = vec!["reg.lan".to_owned(), "other:5000".to_owned()];
        assert!(is_insecure("reg.lan:443", &insecure));
        assert!(is_insecure("other:5000", &insecure));
        assert!(!is_insecure("other:6000", &insecure));
        assert!(!is_insecure("docker.io", &insecure));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
