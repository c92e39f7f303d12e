//! The interface method a request came in on, and which options each takes.

/// The interface method a request came in on: the pool plans a request's turn by the recent
/// run times of its method, and the log line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Call,
    RegisterToolset,
    ToolsetCall,
    OpenSession,
    Send,
    SubmitToolResults,
    Reset,
    Route,
    Dispatch,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Call => "Call",
            Method::RegisterToolset => "RegisterToolset",
            Method::ToolsetCall => "Toolset.Call",
            Method::OpenSession => "OpenSession",
            Method::Send => "Session.Send",
            Method::SubmitToolResults => "Session.SubmitToolResults",
            Method::Reset => "Session.Reset",
            Method::Route => "Registry.Route",
            Method::Dispatch => "Registry.Dispatch",
        }
    }

    /// Whether the method has options of its own; those that have none yet refuse any but
    /// `request_id` (and `model`, where [`Method::takes_model`]).
    pub(super) fn takes_options(self) -> bool {
        !matches!(self, Method::RegisterToolset | Method::OpenSession | Method::Reset)
    }

    /// Whether the method takes the `model` option: those that pick a model, not those of an
    /// object, which runs on its own.
    pub(super) fn takes_model(self) -> bool {
        matches!(
            self,
            Method::Call | Method::RegisterToolset | Method::OpenSession | Method::Route | Method::Dispatch
        )
    }

    /// Whether the method's answers may be escalated (and so it takes `escalate`).
    pub(super) fn escalates(self) -> bool {
        matches!(
            self,
            Method::Call | Method::ToolsetCall | Method::Route | Method::Dispatch
        )
    }

    /// Whether the method chooses among the registry's tools (and so takes `tools`).
    pub(super) fn routes(self) -> bool {
        matches!(self, Method::Route | Method::Dispatch)
    }
}
