//! The registry on a real private bus with real provider processes
//! (`toolcall-test-provider`): providers publish under a prefix no other connection may take,
//! their tools are routed to and carried out (Dispatch), and a provider that fails, hangs, dies
//! mid-invoke or leaves gives the call a named error and frees its tools, while the service
//! goes on serving. The tiny bundle answers: one tool to choose, one call required, an enum
//! argument, so the grammar leaves it no way to go wrong.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use toolcall_dbus::{CallOptions, RegistryProxy, RouteResult};
use toolcalld_tests::{Daemon, TINY, TestBus, binary, bundle};

/// A tool list this test's own connection publishes.
const TOOL: &str = r#"[{"name": "ping", "parameters": {"type": "object", "properties": {}}}]"#;

/// A provider process, killed when dropped.
struct Provider {
    child: Child,
    /// The first line it printed: `published HANDLE` or `refused ERROR`.
    said: String,
    /// The lines it printed after that (`invoked NAME`).
    later: std::sync::mpsc::Receiver<String>,
}

impl Provider {
    fn start(bus: &TestBus, prefix: &str, mode: &str) -> Provider {
        let mut child = Command::new(binary("toolcall-test-provider"))
            .args([bus.address.as_str(), prefix, mode])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the provider starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap_or_default()).is_err() {
                    break;
                }
            }
        });
        let said = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the provider says whether it published");
        Provider { child, said, later: rx }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One call of `tools`, required.
fn on(tools: &[&str]) -> CallOptions {
    CallOptions {
        max_calls: Some(1),
        allow_empty: Some(false),
        tools: Some(tools.iter().map(|t| t.to_string()).collect()),
        ..CallOptions::default()
    }
}

fn parse(json: &str) -> RouteResult {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

async fn published(registry: &RegistryProxy<'_>) -> Vec<Value> {
    serde_json::from_str(&registry.tools().await.unwrap()).unwrap()
}

fn error_name(result: &RouteResult) -> String {
    result.function_calls[0]
        .error
        .as_ref()
        .map(|e| e.name.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_publish_get_invoked_fail_and_leave() {
    let bus = TestBus::start();
    let daemon = Daemon::start(&bus, &bundle(TINY), "dispatch_timeout_ms = 1500\n");
    let connection = zbus::connection::Builder::address(bus.address.as_str())
        .build()
        .await
        .unwrap();
    let registry = RegistryProxy::new(&connection).await.unwrap();
    let mut changes = registry.receive_tools_changed().await.unwrap();

    let mut media = Provider::start(&bus, "media", "ok");
    let expected = format!("published {}/media_", toolcall_dbus::PUBLICATIONS_PATH);
    assert!(media.said.starts_with(&expected), "{}", media.said);
    tokio::time::timeout(Duration::from_secs(5), changes.next())
        .await
        .expect("ToolsChanged");
    let tools = published(&registry).await;
    assert_eq!(tools.len(), 1, "{tools:?}");
    assert_eq!(tools[0]["name"], "media.play");
    let media_owner = tools[0]["provider"].as_str().unwrap().to_string();
    assert!(media_owner.starts_with(':'), "{media_owner}");

    // Nobody else may publish under a prefix that is held.
    let thief = Provider::start(&bus, "media", "ok");
    assert!(
        thief.said.starts_with("refused") && thief.said.contains("AccessDenied"),
        "{}",
        thief.said
    );

    // Route names the provider; Dispatch carries the call out there.
    let routed = parse(
        &registry
            .route("play some jazz", on(&["media.play"]).to_wire())
            .await
            .unwrap(),
    );
    let call = &routed.function_calls[0];
    assert_eq!((call.name.as_str(), call.tool.as_str()), ("media.play", "play"));
    assert_eq!(
        (call.provider.as_str(), call.provider_path.as_str()),
        (media_owner.as_str(), "/org/example/Provider")
    );
    assert!(call.result.is_none() && call.error.is_none());
    let dispatched = parse(
        &registry
            .dispatch("play some jazz", on(&["media.play"]).to_wire())
            .await
            .unwrap(),
    );
    let call = &dispatched.function_calls[0];
    let me = connection.unique_name().unwrap().to_string();
    let expected = json!({"tool": "play", "played": call.arguments["song"], "for": me});
    assert_eq!(call.result, Some(expected), "{dispatched:?}");

    // A provider that fails, one that hangs and one that dies mid-invoke: a named error each,
    // in bounded time.
    let _jam = Provider::start(&bus, "jam", "fail");
    let _slow = Provider::start(&bus, "slow", "hang");
    let _crash = Provider::start(&bus, "crash", "die");
    assert_eq!(published(&registry).await.len(), 4);
    let failed = parse(
        &registry
            .dispatch("play rock", on(&["jam.play"]).to_wire())
            .await
            .unwrap(),
    );
    assert_eq!(error_name(&failed), toolcall_dbus::PROVIDER_FAILED);
    let message = &failed.function_calls[0].error.as_ref().unwrap().message;
    assert!(
        message.contains("org.example.Error.Jammed") && message.contains("jammed"),
        "{message}"
    );
    let started = Instant::now();
    let hung = parse(
        &registry
            .dispatch("play rock", on(&["slow.play"]).to_wire())
            .await
            .unwrap(),
    );
    assert_eq!(error_name(&hung), toolcall_dbus::PROVIDER_TIMEOUT, "{hung:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let died = parse(
        &registry
            .dispatch("play rock", on(&["crash.play"]).to_wire())
            .await
            .unwrap(),
    );
    assert_eq!(error_name(&died), toolcall_dbus::PROVIDER_GONE, "{died:?}");

    // Gone from the bus, gone from the catalogue.
    let deadline = Instant::now() + Duration::from_secs(5);
    while published(&registry).await.iter().any(|t| t["name"] == "crash.play") {
        assert!(Instant::now() < deadline, "the dead provider's tools stay");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut changes = registry.receive_tools_changed().await.unwrap();
    media.kill();
    tokio::time::timeout(Duration::from_secs(5), changes.next())
        .await
        .expect("ToolsChanged on leaving");
    let deadline = Instant::now() + Duration::from_secs(5);
    while published(&registry).await.iter().any(|t| t["name"] == "media.play") {
        assert!(Instant::now() < deadline, "the killed provider's tools stay");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gone = registry
        .route("play jazz", on(&["media.play"]).to_wire())
        .await
        .unwrap_err();
    assert!(gone.to_string().contains("InvalidOptions"), "{gone}");
    // The prefix is free again.
    let heir = Provider::start(&bus, "media", "ok");
    assert!(heir.said.starts_with("published"), "{}", heir.said);

    // Others' publications and bad options are refused; the service still answers.
    let handle = zbus::ObjectPath::try_from(heir.said.trim().trim_start_matches("published ")).unwrap();
    let denied = registry.unpublish(&handle).await.unwrap_err();
    assert!(denied.to_string().contains("AccessDenied"), "{denied}");
    let path = zbus::ObjectPath::try_from("/x").unwrap();
    let no_prefix = registry.publish("[]", &path, HashMap::new()).await.unwrap_err();
    assert!(no_prefix.to_string().contains("InvalidOptions"), "{no_prefix}");
    let named = CallOptions {
        prefix: Some("bad".into()),
        ..CallOptions::default()
    };
    let bad_tools = registry
        .publish("[{\"name\": 7}]", &path, named.to_wire())
        .await
        .unwrap_err();
    assert!(bad_tools.to_string().contains("InvalidTools"), "{bad_tools}");
    let openai = CallOptions {
        format: Some("openai".into()),
        ..CallOptions::default()
    };
    let refused = registry.route("play", openai.to_wire()).await.unwrap_err();
    assert!(refused.to_string().contains("InvalidOptions"), "{refused}");
    let prefix = CallOptions {
        prefix: Some("media".into()),
        ..CallOptions::default()
    };
    let refused = registry.route("play", prefix.to_wire()).await.unwrap_err();
    assert!(refused.to_string().contains("option \"prefix\""), "{refused}");
    let manager = toolcall_dbus::ToolCall1Proxy::new(&connection).await.unwrap();
    let tools_on_call = manager
        .call(TOOL, "ping", on(&["mine.ping"]).to_wire())
        .await
        .unwrap_err();
    assert!(
        tools_on_call.to_string().contains("option \"tools\""),
        "{tools_on_call}"
    );
    let extra = CallOptions {
        max_calls: Some(1),
        ..prefix.clone()
    };
    let refused = registry.publish(TOOL, &path, extra.to_wire()).await.unwrap_err();
    assert!(refused.to_string().contains("InvalidOptions"), "{refused}");

    // This connection publishes, replaces and takes back: ToolsChanged each time.
    let mut changes = registry.receive_tools_changed().await.unwrap();
    let mine = registry.publish(TOOL, &path, prefix.to_wire()).await;
    assert!(
        mine.unwrap_err().to_string().contains("AccessDenied"),
        "media is the heir's"
    );
    let own = CallOptions {
        prefix: Some("mine".into()),
        ..CallOptions::default()
    };
    registry.publish(TOOL, &path, own.to_wire()).await.unwrap();
    let handle = registry.publish(TOOL, &path, own.to_wire()).await.unwrap();
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(5), changes.next())
            .await
            .expect("ToolsChanged");
    }
    let mine = published(&registry).await;
    assert_eq!(mine.iter().filter(|t| t["name"] == "mine.ping").count(), 1, "{mine:?}");
    registry.unpublish(&handle).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), changes.next())
        .await
        .expect("ToolsChanged on Unpublish");
    assert!(!published(&registry).await.iter().any(|t| t["name"] == "mine.ping"));
    let routed = parse(
        &registry
            .route("play jazz", on(&["media.play"]).to_wire())
            .await
            .unwrap(),
    );
    assert_eq!(routed.function_calls[0].tool, "play");
    assert!(daemon.log().contains("published tools as media.*"), "{}", daemon.log());

    // toolcallctl: the catalogue, a route as JSON, a dispatch for people.
    let ctl = |args: &[&str]| {
        let out = Command::new(binary("toolcallctl"))
            .args(["--address", bus.address.as_str()])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let listed: Vec<Value> = serde_json::from_str(&ctl(&["registry"])).unwrap();
    assert!(listed.iter().any(|t| t["name"] == "media.play"), "{listed:?}");
    let only = ["--only", "media.play", "--max-calls", "1", "--require-call"];
    let routed = parse(&ctl(&[&["--json", "route"][..], &only, &["play jazz"]].concat()));
    assert_eq!(routed.function_calls[0].provider_path, "/org/example/Provider");
    let pretty = ctl(&[&["--json=pretty", "dispatch"][..], &only, &["play jazz"]].concat());
    assert!(pretty.contains("\n      \"result\": {"), "{pretty}");
}

/// `Cancel` by its id ends a Dispatch that waits on a provider, long before
/// `dispatch_timeout_ms`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_a_dispatch_waiting_on_its_provider() {
    let bus = TestBus::start();
    let _daemon = Daemon::start(&bus, &bundle(TINY), "dispatch_timeout_ms = 20000\n");
    let connection = zbus::connection::Builder::address(bus.address.as_str())
        .build()
        .await
        .unwrap();
    let registry = RegistryProxy::new(&connection).await.unwrap();
    let manager = toolcall_dbus::ToolCall1Proxy::new(&connection).await.unwrap();
    let slow = Provider::start(&bus, "slow", "hang");
    let options = CallOptions {
        request_id: Some("d1".into()),
        ..on(&["slow.play"])
    };
    let started = Instant::now();
    let (dispatched, cancelled) = tokio::join!(registry.dispatch("play rock", options.to_wire()), async {
        let invoked = tokio::task::block_in_place(|| slow.later.recv_timeout(Duration::from_secs(60)));
        assert_eq!(invoked.unwrap(), "invoked play");
        manager.cancel("d1").await.unwrap()
    });
    assert!(cancelled, "the Dispatch was in flight");
    let error = dispatched.unwrap_err();
    assert!(error.to_string().contains("Cancelled"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
}
