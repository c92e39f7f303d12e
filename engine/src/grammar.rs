//! The output grammar: a JSON array of 0..max_calls calls, each `{"name": <a tool's name>,
//! "arguments": <that tool's parameters>}`, compiled by llguidance into a token-level matcher.
//! Compact JSON (no optional whitespace), so forced keys and punctuation can be fast-forwarded.

use llguidance::api::TopLevelGrammar;
use llguidance::{Matcher, ParserFactory};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::tools::Tool;

/// The JSON Schema of a whole answer.
pub fn answer_schema(tools: &[Tool], max_calls: usize, allow_empty: bool) -> Value {
    let variants: Vec<Value> = tools
        .iter()
        .map(|t| {
            json!({
                "type": "object",
                "properties": {"name": {"const": t.name}, "arguments": t.grammar_parameters},
                "required": ["name", "arguments"],
                "additionalProperties": false,
            })
        })
        .collect();
    json!({
        "x-guidance": {"whitespace_flexible": false, "lenient": false},
        "type": "array",
        "minItems": if allow_empty { 0 } else { 1 },
        "maxItems": max_calls,
        "items": {"anyOf": variants},
    })
}

/// Compiles the answer grammar into a fresh matcher (clone it per request).
pub fn compile(factory: &ParserFactory, tools: &[Tool], max_calls: usize, allow_empty: bool) -> Result<Matcher> {
    let schema = answer_schema(tools, max_calls, allow_empty);
    let parser = factory
        .create_parser(TopLevelGrammar::from_json_schema(schema))
        .map_err(|e| Error::tools("$", format!("the schemas do not compile to a grammar: {e:#}")))?;
    Ok(Matcher::new(Ok(parser)))
}
