//! Building with the Docker daemon's classic builder through the Engine API (`POST /build`).
//! BuildKit cannot be driven this way without its gRPC session protocol; it is run through the
//! `docker` CLI instead (see `rebuild`).

use std::io::Read;

use super::endpoint::Endpoint;
use super::{DaemonError, Engine, api_version, endpoint, http};
use crate::model::Platform;

/// What `POST /build` is asked to do, besides the context it is sent.
#[derive(Debug, Clone, Default)]
pub struct BuildQuery {
    /// The Dockerfile's path inside the context.
    pub dockerfile: String,
    /// `--build-arg`s, in order.
    pub build_args: Vec<(String, String)>,
    /// The stage to build.
    pub target: Option<String>,
    /// The platform to build for.
    pub platform: Option<Platform>,
    /// Whether cached steps may be reused.
    pub cache: bool,
    /// The network of `RUN` steps (`host`, `none`, …), when not the daemon's default.
    pub network: Option<String>,
}

impl BuildQuery {
    fn to_query(&self) -> String {
        let args: serde_json::Map<String, serde_json::Value> = self
            .build_args
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        let mut q = vec![
            format!("dockerfile={}", http::encode_query(&self.dockerfile)),
            format!(
                "buildargs={}",
                http::encode_query(&serde_json::Value::Object(args).to_string())
            ),
            "rm=1".to_owned(),
            "forcerm=1".to_owned(),
        ];
        if !self.cache {
            q.push("nocache=1".to_owned());
        }
        if let Some(t) = &self.target {
            q.push(format!("target={}", http::encode_query(t)));
        }
        if let Some(p) = &self.platform {
            q.push(format!("platform={}", http::encode_query(&p.os_arch())));
        }
        if let Some(n) = &self.network {
            q.push(format!("networkmode={}", http::encode_query(n)));
        }
        q.join("&")
    }
}

/// The Docker daemon's address, from `DOCKER_HOST` or the current docker context.
pub fn docker_endpoint() -> Result<Endpoint, DaemonError> {
    endpoint::docker(&|k: &str| std::env::var(k).ok())
}

/// The builder `docker build` uses with this daemon by default: `2` (BuildKit) or `1` (the
/// classic builder), as `/_ping` says in `Builder-Version`; `None` when it does not say.
pub fn default_builder(endpoint: &Endpoint) -> Result<Option<String>, DaemonError> {
    let ping = http::get(endpoint, "/_ping", false)?;
    Ok(ping.header("builder-version").map(str::to_owned))
}

/// Sends `context` (a tar of `len` bytes) to the classic builder and returns the ID of the
/// image built. Each line the builder prints goes to `on_line` as it comes.
pub fn build(
    endpoint: &Endpoint,
    context: &mut dyn Read,
    len: u64,
    query: &BuildQuery,
    on_line: &mut dyn FnMut(&str),
) -> Result<String, DaemonError> {
    let version = api_version(Engine::Docker, endpoint)?;
    let path = format!("/v{}.{}/build?{}", version.0, version.1, query.to_query());
    let what = format!("POST /build to {endpoint}");
    let response = http::post(
        endpoint,
        &path,
        http::Body {
            content_type: "application/x-tar",
            len,
            bytes: context,
        },
    )?;
    if response.status != 200 {
        return Err(DaemonError::Api {
            status: response.status,
            engine: Engine::Docker.title(),
            message: response.error_message(&what),
            what,
        });
    }
    let mut id = None;
    let mut last = String::new();
    for message in serde_json::Deserializer::from_reader(response.body).into_iter::<Message>() {
        let message = message.map_err(|e| DaemonError::Protocol {
            what: what.clone(),
            reason: format!("the build's progress is not the JSON expected: {e}"),
        })?;
        if let Some(text) = &message.stream {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                on_line(line);
                line.clone_into(&mut last);
            }
        }
        if let Some(error) = message.error {
            return Err(DaemonError::BuildFailed { message: error });
        }
        if let Some(aux) = message.aux.and_then(|a| a.id) {
            id = Some(aux);
        }
    }
    id.ok_or_else(|| DaemonError::Protocol {
        what,
        reason: format!("the build ended without naming the image it built (last line: {last:?})"),
    })
}

/// One message of the build's progress stream.
#[derive(serde::Deserialize)]
struct Message {
    stream: Option<String>,
    error: Option<String>,
    aux: Option<Aux>,
}

#[derive(serde::Deserialize)]
struct Aux {
    #[serde(rename = "ID")]
    id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names_every_option_escaped() {
        let q = BuildQuery {
            dockerfile: "sub dir/Dockerfile".into(),
            build_args: vec![("SOURCE_DATE_EPOCH".into(), "1700000000".into())],
            target: Some("final".into()),
            platform: Some(Platform::new("linux", "arm64", Some("v8"))),
            cache: false,
            network: Some("host".into()),
        }
        .to_query();
        assert_eq!(
            q,
            "dockerfile=sub%20dir/Dockerfile&buildargs=%7B%22SOURCE_DATE_EPOCH%22%3A%221700000000%22%7D\
             &rm=1&forcerm=1&nocache=1&target=final&platform=linux/arm64/v8&networkmode=host"
        );
        let cached = BuildQuery {
            dockerfile: "Dockerfile".into(),
            cache: true,
            ..BuildQuery::default()
        }
        .to_query();
        assert!(!cached.contains("nocache"), "{cached}");
    }
}
