//! botcore's modules import only downward: contracts → model → engine → proactive. This test
//! reads the crate's own sources and fails on any import that reaches up a layer, and on any
//! import circle among modules (directly or through others).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, lowest first. A module may import its own layer and the ones before it.
const LAYERS: &[&str] = &["contracts", "model", "engine", "proactive"];

fn modules(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            modules(&path, &format!("{prefix}{name}::"), out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let module = match name.as_str() {
                "mod" => prefix.trim_end_matches("::").to_owned(),
                "lib" if prefix.is_empty() => continue,
                _ => format!("{prefix}{name}"),
            };
            let code = std::fs::read_to_string(&path).expect("read module");
            out.insert(module, code);
        }
    }
}

/// The code without comments and without its `#[cfg(test)]` tail.
fn code_of(source: &str) -> String {
    let cut = source.find("#[cfg(test)]").unwrap_or(source.len());
    source[..cut]
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a::b::...` path named in `code`, as its segments.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        out.push(
            path.split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        );
    }
    out
}

/// The longest known module that `path` starts with.
fn resolve(path: &[String], known: &BTreeMap<String, String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| known.contains_key(m))
}

fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let mut mods = BTreeMap::new();
    modules(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        "",
        &mut mods,
    );
    let mut edges = BTreeMap::new();
    for (module, source) in &mods {
        let mut to = BTreeSet::new();
        for path in crate_paths(&code_of(source)) {
            if let Some(target) = resolve(&path, &mods) {
                let related = target.starts_with(&format!("{module}::"))
                    || module.starts_with(&format!("{target}::"));
                if &target != module && !related {
                    to.insert(target);
                }
            }
        }
        edges.insert(module.clone(), to);
    }
    edges
}

fn layer(module: &str) -> Option<usize> {
    let top = module.split("::").next()?;
    LAYERS.iter().position(|l| *l == top)
}

#[test]
fn no_module_imports_a_layer_above_its_own() {
    let mut upward = Vec::new();
    for (from, targets) in edges() {
        for to in targets {
            if let (Some(a), Some(b)) = (layer(&from), layer(&to))
                && b > a
            {
                upward.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports reaching up a layer: {upward:#?}"
    );
}

#[test]
fn no_modules_import_each_other_in_a_circle() {
    let edges = edges();
    // A module is in a circle when it can reach itself.
    let mut circles = Vec::new();
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = edges[start].iter().collect();
        while let Some(m) = todo.pop() {
            if m == start {
                circles.push(start.clone());
                break;
            }
            if seen.insert(m) {
                todo.extend(edges.get(m).into_iter().flatten());
            }
        }
    }
    assert!(circles.is_empty(), "modules in import circles: {circles:?}");
}

#[test]
fn the_check_sees_the_layers() {
    // Guards the test itself: it must find the modules and their imports.
    let edges = edges();
    assert!(edges.contains_key("engine::entry") && edges.contains_key("model::session"));
    assert!(edges["engine::entry"].contains("model::session"));
    assert!(
        LAYERS
            .iter()
            .all(|l| edges.keys().any(|m| layer(m) == layer(l)))
    );
}
