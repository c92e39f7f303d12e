//! A registered toolset: `/org/toolcalld/ToolCall1/toolsets/<n>`, its calls and the sessions
//! opened on it.

use std::sync::{Arc, Mutex};

use toolcall_dbus::ReceivedOptions as Options;
use toolcall_engine::{CallOptions, Error as EngineError, Toolset};
use zbus::message::Header;
use zbus::object_server::ObjectServer;
use zbus::{Connection, OwnedObjectPath, interface};

use crate::clients::ObjectKind;
use crate::models::LoadedModel;
use crate::ownership::{Claim, NewObject, Owner, object_path};
use crate::request::{Method, Request, Result};
use crate::service::Shared;

use super::SessionObject;

/// `/org/toolcalld/ToolCall1/toolsets/<n>`
pub struct ToolsetObject {
    shared: Arc<Shared>,
    /// The compiled toolset and the engine it was compiled on, kept while the toolset lives: a
    /// reload does not move it, unless it follows reloads.
    current: Arc<Mutex<Compiled>>,
    /// Its bundle's name, if it was registered with `follow_reloads`: it then moves to the
    /// bundle's new engine at its next call (or session) after a reload replaced it.
    follows: Option<String>,
    owner: Owner,
}

/// A toolset and the engine it was compiled on (its KV state is that engine's).
#[derive(Clone)]
pub struct Compiled {
    pub toolset: Arc<Toolset>,
    pub engine: Arc<LoadedModel>,
}

impl ToolsetObject {
    pub fn new(shared: Arc<Shared>, compiled: Compiled, follows_reloads: bool, owner: Owner) -> ToolsetObject {
        let follows = follows_reloads.then(|| compiled.engine.bundle.clone());
        ToolsetObject {
            shared,
            current: Arc::new(Mutex::new(compiled)),
            follows,
            owner,
        }
    }

    fn compiled(&self) -> Compiled {
        self.current.lock().expect("toolset lock").clone()
    }

    /// What the work of a request on this toolset runs on: the compiled toolset, moved to its
    /// bundle's current engine first if it follows reloads ([`follow`]).
    fn latest(
        &self,
        header: &Header<'_>,
    ) -> impl FnOnce(&CallOptions) -> std::result::Result<Compiled, EngineError> + Send + 'static {
        let (shared, current, follows) = (self.shared.clone(), self.current.clone(), self.follows.clone());
        let (owner, path) = (self.owner.name.clone(), object_path(header));
        move |options| match follows {
            Some(bundle) => follow(&shared, &current, &bundle, (owner, path), options),
            None => Ok(current.lock().expect("toolset lock").clone()),
        }
    }
}

#[interface(name = "org.toolcalld.ToolCall1.Toolset")]
impl ToolsetObject {
    #[zbus(out_args("result_json"))]
    async fn call(&self, query: String, options: Options, #[zbus(header)] header: Header<'_>) -> Result<String> {
        let caller = self.owner.check(&header)?;
        let target = Some(object_path(&header).to_string());
        let request =
            Request::new(Method::ToolsetCall, caller, target, &options, &self.shared)?.on(self.compiled().engine)?;
        let latest = self.latest(&header);
        request
            .answer_from(&self.shared, move |_, options| {
                let Compiled { toolset, engine } = latest(options)?;
                Ok((engine.call(&toolset, &query, options)?, engine.label.clone()))
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
        let compiled = self.compiled();
        let request = Request::new(Method::OpenSession, owner.name.clone(), target, &options, &self.shared)?
            .on(compiled.engine.clone())?;
        let (shared, latest) = (self.shared.clone(), self.latest(&header));
        // Counted for the prefix it has now; the session's first turn counts it anew.
        let prefix_tokens = compiled.toolset.prefix_tokens();
        NewObject::new(&self.shared, server, connection, ObjectKind::Session)
            .create(
                (owner, prefix_tokens),
                request,
                move |_, options, _| {
                    let Compiled { toolset, engine } = latest(options)?;
                    Ok((engine.open_session(toolset), engine))
                },
                move |(session, engine), owner| SessionObject::new(shared, (session, engine), owner),
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
        Ok(serde_json::to_string(self.compiled().toolset.tools()).expect("tools serialise"))
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn tool_count(&self, #[zbus(header)] header: Option<Header<'_>>) -> zbus::fdo::Result<u32> {
        self.owner.check_property(&header)?;
        Ok(self.compiled().toolset.tools().len() as u32)
    }
}

/// The toolset on `bundle`'s engine now: if a reload replaced the engine it was compiled on,
/// its tools are compiled again on the new one, counted anew against the KV budgets, and kept
/// in `current` (sessions opened before keep the old engine). A bundle that is gone or does not
/// load leaves it where it is; a refusal of the KV budget or a failed compile is the request's
/// error, and the toolset stays on the old engine.
fn follow(
    shared: &Arc<Shared>,
    current: &Mutex<Compiled>,
    bundle: &str,
    (owner, path): (String, OwnedObjectPath),
    options: &CallOptions,
) -> std::result::Result<Compiled, EngineError> {
    let compiled = current.lock().expect("toolset lock").clone();
    let Ok(model) = shared.models.get(Some(bundle)) else {
        return Ok(compiled);
    };
    let engine = match shared.models.engine(&model) {
        Ok(engine) if engine.id != compiled.engine.id => engine,
        Ok(_) => return Ok(compiled),
        Err(e) => {
            log::warn!("toolset {path} stays on its model: {bundle} does not load: {e}");
            return Ok(compiled);
        }
    };
    let tools = serde_json::to_string(compiled.toolset.tools()).expect("tools serialise");
    let prepared = engine.prepare_toolset(&tools)?;
    let claim = |engine: &LoadedModel, tokens| {
        Claim::new(
            shared.clone(),
            owner.clone(),
            (path.clone(), engine.kv_bytes_per_token()),
        )
        .tokens(tokens)
    };
    claim(&engine, prepared.prompt_tokens())?;
    let toolset = match engine.compile_prepared(prepared, options) {
        Ok(toolset) => Arc::new(toolset),
        Err(e) => {
            let _ = claim(&compiled.engine, compiled.toolset.prefix_tokens());
            return Err(e);
        }
    };
    let moved = Compiled { toolset, engine };
    *current.lock().expect("toolset lock") = moved.clone();
    log::info!(
        "toolset {path} moved to the reloaded model {bundle} ({})",
        moved.engine.label
    );
    Ok(moved)
}
