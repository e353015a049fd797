//! The HTML report (`--report-html`): one self-contained page, readable offline and safe to
//! open whatever the images hold.
//!
//! - Layout: the verdict on top (outcome, counts by class counted and set aside), the inputs,
//!   the manifests compared and the rules in force; then the counted findings grouped by kind
//!   and class, then the set-aside ones in a collapsed section of their own. Groups and rows
//!   come in review order ([`crate::finding::review_order`]): what to look at first on top.
//!   Each group is a `<details>` (open when small), each finding a `<details>` whose body
//!   holds every field's two values in full, its explanation, its advice (how to make input 1
//!   match input 0, see `docs/advice.md`), and its detail (text diff, ELF sections, nested
//!   findings, note).
//! - Large reports: the rows of a group larger than [`LAZY_ROWS`] are not in the DOM but in a
//!   JSON block (`<script type="application/json" id="ocidiff-rows">`, with `<`, `>` and `&`
//!   escaped so that no value can close it), and are inserted a page at a time when the group
//!   is opened. A filter box matches kind, class, location, name and field names as one types;
//!   `#q=TEXT` in the URL pre-fills it.
//! - Safety: every value from the images is HTML-escaped, with control and bidi-override
//!   characters shown as escapes (`\u{1b}`). The page has no external reference and a
//!   Content-Security-Policy that forbids every fetch and allows only its own script and
//!   style (by hash), so even a missed escape could neither run script nor reach the network.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io;

use base64::Engine;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::finding::{
    Class, Detail, FieldDiff, Finding, Findings, Kind, Outcome, Verdict, review_order,
};
use crate::report::cells::{self, is_hostile, outcome_word, plural, rule_names};

/// A group with more rows than this keeps them out of the DOM until it is opened.
pub const LAZY_ROWS: usize = 500;
/// A group with at most this many rows starts open.
const OPEN_ROWS: usize = 25;

const STYLE: &str = include_str!("html.css");
const SCRIPT: &str = include_str!("html.js");

/// Writes `report` as one HTML page.
pub fn write_html(report: &Findings, out: &mut dyn io::Write) -> io::Result<()> {
    let mut page = String::with_capacity(64 * 1024 + report.findings.len() * 1024);
    let mut lazy: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut next_group = 0;

    head(report, &mut page);
    page.push_str("<body>\n");
    verdict(report, &mut page);
    facts(report, &mut page);

    page.push_str(concat!(
        "<section id=\"findings\">\n<div class=\"toolbar\">",
        "<input id=\"q\" type=\"search\" placeholder=\"Filter by name, kind or class (press /)\" ",
        "autocomplete=\"off\" spellcheck=\"false\" aria-label=\"Filter findings\">",
        "<span id=\"q-count\"></span>",
        "<button id=\"open-all\" type=\"button\">Expand groups</button>",
        "<button id=\"close-all\" type=\"button\">Collapse groups</button></div>\n"
    ));
    let (counted, aside): (Vec<&Finding>, Vec<&Finding>) = review_order(&report.findings)
        .into_iter()
        .partition(|f| f.counted);
    let _ = writeln!(
        page,
        "<div class=\"section-h\"><h2>Differences</h2><span class=\"n\" data-section-count=\"counted\" data-total=\"{0}\">{1}</span></div>",
        counted.len(),
        thousands(counted.len())
    );
    if counted.is_empty() {
        page.push_str("<p class=\"none\">None counted under the chosen options.</p>\n");
    }
    groups(&counted, "counted", &mut next_group, &mut lazy, &mut page);
    if !aside.is_empty() {
        let _ = write!(
            page,
            "<details class=\"aside\" id=\"aside\"><summary><h2>Set aside by the options</h2> <span class=\"n muted\" data-section-count=\"aside\" data-total=\"{0}\">{1}</span> <span class=\"muted\">— what was not counted, and why</span></summary>\n<div class=\"groups\">\n",
            aside.len(),
            thousands(aside.len())
        );
        groups(&aside, "aside", &mut next_group, &mut lazy, &mut page);
        page.push_str("</div></details>\n");
    }
    page.push_str("</section>\n");
    let _ = writeln!(
        page,
        "<footer>Written by {} {} ({}) · report schema {} · a self-contained page: it loads nothing from the network.</footer>",
        esc(&report.tool.name),
        esc(&report.tool.version),
        esc(&report.tool.commit),
        report.schema_version
    );
    page.push_str("<script type=\"application/json\" id=\"ocidiff-rows\">");
    page.push_str(&script_json(&lazy)?);
    page.push_str("</script>\n<script>");
    page.push_str(SCRIPT);
    page.push_str("</script>\n</body>\n</html>\n");
    out.write_all(page.as_bytes())
}

fn head(report: &Findings, page: &mut String) {
    let title = format!(
        "ocidiff: {} — {} vs {}",
        outcome_word(report.verdict.outcome),
        report.inputs[0].reference,
        report.inputs[1].reference
    );
    let _ = write!(
        page,
        concat!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; ",
            "style-src '{style}'; script-src '{script}'; base-uri 'none'; form-action 'none'\">\n",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
            "<meta name=\"color-scheme\" content=\"light dark\">\n",
            "<title>{title}</title>\n<style>{css}</style>\n</head>\n"
        ),
        style = csp_hash(STYLE),
        script = csp_hash(SCRIPT),
        title = esc(&title),
        css = STYLE,
    );
}

/// The CSP source that allows exactly the inline element whose content is `text`.
fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

fn verdict(report: &Findings, page: &mut String) {
    let v = &report.verdict;
    let headline = match v.outcome {
        Outcome::Identical => "No differences at all.".to_owned(),
        Outcome::Equivalent => format!(
            "The same under the chosen options: {} difference{} set aside.",
            thousands(v.set_aside),
            plural(v.set_aside)
        ),
        Outcome::Different => {
            let mut s = format!(
                "{} difference{} counted",
                thousands(v.counted),
                plural(v.counted)
            );
            if v.set_aside > 0 {
                let _ = write!(s, ", {} more set aside", thousands(v.set_aside));
            }
            s.push('.');
            s
        }
    };
    let _ = write!(
        page,
        "<header class=\"verdict v-{word}\" id=\"verdict\"><div class=\"top\"><div class=\"outcome\">{word}</div><div class=\"headline\">{headline}</div></div>\n<div class=\"line\">{line}</div>\n",
        word = outcome_word(v.outcome),
        headline = esc(&headline),
        line = esc(&v.line()),
    );
    by_class(v, page);
    page.push_str("</header>\n");
}

fn by_class(v: &Verdict, page: &mut String) {
    for (label, map, off) in [
        ("Counted", &v.counted_by_class, false),
        ("Set aside", &v.set_aside_by_class, true),
    ] {
        if map.is_empty() {
            continue;
        }
        let _ = write!(
            page,
            "<div class=\"by-class\"><span class=\"label\">{label}</span>"
        );
        for (class, n) in map {
            let _ = write!(
                page,
                "<span class=\"chip {}{}\" title=\"{}\">{}<b>{}</b></span>",
                tone(*class),
                if off { " off" } else { "" },
                esc(&class.explain(!off)),
                class.name(),
                thousands(*n)
            );
        }
        page.push_str("</div>\n");
    }
}

fn facts(report: &Findings, page: &mut String) {
    page.push_str(
        "<div class=\"facts\">\n<div class=\"card\"><h3>Inputs</h3><table class=\"kv\">\n",
    );
    for (n, input) in report.inputs.iter().enumerate() {
        let _ = writeln!(
            page,
            "<tr><th>input {n}</th><td><code>{}</code> <span class=\"muted\">({})</span><br><span class=\"mono muted\">{}</span></td></tr>",
            esc(&input.reference),
            esc(&input.transport),
            input.digest.as_ref().map_or_else(
                || "no content-addressed root".to_owned(),
                |d| esc(&d.to_string())
            ),
        );
    }
    page.push_str("</table></div>\n<div class=\"card\"><h3>Rules in force</h3>");
    rules(report, page);
    page.push_str("</div>\n");
    if !report.comparisons.is_empty() {
        page.push_str("<div class=\"card wide\"><h3>Manifests compared</h3><table class=\"kv\">\n<tr><th>location</th><th>platform</th><th>input 0</th><th>input 1</th></tr>\n");
        for c in &report.comparisons {
            let digest = |d: &Option<crate::model::Digest>| {
                d.as_ref()
                    .map_or_else(|| "—".to_owned(), |d| esc(&d.to_string()))
            };
            let _ = writeln!(
                page,
                "<tr><td><code>{}</code></td><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>",
                esc(&c.location),
                c.platform
                    .as_ref()
                    .map_or_else(|| "—".to_owned(), |p| esc(&p.to_string())),
                digest(&c.digests[0]),
                digest(&c.digests[1]),
            );
        }
        page.push_str("</table></div>\n");
    }
    page.push_str("</div>\n");
}

fn rules(report: &Findings, page: &mut String) {
    let (on, off) = rule_names(report);
    page.push_str("<div class=\"rules\">");
    if on.is_empty() {
        page.push_str("<span class=\"chip t-red\">strict: nothing ignored</span>");
    }
    for name in &on {
        let _ = write!(page, "<span class=\"chip t-blue\">{}</span>", esc(name));
    }
    page.push_str("</div>");
    if !report.ignore_paths.is_empty() {
        page.push_str("<p class=\"loc\">Ignored paths: ");
        let paths: Vec<String> = report
            .ignore_paths
            .iter()
            .map(|p| format!("<code>{}</code>", esc(p)))
            .collect();
        page.push_str(&paths.join(", "));
        page.push_str("</p>");
    }
    if !off.is_empty() {
        let _ = write!(page, "<p class=\"loc\">Off: {}</p>", esc(&off.join(", ")));
    }
    if let Some(file) = &report.config_file {
        let _ = write!(
            page,
            "<p class=\"loc\">Defaults from <code>{}</code></p>",
            esc(file)
        );
    }
}

/// `findings` (in review order) grouped by kind and class, each group where its first row is:
/// the groups to look at first come first, and a group's rows keep their order.
fn groups(
    findings: &[&Finding],
    section: &str,
    next_group: &mut usize,
    lazy: &mut BTreeMap<String, Vec<(String, String)>>,
    page: &mut String,
) {
    let mut by_group: Vec<((Kind, Class), Vec<&Finding>)> = Vec::new();
    let mut at: HashMap<(Kind, Class), usize> = HashMap::new();
    for f in findings {
        let n = *at.entry((f.kind, f.class)).or_insert_with(|| {
            by_group.push(((f.kind, f.class), Vec::new()));
            by_group.len() - 1
        });
        by_group[n].1.push(f);
    }
    for ((kind, class), rows) in by_group {
        let id = format!("g{next_group}");
        *next_group += 1;
        let counted = section == "counted";
        let _ = writeln!(
            page,
            "<details class=\"group\" id=\"{id}\" data-section=\"{section}\" data-total=\"{total}\"{open}><summary><span class=\"kind\">{kind}</span><span class=\"chip {tone}\">{class}</span><span class=\"count\">{count}</span><span class=\"why\">{why}</span></summary>",
            total = rows.len(),
            open = if rows.len() <= OPEN_ROWS { " open" } else { "" },
            kind = kind.short(),
            tone = tone(class),
            class = class.name(),
            count = thousands(rows.len()),
            why = esc(&class.explain(counted)),
        );
        page.push_str("<div class=\"cols\"><span>TYPE</span><span>NAME</span><span>INPUT-0</span><span>INPUT-1</span><span>CLASS</span></div>\n<div class=\"rows\">");
        if rows.len() > LAZY_ROWS {
            let items = rows
                .iter()
                .map(|f| {
                    let mut html = String::new();
                    finding(f, &mut html);
                    (filter_key(f), html)
                })
                .collect();
            lazy.insert(id, items);
        } else {
            for f in rows {
                finding(f, page);
            }
        }
        page.push_str("</div></details>\n");
    }
}

/// What the filter box matches, lower-cased: kind, class, location, name and field names.
fn filter_key(f: &Finding) -> String {
    let kind = serde_json::to_value(f.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let fields: Vec<&str> = f.fields.iter().map(|d| d.field.as_str()).collect();
    format!(
        "{} {kind} {} {} {} {}",
        f.kind.short(),
        f.class.name(),
        f.location,
        f.name,
        fields.join(" ")
    )
    .to_lowercase()
}

/// One finding: a summary line as in the table, and its body.
fn finding(f: &Finding, page: &mut String) {
    let [kind, name, lhs, rhs, class] = cells::row(f, false);
    let _ = write!(
        page,
        "<details class=\"f\" data-k=\"{key}\"><summary><span class=\"kind\">{kind}</span><span class=\"name\" title=\"{name}\">{name}</span><span class=\"lhs\">{lhs}</span><span class=\"rhs\">{rhs}</span><span><span class=\"chip {tone}{off}\">{class}</span></span></summary>\n<div class=\"body\">",
        key = esc(&filter_key(f)),
        kind = esc(&kind),
        name = esc(&name),
        lhs = esc(&lhs),
        rhs = esc(&rhs),
        tone = tone(f.class),
        off = if f.counted { "" } else { " off" },
    );
    let _ = write!(
        page,
        "<p class=\"expl\">{}.</p>",
        esc(&capitalized(&f.explanation))
    );
    if let Some(advice) = &f.advice {
        let _ = write!(
            page,
            "<p class=\"advice\"><strong>Advice:</strong> {}</p>",
            esc(advice)
        );
    }
    let mut place = format!("at <code>{}</code>", esc(&f.location));
    if !f.name.is_empty() {
        let _ = write!(place, ", <code>{}</code>", esc(&f.name));
    }
    let _ = write!(page, "<p class=\"loc\">{place}</p>");
    fields(&f.fields, page);
    if let Some(detail) = &f.detail {
        self::detail(detail, page);
    }
    page.push_str("</div></details>\n");
}

fn fields(fields: &[FieldDiff], page: &mut String) {
    page.push_str("<table class=\"fields\"><colgroup><col class=\"field\"><col><col><col class=\"class\"></colgroup><tr><th>field</th><th>input 0</th><th>input 1</th><th>class</th></tr>\n");
    for d in fields {
        let _ = writeln!(
            page,
            "<tr{row}><td><code>{field}</code></td><td>{lhs}</td><td>{rhs}</td><td><span class=\"chip {tone}{off}\">{class}</span>{tag}</td></tr>",
            row = if d.counted {
                ""
            } else {
                " class=\"set-aside\""
            },
            field = esc(&d.field),
            lhs = value(d.lhs.as_ref()),
            rhs = value(d.rhs.as_ref()),
            tone = tone(d.class),
            off = if d.counted { "" } else { " off" },
            class = d.class.name(),
            tag = if d.counted {
                ""
            } else {
                "<span class=\"tag\">set aside</span>"
            },
        );
    }
    page.push_str("</table>");
}

/// A value in full: strings bare, structures as indented JSON.
fn value(v: Option<&Value>) -> String {
    match v {
        None => "<span class=\"absent\">absent</span>".to_owned(),
        Some(Value::String(s)) => format!("<code>{}</code>", esc(s)),
        Some(v @ (Value::Array(_) | Value::Object(_))) => {
            let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
            format!("<pre>{}</pre>", esc_multiline(&text))
        }
        Some(v) => format!("<code>{}</code>", esc(&v.to_string())),
    }
}

fn detail(d: &Detail, page: &mut String) {
    if let Some(diff) = &d.text_diff {
        let _ = write!(
            page,
            "<div class=\"sub-h\">Text diff{}</div><pre class=\"diff\">",
            if d.truncated {
                " (cut at the size limit)"
            } else {
                ""
            }
        );
        for line in diff.lines() {
            let class = if line.starts_with("+++") || line.starts_with("---") {
                "hdr"
            } else if line.starts_with("@@") {
                "hunk"
            } else if line.starts_with('+') {
                "add"
            } else if line.starts_with('-') {
                "del"
            } else {
                "ctx"
            };
            let _ = write!(
                page,
                "<span class=\"{class}\">{}\n</span>",
                esc_multiline(line)
            );
        }
        page.push_str("</pre>");
    }
    if !d.elf_sections.is_empty() {
        let sections: Vec<String> = d
            .elf_sections
            .iter()
            .map(|s| format!("<code>{}</code>", esc(s)))
            .collect();
        let _ = write!(
            page,
            "<div class=\"sub-h\">ELF sections that differ</div><p>{}</p>",
            sections.join(", ")
        );
    }
    if let Some(note) = &d.note {
        let _ = write!(page, "<p class=\"note\">{}</p>", esc(note));
    }
    if !d.nested.is_empty() {
        let _ = write!(
            page,
            "<div class=\"sub-h\">Inside: {} difference{}</div><div class=\"nested\">",
            thousands(d.nested.len()),
            plural(d.nested.len())
        );
        for f in &d.nested {
            finding(f, page);
        }
        page.push_str("</div>");
    }
}

/// The chip colour of a class: one tone per family of causes.
fn tone(class: Class) -> &'static str {
    match class {
        Class::Content | Class::SamePackageContent | Class::RuntimeDependent => "t-red",
        Class::Added => "t-green",
        Class::Removed => "t-orange",
        Class::Permission | Class::Ownership | Class::Metadata => "t-purple",
        Class::Timestamp
        | Class::History
        | Class::BuilderMetadata
        | Class::ImageName
        | Class::Order
        | Class::TarFormat => "t-blue",
        Class::ConfigField
        | Class::Annotation
        | Class::Platform
        | Class::PackageVersion
        | Class::PackageChanged
        | Class::Unowned
        | Class::Other => "t-amber",
        Class::StorageFormat
        | Class::Derived
        | Class::Layering
        | Class::WhiteoutWithoutEffect
        | Class::UnchangedRewrite
        | Class::MountPoint
        | Class::OwnerName
        | Class::NestedMetadata
        | Class::PathSpelling
        | Class::IgnoredPath => "t-grey",
    }
}

/// The lazy rows as JSON that cannot end its `<script>` element: `<`, `>` and `&` appear
/// only inside JSON strings, where their `\u` escapes mean the same.
fn script_json(lazy: &BTreeMap<String, Vec<(String, String)>>) -> io::Result<String> {
    let json = serde_json::to_string(lazy)?;
    Ok(json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026"))
}

/// `s` as HTML text or attribute value, on one line: markup characters as entities, control
/// and bidi-override characters as visible escapes, so that a hostile value can neither add
/// markup nor reorder or hide what is shown.
fn esc(s: &str) -> String {
    escape(s, false)
}

/// As [`esc`], keeping newlines and tabs (text diffs, indented JSON).
fn esc_multiline(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, multiline: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' if multiline => out.push(c),
            c if is_hostile(c) => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// `n` with thousands separated: 12,345.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::report::fixtures::{
        HOSTILE, file_change, long_path, refresh, review_report, rich_report, sample_report,
    };

    fn html(report: &Findings) -> String {
        let mut out = Vec::new();
        write_html(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The text of the inline `<script>` elements, in order.
    fn scripts(page: &str) -> Vec<&str> {
        page.split("<script")
            .skip(1)
            .map(|s| {
                let body = &s[s.find('>').unwrap() + 1..];
                &body[..body.find("</script>").unwrap()]
            })
            .collect()
    }

    #[test]
    fn verdict_inputs_rules_and_every_finding() {
        let report = rich_report();
        let page = html(&report);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.ends_with("</html>\n"));
        assert!(page.contains("<div class=\"outcome\">different</div>"));
        assert!(page.contains(&esc(&report.verdict.line())));
        assert!(page.contains("oci:a"));
        assert!(page.contains("ignore-file-timestamps"));
        assert!(page.contains("<code>/var/log/**</code>"));
        for f in &report.findings {
            let [_, name, ..] = cells::row(f, false);
            assert!(page.contains(&esc(&name)), "{name} missing");
        }
        // Counted and set-aside counts by class, and the set-aside section, collapsed.
        assert!(page.contains(">content<b>13</b>"));
        assert!(page.contains(">timestamp<b>1</b>"));
        assert!(page.contains("<details class=\"aside\" id=\"aside\"><summary>"));
        // Full digests in the fields.
        assert!(
            page.contains(
                &report.findings[0].fields[0]
                    .lhs
                    .as_ref()
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            )
        );
        // Details: the text diff coloured by line, ELF sections, a note, nested findings.
        assert!(page.contains("<span class=\"del\">-old &lt;b&gt;line&lt;/b&gt;\n</span>"));
        assert!(page.contains("<span class=\"add\">+new line\n</span>"));
        assert!(page.contains("<span class=\"hunk\">@@ -1,2 +1,2 @@\n</span>"));
        assert!(page.contains("(cut at the size limit)"));
        assert!(page.contains("<code>.note.gnu.build-id</code>"));
        assert!(page.contains("busybox-1.36.post-install"));
        assert!(page.contains("Inside: 1 difference<"));
        // Advice, escaped, in the finding's body.
        assert!(page.contains(
            "<p class=\"advice\"><strong>Advice:</strong> Delete `/var/log/dpkg.log` &lt;in the same step&gt; &lt;/script&gt;"
        ));
    }

    #[test]
    fn hostile_values_are_escaped() {
        let page = html(&rich_report());
        assert!(page.contains("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains("<img"));
        // The terminal escape in the table's sample is shown, not sent.
        assert!(!page.contains('\u{1b}'));
        assert!(page.contains("evil\\n\\u{1b}[2Jname"));
        // Exactly the page's own two scripts, the JSON block and the code.
        assert_eq!(page.matches("<script").count(), 2);
        assert_eq!(page.matches("</script>").count(), 2);
    }

    #[test]
    fn no_external_references() {
        let page = html(&rich_report());
        for tag in [
            "<img", "<link", "<iframe", "<object", "<embed", "<a ", "<base",
        ] {
            assert!(!page.contains(tag), "{tag}");
        }
        let page = html(&sample_report());
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert!(!page.contains("src=") && !page.contains("href="));
        assert!(!page.contains("url("));
        assert!(!page.contains("@import"));
        assert!(page.contains("default-src 'none'"));
    }

    #[test]
    fn csp_allows_exactly_the_inline_script_and_style() {
        let page = html(&rich_report());
        let code = scripts(&page)[1];
        assert_eq!(code, SCRIPT);
        assert!(page.contains(&format!("script-src '{}'", csp_hash(code))));
        let style = &page[page.find("<style>").unwrap() + 7..page.find("</style>").unwrap()];
        assert!(page.contains(&format!("style-src '{}'", csp_hash(style))));
        // A known value: sha256 of the empty string.
        assert_eq!(
            csp_hash(""),
            "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn large_groups_are_kept_as_json_until_opened() {
        let mut report = rich_report();
        for i in 0..=LAZY_ROWS {
            report.findings.push(file_change(
                &format!("usr/share/many/{i}{}", if i == 7 { HOSTILE } else { "" }),
                "mode",
                json!("0644"),
                json!("0600"),
                Class::Permission,
            ));
        }
        refresh(&mut report);
        let page = html(&report);
        let json = scripts(&page)[0];
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        let rows: Value = serde_json::from_str(json).unwrap();
        let groups = rows.as_object().unwrap();
        assert_eq!(groups.len(), 1);
        let (id, items) = groups.iter().next().unwrap();
        let items = items.as_array().unwrap();
        assert_eq!(items.len(), LAZY_ROWS + 1);
        assert!(
            items[7][0]
                .as_str()
                .unwrap()
                .contains("usr/share/many/7</script>")
        );
        assert!(items[7][1].as_str().unwrap().contains("&lt;/script&gt;"));
        // The group is in the page, collapsed, with no rows.
        let group = format!(
            "<details class=\"group\" id=\"{id}\" data-section=\"counted\" data-total=\"{}\">",
            LAZY_ROWS + 1
        );
        let at = page.find(&group).unwrap();
        assert!(page[at..].contains("<div class=\"rows\"></div>"));
        assert!(!page.contains("usr/share/many/1\""));
    }

    #[test]
    fn small_groups_open_large_ones_closed() {
        let page = html(&rich_report());
        assert!(page.contains("data-section=\"counted\" data-total=\"1\" open>"));
    }

    #[test]
    fn identical_and_equivalent() {
        let mut report = rich_report();
        report.findings.retain(|f| !f.counted);
        refresh(&mut report);
        let page = html(&report);
        assert!(page.contains("<div class=\"outcome\">equivalent</div>"));
        assert!(page.contains("None counted under the chosen options."));
        report.findings.clear();
        refresh(&mut report);
        let page = html(&report);
        assert!(page.contains("<div class=\"outcome\">identical</div>"));
        assert!(page.contains("No differences at all."));
        assert!(!page.contains("id=\"aside\""));
    }

    #[test]
    fn helpers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(esc("a\u{202e}b\tc\n"), "a\\u{202e}b\\tc\\n");
        assert_eq!(esc_multiline("a\tb\nc\r"), "a\tb\nc\\r");
        assert_eq!(esc("<'\"&>"), "&lt;&#39;&quot;&amp;&gt;");
    }

    #[test]
    fn groups_and_rows_in_review_order_with_names_whole() {
        let page = html(&review_report());
        let at = |needle: &str| {
            page.find(needle)
                .unwrap_or_else(|| panic!("{needle} not in the page"))
        };
        let groups: Vec<usize> = [
            "<span class=\"kind\">File</span><span class=\"chip t-red\">runtime-dependent",
            "<span class=\"kind\">File</span><span class=\"chip t-red\">same-package-content",
            "<span class=\"kind\">File</span><span class=\"chip t-amber\">unowned",
            "<span class=\"kind\">File</span><span class=\"chip t-red\">content",
            "<span class=\"kind\">Pkg</span><span class=\"chip t-green\">added",
            "<span class=\"kind\">Pkg</span><span class=\"chip t-amber\">package-version",
            "<span class=\"kind\">File</span><span class=\"chip t-amber\">package-changed",
            "<span class=\"kind\">Desc</span><span class=\"chip t-grey\">derived",
            "<span class=\"kind\">Cfg</span><span class=\"chip t-blue\">timestamp",
        ]
        .iter()
        .map(|g| at(g))
        .collect();
        assert!(groups.windows(2).all(|w| w[0] < w[1]), "{groups:?}");
        // A group's rows keep their order.
        assert!(at(">usr/bin/foo<") < at(">var/lib/dpkg/status<"));
        assert!(at(">var/lib/dpkg/status<") < at(">usr/bin/new<"));
        assert!(page.contains(&format!(">{}<", long_path())));
    }
}
