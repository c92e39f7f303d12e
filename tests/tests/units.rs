//! The systemd units under `systemd-analyze verify`, the system unit's sandbox under
//! `systemd-analyze security` (gated at the Makefile's SECURITY_THRESHOLD), and the sysusers.d
//! file in a scratch root, all on the files as `make install` lays them out.
//!
//! Needs root (switching users; creating the `toolcalld` user and `toolcall` group from our
//! sysusers.d file when they are missing), and make, cc, pkg-config, systemd-analyze,
//! systemd-sysusers, dbus-daemon, dbus-send, setpriv and timeout. CI runs as root. Files the
//! other users must read are copied into world-readable temporary directories.

use std::fs;
use std::path::Path;
use std::process::Command;

use toolcalld_tests::installed::*;
use toolcalld_tests::{TempDir, workspace_dir};

/// A root for `systemd-analyze --root=`: our binaries and data as installed, plus the host's
/// own units (verify loads the unit's dependencies: sysinit.target, dbus.socket, ...) and
/// /bin/kill (our ExecReload=). Host files never replace ours.
fn verify_root() -> TempDir {
    let root = TempDir::new("verify-root");
    let r = &root.0;
    ok(make(&[
        "install-bin",
        "install-data",
        &format!("DESTDIR={}", r.display()),
    ]));
    let units = r.join("usr/lib/systemd/system");
    for host in ["/usr/lib/systemd/system", "/lib/systemd/system"] {
        if Path::new(host).is_dir() {
            ok(Command::new("cp").arg("-an").arg(format!("{host}/.")).arg(&units));
        }
    }
    assert!(
        units.join("sysinit.target").exists(),
        "no systemd units on this host to verify against"
    );
    std::os::unix::fs::symlink("usr/bin", r.join("bin")).unwrap();
    fs::copy("/bin/kill", r.join("usr/bin/kill")).expect("/bin/kill (procps or util-linux)");
    root
}

/// What `systemd-analyze verify` says about `unit`: a failing status, or any line naming
/// toolcalld (unknown keys and bad values are only warnings, with status 0).
fn verify_problems(mut cmd: Command, unit: &str) -> Vec<String> {
    let out = output(cmd.arg(unit));
    let mut problems: Vec<String> = text(&out.stderr)
        .lines()
        .chain(text(&out.stdout).lines())
        .filter(|l| l.contains("toolcalld"))
        .map(str::to_string)
        .collect();
    if !out.status.success() {
        problems.push(format!("{}: {}", out.status, text(&out.stderr)));
    }
    problems
}

fn verify_system(root: &Path, unit: &str) -> Vec<String> {
    let mut cmd = Command::new("systemd-analyze");
    cmd.arg("verify").arg(format!("--root={}", root.display()));
    verify_problems(cmd, unit)
}

#[test]
fn units_pass_systemd_analyze_verify() {
    let root = verify_root();
    let r = &root.0;
    let problems = verify_system(r, "toolcalld.service");
    assert!(problems.is_empty(), "system unit: {problems:#?}");

    // With the escalation drop-in installed as docs/ESCALATION.md says.
    let drop_ins = r.join("etc/systemd/system/toolcalld.service.d");
    fs::create_dir_all(&drop_ins).unwrap();
    let escalation = read(&r.join("usr/share/toolcalld/escalation.conf"));
    fs::write(drop_ins.join("escalation.conf"), &escalation).unwrap();
    let problems = verify_system(r, "toolcalld.service");
    assert!(
        problems.is_empty(),
        "system unit with the escalation drop-in: {problems:#?}"
    );
    fs::write(
        drop_ins.join("escalation.conf"),
        escalation.replace("PrivateNetwork=no", "PrivateNetwork=nope"),
    )
    .unwrap();
    assert!(
        !verify_system(r, "toolcalld.service").is_empty(),
        "a bad drop-in is seen"
    );
    fs::remove_file(drop_ins.join("escalation.conf")).unwrap();

    // The check itself bites: a bad value and a missing executable are both reported.
    let units = r.join("usr/lib/systemd/system");
    let good = read(&units.join("toolcalld.service"));
    fs::write(
        units.join("toolcalld-bad.service"),
        good.replace("Type=notify", "Type=notifyy"),
    )
    .unwrap();
    assert!(!verify_system(r, "toolcalld-bad.service").is_empty());
    fs::write(
        units.join("toolcalld-gone.service"),
        good.replace("/usr/bin/toolcalld ", "/usr/bin/toolcalld-gone "),
    )
    .unwrap();
    assert!(!verify_system(r, "toolcalld-gone.service").is_empty());

    // The Wyoming service's unit (shipped beside toolcalld's, installed by hand with the Python
    // package), with its program where `pip install` as root puts it.
    let local_bin = r.join("usr/local/bin");
    fs::create_dir_all(&local_bin).unwrap();
    fs::copy(
        workspace_dir().join(".venv/bin/toolcall-wyoming"),
        local_bin.join("toolcall-wyoming"),
    )
    .expect("toolcall-wyoming in .venv: run scripts/setup.sh");
    fs::copy(
        workspace_dir().join("systemd/toolcall-wyoming.service"),
        units.join("toolcall-wyoming.service"),
    )
    .unwrap();
    let problems = verify_system(r, "toolcall-wyoming.service");
    assert!(problems.is_empty(), "toolcall-wyoming unit: {problems:#?}");

    // systemd 252 cannot combine --user with --root: verify the user unit by path, pointed at
    // the installed binary.
    let user_dir = TempDir::new("verify-user");
    let runtime = user_dir.0.join("runtime");
    fs::create_dir(&runtime).unwrap();
    chmod(&runtime, 0o700);
    let unit = user_dir.0.join("toolcalld.service");
    let installed = read(&r.join("usr/lib/systemd/user/toolcalld.service"));
    assert!(
        installed.contains("ExecStart=/usr/bin/toolcalld --bus session"),
        "{installed}"
    );
    let bin = r.join("usr/bin/toolcalld");
    fs::write(
        &unit,
        installed.replace("/usr/bin/toolcalld", &bin.display().to_string()),
    )
    .unwrap();
    let mut cmd = Command::new("systemd-analyze");
    cmd.args(["verify", "--user"]).env("XDG_RUNTIME_DIR", &runtime);
    let problems = verify_problems(cmd, &unit.display().to_string());
    assert!(problems.is_empty(), "user unit: {problems:#?}");
}

/// `systemd-analyze security --offline=yes` of `unit` in `root`: (passed the threshold, exposure).
fn security(root: &Path, unit: &str, threshold: u32) -> (bool, f64) {
    let out = output(
        Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(format!("--root={}", root.display()))
            .arg(format!("--threshold={threshold}"))
            .arg(unit),
    );
    let stdout = text(&out.stdout);
    let exposure = stdout
        .lines()
        .find_map(|l| {
            l.split_once("Overall exposure level for ")
                .map(|(_, rest)| rest.to_string())
        })
        .and_then(|rest| rest.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        .unwrap_or_else(|| panic!("no exposure in:\n{stdout}\n{}", text(&out.stderr)));
    (out.status.success(), exposure)
}

#[test]
fn the_sandbox_exposure_cannot_get_worse() {
    let threshold = security_threshold();
    let root = verify_root();
    let (passed, exposure) = security(&root.0, "toolcalld.service", threshold);
    assert!(
        passed && exposure * 10.0 <= threshold as f64 + 1e-9,
        "toolcalld.service exposure {exposure} is above the gate {threshold} (x 10): \
         restore the sandbox (see `systemd-analyze security --offline=yes`)"
    );

    // The gate bites: the bare unit (9.6 UNSAFE when measured) fails the same threshold.
    let units = root.0.join("usr/lib/systemd/system");
    fs::write(
        units.join("toolcalld-bare.service"),
        "[Service]\nExecStart=/usr/bin/toolcalld --bus system\n",
    )
    .unwrap();
    let (bare_passed, bare) = security(&root.0, "toolcalld-bare.service", threshold);
    assert!(
        !bare_passed && bare > 5.0,
        "bare unit: passed={bare_passed} exposure={bare}"
    );

    // `make check-units` runs the same checks.
    let out = ok(make(&["check-units"]));
    assert!(out.contains("verify toolcalld.service (system): ok"), "{out}");
    assert!(out.contains("verify toolcalld.service (user): ok"), "{out}");
    assert!(out.contains(&format!("toolcalld.service: {exposure:.1}")), "{out}");
}

#[test]
fn sysusers_file_creates_the_user_and_the_group() {
    let root = TempDir::new("sysusers");
    fs::create_dir_all(root.0.join("etc")).unwrap();
    ok(Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.0.display()))
        .arg(workspace_dir().join("systemd/sysusers.d/toolcalld.conf")));
    let passwd = read(&root.0.join("etc/passwd"));
    let user: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with("toolcalld:"))
        .unwrap_or_else(|| panic!("no toolcalld user in\n{passwd}"))
        .split(':')
        .collect();
    let uid: u32 = user[2].parse().unwrap();
    assert!(uid > 0 && uid < 1000, "toolcalld must be a system user, got uid {uid}");
    assert!(user[6].ends_with("nologin"), "toolcalld has a login shell: {}", user[6]);
    let group = read(&root.0.join("etc/group"));
    for name in ["toolcall", "toolcalld", "toolcall-admin"] {
        assert!(
            group.lines().any(|l| l.starts_with(&format!("{name}:"))),
            "no group {name} in\n{group}"
        );
    }
}
