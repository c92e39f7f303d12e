"""The same intent as app developers model it: on/off as two tools, a boolean or an enum;
durations as hours/minutes/seconds, total seconds, an ISO 8601 duration or "HH:MM:SS"; levels
in percent or as a fraction; times as "HH:MM" or an ISO date-time; cities with or without the
country; currency codes upper or lower case; one recipient or item, or a list of them.

`apply(example, forms, r)` rewrites an example made with our tools (home_data, general_data)
into the forms given, gold calls included: the request is unchanged, so the model has to read
the schema to write the right call. The choices of each form, and which of them only the
held-out-by-style evaluation uses, are in FORMS (train, held out)."""

from __future__ import annotations

import copy
import random

# form -> (choices seen in training, choices held out for the evaluation by style)
FORMS = {
    "power": (("separate", "bool", "enum"), ()),
    "lock": (("separate", "bool"), ("enum",)),
    "cover": (("separate", "enum"), ()),
    "media": (("separate", "enum"), ()),
    "duration": (("parts", "seconds", "iso8601"), ("hms",)),
    "brightness": (("percent", "fraction"), ()),
    "volume": (("percent",), ("fraction",)),
    "clock": (("hhmm", "iso"), ()),
    "event": (("split", "iso"), ()),
    "city": (("plain", "city_country"), ()),
    "currency": (("upper", "lower"), ()),
    "recipients": (("single", "array"), ()),
    "items": (("single", "array"), ()),
}

# Two or more tools that one tool with a mode argument can stand for: member -> its mode value.
GROUPS = {
    "power": ("set_power", "Turn a device, or the lights in an area, on or off.",
              {"turn_on": "on", "turn_off": "off"}, ("on", "state")),
    "lock": ("set_lock", "Lock or unlock a door or gate.",
             {"lock": "locked", "unlock": "unlocked"}, ("locked", "state")),
    "cover": ("move_cover", "Open or close blinds, curtains, shutters, garage doors or windows.",
              {"open_cover": "open", "close_cover": "close"}, (None, "action")),
    "media": ("control_media", "Control music or video playback.",
              {"pause_media": "pause", "resume_media": "play", "next_track": "next"}, (None, "command")),
}
COUNTRIES = {"Paris": "France", "Berlin": "Germany", "Tokyo": "Japan", "New York": "USA", "São Paulo": "Brazil",
             "Nairobi": "Kenya", "Oslo": "Norway", "Madrid": "Spain", "Seoul": "South Korea", "Toronto": "Canada"}


def draw(r: random.Random, held_out: bool) -> dict:
    """One choice per form; with held_out, a held-out choice wherever a form has one."""
    return {k: r.choice(out if held_out and out else train) for k, (train, out) in FORMS.items()}


def _today(facts: str) -> str:
    return facts.split("date: ", 1)[1][:10]


def _merge(tools: list[dict], answer: list[dict], group: str, form: str) -> None:
    """Members of a group offered together become one tool with a mode argument (a boolean for
    two members, else an enum of the offered members' modes). Left alone when fewer than two
    members are offered, so an example whose tool was removed (answer []) stays one."""
    name, description, members, (bool_arg, enum_arg) = GROUPS[group]
    offered = [t for t in tools if t["name"] in members]
    if form == "separate" or len(offered) < 2 or form == "bool" and len(offered) != len(members):
        return
    base = copy.deepcopy(offered[0]["parameters"])
    props = base.setdefault("properties", {})
    modes = [members[t["name"]] for t in offered] if form == "enum" else list(members.values())
    if form == "bool":
        arg = bool_arg
        props[arg] = {"type": "boolean", "description": f"true: {modes[0]}, false: {modes[1]}"}
    else:
        arg = enum_arg
        props[arg] = {"type": "string", "enum": modes}
    base["required"] = list(dict.fromkeys(base.get("required", []) + [arg]))
    at = tools.index(offered[0])
    tools[:] = [t for t in tools if t["name"] not in members]
    tools.insert(at, {"name": name, "description": description, "parameters": base})
    for call in answer:
        if call["name"] in members:
            mode = members[call["name"]]
            value = mode == modes[0] if form == "bool" else mode
            call["name"], call["arguments"] = name, {**call["arguments"], arg: value}


def _replace_params(tool: dict, drop: list[str], add: dict, required: list[str] | None = None) -> None:
    params = tool["parameters"]
    props = {k: v for k, v in params.get("properties", {}).items() if k not in drop}
    params["properties"] = {**add, **props} if required else {**props, **add}
    req = [k for k in params.get("required", []) if k not in drop] + (required or [])
    if req:
        params["required"] = req
    else:
        params.pop("required", None)


def _duration(tool, calls, form):
    parts = ("hours", "minutes", "seconds")
    if form == "parts":
        return
    specs = {"seconds": ("duration_seconds", {"type": "integer", "minimum": 1, "description": "Timer length in seconds"}),
             "iso8601": ("duration", {"type": "string", "format": "duration", "description": "ISO 8601 duration, e.g. PT10M or PT1H30M"}),
             "hms": ("duration", {"type": "string", "pattern": "^[0-9]{2}:[0-5][0-9]:[0-5][0-9]$", "description": "Timer length as HH:MM:SS"})}
    arg, schema = specs[form]
    _replace_params(tool, list(parts), {arg: schema}, [arg])
    for call in calls:
        a = call["arguments"]
        h, m, s = (a.pop(p, 0) for p in parts)
        total = h * 3600 + m * 60 + s
        if form == "seconds":
            value = total
        elif form == "hms":
            value = f"{total // 3600:02d}:{total // 60 % 60:02d}:{total % 60:02d}"
        else:
            value = "PT" + "".join(f"{v}{u}" for v, u in ((total // 3600, "H"), (total // 60 % 60, "M"), (total % 60, "S")) if v)
        call["arguments"] = {arg: value, **a}


def _fraction(tool, calls, arg, what):
    tool["parameters"]["properties"][arg] = {"type": "number", "minimum": 0, "maximum": 1,
                                             "description": f"{what} from 0.0 (none) to 1.0 (full); 40% is 0.4"}
    for call in calls:
        if arg in call["arguments"]:
            call["arguments"][arg] = round(call["arguments"][arg] / 100, 2)


def _iso_clock(tool, calls, facts, event: bool):
    today = _today(facts)
    if event:  # create_event: date + optional time -> one start
        _replace_params(tool, ["date", "time"], {"start": {"type": "string", "description":
                        "Start as ISO 8601: YYYY-MM-DDTHH:MM:SS, or YYYY-MM-DD for an all-day event"}}, ["start"])
        for call in calls:
            a = call["arguments"]
            date, time = a.pop("date"), a.pop("time", None)
            call["arguments"] = {**a, "start": f"{date}T{time}:00" if time else date}
        return
    _replace_params(tool, ["time"], {"at": {"type": "string", "format": "date-time",
                    "description": "When to remind, ISO 8601 local date-time (YYYY-MM-DDTHH:MM:SS)"}}, ["at"])
    for call in calls:
        call["arguments"]["at"] = f"{today}T{call['arguments'].pop('time')}:00"


def _listify(tool, calls, old, new, what):
    _replace_params(tool, [old], {new: {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": what}},
                    [new] if old in tool["parameters"].get("required", []) else None)
    for call in calls:
        if old in call["arguments"]:
            call["arguments"][new] = [call["arguments"].pop(old)]


def apply(example: dict, forms: dict) -> dict | None:
    """The example in the given forms (a deep copy), or None when a value cannot be written in
    one of them (a city with no country in COUNTRIES)."""
    ex = copy.deepcopy(example)
    tools, answer, facts = ex["tools"], ex["answer"], ex["facts"]
    for group in GROUPS:
        _merge(tools, answer, group, forms[group])
    for tool in tools:
        name = tool["name"]
        calls = [c for c in answer if c["name"] == name]
        props = tool["parameters"].get("properties", {})
        if name == "start_timer":
            _duration(tool, calls, forms["duration"])
        elif name == "set_light" and forms["brightness"] == "fraction":
            _fraction(tool, calls, "brightness", "Brightness")
        elif name == "change_volume" and forms["volume"] == "fraction":
            _fraction(tool, calls, "volume", "Volume")
        elif name == "set_reminder" and forms["clock"] == "iso":
            _iso_clock(tool, calls, facts, event=False)
        elif name == "create_event" and forms["event"] == "iso":
            _iso_clock(tool, calls, facts, event=True)
        elif name == "get_forecast" and forms["city"] == "city_country":
            if any(c["arguments"]["city"] not in COUNTRIES for c in calls):
                return None
            props["city"] = {"type": "string", "description": "City and country, e.g. \"Lyon, France\""}
            for c in calls:
                c["arguments"]["city"] += ", " + COUNTRIES[c["arguments"]["city"]]
        elif name == "exchange_money" and forms["currency"] == "lower":
            for k in ("from", "to"):
                props[k] = {"type": "string", "pattern": "^[a-z]{3}$", "description": "ISO 4217 code in lower case, e.g. usd"}
            for c in calls:
                c["arguments"]["from"], c["arguments"]["to"] = c["arguments"]["from"].lower(), c["arguments"]["to"].lower()
        elif name == "text_contact" and forms["recipients"] == "array":
            _listify(tool, calls, "to", "recipients", "Contact names to send the message to")
        elif name == "add_to_shopping_list" and forms["items"] == "array":
            _listify(tool, calls, "item", "items", "Items to add")
    return ex
