//! Pulls from real distribution registries (Debian's `docker-registry`, started by
//! `scripts/registry.sh`: anonymous, basic auth, token auth with the test kit's token issuer),
//! into which images are pushed with skopeo from OCI layouts made here.
//!
//! Skipped (`ocidiff_testkit::skip`) when the registry or skopeo is not installed, a failure
//! under `OCIDIFF_REQUIRE_SERVICES=1`.

// Scenario tests read top to bottom, one setup and its checks: splitting them hides the story.
#![allow(clippy::too_many_lines)]

use std::io::Write;
use std::path::{Path, PathBuf};

use ocidiff_testkit::registry::{TOKEN_PASS, TOKEN_USER, TestRegistries};

use ocidiff_core::model::{Digest, media};
use ocidiff_core::reference::DockerRef;
use ocidiff_core::source::registry::{
    CredentialSources, PlatformChoice, PullOptions, RegistryError, pull,
};
use ocidiff_core::store::Store;

/// The registries, or `None` when the test must skip (after saying so).
fn registries() -> Option<TestRegistries> {
    TestRegistries::start_or_skip()
}

/// Writes a gzip'd one-file layer, a config and a manifest into `blobs`; returns the
/// manifest's descriptor JSON.
fn image(blobs: &Path, arch: &str, content: &str) -> serde_json::Value {
    let put = |bytes: &[u8]| {
        let d = Digest::sha256_of(bytes);
        std::fs::write(blobs.join(d.hex()), bytes).unwrap();
        (d, bytes.len())
    };
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "etc/release", content.as_bytes())
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let diff_id = Digest::sha256_of(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let (layer, layer_size) = put(&gz.finish().unwrap());
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": arch, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "config": {}
    }))
    .unwrap();
    let (config, config_size) = put(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "digest": config.to_string(), "size": config_size},
        "layers": [{"mediaType": media::OCI_LAYER_GZIP, "digest": layer.to_string(), "size": layer_size}],
    }))
    .unwrap();
    let (digest, size) = put(&manifest);
    serde_json::json!({
        "mediaType": media::OCI_MANIFEST, "digest": digest.to_string(), "size": size,
        "platform": {"os": "linux", "architecture": arch},
    })
}

/// An OCI layout with one image per architecture; several make a multi-platform index.
fn layout(dir: &Path, arches: &[&str]) -> PathBuf {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let manifests: Vec<serde_json::Value> = arches
        .iter()
        .map(|a| image(&blobs, a, &format!("release for {a}\n")))
        .collect();
    let top = if manifests.len() == 1 {
        manifests[0].clone()
    } else {
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": manifests,
        }))
        .unwrap();
        let d = Digest::sha256_of(&index);
        std::fs::write(blobs.join(d.hex()), &index).unwrap();
        serde_json::json!({"mediaType": media::OCI_INDEX, "digest": d.to_string(), "size": index.len()})
    };
    let mut top = top;
    top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "latest"});
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [top]})).unwrap(),
    )
    .unwrap();
    dir.to_owned()
}

/// Pushes the layout's `latest` with skopeo; returns the digest skopeo reports.
fn push(layout: &Path, dest: &str, creds: Option<&str>, all: bool) -> Digest {
    ocidiff_testkit::registry::push(layout, "latest", dest, creds, all)
        .unwrap()
        .parse()
        .unwrap()
}

fn options(docker_config: &Path) -> PullOptions {
    PullOptions {
        credentials: CredentialSources {
            docker_config: Some(docker_config.to_owned()),
            ..CredentialSources::default()
        },
        ..PullOptions::default()
    }
}

fn fresh_store(dir: &Path, name: &str) -> Store {
    Store::open(&dir.join(name)).unwrap()
}

fn r(s: &str) -> DockerRef {
    DockerRef::parse(s).unwrap()
}

#[test]
fn real_registry() {
    use base64::Engine as _;
    let Some(regs) = registries() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let no_config = w.join("no-docker-config");
    std::fs::create_dir_all(&no_config).unwrap();
    let anon = regs.get("OCIDIFF_TEST_REGISTRY").to_owned();
    let secured = regs.get("OCIDIFF_TEST_AUTH_REGISTRY").to_owned();
    let user = regs.get("OCIDIFF_TEST_AUTH_USER").to_owned();
    let pass = regs.get("OCIDIFF_TEST_AUTH_PASS").to_owned();

    // By tag and by digest, anonymous.
    let single = layout(&w.join("single"), &["amd64"]);
    let pushed = push(&single, &format!("{anon}/ocidiff/single:v1"), None, false);
    let store = fresh_store(w, "s1");
    let by_tag = r(&format!("{anon}/ocidiff/single:v1"));
    let got = pull(
        &store,
        &by_tag,
        PlatformChoice::default(),
        &options(&no_config),
    )
    .unwrap();
    assert_eq!(got, pushed);
    let record = store.find_image(&by_tag).unwrap().unwrap();
    let image = store.open_image(&record).unwrap();
    assert_eq!(image.root.descriptor.as_ref().unwrap().digest, pushed);
    assert!(image.blobs.is_verified(&pushed));
    let by_digest = r(&format!("{anon}/ocidiff/single@{pushed}"));
    let store2 = fresh_store(w, "s2");
    assert_eq!(
        pull(
            &store2,
            &by_digest,
            PlatformChoice::default(),
            &options(&no_config)
        )
        .unwrap(),
        pushed
    );
    assert_eq!(store.info().unwrap().blobs, store2.info().unwrap().blobs);
    let missing = r(&format!("{anon}/ocidiff/single:nope"));
    let err = pull(
        &store,
        &missing,
        PlatformChoice::default(),
        &options(&no_config),
    )
    .unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");

    // A multi-platform index: only the platform asked for, or all.
    let multi = layout(&w.join("multi"), &["amd64", "arm64"]);
    let index = push(&multi, &format!("{anon}/ocidiff/multi:v1"), None, true);
    let multi_ref = r(&format!("{anon}/ocidiff/multi:v1"));
    let store3 = fresh_store(w, "s3");
    let arm = PlatformChoice::These(vec!["linux/arm64".parse().unwrap()]);
    assert_eq!(
        pull(&store3, &multi_ref, arm, &options(&no_config)).unwrap(),
        index
    );
    let record = store3.find_image(&multi_ref).unwrap().unwrap();
    assert_eq!(record.platforms, vec!["linux/arm64".parse().unwrap()]);
    // index + manifest + config + layer
    assert_eq!(store3.info().unwrap().blobs, 4);
    let err = pull(
        &store3,
        &multi_ref,
        PlatformChoice::These(vec!["linux/riscv64".parse().unwrap()]),
        &options(&no_config),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("the image offers: linux/amd64, linux/arm64"),
        "{err}"
    );
    pull(
        &store3,
        &multi_ref,
        PlatformChoice::All,
        &options(&no_config),
    )
    .unwrap();
    assert_eq!(store3.info().unwrap().blobs, 7);

    // Basic auth: credentials from config.json, wrong ones, none, and a credential helper.
    push(
        &single,
        &format!("{secured}/ocidiff/private:v1"),
        Some(&format!("{user}:{pass}")),
        false,
    );
    let private = r(&format!("{secured}/ocidiff/private:v1"));
    let config_with = |name: &str, json: String| {
        let dir = w.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), json).unwrap();
        dir
    };
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let good = config_with(
        "good",
        format!(
            r#"{{"auths":{{"{secured}":{{"auth":"{}"}}}}}}"#,
            b64(&format!("{user}:{pass}"))
        ),
    );
    let store4 = fresh_store(w, "s4");
    assert_eq!(
        pull(
            &store4,
            &private,
            PlatformChoice::default(),
            &options(&good)
        )
        .unwrap(),
        pushed
    );
    let bad = config_with(
        "bad",
        format!(r#"{{"auths":{{"http://{secured}":{{"username":"{user}","password":"wrong"}}}}}}"#),
    );
    let store5 = fresh_store(w, "s5");
    let err = pull(&store5, &private, PlatformChoice::default(), &options(&bad)).unwrap_err();
    assert!(matches!(err, RegistryError::AuthFailed { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("authentication failed for {secured}")),
        "{err}"
    );
    let err = pull(
        &store5,
        &private,
        PlatformChoice::default(),
        &options(&no_config),
    )
    .unwrap_err();
    assert!(matches!(err, RegistryError::AuthFailed { .. }), "{err}");
    assert!(store5.list_images().unwrap().is_empty());

    let helper_dir = w.join("helpers");
    std::fs::create_dir_all(&helper_dir).unwrap();
    let helper = helper_dir.join("docker-credential-fake");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread host\n[ \"$host\" = '{secured}' ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{pass}\"}}' \"$host\"\n"
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let helper_config = config_with("helper", r#"{"credsStore":"fake"}"#.to_owned());
    let mut opts = options(&helper_config);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![helper_dir.clone()];
    dirs.extend(std::env::split_paths(&path));
    opts.credentials.helper_path = Some(std::env::join_paths(dirs).unwrap());
    let store6 = fresh_store(w, "s6");
    assert_eq!(
        pull(&store6, &private, PlatformChoice::default(), &opts).unwrap(),
        pushed
    );
}

#[test]
fn token_registry() {
    // Credentials from config.json are sent to the token realm.
    use base64::Engine as _;
    let Some(regs) = registries() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let token = regs.token().to_owned();
    let creds = format!("{TOKEN_USER}:{TOKEN_PASS}");
    let single = layout(&w.join("single"), &["amd64"]);
    let public = push(
        &single,
        &format!("{token}/ocidiff/public:v1"),
        Some(&creds),
        false,
    );
    let private = push(
        &single,
        &format!("{token}/private/app:v1"),
        Some(&creds),
        false,
    );
    let no_config = w.join("no-docker-config");
    std::fs::create_dir_all(&no_config).unwrap();

    // Anonymous: the registry answers 401 with a Bearer challenge; the issuer grants pull.
    let before = regs.tokens_issued();
    let store = fresh_store(w, "anon");
    let got = pull(
        &store,
        &r(&format!("{token}/ocidiff/public:v1")),
        PlatformChoice::default(),
        &options(&no_config),
    )
    .unwrap();
    assert_eq!(got, public);
    assert!(regs.tokens_issued() > before, "no token was asked for");

    // A private repository: no credentials get a token granting nothing.
    let private_ref = r(&format!("{token}/private/app:v1"));
    let err = pull(
        &store,
        &private_ref,
        PlatformChoice::default(),
        &options(&no_config),
    )
    .unwrap_err();
    assert!(matches!(err, RegistryError::AuthFailed { .. }), "{err}");

    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let config = |name: &str, auth: &str| {
        let dir = w.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.json"),
            format!(r#"{{"auths":{{"{token}":{{"auth":"{}"}}}}}}"#, b64(auth)),
        )
        .unwrap();
        dir
    };
    let good = config("good", &creds);
    let store2 = fresh_store(w, "creds");
    assert_eq!(
        pull(
            &store2,
            &private_ref,
            PlatformChoice::default(),
            &options(&good)
        )
        .unwrap(),
        private
    );

    // Wrong credentials: the issuer refuses them.
    let bad = config("bad", &format!("{TOKEN_USER}:wrong"));
    let store3 = fresh_store(w, "bad");
    let err = pull(
        &store3,
        &private_ref,
        PlatformChoice::default(),
        &options(&bad),
    )
    .unwrap_err();
    assert!(matches!(err, RegistryError::AuthFailed { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("authentication failed for {token}")),
        "{err}"
    );
    assert!(store3.list_images().unwrap().is_empty());
}
