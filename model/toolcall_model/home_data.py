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


def _one_garage_door_label(text: str, call: dict) -> dict:
    """One label for "garage door": Home Assistant's cover class `garage`. hassil parses the
    phrase either as that class or as area `garage` plus class `door`, depending on the
    template, which gave the same request two different gold calls."""
    args = call["arguments"]
    if call["name"] in ("open_cover", "close_cover") and "garage door" in text \
            and args.get("area") == "garage" and args.get("kind") == "door":
        return {"name": call["name"], "arguments": {"kind": "garage"}}
    return call


def _our_call(intent: str, entities: dict, text: str) -> dict | None:
    call = _to_call(intent, entities)
    return None if call is None else _one_garage_door_label(text, call)


# Device domains whose HassTurnOn/HassTurnOff templates are drawn as if they were intents.
DRAWN_ON_THEIR_OWN = ("lock", "cover")


def _domains(block) -> list[str] | None:
    """The device domains a template block takes, from its required context or fixed slots."""
    wanted = (block.requires_context or {}).get("domain") or (block.slots or {}).get("domain")
    return [wanted] if isinstance(wanted, str) else wanted


class HomeGenerator:
    def __init__(self, seed: int, split: str, intents=INTENTS, to_call=None):
        """split "train" or "eval": every 5th template of each intent is kept for evaluation.
        `to_call(intent, entities, text)` makes the call from a parsed sentence (default: our
        tools); ha_tools passes Home Assistant's own intent tools."""
        self.rng = random.Random(seed)
        self.to_call = to_call or _our_call
        data = get_intents("en")
        self.intents = Intents.from_dict(data)
        self.templates = {}
        for name in intents:
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
        choices = [(i, None) for i in self.templates if self.templates[i]] + [
            (i, d) for i in ("HassTurnOn", "HassTurnOff") for d in DRAWN_ON_THEIR_OWN
            if i in self.templates and any(d in _domains(block) for _, block in self.templates[i])]
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
        call = self.to_call(intent, entities, text)
        return None if call is None else (text, call, home)


# Train-only light-level requests (v6). The Home Assistant HassLightSet templates give few
# brightness examples (~300 of the v5 set's 24,000) and none with "dim", "brighten", "<area>
# lights to N%" or "at half", and v5 answered such requests with set_light and no brightness or
# with no call. These are written for this project; the brightness is always an integer percent
# (never a fraction: set_light's description says percent). Drawn from make_dataset's own light
# stream, so the main stream and the eval split are unchanged.
LIGHT_AREA_TEMPLATES = [
    "set {the}{a} lights to {v}", "set {the}{a} light to {v}", "set the lights in {the}{a} to {v}", "set {the}{a} brightness to {v}",
    "dim {the}{a} to {v}", "dim {the}{a} lights to {v}", "dim the lights in {the}{a} to {v}", "dim {the}{a} down to {v}",
    "dim the {a} lights down to {v}", "brighten {the}{a} to {v}", "brighten {the}{a} lights to {v}", "brighten up {the}{a} to {v}",
    "brighten the lights in {the}{a} to {v}", "{a} lights to {v}", "{a} lights at {v}", "{a} lights {v}", "lights in {the}{a} to {v}",
    "{a} light level {v}", "{a} brightness {v}", "turn {the}{a} lights to {v}", "turn {the}{a} lights up to {v}",
    "turn {the}{a} lights down to {v}", "turn down {the}{a} lights to {v}", "turn up the lights in {the}{a} to {v}",
    "put {the}{a} lights at {v}", "put {the}{a} lights on {v}", "change {the}{a} lights to {v}", "adjust {the}{a} lights to {v}",
    "bring {the}{a} lights down to {v}", "bring {the}{a} lights up to {v}", "lower {the}{a} lights to {v}", "raise {the}{a} lights to {v}",
    "drop {the}{a} lights to {v}", "I want {the}{a} lights at {v}", "can you set {the}{a} lights to {v}", "could you dim {the}{a} to {v}",
    "can you brighten {the}{a} to {v}", "{the}{a} lights should be at {v}", "make {the}{a} {v} bright", "light level in {the}{a} to {v}",
]
LIGHT_DEVICE_TEMPLATES = [
    "set {the}{d} to {v}", "set {the}{d} brightness to {v}", "set the brightness of {the}{d} to {v}", "dim {the}{d} to {v}",
    "dim {the}{d} down to {v}", "brighten {the}{d} to {v}", "brighten up {the}{d} to {v}", "{d} to {v}", "{d} at {v}",
    "turn {the}{d} down to {v}", "turn {the}{d} up to {v}", "turn {the}{d} to {v}", "put {the}{d} at {v}", "lower {the}{d} to {v}",
    "raise {the}{d} to {v}", "change {the}{d} to {v}", "adjust {the}{d} to {v}", "can you dim {the}{d} to {v}",
    "could you set {the}{d} to {v}", "I'd like {the}{d} at {v}",
]
# Levels said in words; templates with "to"/"at" take them ("bedroom lights at half").
LIGHT_WORDS = [("half", 50), ("half brightness", 50), ("fifty percent", 50), ("a quarter", 25), ("twenty five percent", 25),
               ("three quarters", 75), ("full brightness", 100), ("ten percent", 10), ("twenty percent", 20),
               ("thirty percent", 30), ("forty percent", 40), ("sixty percent", 60), ("seventy percent", 70),
               ("eighty percent", 80), ("ninety percent", 90), ("one hundred percent", 100)]


def _norm(text: str) -> str:
    text = text.lower().replace("%", " percent")
    words = "".join(c if c.isalnum() or c == " " else " " for c in text).split()
    return " ".join(w for w in words if w not in ("the", "please", "my", "our"))


# Our light-level probe and the assistant requests' light sentence are never generated as such.
LIGHT_PROBES = {_norm(s) for s in [
    "dim the kitchen to 30", "set the office lights to 70%", "bedroom lights to 40 percent", "set the living room lights to 25%",
    "make the kitchen lights 60% bright", "Set the bedroom lights to 40%", "turn the office brightness down to 10%",
    "set kitchen lights to 90"]}


def random_home(r: random.Random) -> dict:
    areas = r.sample(AREAS, r.randint(3, 7))
    devices = {dom: r.sample(names, r.randint(1, min(3, len(names)))) for dom, names in DEVICES.items()}
    return {"areas": areas, "devices": devices}


def light_level_example(r: random.Random):
    """(query, set_light call with an integer brightness, home): area form 60%, device form 40%."""
    while True:
        home = random_home(r)
        x = r.random()
        value = r.choice(range(10, 101, 10)) if x < 0.55 else r.choice(range(5, 100, 5)) if x < 0.75 else r.randint(1, 100)
        spoken = r.choice([f"{value}%", f"{value}%", f"{value} %", f"{value} percent", f"{value} percent", f"{value}"])
        words = r.random() < 0.15
        if words:
            spoken, value = r.choice(LIGHT_WORDS)
        if r.random() < 0.6:
            area = r.choice(home["areas"])
            tpl, where = r.choice(LIGHT_AREA_TEMPLATES), {"area": area}
        else:
            device = r.choice(home["devices"]["light"])
            tpl, where = r.choice(LIGHT_DEVICE_TEMPLATES), {"device": device}
        if words and " to {v}" not in tpl and " at {v}" not in tpl:
            continue
        the = r.choice(["the ", "the ", "the ", "", "my ", "our "])
        text = tpl.format(the=the, a=where.get("area", ""), d=where.get("device", ""), v=spoken)
        if r.random() < 0.1 and tpl.split()[0] in ("set", "dim", "brighten", "turn", "put", "change", "adjust", "bring", "lower", "raise", "drop"):
            text = r.choice(["please ", "hey, "]) + text
        elif r.random() < 0.1:
            text += " please"
        if r.random() < 0.35:
            text = text[0].upper() + text[1:]
        text += r.choice(["", "", "", "."]) if not text.lower().startswith(("can", "could")) else r.choice(["", "?"])
        if _norm(text) in LIGHT_PROBES:
            continue
        return text, {"name": "set_light", "arguments": {**where, "brightness": value}}, home
