"""A media player app that offers its controls to the system's assistant through toolcalld's
tool registry, on the `toolcall` package (python/): it publishes the tools of
examples/tools/media.json under a prefix ("media": media.play, media.pause, media.set_volume)
and carries out the calls toolcalld routes to it. Its tools go when it exits.

    python examples/python/media_provider.py [--address ADDR | --system] [--prefix media]

Then, from the assistant (or a shell):

    toolcallctl dispatch "pause the music"

Prints `published PUBLICATION` once published, then one JSON line per call it carries out;
exits 1 if the service refuses the publication (say, another app holds the prefix).
"""

import argparse
import asyncio
import json
import sys
from pathlib import Path

import toolcall

TOOLS = Path(__file__).resolve().parents[1] / "tools" / "media.json"


class Player:
    """Stand-in for the app's real player."""

    def __init__(self) -> None:
        self.playing: str | None = None
        self.volume = 50

    def play(self, arguments: dict, caller: str) -> dict:
        self.playing = arguments["what"]
        return self.report("play", caller)

    def pause(self, arguments: dict, caller: str) -> dict:
        self.playing = None
        return self.report("pause", caller)

    def set_volume(self, arguments: dict, caller: str) -> dict:
        self.volume = arguments["level"]
        return self.report("set_volume", caller)

    def report(self, tool: str, caller: str) -> dict:
        state = {"tool": tool, "playing": self.playing, "volume": self.volume, "for": caller}
        print(json.dumps(state), flush=True)
        return state


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", help="the bus address (default: the session bus)")
    parser.add_argument("--system", action="store_true", help="the system bus")
    parser.add_argument("--prefix", default="media")
    args = parser.parse_args()
    client = await toolcall.connect(args.address, bus="system" if args.system else "session")
    player = Player()
    handlers = {"play": player.play, "pause": player.pause, "set_volume": player.set_volume}
    try:
        publication = await client.registry.serve(args.prefix, TOOLS.read_text(), handlers)
    except toolcall.ToolcallError as e:
        print(f"media_provider: {e}", file=sys.stderr)
        return 1
    print(f"published {publication}", flush=True)
    await client.wait_closed()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
