//! The service's named errors (`org.toolcalld.ToolCall1.Error.<Variant>`): the one list, which
//! the daemon replies with and the clients read back ([`ToolCallError::from`] a `zbus::Error`
//! picks the variant by name).

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
    /// The request queue is full, or the requests ahead would finish this one after its
    /// deadline: try again later.
    Busy(String),
    Timeout(String),
    Cancelled(String),
    ModelError(String),
    Internal(String),
    /// The object belongs to another client.
    AccessDenied(String),
    /// The `model` option names no bundle the service has (`ListModels` lists them).
    UnknownModel(String),
}

/// Which error a call ended with, without its message: what callers branch on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidTools,
    InvalidQuery,
    InvalidOptions,
    LimitExceeded,
    Busy,
    Timeout,
    Cancelled,
    ModelError,
    Internal,
    AccessDenied,
    UnknownModel,
    /// Another D-Bus error (e.g. `org.freedesktop.DBus.Error.ServiceUnknown`), by name.
    Other(String),
}

impl ToolCallError {
    /// The kind of a named error; `None` for [`ToolCallError::ZBus`], which is not one of the
    /// service's errors (a bus error, or another service's named error inside it).
    pub fn kind(&self) -> Option<ErrorKind> {
        Some(match self {
            ToolCallError::ZBus(_) => return None,
            ToolCallError::InvalidTools(_) => ErrorKind::InvalidTools,
            ToolCallError::InvalidQuery(_) => ErrorKind::InvalidQuery,
            ToolCallError::InvalidOptions(_) => ErrorKind::InvalidOptions,
            ToolCallError::LimitExceeded(_) => ErrorKind::LimitExceeded,
            ToolCallError::Busy(_) => ErrorKind::Busy,
            ToolCallError::Timeout(_) => ErrorKind::Timeout,
            ToolCallError::Cancelled(_) => ErrorKind::Cancelled,
            ToolCallError::ModelError(_) => ErrorKind::ModelError,
            ToolCallError::Internal(_) => ErrorKind::Internal,
            ToolCallError::AccessDenied(_) => ErrorKind::AccessDenied,
            ToolCallError::UnknownModel(_) => ErrorKind::UnknownModel,
        })
    }
}

#[cfg(test)]
mod tests {
    use zbus::DBusError;

    use super::*;

    #[test]
    fn a_named_error_comes_back_as_its_variant_from_its_wire_name() {
        let sent = [
            ToolCallError::InvalidTools("tools[0]".into()),
            ToolCallError::Busy("queue full".into()),
            ToolCallError::AccessDenied("not yours".into()),
            ToolCallError::UnknownModel("no bundle \"x\"".into()),
        ];
        for error in sent {
            let name = zbus::names::OwnedErrorName::try_from(error.name().to_string()).unwrap();
            let wire = zbus::Error::MethodError(name, error.description().map(str::to_string), dummy_message());
            let back = ToolCallError::from(wire);
            assert_eq!(back.kind(), error.kind());
            assert_eq!(back.description(), error.description());
        }
        let other = zbus::Error::MethodError(
            "org.freedesktop.DBus.Error.ServiceUnknown".try_into().unwrap(),
            None,
            dummy_message(),
        );
        assert_eq!(ToolCallError::from(other).kind(), None);
    }

    fn dummy_message() -> zbus::Message {
        zbus::Message::method_call("/", "Ping").build(&()).unwrap()
    }
}
