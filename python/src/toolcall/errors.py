"""The service's named D-Bus errors as exceptions: `org.toolcalld.ToolCall1.Error.Busy` is
`Busy`, and so on; every one is a `ToolcallError` with the D-Bus `name` and the `message`.
Errors of the bus itself (`org.freedesktop.DBus.Error.*`, e.g. an unknown object after a
session expired, or a policy refusal) are `BusError`."""

ERROR_PREFIX = "org.toolcalld.ToolCall1.Error."


class ToolcallError(Exception):
    """An error reply; `name` is its D-Bus error name."""

    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


class InvalidTools(ToolcallError): ...
class InvalidQuery(ToolcallError): ...
class InvalidOptions(ToolcallError): ...
class LimitExceeded(ToolcallError): ...
class Busy(ToolcallError): ...
class Timeout(ToolcallError): ...
class Cancelled(ToolcallError): ...
class ModelError(ToolcallError): ...
class Internal(ToolcallError): ...
class AccessDenied(ToolcallError): ...
class UnknownModel(ToolcallError): ...


class BusError(ToolcallError):
    """An error of the bus, not of toolcalld (its name is not under org.toolcalld)."""


_BY_NAME = {
    cls.__name__: cls
    for cls in (InvalidTools, InvalidQuery, InvalidOptions, LimitExceeded, Busy, Timeout,
                Cancelled, ModelError, Internal, AccessDenied, UnknownModel)
}


def from_reply(name: str, message: str) -> ToolcallError:
    """The exception for an error reply named `name`."""
    if name.startswith(ERROR_PREFIX):
        return _BY_NAME.get(name[len(ERROR_PREFIX):], ToolcallError)(name, message)
    return BusError(name, message)
