//! toolcall-dbus: the wire contract of `org.toolcalld.ToolCall1`, shared by the daemon and
//! its clients: names, introspection XML (the source of truth, installed to
//! `/usr/share/dbus-1/interfaces/`), the named error enum, the result JSON types (toolcalld's and the OpenAI-shaped one), and
//! proxies.
//! No model code here, so clients stay light.

mod errors;
mod openai;
mod options;
mod proxies;
mod replies;

pub use errors::{ErrorKind, ToolCallError};
pub use openai::{OpenAiFunction, OpenAiMessage, OpenAiToolCall, ResultFormat};
pub use options::{
    CallOptions, ESCALATE_OPTION, FOLLOW_RELOADS_OPTION, MODEL_OPTION, Options, REQUEST_ID_OPTION, ReceivedOptions,
    TEST_FAULT_OPTION,
};
pub use proxies::{SessionProxy, ToolCall1Proxy, ToolsetProxy};
pub use replies::{CallResult, Escalation, FunctionCall, ModelEntry, ModelInfo, Timings};

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
