"""toolcall-wyoming: a Wyoming intent-recognition and handling service backed by toolcalld.

    toolcall-wyoming --uri tcp://0.0.0.0:10700 [--tools FILE] [--address ADDR | --session]
                     [--mode intent|handle] [--language en]

It registers the tools (by default Home Assistant's built-in intents as tools,
`ha_intents.json`: HassTurnOn, HassLightSet, HassStartTimer, ...) with toolcalld once, then
answers each connection's events:

- `describe`: `info` advertising one program, an intent recognizer (`--mode intent`, the
  default) or a handler (`--mode handle`);
- `recognize`, and `transcript` in intent mode (Home Assistant's Wyoming conversation agent
  sends its text as a `transcript`): an `intent` per call, named after the tool with the call's
  arguments as entities (several calls come between `intents-start` and `intents-stop`), or
  `not-recognized` when no tool fits or toolcalld refuses (its error in `text`);
- `transcript` in handle mode: `handled`, whose `text` names the calls and whose
  `context["function_calls"]` holds them for the pipeline to carry out, or `not-handled`.

With Home Assistant's intents as tools, the intents are what Home Assistant's own intent
handlers execute (the entities are their slots). toolcall-wyoming itself executes nothing.
"""

import argparse
import asyncio
import json
import logging
from dataclasses import asdict
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

from wyoming.asr import Transcript
from wyoming.event import Event
from wyoming.handle import Handled, NotHandled
from wyoming.info import Attribution, Describe, HandleModel, HandleProgram, Info, IntentModel, IntentProgram
from wyoming.intent import Entity, Intent, IntentsStart, IntentsStop, NotRecognized, Recognize
from wyoming.server import AsyncEventHandler, AsyncServer

from . import client as toolcall
from .errors import BusError, Timeout
from .results import CallResult

_LOG = logging.getLogger("toolcall-wyoming")
ATTRIBUTION = Attribution(name="toolcalld", url="https://github.com/toolcalld/toolcalld")


class Recognizer:
    """The tools registered with toolcalld, registered again when the service or the bus
    connection was lost (toolcalld restarted, the bus broke)."""

    def __init__(self, tools: str, address: str | None, bus: str):
        self.tools, self.address, self.bus = tools, address, bus
        self.client: toolcall.Client | None = None
        self.toolset: toolcall.Toolset | None = None
        self.model = "toolcalld"
        self.lock = asyncio.Lock()

    async def ready(self) -> toolcall.Toolset:
        async with self.lock:
            if self.toolset is not None and self.client is not None and self.client.connected:
                return self.toolset
            self._drop()
            client = await toolcall.connect(self.address, self.bus)
            try:
                model = (await client.status()).model
                toolset = await client.register_toolset(self.tools)
            except BaseException:
                client.disconnect()
                raise
            self.client, self.toolset, self.model = client, toolset, model
            return toolset

    def _drop(self) -> None:
        if self.client is not None:
            self.client.disconnect()
        self.client = self.toolset = None

    async def warm_up(self) -> None:
        """Registers the tools ahead of the first request, retrying until toolcalld answers."""
        while True:
            try:
                await self.ready()
                _LOG.info("tools registered with toolcalld (%s)", self.model)
                return
            except Timeout as e:  # the tools took longer to compile than toolcalld allows
                _LOG.error("registering the tools with toolcalld: %s; raise register_timeout_ms in "
                           "toolcalld.toml (or give fewer tools); retrying in 5 min", e)
                await asyncio.sleep(300)
            except Exception as e:  # toolcalld not up yet, or refused: log and retry
                _LOG.warning("registering the tools with toolcalld: %s; retrying in 10 s", e)
                await asyncio.sleep(10)

    async def calls(self, text: str) -> CallResult:
        toolset = await self.ready()
        try:
            return await toolset.call(text)
        except (BusError, OSError, EOFError):
            # toolcalld restarted (the toolset is gone) or the bus connection broke: once more,
            # on a fresh registration (another handler may have made it already).
            async with self.lock:
                if self.toolset is toolset:
                    self._drop()
            return await (await self.ready()).call(text)


def describe(result: CallResult) -> str:
    return "; ".join(
        f"{c.name}({', '.join(f'{k}={json.dumps(v)}' for k, v in c.arguments.items())})"
        for c in result.function_calls)


class Handler(AsyncEventHandler):
    """One Wyoming connection."""

    def __init__(self, recognizer: Recognizer, mode: str, language: str, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.recognizer, self.mode, self.language = recognizer, mode, language

    def info(self) -> Info:
        common = dict(name="toolcalld", attribution=ATTRIBUTION, installed=True, version=None,
                      description="On-device function calling: text to tool calls")
        model = dict(name=self.recognizer.model, attribution=ATTRIBUTION, installed=True, version=None,
                     description="toolcalld's model", languages=[self.language])
        if self.mode == "handle":
            return Info(handle=[HandleProgram(**common, models=[HandleModel(**model)])])
        return Info(intent=[IntentProgram(**common, models=[IntentModel(**model)])])

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            # At once: clients wait for info only briefly, and the tools may still be
            # registering (`Recognizer.warm_up`).
            await self.write_event(self.info().event())
        elif Recognize.is_type(event.type):
            await self.write_events(await self.recognize(Recognize.from_event(event).text))
        elif Transcript.is_type(event.type):
            text = Transcript.from_event(event).text
            if self.mode == "handle":
                await self.write_events([await self.handle(text)])
            else:
                await self.write_events(await self.recognize(text))
        return True

    async def write_events(self, answers: list[Any]) -> None:
        for answer in answers:
            await self.write_event(answer.event())

    async def recognize(self, text: str) -> list[Any]:
        """An intent per call (bracketed by intents-start/-stop when there are several), or
        not-recognized."""
        try:
            result = await self.recognizer.calls(text)
        except Exception as e:  # toolcalld's refusal, or no toolcalld: an answer all the same
            _LOG.warning("recognize %r: %s", text, e)
            return [NotRecognized(text=str(e))]
        if not result.function_calls:
            return [NotRecognized(text="no tool fits the request")]
        context = {"confidence": result.confidence}
        intents = [Intent(name=c.name, entities=[Entity(name=k, value=v) for k, v in c.arguments.items()],
                          context=context)
                   for c in result.function_calls]
        if len(intents) == 1:
            return intents
        return [IntentsStart(context=context), *intents, IntentsStop(context=context)]

    async def handle(self, text: str) -> Handled | NotHandled:
        try:
            result = await self.recognizer.calls(text)
        except Exception as e:  # as in recognize
            _LOG.warning("handle %r: %s", text, e)
            return NotHandled(text=str(e))
        if not result.function_calls:
            return NotHandled(text="no tool fits the request")
        return Handled(text=describe(result),
                       context={"function_calls": [asdict(c) for c in result.function_calls],
                                "confidence": result.confidence})


def default_tools() -> str:
    return resources.files("toolcall").joinpath("ha_intents.json").read_text()


async def serve(args: argparse.Namespace) -> None:
    tools = Path(args.tools).read_text() if args.tools else default_tools()
    recognizer = Recognizer(tools, args.address, "session" if args.session else "system")
    server = AsyncServer.from_uri(args.uri)
    _LOG.info("serving %s (%s mode)", args.uri, args.mode)
    warm_up = asyncio.create_task(recognizer.warm_up())
    try:
        await server.run(partial(Handler, recognizer, args.mode, args.language))
    finally:
        warm_up.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(prog="toolcall-wyoming", description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True, help="where to serve: tcp://HOST:PORT, unix://PATH or stdio://")
    parser.add_argument("--tools", help="tools JSON file (default: Home Assistant's intents as tools)")
    parser.add_argument("--address", help="D-Bus address of toolcalld's bus (default: the system bus)")
    parser.add_argument("--session", action="store_true", help="use the session bus")
    parser.add_argument("--mode", choices=["intent", "handle"], default="intent",
                        help="the program advertised: intent recognition (default) or handling")
    parser.add_argument("--language", default="en", help="language advertised (default en)")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
