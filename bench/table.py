"""Rows of the bench and the two tables they print: llm_mock against the ceiling (what this machine
can do at all), and llm_mock against each peer (what a user would run instead), as ratios."""
from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

MOCK, CEILING = "llm_mock", "ceiling"
LEAD = "aimock"  # the peer the targets read against: the fastest one


@dataclass
class Row:
    """One line of the tables. `target` reads against `ceiling`, `peer_target` against the lead peer."""

    name: str
    value: Optional[float]
    unit: str = ""
    ceiling: Optional[float] = None
    target: str = ""
    ok: Optional[bool] = None
    note: str = ""
    peers: dict = field(default_factory=dict)  # peer name -> its value in the same rounds
    peer_target: str = ""
    peer_ok: Optional[bool] = None

    @property
    def ratio(self) -> Optional[float]:
        return self.value / self.ceiling if self.value is not None and self.ceiling else None

    def peer_ratio(self, peer: str) -> Optional[float]:
        """llm_mock / peer (above 1 is better for a rate, below 1 for a time or a size)."""
        other = self.peers.get(peer)
        return self.value / other if self.value is not None and other else None

    def as_json(self) -> dict:
        return dict(vars(self), ratio=self.ratio, peer_ratios={name: self.peer_ratio(name) for name in self.peers})


class Samples:
    """One metric's values per server over the rounds; the tables show medians."""

    def __init__(self):
        self.values: dict = {}

    def add(self, side: str, value) -> None:
        self.values.setdefault(side, []).append(value)

    def median(self, side: str) -> Optional[float]:
        values = self.values.get(side)
        return statistics.median(values) if values else None

    def worst(self, side: str, pick=max) -> Optional[float]:
        values = self.values.get(side)
        return pick(values) if values else None

    def peers(self, pick=None) -> dict:
        """Peer name -> its median (or `pick(name)`)."""
        pick = pick or self.median
        return {side: pick(side) for side in self.values if side not in (MOCK, CEILING)}


def percentile(values: list, p: float) -> float:
    """Nearest-rank percentile of unsorted `values`."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


# checks: (llm_mock's value, the other's value) -> bool
def at_least(ratio: float) -> Callable:
    return lambda value, other: value is not None and other is not None and value >= ratio * other


def at_most_ratio(ratio: float) -> Callable:
    return lambda value, other: value is not None and other is not None and value <= ratio * other


def at_most(limit: float) -> Callable:
    return lambda value, other: value is not None and value <= limit


def both(*checks: Callable) -> Callable:
    return lambda value, other: all(check(value, other) for check in checks)


def unless_failed(failed: str, check: Callable) -> Callable:
    """`check`, and no request of the rounds failed."""
    return lambda value, other: not failed and check(value, other)


def row(name: str, samples: Samples, unit: str, target: str = "", check: Optional[Callable] = None,
        note: str = "", vs_peer: tuple = ()) -> Row:
    """A row of medians; `vs_peer` is (target text, check[, absolute]) against the lead peer."""
    value, ceiling = samples.median(MOCK), samples.median(CEILING)
    made = Row(name, value, unit, ceiling, target, check(value, ceiling) if check else None, note, samples.peers())
    return with_peer_target(made, *vs_peer) if vs_peer else made


def with_peer_target(made: Row, target: str, check: Callable, absolute: bool = False) -> Row:
    """Judge `made` against the lead peer's value, when it ran (always, for an `absolute` target)."""
    made.peer_target = target
    if LEAD in made.peers or absolute:
        made.peer_ok = check(made.value, made.peers.get(LEAD))
    return made


# -- printing ---------------------------------------------------------------------------------
def fmt(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value != value:
        return "nan"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100 or float(value).is_integer():
        text = f"{value:.0f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".rstrip()


def fmt_ratio(ratio: Optional[float]) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"


def verdict(ok: Optional[bool], note: str = "") -> str:
    return {True: "PASS", False: "FAIL", None: ""}[ok] + (f"  {note}" if note else "")


def print_lines(header: tuple, lines: list) -> None:
    """Left-align the first column, right-align the others but the last (free text)."""
    last = len(header) - 1
    widths = [max(len(line[i]) for line in lines + [header]) for i in range(last)]
    print()
    for line in [header, tuple("-" * w for w in widths) + ("------",)] + lines:
        print("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) if i < last else cell
                        for i, cell in enumerate(line)).rstrip())


def print_ceiling_table(rows: list) -> None:
    header = ("row", "llm_mock", "ceiling", "ratio", "target", "result")
    print_lines(header, [(r.name, fmt(r.value, r.unit), fmt(r.ceiling, r.unit), fmt_ratio(r.ratio),
                          r.target or "-", verdict(r.ok, r.note)) for r in rows])


def peer_names(rows: list) -> list:
    names: list = []
    for r in rows:
        names += [name for name in r.peers if name not in names]
    return sorted(names, key=lambda name: (name != LEAD, name))


def print_peer_table(rows: list) -> None:
    """llm_mock against each peer: the peer's value and llm_mock / peer, then the target against the lead."""
    compared = [r for r in rows if r.peers]
    names = peer_names(compared)
    if not compared:
        return
    header = ("row", "llm_mock", *(cell for name in names for cell in (name, f"/ {name}")),
              f"target vs {LEAD}", "result")
    lines = [(r.name, fmt(r.value, r.unit),
              *(cell for name in names for cell in (fmt(r.peers.get(name), r.unit), fmt_ratio(r.peer_ratio(name)))),
              r.peer_target or "-", verdict(r.peer_ok)) for r in compared]
    print_lines(header, lines)
