//! toolcalld's command line. In the library so that the man page and the shell completions
//! (`docs/man/toolcalld.8`, `completions/`) are generated from the same definition.

use std::path::PathBuf;

use clap::Parser;

/// On-device function calling over D-Bus: a request plus tool schemas in, validated tool calls out.
///
/// Configuration: /etc/toolcalld/toolcalld.toml (or --config), then TOOLCALLD_<KEY>
/// environment variables, then these flags. Keys (see the shipped toolcalld.toml): model_dir,
/// models_dir, default_model, max_models_mb, model_idle_unload_s, bus, workers, threads,
/// queue_size, max_queued_per_user, request_timeout_ms, register_timeout_ms,
/// max_objects_per_client, max_objects_per_user, max_objects, toolset_cache, max_kv_mb,
/// max_kv_mb_per_user, session_idle_timeout_s, shutdown_grace_ms, max_tools_bytes, max_tools,
/// max_schema_depth, max_query_chars, max_facts_chars, max_tool_results_chars, max_new_tokens,
/// max_calls, log_level, dispatch_timeout_ms, retrieval_above, retrieval_top_k, retrieval_encoder,
/// escalation_url, escalation_name, escalation_model, escalation_threshold,
/// escalation_when_empty, escalation_timeout_ms, escalation_max_in_flight,
/// escalation_api_key_file, and the tables registry_allow and registry_publishers.
#[derive(Parser, Debug)]
#[command(name = "toolcalld", version)]
pub struct Cli {
    /// Bus to serve on: system, session, or a D-Bus address (unix:path=...).
    #[arg(long)]
    pub bus: Option<String>,
    /// Model bundle directory (the default model unless default_model names another).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A directory of model bundles, one a directory, named by it (requests pick one with the
    /// `model` option).
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
    /// Configuration file (default /etc/toolcalld/toolcalld.toml if present).
    #[arg(long)]
    pub config: Option<PathBuf>,
}
