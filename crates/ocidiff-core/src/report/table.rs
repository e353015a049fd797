//! The default output: one aligned row per finding under diffoci's header
//! `TYPE NAME INPUT-0 INPUT-1`, and nothing at all when there is no finding.
//!
//! - TYPE is [`Kind::short`].
//! - NAME is the entry path for a `File`; the location (`manifests-0/layers-2`) for a
//!   `Desc` or `Layer`; the location, a space and the jq-style path for an `Idx`, `Mani` or
//!   `Cfg` (`manifests-0/config .config.Env`). A location never holds a space and a jq path
//!   always starts with `.`, so the two parts cannot be confused.
//! - INPUT-0 / INPUT-1 list each differing field as `field=value`, joined by `, `; a JSON
//!   value (field `value`) is shown bare; a side that lacks the field shows `-`, and a side
//!   that lacks all of them (an added or removed entry) is a single `-`.
//! - Values are compact JSON, except that strings are shown without quotes. Digests are cut to
//!   `sha256:` and 12 hex digits, and long values and names lose their middle to a `…`,
//!   unless [`TableOptions::full`] is set (the CLI's `--verbose`).
//! - Control and bidirectional-override characters from the images are shown escaped
//!   (`\n`, `\u{1b}`), so a hostile image cannot move the cursor or reorder the terminal line.
//! - An empty NAME (a finding at the root with no path) is shown as `-`, so that every row has
//!   four whitespace-separated columns.
//! - Widths count characters. A column is as wide as its widest cell up to a cap; a longer
//!   cell (possible only with `full`, or with many fields) overflows its own row only.

use std::io;

use serde_json::Value;

use crate::finding::{FieldDiff, Finding, Kind, Report};
use crate::model::Digest;

/// How the table shows values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// Show digests, values and names whole instead of shortened.
    pub full: bool,
}

/// Longest NAME shown before its middle is cut, and the cap of that column's width.
const NAME_WIDTH: usize = 60;
/// Longest single value shown before its middle is cut: media types and paths differ at
/// their ends as often as at their starts.
const VALUE_WIDTH: usize = 48;
/// Cap of the INPUT-0 column's width: a cell wider than this overflows its own row.
const CELL_WIDTH: usize = 48;
/// Between columns.
const GAP: &str = "  ";

/// Writes `report`'s counted findings as a table (with [`TableOptions::full`], the set-aside
/// ones too); writes nothing when there are none.
pub fn write_table(report: &Report, out: &mut dyn io::Write, opts: TableOptions) -> io::Result<()> {
    let shown: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.counted || opts.full)
        .collect();
    if shown.is_empty() {
        return Ok(());
    }
    let header = ["TYPE", "NAME", "INPUT-0", "INPUT-1"].map(String::from);
    let rows: Vec<[String; 4]> = std::iter::once(header)
        .chain(shown.into_iter().map(|f| row(f, opts)))
        .collect();
    let caps = [usize::MAX, NAME_WIDTH, CELL_WIDTH];
    let mut widths = [0usize; 3];
    for row in &rows {
        for (col, cap) in caps.iter().enumerate() {
            let w = row[col].chars().count();
            if w <= *cap {
                widths[col] = widths[col].max(w);
            }
        }
    }
    for row in &rows {
        let mut line = String::new();
        for (col, width) in widths.iter().enumerate() {
            line.push_str(&format!("{:<width$}{GAP}", row[col]));
        }
        line.push_str(&row[3]);
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// A row. Of a counted finding only the counted fields are shown, unless `full`; then fields
/// set aside are shown in brackets.
fn row(f: &Finding, opts: TableOptions) -> [String; 4] {
    let fields: Vec<&FieldDiff> = f
        .fields
        .iter()
        .filter(|d| d.counted || !f.counted || opts.full)
        .collect();
    [
        f.kind.short().to_owned(),
        name(f, opts),
        cell(&fields, |d| d.lhs.as_ref(), opts),
        cell(&fields, |d| d.rhs.as_ref(), opts),
    ]
}

fn name(f: &Finding, opts: TableOptions) -> String {
    let raw = match (f.kind, f.location.as_str(), f.name.as_str()) {
        (_, "", "") => "-".to_owned(),
        (Kind::File, _, name) | (_, "", name) if !name.is_empty() => name.to_owned(),
        (_, location, "") => location.to_owned(),
        (_, location, name) => format!("{location} {name}"),
    };
    let name = escape(&raw);
    if opts.full {
        name
    } else {
        cut_middle(&name, NAME_WIDTH)
    }
}

/// One side's cell: every field on that side.
fn cell(
    fields: &[&FieldDiff],
    side: impl Fn(&FieldDiff) -> Option<&Value>,
    opts: TableOptions,
) -> String {
    if fields.iter().all(|d| side(d).is_none()) {
        return "-".to_owned();
    }
    fields
        .iter()
        .map(|d| {
            let text = shown_field(d, &side, opts);
            if opts.full && !d.counted {
                format!("[{text}]")
            } else {
                text
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn shown_field(
    d: &FieldDiff,
    side: &impl Fn(&FieldDiff) -> Option<&Value>,
    opts: TableOptions,
) -> String {
    let v = side(d).map_or_else(|| "-".to_owned(), |v| value(v, opts));
    if d.field == "value" {
        v
    } else if d.field == "entry" {
        side(d).map_or_else(|| "-".to_owned(), |v| entry_summary(v, opts))
    } else {
        format!("{}={v}", escape(&d.field))
    }
}

/// An entry present on one side only, as `ls -l` would sum it up: `file 0755 0:0 5B sha256:…`.
fn entry_summary(v: &Value, opts: TableOptions) -> String {
    let text = |k: &str| match v.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut parts: Vec<String> = [text("type"), text("mode")].into_iter().flatten().collect();
    if let (Some(uid), Some(gid)) = (text("uid"), text("gid")) {
        parts.push(format!("{uid}:{gid}"));
    }
    if let Some(size) = text("size") {
        parts.push(format!("{size}B"));
    }
    if let Some(link) = text("link") {
        parts.push(format!("-> {link}"));
    }
    if let Some(d) = text("digest") {
        parts.push(shorten_digest(&d, opts).unwrap_or(d));
    }
    let text = escape(&parts.join(" "));
    if opts.full {
        text
    } else {
        cut_middle(&text, VALUE_WIDTH)
    }
}

fn value(v: &Value, opts: TableOptions) -> String {
    let text = match v {
        Value::String(s) => shorten_digest(s, opts).unwrap_or_else(|| s.clone()),
        other if opts.full => other.to_string(),
        other => shorten_digests_in(other).to_string(),
    };
    let text = escape(&text);
    if opts.full {
        text
    } else {
        cut_middle(&text, VALUE_WIDTH)
    }
}

fn shorten_digest(s: &str, opts: TableOptions) -> Option<String> {
    if opts.full {
        return None;
    }
    s.parse::<Digest>().ok().map(|d| d.short())
}

/// `v` with every digest string in it shortened (e.g. `rootfs.diff_ids`).
fn shorten_digests_in(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(
            s.parse::<Digest>()
                .map_or_else(|_| s.clone(), |d| d.short()),
        ),
        Value::Array(items) => Value::Array(items.iter().map(shorten_digests_in).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), shorten_digests_in(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `s` with control and bidi-override characters written as escapes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// At most `max` characters of `s`, its middle replaced by `…` when cut: a path's start and
/// its file name say the most.
fn cut_middle(s: &str, max: usize) -> String {
    let len = s.chars().count();
    if len <= max {
        return s.to_owned();
    }
    let keep = max.saturating_sub(1);
    let head = keep / 2;
    let tail = keep - head;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(len - tail));
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;
    use crate::finding::{
        Class, Comparison, FieldDiff, Input, SCHEMA_VERSION, Summary, Tool, Verdict,
    };
    use crate::normalize::Rules;

    fn sha(n: u8) -> String {
        Digest::sha256_of(&[n]).to_string()
    }

    fn finding(kind: Kind, location: &str, name: &str, fields: Vec<FieldDiff>) -> Finding {
        Finding::new(kind, location, name, fields)
    }

    fn fd(field: &str, lhs: Option<Value>, rhs: Option<Value>) -> FieldDiff {
        FieldDiff::new(field, lhs, rhs, Class::Content)
    }

    /// A report with findings of every kind, added and removed entries and multi-field rows.
    pub(crate) fn sample_report() -> Report {
        let findings = vec![
            finding(
                Kind::Descriptor,
                "manifests-0",
                "",
                vec![
                    fd("digest", Some(json!(sha(1))), Some(json!(sha(2)))),
                    fd("size", Some(json!(1234)), Some(json!(1240))),
                ],
            ),
            finding(
                Kind::Index,
                "index",
                ".manifests",
                vec![fd(
                    "value",
                    Some(json!([{"digest": sha(3)}])),
                    Some(json!([{"digest": sha(4)}, {"digest": sha(5)}])),
                )],
            ),
            finding(
                Kind::Manifest,
                "manifests-0",
                ".annotations[\"org.opencontainers.image.created\"]",
                vec![fd("value", Some(json!("2024-01-01T00:00:00Z")), None)],
            ),
            finding(
                Kind::Config,
                "manifests-0/config",
                ".config.Env",
                vec![fd(
                    "value",
                    Some(json!([
                        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                    ])),
                    Some(json!(["PATH=/usr/bin", "LANG=C.UTF-8"])),
                )],
            ),
            finding(
                Kind::Layer,
                "manifests-0/layers-1",
                "",
                vec![fd(
                    "mediaType",
                    Some(json!("application/vnd.oci.image.layer.v1.tar+gzip")),
                    Some(json!("application/vnd.oci.image.layer.v1.tar+zstd")),
                )],
            ),
            finding(
                Kind::File,
                "manifests-0/layers-1",
                "etc/os-release",
                vec![
                    fd("digest", Some(json!(sha(6))), Some(json!(sha(7)))),
                    fd(
                        "mtime",
                        Some(json!("2024-01-01T00:00:00Z")),
                        Some(json!("2024-02-01T00:00:00Z")),
                    ),
                    fd("mode", Some(json!("0644")), Some(json!("0755"))),
                ],
            ),
            finding(
                Kind::File,
                "manifests-0/layers-1",
                "usr/bin/new-tool",
                vec![fd(
                    "entry",
                    None,
                    Some(
                        json!({"type": "file", "mode": "0755", "uid": 0, "gid": 0, "size": 5, "digest": sha(9)}),
                    ),
                )],
            ),
            finding(
                Kind::File,
                "manifests-0/layers-1",
                "var/lib/gone",
                vec![fd(
                    "entry",
                    Some(json!({"type": "directory", "mode": "0755", "uid": 0, "gid": 0})),
                    None,
                )],
            ),
            finding(
                Kind::File,
                "manifests-0/layers-1",
                "etc/ssl/certs/ca-certificates-from-a-very-long-directory-name/bundle.crt",
                vec![
                    fd("linkname", None, Some(json!("../x"))),
                    fd("size", Some(json!(10)), Some(json!(0))),
                ],
            ),
            finding(
                Kind::File,
                "manifests-0/layers-1",
                "evil\n\u{1b}[2Jname",
                vec![fd("uid", Some(json!(0)), Some(json!(1000)))],
            ),
        ];
        Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: "ocidiff".to_owned(),
                version: "0.1.0".to_owned(),
            },
            inputs: [
                Input {
                    reference: "oci:a".to_owned(),
                    transport: "oci".to_owned(),
                    digest: Some(sha(8).parse().unwrap()),
                },
                Input {
                    reference: "docker-archive:b.tar".to_owned(),
                    transport: "docker-archive".to_owned(),
                    digest: None,
                },
            ],
            rules: Rules::default(),
            ignore_paths: vec![],
            verdict: Verdict::of(&findings),
            comparisons: vec![Comparison {
                location: "manifests-0".to_owned(),
                platform: None,
                digests: [Some(sha(3).parse().unwrap()), Some(sha(4).parse().unwrap())],
            }],
            summary: Summary::of(&findings),
            findings,
        }
    }

    fn render(report: &Report, full: bool) -> String {
        let mut out = Vec::new();
        write_table(report, &mut out, TableOptions { full }).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn empty_report_prints_nothing() {
        let mut report = sample_report();
        report.findings.clear();
        assert_eq!(render(&report, false), "");
        assert_eq!(render(&report, true), "");
    }

    #[test]
    fn short_table() {
        insta::assert_snapshot!(render(&sample_report(), false), @r#"
        TYPE   NAME                                                          INPUT-0                                           INPUT-1
        Desc   manifests-0                                                   digest=sha256:4bf5122f3445, size=1234             digest=sha256:dbc1b4c900ff, size=1240
        Idx    index .manifests                                              [{"digest":"sha256:084fed08b978"}]                [{"digest":"sha256:e52d…:"sha256:e77b9a9ae9e3"}]
        Mani   manifests-0 .annotations["org.opencontainers.image.created"]  2024-01-01T00:00:00Z                              -
        Cfg    manifests-0/config .config.Env                                ["PATH=/usr/local/sbin:…in:/usr/bin:/sbin:/bin"]  ["PATH=/usr/bin","LANG=C.UTF-8"]
        Layer  manifests-0/layers-1                                          mediaType=application/vnd.oci.image.layer.v1.tar+gzip  mediaType=application/vnd.oci.image.layer.v1.tar+zstd
        File   etc/os-release                                                digest=sha256:67586e98fad2, mtime=2024-01-01T00:00:00Z, mode=0644  digest=sha256:ca358758f6d2, mtime=2024-02-01T00:00:00Z, mode=0755
        File   usr/bin/new-tool                                              -                                                 file 0755 0:0 5B sha256:2b4c342f5433
        File   var/lib/gone                                                  directory 0755 0:0                                -
        File   etc/ssl/certs/ca-certificates…long-directory-name/bundle.crt  linkname=-, size=10                               linkname=../x, size=0
        File   evil\n\u{1b}[2Jname                                           uid=0                                             uid=1000
        "#);
    }

    #[test]
    fn full_table() {
        insta::assert_snapshot!(render(&sample_report(), true), @r#"
        TYPE   NAME                                                          INPUT-0               INPUT-1
        Desc   manifests-0                                                   digest=sha256:4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a, size=1234  digest=sha256:dbc1b4c900ffe48d575b5da5c638040125f65db0fe3e24494b76ea986457d986, size=1240
        Idx    index .manifests                                              [{"digest":"sha256:084fed08b978af4d7d196a7446a86b58009e636b611db16211b65a9aadff29c5"}]  [{"digest":"sha256:e52d9c508c502347344d8c07ad91cbd6068afc75ff6292f062a09ca381c89e71"},{"digest":"sha256:e77b9a9ae9e30b0dbdb6f510a264ef9de781501d7b6b92ae89eb059c5ab743db"}]
        Mani   manifests-0 .annotations["org.opencontainers.image.created"]  2024-01-01T00:00:00Z  -
        Cfg    manifests-0/config .config.Env                                ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]  ["PATH=/usr/bin","LANG=C.UTF-8"]
        Layer  manifests-0/layers-1                                          mediaType=application/vnd.oci.image.layer.v1.tar+gzip  mediaType=application/vnd.oci.image.layer.v1.tar+zstd
        File   etc/os-release                                                digest=sha256:67586e98fad27da0b9968bc039a1ef34c939b9b8e523a8bef89d478608c5ecf6, mtime=2024-01-01T00:00:00Z, mode=0644  digest=sha256:ca358758f6d27e6cf45272937977a748fd88391db679ceda7dc7bf1f005ee879, mtime=2024-02-01T00:00:00Z, mode=0755
        File   usr/bin/new-tool                                              -                     file 0755 0:0 5B sha256:2b4c342f5433ebe591a1da77e013d1b72475562d48578dca8b84bac6651c3cb9
        File   var/lib/gone                                                  directory 0755 0:0    -
        File   etc/ssl/certs/ca-certificates-from-a-very-long-directory-name/bundle.crt  linkname=-, size=10   linkname=../x, size=0
        File   evil\n\u{1b}[2Jname                                           uid=0                 uid=1000
        "#);
    }

    #[test]
    fn cuts() {
        assert_eq!(cut_middle("abc", 4), "abc");
        let root = finding(Kind::Descriptor, "", "", vec![]);
        assert_eq!(name(&root, TableOptions::default()), "-");
        assert_eq!(cut_middle("abcdefgh", 5), "ab…gh");
        assert_eq!(escape("a\tb\u{202e}c"), "a\\tb\\u{202e}c");
    }
}
