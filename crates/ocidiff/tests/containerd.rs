//! `containerd://` against a real containerd (Debian's `containerd`), started per test by
//! `scripts/containerd.sh` with its own root, state and socket; images are imported with
//! `ctr images import` from archives built here with `ocidiff-testkit`.
//!
//! Without containerd (or root) the tests skip (`ocidiff_testkit::skip`), a failure under
//! `OCIDIFF_REQUIRE_SERVICES=1`.

use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixListener;
use std::process::Command;

use assert_cmd::Command as BinCommand;
use ocidiff_testkit::examples::hello;
use ocidiff_testkit::{
    Compression, DockerArchiveForm, Entry, IndexSpec, Layer, write_docker_archive,
    write_oci_archive, write_oci_dir,
};
use predicates::prelude::*;

mod common;

use common::{Containerd, have, is_root, skip};

/// What these tests add to the shared containerd.
impl Containerd {
    /// Runs containerd's garbage collection now: an import stores every blob of the archive
    /// and leaves those of the platforms it did not import to a later collection.
    fn collect_garbage(&self, namespace: &str) {
        let ctr = |args: &[&str]| {
            let out = self.ctr(namespace).args(args).output().unwrap();
            assert!(
                out.status.success(),
                "ctr {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        let lease = ctr(&["leases", "create"]);
        ctr(&["leases", "delete", "--sync", &lease]);
    }

    fn ocidiff(&self) -> BinCommand {
        let mut cmd = BinCommand::cargo_bin("ocidiff").unwrap();
        cmd.env("CONTAINERD_ADDRESS", &self.socket)
            .env_remove("CONTAINERD_NAMESPACE")
            .env("OCIDIFF_STORE", self.dir.path().join("store"))
            .arg("diff");
        cmd
    }
}

/// `hello` build 1 as an OCI archive named `a:1`, build 2 as a docker archive tagged `b:1`,
/// both imported into namespace `test`.
fn import_hello(ctd: &Containerd) {
    let a = ctd.path("a.tar");
    write_oci_archive(&a, &[("1", hello(false).into())]).unwrap();
    ctd.import("test", &a, &["--base-name", "docker.io/library/a"]);
    let b = ctd.path("b.tar");
    write_docker_archive(
        &b,
        &[(vec!["b:1"], hello(true))],
        DockerArchiveForm::Classic,
    )
    .unwrap();
    ctd.import("test", &b, &[]);
}

#[test]
fn two_containerd_images_differ_where_they_were_built_to() {
    let Some(ctd) = Containerd::start() else {
        return;
    };
    import_hello(&ctd);
    ctd.ocidiff()
        .args([
            "--containerd-namespace",
            "test",
            "containerd://a:1",
            "containerd://docker.io/library/b:1",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("etc/hello/NEWS"))
        .stdout(predicate::str::contains("etc/hello/config.ini"));
}

#[test]
fn containerd_image_equals_its_oci_layout_semantically() {
    let Some(ctd) = Containerd::start() else {
        return;
    };
    import_hello(&ctd);
    let layout = ctd.path("layout");
    write_oci_dir(&layout, &[("1", hello(false).into())]).unwrap();
    // The namespace in the reference, overriding the flag.
    ctd.ocidiff()
        .args(["--semantic", "--containerd-namespace", "elsewhere"])
        .arg("containerd://test//a:1")
        .arg(format!("oci:{}", layout.display()))
        .assert()
        .code(0);
    // The docker archive's import against the archive itself.
    ctd.ocidiff()
        .env("CONTAINERD_NAMESPACE", "test")
        .args(["--semantic", "containerd://b:1"])
        .arg(ctd.path("b.tar"))
        .assert()
        .code(0);
}

#[test]
fn unknown_image_and_namespace_are_named() {
    let Some(ctd) = Containerd::start() else {
        return;
    };
    import_hello(&ctd);
    ctd.ocidiff()
        .args(["containerd://test//a:2", "containerd://test//b:1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            r#"containerd has no image "a:2" in namespace "test"; close names: docker.io/library/a:1"#,
        ));
    ctd.ocidiff()
        .args(["containerd://a:1", "containerd://test//b:1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            r#"no namespace "default"; it has: test"#,
        ));
}

#[test]
fn missing_socket_says_how_to_name_it() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("no.sock");
    BinCommand::cargo_bin("ocidiff")
        .unwrap()
        .args(["diff", "--containerd-address"])
        .arg(&socket)
        .args(["containerd://a:1", "containerd://b:1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "containerd's socket {} does not exist",
            socket.display()
        )))
        .stderr(predicate::str::contains("--containerd-address"));
}

/// A two-platform image whose arm64 build has a layer of its own.
fn two_platforms() -> IndexSpec {
    let arm = hello(false)
        .platform("linux/arm64")
        .layer(Layer::new(vec![Entry::file("etc/arch", "arm64\n")]).compression(Compression::Gzip));
    IndexSpec::new()
        .manifest(hello(false).platform("linux/amd64"))
        .manifest(arm)
}

#[test]
fn a_platform_containerd_did_not_import_is_reported_as_such() {
    let Some(ctd) = Containerd::start() else {
        return;
    };
    let archive = ctd.path("multi.tar");
    write_oci_archive(&archive, &[("1", two_platforms().into())]).unwrap();
    ctd.import(
        "test",
        &archive,
        &[
            "--base-name",
            "docker.io/library/m",
            "--platform",
            "linux/amd64",
        ],
    );
    ctd.collect_garbage("test");
    let layout = ctd.path("multi");
    write_oci_dir(&layout, &[("1", two_platforms().into())]).unwrap();
    let layout = format!("oci:{}", layout.display());
    ctd.ocidiff()
        .args([
            "--containerd-namespace",
            "test",
            "--platform",
            "linux/amd64",
        ])
        .args(["containerd://m:1", &layout])
        .assert()
        .code(0);
    ctd.ocidiff()
        .args([
            "--containerd-namespace",
            "test",
            "--platform",
            "linux/arm64",
        ])
        .args(["containerd://m:1", &layout])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "containerd has no content for platform linux/arm64 of docker.io/library/m:1",
        ))
        .stderr(predicate::str::contains(
            "only the platforms that were pulled",
        ))
        .stderr(predicate::str::contains("it holds: linux/amd64"));
    ctd.ocidiff()
        .args(["--containerd-namespace", "test", "--all-platforms"])
        .args(["containerd://m:1", &layout])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("platform linux/arm64"));
}

/// A socket ocidiff may not use, as containerd's is to anyone but root: mode 0600 and owned by
/// root, with ocidiff run as user nobody (through `setpriv`) when the test runs as root, who may
/// use any socket; mode 0000 when it does not, which denies even the socket's owner.
#[test]
fn a_forbidden_socket_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), Permissions::from_mode(0o755)).unwrap();
    let socket = dir.path().join("containerd.sock");
    let _listener = UnixListener::bind(&socket).unwrap();
    let mut ocidiff = if is_root() {
        if !have("setpriv") {
            return skip("setpriv is not installed (apt-get install util-linux)");
        }
        std::fs::set_permissions(&socket, Permissions::from_mode(0o600)).unwrap();
        // The test's own copy of the binary, where nobody may run it: the target dir may be
        // under a home nobody can enter.
        let bin = dir.path().join("ocidiff");
        std::fs::copy(assert_cmd::cargo::cargo_bin("ocidiff"), &bin).unwrap();
        std::fs::set_permissions(&bin, Permissions::from_mode(0o755)).unwrap();
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin)
            .current_dir(dir.path());
        cmd
    } else {
        std::fs::set_permissions(&socket, Permissions::from_mode(0o000)).unwrap();
        Command::new(assert_cmd::cargo::cargo_bin("ocidiff"))
    };
    let out = ocidiff
        .args(["diff", "--containerd-address"])
        .arg(&socket)
        .args(["containerd://a:1", "containerd://b:1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "permission denied on containerd's socket {}",
            socket.display()
        )),
        "{stderr}"
    );
}
