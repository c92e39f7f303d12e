"""A voice-assistant-style client of toolcalld in Python, with jeepney (pure-Python D-Bus).

The assistant registers its tools once (the daemon pre-fills their prompt), then turns each
transcribed utterance into tool calls and "executes" them. Usage:

    python examples/python/voice_assistant.py [--address ADDR | --system] "turn on the kitchen lights" ...

Without --address/--system it uses the session bus. Prints one JSON line per utterance:
{"utterance": ..., "calls": [...], "confidence": ...}; exits 1 on a service error.
"""

import argparse
import json
import sys
from pathlib import Path

from jeepney import DBusAddress, HeaderFields, MessageType, new_method_call
from jeepney.io.blocking import open_dbus_connection

BUS_NAME = "org.toolcalld.ToolCall1"
MANAGER = DBusAddress("/org/toolcalld/ToolCall1", bus_name=BUS_NAME, interface="org.toolcalld.ToolCall1")
TOOLS = Path(__file__).resolve().parents[1] / "tools" / "home.json"


class ServiceError(Exception):
    def __init__(self, name, message):
        super().__init__(f"{name}: {message}")
        self.name = name


def call(connection, address, method, signature, *args):
    reply = connection.send_and_get_reply(new_method_call(address, method, signature, args), timeout=30)
    if reply.header.message_type == MessageType.error:
        raise ServiceError(reply.header.fields.get(HeaderFields.error_name, "?"), reply.body[0] if reply.body else "")
    return reply.body[0] if reply.body else None


def execute(function_call):
    """Stand-in for the device actions a real assistant would trigger."""
    return {"name": function_call["name"], "status": "done"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--address", help="D-Bus address of the bus toolcalld is on")
    ap.add_argument("--system", action="store_true", help="use the system bus")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("utterances", nargs="+")
    args = ap.parse_args()

    bus = args.address or ("SYSTEM" if args.system else "SESSION")
    connection = open_dbus_connection(bus=bus)
    try:
        toolset_path = call(connection, MANAGER, "RegisterToolset", "sa{sv}", TOOLS.read_text(), {})
        toolset = DBusAddress(toolset_path, bus_name=BUS_NAME, interface="org.toolcalld.ToolCall1.Toolset")
        for utterance in args.utterances:
            options = {"max_new_tokens": ("u", args.max_new_tokens), "facts": ("s", "areas: kitchen, bedroom, living room, office")}
            result = json.loads(call(connection, toolset, "Call", "sa{sv}", utterance, options))
            outcomes = [execute(c) for c in result["function_calls"]]
            print(json.dumps({"utterance": utterance, "calls": result["function_calls"],
                              "confidence": result["confidence"], "executed": outcomes}))
        call(connection, toolset, "Release", "")
    except ServiceError as e:
        print(f"voice_assistant: {e}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
