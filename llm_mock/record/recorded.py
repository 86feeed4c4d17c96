"""Recorded rules: rules the recorder wrote, answered like any rule, that know where they came from.

A rule file rule with a `recording` key is loaded as a `RecordedRule`: its matcher is its `when`,
as for any rule, and each reply step is a `RecordedReply` that knows its exchange (the exact
response in the sidecar file beside the rule file) and the hashes of the system prompt and tool
set it was recorded with. Answering a request it returns a `Replayed` reply: the rule's reply plus
the exchange and, when the request's system prompt or tools differ from the recording's, what
differs (`stale`). A recorded rule is done once every step was replayed, so `is_done()` reports
recordings never used.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Optional

from ..engine import Rule
from ..replies import ReplyObject

SIDECAR_SUFFIX = ".exchanges.jsonl"
"""The sidecar of `name.json5` (or `name.json`) is `name.exchanges.jsonl`: one exchange a line."""


def sidecar_path(rule_file: str) -> str:
    base, extension = os.path.splitext(rule_file)
    return (base if extension in (".json5", ".json") else rule_file) + SIDECAR_SUFFIX


def digest(value: Any) -> str:
    """`sha256:` and 16 hex digits of a value's canonical JSON (a string hashes as itself)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False,
                                                           separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def system_hash(request: Any) -> str:
    """The hash of every system (and developer) message of the request, in order."""
    return digest("\n\n".join(m.content for m in request.messages if m.role == "system"))


def tools_hash(request: Any) -> str:
    """The hash of the tool set offered: each tool's name, type, description and schema, in name
    order, and the server tools' types."""
    tools = sorted([t.name, t.type, t.description if isinstance(t.description, str) else None, t.parameters]
                   for t in request.tools or ())
    return digest({"tools": tools, "server": sorted(request.server_tool_types)})


def stale_fields(request: Any, system: Optional[str], tools: Optional[str]) -> Optional[str]:
    """What differs between the request and a recording's hashes ("system prompt", "tool set",
    both), or None. A hash the rule does not carry is not checked."""
    differs = []
    if system is not None and system != system_hash(request):
        differs.append("system prompt")
    if tools is not None and tools != tools_hash(request):
        differs.append("tool set")
    return " and ".join(differs) or None


@dataclass
class Replayed(ReplyObject):
    """A recorded rule's reply to one request: the reply, the step it came from (`step`) and what
    of the request differs from the recording (`stale`, None when nothing does)."""

    step: Any = None
    stale: Optional[str] = None
    replayed: ClassVar[bool] = True


_REPLY_FIELDS = [f.name for f in fields(ReplyObject)]


class RecordedReply:
    """One reply step of a recorded rule: the reply as the rule file has it (edits included), its
    exchange in the sidecar, and how many requests it answered."""

    def __init__(self, reply: ReplyObject, exchange: str, sidecar: str, system: Optional[str],
                 tools: Optional[str], source: str):
        self.reply, self.exchange, self.sidecar = reply, exchange, sidecar
        self.system, self.tools, self.source = system, tools, source
        self.replayed = 0

    def __call__(self, request: Any) -> Replayed:
        self.replayed += 1
        values = {name: getattr(self.reply, name) for name in _REPLY_FIELDS}
        return Replayed(**values, step=self, stale=stale_fields(request, self.system, self.tools))

    def __repr__(self) -> str:
        return f"RecordedReply({self.exchange} in {os.path.basename(self.source)})"


@dataclass(eq=False)
class RecordedRule(Rule):
    """A rule the recorder wrote. `when` is its matcher as written (for explaining misses);
    `steps` its `RecordedReply`s, one per reply."""

    when: Any = None
    steps: list = field(default_factory=list)
    source: str = ""

    @property
    def done(self) -> bool:
        """Every recorded step replayed at least once."""
        return all(step.replayed for step in self.steps)

    @property
    def ids(self) -> list:
        return [step.exchange for step in self.steps]


def recorded_rule(rule: Rule, when: Any, recording: dict, source: str) -> RecordedRule:
    """The loader's `rule` made a recorded one: each reply step answers through a `RecordedReply`."""
    sidecar = sidecar_path(source)
    single = rule.sequence is None
    replies = [rule.resolver] if single else [reply for reply, _ in rule.sequence or ()]
    steps = [RecordedReply(reply, exchange, sidecar, recording["system"], recording["tools"], source)
             for reply, exchange in zip(replies, recording["ids"], strict=True)]
    sequence = None if single else [(step, options)
                                    for step, (_, options) in zip(steps, rule.sequence or (), strict=True)]
    return RecordedRule(rule.test, rule.description, steps[0] if single else None, rule.options, sequence,
                        rule.remaining, rule.first, rule.chaos, match=rule.match, when=when, steps=steps,
                        source=source)
