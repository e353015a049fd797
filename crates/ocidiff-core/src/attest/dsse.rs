//! The DSSE v1 envelope (<https://github.com/secure-systems-lab/dsse>) that carries a signed
//! statement: what cosign and the in-toto tools read.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{AttestError, SigningKey};

/// The payload type of an in-toto statement in a DSSE envelope.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The DSSE v1 pre-authentication encoding, the bytes a signature covers:
/// `DSSEv1 LEN(type) type LEN(body) body`, lengths in ASCII decimal bytes. Signing these rather
/// than the payload alone binds the payload type into the signature.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope holding `statement` (an in-toto statement's bytes, kept as they are) with one
/// signature by `key` over [`pae`] of it; `keyid` is left empty, as cosign does for a key file.
pub fn envelope(statement: &[u8], key: &SigningKey) -> Result<Value, AttestError> {
    let sig = key.sign(&pae(PAYLOAD_TYPE, statement))?;
    Ok(json!({
        "payloadType": PAYLOAD_TYPE,
        "payload": STANDARD.encode(statement),
        "signatures": [{"keyid": "", "sig": STANDARD.encode(sig)}],
    }))
}

#[cfg(test)]
mod tests {
    use ring::signature::UnparsedPublicKey;

    use super::super::key::tests::{generated_keys, raw_public_key, verifier};
    use super::*;

    #[test]
    fn pae_matches_the_spec_vector() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
        // Lengths count bytes, not characters.
        assert_eq!(pae("t", "é".as_bytes()), "DSSEv1 1 t 2 é".as_bytes());
    }

    #[test]
    fn the_envelope_carries_the_statement_and_a_signature_over_its_pae() {
        let statement = br#"{"_type":"https://in-toto.io/Statement/v1"}"#;
        for (algorithm, pem) in generated_keys() {
            let key = SigningKey::from_pem(&pem).unwrap();
            let env = envelope(statement, &key).unwrap();
            let fields: Vec<&String> = env.as_object().unwrap().keys().collect();
            assert_eq!(fields, ["payloadType", "payload", "signatures"]);
            assert_eq!(env["payloadType"], PAYLOAD_TYPE);
            let payload = STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
            assert_eq!(payload, statement);
            let signatures = env["signatures"].as_array().unwrap();
            assert_eq!(signatures.len(), 1);
            assert_eq!(signatures[0]["keyid"], "");
            let sig = STANDARD
                .decode(signatures[0]["sig"].as_str().unwrap())
                .unwrap();
            let public = UnparsedPublicKey::new(verifier(algorithm), raw_public_key(&key));
            public.verify(&pae(PAYLOAD_TYPE, statement), &sig).unwrap();
            // The signature is over the encoding, not the bare statement.
            assert!(public.verify(statement, &sig).is_err(), "{algorithm}");
        }
    }
}
