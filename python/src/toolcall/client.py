"""The asyncio client of toolcalld, on dbus-fast.

    client = await toolcall.connect()                 # the system bus; or address=, bus="session"
    result = await client.call(tools, "dim the kitchen to 30", max_calls=1)
    async with await client.register_toolset(tools) as toolset:
        result = await toolset.call("set a timer for 5 minutes")
        async with await toolset.open_session() as session:
            result = await session.send("turn on the light")
            result = await session.submit_tool_results([{"name": "turn_on", "result": "ok"}])

Tools are a list of {"name", "description", "parameters"} (or their JSON text). Options are
keyword arguments: max_calls, allow_empty, max_new_tokens, timeout_ms, facts, call_margin,
request_id (for `Client.cancel`), format ("openai") and model (a bundle's name from
`Client.list_models`; Call and RegisterToolset take it, a toolset's calls and sessions run on
its model) and follow_reloads (RegisterToolset: after a reload replaced its bundle, the
toolset's next call or session moves it to the new engine) and escalate (False keeps a call on
the device where the service escalates unsure answers to a bigger model; results then say
`escalated` and carry `escalation`). Error replies raise the exceptions of
`toolcall.errors`. A toolset or session lives until released or closed, or until the client
disconnects; a session the service expired (session_idle_timeout_s) raises `BusError`
(UnknownObject). The tool registry (many apps' tools, routed and dispatched) is
`Client.registry`, see `toolcall.registry`; its Route and Dispatch take the option tools (a list
of published names to choose among).
"""

import json
from typing import TYPE_CHECKING, Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from .errors import from_reply
from .results import CallResult, Status

if TYPE_CHECKING:
    from .registry import Registry

BUS_NAME = "org.toolcalld.ToolCall1"
MANAGER_PATH = "/org/toolcalld/ToolCall1"
MANAGER = "org.toolcalld.ToolCall1"
TOOLSET = "org.toolcalld.ToolCall1.Toolset"
SESSION = "org.toolcalld.ToolCall1.Session"

# Each option's D-Bus type (the introspection XML's list).
OPTION_TYPES = {
    "max_calls": "u",
    "allow_empty": "b",
    "max_new_tokens": "u",
    "timeout_ms": "u",
    "facts": "s",
    "call_margin": "d",
    "request_id": "s",
    "format": "s",
    "model": "s",
    "follow_reloads": "b",
    "escalate": "b",
    "tools": "as",
    "prefix": "s",
}


def options(**given: Any) -> dict[str, Variant]:
    """Keyword options as the a{sv} the service takes; None leaves the service's default."""
    wire = {}
    for key, value in given.items():
        if key not in OPTION_TYPES:
            raise TypeError(f"unknown option {key!r} (known: {', '.join(OPTION_TYPES)})")
        if value is not None:
            wire[key] = Variant(OPTION_TYPES[key], float(value) if OPTION_TYPES[key] == "d" else value)
    return wire


def tools_text(tools: str | list[dict[str, Any]]) -> str:
    return tools if isinstance(tools, str) else json.dumps(tools)


class _Caller:
    """Method calls to one object of the service."""

    def __init__(self, bus: MessageBus, path: str, interface: str):
        self._bus, self.path, self._interface = bus, path, interface

    async def _call(self, member: str, signature: str = "", *body: Any, interface: str | None = None) -> list[Any]:
        reply = await self._bus.call(Message(
            destination=BUS_NAME, path=self.path, interface=interface or self._interface,
            member=member, signature=signature, body=list(body)))
        if reply.message_type == MessageType.ERROR:
            raise from_reply(reply.error_name, reply.body[0] if reply.body else "")
        return reply.body


class Session(_Caller):
    """A multi-turn conversation on a toolset."""

    async def send(self, text: str, **opts: Any) -> CallResult:
        return CallResult.from_json(await self.send_json(text, **opts))

    async def send_json(self, text: str, **opts: Any) -> str:
        """As `send`, the result JSON as the service sent it (e.g. format="openai")."""
        return (await self._call("Send", "sa{sv}", text, options(**opts)))[0]

    async def submit_tool_results(self, results: str | list[dict[str, Any]], **opts: Any) -> CallResult:
        """The results of the last answer's calls; the model may call again or answer none."""
        text = results if isinstance(results, str) else json.dumps(results)
        reply = await self._call("SubmitToolResults", "sa{sv}", text, options(**opts))
        return CallResult.from_json(reply[0])

    async def reset(self) -> None:
        await self._call("Reset")

    async def close(self) -> None:
        await self._call("Close")

    async def __aenter__(self) -> "Session":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Toolset(_Caller):
    """A registered tool list: its prompt is compiled once for many calls."""

    async def call(self, query: str, **opts: Any) -> CallResult:
        return CallResult.from_json(await self.call_json(query, **opts))

    async def call_json(self, query: str, **opts: Any) -> str:
        return (await self._call("Call", "sa{sv}", query, options(**opts)))[0]

    async def open_session(self) -> Session:
        [path] = await self._call("OpenSession", "a{sv}", {})
        return Session(self._bus, path, SESSION)

    async def release(self) -> None:
        await self._call("Release")

    async def __aenter__(self) -> "Toolset":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.release()


class Client(_Caller):
    """A connection to toolcalld."""

    async def call(self, tools: str | list[dict[str, Any]], query: str, **opts: Any) -> CallResult:
        """One-shot call; repeated calls with the same tools reuse their compiled prompt."""
        return CallResult.from_json(await self.call_json(tools, query, **opts))

    async def call_json(self, tools: str | list[dict[str, Any]], query: str, **opts: Any) -> str:
        return (await self._call("Call", "ssa{sv}", tools_text(tools), query, options(**opts)))[0]

    async def register_toolset(self, tools: str | list[dict[str, Any]], **opts: Any) -> Toolset:
        """Registers tools once for many calls (request_id, model and follow_reloads are its
        options)."""
        [path] = await self._call("RegisterToolset", "sa{sv}", tools_text(tools), options(**opts))
        return Toolset(self._bus, path, TOOLSET)

    async def cancel(self, request_id: str) -> bool:
        """Ends this client's requests made with `request_id=...` (they raise `Cancelled`);
        whether one was in flight."""
        return (await self._call("Cancel", "s", request_id))[0]

    async def list_models(self) -> list[dict[str, Any]]:
        """The bundles the service can run, each a dict: model (its name for the model option),
        default, loaded, weights_mb and the manifest's fields (name, version, ...)."""
        [entries] = await self._call("ListModels")
        return [{key: variant.value for key, variant in entry.items()} for entry in entries]

    async def reload_models(self) -> dict[str, str]:
        """Has the service read its bundles again (root and the toolcall-admin group on the
        system bus); per bundle, what became of it ("added", "unchanged", "replaced",
        "removed", "refused: ..."; keys "config/default_model" and "config/models_dir" report a
        refused setting)."""
        return (await self._call("ReloadModels"))[0]

    @property
    def registry(self) -> "Registry":
        """The tool registry on this connection."""
        from .registry import REGISTRY, Registry
        return Registry(self._bus, MANAGER_PATH, REGISTRY)

    async def status(self) -> Status:
        async def get(name: str) -> Any:
            reply = await self._call("Get", "ss", MANAGER, name, interface="org.freedesktop.DBus.Properties")
            return reply[0].value
        return Status(await get("Version"), await get("Model"), await get("QueueDepth"))

    def disconnect(self) -> None:
        """Closes the connection; the service frees what this client held."""
        self._bus.disconnect()

    async def close(self) -> None:
        """As `disconnect`, and waits until the connection is closed."""
        self._bus.disconnect()
        await self._bus.wait_for_disconnect()

    async def wait_closed(self) -> None:
        """Waits until the connection closes (a provider app serves until then)."""
        await self._bus.wait_for_disconnect()

    @property
    def unique_name(self) -> str:
        """This connection's name on the bus (what providers see as the `caller`)."""
        return self._bus.unique_name

    @property
    def connected(self) -> bool:
        return self._bus.connected


async def connect(address: str | None = None, bus: str = "system") -> Client:
    """Connects to toolcalld on the bus at `address`, else the system or session bus."""
    if address is not None:
        message_bus = MessageBus(bus_address=address)
    else:
        message_bus = MessageBus(bus_type=BusType.SYSTEM if bus == "system" else BusType.SESSION)
    await message_bus.connect()
    return Client(message_bus, MANAGER_PATH, MANAGER)
