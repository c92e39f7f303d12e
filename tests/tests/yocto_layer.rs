//! The Yocto layer (yocto-layer/) stays in step with the workspace and lint-clean:
//! scripts/yocto-layer.py --check (crate list = Cargo.lock, recipe version and LICENSE) and
//! --lint (oelint-adv --release wrynose), and --check-files (the recipe's do_install replayed
//! with `make install` into a temporary DESTDIR: every file shipped, by the right package,
//! every FILES entry used). All run offline; BitBake itself is not available here.

use std::path::PathBuf;
use std::process::Command;

use toolcalld_tests::workspace_dir;

fn venv_python() -> PathBuf {
    let python = workspace_dir().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/setup.sh", python.display());
    python
}

fn run_script(arg: &str) {
    let root = workspace_dir();
    let out = Command::new(venv_python())
        .arg(root.join("scripts/yocto-layer.py"))
        .arg(arg)
        // The license check runs `cargo metadata --offline`: use the cargo running the tests.
        .env("CARGO", env!("CARGO"))
        .current_dir(&root)
        .output()
        .expect("run scripts/yocto-layer.py");
    assert!(
        out.status.success(),
        "scripts/yocto-layer.py {arg} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn crate_list_version_and_license_match_the_workspace() {
    run_script("--check");
}

#[test]
fn layer_is_oelint_clean() {
    run_script("--lint");
}

#[test]
fn recipe_ships_every_installed_file_in_the_right_package() {
    toolcalld_tests::binary("toolcalld"); // make install takes the binaries from target/debug
    run_script("--check-files");
}
