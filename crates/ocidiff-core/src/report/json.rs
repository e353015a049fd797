//! The JSON report (`--report-file`): [`Report`] as pretty JSON, described by
//! `docs/report.schema.json` (generated from the types by [`crate::finding::report_schema`])
//! and `docs/report.md`.

use std::io;

use crate::finding::Report;

/// Writes `report` as pretty JSON followed by a newline.
pub fn write_json(report: &Report, out: &mut dyn io::Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use serde_json::Value;

    use super::*;
    use crate::finding::report_schema;
    use crate::report::table::tests::sample_report;

    /// Fails when the committed `docs/NAME` differs from `schema`; with `OCIDIFF_BLESS=1`,
    /// rewrites it instead.
    pub(crate) fn check_committed_schema(name: &str, schema: &Value) {
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
    pub(crate) fn validate(schema: &Value, instance: &Value) -> Result<(), String> {
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

    fn json_of(report: &Report) -> String {
        let mut out = Vec::new();
        write_json(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn committed_schema_is_current() {
        check_committed_schema("report.schema.json", &report_schema());
    }

    #[test]
    fn pretty_with_trailing_newline() {
        let text = json_of(&sample_report());
        assert!(text.starts_with("{\n  \"schema_version\": 1,"));
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn sample_report_matches_schema() {
        let instance: Value = serde_json::from_str(&json_of(&sample_report())).unwrap();
        validate(&report_schema(), &instance).unwrap();
    }

    #[test]
    fn documented_example_matches_schema() {
        let doc = include_str!("../../../../docs/report.md");
        let example = doc
            .split("```json\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("docs/report.md has a JSON example");
        let instance: Value = serde_json::from_str(example).unwrap();
        validate(&report_schema(), &instance).unwrap();
    }

    #[test]
    fn schema_rejects_broken_reports() {
        let mut instance: Value = serde_json::from_str(&json_of(&sample_report())).unwrap();
        instance["findings"][0]["kind"] = "blob".into();
        assert!(validate(&report_schema(), &instance).is_err());
        let mut instance: Value = serde_json::from_str(&json_of(&sample_report())).unwrap();
        instance.as_object_mut().unwrap().remove("schema_version");
        assert!(validate(&report_schema(), &instance).is_err());
    }
}
