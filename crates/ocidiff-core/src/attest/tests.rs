use ring::signature::UnparsedPublicKey;
use sha2::Digest as _;

use super::key::tests::{generated_keys, raw_public_key, verifier};
use super::*;

pub(super) fn summary(passed: bool) -> Summary {
    Summary {
        subject_name: "registry.example/app:1.0".to_owned(),
        subject_digest: Digest::sha256_of(b"manifest"),
        verifier_version: "0.1.0".to_owned(),
        time: "2025-03-04T05:06:07.891Z".parse().unwrap(),
        policy: json!({"level": "semantic", "ignore": ["timestamps"], "platform": "linux/amd64"}),
        level: "semantic".to_owned(),
        passed,
        report: Resource {
            name: "report.json".to_owned(),
            digest: Digest::sha256_of(b"{}\n"),
        },
        rebuild: json!({"builder": "docker", "commit": "0123abc", "platform": "linux/amd64"}),
    }
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn a_passed_check_states_its_level() {
    let s = summary(true);
    let st = statement(&s);
    assert_eq!(
        keys(&st),
        ["_type", "subject", "predicateType", "predicate"]
    );
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        st["subject"],
        json!([{"name": "registry.example/app:1.0", "digest": {"sha256": s.subject_digest.hex()}}])
    );
    assert_eq!(
        st["predicateType"],
        "https://slsa.dev/verification_summary/v1"
    );
    let p = &st["predicate"];
    assert_eq!(
        keys(p),
        [
            "verifier",
            "timeVerified",
            "resourceUri",
            "policy",
            "inputAttestations",
            "verificationResult",
            "verifiedLevels",
            "slsaVersion",
            "https://example.invalid/ocidiff/verify/v1",
        ]
    );
    assert_eq!(
        p["verifier"],
        json!({"id": "https://example.invalid/ocidiff", "version": {"ocidiff": "0.1.0"}})
    );
    assert_eq!(p["timeVerified"], "2025-03-04T05:06:07Z");
    assert_eq!(p["resourceUri"], "registry.example/app:1.0");
    assert_eq!(
        keys(&p["policy"]),
        ["uri", "digest", "mediaType", "content"]
    );
    assert_eq!(
        p["policy"]["uri"],
        "https://example.invalid/ocidiff/blob/main/docs/verify.md#policy"
    );
    assert_eq!(p["policy"]["mediaType"], "application/json");
    assert_eq!(p["inputAttestations"], json!([]));
    assert_eq!(p["verificationResult"], "PASSED");
    assert_eq!(p["verifiedLevels"], json!(["OCIDIFF_REBUILD_SEMANTIC"]));
    assert_eq!(p["slsaVersion"], "1.1");
    assert_eq!(
        p[EXTENSION_URI],
        json!({
            "report": {"name": "report.json", "digest": {"sha256": s.report.digest.hex()}},
            "rebuild": {"builder": "docker", "commit": "0123abc", "platform": "linux/amd64"},
        })
    );
}

#[test]
fn a_failed_check_states_failed() {
    let st = statement(&summary(false));
    let p = &st["predicate"];
    assert_eq!(p["verificationResult"], "FAILED");
    assert_eq!(p["verifiedLevels"], json!(["FAILED"]));
    // The rest says what was checked, as for a pass.
    let mut passed = statement(&summary(true));
    passed["predicate"]["verificationResult"] = json!("FAILED");
    passed["predicate"]["verifiedLevels"] = json!(["FAILED"]);
    assert_eq!(st, passed);
}

#[test]
fn the_policy_digest_is_of_the_decoded_content() {
    let st = statement(&summary(true));
    let policy = &st["predicate"]["policy"];
    let content = STANDARD
        .decode(policy["content"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        policy["digest"],
        json!({"sha256": hex::encode(sha2::Sha256::digest(&content))})
    );
    // The content is the policy, compact, in the order the caller gave.
    assert_eq!(
        content,
        br#"{"level":"semantic","ignore":["timestamps"],"platform":"linux/amd64"}"#
    );
}

#[test]
fn digests_are_keyed_by_their_algorithm() {
    let sha512: Digest = format!("sha512:{}", "ab".repeat(64)).parse().unwrap();
    let mut s = summary(true);
    s.subject_digest = sha512.clone();
    s.report.digest = sha512;
    let st = statement(&s);
    assert_eq!(
        st["subject"][0]["digest"],
        json!({"sha512": "ab".repeat(64)})
    );
    assert_eq!(
        st["predicate"][EXTENSION_URI]["report"]["digest"],
        json!({"sha512": "ab".repeat(64)})
    );
}

#[test]
fn levels_are_custom_names_outside_slsa() {
    assert_eq!(level_name("strict"), "OCIDIFF_REBUILD_STRICT");
    assert_eq!(level_name("semantic-2"), "OCIDIFF_REBUILD_SEMANTIC_2");
    let mut s = summary(true);
    s.level = "strict".to_owned();
    let levels = &statement(&s)["predicate"]["verifiedLevels"];
    assert_eq!(*levels, json!(["OCIDIFF_REBUILD_STRICT"]));
}

#[test]
fn an_unsigned_file_is_the_pretty_statement() {
    let s = summary(true);
    let bytes = file_bytes(&s, None).unwrap();
    assert_eq!(bytes, statement_bytes(&s));
    assert!(bytes.ends_with(b"}\n"));
    assert!(bytes.starts_with(b"{\n  \"_type\""));
    let parsed: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(parsed, statement(&s));
}

#[test]
fn a_signed_file_is_an_envelope_of_the_unsigned_one() {
    let s = summary(true);
    for (algorithm, pem) in generated_keys() {
        let key = SigningKey::from_pem(&pem).unwrap();
        let bytes = file_bytes(&s, Some(&key)).unwrap();
        assert!(bytes.ends_with(b"}\n"));
        let env: Value = serde_json::from_slice(&bytes).unwrap();
        let payload = STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload, statement_bytes(&s));
        let sig = STANDARD
            .decode(env["signatures"][0]["sig"].as_str().unwrap())
            .unwrap();
        UnparsedPublicKey::new(verifier(algorithm), raw_public_key(&key))
            .verify(&pae(PAYLOAD_TYPE, &payload), &sig)
            .unwrap();
    }
}
