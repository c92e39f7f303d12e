//! toolcall-retrieve: how often retrieval (engine/src/retrieval.rs) keeps the right tools, on
//! a JSON-lines evaluation set whose cases offer many tools.
//!
//!     toolcall-retrieve CASES.jsonl [--k 1,3,5,8] [--misses K]
//!
//! Input lines as toolcall-eval's: `{"id"?, "set"?, "tools": [...], "query": "...", "answer":
//! [calls]}`. A case counts at k when every tool its answer calls is among the k tools
//! retrieval ranks first; cases whose answer makes no call are left out. Prints one JSON
//! summary on stdout: recall at each k, overall and per `set`, and the time to index a case's
//! tools and rank them (ms, mean and largest), as the daemon does for each narrowed request.
//! `--misses K` also prints, on stderr, each case missed at K with the tools ranked first.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::Instant;

use serde_json::{Value, json};
use toolcall_engine::retrieval::ToolIndex;

fn tool_name(tool: &Value) -> &str {
    tool.get("function").unwrap_or(tool)["name"]
        .as_str()
        .unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let cases_path = args
        .next()
        .ok_or("usage: toolcall-retrieve CASES.jsonl [--k 1,3,5,8] [--misses K]")?;
    let mut ks: Vec<usize> = vec![1, 3, 5, 8];
    let mut misses_at: Option<usize> = None;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--k" => ks = value.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--misses" => misses_at = Some(value.parse()?),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let widest = ks.iter().copied().chain(misses_at).max().unwrap_or(1);
    // Per set (and "all"): cases, then hits at each k.
    let mut hits: BTreeMap<String, (usize, Vec<usize>)> = BTreeMap::new();
    let mut times_ms: Vec<f64> = Vec::new();
    for line in std::io::BufReader::new(std::fs::File::open(&cases_path)?).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let case: Value = serde_json::from_str(&line)?;
        let gold: Vec<&str> = case["answer"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        if gold.is_empty() {
            continue;
        }
        let tools = case["tools"].as_array().ok_or("a case without tools")?;
        let started = Instant::now();
        let ranked = ToolIndex::new(tools).ranked(case["query"].as_str().unwrap_or_default(), widest);
        times_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let names: Vec<&str> = ranked.iter().map(|&i| tool_name(&tools[i])).collect();
        let found_at = |k: usize| gold.iter().all(|g| names.iter().take(k).any(|n| n == g));
        for set in ["all", case["set"].as_str().unwrap_or("-")] {
            let entry = hits.entry(set.to_string()).or_insert_with(|| (0, vec![0; ks.len()]));
            entry.0 += 1;
            for (hit, &k) in entry.1.iter_mut().zip(&ks) {
                *hit += usize::from(found_at(k));
            }
        }
        if misses_at.is_some_and(|k| !found_at(k)) {
            eprintln!("{} {:?}: wanted {gold:?}, ranked {names:?}", case["id"], case["query"]);
        }
    }
    let recall: BTreeMap<&String, Value> = hits
        .iter()
        .map(|(set, (cases, hit))| {
            let at: BTreeMap<String, f64> = ks
                .iter()
                .zip(hit)
                .map(|(k, h)| (format!("@{k}"), *h as f64 / *cases as f64))
                .collect();
            (set, json!({"cases": cases, "recall": at}))
        })
        .collect();
    let mean = times_ms.iter().sum::<f64>() / times_ms.len().max(1) as f64;
    let largest = times_ms.iter().copied().fold(0.0, f64::max);
    let summary = json!({"sets": recall, "ms_per_case": {"mean": mean, "max": largest}});
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
