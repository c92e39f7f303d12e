"""The registry from Python against the real toolcalld on a private bus: a provider app serves
its tools from one connection, an assistant routes and dispatches from another."""

import unittest

from dbus_fast import DBusError

import toolcall
from harness import Service

TOOLS = [
    {"name": "pause", "description": "Pause the music.", "parameters": {"type": "object", "properties": {}}},
    {"name": "eject", "description": "Eject the disc.", "parameters": {"type": "object", "properties": {}}},
]


class RegistryTest(unittest.IsolatedAsyncioTestCase):
    def setUp(self) -> None:
        self.service = Service(self)

    async def asyncSetUp(self) -> None:
        self.provider = await toolcall.connect(address=self.service.address)
        self.addCleanup(self.provider.disconnect)
        self.assistant = await toolcall.connect(address=self.service.address)
        self.addCleanup(self.assistant.disconnect)

    async def test_a_provider_serves_its_tools_and_the_assistant_dispatches_to_it(self) -> None:
        async def eject(arguments: dict, caller: str) -> dict:
            raise DBusError("org.example.Error.Stuck", "the disc is stuck")

        def broken(arguments: dict, caller: str) -> dict:
            raise ValueError("no disc")

        handlers = {"pause": lambda arguments, caller: {"paused": True, "for": caller}, "eject": broken}
        await self.provider.registry.serve("player", TOOLS, handlers)
        failed = await self.assistant.registry.dispatch("eject", tools=["player.eject"], max_calls=1, allow_empty=False)
        self.assertIn("ValueError: no disc", failed.function_calls[0].error.message)
        # Serving again replaces the handlers.
        handlers["eject"] = eject
        publication = await self.provider.registry.serve("player", TOOLS, handlers)
        self.assertTrue(publication.startswith("/org/toolcalld/ToolCall1/publications/player_"))
        catalogue = await self.assistant.registry.tools()
        self.assertEqual({tool["name"] for tool in catalogue}, {"player.pause", "player.eject"})

        one = {"max_calls": 1, "allow_empty": False}
        routed = await self.assistant.registry.route("pause", tools=["player.pause"], **one)
        self.assertEqual(routed.offered, ["player.pause"])
        call = routed.function_calls[0]
        self.assertEqual((call.name, call.tool, call.result, call.error), ("player.pause", "pause", None, None))
        me = self.assistant.unique_name
        dispatched = await self.assistant.registry.dispatch("pause", tools=["player.pause"], **one)
        self.assertEqual(dispatched.function_calls[0].result, {"paused": True, "for": me})
        failed = await self.assistant.registry.dispatch("eject", tools=["player.eject"], **one)
        error = failed.function_calls[0].error
        self.assertEqual(error.name, "org.toolcalld.ToolCall1.Error.ProviderFailed")
        self.assertIn("org.example.Error.Stuck", error.message)

        # Another app may not take the prefix; the provider takes its tools back.
        with self.assertRaises(toolcall.AccessDenied):
            await self.assistant.registry.publish(TOOLS, "/x", "player")
        await self.provider.registry.unpublish(publication)
        self.assertEqual(await self.assistant.registry.tools(), [])
        with self.assertRaises(toolcall.InvalidOptions):
            await self.assistant.registry.route("pause", tools=["player.pause"], **one)


if __name__ == "__main__":
    unittest.main()
