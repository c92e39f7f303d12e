//! Several bundles on one service, on a real private bus: each request on the bundle its
//! `model` option names (the default model and the tiny bundle under two names), bundles
//! loaded on first use and unloaded to make room under `max_models_mb` or when idle, and
//! `ReloadModels` and SIGHUP under load: bundles added, replaced (objects made before keep the
//! old engine), removed, and a corrupt one refused while the old one keeps serving.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use toolcall_client::{Bus, CallOptions, Client, ErrorKind, ModelEntry};
use toolcalld_tests::suite::kind;
use toolcalld_tests::{DEFAULT, Daemon, TINY, TempDir, TestBus, bundle, copy_bundle};

/// One tool without arguments, one call required: the grammar forces the whole answer, so
/// even the tiny bundle's random weights finish it, and the result names the model.
const PING: &str = r#"[{"name": "ping", "description": "Ping.", "parameters": {"type": "object", "properties": {}}}]"#;

fn on(model: Option<&str>) -> CallOptions {
    CallOptions {
        max_calls: Some(1),
        allow_empty: Some(false),
        model: model.map(str::to_string),
        ..CallOptions::default()
    }
}

/// RegisterToolset's options: the bundle, and whether the toolset follows its reloads.
fn registered(model: &str, follow_reloads: bool) -> CallOptions {
    CallOptions {
        model: Some(model.to_string()),
        follow_reloads: follow_reloads.then_some(true),
        ..CallOptions::default()
    }
}

/// A directory of copies of the tiny bundle, one per name.
fn tiny_copies(names: &[&str]) -> TempDir {
    let root = TempDir::new("models");
    for name in names {
        add_tiny(&root.0, name, None);
    }
    root
}

/// Adds a copy of the tiny bundle as `root/name`, written beside it and renamed into place (as
/// an operator replaces a bundle); `version` rewrites its manifest's version, so that its
/// results tell it from the original.
fn add_tiny(root: &Path, name: &str, version: Option<&str>) {
    let staging = root.join(format!(".{name}.new"));
    std::fs::create_dir_all(&staging).unwrap();
    copy_bundle(TINY, &staging);
    if let Some(version) = version {
        let manifest = staging.join("bundle.json");
        let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
        json["version"] = version.into();
        std::fs::write(&manifest, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    }
    let target = root.join(name);
    if target.exists() {
        std::fs::rename(&target, root.join(format!(".{name}.old"))).unwrap();
    }
    std::fs::rename(&staging, &target).unwrap();
}

/// Bytes of the files a bundle lists, what it counts against `max_models_mb`.
fn files_bytes(dir: &Path) -> u64 {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bundle.json")).unwrap()).unwrap();
    let files = manifest["files"].as_object().unwrap().keys();
    files.map(|f| std::fs::metadata(dir.join(f)).unwrap().len()).sum()
}

/// Flips bytes in the middle of a bundle's embedding (its checksum no longer matches).
fn corrupt(dir: &Path) {
    let path = dir.join("embedding.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 64] {
        *b ^= 0xff;
    }
    std::fs::write(&path, bytes).unwrap();
}

/// Sends SIGHUP and waits for the READY=1 that ends the reload.
fn sighup(daemon: &mut Daemon) {
    daemon.drain_notifications();
    let pid = nix::unistd::Pid::from_raw(daemon.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    daemon.wait_for_notification("READY=1", Duration::from_secs(30));
}

async fn client(bus: &TestBus) -> Client {
    Client::connect(&Bus::Address(bus.address.clone())).await.unwrap()
}

async fn models(client: &Client) -> Vec<ModelEntry> {
    client.list_models().await.unwrap()
}

fn entry<'a>(models: &'a [ModelEntry], name: &str) -> &'a ModelEntry {
    models
        .iter()
        .find(|m| m.model == name)
        .unwrap_or_else(|| panic!("no {name} in {models:?}"))
}

fn label(models: &[ModelEntry], name: &str) -> String {
    let info = &entry(models, name).info;
    format!("{} {}", info.name, info.version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_runs_on_the_bundle_it_names() {
    let root = tiny_copies(&["tiny-a", "tiny-b"]);
    let bus = TestBus::start();
    let config = format!("models_dir = {:?}\n", root.0.display().to_string());
    let _daemon = Daemon::start(&bus, &bundle(DEFAULT), &config);
    let client = client(&bus).await;

    let listed = models(&client).await;
    let names: Vec<&str> = listed.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(names, [DEFAULT, "tiny-a", "tiny-b"], "{listed:?}");
    assert!(
        entry(&listed, DEFAULT).default && entry(&listed, DEFAULT).loaded,
        "{listed:?}"
    );
    assert!(!entry(&listed, "tiny-a").loaded, "loaded before first use: {listed:?}");
    let (default_label, tiny_label) = (label(&listed, DEFAULT), label(&listed, "tiny-a"));
    assert_ne!(default_label, tiny_label);
    assert_eq!(client.status().await.unwrap().model, default_label);

    // One-shot calls: the option picks the bundle; without it, the default answers.
    let on_tiny = client.call(PING, "ping", &on(Some("tiny-a"))).await.unwrap();
    assert_eq!(on_tiny.model, tiny_label);
    let listed = models(&client).await;
    assert!(
        entry(&listed, "tiny-a").loaded && !entry(&listed, "tiny-b").loaded,
        "{listed:?}"
    );
    let on_default = client.call(PING, "ping", &on(None)).await.unwrap();
    assert_eq!(on_default.model, default_label);
    let follow_on_a_call = CallOptions {
        follow_reloads: Some(true),
        ..on(None)
    };
    let refused = client.call(PING, "ping", &follow_on_a_call).await;
    assert_eq!(
        kind(refused),
        ErrorKind::InvalidOptions,
        "follow_reloads is RegisterToolset's"
    );
    let unknown = client.call(PING, "ping", &on(Some("tiny-z"))).await;
    let err = unknown.as_ref().unwrap_err().to_string();
    assert_eq!(kind(unknown), ErrorKind::UnknownModel);
    assert!(err.contains("tiny-z") && err.contains("tiny-b"), "{err}");

    // A toolset runs on the bundle it was registered on, and so do its sessions.
    let toolset = client
        .register_toolset_with(PING, &registered("tiny-b", false))
        .await
        .unwrap();
    assert_eq!(toolset.call("ping", &on(None)).await.unwrap().model, tiny_label);
    assert!(entry(&models(&client).await, "tiny-b").loaded);
    assert_eq!(
        kind(toolset.call("ping", &on(Some("tiny-b"))).await),
        ErrorKind::InvalidOptions,
        "a toolset's call takes no model option"
    );
    let session = toolset.open_session().await.unwrap();
    assert_eq!(session.send("ping", &on(None)).await.unwrap().model, tiny_label);
    let raw = toolcall_dbus::ToolsetProxy::builder(client.connection())
        .path(toolset.path().to_string())
        .build()
        .await
        .unwrap();
    let other_model = std::collections::HashMap::from([("model", zbus::Variant::from("tiny-a"))]);
    let refused = raw.open_session(other_model).await.unwrap_err().to_string();
    assert!(
        refused.contains("InvalidOptions") && refused.contains("tiny-b"),
        "{refused}"
    );
    let same_model = std::collections::HashMap::from([("model", zbus::Variant::from("tiny-b"))]);
    raw.open_session(same_model).await.unwrap();
    assert_eq!(
        kind(
            client
                .register_toolset_with(PING, &registered("nope", false))
                .await
                .map(|t| t.path().to_string())
        ),
        ErrorKind::UnknownModel
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_give_way_under_max_models_mb_and_unload_when_idle() {
    // With the default (tiny itself), two tiny bundles fit in max_models_mb, three do not.
    let root = tiny_copies(&["tiny-a", "tiny-b"]);
    let mib = files_bytes(&bundle(TINY)) as f64 / (1 << 20) as f64;
    let bus = TestBus::start();
    let config = format!(
        "models_dir = {:?}\nmax_models_mb = {}\nmodel_idle_unload_s = 2\n",
        root.0.display().to_string(),
        (2.5 * mib) as usize
    );
    let mut daemon = Daemon::start(&bus, &bundle(TINY), &config);
    let client = client(&bus).await;
    let loaded = |models: &[ModelEntry]| -> Vec<String> {
        models.iter().filter(|m| m.loaded).map(|m| m.model.clone()).collect()
    };

    // A toolset holds tiny-a: tiny-b cannot make room, and is refused naming the limit.
    let toolset = client
        .register_toolset_with(PING, &registered("tiny-a", false))
        .await
        .unwrap();
    assert_eq!(loaded(&models(&client).await), [TINY, "tiny-a"]);
    let refused = client.call(PING, "ping", &on(Some("tiny-b"))).await;
    let err = refused.as_ref().unwrap_err().to_string();
    assert_eq!(kind(refused), ErrorKind::LimitExceeded);
    assert!(err.contains("max_models_mb") && err.contains("tiny-b"), "{err}");
    assert_eq!(loaded(&models(&client).await), [TINY, "tiny-a"]);

    // Released, tiny-a gives way to tiny-b; the default never does. (The service drops the
    // released toolset, and with it its hold on tiny-a, just after it answers.)
    toolset.release().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Err(e) = client.call(PING, "ping", &on(Some("tiny-b"))).await {
        assert_eq!(e.kind(), Some(&ErrorKind::LimitExceeded), "{e}");
        assert!(Instant::now() < deadline, "tiny-a did not give way: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(loaded(&models(&client).await), [TINY, "tiny-b"]);

    // Unused past model_idle_unload_s and held by nothing, tiny-b is unloaded (the service
    // looks every 5 s); the default stays.
    let deadline = Instant::now() + Duration::from_secs(20);
    while loaded(&models(&client).await) != [TINY] {
        assert!(
            Instant::now() < deadline,
            "tiny-b still loaded: {:?}",
            models(&client).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // And loaded again when asked for.
    client.call(PING, "ping", &on(Some("tiny-b"))).await.unwrap();

    // SIGHUP with a default_model that names no bundle is refused and the default stays; one
    // that names a bundle makes it the default (loaded, and never unloaded).
    let default_of = |models: &[ModelEntry]| models.iter().find(|m| m.default).map(|m| m.model.clone());
    let config_file = daemon.dir.0.join("toolcalld.toml");
    for (wanted, expected) in [("tiny-z", TINY), ("tiny-a", "tiny-a")] {
        std::fs::write(&config_file, format!("{config}default_model = {wanted:?}\n")).unwrap();
        sighup(&mut daemon);
        let listed = models(&client).await;
        assert_eq!(default_of(&listed).as_deref(), Some(expected), "{listed:?}");
        assert!(entry(&listed, expected).loaded, "{listed:?}");
    }
    assert!(
        daemon.log().contains("config/default_model: refused"),
        "{}",
        daemon.log()
    );
    assert_eq!(
        client.call(PING, "ping", &on(None)).await.unwrap().model,
        label(&models(&client).await, "tiny-a")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_keeps_requests_and_refuses_a_corrupt_bundle() {
    let root = tiny_copies(&["tiny-a", "tiny-b"]);
    let bus = TestBus::start();
    let config = format!("models_dir = {:?}\n", root.0.display().to_string());
    let mut daemon = Daemon::start(&bus, &bundle(TINY), &config);
    let client = client(&bus).await;
    let old_label = label(&models(&client).await, "tiny-a");
    let held = client
        .register_toolset_with(PING, &registered("tiny-a", false))
        .await
        .unwrap();
    let following = client
        .register_toolset_with(PING, &registered("tiny-a", true))
        .await
        .unwrap();
    let early_session = following.open_session().await.unwrap();

    // Clients keep calling tiny-a while it is replaced, tiny-b removed, tiny-c and tiny-f added
    // and a corrupt tiny-d refused.
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..3)
        .map(|_| {
            let (client, stop, count) = (client.clone(), stop.clone(), count.clone());
            tokio::spawn(async move {
                let mut answered = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    answered.push(client.call(PING, "ping", &on(Some("tiny-a"))).await);
                    count.fetch_add(1, Ordering::SeqCst);
                }
                answered
            })
        })
        .collect();
    let answers_after = |n: usize| {
        let count = count.clone();
        async move {
            let (from, deadline) = (count.load(Ordering::SeqCst), Instant::now() + Duration::from_secs(30));
            while count.load(Ordering::SeqCst) < from + n {
                assert!(Instant::now() < deadline, "the calls stalled");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    answers_after(6).await;
    add_tiny(&root.0, "tiny-a", Some("0.1.0-replaced"));
    std::fs::rename(root.0.join("tiny-b"), root.0.join(".tiny-b.gone")).unwrap();
    add_tiny(&root.0, "tiny-c", None);
    add_tiny(&root.0, "tiny-f", None);
    add_tiny(&root.0, "tiny-d", None);
    corrupt(&root.0.join("tiny-d"));
    let outcome = client.reload_models().await.unwrap();
    answers_after(6).await;
    stop.store(true, Ordering::SeqCst);
    let mut labels = Vec::new();
    for task in load {
        for answer in task.await.unwrap() {
            labels.push(answer.expect("a call in flight during the reload failed").model);
        }
    }
    assert_eq!(outcome["tiny-a"], "replaced", "{outcome:?}");
    assert_eq!(outcome["tiny-b"], "removed", "{outcome:?}");
    assert_eq!(outcome["tiny-c"], "added", "{outcome:?}");
    assert_eq!(outcome[TINY], "unchanged", "{outcome:?}");
    assert!(
        outcome["tiny-d"].starts_with("refused") && outcome["tiny-d"].contains("corrupt"),
        "{outcome:?}"
    );
    let new_label = "toolcalld-tiny-random 0.1.0-replaced".to_string();
    assert!(labels.contains(&old_label) && labels.contains(&new_label), "{labels:?}");

    let listed = models(&client).await;
    let names: Vec<&str> = listed.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(names, [TINY, "tiny-a", "tiny-c", "tiny-f"], "{listed:?}");
    assert_eq!(label(&listed, "tiny-a"), new_label);
    assert_eq!(
        client.call(PING, "ping", &on(Some("tiny-a"))).await.unwrap().model,
        new_label
    );
    // The toolset made before the reload still runs on the engine it was made on, unless it
    // follows reloads: then its next call moves it (sessions opened before stay).
    assert_eq!(held.call("ping", &on(None)).await.unwrap().model, old_label);
    assert_eq!(following.call("ping", &on(None)).await.unwrap().model, new_label);
    assert_eq!(early_session.send("ping", &on(None)).await.unwrap().model, old_label);
    let late_session = following.open_session().await.unwrap();
    assert_eq!(late_session.send("ping", &on(None)).await.unwrap().model, new_label);
    assert!(daemon.log().contains("moved to the reloaded model tiny-a"));
    assert_eq!(
        kind(client.call(PING, "ping", &on(Some("tiny-b"))).await),
        ErrorKind::UnknownModel
    );

    // A corrupt replacement is refused: a loaded bundle it was meant to replace keeps
    // serving, one not loaded (its files are gone) is no longer served. SIGHUP reloads as
    // ReloadModels does.
    client.call(PING, "ping", &on(Some("tiny-c"))).await.unwrap();
    add_tiny(&root.0, "tiny-c", Some("0.1.0-broken"));
    corrupt(&root.0.join("tiny-c"));
    add_tiny(&root.0, "tiny-f", Some("0.1.0-broken"));
    corrupt(&root.0.join("tiny-f"));
    let refused = client.reload_models().await.unwrap();
    assert!(
        refused["tiny-c"].starts_with("refused") && refused["tiny-c"].contains("keeps serving"),
        "{refused:?}"
    );
    assert!(refused["tiny-f"].starts_with("refused"), "{refused:?}");
    assert_eq!(
        kind(client.call(PING, "ping", &on(Some("tiny-f"))).await),
        ErrorKind::UnknownModel
    );
    add_tiny(&root.0, "tiny-e", None);
    sighup(&mut daemon);
    let listed = models(&client).await;
    assert!(listed.iter().any(|m| m.model == "tiny-e"), "{listed:?}");
    assert_eq!(
        label(&listed, "tiny-c"),
        old_label,
        "the corrupt tiny-c replaced the good one"
    );
    client.call(PING, "ping", &on(Some("tiny-c"))).await.unwrap();
    let log = daemon.log();
    assert!(
        log.contains("reload: model tiny-c: refused") && log.contains("corrupt"),
        "{log}"
    );

    // A bundle not in memory whose files changed without a reload is not loaded under its old
    // manifest: ModelError until a reload reads it again.
    add_tiny(&root.0, "tiny-e", Some("0.1.0-swapped"));
    let swapped = client.call(PING, "ping", &on(Some("tiny-e"))).await;
    let err = swapped.as_ref().unwrap_err().to_string();
    assert_eq!(kind(swapped), ErrorKind::ModelError);
    assert!(err.contains("changed on disk"), "{err}");
    assert_eq!(client.reload_models().await.unwrap()["tiny-e"], "replaced");
    let answer = client.call(PING, "ping", &on(Some("tiny-e"))).await.unwrap();
    assert_eq!(answer.model, "toolcalld-tiny-random 0.1.0-swapped");
}
