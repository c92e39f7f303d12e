//! toolcall-eval: accuracy of a bundle on a JSON-lines evaluation set, through the engine
//! exactly as the daemon serves it (prompt, grammar, greedy decoding).
//!
//!     toolcall-eval BUNDLE_DIR EVAL.jsonl [--limit N]
//!
//! Input lines: `{"tools": [...], "facts": "..."?, "query": "...", "answer": [calls], "kind": "..."?}`.
//! A case is correct when the set of calls equals the expected set (names and arguments, as
//! JSON values). Prints one JSON summary on stdout: accuracy overall and per kind (home,
//! general, multi, negative: inferred when `kind` is absent), latency, tokens.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::{Value, json};
use toolcall_engine::{CallOptions, Engine, EngineLimits};

fn kind_of(case: &Value) -> String {
    if let Some(k) = case["kind"].as_str() {
        return k.to_string();
    }
    let answer = case["answer"].as_array().map_or(0, Vec::len);
    match answer {
        0 => "negative".into(),
        1 if case["facts"].as_str().is_some_and(|f| f.contains("areas:")) => "home".into(),
        1 => "general".into(),
        _ => "multi".into(),
    }
}

fn canonical(calls: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = calls.iter().map(|c| serde_json::to_string(c).unwrap()).collect();
    v.sort();
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: toolcall-eval BUNDLE_DIR EVAL.jsonl [--limit N]");
        std::process::exit(2);
    }
    let limit = args
        .iter()
        .position(|a| a == "--limit")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok());
    let engine = Engine::load(&PathBuf::from(&args[1]), EngineLimits::default()).unwrap_or_else(|e| {
        eprintln!("toolcall-eval: {e}");
        std::process::exit(1)
    });
    let file = std::fs::File::open(&args[2]).unwrap_or_else(|e| {
        eprintln!("toolcall-eval: {}: {e}", args[2]);
        std::process::exit(2)
    });
    let mut per_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut total_ms, mut n, mut errors) = (0.0, 0usize, 0usize);
    let started = Instant::now();
    for line in std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .take(limit.unwrap_or(usize::MAX))
    {
        let case: Value = serde_json::from_str(&line).expect("eval line is JSON");
        let tools = serde_json::to_string(&case["tools"]).unwrap();
        let options = CallOptions {
            facts: case["facts"].as_str().map(str::to_string),
            ..CallOptions::default()
        };
        let t = Instant::now();
        let got = engine
            .compile_toolset(&tools)
            .and_then(|toolset| engine.call(&toolset, case["query"].as_str().unwrap_or_default(), &options));
        total_ms += t.elapsed().as_secs_f64() * 1000.0;
        n += 1;
        let expected = canonical(case["answer"].as_array().map(Vec::as_slice).unwrap_or_default());
        let correct = match &got {
            Ok(result) => {
                let calls: Vec<Value> = result
                    .function_calls
                    .iter()
                    .map(|c| json!({"name": c.name, "arguments": c.arguments}))
                    .collect();
                canonical(&calls) == expected
            }
            Err(e) => {
                errors += 1;
                eprintln!("error on {:?}: {e}", case["query"]);
                false
            }
        };
        if !correct && std::env::var_os("TOOLCALL_EVAL_VERBOSE").is_some() {
            let text = got.as_ref().map(|r| r.text.clone()).unwrap_or_else(|e| e.to_string());
            eprintln!(
                "MISS {:?}\n  expected {}\n  got      {text}",
                case["query"],
                serde_json::to_string(&case["answer"]).unwrap()
            );
        }
        let entry = per_kind.entry(kind_of(&case)).or_default();
        entry.0 += usize::from(correct);
        entry.1 += 1;
    }
    let correct: usize = per_kind.values().map(|(c, _)| c).sum();
    let kinds: BTreeMap<String, Value> = per_kind
        .iter()
        .map(|(k, (c, t))| {
            (
                k.clone(),
                json!({"correct": c, "total": t, "accuracy": *c as f64 / *t as f64}),
            )
        })
        .collect();
    let summary = json!({
        "bundle": engine.manifest().name,
        "eval_file": args[2],
        "cases": n,
        "accuracy": correct as f64 / n.max(1) as f64,
        "errors": errors,
        "per_kind": kinds,
        "mean_case_ms": total_ms / n.max(1) as f64,
        "wall_s": started.elapsed().as_secs_f64(),
    });
    println!("{}", serde_json::to_string_pretty(&summary).unwrap());
}
