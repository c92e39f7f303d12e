//! The result JSON in the shape of an OpenAI chat completion's assistant message, for callers
//! that ask for it with the `format` option (`"openai"`): `tool_calls`, each with an id, its
//! type and the arguments as a JSON string, beside toolcalld's own `confidence`, `model` and
//! `timings`. Apps and frameworks written against that API take the message as it is.

use serde::{Deserialize, Serialize};

use crate::{CallResult, Escalation, FunctionCall, Timings, ToolCallError};

/// The `format` option: which shape the result JSON has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResultFormat {
    /// `{"function_calls": [{"name", "arguments"}], ...}` ([`CallResult`]).
    #[default]
    Toolcalld,
    /// [`OpenAiMessage`].
    OpenAi,
}

impl ResultFormat {
    /// The option's value (absent: the default); another value is `InvalidOptions`.
    pub fn from_option(value: Option<&str>) -> Result<ResultFormat, ToolCallError> {
        match value {
            None | Some("toolcalld") => Ok(ResultFormat::Toolcalld),
            Some("openai") => Ok(ResultFormat::OpenAi),
            Some(other) => Err(ToolCallError::InvalidOptions(format!(
                "option \"format\" is {other:?}; known: \"toolcalld\", \"openai\""
            ))),
        }
    }
}

/// An assistant message with tool calls, as the OpenAI chat completions API returns it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OpenAiMessage {
    /// Always "assistant".
    pub role: String,
    /// Always null: the answer is its tool calls.
    pub content: Option<String>,
    /// Left out when the answer makes no call, as that API does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OpenAiToolCall>,
    pub confidence: f64,
    pub model: String,
    pub timings: Timings,
    /// As in [`CallResult`].
    #[serde(default)]
    pub escalated: bool,
    /// As in [`CallResult`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OpenAiToolCall {
    pub id: String,
    /// Always "function".
    #[serde(rename = "type")]
    pub kind: String,
    pub function: OpenAiFunction,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OpenAiFunction {
    pub name: String,
    /// The arguments object, serialised.
    pub arguments: String,
}

impl CallResult {
    /// This result as an OpenAI assistant message; call `i` gets the id `{id_base}_{i}`.
    pub fn to_openai(&self, id_base: &str) -> OpenAiMessage {
        OpenAiMessage {
            role: "assistant".into(),
            content: None,
            tool_calls: self
                .function_calls
                .iter()
                .enumerate()
                .map(|(i, call)| OpenAiToolCall {
                    id: format!("{id_base}_{i}"),
                    kind: "function".into(),
                    function: OpenAiFunction {
                        name: call.name.clone(),
                        arguments: call.arguments.to_string(),
                    },
                })
                .collect(),
            confidence: self.confidence,
            model: self.model.clone(),
            timings: self.timings.clone(),
            escalated: self.escalated,
            escalation: self.escalation.clone(),
        }
    }

    /// A result JSON of either format.
    pub fn from_json(json: &str) -> Result<CallResult, String> {
        if let Ok(result) = serde_json::from_str::<CallResult>(json) {
            return Ok(result);
        }
        let message: OpenAiMessage = serde_json::from_str(json).map_err(|e| format!("{e}: {json}"))?;
        let function_calls = message
            .tool_calls
            .into_iter()
            .map(|call| {
                let arguments = serde_json::from_str(&call.function.arguments)
                    .map_err(|e| format!("arguments of {}: {e}", call.function.name))?;
                Ok(FunctionCall {
                    name: call.function.name,
                    arguments,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(CallResult {
            function_calls,
            confidence: message.confidence,
            model: message.model,
            timings: message.timings,
            escalated: message.escalated,
            escalation: message.escalation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_goes_to_the_openai_shape_and_back() {
        let result = CallResult {
            function_calls: vec![FunctionCall {
                name: "set_timer".into(),
                arguments: serde_json::json!({"minutes": 5}),
            }],
            confidence: 0.9,
            model: "m 1".into(),
            timings: Timings::default(),
            escalated: true,
            escalation: Some(Escalation {
                endpoint: "lan".into(),
                reason: "no call".into(),
                note: None,
                ms: 12.0,
            }),
        };
        let message = serde_json::to_value(result.to_openai("call_ab")).unwrap();
        assert_eq!(
            message["tool_calls"],
            serde_json::json!([{"id": "call_ab_0", "type": "function",
                "function": {"name": "set_timer", "arguments": "{\"minutes\":5}"}}])
        );
        assert_eq!(
            (message["role"].as_str(), message["content"].is_null()),
            (Some("assistant"), true)
        );
        assert_eq!(CallResult::from_json(&message.to_string()).unwrap(), result);
        let none = CallResult {
            function_calls: vec![],
            ..result
        };
        let message = serde_json::to_value(none.to_openai("x")).unwrap();
        assert!(message.get("tool_calls").is_none(), "{message}");
        assert!(matches!(
            ResultFormat::from_option(Some("xml")),
            Err(ToolCallError::InvalidOptions(_))
        ));
    }
}
