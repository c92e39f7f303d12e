//! The example provider apps (client-lib/examples/media_provider.rs and
//! examples/python/media_provider.py) as real processes on a real private bus: each publishes
//! the media tools under its prefix, and the calls Dispatch routes to it come back with its
//! results.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use toolcall_dbus::{CallOptions, RegistryProxy, RouteResult};
use toolcalld_tests::{Daemon, TINY, TestBus, bin_dir, bundle, workspace_dir};

/// A provider process, killed when dropped.
struct Provider(Child);

impl Provider {
    /// Starts `program` with `args` and waits for its `published ...` line.
    fn start(program: PathBuf, args: &[&str]) -> Provider {
        let mut child = Command::new(&program)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok).unwrap_or_default());
            // Keep reading: the app prints a line per call.
            lines.for_each(drop);
        });
        let said = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let provider = Provider(child);
        let published = format!("published {}/", toolcall_dbus::PUBLICATIONS_PATH);
        assert!(said.starts_with(&published), "{said:?}");
        provider
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn only(tool: &str) -> CallOptions {
    CallOptions {
        max_calls: Some(1),
        allow_empty: Some(false),
        tools: Some(vec![tool.to_string()]),
        ..CallOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_providers_carry_out_the_calls_routed_to_them() {
    let bus = TestBus::start();
    let _daemon = Daemon::start(&bus, &bundle(TINY), "");
    let python = workspace_dir().join(".venv/bin/python");
    assert!(python.exists(), "{} missing: run scripts/setup.sh", python.display());
    let script = workspace_dir().join("examples/python/media_provider.py");
    let address = bus.address.as_str();
    let _rust = Provider::start(
        bin_dir().join("examples/media_provider"),
        &["--address", address, "--prefix", "media"],
    );
    let _python = Provider::start(
        python,
        &[script.to_str().unwrap(), "--address", address, "--prefix", "tunes"],
    );

    let connection = zbus::connection::Builder::address(address).build().await.unwrap();
    let registry = RegistryProxy::new(&connection).await.unwrap();
    let me = connection.unique_name().unwrap().to_string();
    for prefix in ["media", "tunes"] {
        let paused: RouteResult = serde_json::from_str(
            &registry
                .dispatch("pause the music", only(&format!("{prefix}.pause")).to_wire())
                .await
                .unwrap(),
        )
        .unwrap();
        let call = &paused.function_calls[0];
        let expected = serde_json::json!({"tool": "pause", "playing": null, "volume": 50, "for": me});
        assert_eq!(call.result, Some(expected), "{prefix}: {paused:?}");
        let louder: RouteResult = serde_json::from_str(
            &registry
                .dispatch("volume to 80", only(&format!("{prefix}.set_volume")).to_wire())
                .await
                .unwrap(),
        )
        .unwrap();
        let call = &louder.function_calls[0];
        let result = call.result.as_ref().unwrap_or_else(|| panic!("{prefix}: {louder:?}"));
        assert_eq!(result["volume"], call.arguments["level"], "{prefix}: {louder:?}");
    }
}
