//! What `ocidiff verify` tells others: the attestation file (an in-toto statement with a SLSA
//! verification summary, signed as a DSSE envelope with a key) and the advice printed after a
//! failed verification.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context as _;
use ocidiff_core::attest::{self, Resource, SigningKey, Summary};
use ocidiff_core::finding::Findings;
use ocidiff_core::model::Digest;

use super::verify::Verified;

/// The key `--signing-key` names, read before the build so that a bad key fails first.
pub fn signing_key(path: Option<&Path>) -> anyhow::Result<Option<SigningKey>> {
    let Some(path) = path else { return Ok(None) };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading signing key {}", path.display()))?;
    let key =
        SigningKey::from_pem(&text).with_context(|| format!("signing key {}", path.display()))?;
    Ok(Some(key))
}

/// The attestation file's bytes for `verified`, whose JSON report `report` is (or is about to
/// be) written at `report_path`: the digest is of those very bytes.
pub fn document(
    verified: &Verified,
    report_path: &Path,
    report: &[u8],
    key: Option<&SigningKey>,
) -> anyhow::Result<Vec<u8>> {
    let summary = Summary {
        subject_name: verified.subject.0.clone(),
        subject_digest: verified.subject.1.clone(),
        verifier_version: env!("CARGO_PKG_VERSION").to_owned(),
        time: jiff::Timestamp::now(),
        policy: verified.policy.clone(),
        level: verified.level.to_owned(),
        passed: verified.passed(),
        report: Resource {
            name: report_path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            digest: Digest::sha256_of(report),
        },
        rebuild: verified.rebuild.clone(),
    };
    Ok(attest::file_bytes(&summary, key)?)
}

/// After a verdict that counts differences: each distinct advice of the counted findings, and
/// the package pins that reproduce input 0, on stdout.
pub fn print_advice(report: &Findings) {
    let advice: BTreeSet<&str> = report
        .findings
        .iter()
        .filter(|f| f.counted)
        .filter_map(|f| f.advice.as_deref())
        .collect();
    let pins = ocidiff_core::finding::pins(report);
    if advice.is_empty() && pins.is_empty() {
        return;
    }
    println!("\nHow to make the rebuild match:");
    for line in advice {
        println!("  - {line}");
    }
    for pin in pins {
        println!("  - {pin}");
    }
}
