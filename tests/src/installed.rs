//! Helpers of the system-integration suites (`tests/tests/install.rs`, `units.rs`,
//! `bus_policy.rs`): running commands that must succeed, `make install` into a scratch root,
//! file modes, the Makefile's sandbox threshold.

use std::borrow::BorrowMut;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use crate::{bin_dir, workspace_dir};

/// Runs a command to completion, panicking only if it cannot be started.
pub fn output(mut cmd: impl BorrowMut<Command>) -> Output {
    let cmd = cmd.borrow_mut();
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(mut cmd: impl BorrowMut<Command>) -> String {
    let cmd = cmd.borrow_mut();
    let out = output(&mut *cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `make -C <workspace> <args>`, installing what this test's cargo build produced.
pub fn make(args: &[&str]) -> Command {
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(workspace_dir())
        .arg("--no-print-directory")
        .args(args)
        .arg(format!("TARGET_DIR={}", bin_dir().display()));
    cmd
}

pub fn make_install(destdir: &Path, extra: &[&str]) {
    let mut args = vec!["install".to_string(), format!("DESTDIR={}", destdir.display())];
    args.extend(extra.iter().map(|s| s.to_string()));
    ok(make(&args.iter().map(String::as_str).collect::<Vec<_>>()));
}

pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The Makefile's `SECURITY_THRESHOLD ?= N`: one number for `make check-units` and this test.
pub fn security_threshold() -> u32 {
    read(&workspace_dir().join("Makefile"))
        .lines()
        .find_map(|l| l.strip_prefix("SECURITY_THRESHOLD ?="))
        .expect("SECURITY_THRESHOLD in the Makefile")
        .trim()
        .parse()
        .expect("SECURITY_THRESHOLD is an integer (exposure x 10)")
}
