"""A blocking wrapper of the asyncio client, for scripts without an event loop: each call
runs on a private loop in a background thread.

    client = toolcall.sync.connect(address="unix:path=/run/my-bus")
    print(client.call(tools, "turn on the kitchen light").function_calls)
    client.disconnect()
"""

import asyncio
import threading
from typing import Any

from . import client as aio
from .results import CallResult, Status


class _Loop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()


class Session:
    def __init__(self, loop: _Loop, inner: aio.Session):
        self._loop, self._inner = loop, inner

    def send(self, text: str, **opts: Any) -> CallResult:
        return self._loop.run(self._inner.send(text, **opts))

    def submit_tool_results(self, results: Any, **opts: Any) -> CallResult:
        return self._loop.run(self._inner.submit_tool_results(results, **opts))

    def reset(self) -> None:
        self._loop.run(self._inner.reset())

    def close(self) -> None:
        self._loop.run(self._inner.close())


class Toolset:
    def __init__(self, loop: _Loop, inner: aio.Toolset):
        self._loop, self._inner = loop, inner

    def call(self, query: str, **opts: Any) -> CallResult:
        return self._loop.run(self._inner.call(query, **opts))

    def open_session(self) -> Session:
        return Session(self._loop, self._loop.run(self._inner.open_session()))

    def release(self) -> None:
        self._loop.run(self._inner.release())


class Client:
    def __init__(self, loop: _Loop, inner: aio.Client):
        self._loop, self._inner = loop, inner

    def call(self, tools: Any, query: str, **opts: Any) -> CallResult:
        return self._loop.run(self._inner.call(tools, query, **opts))

    def register_toolset(self, tools: Any) -> Toolset:
        return Toolset(self._loop, self._loop.run(self._inner.register_toolset(tools)))

    def cancel(self, request_id: str) -> bool:
        return self._loop.run(self._inner.cancel(request_id))

    def status(self) -> Status:
        return self._loop.run(self._inner.status())

    def disconnect(self) -> None:
        # On the loop's own thread, in this order: dbus-fast is not thread-safe.
        self._loop.loop.call_soon_threadsafe(self._inner.disconnect)
        self._loop.loop.call_soon_threadsafe(self._loop.loop.stop)


def connect(address: str | None = None, bus: str = "system") -> Client:
    loop = _Loop()
    return Client(loop, loop.run(aio.connect(address, bus)))
