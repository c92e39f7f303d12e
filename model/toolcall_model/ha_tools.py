"""Home Assistant's own intent tools, as its LLM API hands them to a language model (data v9).

Home Assistant exposes each intent as a tool named after it (`HassTurnOn`, `HassLightSet`,
`HassClimateSetTemperature` ...) with the intent's slots as parameters, and puts the home's
areas, floors and devices in the prompt (for us: `facts`). The tools here are built from
`home-assistant-intents`' `intents.json` (intent and slot descriptions, which slots are
required); slot types follow Home Assistant's slot schemas (`domain` and `device_class` are
lists, levels are integer percentages). Requests come from the same package's sentence
templates (`sentences/`, through home_data's generator with the same every-5th-template
held-out split); the intents repository's `tests/` are never read.

The call holds the slots as hassil parsed them from the sentence: `name` when a device was
named (no `domain` then: Home Assistant resolves the name), else `area`/`floor` with `domain`
or `device_class` where the sentence gave them. HELD_OUT_INTENTS are never in training; the
held-out-by-style evaluation asks for them."""

from __future__ import annotations

import json
import random
from importlib import resources

from . import home_data

TRAIN_INTENTS = ["HassTurnOn", "HassTurnOff", "HassLightSet", "HassStartTimer", "HassCancelTimer",
                 "HassClimateSetTemperature", "HassGetWeather", "HassSetVolume", "HassMediaPause", "HassMediaUnpause",
                 "HassMediaNext", "HassShoppingListAddItem", "HassGetCurrentTime", "HassGetCurrentDate",
                 "HassVacuumStart", "HassFanSetSpeed"]
HELD_OUT_INTENTS = ["HassMediaPrevious", "HassPauseTimer", "HassMediaPlayerMute", "HassVacuumReturnToBase"]
FLOORS = ["upstairs", "downstairs", "ground floor", "first floor"]
_INTEGER = {"brightness", "volume_level", "percentage", "position", "hours", "minutes", "seconds",
            "start_hours", "start_minutes", "start_seconds", "volume_step"}
_LISTS = {"domain", "device_class"}
# Slots a generated sentence never fills (their templates are not drawn), left out of the tools.
_SKIPPED_SLOTS = {"conversation_command", "temperature_kelvin"}


def _catalogue() -> dict:
    path = resources.files("home_assistant_intents") / "intents.json"
    return json.loads(path.read_text())


def _slot_schema(slot: str, spec: dict, intent: str) -> dict:
    desc = spec.get("description", "")
    if slot in _LISTS:
        return {"type": "array", "items": {"type": "string"}, "description": desc}
    if slot == "temperature" and intent == "HassClimateSetTemperature":
        return {"type": "number", "description": desc}
    if slot == "temperature":  # HassLightSet's colour temperature in kelvin
        return {"type": "integer", "minimum": 1000, "maximum": 10000, "description": desc}
    if slot in _INTEGER:
        bounded = {"minimum": 0, "maximum": 100} if slot in ("brightness", "volume_level", "percentage", "position") else {"minimum": 0}
        return {"type": "integer", **bounded, "description": desc}
    return {"type": "string", "description": desc}


def tools(intents: list[str]) -> dict:
    """Intent name -> tool JSON, as Home Assistant's LLM API describes the intent."""
    catalogue, out = _catalogue(), {}
    for intent in intents:
        spec = catalogue[intent]
        slots = {k: v for k, v in spec.get("slots", {}).items() if k not in _SKIPPED_SLOTS}
        params = {"type": "object", "properties": {k: _slot_schema(k, v, intent) for k, v in slots.items()}}
        required = [k for k, v in slots.items() if v.get("required")]
        if required:
            params["required"] = required
        out[intent] = {"name": intent, "description": spec.get("description") or f"Execute Home Assistant {intent} intent",
                       "parameters": params}
    return out


# The tools toolcall-wyoming offers by default (python/src/toolcall/ha_intents.json, written by
# `python -m toolcall_model.ha_tools`): the intents Home Assistant handles out of the box for
# lights, climate, covers, media, timers, lists and questions.
WYOMING_INTENTS = ["HassTurnOn", "HassTurnOff", "HassLightSet", "HassClimateSetTemperature",
                   "HassClimateGetTemperature", "HassGetState", "HassGetWeather", "HassSetPosition",
                   "HassStartTimer", "HassCancelTimer", "HassPauseTimer", "HassShoppingListAddItem",
                   "HassSetVolume", "HassMediaPause", "HassMediaUnpause", "HassMediaNext",
                   "HassMediaPrevious", "HassGetCurrentTime", "HassVacuumStart", "HassFanSetSpeed"]
WYOMING_TOOLS_FILE = "python/src/toolcall/ha_intents.json"


def wyoming_tools_json() -> str:
    """The content of WYOMING_TOOLS_FILE."""
    return json.dumps(list(tools(WYOMING_INTENTS).values()), indent=1) + "\n"


def _call(intent: str, entities: dict, text: str) -> dict | None:
    del text
    ent = dict(entities)
    if "fan_speed" in ent:
        ent["percentage"] = ent.pop("fan_speed")
    if "name" in ent:
        ent.pop("domain", None)
    args = {}
    for slot, value in ent.items():
        if value is None:
            continue
        if slot in _LISTS:
            args[slot] = [value]
        elif slot in _INTEGER or slot == "temperature":
            number = float(value)
            args[slot] = int(number) if number.is_integer() else number
        else:
            args[slot] = str(value)
    return {"name": intent, "arguments": args}


class HaGenerator:
    """Spoken requests with their Home Assistant intent call, among 4-12 of the intent tools."""

    def __init__(self, seed: int, split: str, intents: list[str]):
        self.rng = random.Random(seed * 31 + 3)
        self.catalogue = tools(TRAIN_INTENTS + HELD_OUT_INTENTS)
        self.home = home_data.HomeGenerator(seed, split, intents=intents, to_call=_call)

    def example(self, today_facts: str) -> dict | None:
        """{"tools", "facts", "query", "answer"}; None when the generator gave up or the call
        does not fit the intent's schema."""
        got = self.home.example()
        if got is None:
            return None
        query, call, home = got
        props = self.catalogue[call["name"]]["parameters"]["properties"]
        if set(call["arguments"]) - set(props):
            return None
        r = self.rng
        others = [t for t in TRAIN_INTENTS if t != call["name"]]
        offered = [call["name"]] + r.sample(others, r.randint(3, 11))
        negative = r.random() < 0.1
        if negative:
            offered.remove(call["name"])
        r.shuffle(offered)
        devices = [n for names in home["devices"].values() for n in names]
        r.shuffle(devices)
        facts = f"{today_facts}; areas: {', '.join(home['areas'])}; floors: {', '.join(r.sample(FLOORS, 2))}; devices: {', '.join(devices)}"
        return {"tools": [self.catalogue[t] for t in offered], "facts": facts, "query": query,
                "answer": [] if negative else [call]}


if __name__ == "__main__":
    from pathlib import Path
    Path(__file__).resolve().parents[2].joinpath(WYOMING_TOOLS_FILE).write_text(wyoming_tools_json())
