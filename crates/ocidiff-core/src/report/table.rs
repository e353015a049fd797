//! The default output: one aligned row per finding under diffoci's header
//! `TYPE NAME INPUT-0 INPUT-1` followed by `CLASS`, and nothing at all when there is no
//! finding. Rows come in review order ([`crate::finding::review_order`]): what a reviewer must
//! look at first (`runtime-dependent`, `same-package-content`, `unowned`, `content`, …) before
//! what a rebuild is expected to change (`package-changed`, `timestamp`, `storage-format`, …),
//! and a `Pkg` row before the files it explains.
//!
//! - TYPE is [`crate::finding::Kind::short`].
//! - NAME is the entry path for a `File`; `ECOSYSTEM:NAME` for a `Pkg`; the location
//!   (`manifests-0/layers-2`) for a `Desc` or `Layer`; the location, a space and the jq-style
//!   path for an `Idx`, `Mani` or `Cfg` (`manifests-0/config .config.Env`). A location never
//!   holds a space and a jq path always starts with `.`, so the two parts cannot be confused.
//!   NAME is never shortened, so that a path can always be copied from the table.
//! - INPUT-0 / INPUT-1 list each differing field as `field=value`, joined by `, `; a JSON
//!   value (field `value`) is shown bare; a side that lacks the field shows `-`, and a side
//!   that lacks all of them (an added or removed entry) is a single `-`.
//! - Values are compact JSON, except that strings are shown without quotes. Digests are cut to
//!   `sha256:` and 12 hex digits, and long values lose their middle to a `…`, unless
//!   [`TableOptions::full`] is set (the CLI's `--verbose`).
//! - CLASS is the finding's class, as named in the JSON report (`content`,
//!   `same-package-content`, …); with [`TableOptions::full`], a set-aside finding's is in
//!   brackets, like its set-aside fields. It is always the last whitespace-separated word.
//! - Control and bidirectional-override characters from the images are shown escaped
//!   (`\n`, `\u{1b}`), so a hostile image cannot move the cursor or reorder the terminal line.
//! - An empty NAME (a finding at the root with no path) is shown as `-`, so that every row has
//!   a NAME.
//! - With [`TableOptions::full`], a finding's advice (how to make input 1 match input 0, see
//!   `docs/advice.md`) follows its row on a line of its own, indented: `    advice: …`.
//! - Widths count characters. A column is as wide as its widest cell up to a cap; a longer
//!   cell (a long NAME, or a cell with many fields or whole values) overflows its own row only.

use std::fmt::Write as _;
use std::io;

use crate::finding::{Finding, Findings, review_order};
use crate::report::cells;

/// How the table shows values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// Show the findings set aside too, and digests and values whole instead of shortened.
    pub full: bool,
}

/// Cap of the NAME column's width: a longer NAME is shown whole and overflows its own row.
const NAME_WIDTH: usize = 60;
/// Cap of the INPUT-0 and INPUT-1 columns' widths: a wider cell overflows its own row.
const CELL_WIDTH: usize = 48;
/// Between columns.
const GAP: &str = "  ";

/// Writes `report`'s counted findings as a table (with [`TableOptions::full`], the set-aside
/// ones too, after them), in review order; writes nothing when there are none.
pub fn write_table(
    report: &Findings,
    out: &mut dyn io::Write,
    opts: TableOptions,
) -> io::Result<()> {
    let shown: Vec<&Finding> = review_order(&report.findings)
        .into_iter()
        .filter(|f| f.counted || opts.full)
        .collect();
    if shown.is_empty() {
        return Ok(());
    }
    let header = ["TYPE", "NAME", "INPUT-0", "INPUT-1", "CLASS"].map(String::from);
    let rows: Vec<[String; 5]> = std::iter::once(header)
        .chain(shown.iter().map(|f| cells::row(f, opts.full)))
        .collect();
    // The header has none.
    let advice = std::iter::once(None).chain(
        shown
            .iter()
            .map(|f| f.advice.as_deref().filter(|_| opts.full)),
    );
    let caps = [usize::MAX, NAME_WIDTH, CELL_WIDTH, CELL_WIDTH];
    let mut widths = [0usize; 4];
    for row in &rows {
        for (col, cap) in caps.iter().enumerate() {
            let w = row[col].chars().count();
            if w <= *cap {
                widths[col] = widths[col].max(w);
            }
        }
    }
    for (row, advice) in rows.iter().zip(advice) {
        let mut line = String::new();
        for (col, width) in widths.iter().enumerate() {
            let _ = write!(line, "{:<width$}{GAP}", row[col]);
        }
        line.push_str(&row[4]);
        writeln!(out, "{line}")?;
        if let Some(advice) = advice {
            writeln!(out, "    advice: {}", cells::escape_controls(advice))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{long_path, review_report, sample_report};

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
        TYPE   NAME                                                          INPUT-0                                           INPUT-1                                           CLASS
        Desc   manifests-0                                                   digest=sha256:4bf5122f3445, size=1234             digest=sha256:dbc1b4c900ff, size=1240             content
        Idx    index .manifests                                              [{"digest":"sha256:084fed08b978"}]                [{"digest":"sha256:e52d…:"sha256:e77b9a9ae9e3"}]  content
        Mani   manifests-0 .annotations["org.opencontainers.image.created"]  2024-01-01T00:00:00Z                              -                                                 content
        Cfg    manifests-0/config .config.Env                                ["PATH=/usr/local/sbin:…in:/usr/bin:/sbin:/bin"]  ["PATH=/usr/bin","LANG=C.UTF-8"]                  content
        Layer  manifests-0/layers-1                                          mediaType=application/vnd.oci.image.layer.v1.tar+gzip  mediaType=application/vnd.oci.image.layer.v1.tar+zstd  content
        File   etc/os-release                                                digest=sha256:67586e98fad2, mtime=2024-01-01T00:00:00Z, mode=0644  digest=sha256:ca358758f6d2, mtime=2024-02-01T00:00:00Z, mode=0755  content
        File   usr/bin/new-tool                                              -                                                 file 0755 0:0 5B sha256:2b4c342f5433              content
        File   var/lib/gone                                                  directory 0755 0:0                                -                                                 content
        File   etc/ssl/certs/ca-certificates-from-a-very-long-directory-name/bundle.crt  linkname=-, size=10                               linkname=../x, size=0                             content
        File   evil\n\u{1b}[2Jname                                           uid=0                                             uid=1000                                          content
        "#);
    }

    #[test]
    fn full_table() {
        insta::assert_snapshot!(render(&sample_report(), true), @r#"
        TYPE   NAME                                                          INPUT-0               INPUT-1                           CLASS
        Desc   manifests-0                                                   digest=sha256:4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a, size=1234  digest=sha256:dbc1b4c900ffe48d575b5da5c638040125f65db0fe3e24494b76ea986457d986, size=1240  content
        Idx    index .manifests                                              [{"digest":"sha256:084fed08b978af4d7d196a7446a86b58009e636b611db16211b65a9aadff29c5"}]  [{"digest":"sha256:e52d9c508c502347344d8c07ad91cbd6068afc75ff6292f062a09ca381c89e71"},{"digest":"sha256:e77b9a9ae9e30b0dbdb6f510a264ef9de781501d7b6b92ae89eb059c5ab743db"}]  content
        Mani   manifests-0 .annotations["org.opencontainers.image.created"]  2024-01-01T00:00:00Z  -                                 content
        Cfg    manifests-0/config .config.Env                                ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]  ["PATH=/usr/bin","LANG=C.UTF-8"]  content
        Layer  manifests-0/layers-1                                          mediaType=application/vnd.oci.image.layer.v1.tar+gzip  mediaType=application/vnd.oci.image.layer.v1.tar+zstd  content
        File   etc/os-release                                                digest=sha256:67586e98fad27da0b9968bc039a1ef34c939b9b8e523a8bef89d478608c5ecf6, mtime=2024-01-01T00:00:00Z, mode=0644  digest=sha256:ca358758f6d27e6cf45272937977a748fd88391db679ceda7dc7bf1f005ee879, mtime=2024-02-01T00:00:00Z, mode=0755  content
        File   usr/bin/new-tool                                              -                     file 0755 0:0 5B sha256:2b4c342f5433ebe591a1da77e013d1b72475562d48578dca8b84bac6651c3cb9  content
        File   var/lib/gone                                                  directory 0755 0:0    -                                 content
        File   etc/ssl/certs/ca-certificates-from-a-very-long-directory-name/bundle.crt  linkname=-, size=10   linkname=../x, size=0             content
        File   evil\n\u{1b}[2Jname                                           uid=0                 uid=1000                          content
        "#);
    }

    #[test]
    fn rows_in_review_order() {
        let short = render(&review_report(), false).replace(&long_path(), "LONG-PATH");
        insta::assert_snapshot!(short, @r#"
        TYPE  NAME                  INPUT-0                     INPUT-1                     CLASS
        File  etc/twice             runtime=duplicate-path      runtime=null                runtime-dependent
        File  usr/bin/bar           digest=sha256:4bf5122f3445  digest=sha256:dbc1b4c900ff  same-package-content
        File  etc/motd              digest=sha256:e77b9a9ae9e3  digest=sha256:67586e98fad2  unowned
        File  LONG-PATH  size=1                      size=2                      content
        Pkg   dpkg:new              -                           3 (amd64)                   added
        Pkg   dpkg:foo              version=1.0 (amd64)         version=1.1 (amd64)         package-version
        File  usr/bin/foo           digest=sha256:4bf5122f3445  digest=sha256:dbc1b4c900ff  package-changed
        File  var/lib/dpkg/status   digest=sha256:ca358758f6d2  digest=sha256:beead77994cf  package-changed
        File  usr/bin/new           digest=sha256:4bf5122f3445  digest=sha256:dbc1b4c900ff  package-changed
        Desc  manifests-0/layers-0  digest=sha256:084fed08b978  digest=sha256:e52d9c508c50  derived
        "#);
        let full = render(&review_report(), true).replace(&long_path(), "LONG-PATH");
        insta::assert_snapshot!(full, @r#"
        TYPE  NAME                         INPUT-0                 INPUT-1                 CLASS
        File  etc/twice                    runtime=duplicate-path  runtime=null            runtime-dependent
        File  usr/bin/bar                  digest=sha256:4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a  digest=sha256:dbc1b4c900ffe48d575b5da5c638040125f65db0fe3e24494b76ea986457d986  same-package-content
        File  etc/motd                     digest=sha256:e77b9a9ae9e30b0dbdb6f510a264ef9de781501d7b6b92ae89eb059c5ab743db  digest=sha256:67586e98fad27da0b9968bc039a1ef34c939b9b8e523a8bef89d478608c5ecf6  unowned
        File  LONG-PATH  size=1                  size=2                  content
        Pkg   dpkg:new                     -                       3 (amd64)               added
        Pkg   dpkg:foo                     version=1.0 (amd64)     version=1.1 (amd64)     package-version
            advice: Install the version input 0 has: `apt-get install --no-install-recommends foo=1.0`.
        File  usr/bin/foo                  digest=sha256:4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a  digest=sha256:dbc1b4c900ffe48d575b5da5c638040125f65db0fe3e24494b76ea986457d986  package-changed
        File  var/lib/dpkg/status          digest=sha256:ca358758f6d27e6cf45272937977a748fd88391db679ceda7dc7bf1f005ee879  digest=sha256:beead77994cf573341ec17b58bbf7eb34d2711c993c1d976b128b3188dc1829a  package-changed
        File  usr/bin/new                  digest=sha256:4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a  digest=sha256:dbc1b4c900ffe48d575b5da5c638040125f65db0fe3e24494b76ea986457d986  package-changed
        Desc  manifests-0/layers-0         digest=sha256:084fed08b978af4d7d196a7446a86b58009e636b611db16211b65a9aadff29c5  digest=sha256:e52d9c508c502347344d8c07ad91cbd6068afc75ff6292f062a09ca381c89e71  derived
        Cfg   manifests-0/config .created  [2024-03-01T12:00:00Z]  [2024-03-08T12:00:00Z]  [timestamp]
            advice: Build with SOURCE_DATE_EPOCH=1709294400.
        "#);
    }

    #[test]
    fn names_are_never_cut() {
        let path = long_path();
        assert_eq!(path.chars().count(), 300);
        for full in [false, true] {
            let table = render(&review_report(), full);
            let row = table
                .lines()
                .find(|l| l.starts_with("File") && l.contains("size="))
                .unwrap();
            assert_eq!(row.split_whitespace().nth(1), Some(path.as_str()));
            assert_eq!(row.split_whitespace().last(), Some("content"));
        }
        // Nor are the long names of the sample, which lose no middle to a `…`.
        let table = render(&sample_report(), false);
        assert!(table.contains(
            " etc/ssl/certs/ca-certificates-from-a-very-long-directory-name/bundle.crt "
        ));
    }

    #[test]
    fn advice_under_its_row_only_with_full() {
        let mut report = review_report();
        report.findings[2].advice = Some("Pin \u{1b}[2J it".to_owned());
        assert!(!render(&report, false).contains("advice"));
        let table = render(&report, true);
        let lines: Vec<&str> = table.lines().collect();
        let row = lines
            .iter()
            .position(|l| l.starts_with("File  usr/bin/foo "))
            .unwrap();
        assert_eq!(lines[row + 1], "    advice: Pin \\u{1b}[2J it");
    }

    #[test]
    fn class_is_the_last_word_of_every_row() {
        let table = render(&review_report(), true);
        let classes: Vec<&str> = table
            .lines()
            .filter(|l| !l.starts_with("    advice: "))
            .map(|l| l.split_whitespace().last().unwrap())
            .collect();
        assert_eq!(
            classes,
            [
                "CLASS",
                "runtime-dependent",
                "same-package-content",
                "unowned",
                "content",
                "added",
                "package-version",
                "package-changed",
                "package-changed",
                "package-changed",
                "derived",
                "[timestamp]",
            ]
        );
    }
}
