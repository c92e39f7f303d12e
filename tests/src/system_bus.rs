//! A bus configured like the system bus, with toolcalld and its clients run as other users:
//! the set-up of the system-bus tests (`tests/tests/bus_policy.rs`, `tests/tests/users.rs`).
//! A real dbus-daemon (`tests/bus/system.conf`) reads our policy and activation files as
//! `make install-data` lays them out; toolcalld runs as the `toolcalld` user and clients as
//! `nobody`, with or without the `toolcall` group, through `setpriv` (util-linux).
//!
//! Needs root (switching users; creating the `toolcalld` user and `toolcall` group from our
//! sysusers.d file when they are missing), and make, systemd-sysusers, dbus-daemon, dbus-send,
//! setpriv and timeout. CI runs as root. Files the other users must read are copied into
//! world-readable temporary directories.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use toolcall_dbus::BUS_NAME;

use crate::installed::*;
use crate::{HOME_TOOLS, SYSTEM_BUS_CONFIG, TINY, TempDir, binary, copy_bundle};

pub const ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";

/// Kills and reaps a child on drop.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A dbus-daemon with the system bus's default policy (as in /usr/share/dbus-1/system.conf:
/// nobody may own a name or send a method call unless a policy file allows it), our policy
/// directory included, and our system activation directory.
pub struct SystemBus {
    _child: Reaped,
    pub address: String,
    stderr: PathBuf,
}

impl SystemBus {
    pub fn start(dir: &Path, policy_dir: &Path, services_dir: &Path) -> SystemBus {
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
    pub fn config_errors(&self) -> Vec<String> {
        read(&self.stderr)
            .lines()
            .filter(|l| l.contains("Encountered error"))
            .map(str::to_string)
            .collect()
    }
}

/// Who runs a command.
#[derive(Clone, Copy)]
pub enum As {
    Root,
    /// uid, gid, supplementary groups (none: cleared).
    User(u32, u32, Option<u32>),
    /// uid, gid, two supplementary groups.
    UserInBoth(u32, u32, [u32; 2]),
}

/// The command line that runs `program` as `who` (through setpriv for another user).
pub fn argv_as(who: As, program: &Path) -> Vec<String> {
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
        As::UserInBoth(uid, gid, [a, b]) => vec![
            "setpriv".into(),
            format!("--reuid={uid}"),
            format!("--regid={gid}"),
            format!("--groups={a},{b}"),
            program,
        ],
    }
}

pub fn command(argv: &[String]) -> Command {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    cmd
}

/// The toolcalld user and the toolcall and toolcall-admin groups, created from our sysusers.d
/// file if missing (as systemd-sysusers does on the product).
pub fn accounts(sysusers_conf: &Path) -> (nix::unistd::User, nix::unistd::Group, nix::unistd::Group) {
    use nix::unistd::{Group, User};
    let lookup = || {
        (
            User::from_name("toolcalld").unwrap(),
            Group::from_name("toolcall").unwrap(),
            Group::from_name("toolcall-admin").unwrap(),
        )
    };
    if let (Some(user), Some(group), Some(admin)) = lookup() {
        return (user, group, admin);
    }
    ok(Command::new("systemd-sysusers").arg(sysusers_conf));
    match lookup() {
        (Some(user), Some(group), Some(admin)) => (user, group, admin),
        other => panic!("systemd-sysusers did not create toolcalld/toolcall/toolcall-admin: {other:?}"),
    }
}

/// toolcalld and toolcallctl, the tiny bundle and a tools file, readable by every user (the
/// workspace may sit in a directory other users cannot traverse).
pub struct App {
    dir: TempDir,
}

impl App {
    pub fn new(config: &str) -> App {
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
        // A configuration of the test's own: the host's /etc/toolcalld/toolcalld.toml must not
        // matter.
        for (name, content) in [("toolcalld.toml", config), ("tools.json", HOME_TOOLS)] {
            fs::write(d.join(name), content).unwrap();
            chmod(&d.join(name), 0o644);
        }
        App { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.0.join(name)
    }

    /// toolcalld as `who` on `bus`, after `prefix` (e.g. `timeout 60`).
    pub fn daemon(&self, prefix: &[&str], who: As, bus: &SystemBus) -> Command {
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
    pub fn call(&self, who: As, bus: &SystemBus) -> Output {
        let mut cmd = command(&argv_as(who, &self.path("toolcallctl")));
        cmd.args(["--address", &bus.address, "call", "--tools"])
            .arg(self.path("tools.json"))
            .arg("turn on the kitchen light");
        output(cmd)
    }
}

/// dbus-send to the service (or the bus), as `who`: Ok(reply) or Err(error output).
pub fn dbus_send(
    who: As,
    bus: &SystemBus,
    dest: &str,
    path: &str,
    method: &str,
    args: &[&str],
) -> Result<String, String> {
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

/// The installed policy on a system-like bus, the users, and toolcalld's files: everything but
/// the running service ([`SystemSetup::serve`]).
pub struct SystemSetup {
    pub bus: SystemBus,
    pub app: App,
    /// The `toolcalld` user, who alone may own the name.
    pub service: As,
    pub service_uid: u32,
    /// `nobody` as a member of the `toolcall` group (the bus reads supplementary groups from
    /// the socket, SO_PEERGROUPS, so `--groups` makes it a member for that process).
    pub member: As,
    /// `nobody` as a member of the `toolcall` and `toolcall-admin` groups (as an administrator
    /// who also uses the service is).
    pub admin: As,
    /// `nobody` in no group.
    pub other: As,
    /// The `toolcall` group's gid.
    pub call_gid: u32,
    scratch: TempDir,
    _install: TempDir,
}

impl SystemSetup {
    /// Lays out the installed files, makes the users if missing and starts the bus; toolcalld
    /// will run with `config` as its configuration file.
    pub fn new(config: &str) -> SystemSetup {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test switches users (setpriv) and may create the toolcalld user: run it as root"
        );
        let install = TempDir::new("policy-install");
        ok(make(&["install-data", &format!("DESTDIR={}", install.0.display())]));
        let dbus_dir = install.0.join("usr/share/dbus-1");
        let (service_user, call_group, admin_group) = accounts(&install.0.join("usr/lib/sysusers.d/toolcalld.conf"));
        let nobody = nix::unistd::User::from_name("nobody")
            .unwrap()
            .map_or((65534, 65534), |u| (u.uid.as_raw(), u.gid.as_raw()));
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
        SystemSetup {
            bus,
            app: App::new(config),
            service: As::User(service_user.uid.as_raw(), service_user.gid.as_raw(), None),
            service_uid: service_user.uid.as_raw(),
            member: As::User(nobody.0, nobody.1, Some(call_group.gid.as_raw())),
            admin: As::UserInBoth(nobody.0, nobody.1, [call_group.gid.as_raw(), admin_group.gid.as_raw()]),
            other: As::User(nobody.0, nobody.1, None),
            call_gid: call_group.gid.as_raw(),
            scratch,
            _install: install,
        }
    }

    /// Starts toolcalld as the `toolcalld` user and waits (at most 60 s) until it owns its
    /// name; returns it with the bus's answer to GetConnectionUnixUser for the name.
    pub fn serve(&self) -> (Reaped, String) {
        let mut daemon = Reaped(
            self.app
                .daemon(&[], self.service, &self.bus)
                .stdout(Stdio::null())
                .stderr(fs::File::create(self.daemon_log_path()).unwrap())
                .spawn()
                .expect("toolcalld starts"),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        let owner_uid = loop {
            if let Some(status) = daemon.0.try_wait().unwrap() {
                panic!("toolcalld as user toolcalld exited ({status}):\n{}", self.daemon_log());
            }
            let reply = dbus_send(
                As::Root,
                &self.bus,
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
        (daemon, owner_uid)
    }

    fn daemon_log_path(&self) -> PathBuf {
        self.scratch.0.join("toolcalld.stderr")
    }

    /// What the served toolcalld has logged.
    pub fn daemon_log(&self) -> String {
        read(&self.daemon_log_path())
    }
}
