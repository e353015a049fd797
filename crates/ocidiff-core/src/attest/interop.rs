//! Attestations against the tools a third party checks them with: keys that openssl makes sign
//! what openssl verifies, `public_key_pem` is what openssl prints, and the commands of
//! `docs/verify.md` work as written (they are read from it and run), so that page cannot rot.
//! Without openssl or jq the tests skip, a failure under `OCIDIFF_REQUIRE_SERVICES=1`.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use ocidiff_testkit::skip::{on_path, skip};

use super::tests::summary;
use super::*;

/// Whether openssl and jq are there; if not, the test is skipped and returns.
fn tools() -> bool {
    let missing: Vec<&str> = ["openssl", "jq"]
        .into_iter()
        .filter(|t| !on_path(t))
        .collect();
    if missing.is_empty() {
        return true;
    }
    skip(&format!(
        "{} not installed (apt-get install openssl jq)",
        missing.join(" and ")
    ));
    false
}

/// Runs `script` with `sh -e` in `dir`, with `IMAGE_DIGEST` set to `image`.
fn sh(dir: &Path, script: &str, image: &str) -> Output {
    Command::new("sh")
        .args(["-ec", script])
        .current_dir(dir)
        .env("IMAGE_DIGEST", image)
        .output()
        .expect("running sh")
}

/// `program args…` in `dir`, which must succeed.
fn run(dir: &Path, program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The `sh` code block of docs/verify.md that contains `marker`.
fn doc_block(marker: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/verify.md");
    let doc = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let blocks: Vec<&str> = doc
        .split("```sh\n")
        .skip(1)
        .filter_map(|b| b.split_once("```").map(|(code, _)| code))
        .filter(|code| code.contains(marker))
        .collect();
    assert_eq!(
        blocks.len(),
        1,
        "one sh block of docs/verify.md with {marker:?}"
    );
    blocks[0].to_owned()
}

/// The line of the docs' verification block for keys of `algorithm` (`… # ECDSA P-256`).
fn doc_verify_line(algorithm: &str) -> String {
    let block = doc_block("-sigfile");
    let suffix = format!("# {algorithm}");
    let lines: Vec<&str> = block.lines().filter(|l| l.ends_with(&suffix)).collect();
    assert_eq!(lines.len(), 1, "one line for {algorithm} in {block}");
    lines[0].to_owned()
}

/// The docs' commands against `attestation.json` and `pub.pem` in `dir`: the statement out,
/// the signature checked. The output of the check, or `Err` with it when it fails.
fn doc_check(dir: &Path, algorithm: &str) -> Result<String, String> {
    let script = format!(
        "{}{}\n",
        doc_block("printf 'DSSEv1"),
        doc_verify_line(algorithm)
    );
    let out = sh(dir, &script, "");
    if out.status.success() {
        Ok(text(&out))
    } else {
        Err(text(&out))
    }
}

/// A key of `algorithm` made by openssl, read from `dir/key.pem`.
fn openssl_key(dir: &Path, algorithm: &str) -> SigningKey {
    let args: &[&str] = match algorithm {
        ECDSA_P256 => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        ECDSA_P384 => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        _ => &["-algorithm", "ED25519"],
    };
    run(
        dir,
        "openssl",
        &[&["genpkey"], args, &["-out", "key.pem"]].concat(),
    );
    let key = SigningKey::from_pem(&fs::read_to_string(dir.join("key.pem")).unwrap()).unwrap();
    assert_eq!(key.algorithm(), algorithm);
    key
}

#[test]
fn openssl_reads_our_public_keys_and_verifies_our_signatures() {
    if !tools() {
        return;
    }
    for algorithm in [ECDSA_P256, ECDSA_P384, ED25519] {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let key = openssl_key(dir, algorithm);
        let theirs = run(dir, "openssl", &["pkey", "-in", "key.pem", "-pubout"]);
        assert_eq!(
            key.public_key_pem(),
            String::from_utf8_lossy(&theirs.stdout),
            "{algorithm}"
        );
        fs::write(dir.join("pub.pem"), key.public_key_pem()).unwrap();
        let parsed = run(
            dir,
            "openssl",
            &["pkey", "-pubin", "-in", "pub.pem", "-text"],
        );
        assert!(text(&parsed).contains("Public-Key") || text(&parsed).contains("ED25519"));

        // A bare signature over PAE bytes, checked the way the spec's tools do.
        let pae_bytes = pae(PAYLOAD_TYPE, b"{\"hello\": \"world\"}\n");
        fs::write(dir.join("pae.bin"), &pae_bytes).unwrap();
        fs::write(dir.join("sig.der"), key.sign(&pae_bytes).unwrap()).unwrap();
        let out = sh(dir, &doc_verify_line(algorithm), "");
        assert!(out.status.success(), "{algorithm}: {}", text(&out));
        assert!(text(&out).contains("Verified"), "{}", text(&out));
    }
}

#[test]
fn the_documented_commands_check_a_signed_attestation() {
    if !tools() {
        return;
    }
    let s = summary(true);
    for algorithm in [ECDSA_P256, ECDSA_P384, ED25519] {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let key = openssl_key(dir, algorithm);
        run(
            dir,
            "openssl",
            &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"],
        );
        let attestation = file_bytes(&s, Some(&key)).unwrap();
        fs::write(dir.join("attestation.json"), &attestation).unwrap();
        let said = doc_check(dir, algorithm).unwrap_or_else(|e| panic!("{algorithm}: {e}"));
        assert!(said.contains("Verified"), "{said}");
        assert_eq!(
            fs::read(dir.join("pae.bin")).unwrap(),
            pae(PAYLOAD_TYPE, &statement_bytes(&s))
        );

        // A statement changed after signing fails the same commands.
        let mut env: Value = serde_json::from_slice(&attestation).unwrap();
        let forged = String::from_utf8(statement_bytes(&summary(false))).unwrap();
        env["payload"] = json!(STANDARD.encode(forged.replace("FAILED", "PASSED")));
        fs::write(dir.join("attestation.json"), env.to_string()).unwrap();
        let refused = doc_check(dir, algorithm).expect_err("a forged statement verifies");
        assert!(!refused.contains("Verified OK"), "{refused}");
    }
}

#[test]
fn the_documented_checks_read_the_verdict() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let checks = doc_block("verificationResult");
    let s = summary(true);
    fs::write(dir.join("report.json"), "{}\n").unwrap();
    assert_eq!(Digest::sha256_of(b"{}\n"), s.report.digest);
    let image = s.subject_digest.hex();

    fs::write(dir.join("statement.json"), statement_bytes(&s)).unwrap();
    let out = sh(dir, &checks, image);
    assert!(out.status.success(), "{}", text(&out));
    // Each check fails on its own.
    assert!(!sh(dir, &checks, &"0".repeat(64)).status.success());
    fs::write(dir.join("report.json"), "{}").unwrap();
    assert!(!sh(dir, &checks, image).status.success());
    fs::write(dir.join("report.json"), "{}\n").unwrap();
    fs::write(dir.join("statement.json"), statement_bytes(&summary(false))).unwrap();
    assert!(!sh(dir, &checks, image).status.success());

    // The policy, read back as the docs say, is the options with the digest stated.
    let policy = sh(
        dir,
        "jq -r .predicate.policy.content statement.json | base64 -d | sha256sum",
        "",
    );
    let stated = &statement(&s)["predicate"]["policy"]["digest"]["sha256"];
    assert!(
        text(&policy).starts_with(stated.as_str().unwrap()),
        "{}",
        text(&policy)
    );
}

#[test]
fn keys_openssl_writes_in_other_forms_are_refused_saying_how_to_convert() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let read = |file: &str| SigningKey::from_pem(&fs::read_to_string(dir.join(file)).unwrap());
    let ssl = |args: &str| run(dir, "openssl", &args.split(' ').collect::<Vec<_>>());

    ssl("ecparam -name prime256v1 -genkey -out sec1.pem");
    assert_eq!(read("sec1.pem").unwrap_err(), AttestError::KeySec1);
    // The conversion the error names, with KEY the file.
    ssl("pkcs8 -topk8 -nocrypt -in sec1.pem -out sec1.pem.pk8");
    assert_eq!(read("sec1.pem.pk8").unwrap().algorithm(), ECDSA_P256);

    ssl("pkcs8 -topk8 -in sec1.pem.pk8 -passout pass:secret -out encrypted.pem");
    assert_eq!(
        read("encrypted.pem").unwrap_err(),
        AttestError::KeyEncrypted
    );
    ssl("pkcs8 -in encrypted.pem -passin pass:secret -out plain.pem");
    assert_eq!(read("plain.pem").unwrap().algorithm(), ECDSA_P256);

    for (args, algorithm) in [
        ("-algorithm RSA -pkeyopt rsa_keygen_bits:2048", "RSA"),
        (
            "-algorithm EC -pkeyopt ec_paramgen_curve:P-521",
            "ECDSA P-521",
        ),
        ("-algorithm ED448", "Ed448"),
    ] {
        ssl(&format!("genpkey {args} -out other.pem"));
        let expected = AttestError::KeyUnsupported {
            algorithm: algorithm.to_owned(),
        };
        assert_eq!(read("other.pem").unwrap_err(), expected);
    }
    ssl("pkey -in plain.pem -pubout -out pub.pem");
    assert_eq!(
        read("pub.pem").unwrap_err(),
        AttestError::KeyPemLabel("PUBLIC KEY".to_owned())
    );
}

/// cosign is no Debian package, so this runs on demand:
/// `go install github.com/sigstore/cosign/v2/cmd/cosign@latest`, then
/// `cargo test -p ocidiff-core --lib attest -- --ignored`. cosign hashes every ECDSA signature
/// with SHA-256, so it refuses P-384 keys' (SHA-384) signatures, as docs/verify.md says.
#[test]
#[ignore = "needs cosign on PATH"]
fn cosign_verifies_as_documented() {
    assert!(on_path("cosign"), "cosign is not on PATH");
    let s = summary(true);
    let cosign = doc_block("cosign");
    for algorithm in [ECDSA_P256, ED25519, ECDSA_P384] {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let key = openssl_key(dir, algorithm);
        fs::write(dir.join("pub.pem"), key.public_key_pem()).unwrap();
        let attestation = file_bytes(&s, Some(&key)).unwrap();
        fs::write(dir.join("attestation.json"), &attestation).unwrap();
        let out = sh(dir, &cosign, s.subject_digest.hex());
        let verified = out.status.success();
        assert_eq!(
            verified,
            algorithm != ECDSA_P384,
            "{algorithm}: {}",
            text(&out)
        );
        // The subject check is a check.
        let out = sh(dir, &cosign, &"0".repeat(64));
        assert!(!out.status.success(), "{algorithm}: {}", text(&out));
    }
}
