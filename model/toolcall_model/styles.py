"""Tool-schema styles: our tools as other app developers would write them (data v9).

A style is a set of surface choices: how tool names are cased and ordered (`set_light`,
`light_set`, `SmartSetLight`, `light.set`, `setLight`, `set-light`), what the arguments are
called (area/room/location/zone, device/entity/name/target ...) and how they are cased, how
much the descriptions say (ours, terse, none, long), and the schema's small shapes (titles on
properties, `additionalProperties: false`, no `required`). `restyle(example, style, r)`
rewrites an example's tools and gold calls into it; with value_forms it also changes what the
arguments mean (units, formats, merged tools). The request is never changed: the model has to
read the schema to answer.

Each dimension has choices seen in training and choices kept for the held-out-by-style
evaluation only (`draw_style(r, held_out=True)`): camelCase and kebab-case names, and a second
set of argument names (zone, target, ...)."""

from __future__ import annotations

import copy
import random
import re

from . import value_forms

NAME_STYLES = (("snake", "noun_verb", "pascal", "dotted"), ("camel", "kebab"))
PARAM_CASES = ("snake", "camel")
DESCRIPTIONS = ("ours", "terse", "none", "long")
PREFIXES = ("Home", "Smart", "My", "App", "Assist", "Nova", "Hub")
VERBS = {"set", "get", "turn", "start", "cancel", "change", "add", "pause", "resume", "next", "lock", "unlock",
         "open", "close", "move", "control", "text", "exchange", "create", "compute", "tell", "weather"}
# argument name -> (names seen in training, names kept for the held-out evaluation)
SYNONYMS = {
    "area": (("area", "room", "location", "area_name"), ("zone", "space")),
    "device": (("device", "entity", "device_name"), ("target", "appliance")),
    "brightness": (("brightness", "level", "brightness_pct"), ("intensity",)),
    "volume": (("volume", "level", "volume_level"), ("loudness",)),
    "temperature": (("temperature", "target_temperature", "setpoint"), ("degrees",)),
    "item": (("item", "product", "item_name"), ("entry",)),
    "city": (("city", "location", "place"), ("town",)),
    "text": (("text", "message", "body"), ("content",)),
    "title": (("title", "summary", "event_name"), ("subject",)),
    "speed": (("speed", "percentage", "fan_speed"), ("spin",)),
    "kind": (("kind", "device_class", "cover_type"), ("category",)),
    "color": (("color", "colour"), ("hue_name",)),
    "date": (("date", "day"), ("when",)),
}
# The timer's label and the message's recipient share names with other arguments.
TOOL_SYNONYMS = {("start_timer", "name"): (("name", "label", "timer_name"), ("tag",)),
                 ("cancel_timer", "name"): (("name", "label", "timer_name"), ("tag",)),
                 ("text_contact", "to"): (("to", "recipient", "contact"), ("send_to",))}
FILLER = ["Returns a short confirmation.", "Works offline.", "Only affects devices the user has set up.",
          "Use the exact names the user says.", "Available on all supported devices.", "Fails if the target is unknown."]


def draw_style(r: random.Random, held_out: bool = False) -> dict:
    side = 1 if held_out else 0
    return {"names": r.choice(NAME_STYLES[side]), "prefix": r.choice(PREFIXES), "params": r.choice(PARAM_CASES),
            "descriptions": r.choice(DESCRIPTIONS), "seed": r.randrange(1 << 30), "held_out": held_out,
            "titles": r.random() < 0.15, "closed": r.random() < 0.25, "drop_required": r.random() < 0.1,
            "forms": value_forms.draw(r, held_out)}


def _words(name: str) -> list[str]:
    """Lower-case words of a name in any of the styles (`set_light`, `setLight`, `light.set`)."""
    return [w.lower() for part in re.split(r"[_.\-]", name) for w in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", part)]


def tool_name(name: str, style: dict) -> str:
    words = _words(name)
    if words[0] in VERBS and len(words) > 1:
        verb, noun = words[0], [w for w in words[1:] if w not in ("to", "the", "of")] or words[1:]
    else:
        verb, noun = None, words
    kind = style["names"]
    if kind == "noun_verb" and verb:
        return "_".join(noun + [verb])
    if kind == "dotted" and verb:
        return "_".join(noun) + "." + verb
    if kind == "camel":
        return words[0] + "".join(w.capitalize() for w in words[1:])
    if kind == "pascal":
        return style["prefix"] + "".join(w.capitalize() for w in words)
    if kind == "kebab":
        return "-".join(words)
    return "_".join(words)


def _case(name: str, case: str) -> str:
    words = name.split("_")
    return words[0] + "".join(w.capitalize() for w in words[1:]) if case == "camel" else name


def _param_names(tool_name_: str, props: dict, style: dict) -> dict:
    """Old argument name -> new, one-to-one within the tool (a clash keeps the old name)."""
    side = 1 if style["held_out"] else 0
    out = {}
    for k in props:
        choices = TOOL_SYNONYMS.get((tool_name_, k)) or SYNONYMS.get(k)
        new = random.Random(f"{style['seed']}/{k}").choice(choices[side]) if choices else k
        new = _case(new, style["params"])
        out[k] = new if new not in out.values() and new not in props or new == k else _case(k, style["params"])
    if len(set(out.values())) < len(out):
        return {k: k for k in props}
    return out


def _terse(text: str) -> str:
    first = re.split(r"(?<=[.;])\s|, ", text, maxsplit=1)[0].rstrip(".;")
    return first + "." if first else ""


def _restyle_schema(schema: dict, tool: str, style: dict, keep_notes: bool) -> tuple[dict, dict]:
    schema = copy.deepcopy(schema)
    props = schema.get("properties", {})
    names = _param_names(tool, props, style)
    new_props = {}
    for k, spec in props.items():
        spec = dict(spec)
        essential = any(w in spec.get("description", "") for w in ("ISO", "HH:", "0.0", "seconds", "lower case", "country",
                                                                    "percent", "fraction", "true:", "Timer length", "code"))
        if not keep_notes and not essential:
            spec.pop("description", None)
        if style["titles"]:
            spec["title"] = " ".join(w.capitalize() for w in re.split(r"_|(?=[A-Z])", names[k]) if w)
        new_props[names[k]] = spec
    if "properties" in schema:
        schema["properties"] = new_props
    if "required" in schema:
        schema["required"] = [names[k] for k in schema["required"]]
        if style["drop_required"]:
            del schema["required"]
    if style["closed"] and schema.get("type") == "object":
        schema["additionalProperties"] = False
    return schema, names


def restyle(example: dict, style: dict, r: random.Random, mix: float = 0.3) -> dict | None:
    """The example in the style (a new dict), or None when a value cannot be written in its
    forms. Each tool other than the gold ones takes another style with probability `mix`: a
    tool list may come from several developers."""
    ex = value_forms.apply(example, style["forms"])
    if ex is None:
        return None
    gold = {c["name"] for c in ex["answer"]}
    renamed, new_tools = {}, []
    for tool in ex["tools"]:
        own = style if tool["name"] in gold or r.random() >= mix else {**draw_style(r, style["held_out"]), "forms": style["forms"]}
        desc = tool.get("description", "")
        how = own["descriptions"]
        desc = {"ours": desc, "terse": _terse(desc), "none": "", "long": f"{desc} {r.choice(FILLER)}".strip()}[how]
        params, names = _restyle_schema(tool["parameters"], tool["name"], own, keep_notes=how in ("ours", "long"))
        new_name = tool_name(tool["name"], own)
        renamed[tool["name"]] = (new_name, names)
        new_tools.append({"name": new_name, **({"description": desc} if desc else {}), "parameters": params})
    if len({t["name"] for t in new_tools}) < len(new_tools):
        return None
    answer = [{"name": renamed[c["name"]][0], "arguments": {renamed[c["name"]][1].get(k, k): v for k, v in c["arguments"].items()}}
              for c in ex["answer"]]
    return {**ex, "tools": new_tools, "answer": answer}


def wrap(tool: dict, r: random.Random) -> dict:
    """The tool as bare JSON or in the OpenAI wrapper (the engine accepts both and shows the
    model the same thing)."""
    return {"type": "function", "function": tool} if r.random() < 0.3 else tool
