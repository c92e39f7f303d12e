//! Harness for toolcalld's end-to-end tests: a real `dbus-daemon` on a private address, the
//! real `toolcalld` binary (readiness read from its sd_notify socket), and paths to the
//! binaries and bundles the tests use. Everything started here is killed on drop.
//!
//! Modules: [`suite`], the end-to-end cases run both over a bus and in-process;
//! [`in_process`], the service run in the test process on peer-to-peer connections;
//! [`installed`], helpers of the system-integration suites.

pub mod in_process;
pub mod installed;
pub mod manuals;
pub mod suite;
pub mod system_bus;

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>/`, where cargo put the workspace's binaries (seen from a test in
/// `target/<profile>/deps/` or from a binary in `target/<profile>/`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    let dir = exe.parent().expect("target/<profile>/...");
    if dir.ends_with("deps") {
        dir.parent().expect("target/<profile>/deps").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// A workspace binary; panics with the fix if it was not built.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first",
        path.display()
    );
    path
}

pub fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A bundle built by scripts/setup.sh (`$TOOLCALLD_BUNDLES` or model/bundles).
pub fn bundle(name: &str) -> PathBuf {
    let dir = std::env::var_os("TOOLCALLD_BUNDLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("model/bundles"))
        .join(name);
    assert!(
        dir.join("bundle.json").exists(),
        "bundle {} missing: run scripts/setup.sh",
        dir.display()
    );
    dir
}

/// Copies a bundle (bundle.json and every file it lists) into `dest`, files mode 0644.
pub fn copy_bundle(name: &str, dest: &Path) {
    let from = bundle(name);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(from.join("bundle.json")).unwrap()).unwrap();
    let listed = manifest["files"].as_object().expect("bundle.json lists files").keys();
    for file in std::iter::once("bundle.json").chain(listed.map(String::as_str)) {
        std::fs::copy(from.join(file), dest.join(file)).unwrap();
        std::fs::set_permissions(dest.join(file), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    }
}

pub const TINY: &str = "tiny";
/// The default serving bundle (base model + tool-calling LoRA, 4-bit layer matrices: `--quant q4`).
pub const DEFAULT: &str = "smollm2-135m-toolcall-q4";

/// A private scratch directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("toolcalld-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The tests' bus configurations (`tests/bus/`): a permissive session-like bus, and the system
/// bus's default policy with `@SERVICES_DIR@` and `@POLICY_DIR@` to fill in.
pub const SESSION_BUS_CONFIG: &str = include_str!("../bus/session.conf");
pub const SYSTEM_BUS_CONFIG: &str = include_str!("../bus/system.conf");

/// A dbus-daemon on a private unix socket with a permissive session-bus-like policy.
pub struct TestBus {
    child: Child,
    pub address: String,
    _dir: TempDir,
}

impl TestBus {
    pub fn start() -> TestBus {
        let dir = TempDir::new("bus");
        let socket = dir.0.join("bus.sock");
        let config = dir.0.join("bus.conf");
        std::fs::write(&config, SESSION_BUS_CONFIG).expect("write bus config");
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .arg(format!("--address=unix:path={}", socket.display()))
            .args(["--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("dbus-daemon starts (apt-get install dbus)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("bus address");
        TestBus {
            child,
            address: line.trim().to_string(),
            _dir: dir,
        }
    }
}

impl TestBus {
    /// A plain zbus connection to this bus.
    pub async fn connection(&self) -> zbus::Connection {
        zbus::connection::Builder::address(self.address.as_str())
            .build()
            .await
            .expect("connect to the test bus")
    }
}

impl suite::Connect for TestBus {
    async fn client(&self) -> toolcall_client::Client {
        toolcall_client::Client::connect(&toolcall_client::Bus::Address(self.address.clone()))
            .await
            .expect("client connects")
    }
}

impl Drop for TestBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running toolcalld.
pub struct Daemon {
    pub child: Child,
    notify: UnixDatagram,
    pub notifications: Vec<String>,
    pub dir: TempDir,
}

impl Daemon {
    /// Starts toolcalld on `bus` with `bundle` and waits for READY=1 (panics after 120 s).
    pub fn start(bus: &TestBus, bundle: &Path, config: &str) -> Daemon {
        Self::start_with(bus, bundle, config, &[])
    }

    pub fn start_with(bus: &TestBus, bundle: &Path, config: &str, env: &[(&str, &str)]) -> Daemon {
        let dir = TempDir::new("daemon");
        let config_file = dir.0.join("toolcalld.toml");
        std::fs::write(&config_file, config).expect("write config");
        let log = std::fs::File::create(dir.0.join("toolcalld.log")).expect("daemon log file");
        let notify_path = dir.0.join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
        notify.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut command = Command::new(binary("toolcalld"));
        command
            .args(["--bus", &bus.address, "--config"])
            .arg(&config_file)
            .arg("--model")
            .arg(bundle)
            .env("NOTIFY_SOCKET", &notify_path)
            .env_remove("JOURNAL_STREAM")
            .env("RUST_BACKTRACE", "1")
            .stderr(log);
        // The daemon reads TOOLCALLD_* as configuration (TOOLCALLD_BUNDLES is the harness's own):
        // only the test's config file counts.
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("TOOLCALLD_")) {
            command.env_remove(k);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("toolcalld starts");
        let mut daemon = Daemon {
            child,
            notify,
            notifications: Vec::new(),
            dir,
        };
        daemon.wait_for_notification("READY=1", Duration::from_secs(120));
        daemon
    }

    /// Waits until a notification containing `needle` arrives; panics on timeout or exit.
    pub fn wait_for_notification(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 4096];
        while Instant::now() < deadline {
            // Read what is queued first: an exited daemon's last messages are still there.
            if let Ok(n) = self.notify.recv(&mut buf) {
                let message = String::from_utf8_lossy(&buf[..n]).to_string();
                self.notifications.push(message.clone());
                if message.contains(needle) {
                    return message;
                }
            } else if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("toolcalld exited with {status} before sending {needle}");
            }
        }
        panic!(
            "no {needle} from toolcalld within {timeout:?}; got {:?}",
            self.notifications
        );
    }

    /// Asserts that no notification containing `needle` arrives within `window` (what arrives
    /// is recorded).
    pub fn expect_no_notification(&mut self, needle: &str, window: Duration) {
        let deadline = Instant::now() + window;
        let mut buf = vec![0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.notify.recv(&mut buf) {
                let message = String::from_utf8_lossy(&buf[..n]).to_string();
                assert!(!message.contains(needle), "unexpected {message:?} from toolcalld");
                self.notifications.push(message);
            }
        }
    }

    /// Drops the notifications queued so far.
    pub fn drain_notifications(&mut self) {
        let mut buf = vec![0u8; 4096];
        self.notify.set_nonblocking(true).expect("nonblocking");
        while let Ok(n) = self.notify.recv(&mut buf) {
            self.notifications.push(String::from_utf8_lossy(&buf[..n]).to_string());
        }
        self.notify.set_nonblocking(false).expect("blocking");
    }

    /// What toolcalld wrote to stderr so far (its log: one line per request).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("toolcalld.log")).unwrap_or_default()
    }

    /// Sends a signal and waits for the exit status (panics after `timeout`).
    pub fn signal_and_wait(&mut self, signal: nix::sys::signal::Signal, timeout: Duration) -> std::process::ExitStatus {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal).expect("kill");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "toolcalld did not exit within {timeout:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- toolcalld's log ---\n{}--- end of log ---", self.log());
        }
    }
}

pub const HOME_TOOLS: &str = include_str!("../../engine/tests/fixtures/home_tools.json");

/// A tool list of `count` tools whose prompt runs to thousands of tokens.
pub fn long_tools(count: usize) -> String {
    let tools: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            serde_json::json!({
                "name": format!("device_action_{i}"),
                "description": format!(
                    "Controls device number {i} of the building: {}",
                    "switches it, sets its level, its colour, its schedule and its scene, and reports its state. ".repeat(5)
                ),
                "parameters": {
                    "type": "object",
                    "properties": {
                        "level": {"type": "integer", "description": "Level from 0 to 100."},
                        "scene": {"type": "string", "enum": ["morning", "evening", "night", "away"]}
                    }
                }
            })
        })
        .collect();
    serde_json::to_string(&tools).unwrap()
}
