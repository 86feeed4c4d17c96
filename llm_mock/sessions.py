"""Sessions: many tests, one server.

A request names its session with the header `x-llm-mock-session: ID`, or, for clients that only
take a base URL, with the path prefix `/session/{ID}` before any route. Each session has its own
rules, sequences and `times` counts, fallback, next errors and journal; the server's own rules (the
global ones) apply to every session after the session's. Sessions are created on first use and
removed by `DELETE /__llm_mock/sessions/{ID}`, by `reset()` of the server, or, least recently used
first, when `max_sessions` are open and another is named; each keeps at most
`session_history_limit` journal entries.
"""
from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Optional, Protocol
from urllib.parse import quote, unquote

from .builder import RuleBuilder
from .engine import RuleEngine
from .history import RequestHistory
from .request import RequestError


class Server(Protocol):
    """What a session needs of the server it belongs to (the `MockServer`, which imports this module)."""

    log: Any

    @property
    def url(self) -> str: ...


SESSION_HEADER = "x-llm-mock-session"
PREFIX = "/session/"
_NAME = re.compile(r"^[\w.:@+=-]{1,128}$", re.ASCII)


def split(path: str, headers: Mapping[str, str]) -> tuple[Optional[str], str]:
    """(session name or None, the path without its `/session/{ID}` prefix)."""
    if path.startswith(PREFIX):
        name, slash, rest = path[len(PREFIX):].partition("/")
        return unquote(name), slash + rest or "/"
    return headers.get(SESSION_HEADER), path


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise RequestError(f"invalid session name {name!r}: use 1 to 128 letters, digits and . _ - : @ + =",
                           "session")
    return name


class Session(RuleBuilder):
    """One session: the rule-building API over its own engine, and its own journal."""

    def __init__(self, name: str, app: Server, history_limit: int):
        super().__init__(RuleEngine())
        self.name = name
        self.app = app
        self.history = RequestHistory(history_limit)
        self.created = self.used = time.monotonic()

    @property
    def url(self) -> str:
        """The server's URL with this session's prefix: give it to a client as its base URL."""
        return f"{self.app.url}{PREFIX}{quote(self.name, safe='')}"

    def reset(self) -> None:
        """Clear this session's rules, fallback and journal (the server's rules stay)."""
        self.engine.clear()
        self.history.clear()

    def __repr__(self) -> str:
        return f"Session({self.name!r}, rules={len(self.engine)}, requests={self.history.count()})"


class Sessions:
    """The server's sessions, by name, least recently used first; at most `limit` of them."""

    def __init__(self, app: Server, limit: int = 100, history_limit: int = 1000):
        self.app = app
        self.limit = max(int(limit), 1)
        self.history_limit = history_limit
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def get(self, name: str) -> Session:
        """The session `name`, created on first use (evicting the least recently used at the limit)."""
        evicted = None
        with self._lock:
            session = self._sessions.get(name)
            if session is None:
                session = Session(check_name(name), self.app, self.history_limit)
                self._sessions[name] = session
                if len(self._sessions) > self.limit:
                    evicted = self._sessions.popitem(last=False)[1]
            else:
                self._sessions.move_to_end(name)
            session.used = time.monotonic()
        if evicted is not None:
            self.app.log.warning(f"session {evicted.name} evicted: more than {self.limit} sessions "
                                 "(max_sessions); remove finished ones with DELETE /__llm_mock/sessions/{id}")
        return session

    def find(self, name: str) -> Optional[Session]:
        return self._sessions.get(name)

    def remove(self, name: str) -> Optional[Session]:
        with self._lock:
            return self._sessions.pop(name, None)

    def all(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    def clear(self) -> int:
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
        return count

    def __len__(self) -> int:
        return len(self._sessions)
