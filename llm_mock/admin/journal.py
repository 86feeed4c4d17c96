"""Admin routes over the journal: the requests as JSON, filtered, one by id with its raw body."""
from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Optional

from ..formats.base import Answer, Call
from ..history import RecordedRequest
from ..request import RequestError
from .common import integer, scope


def request_json(request: Any) -> Optional[dict]:
    """The normalised request, as rules see it."""
    if request is None:
        return None
    messages = []
    for message in request.messages:
        item = {"role": message.role, "content": message.content}
        if message.tool_call_id:
            item["tool_call_id"] = message.tool_call_id
        messages.append(item)
    return {"format": request.format, "model": request.model, "stream": request.stream, "messages": messages,
            "last_message": request.last_message, "system": request.system_message,
            "tools": [{"name": t.name, "type": t.type, "description": t.description, "parameters": t.parameters}
                      for t in request.tools or ()],
            "server_tools": list(request.server_tool_types), "last_tool_call_id": request.last_tool_call_id,
            "max_tokens": request.max_tokens}


def reply_json(reply: Any) -> Optional[dict]:
    """What a rule or the fallback answered (its fields that are set)."""
    if reply is None:
        return None
    out: dict = {}
    if reply.text is not None:
        out["text"] = reply.text
    if reply.reasoning is not None:
        out["reasoning"] = reply.reasoning
    if reply.tools:
        out["tools"] = [{"name": t.name, "args": t.args, "id": t.id} for t in reply.tools]
    if reply.usage:
        out["usage"] = reply.usage
    if reply.error is not None:
        e = reply.error
        out["error"] = {k: v for k, v in (("status", e.status), ("message", e.message), ("type", e.type),
                                          ("code", e.code)) if v is not None}
    if reply.fault is not None:
        f = reply.fault
        out["fault"] = {k: v for k, v in (("kind", f.kind), ("after_events", f.after_events),
                                          ("after_chars", f.after_chars)) if v is not None}
    return out


def entry_json(entry: RecordedRequest, detail: bool = False) -> dict:
    """One journal entry; `detail` adds the headers, the raw body and the reply."""
    out = {
        "id": entry.id,
        "time": datetime.fromtimestamp(entry.timestamp, timezone.utc).isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "timestamp": entry.timestamp, "method": entry.method, "path": entry.path, "format": entry.format,
        "status": entry.status, "outcome": entry.outcome, "rule": entry.rule, "matched": entry.near_misses is None,
        "duration_ms": round(entry.duration_ms, 3), "session": entry.session,
        "request": request_json(entry.peek_request()) if entry.format is not None else None,
        "near_misses": None if entry.near_misses is None else [miss.to_json() for miss in entry.near_misses],
        "flags": list(entry.flags),
    }
    if detail:
        out["headers"] = entry.headers
        try:
            out["body"] = entry.body.decode("utf-8")
        except UnicodeDecodeError:
            out["body"], out["body_base64"] = None, base64.b64encode(entry.body).decode("ascii")
        out["reply"] = reply_json(entry.reply)
    return out


def _entries(call: Call) -> list:
    """The entries the request's scope sees, oldest first (`?session=*`: the server's and every
    session's, merged)."""
    if call.query.get("session") == "*":
        merged = list(call.app.history)
        for session in call.app.sessions.all():
            merged.extend(session.history)
        return sorted(merged, key=lambda entry: entry.id)
    return list(scope(call).history)


def _filters(call: Call) -> Callable[[RecordedRequest], bool]:
    """The predicate of `?format=&status=&outcome=&rule=&path=&since_id=` (exact, except `rule` and
    `path`: substrings; `status` may be a class, `4xx`; `rule=fallback`: no rule matched)."""
    q = call.query
    fmt, outcome, rule, path = q.get("format"), q.get("outcome"), q.get("rule"), q.get("path")
    status = (q.get("status") or "").lower()
    if status and not (status.isdigit() or (len(status) == 3 and status[0].isdigit() and status[1:] == "xx")):
        raise RequestError(f"query parameter status must be a status (404) or a class (4xx), not {status!r}",
                           "status")
    since = integer(call, "since_id")

    def keep(e: RecordedRequest) -> bool:
        if since is not None and e.id <= since:
            return False
        if (fmt and e.format != fmt) or (outcome and e.outcome != outcome) or (path and path not in e.path):
            return False
        if status and (e.status // 100 != int(status[0]) if status.endswith("xx") else e.status != int(status)):
            return False
        if rule in ("fallback", "none"):
            return e.near_misses is not None
        return not rule or (e.rule is not None and rule in e.rule)

    return keep


def list_history(call: Call) -> Answer:
    """`GET /history`: entries newest last; `X-Total-Count` counts every match before `limit`."""
    keep = _filters(call)
    limit = integer(call, "limit")
    entries = [e for e in _entries(call) if keep(e)]
    total = len(entries)
    if limit is not None:
        entries = entries[max(total - limit, 0):] if limit else []
    return Answer([entry_json(e) for e in entries], headers=(("x-total-count", str(total)),))


def get_entry(call: Call) -> dict:
    ref = call.params["id"]
    if ref.isdigit():
        wanted = int(ref)
        for entry in _entries(call):
            if entry.id == wanted:
                return entry_json(entry, detail=True)
    raise RequestError(f"no journal entry with id {ref!r}", "id", 404)


def clear_history(call: Call) -> dict:
    """`DELETE /history` (`?session=*`: the server's and every session's)."""
    if call.query.get("session") == "*":
        histories = [call.app.history, *(session.history for session in call.app.sessions.all())]
    else:
        histories = [scope(call).history]
    removed = sum(history.count() for history in histories)
    for history in histories:
        history.clear()
    return {"removed": removed}
