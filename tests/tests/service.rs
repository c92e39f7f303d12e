//! The service on a real private bus with the tiny random-weight bundle (fast): the shared
//! end-to-end suite (introspection, toolsets and sessions, object caps, every named error),
//! then what only a bus shows: concurrency and Busy across clients, object ownership and
//! cleanup when a client leaves, the blocking client, shutdown, the Python example.

use std::collections::HashMap;
use std::time::Duration;

use toolcall_client::{Bus, CallOptions, Client, ErrorKind};
use toolcalld_tests::suite::{self, introspect, kind};
use toolcalld_tests::{Daemon, HOME_TOOLS, TINY, TestBus, bundle};

fn start(config: &str) -> (TestBus, Daemon) {
    let bus = TestBus::start();
    let daemon = Daemon::start(&bus, &bundle(TINY), config);
    (bus, daemon)
}

async fn client(bus: &TestBus) -> Client {
    Client::connect(&Bus::Address(bus.address.clone()))
        .await
        .expect("client connects")
}

// The shared end-to-end suite (tests/src/suite.rs), here over the bus; in_process.rs runs it
// on peer-to-peer connections.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_matches_the_xml_files() {
    let (bus, _daemon) = start(suite::INTROSPECTION_CONFIG);
    suite::introspection_matches_the_xml_files(&bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toolset_and_a_session_from_start_to_end() {
    let (bus, _daemon) = start(suite::TOOLSET_AND_SESSION_CONFIG);
    suite::a_toolset_and_a_session_from_start_to_end(&bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_clients_together_hold_at_most_max_objects() {
    let (bus, _daemon) = start(suite::MAX_OBJECTS_CONFIG);
    suite::all_clients_together_hold_at_most_max_objects(&bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_expires_and_frees_its_slot() {
    let (bus, _daemon) = start(suite::IDLE_SESSIONS_CONFIG);
    suite::an_idle_session_expires_and_frees_its_slot(&bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_format_answers_with_tool_calls_and_ids() {
    let (bus, _daemon) = start(suite::OPENAI_FORMAT_CONFIG);
    suite::the_openai_format_answers_with_tool_calls_and_ids(&bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_named_error_then_a_normal_call() {
    let (bus, _daemon) = start(suite::NAMED_ERRORS_CONFIG);
    suite::every_named_error_then_a_normal_call(&bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_clients_get_results_or_busy() {
    let (bus, _daemon) = start("queue_size = 4\n");
    let tools: serde_json::Value = serde_json::from_str(HOME_TOOLS).unwrap();
    let mut tasks = Vec::new();
    for c in 0..16 {
        let address = bus.address.clone();
        let tools = tools.clone();
        tasks.push(tokio::spawn(async move {
            let client = Client::connect(&Bus::Address(address)).await.unwrap();
            let (mut ok, mut busy) = (0, 0);
            let registered = if c % 2 == 0 {
                Some(client.register_toolset(HOME_TOOLS).await)
            } else {
                None
            };
            for i in 0..10 {
                let options = CallOptions {
                    max_new_tokens: Some(64),
                    ..CallOptions::default()
                };
                let query = format!("request {i} from client {c}");
                let result = match &registered {
                    Some(Ok(toolset)) => toolset.call(&query, &options).await,
                    _ => client.call(HOME_TOOLS, &query, &options).await,
                };
                match result {
                    Ok(r) => {
                        for call in &r.function_calls {
                            let tool = tools
                                .as_array()
                                .unwrap()
                                .iter()
                                .find(|t| t["name"] == call.name)
                                .unwrap();
                            assert!(jsonschema::is_valid(&tool["parameters"], &call.arguments), "{call:?}");
                        }
                        ok += 1;
                    }
                    Err(e) if matches!(e.kind(), Some(ErrorKind::Busy)) => busy += 1,
                    // The random model may ramble past 64 tokens inside a string: a clean limit error.
                    Err(e) if matches!(e.kind(), Some(ErrorKind::LimitExceeded)) => ok += 1,
                    Err(e) => panic!("client {c}: {e}"),
                }
            }
            (ok, busy)
        }));
    }
    let mut totals = (0, 0);
    for task in tasks {
        let (ok, busy) = tokio::time::timeout(Duration::from_secs(300), task)
            .await
            .expect("no hang")
            .unwrap();
        totals = (totals.0 + ok, totals.1 + busy);
    }
    eprintln!("{} answered, {} busy", totals.0, totals.1);
    assert_eq!(totals.0 + totals.1, 160);
    assert!(
        totals.0 > 0 && totals.1 > 0,
        "expected both answers and Busy with a queue of 4: {totals:?}"
    );
    let status = client(&bus).await.status().await.unwrap();
    assert_eq!(status.queue_depth, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_belong_to_their_client_and_die_with_it() {
    let (bus, _daemon) = start("max_objects_per_client = 3\n");
    let owner = client(&bus).await;
    let other = client(&bus).await;
    let toolset = owner.register_toolset(HOME_TOOLS).await.unwrap();
    assert_eq!(toolset.tool_count().await.unwrap(), 3);
    let session = toolset.open_session().await.unwrap();
    let toolset_path = toolset.path().to_string();
    let session_path = session.path().to_string();

    // Another client may not use them.
    let foreign = toolcall_dbus::ToolsetProxy::builder(other.connection())
        .path(toolset_path.clone())
        .build()
        .await
        .unwrap();
    let err: toolcall_client::Error = foreign.call("x", HashMap::new()).await.unwrap_err().into();
    assert_eq!(err.kind(), Some(&ErrorKind::AccessDenied));

    // Per-client cap.
    let _second = owner.register_toolset(HOME_TOOLS).await.unwrap();
    assert_eq!(
        kind(owner.register_toolset(HOME_TOOLS).await.map(|_| ())),
        ErrorKind::LimitExceeded
    );

    // The owner leaves: both objects are gone.
    drop(session);
    drop(toolset);
    drop(_second);
    drop(owner);
    let gone = |path: String| {
        let connection = other.connection().clone();
        async move {
            for _ in 0..100 {
                let node = introspect(&connection, &path).await;
                if node.is_none_or(|n| n.interfaces().iter().all(|i| !i.name().starts_with("org.toolcalld"))) {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        }
    };
    assert!(gone(toolset_path).await, "toolset object survived its owner");
    assert!(gone(session_path).await, "session object survived its owner");
}

#[test]
fn blocking_client_covers_toolsets_and_sessions() {
    let (bus, _daemon) = start("");
    let client = toolcall_client::blocking::Client::connect(&Bus::Address(bus.address.clone())).unwrap();
    let options = CallOptions {
        max_new_tokens: Some(48),
        ..CallOptions::default()
    };
    // The tiny bundle's random weights may not finish the JSON within the token limit.
    let answered = |r: toolcall_client::Result<toolcall_client::CallResult>| {
        r.is_ok() || r.unwrap_err().kind() == Some(&ErrorKind::LimitExceeded)
    };
    let toolset = client.register_toolset(HOME_TOOLS).unwrap();
    let tools: Vec<serde_json::Value> = serde_json::from_str(HOME_TOOLS).unwrap();
    assert_eq!(toolset.tool_count().unwrap() as usize, tools.len());
    assert!(answered(toolset.call("set a timer for 5 minutes", &options)));
    let session = toolset.open_session().unwrap();
    assert!(session.path().starts_with(toolcall_dbus::SESSIONS_PATH));
    assert!(answered(session.send("turn on the kitchen light", &options)));
    session.reset().unwrap();
    // After a reset there is no answer to give tool results for.
    let err = session.submit_tool_results("[]", &options).unwrap_err();
    assert_eq!(err.kind(), Some(&ErrorKind::InvalidQuery), "{err}");
    session.close().unwrap();
    toolset.release().unwrap();
    assert_eq!(client.status().unwrap().queue_depth, 0);
}

#[test]
fn sigterm_exits_cleanly_and_a_bad_bundle_fails_startup() {
    let bus = TestBus::start();
    let mut daemon = Daemon::start(&bus, &bundle(TINY), "");
    let status = daemon.signal_and_wait(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(30));
    assert!(status.success(), "SIGTERM exit status {status}");
    assert!(daemon.notifications.iter().any(|n| n.contains("READY=1")));

    let empty = toolcalld_tests::TempDir::new("nobundle");
    let output = std::process::Command::new(toolcalld_tests::binary("toolcalld"))
        .args(["--bus", &bus.address, "--model"])
        .arg(&empty.0)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot load the model") && stderr.contains("bundle.json"),
        "{stderr}"
    );
}

#[test]
fn python_voice_assistant_example_runs() {
    let (bus, _daemon) = start("");
    let python = toolcalld_tests::workspace_dir().join(".venv/bin/python");
    assert!(python.exists(), "{} missing: run scripts/setup.sh", python.display());
    let out = std::process::Command::new(python)
        .arg(toolcalld_tests::workspace_dir().join("examples/python/voice_assistant.py"))
        .args(["--address", &bus.address, "--max-new-tokens", "200"])
        .args(["turn on the kitchen lights", "set a timer for 5 minutes"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The tiny random model may ramble past the token budget: that must come back as the named error.
    if !out.status.success() {
        assert!(
            stderr.contains("org.toolcalld.ToolCall1.Error.LimitExceeded"),
            "{stderr}"
        );
        return;
    }
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["utterance"], "turn on the kitchen lights");
    assert!(lines.iter().all(|l| l["calls"].is_array()));
}
