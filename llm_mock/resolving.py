"""Which answer a completion request gets: a rule, else the fallback, or in strict mode a 404 that
names the closest rules (and, with recordings loaded, the closest recording and what differs).
Strict replay (`replay="strict"`) is strict mode. When no rule matches, the near misses go on the
journal entry."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .engine import Resolution
from .near_miss import Candidate, near_misses, strict_message
from .replies import ErrorReply, ReplyObject, ReplyOptions

STRICT_HEADER = "x-llm-mock-strict"
_TRUE = ("1", "true", "yes", "on")


def is_strict(app: Any, request: Any) -> bool:
    """The server's `strict` option (or strict replay), or the request's `x-llm-mock-strict: 1`."""
    value = request.headers.get(STRICT_HEADER)
    if value is not None:
        return value.strip().lower() in _TRUE
    return bool(app.options.strict) or app.options.replay == "strict"


def resolve(app: Any, request: Any, entry: Any, session: Any = None) -> Resolution:
    """The resolution of `request`: the session's rules, then the server's, then the fallback (the
    session's if it set one). Fills `entry.near_misses` (when unmatched) and `entry.reply`."""
    resolution = None
    if session is not None:
        resolution = session.engine.resolve(request, use_fallback=False)
    if resolution is None:
        resolution = app.engine.resolve(request, use_fallback=False)
    if resolution is None:
        if is_strict(app, request):
            resolution = strict_miss(app, request, entry, session)
        else:
            entry.near_misses = near_misses(request, _weighed(app, session))
            owner = session if session is not None and session.engine.fallback is not None else app
            resolution = owner.engine.answer_fallback(request)
    entry.reply = resolution.reply
    return resolution


def strict_miss(app: Any, request: Any, entry: Any, session: Any = None, note: str = "") -> Resolution:
    """The strict-mode 404 for `request`: its near misses (also put on the journal entry), the
    closest recording when recordings are loaded, and `note` (why a matching recording did not count)."""
    misses = [miss for miss in near_misses(request, _weighed(app, session)) if miss.failed]  # not the stale one
    entry.near_misses = misses
    engines = _engines(app, session)
    known = sum(len(engine) + len(engine.retired) for engine in engines)
    elsewhere = sum(len(other.engine) for other in app.sessions.all() if other is not session)
    message = strict_message(request, entry.method, entry.path.partition("?")[0], misses, known, elsewhere)
    if note and not misses:  # the stale recording is the only one close: the note says why it failed
        message = message.removesuffix(" No rule came close.")
    recordings = getattr(app, "recordings", None)
    recording = recordings.closest_note(request, [rule for engine in engines for rule in engine.snapshot()]) \
        if recordings is not None else None
    message += "".join(f" {part}" for part in (note, recording) if part)
    error = ErrorReply(404, message, code="no_rule_matched", should_retry=False)
    return Resolution(ReplyObject(error=error), ReplyOptions(), None, outcome="unmatched")


def _engines(app: Any, session: Any) -> list:
    return [app.engine] if session is None else [session.engine, app.engine]


def _weighed(app: Any, session: Any) -> Iterator[Candidate]:
    """The near-miss candidates: the session's rules, the server's, then other sessions' (which
    could not match here, and count only when that is all that failed). Lazily: the report weighs
    a bounded number."""
    if session is not None:
        yield from candidates(session.engine, session.name)
    yield from candidates(app.engine)
    for other in app.sessions.all():
        if other is not session:
            for index, rule in enumerate(other.engine.snapshot()):
                yield Candidate(rule, index, other.name, foreign=True)


def candidates(engine: Any, session: Any = None) -> list:
    """The rules a near-miss report weighs: the live ones in order, then the used-up ones."""
    live = [Candidate(rule, index, session) for index, rule in enumerate(engine.snapshot())]
    return live + [Candidate(rule, None, session) for rule in reversed(engine.retired)]
