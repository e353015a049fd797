//! Checks for the JSON Schemas that ocidiff generates from its types and commits under `docs/`.

use std::path::PathBuf;

use serde_json::Value;

/// Fails when the committed `docs/NAME` differs from `schema`; with `OCIDIFF_BLESS=1`,
/// rewrites it instead.
///
/// # Panics
///
/// When the committed file is out of date, or cannot be rewritten.
pub fn check_committed_schema(name: &str, schema: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(name);
    let generated = serde_json::to_string_pretty(schema).unwrap() + "\n";
    if std::env::var_os("OCIDIFF_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date: run `OCIDIFF_BLESS=1 cargo test -p ocidiff-core schema` and commit it",
        path.display()
    );
}

/// Validates `instance` against `schema` with a real JSON Schema (2020-12) validator.
///
/// # Errors
///
/// The schema does not compile, or `instance` does not match it.
pub fn validate(schema: &Value, instance: &Value) -> Result<(), String> {
    let url = "file:///schema.json";
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource(url, schema.clone())
        .map_err(|e| e.to_string())?;
    let index = compiler
        .compile(url, &mut schemas)
        .map_err(|e| e.to_string())?;
    schemas
        .validate(instance, index)
        .map_err(|e| format!("{e:#}"))
}
