"""Log-probabilities: one deterministic entry per token of a reply's text, in every format's shape.

Tokens come from `tokens.split_tokens` (the usage estimate's tokenisation), so they concatenate to
the text exactly. Each token's probability is drawn from a hash of its position and text, between
0.5 and 1, so the chosen token is always the most likely one; its alternatives share the rest of
the probability mass, halving from one to the next, so they come in descending order and the
probabilities never sum past 1. A rule may give its own entries (`ReplyObject(logprobs=[...])`);
they replace the computed ones token for token.

Nothing here runs unless a client asked for log-probabilities.
"""
from __future__ import annotations

import math
import zlib
from typing import Any, Optional

from .request import RequestError
from .tokens import split_tokens

MAX_TOP = 20  # the most alternatives a client may ask for (Chat Completions, Responses)
_ALTERNATIVES = (" the", ",", ".", " and", " to", " a", " of", " in", " is", "\n", " that", " it", " for",
                 " you", " with", " on", " as", " I", "'s", " be", " this", " not", " are", " or", ":")


class LogProb:
    """One token: its text, its log-probability and the most likely tokens at its position
    (`top`: (token, logprob) pairs, most likely first)."""

    __slots__ = ("token", "logprob", "top")

    def __init__(self, token: str, logprob: float, top: list):
        self.token, self.logprob, self.top = token, logprob, top

    def __repr__(self) -> str:
        return f"LogProb({self.token!r}, {self.logprob}, {self.top!r})"


def compute(text: Optional[str], top: int, given: Optional[list] = None) -> list:
    """The entries of `text` with `top` alternatives each (the chosen token included, first).
    `given` entries (a rule's) are used while their tokens spell out `text`; the rest is computed."""
    entries: list = []
    text = text or ""
    at = 0
    for entry in given or ():
        if not text.startswith(entry.token, at) or not entry.token:
            break
        entries.append(LogProb(entry.token, entry.logprob, entry.top[:top]))
        at += len(entry.token)
    for index, token in enumerate(split_tokens(text[at:]), len(entries)):
        entries.append(_entry(token, index, top))
    return entries


def check_range(value: int, most: int = MAX_TOP, param: str = "top_logprobs") -> int:
    """`value` if it is from 0 to `most`, else the API's range error (400) naming `param`."""
    if 0 <= value <= most:
        return value
    above = value > most
    raise RequestError(f"Invalid '{param}': integer {'above maximum' if above else 'below minimum'} value. "
                       f"Expected a value {'<= ' + str(most) if above else '>= 0'}, but got {value} instead.",
                       param, code=f"integer_{'above_max' if above else 'below_min'}_value")


def _entry(token: str, index: int, top: int) -> LogProb:
    seed = zlib.crc32(f"{index}\x00{token}".encode())
    unit = ((seed & 0xFFFF) + 1) / 0x10001  # in (0, 1)
    chosen = 1 - 0.5 * unit * unit  # in (0.5, 1): most tokens are confident
    logprob = round(math.log(chosen), 6)
    alternatives: list = [(token, logprob)]
    rest = 1 - chosen
    pick = seed >> 16
    for step in range(len(_ALTERNATIVES)):
        if len(alternatives) >= top:
            break
        candidate = _ALTERNATIVES[(pick + step) % len(_ALTERNATIVES)]
        if candidate != token:
            rest /= 2
            alternatives.append((candidate, round(math.log(rest), 6)))
    return LogProb(token, logprob, alternatives[:top])


def groups(entries: list, chunk_size: int) -> list:
    """Entries grouped into stream deltas of about `chunk_size` characters (whole tokens; one
    group when `chunk_size` is 0), so each delta carries the entries of exactly its text."""
    if chunk_size <= 0:
        return [entries] if entries else []
    out, current, size = [], [], 0
    for entry in entries:
        current.append(entry)
        size += len(entry.token)
        if size >= chunk_size:
            out.append(current)
            current, size = [], 0
    if current:
        out.append(current)
    return out


def spelled(group: list) -> str:
    return "".join(entry.token for entry in group)


# -- wire shapes -----------------------------------------------------------------------------
def _bytes(token: str) -> list:
    return list(token.encode("utf-8"))


def with_bytes(entries: list) -> list:
    """Chat Completions `logprobs.content` and Responses `output_text.logprobs` entries."""
    return [{"token": e.token, "logprob": e.logprob, "bytes": _bytes(e.token),
             "top_logprobs": [{"token": t, "logprob": lp, "bytes": _bytes(t)} for t, lp in e.top]}
            for e in entries]


def without_bytes(entries: list) -> list:
    """Responses `response.output_text.delta` / `.done` entries (that schema has no `bytes`)."""
    return [{"token": e.token, "logprob": e.logprob, "top_logprobs": [{"token": t, "logprob": lp} for t, lp in e.top]}
            for e in entries]


def legacy(entries: list, offset: int = 0) -> dict:
    """Legacy completions `logprobs`: parallel arrays; `text_offset` counts from `offset`."""
    offsets, at = [], offset
    for entry in entries:
        offsets.append(at)
        at += len(entry.token)
    return {"tokens": [e.token for e in entries], "token_logprobs": [e.logprob for e in entries],
            "top_logprobs": [dict(e.top) for e in entries], "text_offset": offsets}


# -- a rule's own entries ----------------------------------------------------------------------
def from_rule(value: Any, text: Optional[str]) -> list:
    """A reply's `logprobs` as `LogProb`s: a list of `{token, logprob, top_logprobs?}` whose tokens
    concatenate to the reply text; `top_logprobs` is a list of `{token, logprob}`. `ValueError`
    naming the problem otherwise."""
    if not isinstance(value, list):
        raise ValueError("reply field 'logprobs' must be a list of {token, logprob, top_logprobs?}")
    entries = []
    for index, item in enumerate(value):
        if isinstance(item, LogProb):
            entries.append(item)
            continue
        where = f"logprobs[{index}]"
        if not isinstance(item, dict) or set(item) - {"token", "logprob", "top_logprobs"}:
            raise ValueError(f"{where} must be an object with token, logprob and optional top_logprobs")
        token, logprob = item.get("token"), _logprob(item.get("logprob"), where)
        if not isinstance(token, str) or not token:
            raise ValueError(f"{where}.token must be a non-empty string")
        top = []
        for alt_index, alt in enumerate(item.get("top_logprobs") or []):
            at = f"{where}.top_logprobs[{alt_index}]"
            if not isinstance(alt, dict) or set(alt) != {"token", "logprob"} or not isinstance(alt["token"], str):
                raise ValueError(f"{at} must be an object {{token, logprob}}")
            top.append((alt["token"], _logprob(alt["logprob"], at)))
        entries.append(LogProb(token, logprob, top))
    spelled = "".join(entry.token for entry in entries)
    if spelled != (text or ""):
        raise ValueError(f"the logprobs tokens spell {spelled!r}, not the reply text {text or ''!r}")
    return entries


def _logprob(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value <= 0:
        raise ValueError(f"{where}.logprob must be a number <= 0, not {value!r}")
    return float(value)
