"""Refusing regexes that can backtrack catastrophically (`(a+)+`, `(a*)*`, `(a|aa)*` and their kin).

CPython's `re` holds the interpreter lock for a whole match, so one message crafted against such a
pattern stalls every request of the server, not only its own, for seconds or minutes. Matchers run
outside the engine's lock, but that does not help here; the pattern must not get in at all.

The check walks the parsed pattern (`re._parser`, `sre_parse` before 3.11). Inside a repeat that can
run many times (`*`, `+`, `{n,}`, `{n,m}` with m > 10) it looks for the two shapes that let the same
text be split between iterations in exponentially many ways:

- a part of variable length (`a+`, `a*`, `a?`, `a{2,5}`) followed, before anything that must match
  a character it cannot, by something that may start with a character it can: `(a+)+`, `(\\w+\\s*)+`,
  `(a?a)+`, `(\\d+(\\.\\d+)?)+`. The split point between them, or between two iterations, is free;
- alternatives that match the same text, or one of which is the other followed by what may come
  next anyway: `(a|aa)*`, `(\\d{3}|\\d{4})+`, `(a|)+`.

Possessive repeats (`a++`) and atomic groups (`(?>...)`) never give back what they matched and are
accepted. Character classes are compared over the first 256 code points and a sample beyond, so the
check costs microseconds and never runs the pattern. Ordinary patterns (`(\\w+\\s)+`, `(cat|car)+`,
`[a-z]+(,[a-z]+)*`, `(?:[^"\\\\]|\\\\.)*`) pass.
"""
from __future__ import annotations

import importlib
import re
from functools import lru_cache
from typing import Any, Optional

try:  # the parser behind `re.compile`: re._parser from Python 3.11, sre_parse before
    _c = importlib.import_module("re._constants")
    _p = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover - Python 3.10
    _c = importlib.import_module("sre_constants")
    _p = importlib.import_module("sre_parse")

_MANY = 10  # a bounded repeat above this many iterations counts as unbounded
_PROFILE = 32  # positions compared between two alternatives
_SAMPLE = [chr(n) for n in range(256)] + list("\u0100\u0394\u0416\u05d0\u0663\u0966\u2028\u2029\u3000\u4e2d\U0001f600")
_INDEX = {char: 1 << bit for bit, char in enumerate(_SAMPLE)}
_FOLDED: dict = {}
for _bit, _char in enumerate(_SAMPLE):
    _FOLDED[_char.lower()] = _FOLDED.get(_char.lower(), 0) | 1 << _bit
_WORD, _DIGIT, _SPACE = (re.compile(p) for p in (r"\w", r"\d", r"\s"))
_WORD_A, _DIGIT_A, _SPACE_A = (re.compile(p, re.ASCII) for p in (r"\w", r"\d", r"\s"))

_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT}
_LEAVES = {_c.LITERAL, _c.NOT_LITERAL, _c.ANY, _c.IN}
_EDGES = {_c.AT_BEGINNING, _c.AT_BEGINNING_STRING, _c.AT_END, _c.AT_END_STRING}
_POSSESSIVE = getattr(_c, "POSSESSIVE_REPEAT", None)
_ATOMIC = getattr(_c, "ATOMIC_GROUP", None)


class UnsafeRegex(ValueError):
    """A pattern refused by `check`; the message says what and why, on one line."""


def check(pattern: Any) -> None:
    """Raise `UnsafeRegex` if `pattern` (a compiled regex; anything else passes) can backtrack
    exponentially."""
    found = problem(pattern)
    if found is not None:
        raise UnsafeRegex(found)


def problem(pattern: Any) -> Optional[str]:
    """Why `pattern` is refused, or None when it is accepted."""
    if not (isinstance(pattern, re.Pattern) and isinstance(pattern.pattern, str)):
        return None
    return _problem(pattern.pattern, pattern.flags)


@lru_cache(maxsize=512)
def _problem(source: str, flags: int) -> Optional[str]:
    try:
        parsed = _p.parse(source, flags)
        found = _Walk(parsed.state.flags, source).pattern(list(parsed.data))
    except Exception:  # e.g. a RecursionError on absurd nesting: never refuse on a failure of our own
        return None
    if found is None:
        return None
    return (f"regex /{source}/ is refused: {found}, so a crafted message can keep it matching for minutes "
            f"while every request waits; rewrite it (a possessive a++ or an atomic (?>...) never backtracks)")


class _Walk:
    """One pattern's analysis; `flags` follow inline groups such as `(?i:...)`."""

    def __init__(self, flags: int, pattern: str = ""):
        self.flags = flags
        extra = sorted({char for char in pattern if char not in _INDEX})  # the pattern's own characters
        self.sample = _SAMPLE + extra
        self.all = (1 << len(self.sample)) - 1
        self.index, self.folded = _INDEX, _FOLDED
        if extra:
            self.index, self.folded = dict(_INDEX), dict(_FOLDED)
            for bit, char in enumerate(extra, len(_SAMPLE)):
                self.index[char] = 1 << bit
                self.folded[char.lower()] = self.folded.get(char.lower(), 0) | 1 << bit
        self._leaves: dict = {}

    # -- character sets, as bit masks over the sample ---------------------------------------------
    def leaf(self, op: Any, av: Any, flags: int) -> int:
        key = (op, av if op is not _c.IN else tuple(av), flags & (re.IGNORECASE | re.DOTALL | re.ASCII))
        mask = self._leaves.get(key)
        if mask is None:
            mask = self._leaves[key] = self._leaf(op, av, flags)
        return mask

    def _leaf(self, op: Any, av: Any, flags: int) -> int:
        if op is _c.ANY:
            return self.all if flags & re.DOTALL else self.all & ~self.literal(ord("\n"), 0)
        if op is _c.LITERAL:
            return self.literal(av, flags)
        if op is _c.NOT_LITERAL:
            return self.all & ~self.literal(av, flags)
        mask = 0  # IN: literals, ranges, categories, maybe negated
        for item_op, item_av in av:
            if item_op is _c.LITERAL:
                mask |= self.literal(item_av, flags)
            elif item_op is _c.RANGE:
                mask |= self.range(item_av[0], item_av[1], flags)
            elif item_op is _c.CATEGORY:
                mask |= self.category(item_av, flags)
        return self.all & ~mask if any(item[0] is _c.NEGATE for item in av) else mask

    def literal(self, code: int, flags: int) -> int:
        char = chr(code)
        if flags & re.IGNORECASE:
            return self.folded.get(char.lower(), 0) | self.folded.get(char.upper().lower(), 0)
        return self.index.get(char, 0)

    def range(self, low: int, high: int, flags: int) -> int:
        fold = bool(flags & re.IGNORECASE)
        return _range_mask(low, high, fold) | self.extra(lambda char: _in_range(char, low, high, fold))

    def category(self, code: Any, flags: int) -> int:
        test = _category(code, flags)
        return _category_mask(code, bool(flags & re.ASCII)) | self.extra(test)

    def extra(self, test: Any) -> int:
        """The bits of the pattern's own characters beyond the shared sample that pass `test`."""
        mask = 0
        for bit in range(len(_SAMPLE), len(self.sample)):
            if test(self.sample[bit]):
                mask |= 1 << bit
        return mask

    # -- structure --------------------------------------------------------------------------------
    def nullable(self, items: list) -> bool:
        return all(self.item_nullable(op, av) for op, av in items)

    def item_nullable(self, op: Any, av: Any) -> bool:
        if op in _LEAVES:
            return False
        if op in _REPEATS or op is _POSSESSIVE:
            return av[0] == 0 or self.nullable(av[2])
        if op is _c.SUBPATTERN:
            return self.nullable(av[-1])
        if op is _ATOMIC:
            return self.nullable(av)
        if op is _c.BRANCH:
            return any(self.nullable(alt) for alt in av[1])
        if op is _c.GROUPREF_EXISTS:
            return self.nullable(av[1]) or av[2] is None or self.nullable(av[2])
        # ^ $ \A \Z: nothing is consumed past them; other anchors, lookarounds and group
        # references may match nothing
        return not (op is _c.AT and av in _EDGES)

    def first(self, items: list, flags: int) -> int:
        """Characters a match of `items` may start with."""
        mask = 0
        for op, av in items:
            mask |= self.item_first(op, av, flags)
            if not self.item_nullable(op, av):
                break
        return mask

    def item_first(self, op: Any, av: Any, flags: int) -> int:
        if op in _LEAVES:
            return self.leaf(op, av, flags)
        if op in _REPEATS or op is _POSSESSIVE:
            return self.first(av[2], flags)
        if op is _c.SUBPATTERN:
            return self.first(av[-1], _inline(flags, av))
        if op is _ATOMIC:
            return self.first(av, flags)
        if op is _c.BRANCH:
            mask = 0
            for alt in av[1]:
                mask |= self.first(alt, flags)
            return mask
        if op is _c.GROUPREF_EXISTS:
            return self.first(av[1], flags) | (self.first(av[2], flags) if av[2] else 0)
        if op is _c.GROUPREF:
            return self.all
        return 0

    def chars(self, items: list, flags: int) -> int:
        """Every character a match of `items` may consume."""
        mask = 0
        for op, av in items:
            if op in _LEAVES:
                mask |= self.leaf(op, av, flags)
            elif op in _REPEATS or op is _POSSESSIVE:
                mask |= self.chars(av[2], flags)
            elif op is _c.SUBPATTERN:
                mask |= self.chars(av[-1], _inline(flags, av))
            elif op is _ATOMIC:
                mask |= self.chars(av, flags)
            elif op is _c.BRANCH:
                for alt in av[1]:
                    mask |= self.chars(alt, flags)
            elif op is _c.GROUPREF_EXISTS:
                mask |= self.chars(av[1], flags) | (self.chars(av[2], flags) if av[2] else 0)
            elif op is _c.GROUPREF:
                mask = self.all
        return mask

    # -- the search ---------------------------------------------------------------------------------
    def pattern(self, items: list) -> Optional[str]:
        """The first repeat anywhere in `items` whose body is ambiguous, described; None if none."""
        return self.repeats(items, self.flags)

    def repeats(self, items: list, flags: int) -> Optional[str]:
        for op, av in items:
            found = None
            if op in _REPEATS or op is _POSSESSIVE:
                if op in _REPEATS and (av[1] is _c.MAXREPEAT or av[1] > _MANY):
                    found = self.body(av[2], flags)
                found = found or self.repeats(av[2], flags)
            elif op is _c.SUBPATTERN:
                found = self.repeats(av[-1], _inline(flags, av))
            elif op is _ATOMIC:
                found = self.repeats(av, flags)
            elif op is _c.BRANCH:
                for alt in av[1]:
                    found = found or self.repeats(alt, flags)
            elif op is _c.GROUPREF_EXISTS:
                found = self.repeats(av[1], flags) or (self.repeats(av[2], flags) if av[2] else None)
            elif op in (_c.ASSERT, _c.ASSERT_NOT):
                found = self.repeats(av[1], flags)
            if found:
                return found
        return None

    def body(self, items: list, flags: int) -> Optional[str]:
        """Whether one repeated body can split the same text in more than one way."""
        return self.sequence(items, flags, self.first(items, flags))

    def sequence(self, items: list, flags: int, after: int) -> Optional[str]:
        """Walk `items` from the end; `after` is what may follow the last item (the next iteration)."""
        follow = after
        for op, av in reversed(items):
            found = self.item(op, av, flags, follow)
            if found:
                return found
            follow = self.item_first(op, av, flags) | (follow if self.item_nullable(op, av) else 0)
        return None

    def item(self, op: Any, av: Any, flags: int, follow: int) -> Optional[str]:
        if op in _REPEATS:
            low, high, inner = av
            variable = high is _c.MAXREPEAT or low != high  # the split point after it is free
            if variable and self.chars(inner, flags) & follow:
                return "a variable-length part inside a repeat can end where what follows it begins (as in (a+)+)"
            return self.sequence(inner, flags, self.first(inner, flags) | follow)
        if op is _c.SUBPATTERN:
            return self.sequence(av[-1], _inline(flags, av), follow)
        if op is _c.BRANCH:
            for alt in av[1]:
                found = self.sequence(alt, flags, follow)
                if found:
                    return found
            return self.alternatives(av[1], flags, follow)
        if op is _c.GROUPREF_EXISTS:
            return self.sequence(av[1], flags, follow) or (self.sequence(av[2], flags, follow) if av[2] else None)
        return None  # leaves, anchors, lookarounds, atomic groups and possessive repeats

    def alternatives(self, alts: list, flags: int, follow: int) -> Optional[str]:
        profiles = [self.profile(alt, flags) for alt in alts]
        for i, (one, one_open) in enumerate(profiles):
            for two, two_open in profiles[i + 1:]:
                shorter, longer = (one, two) if len(one) <= len(two) else (two, one)
                if any(a & b == 0 for a, b in zip(shorter, longer, strict=False)):
                    continue  # they differ at some position: never the same text
                if one_open or two_open:
                    continue  # a variable part: judged by the repeat rule, not here
                if len(shorter) == len(longer) or longer[len(shorter)] & follow:
                    return "alternatives inside a repeat can match the same text (as in (a|aa)*)"
        return None

    def profile(self, items: list, flags: int) -> tuple:
        """(character set per position, open): open when a variable part ends the known prefix."""
        out: list = []
        open_ = self.extend(out, items, flags)
        return out, open_

    def extend(self, out: list, items: list, flags: int) -> bool:
        for op, av in items:
            if len(out) >= _PROFILE:
                return True
            if op in _LEAVES:
                out.append(self.leaf(op, av, flags))
            elif op is _c.SUBPATTERN:
                if self.extend(out, av[-1], _inline(flags, av)):
                    return True
            elif op in _REPEATS and av[0] == av[1] and av[0] <= _PROFILE:
                for _ in range(av[0]):
                    if self.extend(out, av[2], flags):
                        return True
            elif op is _c.AT:
                continue
            else:
                return True
        return False


def _in_range(char: str, low: int, high: int, fold: bool) -> bool:
    return low <= ord(char) <= high or (fold and any(low <= ord(c) <= high for c in (char.lower(), char.upper())))


@lru_cache(maxsize=256)
def _range_mask(low: int, high: int, fold: bool) -> int:
    return sum(1 << bit for bit, char in enumerate(_SAMPLE) if _in_range(char, low, high, fold))


@lru_cache(maxsize=64)
def _category_mask(code: Any, ascii_: bool) -> int:
    test = _category(code, re.ASCII if ascii_ else 0)
    return sum(1 << bit for bit, char in enumerate(_SAMPLE) if test(char))


def _category(code: Any, flags: int) -> Any:
    name = str(code).upper()
    ascii_ = bool(flags & re.ASCII)
    tests = {"DIGIT": _DIGIT_A if ascii_ else _DIGIT, "SPACE": _SPACE_A if ascii_ else _SPACE,
             "WORD": _WORD_A if ascii_ else _WORD}
    for key, regex in tests.items():
        if key in name:
            negated = "NOT" in name
            return lambda ch, r=regex, n=negated: (r.match(ch) is None) == n
    if "LINEBREAK" in name:
        negated = "NOT" in name
        return lambda ch, n=negated: (ch == "\n") != n
    return lambda ch: True


def _inline(flags: int, av: tuple) -> int:
    """Flags inside `(?i:...)` / `(?-i:...)`."""
    if len(av) == 4:
        return (flags | av[1]) & ~av[2]
    return flags
