//! Typed engine errors. Each variant maps to one named D-Bus error in the daemon.

use thiserror::Error;

/// Which configured limit a request broke. The last ones are a service's limits on what its
/// clients hold (the engine itself never checks them): they are here so that one error type
/// carries every refusal from the work that runs inside a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    ToolsBytes,
    ToolCount,
    QueryChars,
    FactsChars,
    ToolResultsChars,
    MaxNewTokens,
    ContextLength,
    SchemaDepth,
    /// The KV state a service lets its toolsets, sessions and cached tool lists hold.
    KvBudget,
    /// The KV state the objects of one user's clients may hold together.
    KvBudgetPerUser,
    /// Toolsets plus sessions: one client's, one user's clients', everyone's.
    ObjectsPerClient,
    ObjectsPerUser,
    Objects,
    /// The weights of the bundles a service keeps loaded at once.
    ModelsMemory,
}

impl Limit {
    pub fn name(self) -> &'static str {
        match self {
            Limit::ToolsBytes => "max_tools_bytes",
            Limit::ToolCount => "max_tools",
            Limit::QueryChars => "max_query_chars",
            Limit::FactsChars => "max_facts_chars",
            Limit::ToolResultsChars => "max_tool_results_chars",
            Limit::MaxNewTokens => "max_new_tokens",
            Limit::ContextLength => "context_length",
            Limit::SchemaDepth => "max_schema_depth",
            Limit::KvBudget => "max_kv_mb",
            Limit::KvBudgetPerUser => "max_kv_mb_per_user",
            Limit::ObjectsPerClient => "max_objects_per_client",
            Limit::ObjectsPerUser => "max_objects_per_user",
            Limit::Objects => "max_objects",
            Limit::ModelsMemory => "max_models_mb",
        }
    }
}

#[derive(Debug, Error)]
pub enum Error {
    /// The tool list is not valid: `path` is the JSON path of the offending value
    /// (`$[2].parameters.properties.room.not`), which names the tool by its index.
    #[error("invalid tools at {path}: {message}")]
    InvalidTools { path: String, message: String },
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error("invalid option: {0}")]
    InvalidOptions(String),
    #[error("limit {} exceeded: {detail}", limit.name())]
    LimitExceeded { limit: Limit, detail: String },
    #[error("deadline passed after {elapsed_ms} ms")]
    Timeout { elapsed_ms: u64 },
    #[error("request cancelled")]
    Cancelled,
    /// The model bundle is missing, corrupt or inconsistent (startup failure).
    #[error("model bundle {path}: {message}")]
    Bundle { path: String, message: String },
    /// The model failed while running.
    #[error("model error: {0}")]
    Model(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn tools(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidTools {
            path: path.into(),
            message: message.into(),
        }
    }

    #[cfg(feature = "runtime")]
    pub(crate) fn model(e: impl std::fmt::Display) -> Self {
        Error::Model(format!("{e:#}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
