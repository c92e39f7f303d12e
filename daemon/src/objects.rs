//! The D-Bus objects of org.toolcalld.ToolCall1: the manager at /org/toolcalld/ToolCall1 and
//! the per-client toolsets and sessions under it. Each method names its [`Method`], builds its
//! [`Request`] and says what the engine does; the request does the rest. Nothing here touches
//! tensors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use toolcall_dbus::{ReceivedOptions as Options, ToolCallError};
use toolcall_engine::options::DEFAULT_MAX_NEW_TOKENS;
use toolcall_engine::{CallOptions, CallResult, Error as EngineError, Session};
use zbus::message::Header;
use zbus::object_server::ObjectServer;
use zbus::{Connection, OwnedObjectPath, OwnedVariant, interface};

use crate::clients::ObjectKind;
use crate::models::LoadedModel;
use crate::ownership::{Claim, NewObject, Owner, caller, known_caller, object_path};
use crate::request::{Method, Request, Result, engine_error};
use crate::service::Shared;
use crate::toolset_cache::ToolsKey;

/// Tokens a turn's chat markers, facts tags and the last answer's end may add beyond the turn's
/// own text (an upper bound).
const TURN_MARKERS_TOKENS: usize = 64;

/// `/org/toolcalld/ToolCall1`
pub struct Manager {
    shared: Arc<Shared>,
    peer: Option<Arc<str>>,
}

impl Manager {
    pub fn new(shared: Arc<Shared>, peer: Option<Arc<str>>) -> Manager {
        Manager { shared, peer }
    }
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
        #[zbus(connection)] connection: &Connection,
    ) -> Result<String> {
        // Size first: a long text is neither hashed on the bus thread nor queued.
        let limits = self
            .shared
            .settings
            .read()
            .expect("settings lock")
            .engine_limits()
            .tools;
        toolcall_engine::tools::check_size(&tools_json, &limits).map_err(engine_error)?;
        let key = ToolsKey::of(&tools_json);
        let target = format!("tools={}", key.short());
        let request = Request::new(
            Method::Call,
            known_caller(&self.shared, &header, &self.peer, connection).await?,
            Some(target),
            &options,
            &self.shared,
        )?;
        let (shared, user) = (self.shared.clone(), request.user().to_string());
        request
            .answer(&self.shared, move |engine, options| {
                let cached_as = (&key, engine.id, engine.kv_bytes_per_token());
                let toolset = shared
                    .cache
                    .get_or_compile(cached_as, (&user, shared.cache_room()), || {
                        engine.compile_toolset_for(&tools_json, options)
                    })?;
                engine.call(&toolset, &query, options)
            })
            .await
    }

    #[zbus(out_args("toolset"))]
    async fn register_toolset(
        &self,
        tools_json: String,
        options: Options,
        #[zbus(header)] header: Header<'_>,
        #[zbus(object_server)] server: &ObjectServer,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<OwnedObjectPath> {
        let owner = Owner {
            name: known_caller(&self.shared, &header, &self.peer, connection).await?,
            peer: self.peer.clone(),
        };
        let request = Request::new(
            Method::RegisterToolset,
            owner.name.clone(),
            None,
            &options,
            &self.shared,
        )?;
        let shared = self.shared.clone();
        NewObject::new(&self.shared, server, connection, ObjectKind::Toolset)
            .create(
                (owner, 0),
                request,
                move |engine, options, claim| {
                    let prepared = engine.prepare_toolset(&tools_json)?;
                    claim.tokens(prepared.prompt_tokens())?;
                    let toolset = engine.compile_prepared(prepared, options)?;
                    Ok((toolset, engine.clone()))
                },
                move |(toolset, engine), owner| ToolsetObject {
                    shared,
                    toolset: Arc::new(toolset),
                    engine,
                    owner,
                },
            )
            .await
    }

    /// Ends the caller's requests that carry `request_id`, without queueing.
    #[zbus(out_args("found"))]
    fn cancel(&self, request_id: String, #[zbus(header)] header: Header<'_>) -> Result<bool> {
        let caller = caller(&header, &self.peer)?;
        let found = self.shared.requests.cancel(&caller, &request_id);
        log::info!(
            "{caller} Cancel {request_id:?}: {}",
            if found { "cancelled" } else { "none in flight" }
        );
        Ok(found)
    }

    /// The bundles, loaded or not: see `models`.
    #[zbus(out_args("models"))]
    fn list_models(&self) -> Vec<HashMap<String, OwnedVariant>> {
        self.shared.models.list().iter().map(|m| m.to_wire()).collect()
    }

    /// Reads the bundles again with the settings in force (SIGHUP re-reads those first); per
    /// bundle, what became of it. Off the bus executor: checksums and loads take seconds.
    #[zbus(out_args("outcome"))]
    async fn reload_models(&self, #[zbus(header)] header: Header<'_>) -> Result<HashMap<String, String>> {
        log::info!("{} ReloadModels", caller(&header, &self.peer)?);
        let (shared, settings) = (
            self.shared.clone(),
            self.shared.settings.read().expect("settings lock").clone(),
        );
        let outcome = tokio::task::spawn_blocking(move || shared.models.reload(&settings))
            .await
            .map_err(|e| ToolCallError::Internal(format!("reload failed: {e}")))?;
        Ok(outcome.into_iter().collect())
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }

    /// The default model as "name version"; a reload may change it.
    #[zbus(property(emits_changed_signal = "false"))]
    fn model(&self) -> String {
        let info = self.shared.models.default_info();
        format!("{} {}", info.name, info.version)
    }

    #[zbus(property(emits_changed_signal = "false"))]
    fn model_info(&self) -> HashMap<String, OwnedVariant> {
        self.shared.models.default_info().to_wire()
    }

    #[zbus(property(emits_changed_signal = "false"))]
    fn queue_depth(&self) -> u32 {
        self.shared.pool.depth() as u32
    }
}

/// `/org/toolcalld/ToolCall1/toolsets/<n>`
pub struct ToolsetObject {
    shared: Arc<Shared>,
    toolset: Arc<toolcall_engine::Toolset>,
    /// The engine it was compiled on, kept while the toolset lives (a reload does not move it).
    engine: Arc<LoadedModel>,
    owner: Owner,
}

#[interface(name = "org.toolcalld.ToolCall1.Toolset")]
impl ToolsetObject {
    #[zbus(out_args("result_json"))]
    async fn call(&self, query: String, options: Options, #[zbus(header)] header: Header<'_>) -> Result<String> {
        let caller = self.owner.check(&header)?;
        let target = Some(object_path(&header).to_string());
        let request =
            Request::new(Method::ToolsetCall, caller, target, &options, &self.shared)?.on(self.engine.clone())?;
        let toolset = self.toolset.clone();
        request
            .answer(&self.shared, move |engine, options| {
                engine.call(&toolset, &query, options)
            })
            .await
    }

    #[zbus(out_args("session"))]
    async fn open_session(
        &self,
        options: Options,
        #[zbus(header)] header: Header<'_>,
        #[zbus(object_server)] server: &ObjectServer,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<OwnedObjectPath> {
        let owner = Owner {
            name: self.owner.check(&header)?,
            peer: self.owner.peer.clone(),
        };
        let target = Some(object_path(&header).to_string());
        let request = Request::new(Method::OpenSession, owner.name.clone(), target, &options, &self.shared)?
            .on(self.engine.clone())?;
        let (shared, toolset, engine) = (self.shared.clone(), self.toolset.clone(), self.engine.clone());
        let prefix_tokens = toolset.prefix_tokens();
        NewObject::new(&self.shared, server, connection, ObjectKind::Session)
            .create(
                (owner, prefix_tokens),
                request,
                move |engine, _, _| Ok(engine.open_session(toolset)),
                move |session, owner| SessionObject {
                    shared,
                    session: Arc::new(Mutex::new(session)),
                    engine,
                    owner,
                },
            )
            .await
    }

    async fn release(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(object_server)] server: &ObjectServer,
    ) -> Result<()> {
        self.owner
            .release(&self.shared, &header, server, ObjectKind::Toolset)
            .await
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn tools(&self, #[zbus(header)] header: Option<Header<'_>>) -> zbus::fdo::Result<String> {
        self.owner.check_property(&header)?;
        Ok(serde_json::to_string(self.toolset.tools()).expect("tools serialise"))
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn tool_count(&self, #[zbus(header)] header: Option<Header<'_>>) -> zbus::fdo::Result<u32> {
        self.owner.check_property(&header)?;
        Ok(self.toolset.tools().len() as u32)
    }
}

/// `/org/toolcalld/ToolCall1/sessions/<n>`
pub struct SessionObject {
    shared: Arc<Shared>,
    session: Arc<Mutex<toolcall_engine::Session>>,
    /// Its toolset's engine.
    engine: Arc<LoadedModel>,
    owner: Owner,
}

impl SessionObject {
    /// This session's share of the KV budget.
    fn claim(&self, header: &Header<'_>) -> Claim {
        let bytes_per_token = self.engine.kv_bytes_per_token();
        Claim::new(
            self.shared.clone(),
            self.owner.name.clone(),
            (object_path(header), bytes_per_token),
        )
    }

    /// A turn of this session: before it runs, the session is counted for what it may grow
    /// to (its tokens, the turn's text as if each byte were a token, the turn's markers and
    /// the answer's `max_new_tokens`); after it, for what it holds.
    async fn turn(
        &self,
        method: Method,
        header: &Header<'_>,
        options: &Options,
        text_bytes: usize,
        turn: impl FnOnce(&Arc<LoadedModel>, &mut Session, &CallOptions) -> std::result::Result<CallResult, EngineError>
        + Send
        + 'static,
    ) -> Result<String> {
        let request = self.request(method, header, options)?;
        let (session, claim) = (self.session.clone(), self.claim(header));
        request
            .answer(&self.shared, move |engine, options| {
                let mut session = session.lock().expect("session lock");
                let facts = options.facts.as_ref().map_or(0, String::len);
                let answer = options.max_new_tokens.unwrap_or(DEFAULT_MAX_NEW_TOKENS);
                claim.tokens(session.len() + text_bytes + facts + TURN_MARKERS_TOKENS + answer)?;
                let result = turn(engine, &mut session, options);
                claim.tokens(session.len())?;
                result
            })
            .await
    }

    /// A request on this session, checked to come from its owner; the session counts as used
    /// now (see `expiry`).
    fn request(&self, method: Method, header: &Header<'_>, options: &Options) -> Result<Request> {
        let caller = self.owner.check(header)?;
        let path = object_path(header);
        self.shared.clients.touch(&caller, &path);
        Request::new(method, caller, Some(path.to_string()), options, &self.shared)?.on(self.engine.clone())
    }
}

#[interface(name = "org.toolcalld.ToolCall1.Session")]
impl SessionObject {
    #[zbus(out_args("result_json"))]
    async fn send(&self, text: String, options: Options, #[zbus(header)] header: Header<'_>) -> Result<String> {
        let grows_by = text.len();
        self.turn(
            Method::Send,
            &header,
            &options,
            grows_by,
            move |engine, session, options| engine.send(session, &text, options),
        )
        .await
    }

    #[zbus(out_args("result_json"))]
    async fn submit_tool_results(
        &self,
        results_json: String,
        options: Options,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<String> {
        let grows_by = results_json.len();
        let turn = move |engine: &Arc<LoadedModel>, session: &mut Session, options: &CallOptions| {
            engine.submit_tool_results(session, &results_json, options)
        };
        self.turn(Method::SubmitToolResults, &header, &options, grows_by, turn)
            .await
    }

    async fn reset(&self, #[zbus(header)] header: Header<'_>) -> Result<()> {
        let request = self.request(Method::Reset, &header, &Options::new())?;
        let (session, claim) = (self.session.clone(), self.claim(&header));
        let reset = move |engine: &Arc<LoadedModel>, _: &CallOptions| {
            let mut session = session.lock().expect("session lock");
            engine.reset_session(&mut session);
            claim.tokens(session.len())
        };
        request.run(&self.shared, reset).await?;
        Ok(())
    }

    async fn close(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(object_server)] server: &ObjectServer,
    ) -> Result<()> {
        self.owner
            .release(&self.shared, &header, server, ObjectKind::Session)
            .await
    }
}
