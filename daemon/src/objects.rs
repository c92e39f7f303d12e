//! The D-Bus objects of org.toolcalld.ToolCall1: the manager at /org/toolcalld/ToolCall1 and
//! the per-client toolsets and sessions under it. Each method names its [`Method`], builds its
//! [`Request`] and says what the engine does; the request does the rest. Nothing here touches
//! tensors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use toolcall_dbus::{ReceivedOptions as Options, SESSIONS_PATH, TOOLSETS_PATH};
use zbus::message::Header;
use zbus::object_server::ObjectServer;
use zbus::{Connection, OwnedObjectPath, OwnedVariant, interface};

use crate::clients::ObjectKind;
use crate::ownership::{NewObject, Owner, caller, object_path};
use crate::request::{Method, Request, Result, engine_error};
use crate::service::Shared;
use crate::toolset_cache::ToolsKey;

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
                    .get_or_compile(&key, || engine.compile_toolset_for(&tools_json, options))?;
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
            name: caller(&header, &self.peer)?,
            peer: self.peer.clone(),
        };
        let timeout_ms = self.shared.request_timeout_ms();
        let request = Request::new(Method::RegisterToolset, owner.name.clone(), None, &options, timeout_ms)?;
        let shared = self.shared.clone();
        let new = NewObject {
            shared: &self.shared,
            server,
            connection,
            base: TOOLSETS_PATH,
            kind: ObjectKind::Toolset,
        };
        new.create(
            owner,
            request,
            move |engine, options| engine.compile_toolset_for(&tools_json, options),
            move |toolset, owner| ToolsetObject {
                shared,
                toolset: Arc::new(toolset),
                owner,
            },
        )
        .await
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
        #[zbus(connection)] connection: &Connection,
    ) -> Result<OwnedObjectPath> {
        let owner = Owner {
            name: self.owner.check(&header)?,
            peer: self.owner.peer.clone(),
        };
        let target = Some(object_path(&header).to_string());
        let timeout_ms = self.shared.request_timeout_ms();
        let request = Request::new(Method::OpenSession, owner.name.clone(), target, &options, timeout_ms)?;
        let (shared, toolset) = (self.shared.clone(), self.toolset.clone());
        let new = NewObject {
            shared: &self.shared,
            server,
            connection,
            base: SESSIONS_PATH,
            kind: ObjectKind::Session,
        };
        new.create(
            owner,
            request,
            move |engine, _| Ok(engine.open_session(toolset)),
            move |session, owner| SessionObject {
                shared,
                session: Arc::new(Mutex::new(session)),
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
