//! JSON documents read as Go's `encoding/json` reads them, or refused.
//!
//! Every container runtime decodes manifests, indexes and configs with Go's `encoding/json`,
//! which reads some documents differently from serde: it matches an object key to a struct
//! field regardless of case when no field has exactly that name (`"user"` sets `User`), and it
//! decodes a repeated key again into the same place (a second `"config"` object is merged into
//! the first, a second `"Labels"` map adds to it, a repeated string wins). Go's own writers
//! never produce such documents, so instead of imitating the merging ocidiff refuses them:
//! [`check`] walks a document against a [`Shape`] of the Go structs runtimes decode it into
//! and fails on the first duplicate key (in any object, at any depth), on a key that Go would
//! fold onto a field, and on a value Go would fail to decode into its field.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt::{self, Write as _};

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// What Go decodes a JSON value into.
///
/// Formats inside strings (RFC 3339 times, base64 `data`, digests) are not checked here: the
/// values are compared as written, and digests are validated where ocidiff reads them.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// A value Go does not decode (an unknown field, a `json.RawMessage`): anything goes,
    /// but its objects are still checked for duplicate keys, which ocidiff's own comparison
    /// of the raw JSON would otherwise collapse.
    Any,
    /// A Go string (also `time.Time`, `digest.Digest`, `[]byte`).
    Str,
    /// A JSON `true` or `false`.
    Bool,
    /// A Go `int` or `int64`: an integer literal within `i64`.
    Int,
    /// A Go slice.
    List(&'static Shape),
    /// A Go map with string keys: keys are taken as written, any key is allowed.
    Map(&'static Shape),
    /// A Go struct: its fields' JSON names.
    Struct(&'static [(&'static str, Shape)]),
}

use Shape::{Any, Bool, Int, List, Map, Str, Struct};

// The schemas below mirror the Go types runtimes decode each document into, as a union of
// their field sets: image-spec `specs-go/v1` (v1.1), moby `daemon/internal/image`
// (`Image`, `V1Image`) and `api/types/container.Config` (moby 28), moby's
// `docker-image-spec` (`DockerOCIImage`), distribution's schema-2 manifest and manifest list,
// containerd's `core/images` media-type probe, and moby's `tarexport` `manifestItem`.
// No two field names of one struct fold to the same name (a unit test checks), so a key that
// folds onto any of them is ambiguous for at least one runtime.

const STRINGS: Shape = List(&Str);
const STRING_MAP: Shape = Map(&Str);
/// `map[string]struct{}` (`ExposedPorts`, `Volumes`): the values are empty structs.
const SET: Shape = Map(&Struct(&[]));

/// image-spec `Platform`.
const PLATFORM: Shape = Struct(&[
    ("architecture", Str),
    ("os", Str),
    ("os.version", Str),
    ("os.features", STRINGS),
    ("variant", Str),
]);

/// image-spec `Descriptor` (distribution's is a subset).
const DESCRIPTOR: Shape = Struct(&[
    ("mediaType", Str),
    ("digest", Str),
    ("size", Int),
    ("urls", STRINGS),
    ("annotations", STRING_MAP),
    ("data", Str),
    ("platform", PLATFORM),
    ("artifactType", Str),
]);

/// An index entry: a descriptor whose platform may also be a Docker manifest list's
/// `PlatformSpec`, which has `features`.
const ENTRY: Shape = Struct(&[
    ("mediaType", Str),
    ("digest", Str),
    ("size", Int),
    ("urls", STRINGS),
    ("annotations", STRING_MAP),
    ("data", Str),
    (
        "platform",
        Struct(&[
            ("architecture", Str),
            ("os", Str),
            ("os.version", Str),
            ("os.features", STRINGS),
            ("variant", Str),
            ("features", STRINGS),
        ]),
    ),
    ("artifactType", Str),
]);

/// A manifest or an index, OCI or Docker: one schema for both because containerd decodes
/// every such document into a probe holding `config`, `layers`, `manifests` and `fsLayers`
/// before it decodes it as what its descriptor says it is.
pub const DOCUMENT: Shape = Struct(&[
    ("schemaVersion", Int),
    ("mediaType", Str),
    ("artifactType", Str),
    ("config", DESCRIPTOR),
    ("layers", List(&DESCRIPTOR)),
    ("manifests", List(&ENTRY)),
    ("subject", DESCRIPTOR),
    ("annotations", STRING_MAP),
    ("fsLayers", Any),
]);

/// moby `container.Config` ∪ image-spec `ImageConfig` ∪ docker-image-spec's extensions.
const CONTAINER_CONFIG: Shape = Struct(&[
    ("Hostname", Str),
    ("Domainname", Str),
    ("User", Str),
    ("AttachStdin", Bool),
    ("AttachStdout", Bool),
    ("AttachStderr", Bool),
    ("ExposedPorts", SET),
    ("Tty", Bool),
    ("OpenStdin", Bool),
    ("StdinOnce", Bool),
    ("Env", STRINGS),
    ("Cmd", STRINGS),
    (
        "Healthcheck",
        Struct(&[
            ("Test", STRINGS),
            ("Interval", Int),
            ("Timeout", Int),
            ("StartPeriod", Int),
            ("StartInterval", Int),
            ("Retries", Int),
        ]),
    ),
    ("ArgsEscaped", Bool),
    ("Image", Str),
    ("Volumes", SET),
    ("WorkingDir", Str),
    ("Entrypoint", STRINGS),
    ("NetworkDisabled", Bool),
    ("MacAddress", Str),
    ("OnBuild", STRINGS),
    ("Labels", STRING_MAP),
    ("StopSignal", Str),
    ("StopTimeout", Int),
    ("Shell", STRINGS),
]);

/// An image config: image-spec `Image` ∪ moby `Image` (with `V1Image`).
pub const IMAGE_CONFIG: Shape = Struct(&[
    ("created", Str),
    ("author", Str),
    ("architecture", Str),
    ("os", Str),
    ("os.version", Str),
    ("os.features", STRINGS),
    ("variant", Str),
    ("config", CONTAINER_CONFIG),
    ("rootfs", Struct(&[("type", Str), ("diff_ids", STRINGS)])),
    (
        "history",
        List(&Struct(&[
            ("created", Str),
            ("created_by", Str),
            ("author", Str),
            ("comment", Str),
            ("empty_layer", Bool),
        ])),
    ),
    ("id", Str),
    ("parent", Str),
    ("comment", Str),
    ("container", Str),
    ("container_config", CONTAINER_CONFIG),
    ("docker_version", Str),
    ("Size", Int),
]);

/// `docker save`'s `manifest.json`.
pub const DOCKER_SAVE_MANIFEST: Shape = List(&Struct(&[
    ("Config", Str),
    ("RepoTags", STRINGS),
    ("Layers", STRINGS),
    ("Parent", Str),
    ("LayerSources", Map(&DESCRIPTOR)),
]));

/// `docker save`'s `repositories`: repository → tag → layer ID.
pub const DOCKER_SAVE_REPOSITORIES: Shape = Map(&STRING_MAP);

/// An OCI layout's `oci-layout` file.
pub const OCI_LAYOUT: Shape = Struct(&[("imageLayoutVersion", Str)]);

/// Why a document is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GoJsonError {
    /// Not JSON at all.
    #[error("malformed JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// An object with the same key twice.
    #[error(
        "key {path} appears twice; Go's encoding/json would merge the two or keep the last, \
         so ocidiff refuses the ambiguous document"
    )]
    Duplicate {
        /// Where, as a path from the document's root.
        path: String,
    },
    /// A key that matches a known field only when case is ignored, as Go matches it.
    #[error(
        "key {path}: Go's encoding/json reads it as {field:?} (it matches field names \
         regardless of case), so ocidiff refuses the ambiguous document"
    )]
    Folded {
        /// Where, as a path from the document's root.
        path: String,
        /// The field Go would read it as.
        field: &'static str,
    },
    /// A value of a JSON type Go cannot decode into the field.
    #[error("{path} is {found} where Go's encoding/json expects {expected}; runtimes refuse it")]
    Type {
        /// Where, as a path from the document's root.
        path: String,
        /// The JSON type found.
        found: &'static str,
        /// The JSON type Go expects there.
        expected: &'static str,
    },
}

/// Checks `bytes` against `shape` (see the module documentation).
pub fn check(bytes: &[u8], shape: &'static Shape) -> Result<(), GoJsonError> {
    let refusal = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let walked = Walk {
        shape,
        step: Step::Root,
        parent: None,
        refusal: &refusal,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    match (refusal.into_inner(), walked) {
        (Some(refused), _) => Err(refused),
        (None, Err(e)) => Err(GoJsonError::Json(e)),
        (None, Ok(())) => Ok(()),
    }
}

/// [`check`], then serde's reading: the one way ocidiff reads such a document.
pub fn from_slice<T: DeserializeOwned>(
    bytes: &[u8],
    shape: &'static Shape,
) -> Result<T, GoJsonError> {
    check(bytes, shape)?;
    Ok(serde_json::from_slice(bytes)?)
}

/// Whether Go's `encoding/json` takes `key` for the field named `field` (ASCII, as every
/// field name here is). Go folds both names and compares: an ASCII byte folds to its upper
/// case, any other character to the smallest member of its Unicode simple-folding orbit. Of
/// the non-ASCII characters only U+017F (ſ) and U+212A (Kelvin sign) fold to ASCII, to `S`
/// and `K` (Unicode 15.0, Go 1.26; `tests/go_json.rs` asks Go).
pub fn go_folds_to(key: &str, field: &str) -> bool {
    let mut want = field.bytes();
    for c in key.chars() {
        let folded = match c {
            '\u{17F}' => b'S',
            '\u{212A}' => b'K',
            c if c.is_ascii() => (c as u8).to_ascii_uppercase(),
            _ => return false,
        };
        if want.next().map(|b| b.to_ascii_uppercase()) != Some(folded) {
            return false;
        }
    }
    want.next().is_none()
}

/// Appends `.name` for identifier-like keys, `["odd key"]` otherwise, as jq writes them.
pub fn push_jq_key(path: &mut String, k: &str) {
    let plain = !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        path.push('.');
        path.push_str(k);
    } else {
        path.push('[');
        path.push_str(&serde_json::Value::String(k.to_owned()).to_string());
        path.push(']');
    }
}

/// How a value is reached from its parent.
#[derive(Clone, Copy)]
enum Step<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

/// One value being checked: its shape and where it is, as the steps from the root, spelled as
/// a jq path only when a refusal names it (building each value's path as it was walked was a
/// third of reading a manifest of 120 layers); the first refusal is left in `refusal`.
struct Walk<'p> {
    shape: &'static Shape,
    step: Step<'p>,
    parent: Option<&'p Walk<'p>>,
    refusal: &'p RefCell<Option<GoJsonError>>,
}

impl Walk<'_> {
    fn refuse<E: de::Error>(&self, e: GoJsonError) -> E {
        let text = e.to_string();
        self.refusal.borrow_mut().get_or_insert(e);
        E::custom(text)
    }

    /// The jq path of this value: empty for the root.
    fn path(&self) -> String {
        let mut steps = Vec::new();
        let mut at = Some(self);
        while let Some(walk) = at {
            steps.push(walk.step);
            at = walk.parent;
        }
        let mut path = String::new();
        for step in steps.into_iter().rev() {
            match step {
                Step::Root => {}
                Step::Key(k) => push_jq_key(&mut path, k),
                Step::Index(i) => {
                    let _ = write!(path, "[{i}]");
                }
            }
        }
        path
    }

    fn wrong_type<E: de::Error>(&self, found: &'static str) -> E {
        let expected = match self.shape {
            Any => "anything",
            Str => "a string",
            Bool => "a boolean",
            Int => "an integer",
            List(_) => "an array",
            Map(_) | Struct(_) => "an object",
        };
        let path = match self.path() {
            p if p.is_empty() => ".".to_owned(),
            p => p,
        };
        self.refuse(GoJsonError::Type {
            path,
            found,
            expected,
        })
    }

    fn child<'c>(&'c self, shape: &'static Shape, step: Step<'c>) -> Walk<'c> {
        Walk {
            shape,
            step,
            parent: Some(self),
            refusal: self.refusal,
        }
    }

    fn scalar<E: de::Error>(&self, ok: bool, found: &'static str) -> Result<(), E> {
        if ok || matches!(self.shape, Any) {
            Ok(())
        } else {
            Err(self.wrong_type(found))
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        // Go leaves the field as it was: null is its zero value, whatever the type.
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar(matches!(self.shape, Bool), "a boolean")
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar(matches!(self.shape, Int), "a number")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(
            matches!(self.shape, Int) && i64::try_from(v).is_ok(),
            "a number",
        )
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        // serde_json hands fractions, exponents and integers past u64 here: Go's integer
        // fields take none of them.
        self.scalar(false, "a number")
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar(matches!(self.shape, Str), "a string")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let element = match self.shape {
            Any => &Any,
            List(element) => *element,
            _ => return Err(self.wrong_type("an array")),
        };
        let mut i = 0usize;
        while seq
            .next_element_seed(self.child(element, Step::Index(i)))?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if !matches!(self.shape, Any | Map(_) | Struct(_)) {
            return Err(self.wrong_type("an object"));
        }
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let at = || {
                let mut path = self.path();
                push_jq_key(&mut path, &key);
                path
            };
            let value = match self.shape {
                Map(value) => *value,
                Struct(fields) => match fields.iter().find(|(name, _)| *name == key) {
                    Some((_, shape)) => shape,
                    None => match fields.iter().find(|(name, _)| go_folds_to(&key, name)) {
                        Some((field, _)) => {
                            return Err(self.refuse(GoJsonError::Folded { path: at(), field }));
                        }
                        None => &Any,
                    },
                },
                _ => &Any,
            };
            if seen.contains(&key) {
                return Err(self.refuse(GoJsonError::Duplicate { path: at() }));
            }
            map.next_value_seed(self.child(value, Step::Key(&key)))?;
            seen.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(doc: &str, shape: &'static Shape) -> String {
        check(doc.as_bytes(), shape).expect_err(doc).to_string()
    }

    #[test]
    fn folds_as_go_does() {
        assert!(go_folds_to("user", "User"));
        assert!(go_folds_to("USER", "User"));
        assert!(go_folds_to("u\u{17F}er", "User"));
        assert!(go_folds_to("\u{212A}", "k"));
        assert!(go_folds_to("os.VERSION", "os.version"));
        assert!(!go_folds_to("Users", "User"));
        assert!(!go_folds_to("Use", "User"));
        // Dotless ı and dotted İ are alone in their orbits: Go does not fold them to i.
        assert!(!go_folds_to("Workıngdir", "WorkingDir"));
        assert!(!go_folds_to("İmage", "Image"));
        // ŕ (U+0155) and ť (U+0165) end in the bytes of `U` and `e`: characters, not bytes, fold.
        assert!(!go_folds_to("\u{155}ser", "User"));
        assert!(!go_folds_to("Us\u{165}r", "User"));
    }

    #[test]
    fn no_two_fields_of_a_struct_fold_alike() {
        fn walk(shape: &'static Shape) {
            match shape {
                Struct(fields) => {
                    for (i, (a, sa)) in fields.iter().enumerate() {
                        for (b, _) in &fields[i + 1..] {
                            assert!(!go_folds_to(a, b), "{a} and {b} fold alike");
                        }
                        walk(sa);
                    }
                }
                List(s) | Map(s) => walk(s),
                Any | Str | Bool | Int => {}
            }
        }
        for shape in [
            &IMAGE_CONFIG,
            &DOCUMENT,
            &DOCKER_SAVE_MANIFEST,
            &DOCKER_SAVE_REPOSITORIES,
            &OCI_LAYOUT,
        ] {
            walk(shape);
        }
    }

    #[test]
    fn refuses_keys_go_folds_onto_fields() {
        let e = refusal(r#"{"config":{"User":"nobody","user":""}}"#, &IMAGE_CONFIG);
        assert!(
            e.contains("key .config.user") && e.contains("\"User\""),
            "{e}"
        );
        let e = refusal(r#"{"config":{"u\u017fer":"x"}}"#, &IMAGE_CONFIG);
        assert!(e.contains(".config[\"uſer\"]"), "{e}");
        let e = refusal(r#"{"Config":{}}"#, &IMAGE_CONFIG);
        assert!(e.contains("key .Config"), "{e}");
        // Map keys are taken as written; unknown keys no runtime folds are ignored.
        check(
            br#"{"config":{"Labels":{"user":"a","User":"b"}},"USER2":1,"\u0131d":"x"}"#,
            &IMAGE_CONFIG,
        )
        .unwrap();
        // After unescaping, `\u0055ser` is `User` exactly.
        check(br#"{"config":{"\u0055ser":"x"}}"#, &IMAGE_CONFIG).unwrap();
    }

    #[test]
    fn refuses_duplicates_anywhere() {
        for doc in [
            r#"{"os":"linux","os":"linux"}"#,
            r#"{"config":{"Env":[]},"config":{"Env":[]}}"#,
            r#"{"config":{"Labels":{"a":"1","a":"2"}}}"#,
            r#"{"unknown":{"x":1,"x":1}}"#,
            r#"{"history":[{},{"comment":"a","comment":"b"}]}"#,
            r#"{"config":{"User":"a","\u0055ser":"b"}}"#,
        ] {
            let e = refusal(doc, &IMAGE_CONFIG);
            assert!(e.contains("appears twice"), "{doc}: {e}");
        }
        let e = refusal(
            r#"{"history":[{},{"comment":"a","comment":"b"}]}"#,
            &IMAGE_CONFIG,
        );
        assert!(e.contains("key .history[1].comment"), "{e}");
    }

    #[test]
    fn refuses_values_go_cannot_decode() {
        for (doc, path) in [
            (r#"{"config":{"User":5}}"#, ".config.User"),
            (r#"{"config":{"User":-5}}"#, ".config.User"),
            (r#"{"config":{"User":true}}"#, ".config.User"),
            (r#"{"config":{"Cmd":"sh"}}"#, ".config.Cmd"),
            (r#"{"config":{"StopTimeout":1.5}}"#, ".config.StopTimeout"),
            (r#"{"config":{"Tty":"true"}}"#, ".config.Tty"),
            (
                r#"{"config":{"ExposedPorts":{"80/tcp":1}}}"#,
                ".config.ExposedPorts[\"80/tcp\"]",
            ),
            (r#"{"Size":9223372036854775808}"#, ".Size"),
            (r"[]", "."),
        ] {
            let e = refusal(doc, &IMAGE_CONFIG);
            assert!(e.starts_with(path), "{doc}: {e}");
        }
        check(
            br#"{"config":{"User":null,"Env":null,"Tty":true,"Healthcheck":{"Retries":-3}},"Size":0,"x":1.5}"#,
            &IMAGE_CONFIG,
        )
        .unwrap();
        assert!(matches!(
            check(b"{} x", &IMAGE_CONFIG),
            Err(GoJsonError::Json(_))
        ));
    }

    #[test]
    fn other_documents() {
        check(
            br#"[{"Config":"c.json","RepoTags":["a:1"],"Layers":["l.tar"],"LayerSources":{"sha256:x":{"mediaType":"m","digest":"d","size":1}}}]"#,
            &DOCKER_SAVE_MANIFEST,
        )
        .unwrap();
        let e = refusal(r#"[{"config":"c.json"}]"#, &DOCKER_SAVE_MANIFEST);
        assert!(e.contains("key [0].config"), "{e}");
        check(br#"{"a":{"latest":"x"}}"#, &DOCKER_SAVE_REPOSITORIES).unwrap();
        let e = refusal(
            r#"{"a":{"latest":"x","latest":"y"}}"#,
            &DOCKER_SAVE_REPOSITORIES,
        );
        assert!(e.contains("appears twice"), "{e}");
        let e = refusal(r#"{"imagelayoutversion":"1.0.0"}"#, &OCI_LAYOUT);
        assert!(e.contains("imageLayoutVersion"), "{e}");
        let e = refusal(r#"{"manifests":[{"digest":"d","Platform":{}}]}"#, &DOCUMENT);
        assert!(e.contains("key .manifests[0].Platform"), "{e}");
    }
}
