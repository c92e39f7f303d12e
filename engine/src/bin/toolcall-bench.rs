//! toolcall-bench: speed and memory of a bundle under the engine (results and the commands
//! that produced them: docs/PERFORMANCE.md).
//!
//!     toolcall-bench BUNDLE_DIR [--prompt-tokens 256] [--decode-tokens 64] [--runs 5] [--threads 1] [--call-spec FILE]
//!
//! Prints JSON: load time; prefill tok/s on a fresh state; decode tok/s one token per step;
//! query->call latency cold (compile the tools, then call) and on a registered toolset
//! (prefix cached); RSS once the bundle is loaded (VmRSS) and at its peak (VmHWM), with
//! toolcalld's heap settings. Medians over runs.
//! `--threads N`: the matmuls and attention of each forward pass on N threads (toolcalld's `threads`).
//! `--call-spec FILE` also writes what another engine needs to make the same call the same
//! way (scripts/bench-vs-llamacpp.py): the token ids of the toolset's prefix and of the user
//! turn, the answer's JSON Schema, the end tokens, and the answer this engine gave.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use toolcall_engine::options::{DEFAULT_MAX_CALLS, DEFAULT_MAX_NEW_TOKENS};
use toolcall_engine::{CallOptions, Engine, EngineLimits, grammar, prompt};

const TOOLS: &str = include_str!("../../tests/fixtures/home_tools.json");

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A line of /proc/self/status in MB: `VmHWM` (peak RSS), `VmRSS` (RSS now).
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    // The heap settings toolcalld runs with, so peak RSS is the daemon's.
    toolcall_engine::memory::bound_heap_growth();
    let args: Vec<String> = std::env::args().collect();
    let Some(bundle) = args.get(1).filter(|a| !a.starts_with("--")) else {
        eprintln!(
            "usage: toolcall-bench BUNDLE_DIR [--prompt-tokens N] [--decode-tokens N] [--runs N] [--threads N] [--call-spec FILE]"
        );
        std::process::exit(2);
    };
    let (prompt_tokens, decode_tokens, runs) = (
        arg(&args, "--prompt-tokens", 256),
        arg(&args, "--decode-tokens", 64),
        arg(&args, "--runs", 5),
    );
    let threads = arg(&args, "--threads", 1);
    toolcall_engine::set_threads(threads);
    let started = Instant::now();
    let engine = Engine::load(&PathBuf::from(bundle), EngineLimits::default()).unwrap_or_else(|e| {
        eprintln!("toolcall-bench: {e}");
        std::process::exit(1)
    });
    let load_s = started.elapsed().as_secs_f64();
    let loaded_rss_mb = status_mb("VmRSS");
    let decoder = engine.decoder();
    let text = "The kitchen lights, the bedroom lamp and the garage door are on the first floor. ".repeat(500);
    let mut ids = engine.tokenize(&text).expect("tokenize");
    ids.truncate(prompt_tokens);

    let (mut prefill, mut decode) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let mut state = decoder.new_state().expect("state");
        let t = Instant::now();
        let mut logits = decoder.forward_logits(&mut state, &ids).expect("prefill");
        prefill.push(ids.len() as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        for _ in 0..decode_tokens {
            let next = logits
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i as u32)
                .unwrap();
            logits = decoder.forward_logits(&mut state, &[next]).expect("decode");
        }
        decode.push(decode_tokens as f64 / t.elapsed().as_secs_f64());
    }

    let query = "Set a timer for 10 minutes";
    let options = CallOptions {
        allow_empty: Some(false),
        ..CallOptions::default()
    };
    let (mut cold, mut warm, mut generated, mut steps, mut answer) = (Vec::new(), Vec::new(), 0, 0, String::new());
    let mut last_toolset = None;
    for _ in 0..runs {
        let t = Instant::now();
        let toolset = engine.compile_toolset(TOOLS).expect("tools");
        engine.call(&toolset, query, &options).expect("call");
        cold.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let result = engine.call(&toolset, query, &options).expect("call");
        warm.push(t.elapsed().as_secs_f64() * 1000.0);
        generated = result.timings.generated_tokens;
        steps = result.timings.decode_steps;
        answer = result.text;
        last_toolset = Some(toolset);
    }
    if let Some(path) = args
        .iter()
        .position(|a| a == "--call-spec")
        .and_then(|i| args.get(i + 1))
    {
        let toolset = last_toolset.expect("--runs 1 or more");
        let special = &engine.manifest().special_tokens;
        let spec = json!({
            "system_ids": engine.tokenize(&prompt::render_system(toolset.tools())).expect("tokenize"),
            "user_ids": engine.tokenize(&prompt::render_user(query, None)).expect("tokenize"),
            "answer_schema": grammar::answer_schema(
                toolset.tools(),
                DEFAULT_MAX_CALLS,
                false,
                grammar::string_bound(prompt::render_user(query, None).chars().count(), DEFAULT_MAX_NEW_TOKENS),
            ),
            "end_ids": [special.eos, special.im_end],
            "answer": answer,
        });
        std::fs::write(path, spec.to_string()).expect("write the call spec");
    }
    let summary = json!({
        "bundle": engine.manifest().name,
        "threads": threads,
        "load_s": load_s,
        "prompt_tokens": ids.len(),
        "prefill_tok_s": median(prefill),
        "decode_tokens": decode_tokens,
        "decode_tok_s": median(decode),
        "call_cold_ms": median(cold),
        "call_registered_ms": median(warm),
        "call_generated_tokens": generated,
        "call_decode_steps": steps,
        "loaded_rss_mb": loaded_rss_mb,
        "peak_rss_mb": status_mb("VmHWM"),
        "runs": runs,
    });
    println!("{}", serde_json::to_string_pretty(&summary).unwrap());
}
