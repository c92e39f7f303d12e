//! What systemd sees through the notify socket: READY=1 only once the name is owned,
//! WATCHDOG=1 while the workers are alive, STOPPING=1 on SIGTERM with the in-flight request
//! completed and exit 0; and start-up failures that exit non-zero with one clear line before
//! any READY=1.

use std::time::Duration;

use toolcall_client::{Bus, CallOptions, Client};
use toolcalld_tests::{DEFAULT, Daemon, HOME_TOOLS, TINY, TempDir, TestBus, binary, bundle, copy_bundle};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_watchdog_and_graceful_stop() {
    let bus = TestBus::start();
    let mut daemon = Daemon::start_with(&bus, &bundle(DEFAULT), "", &[("WATCHDOG_USEC", "600000")]);
    // READY=1 has arrived: the name must already be owned.
    let client = Client::connect(&Bus::Address(bus.address.clone())).await.unwrap();
    assert!(client.status().await.is_ok(), "READY=1 before the name was served");
    for _ in 0..2 {
        daemon.wait_for_notification("WATCHDOG=1", Duration::from_secs(10));
    }

    let in_flight = tokio::spawn(async move {
        let options = CallOptions {
            allow_empty: Some(false),
            ..CallOptions::default()
        };
        client.call(HOME_TOOLS, "Set a timer for 10 minutes", &options).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (exit, mut daemon) = tokio::task::spawn_blocking(move || {
        let exit = daemon.signal_and_wait(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(30));
        (exit, daemon)
    })
    .await
    .unwrap();
    assert!(exit.success(), "exit status after SIGTERM: {exit}");
    daemon.wait_for_notification("STOPPING=1", Duration::from_secs(1));
    let result = in_flight.await.unwrap();
    assert!(result.is_ok(), "the in-flight request did not complete: {result:?}");
}

fn failed_start(args: &[&str], model: &std::path::Path) -> (String, bool) {
    let scratch = TempDir::new("failstart");
    let notify = scratch.0.join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    socket.set_nonblocking(true).unwrap();
    let bus = TestBus::start();
    let output = std::process::Command::new(binary("toolcalld"))
        .args(["--bus", &bus.address, "--model"])
        .arg(model)
        .args(args)
        .env("NOTIFY_SOCKET", &notify)
        .output()
        .unwrap();
    assert!(!output.status.success(), "toolcalld started with a broken set-up");
    let mut buf = [0u8; 4096];
    let mut ready = false;
    while let Ok(n) = socket.recv(&mut buf) {
        ready |= String::from_utf8_lossy(&buf[..n]).contains("READY=1");
    }
    (String::from_utf8_lossy(&output.stderr).to_string(), ready)
}

#[test]
fn start_up_failures_are_clear() {
    // A corrupt model.onnx.
    let dir = TempDir::new("corrupt");
    copy_bundle(TINY, &dir.0);
    let mut bytes = std::fs::read(dir.0.join("model.onnx")).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(dir.0.join("model.onnx"), bytes).unwrap();
    let (stderr, ready) = failed_start(&[], &dir.0);
    assert!(!ready, "READY=1 sent despite a corrupt model");
    assert!(stderr.contains("model.onnx is corrupt"), "{stderr}");

    // A bad configuration key.
    let config = dir.0.join("bad.toml");
    std::fs::write(&config, "queue_sise = 4\n").unwrap();
    let (stderr, ready) = failed_start(&["--config", config.to_str().unwrap()], &bundle(TINY));
    assert!(!ready);
    assert!(stderr.contains("queue_sise"), "{stderr}");
}
