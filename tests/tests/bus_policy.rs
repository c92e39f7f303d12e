//! The system-bus policy on a real dbus-daemon configured like the system bus
//! (`tests/bus/system.conf`), with the daemon and its clients run as other users through
//! `setpriv` (util-linux), on the files as `make install` lays them out.
//!
//! Needs root (switching users; creating the `toolcalld` user and `toolcall` group from our
//! sysusers.d file when they are missing), and make, cc, pkg-config, systemd-analyze,
//! systemd-sysusers, dbus-daemon, dbus-send, setpriv and timeout. CI runs as root. Files the
//! other users must read are copied into world-readable temporary directories.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use toolcall_dbus::{BUS_NAME, MANAGER_PATH as OBJECT, SESSIONS_PATH, TOOLSETS_PATH};
use toolcalld_tests::installed::*;
use toolcalld_tests::{HOME_TOOLS, SYSTEM_BUS_CONFIG, TINY, TempDir, binary, copy_bundle, workspace_dir};

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
        let filled = SYSTEM_BUS_CONFIG
            .replace("@SERVICES_DIR@", &services_dir.display().to_string())
            .replace("@POLICY_DIR@", &policy_dir.display().to_string());
        fs::write(&config, filled).unwrap();
        let socket = socket_dir.join("system_bus_socket");
        let stderr = dir.join("dbus-daemon.stderr");
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .arg(format!("--address=unix:path={}", socket.display()))
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
    // The folders of the clients' objects are not listed, not even to the group.
    for who in [other, member] {
        for folder in [TOOLSETS_PATH, SESSIONS_PATH] {
            let listed = dbus_send(
                who,
                &bus,
                BUS_NAME,
                folder,
                "org.freedesktop.DBus.Introspectable.Introspect",
                &[],
            )
            .unwrap_err();
            assert!(listed.contains(ACCESS_DENIED), "{folder}: {listed}");
        }
    }
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
