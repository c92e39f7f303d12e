"""The tool registry (org.toolcalld.ToolCall1.Registry): assistants have a request routed among
every app's published tools, or carried out by the apps that own them; provider apps publish
their tools and carry out the calls routed to them.

    client = await toolcall.connect()
    result = await client.registry.dispatch("pause the music")      # a RouteResult
    for call in result.function_calls:
        print(call.name, call.provider, call.error or call.result)

    # A provider app: its tools, and a handler per tool (plain or async), given the arguments
    # and the bus name of the assistant that asked; what it returns is sent back as JSON.
    def pause(arguments: dict, caller: str) -> dict:
        return {"paused": True}
    publication = await client.registry.serve("media", tools, {"pause": pause})
    ...
    await client.registry.unpublish(publication)    # or disconnect: the tools go with the app

A handler that raises `dbus_fast.DBusError` answers that error, any other exception
org.toolcalld.ToolProvider1.Error.Failed with its text (the assistant sees either as the call's
ProviderFailed); a tool without a handler answers org.toolcalld.ToolProvider1.Error.UnknownTool.
Serving a prefix again replaces its tools and handlers.
"""

import inspect
import json
from typing import Any, Awaitable, Callable

from dbus_fast import DBusError
from dbus_fast.service import ServiceInterface, method

from . import client as _client
from .results import RouteResult

REGISTRY = "org.toolcalld.ToolCall1.Registry"
PROVIDER = "org.toolcalld.ToolProvider1"

Handler = Callable[[dict[str, Any], str], Any | Awaitable[Any]]


class ToolProvider(ServiceInterface):
    """`org.toolcalld.ToolProvider1`: carries out the calls the registry routes to this app."""

    def __init__(self, handlers: dict[str, Handler]):
        super().__init__(PROVIDER)
        self._handlers = handlers

    @method()
    async def Invoke(self, name: "s", arguments_json: "s", options: "a{sv}") -> "s":  # noqa: N802, F821
        handler = self._handlers.get(name)
        if handler is None:
            raise DBusError(f"{PROVIDER}.Error.UnknownTool", f"no handler for {name!r}")
        caller = options["caller"].value if "caller" in options else ""
        try:
            result = handler(json.loads(arguments_json), caller)
            if inspect.isawaitable(result):
                result = await result
            return json.dumps(result)
        except DBusError:
            raise
        except Exception as e:  # the handler's own failure, told to the assistant in words
            raise DBusError(f"{PROVIDER}.Error.Failed", f"{type(e).__name__}: {e}") from e


class Registry(_client._Caller):
    """The registry on a client's connection (`Client.registry`)."""

    async def publish(self, tools: str | list[dict[str, Any]], provider_path: str, prefix: str) -> str:
        """Publishes `tools` as `prefix.NAME`, carried out by this connection's object at
        `provider_path`; the publication's path, for `unpublish`."""
        reply = await self._call("Publish", "soa{sv}", _client.tools_text(tools), provider_path,
                                 _client.options(prefix=prefix))
        return reply[0]

    async def serve(self, prefix: str, tools: str | list[dict[str, Any]], handlers: dict[str, Handler],
                    path: str | None = None) -> str:
        """Exports a `ToolProvider` of `handlers` (at `path`, by default
        /org/toolcalld/Provider/PREFIX) and publishes `tools` to it."""
        path = path or f"/org/toolcalld/Provider/{prefix}"
        self._bus.unexport(path, PROVIDER)  # serving again replaces the handlers
        self._bus.export(path, ToolProvider(handlers))
        try:
            return await self.publish(tools, path, prefix)
        except Exception:
            self._bus.unexport(path, PROVIDER)
            raise

    async def unpublish(self, publication: str) -> None:
        await self._call("Unpublish", "o", publication)

    async def tools(self) -> list[dict[str, Any]]:
        """The published tools this client may reach, each with its `provider`."""
        reply = await self._call("Get", "ss", REGISTRY, "Tools", interface="org.freedesktop.DBus.Properties")
        return json.loads(reply[0].value)

    async def route(self, query: str, **opts: Any) -> RouteResult:
        """The calls `query` asks for among the published tools (or those `tools=[...]` names),
        each naming its provider."""
        return RouteResult.from_json(await self.route_json(query, **opts))

    async def route_json(self, query: str, **opts: Any) -> str:
        return (await self._call("Route", "sa{sv}", query, _client.options(**opts)))[0]

    async def dispatch(self, query: str, **opts: Any) -> RouteResult:
        """As `route`, each call then carried out by its provider: its `result`, or its `error`
        (ProviderFailed, ProviderTimeout, ProviderGone)."""
        return RouteResult.from_json(await self.dispatch_json(query, **opts))

    async def dispatch_json(self, query: str, **opts: Any) -> str:
        return (await self._call("Dispatch", "sa{sv}", query, _client.options(**opts)))[0]
