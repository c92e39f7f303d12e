"""The asyncio client and its blocking wrapper against the real toolcalld on a private bus."""

import asyncio
import http.server
import json
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from dbus_fast import Variant

import toolcall
from harness import HOME_TOOLS, Service

TOOL_NAMES = {tool["name"] for tool in json.loads(HOME_TOOLS)}


def answered(result: toolcall.CallResult) -> bool:
    """At least one call (the requests below ask with allow_empty=False), each of a known tool."""
    calls = result.function_calls
    return bool(calls) and all(call.name in TOOL_NAMES and isinstance(call.arguments, dict) for call in calls)


class AsyncClientTest(unittest.IsolatedAsyncioTestCase):
    def setUp(self) -> None:
        self.service = Service(self)

    async def asyncSetUp(self) -> None:
        self.client = await toolcall.connect(address=self.service.address)
        self.addCleanup(self.client.disconnect)

    async def test_a_call_a_toolset_and_a_session(self) -> None:
        # The tiny bundle's random weights may not finish within a short limit: its named error
        # is an answer of the service too.
        try:
            self.assertTrue(answered(await self.client.call(HOME_TOOLS, "turn on the light", allow_empty=False,
                                                            max_new_tokens=256)))
        except toolcall.LimitExceeded as e:
            self.assertIn("not complete", e.message)
        async with await self.client.register_toolset(json.loads(HOME_TOOLS)) as toolset:
            result = await toolset.call("set a timer for 5 minutes", allow_empty=False, max_new_tokens=256)
            self.assertTrue(answered(result))
            self.assertTrue(result.model.startswith("toolcalld-tiny"))
            async with await toolset.open_session() as session:
                self.assertTrue(answered(await session.send("turn off the lamp", allow_empty=False, max_new_tokens=256)))
                await session.reset()
                openai = json.loads(await session.send_json("turn on the lamp", format="openai", max_new_tokens=256))
                self.assertEqual(openai["role"], "assistant")
        status = await self.client.status()
        self.assertEqual(status.queue_depth, 0)
        self.assertTrue(status.model.startswith("toolcalld-tiny"))

    async def test_errors_are_named_exceptions(self) -> None:
        with self.assertRaises(toolcall.InvalidTools) as raised:
            await self.client.call("not json", "turn on the light")
        self.assertEqual(raised.exception.name, "org.toolcalld.ToolCall1.Error.InvalidTools")
        with self.assertRaises(toolcall.InvalidQuery):
            await self.client.call(HOME_TOOLS, "")
        with self.assertRaises(toolcall.InvalidOptions):
            await self.client.call(HOME_TOOLS, "turn on the light", format="xml")
        with self.assertRaises(TypeError):
            await self.client.call(HOME_TOOLS, "turn on the light", temperature=0.5)
        toolset = await self.client.register_toolset(HOME_TOOLS)
        await toolset.release()
        with self.assertRaises(toolcall.BusError) as raised:
            await toolset.call("turn on the light")
        self.assertIn("UnknownObject", raised.exception.name)
        with self.assertRaises(toolcall.UnknownModel):
            await self.client.call(HOME_TOOLS, "turn on the light", model="no-such-bundle")
        # Still serving.
        self.assertEqual((await self.client.status()).queue_depth, 0)

    async def test_models_are_listed_and_picked_by_name(self) -> None:
        [model] = await self.client.list_models()
        self.assertEqual((model["model"], model["default"], model["loaded"]), ("tiny", True, True))
        self.assertTrue(model["name"].startswith("toolcalld-tiny"))
        # One tool without arguments, one call: the grammar forces the answer, so the tiny
        # bundle's random weights finish it.
        ping = [{"name": "ping", "description": "Ping.", "parameters": {"type": "object", "properties": {}}}]
        async with await self.client.register_toolset(ping, model="tiny") as toolset:
            result = await toolset.call("ping", allow_empty=False, max_calls=1)
            self.assertEqual(result.function_calls[0].name, "ping")
        with self.assertRaises(toolcall.UnknownModel):
            await self.client.register_toolset(ping, model="no-such-bundle")
        self.assertEqual(await self.client.reload_models(), {"tiny": "unchanged"})


class CancelTest(unittest.IsolatedAsyncioTestCase):
    def setUp(self) -> None:
        self.service = Service(self, config="workers = 1\n", faults=True)

    async def test_cancel_ends_a_queued_request_and_nothing_else(self) -> None:
        service = self.service
        client = await toolcall.connect(address=service.address)
        self.addCleanup(client.disconnect)
        other = await toolcall.connect(address=service.address)
        self.addCleanup(other.disconnect)
        # This client's first request holds the only worker for 1.5 s (a debug-build stall)...
        stalled = {"test_fault": Variant("s", "stall:1500"), "request_id": Variant("s", "a")}
        first = asyncio.create_task(client._call("Call", "ssa{sv}", HOME_TOOLS, "turn on the light", stalled))
        await self.depth(client, 1)
        # ...its second waits behind it and is cancelled by its id, at once.
        second = asyncio.create_task(client.call(HOME_TOOLS, "turn off the light", request_id="b"))
        await self.depth(client, 2)
        self.assertFalse(await other.cancel("b"), "another client's request is not its to cancel")
        started = time.monotonic()
        self.assertTrue(await client.cancel("b"))
        with self.assertRaises(toolcall.Cancelled):
            await second
        self.assertLess(time.monotonic() - started, 1.0)
        await first

    @staticmethod
    async def depth(client: toolcall.Client, depth: int) -> None:
        deadline = time.monotonic() + 20
        while (await client.status()).queue_depth != depth:
            assert time.monotonic() < deadline, f"the queue never held {depth}"
            await asyncio.sleep(0.02)


class EscalationTest(unittest.IsolatedAsyncioTestCase):
    """Results of a service that escalates every answer (threshold 1.0) to an OpenAI-compatible
    endpoint: a real HTTP server on loopback (the standard library's) that answers one call."""

    def setUp(self) -> None:
        self.sent: list[dict] = []
        sent = self.sent

        class Endpoint(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                sent.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                call = {"id": "c0", "type": "function", "function": {"name": "ping", "arguments": "{}"}}
                body = json.dumps({"choices": [{"message": {"role": "assistant", "tool_calls": [call]}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        self.host = f"127.0.0.1:{server.server_address[1]}"
        url = f"http://{self.host}/v1/chat/completions"
        self.service = Service(self, config=f'escalation_url = "{url}"\nescalation_threshold = 1.0\n')

    async def test_an_escalated_result_says_so_and_escalate_false_stays_local(self) -> None:
        client = await toolcall.connect(address=self.service.address)
        self.addCleanup(client.disconnect)
        tools = [{"name": "ping", "description": "Ping.", "parameters": {"type": "object", "properties": {}}},
                 {"name": "stop", "description": "Stop.", "parameters": {"type": "object", "properties": {}}}]
        result = await client.call(tools, "ping it", max_calls=1)
        self.assertTrue(result.escalated, result)
        self.assertEqual(result.escalation.endpoint, self.host)
        self.assertIsNone(result.escalation.note)
        self.assertEqual([c.name for c in result.function_calls], ["ping"])
        local = await client.call(tools, "ping it", max_calls=1, escalate=False)
        self.assertFalse(local.escalated)
        self.assertIsNone(local.escalation)
        self.assertEqual(len(self.sent), 1)
        self.assertEqual(self.sent[0]["messages"][1]["content"], "ping it")


class SyncClientTest(unittest.TestCase):
    def test_the_blocking_wrapper(self) -> None:
        service = Service(self)
        client = toolcall.sync.connect(address=service.address)
        toolset = client.register_toolset(HOME_TOOLS)
        self.assertTrue(answered(toolset.call("set a timer for 10 minutes", allow_empty=False, max_new_tokens=256)))
        session = toolset.open_session()
        self.assertTrue(answered(session.send("turn on the light", allow_empty=False, max_new_tokens=256)))
        session.close()
        toolset.release()
        self.assertFalse(client.cancel("nothing"))
        with self.assertRaises(toolcall.InvalidQuery):
            client.call(HOME_TOOLS, "")
        # From several threads at once, each call on the client's own loop.
        with ThreadPoolExecutor(4) as pool:
            depths = list(pool.map(lambda _: client.status().queue_depth, range(8)))
        self.assertEqual(len(depths), 8)
        client.disconnect()
        with self.assertRaises(RuntimeError):
            client.status()


if __name__ == "__main__":
    unittest.main()
