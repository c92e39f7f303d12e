//! toolcall-client: the Rust client of toolcalld (async [`Client`] and [`blocking::Client`]),
//! the C ABI behind `libtoolcall.so` ([`ffi`], header `include/toolcall.h`), and the library
//! half of the `toolcallctl` CLI ([`cli`]). Errors come back typed, mapped from the service's named
//! D-Bus errors.

pub mod blocking;
pub mod cli;
pub mod ffi;
mod registry;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
pub use toolcall_dbus::{
    CallOptions, CallResult, ErrorKind, FunctionCall, ModelEntry, ModelInfo, ProviderError, RouteResult, RoutedCall,
    Timings,
};
use toolcall_dbus::{SessionProxy, ToolCall1Proxy, ToolCallError, ToolsetProxy};
use zbus::OwnedObjectPath;

/// Which bus to reach toolcalld on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bus {
    System,
    Session,
    /// A D-Bus address, e.g. `unix:path=/run/test-bus`.
    Address(String),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service answered with an error.
    #[error("{name}: {message}")]
    Service {
        kind: ErrorKind,
        name: String,
        message: String,
    },
    /// The bus could not be reached or the call did not complete.
    #[error("D-Bus: {0}")]
    Bus(zbus::Error),
    /// The reply was not what the interface promises.
    #[error("unexpected reply: {0}")]
    BadReply(String),
}

impl Error {
    pub fn kind(&self) -> Option<&ErrorKind> {
        match self {
            Error::Service { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

impl From<zbus::Error> for Error {
    fn from(e: zbus::Error) -> Self {
        use zbus::DBusError;
        // The service's own errors by their names (toolcall-dbus keeps the list), then the rest.
        match ToolCallError::from(e) {
            ToolCallError::ZBus(zbus::Error::MethodError(name, message, _)) => Error::Service {
                kind: ErrorKind::Other(name.to_string()),
                name: name.to_string(),
                message: message.unwrap_or_default(),
            },
            ToolCallError::ZBus(zbus::Error::FDO(fdo)) => Error::Service {
                kind: ErrorKind::Other(fdo.name().to_string()),
                name: fdo.name().to_string(),
                message: fdo.description().unwrap_or_default().to_string(),
            },
            ToolCallError::ZBus(other) => Error::Bus(other),
            named => Error::Service {
                kind: named.kind().expect("a named error has a kind"),
                name: named.name().to_string(),
                message: named.description().unwrap_or_default().to_string(),
            },
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A tool as the service takes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub parameters: serde_json::Value,
}

/// Serialises tools for the JSON-taking methods.
pub fn tools_json(tools: &[Tool]) -> String {
    serde_json::to_string(tools).expect("tools serialise")
}

/// A result JSON of either format (`CallOptions::format`) as a [`CallResult`].
fn parse_result(json: &str) -> Result<CallResult> {
    CallResult::from_json(json).map_err(Error::BadReply)
}

/// What `status` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub version: String,
    pub model: String,
    pub model_info: ModelInfo,
    pub queue_depth: u32,
}

/// An async connection to toolcalld.
#[derive(Clone)]
pub struct Client {
    connection: zbus::Connection,
    manager: ToolCall1Proxy<'static>,
}

impl Client {
    pub async fn connect(bus: &Bus) -> Result<Client> {
        let connection = match bus {
            Bus::System => zbus::Connection::system().await?,
            Bus::Session => zbus::Connection::session().await?,
            Bus::Address(address) => zbus::connection::Builder::address(address.as_str()).build().await?,
        };
        Client::with_connection(connection).await
    }

    /// A client on a connection made elsewhere: a bus connection, or a peer-to-peer one to a
    /// service run in-process (toolcalld's `Service::serve_peer`).
    pub async fn with_connection(connection: zbus::Connection) -> Result<Client> {
        let manager = ToolCall1Proxy::new(&connection).await?;
        Ok(Client { connection, manager })
    }

    pub fn connection(&self) -> &zbus::Connection {
        &self.connection
    }

    /// One-shot call: tools (JSON array) + query -> tool calls.
    pub async fn call(&self, tools_json: &str, query: &str, options: &CallOptions) -> Result<CallResult> {
        parse_result(&self.call_json(tools_json, query, options).await?)
    }

    /// As [`Client::call`], the result JSON as the service sent it (in the shape
    /// `options.format` asked for). Every call has such a `_json` twin.
    pub async fn call_json(&self, tools_json: &str, query: &str, options: &CallOptions) -> Result<String> {
        Ok(self.manager.call(tools_json, query, options.to_wire()).await?)
    }

    /// Registers a tool list once; calls on it reuse its pre-filled prompt. It runs on the
    /// default model.
    pub async fn register_toolset(&self, tools_json: &str) -> Result<RemoteToolset> {
        self.register(tools_json, HashMap::new()).await
    }

    /// As [`Client::register_toolset`], with RegisterToolset's options: `model` (a bundle's
    /// name from [`Client::list_models`]: its calls and sessions run on that model),
    /// `follow_reloads` and `request_id`; the service refuses any other.
    pub async fn register_toolset_with(&self, tools_json: &str, options: &CallOptions) -> Result<RemoteToolset> {
        self.register(tools_json, options.to_wire()).await
    }

    async fn register(&self, tools_json: &str, options: toolcall_dbus::Options<'_>) -> Result<RemoteToolset> {
        let path = self.manager.register_toolset(tools_json, options).await?;
        let proxy = ToolsetProxy::builder(&self.connection)
            .path(path.clone())
            .build()
            .await?;
        Ok(RemoteToolset {
            connection: self.connection.clone(),
            path,
            proxy,
        })
    }

    /// Ends this client's requests that carry `request_id` (`CallOptions::request_id`) with
    /// `Cancelled`, queued or running; its toolsets and sessions stay. Whether one was in
    /// flight.
    pub async fn cancel(&self, request_id: &str) -> Result<bool> {
        Ok(self.manager.cancel(request_id).await?)
    }

    /// The bundles the service can run (`ListModels`).
    pub async fn list_models(&self) -> Result<Vec<ModelEntry>> {
        let wire = self.manager.list_models().await?;
        wire.iter()
            .map(|entry| ModelEntry::from_wire(entry).map_err(Error::BadReply))
            .collect()
    }

    /// Has the service read its bundles again (`ReloadModels`; root and the toolcall-admin
    /// group only on the system bus): per bundle, what became of it.
    pub async fn reload_models(&self) -> Result<std::collections::BTreeMap<String, String>> {
        Ok(self.manager.reload_models().await?.into_iter().collect())
    }

    pub async fn status(&self) -> Result<Status> {
        let model_info = ModelInfo::from_wire(&self.manager.model_info().await?).map_err(Error::BadReply)?;
        Ok(Status {
            version: self.manager.version().await?,
            model: self.manager.model().await?,
            model_info,
            queue_depth: self.manager.queue_depth().await?,
        })
    }
}

/// A registered toolset (freed by [`RemoteToolset::release`] or when this client disconnects).
pub struct RemoteToolset {
    connection: zbus::Connection,
    path: OwnedObjectPath,
    proxy: ToolsetProxy<'static>,
}

impl RemoteToolset {
    pub fn path(&self) -> &str {
        self.path.as_str()
    }

    pub async fn call(&self, query: &str, options: &CallOptions) -> Result<CallResult> {
        parse_result(&self.call_json(query, options).await?)
    }

    pub async fn call_json(&self, query: &str, options: &CallOptions) -> Result<String> {
        Ok(self.proxy.call(query, options.to_wire()).await?)
    }

    pub async fn open_session(&self) -> Result<RemoteSession> {
        let path = self.proxy.open_session(HashMap::new()).await?;
        let proxy = SessionProxy::builder(&self.connection)
            .path(path.clone())
            .build()
            .await?;
        Ok(RemoteSession { path, proxy })
    }

    pub async fn tool_count(&self) -> Result<u32> {
        Ok(self.proxy.tool_count().await?)
    }

    pub async fn release(self) -> Result<()> {
        Ok(self.proxy.release().await?)
    }
}

/// A multi-turn session (freed by [`RemoteSession::close`] or when this client disconnects).
pub struct RemoteSession {
    path: OwnedObjectPath,
    proxy: SessionProxy<'static>,
}

impl RemoteSession {
    pub fn path(&self) -> &str {
        self.path.as_str()
    }

    pub async fn send(&self, text: &str, options: &CallOptions) -> Result<CallResult> {
        parse_result(&self.send_json(text, options).await?)
    }

    pub async fn send_json(&self, text: &str, options: &CallOptions) -> Result<String> {
        Ok(self.proxy.send(text, options.to_wire()).await?)
    }

    /// Results of the last answer's calls (JSON); the model may call again or answer `[]`.
    pub async fn submit_tool_results(&self, results_json: &str, options: &CallOptions) -> Result<CallResult> {
        parse_result(&self.submit_tool_results_json(results_json, options).await?)
    }

    pub async fn submit_tool_results_json(&self, results_json: &str, options: &CallOptions) -> Result<String> {
        Ok(self.proxy.submit_tool_results(results_json, options.to_wire()).await?)
    }

    pub async fn reset(&self) -> Result<()> {
        Ok(self.proxy.reset().await?)
    }

    pub async fn close(self) -> Result<()> {
        Ok(self.proxy.close().await?)
    }
}
