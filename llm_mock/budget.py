"""The byte budget: request bodies kept after their answer (`history_max_bytes`, 64 MiB by default).

Two things keep request bodies once a request is answered: the history (each entry's body and
headers, so tests can look at them) and the engine's retry-replay memory (keyed by the body, so a
retry gets its first attempt's answer). Capped only by count, 600 requests with a 1 MiB prompt held
600 MiB. Both now report what they keep here, under one budget: past it, the oldest pieces go first,
and every holder of a dropped piece is told to let go of all it keeps (a history entry keeps its
status, rule and timing and says its body was dropped; a replay record is forgotten, so a retry of
that request is answered afresh).

A piece kept by both (the same body object in the history and the replay memory) counts once.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Protocol


class Holder(Protocol):
    def drop_kept(self) -> None:
        """Let go of every piece kept under the budget (called without any budget lock held)."""


class _Piece:
    __slots__ = ("value", "size", "holders")

    def __init__(self, value: Any, size: int, holder: Any):
        self.value, self.size, self.holders = value, size, [holder]


class ByteBudget:
    """Bytes kept by holders, oldest piece first; `limit` 0 means no limit (nothing is tracked)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.total = 0
        self._lock = threading.Lock()
        self._pieces: OrderedDict = OrderedDict()  # id(value) → _Piece, oldest first
        self._held: dict = {}  # holder → the ids of its pieces

    def keep(self, holder: Holder, *values: Any) -> None:
        """`holder` keeps `values` (bytes or str; empty ones cost nothing). Over the limit, the oldest
        pieces are dropped, and their holders let go of everything they keep."""
        if not self.limit:
            return
        pieces = self._pieces
        with self._lock:
            ids = self._held.get(holder)
            if ids is None:
                ids = self._held[holder] = []
            for value in values:
                if not value:
                    continue
                key = id(value)
                piece = pieces.get(key)
                if piece is None or piece.value is not value:
                    pieces[key] = _Piece(value, len(value), holder)
                    self.total += len(value)
                elif holder not in piece.holders:
                    piece.holders.append(holder)
                ids.append(key)
            if self.total <= self.limit:
                return
            dropped: list = []
            while self.total > self.limit and pieces:
                _, piece = pieces.popitem(last=False)
                self.total -= piece.size
                for other in piece.holders:
                    dropped.append(other)
                    self._release(other)
        for other in dropped:
            other.drop_kept()

    def release(self, holder: Holder) -> None:
        """`holder` let go of what it kept by itself (evicted by count, cleared)."""
        if not self.limit:
            return
        with self._lock:
            self._release(holder)

    def _release(self, holder: Holder) -> None:
        for key in self._held.pop(holder, ()):
            piece = self._pieces.get(key)
            if piece is None or holder not in piece.holders:
                continue
            piece.holders.remove(holder)
            if not piece.holders:
                del self._pieces[key]
                self.total -= piece.size

    def __repr__(self) -> str:
        return f"ByteBudget({self.total} of {self.limit or 'unlimited'} bytes, {len(self._pieces)} pieces)"
