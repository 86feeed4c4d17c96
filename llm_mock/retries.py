"""The retry-replay memory: what each recent request was answered, so that an SDK's retry of it
gets the same answer (see `engine.py`). Keyed by path and body; at most `CAP` requests, and their
bodies count against the server's byte budget (`budget.py`): dropped from there, a request is
forgotten and its retry answered afresh."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Optional

CAP = 1024


class _Record:
    """One remembered answer; the budget's holder of its body."""

    __slots__ = ("memory", "key", "resolution")

    def __init__(self, memory: ReplayMemory, key: tuple, resolution: Any):
        self.memory, self.key, self.resolution = memory, key, resolution

    def drop_kept(self) -> None:
        self.memory._forget_record(self)


class ReplayMemory:
    """Thread-safe, oldest forgotten first. The lock is re-entrant: keeping a body may drop older
    ones, this memory's among them, in the same thread."""

    def __init__(self, budget: Any = None, cap: int = CAP):
        self.budget, self.cap = budget, cap
        self._lock = threading.RLock()
        self._records: OrderedDict = OrderedDict()  # key → _Record

    def get(self, key: tuple) -> Optional[Any]:
        record = self._records.get(key)
        return record.resolution if record is not None else None

    def forget(self, key: tuple) -> None:
        if key not in self._records:  # the usual case, without the lock: a fresh request
            return
        with self._lock:
            self._let_go(self._records.pop(key, None))

    def remember(self, key: tuple, resolution: Any) -> None:
        record = _Record(self, key, resolution)
        with self._lock:
            self._let_go(self._records.pop(key, None))
            self._records[key] = record
            if len(self._records) > self.cap:
                self._let_go(self._records.popitem(last=False)[1])
            if self.budget is not None:
                self.budget.keep(record, key[1])

    def clear(self) -> None:
        with self._lock:
            for record in self._records.values():
                self._let_go(record)
            self._records.clear()

    def __len__(self) -> int:
        return len(self._records)

    def _let_go(self, record: Optional[_Record]) -> None:
        if record is not None and self.budget is not None:
            self.budget.release(record, record.key[1])

    def _forget_record(self, record: _Record) -> None:
        with self._lock:
            if self._records.get(record.key) is record:
                del self._records[record.key]
