//! Tool lists as the libraries users work with generate them: Pydantic v2 models
//! (`fixtures/schemas/pydantic_tools.json`, `$defs`/`$ref`, optionals as `anyOf` with null,
//! unions) in the OpenAI, MCP and Anthropic tool forms, and the tools real MCP servers list
//! (`model/data/public_tools.json`, zod-to-json-schema output). Each compiles, and every answer
//! of the tiny random-weight bundle validates against the schema as the caller wrote it
//! (references and all), checked by an independent validator. Shapes still outside the
//! subset are `InvalidTools` errors that name the reference and its JSON path.

mod common;

use std::path::PathBuf;

use serde_json::{Value, json};
use toolcall_engine::tools::parse_tools;
use toolcall_engine::{CallOptions, Engine, EngineLimits, Error, Limit, ToolLimits};

fn read(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// (label, tool list) pairs: each Pydantic form, and each MCP server's tools one by one (the
/// tiny bundle's context holds one of the longest).
fn generated_toolsets() -> Vec<(String, Vec<Value>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let pydantic = read(root.join("tests/fixtures/schemas/pydantic_tools.json"));
    for (form, tools) in pydantic["toolsets"].as_object().unwrap() {
        out.push((format!("pydantic/{form}"), tools.as_array().unwrap().clone()));
    }
    let public = read(root.join("../model/data/public_tools.json"));
    for source in public["sources"].as_array().unwrap() {
        let tools = source["tools"].as_array().unwrap();
        for tool in tools {
            out.push((
                format!("{}/{}", source["package"].as_str().unwrap(), tool["name"]),
                vec![tool.clone()],
            ));
        }
    }
    out
}

/// The schema a tool was written with, in whichever form it came.
fn written_schema(tool: &Value) -> &Value {
    let tool = tool.get("function").unwrap_or(tool);
    ["parameters", "inputSchema", "input_schema"]
        .iter()
        .find_map(|k| tool.get(*k))
        .expect("the fixture's tool has a schema")
}

fn name_of(tool: &Value) -> &str {
    tool.get("function").unwrap_or(tool)["name"].as_str().unwrap()
}

#[test]
fn generated_schemas_compile_and_every_answer_validates_against_them() {
    let engine = Engine::load(&common::bundle(common::TINY), EngineLimits::default()).expect("tiny bundle loads");
    let queries = [
        "turn on the kitchen light",
        "order two of sku A1 to 5 Main St, Springfield",
        "x",
    ];
    let (mut toolsets, mut calls_seen, mut budget_hits, mut too_long) = (0, 0, 0, 0);
    for (label, tools) in generated_toolsets() {
        let tools_json = serde_json::to_string(&tools).unwrap();
        let toolset = match engine.compile_toolset(&tools_json) {
            Ok(t) => t,
            // A few published tools are longer than the tiny bundle's context: they must parse.
            Err(Error::LimitExceeded {
                limit: Limit::ContextLength,
                ..
            }) => {
                parse_tools(&tools_json, &ToolLimits::default()).unwrap_or_else(|e| panic!("{label}: {e}"));
                too_long += 1;
                continue;
            }
            Err(e) => panic!("{label}: {e}"),
        };
        toolsets += 1;
        let asked = if label.starts_with("pydantic/") {
            &queries[..]
        } else {
            &queries[..1]
        };
        for query in asked {
            let options = CallOptions {
                max_calls: Some(2),
                allow_empty: Some(false),
                max_new_tokens: Some(300),
                ..CallOptions::default()
            };
            let result = match engine.call(&toolset, query, &options) {
                Ok(r) => r,
                Err(Error::LimitExceeded {
                    limit: Limit::MaxNewTokens,
                    ..
                }) => {
                    eprintln!("{label}: token budget");
                    budget_hits += 1;
                    continue;
                }
                Err(e) => panic!("{label}: {e}"),
            };
            for call in &result.function_calls {
                let tool = tools.iter().find(|t| name_of(t) == call.name).expect("a listed tool");
                let validator = jsonschema::validator_for(written_schema(tool)).unwrap();
                let errors: Vec<String> = validator.iter_errors(&call.arguments).map(|e| e.to_string()).collect();
                assert!(
                    errors.is_empty(),
                    "{label}: {} does not validate: {errors:?}",
                    call.arguments
                );
                calls_seen += 1;
            }
        }
    }
    eprintln!(
        "{toolsets} tool lists, {calls_seen} calls validated, {budget_hits} hit the token budget, {too_long} too long"
    );
    assert!(too_long <= 5, "{too_long} tools did not fit the tiny bundle's context");
    assert!(toolsets >= 6, "too few generated tool lists ({toolsets})");
    assert!(
        calls_seen * 3 >= toolsets * 2,
        "too few calls to test anything ({calls_seen})"
    );
}

/// The model sees the schema without references: what it must write is in the prompt.
#[test]
fn the_prompt_shows_the_schema_with_references_inlined() {
    let engine = Engine::load(&common::bundle(common::TINY), EngineLimits::default()).unwrap();
    let tools = json!([{"name": "set_light", "inputSchema": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$defs": {"Room": {"type": "string", "enum": ["kitchen", "hall"]}},
        "type": "object", "properties": {"room": {"$ref": "#/$defs/Room"}}, "required": ["room"],
    }}]);
    let toolset = engine.compile_toolset(&tools.to_string()).unwrap();
    let shown = serde_json::to_string(&toolset.tools()[0]).unwrap();
    assert_eq!(
        shown,
        r#"{"name":"set_light","parameters":{"type":"object","properties":{"room":{"type":"string","enum":["kitchen","hall"]}},"required":["room"]}}"#
    );
}

#[test]
fn references_outside_the_subset_are_named_errors() {
    let engine = Engine::load(&common::bundle(common::TINY), EngineLimits::default()).unwrap();
    let cases = [
        (
            json!({"type": "object", "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
                   "properties": {"head": {"$ref": "#/$defs/N"}}}),
            "refers to itself",
        ),
        (
            json!({"type": "object", "properties": {"a": {"$ref": "https://example.org/a.json"}}}),
            "is not a local reference",
        ),
        (
            json!({"type": "object", "properties": {"a": {"$ref": "#/$defs/Missing"}}}),
            "names no schema",
        ),
    ];
    for (schema, why) in cases {
        let tools = json!([{"name": "t", "parameters": schema}]).to_string();
        match engine.compile_toolset(&tools) {
            Err(Error::InvalidTools { path, message }) => {
                assert!(path.ends_with(".$ref"), "{path}");
                assert!(message.contains(why), "{message}");
            }
            other => panic!("expected InvalidTools for {schema}, got {:?}", other.map(|_| ())),
        }
    }
    let both = json!([{"name": "t", "parameters": {"type": "object"}, "inputSchema": {"type": "object"}}]);
    assert!(matches!(
        engine.compile_toolset(&both.to_string()),
        Err(Error::InvalidTools { .. })
    ));
}
