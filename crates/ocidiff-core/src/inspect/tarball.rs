//! Reading a tar archive (or several concatenated ones, as in apk packages) into [`Member`]s.

use std::collections::BTreeMap;
use std::io::{self, Read};

use serde_json::{Value, json};

use super::members::{Data, Member};
use super::{Class, Ctx, escape};
use crate::normalize::Rules;

/// Whether `data` starts with a tar header: USTAR/GNU magic, or a pre-POSIX header whose
/// checksum is right.
pub(super) fn looks_like_tar(data: &[u8]) -> bool {
    let Some(block) = data.get(..512) else {
        return false;
    };
    if block[257..262] == *b"ustar" {
        return true;
    }
    if block[0] == 0 {
        return false;
    }
    let header = tar::Header::from_byte_slice(block);
    let mut computed = header.clone();
    computed.set_cksum();
    matches!((header.cksum(), computed.cksum()), (Ok(a), Ok(b)) if a == b)
}

/// Reads the entries of the tar archive at `path`; `None` (with a note) when it cannot be read
/// to its end, as entries missing from a partial listing would read as removed.
pub(super) fn read(ctx: &mut Ctx<'_>, path: &str, data: &[u8]) -> Option<Vec<Member>> {
    let mut archive = tar::Archive::new(data);
    // apk packages and `tar --concatenate` leave end-of-archive blocks between archives.
    archive.set_ignore_zeros(true);
    let canonical = Rules {
        treat_canonical_paths_equal: ctx.opts.canonical_paths,
        ..Rules::default()
    };
    let mut members = Vec::new();
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(e) => {
            ctx.note(format!("{path}: not a readable tar archive: {e}"));
            return None;
        }
    };
    for entry in entries {
        if members.len() as u64 >= ctx.opts.max_entries {
            ctx.note(format!(
                "{path}: more than {} entries; not compared",
                ctx.opts.max_entries
            ));
            return None;
        }
        let member = entry.and_then(|mut e| member(&mut e, &canonical));
        match member {
            Ok(m) => members.push(m),
            Err(e) => {
                ctx.note(format!(
                    "{path}: tar archive unreadable after {} entries: {e}",
                    members.len()
                ));
                return None;
            }
        }
    }
    Some(members)
}

fn header_time(secs: u64) -> String {
    match i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
    {
        Some(t) => t.to_string(),
        None => secs.to_string(),
    }
}

/// A PAX time (`seconds[.fraction]`) as RFC 3339 when it parses, as stored otherwise.
fn pax_time(value: &str) -> String {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    let nanos = format!("{frac:0<9}");
    let parsed = int.parse::<i64>().ok().zip(
        nanos
            .get(..9)
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<i32>().ok()),
    );
    match parsed.and_then(|(s, n)| jiff::Timestamp::new(s, n).ok()) {
        Some(t) => t.to_string(),
        None => value.to_owned(),
    }
}

fn member<R: Read>(entry: &mut tar::Entry<'_, R>, canonical: &Rules) -> io::Result<Member> {
    let name = escape(&entry.path_bytes());
    let link = entry.link_name_bytes().map(|l| escape(&l));
    let mut pax = BTreeMap::new();
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            pax.insert(escape(ext.key_bytes()), escape(ext.value_bytes()));
        }
    }
    let header = entry.header().clone();
    let format = if !pax.is_empty() {
        "pax"
    } else if header.as_gnu().is_some() {
        "gnu"
    } else if header.as_ustar().is_some() {
        "ustar"
    } else {
        "v7"
    };
    let kind = header.entry_type();
    let kind_name = match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous => "file".to_owned(),
        tar::EntryType::Directory => "dir".to_owned(),
        tar::EntryType::Symlink => "symlink".to_owned(),
        tar::EntryType::Link => "hardlink".to_owned(),
        tar::EntryType::Char => "char".to_owned(),
        tar::EntryType::Block => "block".to_owned(),
        tar::EntryType::Fifo => "fifo".to_owned(),
        other => format!("type {:?}", other.as_byte() as char),
    };
    let mut fields = vec![("type".to_owned(), json!(kind_name), Class::Always)];
    let mut push = |name: &str, value: Value, class: Class| {
        fields.push((name.to_owned(), value, class));
    };
    if let Some(link) = &link {
        push("link", json!(canonical.path(link)), Class::Always);
    }
    // A numeric field that does not parse is compared as stored rather than failing the
    // whole archive.
    let raw = |field: &[u8]| json!(escape(field));
    let old = header.as_old();
    let mode = header
        .mode()
        .map_or_else(|_| raw(&old.mode), |m| json!(format!("{m:04o}")));
    push("mode", mode, Class::Always);
    let uid = pax.remove("uid").map_or_else(
        || header.uid().map_or_else(|_| raw(&old.uid), |u| json!(u)),
        |u| json!(u),
    );
    let gid = pax.remove("gid").map_or_else(
        || header.gid().map_or_else(|_| raw(&old.gid), |g| json!(g)),
        |g| json!(g),
    );
    push("uid", uid, Class::Always);
    push("gid", gid, Class::Always);
    let uname = pax
        .remove("uname")
        .unwrap_or_else(|| header.username_bytes().map(escape).unwrap_or_default());
    let gname = pax
        .remove("gname")
        .unwrap_or_else(|| header.groupname_bytes().map(escape).unwrap_or_default());
    push("uname", json!(uname), Class::Always);
    push("gname", json!(gname), Class::Always);
    if matches!(kind, tar::EntryType::Char | tar::EntryType::Block) {
        let major = header.device_major()?.unwrap_or(0);
        let minor = header.device_minor()?.unwrap_or(0);
        push("device", json!(format!("{major},{minor}")), Class::Always);
    }
    let mtime = match pax.remove("mtime") {
        Some(t) => pax_time(&t),
        None => header
            .mtime()
            .map_or_else(|_| escape(&old.mtime), header_time),
    };
    push("mtime", json!(mtime), Class::Timestamp);
    let gnu = header.as_gnu();
    let gnu_time = |t: io::Result<u64>| match t {
        Ok(0) | Err(_) => None,
        Ok(secs) => Some(header_time(secs)),
    };
    for key in ["atime", "ctime"] {
        let value = pax.remove(key).map(|t| pax_time(&t)).or_else(|| {
            gnu.and_then(|g| gnu_time(if key == "atime" { g.atime() } else { g.ctime() }))
        });
        if let Some(v) = value {
            push(key, json!(v), Class::Timestamp);
        }
    }
    // Already represented by the name, link and size tar-rs resolved from them.
    for key in ["path", "linkpath", "size"] {
        pax.remove(key);
    }
    for (key, value) in pax {
        match key.strip_prefix("SCHILY.xattr.") {
            Some(attr) => push(&format!("xattr:{attr}"), json!(value), Class::Always),
            None => push(&format!("pax:{key}"), json!(value), Class::Always),
        }
    }
    push("format", json!(format), Class::Format);
    let has_content = !matches!(
        kind,
        tar::EntryType::Directory
            | tar::EntryType::Symlink
            | tar::EntryType::Link
            | tar::EntryType::Char
            | tar::EntryType::Block
            | tar::EntryType::Fifo
    );
    let (size, data) = if has_content {
        // The archive is in memory already: an entry's content is at most its size.
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        (Some(bytes.len() as u64), Data::Bytes(bytes))
    } else {
        (None, Data::None)
    };
    Ok(Member {
        name,
        fields,
        size,
        data,
    })
}
