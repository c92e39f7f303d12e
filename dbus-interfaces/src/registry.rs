//! What the registry's Route and Dispatch answer: Call's result with each call naming the
//! provider that carries it out, and, from Dispatch, what the provider answered.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Escalation, Timings};

/// A Dispatch call's error: the provider's own D-Bus error.
pub const PROVIDER_FAILED: &str = "org.toolcalld.ToolCall1.Error.ProviderFailed";
/// A Dispatch call's error: the provider did not answer within `dispatch_timeout_ms`.
pub const PROVIDER_TIMEOUT: &str = "org.toolcalld.ToolCall1.Error.ProviderTimeout";
/// A Dispatch call's error: the provider left the bus before it answered.
pub const PROVIDER_GONE: &str = "org.toolcalld.ToolCall1.Error.ProviderGone";

/// The result JSON of Route and Dispatch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RouteResult {
    pub function_calls: Vec<RoutedCall>,
    /// The published tools the model chose among: those asked for, or, past the daemon's
    /// `retrieval_above`, the `retrieval_top_k` that retrieval ranked first for the query.
    #[serde(default)]
    pub offered: Vec<String>,
    pub confidence: f64,
    pub model: String,
    pub timings: Timings,
    #[serde(default)]
    pub escalated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
}

/// One call of a routed answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoutedCall {
    /// The published name (`prefix.tool`).
    pub name: String,
    pub arguments: Value,
    /// The provider's unique bus name.
    pub provider: String,
    /// The provider's object (org.toolcalld.ToolProvider1).
    pub provider_path: String,
    /// The tool's own name, as the provider published it (without the prefix).
    pub tool: String,
    /// Dispatch: the provider's result_json, parsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Dispatch: why this call has no result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ProviderError>,
}

/// A Dispatch call's error: [`PROVIDER_FAILED`], [`PROVIDER_TIMEOUT`] or [`PROVIDER_GONE`] and
/// what happened.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProviderError {
    pub name: String,
    pub message: String,
}
