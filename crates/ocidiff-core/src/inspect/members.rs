//! Entries of an archive, whatever its format, and how two lists of them are compared: matched
//! by name (the n-th occurrence of a name with the n-th), field by field, recursing into the
//! content of entries that differ.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Ctx, Examined, join, sha256};
use crate::normalize::Aspect;

/// One entry of an archive as the readers describe it.
pub(super) struct Member {
    /// The name as stored, non-UTF-8 bytes escaped.
    pub name: String,
    /// Fields compared as they are, in display order; `type` first.
    pub fields: Vec<(String, Value, Option<Aspect>)>,
    /// The size of the content, for entries that have content.
    pub size: Option<u64>,
    pub data: Data,
}

/// The content of an entry.
pub(super) enum Data {
    /// Directories, links, devices.
    None,
    Bytes(Vec<u8>),
    /// Content that could not be decompressed, known by a digest of its stored bytes.
    Stored(Value),
}

impl Data {
    fn bytes(&self) -> Option<&[u8]> {
        match self {
            Data::Bytes(b) => Some(b),
            _ => None,
        }
    }

    fn digest(&self) -> Option<Value> {
        match self {
            Data::None => None,
            Data::Bytes(b) => Some(sha256(b)),
            Data::Stored(d) => Some(d.clone()),
        }
    }
}

impl Member {
    /// How an entry present on one side only is shown.
    fn summary(&self) -> Value {
        let mut v = serde_json::Map::new();
        for (name, value, _) in &self.fields {
            if matches!(name.as_str(), "type" | "mode" | "link") {
                v.insert(name.clone(), value.clone());
            }
        }
        if let Some(size) = self.size {
            v.insert("size".into(), json!(size));
        }
        if let Some(d) = self.data.digest() {
            v.insert("digest".into(), d);
        }
        Value::Object(v)
    }
}

/// Compares the entries of the archive at `path`.
pub(super) fn compare(
    ctx: &mut Ctx<'_>,
    path: &str,
    lhs: Vec<Member>,
    rhs: Vec<Member>,
    depth: usize,
) -> Examined {
    let rules = ctx.opts.rules;
    let key_of = |m: &Member| rules.path(&m.name).to_owned();
    let mut rhs_by_key: HashMap<(String, usize), (usize, Member)> = HashMap::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (position, m) in rhs.into_iter().enumerate() {
        let key = key_of(&m);
        let n = seen.entry(key.clone()).or_insert(0);
        rhs_by_key.insert((key, *n), (position, m));
        *n += 1;
    }
    let mut explained = true;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (position, l) in lhs.into_iter().enumerate() {
        let key = key_of(&l);
        let n = seen.entry(key.clone()).or_insert(0);
        let occurrence = *n;
        *n += 1;
        let member_path = join(path, &key);
        if let Some((rpos, r)) = rhs_by_key.remove(&(key, occurrence)) {
            explained &= pair(ctx, &member_path, (position, l), (rpos, r), depth);
        } else {
            ctx.record(
                &member_path,
                vec![("entry".into(), Some(l.summary()), None, false)],
            );
            explained = false;
        }
    }
    // What is left on the right has no partner; report it in archive order.
    let mut rest: Vec<_> = rhs_by_key.into_iter().collect();
    rest.sort_by_key(|(_, (position, _))| *position);
    for ((key, _), (_, r)) in rest {
        ctx.record(
            &join(path, &key),
            vec![("entry".into(), None, Some(r.summary()), false)],
        );
        explained = false;
    }
    Examined {
        explained,
        ..Examined::default()
    }
}

/// Compares two entries of the same name; returns whether all their differences are ignorable.
fn pair(
    ctx: &mut Ctx<'_>,
    path: &str,
    (lpos, l): (usize, Member),
    (rpos, r): (usize, Member),
    depth: usize,
) -> bool {
    let mut explained = true;
    for (name, lv, class) in &l.fields {
        let rv = r.fields.iter().find(|(n, _, _)| n == name).map(|f| &f.1);
        explained &= ctx.field(path, name, Some(lv.clone()), rv.cloned(), *class);
    }
    for (name, rv, class) in &r.fields {
        if !l.fields.iter().any(|(n, _, _)| n == name) {
            explained &= ctx.field(path, name, None, Some(rv.clone()), *class);
        }
    }
    explained &= ctx.field(
        path,
        "position",
        Some(json!(lpos)),
        Some(json!(rpos)),
        Some(Aspect::EntryOrder),
    );
    let (ld, rd) = (l.data.digest(), r.data.digest());
    if ld == rd {
        return explained;
    }
    let inner = ctx.content(
        path,
        "",
        (l.size, ld, l.data.bytes()),
        (r.size, rd, r.data.bytes()),
        depth,
    );
    if let Some(&i) = ctx.by_path.get(path) {
        ctx.nested[i].text_diff = inner.text_diff;
    }
    explained && inner.explained
}
