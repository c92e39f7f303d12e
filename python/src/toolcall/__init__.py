"""toolcall: the Python client of toolcalld (org.toolcalld.ToolCall1), asyncio on dbus-fast
(`toolcall.connect`, see `toolcall.client`) with a blocking wrapper (`toolcall.sync`), the tool
registry's assistants and provider apps (`toolcall.registry`), and the
Wyoming intent service `toolcall-wyoming` (`toolcall.wyoming_service`)."""

from . import errors, sync
from .client import Client, Session, Toolset, connect
from .errors import (AccessDenied, Busy, BusError, Cancelled, Internal, InvalidOptions, InvalidQuery,
                     InvalidTools, LimitExceeded, ModelError, Timeout, ToolcallError, UnknownModel)
from .registry import Registry, ToolProvider
from .results import CallResult, Escalation, FunctionCall, ProviderError, RoutedCall, RouteResult, Status, Timings

__all__ = [
    "Client", "Session", "Toolset", "connect", "sync", "errors", "CallResult", "Escalation",
    "Registry", "ToolProvider", "RouteResult", "RoutedCall", "ProviderError",
    "FunctionCall", "Status", "Timings", "ToolcallError", "InvalidTools", "InvalidQuery", "InvalidOptions",
    "LimitExceeded", "Busy", "Timeout", "Cancelled", "ModelError", "Internal", "AccessDenied",
    "UnknownModel", "BusError",
]
