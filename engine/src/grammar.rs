//! The output grammar: a JSON array of 0..max_calls calls, each `{"name": <a tool's name>,
//! "arguments": <that tool's parameters>}`, compiled by llguidance into a token-level matcher.
//! Compact JSON (no optional whitespace), so forced keys and punctuation can be fast-forwarded.

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
