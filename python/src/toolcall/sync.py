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
    """An event loop on a thread of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any) -> Any:
        if self.loop.is_closed():
            coroutine.close()
            raise RuntimeError("the client is disconnected")
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


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

    def register_toolset(self, tools: Any, **opts: Any) -> Toolset:
        return Toolset(self._loop, self._loop.run(self._inner.register_toolset(tools, **opts)))

    def list_models(self) -> list[dict[str, Any]]:
        return self._loop.run(self._inner.list_models())

    def reload_models(self) -> dict[str, str]:
        return self._loop.run(self._inner.reload_models())

    def cancel(self, request_id: str) -> bool:
        return self._loop.run(self._inner.cancel(request_id))

    def status(self) -> Status:
        return self._loop.run(self._inner.status())

    def disconnect(self) -> None:
        """Closes the connection (on the loop's thread: dbus-fast is not thread-safe) and
        ends the loop; calls after it raise RuntimeError."""
        self._loop.run(self._inner.close())
        self._loop.close()


def connect(address: str | None = None, bus: str = "system") -> Client:
    loop = _Loop()
    try:
        return Client(loop, loop.run(aio.connect(address, bus)))
    except BaseException:
        loop.close()
        raise
