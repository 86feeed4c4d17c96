"""Recordings on disk: each exchange as an editable rule, plus its exact answer in a sidecar.

Per session (the `x-llm-mock-session` header, else one per run) the recorder keeps two files in
the recording directory: `<session>.json5` (`.json` where json5 is not installed), a rule file in
llm_mock's own dialect, rewritten whole after each exchange; and `<session>.exchanges.jsonl`, one
line per exchange holding the request and the exact answer (status, headers, body or frames with
each frame's time), appended. A rule's `when` is the request's last user message and model, both
exact, its format, its turn and, for a tool result, the tool call id; its `reply` is what the
answer said; its `recording` names the exchange and the hashes of the system prompt and tool set.
The same request twice in a session becomes one rule with `replies`, in the order they happened.
Everything written passes through the scrubber first.
"""
from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from typing import Any, Optional

from ..matching import turn_of
from ..schema import camel
from . import extract, proxy
from .recorded import SIDECAR_SUFFIX, system_hash, tools_hash
from .scrub import MARKER, Scrubber

_SPECIAL = re.compile(r"([\\.^$*+?{}\[\]|()])")


def exact(text: str) -> str:
    """A rule-file regex matching `text` whole and case-sensitively; a redacted part matches anything."""
    return "/^" + ".+".join(_SPECIAL.sub(r"\\\1", piece) for piece in text.split(MARKER)) + "$/"


def literal(pattern: str) -> Optional[str]:
    """The text an `exact` regex matches (for messages), or None if it is not one."""
    if not (pattern.startswith("/^") and pattern.endswith("$/")):
        return None
    body = pattern[2:-2]
    if re.search(r"(?<!\\)[.^$*+?{}\[\]|()]", body.replace(".+", "")):
        return None
    return re.sub(r"\\(.)", r"\1", body.replace(".+", MARKER))


def session_name(value: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", value).strip("._")[:80]
    return name or "session"


class _Session:
    def __init__(self, name: str, rule_file: str):
        self.name, self.rule_file = name, rule_file
        self.sidecar = rule_file[: rule_file.rindex(".")] + SIDECAR_SUFFIX
        self.rules: list = []  # [key, rule dict, comment lines]
        self.count = 0


class Recorder:
    """Saves exchanges under `directory`; thread-safe (concurrent requests record side by side)."""

    def __init__(self, directory: str, scrubber: Scrubber, json5: Optional[bool] = None):
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"cannot create the recording directory {directory}: {exc.strerror or exc}") from None
        self.directory = directory
        self.scrubber = scrubber
        self.json5 = _json5_available() if json5 is None else json5
        self.run = time.strftime("run-%Y%m%d-%H%M%S")
        self.saved = 0
        self._lock = threading.Lock()
        self._sessions: dict = {}

    def save(self, request: Any, exchange: proxy.Exchange, upstream: str, session: Optional[str]) -> str:
        """Write one exchange (its rule and its sidecar line); returns its id."""
        when = self.when(request)
        hashes = {"system": system_hash(request), "tools": tools_hash(request)}
        headers = exchange.header_map
        reply = extract.reply_of(request.format, exchange.status, headers, exchange.body, request.stream)
        unread = reply is None
        reply = self.scrubber.value(reply if reply is not None else {"text": ""})
        with self._lock:
            entry = self._session(session_name(session) if session else self.run)
            entry.count += 1
            exchange_id = f"{entry.name}-{entry.count:03d}"
            line = self._sidecar_line(exchange_id, exchange, upstream, bool(request.stream))
            if request.transport:  # answered in the cloud's framing: replayed byte for byte only there
                line["transport"] = request.transport
            with open(entry.sidecar, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
            comment = (f"{exchange_id} · {exchange.method} {self.scrubber.target(exchange.target)} · "
                       f"{'stream' if request.stream else 'json'} · {exchange.status} · "
                       f"{time.strftime('%Y-%m-%d %H:%M:%S')}"
                       + (f" · no reader for {request.format} answers: the reply is empty, the sidecar exact"
                          if unread else ""))
            self._add(entry, when, hashes, _file_keys(reply), exchange_id, comment)
            self._write(entry, upstream)
            self.saved += 1
        return exchange_id

    def when(self, request: Any) -> dict:
        """The matcher of a recorded request: enough to tell its turn from every other."""
        when: dict = {"message": exact(self.scrubber.text(request.last_message)),
                      "model": exact(self.scrubber.text(request.model)), "format": request.format,
                      "turn": max(turn_of(request), 1)}
        last = request.messages[-1] if request.messages else None
        if last is not None and last.role == "tool" and last.tool_call_id:
            when["toolCallId"] = self.scrubber.text(last.tool_call_id)
        return when

    # -- sessions and files --------------------------------------------------------------------
    def _session(self, name: str) -> _Session:
        """The session's files, under a name of their own: an older file is never rewritten, and the
        name is claimed by creating the file, so recorders in parallel processes never share one."""
        if name not in self._sessions:
            extension = ".json5" if self.json5 else ".json"
            candidate, n = name, 1
            while True:
                taken = set(os.listdir(self.directory))
                if not any(candidate + ext in taken for ext in (".json5", ".json", SIDECAR_SUFFIX)):
                    try:
                        with open(os.path.join(self.directory, candidate + extension), "x", encoding="utf-8") as f:
                            f.write("[]\n")  # a valid, empty rule file until the first rule is written
                        break
                    except FileExistsError:
                        pass
                n += 1
                candidate = f"{name}-{n}"
            self._sessions[name] = _Session(candidate, os.path.join(self.directory, candidate + extension))
        return self._sessions[name]

    @staticmethod
    def _add(entry: _Session, when: dict, hashes: dict, reply: dict, exchange_id: str, comment: str) -> None:
        key = json.dumps([when, hashes], sort_keys=True)
        for known in entry.rules:
            if known[0] == key:  # the same request again: the next step of a sequence
                rule = known[1]
                if "reply" in rule:
                    rule["replies"] = [rule.pop("reply")]
                    rule["recording"]["id"] = [rule["recording"]["id"]]
                rule["replies"].append(reply)
                rule["recording"]["id"].append(exchange_id)
                known[2].append(comment)
                return
        rule = {"when": when, "reply": reply, "recording": {"id": exchange_id, **hashes}}
        entry.rules.append([key, rule, [comment]])

    def _write(self, entry: _Session, upstream: str) -> None:
        rules = [(_ordered(rule), comments) for _, rule, comments in entry.rules]
        if self.json5:
            header = [f"Recorded by llm_mock from {self.scrubber.target(upstream)}, session {entry.name}.",
                      "Edit `when` and `reply` freely: they are ordinary rules. `recording` links each rule to",
                      f"its exact answers in {os.path.basename(entry.sidecar)} and holds the hashes of the",
                      "system prompt and tools it was recorded with (remove one to stop checking it)."]
            text = "\n".join(f"// {line}" for line in header) + "\n{\n  rules: [\n"
            for rule, comments in rules:
                text += "".join(f"    // {line}\n" for line in comments) + _json5(rule, 4) + ",\n"
            text += "  ],\n}\n"
        else:
            text = json.dumps({"rules": [rule for rule, _ in rules]}, indent=2, ensure_ascii=False) + "\n"
        temporary = entry.rule_file + ".tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, entry.rule_file)

    def _sidecar_line(self, exchange_id: str, exchange: proxy.Exchange, upstream: str, stream: bool) -> dict:
        """The request and the exact answer. `stream`: the client asked for a stream; `frames` (rather
        than `body`): the answer came piece by piece, each frame with its time after the head."""
        scrub = self.scrubber
        try:
            body: Any = scrub.value(json.loads(exchange.request_body))
        except ValueError:
            body = scrub.text(exchange.request_body.decode("utf-8", "replace"))
        decoded = exchange.encoded and exchange.decoded is not exchange.received  # saved as plain bytes
        kept = [(k, v) for k, v in exchange.headers if not (k == "content-encoding" and decoded)]
        response: dict = {"status": exchange.status, "headers": [list(p) for p in scrub.headers(kept)],
                          "head_ms": round(exchange.head_ms, 3), "stream": stream}
        if exchange.incremental:
            response["frames"] = [{"at": round(at * 1000, 3), **_bytes(scrub.data(data), "data")}
                                  for at, data in proxy.frames(exchange)]
        else:
            at = exchange.received[-1][0] if exchange.received else 0.0
            response.update({"body_ms": round(at * 1000, 3), **_bytes(scrub.data(exchange.body), "body")})
        return {"id": exchange_id, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "upstream": scrub.target(upstream),
                "request": {"method": exchange.method, "path": scrub.target(exchange.target),
                            "headers": dict(scrub.headers(exchange.request_headers)), "body": body},
                "response": response}


def _bytes(data: bytes, key: str) -> dict:
    """Text as text; bytes that are not UTF-8 (a binary event stream) as base64."""
    try:
        return {key: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {key + "_b64": base64.b64encode(data).decode("ascii")}


def _ordered(rule: dict) -> dict:
    return {key: rule[key] for key in ("when", "reply", "replies", "recording") if key in rule}


def _file_keys(reply: dict) -> dict:
    """A reply with its multi-word keys in the rule files' camelCase (tool arguments untouched)."""
    out = {}
    for key, value in reply.items():
        if key in ("fault", "error") and isinstance(value, dict):
            value = {camel(k): (_file_keys(v) if k == "error" and isinstance(v, dict) else v) for k, v in value.items()}
        out[camel(key)] = value
    return out


_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def _json5(value: Any, indent: int) -> str:
    """A value as JSON5 for people: unquoted keys, trailing commas, short objects on one line."""
    flat = _flat(value)
    numbers = isinstance(value, list) and all(isinstance(v, (int, float)) for v in value)  # a vector: one line
    if len(flat) + indent <= 110 or not isinstance(value, (dict, list)) or not value or numbers:
        return " " * indent + flat
    inner = indent + 2
    if isinstance(value, list):
        items = [_json5(item, inner) for item in value]
    else:
        items = [" " * inner + _key(k) + ": " + _json5(v, inner).lstrip() for k, v in value.items()]
    opening, closing = ("[", "]") if isinstance(value, list) else ("{", "}")
    return " " * indent + opening + "\n" + "".join(item + ",\n" for item in items) + " " * indent + closing


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)}: {_flat(v)}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(_flat(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _key(key: str) -> str:
    return key if _IDENTIFIER.match(key) else json.dumps(key, ensure_ascii=False)


def _json5_available() -> bool:
    try:
        import json5  # noqa: F401  (only whether it imports)
    except ImportError:
        return False
    return True
