"""General-purpose tool examples from templates: messaging, weather by city, currency, calendar,
reminders and unit conversion. Values are drawn from small lists and normalised the way a
careful caller would (dates to ISO from the facts' date, "$20,000" to 20000, "8%" to 0.08)."""

from __future__ import annotations

import datetime as dt
import random

TOOLS = {
    "text_contact": {"description": "Send a text message to a contact.", "parameters": {"type": "object", "properties": {
        "to": {"type": "string", "description": "Contact name"}, "text": {"type": "string"}}, "required": ["to", "text"]}},
    "get_forecast": {"description": "Weather forecast for a city on a date.", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "date": {"type": "string", "format": "date"}}, "required": ["city"]}},
    "exchange_money": {"description": "Convert an amount of money between currencies.", "parameters": {"type": "object", "properties": {
        "amount": {"type": "number"}, "from": {"type": "string", "description": "ISO 4217 code"},
        "to": {"type": "string", "description": "ISO 4217 code"}}, "required": ["amount", "from", "to"]}},
    "create_event": {"description": "Add an event to the calendar.", "parameters": {"type": "object", "properties": {
        "title": {"type": "string"}, "date": {"type": "string", "format": "date"}, "time": {"type": "string", "description": "HH:MM, 24 h"}},
        "required": ["title", "date"]}},
    "set_reminder": {"description": "Remind the user of something at a time today.", "parameters": {"type": "object", "properties": {
        "text": {"type": "string"}, "time": {"type": "string", "description": "HH:MM, 24 h"}}, "required": ["text", "time"]}},
    "compute_interest": {"description": "Simple interest on a loan or deposit.", "parameters": {"type": "object", "properties": {
        "principal": {"type": "number"}, "rate": {"type": "number", "description": "yearly rate as a fraction, 8% is 0.08"},
        "years": {"type": "integer", "minimum": 1}}, "required": ["principal", "rate", "years"]}},
}

CONTACTS = ["Anna", "Ben", "mom", "Dr. Patel", "Luca", "Sofia", "the team", "Grandpa"]
MESSAGES = ["I'm running late", "see you at 6", "call me back", "dinner is ready", "happy birthday!", "on my way"]
CITIES = ["Paris", "Berlin", "Tokyo", "New York", "São Paulo", "Nairobi", "Oslo", "Madrid", "Seoul", "Toronto"]
CURRENCIES = {"dollars": "USD", "euros": "EUR", "yen": "JPY", "pounds": "GBP", "swiss francs": "CHF"}
EVENTS = ["dentist", "team meeting", "piano lesson", "lunch with Ana", "car service", "yoga"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _time_phrase(r):
    h, m = r.randint(6, 21), r.choice([0, 0, 15, 30, 45])
    h12, ampm = (h - 12 if h > 12 else h), ("pm" if h >= 12 else "am")
    spoken = f"{h12}:{m:02d} {ampm}" if m else f"{h12} {ampm}"
    return spoken, f"{h:02d}:{m:02d}"


def _date_phrase(r, today: dt.date):
    kind = r.random()
    if kind < 0.3:
        return "tomorrow", (today + dt.timedelta(days=1)).isoformat()
    if kind < 0.45:
        return "today", today.isoformat()
    if kind < 0.75:
        wd = r.randrange(7)
        delta = (wd - today.weekday()) % 7 or 7
        return f"on {WEEKDAYS[wd]}", (today + dt.timedelta(days=delta)).isoformat()
    d = today + dt.timedelta(days=r.randint(2, 60))
    return f"on {d.strftime('%B')} {d.day}", d.isoformat()


def example(r: random.Random, today: dt.date):
    """(query, call)."""
    tool = r.choice(list(TOOLS))
    if tool == "text_contact":
        to, text = r.choice(CONTACTS), r.choice(MESSAGES)
        q = r.choice([f"text {to} {text}", f"send a message to {to} saying {text}", f"tell {to} \"{text}\"",
                      f"message {to}: {text}"])
        return q, {"name": tool, "arguments": {"to": to, "text": text}}
    if tool == "get_forecast":
        city = r.choice(CITIES)
        if r.random() < 0.4:
            return r.choice([f"what's the weather in {city}", f"weather for {city}", f"is it raining in {city}"]), \
                {"name": tool, "arguments": {"city": city}}
        phrase, iso = _date_phrase(r, today)
        return r.choice([f"what's the weather in {city} {phrase}", f"forecast for {city} {phrase}"]), \
            {"name": tool, "arguments": {"city": city, "date": iso}}
    if tool == "exchange_money":
        amount = r.choice([20, 50, 100, 250, 1000, 20000, 3.5, 12.99])
        (fa, fc), (ta, tc) = r.sample(list(CURRENCIES.items()), 2)
        shown = f"{amount:,}" if isinstance(amount, int) else str(amount)
        if fc == "USD" and r.random() < 0.5:
            q = f"how much is ${shown} in {ta}"
        else:
            q = r.choice([f"convert {shown} {fa} to {ta}", f"how many {ta} is {shown} {fa}"])
        return q, {"name": tool, "arguments": {"amount": amount, "from": fc, "to": tc}}
    if tool == "create_event":
        title = r.choice(EVENTS)
        phrase, iso = _date_phrase(r, today)
        if r.random() < 0.6:
            spoken, hhmm = _time_phrase(r)
            return f"put {title} in my calendar {phrase} at {spoken}", \
                {"name": tool, "arguments": {"title": title, "date": iso, "time": hhmm}}
        return f"add {title} to my calendar {phrase}", {"name": tool, "arguments": {"title": title, "date": iso}}
    if tool == "set_reminder":
        text = r.choice(["take my pills", "call the plumber", "water the plants", "pick up the kids", "check the oven"])
        spoken, hhmm = _time_phrase(r)
        return r.choice([f"remind me to {text} at {spoken}", f"at {spoken} remind me to {text}"]), \
            {"name": tool, "arguments": {"text": text, "time": hhmm}}
    principal = r.choice([1000, 5000, 20000, 150000])
    pct = r.choice([2, 3.5, 5, 8, 12])
    years = r.randint(1, 10)
    q = f"what's the interest on ${principal:,} at {pct}% for {years} years"
    return q, {"name": tool, "arguments": {"principal": principal, "rate": round(pct / 100, 4), "years": years}}
