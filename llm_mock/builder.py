"""Writing rules: `when(...).reply(...)`, `.times()`, `.first()`, over any rule engine.

`RuleBuilder` holds the rule-authoring methods. `MockServer` is one (over its live engine); the
loader gives a `.py` rule file's `register(builder)` one over a private engine, whose rules are
then swapped in whole. A rule enters its engine complete: `when(m).times(3).first().reply(r)`
adds it once, with its position and count; `.times()` and `.first()` after `.reply()` still work
and keep counts exact (`times(n)` counts the requests the rule answered already).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional, Union, cast

from .engine import Rule, RuleEngine, RuleSummary
from .matching import Match, MatchObject, any_request, compile_match
from .replies import ErrorReply, ReplyOptions, Resolver, normalise_reply

if TYPE_CHECKING:
    from .chaos import Chaos

SequenceEntry = Union[Resolver, "tuple[Resolver, ReplyOptions]"]
"""One step of `reply_sequence`: a reply, `(reply, ReplyOptions)`, or `{"reply": ..., "latency": ...}`."""


class PendingRule:
    """`when(match)`: registers nothing until `.reply()` or `.reply_sequence()`."""

    def __init__(self, engine: RuleEngine, match: Match):
        self._engine = engine
        self._match = match
        self._test, self._description = compile_match(match)
        self._times: Optional[int] = None
        self._first = False
        self._chaos: Optional[Chaos] = None

    def times(self, n: int) -> PendingRule:
        """Answer `n` requests, then step aside (set before `.reply()`: the rule enters whole)."""
        self._times = _count(n)
        return self

    def first(self) -> PendingRule:
        """Go before every rule added so far."""
        self._first = True
        return self

    def chaos(self, chaos: Optional[Chaos]) -> PendingRule:
        self._chaos = chaos
        return self

    def reply(self, reply: Resolver, options: Optional[ReplyOptions] = None,
              **option_kw: Optional[float]) -> RuleHandle:
        """Answer with `reply`; `options` (or `latency=`, `chunk_size=`, `ttft=`, `tokens_per_second=`,
        `jitter=`) pace it."""
        resolver = reply if callable(reply) else normalise_reply(reply)
        return self._add(Rule(self._test, self._description, resolver, _options(options, option_kw)))

    def reply_sequence(self, entries: Sequence[SequenceEntry], options: Optional[ReplyOptions] = None,
                       **option_kw: Optional[float]) -> RuleHandle:
        """Each matching request gets the next entry; exhausted, the last repeats unless `times` limits."""
        if not isinstance(entries, (list, tuple)) or not entries:
            raise ValueError("Sequence requires at least one entry.")
        steps = [_sequence_step(entry) for entry in entries]
        return self._add(Rule(self._test, self._description, None, _options(options, option_kw), steps))

    def _add(self, rule: Rule) -> RuleHandle:
        rule.remaining, rule.first, rule.chaos, rule.match = self._times, self._first, self._chaos, self._match
        return RuleHandle(self._engine, self._engine.add(rule))


class RuleHandle:
    """Returned by `.reply()`: `times(n)` and `first()` chain in any order."""

    def __init__(self, engine: RuleEngine, rule: Rule):
        self._engine = engine
        self.rule = rule

    def times(self, n: int) -> RuleHandle:
        self._engine.set_times(self.rule, _count(n))
        return self

    def first(self) -> RuleHandle:
        self._engine.move_to_front(self.rule)
        return self

    def chaos(self, chaos: Optional[Chaos]) -> RuleHandle:
        """Chaos rates for this rule only, over the server's."""
        self.rule.chaos = chaos
        return self


class RuleBuilder:
    """The rule-authoring methods over `engine`."""

    def __init__(self, engine: Optional[RuleEngine] = None):
        self.engine = engine if engine is not None else RuleEngine()

    def when(self, match: Match) -> PendingRule:
        """Start a rule: a string (case-insensitive substring of the last user message), a compiled
        regex, a `MatchObject` / dict, or a callable taking the request."""
        return PendingRule(self.engine, match)

    def when_tool(self, name: str) -> PendingRule:
        return self.when(MatchObject(tool_name=name))

    def when_tool_result(self, call_id: str) -> PendingRule:
        return self.when(MatchObject(tool_call_id=call_id))

    def when_server_tool(self, tool_type: str) -> PendingRule:
        return self.when(MatchObject(server_tool=tool_type))

    def next_error(self, status: int, message: Optional[str] = None, type: Optional[str] = None,
                   **error_fields: Any) -> RuleHandle:
        """The next request (any route) gets this HTTP error; queued errors fire last-in, first-out."""
        error = ErrorReply(status, message, type, **error_fields)
        return self.when(any_request).times(1).first().reply(error)

    def fallback(self, reply: Resolver) -> None:
        """The reply when no rule matches."""
        self.engine.set_fallback(reply)

    def is_done(self) -> bool:
        """True when every `times`-limited rule is used up and every sequence has served all its steps."""
        return self.engine.is_done()

    @property
    def rules(self) -> list[RuleSummary]:
        """A snapshot: `RuleSummary(description, remaining)` for each rule (`inf` when unlimited)."""
        return self.engine.rules

    @property
    def rule_count(self) -> int:
        return len(self.engine)


def _count(n: object) -> int:
    if not isinstance(n, int) or isinstance(n, bool):
        raise ValueError("times(n) needs an integer")
    return n


def _options(options: Optional[ReplyOptions], option_kw: dict[str, Optional[float]]) -> ReplyOptions:
    if options is not None and not isinstance(options, ReplyOptions):
        raise ValueError("options must be a ReplyOptions")
    return ReplyOptions(**cast("dict[str, Any]", option_kw)).over(options or ReplyOptions())


def _sequence_step(entry: SequenceEntry) -> tuple[Resolver, ReplyOptions]:
    """A sequence entry: a reply, or `{reply, latency?, chunk_size?}` / `(reply, ReplyOptions)`."""
    if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], ReplyOptions):
        return _resolver(entry[0]), entry[1]
    if isinstance(entry, dict) and "reply" in entry:
        extra = {k: v for k, v in entry.items() if k != "reply"}
        extra = {("chunk_size" if k == "chunkSize" else k): v for k, v in extra.items()}
        return _resolver(entry["reply"]), ReplyOptions(**extra)
    return _resolver(entry), ReplyOptions()


def _resolver(reply: Resolver) -> Resolver:
    return reply if callable(reply) else normalise_reply(reply)
