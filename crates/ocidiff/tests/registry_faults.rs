//! The real registry behind a fault proxy of the test's own: a connection dropped in the middle
//! of a blob is resumed where it stopped, a layer that never downloads fails the comparison
//! reading it (exit 2, no report), and an `ocidiff pull` killed halfway leaves the store
//! usable, holding no partial or unverified blob under a digest's name.
//!
//! Skipped (`ocidiff_testkit::skip`) when the registry or skopeo is not installed, a failure
//! under `OCIDIFF_REQUIRE_SERVICES=1`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ocidiff_testkit::registry::{TestRegistries, push as skopeo_push};
use ocidiff_testkit::{Entry, ImageSpec, Layer, write_oci_dir};

/// The test registries (`scripts/registry.sh` through the test kit), or `None` when the test
/// must skip (after saying so).
fn registries() -> Option<TestRegistries> {
    TestRegistries::start_or_skip()
}

/// What the proxy does to answers larger than `big` bytes (blob downloads).
#[derive(Clone, Copy)]
enum Fault {
    /// Cuts the first such answer after `big` bytes; later ones pass.
    DropOnce,
    /// Cuts every such answer after `big` bytes.
    CutAlways,
    /// Relays such answers at about 64 KiB/s.
    Throttle,
}

/// A TCP proxy to `upstream` on a loopback port; counts the bytes it relays to clients.
struct Proxy {
    addr: String,
    relayed: Arc<AtomicU64>,
    dropped: Arc<AtomicBool>,
}

fn proxy(upstream: &str, fault: Fault, big: u64) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let relayed = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let upstream = upstream.to_owned();
    let (r, d) = (relayed.clone(), dropped.clone());
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            thread::spawn(move || {
                let _ = std::io::copy(&mut c_read, &mut s_write);
            });
            let (r, d) = (r.clone(), d.clone());
            thread::spawn(move || relay(server, client, fault, big, &r, &d));
        }
    });
    Proxy {
        addr,
        relayed,
        dropped,
    }
}

fn relay(
    mut server: TcpStream,
    mut client: TcpStream,
    fault: Fault,
    big: u64,
    relayed: &AtomicU64,
    dropped: &AtomicBool,
) {
    let mut buf = [0u8; 16 << 10];
    let mut sent = 0u64;
    loop {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        sent += n as u64;
        if sent > big {
            match fault {
                Fault::DropOnce if !dropped.swap(true, Ordering::SeqCst) => {
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    return;
                }
                Fault::CutAlways => {
                    dropped.store(true, Ordering::SeqCst);
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    return;
                }
                Fault::Throttle => thread::sleep(Duration::from_millis(250)),
                Fault::DropOnce => {}
            }
        }
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
        relayed.fetch_add(n as u64, Ordering::SeqCst);
    }
    let _ = client.shutdown(std::net::Shutdown::Both);
}

/// Pushes an image with a 4 MiB incompressible layer as `name:1`.
fn push_big_image(registry: &str, dir: &Path, name: &str) {
    let data = ocidiff_testkit::noise(4 << 20, 0x9e37_79b9_7f4a_7c15);
    push(
        registry,
        dir,
        name,
        Layer::new(vec![Entry::file("blob.bin", &data)]),
    );
}

/// Pushes an image of one layer as `name:1`.
fn push(registry: &str, dir: &Path, name: &str, layer: Layer) {
    let oci = dir.join(format!("src-{name}"));
    write_oci_dir(&oci, &[("1", ImageSpec::new().layer(layer).into())]).unwrap();
    skopeo_push(&oci, "1", &format!("{registry}/{name}:1"), None, false).unwrap();
}

fn ocidiff(store: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ocidiff"));
    c.arg("--debug").env("OCIDIFF_STORE", store);
    c
}

/// Checks that every blob the store holds matches its name, and returns the largest's size.
fn verify_store(store: &Path) -> u64 {
    let mut largest = 0;
    let dir = store.join("blobs/sha256");
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap();
        let name = format!("sha256:{}", entry.file_name().to_string_lossy());
        assert_eq!(
            ocidiff_testkit::sha256_digest(&bytes),
            name,
            "a blob does not match its name"
        );
        largest = largest.max(bytes.len() as u64);
    }
    largest
}

#[test]
fn a_connection_dropped_mid_blob_is_retried() {
    let Some(regs) = registries() else {
        return;
    };
    let registry = regs.anon();
    let work = tempfile::tempdir().unwrap();
    push_big_image(registry, work.path(), "drop");
    let proxy = proxy(registry, Fault::DropOnce, 1 << 20);
    let store = work.path().join("store");
    let out = ocidiff(&store)
        .args(["pull", &format!("{}/drop:1", proxy.addr)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        proxy.dropped.load(Ordering::SeqCst),
        "the proxy never cut a blob"
    );
    assert!(
        verify_store(&store) >= 4 << 20,
        "the big layer is not in the store"
    );
    // Resumed with a range request, not downloaded again from its start (1 + 4 MiB).
    let relayed = proxy.relayed.load(Ordering::SeqCst);
    assert!(relayed < (4 << 20) + (256 << 10), "{relayed} bytes relayed");
}

#[test]
fn a_layer_that_never_downloads_fails_the_diff_with_no_report() {
    let Some(regs) = registries() else {
        return;
    };
    let registry = regs.anon();
    let work = tempfile::tempdir().unwrap();
    push_big_image(registry, work.path(), "cut");
    push(
        registry,
        work.path(),
        "small",
        Layer::new(vec![Entry::file("blob.bin", "small")]),
    );
    // Every blob answer over 64 KiB is cut: five tries fetch far less than 4 MiB.
    let proxy = proxy(registry, Fault::CutAlways, 64 << 10);
    let store = work.path().join("store");
    let out = ocidiff(&store)
        .args([
            "diff",
            &format!("{}/cut:1", proxy.addr),
            &format!("{}/small:1", proxy.addr),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty(), "no report on stdout");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("ocidiff: error"))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(
        error.contains("input 0") && error.contains("downloading blob"),
        "{error}"
    );
    assert!(proxy.dropped.load(Ordering::SeqCst));
    verify_store(&store);
    let images = ocidiff(&store).arg("images").output().unwrap();
    assert!(
        !String::from_utf8_lossy(&images.stdout).contains("cut"),
        "an image whose layer failed is not recorded"
    );
}

#[test]
fn a_pull_killed_halfway_leaves_the_store_usable() {
    let Some(regs) = registries() else {
        return;
    };
    let registry = regs.anon();
    let work = tempfile::tempdir().unwrap();
    push_big_image(registry, work.path(), "kill");
    let proxy = proxy(registry, Fault::Throttle, 256 << 10);
    let store = work.path().join("store");
    let mut child = ocidiff(&store)
        .args(["pull", &format!("{}/kill:1", proxy.addr)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.relayed.load(Ordering::SeqCst) < (512 << 10) {
        assert!(Instant::now() < deadline, "the pull never got going");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the pull ended before it was killed"
        );
        thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    assert!(
        verify_store(&store) < 4 << 20,
        "the big layer was stored although its download was killed"
    );
    let info = ocidiff(&store).arg("info").output().unwrap();
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    // The next pull, straight from the registry, completes and the image compares.
    let image = format!("{registry}/kill:1");
    let out = ocidiff(&store).args(["pull", &image]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        verify_store(&store) >= 4 << 20,
        "the big layer is not in the store"
    );
    let out = ocidiff(&store)
        .args(["diff", "--pull", "never", &image, &image])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
