"""Stored Responses: what `previous_response_id`, retrieve, delete, input_items and background need.

Every Responses request that does not say `store: false` leaves a `StoredResponse`: the request's
own input (as the client sent it), the output items, the final response object, when it streamed
what re-renders its events (for resumption), and, in background mode, its clock. The store is bounded
by count and by bytes (oldest first out, like the history) and emptied by `MockServer.reset()`.

A background response's status is a function of time, not of a worker thread: it is `queued`
until the moment its first events would have been sent, `in_progress` until its last, then final,
so polling shows the rule's pacing (latency, ttft, tokens per second) without any thread running.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Optional

DEFAULT_LIMIT = 1000  # responses kept
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # their approximate size in all


class StoredResponse:
    """One stored response. `response` is the final object; `events` None, or a function returning
    the stream's events (bytes, in `sequence_number` order): re-rendered when asked for rather than
    kept, as few streams are ever asked for again. `queued_until` / `done_at` are seconds after
    `started` (both 0 for a response that was complete when stored)."""

    __slots__ = ("id", "response", "raw_input", "output", "previous_id", "events", "background", "started",
                 "queued_until", "done_at", "cancelled", "size", "_items")

    def __init__(self, response: dict, raw_input: Any, output: list, previous_id: Optional[str],
                 events: Optional[Callable[[], list]] = None, size: int = 0):
        self.id: str = response["id"]
        self.response, self.raw_input, self.output = response, raw_input, output
        self.previous_id, self.events, self.size = previous_id, events, size
        self.background = bool(response.get("background"))
        self.started, self.queued_until, self.done_at = time.monotonic(), 0.0, 0.0
        self.cancelled: Optional[dict] = None
        self._items: Optional[list] = None

    def clock(self, queued_until: float, done_at: float) -> None:
        """Run in the background: `queued` until `queued_until` s from now, in progress until `done_at`."""
        self.started, self.queued_until, self.done_at = time.monotonic(), queued_until, max(done_at, queued_until)

    @property
    def status(self) -> str:
        if self.cancelled is not None:
            return "cancelled"
        elapsed = time.monotonic() - self.started
        if elapsed >= self.done_at:
            return str(self.response["status"])
        return "queued" if elapsed < self.queued_until else "in_progress"

    def view(self) -> dict:
        """The response object as a client polling now sees it."""
        if self.cancelled is not None:
            return self.cancelled
        status = self.status
        if status == self.response["status"]:
            return self.response
        return {**self.response, "status": status, "output": [], "usage": None, "completed_at": None, "error": None,
                "incomplete_details": None}

    def cancel(self) -> dict:
        """Stop a queued or in-progress response (`cancelled`); a finished one stays as it is."""
        if self.cancelled is None and self.status in ("queued", "in_progress"):
            self.cancelled = {**self.view(), "status": "cancelled"}
        return self.view()

    def input_items(self, normalise: Any) -> list:
        """The request's own input as items with ids, fixed on first use (`normalise(raw_input)`)."""
        if self._items is None:
            self._items = normalise(self.raw_input)
        return self._items


class ResponseStore:
    """Thread-safe, bounded `id → StoredResponse`."""

    def __init__(self, limit: int = DEFAULT_LIMIT, max_bytes: int = DEFAULT_MAX_BYTES):
        self.limit, self.max_bytes = limit, max_bytes
        self._lock = threading.Lock()
        self._records: OrderedDict = OrderedDict()
        self._bytes = 0

    def put(self, record: StoredResponse) -> None:
        with self._lock:
            old = self._records.pop(record.id, None)
            if old is not None:
                self._bytes -= old.size
            self._records[record.id] = record
            self._bytes += record.size
            while len(self._records) > 1 and (len(self._records) > self.limit or self._bytes > self.max_bytes):
                _, dropped = self._records.popitem(last=False)
                self._bytes -= dropped.size

    def get(self, response_id: str) -> Optional[StoredResponse]:
        return self._records.get(response_id)

    def delete(self, response_id: str) -> bool:
        with self._lock:
            record = self._records.pop(response_id, None)
            if record is not None:
                self._bytes -= record.size
            return record is not None

    def chain(self, response_id: str) -> list:
        """The items a request chained to `response_id` continues from, oldest first: each earlier
        response's own input then its output. `KeyError` if `response_id` is not stored; the walk
        back stops at a response no longer stored."""
        record = self._records.get(response_id)
        if record is None:
            raise KeyError(response_id)
        turns, seen = [], set()
        while record is not None and record.id not in seen:
            seen.add(record.id)
            raw = record.raw_input
            own = [{"role": "user", "content": raw}] if isinstance(raw, str) else list(raw or ())
            output = record.output if record.cancelled is None else []
            turns.append(own + list(output))
            record = self._records.get(record.previous_id) if record.previous_id else None
        return [item for turn in reversed(turns) for item in turn]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, response_id: object) -> bool:
        return response_id in self._records
