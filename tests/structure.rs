//! The shape of the codebase, checked: data flows one way through the modules, no file of `src/`
//! imports (directly or through others) a file that imports it back, the call and flow layers
//! stay readable file by file, and the product speaks of itself rather than of work items.
//!
//! The import graph is read from the source text: every `use` declaration and every inline
//! `crate::…`/`super::…`/`self::…` path outside a file's `#[cfg(test)]` module, resolved to the
//! file that defines the item (following `pub use` re-exports). A child's import of one of its
//! ancestors (`super::Item`, where the parent declares the child) is the module tree itself, not a
//! circle, and is not counted; the parent's import of its own children is.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// A module of the crate, as the path of names from the crate root (`["sip", "ua"]`).
type ModPath = Vec<String>;

struct SourceFile {
    path: PathBuf,
    /// The text outside the `#[cfg(test)]` module, comments removed.
    code: String,
    /// Lines before the `#[cfg(test)]` module.
    non_test_lines: usize,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Removes `//` and `/* */` comments and the contents of string literals (so a path quoted in a
/// message is not an import).
fn strip_comments_and_strings(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if c == b'"' {
            // Raw strings (r"…", r#"…"#) are rare in src/ and contain no `crate::` paths that
            // matter; a plain string is skipped honouring escapes.
            out.push('"');
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                if bytes.get(i) == Some(&b'\n') {
                    out.push('\n');
                }
                i += 1;
            }
            out.push('"');
            i += 1;
        } else if c == b'\'' && bytes.get(i + 2) == Some(&b'\'') {
            // A char literal such as '"' must not open a string.
            out.push_str("' '");
            i += 3;
        } else if c == b'\'' && bytes.get(i + 1) == Some(&b'\\') {
            out.push_str("' '");
            i += 2;
            while i < bytes.len() && bytes[i] != b'\'' {
                i += 1;
            }
            i += 1;
        } else {
            // Copy one whole UTF-8 character.
            let len = utf8_len(c);
            out.push_str(std::str::from_utf8(&bytes[i..(i + len).min(bytes.len())]).unwrap_or(" "));
            i += len;
        }
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Where the file's test module starts: `#[cfg(test)]` followed by `mod name`.
fn test_module_start(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text[from..].find("#[cfg(test)]") {
        let start = from + at;
        let rest = text[start + "#[cfg(test)]".len()..].trim_start();
        let rest = rest.strip_prefix("pub ").unwrap_or(rest).trim_start();
        if rest.starts_with("mod ") {
            return Some(start);
        }
        from = start + 1;
    }
    None
}

fn load_sources() -> BTreeMap<ModPath, SourceFile> {
    let src = root().join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let mut files = BTreeMap::new();
    for path in paths {
        let rel = path.strip_prefix(&src).expect("under src");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let Some(last) = parts.pop() else { continue };
        let stem = last.trim_end_matches(".rs").to_string();
        // `src/bin/*` and `main.rs` are separate crates: their imports name `frontdoor::…`.
        if parts.first().is_some_and(|p| p == "bin") || (parts.is_empty() && stem == "main") {
            continue;
        }
        let is_dir_module = stem == "mod" || (parts.is_empty() && stem == "lib");
        if !is_dir_module {
            parts.push(stem);
        }
        let text = fs::read_to_string(&path).expect("readable source file");
        let non_test = match test_module_start(&text) {
            Some(at) => &text[..at],
            None => &text[..],
        };
        files.insert(
            parts,
            SourceFile {
                path: path.clone(),
                code: strip_comments_and_strings(non_test),
                non_test_lines: non_test.lines().count(),
            },
        );
    }
    files
}

/// Expands a use tree (`a::{b, c::{d, e as f}}`) into its paths.
fn expand_use_tree(tree: &str) -> Vec<Vec<String>> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out = Vec::new();
    expand_into(&[], &tree, &mut out);
    out
}

fn expand_into(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
    let Some(open) = tree.find('{') else {
        let mut path = prefix.to_vec();
        let item = tree.split("as").next().unwrap_or(tree);
        path.extend(item.split("::").filter(|s| !s.is_empty()).map(String::from));
        if !path.is_empty() {
            out.push(path);
        }
        return;
    };
    let close = tree.rfind('}').unwrap_or(tree.len());
    let mut head = prefix.to_vec();
    head.extend(
        tree[..open]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(String::from),
    );
    let inner = &tree[open + 1..close];
    let (mut depth, mut item) = (0, String::new());
    for c in inner.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            if !item.is_empty() {
                expand_into(&head, &item, out);
            }
            item.clear();
        } else {
            item.push(c);
        }
    }
    if !item.is_empty() {
        expand_into(&head, &item, out);
    }
}

/// Turns a path as written in module `module` into a path from the crate root.
fn absolute(
    module: &ModPath,
    path: &[String],
    files: &BTreeMap<ModPath, SourceFile>,
) -> Option<ModPath> {
    let first = path.first()?;
    match first.as_str() {
        "crate" => Some(path[1..].to_vec()),
        "self" => Some(module.iter().chain(&path[1..]).cloned().collect()),
        "super" => {
            let mut base = module.clone();
            let mut rest = path;
            while rest.first().is_some_and(|p| p == "super") {
                base.pop();
                rest = &rest[1..];
            }
            Some(base.into_iter().chain(rest.iter().cloned()).collect())
        }
        // A path starting with a child module's name (2018 edition).
        name => {
            let mut child = module.clone();
            child.push(name.to_string());
            files
                .contains_key(&child)
                .then(|| module.iter().chain(path).cloned().collect())
        }
    }
}

struct ImportGraph {
    edges: BTreeMap<ModPath, BTreeSet<ModPath>>,
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl ImportGraph {
    fn read(files: &BTreeMap<ModPath, SourceFile>) -> Self {
        let mut uses: BTreeMap<ModPath, Vec<ModPath>> = BTreeMap::new();
        // (module, exported name) -> where the name comes from.
        let mut reexports: BTreeMap<(ModPath, String), ModPath> = BTreeMap::new();
        for (module, file) in files {
            let code = &file.code;
            let mut found = Vec::new();
            let mut from = 0;
            while let Some(at) = code[from..].find("use ") {
                let start = from + at;
                from = start + 4;
                if start > 0 && code[..start].chars().next_back().is_some_and(is_ident_char) {
                    continue;
                }
                let Some(end) = code[from..].find(';') else {
                    break;
                };
                let tree = &code[from..from + end];
                let public = code[..start].trim_end().ends_with("pub")
                    || code[..start].trim_end().ends_with(')') && code[..start].contains("pub(");
                for path in expand_use_tree(tree) {
                    if let Some(abs) = absolute(module, &path, files) {
                        if let Some(name) =
                            path.last().filter(|n| public && *n != "self" && *n != "*")
                        {
                            reexports.insert((module.clone(), name.clone()), abs.clone());
                        }
                        found.push(abs);
                    }
                }
            }
            // Inline paths: `crate::a::b::f()`, `super::x::Y`.
            for keyword in ["crate::", "super::"] {
                let mut from = 0;
                while let Some(at) = code[from..].find(keyword) {
                    let start = from + at;
                    from = start + keyword.len();
                    if start > 0
                        && code[..start]
                            .chars()
                            .next_back()
                            .is_some_and(|c| is_ident_char(c) || c == ':')
                    {
                        continue;
                    }
                    let path_text: String = code[start..]
                        .chars()
                        .take_while(|c| is_ident_char(*c) || *c == ':')
                        .collect();
                    let path: Vec<String> = path_text
                        .split("::")
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect();
                    if let Some(abs) = absolute(module, &path, files) {
                        found.push(abs);
                    }
                }
            }
            uses.insert(module.clone(), found);
        }

        let resolve = |path: &ModPath| -> Option<ModPath> {
            let mut path: ModPath = path
                .iter()
                .filter(|p| *p != "self" && *p != "*")
                .cloned()
                .collect();
            for _ in 0..16 {
                let mut hop = None;
                for n in (0..=path.len()).rev() {
                    let prefix = path[..n].to_vec();
                    if files.contains_key(&prefix) {
                        if let Some(target) = path
                            .get(n)
                            .and_then(|name| reexports.get(&(prefix.clone(), name.clone())))
                        {
                            hop = Some(target.clone());
                        } else {
                            return Some(prefix);
                        }
                        break;
                    }
                }
                match hop {
                    Some(next) => {
                        path = next
                            .into_iter()
                            .filter(|p| p != "self" && p != "*")
                            .collect()
                    }
                    None => return None,
                }
            }
            None
        };

        let mut edges = BTreeMap::new();
        for (module, paths) in &uses {
            let mut targets = BTreeSet::new();
            for path in paths {
                let Some(target) = resolve(path) else {
                    continue;
                };
                // A module and its ancestors are one line of the tree: `super::X` is not an
                // import circle, nor is a parent naming its own child through a re-export of
                // the child's.
                if target == *module || module.starts_with(&target) || target.starts_with(module) {
                    continue;
                }
                targets.insert(target);
            }
            edges.insert(module.clone(), targets);
        }
        ImportGraph { edges }
    }

    /// Strongly connected components with more than one file (Tarjan).
    fn circles(&self) -> Vec<Vec<ModPath>> {
        struct Tarjan<'a> {
            graph: &'a ImportGraph,
            index: BTreeMap<&'a ModPath, usize>,
            low: BTreeMap<&'a ModPath, usize>,
            stack: Vec<&'a ModPath>,
            on_stack: BTreeSet<&'a ModPath>,
            next: usize,
            found: Vec<Vec<ModPath>>,
        }
        impl<'a> Tarjan<'a> {
            fn visit(&mut self, v: &'a ModPath) {
                self.index.insert(v, self.next);
                self.low.insert(v, self.next);
                self.next += 1;
                self.stack.push(v);
                self.on_stack.insert(v);
                if let Some(targets) = self.graph.edges.get(v) {
                    for w in targets {
                        let Some((w, _)) = self.graph.edges.get_key_value(w) else {
                            continue;
                        };
                        if !self.index.contains_key(w) {
                            self.visit(w);
                            let low = self.low[v].min(self.low[w]);
                            self.low.insert(v, low);
                        } else if self.on_stack.contains(w) {
                            let low = self.low[v].min(self.index[w]);
                            self.low.insert(v, low);
                        }
                    }
                }
                if self.low[v] == self.index[v] {
                    let mut component = Vec::new();
                    while let Some(w) = self.stack.pop() {
                        self.on_stack.remove(w);
                        component.push(w.clone());
                        if w == v {
                            break;
                        }
                    }
                    if component.len() > 1 {
                        component.sort();
                        self.found.push(component);
                    }
                }
            }
        }
        let mut t = Tarjan {
            graph: self,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            next: 0,
            found: Vec::new(),
        };
        for v in self.edges.keys() {
            if !t.index.contains_key(v) {
                t.visit(v);
            }
        }
        t.found
    }
}

fn name(module: &ModPath) -> String {
    if module.is_empty() {
        "crate".into()
    } else {
        module.join("::")
    }
}

#[test]
fn no_file_of_src_is_part_of_an_import_circle() {
    let files = load_sources();
    let graph = ImportGraph::read(&files);
    let circles: Vec<String> = graph
        .circles()
        .iter()
        .map(|c| c.iter().map(name).collect::<Vec<_>>().join(" <-> "))
        .collect();
    assert!(
        circles.is_empty(),
        "import circles among the files of src/:\n  {}",
        circles.join("\n  ")
    );
}

/// Modules that must not import others: lower layers never reach up the chain.
#[test]
fn lower_layers_do_not_reach_up() {
    let forbidden: &[(&str, &[&str])] = &[
        ("media", &["call", "prompts", "flow", "server", "handler"]),
        ("flow", &["crm", "sip", "media", "call", "server"]),
        ("sip", &["call", "media", "flow", "crm", "server"]),
        ("handler", &["call", "flow", "server", "media", "sip"]),
        (
            "entropy",
            &["call", "flow", "server", "media", "sip", "crm"],
        ),
    ];
    let files = load_sources();
    let graph = ImportGraph::read(&files);
    let mut wrong = Vec::new();
    for (module, targets) in &graph.edges {
        for (layer, not) in forbidden {
            if module.first().is_some_and(|m| m == layer) {
                for target in targets {
                    if target.first().is_some_and(|t| not.contains(&t.as_str())) {
                        wrong.push(format!("{} imports {}", name(module), name(target)));
                    }
                }
            }
        }
    }
    // Inside `flow`, the language is read alone, the runtime builds on the language only, and
    // the designer tools on both.
    let flow_parts: &[(&[&str], &[&[&str]])] = &[
        (
            &["flow", "language"],
            &[&["flow", "runtime"], &["flow", "tools"]],
        ),
        (&["flow", "runtime"], &[&["flow", "tools"]]),
    ];
    for (module, targets) in &graph.edges {
        for (part, not) in flow_parts {
            if module.starts_with(&part.iter().map(|s| s.to_string()).collect::<Vec<_>>()) {
                for target in targets {
                    let reaches = not.iter().any(|n| {
                        target.starts_with(&n.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                    });
                    if reaches {
                        wrong.push(format!("{} imports {}", name(module), name(target)));
                    }
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the flow of data:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn call_and_flow_files_stay_readable() {
    const MAX_LINES: usize = 700;
    let files = load_sources();
    let long: Vec<String> = files
        .iter()
        .filter(|(m, _)| m.first().is_some_and(|f| f == "call" || f == "flow"))
        .filter(|(_, f)| f.non_test_lines > MAX_LINES)
        .map(|(_, f)| {
            format!(
                "{} ({} lines outside tests)",
                f.path.display(),
                f.non_test_lines
            )
        })
        .collect();
    assert!(
        long.is_empty(),
        "files in src/call or src/flow over {MAX_LINES} lines:\n  {}",
        long.join("\n  ")
    );
}

/// Text files of the repository, without build outputs, models, data and the changelog's
/// history.
fn repository_text_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                let skip = [
                    "target",
                    ".git",
                    "models",
                    "data",
                    "corpus",
                    "artifacts",
                    "node_modules",
                    ".whl",
                ];
                if !skip.contains(&file_name.as_str()) {
                    walk(&path, out);
                }
            } else if file_name != "CHANGELOG.md" {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root(), &mut out);
    out
}

/// Finds the word for a work item followed by its number (with or without `#`, any case), or
/// followed by "'s rule", in `text`.
fn mentions_of_work_items(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let word = ["iss", "ue"].concat();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find(&word) {
        let start = from + at;
        from = start + word.len();
        if start > 0
            && lower[..start]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric)
        {
            continue; // "tissue"
        }
        let rest = lower[from..].trim_start_matches([' ', '#', '-', '_']);
        if rest.starts_with(|c: char| c.is_ascii_digit())
            || rest.starts_with("'s rule")
            || rest.starts_with("’s rule")
        {
            let line_start = lower[..start].rfind('\n').map_or(0, |i| i + 1);
            let line_end = lower[start..].find('\n').map_or(lower.len(), |i| start + i);
            found.push(text[line_start..line_end].trim().to_string());
        }
    }
    found
}

#[test]
fn the_product_speaks_of_itself_not_of_work_items() {
    let mut hits = Vec::new();
    for path in repository_text_files() {
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        }; // binary files
        for line in mentions_of_work_items(&text) {
            hits.push(format!(
                "{}: {line}",
                path.strip_prefix(root()).unwrap_or(&path).display()
            ));
        }
    }
    assert!(
        hits.is_empty(),
        "mentions of work items:\n  {}",
        hits.join("\n  ")
    );
}

#[test]
fn the_checks_themselves_find_what_they_look_for() {
    let w = ["iss", "ue"].concat();
    assert_eq!(mentions_of_work_items(&format!("see {w} 12 here")).len(), 1);
    assert_eq!(mentions_of_work_items(&format!("{w} #7")).len(), 1);
    assert_eq!(mentions_of_work_items(&format!("the {w}'s rule")).len(), 1);
    assert!(mentions_of_work_items(&format!("tissue 3 and an {w} with the parser")).is_empty());

    assert_eq!(
        expand_use_tree("crate::a::{b, c::{d, e as f}}"),
        vec![
            vec!["crate", "a", "b"],
            vec!["crate", "a", "c", "d"],
            vec!["crate", "a", "c", "e"],
        ]
    );
    // A two-file circle is found; a parent using its child is not a circle.
    let mut graph = ImportGraph {
        edges: BTreeMap::new(),
    };
    let a: ModPath = vec!["a".into()];
    let b: ModPath = vec!["b".into()];
    graph.edges.insert(a.clone(), [b.clone()].into());
    graph.edges.insert(b.clone(), [a.clone()].into());
    assert_eq!(graph.circles(), vec![vec![a, b]]);
    assert_eq!(
        strip_comments_and_strings("x // crate::y\n\"crate::z\" '\"' w"),
        "x \n\"\" ' ' w"
    );
}
