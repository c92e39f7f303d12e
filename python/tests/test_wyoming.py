"""toolcall-wyoming over TCP on localhost, asked by the `wyoming` library's own client, against
the real toolcalld (the default model) with Home Assistant's intents as tools."""

import asyncio
import json
import socket
import subprocess
import sys
import unittest
from importlib import resources

import toolcall
from harness import HOME_TOOLS, Service
from toolcall.wyoming_service import Handler
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.handle import Handled, NotHandled
from wyoming.info import Describe, Info
from wyoming.intent import Intent, NotRecognized, Recognize

HA_TOOLS = {t["name"]: t for t in json.loads(resources.files("toolcall").joinpath("ha_intents.json").read_text())}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WyomingTest(unittest.IsolatedAsyncioTestCase):
    def setUp(self) -> None:
        # The default configuration: registering the 20 intents prefills ~2,500 prompt tokens,
        # past a call's 20 s on this VM and within RegisterToolset's own register_timeout_ms.
        self.service = Service(self, bundle="smollm2-135m-toolcall-q4")

    def serve(self, *args: str) -> int:
        """toolcall-wyoming with `args` on a free port of localhost; returns the port."""
        port = free_port()
        log = (self.service.dir / f"wyoming-{port}.log").open("w")
        self.addCleanup(log.close)
        server = subprocess.Popen(
            [sys.executable, "-m", "toolcall.wyoming_service", "--uri", f"tcp://127.0.0.1:{port}",
             "--address", self.service.address, *args],
            stderr=log)
        self.addCleanup(server.wait, 15)
        self.addCleanup(server.terminate)
        return port

    async def ask(self, port: int, event) -> object:
        """The first event of the service's answer to `event`."""
        for _ in range(200):
            try:
                async with AsyncTcpClient("127.0.0.1", port) as client:
                    await client.write_event(event.event())
                    return await asyncio.wait_for(client.read_event(), 180)
            except ConnectionRefusedError:
                await asyncio.sleep(0.05)
        raise AssertionError(f"toolcall-wyoming did not listen on {port}")

    async def test_home_assistant_intents_the_way_home_assistant_asks(self) -> None:
        port = self.serve()
        info = Info.from_event(await self.ask(port, Describe()))
        self.assertEqual([p.name for p in info.intent], ["toolcalld"])
        self.assertEqual(info.handle, [])
        self.assertEqual(info.intent[0].models[0].languages, ["en"])

        # Home Assistant's Wyoming conversation agent sends a transcript and executes the
        # intent that comes back; its slots are the entities.
        for event in [Transcript(text="turn on the kitchen light"), Recognize(text="turn on the kitchen light")]:
            reply = await self.ask(port, event)
            self.assertTrue(Intent.is_type(reply.type), reply)
            intent = Intent.from_event(reply)
            self.assertEqual(intent.name, "HassTurnOn", intent)
            slots = HA_TOOLS[intent.name]["parameters"]["properties"]
            self.assertTrue(intent.entities and all(e.name in slots for e in intent.entities), intent)
        # Once the tools are registered, info names the model.
        info = Info.from_event(await self.ask(port, Describe()))
        self.assertTrue(info.intent[0].models[0].name.startswith("smollm2-135m-toolcall"), info)

    async def test_handle_mode_returns_the_calls(self) -> None:
        # Handling: the calls come back in the context, named in the text; here with tools of
        # the caller's own.
        tools = self.service.dir / "tools.json"
        tools.write_text(HOME_TOOLS)
        port = self.serve("--mode", "handle", "--tools", str(tools))
        info = Info.from_event(await self.ask(port, Describe()))
        self.assertEqual(([p.name for p in info.handle], info.intent), (["toolcalld"], []))
        reply = await self.ask(port, Transcript(text="set a timer for 10 minutes"))
        self.assertTrue(Handled.is_type(reply.type), reply)
        handled = Handled.from_event(reply)
        names = {t["name"] for t in json.loads(HOME_TOOLS)}
        self.assertTrue(handled.context["function_calls"], handled)
        for call in handled.context["function_calls"]:
            self.assertIn(call["name"], names)
            self.assertIn(f"{call['name']}(", handled.text)


class FakeRecognizer:
    """Stands in for toolcalld: answers with `result`, or raises `error`."""

    def __init__(self, result=None, error=None):
        self.result, self.error, self.model = result, error, "fake"

    async def calls(self, text):
        if self.error:
            raise self.error
        return self.result


class HandlerTest(unittest.IsolatedAsyncioTestCase):
    """The answers the handler builds, without a daemon: several calls, and failures."""

    def handler(self, recognizer, mode="intent"):
        return Handler(recognizer, mode, "en", asyncio.StreamReader(), None)

    async def test_several_calls_come_as_an_intents_series(self):
        result = toolcall.CallResult([toolcall.FunctionCall("HassTurnOn", {"name": "lamp"}),
                                      toolcall.FunctionCall("HassStartTimer", {"minutes": 5})], 0.9, "m")
        events = await self.handler(FakeRecognizer(result)).recognize("lamp on and a timer")
        self.assertEqual([type(e).__name__ for e in events], ["IntentsStart", "Intent", "Intent", "IntentsStop"])
        self.assertEqual([e.name for e in events[1:3]], ["HassTurnOn", "HassStartTimer"])
        self.assertEqual(events[2].entities[0].name, "minutes")

    async def test_a_failure_is_an_answer_not_a_dropped_connection(self):
        for error in [EOFError("connection closed"), OSError("no bus"), toolcall.Busy("x.Busy", "queue full")]:
            [event] = await self.handler(FakeRecognizer(error=error)).recognize("lamp on")
            self.assertIsInstance(event, NotRecognized)
            handled = await self.handler(FakeRecognizer(error=error), "handle").handle("lamp on")
            self.assertIsInstance(handled, NotHandled)
        [event] = await self.handler(FakeRecognizer(toolcall.CallResult([], 0.5, "m"))).recognize("hello")
        self.assertIsInstance(event, NotRecognized)


if __name__ == "__main__":
    unittest.main()