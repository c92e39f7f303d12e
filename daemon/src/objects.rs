//! The D-Bus objects of org.toolcalld.ToolCall1: the manager at /org/toolcalld/ToolCall1 (here)
//! with the registry beside it (`registry`), and the per-client toolsets and sessions under it (`toolset`, `session`). Each method names its [`Method`], builds its
//! [`Request`] and says what the engine does; the request does the rest. Nothing here touches
//! tensors.

use std::collections::HashMap;
use std::sync::Arc;

use toolcall_dbus::{ReceivedOptions as Options, ToolCallError};
use toolcall_engine::{CallOptions, Error as EngineError};
use zbus::message::Header;
use zbus::object_server::ObjectServer;
use zbus::{Connection, OwnedObjectPath, OwnedVariant, interface};

use crate::clients::ObjectKind;
use crate::errors::engine_error;
use crate::escalation::Asked;
use crate::models::LoadedModel;
use crate::ownership::{NewObject, Owner, caller, known_caller};
use crate::request::{Answered, Method, Request, Result};
use crate::service::Shared;
use crate::toolset_cache::ToolsKey;

mod follow;
mod registry;
mod session;
mod toolset;

pub use follow::Compiled;
pub use registry::{RegistryObject, tools_changed};
pub use session::SessionObject;
pub use toolset::ToolsetObject;

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
        let limits = self.shared.tool_limits();
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
        let work = one_shot(
            self.shared.clone(),
            request.user().to_string(),
            (key, tools_json, ToolSource::Caller),
            query,
        );
        request.answer_from(&self.shared, work).await
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
        let (shared, follows_reloads) = (self.shared.clone(), request.follows_reloads());
        NewObject::new(&self.shared, server, connection, ObjectKind::Toolset)
            .create(
                (owner, 0),
                request,
                move |engine, options, claim| {
                    let prepared = engine.prepare_toolset(&tools_json)?;
                    claim.tokens(prepared.prompt_tokens())?;
                    let toolset = Arc::new(engine.compile_prepared(prepared, options)?);
                    Ok(Compiled {
                        toolset,
                        engine: engine.clone(),
                    })
                },
                move |compiled, owner| ToolsetObject::new(shared, compiled, follows_reloads, owner),
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

/// Where a one-shot call's tool list comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToolSource {
    /// Sent by the caller (`Call`): its schemas checked whole, whatever retrieval then keeps
    /// of it.
    Caller,
    /// Chosen (and narrowed) by Route from the registry, whose publications were checked at
    /// Publish.
    Registry,
}

/// The work of a one-shot call (`Call`, the registry's `Route`): `tools_json` (or, past
/// `retrieval_above` tools, the few that retrieval ranks first for `query`) compiled on the
/// engine, or taken from the one-shot cache by its key (`user`'s share), then `query` on it.
pub(crate) fn one_shot(
    shared: Arc<Shared>,
    user: String,
    (key, tools_json, source): (ToolsKey, String, ToolSource),
    query: String,
) -> impl FnOnce(&Arc<LoadedModel>, &CallOptions) -> std::result::Result<Answered, EngineError> + Send + 'static {
    move |engine, options| {
        let narrowing = shared.narrowing();
        let narrowed = match source {
            ToolSource::Caller if narrowing.top_k > 0 => {
                // The schemas of the whole list first, whatever retrieval keeps of it.
                toolcall_engine::tools::parse_tools(&tools_json, &shared.tool_limits())?;
                shared.retriever.narrow(&tools_json, &query, narrowing)
            }
            _ => None,
        };
        let (key, tools_json) = match narrowed {
            Some(narrowed) => (ToolsKey::of(&narrowed), narrowed),
            None => (key, tools_json),
        };
        let toolset = shared
            .cache
            .get_or_compile((&key, engine), (&user, shared.cache_room()), || {
                engine.compile_toolset_for(&tools_json, options)
            })?;
        let result = engine.call(&toolset, &query, options)?;
        let model = engine.label.clone();
        let asked = Some(Asked {
            engine: engine.clone(),
            toolset,
            query,
        });
        Ok(Answered { result, model, asked })
    }
}
