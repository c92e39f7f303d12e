"""toolcall-wyoming over TCP on localhost, asked by the `wyoming` library's own client, against
the real toolcalld (the default model) with Home Assistant's intents as tools."""

import asyncio
import json
import socket
import subprocess
import sys
import unittest
from importlib import resources

from harness import HOME_TOOLS, Service
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.handle import Handled
from wyoming.info import Describe, Info
from wyoming.intent import Intent, Recognize

HA_TOOLS = {t["name"]: t for t in json.loads(resources.files("toolcall").joinpath("ha_intents.json").read_text())}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WyomingTest(unittest.IsolatedAsyncioTestCase):
    def setUp(self) -> None:
        # Registering the 20 intents prefills ~2,500 prompt tokens: more than the default 20 s
        # on a slow machine.
        self.service = Service(self, bundle="smollm2-135m-toolcall", config="request_timeout_ms = 120000\n")

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
        self.assertTrue(info.intent[0].models[0].name.startswith("smollm2-135m-toolcall"))

        # Home Assistant's Wyoming conversation agent sends a transcript and executes the
        # intent that comes back; its slots are the entities.
        for event in [Transcript(text="turn on the kitchen light"), Recognize(text="turn on the kitchen light")]:
            reply = await self.ask(port, event)
            self.assertTrue(Intent.is_type(reply.type), reply)
            intent = Intent.from_event(reply)
            self.assertEqual(intent.name, "HassTurnOn", intent)
            slots = HA_TOOLS[intent.name]["parameters"]["properties"]
            self.assertTrue(intent.entities and all(e.name in slots for e in intent.entities), intent)

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


if __name__ == "__main__":
    unittest.main()
