//! One request's way through the service. [`Request::new`] builds it once from the D-Bus
//! arguments: the caller, the options parsed into the engine's type, one clock and one
//! deadline, and the model it runs on (the `model` option's bundle, the default one, or the
//! engine of the object it was called on). [`Request::run`] takes it through the worker pool:
//! admission, the bundle loaded if it is not in memory, fault injection (debug builds),
//! cancellation when its caller leaves, errors mapped to named D-Bus errors, and one log line. [`Request::answer`] also turns the engine's result into the wire's JSON, in
//! the shape the caller asked for (`format`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use toolcall_dbus::{
    CallOptions as WireOptions, MODEL_OPTION, REQUEST_ID_OPTION, ReceivedOptions, ResultFormat, TEST_FAULT_OPTION,
    ToolCallError,
};
use toolcall_engine::{CallOptions, Error as EngineError};

use crate::fault::{self, Fault};
use crate::models::{LoadedModel, Model};
use crate::service::Shared;
use crate::worker::PoolError;

/// Spelled `Result` as in the interfaces, whose methods return it.
pub type Result<T> = std::result::Result<T, ToolCallError>;

/// The interface method a request came in on: the pool plans a request's turn by the recent
/// run times of its method, and the log line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Call,
    RegisterToolset,
    ToolsetCall,
    OpenSession,
    Send,
    SubmitToolResults,
    Reset,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Call => "Call",
            Method::RegisterToolset => "RegisterToolset",
            Method::ToolsetCall => "Toolset.Call",
            Method::OpenSession => "OpenSession",
            Method::Send => "Session.Send",
            Method::SubmitToolResults => "Session.SubmitToolResults",
            Method::Reset => "Session.Reset",
        }
    }

    /// Whether the method has options of its own; those that have none yet refuse any but
    /// `request_id` (and `model`, where [`Method::takes_model`]).
    fn takes_options(self) -> bool {
        !matches!(self, Method::RegisterToolset | Method::OpenSession | Method::Reset)
    }

    /// Whether the method takes the `model` option: those that pick a model, not those of an
    /// object, which runs on its own.
    fn takes_model(self) -> bool {
        matches!(self, Method::Call | Method::RegisterToolset | Method::OpenSession)
    }
}

/// The model a request runs on.
pub enum RunsOn {
    /// A bundle of the catalogue, loaded at the request's turn if it is not in memory.
    Bundle(Arc<Model>),
    /// The engine a toolset or session was made on.
    Engine(Arc<LoadedModel>),
}

/// A request, parsed and timed.
pub struct Request {
    method: Method,
    caller: String,
    /// Whose shares it counts against (its line in the queue, its lists in the one-shot
    /// cache): `uid:N` once the bus has told the caller's uid, else the caller itself.
    user: String,
    /// What the log line names after the method: the object called, or the tool list's hash.
    target: Option<String>,
    /// The engine's options, with the deadline and the cancel flag set.
    options: CallOptions,
    /// The caller's name for it, by which `Cancel` ends it.
    request_id: Option<String>,
    /// The shape of the result JSON.
    format: ResultFormat,
    runs_on: RunsOn,
    /// The `model` option as given.
    model_option: Option<String>,
    deadline: Instant,
    timeout_ms: u64,
    started: Instant,
    /// Debug builds only: see [`crate::fault`].
    fault: Option<Fault>,
}

impl Request {
    /// Type-checks `options` into the engine's options (their ranges are the engine's to check;
    /// a method that takes no options yet refuses any) and sets the deadline: the caller's
    /// `timeout_ms`, at most the configured `request_timeout_ms`, counted from now. It runs on
    /// the `model` option's bundle (`UnknownModel` if there is none of that name) or the
    /// default one, unless [`Request::on`] says otherwise.
    pub fn new(
        method: Method,
        caller: String,
        target: Option<String>,
        options: &ReceivedOptions,
        shared: &Shared,
    ) -> Result<Request> {
        let request_timeout_ms = shared.request_timeout_ms();
        let user = shared.clients.user_of(&caller);
        let started = Instant::now();
        // `request_id` is every method's, and so is the fault drills' `test_fault` in debug builds.
        let own_options = options.keys().filter(|k| {
            k.as_str() != REQUEST_ID_OPTION
                && !(k.as_str() == TEST_FAULT_OPTION && fault::enabled())
                && !(k.as_str() == MODEL_OPTION && method.takes_model())
        });
        if !method.takes_options() && own_options.count() > 0 {
            return Err(ToolCallError::InvalidOptions(format!(
                "{} takes no options yet",
                method.name()
            )));
        }
        let (wire, test_fault) = WireOptions::from_wire(options, fault::enabled())?;
        if wire.model.is_some() && !method.takes_model() {
            return Err(ToolCallError::InvalidOptions(format!(
                "option \"model\": {} runs on its toolset's model",
                method.name()
            )));
        }
        let runs_on = RunsOn::Bundle(shared.models.get(wire.model.as_deref())?);
        let timeout_ms = wire
            .timeout_ms
            .map_or(request_timeout_ms, |t| u64::from(t).min(request_timeout_ms));
        let deadline = started + Duration::from_millis(timeout_ms);
        Ok(Request {
            method,
            caller,
            user,
            target,
            options: CallOptions {
                max_calls: wire.max_calls.map(|n| n as usize),
                allow_empty: wire.allow_empty,
                max_new_tokens: wire.max_new_tokens.map(|n| n as usize),
                facts: wire.facts,
                call_margin: wire.call_margin.map(|m| m as f32),
                deadline: Some(deadline),
                cancel: Some(Arc::new(AtomicBool::new(false))),
            },
            request_id: wire.request_id,
            format: ResultFormat::from_option(wire.format.as_deref())?,
            runs_on,
            model_option: wire.model,
            deadline,
            timeout_ms,
            started,
            fault: test_fault.as_deref().map(fault::parse).transpose()?,
        })
    }

    /// Whose shares the request counts against (see the field).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Runs on `engine`, the one its toolset or session was made on. A `model` option that
    /// names another bundle is `InvalidOptions`.
    pub fn on(mut self, engine: Arc<LoadedModel>) -> Result<Request> {
        if let Some(asked) = &self.model_option
            && asked != &engine.bundle
        {
            return Err(ToolCallError::InvalidOptions(format!(
                "option \"model\": this toolset runs on model {:?}, not {asked:?}",
                engine.bundle
            )));
        }
        self.runs_on = RunsOn::Engine(engine);
        Ok(self)
    }

    /// Bytes of KV state per token on the model the request runs on.
    pub fn kv_bytes_per_token(&self) -> usize {
        match &self.runs_on {
            RunsOn::Bundle(model) => model.kv_bytes_per_token(),
            RunsOn::Engine(engine) => engine.kv_bytes_per_token(),
        }
    }

    /// Runs `work` on the pool. Returns its value and the milliseconds the request waited.
    pub async fn run<T: Send + 'static>(
        self,
        shared: &Arc<Shared>,
        work: impl FnOnce(&Arc<LoadedModel>, &CallOptions) -> std::result::Result<T, EngineError> + Send + 'static,
    ) -> Result<(T, f64)> {
        let cancel = self.options.cancel.clone().expect("a request has a cancel flag");
        let in_flight = shared.requests.track(&self.caller, cancel, self.request_id.clone());
        let (options, fault, started) = (self.options, self.fault, self.started);
        let (runs_on, models) = (self.runs_on, shared.clone());
        let job = shared.pool.run((self.deadline, self.method, &self.user), move || {
            let queue_ms = started.elapsed().as_secs_f64() * 1000.0;
            // The caller may have left the bus while this waited in the queue.
            if options.cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst)) {
                return Err(EngineError::Cancelled);
            }
            if let Some(fault) = fault {
                fault.strike()?;
            }
            let engine = match runs_on {
                RunsOn::Engine(engine) => engine,
                RunsOn::Bundle(model) => models.models.engine(&model)?,
            };
            work(&engine, &options).map(|v| (v, queue_ms))
        });
        // Cancelled by its id, the caller hears at once; the job, queued or at its next check,
        // sees the flag and ends. An answer that is ready wins over a cancel that comes with it
        // (a session turn that ended stays answered, since the session took it).
        let outcome = tokio::select! {
            biased;
            outcome = job => outcome,
            () = in_flight.cancelled() => Ok(Err(EngineError::Cancelled)),
        };
        let timeout_ms = self.timeout_ms;
        let result = match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(engine_error(e)),
            Err(e) => Err(pool_error(e, timeout_ms)),
        };
        let elapsed = started.elapsed().as_millis();
        let what = match &self.target {
            Some(target) => format!("{} {target}", self.method.name()),
            None => self.method.name().to_string(),
        };
        match &result {
            Ok(_) => log::info!("{} {what}: ok in {elapsed} ms", self.caller),
            Err(e) => log::info!("{} {what}: {} in {elapsed} ms", self.caller, error_name(e)),
        }
        result
    }

    /// Runs a turn of the engine and answers with the wire's result JSON.
    pub async fn answer(
        self,
        shared: &Arc<Shared>,
        work: impl FnOnce(&Arc<LoadedModel>, &CallOptions) -> std::result::Result<toolcall_engine::CallResult, EngineError>
        + Send
        + 'static,
    ) -> Result<String> {
        let (started, format) = (self.started, self.format);
        let labelled = move |engine: &Arc<LoadedModel>, options: &CallOptions| {
            work(engine, options).map(|result| (result, engine.label.clone()))
        };
        let ((result, model), queue_ms) = self.run(shared, labelled).await?;
        let wire = wire_result(result, queue_ms, started, model);
        let json = match format {
            ResultFormat::Toolcalld => serde_json::to_string(&wire),
            ResultFormat::OpenAi => serde_json::to_string(&wire.to_openai(&call_id_base())),
        };
        Ok(json.expect("result serialises"))
    }
}

/// The base of the ids of an answer's calls in the OpenAI shape: `call_` and 64 random bits
/// (std's randomly keyed SipHash of nothing), so that ids do not repeat across answers.
fn call_id_base() -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    format!("call_{random:016x}")
}

/// The engine's answer as the wire has it, with the service's own times.
fn wire_result(
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
    }
}

/// The engine's errors as named D-Bus errors.
pub fn engine_error(e: EngineError) -> ToolCallError {
    let message = e.to_string();
    match e {
        EngineError::InvalidTools { .. } => ToolCallError::InvalidTools(message),
        EngineError::InvalidQuery(_) => ToolCallError::InvalidQuery(message),
        EngineError::InvalidOptions(_) => ToolCallError::InvalidOptions(message),
        EngineError::LimitExceeded { .. } => ToolCallError::LimitExceeded(message),
        EngineError::Timeout { .. } => ToolCallError::Timeout(message),
        EngineError::Cancelled => ToolCallError::Cancelled(message),
        EngineError::Bundle { .. } | EngineError::Model(_) => ToolCallError::ModelError(message),
        EngineError::Internal(_) => ToolCallError::Internal(message),
    }
}

/// Why the pool did not run a request, as a named D-Bus error: overload is `Busy`.
fn pool_error(e: PoolError, timeout_ms: u64) -> ToolCallError {
    match e {
        PoolError::Busy => ToolCallError::Busy("the request queue is full; retry later".into()),
        PoolError::UserQueueFull { admitted } => ToolCallError::Busy(format!(
            "max_queued_per_user: {admitted} requests of this user are already running or queued; retry when one has been answered"
        )),
        PoolError::WouldMissDeadline { ahead, expected_ms } => ToolCallError::Busy(format!(
            "{ahead} requests ahead: this one would end after ~{expected_ms} ms, past its {timeout_ms} ms deadline; retry later"
        )),
        PoolError::LateAtItsTurn {
            waited_ms,
            left_ms,
            expected_ms,
        } => ToolCallError::Busy(format!(
            "waited {waited_ms} ms in the queue: the {left_ms} ms left to its {timeout_ms} ms deadline are less than such a request takes now (~{expected_ms} ms), so it was not started; retry later"
        )),
        PoolError::ShuttingDown => ToolCallError::Busy("toolcalld is shutting down".into()),
        PoolError::Panicked(m) => ToolCallError::Internal(format!("request failed: {m}")),
    }
}

fn error_name(e: &ToolCallError) -> String {
    use zbus::DBusError;
    e.name().to_string()
}
