"""The rule engine: ordered rules, first match wins, exact counts under concurrency.

The rule list is copy-on-write: a request takes the current tuple without a lock and runs the
matchers on it (a slow predicate or `.py` matcher stalls only its own request). Consuming `times`
and advancing a sequence happen under one lock, after checking that the chosen rule is still
live; if another request used it up meanwhile, matching goes on with the next rule. So 1000
concurrent requests see every step exactly once. Reply callables run outside the lock.

SDK retries (`x-stainless-retry-count` > 0) consume nothing: a retry of a request that was
answered gets that same answer again, even if the first attempt used the rule up. A retry of a
request answered with an HTTP error is a fresh attempt, so injected errors behave like the
transient failures they stand for (`next_error` then success; `times(3)` errors exhaust retries);
so is a retry of a request answered with a fault (a dropped or stalled connection).
"""
from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from .plain import Plain
from .replies import ReplyObject, ReplyOptions, Resolver, normalise_reply
from .retries import ReplayMemory

if TYPE_CHECKING:
    from .budget import ByteBudget
    from .chaos import Chaos
    from .matching import Match
    from .request import MockRequest

DEFAULT_FALLBACK = "llm_mock: no rule matched this request."
_RETIRED_CAP = 64  # used-up rules kept for near-miss reports (`times: used up (3 of 3)`)
_rule_ids = itertools.count(1)


class RuleError(Exception):
    """A rule's matcher or reply callable raised; answered with 500 naming the rule."""

    def __init__(self, description: str, cause: BaseException):
        super().__init__(f"rule {description} raised {type(cause).__name__}: {cause}")
        self.description = description
        self.cause = cause


@dataclass(eq=False)
class Rule:
    """A matcher and what it answers. `remaining` None means unlimited; `first` rules go before the
    others when added; `sequence` is a list of (reply, ReplyOptions) steps."""

    test: Callable[[MockRequest], bool]
    description: str
    resolver: Any = None  # a `Resolver`; a loaded rule's is its `ReplyObject`, read as such
    options: ReplyOptions = field(default_factory=ReplyOptions)
    sequence: Optional[list] = None  # (Resolver, ReplyOptions) steps; recorded rules hold their own
    remaining: Optional[int] = None
    first: bool = False
    chaos: Optional[Chaos] = None
    served: int = 0
    live: bool = True  # False once used up or removed: a request that matched it goes on to the next rule
    match: Optional[Match] = None  # the matcher as written (near-miss reports explain it condition by condition)
    source: str = "api"  # where the rule came from: "api", "admin" or a rule file's path
    id: int = field(default_factory=lambda: next(_rule_ids))  # stable while indexes shift

    @property
    def done(self) -> bool:
        if self.remaining is not None:
            return self.remaining <= 0
        return self.sequence is None or self.served >= len(self.sequence)


class Resolution(Plain):
    """What the engine decided for one request."""

    __slots__ = ("reply", "options", "rule", "chaos", "replayed", "outcome")

    def __init__(self, reply: ReplyObject, options: ReplyOptions, rule: Optional[str],
                 chaos: Optional[Chaos] = None, replayed: bool = False, outcome: Optional[str] = None):
        self.reply, self.options = reply, options
        self.rule = rule  # description, None for the fallback
        self.chaos, self.replayed = chaos, replayed
        self.outcome = outcome  # the journal's outcome when it is not the usual one ("unmatched")


@dataclass(frozen=True)
class RuleSummary:
    description: str
    remaining: float


class RuleEngine:
    """Thread-safe ordered rules, the fallback, and the retry replay memory."""

    def __init__(self, budget: Optional[ByteBudget] = None) -> None:
        self._lock = threading.Lock()
        self._rules: tuple[Rule, ...] = ()
        self._fallback: Resolver = None
        self.retired: deque[Rule] = deque(maxlen=_RETIRED_CAP)  # rules used up by requests, newest last
        self._replays = ReplayMemory(budget)  # its bodies count against the server's byte budget

    # -- building -------------------------------------------------------------------------
    def add(self, rule: Rule) -> Rule:
        """Add a whole rule: its position (`first`), count and reply enter together."""
        with self._lock:
            rule.live = True
            self._rules = (rule, *self._rules) if rule.first else (*self._rules, rule)
        return rule

    def extend(self, rules: list[Rule]) -> None:
        """Append rules in the order given (a loaded file's rules, already ordered)."""
        self.insert([], rules)

    def insert(self, front: list[Rule], back: list[Rule]) -> None:
        """Put `front` before every rule and `back` after them, at once (a batch enters whole)."""
        with self._lock:
            for rule in (*front, *back):
                rule.live = True
            self._rules = (*front, *self._rules, *back)

    def move_to_front(self, rule: Rule) -> None:
        with self._lock:
            rule.first = True
            if rule in self._rules:
                self._rules = (rule, *(r for r in self._rules if r is not rule))

    def set_times(self, rule: Rule, n: int) -> None:
        """The rule answers `n` requests in all, counting any it answered already (`times(0)`: none;
        the rule stays listed)."""
        with self._lock:
            rule.remaining = n - rule.served

    def remove(self, rule: Rule) -> None:
        with self._lock:
            self._remove(rule)

    def _remove(self, rule: Rule) -> None:
        rule.live = False
        self._rules = tuple(r for r in self._rules if r is not rule)

    def set_fallback(self, reply: Resolver) -> None:
        if reply is not None and not callable(reply):
            normalise_reply(reply)  # reject a malformed fallback now, not at request time
        self._fallback = reply

    @property
    def fallback(self) -> Resolver:
        """The reply when no rule matches, as set (None: the default text)."""
        return self._fallback

    def replace(self, rules: list[Rule], fallback: Resolver = None) -> None:
        """Swap the whole rule set at once (watch mode): no request sees a half-loaded set."""
        with self._lock:
            for rule in self._rules:
                rule.live = False
            self._rules = tuple(rules)
            for rule in self._rules:
                rule.live = True
            self._fallback = fallback
            self._replays.clear()
            self.retired.clear()

    def clear(self) -> None:
        self.replace([])

    # -- reading --------------------------------------------------------------------------
    def snapshot(self) -> tuple[Rule, ...]:
        """The rules in matching order, as they are now."""
        return self._rules

    @property
    def rules(self) -> list[RuleSummary]:
        return [RuleSummary(r.description, float("inf") if r.remaining is None else r.remaining)
                for r in self._rules]

    def __len__(self) -> int:
        return len(self._rules)

    def is_done(self) -> bool:
        return all(rule.done for rule in self._rules)

    # -- answering ------------------------------------------------------------------------
    def resolve(self, request: MockRequest, use_fallback: bool = True) -> Optional[Resolution]:
        """Choose the rule for `request`, consume it, and produce its reply (None when no rule
        matches and `use_fallback` is false)."""
        retry = request.retry_count > 0
        key = (request.path, request.body) if request.body is not None else None
        if key is not None:
            resolution = self._replays.get(key) if retry else None
            if resolution is not None:
                return Resolution(resolution.reply, resolution.options, resolution.rule, resolution.chaos, True)
            self._replays.forget(key)  # a fresh attempt: its retries must not replay an older answer
        rule, resolver, options = self._choose(request)
        if rule is None:
            return self.answer_fallback(request) if use_fallback else None
        reply = self._call(resolver, request, rule.description)
        resolution = Resolution(reply, options, rule.description, rule.chaos)
        if key is not None and reply.error is None and reply.fault is None:  # failures are retried afresh
            self._replays.remember(key, resolution)
        return resolution

    def answer_fallback(self, request: MockRequest) -> Resolution:
        """The fallback's answer to `request` (the default text when none is set)."""
        reply = self._call(self._fallback if self._fallback is not None else DEFAULT_FALLBACK, request, "fallback")
        return Resolution(reply, ReplyOptions(), None)

    def _choose(self, request: MockRequest) -> tuple:
        """(rule, resolver, options) of the first live rule that matches, consumed; (None, …) if none."""
        for rule in self._rules:  # this tuple is never mutated: matchers run without the lock
            if not rule.live or (rule.remaining is not None and rule.remaining <= 0):
                continue
            try:
                matched = rule.test(request)
            except Exception as exc:  # a user's predicate: report it as this rule's failure
                raise RuleError(rule.description, exc) from exc
            if matched:
                with self._lock:
                    if rule.live and (rule.remaining is None or rule.remaining > 0):
                        return (rule, *self._consume(rule))
        return None, None, None

    def _consume(self, rule: Rule) -> tuple[Resolver, ReplyOptions]:
        if rule.remaining is not None:
            rule.remaining -= 1
            if rule.remaining <= 0:
                self._remove(rule)
                self.retired.append(rule)
        step = rule.served
        rule.served += 1
        if rule.sequence is None:
            return rule.resolver, rule.options
        reply, options = rule.sequence[min(step, len(rule.sequence) - 1)]
        return reply, options.over(rule.options)

    @staticmethod
    def _call(resolver: Resolver, request: MockRequest, description: str) -> ReplyObject:
        try:
            value = resolver(request) if callable(resolver) else resolver
            if hasattr(value, "__await__"):  # an async reply callable
                import asyncio  # here: asyncio costs the CLI's start more than the rest of it

                value = asyncio.run(_awaited(value))
            if value is None and callable(resolver):
                raise TypeError("the reply callable returned None (a missing `return`?)")
            return normalise_reply(value)
        except Exception as exc:
            raise RuleError(description, exc) from exc


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
