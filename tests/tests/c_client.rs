//! libtoolcall from C against a real toolcalld on a private bus: the shipped example (a
//! one-shot call, a toolset and a session) compiled and run; `toolcall_cancel` from another
//! thread ending a call blocked in `toolcall_call`; and the error contract (errors by name,
//! an error reused without leaking, checked by valgrind). The programs are compiled with
//! `cc -Wall -Wextra -Werror` against `client-lib/include/toolcall.h` and the built library.

use std::path::{Path, PathBuf};
use std::process::Command;

use toolcalld_tests::installed::{ok, output, text};
use toolcalld_tests::{
    DEFAULT, Daemon, HOME_TOOLS, TINY, TempDir, TestBus, bin_dir, bundle, long_tools, workspace_dir,
};

/// Compiles `source` (relative to the workspace) into `dir`, linked to the built library laid
/// out there as `make install` names it (libtoolcall.so.0, its SONAME, and the link-time
/// libtoolcall.so); returns the program.
fn compile(source: &str, dir: &Path) -> PathBuf {
    let program = dir.join(Path::new(source).file_stem().unwrap());
    let lib_dir = dir.join("lib");
    std::fs::create_dir_all(&lib_dir).unwrap();
    std::fs::copy(
        bin_dir().join("libtoolcall_client.so"),
        lib_dir.join("libtoolcall.so.0"),
    )
    .unwrap();
    std::os::unix::fs::symlink("libtoolcall.so.0", lib_dir.join("libtoolcall.so")).unwrap();
    ok(Command::new("cc")
        .args(["-Wall", "-Wextra", "-Werror", "-I"])
        .arg(workspace_dir().join("client-lib/include"))
        .arg(workspace_dir().join(source))
        .arg(format!("-L{}", lib_dir.display()))
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .args(["-ltoolcall", "-lpthread", "-o"])
        .arg(&program));
    program
}

#[test]
fn the_c_example_makes_a_call_a_toolset_and_a_session() {
    let dir = TempDir::new("c-example");
    let example = compile("client-lib/examples/c/toolcall_example.c", &dir.0);
    let tools = dir.0.join("tools.json");
    std::fs::write(&tools, HOME_TOOLS).unwrap();
    let bus = TestBus::start();
    let _daemon = Daemon::start(&bus, &bundle(DEFAULT), "");
    let out = output(
        Command::new(&example)
            .arg(&bus.address)
            .arg(&tools)
            .arg("turn on the kitchen light"),
    );
    assert!(out.status.success(), "{}\n{}", out.status, text(&out.stderr));
    let answers: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(answers.len(), 4, "call, toolset call, two turns: {answers:?}");
    let tools: Vec<serde_json::Value> = serde_json::from_str(HOME_TOOLS).unwrap();
    for answer in &answers {
        for call in answer["function_calls"].as_array().expect("function_calls") {
            let tool = tools
                .iter()
                .find(|t| t["name"] == call["name"])
                .unwrap_or_else(|| panic!("a call of no such tool: {answer}"));
            assert!(
                jsonschema::is_valid(&tool["parameters"], &call["arguments"]),
                "arguments against the tool's schema: {answer}"
            );
        }
    }
}

#[test]
fn a_call_blocked_in_one_thread_is_cancelled_from_another() {
    let dir = TempDir::new("c-cancel");
    let program = compile("tests/c/cancel.c", &dir.0);
    let tools = dir.0.join("long-tools.json");
    std::fs::write(&tools, long_tools(40)).unwrap();
    let bus = TestBus::start();
    let _daemon = Daemon::start(&bus, &bundle(DEFAULT), "workers = 1\n");
    let out = output(
        Command::new(&program)
            .arg(&bus.address)
            .stdin(std::fs::File::open(&tools).unwrap()),
    );
    assert!(
        out.status.success(),
        "{}\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn errors_come_by_name_and_a_reused_error_leaks_nothing() {
    let dir = TempDir::new("c-errors");
    let program = compile("tests/c/errors.c", &dir.0);
    let bus = TestBus::start();
    let _daemon = Daemon::start(&bus, &bundle(TINY), "");
    let out = output(
        Command::new("valgrind")
            .args([
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "--error-exitcode=99",
                "--quiet",
            ])
            .arg(&program)
            .arg(&bus.address),
    );
    assert!(
        out.status.success(),
        "{} (99: valgrind found errors or definite leaks)\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}
