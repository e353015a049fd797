//! Structural differences between two JSON values, addressed by jq-style paths.

use std::fmt::Write as _;

use serde_json::Value;

use crate::model::gojson::push_jq_key as push_key;

/// One differing value: its path (`.config.Env[0]`) and both sides, `None` where absent.
pub type ValueDiff = (String, Option<Value>, Option<Value>);

/// Every leaf-most difference between `lhs` and `rhs`. Objects are compared key by key and
/// arrays element by element, so that one changed `Env` entry is one finding, not the whole
/// config.
pub fn diff(lhs: &Value, rhs: &Value) -> Vec<ValueDiff> {
    let mut out = Vec::new();
    walk(&mut String::new(), lhs, rhs, &mut out);
    out
}

/// One path buffer for the whole walk: a path is copied out only for a difference.
fn walk(path: &mut String, lhs: &Value, rhs: &Value, out: &mut Vec<ValueDiff>) {
    let len = path.len();
    match (lhs, rhs) {
        (Value::Object(l), Value::Object(r)) => {
            for (k, lv) in l {
                push_key(path, k);
                match r.get(k) {
                    Some(rv) => walk(path, lv, rv, out),
                    None => out.push((path.clone(), Some(lv.clone()), None)),
                }
                path.truncate(len);
            }
            for (k, rv) in r {
                if !l.contains_key(k) {
                    push_key(path, k);
                    out.push((path.clone(), None, Some(rv.clone())));
                    path.truncate(len);
                }
            }
        }
        (Value::Array(l), Value::Array(r)) => {
            for i in 0..l.len().max(r.len()) {
                // Writing to a String cannot fail.
                let _ = write!(path, "[{i}]");
                match (l.get(i), r.get(i)) {
                    (Some(lv), Some(rv)) => walk(path, lv, rv, out),
                    (lv, rv) => out.push((path.clone(), lv.cloned(), rv.cloned())),
                }
                path.truncate(len);
            }
        }
        _ if lhs != rhs => {
            let p = if path.is_empty() {
                ".".into()
            } else {
                path.clone()
            };
            out.push((p, Some(lhs.clone()), Some(rhs.clone())));
        }
        _ => {}
    }
}

/// Whether jq path `inner` is `outer` or lies below it (`.a.b` is within `.a`, `.ab` is not).
pub fn within(inner: &str, outer: &str) -> bool {
    match inner.strip_prefix(outer) {
        Some(rest) => rest.is_empty() || rest.starts_with(['.', '[']) || outer == ".",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reports_leaves_with_jq_paths() {
        let l = json!({"a": 1, "config": {"Env": ["A=1", "B=2"]}, "ann": {"x.y": "1"}});
        let r = json!({"a": 1, "config": {"Env": ["A=1", "B=3", "C=4"]}, "ann": {}, "new": true});
        let d = diff(&l, &r);
        assert_eq!(
            d,
            vec![
                (
                    ".config.Env[1]".into(),
                    Some(json!("B=2")),
                    Some(json!("B=3"))
                ),
                (".config.Env[2]".into(), None, Some(json!("C=4"))),
                (".ann[\"x.y\"]".into(), Some(json!("1")), None),
                (".new".into(), None, Some(json!(true))),
            ]
        );
        assert!(diff(&l, &l).is_empty());
        assert!(within(".a.b", ".a") && within(".a[0]", ".a") && within(".a", ".a"));
        assert!(!within(".ab", ".a") && !within(".a", ".a.b"));
        assert_eq!(diff(&json!(1), &json!(2))[0].0, ".");
    }
}
