//! A registered toolset: `/org/toolcalld/ToolCall1/toolsets/<n>`, its calls and the sessions
//! opened on it.

use std::sync::Arc;

use toolcall_dbus::ReceivedOptions as Options;
use toolcall_engine::{CallOptions, Error as EngineError};
use zbus::message::Header;
use zbus::object_server::ObjectServer;
use zbus::{Connection, OwnedObjectPath, interface};

use crate::clients::ObjectKind;
use crate::escalation::Asked;
use crate::ownership::{NewObject, Owner, object_path};
use crate::request::{Answered, Method, Request, Result};
use crate::service::Shared;

use super::SessionObject;
use super::follow::{Compiled, Current};

/// `/org/toolcalld/ToolCall1/toolsets/<n>`
pub struct ToolsetObject {
    shared: Arc<Shared>,
    /// The compiled toolset and the engine it was compiled on, kept while the toolset lives: a
    /// reload does not move it, unless it follows reloads.
    current: Arc<Current>,
    owner: Owner,
}

impl ToolsetObject {
    pub fn new(shared: Arc<Shared>, compiled: Compiled, follows_reloads: bool, owner: Owner) -> ToolsetObject {
        ToolsetObject {
            shared,
            current: Arc::new(Current::new(compiled, follows_reloads)),
            owner,
        }
    }

    /// A request that will first move the toolset to its bundle's reloaded engine compiles
    /// its tools again, so it gets a registration's deadline ([`Request::recompiles`]).
    fn with_room_to_move(&self, request: Request) -> Request {
        if self.current.moves(&self.shared) {
            request.recompiles(&self.shared)
        } else {
            request
        }
    }

    /// What the work of a request on this toolset runs on ([`Current::latest`]).
    fn latest(
        &self,
        header: &Header<'_>,
    ) -> impl FnOnce(&CallOptions) -> std::result::Result<Compiled, EngineError> + Send + 'static {
        let (shared, current) = (self.shared.clone(), self.current.clone());
        let (owner, path) = (self.owner.name.clone(), object_path(header));
        move |options| current.latest(&shared, (&owner, &path), options)
    }
}

#[interface(name = "org.toolcalld.ToolCall1.Toolset")]
impl ToolsetObject {
    #[zbus(out_args("result_json"))]
    async fn call(&self, query: String, options: Options, #[zbus(header)] header: Header<'_>) -> Result<String> {
        let caller = self.owner.check(&header)?;
        let target = Some(object_path(&header).to_string());
        let request =
            Request::new(Method::ToolsetCall, caller, target, &options, &self.shared)?.on(self.current.get().engine)?;
        self.current.load_followed(&self.shared).await;
        let request = self.with_room_to_move(request);
        let latest = self.latest(&header);
        request
            .answer_from(&self.shared, move |_, options| {
                let Compiled { toolset, engine } = latest(options)?;
                let result = engine.call(&toolset, &query, options)?;
                let model = engine.label.clone();
                let asked = Some(Asked { engine, toolset, query });
                Ok(Answered { result, model, asked })
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
        let compiled = self.current.get();
        let request = Request::new(Method::OpenSession, owner.name.clone(), target, &options, &self.shared)?
            .on(compiled.engine.clone())?;
        self.current.load_followed(&self.shared).await;
        let request = self.with_room_to_move(request);
        let (shared, latest) = (self.shared.clone(), self.latest(&header));
        // Counted for the prefix it has now, and again for the one it opens on.
        let prefix_tokens = compiled.toolset.prefix_tokens();
        NewObject::new(&self.shared, server, connection, ObjectKind::Session)
            .create(
                (owner, prefix_tokens),
                request,
                move |_, options, claim| {
                    let Compiled { toolset, engine } = latest(options)?;
                    claim.tokens_at(engine.kv_bytes_per_token(), toolset.prefix_tokens())?;
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
        Ok(serde_json::to_string(self.current.get().toolset.tools()).expect("tools serialise"))
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn tool_count(&self, #[zbus(header)] header: Option<Header<'_>>) -> zbus::fdo::Result<u32> {
        self.owner.check_property(&header)?;
        Ok(self.current.get().toolset.tools().len() as u32)
    }
}
