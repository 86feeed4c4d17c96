"""Why no rule matched: the closest rules, condition by condition.

Computed only when the fallback answers (the matching hot path keeps its compiled predicates).
Each candidate rule's conditions are checked one by one against the request; the rules with the
most conditions held come first (ties: the fewest failed, then the one whose failed text is
closest to what was sent, then rule order). A failed condition says what it expected and what the request had:

    message: expected /^weather in (\\w+)/ — got "What's the weather in Paris?"
    model: expected "gpt-4" — got "claude-3-5-haiku"
    tool_name: "search" not among offered tools [get_weather]
    times: used up (3 of 3)
    session: belongs to session w2
"""
from __future__ import annotations

import os
import re
import weakref
from collections.abc import Iterable
from typing import Any, Optional

from .log import shorten
from .matching import any_request, describe_pattern, match_fields, turn_of
from .plain import Plain

LIMIT = 3
_CANDIDATES = 1000  # rules examined per unmatched request, at most
_TEXT = {"message": "last_message", "model": "model", "system": "system_message"}
_GOT = 300  # characters of the request's text a check keeps


class Check(Plain):
    """One condition of a rule against one request: `expected` as the rule shows it (`"hello"`,
    `/^hi/i`, a tool name), `got` what the request had (its text cut at 300 characters). Compact,
    as a journal holds many: the readable line is made when read."""

    __slots__ = ("name", "held", "expected", "got")

    def __init__(self, name: str, held: bool, expected: str, got: str):
        self.name, self.held, self.expected, self.got = name, held, expected, got

    @property
    def text(self) -> str:
        """`message: expected "x" — got "y"`, `tool_name: "t" not among offered tools [a]`, ..."""
        name, got = self.name, self.got
        if name in ("tool_name", "server_tool"):
            kind = "tools" if name == "tool_name" else "server tools"
            return f"{name}: {_quote(self.expected)} {'among' if self.held else 'not among'} offered {kind} {got}"
        if name == "tool_call_id":
            return f"tool_call_id: expected {_quote(self.expected)} — got {_quote(got) if got else 'no tool result'}"
        if name == "predicate":
            return f"{self.expected}: {got}"
        if name in ("times", "session"):
            return f"{name}: {got}"
        return f"{name}: expected {self.expected} — got {_quote(got)}"

    def to_json(self) -> dict:
        return {"name": self.name, "held": self.held, "expected": self.expected, "got": self.got, "text": self.text}


class NearMiss(Plain):
    """A rule that did not match, and which of its conditions held."""

    __slots__ = ("rule", "index", "id", "source", "session", "checks")

    def __init__(self, rule: str, index: Optional[int], id: int, source: str, session: Optional[str],
                 checks: tuple):
        self.rule = rule  # the rule's description
        self.index = index  # its position in its rule list; None when it was used up
        self.id = id  # the rule's id (`r12` in the admin API)
        self.source = source
        self.session = session  # the session whose rule it is (None: the server's)
        self.checks = checks

    @property
    def held(self) -> int:
        return sum(check.held for check in self.checks)

    @property
    def failed(self) -> list:
        return [check for check in self.checks if not check.held]

    @property
    def label(self) -> str:
        """`rule 2 {model=gpt-4}`, `used-up rule "x"`, `rule 0 of session w2 "x"`, plus its file."""
        where = "used-up rule" if self.index is None else f"rule {self.index}"
        if self.session is not None:
            where += f" of session {self.session}"
        origin = f" ({os.path.basename(self.source)})" if self.source not in ("api", "admin") else ""
        return f"{where} {self.rule}{origin}"

    def __str__(self) -> str:
        return f"{self.label} ({self.held} of {len(self.checks)} conditions held): " + \
            "; ".join(check.text for check in self.failed)

    @property
    def rule_id(self) -> str:
        return f"r{self.id}"

    def to_json(self) -> dict:
        return {"rule": self.rule, "index": self.index, "rule_id": self.rule_id, "source": self.source,
                "session": self.session, "held": self.held, "total": len(self.checks), "text": str(self),
                "conditions": [check.to_json() for check in self.checks]}


class Candidate(Plain):
    """A rule to explain: where it is (`index` None: used up) and whose it is."""

    __slots__ = ("rule", "index", "session", "foreign")

    def __init__(self, rule: Any, index: Optional[int], session: Optional[str] = None, foreign: bool = False):
        self.rule, self.index, self.session = rule, index, session
        self.foreign = foreign  # another session's rule: it cannot match this request whatever it says


def near_misses(request: Any, candidates: Iterable[Candidate], limit: int = LIMIT) -> list:
    """The `limit` closest rules of `candidates` to `request`, closest first."""
    ranked = []
    for order, candidate in enumerate(candidates):
        if order >= _CANDIDATES:
            break
        explained = explain(candidate, request)
        if explained is None:
            continue
        miss, closeness = explained
        if candidate.foreign and len(miss.failed) > 1:  # another session's rule: only if all else held
            continue
        ranked.append((-miss.held, len(miss.failed), -closeness, order, miss))
    ranked.sort(key=lambda item: item[:4])
    return [item[4] for item in ranked[:limit]]


def explain(candidate: Candidate, request: Any) -> Optional[tuple]:
    """(NearMiss, closeness of its failed text conditions), or None for a rule with nothing to
    explain (`next_error`'s match-everything rule)."""
    rule = candidate.rule
    match = rule.match if rule.match is not None else rule.test
    if match is any_request:
        return None
    checks: list[Check] = []
    closeness: list[float] = []
    used_up = rule.remaining is not None and rule.remaining <= 0
    for name, expected, shown in _conditions(rule, match):
        if name == "predicate":
            checks.append(_predicate(expected, all(c.held for c in checks), used_up or candidate.foreign))
            continue
        check, close = _check(name, expected, shown, request)
        checks.append(check)
        if not check.held and close is not None:
            closeness.append(close)
    if not checks:
        return None
    if used_up:
        total = rule.served + rule.remaining
        checks.append(Check("times", False, f"{total}", f"used up ({rule.served} of {total})"))
    if candidate.foreign:
        checks.append(Check("session", False, f"{candidate.session}", f"belongs to session {candidate.session}"))
    miss = NearMiss(rule.description, candidate.index, rule.id, rule.source,
                    candidate.session, tuple(checks))
    return miss, (sum(closeness) / len(closeness) if closeness else 0.0)


_conditions_of: weakref.WeakKeyDictionary[Any, list] = weakref.WeakKeyDictionary()


def _conditions(rule: Any, match: Any) -> list:
    """`[(name, expected, shown)]` of a rule, worked out once per rule: the strings a journal of
    near misses holds are then shared, not made again for each request."""
    found = _conditions_of.get(rule)
    if found is None:
        found = []
        for name, expected in match_fields(match):
            if isinstance(expected, re.Pattern):
                shown = describe_pattern(expected)
            elif name in _TEXT or name == "format":
                shown = _quote(str(expected))
            else:
                shown = expected if isinstance(expected, str) else ""
            found.append((name, expected, shown))
        _conditions_of[rule] = found
    return found


def _check(name: str, expected: Any, shown: str, request: Any) -> tuple:
    """(Check, closeness in 0..1 of a failed text condition, or None)."""
    if name in _TEXT:
        got = getattr(request, _TEXT[name]) or ""
        if isinstance(expected, re.Pattern):
            held, source = expected.search(got) is not None, expected.pattern
        else:
            held, source = str(expected).lower() in got.lower(), str(expected)
        kept = got if len(got) <= _GOT else got[:_GOT - 1] + "…"
        return Check(name, held, shown, kept), None if held else _closeness(source, got)
    if name == "format":
        return Check(name, request.format == expected, shown, request.format), None
    if name in ("tool_name", "server_tool"):
        offered = request.tool_names if name == "tool_name" else request.server_tool_types
        return Check(name, expected in offered, shown, f"[{', '.join(offered)}]" if offered else "[]"), None
    if name == "tool_call_id":
        got = request.last_tool_call_id
        return Check(name, got == expected, expected, got or ""), None
    if name == "turn":  # the request's place in its conversation (recorded rules carry it)
        got_turn = turn_of(request)
        return Check(name, got_turn == expected, str(expected), str(got_turn)), None
    return Check(name, False, str(expected), "unknown condition"), None


def _predicate(predicate: Any, others_held: bool, skipped: bool) -> Check:
    """A predicate is never run again to explain it (it is the user's code, maybe with effects):
    matching ran it only when every other condition held, so then it returned False."""
    label = getattr(predicate, "__name__", "predicate")
    label = "predicate" if label in ("<lambda>", "predicate") else f"predicate {label}"
    if skipped:
        outcome = "not run (the rule could not match)"
    elif others_held:
        outcome = "returned False"
    else:
        outcome = "not run (an earlier condition failed)"
    return Check("predicate", False, label, outcome)


def _quote(text: Optional[str]) -> str:
    return '"' + shorten(text or "", 80).replace('"', '\\"') + '"'


def _closeness(expected: str, got: str) -> float:
    """How much of `expected` appears in `got`, in order (a typo scores high, a different topic low)."""
    expected, got = expected.lower()[:200], got.lower()[:2000]
    if not expected:
        return 0.0
    import difflib  # loaded by the first report, not by a server start

    blocks = difflib.SequenceMatcher(None, expected, got, autojunk=False).get_matching_blocks()
    return sum(block.size for block in blocks if block.size > 1) / len(expected)  # single letters: noise


def describe_request(request: Any, method: str, path: str) -> str:
    """`POST /v1/chat/completions (model "gpt-4o", last message "hi")`."""
    return f"{method} {path} (model {_quote(request.model)}, last message {_quote(request.last_message)})"


def strict_message(request: Any, method: str, path: str, misses: list, rule_count: int, elsewhere: int = 0) -> str:
    """The one paragraph a strict-mode 404 carries: what came in and what came closest.
    `rule_count`: the rules that could have answered; `elsewhere`: other sessions' rules."""
    head = f"llm_mock: no rule matched {describe_request(request, method, path)}."
    if not rule_count and elsewhere:
        return (f"{head} There are no rules for it; {elsewhere} belong to other sessions (a request names its "
                "session with the x-llm-mock-session header or a /session/{id} path prefix).")
    if not rule_count:
        return head + " There are no rules: add one with when(...).reply(...) or POST /__llm_mock/rules."
    if not misses:
        return head + " No rule came close."
    closest = " ".join(f"({number}) {miss}." for number, miss in enumerate(misses, 1))
    return f"{head} Closest rule{'s' if len(misses) > 1 else ''}: {closest}"
