//! ARCHITECTURE.md's invariants that a machine can check, one test each, numbered as there:
//! dependency trees from `cargo tree` (offline, nothing built), source text by reading it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use toolcalld_tests::workspace_dir;

/// The packages in `package`'s normal (not dev, not build) dependency tree, itself included;
/// `depth` 1 gives only its direct dependencies.
fn dependencies(package: &str, depth: Option<u32>) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(workspace_dir()).args([
        "tree",
        "--locked",
        "--offline",
        "-e",
        "normal",
        "--prefix",
        "none",
        "-p",
        package,
    ]);
    if let Some(depth) = depth {
        command.args(["--depth", &depth.to_string()]);
    }
    let out = command.output().expect("cargo tree runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn assert_none_of(package: &str, tree: &BTreeSet<String>, forbidden: &[&str]) {
    let found: Vec<&String> = tree
        .iter()
        .filter(|name| {
            forbidden
                .iter()
                .any(|f| name.as_str() == *f || name.starts_with(&format!("{f}-")))
        })
        .collect();
    assert!(found.is_empty(), "{package} depends on {found:?}");
}

/// The Rust sources under `dirs` (relative to the workspace), recursively.
fn sources(dirs: &[&str]) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    for dir in dirs {
        walk(&workspace_dir().join(dir), &mut out);
    }
    out
}

/// Lines of code, not comments or attributes.
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start();
            !t.starts_with("//") && !t.starts_with("#[")
        })
        .map(|(n, l)| (n + 1, l.to_string()))
        .collect()
}

#[test]
fn invariant_1_the_engine_knows_nothing_of_d_bus() {
    let tree = dependencies("toolcall-engine", None);
    assert!(tree.contains("tract-onnx"), "the tree was read: {tree:?}");
    assert_none_of("toolcall-engine", &tree, &["zbus", "toolcall-dbus"]);
}

#[test]
fn invariant_2_the_daemon_knows_nothing_of_tensors() {
    let direct = dependencies("toolcalld", Some(1));
    assert!(direct.contains("toolcall-engine"), "the tree was read: {direct:?}");
    assert_none_of(
        "toolcalld",
        &direct,
        &["tract", "llguidance", "tokenizers", "ndarray", "half"],
    );
    for path in sources(&["daemon/src"]) {
        for (n, line) in code_lines(&path) {
            assert!(!line.contains("tract"), "{}:{n} names tract: {line}", path.display());
        }
    }
}

#[test]
fn invariant_3_clients_stay_light() {
    for package in ["toolcall-client", "toolcall-dbus"] {
        let tree = dependencies(package, None);
        assert!(tree.contains("zbus"), "the tree was read: {tree:?}");
        assert_none_of(
            package,
            &tree,
            &["tract", "llguidance", "tokenizers", "toolcall-engine", "toolcalld"],
        );
    }
}

#[test]
fn invariant_4_nothing_can_download_at_run_time() {
    let other_http = ["reqwest", "hyper", "curl", "isahc", "attohttpc", "hf-hub"];
    for package in ["toolcall-client", "toolcall-engine"] {
        let tree = dependencies(package, None);
        assert_none_of(package, &tree, &other_http);
        assert_none_of(package, &tree, &["ureq"]);
    }
    // The daemon's one HTTP client is escalation's, and only its endpoint module uses it.
    let daemon = dependencies("toolcalld", None);
    assert!(daemon.contains("ureq"), "the tree was read: {daemon:?}");
    assert_none_of("toolcalld", &daemon, &other_http);
    let endpoint = workspace_dir().join("daemon/src/escalation/endpoint.rs");
    for path in sources(&["daemon/src"]).into_iter().filter(|p| p != &endpoint) {
        for (n, line) in code_lines(&path) {
            assert!(
                !line.contains("ureq::"),
                "{}:{n} uses the HTTP client; only {} may: {line}",
                path.display(),
                endpoint.display()
            );
        }
    }
}

#[test]
fn invariant_7_one_prompt_renderer() {
    let renderer = workspace_dir().join("engine/src/prompt.rs");
    for path in sources(&["engine/src", "daemon/src", "client-lib/src", "dbus-interfaces/src"]) {
        if path.ends_with("engine/src/prompt.rs") {
            continue;
        }
        for (n, line) in code_lines(&path) {
            assert!(
                !line.contains("<|im_start|>"),
                "{}:{n} writes a chat marker; {} is the one renderer",
                path.display(),
                renderer.display()
            );
        }
    }
}

#[test]
fn invariant_8_one_definition_of_the_wire() {
    let wire_types = [
        "struct CallResult",
        "struct FunctionCall",
        "struct Timings",
        "struct ModelInfo",
        "enum ErrorKind",
        "enum ToolCallError",
    ];
    for path in sources(&["daemon/src", "client-lib/src", "tests/src"]) {
        for (n, line) in code_lines(&path) {
            let place = format!("{}:{n}", path.display());
            assert!(
                !wire_types.iter().any(|t| line.contains(t)),
                "{place} defines a wire type of its own: {line}"
            );
            assert!(
                !line.contains("\"org.toolcalld.ToolCall1") && !line.contains("\"/org/toolcalld/"),
                "{place} spells a bus name or path; take it from toolcall-dbus: {line}"
            );
        }
    }
}

#[test]
fn invariant_9_no_source_file_over_400_lines_outside_tests() {
    let crates = [
        "engine/src",
        "daemon/src",
        "dbus-interfaces/src",
        "client-lib/src",
        "tests/src",
    ];
    let long: Vec<String> = sources(&crates)
        .into_iter()
        .filter_map(|path| {
            let lines = std::fs::read_to_string(&path).unwrap().lines().count();
            (lines > 400).then(|| format!("{} ({lines} lines)", path.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by job: {long:?}");
}
