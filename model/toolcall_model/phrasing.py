"""Requests that read like people (data v9): a template's command as someone would say or type
it to an assistant, with a sentence of context before it, a polite frame, or thanks after.
The added words never hold a value, a place or a device, so the gold call is unchanged."""

from __future__ import annotations

import random

CONTEXT = [
    "I'm about to start cooking.", "We just got home.", "The kids are finally asleep.", "I'm heading out in a minute.",
    "Quick one before my meeting.", "Okay, next thing.", "I'm on the couch and can't be bothered to get up.",
    "Guests are coming over later.", "I just woke up.", "Sorry, my hands are full.", "It's been a long day.",
    "I'm working from home today.", "One more thing.", "Hmm, let me think.", "Right, so.", "Hi there!",
]
POLITE = ["could you {q}?", "can you please {q}?", "would you {q}?", "please {q}.", "I need you to {q}.",
          "hey, {q}", "I'd like you to {q}.", "{q}, please.", "{q} - thanks!", "{q}. Thank you!"]


def _sentence(q: str) -> str:
    return q[0].upper() + q[1:]


def humanize(query: str, r: random.Random) -> str:
    """The query with context or politeness around it (a commands-only change: a query that is
    already a question or several sentences is only given a context sentence)."""
    q = query.strip()
    simple = q[-1:] not in "?." and q[:1].islower() and "\n" not in q
    kind = r.random()
    if simple and kind < 0.5:
        framed = r.choice(POLITE).format(q=q)
        return _sentence(framed) if r.random() < 0.7 else framed
    return f"{r.choice(CONTEXT)} {_sentence(q)}"
