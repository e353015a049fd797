//! Attestations of a rebuild check: `ocidiff verify` rebuilds a published image, compares the
//! two, and records the outcome as an in-toto Statement v1 whose predicate is a SLSA
//! Verification Summary v1 (VSA), optionally signed into a DSSE envelope, so that anyone can
//! check it with openssl, cosign or jq alone (`docs/verify.md`).
//!
//! Pure functions: the caller gathers the facts into a [`Summary`] and writes the bytes
//! [`file_bytes`] returns.

mod dsse;
mod key;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::model::Digest;

pub use dsse::{PAYLOAD_TYPE, envelope, pae};
pub use key::{ECDSA_P256, ECDSA_P384, ED25519, SigningKey};

/// The in-toto statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of a SLSA Verification Summary v1, what `cosign --type` names.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/verification_summary/v1";
/// Who verified: the project's repository, per the VSA's `verifier.id`.
pub const VERIFIER_ID: &str = env!("CARGO_PKG_REPOSITORY");
/// Where the policy (the options of the check) is described, the VSA's `policy.uri`.
pub const POLICY_URI: &str = concat!(
    env!("CARGO_PKG_REPOSITORY"),
    "/blob/main/docs/verify.md#policy"
);
/// The predicate field holding what the VSA has no field for (the report, the rebuild): a VSA's
/// extension fields must be named by URIs.
pub const EXTENSION_URI: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/verify/v1");

/// Why an attestation cannot be made: all about the signing key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttestError {
    /// No PEM block in the key file.
    #[error("the signing key is not PEM: expected a -----BEGIN PRIVATE KEY----- block (PKCS#8)")]
    KeyNotPem,
    /// A SEC1 key (`BEGIN EC PRIVATE KEY`, what `openssl ecparam -genkey` writes).
    #[error(
        "the signing key is a SEC1 EC key (BEGIN EC PRIVATE KEY), not PKCS#8: convert it with \
         `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8`"
    )]
    KeySec1,
    /// A passphrase-protected PKCS#8 key, which would need a prompt.
    #[error(
        "the signing key is encrypted (BEGIN ENCRYPTED PRIVATE KEY): decrypt it with \
         `openssl pkcs8 -in KEY -out plain.pem`"
    )]
    KeyEncrypted,
    /// A PEM block of something else (its label, such as `PUBLIC KEY` or `CERTIFICATE`).
    #[error("the signing key file holds a {0} block, not a PRIVATE KEY (PKCS#8)")]
    KeyPemLabel(String),
    /// The body of the PEM block is not base64 (the decoder's message).
    #[error("the signing key's PEM body is not base64: {0}")]
    KeyBase64(String),
    /// The PEM body is no PKCS#8 `PrivateKeyInfo`.
    #[error("the signing key is not a PKCS#8 private key: its DER does not parse")]
    KeyNotPkcs8,
    /// A key of an algorithm that cannot sign attestations (named: `RSA`, `ECDSA P-521`…).
    #[error(
        "the signing key is {algorithm}, which cannot sign attestations (ECDSA P-256, ECDSA \
         P-384 and Ed25519 can)"
    )]
    KeyUnsupported {
        /// The key's algorithm, as far as it could be told.
        algorithm: String,
    },
    /// A key of a supported algorithm that ring refuses (its reason, such as `InvalidEncoding`).
    #[error("the signing key ({algorithm}) is invalid: {reason}")]
    KeyRejected {
        /// The key's algorithm.
        algorithm: String,
        /// Why ring rejected it.
        reason: String,
    },
    /// The signature could not be made (a failing random number generator).
    #[error("signing with the {algorithm} key failed")]
    Sign {
        /// The key's algorithm.
        algorithm: &'static str,
    },
}

/// A file by name and digest, for the report that the verdict rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The name it is published under (a file name or a URI).
    pub name: String,
    /// The digest of its bytes, so that a copy can be checked against the attestation.
    pub digest: Digest,
}

/// Everything an attestation says: the facts `ocidiff verify` gathered.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The published image, as the user named it (the statement's subject and `resourceUri`).
    pub subject_name: String,
    /// The published image's manifest digest: what the attestation is about.
    pub subject_digest: Digest,
    /// The version of ocidiff that checked.
    pub verifier_version: String,
    /// When the check ran (written in whole seconds, UTC).
    pub time: jiff::Timestamp,
    /// The options of the check as JSON, embedded whole so that the verdict can be reproduced.
    pub policy: Value,
    /// How closely the images had to match (`semantic`, `strict`…), named in `verifiedLevels`.
    pub level: String,
    /// Whether the rebuild matched the published image at that level.
    pub passed: bool,
    /// The comparison report.
    pub report: Resource,
    /// What was built: builder, context, commit, dockerfile, build args, platform, rebuilt
    /// digest; recorded as given.
    pub rebuild: Value,
}

/// The in-toto statement of `summary`: the published image as the subject, a SLSA Verification
/// Summary v1 as the predicate, with the report and the rebuild under [`EXTENSION_URI`].
pub fn statement(summary: &Summary) -> Value {
    // A Value prints as compact JSON, its objects in insertion order (`preserve_order`).
    let policy = summary.policy.to_string();
    let levels = if summary.passed {
        vec![level_name(&summary.level)]
    } else {
        vec!["FAILED".to_owned()]
    };
    let mut predicate = json!({
        "verifier": {"id": VERIFIER_ID, "version": {"ocidiff": summary.verifier_version}},
        "timeVerified": summary.time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "resourceUri": summary.subject_name,
        "policy": {
            "uri": POLICY_URI,
            "digest": digest_set(&Digest::sha256_of(policy.as_bytes())),
            "mediaType": "application/json",
            "content": STANDARD.encode(&policy),
        },
        "inputAttestations": [],
        "verificationResult": if summary.passed { "PASSED" } else { "FAILED" },
        "verifiedLevels": levels,
        "slsaVersion": "1.1",
    });
    predicate[EXTENSION_URI] = json!({
        "report": {"name": summary.report.name, "digest": digest_set(&summary.report.digest)},
        "rebuild": summary.rebuild,
    });
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{
            "name": summary.subject_name,
            "digest": digest_set(&summary.subject_digest),
        }],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    })
}

/// The statement as a file holds it: pretty JSON and a final newline. These are also the bytes
/// a signed envelope carries, so an envelope's decoded payload is the unsigned file.
pub fn statement_bytes(summary: &Summary) -> Vec<u8> {
    pretty(&statement(summary))
}

/// The attestation file for `summary`, ready to write: the statement itself, or with `key` the
/// DSSE envelope of it signed by `key`.
pub fn file_bytes(summary: &Summary, key: Option<&SigningKey>) -> Result<Vec<u8>, AttestError> {
    let statement = statement_bytes(summary);
    match key {
        None => Ok(statement),
        Some(key) => Ok(pretty(&envelope(&statement, key)?)),
    }
}

/// `level` as a custom `verifiedLevels` entry: `OCIDIFF_REBUILD_` and the level upper-cased,
/// other characters than letters and digits as `_` (the spec reserves only the `SLSA_` prefix).
fn level_name(level: &str) -> String {
    let level: String = level
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("OCIDIFF_REBUILD_{level}")
}

/// An in-toto digest set: `{"sha256": hex}`, keyed by the algorithm's name.
fn digest_set(digest: &Digest) -> Value {
    let mut set = Map::new();
    set.insert(
        digest.algorithm().as_str().to_owned(),
        Value::from(digest.hex()),
    );
    Value::Object(set)
}

/// `value` as pretty JSON with a final newline, as files are written.
fn pretty(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("a JSON value serialises");
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod interop;
#[cfg(test)]
mod tests;
