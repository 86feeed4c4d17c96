"""Which answer a completion request gets: a rule, else the fallback, or in strict mode a 404 that
names the closest rules. When no rule matches, the near misses go on the journal entry."""
from __future__ import annotations

from typing import Any

from .engine import Resolution
from .near_miss import Candidate, near_misses, strict_message
from .replies import ErrorReply, ReplyObject, ReplyOptions

STRICT_HEADER = "x-llm-mock-strict"
_TRUE = ("1", "true", "yes", "on")


def is_strict(app: Any, request: Any) -> bool:
    """The server's `strict` option, or the request's `x-llm-mock-strict: 1`."""
    value = request.headers.get(STRICT_HEADER)
    if value is not None:
        return value.strip().lower() in _TRUE
    return bool(app.options.strict)


def resolve(app: Any, request: Any, entry: Any) -> Resolution:
    """The resolution of `request`; fills `entry.near_misses` (when unmatched) and `entry.reply`."""
    strict = is_strict(app, request)
    engine = app.engine
    resolution = engine.resolve(request, use_fallback=not strict)
    if resolution is None or resolution.rule is None:
        misses = near_misses(request, candidates(engine))
        entry.near_misses = misses
        if resolution is None:
            known = len(engine) + len(engine.retired)
            message = strict_message(request, entry.method, entry.path.partition("?")[0], misses, known)
            error = ErrorReply(404, message, code="no_rule_matched", should_retry=False)
            resolution = Resolution(ReplyObject(error=error), ReplyOptions(), None, outcome="unmatched")
    entry.reply = resolution.reply
    return resolution


def candidates(engine: Any, session: Any = None) -> list:
    """The rules a near-miss report weighs: the live ones in order, then the used-up ones."""
    live = [Candidate(rule, index, session) for index, rule in enumerate(engine.snapshot())]
    return live + [Candidate(rule, None, session) for rule in reversed(engine.retired)]
