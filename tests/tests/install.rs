//! `make install`, checked on the files it lays out: every installed path with default and
//! custom prefixes, nothing built by it, and the C library usable through pkg-config.
//!
//! Needs root (ownership of the installed files), and make, cc, pkg-config, systemd-analyze,
//! systemd-sysusers, dbus-daemon, dbus-send, setpriv and timeout. CI runs as root. Files the
//! other users must read are copied into world-readable temporary directories.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use toolcalld_tests::installed::*;
use toolcalld_tests::{TINY, TempDir, bin_dir, bundle, workspace_dir};

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
    "usr/share/toolcalld/escalation.conf",
    "usr/share/dbus-1/system.d/org.toolcalld.ToolCall1.conf",
    "usr/share/dbus-1/system-services/org.toolcalld.ToolCall1.service",
    "usr/share/dbus-1/services/org.toolcalld.ToolCall1.service",
    "usr/share/dbus-1/interfaces/org.toolcalld.ToolCall1.xml",
    "usr/share/dbus-1/interfaces/org.toolcalld.ToolCall1.Toolset.xml",
    "usr/share/dbus-1/interfaces/org.toolcalld.ToolCall1.Session.xml",
    "etc/toolcalld/toolcalld.toml",
    "usr/share/man/man8/toolcalld.8",
    "usr/share/man/man1/toolcallctl.1",
    "usr/share/man/man1/toolcallctl-call.1",
    "usr/share/man/man5/toolcalld.toml.5",
    "usr/share/man/man5/org.toolcalld.ToolCall1.5",
    "usr/share/bash-completion/completions/toolcallctl",
    "usr/share/zsh/site-functions/_toolcallctl",
    "usr/share/fish/vendor_completions.d/toolcallctl.fish",
];

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
        ("systemd/escalation.conf", "usr/share/toolcalld/escalation.conf"),
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

    // The sentence encoder goes where the daemon's default retrieval_encoder looks.
    ok(make(&["install-encoder", &format!("DESTDIR={}", d.display())]));
    let encoder = d.join(toolcalld::config::DEFAULT_RETRIEVAL_ENCODER.trim_start_matches('/'));
    assert_eq!(
        names(&encoder),
        BTreeSet::from(["model.onnx".into(), "tokenizer.json".into()])
    );
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
