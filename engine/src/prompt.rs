//! The one prompt renderer of the project (format `chatml-tools-v1`). The daemon renders
//! requests with it and the training pipeline renders examples with it (through the
//! `toolcall-render` batch command), so train-time and run-time prompts are byte-identical.
//!
//! Layout (ChatML, SmolLM2's chat markers):
//! ```text
//! <|im_start|>system\n{SYSTEM_INSTRUCTIONS}\n<tools>\n{tool JSON per line}\n</tools><|im_end|>\n   <- toolset prefix (KV reused)
//! <|im_start|>user\n[<facts>\n{facts}\n</facts>\n]{query}<|im_end|>\n<|im_start|>assistant\n    <- per request
//! [{"name":..,"arguments":{..}}]<|im_end|>\n                                                    <- the answer
//! <|im_start|>tool\n{results JSON}<|im_end|>\n<|im_start|>assistant\n                           <- multi-turn
//! ```

use crate::tools::Tool;

pub const SYSTEM_INSTRUCTIONS: &str = "You call tools. Answer the user's request with a JSON list of tool calls, \
each {\"name\": tool name, \"arguments\": {...}}. Use only the tools listed below and only values \
stated in the request or the facts. If no tool fits the request, answer [].";

/// What ends an assistant answer.
pub const ANSWER_END: &str = "<|im_end|>\n";

/// The chat markers a rendered system turn holds itself; anywhere else, and in caller text,
/// control tokens are refused.
pub const SYSTEM_TURN_MARKERS: [&str; 2] = ["<|im_start|>system\n", ANSWER_END];

/// The system turn holding the tools: the prefix a toolset pre-fills once.
pub fn render_system(tools: &[Tool]) -> String {
    let mut s = String::from("<|im_start|>system\n");
    s.push_str(SYSTEM_INSTRUCTIONS);
    s.push_str("\n<tools>\n");
    for tool in tools {
        s.push_str(&serde_json::to_string(tool).expect("tools serialise"));
        s.push('\n');
    }
    s.push_str("</tools><|im_end|>\n");
    s
}

/// A user turn and the opening of the assistant's answer.
pub fn render_user(query: &str, facts: Option<&str>) -> String {
    let mut s = String::from("<|im_start|>user\n");
    if let Some(facts) = facts.filter(|f| !f.is_empty()) {
        s.push_str("<facts>\n");
        s.push_str(facts);
        s.push_str("\n</facts>\n");
    }
    s.push_str(query);
    s.push_str("<|im_end|>\n<|im_start|>assistant\n");
    s
}

/// Tool results fed back to the model, and the opening of its next answer.
pub fn render_tool_results(results_json: &str) -> String {
    format!("<|im_start|>tool\n{results_json}<|im_end|>\n<|im_start|>assistant\n")
}
