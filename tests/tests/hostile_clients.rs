//! Careless and hostile clients on a real private bus: a client that leaves while its toolset
//! or session is being made leaves nothing behind; another client can neither read nor use
//! someone's objects, nor guess their paths; a long tool list's prefill honours the deadline
//! and the caller leaving (the worker is free at once); oversized facts and tool results are
//! refused by name; one user takes at most its share of the queue. Faults come from the debug-build-only `test_fault` option
//! (daemon/src/fault.rs).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use toolcall_client::{Bus, CallOptions, Client, ErrorKind};
use toolcall_dbus::{BUS_NAME, SESSIONS_PATH, TOOLSET_INTERFACE, TOOLSETS_PATH, ToolCall1Proxy, ToolsetProxy};
use toolcalld_tests::suite::introspect;
use toolcalld_tests::{DEFAULT, Daemon, HOME_TOOLS, TINY, TestBus, bundle, long_tools};
use zbus::Variant;

const FAULTS: (&str, &str) = ("TOOLCALL_TEST_FAULTS", "1");

async fn client(bus: &TestBus) -> Client {
    Client::connect(&Bus::Address(bus.address.clone()))
        .await
        .expect("client connects")
}

/// How many objects are served under `parent` (toolsets or sessions).
async fn children(connection: &zbus::Connection, parent: &str) -> usize {
    introspect(connection, parent)
        .await
        .map_or(0, |node| node.nodes().len())
}

/// Waits until the daemon's log has a line with all of `parts` (panics after 20 s).
async fn wait_for_log(daemon: &Daemon, parts: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = daemon.log();
        if let Some(line) = log.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "no log line with {parts:?}:\n{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A leaves the bus 300 ms into `start` (whose request stalls 1.5 s on its worker); then a
/// second client must be able to take both object slots (`max_objects = 2`) and nothing of A's
/// may be served. Returns A's unique name.
async fn leave_during(bus: &TestBus, daemon: &Daemon, a: zbus::Connection, method: &str) -> String {
    let a_name = a.unique_name().expect("unique name").to_string();
    let stalled = HashMap::from([("test_fault", Variant::from("stall:1500"))]);
    let task = {
        let a = a.clone();
        let method = method.to_string();
        tokio::spawn(async move {
            let manager = ToolCall1Proxy::new(&a).await.unwrap();
            if method == "RegisterToolset" {
                let _ = manager.register_toolset(HOME_TOOLS, stalled).await;
            } else {
                let path = manager.register_toolset(HOME_TOOLS, HashMap::new()).await.unwrap();
                let toolset = ToolsetProxy::builder(&a).path(path).build().await.unwrap();
                let _ = toolset.open_session(stalled).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    task.abort();
    a.close().await.expect("A leaves the bus");
    // The stalled request ends 1.5 s after it started; its object would be published just after.
    wait_for_log(daemon, &[&a_name, &format!(" {method}"), " in "]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let b = client(bus).await;
    let first = b.register_toolset(HOME_TOOLS).await;
    let second = b.register_toolset(HOME_TOOLS).await;
    assert!(
        first.is_ok() && second.is_ok(),
        "A's slot was not freed: {:?}",
        second.err()
    );
    assert_eq!(
        children(b.connection(), TOOLSETS_PATH).await,
        2,
        "only B's toolsets are served"
    );
    assert_eq!(children(b.connection(), SESSIONS_PATH).await, 0, "no session is served");
    a_name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_during_register_leaks_nothing() {
    let bus = TestBus::start();
    let daemon = Daemon::start_with(&bus, &bundle(TINY), "max_objects = 2\n", &[FAULTS]);
    let a = bus.connection().await;
    let a_name = leave_during(&bus, &daemon, a, "RegisterToolset").await;
    // Its compile saw the cancellation and stopped.
    wait_for_log(
        &daemon,
        &[&a_name, "RegisterToolset: org.toolcalld.ToolCall1.Error.Cancelled"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_during_open_session_leaks_nothing() {
    let bus = TestBus::start();
    let daemon = Daemon::start_with(&bus, &bundle(TINY), "max_objects = 2\n", &[FAULTS]);
    let a = bus.connection().await;
    leave_during(&bus, &daemon, a, "OpenSession").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_client_can_neither_read_nor_use_someones_objects() {
    let bus = TestBus::start();
    let _daemon = Daemon::start(&bus, &bundle(TINY), "");
    let (owner, other) = (client(&bus).await, client(&bus).await);
    let toolset = owner.register_toolset(HOME_TOOLS).await.unwrap();
    let session = toolset.open_session().await.unwrap();
    let second = owner.register_toolset(HOME_TOOLS).await.unwrap();

    // Paths carry 64 random bits after the counter: one cannot be guessed from another.
    for path in [toolset.path(), session.path(), second.path()] {
        let last = path.rsplit('/').next().unwrap();
        let (counter, secret) = last.split_once('_').unwrap_or_else(|| panic!("{path}"));
        assert!(counter.parse::<u64>().is_ok() && secret.len() == 16, "{path}");
    }
    let secrets = |p: &str| p.rsplit('_').next().unwrap().to_string();
    assert_ne!(secrets(toolset.path()), secrets(second.path()));

    let properties = zbus::fdo::PropertiesProxy::builder(other.connection())
        .destination(BUS_NAME)
        .path(toolset.path().to_string())
        .build()
        .await
        .unwrap();
    let interface = zbus::names::InterfaceName::try_from(TOOLSET_INTERFACE).unwrap();
    for property in ["Tools", "ToolCount"] {
        match properties.get(interface.clone(), property).await {
            Err(zbus::fdo::Error::AccessDenied(_)) => {}
            other => panic!("{property} read by another client: {other:?}"),
        }
    }
    // GetAll leaves out what the caller may not read.
    if let Ok(all) = properties.get_all(interface).await {
        assert!(!all.contains_key("Tools") && !all.contains_key("ToolCount"), "{all:?}");
    }

    let denied = |r: zbus::Result<()>| {
        let e: toolcall_client::Error = r.unwrap_err().into();
        e.kind() == Some(&ErrorKind::AccessDenied)
    };
    let foreign_toolset = ToolsetProxy::builder(other.connection())
        .path(toolset.path().to_string())
        .build()
        .await
        .unwrap();
    assert!(denied(foreign_toolset.call("x", HashMap::new()).await.map(|_| ())));
    assert!(denied(foreign_toolset.open_session(HashMap::new()).await.map(|_| ())));
    assert!(denied(foreign_toolset.release().await));
    let foreign_session = toolcall_dbus::SessionProxy::builder(other.connection())
        .path(session.path().to_string())
        .build()
        .await
        .unwrap();
    assert!(denied(foreign_session.send("x", HashMap::new()).await.map(|_| ())));
    assert!(denied(
        foreign_session
            .submit_tool_results("[]", HashMap::new())
            .await
            .map(|_| ())
    ));
    assert!(denied(foreign_session.reset().await));
    assert!(denied(foreign_session.close().await));

    // The owner still reads and uses them.
    assert_eq!(toolset.tool_count().await.unwrap(), 3);
    session.reset().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_tool_list_honours_the_deadline_and_the_caller_leaving() {
    let bus = TestBus::start();
    let daemon = Daemon::start(&bus, &bundle(DEFAULT), "workers = 1\n");
    let tools = long_tools(40);
    let b = client(&bus).await;

    // Before prefill was chunked, this held the only worker for minutes and then answered Timeout.
    let started = Instant::now();
    let options = CallOptions {
        timeout_ms: Some(1000),
        ..CallOptions::default()
    };
    let late = b.call(&tools, "turn on the light", &options).await.unwrap_err();
    assert_eq!(late.kind(), Some(&ErrorKind::Timeout), "{late}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "Timeout came after {took:?}");
    let served = b
        .call(HOME_TOOLS, "set a timer for 10 minutes", &CallOptions::default())
        .await;
    assert!(served.is_ok(), "the next request was not served: {served:?}");

    // A client leaving 1 s into registering it: the compile stops, the worker serves B.
    let a = bus.connection().await;
    let a_name = a.unique_name().unwrap().to_string();
    let register = {
        let (a, tools) = (a.clone(), tools.clone());
        tokio::spawn(async move {
            let manager = ToolCall1Proxy::new(&a).await.unwrap();
            let _ = manager.register_toolset(&tools, HashMap::new()).await;
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    register.abort();
    a.close().await.unwrap();
    let left = Instant::now();
    let served = b
        .call(HOME_TOOLS, "set a timer for 5 minutes", &CallOptions::default())
        .await;
    assert!(served.is_ok(), "{served:?}");
    let waited = left.elapsed();
    assert!(
        waited < Duration::from_secs(8),
        "B waited {waited:?} behind a departed client's compile"
    );
    wait_for_log(
        &daemon,
        &[&a_name, "RegisterToolset: org.toolcalld.ToolCall1.Error.Cancelled"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_facts_and_tool_results_are_refused_by_name() {
    let bus = TestBus::start();
    let _daemon = Daemon::start(
        &bus,
        &bundle(DEFAULT),
        "max_facts_chars = 100\nmax_tool_results_chars = 200\n",
    );
    let b = client(&bus).await;
    let long_facts = CallOptions {
        facts: Some("area: kitchen; ".repeat(10)),
        ..CallOptions::default()
    };
    let refused = b.call(HOME_TOOLS, "turn on the light", &long_facts).await.unwrap_err();
    assert_eq!(refused.kind(), Some(&ErrorKind::LimitExceeded), "{refused}");
    assert!(refused.to_string().contains("max_facts_chars"), "{refused}");

    let toolset = b.register_toolset(HOME_TOOLS).await.unwrap();
    let session = toolset.open_session().await.unwrap();
    let options = CallOptions::default();
    let answer = session.send("turn on the kitchen light", &options).await.unwrap();
    assert!(!answer.function_calls.is_empty(), "{answer:?}");
    let results = serde_json::json!([{"name": answer.function_calls[0].name, "result": "ok ".repeat(100)}]);
    let refused = session
        .submit_tool_results(&results.to_string(), &options)
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), Some(&ErrorKind::LimitExceeded), "{refused}");
    assert!(refused.to_string().contains("max_tool_results_chars"), "{refused}");
    // Within the limits all goes on.
    let fine = serde_json::json!([{"name": answer.function_calls[0].name, "result": "ok"}]);
    session.submit_tool_results(&fine.to_string(), &options).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kv_budget_is_checked_before_any_work_and_the_cache_gives_way() {
    // The tiny model holds 512 bytes of KV state per token: 1 MB is 2048 tokens, six toolsets
    // of the home tools' ~300-token prompt.
    let bus = TestBus::start();
    let _daemon = Daemon::start(
        &bus,
        &bundle(TINY),
        "max_kv_mb = 1\nmax_objects = 32\nmax_objects_per_client = 32\n",
    );
    let b = client(&bus).await;
    let short = CallOptions {
        max_new_tokens: Some(16),
        ..CallOptions::default()
    };
    // A one-shot call caches its tool list inside the same budget...
    let _ = b.call(HOME_TOOLS, "turn on the light", &short).await;
    // ...and the cache gives way to objects.
    let mut toolsets = Vec::new();
    let refused = loop {
        match b.register_toolset(HOME_TOOLS).await {
            Ok(toolset) => toolsets.push(toolset),
            Err(e) => break e,
        }
        assert!(toolsets.len() < 20, "the budget never refused");
    };
    assert_eq!(toolsets.len(), 6, "{refused}");
    assert_eq!(refused.kind(), Some(&ErrorKind::LimitExceeded), "{refused}");
    assert!(refused.to_string().contains("max_kv_mb"), "{refused}");
    // A session is counted for its toolset's prompt from the start.
    let refused = toolsets[0].open_session().await.map(|_| ()).unwrap_err();
    assert!(refused.to_string().contains("max_kv_mb"), "{refused}");

    // Room for one session of ~300 tokens and a short turn, not for a 512-token answer.
    toolsets.pop().unwrap().release().await.unwrap();
    toolsets.pop().unwrap().release().await.unwrap();
    let session = toolsets[0].open_session().await.unwrap();
    let turn = session.send("turn on the light", &short).await;
    assert!(
        turn.is_ok() || turn.as_ref().unwrap_err().to_string().contains("was not complete"),
        "{turn:?}"
    );
    let long = CallOptions {
        max_new_tokens: Some(512),
        ..CallOptions::default()
    };
    let refused = session.send("turn on the light", &long).await.unwrap_err();
    assert_eq!(refused.kind(), Some(&ErrorKind::LimitExceeded), "{refused}");
    assert!(refused.to_string().contains("max_kv_mb"), "{refused}");
    // Released, the room comes back.
    session.close().await.unwrap();
    b.register_toolset(HOME_TOOLS).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_cannot_take_every_slot_through_many_connections() {
    // Every client of this test runs as the same uid: its connections share one cap.
    let bus = TestBus::start();
    let _daemon = Daemon::start(
        &bus,
        &bundle(TINY),
        "max_objects_per_user = 3\nmax_objects_per_client = 16\nmax_objects = 32\n",
    );
    let mut clients = Vec::new();
    let mut toolsets = Vec::new();
    for _ in 0..3 {
        let c = client(&bus).await;
        toolsets.push(c.register_toolset(HOME_TOOLS).await.unwrap());
        clients.push(c);
    }
    let fourth = client(&bus).await;
    let refused = fourth.register_toolset(HOME_TOOLS).await.map(|_| ()).unwrap_err();
    assert_eq!(refused.kind(), Some(&ErrorKind::LimitExceeded), "{refused}");
    assert!(refused.to_string().contains("max_objects_per_user"), "{refused}");
    toolsets.pop().unwrap().release().await.unwrap();
    fourth.register_toolset(HOME_TOOLS).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_takes_at_most_its_places_in_the_queue() {
    // One worker, eight places, two for each user: this test's connections are all one user.
    let bus = TestBus::start();
    let daemon = Daemon::start_with(
        &bus,
        &bundle(TINY),
        "workers = 1\nqueue_size = 8\nmax_queued_per_user = 2\n",
        &[FAULTS],
    );
    let observer = client(&bus).await;
    let log = || daemon.log();
    let wait_for_depth = |depth: u32| {
        let observer = observer.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while observer.status().await.unwrap().queue_depth != depth {
                assert!(Instant::now() < deadline, "the queue never held {depth}:\n{}", log());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    // One stalled call runs, two wait: each from a connection of its own.
    let mut calls = Vec::new();
    for depth in 1..=3 {
        let c = client(&bus).await;
        calls.push(tokio::spawn(async move {
            let manager = ToolCall1Proxy::new(c.connection()).await.unwrap();
            let stalled = HashMap::from([("test_fault", Variant::from("stall:1500"))]);
            manager.call(HOME_TOOLS, "turn on the light", stalled).await
        }));
        wait_for_depth(depth).await;
    }
    let fourth = client(&bus).await;
    let refused = fourth
        .call(HOME_TOOLS, "turn on the light", &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), Some(&ErrorKind::Busy), "{refused}");
    assert!(refused.to_string().contains("max_queued_per_user"), "{refused}");
    assert_eq!(
        observer.status().await.unwrap().queue_depth,
        3,
        "refused while 6 of the 8 places were free"
    );
    for call in calls {
        call.await.unwrap().expect("the queued calls are answered");
    }
    fourth
        .call(HOME_TOOLS, "turn on the light", &CallOptions::default())
        .await
        .expect("a place is free again");
    drop(daemon);
}
