//! How a finding is written into a cell, for every renderer: the one-line row (TYPE, NAME,
//! INPUT-0, INPUT-1, CLASS) that the table prints and the Markdown and HTML reports show as
//! their summary lines, the escapes that keep hostile characters visible, and the words and
//! counts the renderers share. Renderers take their cells from here, never from each other,
//! and their row order from [`crate::finding::review_order`].
//!
//! The row's rules are documented in [`super::table`].

use serde_json::Value;

use crate::finding::{FieldDiff, Finding, Findings, Kind, Outcome};
use crate::model::Digest;

/// Longest single value shown before its middle is cut: media types and paths differ at
/// their ends as often as at their starts.
const VALUE_WIDTH: usize = 48;

/// A row: TYPE, NAME, INPUT-0, INPUT-1, CLASS. Of a counted finding only the counted fields
/// are shown, unless `full`; then fields set aside, and the class of a finding set aside, are
/// shown in brackets, and digests and values are shown whole instead of shortened. NAME is
/// never shortened: a path can always be copied from the row.
pub(crate) fn row(f: &Finding, full: bool) -> [String; 5] {
    let fields: Vec<&FieldDiff> = f
        .fields
        .iter()
        .filter(|d| d.counted || !f.counted || full)
        .collect();
    let class = if full && !f.counted {
        format!("[{}]", f.class.name())
    } else {
        f.class.name().to_owned()
    };
    [
        f.kind.short().to_owned(),
        name(f),
        cell(&fields, |d| d.lhs.as_ref(), full),
        cell(&fields, |d| d.rhs.as_ref(), full),
        class,
    ]
}

/// NAME, whole: only control characters are escaped.
fn name(f: &Finding) -> String {
    let raw = match (f.kind, f.location.as_str(), f.name.as_str()) {
        (_, "", "") => "-".to_owned(),
        (Kind::File | Kind::Package, _, name) | (_, "", name) if !name.is_empty() => {
            name.to_owned()
        }
        (_, location, "") => location.to_owned(),
        (_, location, name) => format!("{location} {name}"),
    };
    escape_controls(&raw)
}

/// One side's cell: every field on that side.
fn cell(fields: &[&FieldDiff], side: impl Fn(&FieldDiff) -> Option<&Value>, full: bool) -> String {
    if fields.iter().all(|d| side(d).is_none()) {
        return "-".to_owned();
    }
    fields
        .iter()
        .map(|d| {
            let text = shown_field(d, &side, full);
            if full && !d.counted {
                format!("[{text}]")
            } else {
                text
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn shown_field(d: &FieldDiff, side: &impl Fn(&FieldDiff) -> Option<&Value>, full: bool) -> String {
    let v = side(d).map_or_else(|| "-".to_owned(), |v| value(v, full));
    if d.field == "value" {
        v
    } else if d.field == "entry" {
        side(d).map_or_else(|| "-".to_owned(), |v| entry_summary(v, full))
    } else {
        format!("{}={v}", escape_controls(&d.field))
    }
}

/// An entry present on one side only, as `ls -l` would sum it up: `file 0755 0:0 5B blake3:…`;
/// a package's entry is its version, shown as a value.
fn entry_summary(v: &Value, full: bool) -> String {
    if !v.is_object() {
        return value(v, full);
    }
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
        parts.push(shorten_digest(&d, full).unwrap_or(d));
    }
    shortened(escape_controls(&parts.join(" ")), VALUE_WIDTH, full)
}

/// Values are compact JSON, except that strings are shown without quotes.
fn value(v: &Value, full: bool) -> String {
    let text = match v {
        Value::String(s) => shorten_digest(s, full).unwrap_or_else(|| s.clone()),
        other if full => other.to_string(),
        other => shorten_digests_in(other).to_string(),
    };
    shortened(escape_controls(&text), VALUE_WIDTH, full)
}

fn shorten_digest(s: &str, full: bool) -> Option<String> {
    if full {
        return None;
    }
    short_digest(s)
}

/// `ALGORITHM:` and 12 hex digits of an OCI digest or of a file's content digest
/// (`blake3:HEX`, which is no OCI digest).
fn short_digest(s: &str) -> Option<String> {
    if let Some(hex) = s.strip_prefix("blake3:") {
        let is_hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
        return (hex.len() == 64 && hex.bytes().all(is_hex))
            .then(|| format!("blake3:{}", &hex[..12]));
    }
    s.parse::<Digest>().ok().map(|d| d.short())
}

/// `v` with every digest string in it shortened (e.g. `rootfs.diff_ids`).
fn shorten_digests_in(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(short_digest(s).unwrap_or_else(|| s.clone())),
        Value::Array(items) => Value::Array(items.iter().map(shorten_digests_in).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), shorten_digests_in(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn shortened(text: String, max: usize, full: bool) -> String {
    if full { text } else { cut_middle(&text, max) }
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

/// Whether `c` would be acted on rather than shown: a control character, or a bidi mark,
/// embedding, override or isolate that reorders or hides what follows it.
pub(crate) fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with control and bidi-override characters written as escapes (`\n`, `\u{1b}`), so that
/// a hostile image cannot move the cursor or reorder the line.
pub(crate) fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        // The row has always shown U+061C ARABIC LETTER MARK as it is; the other renderers
        // escape it. Kept so while outputs must stay byte-equal.
        if is_hostile(c) && c != '\u{061c}' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Identical => "identical",
        Outcome::Equivalent => "equivalent",
        Outcome::Different => "different",
    }
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The rules on and off, named as the model serializes them (kebab-case), so that a rule
/// added later shows up too.
pub(crate) fn rule_names(report: &Findings) -> (Vec<String>, Vec<String>) {
    let mut on = Vec::new();
    let mut off = Vec::new();
    if let Ok(Value::Object(map)) = serde_json::to_value(report.rules) {
        for (name, value) in map {
            let name = name.replace('_', "-");
            if value == Value::Bool(true) {
                on.push(name);
            } else {
                off.push(name);
            }
        }
    }
    (on, off)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cuts() {
        assert_eq!(cut_middle("abc", 4), "abc");
        let root = Finding::new(Kind::Descriptor, "", "", vec![]);
        assert_eq!(name(&root), "-");
        assert_eq!(cut_middle("abcdefgh", 5), "ab…gh");
        assert_eq!(escape_controls("a\tb\u{202e}c"), "a\\tb\\u{202e}c");
    }

    #[test]
    fn shortens_oci_and_content_digests_only() {
        let hex = "0123456789abcdef".repeat(4);
        assert_eq!(
            short_digest(&format!("blake3:{hex}")).as_deref(),
            Some("blake3:0123456789ab")
        );
        assert_eq!(
            short_digest(&format!("sha256:{hex}")).as_deref(),
            Some("sha256:0123456789ab")
        );
        assert_eq!(short_digest(&format!("blake3:{}", &hex[1..])), None);
        assert_eq!(
            short_digest(&format!("blake3:{}", hex.to_uppercase())),
            None
        );
        assert_eq!(short_digest("blake3:"), None);
        assert_eq!(
            shorten_digests_in(&json!([format!("blake3:{hex}")])),
            json!(["blake3:0123456789ab"])
        );
    }
}
