//! Cancelling one request: a caller names a request with the `request_id` option and ends it
//! with the manager's `Cancel`, queued or running, on a real private bus. Nothing else the
//! caller holds is touched, and another caller's request of the same name is not its to end.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use toolcall_client::{Bus, CallOptions, Client, ErrorKind};
use toolcall_dbus::{TOOLSETS_PATH, ToolCall1Proxy, ToolCallError};
use toolcalld_tests::suite::introspect;
use toolcalld_tests::{DEFAULT, Daemon, HOME_TOOLS, TINY, TestBus, bundle, long_tools};
use zbus::Variant;

async fn client(bus: &TestBus) -> Client {
    Client::connect(&Bus::Address(bus.address.clone()))
        .await
        .expect("client connects")
}

fn named(id: &str) -> CallOptions {
    CallOptions {
        request_id: Some(id.into()),
        max_new_tokens: Some(32),
        ..CallOptions::default()
    }
}

/// Waits (at most 20 s) until the service holds `depth` requests, queued or running.
async fn wait_for_depth(observer: &Client, depth: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while observer.status().await.unwrap().queue_depth != depth {
        assert!(Instant::now() < deadline, "the queue never held {depth}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_request_ends_at_once_and_nothing_else_of_the_caller_is_touched() {
    let bus = TestBus::start();
    let _daemon = Daemon::start_with(&bus, &bundle(TINY), "workers = 1\n", &[("TOOLCALL_TEST_FAULTS", "1")]);
    let b = client(&bus).await;
    let toolset = b.register_toolset(HOME_TOOLS).await.unwrap();
    let session = toolset.open_session().await.unwrap();

    // A holds the only worker for 2 s with a request it named "r1".
    let a = client(&bus).await;
    let a_call = tokio::spawn({
        let a = a.clone();
        async move {
            let manager = ToolCall1Proxy::new(a.connection()).await.unwrap();
            let options = HashMap::from([
                ("test_fault", Variant::from("stall:2000")),
                ("request_id", Variant::from("r1")),
            ]);
            manager.call(HOME_TOOLS, "turn on the light", options).await
        }
    });
    wait_for_depth(&b, 1).await;
    // B's request of the same name waits behind it.
    let b_call = tokio::spawn({
        let b = b.clone();
        async move { b.call(HOME_TOOLS, "turn off the light", &named("r1")).await }
    });
    wait_for_depth(&b, 2).await;

    let asked = Instant::now();
    assert!(b.cancel("r1").await.unwrap(), "B's request was in flight");
    let cancelled = b_call.await.unwrap().unwrap_err();
    assert_eq!(cancelled.kind(), Some(&ErrorKind::Cancelled), "{cancelled}");
    assert!(
        asked.elapsed() < Duration::from_millis(1000),
        "the queued request ended only after {:?}",
        asked.elapsed()
    );
    assert!(!b.cancel("r1").await.unwrap(), "nothing of that name is left");
    assert!(!b.cancel("never-sent").await.unwrap());
    // A's "r1" was not B's to end.
    a_call.await.unwrap().expect("A's request is answered");

    // B's toolset and session are untouched.
    toolset
        .call("turn on the light", &CallOptions::default())
        .await
        .unwrap();
    session
        .send("turn on the light", &CallOptions::default())
        .await
        .unwrap();
    wait_for_depth(&b, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_prefill_is_cancelled_by_its_id_and_the_worker_is_free_at_once() {
    let bus = TestBus::start();
    let _daemon = Daemon::start(&bus, &bundle(DEFAULT), "workers = 1\n");
    let tools = long_tools(40);
    let b = client(&bus).await;

    // A one-shot call on a ~7,400-token tool list: minutes of prefill on this machine.
    let call = tokio::spawn({
        let (b, tools) = (b.clone(), tools.clone());
        async move { b.call(&tools, "turn on the light", &named("long call")).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(b.cancel("long call").await.unwrap());
    let asked = Instant::now();
    let cancelled = call.await.unwrap().unwrap_err();
    assert_eq!(cancelled.kind(), Some(&ErrorKind::Cancelled), "{cancelled}");
    let served = b
        .call(HOME_TOOLS, "set a timer for 10 minutes", &CallOptions::default())
        .await;
    assert!(served.is_ok(), "{served:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(8),
        "the worker was free only after {:?}",
        asked.elapsed()
    );

    // RegisterToolset takes request_id too: its compile ends and no toolset is left.
    let register = tokio::spawn({
        let (connection, tools) = (b.connection().clone(), tools.clone());
        async move {
            let manager = ToolCall1Proxy::new(&connection).await.unwrap();
            let options = HashMap::from([("request_id", Variant::from("register"))]);
            manager.register_toolset(&tools, options).await
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(b.cancel("register").await.unwrap());
    let error = ToolCallError::from(register.await.unwrap().unwrap_err());
    assert!(matches!(error, ToolCallError::Cancelled(_)), "{error:?}");
    let toolsets = introspect(b.connection(), TOOLSETS_PATH)
        .await
        .map_or(0, |node| node.nodes().len());
    assert_eq!(toolsets, 0, "a cancelled RegisterToolset left a toolset");
}
