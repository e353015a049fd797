//! Real distribution registries for tests (`scripts/registry.sh`: anonymous, htpasswd basic auth,
//! token auth) and the token issuer the token-auth registry sends clients to, served from the
//! test process on loopback.
//!
//! The issuer is written here rather than taken from a crate because what a test needs is a few
//! dozen lines (one `GET /token` route, one ES256 signature) and the JWT crates would not set the
//! `x5c` header distribution 2.8 wants without as much glue.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::{Value, json};

/// The one account the token issuer knows.
pub const TOKEN_USER: &str = "tokenuser";
/// [`TOKEN_USER`]'s password.
pub const TOKEN_PASS: &str = "token-pass";
/// Repositories under this prefix are private on the token registry: only [`TOKEN_USER`] gets
/// access; anonymous clients get a token granting nothing.
pub const PRIVATE_PREFIX: &str = "private/";

/// Programs the registries and pushing need.
pub fn missing_tools() -> Vec<&'static str> {
    [
        "docker-registry",
        "skopeo",
        "htpasswd",
        "curl",
        "python3",
        "openssl",
    ]
    .into_iter()
    .filter(|p| !on_path(p))
    .collect()
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/registry.sh")
}

/// Three running registries and the token issuer; all stopped on drop, also when a test panics.
pub struct TestRegistries {
    dir: tempfile::TempDir,
    env: HashMap<String, String>,
    issuer: Option<TokenIssuer>,
}

impl TestRegistries {
    /// The registries, or `None` when the tools they need are missing and the calling test
    /// must return: a skip, recorded by [`crate::skip::skip`] (a failure under
    /// `OCIDIFF_REQUIRE_SERVICES=1`). Tools that are there and fail to start panic.
    pub fn start_or_skip() -> Option<TestRegistries> {
        let missing = missing_tools();
        if !missing.is_empty() {
            crate::skip::skip(&format!(
                "needs {missing:?} (apt-get install docker-registry skopeo apache2-utils curl openssl)"
            ));
            return None;
        }
        Some(TestRegistries::start().unwrap())
    }

    /// Starts the registries (plain, basic auth, token auth); `Err` says what failed.
    pub fn start() -> Result<TestRegistries, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(dir.path())
            .env("OCIDIFF_TEST_TOKEN_REALM", format!("http://{addr}/token"))
            .output()
            .map_err(|e| format!("cannot run registry.sh: {e}"))?;
        let mut regs = TestRegistries {
            dir,
            env: HashMap::new(),
            issuer: None,
        };
        if !out.status.success() {
            return Err(format!(
                "registry.sh start failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        regs.env = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let read = |key: &str| {
            let path = regs.get(key);
            std::fs::read(path).map_err(|e| format!("{path}: {e}"))
        };
        let issuer = TokenIssuer::serve(
            listener,
            &read("OCIDIFF_TEST_TOKEN_KEY")?,
            read("OCIDIFF_TEST_TOKEN_CERT")?,
            regs.get("OCIDIFF_TEST_TOKEN_ISSUER").to_owned(),
        )?;
        regs.issuer = Some(issuer);
        Ok(regs)
    }

    /// A value of the script's env output; panics on an unknown key (a test bug).
    pub fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("registry.sh printed no {key}"))
    }

    /// host:port of the anonymous registry.
    pub fn anon(&self) -> &str {
        self.get("OCIDIFF_TEST_REGISTRY")
    }

    /// host:port of the htpasswd registry.
    pub fn basic(&self) -> &str {
        self.get("OCIDIFF_TEST_AUTH_REGISTRY")
    }

    /// host:port of the anonymous registry that serves HTTPS with a self-signed certificate.
    pub fn tls(&self) -> &str {
        self.get("OCIDIFF_TEST_TLS_REGISTRY")
    }

    /// `user:pass` for the htpasswd registry.
    pub fn basic_creds(&self) -> String {
        format!(
            "{}:{}",
            self.get("OCIDIFF_TEST_AUTH_USER"),
            self.get("OCIDIFF_TEST_AUTH_PASS")
        )
    }

    /// host:port of the token-auth registry.
    pub fn token(&self) -> &str {
        self.get("OCIDIFF_TEST_TOKEN_REGISTRY")
    }

    /// How many tokens the issuer has handed out, to show the token flow was used.
    pub fn tokens_issued(&self) -> usize {
        self.issuer
            .as_ref()
            .map_or(0, |i| i.issued.load(Ordering::SeqCst))
    }

    /// Stops the registries now (the issuer keeps running until drop).
    pub fn stop(&self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

impl Drop for TestRegistries {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Pushes `oci:LAYOUT:TAG` to `docker://DEST` with skopeo (`--all` keeps every platform of an
/// index); returns the digest skopeo reports.
pub fn push(
    layout: &Path,
    tag: &str,
    dest: &str,
    creds: Option<&str>,
    all: bool,
) -> Result<String, String> {
    let digest_file = layout.join(format!("pushed-{tag}"));
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "--quiet", "--dest-tls-verify=false", "--digestfile"])
        .arg(&digest_file);
    if all {
        cmd.arg("--all");
    }
    if let Some(c) = creds {
        cmd.args(["--dest-creds", c]);
    }
    cmd.arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{dest}"));
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run skopeo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "skopeo push to {dest} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::read_to_string(&digest_file)
        .map(|d| d.trim().to_owned())
        .map_err(|e| format!("{}: {e}", digest_file.display()))
}

/// Serves `GET /token?service=…&scope=…` on loopback until dropped.
struct TokenIssuer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    issued: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

struct Signer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    /// The certificate (DER) sent as `x5c`, which the registry checks against its bundle.
    cert: Vec<u8>,
    issuer: String,
}

impl TokenIssuer {
    fn serve(
        listener: TcpListener,
        pkcs8: &[u8],
        cert: Vec<u8>,
        issuer: String,
    ) -> Result<TokenIssuer, String> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|e| format!("token key: {e}"))?;
        let signer = Signer {
            key,
            rng,
            cert,
            issuer,
        };
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let issued = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, issued) = (stop.clone(), issued.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        let _ = answer(conn, &signer, &issued);
                    }
                }
            })
        };
        Ok(TokenIssuer {
            addr,
            stop,
            issued,
            thread: Some(thread),
        })
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn respond(mut conn: TcpStream, status: &str, body: &Value) -> io::Result<()> {
    let body = body.to_string();
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// One request per connection: the answer closes it.
fn answer(conn: TcpStream, signer: &Signer, issued: &AtomicUsize) -> io::Result<()> {
    // A client that never finishes its request must not keep drop waiting.
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_owned());
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if !request_line.starts_with("GET ") || path != "/token" {
        return respond(conn, "404 Not Found", &json!({"error": "not found"}));
    }
    let user = match authorization {
        None => None,
        Some(header) => match basic_user(&header) {
            Some(user) => Some(user),
            None => {
                return respond(
                    conn,
                    "401 Unauthorized",
                    &json!({"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password"}]}),
                );
            }
        },
    };
    let mut service = String::new();
    let mut access = Vec::new();
    for (key, value) in query.split('&').filter_map(|kv| kv.split_once('=')) {
        let value = percent_encoding::percent_decode_str(&value.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned();
        match key {
            "service" => service = value,
            "scope" => access.extend(value.split(' ').filter_map(|s| grant(s, user.is_some()))),
            _ => {}
        }
    }
    let token = signer.sign(
        user.as_deref().unwrap_or_default(),
        &service,
        &access,
        issued,
    );
    respond(
        conn,
        "200 OK",
        &json!({"token": token, "access_token": token, "expires_in": 300}),
    )
}

/// The user of a `Basic` header if its credentials are right.
fn basic_user(header: &str) -> Option<String> {
    let encoded = header.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    (decoded == format!("{TOKEN_USER}:{TOKEN_PASS}")).then(|| TOKEN_USER.to_owned())
}

/// What one scope (`repository:NAME:pull,push`) grants: everything asked to the known user; to
/// anonymous clients, `pull` outside [`PRIVATE_PREFIX`].
fn grant(scope: &str, authenticated: bool) -> Option<Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let actions: Vec<&str> = actions
        .split(',')
        .filter(|a| authenticated || (*a == "pull" && !name.starts_with(PRIVATE_PREFIX)))
        .collect();
    Some(json!({"type": kind, "name": name, "actions": actions}))
}

impl Signer {
    fn sign(
        &self,
        subject: &str,
        audience: &str,
        access: &[Value],
        issued: &AtomicUsize,
    ) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let n = issued.fetch_add(1, Ordering::SeqCst);
        let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(&self.cert)]});
        let claims = json!({
            "iss": self.issuer, "sub": subject, "aud": audience,
            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("ocidiff-test-{n}"),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .expect("ES256 signing with a valid key");
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}
