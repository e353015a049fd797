//! The JSON report (`--report-file`): [`Findings`] as pretty JSON, described by
//! `docs/report.schema.json` (generated from the types by [`crate::finding::report_schema`])
//! and `docs/report.md`.

use std::io;

use crate::finding::Findings;

/// Writes `report` as pretty JSON followed by a newline.
pub fn write_json(report: &Findings, out: &mut dyn io::Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use ocidiff_testkit::schema::{check_committed_schema, validate};
    use serde_json::Value;

    use super::*;
    use crate::finding::report_schema;
    use crate::report::fixtures::sample_report;

    fn json_of(report: &Findings) -> String {
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

    /// docs/report.md: "a member is absent when that side does not have the field at all,
    /// which is not the same as a JSON `null` value".
    #[test]
    fn an_absent_side_has_no_member_and_null_is_a_value() {
        use crate::finding::{Class, FieldDiff};
        let absent = FieldDiff::new("entry", None, Some(serde_json::json!(1)), Class::Added);
        let null = FieldDiff::new(
            "value",
            Some(Value::Null),
            Some(serde_json::json!(1)),
            Class::Other,
        );
        let [absent, null] = [absent, null].map(|f| serde_json::to_value(f).unwrap());
        assert!(absent.get("lhs").is_none(), "{absent}");
        assert_eq!(null.get("lhs"), Some(&Value::Null), "{null}");
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

    /// A report written by hand, not by the types the schema comes from: two identical
    /// images, no finding.
    fn hand_written_report() -> Value {
        serde_json::json!({
            "schema_version": 1,
            "tool": { "name": "ocidiff", "version": "0.1.0", "commit": "abc123456789" },
            "inputs": [
                { "reference": "oci:a", "transport": "oci", "digest": null },
                { "reference": "docker://b:1", "transport": "docker",
                  "digest": "sha256:084fed08b978af4d7d196a7446a86b58009e636b611db16211b65a9aadff29c5" }
            ],
            "rules": {
                "ignore_history": true,
                "ignore_file_order": true,
                "ignore_file_mode_redundant_bits": true,
                "ignore_file_timestamps": true,
                "ignore_image_timestamps": true,
                "ignore_image_name": true,
                "ignore_tar_format": true,
                "treat_canonical_paths_equal": true,
                "ignore_storage_format": true,
                "flatten": false,
                "packages": false
            },
            "ignore_paths": ["var/log/**"],
            "comparisons": [],
            "findings": [],
            "summary": { "differences": 0, "by_kind": {} },
            "verdict": {
                "outcome": "identical",
                "counted": 0,
                "set_aside": 0,
                "counted_by_class": {},
                "set_aside_by_class": {}
            }
        })
    }

    #[test]
    fn hand_written_reports_against_the_schema() {
        let schema = report_schema();
        validate(&schema, &hand_written_report()).unwrap();
        // Each a hand-written report with one thing wrong, found at a JSON pointer.
        let broken: &[(&str, Option<Value>)] = &[
            ("/verdict", None),
            ("/findings", None),
            ("/verdict/outcome", None),
            ("/inputs/0/reference", None),
            ("/rules/flatten", None),
            ("/schema_version", Some("1".into())),
            ("/inputs", Some("oci:a".into())),
            ("/rules/packages", Some("no".into())),
            ("/summary/differences", Some((-1).into())),
            ("/verdict/counted", Some(1.5.into())),
            ("/verdict/outcome", Some("equal".into())),
            ("/verdict/outcome", Some("maybe".into())),
            ("/verdict/outcome", Some(Value::Null)),
        ];
        for (pointer, value) in broken {
            let mut report = hand_written_report();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let parent = report.pointer_mut(parent).unwrap();
            match (value, parent) {
                (Some(v), parent) => *parent.pointer_mut(&format!("/{key}")).unwrap() = v.clone(),
                (None, Value::Object(map)) => {
                    map.remove(key).unwrap();
                }
                (None, _) => unreachable!("{pointer} is not in an object"),
            }
            assert!(
                validate(&schema, &report).is_err(),
                "accepted with {pointer} = {value:?}"
            );
        }
        // Findings written by hand: one that is right, then each with one thing wrong.
        let finding = serde_json::json!({
            "kind": "file", "location": "manifests-0/layers-0", "name": "etc/hostname",
            "fields": [{ "field": "digest", "lhs": "sha256:1", "rhs": "sha256:2",
                         "class": "content", "counted": true }],
            "class": "content", "counted": true, "explanation": "the content differs; counted"
        });
        let with = |f: Value| {
            let mut report = hand_written_report();
            report["findings"] = Value::Array(vec![f]);
            report
        };
        validate(&schema, &with(finding.clone())).unwrap();
        for (field, value) in [
            ("kind", "blob".into()),
            ("class", "whatever".into()),
            ("counted", "yes".into()),
            ("fields", "digest".into()),
            ("name", Value::Null),
        ] {
            let mut f = finding.clone();
            f[field] = value;
            assert!(
                validate(&schema, &with(f)).is_err(),
                "finding accepted with {field}"
            );
        }
        let mut f = finding;
        f.as_object_mut().unwrap().remove("class");
        assert!(
            validate(&schema, &with(f)).is_err(),
            "finding accepted without class"
        );
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
