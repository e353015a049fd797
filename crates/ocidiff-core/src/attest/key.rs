//! The signing key: a PKCS#8 PEM private key read by hand (one base64 block, no PEM crate) and
//! signed with through `ring`, which the registry client's TLS already builds.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair as _,
};

use super::AttestError;

/// The name of ECDSA on P-256 with SHA-256, as [`SigningKey::algorithm`] and errors say it.
pub const ECDSA_P256: &str = "ECDSA P-256";
/// The name of ECDSA on P-384 with SHA-384.
pub const ECDSA_P384: &str = "ECDSA P-384";
/// The name of Ed25519.
pub const ED25519: &str = "Ed25519";

/// The DER of a P-256 `SubjectPublicKeyInfo` up to the uncompressed point (0x04, X, Y).
const SPKI_P256: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// The DER of a P-384 `SubjectPublicKeyInfo` up to the uncompressed point.
const SPKI_P384: &[u8] = &[
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
];
/// The DER of an Ed25519 `SubjectPublicKeyInfo` up to the 32-byte key.
const SPKI_ED25519: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A private key that signs attestations: ECDSA P-256 (SHA-256), ECDSA P-384 (SHA-384) or
/// Ed25519, the kinds openssl, cosign and the DSSE tools verify alike.
#[derive(Debug)]
pub struct SigningKey {
    pair: Pair,
    algorithm: &'static str,
    spki_prefix: &'static [u8],
}

#[derive(Debug)]
enum Pair {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl SigningKey {
    /// Reads a PKCS#8 private key in PEM (`-----BEGIN PRIVATE KEY-----`, what
    /// `openssl genpkey` writes). Other PEM forms fail with an error that says how to convert
    /// them; keys of other algorithms (RSA…) fail naming the algorithm.
    pub fn from_pem(text: &str) -> Result<SigningKey, AttestError> {
        let blocks = pem_blocks(text);
        if let Some((_, body)) = blocks.iter().find(|(label, _)| *label == "PRIVATE KEY") {
            let der = STANDARD
                .decode(body)
                .map_err(|e| AttestError::KeyBase64(e.to_string()))?;
            return SigningKey::from_pkcs8(&der);
        }
        // `openssl ecparam -genkey` writes an EC PARAMETERS block before the key.
        let key = blocks
            .iter()
            .find(|(label, _)| label.ends_with("PRIVATE KEY"))
            .or(blocks.first());
        Err(match key.map(|(label, _)| *label) {
            None => AttestError::KeyNotPem,
            Some("EC PRIVATE KEY") => AttestError::KeySec1,
            Some("ENCRYPTED PRIVATE KEY") => AttestError::KeyEncrypted,
            Some("RSA PRIVATE KEY") => AttestError::KeyUnsupported {
                algorithm: "RSA".to_owned(),
            },
            Some(label) => AttestError::KeyPemLabel(label.to_owned()),
        })
    }

    /// Reads a PKCS#8 `PrivateKeyInfo` (DER), trying each supported algorithm in turn.
    fn from_pkcs8(der: &[u8]) -> Result<SigningKey, AttestError> {
        let rng = SystemRandom::new();
        let ecdsa = |pair, algorithm, spki_prefix| SigningKey {
            pair: Pair::Ecdsa(pair),
            algorithm,
            spki_prefix,
        };
        let p256 = match EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng) {
            Ok(pair) => return Ok(ecdsa(pair, ECDSA_P256, SPKI_P256)),
            Err(rejected) => rejected,
        };
        let p384 = match EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, der, &rng) {
            Ok(pair) => return Ok(ecdsa(pair, ECDSA_P384, SPKI_P384)),
            Err(rejected) => rejected,
        };
        let ed25519 = match Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            Ok(pair) => {
                return Ok(SigningKey {
                    pair: Pair::Ed25519(pair),
                    algorithm: ED25519,
                    spki_prefix: SPKI_ED25519,
                });
            }
            Err(rejected) => rejected,
        };
        // No constructor took it: name what it is, for the error.
        let algorithm = algorithm_of(der).ok_or(AttestError::KeyNotPkcs8)?;
        let rejected = match algorithm.as_str() {
            ECDSA_P256 => p256,
            ECDSA_P384 => p384,
            ED25519 => ed25519,
            _ => return Err(AttestError::KeyUnsupported { algorithm }),
        };
        Err(AttestError::KeyRejected {
            algorithm,
            reason: rejected.to_string(),
        })
    }

    /// The key's algorithm ([`ECDSA_P256`], [`ECDSA_P384`] or [`ED25519`]), for messages and
    /// for picking the matching verification command.
    pub fn algorithm(&self) -> &'static str {
        self.algorithm
    }

    /// The public key as a PEM `SubjectPublicKeyInfo` (`-----BEGIN PUBLIC KEY-----`), the form
    /// `openssl` and `cosign` take to verify what this key signed.
    pub fn public_key_pem(&self) -> String {
        let point = match &self.pair {
            Pair::Ecdsa(pair) => pair.public_key().as_ref(),
            Pair::Ed25519(pair) => pair.public_key().as_ref(),
        };
        let mut der = self.spki_prefix.to_vec();
        der.extend_from_slice(point);
        let encoded = STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        // Base64 is ASCII, so every 64-byte chunk is a whole line of text.
        for line in encoded.as_bytes().chunks(64) {
            let _ = writeln!(pem, "{}", String::from_utf8_lossy(line));
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// Signs `message`: for ECDSA the ASN.1 DER signature over its SHA-256 (P-256) or SHA-384
    /// (P-384) hash, which `openssl dgst -verify` and cosign check; for Ed25519 the 64-byte
    /// signature over the message itself.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AttestError> {
        match &self.pair {
            Pair::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| AttestError::Sign {
                    algorithm: self.algorithm,
                }),
            Pair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// The PEM blocks of `text`: each label (`PRIVATE KEY`) with its base64 body joined into one
/// line. A block without its END line is no block.
fn pem_blocks(text: &str) -> Vec<(&str, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(&str, String)> = None;
    for line in text.lines().map(str::trim) {
        let armor = |kind: &str| {
            line.strip_prefix("-----")
                .and_then(|l| l.strip_prefix(kind))
                .and_then(|l| l.strip_suffix("-----"))
        };
        match open.take() {
            None => open = armor("BEGIN ").map(|label| (label, String::new())),
            Some((label, body)) if armor("END ") == Some(label) => blocks.push((label, body)),
            Some((label, mut body)) => {
                body.push_str(line);
                open = Some((label, body));
            }
        }
    }
    blocks
}

/// One DER element at the start of `der`: its tag, its contents and what follows it.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes.iter().fold(0, |len, &b| len << 8 | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// The algorithm a PKCS#8 `PrivateKeyInfo` names (`RSA`, `ECDSA P-521`…), so that a key no
/// constructor takes is rejected by name; `None` when `der` is no `PrivateKeyInfo`.
fn algorithm_of(der: &[u8]) -> Option<String> {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const OID: u8 = 0x06;
    let Some((SEQUENCE, info, _)) = element(der) else {
        return None;
    };
    let Some((INTEGER, _version, rest)) = element(info) else {
        return None;
    };
    let Some((SEQUENCE, identifier, _)) = element(rest) else {
        return None;
    };
    let Some((OID, oid, parameters)) = element(identifier) else {
        return None;
    };
    let named = |table: &[(&str, &'static str)], oid: &[u8]| {
        let oid = hex::encode(oid);
        table.iter().find(|(o, _)| *o == oid).map(|(_, name)| *name)
    };
    let name = if hex::encode(oid) == "2a8648ce3d0201" {
        // id-ecPublicKey: the curve is the parameter.
        match element(parameters) {
            Some((OID, curve, _)) => named(CURVES, curve).unwrap_or("ECDSA on another curve"),
            _ => "ECDSA with explicit curve parameters",
        }
    } else {
        match named(ALGORITHMS, oid) {
            Some(name) => name,
            None => return Some(format!("an unknown algorithm (OID {})", hex::encode(oid))),
        }
    };
    Some(name.to_owned())
}

/// Algorithm OIDs (DER contents, hex) a PKCS#8 key may name, other than elliptic-curve keys.
const ALGORITHMS: &[(&str, &str)] = &[
    ("2a864886f70d010101", "RSA"),
    ("2a864886f70d01010a", "RSA-PSS"),
    ("2a8648ce380401", "DSA"),
    ("2b6570", ED25519),
    ("2b6571", "Ed448"),
    ("2b656e", "X25519"),
    ("2b656f", "X448"),
];

/// Named-curve OIDs (DER contents, hex) of elliptic-curve keys.
const CURVES: &[(&str, &str)] = &[
    ("2a8648ce3d030107", ECDSA_P256),
    ("2b81040022", ECDSA_P384),
    ("2b81040023", "ECDSA P-521"),
    ("2b8104000a", "ECDSA secp256k1"),
];

#[cfg(test)]
pub(super) mod tests {
    use ring::signature::{
        ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ED25519 as ED25519_VERIFICATION,
        UnparsedPublicKey, VerificationAlgorithm,
    };

    use super::*;

    /// `der` as a PEM block labelled `label`, wrapped at 64 columns like openssl does.
    pub(crate) fn pem(label: &str, der: &[u8]) -> String {
        let encoded = STANDARD.encode(der);
        let lines: Vec<&str> = encoded
            .as_bytes()
            .chunks(64)
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    /// A fresh key of each supported kind, as PKCS#8 PEM, made by ring.
    pub(crate) fn generated_keys() -> Vec<(&'static str, String)> {
        let rng = SystemRandom::new();
        let p256 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let p384 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &rng).unwrap();
        let ed25519 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        vec![
            (ECDSA_P256, pem("PRIVATE KEY", p256.as_ref())),
            (ECDSA_P384, pem("PRIVATE KEY", p384.as_ref())),
            (ED25519, pem("PRIVATE KEY", ed25519.as_ref())),
        ]
    }

    /// The ring algorithm that checks what a key of `algorithm` signs.
    pub(crate) fn verifier(algorithm: &str) -> &'static dyn VerificationAlgorithm {
        match algorithm {
            ECDSA_P256 => &ECDSA_P256_SHA256_ASN1,
            ECDSA_P384 => &ECDSA_P384_SHA384_ASN1,
            _ => &ED25519_VERIFICATION,
        }
    }

    /// The raw public key (point or Ed25519 key) inside a PEM `SubjectPublicKeyInfo` of `key`.
    pub(crate) fn raw_public_key(key: &SigningKey) -> Vec<u8> {
        let pem = key.public_key_pem();
        let blocks = pem_blocks(&pem);
        assert_eq!(blocks.len(), 1, "{pem}");
        assert_eq!(blocks[0].0, "PUBLIC KEY");
        let der = STANDARD.decode(&blocks[0].1).unwrap();
        der.strip_prefix(key.spki_prefix).unwrap().to_vec()
    }

    #[test]
    fn every_kind_signs_what_its_public_key_verifies() {
        for (algorithm, pem) in generated_keys() {
            let key = SigningKey::from_pem(&pem).unwrap();
            assert_eq!(key.algorithm(), algorithm);
            let sig = key.sign(b"a message").unwrap();
            let public = UnparsedPublicKey::new(verifier(algorithm), raw_public_key(&key));
            public.verify(b"a message", &sig).unwrap();
            assert!(
                public.verify(b"another message", &sig).is_err(),
                "{algorithm}"
            );
        }
    }

    #[test]
    fn the_public_key_pem_is_wrapped_der_of_the_right_length() {
        for (algorithm, pem) in generated_keys() {
            let key = SigningKey::from_pem(&pem).unwrap();
            let text = key.public_key_pem();
            assert!(text.lines().all(|l| l.len() <= 64), "{text}");
            let der = STANDARD.decode(&pem_blocks(&text)[0].1).unwrap();
            // The outer SEQUENCE covers everything after its two-byte header.
            assert_eq!(usize::from(der[1]) + 2, der.len(), "{algorithm}");
            let point = raw_public_key(&key);
            let expected = match algorithm {
                ECDSA_P256 => 65,
                ECDSA_P384 => 97,
                _ => 32,
            };
            assert_eq!(point.len(), expected, "{algorithm}");
        }
    }

    /// A PKCS#8 `PrivateKeyInfo` naming `oid` (hex) with `parameters` (DER, hex): enough for
    /// the algorithm to be named, no real key inside.
    fn pkcs8_naming(oid: &str, parameters: &str) -> String {
        let oid = hex::decode(oid).unwrap();
        let mut identifier = vec![0x06, u8::try_from(oid.len()).unwrap()];
        identifier.extend(oid);
        identifier.extend(hex::decode(parameters).unwrap());
        let mut info = vec![
            0x02,
            0x01,
            0x00,
            0x30,
            u8::try_from(identifier.len()).unwrap(),
        ];
        info.extend(identifier);
        info.extend([0x04, 0x03, 0x01, 0x02, 0x03]);
        let mut der = vec![0x30, u8::try_from(info.len()).unwrap()];
        der.extend(info);
        pem("PRIVATE KEY", &der)
    }

    #[test]
    fn keys_of_other_algorithms_are_rejected_by_name() {
        let cases = [
            (pkcs8_naming("2a864886f70d010101", "0500"), "RSA"),
            (pkcs8_naming("2b6571", ""), "Ed448"),
            (
                pkcs8_naming("2a8648ce3d0201", "06052b81040023"),
                "ECDSA P-521",
            ),
            (
                pkcs8_naming("2a8648ce3d0201", "06032b0601"),
                "ECDSA on another curve",
            ),
            (
                pkcs8_naming("2a0304", ""),
                "an unknown algorithm (OID 2a0304)",
            ),
        ];
        for (pem, algorithm) in cases {
            let err = SigningKey::from_pem(&pem).unwrap_err();
            assert_eq!(
                err,
                AttestError::KeyUnsupported {
                    algorithm: algorithm.to_owned()
                }
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "the signing key is {algorithm}, which cannot sign attestations \
                     (ECDSA P-256, ECDSA P-384 and Ed25519 can)"
                )
            );
        }
    }

    #[test]
    fn a_broken_key_of_a_supported_algorithm_says_why() {
        let err = SigningKey::from_pem(&pkcs8_naming("2a8648ce3d0201", "06082a8648ce3d030107"))
            .unwrap_err();
        let AttestError::KeyRejected { algorithm, reason } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(algorithm, ECDSA_P256);
        assert!(!reason.is_empty());
        assert!(!err.to_string().contains('\n'));
    }

    #[test]
    fn other_pem_forms_say_how_to_convert() {
        let body = "MHcCAQEEIB\n";
        let block = |label: &str| format!("-----BEGIN {label}-----\n{body}-----END {label}-----\n");
        let sec1 = format!("{}{}", block("EC PARAMETERS"), block("EC PRIVATE KEY"));
        let cases = [
            (sec1, AttestError::KeySec1),
            (block("ENCRYPTED PRIVATE KEY"), AttestError::KeyEncrypted),
            (
                block("RSA PRIVATE KEY"),
                AttestError::KeyUnsupported {
                    algorithm: "RSA".to_owned(),
                },
            ),
            (
                block("PUBLIC KEY"),
                AttestError::KeyPemLabel("PUBLIC KEY".to_owned()),
            ),
            ("not a key at all".to_owned(), AttestError::KeyNotPem),
            // A BEGIN line without its END is no PEM either.
            (
                "-----BEGIN PRIVATE KEY-----\nMHcC\n".to_owned(),
                AttestError::KeyNotPem,
            ),
            (
                block("PRIVATE KEY").replace("MHcC", "M*cC"),
                AttestError::KeyBase64("Invalid symbol 42, offset 1.".to_owned()),
            ),
            (
                "-----BEGIN PRIVATE KEY-----\naGVsbG8=\n-----END PRIVATE KEY-----".to_owned(),
                AttestError::KeyNotPkcs8,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(SigningKey::from_pem(&text).unwrap_err(), expected, "{text}");
        }
        let sec1 = AttestError::KeySec1.to_string();
        assert!(
            sec1.contains("openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8"),
            "{sec1}"
        );
        let encrypted = AttestError::KeyEncrypted.to_string();
        assert!(
            encrypted.contains("openssl pkcs8 -in KEY -out plain.pem"),
            "{encrypted}"
        );
    }

    #[test]
    fn der_lengths_in_long_form_are_read() {
        let mut der = vec![0x04, 0x81, 0x80];
        der.extend([7; 0x80]);
        der.push(0xff);
        let (tag, contents, rest) = element(&der).unwrap();
        assert_eq!((tag, contents.len(), rest), (0x04, 0x80, &[0xff][..]));
        assert_eq!(element(&[0x04, 0x82, 0x01]), None);
        assert_eq!(element(&[0x04, 0x80]), None);
        assert_eq!(element(&[0x04, 0x02, 0x01]), None);
    }
}
