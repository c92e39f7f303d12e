//! toolcall-dbus: the wire contract of `org.toolcalld.ToolCall1`, shared by the daemon and
//! its clients: names, introspection XML (the source of truth, installed to
//! `/usr/share/dbus-1/interfaces/`), the named error enum, the result JSON type, and proxies.
//! No model code here, so clients stay light.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use zbus::{OwnedObjectPath, OwnedVariant, Variant};

pub const BUS_NAME: &str = "org.toolcalld.ToolCall1";
pub const MANAGER_PATH: &str = "/org/toolcalld/ToolCall1";
pub const MANAGER_INTERFACE: &str = "org.toolcalld.ToolCall1";
pub const TOOLSET_INTERFACE: &str = "org.toolcalld.ToolCall1.Toolset";
pub const SESSION_INTERFACE: &str = "org.toolcalld.ToolCall1.Session";
pub const TOOLSETS_PATH: &str = "/org/toolcalld/ToolCall1/toolsets";
pub const SESSIONS_PATH: &str = "/org/toolcalld/ToolCall1/sessions";
pub const ERROR_PREFIX: &str = "org.toolcalld.ToolCall1.Error";

/// Introspection XML of each interface, by interface name.
pub const INTERFACE_XML: &[(&str, &str)] = &[
    (MANAGER_INTERFACE, include_str!("../xml/org.toolcalld.ToolCall1.xml")),
    (
        TOOLSET_INTERFACE,
        include_str!("../xml/org.toolcalld.ToolCall1.Toolset.xml"),
    ),
    (
        SESSION_INTERFACE,
        include_str!("../xml/org.toolcalld.ToolCall1.Session.xml"),
    ),
];

/// The named errors of the service (`org.toolcalld.ToolCall1.Error.<Variant>`).
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.toolcalld.ToolCall1.Error")]
pub enum ToolCallError {
    #[zbus(error)]
    ZBus(zbus::Error),
    /// The tools JSON is invalid; the message names the tool and JSON path.
    InvalidTools(String),
    InvalidQuery(String),
    InvalidOptions(String),
    /// A configured limit was exceeded; the message names the limit.
    LimitExceeded(String),
    /// The request queue is full: try again later.
    Busy(String),
    Timeout(String),
    Cancelled(String),
    ModelError(String),
    Internal(String),
    /// The object belongs to another client.
    AccessDenied(String),
}

/// Options of Call/Send/... as they travel: `a{sv}`.
pub type Options<'a> = HashMap<&'a str, Variant<'a>>;

/// The result JSON of every call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallResult {
    pub function_calls: Vec<FunctionCall>,
    pub confidence: f64,
    pub model: String,
    pub timings: Timings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionCall {
    pub name: String,
    pub arguments: serde_json::Value,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Timings {
    pub queue_ms: f64,
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub total_ms: f64,
    pub prompt_tokens: u64,
    pub cached_tokens: u64,
    pub generated_tokens: u64,
}

#[zbus::proxy(
    interface = "org.toolcalld.ToolCall1",
    default_service = "org.toolcalld.ToolCall1",
    default_path = "/org/toolcalld/ToolCall1"
)]
pub trait ToolCall1 {
    fn call(&self, tools_json: &str, query: &str, options: Options<'_>) -> zbus::Result<String>;
    fn register_toolset(&self, tools_json: &str, options: Options<'_>) -> zbus::Result<OwnedObjectPath>;
    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn model(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn model_info(&self) -> zbus::Result<HashMap<String, OwnedVariant>>;
    #[zbus(property)]
    fn queue_depth(&self) -> zbus::Result<u32>;
}

#[zbus::proxy(
    interface = "org.toolcalld.ToolCall1.Toolset",
    default_service = "org.toolcalld.ToolCall1"
)]
pub trait Toolset {
    fn call(&self, query: &str, options: Options<'_>) -> zbus::Result<String>;
    fn open_session(&self, options: Options<'_>) -> zbus::Result<OwnedObjectPath>;
    fn release(&self) -> zbus::Result<()>;
    #[zbus(property)]
    fn tools(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn tool_count(&self) -> zbus::Result<u32>;
}

#[zbus::proxy(
    interface = "org.toolcalld.ToolCall1.Session",
    default_service = "org.toolcalld.ToolCall1"
)]
pub trait Session {
    fn send(&self, text: &str, options: Options<'_>) -> zbus::Result<String>;
    fn submit_tool_results(&self, results_json: &str, options: Options<'_>) -> zbus::Result<String>;
    fn reset(&self) -> zbus::Result<()>;
    fn close(&self) -> zbus::Result<()>;
}
