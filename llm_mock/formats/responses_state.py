"""The stateful side of the Responses API (protocol-notes §16): the request a stored response
leaves, the routes around stored responses, and background mode.

    POST   /v1/responses/input_tokens          the input token estimate of a would-be request
    GET    /v1/responses/{id}                  the stored response (`?stream=true&starting_after=N`: its events)
    DELETE /v1/responses/{id}                  forget it
    GET    /v1/responses/{id}/input_items      its input items, paginated
    POST   /v1/responses/{id}/cancel           cancel a background response

The store itself is `llm_mock.response_store` (on the server as `server.responses`).
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, Optional

from ..pacing import schedule
from ..replies import Completion, ErrorReply
from ..request import MockRequest, RequestError
from ..response_store import StoredResponse
from .base import Answer, Call, hex_id, json_body, openai_error_body

SSE_TYPE = "text/event-stream; charset=utf-8"


class ResponsesRequest(MockRequest):
    """A Responses request: where its response is stored (None: `store: false`) and what it continues.
    (A plain subclass: a dataclass would cost every server start ~1 ms to create.)"""

    def __init__(self, *, store: Any = None, previous_response_id: Optional[str] = None, stateful: bool = False,
                 background: bool = False, **request: Any):
        super().__init__(**request)
        self.store, self.previous_response_id = store, previous_response_id
        self.stateful = stateful  # continues a stored response: the history keeps this parsed request
        self.background = background  # `background: true` without streaming: answered at once, completed later


def chained(call: Call, previous: str) -> list:
    """The stored items `previous_response_id` stands for, or the API's 400."""
    store = call.app.responses if call.app is not None else None
    try:
        if store is None:
            raise KeyError(previous)
        return store.chain(previous)
    except KeyError:
        raise RequestError(f"Previous response with id '{previous}' not found.", "previous_response_id",
                           code="previous_response_not_found") from None


def keep(request: MockRequest, response: dict, output: list, c: Optional[Completion],
         events: Optional[Callable[[], list]] = None) -> Optional[StoredResponse]:
    """Store `response` if the request asked for it (the default); returns the record. `events`
    re-renders a streamed response's events (bytes) for a client that streams it again."""
    if not isinstance(request, ResponsesRequest) or request.store is None:
        return None
    # about what the record holds: the request's input, the output items, the response, the completion
    size = len(request.body or b"") + 2048
    if c is not None:
        arguments = sum(len(t.arguments) for t in c.tools) if c.tools else 0  # (a generator costs, even empty)
        size += 2 * (len(c.text or "") + len(c.reasoning or "") + arguments)
        if request.logprobs is not None:  # per token (~4 characters) in the output, and for a re-render:
            size += (len(c.text or "") // 4 + 1) * (500 + 320 * request.logprobs)  # measured with tracemalloc
    record = StoredResponse(response, request.raw.get("input"), output, request.previous_response_id, events, size)
    request.store.put(record)
    return record


def defer(adapter: Any, request: MockRequest, c: Optional[Completion], error: Optional[ErrorReply], fault: Any,
          options: Any) -> dict:
    """Background mode: store the response with a clock that follows the reply's pacing, answer `queued`."""
    failure = error if error is not None else \
        (fault.error or ErrorReply(500)) if fault is not None and fault.kind in ("error", "failed") else None
    if c is None or failure is not None:
        response = adapter._response(request, hex_id("resp_"), int(time.time()), "failed", [])
        body = openai_error_body(failure or ErrorReply(500))["error"]
        response["error"] = {"code": body["code"] or "server_error", "message": body["message"]}
        record = keep(request, response, [], c)
        delay = (0.0, (options.ttft or options.latency or 0) / 1000)
    else:
        events = adapter.render_events(request, c)  # stores the record, with the events for resumption
        record = request.store.get(events.context[1]) if isinstance(request, ResponsesRequest) and request.store \
            else None
        response = record.response if record is not None else {}
        offsets = schedule(events.frames, options.latency or 0, options.ttft or 0, options.tokens_per_second or 0,
                           options.jitter or 0, random.Random(0))
        delay = (offsets[1], offsets[-1]) if offsets else (0.0, 0.0)
    if record is not None:
        record.clock(*delay)
    return {**response, "status": "queued", "output": [], "usage": None, "completed_at": None, "error": None,
            "incomplete_details": None}


# -- routes ------------------------------------------------------------------------------------
def _record(call: Call) -> StoredResponse:
    response_id = call.params["response_id"]
    record = call.app.responses.get(response_id) if call.app is not None else None
    if record is None:
        raise RequestError(f"Response with id '{response_id}' not found.", status=404, type="invalid_request_error")
    return record


def retrieve(call: Call, adapter: Any) -> Any:
    """The stored response as polling sees it; with `stream=true`, its events after `starting_after`."""
    record = _record(call)
    if call.query.get("stream", "").lower() != "true":
        return record.view()
    if record.events is None:
        raise RequestError("This response was not created with stream=true or background=true, so it cannot be "
                           "streamed.", "stream")
    after = call.query.get("starting_after")
    try:
        start = int(after) + 1 if after not in (None, "") else 0
    except ValueError:
        raise RequestError(f"Invalid 'starting_after': expected an integer, but got {after!r}.",
                           "starting_after") from None
    body = b"".join(record.events()[max(start, 0):])
    return Answer(body, headers=(("cache-control", "no-cache"),), media_type=SSE_TYPE)


def delete(call: Call, adapter: Any) -> dict:
    record = _record(call)
    call.app.responses.delete(record.id)
    return {"id": record.id, "object": "response", "deleted": True}


def cancel(call: Call, adapter: Any) -> dict:
    record = _record(call)
    if not record.background:
        raise RequestError("Only responses created with background=true can be cancelled.")
    return record.cancel()


def input_items(call: Call, adapter: Any) -> dict:
    """The response's own input items, newest first unless `order=asc`, `limit` per page after `after`."""
    items = _record(call).input_items(item_list)
    order = call.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise RequestError(f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.", "order")
    try:
        limit = int(call.query.get("limit", 20))
    except ValueError:
        raise RequestError("Invalid 'limit': expected an integer.", "limit") from None
    if not 1 <= limit <= 100:
        raise RequestError(f"Invalid 'limit': integer {limit} is out of range; expected 1 to 100.", "limit")
    ordered = items if order == "asc" else items[::-1]
    after = call.query.get("after")
    if after:
        ids = [item["id"] for item in ordered]
        if after not in ids:
            raise RequestError(f"Item with id '{after}' not found.", "after", status=404)
        ordered = ordered[ids.index(after) + 1:]
    page = ordered[:limit]
    return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None, "has_more": len(ordered) > limit}


def input_tokens(call: Call, adapter: Any) -> dict:
    """`POST /v1/responses/input_tokens`: the estimate `usage.input_tokens` would report for the same fields."""
    body = json_body(call)
    fields = {**body, "model": body.get("model") or "gpt-4.1", "store": False, "stream": False,
              "background": False}
    if fields.get("input") is None:
        fields["input"] = []
    return {"object": "response.input_tokens", "input_tokens": adapter.parse(fields, call).input_tokens}


# -- input items with ids ----------------------------------------------------------------------
def item_list(raw: Any) -> list:
    """A request's `input` as the API lists it: each item a full object with an `id`."""
    out = []
    for item in [raw] if isinstance(raw, str) else list(raw or ()):
        if isinstance(item, str):
            item = {"role": "user", "content": item}
        if not isinstance(item, dict):
            continue
        kind = item.get("type") or "message"
        if kind == "message":
            out.append(_message(item))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            out.append({"id": item.get("id") or hex_id("fco_"), "type": kind, "call_id": item.get("call_id"),
                        "output": item.get("output"), "status": item.get("status") or "completed"})
        elif kind == "function_call":
            out.append({"id": item.get("id") or hex_id("fc_"), "type": kind, "call_id": item.get("call_id"),
                        "name": item.get("name"), "arguments": item.get("arguments", ""),
                        "status": item.get("status") or "completed"})
        else:
            out.append({**item, "id": item.get("id") or hex_id(f"{kind.split('_')[0]}_")})
    return out


def _message(item: dict) -> dict:
    role, content = item.get("role", "user"), item.get("content")
    if role == "assistant":
        parts = [{"type": "output_text", "text": content, "annotations": []}] if isinstance(content, str) else \
            [{"annotations": [], **part} if part.get("type") == "output_text" else part
             for part in content or () if isinstance(part, dict)]
    else:
        parts = [{"type": "input_text", "text": content}] if isinstance(content, str) else \
            [part for part in content or () if isinstance(part, dict)]
    return {"id": item.get("id") or hex_id("msg_"), "type": "message", "role": role,
            "status": item.get("status") or "completed", "content": parts}
