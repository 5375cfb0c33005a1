//! The reference covers every route: the routers' `.route(path, method(…)…)` calls are read from the source (path
//! constants resolved) and compared with the table both ways, so a route added without its entry — or an entry left
//! behind by a removed route — fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::operations::OPERATIONS;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

fn sources(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            // This folder's own text talks about routes; its one route is the document's.
            if !path.ends_with("reference") {
                sources(&path, found);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(std::fs::read_to_string(&path).expect("source"));
        }
    }
}

/// `const NAME: &str = "…";` anywhere in these sources.
fn string_constants(texts: &[String]) -> BTreeMap<String, String> {
    let mut constants = BTreeMap::new();
    for text in texts {
        for line in text.lines() {
            let Some(rest) = line.trim().trim_start_matches("pub ").strip_prefix("const ") else { continue };
            let Some((name, value)) = rest.split_once(": &str = \"") else { continue };
            if let Some(value) = value.strip_suffix("\";") {
                constants.insert(name.trim().to_string(), value.to_string());
            }
        }
    }
    constants
}

/// The text between the parenthesis that opens at `start` (just after it) and its match.
fn balanced(text: &str, start: usize) -> &str {
    let mut depth = 1;
    for (offset, c) in text[start..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[start..start + offset];
                }
            }
            _ => {}
        }
    }
    &text[start..]
}

/// The HTTP methods a method router's source sets up: `get(…)` at its start, `.post(…)` chained after a call.
fn methods_in(router: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let compact: String = router.split_whitespace().collect::<Vec<_>>().join("");
    for method in METHODS {
        let first = compact.starts_with(&format!("{method}("));
        let chained = compact.contains(&format!(").{method}("));
        if first || chained {
            found.insert(method.to_ascii_uppercase());
        }
    }
    found
}

/// Every (method, path) the routers under `server/src` answer.
fn routed() -> BTreeSet<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts = Vec::new();
    sources(&root.join("src"), &mut texts);
    let mut with_core = texts.clone();
    sources(&root.join("../core/src"), &mut with_core);
    let constants = string_constants(&with_core);
    let mut routes = BTreeSet::from([("GET".to_string(), super::OPENAPI_PATH.to_string())]);
    for text in &texts {
        for (at, _) in text.match_indices(".route(") {
            let call = balanced(text, at + ".route(".len());
            let Some((path, router)) = call.split_once(',') else { continue };
            let path = path.trim();
            let path = match path.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
                Some(literal) => literal.to_string(),
                None => {
                    let name = path.rsplit("::").next().unwrap_or(path);
                    constants.get(name).cloned().unwrap_or_else(|| panic!("unresolved route path {path}"))
                }
            };
            for method in methods_in(router) {
                routes.insert((method, path.clone()));
            }
        }
    }
    routes
}

#[test]
fn every_route_is_in_the_reference_and_every_entry_is_routed() {
    let routes = routed();
    assert!(routes.len() > 90, "the scan found the routers ({} routes)", routes.len());
    let documented: BTreeSet<(String, String)> =
        OPERATIONS.iter().map(|op| (op.method.to_string(), op.path.to_string())).collect();
    assert_eq!(documented.len(), OPERATIONS.len(), "an operation is listed twice");
    let missing: Vec<_> = routes.difference(&documented).collect();
    assert!(missing.is_empty(), "routes missing from the reference (reference/operations.rs): {missing:?}");
    let stale: Vec<_> = documented.difference(&routes).collect();
    assert!(stale.is_empty(), "reference entries with no route: {stale:?}");
}

#[test]
fn the_scan_reads_method_chains() {
    assert_eq!(methods_in(" post(create).get(list).layer(x)"), BTreeSet::from(["GET".into(), "POST".into()]));
    assert_eq!(methods_in("get(|a| a.headers.get(\"x\"))"), BTreeSet::from(["GET".into()]));
    assert_eq!(balanced("a(b)c) d", 0), "a(b)c");
}
