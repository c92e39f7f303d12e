//! The D-Bus objects of org.toolcalld.ToolCall1: the manager at /org/toolcalld/ToolCall1 and
//! the per-client toolsets and sessions under it. Each method names its [`Method`], builds its
//! [`Request`] and says what the engine does; the request does the rest. Nothing here touches
//! tensors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use toolcall_dbus::{ReceivedOptions as Options, SESSIONS_PATH, TOOLSETS_PATH, ToolCallError};
use zbus::message::Header;
use zbus::object_server::ObjectServer;
use zbus::{OwnedObjectPath, OwnedVariant, interface};

use crate::clients::ObjectKind;
use crate::request::{Method, Request, Result};
use crate::service::{Shared, remove_object};
use crate::toolset_cache::ToolsKey;

/// Who sent a message: its sender's unique name on a bus; on a peer-to-peer connection, which
/// has no senders, the label of the peer the connection was served to.
fn caller(header: &Header<'_>, peer: &Option<Arc<str>>) -> Result<String> {
    match (header.sender(), peer) {
        (Some(sender), _) => Ok(sender.to_string()),
        (None, Some(peer)) => Ok(peer.to_string()),
        (None, None) => Err(ToolCallError::Internal("message without a sender".into())),
    }
}

/// The object a method was called on, for the request's log line.
fn object_path(header: &Header<'_>) -> OwnedObjectPath {
    header.path().expect("a method call has a path").clone().into()
}

/// Puts a new toolset or session object on the bus at `path`.
async fn publish<I: zbus::object_server::Interface>(
    server: &ObjectServer,
    path: OwnedObjectPath,
    object: I,
) -> Result<OwnedObjectPath> {
    server
        .at(&path, object)
        .await
        .map_err(|e| ToolCallError::Internal(e.to_string()))?;
    Ok(path)
}

/// An object's owner, the only caller it serves.
struct Owner {
    name: String,
    peer: Option<Arc<str>>,
}

impl Owner {
    /// The owner's call to give up its object: off the client's record and off the bus.
    async fn release(
        &self,
        shared: &Shared,
        header: &Header<'_>,
        server: &ObjectServer,
        kind: ObjectKind,
    ) -> Result<()> {
        let caller = self.check(header)?;
        let path = object_path(header);
        shared.clients.forget_object(&caller, &path);
        remove_object(server, &path, kind).await;
        Ok(())
    }

    /// The caller, if it is the owner; `AccessDenied` otherwise.
    fn check(&self, header: &Header<'_>) -> Result<String> {
        let caller = caller(header, &self.peer)?;
        if caller != self.name {
            return Err(ToolCallError::AccessDenied(format!(
                "this object belongs to {}",
                self.name
            )));
        }
        Ok(caller)
    }
}

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
    ) -> Result<String> {
        let key = ToolsKey::of(&tools_json);
        let target = format!("tools={}", key.short());
        let request = Request::new(
            Method::Call,
            caller(&header, &self.peer)?,
            Some(target),
            &options,
            self.shared.request_timeout_ms(),
        )?;
        let shared = self.shared.clone();
        request
            .answer(&self.shared, move |engine, options| {
                let toolset = shared
                    .cache
                    .get_or_compile(&key, || engine.compile_toolset(&tools_json))?;
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
    ) -> Result<OwnedObjectPath> {
        let caller = caller(&header, &self.peer)?;
        let request = Request::new(
            Method::RegisterToolset,
            caller.clone(),
            None,
            &options,
            self.shared.request_timeout_ms(),
        )?;
        let (toolset, _) = request
            .run(&self.shared, move |engine, _| engine.compile_toolset(&tools_json))
            .await?;
        let path = self.shared.new_path(TOOLSETS_PATH);
        let (per_client, in_all) = self.shared.object_caps();
        self.shared
            .clients
            .add_object(&caller, &path, ObjectKind::Toolset, per_client, in_all)?;
        let object = ToolsetObject {
            shared: self.shared.clone(),
            toolset: Arc::new(toolset),
            owner: Owner {
                name: caller,
                peer: self.peer.clone(),
            },
        };
        publish(server, path, object).await
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
        self.shared.model.to_wire()
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
    owner: Owner,
}

#[interface(name = "org.toolcalld.ToolCall1.Toolset")]
impl ToolsetObject {
    #[zbus(out_args("result_json"))]
    async fn call(&self, query: String, options: Options, #[zbus(header)] header: Header<'_>) -> Result<String> {
        let caller = self.owner.check(&header)?;
        let target = Some(object_path(&header).to_string());
        let request = Request::new(
            Method::ToolsetCall,
            caller,
            target,
            &options,
            self.shared.request_timeout_ms(),
        )?;
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
    ) -> Result<OwnedObjectPath> {
        let caller = self.owner.check(&header)?;
        let target = Some(object_path(&header).to_string());
        let timeout_ms = self.shared.request_timeout_ms();
        let request = Request::new(Method::OpenSession, caller.clone(), target, &options, timeout_ms)?;
        let path = self.shared.new_path(SESSIONS_PATH);
        let (per_client, in_all) = self.shared.object_caps();
        self.shared
            .clients
            .add_object(&caller, &path, ObjectKind::Session, per_client, in_all)?;
        let toolset = self.toolset.clone();
        let (session, _) = request
            .run(&self.shared, move |engine, _| Ok(engine.open_session(toolset)))
            .await
            .inspect_err(|_| self.shared.clients.forget_object(&caller, &path))?;
        let object = SessionObject {
            shared: self.shared.clone(),
            session: Arc::new(Mutex::new(session)),
            owner: Owner {
                name: caller,
                peer: self.owner.peer.clone(),
            },
        };
        publish(server, path, object).await
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
    owner: Owner,
}

impl SessionObject {
    /// A request on this session, checked to come from its owner.
    fn request(&self, method: Method, header: &Header<'_>, options: &Options) -> Result<Request> {
        let caller = self.owner.check(header)?;
        let target = Some(object_path(header).to_string());
        Request::new(method, caller, target, options, self.shared.request_timeout_ms())
    }
}

#[interface(name = "org.toolcalld.ToolCall1.Session")]
impl SessionObject {
    #[zbus(out_args("result_json"))]
    async fn send(&self, text: String, options: Options, #[zbus(header)] header: Header<'_>) -> Result<String> {
        let session = self.session.clone();
        self.request(Method::Send, &header, &options)?
            .answer(&self.shared, move |engine, options| {
                engine.send(&mut session.lock().expect("session lock"), &text, options)
            })
            .await
    }

    #[zbus(out_args("result_json"))]
    async fn submit_tool_results(
        &self,
        results_json: String,
        options: Options,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<String> {
        let session = self.session.clone();
        self.request(Method::SubmitToolResults, &header, &options)?
            .answer(&self.shared, move |engine, options| {
                engine.submit_tool_results(&mut session.lock().expect("session lock"), &results_json, options)
            })
            .await
    }

    async fn reset(&self, #[zbus(header)] header: Header<'_>) -> Result<()> {
        let session = self.session.clone();
        self.request(Method::Reset, &header, &Options::new())?
            .run(&self.shared, move |engine, _| {
                engine.reset_session(&mut session.lock().expect("session lock"));
                Ok(())
            })
            .await?;
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
