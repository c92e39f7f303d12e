//! One request's way through the service. [`Request::new`] builds it once from the D-Bus
//! arguments: the caller, the options parsed into the engine's type, one clock and one
//! deadline, and the model it runs on (the `model` option's bundle, the default one, or the
//! engine of the object it was called on). [`Request::run`] loads the bundle if it is not in
//! memory, then takes the request through the worker pool: admission, fault injection (debug builds),
//! cancellation when its caller leaves, errors mapped to named D-Bus errors, and one log line. [`Request::answer`] also turns the engine's result into the wire's JSON, in
//! the shape the caller asked for (`format`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use toolcall_dbus::{
    CallOptions as WireOptions, ESCALATE_OPTION, FOLLOW_RELOADS_OPTION, MODEL_OPTION, REQUEST_ID_OPTION,
    ReceivedOptions, ResultFormat, TEST_FAULT_OPTION, ToolCallError,
};
use toolcall_engine::{CallOptions, Error as EngineError};

use crate::errors::{engine_error, error_name, pool_error};
use crate::escalation::Asked;
use crate::fault::{self, Fault};
use crate::in_flight::InFlight;
use crate::models::{LoadedModel, Model};
use crate::service::Shared;

mod method;
mod reply;

pub use method::Method;

/// Spelled `Result` as in the interfaces, whose methods return it.
pub type Result<T> = std::result::Result<T, ToolCallError>;

/// A turn's answer, the label of the engine that gave it, and what escalating it would need
/// (`None`: it is not escalated; session turns are not).
pub struct Answered {
    pub result: toolcall_engine::CallResult,
    pub model: String,
    pub asked: Option<Asked>,
}

/// The model a request runs on.
pub enum RunsOn {
    /// A bundle of the catalogue, loaded before the request is queued (on a blocking thread)
    /// if it is not in memory.
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
    /// RegisterToolset's `follow_reloads` option.
    follows_reloads: bool,
    /// Whether the answer may go to the escalation endpoint (the `escalate` option).
    may_escalate: bool,
    /// Route's and Dispatch's `tools` option: the published tools to choose among.
    tools: Option<Vec<String>>,
    deadline: Instant,
    timeout_ms: u64,
    /// Whether the caller set the deadline (`timeout_ms`).
    asked_timeout: bool,
    started: Instant,
    /// Debug builds only: see [`crate::fault`].
    fault: Option<Fault>,
}

impl Request {
    /// Type-checks `options` into the engine's options (their ranges are the engine's to check;
    /// a method that takes no options yet refuses any) and sets the deadline: the caller's
    /// `timeout_ms`, at most the configured `request_timeout_ms` (RegisterToolset:
    /// `register_timeout_ms`), counted from now. It runs on the `model` option's bundle (Call
    /// and RegisterToolset: `UnknownModel` if there is none of that name; OpenSession's is
    /// judged by [`Request::on`]) or the default one, unless [`Request::on`] says otherwise.
    pub fn new(
        method: Method,
        caller: String,
        target: Option<String>,
        options: &ReceivedOptions,
        shared: &Shared,
    ) -> Result<Request> {
        let longest_ms = shared.timeout_ms_of(method);
        let user = shared.clients.user_of(&caller);
        let started = Instant::now();
        // `request_id` is every method's, and so is the fault drills' `test_fault` in debug builds.
        let own_options = options.keys().filter(|k| {
            k.as_str() != REQUEST_ID_OPTION
                && !(k.as_str() == TEST_FAULT_OPTION && fault::enabled())
                && !(k.as_str() == MODEL_OPTION && method.takes_model())
                && !(k.as_str() == FOLLOW_RELOADS_OPTION && method == Method::RegisterToolset)
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
        if wire.follow_reloads.is_some() && method != Method::RegisterToolset {
            return Err(ToolCallError::InvalidOptions(format!(
                "option \"follow_reloads\" is RegisterToolset's, not {}'s",
                method.name()
            )));
        }
        if wire.escalate.is_some() && !method.escalates() {
            return Err(ToolCallError::InvalidOptions(format!(
                "option \"{ESCALATE_OPTION}\" is Call's, Toolset.Call's, Route's and Dispatch's: {} is not escalated",
                method.name()
            )));
        }
        if wire.prefix.is_some() {
            return Err(ToolCallError::InvalidOptions(format!(
                "option \"prefix\" is the registry's Publish's, not {}'s",
                method.name()
            )));
        }
        if wire.tools.is_some() && !method.routes() {
            return Err(ToolCallError::InvalidOptions(format!(
                "option \"tools\" is the registry's Route's and Dispatch's, not {}'s",
                method.name()
            )));
        }
        // A session's turn or a toolset's call runs on its object's engine (`Request::on`, which
        // also judges OpenSession's option); until then it is taken to run on the default.
        let picks_model = matches!(
            method,
            Method::Call | Method::RegisterToolset | Method::Route | Method::Dispatch
        );
        let named = wire.model.as_deref().filter(|_| picks_model);
        let runs_on = RunsOn::Bundle(shared.models.get(named)?);
        let timeout_ms = wire.timeout_ms.map_or(longest_ms, |t| u64::from(t).min(longest_ms));
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
            format: match ResultFormat::from_option(wire.format.as_deref())? {
                ResultFormat::OpenAi if method.routes() => {
                    return Err(ToolCallError::InvalidOptions(
                        "option \"format\": Route and Dispatch answer in toolcalld's shape only".into(),
                    ));
                }
                format => format,
            },
            runs_on,
            model_option: wire.model,
            follows_reloads: wire.follow_reloads.unwrap_or(false),
            may_escalate: wire.escalate.unwrap_or(true) && method.escalates(),
            tools: wire.tools,
            deadline,
            timeout_ms,
            asked_timeout: wire.timeout_ms.is_some(),
            started,
            fault: test_fault.as_deref().map(fault::parse).transpose()?,
        })
    }

    /// Whose shares the request counts against (see the field).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Route's and Dispatch's `tools` option (`None`: all published tools).
    pub fn tools(&self) -> Option<&[String]> {
        self.tools.as_deref()
    }

    /// Whether RegisterToolset was asked to follow reloads of its bundle.
    pub fn follows_reloads(&self) -> bool {
        self.follows_reloads
    }

    /// For a toolset that must first move to its bundle's reloaded engine, which compiles its
    /// tools again: RegisterToolset's deadline, unless the caller set one (`timeout_ms`).
    pub fn recompiles(mut self, shared: &Shared) -> Request {
        if !self.asked_timeout {
            self.timeout_ms = self.timeout_ms.max(shared.timeout_ms_of(Method::RegisterToolset));
            self.deadline = self.started + Duration::from_millis(self.timeout_ms);
            self.options.deadline = Some(self.deadline);
        }
        self
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
        let in_flight = self.track(shared);
        self.run_tracked(shared, &in_flight, work).await
    }

    /// Tracks the request among its caller's, for `Cancel` and the caller leaving, until the
    /// guard is dropped.
    fn track<'s>(&self, shared: &'s Shared) -> InFlight<'s> {
        let cancel = self.options.cancel.clone().expect("a request has a cancel flag");
        shared.requests.track(&self.caller, cancel, self.request_id.clone())
    }

    /// [`Request::run`] for a request tracked by `in_flight`.
    async fn run_tracked<T: Send + 'static>(
        self,
        shared: &Arc<Shared>,
        in_flight: &InFlight<'_>,
        work: impl FnOnce(&Arc<LoadedModel>, &CallOptions) -> std::result::Result<T, EngineError> + Send + 'static,
    ) -> Result<(T, f64)> {
        let who = self.who();
        let (options, fault, started) = (self.options, self.fault, self.started);
        let (pool, line) = (shared.pool.clone(), (self.deadline, self.method, self.user.clone()));
        let engine = engine_for(self.runs_on, shared.clone(), (started, self.deadline));
        let job = async move {
            let engine = match engine.await {
                Ok(engine) => engine,
                Err(e) => return Ok(Err(e)),
            };
            let (deadline, method, user) = line;
            pool.run((deadline, method, &user), move || {
                let queue_ms = started.elapsed().as_secs_f64() * 1000.0;
                // The caller may have left the bus while this waited in the queue.
                if options.cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst)) {
                    return Err(EngineError::Cancelled);
                }
                if let Some(fault) = fault {
                    fault.strike()?;
                }
                engine.touch();
                work(&engine, &options).map(|v| (v, queue_ms))
            })
            .await
        };
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
        match &result {
            Ok(_) => log::info!("{who}: ok in {elapsed} ms"),
            Err(e) => log::info!("{who}: {} in {elapsed} ms", error_name(e)),
        }
        result
    }

    /// The request in the journal: its caller, method and target.
    fn who(&self) -> String {
        match &self.target {
            Some(target) => format!("{} {} {target}", self.caller, self.method.name()),
            None => format!("{} {}", self.caller, self.method.name()),
        }
    }

    /// Runs a turn of the engine and answers with the wire's result JSON.
    pub async fn answer(
        self,
        shared: &Arc<Shared>,
        work: impl FnOnce(&Arc<LoadedModel>, &CallOptions) -> std::result::Result<toolcall_engine::CallResult, EngineError>
        + Send
        + 'static,
    ) -> Result<String> {
        let labelled = move |engine: &Arc<LoadedModel>, options: &CallOptions| {
            work(engine, options).map(|result| Answered {
                result,
                model: engine.label.clone(),
                asked: None,
            })
        };
        self.answer_from(shared, labelled).await
    }

    /// As [`Request::answer`], for work that says which engine answered (a toolset that follows
    /// reloads may answer on another than the request's) and what escalating its answer needs.
    /// An answer the deployment's escalation endpoint should see goes there before the caller
    /// gets it (see [`crate::escalation`]).
    pub async fn answer_from(
        self,
        shared: &Arc<Shared>,
        work: impl FnOnce(&Arc<LoadedModel>, &CallOptions) -> std::result::Result<Answered, EngineError> + Send + 'static,
    ) -> Result<String> {
        let format = self.format;
        let wire = self.answer_result(shared, work).await?;
        Ok(reply::result_json(&wire, format))
    }

    /// As [`Request::answer_from`], the result as the wire's type (the registry adds to it).
    pub async fn answer_result(
        self,
        shared: &Arc<Shared>,
        work: impl FnOnce(&Arc<LoadedModel>, &CallOptions) -> std::result::Result<Answered, EngineError> + Send + 'static,
    ) -> Result<toolcall_dbus::CallResult> {
        let in_flight = self.track(shared);
        let (started, deadline, who) = (self.started, self.deadline, self.who());
        let escalation = (self.may_escalate, self.options.clone());
        let (answered, queue_ms) = self.run_tracked(shared, &in_flight, work).await?;
        let mut wire = reply::wire_result(answered.result, queue_ms, started, answered.model);
        if let (Some(escalator), Some(asked), (true, options)) = (&shared.escalation, answered.asked, escalation) {
            // `Cancel` by its id ends the wait for the endpoint too.
            tokio::select! {
                biased;
                () = in_flight.cancelled() => {
                    log::info!("{who}: Cancelled while escalated");
                    return Err(engine_error(EngineError::Cancelled));
                }
                () = escalator.review(asked, options, deadline, &mut wire, &who) => {}
            }
            wire.timings.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        }
        Ok(wire)
    }
}

/// The engine a request runs on: its object's, or its bundle's, loaded first if it is not in
/// memory, on a blocking thread and before the request is queued (a load takes seconds: it
/// neither holds a worker nor counts as the request's run time). Waiting for the load ends at
/// the request's deadline (`Timeout`; the load goes on).
async fn engine_for(
    runs_on: RunsOn,
    shared: Arc<Shared>,
    (started, deadline): (Instant, Instant),
) -> std::result::Result<Arc<LoadedModel>, EngineError> {
    let model = match runs_on {
        RunsOn::Engine(engine) => return Ok(engine),
        RunsOn::Bundle(model) => model,
    };
    if let Some(engine) = shared.models.loaded(&model) {
        return Ok(engine);
    }
    let load = tokio::task::spawn_blocking(move || shared.models.engine(&model));
    match tokio::time::timeout_at(deadline.into(), load).await {
        Ok(loaded) => loaded.unwrap_or_else(|e| Err(EngineError::Internal(format!("loading the model failed: {e}")))),
        Err(_) => Err(EngineError::Timeout {
            elapsed_ms: started.elapsed().as_millis() as u64,
        }),
    }
}
