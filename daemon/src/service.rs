//! The D-Bus objects of org.toolcalld.ToolCall1: the manager at /org/toolcalld/ToolCall1,
//! per-client toolsets and sessions under it, and the bookkeeping that frees a client's objects
//! and cancels its requests when it leaves the bus. Methods take `&self` and hand all model
//! work to the worker [`Pool`]; nothing here touches tensors.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use toolcall_dbus::{
    CallOptions as WireOptions, CallResult, FunctionCall, ReceivedOptions, SESSIONS_PATH, TOOLSETS_PATH, Timings,
    ToolCallError,
};
use toolcall_engine::{CallOptions, Engine, Error as EngineError};
use zbus::message::Header;
use zbus::object_server::ObjectServer;
use zbus::{OwnedObjectPath, OwnedVariant, Variant, interface};

use crate::config::Settings;
use crate::fault::{self, Fault};
use crate::worker::{Pool, PoolError};

type Options = ReceivedOptions;
/// Spelled `Result` so zbus' interface macro sees a fallible method.
type Result<T> = std::result::Result<T, ToolCallError>;

/// State shared by every object of the service.
pub struct Shared {
    pub pool: Arc<Pool>,
    pub settings: RwLock<Settings>,
    model_name: String,
    model_info: HashMap<String, OwnedVariant>,
    cache: Mutex<ToolsetCache>,
    clients: Mutex<HashMap<String, Client>>,
    next_id: AtomicU64,
    accepting: AtomicBool,
}

/// What one client (unique bus name) holds.
#[derive(Default)]
struct Client {
    objects: Vec<(OwnedObjectPath, ObjectKind)>,
    inflight: Vec<Arc<AtomicBool>>,
}

#[derive(Clone, Copy, PartialEq)]
enum ObjectKind {
    Toolset,
    Session,
}

/// One-shot Call's compiled tool lists, keyed by the tools JSON's hash, least recently used out.
struct ToolsetCache {
    capacity: usize,
    entries: VecDeque<(String, Arc<toolcall_engine::Toolset>)>,
}

impl ToolsetCache {
    fn get(&mut self, key: &str) -> Option<Arc<toolcall_engine::Toolset>> {
        let index = self.entries.iter().position(|(k, _)| k == key)?;
        let entry = self.entries.remove(index)?;
        let toolset = entry.1.clone();
        self.entries.push_front(entry);
        Some(toolset)
    }

    fn insert(&mut self, key: String, toolset: Arc<toolcall_engine::Toolset>) {
        self.entries.retain(|(k, _)| k != &key);
        self.entries.push_front((key, toolset));
        self.entries.truncate(self.capacity);
    }
}

impl Shared {
    pub fn new(engine: &Engine, pool: Arc<Pool>, settings: Settings) -> Arc<Shared> {
        let m = engine.manifest();
        let mut model_info = HashMap::new();
        let mut put = |k: &str, v: Variant<'_>| {
            model_info.insert(k.to_string(), v.try_into_owned().expect("plain value"));
        };
        put("name", Variant::from(m.name.as_str()));
        put("version", Variant::from(m.version.as_str()));
        put("parameters", Variant::from(m.parameters));
        put(
            "quantization",
            Variant::from(serde_json::to_string(&m.quantization).unwrap_or_default()),
        );
        put("context_length", Variant::from(m.context_length as u32));
        put("license", Variant::from(m.license.as_str()));
        put("attribution", Variant::from(m.attribution.as_str()));
        put("prompt_format", Variant::from(m.prompt_format.as_str()));
        Arc::new(Shared {
            pool,
            model_name: format!("{} {}", m.name, m.version),
            model_info,
            cache: Mutex::new(ToolsetCache {
                capacity: settings.toolset_cache,
                entries: VecDeque::new(),
            }),
            settings: RwLock::new(settings),
            clients: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            accepting: AtomicBool::new(true),
        })
    }

    /// Applies the reloadable keys of a re-read configuration.
    pub fn reload(&self, new: Settings) {
        self.pool.set_queue_size(new.queue_size);
        self.cache.lock().expect("cache lock").capacity = new.toolset_cache;
        log::set_max_level(new.log_level.parse().unwrap_or(log::LevelFilter::Info));
        *self.settings.write().expect("settings lock") = new;
    }

    /// Stop taking new requests (SIGTERM).
    pub fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::SeqCst);
    }

    /// A client left the bus: cancel its requests, drop its objects.
    pub async fn client_gone(&self, name: &str, server: &ObjectServer) {
        let Some(client) = self.clients.lock().expect("clients lock").remove(name) else {
            return;
        };
        for flag in &client.inflight {
            flag.store(true, Ordering::SeqCst);
        }
        for (path, kind) in &client.objects {
            remove_object(server, path, *kind).await;
        }
        log::info!(
            "client {name} left: cancelled {} request(s), freed {} object(s)",
            client.inflight.len(),
            client.objects.len()
        );
    }

    fn sender(header: &Header<'_>) -> Result<String> {
        header
            .sender()
            .map(|s| s.to_string())
            .ok_or_else(|| ToolCallError::Internal("message without a sender".into()))
    }

    fn new_path(&self, base: &str) -> OwnedObjectPath {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        OwnedObjectPath::try_from(format!("{base}/{id}")).expect("valid object path")
    }

    fn register_object(&self, owner: &str, path: &OwnedObjectPath, kind: ObjectKind) -> Result<()> {
        let (cap, total_cap) = {
            let settings = self.settings.read().expect("settings lock");
            (settings.max_objects_per_client, settings.max_objects)
        };
        let mut clients = self.clients.lock().expect("clients lock");
        let total: usize = clients.values().map(|c| c.objects.len()).sum();
        if total >= total_cap {
            return Err(ToolCallError::LimitExceeded(format!(
                "max_objects: the clients hold {total} toolsets/sessions in all; retry after some are released"
            )));
        }
        let client = clients.entry(owner.to_string()).or_default();
        if client.objects.len() >= cap {
            return Err(ToolCallError::LimitExceeded(format!(
                "max_objects_per_client: {owner} already holds {cap} toolsets/sessions"
            )));
        }
        client.objects.push((path.clone(), kind));
        Ok(())
    }

    fn forget_object(&self, owner: &str, path: &OwnedObjectPath) {
        if let Some(client) = self.clients.lock().expect("clients lock").get_mut(owner) {
            client.objects.retain(|(p, _)| p != path);
        }
    }

    /// Runs one request on the pool: deadline, cancellation on disconnect, panics and errors
    /// mapped to named D-Bus errors, one log line.
    async fn run<T: Send + 'static>(
        &self,
        caller: &str,
        what: &str,
        options: &Options,
        work: impl FnOnce(&Engine, &CallOptions) -> std::result::Result<T, EngineError> + Send + 'static,
    ) -> Result<(T, f64)> {
        let started = Instant::now();
        if !self.accepting.load(Ordering::SeqCst) {
            return Err(ToolCallError::Busy("toolcalld is shutting down".into()));
        }
        let mut call_options = parse_options(options)?;
        let timeout_ms = {
            let max = self.settings.read().expect("settings lock").request_timeout_ms;
            call_options.deadline_ms.map_or(max, |t| t.min(max))
        };
        let cancel = Arc::new(AtomicBool::new(false));
        call_options.engine.deadline = Some(started + Duration::from_millis(timeout_ms));
        call_options.engine.cancel = Some(cancel.clone());
        self.clients
            .lock()
            .expect("clients lock")
            .entry(caller.to_string())
            .or_default()
            .inflight
            .push(cancel.clone());

        let (engine_options, fault) = (call_options.engine, call_options.fault);
        // The kind of request (the method) whose recent run times the pool plans its turn with.
        let kind = what.split(' ').next().unwrap_or(what);
        let outcome = self
            .pool
            .run(started + Duration::from_millis(timeout_ms), kind, move |engine| {
                let queue_ms = started.elapsed().as_secs_f64() * 1000.0;
                // The caller may have left the bus while this waited in the queue.
                if engine_options.cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst)) {
                    return Err(EngineError::Cancelled);
                }
                if let Some(fault) = fault {
                    fault.strike()?;
                }
                work(engine, &engine_options).map(|v| (v, queue_ms))
            })
            .await;

        if let Some(client) = self.clients.lock().expect("clients lock").get_mut(caller) {
            client.inflight.retain(|c| !Arc::ptr_eq(c, &cancel));
        }
        let elapsed = started.elapsed().as_millis();
        let result = match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(engine_error(e)),
            Err(PoolError::Busy) => Err(ToolCallError::Busy("the request queue is full; retry later".into())),
            Err(PoolError::WouldMissDeadline { ahead, expected_ms }) => Err(ToolCallError::Busy(format!(
                "{ahead} requests ahead: this one would end after ~{expected_ms} ms, past its {timeout_ms} ms deadline; retry later"
            ))),
            Err(PoolError::LateAtItsTurn {
                waited_ms,
                left_ms,
                expected_ms,
            }) => Err(ToolCallError::Busy(format!(
                "waited {waited_ms} ms in the queue: the {left_ms} ms left to its {timeout_ms} ms deadline are less than such a request takes now (~{expected_ms} ms), so it was not started; retry later"
            ))),
            Err(PoolError::ShuttingDown) => Err(ToolCallError::Busy("toolcalld is shutting down".into())),
            Err(PoolError::Panicked(m)) => Err(ToolCallError::Internal(format!("request failed: {m}"))),
        };
        match &result {
            Ok(_) => log::info!("{caller} {what}: ok in {elapsed} ms"),
            Err(e) => log::info!("{caller} {what}: {} in {elapsed} ms", error_summary(e)),
        }
        result
    }

    fn result_json(&self, result: toolcall_engine::CallResult, queue_ms: f64, started: Instant) -> String {
        let t = &result.timings;
        let wire = CallResult {
            function_calls: result
                .function_calls
                .into_iter()
                .map(|c| FunctionCall {
                    name: c.name,
                    arguments: c.arguments,
                })
                .collect(),
            confidence: result.confidence,
            model: self.model_name.clone(),
            timings: Timings {
                queue_ms,
                prefill_ms: t.prefill_ms,
                decode_ms: t.decode_ms,
                total_ms: started.elapsed().as_secs_f64() * 1000.0,
                prompt_tokens: t.prompt_tokens as u64,
                cached_tokens: t.cached_tokens as u64,
                generated_tokens: t.generated_tokens as u64,
            },
        };
        serde_json::to_string(&wire).expect("result serialises")
    }
}

async fn remove_object(server: &ObjectServer, path: &OwnedObjectPath, kind: ObjectKind) {
    let removed = match kind {
        ObjectKind::Toolset => server.remove::<ToolsetObject, _>(path).await,
        ObjectKind::Session => server.remove::<SessionObject, _>(path).await,
    };
    if let Err(e) = removed {
        log::debug!("removing {path}: {e}");
    }
    // The object's KV cache is free now (unless a running request still holds it).
    toolcall_engine::memory::return_free_heap();
}

/// Options after type checking.
struct ParsedOptions {
    engine: CallOptions,
    deadline_ms: Option<u64>,
    /// Debug builds only: see [`crate::fault`].
    fault: Option<Fault>,
}

fn parse_options(options: &Options) -> Result<ParsedOptions> {
    let (wire, test_fault) = WireOptions::from_wire(options, fault::enabled())?;
    Ok(ParsedOptions {
        engine: CallOptions {
            max_calls: wire.max_calls.map(|n| n as usize),
            allow_empty: wire.allow_empty,
            max_new_tokens: wire.max_new_tokens.map(|n| n as usize),
            facts: wire.facts,
            call_margin: wire.call_margin.map(|m| m as f32),
            ..CallOptions::default()
        },
        deadline_ms: wire.timeout_ms.map(u64::from),
        fault: test_fault.as_deref().map(fault::parse).transpose()?,
    })
}

fn engine_error(e: EngineError) -> ToolCallError {
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

/// The object a method was called on, for the request's log line.
fn object_path(header: &Header<'_>) -> String {
    header.path().map_or_else(|| "?".into(), |p| p.to_string())
}

fn error_summary(e: &ToolCallError) -> String {
    use zbus::DBusError;
    e.name().to_string()
}

/// `/org/toolcalld/ToolCall1`
pub struct Manager {
    pub shared: Arc<Shared>,
}

#[interface(name = "org.toolcalld.ToolCall1")]
impl Manager {
    #[zbus(out_args("result_json"))]
    async fn call(
        &self,
        tools_json: String,
        query: String,
        options: Options,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<String> {
        let caller = Shared::sender(&header)?;
        let started = Instant::now();
        let shared = self.shared.clone();
        let key = toolcall_engine::engine::tools_key(&tools_json);
        let what = format!("Call tools={}", &key[..12.min(key.len())]);
        let (result, queue_ms) = self
            .shared
            .run(&caller, &what, &options, move |engine, options| {
                let cached = shared.cache.lock().expect("cache lock").get(&key);
                let toolset = match cached {
                    Some(t) => t,
                    None => {
                        let t = Arc::new(engine.compile_toolset(&tools_json)?);
                        shared.cache.lock().expect("cache lock").insert(key, t.clone());
                        t
                    }
                };
                engine.call(&toolset, &query, options)
            })
            .await?;
        Ok(self.shared.result_json(result, queue_ms, started))
    }

    #[zbus(out_args("toolset"))]
    async fn register_toolset(
        &self,
        tools_json: String,
        options: Options,
        #[zbus(header)] header: Header<'_>,
        #[zbus(object_server)] server: &ObjectServer,
    ) -> Result<OwnedObjectPath> {
        let caller = Shared::sender(&header)?;
        if !options.is_empty() {
            return Err(ToolCallError::InvalidOptions(
                "RegisterToolset takes no options yet".into(),
            ));
        }
        let (toolset, _) = self
            .shared
            .run(&caller, "RegisterToolset", &Options::new(), move |engine, _| {
                engine.compile_toolset(&tools_json)
            })
            .await?;
        let path = self.shared.new_path(TOOLSETS_PATH);
        self.shared.register_object(&caller, &path, ObjectKind::Toolset)?;
        let object = ToolsetObject {
            shared: self.shared.clone(),
            toolset: Arc::new(toolset),
            owner: caller.clone(),
        };
        server
            .at(&path, object)
            .await
            .map_err(|e| ToolCallError::Internal(e.to_string()))?;
        Ok(path)
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }

    #[zbus(property)]
    fn model(&self) -> String {
        self.shared.model_name.clone()
    }

    #[zbus(property)]
    fn model_info(&self) -> HashMap<String, OwnedVariant> {
        self.shared
            .model_info
            .iter()
            .map(|(k, v)| (k.clone(), v.try_clone().expect("plain value")))
            .collect()
    }

    #[zbus(property(emits_changed_signal = "false"))]
    fn queue_depth(&self) -> u32 {
        self.shared.pool.depth() as u32
    }
}

fn check_owner(owner: &str, header: &Header<'_>) -> Result<String> {
    let caller = Shared::sender(header)?;
    if caller != owner {
        return Err(ToolCallError::AccessDenied(format!("this object belongs to {owner}")));
    }
    Ok(caller)
}

/// `/org/toolcalld/ToolCall1/toolsets/<n>`
pub struct ToolsetObject {
    shared: Arc<Shared>,
    toolset: Arc<toolcall_engine::Toolset>,
    owner: String,
}

#[interface(name = "org.toolcalld.ToolCall1.Toolset")]
impl ToolsetObject {
    #[zbus(out_args("result_json"))]
    async fn call(&self, query: String, options: Options, #[zbus(header)] header: Header<'_>) -> Result<String> {
        let caller = check_owner(&self.owner, &header)?;
        let started = Instant::now();
        let toolset = self.toolset.clone();
        let (result, queue_ms) = self
            .shared
            .run(
                &caller,
                &format!("Toolset.Call {}", object_path(&header)),
                &options,
                move |engine, options| engine.call(&toolset, &query, options),
            )
            .await?;
        Ok(self.shared.result_json(result, queue_ms, started))
    }

    #[zbus(out_args("session"))]
    async fn open_session(
        &self,
        options: Options,
        #[zbus(header)] header: Header<'_>,
        #[zbus(object_server)] server: &ObjectServer,
    ) -> Result<OwnedObjectPath> {
        let caller = check_owner(&self.owner, &header)?;
        if !options.is_empty() {
            return Err(ToolCallError::InvalidOptions("OpenSession takes no options yet".into()));
        }
        let path = self.shared.new_path(SESSIONS_PATH);
        self.shared.register_object(&caller, &path, ObjectKind::Session)?;
        let toolset = self.toolset.clone();
        let (session, _) = self
            .shared
            .run(
                &caller,
                &format!("OpenSession {}", object_path(&header)),
                &Options::new(),
                move |engine, _| Ok(engine.open_session(toolset)),
            )
            .await
            .inspect_err(|_| self.shared.forget_object(&caller, &path))?;
        let object = SessionObject {
            shared: self.shared.clone(),
            session: Arc::new(Mutex::new(session)),
            owner: caller,
        };
        server
            .at(&path, object)
            .await
            .map_err(|e| ToolCallError::Internal(e.to_string()))?;
        Ok(path)
    }

    async fn release(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(object_server)] server: &ObjectServer,
    ) -> Result<()> {
        let caller = check_owner(&self.owner, &header)?;
        let path: OwnedObjectPath = header.path().expect("method call has a path").clone().into();
        self.shared.forget_object(&caller, &path);
        remove_object(server, &path, ObjectKind::Toolset).await;
        Ok(())
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn tools(&self) -> String {
        serde_json::to_string(self.toolset.tools()).expect("tools serialise")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn tool_count(&self) -> u32 {
        self.toolset.tools().len() as u32
    }
}

/// `/org/toolcalld/ToolCall1/sessions/<n>`
pub struct SessionObject {
    shared: Arc<Shared>,
    session: Arc<Mutex<toolcall_engine::Session>>,
    owner: String,
}

#[interface(name = "org.toolcalld.ToolCall1.Session")]
impl SessionObject {
    #[zbus(out_args("result_json"))]
    async fn send(&self, text: String, options: Options, #[zbus(header)] header: Header<'_>) -> Result<String> {
        let caller = check_owner(&self.owner, &header)?;
        let started = Instant::now();
        let session = self.session.clone();
        let (result, queue_ms) = self
            .shared
            .run(
                &caller,
                &format!("Session.Send {}", object_path(&header)),
                &options,
                move |engine, options| engine.send(&mut session.lock().expect("session lock"), &text, options),
            )
            .await?;
        Ok(self.shared.result_json(result, queue_ms, started))
    }

    #[zbus(out_args("result_json"))]
    async fn submit_tool_results(
        &self,
        results_json: String,
        options: Options,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<String> {
        let caller = check_owner(&self.owner, &header)?;
        let started = Instant::now();
        let session = self.session.clone();
        let (result, queue_ms) = self
            .shared
            .run(
                &caller,
                &format!("Session.SubmitToolResults {}", object_path(&header)),
                &options,
                move |engine, options| {
                    engine.submit_tool_results(&mut session.lock().expect("session lock"), &results_json, options)
                },
            )
            .await?;
        Ok(self.shared.result_json(result, queue_ms, started))
    }

    async fn reset(&self, #[zbus(header)] header: Header<'_>) -> Result<()> {
        let caller = check_owner(&self.owner, &header)?;
        let session = self.session.clone();
        self.shared
            .run(
                &caller,
                &format!("Session.Reset {}", object_path(&header)),
                &Options::new(),
                move |engine, _| {
                    engine.reset_session(&mut session.lock().expect("session lock"));
                    Ok(())
                },
            )
            .await?;
        Ok(())
    }

    async fn close(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(object_server)] server: &ObjectServer,
    ) -> Result<()> {
        let caller = check_owner(&self.owner, &header)?;
        let path: OwnedObjectPath = header.path().expect("method call has a path").clone().into();
        self.shared.forget_object(&caller, &path);
        remove_object(server, &path, ObjectKind::Session).await;
        Ok(())
    }
}
