//! Configuration: built-in defaults, then `/etc/toolcalld/toolcalld.toml` (or `--config FILE`),
//! then `TOOLCALLD_*` environment variables, then command-line flags. Validated once into
//! [`Settings`]; the engine and service take their numbers from there.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const DEFAULT_CONFIG_FILE: &str = "/etc/toolcalld/toolcalld.toml";
/// Where `make install-encoder` puts the sentence encoder (`retrieval_encoder`).
pub const DEFAULT_RETRIEVAL_ENCODER: &str = "/usr/share/toolcalld/encoders/minilm-l6-int8";

/// Every configuration key; `toolcalld --help` and the shipped toolcalld.toml document each.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Model bundle directory: the default model unless `default_model` names another, named
    /// by its directory's name (symlinks resolved).
    pub model_dir: PathBuf,
    /// A directory of bundles, one a directory, each named by its directory ("": none).
    pub models_dir: PathBuf,
    /// The bundle requests without a `model` option run on ("": model_dir's).
    pub default_model: String,
    /// Megabytes of bundle files (weights, embedding, tokenizer) loaded at once; loading one
    /// more first unloads others that nothing holds, or is refused.
    pub max_models_mb: usize,
    /// A bundle other than the default, unused this long and held by nothing, is unloaded
    /// (0: never).
    pub model_idle_unload_s: u64,
    /// Bus to serve on: "system", "session" or a D-Bus address.
    pub bus: String,
    /// Inference worker threads (each runs one request at a time).
    pub workers: usize,
    /// Threads one request's matrix products may use (a pool all workers share); 1 runs them
    /// on the worker's own thread.
    pub threads: usize,
    /// Requests waiting beyond the running ones before callers get Busy.
    pub queue_size: usize,
    /// Of those places, how many the requests of one user (uid) may take.
    pub max_queued_per_user: usize,
    /// Deadline of a request (queue wait included) unless the caller asks for less.
    pub request_timeout_ms: u64,
    /// Deadline of a RegisterToolset instead (queue wait included): it compiles its tools'
    /// prompt once for many calls, and a long tool list takes longer than a call.
    pub register_timeout_ms: u64,
    /// Toolsets plus sessions one client may hold.
    pub max_objects_per_client: usize,
    /// Toolsets plus sessions all the clients of one user (uid) may hold together.
    pub max_objects_per_user: usize,
    /// Toolsets plus sessions all clients together may hold: each keeps its prompt's KV cache
    /// (~14 MB for 300 tokens with the default model), so this bounds their memory.
    pub max_objects: usize,
    /// Compiled tool lists kept for one-shot Call (least recently used dropped first).
    pub toolset_cache: usize,
    /// Megabytes of KV state that toolsets, sessions and the one-shot cache may hold in all
    /// (docs/RELIABILITY.md has the arithmetic against the unit's MemoryMax).
    pub max_kv_mb: usize,
    /// Megabytes of that KV state the toolsets and sessions of one user's clients may hold.
    pub max_kv_mb_per_user: usize,
    /// A session not used for this long is closed by the service (0: never). Toolsets do not
    /// expire.
    pub session_idle_timeout_s: u64,
    /// How long in-flight requests may run after SIGTERM.
    pub shutdown_grace_ms: u64,
    pub max_tools_bytes: usize,
    pub max_tools: usize,
    pub max_schema_depth: usize,
    pub max_query_chars: usize,
    /// Characters of a request's `facts` option.
    pub max_facts_chars: usize,
    /// Characters of the tool results a session's SubmitToolResults takes (as compact JSON).
    pub max_tool_results_chars: usize,
    pub max_new_tokens: usize,
    pub max_calls: usize,
    /// error, warn, info, debug or trace. Query text is only logged at trace.
    pub log_level: String,
    /// How long the registry's Dispatch waits for its calls' providers, all calls together.
    pub dispatch_timeout_ms: u64,
    /// A Call, Route or Dispatch offering more tools than this gives the model only the
    /// `retrieval_top_k` tools that retrieval ranks first for the query (docs/REGISTRY.md).
    pub retrieval_above: usize,
    /// Tools a narrowed request keeps (0: requests are never narrowed); `max_tools` if that is
    /// fewer.
    pub retrieval_top_k: usize,
    /// The sentence encoder whose ranking retrieval fuses with BM25's: a directory holding
    /// `model.onnx` and `tokenizer.json`, read at start and loaded when first needed; "" for
    /// BM25 alone. The default directory may be absent (BM25 alone, said at start); any other
    /// that is absent or lacks those files fails the start (daemon/src/retrieval.rs).
    pub retrieval_encoder: PathBuf,
    /// Prefix -> the users (`name`) and groups (`@name`) whose requests may be routed to the
    /// tools published under it; prefixes not listed are open to all (daemon/src/registry/policy.rs).
    /// (An empty table leaves no trace in the defaults the configuration starts from.)
    #[serde(default)]
    pub registry_allow: BTreeMap<String, Vec<String>>,
    /// Prefix -> the users and groups who may publish under it; prefixes not listed may be
    /// taken by anyone the bus policy lets publish.
    #[serde(default)]
    pub registry_publishers: BTreeMap<String, Vec<String>>,
    /// Escalation, off unless set: an OpenAI-compatible chat completions URL
    /// (`http://HOST:8080/v1/chat/completions`) that is sent the request and its tools when the
    /// local answer is unsure; its answer is checked against the same schemas. The unit needs
    /// the network drop-in (docs/ESCALATION.md). Read at start.
    pub escalation_url: String,
    /// The endpoint's name in results and the journal ("": the URL's host).
    pub escalation_name: String,
    /// The `model` the endpoint is asked for ("": left out, for servers of one model).
    pub escalation_model: String,
    /// An answer whose confidence is below this is escalated (0 to 1; docs/MODEL.md has the
    /// figures behind 0.9).
    pub escalation_threshold: f64,
    /// An answer that makes no call is escalated too.
    pub escalation_when_empty: bool,
    /// How long the endpoint may take; never past the request's own deadline.
    pub escalation_timeout_ms: u64,
    /// Requests at the endpoint at once; another keeps its local answer.
    pub escalation_max_in_flight: usize,
    /// A file holding the endpoint's API key, readable by its owner only ("": none). The
    /// systemd credential `escalation-api-key` (LoadCredential=) comes first.
    pub escalation_api_key_file: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model_dir: PathBuf::from("/usr/share/toolcalld/models/default"),
            models_dir: PathBuf::new(),
            default_model: String::new(),
            max_models_mb: 640,
            model_idle_unload_s: 600,
            bus: "system".into(),
            workers: 1,
            threads: 1,
            queue_size: 8,
            max_queued_per_user: 4,
            request_timeout_ms: 20_000,
            register_timeout_ms: 120_000,
            max_objects_per_client: 16,
            max_objects_per_user: 16,
            max_objects: 32,
            toolset_cache: 8,
            max_kv_mb: 768,
            max_kv_mb_per_user: 512,
            session_idle_timeout_s: 900,
            shutdown_grace_ms: 10_000,
            max_tools_bytes: 256 * 1024,
            max_tools: 64,
            max_schema_depth: 16,
            max_query_chars: 4096,
            max_facts_chars: 2048,
            max_tool_results_chars: 8192,
            max_new_tokens: 512,
            max_calls: 8,
            log_level: "info".into(),
            dispatch_timeout_ms: 5000,
            retrieval_above: 16,
            retrieval_top_k: 5,
            retrieval_encoder: PathBuf::from(DEFAULT_RETRIEVAL_ENCODER),
            registry_allow: BTreeMap::new(),
            registry_publishers: BTreeMap::new(),
            escalation_url: String::new(),
            escalation_name: String::new(),
            escalation_model: String::new(),
            escalation_threshold: 0.9,
            escalation_when_empty: true,
            escalation_timeout_ms: 8000,
            escalation_max_in_flight: 2,
            escalation_api_key_file: PathBuf::new(),
        }
    }
}

/// Values given on the command line (they win over everything else).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub bus: Option<String>,
    pub model_dir: Option<PathBuf>,
    pub models_dir: Option<PathBuf>,
}

impl Settings {
    /// `environment` is the process environment (`std::env::vars()`); only `TOOLCALLD_*` is read.
    pub fn load(overrides: &Overrides, environment: HashMap<String, String>) -> Result<Settings, String> {
        let defaults = config::Config::try_from(&Settings::default()).map_err(|e| e.to_string())?;
        let mut builder = config::Config::builder().add_source(defaults);
        match &overrides.config_file {
            Some(file) => {
                if !file.exists() {
                    return Err(format!("config file {} does not exist", file.display()));
                }
                builder = builder.add_source(config::File::from(file.as_path()).format(config::FileFormat::Toml));
            }
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                builder = builder.add_source(config::File::new(DEFAULT_CONFIG_FILE, config::FileFormat::Toml));
            }
            None => {}
        }
        builder = builder.add_source(
            config::Environment::with_prefix("TOOLCALLD")
                .try_parsing(true)
                .source(Some(environment)),
        );
        if let Some(bus) = &overrides.bus {
            builder = builder.set_override("bus", bus.as_str()).map_err(|e| e.to_string())?;
        }
        if let Some(dir) = &overrides.model_dir {
            builder = builder
                .set_override("model_dir", dir.display().to_string())
                .map_err(|e| e.to_string())?;
        }
        if let Some(dir) = &overrides.models_dir {
            builder = builder
                .set_override("models_dir", dir.display().to_string())
                .map_err(|e| e.to_string())?;
        }
        let settings: Settings = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| format!("configuration: {e}"))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), String> {
        let positive = [
            ("workers", self.workers),
            ("threads", self.threads),
            ("max_objects_per_client", self.max_objects_per_client),
            ("max_objects", self.max_objects),
            ("max_objects_per_user", self.max_objects_per_user),
            ("toolset_cache", self.toolset_cache),
            ("max_tools", self.max_tools),
            ("max_tools_bytes", self.max_tools_bytes),
            ("max_kv_mb", self.max_kv_mb),
            ("max_kv_mb_per_user", self.max_kv_mb_per_user),
            ("max_models_mb", self.max_models_mb),
            ("max_queued_per_user", self.max_queued_per_user),
            ("max_query_chars", self.max_query_chars),
            ("max_facts_chars", self.max_facts_chars),
            ("max_tool_results_chars", self.max_tool_results_chars),
            ("max_new_tokens", self.max_new_tokens),
            ("max_calls", self.max_calls),
            ("escalation_max_in_flight", self.escalation_max_in_flight),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(format!("configuration: {key} must be at least 1"));
            }
        }
        if self.dispatch_timeout_ms == 0 {
            return Err("configuration: dispatch_timeout_ms must be at least 1".into());
        }
        // A day at most: a deadline is an instant, which an absurd timeout would overflow.
        for (key, value) in [
            ("request_timeout_ms", self.request_timeout_ms),
            ("register_timeout_ms", self.register_timeout_ms),
        ] {
            if !(1..=86_400_000).contains(&value) {
                return Err(format!("configuration: {key} must be 1 to 86400000 (a day)"));
            }
        }
        if self.session_idle_timeout_s != 0 && self.session_idle_timeout_s * 1000 <= self.request_timeout_ms {
            return Err(format!(
                "configuration: session_idle_timeout_s ({} s) must be 0 or longer than request_timeout_ms ({} ms): a session would expire while a turn of it waits or runs",
                self.session_idle_timeout_s, self.request_timeout_ms
            ));
        }
        crate::registry::check_table("registry_allow", &self.registry_allow)?;
        crate::registry::check_table("registry_publishers", &self.registry_publishers)?;
        if self.escalation_timeout_ms == 0 {
            return Err("configuration: escalation_timeout_ms must be at least 1".into());
        }
        if self.escalation_max_in_flight > 1024 {
            return Err("configuration: escalation_max_in_flight must be 1 to 1024".into());
        }
        if !(0.0..=1.0).contains(&self.escalation_threshold) {
            return Err(format!(
                "configuration: escalation_threshold must be 0 to 1, not {}",
                self.escalation_threshold
            ));
        }
        if self.log_level.parse::<log::LevelFilter>().is_err() {
            return Err(format!("configuration: unknown log_level {:?}", self.log_level));
        }
        Ok(())
    }

    pub fn engine_limits(&self) -> toolcall_engine::EngineLimits {
        toolcall_engine::EngineLimits {
            tools: toolcall_engine::ToolLimits {
                max_tools_bytes: self.max_tools_bytes,
                max_tools: self.max_tools,
                max_schema_depth: self.max_schema_depth,
            },
            max_query_chars: self.max_query_chars,
            max_facts_chars: self.max_facts_chars,
            max_tool_results_chars: self.max_tool_results_chars,
            max_new_tokens: self.max_new_tokens,
            max_calls: self.max_calls,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_then_flags() {
        let dir = std::env::temp_dir().join(format!("toolcalld-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.toml");
        std::fs::write(&file, "workers = 2\nthreads = 2\nqueue_size = 3\nbus = \"session\"\n").unwrap();
        let env = HashMap::from([("TOOLCALLD_QUEUE_SIZE".to_string(), "5".to_string())]);
        let overrides = Overrides {
            config_file: Some(file.clone()),
            bus: Some("unix:path=/x".into()),
            model_dir: None,
            models_dir: None,
        };
        let s = Settings::load(&overrides, env).unwrap();
        assert_eq!(
            (s.workers, s.threads, s.queue_size, s.bus.as_str()),
            (2, 2, 5, "unix:path=/x")
        );

        std::fs::write(&file, "workerz = 2\n").unwrap();
        let err = Settings::load(&overrides, HashMap::new()).unwrap_err();
        assert!(err.contains("workerz"), "{err}");
        for zero in ["workers", "threads"] {
            std::fs::write(&file, format!("{zero} = 0\n")).unwrap();
            assert!(Settings::load(&overrides, HashMap::new()).unwrap_err().contains(zero));
        }
        for (key, bad) in [("request_timeout_ms", 0), ("register_timeout_ms", 86_400_001)] {
            std::fs::write(&file, format!("{key} = {bad}\n")).unwrap();
            let err = Settings::load(&overrides, HashMap::new()).unwrap_err();
            assert!(err.contains(key) && err.contains("a day"), "{err}");
        }
        let missing = Overrides {
            config_file: Some(dir.join("nope.toml")),
            ..Overrides::default()
        };
        assert!(
            Settings::load(&missing, HashMap::new())
                .unwrap_err()
                .contains("does not exist")
        );
    }

    #[test]
    fn a_session_may_not_expire_while_its_turn_runs() {
        let environment = |idle: &str| {
            HashMap::from([
                ("TOOLCALLD_SESSION_IDLE_TIMEOUT_S".to_string(), idle.to_string()),
                ("TOOLCALLD_REQUEST_TIMEOUT_MS".to_string(), "20000".to_string()),
            ])
        };
        let overrides = Overrides {
            config_file: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("toolcalld.toml")),
            ..Overrides::default()
        };
        let err = Settings::load(&overrides, environment("20")).unwrap_err();
        assert!(err.contains("session_idle_timeout_s"), "{err}");
        assert!(Settings::load(&overrides, environment("21")).is_ok());
        assert!(Settings::load(&overrides, environment("0")).is_ok());
    }

    #[test]
    fn shipped_config_file_parses_to_the_defaults() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("toolcalld.toml");
        let overrides = Overrides {
            config_file: Some(shipped),
            ..Overrides::default()
        };
        let s = Settings::load(&overrides, HashMap::new()).unwrap();
        assert_eq!(s, Settings::default());
    }
}
