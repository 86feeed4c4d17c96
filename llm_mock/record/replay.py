"""Replaying recordings: the exact answer at its recorded pace, misses explained, unused ones listed.

With `--replay-timing recorded` (or a speed factor: 2 plays twice as fast) a recorded rule whose
reply is as recorded answers with the sidecar's exact answer: the status, the headers, and each
frame at its recorded time after the head (the head itself after the recorded wait). An edited
reply, or a request that streams where the recording did not, is rendered from the rule instead.
A format no extractor reads is always answered from the sidecar (at once, without replay timing):
its rule cannot say what was answered.

A strict miss names the closest recording and the fields that differ (`closest`). `unused` lists
the recorded exchanges no request has replayed.
"""
from __future__ import annotations

import base64
import json
import os
import threading
import time
from typing import Any, Optional

from ..matching import compile_match, describe_pattern, turn_of
from ..replies import normalise_reply
from ..schema import camel
from . import extract
from .proxy import RESPONSE_DROPPED
from .recorded import RecordedReply, RecordedRule, stale_fields
from .recording import literal


def parse_timing(value: Any) -> Optional[float]:
    """`recorded` → 1.0, a positive number → that speed factor; None, `off` or 0 → no timing."""
    if value is None or value in ("off", "none", 0, "0"):
        return None
    if value == "recorded":
        return 1.0
    try:
        factor = float(value)
    except (TypeError, ValueError):
        factor = -1.0
    if isinstance(value, bool) or not factor > 0 or factor == float("inf"):
        raise ValueError(f"replay timing must be `recorded` or a positive speed factor, not {value!r}")
    return factor


class Sidecars:
    """Sidecar files read once (again when they change), each an exchange id → exchange map."""

    def __init__(self) -> None:
        self._files: dict = {}
        self._lock = threading.Lock()

    def exchange(self, path: str, exchange_id: str) -> Optional[dict]:
        try:
            stamp = os.stat(path).st_mtime_ns
        except OSError:
            return None
        with self._lock:
            known = self._files.get(path)
            if known is None or known[0] != stamp:
                known = (stamp, _read_sidecar(path))
                self._files[path] = known
        return known[1].get(exchange_id)


def _read_sidecar(path: str) -> dict:
    found = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                found[item["id"]] = item
    return found


def _bytes(item: dict, key: str) -> bytes:
    if key + "_b64" in item:
        return base64.b64decode(item[key + "_b64"])
    return str(item.get(key, "")).encode("utf-8")


def as_recorded(step: RecordedReply, exchange: dict, request: Any) -> bool:
    """True when the exchange can answer `request` byte for byte: the same transport, the same kind
    of answer (a stream or not) and the rule's reply still the one the recording says (not edited)."""
    response = exchange.get("response") or {}
    if exchange.get("transport", "") != (getattr(request, "transport", "") or ""):
        return False  # recorded through another route (Bedrock, Azure, Vertex, or the vendor's own)
    if bool(response.get("stream")) != bool(request.stream) and response.get("status", 200) < 400:
        return False
    headers = {name: value for name, value in response.get("headers", [])}
    try:
        derived = extract.reply_of(request.format, int(response.get("status", 200)), headers, _body(response),
                                   bool(response.get("stream")))
        if derived is None:  # no reader for the format: the rule holds the empty placeholder unless edited
            return step.reply == normalise_reply({"text": ""})
        return normalise_reply(derived) == step.reply
    except (TypeError, ValueError):
        return False


def _body(response: dict) -> bytes:
    if "frames" in response:
        return b"".join(_bytes(frame, "data") for frame in response["frames"])
    return _bytes(response, "body")


def send_recorded(out: Any, exchange: dict, factor: float, pacer: Any, outcome: str) -> None:
    """The exchange's answer as it was sent: the head after the recorded wait, each frame at its
    recorded time after the head (divided by `factor`)."""
    response = exchange["response"]
    status = int(response.get("status", 200))
    headers = [(name, value) for name, value in response.get("headers", []) if name not in RESPONSE_DROPPED]
    time.sleep(max(float(response.get("head_ms", 0)), 0) / 1000 / factor)
    if "frames" in response and status == 200:  # sent piece by piece: each frame at its time
        frames = response["frames"]
        out.publish(status, outcome)
        out.stream(headers, [_bytes(frame, "data") for frame in frames],
                   [max(float(frame.get("at", 0)), 0) / 1000 / factor for frame in frames], True, pacer)
        return
    if "frames" not in response:
        time.sleep(max(float(response.get("body_ms", 0)), 0) / 1000 / factor)
    out.send(status, headers, _body(response), outcome)


# -- misses ------------------------------------------------------------------------------------
_ATTRIBUTES = {"message": "last_message", "model": "model", "system": "system_message", "format": "format",
               "tool_call_id": "last_tool_call_id", "tool_name": "tool_names", "server_tool": "server_tool_types"}


def recorded_rules(rules: Any) -> list:
    return [rule for rule in rules if isinstance(rule, RecordedRule)]


def differences(request: Any, rule: RecordedRule) -> list:
    """What of `request` differs from the recording `rule`: one phrase per field."""
    found = []
    when = rule.when if isinstance(rule.when, dict) else {}
    for key, value in when.items():
        test, _ = compile_match({key: value})
        if not test(request):
            got = turn_of(request) if key == "turn" else getattr(request, _ATTRIBUTES.get(key) or key, None)
            found.append(f"{camel(key)}: recorded {_shown(value)}, got {_shown(got)}")
    stale = stale_fields(request, rule.steps[0].system, rule.steps[0].tools) if rule.steps else None
    if stale:
        found.append(f"{stale}: recorded with a different {stale}")
    return found


def closest(request: Any, rules: Any) -> Optional[tuple]:
    """(the recorded rule that differs from `request` in the fewest fields, those differences)."""
    best: Optional[tuple] = None
    for rule in recorded_rules(rules):
        found = differences(request, rule)
        if best is None or len(found) < len(best[1]):
            best = (rule, found)
    return best


def _shown(value: Any) -> str:
    if hasattr(value, "pattern") and hasattr(value, "flags"):
        value = describe_pattern(value)
    if isinstance(value, str):
        text = literal(value)
        value = text if text is not None else value
        return json.dumps(value if len(value) <= 80 else value[:79] + "…", ensure_ascii=False)
    return str(value)


# -- unused recordings ---------------------------------------------------------------------------
def unused(rules: Any) -> list:
    """(exchange id, rule file) of every recorded step no request replayed, in rule order."""
    return [(step.exchange, step.source) for rule in recorded_rules(rules) for step in rule.steps
            if not step.replayed]


def summary(rules: Any) -> Optional[str]:
    """One line on the recordings loaded: all replayed, or which were not (None if none are loaded)."""
    steps = [step for rule in recorded_rules(rules) for step in rule.steps]
    if not steps:
        return None
    never = unused(rules)
    if not never:
        return f"llm_mock: all {len(steps)} recording(s) replayed"
    listed = ", ".join(f"{exchange} ({os.path.basename(source)})" for exchange, source in never)
    return f"llm_mock: {len(never)} of {len(steps)} recording(s) never replayed: {listed}"
