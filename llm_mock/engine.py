"""The rule engine: ordered rules, first match wins, exact counts under concurrency.

One lock guards choosing a rule, consuming `times` and advancing a sequence, so 1000 concurrent
requests see every step exactly once. Callable replies run outside the lock.

SDK retries (`x-stainless-retry-count` > 0) consume nothing: a retry of a request that was
answered gets that same answer again, even if the first attempt used the rule up. A retry of a
request answered with an HTTP error is a fresh attempt, so injected errors behave like the
transient failures they stand for (`next_error` then success; `times(3)` errors exhaust retries);
so is a retry of a request answered with a fault (a dropped or stalled connection).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional

from .replies import ReplyObject, ReplyOptions, normalise_reply
from .rules import compile_match

DEFAULT_FALLBACK = "llm_mock: no rule matched this request."
_REPLAY_CAP = 1024


class RuleError(Exception):
    """A rule's matcher or reply callable raised; answered with 500 naming the rule."""

    def __init__(self, description: str, cause: BaseException):
        super().__init__(f"rule {description} raised {type(cause).__name__}: {cause}")
        self.description = description
        self.cause = cause


class Rule:
    """A matcher and what it answers; `remaining` None means unlimited."""

    __slots__ = ("test", "description", "resolver", "options", "sequence", "served", "remaining", "chaos")

    def __init__(self, test, description, resolver=None, options=None, sequence=None):
        self.test = test
        self.description = description
        self.resolver = resolver
        self.options = options or ReplyOptions()
        self.sequence = sequence  # list of (reply, ReplyOptions) or None
        self.served = 0
        self.remaining: Optional[int] = None
        self.chaos = None

    @property
    def done(self) -> bool:
        if self.remaining is not None:
            return self.remaining <= 0
        return self.sequence is None or self.served >= len(self.sequence)


@dataclass
class Resolution:
    """What the engine decided for one request."""

    reply: ReplyObject
    options: ReplyOptions
    rule: Optional[str]  # description, None for the fallback
    chaos: Any = None
    replayed: bool = False


@dataclass(frozen=True)
class RuleSummary:
    description: str
    remaining: float


class RuleEngine:
    """Thread-safe ordered rules, the fallback, and the retry replay memory."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rules: list = []
        self._fallback: Any = DEFAULT_FALLBACK
        self._replays: OrderedDict = OrderedDict()

    # -- building -------------------------------------------------------------------------
    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def move_to_front(self, rule: Rule) -> None:
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)
                self._rules.insert(0, rule)

    def set_times(self, rule: Rule, n: int) -> None:
        with self._lock:
            rule.remaining = n

    def set_fallback(self, reply: Any) -> None:
        if not callable(reply):
            normalise_reply(reply)  # reject a malformed fallback now, not at request time
        self._fallback = reply

    def replace(self, rules: list, fallback: Any = None) -> None:
        """Swap the whole rule set at once (watch mode): no request sees a half-loaded set."""
        with self._lock:
            self._rules = list(rules)
            self._fallback = DEFAULT_FALLBACK if fallback is None else fallback
            self._replays.clear()

    def clear(self) -> None:
        self.replace([])

    # -- reading --------------------------------------------------------------------------
    @property
    def rules(self) -> list:
        with self._lock:
            return [RuleSummary(r.description, float("inf") if r.remaining is None else r.remaining)
                    for r in self._rules]

    def __len__(self) -> int:
        return len(self._rules)

    def is_done(self) -> bool:
        with self._lock:
            return all(rule.done for rule in self._rules)

    # -- answering ------------------------------------------------------------------------
    def resolve(self, request) -> Resolution:
        """Choose the rule for `request`, consume it, and produce its reply."""
        retry = request.retry_count > 0
        key = (request.path, request.body) if request.body is not None else None
        with self._lock:
            if retry and key in self._replays:
                resolution = self._replays[key]
                return Resolution(resolution.reply, resolution.options, resolution.rule, resolution.chaos, True)
            self._replays.pop(key, None)  # a fresh attempt: its retries must not replay an older answer
            rule = self._choose(request)
            if rule is not None:
                resolver, options = self._consume(rule)
        if rule is None:
            reply = self._call(self._fallback, request, "fallback")
            return Resolution(reply, ReplyOptions(), None)
        reply = self._call(resolver, request, rule.description)
        resolution = Resolution(reply, options, rule.description, rule.chaos)
        if key is not None and reply.error is None and reply.fault is None:  # failures are retried afresh
            with self._lock:
                self._replays[key] = resolution
                self._replays.move_to_end(key)
                if len(self._replays) > _REPLAY_CAP:
                    self._replays.popitem(last=False)
        return resolution

    def _choose(self, request) -> Optional[Rule]:
        for rule in self._rules:
            if rule.remaining is not None and rule.remaining <= 0:
                continue
            try:
                if rule.test(request):
                    return rule
            except Exception as exc:  # a user's predicate: report it as this rule's failure
                raise RuleError(rule.description, exc) from exc
        return None

    def _consume(self, rule: Rule) -> tuple:
        if rule.remaining is not None:
            rule.remaining -= 1
            if rule.remaining <= 0:
                self._rules.remove(rule)
        if rule.sequence is None:
            return rule.resolver, rule.options
        step = min(rule.served, len(rule.sequence) - 1)
        rule.served += 1
        reply, options = rule.sequence[step]
        return reply, options.over(rule.options)

    @staticmethod
    def _call(resolver: Any, request, description: str) -> ReplyObject:
        try:
            value = resolver(request) if callable(resolver) else resolver
            if hasattr(value, "__await__"):  # an async reply callable
                import asyncio

                value = asyncio.run(_awaited(value))
            return normalise_reply(value)
        except Exception as exc:
            raise RuleError(description, exc) from exc


async def _awaited(awaitable):
    return await awaitable


class PendingRule:
    """`server.when(match)`: registers nothing until `.reply()` or `.reply_sequence()`."""

    def __init__(self, engine: RuleEngine, match: Any):
        self._engine = engine
        self._test, self._description = compile_match(match)

    def reply(self, reply: Any, options: Optional[ReplyOptions] = None, **option_kw) -> "RuleHandle":
        if not callable(reply):
            reply = normalise_reply(reply)
        rule = Rule(self._test, self._description, reply, _options(options, option_kw))
        return RuleHandle(self._engine, self._engine.add(rule))

    def reply_sequence(self, entries: list, options: Optional[ReplyOptions] = None, **option_kw) -> "RuleHandle":
        """Each matching request gets the next entry; exhausted, the last repeats unless `times` limits."""
        if not isinstance(entries, (list, tuple)) or not entries:
            raise ValueError("Sequence requires at least one entry.")
        steps = [_sequence_step(entry) for entry in entries]
        rule = Rule(self._test, self._description, None, _options(options, option_kw), steps)
        return RuleHandle(self._engine, self._engine.add(rule))


class RuleHandle:
    """Returned by `.reply()`: `times(n)` and `first()` chain in any order."""

    def __init__(self, engine: RuleEngine, rule: Rule):
        self._engine = engine
        self.rule = rule

    def times(self, n: int) -> "RuleHandle":
        if not isinstance(n, int) or isinstance(n, bool):
            raise ValueError("times(n) needs an integer")
        self._engine.set_times(self.rule, n)
        return self

    def first(self) -> "RuleHandle":
        self._engine.move_to_front(self.rule)
        return self

    def chaos(self, chaos) -> "RuleHandle":
        """Chaos rates for this rule only, over the server's."""
        self.rule.chaos = chaos
        return self


def _options(options: Optional[ReplyOptions], option_kw: dict) -> ReplyOptions:
    if options is not None and not isinstance(options, ReplyOptions):
        raise ValueError("options must be a ReplyOptions")
    return ReplyOptions(**option_kw).over(options or ReplyOptions())


def _sequence_step(entry: Any) -> tuple:
    """A sequence entry: a reply, or `{reply, latency?, chunk_size?}` / `(reply, ReplyOptions)`."""
    if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], ReplyOptions):
        return _resolver(entry[0]), entry[1]
    if isinstance(entry, dict) and "reply" in entry:
        extra = {k: v for k, v in entry.items() if k != "reply"}
        extra = {("chunk_size" if k == "chunkSize" else k): v for k, v in extra.items()}
        return _resolver(entry["reply"]), ReplyOptions(**extra)
    return _resolver(entry), ReplyOptions()


def _resolver(reply: Any) -> Any:
    return reply if callable(reply) else normalise_reply(reply)
