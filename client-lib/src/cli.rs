//! toolcallctl's command line and how it prints results. In the library so that the man page
//! and the shell completions (`docs/man/toolcallctl.1`, `completions/`) are generated from the
//! same definition.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{CallOptions, CallResult, ModelEntry, RouteResult, Status};

#[derive(Parser)]
#[command(
    name = "toolcallctl",
    version,
    about = "Command-line client of toolcalld (org.toolcalld.ToolCall1)"
)]
pub struct Cli {
    /// Use the session bus.
    #[arg(long, global = true, conflicts_with_all = ["system", "address"])]
    pub session: bool,
    /// Use the system bus (the default).
    #[arg(long, global = true, conflicts_with = "address")]
    pub system: bool,
    /// Use the bus at this D-Bus address (unix:path=...).
    #[arg(long, global = true)]
    pub address: Option<String>,
    /// Print results as JSON, one line each (short, the default off a terminal) or indented
    /// (pretty). On a terminal, without this flag, results are printed for people.
    #[arg(long, global = true, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "short")]
    pub json: Option<JsonStyle>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// One-shot call: prints the result.
    Call {
        #[command(flatten)]
        tools: ToolsArg,
        #[command(flatten)]
        options: OptionArgs,
        /// The request, e.g. "dim the kitchen to 30".
        query: String,
    },
    /// Registers the tools once and runs each query on the registered toolset (a result each).
    Register {
        #[command(flatten)]
        tools: ToolsArg,
        #[command(flatten)]
        options: OptionArgs,
        /// Queries to run on the toolset.
        queries: Vec<String>,
    },
    /// Multi-turn session: reads turns from stdin, one per line. A line `results: JSON`
    /// submits tool results; any other line is a user turn. A result per turn.
    Session {
        #[command(flatten)]
        tools: ToolsArg,
        #[command(flatten)]
        options: OptionArgs,
    },
    /// Service version, default model and queue depth.
    Status,
    /// The model bundles the service can run (names for --model), loaded or not.
    Models,
    /// Has the service read its model bundles again (root or the toolcall-admin group on the
    /// system bus); prints what became of each.
    ReloadModels,
    /// Routes a request among the tools apps published in the registry: prints the calls, each
    /// with the app (bus name and object) that carries it out.
    Route(RouteArgs),
    /// As route, then has each app carry its call out: prints each call's result or error.
    Dispatch(RouteArgs),
    /// The tools apps published in the registry, with the bus name of each one's app.
    Registry,
}

#[derive(Args)]
pub struct RouteArgs {
    #[command(flatten)]
    pub options: OptionArgs,
    /// Choose only among these published tools (PREFIX.NAME; repeat it).
    #[arg(long = "only", value_name = "NAME")]
    pub only: Vec<String>,
    /// The request, e.g. "play some jazz".
    pub query: String,
}

impl RouteArgs {
    /// The options of Route and Dispatch.
    pub fn to_options(&self) -> CallOptions {
        CallOptions {
            model: self.options.model.clone(),
            tools: (!self.only.is_empty()).then(|| self.only.clone()),
            ..self.options.to_call_options()
        }
    }
}

#[derive(Args)]
pub struct ToolsArg {
    /// JSON file with the tool list ([{"name", "description", "parameters"}]); - for stdin.
    #[arg(long, short)]
    pub tools: PathBuf,
}

#[derive(Args)]
pub struct OptionArgs {
    /// Most calls in one answer.
    #[arg(long)]
    pub max_calls: Option<u32>,
    /// Require at least one call (no empty answer).
    #[arg(long)]
    pub require_call: bool,
    /// Most generated tokens.
    #[arg(long)]
    pub max_new_tokens: Option<u32>,
    /// Deadline in milliseconds.
    #[arg(long)]
    pub timeout_ms: Option<u32>,
    /// Facts for the model, e.g. "date: 2026-11-26; areas: kitchen, bedroom".
    #[arg(long)]
    pub facts: Option<String>,
    /// How much more (in logits) the model must prefer another call than ending the answer.
    #[arg(long)]
    pub call_margin: Option<f64>,
    /// The result JSON's shape: toolcalld's own, or an OpenAI chat completion's assistant
    /// message with `tool_calls`.
    #[arg(long, value_parser = ["toolcalld", "openai"])]
    pub format: Option<String>,
    /// The model bundle to run on, by its name in `toolcallctl models` (default: the
    /// service's default model).
    #[arg(long)]
    pub model: Option<String>,
    /// Keep the requests on the device even where the service escalates unsure answers to a
    /// bigger model (call, register, route and dispatch; session turns are never escalated).
    #[arg(long)]
    pub no_escalate: bool,
}

impl OptionArgs {
    /// The options of a call (`call`, and each query of `register`), which may be escalated.
    pub fn to_call_options(&self) -> CallOptions {
        CallOptions {
            escalate: self.no_escalate.then_some(false),
            ..self.to_options()
        }
    }

    /// The options of each request; the model is the toolset's for `register` and `session`
    /// (see [`OptionArgs::model`]), so only `call`, `route` and `dispatch` send it.
    pub fn to_options(&self) -> CallOptions {
        CallOptions {
            max_calls: self.max_calls,
            allow_empty: self.require_call.then_some(false),
            max_new_tokens: self.max_new_tokens,
            timeout_ms: self.timeout_ms,
            facts: self.facts.clone(),
            call_margin: self.call_margin,
            // toolcallctl makes one request at a time on its own connection: Ctrl-C (leaving
            // the bus) is its cancel.
            request_id: None,
            format: self.format.clone(),
            model: None,
            follow_reloads: None,
            escalate: None,
            prefix: None,
            tools: None,
        }
    }
}

/// `--json`'s forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JsonStyle {
    Short,
    Pretty,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Json(JsonStyle),
    Human,
}

impl Style {
    /// `--json`'s form if given; else for people on a terminal, short JSON elsewhere.
    pub fn choose(json: Option<JsonStyle>, on_terminal: bool) -> Style {
        match (json, on_terminal) {
            (Some(style), _) => Style::Json(style),
            (None, true) => Style::Human,
            (None, false) => Style::Json(JsonStyle::Short),
        }
    }

    fn json(self, value: &impl serde::Serialize) -> String {
        match self {
            Style::Json(JsonStyle::Pretty) => serde_json::to_string_pretty(value),
            _ => serde_json::to_string(value),
        }
        .expect("serialises")
    }

    /// A result JSON as the service sent it: as it is, indented, or for people (one line per
    /// call, `name(key=value, ...)`, then a line of figures). A reply that is no result JSON
    /// of either shape is an error.
    pub fn result_json(self, json: &str) -> Result<String, String> {
        match self {
            Style::Json(JsonStyle::Short) => Ok(json.to_string()),
            Style::Json(JsonStyle::Pretty) => {
                let value: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("{e}: {json}"))?;
                Ok(self.json(&value))
            }
            Style::Human => Ok(Style::human(&CallResult::from_json(json)?)),
        }
    }

    fn human(result: &CallResult) -> String {
        let mut lines: Vec<String> = result
            .function_calls
            .iter()
            .map(|call| {
                let arguments = call.arguments.as_object().map_or_else(
                    || call.arguments.to_string(),
                    |map| {
                        map.iter()
                            .map(|(key, value)| format!("{key}={value}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                );
                format!("{}({arguments})", call.name)
            })
            .collect();
        if lines.is_empty() {
            lines.push("no call".into());
        }
        lines.push(format!(
            "  (confidence {:.2}, {:.0} ms, {})",
            result.confidence, result.timings.total_ms, result.model
        ));
        if let Some(escalation) = &result.escalation {
            lines.push(match &escalation.note {
                None => format!("  (escalated to {}: {})", escalation.endpoint, escalation.reason),
                Some(note) => format!("  (local answer kept; {}: {note})", escalation.endpoint),
            });
        }
        lines.join("\n")
    }

    /// A Route or Dispatch result JSON: as it is, indented, or for people (a line per call with
    /// its app, then its result or error, then a line of figures and the tools offered).
    pub fn route_json(self, json: &str) -> Result<String, String> {
        if self != Style::Human {
            return self.result_json(json);
        }
        let result: RouteResult = serde_json::from_str(json).map_err(|e| format!("{e}: {json}"))?;
        let mut lines = Vec::new();
        for call in &result.function_calls {
            lines.push(format!(
                "{}({})  [{} {}]",
                call.name, call.arguments, call.provider, call.provider_path
            ));
            match (&call.result, &call.error) {
                (Some(result), _) => lines.push(format!("  -> {result}")),
                (None, Some(error)) => lines.push(format!("  !! {}: {}", error.name, error.message)),
                (None, None) => {}
            }
        }
        if lines.is_empty() {
            lines.push("no call".into());
        }
        let among = match result.offered.as_slice() {
            [] => String::new(),
            offered => format!("; chosen among {}", offered.join(", ")),
        };
        lines.push(format!(
            "  (confidence {:.2}, {:.0} ms, {}{among})",
            result.confidence, result.timings.total_ms, result.model
        ));
        Ok(lines.join("\n"))
    }

    /// The service's status: JSON, or a line of it.
    pub fn status(self, status: &Status) -> String {
        if self != Style::Human {
            return self.json(status);
        }
        format!(
            "toolcalld {}, model {}, {} request(s) queued or running",
            status.version, status.model, status.queue_depth
        )
    }

    /// `toolcallctl models`: a line per bundle for people, else the list as JSON.
    pub fn models(self, models: &[ModelEntry]) -> String {
        if self != Style::Human {
            return self.json(&models);
        }
        let line = |m: &ModelEntry| {
            format!(
                "{}{}: {} {}, {} MB, {}",
                m.model,
                if m.default { " (default)" } else { "" },
                m.info.name,
                m.info.version,
                m.weights_mb,
                if m.loaded { "loaded" } else { "not loaded" }
            )
        };
        models.iter().map(line).collect::<Vec<_>>().join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result() -> CallResult {
        serde_json::from_value(serde_json::json!({
            "function_calls": [{"name": "set_timer", "arguments": {"minutes": 5, "label": "tea"}}],
            "confidence": 0.934,
            "model": "smollm2-135m-toolcall 0.9",
            "timings": {"queue_ms": 0.0, "prefill_ms": 50.0, "decode_ms": 300.0, "total_ms": 412.2,
                        "prompt_tokens": 315, "cached_tokens": 302, "generated_tokens": 12}
        }))
        .unwrap()
    }

    #[test]
    fn people_get_calls_as_lines_and_scripts_get_json() {
        let json = serde_json::to_string(&result()).unwrap();
        let human = "set_timer(minutes=5, label=\"tea\")\n  (confidence 0.93, 412 ms, smollm2-135m-toolcall 0.9)";
        assert_eq!(Style::choose(None, true).result_json(&json).unwrap(), human);
        // The OpenAI shape reads the same for people.
        let openai = serde_json::to_string(&result().to_openai("call_x")).unwrap();
        assert_eq!(Style::Human.result_json(&openai).unwrap(), human);
        assert_eq!(Style::choose(None, false).result_json(&openai).unwrap(), openai);
        let pretty = Style::choose(Some(JsonStyle::Pretty), true).result_json(&json).unwrap();
        assert!(pretty.contains("\n  \"function_calls\""), "{pretty}");
        let mut empty = result();
        empty.function_calls.clear();
        assert!(Style::human(&empty).starts_with("no call\n"));
        assert!(Style::Human.result_json("{}").is_err());
    }

    #[test]
    fn routed_calls_print_with_their_app_and_result() {
        let json = serde_json::json!({
            "function_calls": [
                {"name": "media.play", "arguments": {"song": "jazz"}, "provider": ":1.4",
                 "provider_path": "/org/example/Media", "tool": "play", "result": {"played": "jazz"}},
                {"name": "lights.on", "arguments": {}, "provider": ":1.5", "provider_path": "/l", "tool": "on",
                 "error": {"name": toolcall_dbus::PROVIDER_TIMEOUT, "message": "no answer within 5000 ms"}}],
            "offered": ["media.play", "lights.on"], "confidence": 0.5, "model": "m 1",
            "timings": {"queue_ms": 0.0, "prefill_ms": 1.0, "decode_ms": 1.0, "total_ms": 12.0,
                        "prompt_tokens": 1, "cached_tokens": 0, "generated_tokens": 1}
        })
        .to_string();
        assert_eq!(
            Style::Human.route_json(&json).unwrap(),
            format!(
                "media.play({{\"song\":\"jazz\"}})  [:1.4 /org/example/Media]\n  -> {{\"played\":\"jazz\"}}\n\
                 lights.on({{}})  [:1.5 /l]\n  !! {}: no answer within 5000 ms\n\
                 \x20 (confidence 0.50, 12 ms, m 1; chosen among media.play, lights.on)",
                toolcall_dbus::PROVIDER_TIMEOUT
            )
        );
        assert_eq!(Style::Json(JsonStyle::Short).route_json(&json).unwrap(), json);
    }
}
