//! ocidiff's reading of image documents against Go's `encoding/json` decoding them into the
//! runtimes' structs (the oracle is `go/jsonread` in the test kit): hand-picked cases, then
//! valid configs, manifests and indexes mutated at random (keys flipped in case, folded with
//! ſ and K, escaped, repeated; values nulled or retyped). Whenever ocidiff accepts a document,
//! no Go reader failed, none read a key ambiguously, and every field that decides how a
//! container runs reads the same; whenever Go reads a key ambiguously, ocidiff refuses.
//! `OCIDIFF_GO_JSON_CASES` sets the number of random cases (default 1000).

use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use ocidiff_core::model::gojson::{self, GoJsonError, Shape};
use ocidiff_core::model::{Config, Document, MediaKind, media};
use ocidiff_testkit::go_json::{self, DocKind, GoDecoded, GoJson};
use ocidiff_testkit::skip::skip;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

struct Oracle {
    go: Mutex<GoJson>,
    bin: std::path::PathBuf,
}

/// The Go oracle, or `None` when Go is not installed and the test must skip (after saying so).
/// Go there but failing to build or start the oracle is a failure.
fn oracle() -> Option<&'static Oracle> {
    static ORACLE: OnceLock<Option<Oracle>> = OnceLock::new();
    let oracle = ORACLE.get_or_init(|| {
        if !go_json::go_installed() {
            return None;
        }
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("go");
        let bin = go_json::build(&dir).unwrap_or_else(|why| panic!("the Go oracle: {why}"));
        let go = GoJson::start(&bin).unwrap_or_else(|why| panic!("the Go oracle: {why}"));
        Some(Oracle {
            go: Mutex::new(go),
            bin,
        })
    });
    if oracle.is_none() {
        skip("Go is not installed (apt-get install golang-go)");
    }
    oracle.as_ref()
}

fn shape(kind: DocKind) -> &'static Shape {
    match kind {
        DocKind::Config => &gojson::IMAGE_CONFIG,
        DocKind::Document => &gojson::DOCUMENT,
        DocKind::SaveManifest => &gojson::DOCKER_SAVE_MANIFEST,
        DocKind::Repositories => &gojson::DOCKER_SAVE_REPOSITORIES,
        DocKind::OciLayout => &gojson::OCI_LAYOUT,
    }
}

/// ocidiff and Go on one document: `Ok` when they agree as the module doc says.
fn agree(kind: DocKind, doc: &[u8], declared: Option<&str>) -> Result<(), String> {
    let Some(oracle) = oracle() else {
        return Ok(());
    };
    let go = oracle
        .go
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .read(kind, doc);
    let text = String::from_utf8_lossy(doc);
    let checked = gojson::check(doc, shape(kind));
    match &checked {
        Ok(()) if !go.ambiguous.is_empty() => {
            return Err(format!("accepted {text}, but Go reads {:?}", go.ambiguous));
        }
        Ok(()) => {
            if let Some(e) = go.error() {
                return Err(format!("accepted {text}, but Go fails: {e}"));
            }
        }
        Err(GoJsonError::Duplicate { path }) => {
            let note = format!("duplicate {path}");
            if !go.ambiguous.contains(&note) {
                return Err(format!("{note} in {text}, but Go saw {:?}", go.ambiguous));
            }
        }
        Err(GoJsonError::Folded { path, field }) => {
            let note = format!("folded {path} {field}");
            if !go.ambiguous.contains(&note) {
                return Err(format!("{note} in {text}, but Go saw {:?}", go.ambiguous));
            }
        }
        // A type mismatch or malformed JSON (the enum is non-exhaustive).
        Err(e) => {
            if go.error().is_none() {
                return Err(format!("refused {text} ({e}), but Go reads it"));
            }
        }
    }
    if checked.is_err() {
        return Ok(());
    }
    match kind {
        DocKind::Config => agree_config(doc, &go),
        DocKind::Document => agree_document(doc, declared, &go),
        DocKind::SaveManifest | DocKind::Repositories | DocKind::OciLayout => Ok(()),
    }
    .map_err(|e| format!("{e}\n  in {text}"))
}

/// Each Go reader's view, field by field, against ocidiff's.
fn same_views(ours: &Map<String, Value>, go: &GoDecoded, readers: &[&str]) -> Result<(), String> {
    for name in readers {
        let reading = &go.readers[*name];
        for (field, theirs) in &reading.view {
            let mine = ours.get(field).unwrap_or(&Value::Null);
            if mine != theirs {
                return Err(format!(
                    "{name} reads {field} as {theirs}, ocidiff as {mine}"
                ));
            }
        }
    }
    Ok(())
}

fn string_or_empty(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => json!(s),
        _ => json!(""),
    }
}

fn strings(v: Option<&Value>) -> Value {
    match v {
        Some(Value::Array(a)) => a.iter().map(|e| string_or_empty(Some(e))).collect(),
        _ => json!([]),
    }
}

fn object(v: Option<&Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    }
}

/// A `map[string]string`. A `null` value reads as `""` in Go and stays `null` in ocidiff's raw
/// comparison, which can only see a difference more than Go, never one less.
fn string_map(v: Option<&Value>) -> Value {
    object(v)
        .into_iter()
        .map(|(k, v)| (k, string_or_empty(Some(&v))))
        .collect()
}

/// What ocidiff reads from a config: its JSON value (compared raw) and [`Config`].
fn agree_config(doc: &[u8], go: &GoDecoded) -> Result<(), String> {
    let (Ok(value), Ok(config)) = (
        gojson::from_slice::<Value>(doc, &gojson::IMAGE_CONFIG),
        gojson::from_slice::<Config>(doc, &gojson::IMAGE_CONFIG),
    ) else {
        // Refused after the check (a malformed digest): nothing of it is compared.
        return Ok(());
    };
    let c = object(value.get("config"));
    let mut ours = Map::new();
    for k in ["User", "WorkingDir", "StopSignal"] {
        ours.insert(k.into(), string_or_empty(c.get(k)));
    }
    for k in ["Env", "Cmd", "Entrypoint"] {
        ours.insert(k.into(), strings(c.get(k)));
    }
    for k in ["ExposedPorts", "Volumes"] {
        let mut keys: Vec<String> = object(c.get(k)).keys().cloned().collect();
        keys.sort();
        ours.insert(k.into(), json!(keys));
    }
    ours.insert("Labels".into(), string_map(c.get("Labels")));
    let health = match c.get("Healthcheck") {
        Some(Value::Object(h)) => {
            let int = |k: &str| h.get(k).and_then(Value::as_i64).unwrap_or(0);
            json!({
                "Test": strings(h.get("Test")),
                "Interval": int("Interval"),
                "Timeout": int("Timeout"),
                "StartPeriod": int("StartPeriod"),
                "StartInterval": int("StartInterval"),
                "Retries": int("Retries"),
            })
        }
        _ => Value::Null,
    };
    ours.insert("Healthcheck".into(), health);
    ours.insert("os".into(), json!(config.os.unwrap_or_default()));
    ours.insert(
        "architecture".into(),
        json!(config.architecture.unwrap_or_default()),
    );
    ours.insert("variant".into(), json!(config.variant.unwrap_or_default()));
    ours.insert(
        "os.version".into(),
        string_or_empty(value.get("os.version")),
    );
    let diff_ids: Vec<String> = config
        .rootfs
        .map(|r| r.diff_ids.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    ours.insert("diff_ids".into(), json!(diff_ids));
    same_views(
        &ours,
        go,
        &["oci", "docker_oci", "moby", "containerd_platform"],
    )
}

fn descriptor_view(d: &ocidiff_core::model::Descriptor) -> Value {
    let platform = d
        .platform
        .as_ref()
        .map(|p| {
            json!({
                "architecture": p.architecture,
                "os": p.os,
                "os.version": p.os_version.clone().unwrap_or_default(),
                "variant": p.variant.clone().unwrap_or_default(),
            })
        })
        // Go's manifest list holds a platform even where there is none: all of it empty.
        .filter(|p| p.as_object().unwrap().values().any(|v| v != ""));
    json!({
        "mediaType": d.media_type,
        "digest": d.digest.to_string(),
        "size": d.size,
        "platform": platform,
    })
}

/// What ocidiff reads from a manifest or index, and containerd's check of it.
fn agree_document(doc: &[u8], declared: Option<&str>, go: &GoDecoded) -> Result<(), String> {
    let parsed = Document::parse(doc, declared);
    let probe = go.probe.as_ref().ok_or("Go's probe failed")?;
    let len = |k: &str| probe[k].as_u64().unwrap_or(0);
    let own = probe["mediaType"].as_str().unwrap_or_default();
    let own_kind = media::classify(own);
    // containerd's check, for the kind ocidiff decided on.
    let containerd_refuses = |kind| {
        len("fsLayers") != 0
            || match kind {
                MediaKind::Manifest => len("manifests") != 0 || own_kind == MediaKind::Index,
                _ => len("config") != 0 || len("layers") != 0 || own_kind == MediaKind::Manifest,
            }
    };
    if let Some(mt) = declared {
        let kind = media::classify(mt);
        if containerd_refuses(kind) && parsed.is_ok() {
            return Err(format!("containerd refuses it as {mt}; ocidiff reads it"));
        }
    }
    let value: Value = serde_json::from_slice(doc).map_err(|e| e.to_string())?;
    let annotations = string_map(value.get("annotations"));
    let mut ours = Map::new();
    let readers: &[&str] = match &parsed {
        Err(_) => return Ok(()),
        Ok(Document::Manifest(m)) => {
            if containerd_refuses(MediaKind::Manifest) {
                return Err("ocidiff reads a manifest that containerd refuses".into());
            }
            ours.insert(
                "mediaType".into(),
                json!(m.media_type.clone().unwrap_or_default()),
            );
            ours.insert("config".into(), descriptor_view(&m.config));
            let layers: Vec<Value> = m.layers.iter().map(descriptor_view).collect();
            ours.insert("layers".into(), json!(layers));
            ours.insert("annotations".into(), annotations);
            &["oci_manifest", "docker_manifest"]
        }
        Ok(Document::Index(i)) => {
            if containerd_refuses(MediaKind::Index) {
                return Err("ocidiff reads an index that containerd refuses".into());
            }
            ours.insert(
                "mediaType".into(),
                json!(i.media_type.clone().unwrap_or_default()),
            );
            let entries: Vec<Value> = i.manifests.iter().map(descriptor_view).collect();
            ours.insert("manifests".into(), json!(entries));
            ours.insert("annotations".into(), annotations);
            &["oci_index", "docker_list"]
        }
    };
    same_views(&ours, go, readers)
}

fn must_agree(kind: DocKind, doc: &str, declared: Option<&str>) {
    if let Err(why) = agree(kind, doc.as_bytes(), declared) {
        panic!("{why}");
    }
}

const DIFF_ID: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const CONFIG_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// Go's case folding as Go itself reports it: exactly ſ → S and K → K reach ASCII.
#[test]
fn folding_is_gos() {
    let Some(oracle) = oracle() else { return };
    let (version, pairs) = go_json::ascii_folds(&oracle.bin).expect("the oracle lists its folds");
    assert_eq!(
        pairs,
        vec![('\u{17F}', 'S'), ('\u{212A}', 'K')],
        "Unicode {version}"
    );
    let mut buf = [0u8; 4];
    for c in (0x80..=u32::from(char::MAX)).filter_map(char::from_u32) {
        let key = c.encode_utf8(&mut buf);
        let folds_to = |letter: &str| gojson::go_folds_to(key, letter);
        let expected = pairs.iter().find(|(from, _)| *from == c).map(|(_, to)| *to);
        for letter in ["A", "I", "K", "S", "k", "s"] {
            let want =
                expected.is_some_and(|to| to.eq_ignore_ascii_case(&letter.chars().next().unwrap()));
            assert_eq!(
                folds_to(letter),
                want,
                "U+{:04X} against {letter}",
                c as u32
            );
        }
    }
}

/// The issue's cases, and their neighbours.
#[test]
fn hand_picked() {
    let config = |cfg: &str| {
        format!(
            r#"{{"architecture":"amd64","os":"linux","config":{cfg},"rootfs":{{"type":"layers","diff_ids":["{DIFF_ID}"]}}}}"#
        )
    };
    let configs = [
        config(r#"{"User":"nobody"}"#),
        config(r#"{"User":"nobody","user":""}"#),
        config(r#"{"user":"","User":"nobody"}"#),
        config(r#"{"USER":"root"}"#),
        config(r#"{"u\u017fer":"root"}"#),
        config(r#"{"u\u017Fer":"root","User":"x"}"#),
        config(r#"{"\u0055ser":"root"}"#),
        config(r#"{"\u0055ser":"root","User":"x"}"#),
        config(r#"{"Wor\u212aingDir":"/"}"#),
        config(r#"{"Workıngdir":"/"}"#),
        config(r#"{"İmage":"x"}"#),
        config(r#"{"Env":["A=1"]},"config":{"Cmd":["sh"]}"#),
        config(r#"{"Labels":{"a":"1"},"Labels":{"b":"2"}}"#),
        config(r#"{"Labels":{"a":"1","a":"2"}}"#),
        config(r#"{"ExposedPorts":{"80/tcp":{"x":1,"x":2}}}"#),
        config(r#"{"Healthcheck":{"Test":["CMD","true"],"test":[]}}"#),
        config(r#"{"Healthcheck":{"Interval":1.5}}"#),
        config(r#"{"User":null,"Env":null,"Labels":{"a":null},"Healthcheck":null}"#),
        config(r"null"),
        config(r#"{"Cmd":"sh"}"#),
        config(r#"{"StopTimeout":10,"Labels":{"User":"a","user":"b"}}"#),
        r#"{"OS":"linux","architecture":"amd64"}"#.into(),
        r#"{"os":"linux","architecture":"amd64","Architecture":"arm64"}"#.into(),
        r#"{"os":"linux","architecture":"amd64","rootfs":{"diff_ids":[],"Diff_IDs":[]}}"#.into(),
        r#"{"os":"linux","history":[{"created_by":"a","Created_By":"b"}]}"#.into(),
        r#"{"os":"linux","size":5}"#.into(),
        r#"{"os":"linux","unknown":{"deep":{"x":1,"x":2}}}"#.into(),
        r#"{"os":"linux","unknown":1,"UNKNOWN":2}"#.into(),
    ];
    for doc in &configs {
        must_agree(DocKind::Config, doc, None);
    }
    let layer = format!(
        r#"{{"mediaType":"{}","digest":"{DIFF_ID}","size":0}}"#,
        media::OCI_LAYER
    );
    let cfg = format!(
        r#"{{"mediaType":"{}","digest":"{CONFIG_DIGEST}","size":2}}"#,
        media::OCI_CONFIG
    );
    let entry = format!(
        r#"{{"mediaType":"{}","digest":"{CONFIG_DIGEST}","size":2,"platform":{{"os":"linux","architecture":"amd64"}}}}"#,
        media::OCI_MANIFEST
    );
    let documents = [
        format!(r#"{{"schemaVersion":2,"config":{cfg},"layers":[{layer}]}}"#),
        format!(r#"{{"schemaVersion":2,"config":{cfg},"layers":[{layer}],"Layers":[]}}"#),
        format!(r#"{{"schemaVersion":2,"config":{cfg},"layers":[{layer}],"layers":[]}}"#),
        format!(r#"{{"schemaVersion":2,"config":{cfg},"config":{{"size":3}},"layers":null}}"#),
        format!(r#"{{"schemaVersion":2,"config":{cfg},"layers":[],"manifests":null}}"#),
        format!(r#"{{"schemaVersion":2,"config":{cfg},"layers":[],"fsLayers":[]}}"#),
        format!(r#"{{"schemaVersion":2,"manifests":[{entry}]}}"#),
        r#"{"schemaVersion":2,"manifests":null}"#.to_owned(),
        format!(r#"{{"schemaVersion":2,"manifests":[{entry}],"layers":null}}"#),
        format!(r#"{{"schemaVersion":2,"manifests":[{entry}],"annotations":{{"a":"1","a":"2"}}}}"#),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","digest":"{CONFIG_DIGEST}","size":2,"platform":{{"os":"linux","architecture":"amd64","Variant":"v8"}}}}]}}"#,
            media::OCI_MANIFEST
        ),
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[]}}"#,
            media::OCI_MANIFEST
        ),
    ];
    for doc in &documents {
        for declared in [None, Some(media::OCI_MANIFEST), Some(media::OCI_INDEX)] {
            must_agree(DocKind::Document, doc, declared);
        }
    }
    for doc in [
        r#"[{"Config":"c.json","RepoTags":["a:1"],"Layers":["l/layer.tar"]}]"#,
        r#"[{"Config":"c.json","config":"d.json","Layers":[]}]"#,
        r#"[{"Config":"c.json","Layers":[],"LayerSources":{"sha256:a":{"digest":"x","Digest":"y"}}}]"#,
        r#"[{"Config":"c.json","Layers":[],"Layers":["x"]}]"#,
    ] {
        must_agree(DocKind::SaveManifest, doc, None);
    }
    for doc in [
        r#"{"a":{"1":"x"},"a":{"2":"y"}}"#,
        r#"{"a":{"1":"x"},"A":{"1":"x"}}"#,
    ] {
        must_agree(DocKind::Repositories, doc, None);
    }
    for doc in [
        r#"{"imageLayoutVersion":"1.0.0"}"#,
        r#"{"imageLayoutVersion":"1.0.0","ImageLayoutVersion":"2"}"#,
    ] {
        must_agree(DocKind::OciLayout, doc, None);
    }
}

/// A JSON value whose objects may repeat keys and whose keys may be written escaped.
#[derive(Debug, Clone)]
enum J {
    Object(Vec<(String, bool, J)>),
    Array(Vec<J>),
    Scalar(Value),
}

impl J {
    fn from(v: &Value) -> J {
        match v {
            Value::Object(o) => J::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), false, J::from(v)))
                    .collect(),
            ),
            Value::Array(a) => J::Array(a.iter().map(J::from).collect()),
            other => J::Scalar(other.clone()),
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            J::Object(members) => {
                out.push('{');
                for (i, (k, escaped, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if *escaped {
                        out.push('"');
                        for unit in k.encode_utf16() {
                            let _ = write!(out, "\\u{unit:04x}");
                        }
                        out.push('"');
                    } else {
                        out.push_str(&Value::String(k.clone()).to_string());
                    }
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
            J::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            J::Scalar(v) => out.push_str(&v.to_string()),
        }
    }

    /// How many members its objects hold, all told.
    fn count(&self) -> usize {
        match self {
            J::Object(members) => {
                members.len() + members.iter().map(|(_, _, v)| v.count()).sum::<usize>()
            }
            J::Array(items) => items.iter().map(J::count).sum(),
            J::Scalar(_) => 0,
        }
    }

    /// Edits the member `at` (counted as [`J::count`] counts: an object's own members, then
    /// those below them); whether it was found.
    fn apply(&mut self, at: &mut usize, m: Mutation, arg: usize) -> bool {
        match self {
            J::Object(members) => {
                if *at < members.len() {
                    edit(members, *at, m, arg);
                    return true;
                }
                *at -= members.len();
                members.iter_mut().any(|(_, _, v)| v.apply(at, m, arg))
            }
            J::Array(items) => items.iter_mut().any(|v| v.apply(at, m, arg)),
            J::Scalar(_) => false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Mutation {
    FlipCase,
    Fold,
    Escape,
    Duplicate,
    Null,
    Retype,
    Drop,
}

/// Applies `m` to the member `at` of the document (modulo their number), `arg` choosing how.
fn mutate(doc: &mut J, m: Mutation, at: usize, arg: usize) {
    let total = doc.count();
    if total > 0 {
        doc.apply(&mut (at % total), m, arg);
    }
}

fn edit(members: &mut Vec<(String, bool, J)>, at: usize, m: Mutation, arg: usize) {
    let (key, escaped, value) = &mut members[at];
    match m {
        Mutation::FlipCase => {
            *key = key
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if (arg >> (i % 16)) & 1 == 1 {
                        if c.is_ascii_lowercase() {
                            c.to_ascii_uppercase()
                        } else {
                            c.to_ascii_lowercase()
                        }
                    } else {
                        c
                    }
                })
                .collect();
        }
        Mutation::Fold => {
            let lookalikes: &[(char, char)] = &[
                ('s', '\u{17F}'),
                ('S', '\u{17F}'),
                ('k', '\u{212A}'),
                ('K', '\u{212A}'),
                ('i', 'ı'),
                ('I', 'İ'),
                ('e', 'é'),
            ];
            let (from, to) = lookalikes[arg % lookalikes.len()];
            *key = key.replacen(from, &to.to_string(), 1);
        }
        Mutation::Escape => *escaped = true,
        Mutation::Duplicate => {
            let copy = match arg % 4 {
                0 => value.clone(),
                1 => J::Scalar(Value::Null),
                2 => J::Object(vec![]),
                _ => J::Scalar(json!("")),
            };
            let key = key.clone();
            let place = if arg.is_multiple_of(2) { at } else { at + 1 };
            members.insert(place, (key, arg.is_multiple_of(3), copy));
        }
        Mutation::Null => *value = J::Scalar(Value::Null),
        Mutation::Retype => {
            *value = match (&*value, arg % 4) {
                (J::Scalar(Value::String(_)) | J::Array(_), 0) => J::Scalar(json!(7)),
                (J::Scalar(Value::Number(_) | Value::Bool(_)), _) => J::Array(vec![]),
                (_, 1) => J::Scalar(json!(true)),
                (_, 2) => J::Scalar(json!(1.5)),
                (J::Object(_), _) => J::Scalar(json!(-1)),
                _ => J::Object(vec![]),
            }
        }
        Mutation::Drop => {
            members.remove(at);
        }
    }
}

fn bases() -> Vec<(DocKind, Value, Option<&'static str>)> {
    let health = json!({"Test": ["CMD", "true"], "Interval": 30_000_000_000i64, "Retries": 3});
    let docker_config = json!({
        "architecture": "arm64", "variant": "v8", "os": "linux", "os.version": "",
        "created": "2024-01-01T00:00:00Z", "docker_version": "24.0.0", "author": "me",
        "config": {
            "Hostname": "", "User": "nobody", "AttachStdin": false, "Tty": false,
            "Env": ["PATH=/bin", "KEY=v"], "Cmd": ["serve", "--port", "80"],
            "Entrypoint": ["/entry"], "WorkingDir": "/srv", "Image": "",
            "ExposedPorts": {"80/tcp": {}, "443/tcp": {}}, "Volumes": {"/data": {}},
            "Labels": {"k": "v", "stack": "s"}, "StopSignal": "SIGTERM", "StopTimeout": 5,
            "Healthcheck": health, "OnBuild": null, "Shell": ["/bin/sh", "-c"], "ArgsEscaped": true
        },
        "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop)"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [DIFF_ID, DIFF_ID]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "ADD x", "empty_layer": false},
                    {"created_by": "CMD", "comment": "c", "empty_layer": true}],
        "Size": 0
    });
    let oci_config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {"User": "1000:1000", "Env": ["A=1"], "Cmd": ["sh"], "Labels": {"x": "y"},
                   "ExposedPorts": {"8080/tcp": {}}, "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [DIFF_ID]}
    });
    let descriptor = |mt: &str| json!({"mediaType": mt, "digest": CONFIG_DIGEST, "size": 2});
    let manifest = json!({
        "schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
        "config": descriptor(media::OCI_CONFIG),
        "layers": [descriptor(media::OCI_LAYER_GZIP), {"mediaType": media::OCI_LAYER, "digest": DIFF_ID, "size": 0, "annotations": {"a": "b"}}],
        "annotations": {"org.opencontainers.image.created": "2024"}
    });
    let docker_manifest = json!({
        "schemaVersion": 2, "mediaType": media::DOCKER_MANIFEST,
        "config": descriptor(media::DOCKER_CONFIG),
        "layers": [descriptor(media::DOCKER_LAYER_GZIP)]
    });
    let platform = |arch: &str, variant: Option<&str>| {
        let mut p = json!({"architecture": arch, "os": "linux"});
        if let Some(v) = variant {
            p["variant"] = json!(v);
        }
        p
    };
    let entry = |mt: &str, arch: &str, variant| {
        let mut d = descriptor(mt);
        d["platform"] = platform(arch, variant);
        d
    };
    let index = json!({
        "schemaVersion": 2, "mediaType": media::OCI_INDEX,
        "manifests": [entry(media::OCI_MANIFEST, "amd64", None), entry(media::OCI_MANIFEST, "arm64", Some("v8"))],
        "annotations": {"a": "1"}
    });
    let list = json!({
        "schemaVersion": 2, "mediaType": media::DOCKER_MANIFEST_LIST,
        "manifests": [entry(media::DOCKER_MANIFEST, "arm", Some("v7")), entry(media::DOCKER_MANIFEST, "amd64", None)]
    });
    let save = json!([{"Config": "blobs/sha256/c", "RepoTags": ["a:1", "b:2"], "Layers": ["l1.tar", "l2.tar"],
                       "LayerSources": {DIFF_ID: descriptor(media::DOCKER_LAYER_GZIP)}}]);
    vec![
        (DocKind::Config, docker_config, None),
        (DocKind::Config, oci_config, None),
        (DocKind::Document, manifest.clone(), None),
        (DocKind::Document, manifest, Some(media::OCI_MANIFEST)),
        (
            DocKind::Document,
            docker_manifest,
            Some(media::DOCKER_MANIFEST),
        ),
        (DocKind::Document, index.clone(), None),
        (DocKind::Document, index, Some(media::OCI_INDEX)),
        (DocKind::Document, list, Some(media::DOCKER_MANIFEST_LIST)),
        (DocKind::SaveManifest, save, None),
        (
            DocKind::Repositories,
            json!({"a": {"1": "x", "latest": "y"}, "b": {"v": "z"}}),
            None,
        ),
        (
            DocKind::OciLayout,
            json!({"imageLayoutVersion": "1.0.0"}),
            None,
        ),
    ]
}

fn mutation() -> impl Strategy<Value = (Mutation, usize, usize)> {
    (
        prop_oneof![
            3 => Just(Mutation::FlipCase),
            2 => Just(Mutation::Fold),
            1 => Just(Mutation::Escape),
            3 => Just(Mutation::Duplicate),
            1 => Just(Mutation::Null),
            1 => Just(Mutation::Retype),
            1 => Just(Mutation::Drop),
        ],
        any::<usize>(),
        any::<usize>(),
    )
}

fn cases() -> u32 {
    std::env::var("OCIDIFF_GO_JSON_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Valid documents, mutated: ocidiff and Go agree on every one.
    #[test]
    fn mutated_documents_agree(
        base in 0..bases().len(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let (kind, value, declared) = bases().swap_remove(base);
        let mut doc = J::from(&value);
        for (m, at, arg) in mutations {
            mutate(&mut doc, m, at, arg);
        }
        let mut text = String::new();
        doc.write(&mut text);
        if let Err(why) = agree(kind, text.as_bytes(), declared) {
            prop_assert!(false, "{}", why);
        }
    }
}

/// The unmutated bases are accepted: the property above is not only about refusals.
#[test]
fn bases_are_accepted() {
    for (kind, value, declared) in bases() {
        let text = value.to_string();
        gojson::check(text.as_bytes(), shape(kind)).unwrap_or_else(|e| panic!("{e}: {text}"));
        if kind == DocKind::Document {
            Document::parse(text.as_bytes(), declared).unwrap_or_else(|e| panic!("{e}: {text}"));
        }
        must_agree(kind, &text, declared);
    }
}
