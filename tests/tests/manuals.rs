//! The committed man pages and shell completions are what the code generates now
//! (`toolcalld_tests::manuals`; `TOOLCALL_UPDATE_MANUALS=1` rewrites them), groff reads every
//! page without a warning, and bash reads its completion scripts.

use std::process::Command;

use toolcalld_tests::installed::{output, text};
use toolcalld_tests::manuals::generated;
use toolcalld_tests::workspace_dir;

#[test]
fn man_pages_and_completions_are_up_to_date() {
    let update = std::env::var_os("TOOLCALL_UPDATE_MANUALS").is_some();
    let mut stale = Vec::new();
    for (path, content) in generated() {
        let path = workspace_dir().join(path);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &content).unwrap();
        }
        if std::fs::read(&path).unwrap_or_default() != content {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale: {stale:?}; run TOOLCALL_UPDATE_MANUALS=1 cargo test --workspace --test manuals"
    );
}

#[test]
fn groff_and_bash_read_them_cleanly() {
    for (path, _) in generated() {
        let path = workspace_dir().join(path);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let out = if path.parent().unwrap().ends_with("man") {
            output(Command::new("groff").args(["-k", "-man", "-ww", "-z"]).arg(&path))
        } else if name.ends_with(".bash") {
            output(Command::new("bash").arg("-n").arg(&path))
        } else {
            continue;
        };
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{name}: {}\n{}",
            out.status,
            text(&out.stderr)
        );
    }
}
