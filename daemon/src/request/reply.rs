//! A request's answer as the wire has it: the engine's result with the service's own times,
//! written in the shape the caller asked for (`format`).

use std::time::Instant;

use toolcall_dbus::ResultFormat;

/// The result JSON in `format`.
pub(super) fn result_json(wire: &toolcall_dbus::CallResult, format: ResultFormat) -> String {
    let json = match format {
        ResultFormat::Toolcalld => serde_json::to_string(wire),
        ResultFormat::OpenAi => serde_json::to_string(&wire.to_openai(&call_id_base())),
    };
    json.expect("result serialises")
}

/// The base of the ids of an answer's calls in the OpenAI shape: `call_` and 64 random bits
/// (std's randomly keyed SipHash of nothing), so that ids do not repeat across answers.
fn call_id_base() -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    format!("call_{random:016x}")
}

/// The engine's answer as the wire has it, with the service's own times.
pub(super) fn wire_result(
    result: toolcall_engine::CallResult,
    queue_ms: f64,
    started: Instant,
    model: String,
) -> toolcall_dbus::CallResult {
    let t = result.timings;
    toolcall_dbus::CallResult {
        function_calls: result
            .function_calls
            .into_iter()
            .map(|c| toolcall_dbus::FunctionCall {
                name: c.name,
                arguments: c.arguments,
            })
            .collect(),
        confidence: result.confidence,
        model,
        timings: toolcall_dbus::Timings {
            queue_ms,
            prefill_ms: t.prefill_ms,
            decode_ms: t.decode_ms,
            total_ms: started.elapsed().as_secs_f64() * 1000.0,
            prompt_tokens: t.prompt_tokens as u64,
            cached_tokens: t.cached_tokens as u64,
            generated_tokens: t.generated_tokens as u64,
        },
        escalated: false,
        escalation: None,
    }
}
