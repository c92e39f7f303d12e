//! toolcall-render: renders prompts with the engine's own renderer, for the training pipeline.
//!
//! Reads JSON lines `{"tools": [...], "query": "...", "facts": "..."?, "answer": [...]?}` on
//! stdin and writes one JSON line per input: `{"prompt": "..."}` (system + user turns, up to
//! the assistant's opening) and, when `answer` is given, `"completion"` (the compact answer and
//! the end-of-turn marker). Invalid tools or lines are reported with their line number and exit 1.

use std::io::{BufRead, Write};

use serde_json::{Value, json};
use toolcall_engine::prompt;
use toolcall_engine::tools::{ToolLimits, parse_tools};

fn main() {
    if std::env::args().len() > 1 {
        eprintln!("usage: toolcall-render < examples.jsonl > rendered.jsonl");
        std::process::exit(2);
    }
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let limits = ToolLimits {
        max_tools_bytes: usize::MAX,
        max_tools: usize::MAX,
        ..ToolLimits::default()
    };
    for (n, line) in stdin.lock().lines().enumerate() {
        let result = line
            .map_err(|e| e.to_string())
            .and_then(|line| render_line(&line, &limits));
        match result {
            Ok(Some(rendered)) => writeln!(out, "{rendered}").expect("write stdout"),
            Ok(None) => {}
            Err(e) => {
                eprintln!("toolcall-render: line {}: {e}", n + 1);
                std::process::exit(1);
            }
        }
    }
}

fn render_line(line: &str, limits: &ToolLimits) -> Result<Option<Value>, String> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let example: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let tools_json = serde_json::to_string(&example["tools"]).map_err(|e| e.to_string())?;
    let tools = parse_tools(&tools_json, limits).map_err(|e| e.to_string())?;
    let query = example["query"].as_str().ok_or("missing \"query\"")?;
    let facts = example["facts"].as_str();
    let prompt_text = format!("{}{}", prompt::render_system(&tools), prompt::render_user(query, facts));
    let mut rendered = json!({ "prompt": prompt_text });
    if let Some(answer) = example.get("answer") {
        let compact = serde_json::to_string(answer).map_err(|e| e.to_string())?;
        rendered["completion"] = Value::String(format!("{compact}{}", prompt::ANSWER_END));
    }
    Ok(Some(rendered))
}
