//! The output grammar: a JSON array of 0..max_calls calls, each `{"name": <a tool's name>,
//! "arguments": <that tool's parameters>}`, compiled by llguidance into a token-level matcher.
//! Compact JSON (no optional whitespace), so forced keys and punctuation can be fast-forwarded.
//!
//! A string argument the schema leaves free (no `enum`, `const`, `pattern` or `format`) is
//! bounded by what the request can justify: [`string_bound`] characters, from the length of
//! the turn the answer replies to. Values are copied from the request, its facts or tool
//! results, so a longer string is the model rambling, and without a bound a small model can
//! write one string until the token budget runs out (a `LimitExceeded` instead of a call).
//! A smaller `maxLength` the schema gives stays; a larger one (MCP servers write 1000000 as a
//! safety limit) is lowered to the bound.

use std::path::Path;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::TokEnv;
use llguidance::{Matcher, ParserFactory};
use serde_json::{Value, json};
use toktrie_hf_tokenizers::ByteTokenizer;

use crate::error::{Error, Result};
use crate::tools::Tool;

/// What the grammar needs of a bundle's tokenizer, loaded once per process.
pub struct GrammarTokenizer {
    pub tokenizer: tokenizers::Tokenizer,
    /// llguidance's view of the vocabulary (token bytes, the end token).
    pub tok_env: TokEnv,
    pub factory: ParserFactory,
}

/// Loads `tokenizer.json` for a model of `vocab_size` logits whose answers end with
/// `end_token` (`<|im_end|>`; llguidance would otherwise pick `<|endoftext|>`).
pub fn load_tokenizer(path: &Path, vocab_size: usize, end_token: u32) -> std::result::Result<GrammarTokenizer, String> {
    let mut byte_tokenizer = ByteTokenizer::from_file(path).map_err(|e| format!("tokenizer.json: {e:#}"))?;
    if byte_tokenizer.hf_tokenizer.token_to_id("<|im_end|>") != Some(end_token) {
        return Err("tokenizer.json and bundle.json disagree on <|im_end|>".into());
    }
    byte_tokenizer.set_eos_token(end_token);
    let tokenizer = byte_tokenizer.hf_tokenizer.clone();
    let tok_env = byte_tokenizer
        .into_tok_env(Some(vocab_size))
        .map_err(|e| format!("tokenizer.json: {e:#}"))?;
    let mut factory = ParserFactory::new_simple(&tok_env).map_err(|e| format!("grammar factory: {e:#}"))?;
    factory.quiet();
    Ok(GrammarTokenizer {
        tokenizer,
        tok_env,
        factory,
    })
}

/// Characters added to a turn's length for the bound of a free string.
pub const STRING_MARGIN: usize = 32;

/// The most characters of a free string argument in an answer to a turn of `turn_chars`
/// characters with a budget of `max_new_tokens`: the turn's length plus [`STRING_MARGIN`],
/// rounded up to a power of two (at least 64), and at most half the token budget (rounded
/// down to a power of two), so that one string cannot use up the budget even one character
/// per token. Powers of two keep the grammars a toolset compiles few.
pub fn string_bound(turn_chars: usize, max_new_tokens: usize) -> usize {
    let cap = (max_new_tokens / 2).max(16);
    let cap = 1 << (usize::BITS - 1 - cap.leading_zeros());
    (turn_chars + STRING_MARGIN).next_power_of_two().max(64).min(cap)
}

/// The schema with `maxLength: bound` on every string the schema leaves free or bounds above it.
fn bound_free_strings(schema: &Value, bound: usize) -> Value {
    let Value::Object(obj) = schema else {
        return schema.clone();
    };
    let mut out = obj.clone();
    let is_string = match obj.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
        _ => false,
    };
    let constrained = ["enum", "const", "pattern", "format"]
        .iter()
        .any(|k| obj.contains_key(*k));
    let given = obj.get("maxLength").and_then(Value::as_u64).unwrap_or(u64::MAX);
    if is_string && !constrained && given > bound as u64 {
        out.insert("maxLength".into(), json!(bound));
    }
    if let Some(Value::Object(props)) = obj.get("properties") {
        let bounded = props
            .iter()
            .map(|(k, v)| (k.clone(), bound_free_strings(v, bound)))
            .collect();
        out.insert("properties".into(), Value::Object(bounded));
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub @ Value::Object(_)) = obj.get(key) {
            out.insert(key.into(), bound_free_strings(sub, bound));
        }
    }
    if let Some(Value::Array(branches)) = obj.get("anyOf") {
        let bounded = branches.iter().map(|b| bound_free_strings(b, bound)).collect();
        out.insert("anyOf".into(), Value::Array(bounded));
    }
    Value::Object(out)
}

/// The JSON Schema of a whole answer, free strings at most `string_bound` characters.
pub fn answer_schema(tools: &[Tool], max_calls: usize, allow_empty: bool, string_bound: usize) -> Value {
    let variants: Vec<Value> = tools
        .iter()
        .map(|t| {
            json!({
                "type": "object",
                "properties": {"name": {"const": t.name}, "arguments": bound_free_strings(&t.grammar_parameters, string_bound)},
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
pub fn compile(
    factory: &ParserFactory,
    tools: &[Tool],
    max_calls: usize,
    allow_empty: bool,
    string_bound: usize,
) -> Result<Matcher> {
    let schema = answer_schema(tools, max_calls, allow_empty, string_bound);
    let parser = factory
        .create_parser(TopLevelGrammar::from_json_schema(schema))
        .map_err(|e| Error::tools("$", format!("the schemas do not compile to a grammar: {e:#}")))?;
    Ok(Matcher::new(Ok(parser)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_string_bound_follows_the_turn_and_stays_within_half_the_budget() {
        assert_eq!(string_bound(10, 256), 64);
        assert_eq!(string_bound(100, 256), 128);
        assert_eq!(string_bound(1000, 256), 128);
        assert_eq!(string_bound(1000, 4096), 2048);
        assert_eq!(string_bound(10, 20), 16);
    }

    #[test]
    fn free_strings_get_the_bound_and_constrained_ones_keep_theirs() {
        let schema = json!({"type": "object", "properties": {
            "free": {"type": "string"},
            "huge": {"type": "string", "maxLength": 1000000},
            "small": {"type": "string", "maxLength": 5},
            "code": {"type": "string", "enum": ["a", "b"]},
            "list": {"type": "array", "items": {"type": ["string", "null"]}},
        }});
        let got = bound_free_strings(&schema, 64);
        let max = |path: &str| got.pointer(path).cloned();
        assert_eq!(max("/properties/free/maxLength"), Some(json!(64)));
        assert_eq!(max("/properties/huge/maxLength"), Some(json!(64)));
        assert_eq!(max("/properties/small/maxLength"), Some(json!(5)));
        assert_eq!(max("/properties/code/maxLength"), None);
        assert_eq!(max("/properties/list/items/maxLength"), Some(json!(64)));
    }
}
