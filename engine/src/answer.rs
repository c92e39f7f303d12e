//! What a turn returns: the tool calls (each exact repeat left out), the confidence, the raw
//! answer text and the turn's timings.

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FunctionCall {
    pub name: String,
    pub arguments: Value,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub prefill_ms: f64,
    pub decode_ms: f64,
    /// Prompt tokens of this request, the cached prefix included.
    pub prompt_tokens: usize,
    /// Prompt tokens served from the toolset's or session's KV cache.
    pub cached_tokens: usize,
    pub generated_tokens: usize,
    /// Forward passes made while decoding (fewer than generated tokens thanks to fast-forward).
    pub decode_steps: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallResult {
    pub function_calls: Vec<FunctionCall>,
    pub confidence: f64,
    /// The raw answer text the grammar accepted.
    pub text: String,
    pub timings: Timings,
    /// At each point where the list could end after a call and the model wanted another call:
    /// by how many logits it preferred going on (`list_end`). With a larger `call_margin`, the
    /// answer would have ended at the first gap below it: toolcall-eval's margin sweep.
    pub go_on_gaps: Vec<f32>,
}

/// The calls of an answer the grammar accepted (a JSON array of `{"name", "arguments"}`).
pub(crate) fn parse_calls(text: &str) -> Result<Vec<FunctionCall>> {
    Ok(serde_json::from_str::<Vec<Value>>(text)
        .map_err(|e| Error::Internal(format!("answer {text:?} is not JSON: {e}")))?
        .into_iter()
        .map(|call| FunctionCall {
            name: call["name"].as_str().unwrap_or_default().to_string(),
            arguments: call["arguments"].clone(),
        })
        .collect())
}

/// The calls in order, each call that repeats an earlier one exactly (same name, equal
/// arguments) left out: one request never asks for the same action twice in one answer (a
/// count belongs in an argument), and a small model does repeat itself ("I need to buy eggs,
/// put them on the shopping list" got `add_to_shopping_list(item: "eggs")` twice; docs/MODEL.md).
/// Arguments compare as JSON values, so key order does not matter.
pub(crate) fn without_repeated_calls(calls: Vec<FunctionCall>) -> Vec<FunctionCall> {
    let mut kept: Vec<FunctionCall> = Vec::with_capacity(calls.len());
    for call in calls {
        if kept.contains(&call) {
            log::debug!("left out a repeated call of {}", call.name);
        } else {
            kept.push(call);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, arguments: Value) -> FunctionCall {
        FunctionCall {
            name: name.to_string(),
            arguments,
        }
    }

    #[test]
    fn an_exactly_repeated_call_is_left_out_and_the_order_kept() {
        let calls = vec![
            call("add_to_shopping_list", json!({"item": "eggs"})),
            call("set_timer", json!({"minutes": 10, "label": "pasta"})),
            call("add_to_shopping_list", json!({"item": "eggs"})),
            call("set_timer", json!({"label": "pasta", "minutes": 10})),
            call("add_to_shopping_list", json!({"item": "milk"})),
            call("remove_from_shopping_list", json!({"item": "eggs"})),
        ];
        let kept = without_repeated_calls(calls);
        let summary: Vec<String> = kept.iter().map(|c| format!("{} {}", c.name, c.arguments)).collect();
        assert_eq!(
            summary,
            [
                r#"add_to_shopping_list {"item":"eggs"}"#,
                r#"set_timer {"minutes":10,"label":"pasta"}"#,
                r#"add_to_shopping_list {"item":"milk"}"#,
                r#"remove_from_shopping_list {"item":"eggs"}"#,
            ]
        );
    }
}
