"""Failure simulation: where a fault cuts a stream, what follows the cut, and seeded chaos.

The adapters say what an in-band error or an early end looks like in their format; this module
decides where it happens, the same way for all of them.
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Optional

from .formats.base import Events, Frame
from .replies import FAULT_KINDS, ErrorReply, Fault


@dataclass
class Cut:
    """A faulty stream: the frames to send, then how the connection ends.

    end: `body` (finish the chunked body cleanly), `close` (close without finishing it),
    `reset` (TCP reset), `stall` (hold the connection open, then close).
    """

    frames: list
    end: str = "body"


CONNECTION_END = {"disconnect": "close", "reset": "reset", "stall": "stall"}
"""How each transport fault ends the connection (see `Cut.end`)."""


def cut_index(frames: list, fault: Fault) -> int:
    """Index of the first frame not sent: after `after_events`, or once `after_chars` characters of
    text went out; halfway through the stream when neither is given."""
    if fault.after_events is not None:
        return max(0, min(fault.after_events, len(frames)))
    if fault.after_chars is not None:
        sent = 0
        for index, frame in enumerate(frames):
            if sent >= fault.after_chars:
                return index
            sent += frame.chars
        return len(frames)
    return len(frames) // 2


def apply_fault(adapter, events: Events, fault: Fault) -> Cut:
    """The frames of `events` as `fault` leaves them."""
    frames = events.frames
    kind = fault.kind
    if kind == "empty":
        return Cut([])
    if kind == "incomplete":  # already a truncated completion: the stream itself is whole
        return Cut(frames + ([Frame(adapter.terminator)] if adapter.terminator else []))
    at = cut_index(frames, fault)
    head = frames[:at]
    if kind in ("error", "failed"):
        return Cut(head + adapter.inband_error(events, at, fault.error, kind))
    if kind == "truncate":
        return Cut(head + adapter.early_end(events, at))
    if kind == "malformed":
        tail = frames[at:] + ([Frame(adapter.terminator)] if adapter.terminator else [])
        return Cut(head + [Frame(adapter.malformed)] + tail)
    return Cut(head, CONNECTION_END[kind])


@dataclass
class Chaos:
    """Seeded random failures: `error_rate` answers with one of `error_statuses`; `faults` maps a
    fault kind to its rate. The n-th request's fate depends only on `seed` and n, so a failing run
    replays exactly with the same seed."""

    seed: Optional[int] = 0
    error_rate: float = 0.0
    error_statuses: tuple = (429, 500, 503)
    faults: dict = field(default_factory=dict)
    retry_after: Optional[float] = None

    def __post_init__(self):
        unknown = set(self.faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind(s) in chaos: {', '.join(sorted(unknown))}")
        rates = [self.error_rate, *self.faults.values()]
        if any(not isinstance(r, (int, float)) or r < 0 for r in rates) or sum(rates) > 1:
            raise ValueError("chaos rates must be non-negative and add up to at most 1")
        self.error_statuses = tuple(self.error_statuses)

    def decide(self, ordinal: int) -> tuple:
        """(ErrorReply or None, Fault or None) for the `ordinal`-th request."""
        rng = random.Random(f"{self.seed}:{ordinal}")
        roll = rng.random()
        if roll < self.error_rate:
            status = self.error_statuses[rng.randrange(len(self.error_statuses))]
            return ErrorReply(status, retry_after=self.retry_after), None
        threshold = self.error_rate
        for kind in sorted(self.faults):
            threshold += self.faults[kind]
            if roll < threshold:
                return None, Fault(kind, after_events=rng.randrange(0, 12), stall_ms=2000)
        return None, None


class Counter:
    """A thread-safe request counter (the chaos ordinal)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._value = 0

    def next(self) -> int:
        with self._lock:
            self._value += 1
            return self._value

    def reset(self) -> None:
        with self._lock:
            self._value = 0
