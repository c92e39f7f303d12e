"""Not a test (the test command does not run it): prints what the default model calls for a few
plain Home Assistant requests with toolcall-wyoming's default tools (ha_intents.json), one JSON
line each, for the README's figure. Run from the checkout:

    .venv/bin/python python/tests/probe_ha_intents.py
"""

import json
import sys
import unittest
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import toolcall  # noqa: E402
from harness import Service  # noqa: E402

REQUESTS = [
    "turn on the kitchen light", "add milk to the shopping list", "set a timer for 5 minutes",
    "set the living room lights to 40 percent", "what's the weather like", "pause the music",
    "set the thermostat to 21 degrees", "turn off the fan in the bedroom",
]


class Probe(unittest.IsolatedAsyncioTestCase):
    def setUp(self) -> None:
        self.service = Service(self, bundle="smollm2-135m-toolcall-q4")

    async def test_print_the_calls(self) -> None:
        client = await toolcall.connect(address=self.service.address)
        toolset = await client.register_toolset(resources.files("toolcall").joinpath("ha_intents.json").read_text())
        for request in REQUESTS:
            result = await toolset.call(request)
            print(json.dumps({"request": request, "calls": [[c.name, c.arguments] for c in result.function_calls]}))
        client.disconnect()


if __name__ == "__main__":
    unittest.main()
