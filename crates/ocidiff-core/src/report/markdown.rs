//! A Markdown summary (`--format markdown`) for CI job summaries such as GitHub's
//! `$GITHUB_STEP_SUMMARY`: the verdict as a heading, the inputs and rules, the counted findings
//! by class, the counted findings as a table in review order
//! ([`crate::finding::review_order`]: the first [`MAX_ROWS`] are the ones to look at first, then
//! how many more), the advice on them (each advice once, with the findings it is for; see
//! `docs/advice.md`), the package pins that reproduce input 0 ([`crate::finding::pins`]), and
//! the set-aside ones by class in a collapsed `<details>` block.
//!
//! Cells hold the table's short values (see [`super::table`]). Every value from the images is
//! escaped: control characters as `\n`, `\u{1b}`, and the characters Markdown or the HTML it
//! allows would act on (`|`, backticks, `<`, `*`, `[`, `$`, `@`, …) with a backslash, so a
//! file name can neither break the table nor add links, images, markup or mentions.

use std::collections::BTreeMap;
use std::io;

use crate::finding::{self, Class, Finding, Findings, Outcome, Pin, review_order};
use crate::report::cells::{self, is_hostile, outcome_word, plural, rule_names};

/// At most this many findings are listed, the first in review order; the JSON and HTML
/// reports have them all.
pub const MAX_ROWS: usize = 200;
/// At most this many pieces of advice are listed, each with the names of its first few
/// findings.
const MAX_ADVICE: usize = 50;
const NAMES_PER_ADVICE: usize = 5;

/// Writes `report` as a Markdown summary.
pub fn write_markdown(report: &Findings, out: &mut dyn io::Write) -> io::Result<()> {
    let v = &report.verdict;
    let mark = match v.outcome {
        Outcome::Identical | Outcome::Equivalent => "✅",
        Outcome::Different => "❌",
    };
    writeln!(out, "## {mark} ocidiff: {}\n", outcome_word(v.outcome))?;
    writeln!(out, "{}\n", md(&v.line()))?;
    for (n, input) in report.inputs.iter().enumerate() {
        let digest = input
            .digest
            .as_ref()
            .map_or_else(String::new, |d| format!(", {d}"));
        writeln!(
            out,
            "- input {n}: {} ({}{digest})",
            md(&input.reference),
            md(&input.transport)
        )?;
    }
    writeln!(out, "- {}\n", rules(report))?;

    if !v.counted_by_class.is_empty() {
        writeln!(out, "| class | counted |\n|---|--:|")?;
        for (class, n) in &v.counted_by_class {
            writeln!(out, "| {} | {n} |", class.name())?;
        }
        writeln!(out)?;
        let counted: Vec<&Finding> = review_order(&report.findings)
            .into_iter()
            .filter(|f| f.counted)
            .collect();
        writeln!(out, "### Differences\n")?;
        writeln!(
            out,
            "| TYPE | NAME | INPUT-0 | INPUT-1 | CLASS |\n|---|---|---|---|---|"
        )?;
        for f in counted.iter().take(MAX_ROWS) {
            let [kind, name, lhs, rhs, class] = cells::row(f, false);
            writeln!(
                out,
                "| {kind} | {} | {} | {} | {class} |",
                md(&name),
                md(&lhs),
                md(&rhs),
            )?;
        }
        if counted.len() > MAX_ROWS {
            writeln!(
                out,
                "\n… and {} more (all are in the JSON and HTML reports).",
                counted.len() - MAX_ROWS
            )?;
        }
        writeln!(out)?;
        advice(&counted, out)?;
    }
    pins(report, out)?;

    if !v.set_aside_by_class.is_empty() {
        set_aside(&v.set_aside_by_class, v.set_aside, out)?;
    }
    Ok(())
}

/// Each advice of `counted` once, with how many findings it is for and the first of them, in
/// review order; a pinned package's advice is left to the pins.
fn advice(counted: &[&Finding], out: &mut dyn io::Write) -> io::Result<()> {
    let mut by_advice: Vec<(&str, Vec<&Finding>)> = Vec::new();
    for f in counted.iter().filter(|f| Pin::of(f).is_none()) {
        let Some(advice) = f.advice.as_deref() else {
            continue;
        };
        match by_advice.iter_mut().find(|(a, _)| *a == advice) {
            Some((_, findings)) => findings.push(f),
            None => by_advice.push((advice, vec![f])),
        }
    }
    if by_advice.is_empty() {
        return Ok(());
    }
    writeln!(out, "### Advice\n")?;
    for (advice, findings) in by_advice.iter().take(MAX_ADVICE) {
        let names: Vec<String> = findings
            .iter()
            .take(NAMES_PER_ADVICE)
            .map(|f| md(&cells::row(f, false)[1]))
            .collect();
        let more = if findings.len() > NAMES_PER_ADVICE {
            ", …"
        } else {
            ""
        };
        writeln!(
            out,
            "- **{} finding{}** ({}{more}): {}",
            findings.len(),
            plural(findings.len()),
            names.join(", "),
            md(advice)
        )?;
    }
    if by_advice.len() > MAX_ADVICE {
        writeln!(
            out,
            "- … and {} more (in the JSON and HTML reports)",
            by_advice.len() - MAX_ADVICE
        )?;
    }
    writeln!(out)
}

/// The install commands that pin every package whose version moved to input 0's.
fn pins(report: &Findings, out: &mut dyn io::Write) -> io::Result<()> {
    let lines = finding::pins(report);
    if lines.is_empty() {
        return Ok(());
    }
    // Pins hold only the characters of package names and versions: no fence can close early.
    writeln!(out, "### To reproduce input 0\n\n```sh")?;
    for line in lines {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "```\n")
}

fn set_aside(
    by_class: &BTreeMap<Class, usize>,
    total: usize,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    writeln!(
        out,
        "<details><summary>{total} difference{} set aside by the options</summary>\n",
        plural(total)
    )?;
    writeln!(out, "| class | set aside | why |\n|---|--:|---|")?;
    for (class, n) in by_class {
        writeln!(
            out,
            "| {} | {n} | {} |",
            class.name(),
            md(&class.explain(false))
        )?;
    }
    writeln!(out, "\n</details>")
}

/// The rules in force and the ignored paths.
fn rules(report: &Findings) -> String {
    let (on, _) = rule_names(report);
    let mut line = if on.is_empty() {
        "rules: strict, nothing ignored".to_owned()
    } else {
        format!("rules: {}", on.join(", "))
    };
    if !report.ignore_paths.is_empty() {
        line.push_str("; ignored paths: ");
        line.push_str(&report.ignore_paths.join(", "));
    }
    if let Some(file) = &report.config_file {
        line.push_str("; defaults from ");
        line.push_str(file);
    }
    md(&line)
}

/// `s` safe in Markdown text and table cells.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_hostile(c) {
            // `\n`, `\u{1b}`: a backslash before a letter is shown as it is.
            out.extend(c.escape_default());
        } else if matches!(
            c,
            '\\' | '`'
                | '*'
                | '_'
                | '['
                | ']'
                | '<'
                | '>'
                | '|'
                | '&'
                | '~'
                | '$'
                | '@'
                | '#'
                | '!'
        ) {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::report::fixtures::{file_change, long_path, refresh, review_report, rich_report};

    fn render(report: &Findings) -> String {
        let mut out = Vec::new();
        write_markdown(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn different() {
        insta::assert_snapshot!(render(&rich_report()));
    }

    #[test]
    fn equivalent_and_identical() {
        let mut report = rich_report();
        report.findings.retain(|f| !f.counted);
        refresh(&mut report);
        insta::assert_snapshot!("equivalent", render(&report));
        report.findings.clear();
        refresh(&mut report);
        report.rules = Default::default();
        report.ignore_paths.clear();
        insta::assert_snapshot!(render(&report), @r#"
        ## ✅ ocidiff: identical

        identical: no differences

        - input 0: oci:a (oci, sha256:beead77994cf573341ec17b58bbf7eb34d2711c993c1d976b128b3188dc1829a)
        - input 1: oci:\</script\>\<script\>alert(1)\</script\>\<img src=x onerror=alert(2)\>"'\& (docker-archive)
        - rules: strict, nothing ignored
        "#);
    }

    #[test]
    fn capped_rows() {
        let mut report = rich_report();
        report.findings = (0..MAX_ROWS + 7)
            .map(|i| file_change(&format!("f{i}"), "size", json!(1), json!(2), Class::Content))
            .collect();
        refresh(&mut report);
        let text = render(&report);
        assert_eq!(
            text.lines().filter(|l| l.starts_with("| File |")).count(),
            MAX_ROWS
        );
        assert!(text.contains("\n… and 7 more (all are in the JSON and HTML reports).\n"));
    }

    #[test]
    fn advice_once_each_and_the_pins_that_reproduce_input_0() {
        let mut report = review_report();
        for f in &mut report.findings {
            let which = match f.name.as_str() {
                "etc/twice" | "usr/bin/bar" => "a",
                "etc/motd" => "b",
                _ => continue,
            };
            f.advice = Some(format!("Remove *{which}* | `x`"));
        }
        let text = render(&report);
        // A section: its title, a blank line, its body up to the next blank line.
        let section = |title: &str| {
            let start = text
                .find(title)
                .unwrap_or_else(|| panic!("{title}: {text}"));
            let body = start + title.len() + 2;
            text[start..body + text[body..].find("\n\n").unwrap()].to_owned()
        };
        // Findings with the same advice share its line, in review order; a pinned package's
        // advice is left to the pins.
        assert_eq!(
            section("### Advice"),
            "### Advice\n\n- **2 findings** (etc/twice, usr/bin/bar): Remove \\*a\\* \\| \\`x\\`\n- **1 finding** (etc/motd): Remove \\*b\\* \\| \\`x\\`"
        );
        assert_eq!(
            section("### To reproduce input 0"),
            "### To reproduce input 0\n\n```sh\napt-get install --no-install-recommends foo=1.0\n# Debian as of input 0's created, for versions the archive no longer has: deb [check-valid-until=no] https://snapshot.debian.org/archive/debian/20240301T120000Z/ <suite> main\n```"
        );
        // Neither when there is nothing to say.
        let text = render(&rich_report());
        assert!(!text.contains("### Advice") && !text.contains("### To reproduce"));
    }

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(md("a|b`c\nd"), "a\\|b\\`c\\nd");
        assert_eq!(md("<img src=x>"), "\\<img src=x\\>");
        assert_eq!(
            md("[x](y) *b* $m$ @me #1"),
            "\\[x\\](y) \\*b\\* \\$m\\$ \\@me \\#1"
        );
        assert_eq!(md("a\\b"), "a\\\\b");
        assert_eq!(md("\u{202e}\u{1b}"), "\\u{202e}\\u{1b}");
    }

    #[test]
    fn rows_in_review_order_with_names_whole() {
        let text = render(&review_report());
        let rows: Vec<(&str, &str)> = text
            .lines()
            .filter(|l| {
                l.starts_with("| File |") || l.starts_with("| Pkg |") || l.starts_with("| Desc |")
            })
            .map(|l| {
                let cells: Vec<&str> = l.split(" | ").collect();
                (cells[1], cells[4].trim_end_matches(" |"))
            })
            .collect();
        let long = md(&long_path());
        assert_eq!(
            rows,
            [
                ("etc/twice", "runtime-dependent"),
                ("usr/bin/bar", "same-package-content"),
                ("etc/motd", "unowned"),
                (long.as_str(), "content"),
                ("dpkg:new", "added"),
                ("dpkg:foo", "package-version"),
                ("usr/bin/foo", "package-changed"),
                ("var/lib/dpkg/status", "package-changed"),
                ("usr/bin/new", "package-changed"),
                ("manifests-0/layers-0", "derived"),
            ]
        );
    }
}
