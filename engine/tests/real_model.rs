//! The real default model (SmolLM2-135M-Instruct bundle) end to end in the engine: schema-valid
//! calls, `allow_empty=false`, determinism, prefix reuse, multi-turn sessions, and the errors a
//! caller can provoke.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use toolcall_engine::{CallOptions, Engine, EngineLimits, Error, Limit};

const TOOLS: &str = include_str!("fixtures/home_tools.json");

fn engine() -> Engine {
    Engine::load(&common::bundle(common::DEFAULT), EngineLimits::default()).expect("default bundle loads")
}

fn validate(tools: &serde_json::Value, name: &str, arguments: &serde_json::Value) {
    let tool = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .expect("a declared tool");
    let validator = jsonschema::validator_for(&tool["parameters"]).unwrap();
    let errors: Vec<String> = validator.iter_errors(arguments).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{name}({arguments}) invalid: {errors:?}");
}

#[test]
fn real_model_calls_tools() {
    let engine = engine();
    let tools: serde_json::Value = serde_json::from_str(TOOLS).unwrap();
    let toolset = engine.compile_toolset(TOOLS).unwrap();
    let required = CallOptions {
        allow_empty: Some(false),
        ..CallOptions::default()
    };

    // An obviously matching tool gives a schema-valid call.
    let first = engine.call(&toolset, "Set a timer for 10 minutes", &required).unwrap();
    eprintln!("timer: {} ({:?})", first.text, first.timings);
    assert!(!first.function_calls.is_empty(), "allow_empty=false returned no call");
    for call in &first.function_calls {
        validate(&tools, &call.name, &call.arguments);
    }
    assert!(
        first.timings.cached_tokens > 100,
        "the toolset prefix was not reused: {:?}",
        first.timings
    );
    assert!(
        first.timings.decode_steps < first.timings.generated_tokens,
        "no token was fast-forwarded"
    );

    // Same input, same output.
    let again = engine.call(&toolset, "Set a timer for 10 minutes", &required).unwrap();
    assert_eq!(again.text, first.text);
    assert_eq!(again.confidence, first.confidence);

    for query in [
        "Dim the kitchen lights to 30 percent",
        "What's the weather in Paris tomorrow?",
        "hello",
    ] {
        let r = engine.call(&toolset, query, &CallOptions::default()).unwrap();
        eprintln!("{query}: {} confidence {:.3}", r.text, r.confidence);
        for call in &r.function_calls {
            validate(&tools, &call.name, &call.arguments);
        }
        let r = engine.call(&toolset, query, &required).unwrap();
        assert!(
            !r.function_calls.is_empty(),
            "{query}: allow_empty=false returned no call"
        );
    }
}

/// Two values, two calls. The grammar forces the text after a call's last string value; a
/// forced run that ended on `"` (where the model writes `"}` when another call follows) made
/// the model close the list after the first call (`Engine::take_forced_tokens`).
#[test]
fn a_forced_run_does_not_end_the_answer_early() {
    let engine = engine();
    let tools = r#"[{"name": "temperature_converter", "description": "Convert a temperature between scales.",
        "parameters": {"type": "object", "properties": {"value": {"type": "number"},
            "from_scale": {"type": "string", "description": "Unit of the value (temperature scale)", "enum": ["celsius", "fahrenheit", "kelvin"]},
            "to_scale": {"type": "string", "description": "Unit to convert to", "enum": ["celsius", "fahrenheit", "kelvin"]}},
        "required": ["value", "from_scale", "to_scale"]}}]"#;
    let toolset = engine.compile_toolset(tools).unwrap();
    let options = CallOptions {
        max_calls: Some(8),
        ..CallOptions::default()
    };
    let answer = engine
        .call(&toolset, "Convert 96 and 162 kelvin to degrees Celsius.", &options)
        .unwrap();
    let values: Vec<f64> = answer
        .function_calls
        .iter()
        .map(|call| call.arguments["value"].as_f64().unwrap_or(f64::NAN))
        .collect();
    assert_eq!(values, [96.0, 162.0], "{}", answer.text);
}

#[test]
fn sessions_continue_from_tool_results() {
    let engine = engine();
    let toolset = Arc::new(engine.compile_toolset(TOOLS).unwrap());
    let mut session = engine.open_session(toolset.clone());
    let options = CallOptions {
        allow_empty: Some(false),
        ..CallOptions::default()
    };

    let err = engine
        .submit_tool_results(&mut session, "[]", &CallOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidQuery(_)), "{err}");

    let start = session.len();
    let first = engine
        .send(&mut session, "What's the weather in Paris?", &options)
        .unwrap();
    assert!(!first.function_calls.is_empty());
    let after_first = session.len();
    assert!(after_first > start);
    let second = engine
        .submit_tool_results(
            &mut session,
            r#"[{"name":"get_weather","result":{"sky":"rain","celsius":9}}]"#,
            &CallOptions::default(),
        )
        .unwrap();
    eprintln!("after results: {}", second.text);
    assert!(
        second.timings.cached_tokens > first.timings.prompt_tokens,
        "the session's KV cache was not reused"
    );
    assert!(session.len() > after_first);

    // A failed turn leaves the session unchanged.
    let before = session.len();
    let huge = CallOptions {
        max_new_tokens: Some(100_000),
        ..CallOptions::default()
    };
    assert!(matches!(
        engine.send(&mut session, "again", &huge),
        Err(Error::LimitExceeded { .. })
    ));
    assert_eq!(session.len(), before);

    engine.reset_session(&mut session);
    assert_eq!(session.len(), toolset.prefix_tokens());
}

#[test]
fn bad_requests_get_typed_errors() {
    let engine = engine();
    let toolset = engine.compile_toolset(TOOLS).unwrap();
    let call = |q: &str, o: &CallOptions| engine.call(&toolset, q, o);
    let default = CallOptions::default();

    assert!(matches!(call("", &default), Err(Error::InvalidQuery(_))));
    assert!(
        matches!(call("hi <|im_start|>system", &default), Err(Error::InvalidQuery(m)) if m.contains("control token"))
    );
    assert!(matches!(call("nul \0 byte", &default), Err(Error::InvalidQuery(_))));
    let long = "a".repeat(100_000);
    assert!(matches!(
        call(&long, &default),
        Err(Error::LimitExceeded {
            limit: Limit::QueryChars,
            ..
        })
    ));
    let zero_calls = CallOptions {
        max_calls: Some(0),
        ..CallOptions::default()
    };
    assert!(matches!(call("x", &zero_calls), Err(Error::InvalidOptions(_))));
    let bad_facts = CallOptions {
        facts: Some("<|im_end|>".into()),
        ..CallOptions::default()
    };
    assert!(matches!(call("x", &bad_facts), Err(Error::InvalidOptions(_))));
    let one_token = CallOptions {
        max_new_tokens: Some(1),
        allow_empty: Some(false),
        ..CallOptions::default()
    };
    assert!(matches!(
        call("set a timer for 5 minutes", &one_token),
        Err(Error::LimitExceeded {
            limit: Limit::MaxNewTokens,
            ..
        })
    ));
    let cancelled = CallOptions {
        cancel: Some(Arc::new(AtomicBool::new(true))),
        ..CallOptions::default()
    };
    assert!(matches!(call("x", &cancelled), Err(Error::Cancelled)));
    let late = CallOptions {
        deadline: Some(std::time::Instant::now()),
        ..CallOptions::default()
    };
    assert!(matches!(call("x", &late), Err(Error::Timeout { .. })));

    // Tools whose prompt cannot fit the context.
    let many: Vec<serde_json::Value> = (0..60)
        .map(|i| serde_json::json!({"name": format!("t{i}"), "description": "word ".repeat(150), "parameters": {"type": "object"}}))
        .collect();
    let err = engine
        .compile_toolset(&serde_json::to_string(&many).unwrap())
        .err()
        .expect("tools too long");
    assert!(
        matches!(
            err,
            Error::LimitExceeded {
                limit: Limit::ContextLength,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn missing_or_corrupt_bundles_fail_clearly() {
    let missing = std::env::temp_dir().join("toolcalld-no-such-bundle");
    let err = Engine::load(&missing, EngineLimits::default())
        .err()
        .expect("missing bundle fails");
    assert!(
        matches!(err, Error::Bundle { .. }) && err.to_string().contains("bundle.json"),
        "{err}"
    );

    let dir = std::env::temp_dir().join(format!("toolcalld-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tiny = common::bundle(common::TINY);
    let files = [
        "bundle.json",
        "tokenizer.json",
        "model.onnx",
        "model.onnx.data",
        "embedding.bin",
    ];
    let copy_tiny = || {
        for f in files {
            std::fs::copy(tiny.join(f), dir.join(f)).unwrap();
        }
    };
    let load_err = || {
        Engine::load(&dir, EngineLimits::default())
            .err()
            .expect("broken bundle fails")
            .to_string()
    };
    // Each file bundle.json lists is checked: the graph, its weights, the embedding, the tokenizer.
    for f in ["model.onnx", "model.onnx.data", "embedding.bin", "tokenizer.json"] {
        copy_tiny();
        let mut bytes = std::fs::read(dir.join(f)).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(dir.join(f), &bytes).unwrap();
        let err = load_err();
        assert!(err.contains(&format!("{f} is corrupt")), "{err}");
    }
    copy_tiny();
    std::fs::remove_file(dir.join("model.onnx.data")).unwrap();
    let err = load_err();
    assert!(err.contains("cannot read model.onnx.data"), "{err}");

    // An embedding table of another size than the architecture's (its checksum recorded):
    // refused at load, not read out of bounds.
    copy_tiny();
    let short = std::fs::read(dir.join("embedding.bin")).unwrap()[..1000].to_vec();
    std::fs::write(dir.join("embedding.bin"), &short).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bundle.json")).unwrap()).unwrap();
    manifest["files"]["embedding.bin"] = sha256_hex(&short).into();
    std::fs::write(dir.join("bundle.json"), manifest.to_string()).unwrap();
    let err = load_err();
    assert!(err.contains("embedding table of 1000 bytes"), "{err}");

    // A table whose size does not fit the type its manifest declares (float32 rows said to be
    // Q8_0), and a type this engine no longer reads (the float16 tables before Q8_0).
    for (declared, expected) in [("q8_0", "Q8_0 values take"), ("float16", "float16")] {
        copy_tiny();
        let mut manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("bundle.json")).unwrap()).unwrap();
        manifest["quantization"]["embedding"] = declared.into();
        std::fs::write(dir.join("bundle.json"), manifest.to_string()).unwrap();
        let err = load_err();
        assert!(err.contains(expected), "{err}");
    }

    // A weight form this engine does not know.
    copy_tiny();
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bundle.json")).unwrap()).unwrap();
    manifest["quantization"]["form"] = "q3".into();
    std::fs::write(dir.join("bundle.json"), manifest.to_string()).unwrap();
    let err = load_err();
    assert!(err.contains("bad bundle.json") && err.contains("q3"), "{err}");

    // A manifest may only name files inside the bundle.
    copy_tiny();
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bundle.json")).unwrap()).unwrap();
    manifest["files"]["../bundle.json"] = manifest["files"]["model.onnx"].clone();
    std::fs::write(dir.join("bundle.json"), manifest.to_string()).unwrap();
    let err = load_err();
    assert!(err.contains("not a file name in the bundle"), "{err}");
    copy_tiny();

    // A bundle whose checksums match but whose graph is garbage: tract's error, as a Bundle error.
    std::fs::write(dir.join("model.onnx"), b"not a protobuf").unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bundle.json")).unwrap()).unwrap();
    manifest["files"]["model.onnx"] = sha256_hex(b"not a protobuf").into();
    std::fs::write(dir.join("bundle.json"), manifest.to_string()).unwrap();
    let err = Engine::load(&dir, EngineLimits::default())
        .err()
        .expect("garbage graph fails");
    assert!(matches!(err, Error::Bundle { .. }), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A string the model copies cannot outgrow the token budget: with 48 tokens and a message of
/// ~280 characters to copy, the grammar's string bound (half the budget: 16 characters)
/// applies to the real model too, and the answer completes. (Without the bound the model
/// writes a longer string here: the length assertion fails.)
#[test]
fn a_long_string_to_copy_is_cut_to_the_bound_not_left_open() {
    let engine = engine();
    let tools = r#"[{"name": "send_message", "description": "Send a text message.", "parameters": {"type": "object",
        "properties": {"to": {"type": "string"}, "text": {"type": "string"}}, "required": ["to", "text"]}}]"#;
    let toolset = engine.compile_toolset(tools).unwrap();
    let message = "I am running about twenty minutes late because the train stopped outside the station \
                   for a signal failure, so please start the meeting without me, share the slides from the \
                   shared folder, and I will join as soon as I can; also tell Ben that the budget review moves";
    let options = CallOptions {
        allow_empty: Some(false),
        max_calls: Some(1),
        max_new_tokens: Some(48),
        ..CallOptions::default()
    };
    let result = engine
        .call(&toolset, &format!("text Anna: {message}"), &options)
        .expect("the answer completes within 48 tokens");
    let text = result.function_calls[0].arguments["text"].as_str().unwrap();
    assert!(text.chars().count() <= 16, "{text:?}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
