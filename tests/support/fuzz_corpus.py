"""Valid request bodies for the three routes, and a seeded mutator that breaks them in the ways
clients (and attackers) do: missing keys, wrong types, deep nesting, huge strings, odd unicode,
truncated or random bytes, wrong content types. The same seed gives the same requests."""
from __future__ import annotations

import copy
import json
import random

from support.files import CAPTURES

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}

CORPUS = [
    ("/v1/chat/completions", {
        "model": "gpt-4o-mini", "stream": False, "n": 1, "max_tokens": 50, "temperature": 0.5,
        "stream_options": {"include_usage": True}, "metadata": {"k": "v"},
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "user", "content": "thanks"}],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": SCHEMA}}],
    }),
    ("/v1/chat/completions", {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}),
    ("/v1/responses", {
        "model": "gpt-4.1-mini", "stream": True, "instructions": "be brief", "max_output_tokens": 100,
        "reasoning": {"effort": "low", "summary": "auto"}, "include": ["reasoning.encrypted_content"],
        "text": {"format": {"type": "text"}}, "store": False, "metadata": {"k": "v"},
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
            {"role": "user", "content": "weather?"},
            {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}],
        "tools": [{"type": "function", "name": "weather", "parameters": SCHEMA}, {"type": "web_search"},
                  {"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "inner"}]}],
    }),
    ("/v1/responses", {"model": "o4-mini", "input": "hi"}),
    ("/v1/messages", {
        "model": "claude-mock", "max_tokens": 200, "stream": True, "metadata": {"user_id": "u"},
        "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        "thinking": {"type": "enabled", "budget_tokens": 100},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hm", "signature": "sig"},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}],
        "tools": [{"name": "weather", "input_schema": SCHEMA}, {"type": "web_search_20250305", "name": "web_search"}],
    }),
    ("/v1/messages", {"model": "claude-mock", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}),
]
CORPUS += [(capture["path"], capture["body"]) for capture in
           (json.loads(path.read_text(encoding="utf-8")) for path in sorted(CAPTURES.glob("*.json")))]

ODD_VALUES = [None, True, False, 0, -1, 1.5, 2 ** 64, -(2 ** 63), "", "x", "\u0000", [], {}, [None], {"": {}},
              "😀" * 3, "\u202eevil", "\ud800", "a\nb\r\nc", float("nan"), float("inf")]
MAX_BYTES = 2_000_000
NESTED = "<<nested>>"  # a placeholder replaced by that many levels of nesting once serialised
CONTENT_TYPES = ["application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=x", "", "application/json-patch+json", "APPLICATION/JSON"]


class Mutator:
    """Seeded: `next()` gives (path, body bytes, content type) for one broken request."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def next(self) -> tuple:
        rng = self.rng
        data = b"x" * (MAX_BYTES + 1)
        while len(data) > MAX_BYTES:  # mutations compound: a huge string repeated is too much
            path, body = rng.choice(CORPUS)
            body = copy.deepcopy(body)
            for _ in range(rng.randint(1, 3)):
                body = self._structural(body)
            data = self._nest(json.dumps(body, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass"))
        if rng.random() < 0.2:
            data = self._bytes(data)
        content_type = rng.choice(CONTENT_TYPES) if rng.random() < 0.05 else "application/json"
        return path, data, content_type

    # -- structure ----------------------------------------------------------------------------
    def _structural(self, body):
        rng = self.rng
        spots = list(_spots(body))
        if not spots:
            return self._odd()
        parent, key = rng.choice(spots)
        kind = rng.random()
        if kind < 0.25:
            parent.pop(key)
        elif kind < 0.6:
            parent[key] = self._odd()
        elif kind < 0.7:
            parent[key] = f"{NESTED}{rng.choice([10, 100, 900, 5000])}"
        elif kind < 0.8:
            parent[key] = rng.choice(["x", "é", "😀", "\u0000"]) * rng.choice([1000, 1000, 50_000, 500_000])
        elif kind < 0.9:
            parent[key] = [copy.deepcopy(parent[key])] * rng.randint(2, 50)
        elif isinstance(parent, dict):
            parent[rng.choice(["model", "stream", "n", "max_tokens", "tools", "input", "messages", "type",
                               "role", "content", "__proto__", ""])] = self._odd()
        return body

    def _odd(self):
        return copy.deepcopy(self.rng.choice(ODD_VALUES))  # a fresh one: later mutations may change it

    def _nest(self, data: bytes) -> bytes:
        """Each nesting placeholder as that many levels of arrays and objects (json.dumps would hit
        the recursion limit first)."""
        while (at := data.find(b'"' + NESTED.encode())) >= 0:
            end = data.index(b'"', at + 1)
            opened = [self.rng.choice([b"[", b'{"a":']) for _ in range(int(data[at + 1 + len(NESTED):end]))]
            closed = b"".join(b"]" if o == b"[" else b"}" for o in reversed(opened))
            data = data[:at] + b"".join(opened) + b'"deep"' + closed + data[end + 1:]
        return data

    # -- bytes --------------------------------------------------------------------------------
    def _bytes(self, data: bytes) -> bytes:
        rng = self.rng
        kind = rng.random()
        if kind < 0.3:
            return data[: rng.randrange(len(data) + 1)]
        if kind < 0.5:
            return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        if kind < 0.7:
            at = rng.randrange(len(data) + 1)
            return data[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xef\xbb\xbf"]) + data[at:]
        if kind < 0.85:
            at = rng.randrange(len(data))
            return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1:]
        return b"\xef\xbb\xbf" + data if rng.random() < 0.5 else data + b" " + data


def _spots(value, depth: int = 0):
    """Every (container, key) in `value`, down to a modest depth."""
    if depth > 6:
        return
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in list(items):
        yield value, key
        yield from _spots(child, depth + 1)
