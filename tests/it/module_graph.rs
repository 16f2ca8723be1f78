//! The connector's modules import one another without a cycle. The test reads `src/**.rs`,
//! builds the import graph at module granularity (a file or a directory's `mod.rs` is one
//! module; `main.rs` is the binary and not in the graph) and fails naming every cycle, each
//! edge with the path that makes it.
//!
//! An edge goes from a module to the module where an item it names is defined: `use` trees and
//! paths in code that start with `crate::`, `super::`, `self::` or a child module's name are
//! followed through re-exports (`pub use child::Item` in a face points at `child`). So a parent
//! importing its own children is an edge that makes no cycle by itself, and a child importing one
//! of its parent's own items is the edge that closes one. Test modules (`#[cfg(test)] mod tests`
//! at the end of a file), comments and string literals are not read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path below the crate root (`["capture", "record", "text"]`); the root is `[]`.
type ModulePath = Vec<String>;

/// One import edge: to the defining module, with the path (as written, made absolute) that
/// makes it.
type Edges = BTreeMap<ModulePath, BTreeMap<ModulePath, String>>;

#[test]
fn no_import_cycle_among_the_connectors_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = Graph::read(&src);
    assert!(
        graph.modules.len() > 40,
        "only {} modules read under {}",
        graph.modules.len(),
        src.display()
    );
    let cycles = graph.cycles();
    assert!(
        cycles.is_empty(),
        "import cycles among the connector's modules (move the item both sides need down into \
         a module that imports neither):\n{}",
        cycles.join("\n")
    );
}

/// The detector itself: a child importing its parent's own item while the parent imports the
/// child is a cycle, named with both edges; a parent re-exporting and using its children, and
/// children importing each other in one direction, are not.
#[test]
fn the_detector_names_a_cycle_and_only_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod face;\npub mod cyclic;\n");
    write(
        "face/mod.rs",
        "mod leaf;\nmod user;\npub use leaf::Item;\npub use user::run;\n\
         /// use crate::cyclic::Parent; (a comment is not read)\npub fn face() {}\n",
    );
    write("face/leaf.rs", "pub struct Item;\n");
    write(
        "face/user.rs",
        "use super::leaf::Item;\npub fn run() -> Item { let _ = \"crate::cyclic::Parent\"; Item }\n",
    );
    write(
        "cyclic/mod.rs",
        "mod child;\npub struct Parent;\npub fn parent() { child::helper(); }\n",
    );
    write(
        "cyclic/child.rs",
        "use super::Parent;\npub fn helper() -> Option<Parent> { None }\n\
         #[cfg(test)]\nmod tests {\n    use crate::face::face;\n}\n",
    );
    let graph = Graph::read(dir.path());
    assert_eq!(
        graph.cycles(),
        vec![
            "cyclic -> cyclic::child (via crate::cyclic::child::helper) \
             -> cyclic (via crate::cyclic::Parent)"
                .to_string()
        ]
    );
    // The face's edges go to its children, through the re-exports too.
    let face = &graph.edges[&vec!["face".to_string()]];
    assert!(face.contains_key(&vec!["face".to_string(), "leaf".to_string()]));
    assert!(face.contains_key(&vec!["face".to_string(), "user".to_string()]));
}

/// The modules of a source tree and their import edges.
struct Graph {
    modules: BTreeSet<ModulePath>,
    edges: Edges,
}

/// What one module defines and imports, as the resolution needs it.
#[derive(Default)]
struct Module {
    /// Names of items defined in the module (outside its test module).
    defines: BTreeSet<String>,
    /// Names a `use` brings into the module, and the absolute path each stands for.
    imports: BTreeMap<String, Vec<String>>,
    /// Every absolute path the module names.
    paths: Vec<Vec<String>>,
}

impl Graph {
    fn read(src: &Path) -> Graph {
        let mut files = BTreeMap::new();
        collect(src, src, &mut files);
        let modules: BTreeSet<ModulePath> = files.keys().cloned().collect();
        let parsed: BTreeMap<ModulePath, Module> = files
            .iter()
            .map(|(path, file)| {
                let text = std::fs::read_to_string(file).unwrap();
                (path.clone(), parse(path, &tokens(&text), &modules))
            })
            .collect();
        let mut edges = Edges::new();
        for (from, module) in &parsed {
            for path in &module.paths {
                let to = home(path, &parsed, 0);
                if &to != from && !to.is_empty() {
                    edges
                        .entry(from.clone())
                        .or_default()
                        .entry(to)
                        .or_insert_with(|| format!("crate::{}", path.join("::")));
                }
            }
        }
        Graph { modules, edges }
    }

    /// One cycle per strongly connected group of modules, the shortest through its first
    /// module: "a -> b (via path) -> a (via path)".
    fn cycles(&self) -> Vec<String> {
        let mut out = Vec::new();
        for group in self.groups() {
            let start = group.iter().next().unwrap();
            // Breadth first within the group, back to `start`.
            let mut came_from: BTreeMap<&ModulePath, &ModulePath> = BTreeMap::new();
            let mut queue = std::collections::VecDeque::from([start]);
            'search: while let Some(from) = queue.pop_front() {
                for to in self.edges.get(from).into_iter().flat_map(|e| e.keys()) {
                    if !group.contains(to) || came_from.contains_key(to) {
                        continue;
                    }
                    came_from.insert(to, from);
                    if to == start {
                        break 'search;
                    }
                    queue.push_back(to);
                }
            }
            let mut steps = Vec::new();
            let mut to = start;
            loop {
                let from = came_from[to];
                steps.push(format!(" -> {} (via {})", name(to), self.edges[from][to]));
                to = from;
                if to == start {
                    break;
                }
            }
            steps.reverse();
            out.push(format!("{}{}", name(start), steps.concat()));
        }
        out
    }

    /// The strongly connected groups of more than one module (Tarjan's algorithm).
    fn groups(&self) -> Vec<BTreeSet<ModulePath>> {
        struct State<'a> {
            edges: &'a Edges,
            index: BTreeMap<&'a ModulePath, usize>,
            low: BTreeMap<&'a ModulePath, usize>,
            stack: Vec<&'a ModulePath>,
            groups: Vec<BTreeSet<ModulePath>>,
        }
        fn visit<'a>(state: &mut State<'a>, module: &'a ModulePath) {
            let n = state.index.len();
            state.index.insert(module, n);
            state.low.insert(module, n);
            state.stack.push(module);
            let edges = state.edges;
            for next in edges.get(module).into_iter().flat_map(|e| e.keys()) {
                if !state.index.contains_key(next) {
                    visit(state, next);
                    let low = state.low[module].min(state.low[next]);
                    state.low.insert(module, low);
                } else if state.stack.contains(&next) {
                    let low = state.low[module].min(state.index[next]);
                    state.low.insert(module, low);
                }
            }
            if state.low[module] == state.index[module] {
                let mut group = BTreeSet::new();
                while let Some(member) = state.stack.pop() {
                    group.insert(member.clone());
                    if member == module {
                        break;
                    }
                }
                if group.len() > 1 {
                    state.groups.push(group);
                }
            }
        }
        let mut state = State {
            edges: &self.edges,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            groups: Vec::new(),
        };
        for module in &self.modules {
            if !state.index.contains_key(module) {
                visit(&mut state, module);
            }
        }
        state.groups
    }
}

fn name(module: &ModulePath) -> String {
    module.join("::")
}

/// Every `.rs` file below `dir` by its module path (`lib.rs` is the root, `x/mod.rs` is `x`).
fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<ModulePath, PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, out);
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let relative = path.strip_prefix(root).unwrap().with_extension("");
        let mut module: ModulePath = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        match module.last().map(String::as_str) {
            Some("main") if module.len() == 1 => continue,
            Some("lib") if module.len() == 1 => module.clear(),
            Some("mod") => {
                module.pop();
            }
            _ => {}
        }
        out.insert(module, path);
    }
}

/// The module that defines what `path` (absolute, below the crate root) names: the deepest
/// module the path walks through, then through that module's imports when the next name is
/// one of them rather than an item of its own.
fn home(path: &[String], modules: &BTreeMap<ModulePath, Module>, depth: usize) -> ModulePath {
    let mut at = path.len();
    while !modules.contains_key(&path[..at].to_vec()) {
        at -= 1;
    }
    let module = path[..at].to_vec();
    let Some(next) = path.get(at) else {
        return module;
    };
    let parsed = &modules[&module];
    if depth > 16 || next == "*" || parsed.defines.contains(next) {
        return module;
    }
    match parsed.imports.get(next) {
        Some(target) => {
            let mut followed = target.clone();
            followed.extend_from_slice(&path[at + 1..]);
            home(&followed, modules, depth + 1)
        }
        None => module,
    }
}

/// A token of Rust source: an identifier or keyword, or one punctuation character (`::` is
/// two `:`). Comments, string and character literals and lifetimes are dropped, and the file
/// stops at its test module.
fn tokens(text: &str) -> Vec<String> {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(end) => &text[..end],
        None => text,
    };
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && raw_string(&chars, i) {
            let mut hashes = 0;
            i += 1;
            while chars[i] == '#' {
                hashes += 1;
                i += 1;
            }
            i += 1;
            loop {
                if chars[i] == '"' && (1..=hashes).all(|h| chars.get(i + h) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
        } else if c == '"' {
            i += 1;
            while chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '\'' {
            // A character literal ('a', '\n', '\u{1F600}') or a lifetime ('a).
            if next == Some('\\') {
                i += 3;
                while chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else {
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
            i += 1;
        }
    }
    out
}

/// Whether an `r` at `at` starts a raw string (`r"` or `r#...#"`), not an identifier.
fn raw_string(chars: &[char], at: usize) -> bool {
    let starts_word = at == 0 || !(chars[at - 1].is_alphanumeric() || chars[at - 1] == '_');
    let mut i = at + 1;
    while chars.get(i) == Some(&'#') {
        i += 1;
    }
    starts_word && chars.get(i) == Some(&'"')
}

/// What the module at `module` defines and names, from its tokens.
fn parse(module: &ModulePath, tokens: &[String], modules: &BTreeSet<ModulePath>) -> Module {
    const ITEMS: [&str; 9] = [
        "fn", "struct", "enum", "const", "static", "type", "trait", "mod", "union",
    ];
    let children: BTreeSet<&str> = modules
        .iter()
        .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
        .map(|m| m[module.len()].as_str())
        .collect();
    let mut parsed = Module::default();
    // Inline modules (`mod fast { ... }`): their `super` is the file's module, and paths into
    // them stay in the file's module.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i].as_str();
        let here: ModulePath = module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(name, _)| name.clone()))
            .collect();
        match token {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            "mod" if tokens.get(i + 2).map(String::as_str) == Some("{") => {
                inline.push((tokens[i + 1].clone(), depth));
                parsed.defines.insert(tokens[i + 1].clone());
                depth += 1;
                i += 3;
                continue;
            }
            "use" => {
                let end = tokens[i..]
                    .iter()
                    .position(|t| t == ";")
                    .map_or(tokens.len(), |p| i + p);
                let mut trees = Vec::new();
                use_tree(&tokens[i + 1..end], Vec::new(), &mut trees);
                for (segments, alias) in trees {
                    let Some(path) = absolute(&here, module, &segments, &children) else {
                        continue;
                    };
                    let name = alias.or_else(|| segments.last().cloned());
                    if let Some(name) = name.filter(|n| n != "*" && n != "self") {
                        parsed.imports.insert(name, path.clone());
                    }
                    parsed.paths.push(path);
                }
                i = end + 1;
                continue;
            }
            "macro_rules" => {
                if let Some(name) = tokens.get(i + 2) {
                    parsed.defines.insert(name.clone());
                }
            }
            _ if ITEMS.contains(&token) => {
                if let Some(name) = tokens.get(i + 1) {
                    parsed.defines.insert(name.clone());
                }
            }
            _ => {
                let starts_path =
                    matches!(token, "crate" | "super" | "self") || children.contains(token);
                let after_colons = i >= 2 && tokens[i - 1] == ":" && tokens[i - 2] == ":";
                let after_dollar = i >= 1 && tokens[i - 1] == "$";
                if starts_path && !after_colons && !after_dollar && is_colons(tokens, i + 1) {
                    let mut segments = vec![tokens[i].clone()];
                    let mut j = i + 1;
                    while is_colons(tokens, j)
                        && tokens.get(j + 2).is_some_and(|t| is_identifier(t))
                    {
                        segments.push(tokens[j + 2].clone());
                        j += 3;
                    }
                    if let Some(path) = absolute(&here, module, &segments, &children) {
                        parsed.paths.push(path);
                    }
                    i = j;
                    continue;
                }
            }
        }
        i += 1;
    }
    parsed
}

fn is_colons(tokens: &[String], at: usize) -> bool {
    tokens.get(at).is_some_and(|t| t == ":") && tokens.get(at + 1).is_some_and(|t| t == ":")
}

fn is_identifier(token: &str) -> bool {
    token.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// The paths of a `use` tree (`a::{b, c::{self, d as e}, *}`), each with its alias.
fn use_tree(tokens: &[String], prefix: Vec<String>, out: &mut Vec<(Vec<String>, Option<String>)>) {
    let mut path = prefix;
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i].as_str() {
            ":" => i += 1,
            "{" => {
                // The group's members, split at the commas of this level.
                let mut depth = 0;
                let mut start = i + 1;
                for j in i..tokens.len() {
                    match tokens[j].as_str() {
                        "{" => depth += 1,
                        "}" => {
                            depth -= 1;
                            if depth == 0 {
                                if start < j {
                                    use_tree(&tokens[start..j], path.clone(), out);
                                }
                                return;
                            }
                        }
                        "," if depth == 1 => {
                            if start < j {
                                use_tree(&tokens[start..j], path.clone(), out);
                            }
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                return;
            }
            "as" => {
                let alias = tokens.get(i + 1).cloned();
                if path.last().is_some_and(|p| p == "self") {
                    path.pop();
                }
                out.push((path, alias));
                return;
            }
            segment => {
                path.push(segment.to_string());
                i += 1;
            }
        }
    }
    if path.last().is_some_and(|p| p == "self") {
        path.pop();
    }
    if !path.is_empty() {
        out.push((path, None));
    }
}

/// `segments` as a path from the crate root, read in module `here` (the file's module plus any
/// inline modules around the path) of file module `file`; `None` for paths outside the crate.
/// Paths into an inline module of the file stay in the file's module.
fn absolute(
    here: &ModulePath,
    file: &ModulePath,
    segments: &[String],
    children: &BTreeSet<&str>,
) -> Option<Vec<String>> {
    let first = segments.first()?;
    let mut path = match first.as_str() {
        "crate" => segments[1..].to_vec(),
        "super" | "self" => {
            let mut base = here.clone();
            let mut rest = segments;
            while let Some(head) = rest.first() {
                match head.as_str() {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                rest = &rest[1..];
            }
            base.extend_from_slice(rest);
            base
        }
        child if children.contains(child) && here == file => {
            let mut path = file.clone();
            path.extend_from_slice(segments);
            path
        }
        _ => return None,
    };
    // A path into one of the file's inline modules is the file's own.
    if path.len() > file.len() && path.starts_with(file) && here.len() > file.len() {
        if let Some(inline) = here.get(file.len()) {
            if path[file.len()] == *inline {
                path.remove(file.len());
            }
        }
    }
    Some(path)
}
