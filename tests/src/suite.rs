//! The end-to-end suite that runs twice: against the `toolcalld` binary on a real private
//! `dbus-daemon` (`tests/tests/service.rs`) and against the service run in-process on
//! peer-to-peer connections (`tests/tests/in_process.rs`). Each case takes a [`Connect`], which
//! makes a new client (a new connection) per call, and names the configuration it needs.
//!
//! What only a bus can show (clients leaving, another client's objects, activation, policy)
//! stays in the bus suites.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;

use toolcall_client::{CallOptions, CallResult, Client, ErrorKind};
use toolcall_dbus::{BUS_NAME, INTERFACE_XML, MANAGER_PATH, SESSIONS_PATH};
use zbus::Variant;

use crate::HOME_TOOLS;

/// Makes a new client of the service under test.
pub trait Connect {
    fn client(&self) -> impl Future<Output = Client> + Send;
}

/// The kind of the named error a call ended with.
pub fn kind<T: std::fmt::Debug>(result: Result<T, toolcall_client::Error>) -> ErrorKind {
    result
        .expect_err("expected an error")
        .kind()
        .cloned()
        .expect("a named service error")
}

/// An answer, or the named error of an answer the tiny bundle's random weights did not finish
/// within the token limit.
fn answered(result: &toolcall_client::Result<CallResult>) -> bool {
    match result {
        Ok(_) => true,
        Err(e) => e.kind() == Some(&ErrorKind::LimitExceeded) && e.to_string().contains("was not complete"),
    }
}

/// Methods, properties and signals of an interface as comparable lines.
fn describe(iface: &zbus_xml::Interface<'_>) -> BTreeSet<String> {
    let args = |args: &[zbus_xml::Arg<'_>]| {
        args.iter()
            .map(|a| format!("{:?} {} {}", a.direction(), a.ty(), a.name().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = BTreeSet::new();
    for m in iface.methods() {
        lines.insert(format!("method {}({})", m.name(), args(m.args())));
    }
    for s in iface.signals() {
        lines.insert(format!("signal {}({})", s.name(), args(s.args())));
    }
    for p in iface.properties() {
        lines.insert(format!("property {} {} {:?}", p.name(), p.ty(), p.access()));
    }
    lines
}

/// The introspection of `path`; None once no object is there.
pub async fn introspect(connection: &zbus::Connection, path: &str) -> Option<zbus_xml::Node<'static>> {
    let proxy = zbus::fdo::IntrospectableProxy::builder(connection)
        .destination(BUS_NAME)
        .path(path.to_string())
        .build()
        .await
        .unwrap();
    match proxy.introspect().await {
        Ok(xml) => Some(zbus_xml::Node::from_reader(xml.as_bytes()).unwrap()),
        Err(zbus::fdo::Error::UnknownObject(_)) => None,
        Err(e) => panic!("introspecting {path}: {e}"),
    }
}

pub const INTROSPECTION_CONFIG: &str = "";

/// Each served interface is the one its XML file declares; nothing else is served at /.
pub async fn introspection_matches_the_xml_files(service: &impl Connect) {
    let client = service.client().await;
    let toolset = client.register_toolset(HOME_TOOLS).await.unwrap();
    let session = toolset.open_session().await.unwrap();
    let served = [
        introspect(client.connection(), MANAGER_PATH).await.unwrap(),
        introspect(client.connection(), toolset.path()).await.unwrap(),
        introspect(client.connection(), session.path()).await.unwrap(),
    ];
    for (name, xml) in INTERFACE_XML {
        let expected = zbus_xml::Node::from_reader(xml.as_bytes()).unwrap();
        let expected = expected
            .interfaces()
            .iter()
            .find(|i| i.name() == *name)
            .expect("interface in its XML");
        let actual = served
            .iter()
            .flat_map(|n| n.interfaces())
            .find(|i| i.name() == *name)
            .unwrap_or_else(|| panic!("{name} is not served"));
        assert_eq!(
            describe(actual),
            describe(expected),
            "{name}: served interface differs from its XML"
        );
    }
    let root = introspect(client.connection(), "/").await;
    assert!(root.is_none_or(|r| r.interfaces().iter().all(|i| !i.name().starts_with("org.toolcalld"))));
}

pub const TOOLSET_AND_SESSION_CONFIG: &str = "";

/// A toolset and a session from registration to release, and the service's status after.
pub async fn a_toolset_and_a_session_from_start_to_end(service: &impl Connect) {
    let client = service.client().await;
    let options = CallOptions {
        max_new_tokens: Some(48),
        ..CallOptions::default()
    };
    let status = client.status().await.unwrap();
    assert!(status.model_info.license.starts_with("Apache-2.0"), "{status:?}");
    assert!(status.model.starts_with(&status.model_info.name), "{status:?}");
    let one_shot = client.call(HOME_TOOLS, "set a timer for 5 minutes", &options).await;
    assert!(answered(&one_shot), "{one_shot:?}");
    let toolset = client.register_toolset(HOME_TOOLS).await.unwrap();
    let tools: Vec<serde_json::Value> = serde_json::from_str(HOME_TOOLS).unwrap();
    assert_eq!(toolset.tool_count().await.unwrap() as usize, tools.len());
    let result = toolset.call("set a timer for 5 minutes", &options).await;
    assert!(answered(&result), "{result:?}");
    if let (Ok(once), Ok(registered)) = (&one_shot, &result) {
        assert_eq!(once.function_calls, registered.function_calls, "same tools, same query");
        assert!(registered.timings.cached_tokens > 0, "the toolset's prefix is reused");
    }
    let session = toolset.open_session().await.unwrap();
    assert!(session.path().starts_with(SESSIONS_PATH));
    let sent = session.send("turn on the kitchen light", &options).await;
    assert!(answered(&sent), "{sent:?}");
    session.reset().await.unwrap();
    // After a reset there is no answer to give tool results for.
    let err = session.submit_tool_results("[]", &options).await.unwrap_err();
    assert_eq!(err.kind(), Some(&ErrorKind::InvalidQuery), "{err}");
    session.close().await.unwrap();
    toolset.release().await.unwrap();
    assert_eq!(client.status().await.unwrap().queue_depth, 0);
}

pub const MAX_OBJECTS_CONFIG: &str = "max_objects = 2\n";

/// Toolsets and sessions of all clients together stay within `max_objects`.
pub async fn all_clients_together_hold_at_most_max_objects(service: &impl Connect) {
    let (a, b, c) = (service.client().await, service.client().await, service.client().await);
    let a_toolset = a.register_toolset(HOME_TOOLS).await.unwrap();
    let _b_toolset = b.register_toolset(HOME_TOOLS).await.unwrap();
    let refused = c.register_toolset(HOME_TOOLS).await.map(|_| ()).unwrap_err();
    assert_eq!(refused.kind(), Some(&ErrorKind::LimitExceeded), "{refused}");
    assert!(refused.to_string().contains("limit max_objects exceeded"), "{refused}");
    // Sessions count too.
    assert_eq!(
        kind(a_toolset.open_session().await.map(|_| ())),
        ErrorKind::LimitExceeded
    );
    a_toolset.release().await.unwrap();
    let c_toolset = c.register_toolset(HOME_TOOLS).await.unwrap();
    assert_eq!(c_toolset.tool_count().await.unwrap(), 3);
}

// The timeout must be longer than a request may take: 900 ms is plenty for the tiny bundle.
pub const IDLE_SESSIONS_CONFIG: &str = "session_idle_timeout_s = 1\nrequest_timeout_ms = 900\nmax_objects = 3\n";

/// A session left unused past `session_idle_timeout_s` is closed by the service and its slot
/// given back; a session in use and its toolset stay.
pub async fn an_idle_session_expires_and_frees_its_slot(service: &impl Connect) {
    let client = service.client().await;
    let toolset = client.register_toolset(HOME_TOOLS).await.unwrap();
    let forgotten = toolset.open_session().await.unwrap();
    let in_use = toolset.open_session().await.unwrap();
    let short = CallOptions {
        max_new_tokens: Some(16),
        ..CallOptions::default()
    };
    for _ in 0..6 {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        assert!(answered(&in_use.send("turn on the light", &short).await));
    }
    let gone = forgotten.send("turn on the light", &short).await.unwrap_err();
    assert!(gone.to_string().contains("UnknownObject"), "{gone}");
    // Its slot is free again (max_objects = 3: the toolset, the session in use, a new one).
    let again = toolset.open_session().await.expect("the expired session's slot");
    assert!(answered(&again.send("turn on the light", &short).await));
    assert!(answered(&in_use.send("turn off the light", &short).await));
}

pub const OPENAI_FORMAT_CONFIG: &str = "";

/// `format: "openai"` answers with an OpenAI assistant message: `tool_calls` with distinct ids,
/// type "function" and the arguments as JSON text, which the typed client reads back as a
/// result like any other; an unknown format is `InvalidOptions`.
pub async fn the_openai_format_answers_with_tool_calls_and_ids(service: &impl Connect) {
    let client = service.client().await;
    let toolset = client.register_toolset(HOME_TOOLS).await.unwrap();
    let options = CallOptions {
        format: Some("openai".into()),
        allow_empty: Some(false),
        max_new_tokens: Some(256),
        ..CallOptions::default()
    };
    // The tiny bundle's random weights may ramble past the token limit: try a few requests.
    let mut ids = BTreeSet::new();
    for query in [
        "turn on the light",
        "set a timer",
        "dim the lamp",
        "play music",
        "lock the door",
    ] {
        let Ok(json) = toolset.call_json(query, &options).await else {
            continue;
        };
        let message: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(message["role"], "assistant", "{message}");
        assert!(
            message["content"].is_null() && message.get("function_calls").is_none(),
            "{message}"
        );
        for call in message["tool_calls"].as_array().expect("tool_calls") {
            assert_eq!(call["type"], "function", "{call}");
            let arguments = call["function"]["arguments"].as_str().expect("arguments as text");
            assert!(
                serde_json::from_str::<serde_json::Value>(arguments)
                    .unwrap()
                    .is_object()
            );
            assert!(
                ids.insert(call["id"].as_str().unwrap().to_string()),
                "repeated id {call}"
            );
        }
        assert!(
            answered(&toolset.call(query, &options).await),
            "the typed client reads it"
        );
    }
    assert!(!ids.is_empty(), "no answer with a call in five tries");
    let wrong = CallOptions {
        format: Some("xml".into()),
        ..CallOptions::default()
    };
    assert_eq!(
        kind(client.call(HOME_TOOLS, "turn on the light", &wrong).await),
        ErrorKind::InvalidOptions
    );
}

pub const NAMED_ERRORS_CONFIG: &str = "max_query_chars = 200\nmax_tools = 4\n";

/// Every named error a caller can cause, then a normal call that still works.
pub async fn every_named_error_then_a_normal_call(service: &impl Connect) {
    let client = service.client().await;
    let ok = CallOptions::default();
    let call = |tools: &str, query: &str, options: &CallOptions| {
        let (client, tools, query, options) = (client.clone(), tools.to_string(), query.to_string(), options.clone());
        async move { client.call(&tools, &query, &options).await }
    };

    assert_eq!(kind(call("[{\"name\": ", "x", &ok).await), ErrorKind::InvalidTools);
    assert_eq!(
        kind(call("{\"not\": \"a list\"}", "x", &ok).await),
        ErrorKind::InvalidTools
    );
    let unsupported = r#"[{"name":"t","parameters":{"type":"object","properties":{"a":{"type":"string","not":{}}}}}]"#;
    let err = client.call(unsupported, "x", &ok).await.unwrap_err();
    assert!(err.to_string().contains("$[0].parameters.properties.a.not"), "{err}");
    let duplicate = r#"[{"name":"t"},{"name":"t"}]"#;
    assert_eq!(kind(call(duplicate, "x", &ok).await), ErrorKind::InvalidTools);
    let five: Vec<String> = (0..5).map(|i| format!("{{\"name\":\"t{i}\"}}")).collect();
    assert_eq!(
        kind(call(&format!("[{}]", five.join(",")), "x", &ok).await),
        ErrorKind::LimitExceeded
    );
    assert_eq!(kind(call(HOME_TOOLS, "", &ok).await), ErrorKind::InvalidQuery);
    assert_eq!(
        kind(call(HOME_TOOLS, &"a".repeat(201), &ok).await),
        ErrorKind::LimitExceeded
    );
    let bad_calls = CallOptions {
        max_calls: Some(0),
        ..CallOptions::default()
    };
    assert_eq!(kind(call(HOME_TOOLS, "x", &bad_calls).await), ErrorKind::InvalidOptions);
    let timeout = CallOptions {
        timeout_ms: Some(1),
        ..CallOptions::default()
    };
    assert_eq!(kind(call(HOME_TOOLS, "x", &timeout).await), ErrorKind::Timeout);
    let unknown_model = CallOptions {
        model: Some("no-such-bundle".into()),
        ..CallOptions::default()
    };
    assert_eq!(
        kind(call(HOME_TOOLS, "x", &unknown_model).await),
        ErrorKind::UnknownModel
    );

    // Options of the wrong D-Bus type and unknown options, through the raw proxy.
    let raw = toolcall_dbus::ToolCall1Proxy::new(client.connection()).await.unwrap();
    for (key, value) in [
        ("max_calls", Variant::from("three")),
        ("allow_empty", Variant::from(1u32)),
        ("colour", Variant::from(true)),
        // Fault injection exists only in debug builds started with TOOLCALL_TEST_FAULTS=1.
        ("test_fault", Variant::from("panic")),
    ] {
        let err: toolcall_client::Error = raw
            .call(HOME_TOOLS, "x", HashMap::from([(key, value)]))
            .await
            .unwrap_err()
            .into();
        assert_eq!(err.kind(), Some(&ErrorKind::InvalidOptions), "{key}: {err}");
    }
    let err: toolcall_client::Error = raw
        .register_toolset(HOME_TOOLS, HashMap::from([("max_calls", Variant::from(1u32))]))
        .await
        .unwrap_err()
        .into();
    assert_eq!(err.kind(), Some(&ErrorKind::InvalidOptions), "{err}");

    // Calls on released objects.
    let toolset = client.register_toolset(HOME_TOOLS).await.unwrap();
    let path = toolset.path().to_string();
    toolset.release().await.unwrap();
    let stale = toolcall_dbus::ToolsetProxy::builder(client.connection())
        .path(path)
        .build()
        .await
        .unwrap();
    let err: toolcall_client::Error = stale.call("x", HashMap::new()).await.unwrap_err().into();
    assert!(
        matches!(err.kind(), Some(ErrorKind::Other(n)) if n == "org.freedesktop.DBus.Error.UnknownObject"),
        "{err}"
    );

    // After all of that, a normal call still works.
    let options = CallOptions {
        max_new_tokens: Some(64),
        ..ok
    };
    let result = client.call(HOME_TOOLS, "set a timer for 10 minutes", &options).await;
    assert!(answered(&result), "{result:?}");
}
