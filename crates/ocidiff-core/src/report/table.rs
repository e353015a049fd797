//! The default output: one aligned row per finding under diffoci's header
//! `TYPE NAME INPUT-0 INPUT-1`, and nothing at all when there is no finding.
//!
//! - TYPE is [`crate::finding::Kind::short`].
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

use std::fmt::Write as _;
use std::io;

use crate::finding::{Finding, Findings};
use crate::report::cells::{self, NAME_WIDTH};

/// How the table shows values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// Show digests, values and names whole instead of shortened.
    pub full: bool,
}

/// Cap of the INPUT-0 column's width: a cell wider than this overflows its own row.
const CELL_WIDTH: usize = 48;
/// Between columns.
const GAP: &str = "  ";

/// Writes `report`'s counted findings as a table (with [`TableOptions::full`], the set-aside
/// ones too); writes nothing when there are none.
pub fn write_table(
    report: &Findings,
    out: &mut dyn io::Write,
    opts: TableOptions,
) -> io::Result<()> {
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
        .chain(shown.into_iter().map(|f| cells::row(f, opts.full)))
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
            let _ = write!(line, "{:<width$}{GAP}", row[col]);
        }
        line.push_str(&row[3]);
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::sample_report;

    fn render(report: &Findings, full: bool) -> String {
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
}
