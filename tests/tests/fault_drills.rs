//! Fault drills on a real private bus with the tiny bundle: a job that panics or whose model
//! fails, a client that leaves mid-request, a request the queue ahead would make late, a stuck worker (the watchdog notification stops),
//! SIGTERM with work in flight, the model file replaced under a running daemon. Faults are
//! injected with the debug-build-only `test_fault` option (daemon/src/fault.rs), enabled by
//! `TOOLCALL_TEST_FAULTS=1`. After each fault the daemon must go on serving everyone else.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use toolcall_client::{Bus, Client, ErrorKind};
use toolcall_dbus::{ToolCall1Proxy, ToolsetProxy};
use toolcalld_tests::{Daemon, HOME_TOOLS, TINY, TempDir, TestBus, bundle, copy_bundle};
use zbus::Variant;

const FAULTS: (&str, &str) = ("TOOLCALL_TEST_FAULTS", "1");

/// One Call on `connection`, with `test_fault` when given; the error comes back typed.
async fn call(connection: &zbus::Connection, fault: Option<&str>) -> Result<String, toolcall_client::Error> {
    call_within(connection, fault, None).await
}

/// [`call`] with a `timeout_ms` option when given.
async fn call_within(
    connection: &zbus::Connection,
    fault: Option<&str>,
    timeout_ms: Option<u32>,
) -> Result<String, toolcall_client::Error> {
    let proxy = ToolCall1Proxy::new(connection).await.unwrap();
    let mut options = HashMap::from([("max_new_tokens", Variant::from(48u32))]);
    if let Some(fault) = fault {
        options.insert("test_fault", Variant::from(fault));
    }
    if let Some(ms) = timeout_ms {
        options.insert("timeout_ms", Variant::from(ms));
    }
    Ok(proxy.call(HOME_TOOLS, "set a timer for 10 minutes", options).await?)
}

/// The daemon answered normally. The tiny bundle's random weights may not close the JSON
/// within the token limit, which is a normal answer too.
fn served(result: &Result<String, toolcall_client::Error>) -> bool {
    match result {
        Ok(json) => serde_json::from_str::<serde_json::Value>(json).is_ok_and(|v| v["function_calls"].is_array()),
        Err(e) => e.kind() == Some(&ErrorKind::LimitExceeded),
    }
}

/// Whether one line of the daemon's log holds all `parts`.
fn logged(log: &str, parts: &[&str]) -> bool {
    log.lines().any(|line| parts.iter().all(|p| line.contains(p)))
}

fn kind(result: Result<String, toolcall_client::Error>) -> ErrorKind {
    result.expect_err("an error").kind().cloned().expect("a named error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_job_and_a_failing_model_are_named_errors_for_that_caller_only() {
    let bus = TestBus::start();
    let daemon = Daemon::start_with(&bus, &bundle(TINY), "workers = 1\n", &[FAULTS]);
    let connection = bus.connection().await;
    assert_eq!(kind(call(&connection, Some("panic")).await), ErrorKind::Internal);
    // The only worker survived its panic.
    assert!(served(&call(&connection, None).await));
    assert_eq!(
        kind(call(&connection, Some("model_error")).await),
        ErrorKind::ModelError
    );
    assert_eq!(
        kind(call(&connection, Some("explode")).await),
        ErrorKind::InvalidOptions
    );
    assert!(served(&call(&connection, None).await));
    let log = daemon.log();
    for error in ["Internal", "ModelError"] {
        assert!(
            logged(
                &log,
                &[" Call tools=", &format!(": org.toolcalld.ToolCall1.Error.{error} in ")]
            ),
            "{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_request_is_cancelled_and_others_finish() {
    let bus = TestBus::start();
    let daemon = Daemon::start_with(&bus, &bundle(TINY), "workers = 1\nqueue_size = 4\n", &[FAULTS]);
    // B occupies the only worker for 2 s; A's request waits behind it, then A leaves the bus.
    let b = bus.connection().await;
    let b_call = tokio::spawn(async move { call(&b, Some("stall:2000")).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = bus.connection().await;
    let a_name = a.unique_name().expect("unique name").to_string();
    let a_call = tokio::spawn({
        let a = a.clone();
        async move { call(&a, None).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    a_call.abort();
    a.close().await.expect("A leaves the bus");

    assert!(served(&b_call.await.unwrap()), "B's request did not finish");
    let c = bus.connection().await;
    assert!(served(&call(&c, None).await), "a later client was not served");
    let log = daemon.log();
    assert!(
        logged(
            &log,
            &[
                &format!("{a_name} Call tools="),
                ": org.toolcalld.ToolCall1.Error.Cancelled in "
            ]
        ),
        "A's request was not cancelled:\n{log}"
    );
    assert!(
        log.contains(&format!("client {a_name} left: cancelled 1 request(s)")),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_queue_would_make_late_is_refused_at_once() {
    let bus = TestBus::start();
    let _daemon = Daemon::start_with(&bus, &bundle(TINY), "workers = 1\nqueue_size = 4\n", &[FAULTS]);
    let connection = bus.connection().await;
    // A 1.5 s request teaches the pool how long a request takes.
    assert!(served(&call(&connection, Some("stall:1500")).await));
    // The next one holds the only worker: a request with a 1 s deadline queued behind it would
    // end after ~3 s, so it is refused now instead of timing out later.
    let holder = bus.connection().await;
    let held = tokio::spawn(async move { call(&holder, Some("stall:1500")).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let error = call_within(&connection, None, Some(1000))
        .await
        .expect_err("a request that cannot make its deadline");
    assert_eq!(error.kind(), Some(&ErrorKind::Busy), "{error}");
    assert!(error.to_string().contains("past its 1000 ms deadline"), "{error}");
    // A request whose deadline leaves room waits its turn and is served.
    assert!(served(&call(&connection, None).await));
    assert!(served(&held.await.unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_queue_made_late_is_refused_at_its_turn_not_run_into_a_timeout() {
    let bus = TestBus::start();
    let daemon = Daemon::start_with(&bus, &bundle(TINY), "workers = 1\nqueue_size = 4\n", &[FAULTS]);
    let connection = bus.connection().await;
    // A request of ~0.3 s teaches the pool that a Call takes about that long.
    assert!(served(&call(&connection, Some("stall:300")).await));
    // Another kind of request (a call on a registered toolset) holds the only worker for 5 s:
    // a Call with a 3 s deadline is admitted behind it (the plan says it ends after ~1 s), and
    // at its turn its deadline has passed.
    let holder = bus.connection().await;
    let proxy = ToolCall1Proxy::new(&holder).await.unwrap();
    let path = proxy.register_toolset(HOME_TOOLS, HashMap::new()).await.unwrap();
    let toolset = ToolsetProxy::builder(&holder).path(path).build().await.unwrap();
    let held = tokio::spawn(async move {
        let options = HashMap::from([
            ("max_new_tokens", Variant::from(48u32)),
            ("test_fault", Variant::from("stall:5000")),
        ]);
        toolset.call("set a timer for 10 minutes", options).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let error = call_within(&connection, None, Some(3000))
        .await
        .expect_err("a request whose deadline passed in the queue");
    assert_eq!(error.kind(), Some(&ErrorKind::Busy), "{error}");
    assert!(error.to_string().contains("in the queue"), "{error}");
    held.await.unwrap().expect("the holder's call");
    // It was not run (no Timeout logged), and the next request is served.
    assert!(served(&call(&connection, None).await));
    let log = daemon.log();
    assert!(!log.contains("Error.Timeout"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_worker_stops_the_watchdog_while_the_other_serves() {
    let bus = TestBus::start();
    // The watchdog tolerates a job until 10 s past its deadline. The stall starts a moment
    // after the call is sent (later on a loaded machine): look from 13.5 s to 15 s.
    let config = "workers = 2\nrequest_timeout_ms = 500\n";
    let mut daemon = Daemon::start_with(&bus, &bundle(TINY), config, &[FAULTS, ("WATCHDOG_USEC", "600000")]);
    daemon.wait_for_notification("WATCHDOG=1", Duration::from_secs(5));
    let stuck = bus.connection().await;
    let stuck_call = tokio::spawn(async move { call(&stuck, Some("stall:20000")).await });
    let started = Instant::now();
    let other = bus.connection().await;
    assert!(served(&call(&other, None).await), "the healthy worker did not serve");

    let mut daemon = tokio::task::spawn_blocking(move || {
        // Keep reading: a full notify socket would block the daemon's next send, which then
        // delivers a message composed before the stall was long enough.
        while started.elapsed() < Duration::from_millis(13_500) {
            daemon.drain_notifications();
            std::thread::sleep(Duration::from_millis(50));
        }
        daemon.expect_no_notification("WATCHDOG=1", Duration::from_millis(1500));
        daemon
    })
    .await
    .unwrap();
    // The stall ends (its request has long passed its deadline) and the watchdog comes back.
    assert_eq!(kind(stuck_call.await.unwrap()), ErrorKind::Timeout);
    tokio::task::spawn_blocking(move || daemon.wait_for_notification("WATCHDOG=1", Duration::from_secs(5)))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_in_flight_work_and_refuses_new_work() {
    let bus = TestBus::start();
    let mut daemon = Daemon::start_with(&bus, &bundle(TINY), "workers = 1\n", &[FAULTS]);
    let busy = bus.connection().await;
    let in_flight = tokio::spawn(async move { call(&busy, Some("stall:2000")).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = nix::unistd::Pid::from_raw(daemon.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = bus.connection().await;
    let refused = call(&late, None).await.expect_err("a request after SIGTERM was taken");
    assert_eq!(refused.kind(), Some(&ErrorKind::Busy), "{refused}");
    assert!(refused.to_string().contains("shutting down"), "{refused}");
    assert!(
        served(&in_flight.await.unwrap()),
        "the in-flight request did not finish"
    );
    let status = tokio::task::spawn_blocking(move || {
        daemon.signal_and_wait(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(30))
    })
    .await
    .unwrap();
    assert!(status.success(), "exit status {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_the_model_file_under_a_running_daemon_changes_nothing_until_restart() {
    let copy = TempDir::new("swapped-model");
    copy_bundle(TINY, &copy.0);
    let bus = TestBus::start();
    let mut daemon = Daemon::start(&bus, &copy.0, "");
    let client = Client::connect(&Bus::Address(bus.address.clone())).await.unwrap();
    let before = client.status().await.unwrap();
    // The graph replaced (new inode, as a package upgrade does); its weights truncated in
    // place (the loaded weights must not still be mapped from the file).
    std::fs::write(copy.0.join("model.onnx.new"), b"not a model").unwrap();
    std::fs::rename(copy.0.join("model.onnx.new"), copy.0.join("model.onnx")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(copy.0.join("model.onnx.data"))
        .unwrap()
        .set_len(0)
        .unwrap();
    let connection = bus.connection().await;
    assert!(served(&call(&connection, None).await));
    // SIGHUP reads the bundle again: the damaged one is refused, the loaded model keeps serving.
    let pid = nix::unistd::Pid::from_raw(daemon.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    daemon = tokio::task::spawn_blocking(move || {
        daemon.wait_for_notification("READY=1", Duration::from_secs(5));
        daemon
    })
    .await
    .unwrap();
    assert!(served(&call(&connection, None).await));
    assert_eq!(client.status().await.unwrap().model, before.model);
    let log = daemon.log();
    assert!(log.contains("refused") && log.contains("keeps serving"), "{log}");
    assert!(daemon.child.try_wait().unwrap().is_none(), "toolcalld exited");
}
