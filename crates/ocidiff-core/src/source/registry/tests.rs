//! The client against a registry that misbehaves on purpose, served in-process over loopback.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use super::auth::Secret;
use super::*;
use crate::model::media;
use crate::store::descriptor;

struct Req {
    path: String,
    headers: HashMap<String, String>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Close the connection after this many body bytes, though more were announced.
    cut_at: Option<usize>,
}

impl Resp {
    fn new(status: u16, body: impl Into<Vec<u8>>) -> Resp {
        Resp {
            status,
            body: body.into(),
            ..Resp::default()
        }
    }

    fn header(mut self, name: &str, value: &str) -> Resp {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = dyn Fn(&Req) -> Resp + Send + Sync;

/// Serves `handler` on a fresh loopback port; returns `127.0.0.1:PORT`.
fn serve(handler: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handler: Arc<Handler> = Arc::new(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handler = handler.clone();
            std::thread::spawn(move || answer(stream, &*handler));
        }
    });
    addr
}

fn answer(stream: TcpStream, handler: &Handler) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let _method = parts.next();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    let _ = reader.read_exact(&mut body);
    let resp = handler(&Req { path, headers });
    let mut out = stream;
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        resp.status,
        resp.body.len()
    );
    for (k, v) in &resp.headers {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    head.push_str("\r\n");
    let _ = out.write_all(head.as_bytes());
    let body = &resp.body[..resp.cut_at.unwrap_or(resp.body.len())];
    let _ = out.write_all(body);
    let _ = out.flush();
}

/// A one-layer image as a registry holds it.
struct Fixture {
    blobs: HashMap<String, Vec<u8>>,
    manifest: Vec<u8>,
    manifest_digest: Digest,
    layer: Digest,
}

fn fixture(arch: &str) -> Fixture {
    let config = format!(r#"{{"os":"linux","architecture":"{arch}"}}"#).into_bytes();
    let layer = format!("layer bytes for {arch}").repeat(1000).into_bytes();
    let config_desc = descriptor(
        media::OCI_CONFIG,
        Digest::sha256_of(&config),
        config.len() as u64,
    );
    let layer_desc = descriptor(
        media::OCI_LAYER,
        Digest::sha256_of(&layer),
        layer.len() as u64,
    );
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": config_desc,
        "layers": [layer_desc],
    }))
    .unwrap();
    let mut blobs = HashMap::new();
    blobs.insert(config_desc.digest.to_string(), config);
    blobs.insert(layer_desc.digest.to_string(), layer);
    Fixture {
        blobs,
        manifest_digest: Digest::sha256_of(&manifest),
        manifest,
        layer: layer_desc.digest,
    }
}

/// The plain registry routes for `fx` under repository `test`.
fn route(fx: &Fixture, req: &Req) -> Resp {
    if let Some(r) = req.path.strip_prefix("/v2/test/manifests/") {
        if r == "latest" || r == fx.manifest_digest.to_string() {
            return Resp::new(200, fx.manifest.clone())
                .header("Content-Type", media::OCI_MANIFEST)
                .header("Docker-Content-Digest", &fx.manifest_digest.to_string());
        }
    }
    if let Some(d) = req.path.strip_prefix("/v2/test/blobs/") {
        if let Some(b) = fx.blobs.get(d) {
            return Resp::new(200, b.clone());
        }
    }
    Resp::new(
        404,
        r#"{"errors":[{"code":"NOT_FOUND","message":"no such thing"}]}"#,
    )
}

fn options() -> PullOptions {
    PullOptions {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        credentials: CredentialSources {
            docker_config: Some(std::env::temp_dir().join("ocidiff-no-docker-config")),
            ..CredentialSources::default()
        },
        ..PullOptions::default()
    }
}

fn reference(addr: &str, rest: &str) -> DockerRef {
    DockerRef::parse(&format!("{addr}/test{rest}")).unwrap()
}

fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(u64, u64)>>, AtomicUsize);

impl Progress for Recorder {
    fn update(&self, _: &str, done: u64, total: Option<u64>, _: crate::model::Unit) {
        self.0
            .lock()
            .unwrap()
            .push((done, total.unwrap_or_default()));
    }
    fn finish(&self, _: &str) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn pulls_by_tag_and_digest_and_reuses_the_store() {
    let fx = Arc::new(fixture("amd64"));
    let hits = Arc::new(AtomicUsize::new(0));
    let (f, h) = (fx.clone(), hits.clone());
    let addr = serve(move |req| {
        if req.path.contains("/blobs/") {
            h.fetch_add(1, Ordering::SeqCst);
        }
        route(&f, req)
    });
    let (_dir, store) = new_store();
    let recorder = Arc::new(Recorder::default());
    let opts = PullOptions {
        progress: Some(recorder.clone()),
        ..options()
    };
    let r = reference(&addr, "");
    let digest = pull(&store, &r, PlatformChoice::default(), &opts).unwrap();
    assert_eq!(digest, fx.manifest_digest);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let record = store.find_image(&r).unwrap().unwrap();
    assert_eq!(record.platforms, vec!["linux/amd64".parse().unwrap()]);
    assert_eq!(record.root.media_type, media::OCI_MANIFEST);
    let total: u64 = fx.blobs.values().map(|b| b.len() as u64).sum();
    assert_eq!(record.size, total + fx.manifest.len() as u64);
    assert_eq!(recorder.0.lock().unwrap().last(), Some(&(total, total)));
    assert_eq!(recorder.1.load(Ordering::SeqCst), 1);

    let by_digest = reference(&addr, &format!("@{}", fx.manifest_digest));
    pull(&store, &by_digest, PlatformChoice::default(), &opts).unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 2, "blobs come from the store");
    assert_eq!(store.list_images().unwrap().len(), 2);
}

#[test]
fn blob_not_matching_its_digest_is_refused_and_not_kept() {
    let fx = Arc::new(fixture("amd64"));
    let f = fx.clone();
    let addr = serve(move |req| {
        if req.path.ends_with(&f.layer.to_string()) {
            let mut evil = f.blobs[&f.layer.to_string()].clone();
            evil[0] ^= 1;
            return Resp::new(200, evil);
        }
        route(&f, req)
    });
    let (_dir, store) = new_store();
    let err = pull(
        &store,
        &reference(&addr, ""),
        PlatformChoice::default(),
        &options(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Store(StoreError::Content(ContentError::DigestMismatch { .. }))
        ),
        "{err}"
    );
    assert!(!store.has_blob(&fx.layer));
    assert!(
        std::fs::read_dir(store.root().join("tmp"))
            .unwrap()
            .next()
            .is_none()
    );
    assert!(store.list_images().unwrap().is_empty());
}

#[test]
fn manifest_not_matching_the_digest_asked_for_is_refused() {
    let fx = Arc::new(fixture("amd64"));
    let f = fx.clone();
    let other = Digest::sha256_of(b"other");
    let addr = serve(move |req| {
        if req.path.contains("/manifests/") {
            return Resp::new(200, f.manifest.clone()).header("Content-Type", media::OCI_MANIFEST);
        }
        route(&f, req)
    });
    let (_dir, store) = new_store();
    let err = pull(
        &store,
        &reference(&addr, &format!("@{other}")),
        PlatformChoice::default(),
        &options(),
    )
    .unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    assert!(!store.has_blob(&fx.manifest_digest));
}

#[test]
fn server_errors_and_dropped_connections_are_retried() {
    let fx = Arc::new(fixture("amd64"));
    let (manifest_calls, blob_calls) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (f, m, b) = (fx.clone(), manifest_calls.clone(), blob_calls.clone());
    let addr = serve(move |req| {
        if req.path.contains("/manifests/") && m.fetch_add(1, Ordering::SeqCst) < 2 {
            return Resp::new(500, "try again");
        }
        if req.path.ends_with(&f.layer.to_string()) && b.fetch_add(1, Ordering::SeqCst) == 0 {
            let mut r = route(&f, req);
            r.cut_at = Some(100);
            return r;
        }
        route(&f, req)
    });
    let (_dir, store) = new_store();
    pull(
        &store,
        &reference(&addr, ""),
        PlatformChoice::default(),
        &options(),
    )
    .unwrap();
    assert_eq!(manifest_calls.load(Ordering::SeqCst), 3);
    assert_eq!(blob_calls.load(Ordering::SeqCst), 2);
    assert!(store.has_blob(&fx.layer));
}

#[test]
fn persistent_server_errors_give_up_with_the_status() {
    let addr = serve(|_| Resp::new(503, "down"));
    let (_dir, store) = new_store();
    let opts = PullOptions {
        max_attempts: 3,
        ..options()
    };
    let err = pull(
        &store,
        &reference(&addr, ""),
        PlatformChoice::default(),
        &opts,
    )
    .unwrap_err();
    assert!(
        matches!(err, RegistryError::Status { status: 503, .. }),
        "{err}"
    );
}

#[test]
fn too_many_requests_waits_for_retry_after() {
    let fx = Arc::new(fixture("amd64"));
    let calls = Arc::new(AtomicUsize::new(0));
    let (f, c) = (fx.clone(), calls.clone());
    let addr = serve(move |req| {
        if req.path.contains("/manifests/") && c.fetch_add(1, Ordering::SeqCst) == 0 {
            return Resp::new(429, "slow down").header("Retry-After", "1");
        }
        route(&f, req)
    });
    let (_dir, store) = new_store();
    let start = Instant::now();
    pull(
        &store,
        &reference(&addr, ""),
        PlatformChoice::default(),
        &options(),
    )
    .unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn bearer_token_flow() {
    let fx = Arc::new(fixture("amd64"));
    let token_requests = Arc::new(Mutex::new(Vec::new()));
    let (f, t) = (fx.clone(), token_requests.clone());
    let addr = Arc::new(Mutex::new(String::new()));
    let a = addr.clone();
    let served = serve(move |req| {
        if req.path.starts_with("/token") {
            t.lock().unwrap().push((
                req.path.clone(),
                req.header("authorization").map(str::to_owned),
            ));
            return Resp::new(200, r#"{"token":"tok123","expires_in":300}"#);
        }
        if req.header("authorization") != Some("Bearer tok123") {
            let realm = format!("http://{}/token", a.lock().unwrap());
            return Resp::new(401, "").header(
                "WWW-Authenticate",
                &format!(
                    r#"Bearer realm="{realm}",service="fake-registry",scope="repository:test:pull""#
                ),
            );
        }
        route(&f, req)
    });
    *addr.lock().unwrap() = served.clone();
    let (_dir, store) = new_store();
    pull(
        &store,
        &reference(&served, ""),
        PlatformChoice::default(),
        &options(),
    )
    .unwrap();
    let reqs = token_requests.lock().unwrap();
    assert_eq!(reqs.len(), 1, "one token serves every request: {reqs:?}");
    assert!(reqs[0].0.contains("service=fake-registry"), "{reqs:?}");
    assert!(
        reqs[0].0.contains("scope=repository%3Atest%3Apull"),
        "{reqs:?}"
    );
    assert_eq!(reqs[0].1, None, "anonymous");
    drop(reqs);

    let opts = PullOptions {
        credentials: CredentialSources {
            explicit: Some(("u".into(), "p".into())),
            ..CredentialSources::default()
        },
        ..options()
    };
    let (_dir2, store2) = new_store();
    pull(
        &store2,
        &reference(&served, ""),
        PlatformChoice::default(),
        &opts,
    )
    .unwrap();
    let reqs = token_requests.lock().unwrap();
    assert_eq!(
        reqs[1].1.as_deref(),
        Some("Basic dTpw"),
        "basic credentials at the token service"
    );
}

#[test]
fn basic_auth_wrong_or_missing_credentials_fail_clearly() {
    let fx = Arc::new(fixture("amd64"));
    let f = fx.clone();
    let addr = serve(move |req| {
        if req.header("authorization") != Some(&Secret::basic_header("user", "right")) {
            return Resp::new(401, "").header("WWW-Authenticate", r#"Basic realm="basic-realm""#);
        }
        route(&f, req)
    });
    let with = |user: &str, pass: &str| PullOptions {
        credentials: CredentialSources {
            explicit: Some((user.into(), pass.into())),
            ..CredentialSources::default()
        },
        ..options()
    };
    let (_dir, store) = new_store();
    let r = reference(&addr, "");
    let err = pull(
        &store,
        &r,
        PlatformChoice::default(),
        &with("user", "wrong"),
    )
    .unwrap_err();
    assert!(matches!(err, RegistryError::AuthFailed { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("authentication failed for {addr}")),
        "{err}"
    );
    let err = pull(&store, &r, PlatformChoice::default(), &options()).unwrap_err();
    assert!(err.to_string().contains("requires credentials"), "{err}");
    pull(
        &store,
        &r,
        PlatformChoice::default(),
        &with("user", "right"),
    )
    .unwrap();
}

#[test]
fn index_pulls_only_the_platforms_asked_for() {
    let amd = fixture("amd64");
    let arm = fixture("arm64");
    let entry = |fx: &Fixture, p: &str| {
        let mut d = descriptor(
            media::OCI_MANIFEST,
            fx.manifest_digest.clone(),
            fx.manifest.len() as u64,
        );
        d.platform = Some(p.parse().unwrap());
        d
    };
    let mut attestation = entry(&amd, "unknown/unknown");
    attestation.digest = Digest::sha256_of(b"att");
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": [entry(&amd, "linux/amd64"), entry(&arm, "linux/arm64/v8"), attestation],
    }))
    .unwrap();
    let index_digest = Digest::sha256_of(&index);
    let served = Arc::new(Mutex::new(Vec::new()));
    let s = served.clone();
    let addr = serve(move |req| {
        s.lock().unwrap().push(req.path.clone());
        let p = &req.path;
        if p.ends_with("/manifests/latest") {
            return Resp::new(200, index.clone()).header("Content-Type", media::OCI_INDEX);
        }
        for fx in [&amd, &arm] {
            if p.ends_with(&format!("/manifests/{}", fx.manifest_digest)) {
                return Resp::new(200, fx.manifest.clone())
                    .header("Content-Type", media::OCI_MANIFEST);
            }
            if let Some(b) = p
                .strip_prefix("/v2/test/blobs/")
                .and_then(|d| fx.blobs.get(d))
            {
                return Resp::new(200, b.clone());
            }
        }
        Resp::new(404, "")
    });
    let (_dir, store) = new_store();
    let r = reference(&addr, "");
    let only_arm = PlatformChoice::These(vec!["linux/arm64".parse().unwrap()]);
    assert_eq!(
        pull(&store, &r, only_arm, &options()).unwrap(),
        index_digest
    );
    let paths = served.lock().unwrap().clone();
    assert_eq!(
        paths.len(),
        4,
        "index, arm64 manifest, its config and layer: {paths:?}"
    );
    let record = store.find_image(&r).unwrap().unwrap();
    assert_eq!(record.platforms, vec!["linux/arm64/v8".parse().unwrap()]);

    let err = pull(
        &store,
        &r,
        PlatformChoice::These(vec!["linux/s390x".parse().unwrap()]),
        &options(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{addr}/test:latest: no image for platform linux/s390x; the image offers: linux/amd64, linux/arm64/v8"
        )
    );

    pull(&store, &r, PlatformChoice::All, &options()).unwrap();
    let record = store.find_image(&r).unwrap().unwrap();
    assert_eq!(record.platforms.len(), 2, "{:?}", record.platforms);
}

#[test]
fn missing_image_is_not_found() {
    let addr = serve(|_| {
        Resp::new(
            404,
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"x"}]}"#,
        )
    });
    let (_dir, store) = new_store();
    let err = pull(
        &store,
        &reference(&addr, ":nope"),
        PlatformChoice::default(),
        &options(),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), format!("image {addr}/test:nope not found"));
}

#[test]
fn blob_redirects_to_another_host_are_followed_without_credentials() {
    // As S3-backed registries do: the blob GET answers 307 to a storage host, here another
    // loopback port, which must not see the registry's credentials.
    let fx = Arc::new(fixture("amd64"));
    let seen_auth = Arc::new(Mutex::new(Vec::new()));
    let (f, seen) = (fx.clone(), seen_auth.clone());
    let storage = serve(move |req| {
        seen.lock()
            .unwrap()
            .push(req.header("authorization").map(str::to_owned));
        let digest = req.path.trim_start_matches("/storage/");
        Resp::new(200, f.blobs.get(digest).cloned().unwrap_or_default())
    });
    let f = fx.clone();
    let addr = serve(move |req| {
        if req.header("authorization") != Some(&Secret::basic_header("user", "pw")) {
            return Resp::new(401, "").header("WWW-Authenticate", r#"Basic realm="r""#);
        }
        if let Some(d) = req.path.strip_prefix("/v2/test/blobs/") {
            return Resp::new(307, "").header("Location", &format!("http://{storage}/storage/{d}"));
        }
        route(&f, req)
    });
    let opts = PullOptions {
        credentials: CredentialSources {
            explicit: Some(("user".into(), "pw".into())),
            ..CredentialSources::default()
        },
        ..options()
    };
    let (_dir, store) = new_store();
    pull(
        &store,
        &reference(&addr, ""),
        PlatformChoice::default(),
        &opts,
    )
    .unwrap();
    assert!(store.has_blob(&fx.layer));
    let seen = seen_auth.lock().unwrap();
    assert_eq!(seen.len(), 2, "config and layer fetched from storage");
    assert!(
        seen.iter().all(Option::is_none),
        "credentials leaked: {seen:?}"
    );
}

#[test]
fn a_stalled_server_times_out_and_nothing_is_kept() {
    let fx = Arc::new(fixture("amd64"));
    let f = fx.clone();
    let addr = serve(move |req| {
        if req.path.contains("/blobs/") {
            std::thread::sleep(Duration::from_secs(5));
        }
        route(&f, req)
    });
    let opts = PullOptions {
        read_timeout: Duration::from_millis(200),
        max_attempts: 2,
        ..options()
    };
    let (_dir, store) = new_store();
    let start = Instant::now();
    let err = pull(
        &store,
        &reference(&addr, ""),
        PlatformChoice::default(),
        &opts,
    )
    .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    assert!(err.to_string().contains(&addr), "{err}");
    assert!(!store.has_blob(&fx.layer));
}

/// A registry that announces the whole layer but sends half of it, every time, and options
/// that try twice.
fn layer_always_cut(fx: &Arc<Fixture>) -> (String, PullOptions) {
    let f = fx.clone();
    let addr = serve(move |req| {
        let mut r = route(&f, req);
        if req.path.ends_with(&f.layer.to_string()) {
            r.cut_at = Some(r.body.len() / 2);
        }
        r
    });
    let opts = PullOptions {
        max_attempts: 2,
        ..options()
    };
    (addr, opts)
}

#[test]
fn a_body_shorter_than_its_content_length_is_retried_then_refused() {
    let fx = Arc::new(fixture("amd64"));
    let (addr, opts) = layer_always_cut(&fx);
    let (_dir, store) = new_store();
    let err = pull(
        &store,
        &reference(&addr, ""),
        PlatformChoice::default(),
        &opts,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains(&fx.layer.to_string()) || err.to_string().contains(&addr),
        "{err}"
    );
    assert!(!store.has_blob(&fx.layer));
}

#[test]
fn a_cut_download_resumes_where_it_stopped() {
    let fx = Arc::new(fixture("amd64"));
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let (f, seen) = (fx.clone(), ranges.clone());
    let addr = serve(move |req| {
        let mut r = route(&f, req);
        if req.path.ends_with(&f.layer.to_string()) {
            let range = req.header("range").map(str::to_owned);
            seen.lock().unwrap().push(range.clone());
            match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
                Some(from) => {
                    let from: usize = from.trim_end_matches('-').parse().unwrap();
                    r = Resp::new(206, r.body[from..].to_vec());
                }
                None => r.cut_at = Some(100),
            }
        }
        r
    });
    let (_dir, store) = new_store();
    pull(
        &store,
        &reference(&addr, ""),
        PlatformChoice::default(),
        &options(),
    )
    .unwrap();
    assert_eq!(
        *ranges.lock().unwrap(),
        [None, Some("bytes=100-".to_owned())]
    );
    assert_eq!(
        std::fs::read(store.blob_path(&fx.layer)).unwrap(),
        fx.blobs[&fx.layer.to_string()]
    );
}

/// Holds the layer's answer until opened.
type Gate = Arc<(Mutex<bool>, std::sync::Condvar)>;

fn gated(fx: &Arc<Fixture>, gate: &Gate, layer_hits: &Arc<AtomicUsize>) -> String {
    let (f, g, hits) = (fx.clone(), gate.clone(), layer_hits.clone());
    serve(move |req| {
        if req.path.ends_with(&f.layer.to_string()) {
            hits.fetch_add(1, Ordering::SeqCst);
            let (open, changed) = &*g;
            let mut open = open.lock().unwrap();
            while !*open {
                open = changed.wait(open).unwrap();
            }
        }
        route(&f, req)
    })
}

fn open_gate(gate: &Gate) {
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
}

#[test]
fn layers_are_readable_while_they_download() {
    use crate::content::BlobSource;
    let fx = Arc::new(fixture("amd64"));
    let gate: Gate = Arc::default();
    let addr = gated(&fx, &gate, &Arc::default());
    let (_dir, store) = new_store();
    let r = reference(&addr, "");
    let (roots, downloads) = start_all(
        &store,
        &[(r.clone(), PlatformChoice::default())],
        &options(),
    );
    // Manifest and config are in: the image can be opened, its layer not yet downloaded.
    let root = roots.into_iter().next().unwrap().unwrap();
    assert_eq!(root.digest, fx.manifest_digest);
    assert!(store.find_image(&r).unwrap().is_none());
    assert!(!store.has_blob(&fx.layer));
    assert!(store.is_verified(&fx.layer));
    let mut layer = store.open(&fx.layer).unwrap();
    let reader = std::thread::scope(|s| {
        let reading = s.spawn(move || {
            let mut got = Vec::new();
            layer.read_to_end(&mut got).map(|_| got)
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!reading.is_finished(), "the reader waits for the download");
        open_gate(&gate);
        reading.join().unwrap()
    });
    assert_eq!(reader.unwrap(), fx.blobs[&fx.layer.to_string()]);
    assert!(downloads.wait().into_iter().all(|r| r.is_ok()));
    assert!(store.find_image(&r).unwrap().is_some());
    assert!(store.has_blob(&fx.layer));
}

#[test]
fn a_layer_both_images_need_is_downloaded_once() {
    let fx = Arc::new(fixture("amd64"));
    let gate: Gate = Arc::default();
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = gated(&fx, &gate, &hits);
    open_gate(&gate);
    let (_dir, store) = new_store();
    let by_tag = reference(&addr, "");
    let by_digest = reference(&addr, &format!("@{}", fx.manifest_digest));
    let results = pull_all(
        &store,
        &[
            (by_tag.clone(), PlatformChoice::default()),
            (by_digest.clone(), PlatformChoice::default()),
        ],
        &options(),
    );
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(store.find_image(&by_tag).unwrap().is_some());
    assert!(store.find_image(&by_digest).unwrap().is_some());
}

#[test]
fn a_failed_layer_download_fails_its_readers_and_the_pull() {
    use crate::content::BlobSource;
    let fx = Arc::new(fixture("amd64"));
    let (addr, opts) = layer_always_cut(&fx);
    let (dir, store) = new_store();
    let r = reference(&addr, "");
    let (roots, downloads) = start_all(&store, &[(r.clone(), PlatformChoice::default())], &opts);
    assert!(roots[0].is_ok());
    let mut got = Vec::new();
    let err = match store.open(&fx.layer) {
        Ok(mut layer) => layer.read_to_end(&mut got).unwrap_err().to_string(),
        // The download may have failed already.
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&fx.layer.to_string()), "{err}");
    assert!(!err.contains("stopped"), "the reader learns why: {err}");
    let results = downloads.wait();
    assert!(results[0].is_err(), "{results:?}");
    assert!(store.find_image(&r).unwrap().is_none());
    assert!(!store.has_blob(&fx.layer));
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
}
