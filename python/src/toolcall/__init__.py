"""toolcall: the Python client of toolcalld (org.toolcalld.ToolCall1), asyncio on dbus-fast
(`toolcall.connect`, see `toolcall.client`) with a blocking wrapper (`toolcall.sync`), and the
Wyoming intent service `toolcall-wyoming` (`toolcall.wyoming_service`)."""

from . import errors, sync
from .client import Client, Session, Toolset, connect
from .errors import (AccessDenied, Busy, BusError, Cancelled, Internal, InvalidOptions, InvalidQuery,
                     InvalidTools, LimitExceeded, ModelError, Timeout, ToolcallError, UnknownModel)
from .results import CallResult, Escalation, FunctionCall, Status, Timings

__all__ = [
    "Client", "Session", "Toolset", "connect", "sync", "errors", "CallResult", "Escalation",
    "FunctionCall", "Status", "Timings", "ToolcallError", "InvalidTools", "InvalidQuery", "InvalidOptions",
    "LimitExceeded", "Busy", "Timeout", "Cancelled", "ModelError", "Internal", "AccessDenied",
    "UnknownModel", "BusError",
]
