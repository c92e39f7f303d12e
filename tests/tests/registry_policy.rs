//! The registry's reach on a real private bus: retrieval narrows a catalogue larger than a
//! request may have to the few tools the request is about (`retrieval_above`,
//! `retrieval_top_k`), a Call's long list is checked whole before it is narrowed, and
//! `registry_allow` keeps a provider's tools from callers it does not list (not shown, not
//! routed to, `AccessDenied` when named), and `registry_publishers` a prefix from publishers it
//! does not list. With the sentence encoder (`retrieval_encoder`), requests that share no word
//! with their tool are routed to it; an encoder configured but absent fails the start.

use serde_json::{Value, json};
use toolcall_dbus::{CallOptions, RegistryProxy, RouteResult, ToolCall1Proxy};
use toolcalld_tests::{Daemon, TINY, TestBus, bundle};

fn tool(name: &str, description: &str) -> Value {
    json!({"name": name, "description": description,
           "parameters": {"type": "object", "properties": {"area": {"type": "string"}}, "required": ["area"]}})
}

/// toolcalld on a private bus with `config` (the tiny bundle), and the registry on a connection.
async fn registry_with(config: &str) -> (TestBus, Daemon, zbus::Connection, RegistryProxy<'static>) {
    let bus = TestBus::start();
    let daemon = Daemon::start(&bus, &bundle(TINY), config);
    let connection = zbus::connection::Builder::address(bus.address.as_str())
        .build()
        .await
        .unwrap();
    let registry = RegistryProxy::new(&connection).await.unwrap();
    (bus, daemon, connection, registry)
}

/// Publishes each prefix's tools, all served at one object path.
async fn publish(registry: &RegistryProxy<'_>, publications: &[(&str, Value)]) {
    let path = zbus::ObjectPath::try_from("/org/example/Apps").unwrap();
    for (prefix, tools) in publications {
        let options = CallOptions {
            prefix: Some(prefix.to_string()),
            ..CallOptions::default()
        };
        registry
            .publish(&tools.to_string(), &path, options.to_wire())
            .await
            .unwrap();
    }
}

fn one_call() -> CallOptions {
    CallOptions {
        max_calls: Some(1),
        allow_empty: Some(false),
        ..CallOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrieval_narrows_the_catalogue_and_the_allow_list_keeps_tools_from_others() {
    let me = nix::unistd::User::from_uid(nix::unistd::Uid::current())
        .unwrap()
        .unwrap();
    let my_group = nix::unistd::Group::from_gid(me.gid).unwrap().unwrap();
    let config = format!(
        "max_tools = 8\nretrieval_above = 4\nretrieval_top_k = 2\n\n[registry_allow]\nmusic = [\"{}\"]\ncrew = [\"@{}\"]\nsecret = [\"no-such-user-here\"]\n\n[registry_publishers]\nvault = [\"no-such-user-here\"]\n",
        me.name, my_group.name
    );
    let (_bus, _daemon, connection, registry) = registry_with(&config).await;
    let publications = [
        (
            "home",
            json!([
                tool("lights_dim", "Set the brightness of the lights in an area."),
                tool("lights_switch", "Turn the lights in an area on or off."),
                tool("blinds_close", "Close the window blinds in an area."),
                tool("heating_boost", "Warm up an area for an hour."),
            ]),
        ),
        (
            "music",
            json!([
                tool("play", "Play music in an area."),
                tool("pause", "Pause the music in an area."),
                tool("louder", "Raise the music volume in an area."),
            ]),
        ),
        (
            "crew",
            json!([
                tool("page", "Page the crew in an area."),
                tool("roster", "Show who works in an area.")
            ]),
        ),
        ("secret", json!([tool("vault_open", "Open the vault in an area.")])),
    ];
    publish(&registry, &publications).await;

    // The catalogue as this caller may reach it: nine tools, none of "secret".
    let shown: Vec<Value> = serde_json::from_str(&registry.tools().await.unwrap()).unwrap();
    let names: Vec<&str> = shown.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 9, "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("secret.")), "{names:?}");

    // Nine tools are more than max_tools: retrieval gives the model the two that fit best.
    let routed: RouteResult = serde_json::from_str(
        &registry
            .route("dim the lights in the kitchen to 30", one_call().to_wire())
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(routed.offered.len(), 2, "{routed:?}");
    assert!(routed.offered.contains(&"home.lights_dim".to_string()), "{routed:?}");
    assert!(routed.offered.contains(&routed.function_calls[0].name), "{routed:?}");
    let paused: RouteResult = serde_json::from_str(
        &registry
            .route("pause the music in the bedroom", one_call().to_wire())
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(paused.offered.contains(&"music.pause".to_string()), "{paused:?}");

    // The allow list's hidden tools are never offered, and naming one is refused, published
    // or not.
    let vault: RouteResult = serde_json::from_str(
        &registry
            .route("open the vault in the hall", one_call().to_wire())
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(!vault.offered.iter().any(|n| n.starts_with("secret.")), "{vault:?}");
    for hidden in ["secret.vault_open", "secret.nothing"] {
        let named = CallOptions {
            tools: Some(vec![hidden.into()]),
            ..one_call()
        };
        let denied = registry.route("open the vault", named.to_wire()).await.unwrap_err();
        assert!(denied.to_string().contains("AccessDenied"), "{hidden}: {denied}");
    }
    // A prefix registry_publishers keeps for others may not be published under.
    let vault_prefix = CallOptions {
        prefix: Some("vault".into()),
        ..CallOptions::default()
    };
    let path = zbus::ObjectPath::try_from("/org/example/Apps").unwrap();
    let taken = registry
        .publish(&publications[3].1.to_string(), &path, vault_prefix.to_wire())
        .await
        .unwrap_err();
    assert!(taken.to_string().contains("registry_publishers"), "{taken}");

    // A Call's list longer than retrieval_above is checked whole: a bad tool the query would
    // never reach is still InvalidTools, and a good list is answered from its narrowed part.
    let manager = ToolCall1Proxy::new(&connection).await.unwrap();
    let mut tools: Vec<Value> = publications[0].1.as_array().unwrap().clone();
    tools.push(tool("play", "Play music in an area."));
    let answered = manager
        .call(
            &Value::from(tools.clone()).to_string(),
            "dim the kitchen",
            one_call().to_wire(),
        )
        .await
        .unwrap();
    assert!(answered.contains("function_calls"), "{answered}");
    tools
        .push(json!({"name": "vacuum", "parameters": {"type": "object", "properties": {"speed": {"type": "rocket"}}}}));
    let bad = manager
        .call(&Value::from(tools).to_string(), "dim the kitchen", one_call().to_wire())
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("InvalidTools"), "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sentence_encoder_routes_requests_that_share_no_word_with_their_tool() {
    let encoder = toolcalld_tests::workspace_dir().join("model/encoders/minilm-l6-int8");
    let config = format!(
        "retrieval_above = 4\nretrieval_top_k = 2\nretrieval_encoder = \"{}\"\n",
        encoder.display()
    );
    let (_bus, _daemon, _connection, registry) = registry_with(&config).await;
    // The catalogue lists prefixes in order: where no tool shares a word with the request,
    // BM25's fallback (the list's order) offers the car's two tools.
    let publications = [
        (
            "car",
            json!([
                tool("route_start", "Start turn-by-turn navigation to a destination."),
                tool("message_send", "Send a text message to a contact."),
            ]),
        ),
        (
            "home",
            json!([
                tool("lights_dim", "Set the brightness of the lights in an area."),
                tool("music_play", "Play music in an area."),
            ]),
        ),
        (
            "voice",
            json!([
                tool("timer_start", "Start a countdown timer."),
                tool("weather_now", "Current weather conditions for a city."),
            ]),
        ),
    ];
    publish(&registry, &publications).await;
    // Not one word in common with the tool each needs: BM25 alone would offer the car's two.
    for (query, wanted) in [
        ("will it rain today", "voice.weather_now"),
        ("put on some jazz", "home.music_play"),
        ("make the kitchen darker", "home.lights_dim"),
        ("wake me in ten minutes", "voice.timer_start"),
    ] {
        let routed: RouteResult =
            serde_json::from_str(&registry.route(query, one_call().to_wire()).await.unwrap()).unwrap();
        assert_eq!(routed.offered.len(), 2, "{routed:?}");
        assert!(routed.offered.contains(&wanted.to_string()), "{query}: {routed:?}");
    }
}

#[test]
fn a_configured_encoder_that_is_not_there_fails_the_start() {
    let bus = TestBus::start();
    let mut daemon = std::process::Command::new(toolcalld_tests::binary("toolcalld"))
        .args(["--bus", &bus.address, "--model"])
        .arg(bundle(TINY))
        .env("TOOLCALLD_RETRIEVAL_ENCODER", "/nonexistent/encoder")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A daemon that started anyway would serve for ever: give it 30 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            daemon.kill().unwrap();
            panic!("toolcalld started with an encoder that is not there");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut daemon.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("retrieval_encoder") && stderr.contains("/nonexistent/encoder"),
        "{stderr}"
    );
}
