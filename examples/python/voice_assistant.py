"""A voice-assistant-style client of toolcalld in Python, on the `toolcall` package (python/,
asyncio on dbus-fast; `pip install ./python`).

The assistant registers its tools once (the daemon pre-fills their prompt), then turns each
transcribed utterance into tool calls and "executes" them. Usage:

    python examples/python/voice_assistant.py [--address ADDR | --system] "turn on the kitchen lights" ...

Without --address/--system it uses the session bus. Prints one JSON line per utterance:
{"utterance": ..., "calls": [...], "confidence": ...}; exits 1 on a service error.
"""

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path

import toolcall

TOOLS = Path(__file__).resolve().parents[1] / "tools" / "home.json"
FACTS = "areas: kitchen, bedroom, living room, office"


def execute(call: toolcall.FunctionCall) -> dict:
    """Stand-in for the device actions a real assistant would trigger."""
    return {"name": call.name, "status": "done"}


async def run(args: argparse.Namespace) -> int:
    client = await toolcall.connect(address=args.address, bus="system" if args.system else "session")
    try:
        async with await client.register_toolset(TOOLS.read_text()) as toolset:
            for utterance in args.utterances:
                result = await toolset.call(utterance, max_new_tokens=args.max_new_tokens, facts=FACTS)
                print(json.dumps({"utterance": utterance,
                                  "calls": [asdict(c) for c in result.function_calls],
                                  "confidence": result.confidence,
                                  "executed": [execute(c) for c in result.function_calls]}))
    except toolcall.ToolcallError as e:
        print(f"voice_assistant: {e}", file=sys.stderr)
        return 1
    finally:
        client.disconnect()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--address", help="D-Bus address of the bus toolcalld is on")
    ap.add_argument("--system", action="store_true", help="use the system bus")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("utterances", nargs="+")
    return asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
