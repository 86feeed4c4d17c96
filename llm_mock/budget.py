"""The byte budget: request bodies kept after their answer (`history_max_bytes`, 64 MiB by default).

Two things keep request bodies once a request is answered: the history (each entry's body, so
tests can look at it) and the engine's retry-replay memory (keyed by the body, so a retry gets its
first attempt's answer). Capped only by count, 600 requests with a 1 MiB prompt held 600 MiB. Both
now report the bodies they keep here, under one budget: past it, the oldest bodies go first, and
every holder of a dropped body is told to let go of it (a history entry keeps its status, rule and
timing and says its body was dropped; a replay record is forgotten, so a retry of that request is
answered afresh).

A body kept by both (the same bytes object, as the history and the replay memory share it) counts
once. The bookkeeping is one small list per body, so that it costs the request path little.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Protocol


class Holder(Protocol):
    def drop_kept(self) -> None:
        """Let go of the body kept under the budget (called without the budget's lock held)."""


class ByteBudget:
    """Bodies kept by holders, oldest first; `limit` 0 means no limit (nothing is tracked)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.total = 0
        self._lock = threading.Lock()
        self._kept: OrderedDict = OrderedDict()  # id(body) → [body, holder, holder …], oldest first

    def keep(self, holder: Holder, body: Any) -> None:
        """`holder` keeps `body` (empty ones cost nothing). Over the limit, the oldest bodies are
        dropped and their holders told."""
        if not self.limit or not body:
            return
        kept = self._kept
        with self._lock:
            record = kept.get(id(body))
            if record is None or record[0] is not body:
                kept[id(body)] = [body, holder]
                self.total += len(body)
            elif holder not in record:
                record.append(holder)
            if self.total <= self.limit:
                return
            dropped: list = []
            while self.total > self.limit and kept:
                _, record = kept.popitem(last=False)
                self.total -= len(record[0])
                dropped += record[1:]
        for other in dropped:
            other.drop_kept()

    def release(self, holder: Holder, body: Any) -> None:
        """`holder` let go of `body` by itself (evicted by count, cleared, replaced)."""
        if not self.limit or not body:
            return
        with self._lock:
            record = self._kept.get(id(body))
            if record is None or record[0] is not body or holder not in record:
                return
            record.remove(holder)
            if len(record) == 1:
                del self._kept[id(body)]
                self.total -= len(body)

    def __repr__(self) -> str:
        return f"ByteBudget({self.total} of {self.limit or 'unlimited'} bytes, {len(self._kept)} bodies)"
