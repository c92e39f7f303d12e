//! toolcall-dbus: the wire contract of `org.toolcalld.ToolCall1`, shared by the daemon and
//! its clients: names, introspection XML (the source of truth, installed to
//! `/usr/share/dbus-1/interfaces/`), the named error enum, the result JSON types (toolcalld's and the OpenAI-shaped one), and
//! proxies.
//! No model code here, so clients stay light.

mod errors;
mod openai;
mod options;
mod proxies;
mod registry;
mod replies;

pub use errors::{ErrorKind, ToolCallError};
pub use openai::{OpenAiFunction, OpenAiMessage, OpenAiToolCall, ResultFormat};
pub use options::{
    CallOptions, ESCALATE_OPTION, FOLLOW_RELOADS_OPTION, MODEL_OPTION, Options, PREFIX_OPTION, REQUEST_ID_OPTION,
    ReceivedOptions, TEST_FAULT_OPTION, TOOLS_OPTION,
};
pub use proxies::{RegistryProxy, SessionProxy, ToolCall1Proxy, ToolProvider1Proxy, ToolsetProxy};
pub use registry::{PROVIDER_FAILED, PROVIDER_GONE, PROVIDER_TIMEOUT, ProviderError, RouteResult, RoutedCall};
pub use replies::{CallResult, Escalation, FunctionCall, ModelEntry, ModelInfo, Timings};

pub const BUS_NAME: &str = "org.toolcalld.ToolCall1";
pub const MANAGER_PATH: &str = "/org/toolcalld/ToolCall1";
pub const MANAGER_INTERFACE: &str = "org.toolcalld.ToolCall1";
pub const TOOLSET_INTERFACE: &str = "org.toolcalld.ToolCall1.Toolset";
pub const SESSION_INTERFACE: &str = "org.toolcalld.ToolCall1.Session";
/// The system-wide tool catalogue, served beside the manager at [`MANAGER_PATH`].
pub const REGISTRY_INTERFACE: &str = "org.toolcalld.ToolCall1.Registry";
pub const PUBLICATIONS_PATH: &str = "/org/toolcalld/ToolCall1/publications";
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
    (
        REGISTRY_INTERFACE,
        include_str!("../xml/org.toolcalld.ToolCall1.Registry.xml"),
    ),
];
