"""Seeded chaos: random errors and faults whose sequence replays exactly from a seed."""
from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional, Union

from .replies import FAULT_KINDS, ErrorReply, Fault


@dataclass
class Chaos:
    """Seeded random failures: `error_rate` answers with one of `error_statuses`; `faults` maps a
    fault kind to its rate. The n-th request's fate depends only on `seed` and n, so a failing run
    replays exactly with the same seed."""

    seed: Union[int, str, None] = 0
    error_rate: float = 0.0
    error_statuses: Sequence[int] = (429, 500, 503)  # kept as a tuple
    faults: dict[str, float] = field(default_factory=dict)
    retry_after: Optional[float] = None

    def __post_init__(self) -> None:
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, (int, str))):
            raise ValueError(f"chaos seed must be an integer or a string, not {self.seed!r}")
        if not isinstance(self.faults, dict):
            raise ValueError(f"chaos faults must map fault kinds to rates, not {self.faults!r}")
        unknown = set(self.faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind(s) in chaos: {', '.join(sorted(map(str, unknown)))}")
        rates = [self.error_rate, *self.faults.values()]
        if any(isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r <= 1 for r in rates) \
                or sum(rates) > 1:
            raise ValueError("chaos rates must be numbers from 0 to 1 that add up to at most 1")
        if isinstance(self.error_statuses, (str, bytes)) or not hasattr(self.error_statuses, "__iter__"):
            raise ValueError(f"chaos error_statuses must be a list of HTTP statuses, not {self.error_statuses!r}")
        self.error_statuses = tuple(self.error_statuses)
        if not self.error_statuses or not all(
                isinstance(s, int) and not isinstance(s, bool) and 400 <= s <= 599 for s in self.error_statuses):
            raise ValueError(f"chaos error_statuses must be HTTP error statuses (400-599), "
                             f"not {list(self.error_statuses)!r}")
        if self.retry_after is not None and (isinstance(self.retry_after, bool) or
                                             not isinstance(self.retry_after, (int, float)) or self.retry_after < 0):
            raise ValueError(f"chaos retry_after must be a number of seconds, 0 or more, not {self.retry_after!r}")

    def decide(self, ordinal: int) -> tuple[Optional[ErrorReply], Optional[Fault]]:
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

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def next(self) -> int:
        with self._lock:
            self._value += 1
            return self._value

    def reset(self) -> None:
        with self._lock:
            self._value = 0
