//! System integration, checked on the files as `make install` lays them out:
//! - every installed path, with default and custom prefixes, and the C library usable through
//!   pkg-config;
//! - the systemd units under `systemd-analyze verify`, and the system unit's sandbox under
//!   `systemd-analyze security`, gated at the Makefile's SECURITY_THRESHOLD;
//! - the sysusers.d file (in a scratch root);
//! - the system-bus policy on a real dbus-daemon configured like the system bus, with the
//!   daemon and its clients run as other users through `setpriv` (util-linux).
//!
//! Needs root (switching users; creating the `toolcalld` user and `toolcall` group from our
//! sysusers.d file when they are missing), and make, cc, pkg-config, systemd-analyze,
//! systemd-sysusers, dbus-daemon, dbus-send, setpriv and timeout. CI runs as root. Files the
//! other users must read are copied into world-readable temporary directories.

use std::borrow::BorrowMut;
use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use toolcalld_tests::{HOME_TOOLS, TINY, TempDir, bin_dir, binary, bundle, copy_bundle, workspace_dir};

const BUS_NAME: &str = "org.toolcalld.ToolCall1";
const OBJECT: &str = "/org/toolcalld/ToolCall1";

/// Every path `make install` must create (default prefixes), relative to DESTDIR.
const INSTALLED: &[&str] = &[
    "usr/bin/toolcalld",
    "usr/bin/toolcallctl",
    "usr/lib/libtoolcall.so.0",
    "usr/lib/libtoolcall.so",
    "usr/include/toolcall.h",
    "usr/lib/pkgconfig/toolcall.pc",
    "usr/lib/systemd/system/toolcalld.service",
    "usr/lib/systemd/user/toolcalld.service",
    "usr/lib/sysusers.d/toolcalld.conf",
    "usr/share/dbus-1/system.d/org.toolcalld.ToolCall1.conf",
    "usr/share/dbus-1/system-services/org.toolcalld.ToolCall1.service",
    "usr/share/dbus-1/services/org.toolcalld.ToolCall1.service",
    "usr/share/dbus-1/interfaces/org.toolcalld.ToolCall1.xml",
    "usr/share/dbus-1/interfaces/org.toolcalld.ToolCall1.Toolset.xml",
    "usr/share/dbus-1/interfaces/org.toolcalld.ToolCall1.Session.xml",
    "etc/toolcalld/toolcalld.toml",
];

// ---------------------------------------------------------------------------------------------
// Helpers

/// Runs a command to completion, panicking only if it cannot be started.
fn output(mut cmd: impl BorrowMut<Command>) -> Output {
    let cmd = cmd.borrow_mut();
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command that must succeed; returns its stdout.
fn ok(mut cmd: impl BorrowMut<Command>) -> String {
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
fn make(args: &[&str]) -> Command {
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(workspace_dir())
        .arg("--no-print-directory")
        .args(args)
        .arg(format!("TARGET_DIR={}", bin_dir().display()));
    cmd
}

fn make_install(destdir: &Path, extra: &[&str]) {
    let mut args = vec!["install".to_string(), format!("DESTDIR={}", destdir.display())];
    args.extend(extra.iter().map(|s| s.to_string()));
    ok(make(&args.iter().map(String::as_str).collect::<Vec<_>>()));
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The Makefile's `SECURITY_THRESHOLD ?= N`: one number for `make check-units` and this test.
fn security_threshold() -> u32 {
    read(&workspace_dir().join("Makefile"))
        .lines()
        .find_map(|l| l.strip_prefix("SECURITY_THRESHOLD ?="))
        .expect("SECURITY_THRESHOLD in the Makefile")
        .trim()
        .parse()
        .expect("SECURITY_THRESHOLD is an integer (exposure x 10)")
}

// ---------------------------------------------------------------------------------------------
// make install

#[test]
fn make_install_lays_out_every_path() {
    let dest = TempDir::new("install");
    let d = &dest.0;
    make_install(d, &[]);

    let mut missing = Vec::new();
    for rel in INSTALLED {
        if fs::symlink_metadata(d.join(rel)).is_err() {
            missing.push(*rel);
        }
    }
    assert!(missing.is_empty(), "make install did not create {missing:?}");

    for bin in ["usr/bin/toolcalld", "usr/bin/toolcallctl", "usr/lib/libtoolcall.so.0"] {
        let mode = fs::metadata(d.join(bin)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o755, "{bin} mode {mode:o}");
    }
    assert_eq!(
        fs::read_link(d.join("usr/lib/libtoolcall.so")).expect("libtoolcall.so is a symlink"),
        PathBuf::from("libtoolcall.so.0")
    );
    assert_eq!(
        fs::read(d.join("usr/lib/libtoolcall.so.0")).unwrap(),
        fs::read(bin_dir().join("libtoolcall_client.so")).unwrap(),
        "libtoolcall.so.0 is the workspace's libtoolcall_client.so"
    );

    // With the default prefixes the shipped files are installed unchanged.
    let ws = workspace_dir();
    for (src, dst) in [
        ("systemd/toolcalld.service", "usr/lib/systemd/system/toolcalld.service"),
        (
            "systemd/user/toolcalld.service",
            "usr/lib/systemd/user/toolcalld.service",
        ),
        ("systemd/sysusers.d/toolcalld.conf", "usr/lib/sysusers.d/toolcalld.conf"),
        ("daemon/toolcalld.toml", "etc/toolcalld/toolcalld.toml"),
        (
            "dbus-interfaces/org.toolcalld.ToolCall1.conf",
            "usr/share/dbus-1/system.d/org.toolcalld.ToolCall1.conf",
        ),
        (
            "dbus-interfaces/activation/system/org.toolcalld.ToolCall1.service",
            "usr/share/dbus-1/system-services/org.toolcalld.ToolCall1.service",
        ),
        (
            "dbus-interfaces/activation/session/org.toolcalld.ToolCall1.service",
            "usr/share/dbus-1/services/org.toolcalld.ToolCall1.service",
        ),
        ("client-lib/include/toolcall.h", "usr/include/toolcall.h"),
    ] {
        assert_eq!(read(&ws.join(src)), read(&d.join(dst)), "{dst} differs from {src}");
    }

    // One XML per interface, exactly the contract's files.
    let names = |dir: &Path| -> BTreeSet<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(
        names(&ws.join("dbus-interfaces/xml")),
        names(&d.join("usr/share/dbus-1/interfaces"))
    );

    let pc = read(&d.join("usr/lib/pkgconfig/toolcall.pc"));
    assert!(!pc.contains('@'), "unsubstituted template value in toolcall.pc:\n{pc}");
    assert!(pc.contains("libdir=/usr/lib\n") && pc.contains("-ltoolcall"), "{pc}");

    // The model target installs exactly the files the daemon loads.
    let tiny = bundle(TINY);
    ok(make(&[
        "install-model",
        &format!("DESTDIR={}", d.display()),
        &format!("MODEL_DIR={}", tiny.display()),
        "MODEL_NAME=default",
    ]));
    let model = d.join("usr/share/toolcalld/models/default");
    assert_eq!(
        names(&model),
        BTreeSet::from([
            "bundle.json".into(),
            "model.onnx".into(),
            "model.onnx.data".into(),
            "embedding.bin".into(),
            "tokenizer.json".into()
        ])
    );
    for f in ["model.onnx", "model.onnx.data", "embedding.bin"] {
        assert_eq!(fs::read(model.join(f)).unwrap(), fs::read(tiny.join(f)).unwrap());
    }
}

#[test]
fn the_installed_c_library_links_through_pkg_config() {
    let dest = TempDir::new("install-c");
    let d = &dest.0;
    make_install(d, &[]);
    let flags = ok(Command::new("pkg-config")
        .args(["--cflags", "--libs", "toolcall"])
        .env("PKG_CONFIG_SYSROOT_DIR", d)
        .env("PKG_CONFIG_LIBDIR", d.join("usr/lib/pkgconfig")));
    let example = d.join("toolcall_example");
    ok(Command::new("cc")
        .arg(workspace_dir().join("client-lib/examples/c/toolcall_example.c"))
        .args(flags.split_whitespace())
        .arg("-o")
        .arg(&example));
    // Linked through the libtoolcall.so symlink, the program must depend on the versioned file
    // (the library's SONAME), which is what runtime packages ship.
    let dynamic = ok(Command::new("readelf").arg("-d").arg(&example));
    assert!(dynamic.contains("Shared library: [libtoolcall.so.0]"), "{dynamic}");
    // Without arguments the example prints its usage and exits 2; a library the loader cannot
    // find would end it with 127 before main. Only the versioned name is on the path here.
    fs::remove_file(d.join("usr/lib/libtoolcall.so")).unwrap();
    let out = output(Command::new(&example).env("LD_LIBRARY_PATH", d.join("usr/lib")));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("usage"), "{}", text(&out.stderr));
}

#[test]
fn make_install_follows_the_prefix_and_never_builds() {
    let dest = TempDir::new("install-prefix");
    let d = &dest.0;
    make_install(d, &["PREFIX=/opt/tc", "SYSCONFDIR=/opt/tc/etc"]);
    for rel in [
        "opt/tc/bin/toolcalld",
        "opt/tc/lib/libtoolcall.so.0",
        "opt/tc/lib/systemd/system/toolcalld.service",
        "opt/tc/share/dbus-1/system.d/org.toolcalld.ToolCall1.conf",
        "opt/tc/etc/toolcalld/toolcalld.toml",
    ] {
        assert!(d.join(rel).exists(), "{rel} missing");
    }
    let unit = read(&d.join("opt/tc/lib/systemd/system/toolcalld.service"));
    assert!(
        unit.contains("\nExecStart=/opt/tc/bin/toolcalld --bus system\n"),
        "{unit}"
    );
    let user_unit = read(&d.join("opt/tc/lib/systemd/user/toolcalld.service"));
    assert!(
        user_unit.contains("\nExecStart=/opt/tc/bin/toolcalld --bus session\n"),
        "{user_unit}"
    );
    let activation = read(&d.join("opt/tc/share/dbus-1/services/org.toolcalld.ToolCall1.service"));
    assert!(
        activation.contains("\nExec=/opt/tc/bin/toolcalld --bus session\n"),
        "{activation}"
    );
    let config = read(&d.join("opt/tc/etc/toolcalld/toolcalld.toml"));
    assert!(
        config.contains("\nmodel_dir = \"/opt/tc/share/toolcalld/models/default\"\n"),
        "{config}"
    );
    assert!(!d.join("usr").exists(), "something was installed outside PREFIX");

    // A target directory without a build is an error naming the fix, not a cargo run.
    let empty = TempDir::new("no-build");
    let out = output(
        Command::new("make")
            .arg("-C")
            .arg(workspace_dir())
            .args(["install", &format!("DESTDIR={}", d.display())])
            .arg(format!("TARGET_DIR={}", empty.0.display())),
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("run cargo build"), "{}", text(&out.stderr));
}

// ---------------------------------------------------------------------------------------------
// systemd-analyze

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
    for name in ["toolcall", "toolcalld"] {
        assert!(
            group.lines().any(|l| l.starts_with(&format!("{name}:"))),
            "no group {name} in\n{group}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The system-bus policy on a real dbus-daemon

/// Kills and reaps a child on drop.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A dbus-daemon with the system bus's default policy (as in /usr/share/dbus-1/system.conf:
/// nobody may own a name or send a method call unless a policy file allows it), our policy
/// directory included, and our system activation directory.
struct SystemBus {
    _child: Reaped,
    address: String,
    stderr: PathBuf,
}

impl SystemBus {
    fn start(dir: &Path, policy_dir: &Path, services_dir: &Path) -> SystemBus {
        let socket_dir = dir.join("bus");
        fs::create_dir_all(&socket_dir).unwrap();
        chmod(&socket_dir, 0o755);
        let config = dir.join("system-bus.conf");
        fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{services}</servicedir>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <includedir>{policy}</includedir>
</busconfig>
"#,
                socket = socket_dir.join("system_bus_socket").display(),
                services = services_dir.display(),
                policy = policy_dir.display(),
            ),
        )
        .unwrap();
        let stderr = dir.join("dbus-daemon.stderr");
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("dbus-daemon starts (apt-get install dbus)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("bus address");
        assert!(
            line.starts_with("unix:"),
            "dbus-daemon did not start: {}",
            read(&stderr)
        );
        SystemBus {
            _child: Reaped(child),
            address: line.trim().to_string(),
            stderr,
        }
    }

    /// The configuration errors dbus-daemon only logs (a malformed policy file is skipped).
    fn config_errors(&self) -> Vec<String> {
        read(&self.stderr)
            .lines()
            .filter(|l| l.contains("Encountered error"))
            .map(str::to_string)
            .collect()
    }
}

/// Who runs a command.
#[derive(Clone, Copy)]
enum As {
    Root,
    /// uid, gid, supplementary groups (none: cleared).
    User(u32, u32, Option<u32>),
}

/// The command line that runs `program` as `who` (through setpriv for another user).
fn argv_as(who: As, program: &Path) -> Vec<String> {
    let program = program.display().to_string();
    match who {
        As::Root => vec![program],
        As::User(uid, gid, groups) => vec![
            "setpriv".into(),
            format!("--reuid={uid}"),
            format!("--regid={gid}"),
            groups.map_or("--clear-groups".into(), |g| format!("--groups={g}")),
            program,
        ],
    }
}

fn command(argv: &[String]) -> Command {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    cmd
}

/// The toolcalld user and toolcall group, created from our sysusers.d file if missing (as
/// systemd-sysusers does on the product).
fn accounts(sysusers_conf: &Path) -> (nix::unistd::User, nix::unistd::Group) {
    use nix::unistd::{Group, User};
    let lookup = || {
        (
            User::from_name("toolcalld").unwrap(),
            Group::from_name("toolcall").unwrap(),
        )
    };
    if let (Some(user), Some(group)) = lookup() {
        return (user, group);
    }
    ok(Command::new("systemd-sysusers").arg(sysusers_conf));
    match lookup() {
        (Some(user), Some(group)) => (user, group),
        other => panic!("systemd-sysusers did not create toolcalld/toolcall: {other:?}"),
    }
}

/// toolcalld and toolcallctl, the tiny bundle and a tools file, readable by every user (the
/// workspace may sit in a directory other users cannot traverse).
struct App {
    dir: TempDir,
}

impl App {
    fn new() -> App {
        let dir = TempDir::new("app");
        let d = &dir.0;
        chmod(d, 0o755);
        for bin in ["toolcalld", "toolcallctl"] {
            fs::copy(binary(bin), d.join(bin)).unwrap();
            chmod(&d.join(bin), 0o755);
        }
        let model = d.join("model");
        fs::create_dir(&model).unwrap();
        chmod(&model, 0o755);
        copy_bundle(TINY, &model);
        // An empty configuration: the host's /etc/toolcalld/toolcalld.toml must not matter.
        for (name, content) in [("toolcalld.toml", ""), ("tools.json", HOME_TOOLS)] {
            fs::write(d.join(name), content).unwrap();
            chmod(&d.join(name), 0o644);
        }
        App { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.0.join(name)
    }

    /// toolcalld as `who` on `bus`, after `prefix` (e.g. `timeout 60`).
    fn daemon(&self, prefix: &[&str], who: As, bus: &SystemBus) -> Command {
        let mut argv: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
        argv.extend(argv_as(who, &self.path("toolcalld")));
        let mut cmd = command(&argv);
        cmd.args(["--bus", &bus.address, "--model"])
            .arg(self.path("model"))
            .arg("--config")
            .arg(self.path("toolcalld.toml"))
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM");
        cmd
    }

    /// `toolcallctl call` of one request.
    fn call(&self, who: As, bus: &SystemBus) -> Output {
        let mut cmd = command(&argv_as(who, &self.path("toolcallctl")));
        cmd.args(["--address", &bus.address, "call", "--tools"])
            .arg(self.path("tools.json"))
            .arg("turn on the kitchen light");
        output(cmd)
    }
}

/// dbus-send to the service (or the bus), as `who`: Ok(reply) or Err(error output).
fn dbus_send(who: As, bus: &SystemBus, dest: &str, path: &str, method: &str, args: &[&str]) -> Result<String, String> {
    let mut cmd = command(&argv_as(who, Path::new("dbus-send")));
    cmd.arg(format!("--bus={}", bus.address))
        .args(["--print-reply", &format!("--dest={dest}"), path, method])
        .args(args);
    let out = output(cmd);
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        Err(text(&out.stderr))
    }
}

const ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";

#[test]
fn system_bus_policy_limits_owner_and_callers() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test switches users (setpriv) and may create the toolcalld user: run it as root"
    );
    let install = TempDir::new("policy-install");
    ok(make(&["install-data", &format!("DESTDIR={}", install.0.display())]));
    let dbus_dir = install.0.join("usr/share/dbus-1");
    let (service_user, call_group) = accounts(&install.0.join("usr/lib/sysusers.d/toolcalld.conf"));
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .map_or((65534, 65534), |u| (u.uid.as_raw(), u.gid.as_raw()));
    let service = As::User(service_user.uid.as_raw(), service_user.gid.as_raw(), None);
    // Group membership as the bus sees it: dbus-daemon reads the client's supplementary groups
    // from the socket (SO_PEERGROUPS), so `--groups` makes "nobody" a member for this process.
    let member = As::User(nobody.0, nobody.1, Some(call_group.gid.as_raw()));
    let other = As::User(nobody.0, nobody.1, None);

    let scratch = TempDir::new("policy");
    chmod(&scratch.0, 0o755);
    let bus = SystemBus::start(
        &scratch.0,
        &dbus_dir.join("system.d"),
        &dbus_dir.join("system-services"),
    );
    assert_eq!(
        bus.config_errors(),
        Vec::<String>::new(),
        "our policy file was not parsed cleanly"
    );
    let app = App::new();

    // The system activation file is read and names the service.
    let activatable = dbus_send(
        As::Root,
        &bus,
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus.ListActivatableNames",
        &[],
    )
    .unwrap();
    assert!(activatable.contains(&format!("\"{BUS_NAME}\"")), "{activatable}");

    // Only the toolcalld user may own the name: root and others get AccessDenied and exit
    // (`timeout` ends a daemon that wrongly got the name, with status 124).
    for (who, label) in [(As::Root, "root"), (member, "a toolcall member"), (other, "nobody")] {
        let out = output(app.daemon(&["timeout", "30"], who, &bus));
        let stderr = text(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(ACCESS_DENIED) && stderr.contains("not allowed to own"),
            "toolcalld as {label} must not own {BUS_NAME}: {}\n{stderr}",
            out.status
        );
    }
    let mut daemon = Reaped(
        app.daemon(&[], service, &bus)
            .stdout(Stdio::null())
            .stderr(fs::File::create(scratch.0.join("toolcalld.stderr")).unwrap())
            .spawn()
            .expect("toolcalld starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let owner_uid = loop {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            panic!(
                "toolcalld as user toolcalld exited ({status}):\n{}",
                read(&scratch.0.join("toolcalld.stderr"))
            );
        }
        let reply = dbus_send(
            As::Root,
            &bus,
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetConnectionUnixUser",
            &[&format!("string:{BUS_NAME}")],
        );
        if let Ok(reply) = reply {
            break reply;
        }
        assert!(
            Instant::now() < deadline,
            "toolcalld did not take {BUS_NAME} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        owner_uid.contains(&format!("uint32 {}", service_user.uid.as_raw())),
        "{BUS_NAME} owned by {owner_uid}"
    );

    // Method calls: root and members of toolcall get answers, anyone else AccessDenied from
    // the bus (the service never sees the call).
    for (who, label) in [(As::Root, "root"), (member, "a toolcall member")] {
        let out = app.call(who, &bus);
        assert!(out.status.success(), "{label}: {}\n{}", out.status, text(&out.stderr));
        let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("result JSON");
        assert!(result["function_calls"].is_array(), "{label}: {result}");
    }
    let out = app.call(other, &bus);
    assert!(
        out.status.code() == Some(4)
            && text(&out.stderr).contains(ACCESS_DENIED)
            && text(&out.stderr).contains("group toolcall"),
        "nobody's call was not refused: {}\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    // The same malformed message, two callers: the bus refuses it for nobody, while for a
    // member it reaches the service (which rejects the arguments).
    let call = format!("{BUS_NAME}.Call");
    let args = ["string:tools", "string:query"];
    let refused = dbus_send(other, &bus, BUS_NAME, OBJECT, &call, &args).unwrap_err();
    assert!(refused.contains(ACCESS_DENIED), "{refused}");
    let reached = dbus_send(member, &bus, BUS_NAME, OBJECT, &call, &args).unwrap_err();
    assert!(
        !reached.contains(ACCESS_DENIED) && reached.contains("InvalidArgs"),
        "{reached}"
    );

    // Introspection and reading properties are open to everyone; setting is not.
    let props = "org.freedesktop.DBus.Properties";
    let version = dbus_send(
        other,
        &bus,
        BUS_NAME,
        OBJECT,
        &format!("{props}.Get"),
        &[&format!("string:{BUS_NAME}"), "string:Version"],
    )
    .unwrap();
    assert!(
        version.contains(&format!("\"{}\"", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let all = dbus_send(
        other,
        &bus,
        BUS_NAME,
        OBJECT,
        &format!("{props}.GetAll"),
        &[&format!("string:{BUS_NAME}")],
    )
    .unwrap();
    assert!(all.contains("\"QueueDepth\"") && all.contains("\"Model\""), "{all}");
    let xml = dbus_send(
        other,
        &bus,
        BUS_NAME,
        OBJECT,
        "org.freedesktop.DBus.Introspectable.Introspect",
        &[],
    )
    .unwrap();
    assert!(xml.contains(&format!("<interface name=\"{BUS_NAME}\">")), "{xml}");
    let set = dbus_send(
        other,
        &bus,
        BUS_NAME,
        OBJECT,
        &format!("{props}.Set"),
        &[&format!("string:{BUS_NAME}"), "string:Version", "variant:string:x"],
    )
    .unwrap_err();
    assert!(set.contains(ACCESS_DENIED), "{set}");

    assert!(daemon.0.try_wait().unwrap().is_none(), "toolcalld died during the test");
    assert_eq!(bus.config_errors(), Vec::<String>::new());
}

#[test]
fn a_malformed_policy_is_caught() {
    // dbus-daemon only logs a broken policy file and skips it; SystemBus::config_errors is
    // what notices. Check it notices.
    let scratch = TempDir::new("policy-broken");
    let policy = scratch.0.join("policy");
    fs::create_dir(&policy).unwrap();
    let good = read(&workspace_dir().join("dbus-interfaces/org.toolcalld.ToolCall1.conf"));
    fs::write(policy.join("broken.conf"), good.replace("<allow own=", "<allow owns=")).unwrap();
    let bus = SystemBus::start(&scratch.0, &policy, &scratch.0);
    let errors = bus.config_errors();
    assert!(errors.iter().any(|e| e.contains("broken.conf")), "{errors:?}");
}
