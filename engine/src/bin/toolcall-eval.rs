//! toolcall-eval: accuracy of a bundle on a JSON-lines evaluation set, through the engine
//! exactly as the daemon serves it (prompt, grammar, greedy decoding).
//!
//!     toolcall-eval BUNDLE_DIR EVAL.jsonl [--limit N] [--jobs N] [--max-calls N] [--max-new-tokens N] [--call-margin M] [--margin-sweep M1,M2,..] [--predictions OUT.jsonl] [--retrieve K [--encoder DIR]] [--unconstrained]
//!
//! Input lines: `{"id"?, "tools": [...], "facts": "..."?, "query": "...", "answer": [calls], "kind": "..."?}`.
//! A case is correct when the set of calls equals the expected set (names and arguments, as
//! JSON values; numbers by value, `25` = `25.0`). Prints one JSON summary on stdout: accuracy
//! overall and per kind (home, general, multi, negative: inferred when `kind` is absent),
//! latency, tokens.
//!
//! `--max-calls` and `--max-new-tokens` set the request options of every case (defaults as
//! the daemon's: 3 calls, 256 tokens).
//! Cases run on `--jobs` threads (default 1) sharing one engine; a tool list is compiled once
//! and reused by later cases with the same tools (the last 32 are kept), as the daemon's cache
//! does: a case's time includes compiling its tools only when no recent case used them.
//! `--predictions` writes one line per case, in input order: `{"id", "function_calls",
//! "error", "total_ms", "go_on_gaps", "confidence", "correct"}` (scored by other checkers, e.g.
//! `model/eval/bfcl.py`; `model/eval/calibration.py` reads confidence and correct).
//! `--call-margin` sets the request option `call_margin` (engine/src/list_end.rs).
//! `--margin-sweep` also scores each listed margin (at least the run's own) from the same
//! answers, exactly: a larger margin only ends a list earlier, at the first point where the
//! model preferred another call by less than it, so its answer is a prefix of the calls made
//! (repeats left out as the engine does). Printed as `margin_sweep` in the summary.
//! `--retrieve K` keeps the K tools retrieval ranks first (engine/src/retrieval, the daemon's
//! `retrieval_top_k`): BM25, fused with the sentence encoder in DIR with `--encoder`.
//! `--unconstrained` decodes without the grammar and parses the text as the answer (a case
//! whose text is not a JSON array of calls counts as wrong): it measures what the constraints add.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};
use toolcall_engine::retrieval::{self, Retriever};
use toolcall_engine::{CallOptions, Engine, EngineLimits, Error, Toolset};

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

/// A number with no fraction written as an integer, so that `25` and `25.0` compare equal,
/// and object keys in sorted order (serde_json keeps them in written order here): cases are
/// scored on argument values, not on how a number is spelled or in which order keys come.
fn same_numbers(value: &Value) -> Value {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 9e15 => json!(f as i64),
            _ => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(same_numbers).collect()),
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> = map.iter().map(|(k, v)| (k, same_numbers(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        _ => value.clone(),
    }
}

fn canonical(calls: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = calls
        .iter()
        .map(|c| serde_json::to_string(&same_numbers(c)).unwrap())
        .collect();
    v.sort();
    v
}

/// Parses unconstrained output: a JSON array of `{"name", "arguments"}` objects.
fn parse_free_text(text: &str) -> Result<Vec<Value>, String> {
    let calls: Vec<Value> = serde_json::from_str(text.trim()).map_err(|e| format!("not a JSON array: {e}"))?;
    calls
        .into_iter()
        .map(|c| match (&c["name"], &c["arguments"]) {
            (Value::String(name), args @ Value::Object(_)) => Ok(json!({"name": name, "arguments": args})),
            _ => Err(format!("not a call: {c}")),
        })
        .collect()
}

/// What one case produced.
struct Outcome {
    /// The answer text, or the engine's error.
    text: Result<String, Error>,
    /// Parsed calls, or why there are none.
    calls: Result<Vec<Value>, String>,
    /// The calls as written (repeats included) and the engine's go-on gaps, for the sweep.
    written: Vec<Value>,
    gaps: Vec<f32>,
    /// The answer's confidence (constrained decoding only).
    confidence: Option<f64>,
    ms: f64,
}

struct Evaluator {
    engine: Engine,
    unconstrained: bool,
    max_calls: Option<usize>,
    max_new_tokens: Option<usize>,
    call_margin: Option<f32>,
    retrieve: Option<usize>,
    retriever: Retriever,
    toolsets: Mutex<ToolsetCache>,
}

/// Compiled tool lists kept for reuse, the oldest dropped past `CACHED_TOOLSETS`: each holds
/// its prompt prefix's KV cache (tens of MB), and with no bound the 500-case held-out split
/// peaked at 13.7 GB (2026-12-06).
const CACHED_TOOLSETS: usize = 32;

#[derive(Default)]
struct ToolsetCache {
    by_tools: HashMap<String, Arc<Toolset>>,
    oldest_first: VecDeque<String>,
}

impl ToolsetCache {
    fn insert(&mut self, tools: &str, toolset: Arc<Toolset>) {
        if self.by_tools.insert(tools.to_string(), toolset).is_none() {
            self.oldest_first.push_back(tools.to_string());
        }
        while self.oldest_first.len() > CACHED_TOOLSETS {
            if let Some(oldest) = self.oldest_first.pop_front() {
                self.by_tools.remove(&oldest);
            }
        }
    }
}

impl Evaluator {
    fn toolset(&self, tools: &str) -> Result<Arc<Toolset>, Error> {
        if let Some(t) = self.toolsets.lock().unwrap().by_tools.get(tools) {
            return Ok(t.clone());
        }
        let toolset = Arc::new(self.engine.compile_toolset(tools)?);
        self.toolsets.lock().unwrap().insert(tools, toolset.clone());
        Ok(toolset)
    }

    fn run(&self, case: &Value) -> Outcome {
        let started = Instant::now();
        let query = case["query"].as_str().unwrap_or_default();
        let all_tools = serde_json::to_string(&case["tools"]).unwrap();
        let narrowed = self.retrieve.and_then(|k| {
            self.retriever.prepare(case["tools"].as_array()?); // as the daemon does after Publish
            let narrowing = retrieval::Narrowing { above: k, top_k: k };
            self.retriever.narrow(&all_tools, query, narrowing)
        });
        let tools = narrowed.unwrap_or(all_tools);
        let options = CallOptions {
            facts: case["facts"].as_str().map(str::to_string),
            max_calls: self.max_calls,
            max_new_tokens: self.max_new_tokens,
            call_margin: self.call_margin,
            ..CallOptions::default()
        };
        let answered = self.toolset(&tools).and_then(|toolset| {
            if self.unconstrained {
                let text = self.engine.generate_unconstrained(&toolset, query, &options)?;
                let calls = parse_free_text(&text);
                Ok((text, calls, Vec::new(), None))
            } else {
                let result = self.engine.call(&toolset, query, &options)?;
                let calls = result
                    .function_calls
                    .iter()
                    .map(|c| json!({"name": c.name, "arguments": c.arguments}))
                    .collect();
                Ok((result.text, Ok(calls), result.go_on_gaps, Some(result.confidence)))
            }
        });
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match answered {
            Ok((text, calls, gaps, confidence)) => Outcome {
                written: serde_json::from_str(&text).unwrap_or_default(),
                text: Ok(text),
                calls,
                gaps,
                confidence,
                ms,
            },
            Err(e) => Outcome {
                calls: Err(e.to_string()),
                text: Err(e),
                written: Vec::new(),
                gaps: Vec::new(),
                confidence: None,
                ms,
            },
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: toolcall-eval BUNDLE_DIR EVAL.jsonl [FLAGS] (engine/src/bin/toolcall-eval.rs)");
        std::process::exit(2);
    }
    let flag_value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let limit = flag_value("--limit").and_then(|n| n.parse().ok());
    let jobs: usize = flag_value("--jobs").and_then(|n| n.parse().ok()).unwrap_or(1).max(1);
    let engine = Engine::load(&PathBuf::from(&args[1]), EngineLimits::default()).unwrap_or_else(|e| {
        eprintln!("toolcall-eval: {e}");
        std::process::exit(1)
    });
    let file = std::fs::File::open(&args[2]).unwrap_or_else(|e| {
        eprintln!("toolcall-eval: {}: {e}", args[2]);
        std::process::exit(2)
    });
    let cases: Vec<Value> = std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .take(limit.unwrap_or(usize::MAX))
        .map(|line| serde_json::from_str(&line).expect("eval line is JSON"))
        .collect();
    let evaluator = Evaluator {
        engine,
        unconstrained: args.iter().any(|a| a == "--unconstrained"),
        max_calls: flag_value("--max-calls").and_then(|n| n.parse().ok()),
        max_new_tokens: flag_value("--max-new-tokens").and_then(|n| n.parse().ok()),
        call_margin: flag_value("--call-margin").and_then(|n| n.parse().ok()),
        retrieve: flag_value("--retrieve").and_then(|n| n.parse().ok()),
        retriever: flag_value("--encoder").map_or(Retriever::lexical(), |d| {
            Retriever::with_loaded_encoder(d.as_ref()).unwrap()
        }),
        toolsets: Mutex::new(ToolsetCache::default()),
    };

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new((0..cases.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(case) = cases.get(i) else { break };
                    let outcome = evaluator.run(case);
                    outcomes.lock().unwrap()[i] = Some(outcome);
                }
            });
        }
    });
    let outcomes: Vec<Outcome> = outcomes.into_inner().unwrap().into_iter().map(Option::unwrap).collect();

    let mut predictions = flag_value("--predictions").map(|path| {
        std::io::BufWriter::new(std::fs::File::create(path).unwrap_or_else(|e| {
            eprintln!("toolcall-eval: {path}: {e}");
            std::process::exit(2)
        }))
    });
    let mut per_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut total_ms, mut errors) = (0.0, 0usize);
    for (case, outcome) in cases.iter().zip(&outcomes) {
        total_ms += outcome.ms;
        if let Err(e) = &outcome.text {
            errors += 1;
            eprintln!("error on {:?}: {e}", case["query"]);
        }
        let expected = canonical(case["answer"].as_array().map(Vec::as_slice).unwrap_or_default());
        let correct = outcome.calls.as_ref().is_ok_and(|calls| canonical(calls) == expected);
        if let Some(out) = predictions.as_mut() {
            let (calls, error) = match &outcome.calls {
                Ok(calls) => (calls.clone(), None),
                Err(why) => (Vec::new(), Some(why.clone())),
            };
            let line = json!({"id": case["id"], "function_calls": calls, "error": error, "total_ms": outcome.ms,
                              "go_on_gaps": outcome.gaps, "confidence": outcome.confidence, "correct": correct});
            writeln!(out, "{line}").expect("write predictions");
        }
        if !correct && std::env::var_os("TOOLCALL_EVAL_VERBOSE").is_some() {
            let text = match &outcome.text {
                Ok(text) => text.clone(),
                Err(e) => e.to_string(),
            };
            eprintln!(
                "MISS {:?}\n  expected {}\n  got      {text}",
                case["query"],
                serde_json::to_string(&case["answer"]).unwrap()
            );
        }
        let entry = per_kind.entry(kind_of(case)).or_default();
        entry.0 += usize::from(correct);
        entry.1 += 1;
    }
    if let Some(mut out) = predictions {
        out.flush().expect("write predictions");
    }
    let n = cases.len();
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
        "bundle": evaluator.engine.manifest().name,
        "constrained": !evaluator.unconstrained,
        "eval_file": args[2],
        "cases": n,
        "jobs": jobs,
        "accuracy": correct as f64 / n.max(1) as f64,
        "errors": errors,
        "per_kind": kinds,
        "retrieve": evaluator.retrieve,
        "margin_sweep": margin_sweep(&cases, &outcomes, flag_value("--margin-sweep")),
        "mean_case_ms": total_ms / n.max(1) as f64,
        "wall_s": started.elapsed().as_secs_f64(),
    });
    println!("{}", serde_json::to_string_pretty(&summary).unwrap());
}

/// The calls a larger margin would have kept: those before the first boundary whose gap is
/// below it, repeats left out.
fn calls_at_margin(written: &[Value], gaps: &[f32], margin: f32) -> Vec<Value> {
    let keep = gaps.iter().position(|&g| g < margin).map_or(written.len(), |i| i + 1);
    let mut kept: Vec<Value> = Vec::new();
    for call in written.iter().take(keep) {
        if !kept.contains(call) {
            kept.push(call.clone());
        }
    }
    kept
}

/// Accuracy per margin of `--margin-sweep` (overall and per kind), or null.
fn margin_sweep(cases: &[Value], outcomes: &[Outcome], margins: Option<&String>) -> Value {
    let Some(margins) = margins else { return Value::Null };
    let mut sweep = serde_json::Map::new();
    for margin in margins.split(',').filter_map(|m| m.trim().parse::<f32>().ok()) {
        let mut per_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (case, outcome) in cases.iter().zip(outcomes) {
            let expected = canonical(case["answer"].as_array().map(Vec::as_slice).unwrap_or_default());
            let correct = outcome.text.is_ok()
                && canonical(&calls_at_margin(&outcome.written, &outcome.gaps, margin)) == expected;
            let entry = per_kind.entry(kind_of(case)).or_default();
            entry.0 += usize::from(correct);
            entry.1 += 1;
        }
        let correct: usize = per_kind.values().map(|(c, _)| c).sum();
        let kinds: serde_json::Map<String, Value> = per_kind.iter().map(|(k, (c, _))| (k.clone(), json!(c))).collect();
        sweep.insert(
            margin.to_string(),
            json!({"correct": correct, "accuracy": correct as f64 / cases.len().max(1) as f64, "correct_per_kind": kinds}),
        );
    }
    Value::Object(sweep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_compare_by_values_not_spelling_or_key_order() {
        let gold =
            [json!({"name": "turn_on", "arguments": {"device": "kitchen lamp", "area": "guest room", "level": 25}})];
        let same =
            [json!({"arguments": {"level": 25.0, "area": "guest room", "device": "kitchen lamp"}, "name": "turn_on"})];
        let other =
            [json!({"name": "turn_on", "arguments": {"device": "kitchen lamp", "area": "guest room", "level": 25.5}})];
        assert_eq!(canonical(&gold), canonical(&same));
        assert_ne!(canonical(&gold), canonical(&other));
    }

    #[test]
    fn a_larger_margin_keeps_the_calls_before_the_first_smaller_gap() {
        let written: Vec<Value> = ["a", "b", "a", "c"]
            .iter()
            .map(|n| json!({"name": n, "arguments": {}}))
            .collect();
        let gaps = [2.0, 0.5, 3.0];
        let names = |calls: Vec<Value>| {
            calls
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(calls_at_margin(&written, &gaps, 0.0)), ["a", "b", "c"]);
        assert_eq!(names(calls_at_margin(&written, &gaps, 1.0)), ["a", "b"]);
        assert_eq!(names(calls_at_margin(&written, &gaps, 2.5)), ["a"]);
    }
}
