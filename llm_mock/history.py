"""The request journal: every request, bounded by count (`history_limit`) and by the bytes of the
bodies it keeps (`history_max_bytes`, shared with the retry-replay memory: `budget.py`), stored
compactly and parsed again only on access."""
from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from .budget import ByteBudget
    from .near_miss import NearMiss
    from .replies import ReplyObject
    from .request import MockRequest

_ids = itertools.count(1)
_record_lock = threading.Lock()  # ids grow in journal order, across every journal of the process


class RecordedRequest:
    """One request as it was answered. `request` is the normalised request, rebuilt on first access
    from the stored body (so a long history costs its raw bytes, not parsed objects). `flags` are
    warnings about how it was answered (a recording replayed to a changed system prompt)."""

    __slots__ = ("format", "method", "path", "_headers", "body", "rule", "status", "timestamp",
                 "duration_ms", "outcome", "_request", "_parse", "id", "session", "near_misses", "reply", "flags",
                 "body_dropped")

    def __init__(self, format: Optional[str], method: str, path: str, headers: Iterable[tuple[str, str]], body: bytes,
                 rule: Optional[str], status: int, timestamp: float, duration_ms: float, outcome: str,
                 request: Optional[MockRequest] = None,
                 parse: Optional[Callable[[RecordedRequest], Optional[MockRequest]]] = None):
        self.format, self.method, self.path = format, method, path
        self._headers = "\n".join(map(":".join, headers))  # one string, not 2n+1 objects
        self.body, self.rule, self.status, self.timestamp = body, rule, status, timestamp
        self.duration_ms, self.outcome, self._request, self._parse = duration_ms, outcome, request, parse
        self.id = 0  # set when recorded: unique in the process, growing in journal order
        self.session: Optional[str] = None
        self.near_misses: Optional[list[NearMiss]] = None  # a list (maybe empty) when no rule matched the request
        self.reply: Optional[ReplyObject] = None  # the ReplyObject a rule or the fallback gave
        self.flags: tuple[str, ...] = ()
        self.body_dropped = False  # True once the byte budget took the body back

    def drop_kept(self) -> None:
        """Let go of the body (the byte budget is spent; the oldest go first). Status, rule, outcome,
        timing and headers stay; `body_dropped` says why `body` is empty."""
        self.body, self._request, self._parse = b"", None, None
        self.body_dropped = True

    @property
    def headers(self) -> dict[str, str]:
        """Lower-cased names; a repeated header's values joined with ", ", as the rules saw them."""
        headers: dict[str, str] = {}
        for line in self._headers.split("\n") if self._headers else ():
            name, _, value = line.partition(":")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return headers

    def keep(self, request: MockRequest) -> None:
        """Hold the parsed request itself: it was built from server state (a stored conversation)
        that its bytes alone cannot restore later."""
        self._request, self._parse = request, None

    @property
    def request(self) -> Optional[MockRequest]:
        """The `MockRequest` (None when the body could not be parsed)."""
        if self._request is None and self._parse is not None:
            try:
                self._request = self._parse(self)
            except Exception:
                self._parse = None
        return self._request

    def peek_request(self) -> Optional[MockRequest]:
        """The normalised request, without keeping it (for readers that go through a whole journal)."""
        if self._request is not None or self._parse is None:
            return self._request
        try:
            return self._parse(self)
        except Exception:
            return None

    def __getattr__(self, name: str) -> Any:
        # `entry.last_message`, `entry.model` …: the normalised request's fields, for short assertions.
        if name.startswith("_"):
            raise AttributeError(name)
        request = self.request
        if request is None:
            if self.body_dropped:
                raise AttributeError(f"{name}: this entry's body was dropped to stay within history_max_bytes")
            raise AttributeError(name)
        return getattr(request, name)

    def __repr__(self) -> str:
        return (f"RecordedRequest({self.method} {self.path} status={self.status} rule={self.rule!r} "
                f"outcome={self.outcome!r}{', body dropped' if self.body_dropped else ''})")


class _Snapshot(tuple[RecordedRequest, ...]):
    """`history.all` is a snapshot tuple; calling it (`history.all()`) returns the same."""

    def __call__(self) -> _Snapshot:
        return self


class RequestHistory:
    """Bounded journal of requests, newest last. Thread-safe."""

    def __init__(self, limit: int = 10_000, budget: Optional[ByteBudget] = None):
        self._entries: deque[RecordedRequest] = deque(maxlen=limit if limit and limit > 0 else None)
        self._budget = budget if budget is not None and budget.limit else None
        self._lock = threading.Lock()

    def record(self, entry: RecordedRequest) -> None:
        budget = self._budget
        with _record_lock:  # ids grow in journal order; which entry the count limit pushes out
            entry.id = next(_ids)
            if budget is not None and len(self._entries) == self._entries.maxlen:
                budget.release(self._entries[0], self._entries[0].body)  # its bytes back to the budget
            self._entries.append(entry)
        if budget is not None:
            budget.keep(entry, entry.body)

    def count(self) -> int:
        return len(self._entries)

    __len__ = count

    def first(self) -> Optional[RecordedRequest]:
        return self._entries[0] if self._entries else None

    def last(self) -> Optional[RecordedRequest]:
        return self._entries[-1] if self._entries else None

    def at(self, index: int) -> Optional[RecordedRequest]:
        try:
            return self._entries[index]
        except IndexError:
            return None

    def where(self, predicate: Callable[[RecordedRequest], bool]) -> list[RecordedRequest]:
        return [entry for entry in tuple(self._entries) if predicate(entry)]

    @property
    def all(self) -> _Snapshot:
        return _Snapshot(self._entries)

    def clear(self) -> None:
        with self._lock:
            entries = tuple(self._entries)
            self._entries.clear()
        if self._budget is not None:
            for entry in entries:
                self._budget.release(entry, entry.body)

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(tuple(self._entries))

    def __bool__(self) -> bool:
        return True
