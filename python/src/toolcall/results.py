"""Typed results: what a call answers, and the service's status."""

import json
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class FunctionCall:
    name: str
    arguments: dict[str, Any]


@dataclass
class Timings:
    queue_ms: float = 0.0
    prefill_ms: float = 0.0
    decode_ms: float = 0.0
    total_ms: float = 0.0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    generated_tokens: int = 0


@dataclass
class Escalation:
    """The request went to the service's escalation endpoint: `note` says why the local answer
    stands, or is None when the endpoint's answer was taken."""
    endpoint: str
    reason: str
    ms: float
    note: str | None = None


@dataclass
class CallResult:
    function_calls: list[FunctionCall]
    confidence: float
    model: str
    timings: Timings = field(default_factory=Timings)
    # Whether the calls are the escalation endpoint's, not the local model's.
    escalated: bool = False
    escalation: Escalation | None = None

    @staticmethod
    def from_json(text: str) -> "CallResult":
        """A result JSON of either shape: toolcalld's, or the OpenAI assistant message
        (`format="openai"`)."""
        data = json.loads(text)
        if "function_calls" in data:
            calls = [FunctionCall(c["name"], c["arguments"]) for c in data["function_calls"]]
        else:
            calls = [FunctionCall(c["function"]["name"], json.loads(c["function"]["arguments"]))
                     for c in data.get("tool_calls", [])]
        known = {f.name for f in fields(Timings)}
        timings = Timings(**{k: v for k, v in data.get("timings", {}).items() if k in known})
        escalation = data.get("escalation")
        if escalation is not None:
            escalation = Escalation(escalation["endpoint"], escalation["reason"], escalation["ms"],
                                    escalation.get("note"))
        return CallResult(calls, data["confidence"], data["model"], timings,
                          data.get("escalated", False), escalation)


@dataclass
class ProviderError:
    """Why a dispatched call has no result: `name` is ProviderFailed, ProviderTimeout or
    ProviderGone (org.toolcalld.ToolCall1.Error.*)."""
    name: str
    message: str


@dataclass
class RoutedCall:
    """A call of a routed answer: the published name, and the app that carries it out."""
    name: str
    arguments: dict[str, Any]
    provider: str
    provider_path: str
    # The tool's own name, as its provider published it (without the prefix).
    tool: str
    # Dispatch: the provider's result, or why there is none.
    result: Any = None
    error: ProviderError | None = None


@dataclass
class RouteResult(CallResult):
    """What Route and Dispatch answer: a call's result whose calls name their providers."""
    function_calls: list[RoutedCall]
    # The published tools the model chose among (retrieval keeps a few of a large catalogue).
    offered: list[str] = field(default_factory=list)

    @staticmethod
    def from_json(text: str) -> "RouteResult":
        data = json.loads(text)
        base = CallResult.from_json(json.dumps({**data, "function_calls": []}))
        calls = [RoutedCall(c["name"], c["arguments"], c["provider"], c["provider_path"], c["tool"],
                            c.get("result"), ProviderError(**c["error"]) if c.get("error") else None)
                 for c in data["function_calls"]]
        return RouteResult(**{**vars(base), "function_calls": calls, "offered": data.get("offered", [])})


@dataclass
class Status:
    version: str
    model: str
    queue_depth: int
