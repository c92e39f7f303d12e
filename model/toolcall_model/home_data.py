"""Smart-home training examples from the Home Assistant intent templates.

Sentences are expanded at random from the `home-assistant-intents` templates (PyPI, CC BY 4.0
upstream data) with a synthetic home (areas and named devices drawn per example), parsed back
with `hassil`, and kept only if they parse to the intent and values they were made from. Each
kept sentence becomes a call to one of our naturally named tools (HassTurnOn on a lock becomes
`lock`, not `turn_on`).

Templates that Home Assistant resolves from the speaker's room ("pause the music", "next
track", "turn on the lights in here") are parsed with a placeholder context area, and the call
carries only what was said: no area, no device. Some device names contain an area word
("kitchen lamp"), so the model has to copy names from the facts instead of splitting them."""

from __future__ import annotations

import random

from hassil import Intents, recognize
from hassil.expression import Alternative, Group, ListReference, Permutation, RuleReference, Sentence, TextChunk
from hassil.intents import RangeSlotList, TextSlotList
from home_assistant_intents import get_intents

AREAS = ["kitchen", "bedroom", "living room", "office", "garage", "bathroom", "hallway", "dining room",
         "kids room", "guest room", "basement", "porch", "laundry room", "study", "attic", "nursery"]
DEVICES = {  # domain -> device names a home might give
    "light": ["ceiling light", "desk lamp", "floor lamp", "reading light", "bedside lamp", "porch light",
              "strip lights", "chandelier", "night light", "pendant light", "kitchen lamp", "bedroom light",
              "office lamp", "hallway light", "garden lights", "stair lights"],
    "switch": ["coffee maker", "heater", "kettle", "christmas tree", "dehumidifier", "printer",
               "patio heater", "bathroom fan switch", "aquarium pump"],
    "fan": ["ceiling fan", "desk fan", "tower fan"],
    "lock": ["front door", "back door", "side gate", "garage entry", "patio door", "basement door"],
    "cover": ["garage door", "blinds", "curtains", "shutters", "skylight"],
    "media_player": ["tv", "speaker", "soundbar", "radio", "kitchen speaker", "bedroom tv"],
    "vacuum": ["robot vacuum", "roomba"],
}

TOOLS = {
    "turn_on": {"description": "Turn on a device, or all lights in an area.", "parameters": {"type": "object", "properties": {
        "device": {"type": "string", "description": "Device name"}, "area": {"type": "string", "description": "Area name"}}}},
    "turn_off": {"description": "Turn off a device, or all lights in an area.", "parameters": {"type": "object", "properties": {
        "device": {"type": "string", "description": "Device name"}, "area": {"type": "string", "description": "Area name"}}}},
    "lock": {"description": "Lock a door or gate.", "parameters": {"type": "object", "properties": {
        "device": {"type": "string"}}, "required": ["device"]}},
    "unlock": {"description": "Unlock a door or gate.", "parameters": {"type": "object", "properties": {
        "device": {"type": "string"}}, "required": ["device"]}},
    "open_cover": {"description": "Open blinds, curtains, shutters, garage doors or windows.", "parameters": {"type": "object", "properties": {
        "device": {"type": "string"}, "area": {"type": "string"}, "kind": {"type": "string", "description": "e.g. blind, curtain, garage"}}}},
    "close_cover": {"description": "Close blinds, curtains, shutters, garage doors or windows.", "parameters": {"type": "object", "properties": {
        "device": {"type": "string"}, "area": {"type": "string"}, "kind": {"type": "string"}}}},
    "set_light": {"description": "Set the brightness (percent) or color of lights.", "parameters": {"type": "object", "properties": {
        "device": {"type": "string"}, "area": {"type": "string"},
        "brightness": {"type": "integer", "minimum": 0, "maximum": 100}, "color": {"type": "string"}}}},
    "start_timer": {"description": "Start a countdown timer.", "parameters": {"type": "object", "properties": {
        "hours": {"type": "integer", "minimum": 0, "maximum": 24}, "minutes": {"type": "integer", "minimum": 0, "maximum": 999},
        "seconds": {"type": "integer", "minimum": 0, "maximum": 3600}, "name": {"type": "string", "description": "What the timer is for"}}}},
    "cancel_timer": {"description": "Cancel a running timer.", "parameters": {"type": "object", "properties": {
        "name": {"type": "string"}}}},
    "set_temperature": {"description": "Set the thermostat's target temperature.", "parameters": {"type": "object", "properties": {
        "temperature": {"type": "number"}, "area": {"type": "string"}}, "required": ["temperature"]}},
    "weather_now": {"description": "Get the current weather forecast.", "parameters": {"type": "object", "properties": {}}},
    "change_volume": {"description": "Set a media player's volume in percent.", "parameters": {"type": "object", "properties": {
        "volume": {"type": "integer", "minimum": 0, "maximum": 100}, "device": {"type": "string"}, "area": {"type": "string"}},
        "required": ["volume"]}},
    "pause_media": {"description": "Pause music or video.", "parameters": {"type": "object", "properties": {
        "device": {"type": "string"}, "area": {"type": "string"}}}},
    "resume_media": {"description": "Resume paused music or video.", "parameters": {"type": "object", "properties": {
        "device": {"type": "string"}, "area": {"type": "string"}}}},
    "next_track": {"description": "Skip to the next song or episode.", "parameters": {"type": "object", "properties": {
        "device": {"type": "string"}, "area": {"type": "string"}}}},
    "add_to_shopping_list": {"description": "Add an item to the shopping list.", "parameters": {"type": "object", "properties": {
        "item": {"type": "string"}}, "required": ["item"]}},
    "get_time": {"description": "Tell the current time.", "parameters": {"type": "object", "properties": {}}},
    "tell_date": {"description": "Tell today's date.", "parameters": {"type": "object", "properties": {}}},
    "start_vacuum": {"description": "Start the robot vacuum.", "parameters": {"type": "object", "properties": {
        "device": {"type": "string"}, "area": {"type": "string"}}}},
    "set_fan_speed": {"description": "Set a fan's speed in percent.", "parameters": {"type": "object", "properties": {
        "speed": {"type": "integer", "minimum": 0, "maximum": 100}, "device": {"type": "string"}, "area": {"type": "string"}},
        "required": ["speed"]}},
}

INTENTS = ["HassTurnOn", "HassTurnOff", "HassLightSet", "HassStartTimer", "HassCancelTimer",
           "HassClimateSetTemperature", "HassGetWeather", "HassSetVolume", "HassMediaPause", "HassMediaUnpause",
           "HassMediaNext", "HassShoppingListAddItem", "HassGetCurrentTime", "HassGetCurrentDate",
           "HassVacuumStart", "HassFanSetSpeed"]
ITEMS = ["milk", "eggs", "bread", "apples", "coffee", "toilet paper", "olive oil", "batteries", "dog food", "rice"]
TIMER_NAMES = ["pasta", "pizza", "laundry", "tea", "eggs", "homework", "nap"]
# Stands in for the speaker's room when a template needs it; never copied into a call.
CONTEXT_AREA = "__speaker_area__"


def _to_call(intent: str, ent: dict) -> dict | None:
    """Our tool call for a recognised intent, or None if we do not model this slot combination."""
    def pick(*keys):
        return {k_out: ent[k_in] for k_in, k_out in keys if k_in in ent}

    def num(v):
        return int(v) if float(v).is_integer() else float(v)

    if "floor" in ent:  # our tools have no floor argument
        return None
    where = pick(("name", "device"), ("area", "area"))
    domain = ent.get("domain")
    if intent in ("HassTurnOn", "HassTurnOff"):
        on = intent == "HassTurnOn"
        if domain == "lock":
            return {"name": "lock" if on else "unlock", "arguments": pick(("name", "device"))} if "name" in ent else None
        if domain == "cover" or "device_class" in ent:
            args = {**where, **({"kind": ent["device_class"]} if "device_class" in ent else {})}
            return {"name": "open_cover" if on else "close_cover", "arguments": args}
        if not where or set(ent) - {"name", "area", "domain"} or ("name" not in ent and domain not in (None, "light")):
            return None
        return {"name": "turn_on" if on else "turn_off", "arguments": where}
    if intent == "HassLightSet":
        args = dict(where)
        if "brightness" in ent:
            args["brightness"] = int(ent["brightness"])
        if "color" in ent:
            args["color"] = ent["color"]
        return {"name": "set_light", "arguments": args} if len(args) > len(where) else None
    if intent == "HassStartTimer":
        args = {k: int(ent[k]) for k in ("hours", "minutes", "seconds") if k in ent}
        if "name" in ent:
            args["name"] = ent["name"]
        return {"name": "start_timer", "arguments": args} if set(args) - {"name"} and "conversation_command" not in ent else None
    if intent == "HassCancelTimer":
        return {"name": "cancel_timer", "arguments": pick(("name", "name"))} if not set(ent) - {"name"} else None
    if intent == "HassClimateSetTemperature":
        return {"name": "set_temperature", "arguments": {"temperature": num(ent["temperature"]), **pick(("area", "area"))}} if "temperature" in ent else None
    if intent == "HassGetWeather":
        return {"name": "weather_now", "arguments": {}} if not ent else None
    if intent == "HassSetVolume":
        return {"name": "change_volume", "arguments": {"volume": int(ent["volume_level"]), **where}} if "volume_level" in ent else None
    simple = {"HassMediaPause": "pause_media", "HassMediaUnpause": "resume_media", "HassMediaNext": "next_track",
              "HassVacuumStart": "start_vacuum"}
    if intent in simple:
        return {"name": simple[intent], "arguments": where} if not set(ent) - {"name", "area", "domain"} else None
    if intent == "HassShoppingListAddItem":
        return {"name": "add_to_shopping_list", "arguments": {"item": ent["item"]}} if "item" in ent else None
    if intent == "HassGetCurrentTime":
        return {"name": "get_time", "arguments": {}}
    if intent == "HassGetCurrentDate":
        return {"name": "tell_date", "arguments": {}}
    if intent == "HassFanSetSpeed":
        return {"name": "set_fan_speed", "arguments": {"speed": int(ent["fan_speed"]), **where}} if "fan_speed" in ent else None
    return None


# Device domains whose HassTurnOn/HassTurnOff templates are drawn as if they were intents.
DRAWN_ON_THEIR_OWN = ("lock", "cover")


def _domains(block) -> list[str] | None:
    """The device domains a template block takes, from its required context or fixed slots."""
    wanted = (block.requires_context or {}).get("domain") or (block.slots or {}).get("domain")
    return [wanted] if isinstance(wanted, str) else wanted


class HomeGenerator:
    def __init__(self, seed: int, split: str):
        """split "train" or "eval": every 5th template of each intent is kept for evaluation."""
        self.rng = random.Random(seed)
        data = get_intents("en")
        self.intents = Intents.from_dict(data)
        self.templates = {}
        for name in INTENTS:
            templates = [(s, d) for d in self.intents.intents[name].data for s in d.sentences]
            held_out = [t for i, t in enumerate(templates) if i % 5 == 4]
            self.templates[name] = held_out if split == "eval" else [t for i, t in enumerate(templates) if i % 5 != 4]

    def _number(self, slot: RangeSlotList, name: str) -> str:
        r = self.rng
        plausible = {"timer_hours": (1, 3), "timer_minutes": (1, 45), "timer_seconds": (5, 90),
                     "temperature": (16, 26), "brightness": (5, 100), "volume": (5, 80), "fan_speed": (10, 100)}
        lo, hi = plausible.get(name, (slot.start, slot.stop))
        lo, hi = max(lo, slot.start), min(hi, slot.stop)
        value = r.randint(lo, hi) if r.random() < 0.95 else r.randint(slot.start, min(slot.stop, 3 * hi))
        if name in ("brightness", "volume", "fan_speed") and r.random() < 0.7:
            value = round(value, -1) or 10
        if name == "timer_minutes" and r.random() < 0.5:
            value = r.choice([1, 2, 3, 5, 10, 15, 20, 25, 30, 45])
        return str(value)

    def _expand(self, expr, lists) -> str:
        if isinstance(expr, TextChunk):
            return expr.text
        if isinstance(expr, Alternative):
            return self._expand(self.rng.choice(expr.items), lists)
        if isinstance(expr, Permutation):
            items = list(expr.items)
            self.rng.shuffle(items)
            return " ".join(self._expand(i, lists).strip() for i in items)
        if isinstance(expr, Group):
            return "".join(self._expand(i, lists) for i in expr.items)
        if isinstance(expr, RuleReference):
            return self._expand(self.intents.expansion_rules[expr.rule_name].expression, lists)
        if isinstance(expr, ListReference):
            slot = lists.get(expr.list_name) or self.intents.slot_lists.get(expr.list_name)
            if slot is None:
                raise KeyError(expr.list_name)
            if isinstance(slot, RangeSlotList):
                return self._number(slot, expr.list_name)
            if isinstance(slot, TextSlotList):
                value = self.rng.choice(slot.values)
                return self._expand(value.text_in, lists) if hasattr(value.text_in, "items") or isinstance(value.text_in, TextChunk) else str(value.text_in)
            raise KeyError(expr.list_name)
        if isinstance(expr, Sentence):
            return self._expand(expr.expression, lists)
        raise TypeError(type(expr))

    def home(self) -> dict:
        r = self.rng
        areas = r.sample(AREAS, r.randint(3, 7))
        devices = {dom: r.sample(names, r.randint(1, min(3, len(names)))) for dom, names in DEVICES.items()}
        return {"areas": areas, "devices": devices}

    def example(self):
        """(query, call, home): a (intent, domain) pair drawn uniformly, retried until a sample
        round-trips. Locks and covers are drawn on their own: among HassTurnOn's many light
        templates they would be rare."""
        choices = [(i, None) for i in INTENTS if self.templates[i]] + [
            (i, d) for i in ("HassTurnOn", "HassTurnOff") for d in DRAWN_ON_THEIR_OWN
            if any(d in _domains(block) for _, block in self.templates[i])]
        intent, domain = self.rng.choice(choices)
        templates = [t for t in self.templates[intent] if domain is None or domain in _domains(t[1])]
        for _ in range(50):
            found = self._try(intent, templates)
            if found:
                return found
        return None

    def _try(self, intent, templates):
        r = self.rng
        home = self.home()
        sentence, block = r.choice(templates)
        # Name templates say which device domains they take (requires_context); each device
        # carries its domain as context, as Home Assistant's entity list does.
        wanted = _domains(block)
        domain_of = {n: dom for dom, ns in home["devices"].items() for n in ns if not wanted or dom in wanted}
        if not domain_of:
            return None
        lists = {
            "area": TextSlotList.from_strings(home["areas"]),
            "name": TextSlotList.from_tuples([(n, n, {"domain": dom}) for n, dom in domain_of.items()]),
            "floor": TextSlotList.from_strings(["upstairs", "downstairs"]),
            "shopping_list_item": TextSlotList.from_strings(ITEMS),
            "timer_name": TextSlotList.from_strings(TIMER_NAMES),
        }
        try:
            text = " ".join(self._expand(sentence, lists).split())
        except (KeyError, TypeError, AttributeError):
            return None
        if "{" in text or not text:
            return None
        result = recognize(text, self.intents, slot_lists=lists, intent_context={"area": CONTEXT_AREA}, language="en")
        if result is None or result.intent.name != intent:
            return None
        entities = {k: m.value for k, m in result.entities.items() if m.value != CONTEXT_AREA}
        if "name" in entities:
            entities.setdefault("domain", domain_of.get(entities["name"]))
        call = _to_call(intent, entities)
        if call is None:
            return None
        return text, call, home
