//! The library's top-level modules depend on each other one way, in the order `lib.rs` states
//! in its module doc (`a` ← `b` ← …): a module may use only the modules before it. The order is
//! read from that doc and the imports from the sources, so neither can drift from the other.

use std::fs;
use std::path::{Path, PathBuf};

/// A top-level module: its name and its files (path relative to `src/`, text).
struct Module {
    name: String,
    files: Vec<(String, String)>,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn lib_rs() -> String {
    fs::read_to_string(src().join("lib.rs")).expect("reading src/lib.rs")
}

/// The chain `a` ← `b` ← … in the module doc of `lib`.
fn documented_order(lib: &str) -> Vec<String> {
    let doc: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("//!"))
        .collect();
    let doc = doc.join(" ");
    let arrow = doc
        .find('←')
        .expect("lib.rs's module doc states the dependency order as `a` ← `b` ← …");
    let before = doc[..arrow]
        .trim_end()
        .strip_suffix('`')
        .expect("a `name` before the first ←");
    let open = before.rfind('`').expect("a `name` before the first ←");
    let mut order = vec![before[open + 1..].to_owned()];
    let mut rest = &doc[arrow..];
    while let Some(after) = rest.strip_prefix('←') {
        let after = after
            .trim_start()
            .strip_prefix('`')
            .expect("a `name` after each ←");
        let close = after.find('`').expect("a `name` after each ←");
        order.push(after[..close].to_owned());
        rest = after[close + 1..].trim_start();
    }
    order
}

/// The `mod` declarations of `lib`, in the order written.
fn declared_modules(lib: &str) -> Vec<String> {
    lib.lines()
        .map(str::trim)
        .filter_map(|l| {
            l.strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))
        })
        .filter_map(|l| l.strip_suffix(';'))
        .map(str::to_owned)
        .collect()
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules on disk: `src/X.rs` and `src/X/`, each with all its files.
fn modules_on_disk() -> Vec<Module> {
    let src = src();
    let mut names: Vec<String> = fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_owned();
            let is_module = p.is_dir() || p.extension().is_some_and(|e| e == "rs");
            (is_module && name != "lib").then_some(name)
        })
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let mut paths = Vec::new();
            let file = src.join(format!("{name}.rs"));
            if file.is_file() {
                paths.push(file);
            }
            let dir = src.join(&name);
            if dir.is_dir() {
                rust_files(&dir, &mut paths);
            }
            paths.sort();
            let files = paths
                .iter()
                .map(|p| {
                    let rel = p.strip_prefix(&src).unwrap().display().to_string();
                    (rel, fs::read_to_string(p).unwrap())
                })
                .collect();
            Module { name, files }
        })
        .collect()
}

/// `text` with every `//` comment blanked out (doc links are not dependencies), lines kept.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| l.find("//").map_or(l, |at| &l[..at]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The first segment of each item of the `{…}` group that `text` starts with, with its offset.
fn group_heads(text: &str) -> Vec<(usize, String)> {
    let mut items = Vec::new();
    let mut depth = 0;
    for (at, c) in text.char_indices() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    items.push(at + 1);
                }
            }
            '}' if depth == 1 => break,
            '}' => depth -= 1,
            ',' if depth == 1 => items.push(at + 1),
            _ => {}
        }
    }
    items
        .into_iter()
        .filter_map(|start| {
            let item = &text[start..];
            let skipped = item.len() - item.trim_start().len();
            let head: String = item[skipped..]
                .chars()
                .take_while(|&c| is_ident(c))
                .collect();
            (!head.is_empty() && head != "self").then_some((start + skipped, head))
        })
        .collect()
}

/// Every module a file names through `crate::`, with the line (1-based) it does so on.
fn crate_references(text: &str) -> Vec<(usize, String)> {
    let code = code_of(text);
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| is_ident(c) || c == '$')
        {
            continue;
        }
        let after = at + "crate::".len();
        let rest = &code[after..];
        if rest.starts_with('{') {
            found.extend(
                group_heads(rest)
                    .into_iter()
                    .map(|(offset, head)| (line_of(after + offset), head)),
            );
        } else {
            let head: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            found.push((line_of(at), head));
        }
    }
    found
}

/// One message per import of a module that is not before the importing one in `order`.
fn violations(order: &[String], modules: &[Module]) -> Vec<String> {
    let rank = |name: &str| order.iter().position(|m| m == name);
    let mut out = Vec::new();
    for module in modules {
        let Some(own) = rank(&module.name) else {
            out.push(format!(
                "src/{}: module `{}` is missing from the order in lib.rs",
                module.name, module.name
            ));
            continue;
        };
        for (path, text) in &module.files {
            let lines: Vec<&str> = text.lines().collect();
            for (line, used) in crate_references(text) {
                if used == module.name {
                    continue;
                }
                let import = lines[line - 1].trim();
                match rank(&used) {
                    Some(r) if r < own => {}
                    Some(_) => out.push(format!(
                        "src/{path}:{line}: `{}` uses `{used}`, which comes after it in lib.rs's \
                         order: {import}",
                        module.name
                    )),
                    None => out.push(format!(
                        "src/{path}:{line}: `{}` uses `{used}`, which is missing from the order \
                         in lib.rs: {import}",
                        module.name
                    )),
                }
            }
        }
    }
    out
}

#[test]
fn modules_depend_only_on_those_before_them() {
    let order = documented_order(&lib_rs());
    let found = violations(&order, &modules_on_disk());
    assert!(
        found.is_empty(),
        "imports against the dependency order {}:\n{}",
        order.join(" ← "),
        found.join("\n")
    );
}

#[test]
fn lib_rs_declares_the_modules_in_the_documented_order() {
    let lib = lib_rs();
    let order = documented_order(&lib);
    assert_eq!(declared_modules(&lib), order);
    let on_disk: Vec<String> = modules_on_disk().into_iter().map(|m| m.name).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(
        on_disk, sorted,
        "the modules under src/ and the documented order"
    );
}

#[test]
fn checker_sees_grouped_and_upward_imports() {
    let order: Vec<String> = ["model", "layer", "report"].map(String::from).into();
    let module = |name: &str, text: &str| Module {
        name: name.to_owned(),
        files: vec![(format!("{name}.rs"), text.to_owned())],
    };
    let modules = [
        module("model", "use crate::model::x;\n"),
        module(
            "layer",
            "use crate::{\n    model::{a, b},\n    report::Table,\n};\n\
             // see [`crate::report`]\nfn f() { crate::model::g(); }\n",
        ),
        module("report", "use crate::{self, layer, model::Digest};\n"),
        module("extra", "use crate::model;\n"),
    ];
    assert_eq!(
        violations(&order, &modules),
        [
            "src/layer.rs:3: `layer` uses `report`, which comes after it in lib.rs's order: \
             report::Table,",
            "src/extra: module `extra` is missing from the order in lib.rs",
        ]
    );
    let lib = "//! Order: `a` ← `b` ←\n//! `c`.\n\npub mod a;\nmod b;\npub mod c;\n";
    assert_eq!(documented_order(lib), ["a", "b", "c"]);
    assert_eq!(declared_modules(lib), ["a", "b", "c"]);
}
