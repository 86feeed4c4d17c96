"""OpenAI Responses: `POST /v1/responses` (protocol-notes §3)."""
from __future__ import annotations

import base64
import threading
import time
from dataclasses import replace
from functools import partial
from typing import Optional

from ..framing import SSE
from ..logprobs import check_range, compute, groups, spelled, with_bytes, without_bytes
from ..replies import Completion, ErrorReply
from ..request import Message, MockRequest, RequestError, ToolDef, finish, optional, text_of
from . import responses_state as state
from .base import Call, Events, FormatAdapter, Frame, Route, dumps, hex_id, openai_error_body, quote, random_id, sse

ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
USER_TOOL_TYPES = ("function", "custom")
FUNCTION_TOOL_DEFAULTS = {"description": None, "parameters": None, "strict": True}  # as the API echoes them
ECHOED = ("max_output_tokens", "max_tool_calls", "previous_response_id", "prompt_cache_key",
          "safety_identifier", "user")
BODY_KEYS = frozenset(("background", "instructions", *ECHOED, "parallel_tool_calls", "reasoning", "store",
                       "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation",
                       "metadata"))
"""The request members a response object reflects: `_response` sees no other."""


class Responses(FormatAdapter):
    name = "responses"
    routes = (Route("POST", "/v1/responses"),
              Route("POST", "/v1/responses/input_tokens", state.input_tokens),
              Route("GET", "/v1/responses/{response_id}", state.retrieve),
              Route("DELETE", "/v1/responses/{response_id}", state.delete),
              Route("GET", "/v1/responses/{response_id}/input_items", state.input_items),
              Route("POST", "/v1/responses/{response_id}/cancel", state.cancel))
    prefixes = ("/v1/responses",)
    framing = SSE(malformed=b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",\n\n')

    def parse(self, body: dict, call: Call) -> MockRequest:
        model = optional(body, "model", str, "a string")
        if not model:
            raise RequestError("Missing required parameter: 'model'.", "model")
        raw_input = body.get("input")
        if raw_input is None and not (body.get("previous_response_id") or body.get("conversation")):
            raise RequestError("Missing required parameter: 'input'.", "input")
        if raw_input is not None and not isinstance(raw_input, (str, list)):
            raise RequestError("Invalid type for 'input': expected a string or an array.", "input")
        instructions = optional(body, "instructions", str, "a string")
        messages = [Message("system", instructions)] if instructions else []
        previous = optional(body, "previous_response_id", str, "a string")
        if previous:  # the earlier turns, exactly as if the client had sent them (instructions not inherited)
            messages.extend(m for m in (_item(item, i) for i, item in enumerate(state.chained(call, previous))) if m)
        if isinstance(raw_input, str):
            messages.append(Message("user", raw_input))
        elif raw_input:
            messages.extend(m for m in (_item(item, i) for i, item in enumerate(raw_input)) if m)
        user_tools, server_tools = _tools(optional(body, "tools", list, "an array", []))
        stream = optional(body, "stream", bool, "a boolean", False)
        stored = optional(body, "store", bool, "a boolean", True)
        background = optional(body, "background", bool, "a boolean", False)
        if background and not stored:
            raise RequestError("Background mode requires store=true.", "background")
        request = state.ResponsesRequest(
            format=self.name, model=model, stream=stream,
            tools=user_tools, tool_names=tuple(t.name for t in user_tools), server_tool_types=tuple(server_tools),
            headers=dict(call.headers), path=call.target, raw=body,
            max_tokens=optional(body, "max_output_tokens", int, "an integer"),
            store=call.app.responses if stored and call.app is not None else None, previous_response_id=previous,
            stateful=bool(previous), background=background and not stream,
        )
        if "include" in body:
            request.logprobs = _logprobs_asked(body)
        return finish(request, messages)

    # -- the response object ------------------------------------------------------------------
    def _response(self, request: MockRequest, rid: str, created: int, status: str, output: list,
                  c: Optional[Completion] = None) -> dict:
        body = _echoed(request.raw)  # the object depends on these members and the model alone
        reasoning, text = body.get("reasoning"), body.get("text")
        reasoning, text = reasoning if isinstance(reasoning, dict) else {}, text if isinstance(text, dict) else {}
        response = {
            "id": rid, "object": "response", "created_at": created, "status": status,
            "background": body.get("background") is True,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": None, "incomplete_details": None, "instructions": body.get("instructions"),
        }
        response.update(zip(ECHOED, map(body.get, ECHOED), strict=True))
        response.update({
            "model": request.model, "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "service_tier": "default", "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": {"format": text.get("format", {"type": "text"}), "verbosity": text.get("verbosity", "medium")},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": [{**FUNCTION_TOOL_DEFAULTS, **t} if t.get("type") == "function" else t
                      for t in body.get("tools") or [] if isinstance(t, dict)],
            "top_logprobs": body.get("top_logprobs", 0), "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation", "disabled"),
            "usage": _usage(c) if c is not None else None,
            "metadata": body.get("metadata") or {},
        })
        if status == "incomplete":
            filtered = c is not None and c.finish == "content_filter"
            response["incomplete_details"] = {"reason": "content_filter" if filtered else "max_output_tokens"}
        return response

    def _items(self, request: MockRequest, c: Completion, entries: Optional[list] = None) -> list:
        """The final output items, with their ids fixed, in the order the API emits them."""
        status = "incomplete" if c.finish in ("length", "content_filter") else "completed"
        items = []
        if c.reasoning:
            item = {"id": hex_id("rs_"), "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": c.reasoning}]}
            include = request.raw.get("include") or []
            if isinstance(include, list) and "reasoning.encrypted_content" in include:
                item["encrypted_content"] = c.signature or base64.b64encode(c.reasoning.encode("utf-8")).decode("ascii")
            items.append(item)
        if c.emits_text:
            items.append({"id": hex_id("msg_"), "type": "message", "status": status, "role": "assistant",
                          "content": [_text_part(c.text or "", entries)]})
        offered = {t.name: t for t in request.tools or ()}
        for tool in c.tools:
            call_id = tool.id or random_id("call_", 24)
            definition = offered.get(tool.name)
            if definition is not None and definition.custom:
                text = tool.args if isinstance(tool.args, str) else tool.arguments
                items.append({"id": hex_id("ctc_"), "type": "custom_tool_call", "status": "completed",
                              "call_id": call_id, "input": text, "name": tool.name})
                continue
            item = {"id": hex_id("fc_"), "type": "function_call", "status": "completed",
                    "arguments": tool.arguments, "call_id": call_id, "name": tool.name}
            if definition is not None and definition.namespace:
                item["namespace"] = definition.namespace
            items.append(item)
        return items

    def render_json(self, request: MockRequest, c: Completion) -> dict:
        status = "incomplete" if c.finish in ("length", "content_filter") else "completed"
        entries = None if request.logprobs is None else compute(c.text, request.logprobs, c.logprobs)
        items = self._items(request, c, entries)
        response = self._response(request, hex_id("resp_"), int(time.time()), status, items, c)
        state.keep(request, response, items, c)
        return response

    # -- SSE ---------------------------------------------------------------------------------
    def render_events(self, request: MockRequest, c: Completion) -> Events:
        entries = None if request.logprobs is None else compute(c.text, request.logprobs, c.logprobs)
        items = self._items(request, c, entries)
        status = "incomplete" if c.finish in ("length", "content_filter") else "completed"
        final = self._response(request, hex_id("resp_"), int(time.time()), status, items, c)
        template = _template(request, final)
        frames = self._events(c, entries, items, final, template)
        # Stored with what re-renders it, not its bytes: storing costs the same for any length, and
        # the events, a pure function of these, come back byte for byte when a client resumes.
        state.keep(request, final, items, c, partial(self._replay, c, entries, items, final, template))
        return Events(frames, (request, final["id"], final["created_at"]))

    def _replay(self, c: Completion, entries: Optional[list], items: list, final: dict, template: list) -> list:
        return [frame.data for frame in self._events(c, entries, items, final, template)]

    def _events(self, c: Completion, entries: Optional[list], items: list, final: dict, template: list) -> list:
        """The stream's frames for fixed ids, clock and output, `final`'s JSON cut at its slots
        (`_template`): a pure function of its arguments."""
        frames: list = []

        def emit(kind: str, chars: int = 0, **payload) -> None:
            frames.append(sse({"type": kind, "sequence_number": len(frames), **payload}, kind, chars))

        def emit_json(kind: str, members: str) -> None:
            """An event whose members after `sequence_number` are already JSON (`"key":value,…`)."""
            frames.append(Frame(f'event: {kind}\ndata: {{"type":"{kind}","sequence_number":{len(frames)},'
                                f"{members}}}\n\n".encode()))

        def deltas(kind: str, item_id: str, middle: str, text: str, after: str = "}") -> str:
            """One event per chunk of `text`: a head that depends on the sequence number, the item id,
            and a tail that depends on the chunk (`_heads`). Returns the whole text's JSON."""
            pieces = c.chunks(text)
            tails = [f"{middle}{quote(piece)}{after}\n\n".encode() for piece in pieces]
            heads = _heads(kind, len(frames), len(tails))
            frames.extend(map(Frame, map(item_id.encode().join, zip(heads, tails, strict=True)), map(len, pieces)))
            return quote(text)

        # The response object's JSON: what differs between its events fills the template's slots.
        rid, created = quote(final["id"]), str(final["created_at"])
        snapshot = _fill(template, rid, created, '"in_progress"', "null", "null", "[]", "null")
        emit_json("response.created", '"response":' + snapshot)
        emit_json("response.in_progress", '"response":' + snapshot)
        encoded = []  # each output item's JSON, sent in `output_item.done` and in the final response
        for index, item in enumerate(items):
            where = {"item_id": item["id"], "output_index": index}
            head = f'"item_id":"{item["id"]}","output_index":{index},'
            if item["type"] == "reasoning":
                emit("response.output_item.added", output_index=index, item={**item, "summary": []})
                part = {"type": "summary_text", "text": c.reasoning}
                emit("response.reasoning_summary_part.added", **where, summary_index=0,
                     part={"type": "summary_text", "text": ""})
                deltas("response.reasoning_summary_text.delta", item["id"],
                       f'","output_index":{index},"summary_index":0,"delta":', c.reasoning or "")
                emit("response.reasoning_summary_text.done", **where, summary_index=0, text=c.reasoning)
                emit("response.reasoning_summary_part.done", **where, summary_index=0, part=part)
            elif item["type"] == "message":
                emit_json("response.output_item.added",
                          f'"output_index":{index},"item":{dumps({**item, "status": "in_progress", "content": []})}')
                emit_json("response.content_part.added", f'{head}"content_index":0,"part":{EMPTY_PART}')
                if entries is None:  # `text`: the text's JSON, made once (four events carry it whole)
                    text = deltas("response.output_text.delta", item["id"],
                                  f'","output_index":{index},"content_index":0,"delta":', c.text or "",
                                  ',"logprobs":[]}')
                else:  # each delta carries its own tokens' logprobs
                    text = quote(c.text or "")
                    for group in groups(entries, c.chunk_size):
                        emit("response.output_text.delta", len(spelled(group)), **where, content_index=0,
                             delta=spelled(group), logprobs=without_bytes(group))
                logprobs = "[]" if entries is None else dumps(without_bytes(entries))
                emit_json("response.output_text.done", f'{head}"content_index":0,"text":{text},"logprobs":{logprobs}')
                content = item["content"][0]  # type, annotations, logprobs, then the text
                part_json = (PART_HEAD if entries is None else _part_head(content)) + f',"text":{text}}}'
                emit_json("response.content_part.done", f'{head}"content_index":0,"part":{part_json}')
                members = dumps({key: value for key, value in item.items() if key != "content"})  # content last
                encoded.append(f'{members[:-1]},"content":[{part_json}]}}')
            elif item["type"] == "custom_tool_call":
                emit("response.output_item.added", output_index=index,
                     item={**item, "status": "in_progress", "input": ""})
                deltas("response.custom_tool_call_input.delta", item["id"], f'","output_index":{index},"delta":',
                       item["input"])
                emit("response.custom_tool_call_input.done", **where, input=item["input"])
            else:
                emit("response.output_item.added", output_index=index,
                     item={**item, "status": "in_progress", "arguments": ""})
                deltas("response.function_call_arguments.delta", item["id"], f'","output_index":{index},"delta":',
                       item["arguments"])
                emit("response.function_call_arguments.done", **where, name=item["name"],
                     arguments=item["arguments"])
            if len(encoded) == index:
                encoded.append(dumps(item))
            emit_json("response.output_item.done", f'"output_index":{index},"item":{encoded[index]}')
        status = final["status"]
        completed_at, incomplete = final["completed_at"], final["incomplete_details"]
        emit_json(f"response.{status}", '"response":' + _fill(
            template, rid, created, quote(status), "null" if completed_at is None else str(completed_at),
            "null" if incomplete is None else dumps(incomplete), "[" + ",".join(encoded) + "]", dumps(final["usage"])))
        return frames

    def defer(self, request: MockRequest, completion, error, fault, options) -> dict:
        return state.defer(self, request, completion, error, fault, options)

    # -- errors ------------------------------------------------------------------------------
    def render_error(self, error: ErrorReply, request_id: str) -> dict:
        return openai_error_body(error)

    def inband_error(self, events: Events, sent: int, error, kind: str) -> list:
        body = openai_error_body(error or ErrorReply(500))["error"]
        if kind == "failed":
            request, rid, created = events.context
            response = self._response(request, rid, created, "failed", [])
            response["error"] = {"code": body["code"] or "server_error", "message": body["message"]}
            return [sse({"type": "response.failed", "sequence_number": sent, "response": response},
                        "response.failed")]
        return [sse({"type": "error", "sequence_number": sent, "error": body, "code": body["code"],
                     "message": body["message"], "param": body["param"]}, "error")]


def _echoed(raw: dict) -> dict:
    """The members of `raw` in `BODY_KEYS`, in its order (a request has few members: the loop is short)."""
    return {key: value for key, value in raw.items() if key in BODY_KEYS}


# The members of a response object that differ between responses or between the events carrying one,
# in their order in it. The rest depends on the model and the request's `BODY_KEYS` alone.
SLOTS = ("id", "created_at", "status", "completed_at", "incomplete_details", "output", "usage")
_MARK = "\x00slot-" + hex_id("", 16) + "-"  # a value no request can hold by chance
_MARKS = {key: _MARK + key for key in SLOTS}
_QUOTED_MARKS = [quote(_MARK + key) for key in SLOTS]
_TEMPLATES: dict = {}  # (model, the echoed members' JSON) -> template
TEMPLATES_KEPT = 256  # request shapes kept; the oldest go first
_templates_lock = threading.Lock()


def _template(request: MockRequest, response: dict) -> list:
    """`response` (for `request`) as JSON cut at its `SLOTS`: the fixed text before, between and after
    them. Kept per model and echoed members: a test suite sends a few request shapes again and
    again, and encoding the object (its defaults, floats included) was ~6% of a stream."""
    key = (request.model, dumps(_echoed(request.raw)))
    template = _TEMPLATES.get(key)
    if template is not None:
        return template
    text = dumps({**response, **_MARKS})  # the same members in the same order, each slot a mark
    template = []
    for mark in _QUOTED_MARKS:
        head, _, text = text.partition(mark)
        template.append(head)
    template.append(text)
    with _templates_lock:
        _TEMPLATES[key] = template
        while len(_TEMPLATES) > TEMPLATES_KEPT:
            del _TEMPLATES[next(iter(_TEMPLATES))]
    return template


def _fill(template: list, rid: str, created: str, status: str, completed_at: str, incomplete_details: str,
          output: str, usage: str) -> str:
    """The response's JSON: the template's pieces with the slots' values (JSON, in `SLOTS` order) between."""
    before_id, before_created, before_status, before_completed, before_incomplete, before_output, \
        before_usage, end = template
    return "".join((before_id, rid, before_created, created, before_status, status, before_completed, completed_at,
                    before_incomplete, incomplete_details, before_output, output, before_usage, usage, end))


# -- the delta events' parts ----------------------------------------------------------------------
# A delta event is `<head><item id><tail>`: the head holds the event's kind and sequence number, the
# tail the chunk and its position. Heads depend on nothing else, so they are kept across streams; a
# stream makes its tails (one f-string a chunk) and joins each pair around its item id in one C call.
# Tails are not kept across streams: that would only pay when the same reply text comes again.
_HEADS: dict = {}  # event kind -> head bytes for sequence numbers 0, 1, …
HEADS_KEPT = 10_000  # sequence numbers kept per kind; a longer stream makes its later heads itself


def _heads(kind: str, start: int, count: int) -> list:
    """`event: <kind>\\ndata: {"type":"<kind>","sequence_number":<n>,"item_id":"` for n from `start`."""
    kept, end = _HEADS.get(kind, []), start + count
    if len(kept) >= end:
        return kept[start:end]
    before = f'event: {kind}\ndata: {{"type":"{kind}","sequence_number":'
    heads = kept + [f'{before}{n},"item_id":"'.encode() for n in range(len(kept), end)]
    if len(kept) < HEADS_KEPT:
        _HEADS[kind] = heads[:HEADS_KEPT]  # a new list: a thread reading the old one never sees it half-grown
    return heads[start:end]


def _text_part(text: str, entries: Optional[list] = None) -> dict:
    return {"type": "output_text", "annotations": [], "logprobs": with_bytes(entries) if entries else [], "text": text}


def _part_head(part: dict) -> str:
    """A text part's JSON up to its text (the text goes last: it is the long member, encoded once)."""
    return dumps({key: value for key, value in part.items() if key != "text"})[:-1]


EMPTY_PART = dumps(_text_part(""))  # the JSON of the part `content_part.added` announces
PART_HEAD = _part_head(_text_part(""))  # without logprobs, every text part's JSON up to its text


def _logprobs_asked(body: dict) -> Optional[int]:
    """`top_logprobs` (0 to 20) when `include` asks for output text logprobs; None otherwise."""
    include = optional(body, "include", list, "an array", [])
    top = optional(body, "top_logprobs", int, "an integer", 0)
    check_range(top)
    return top if "message.output_text.logprobs" in include else None


def _item(item, i: int):
    """One input item as a message; None for items that carry no conversation text (reasoning …)."""
    if isinstance(item, str):
        return Message("user", item)
    if not isinstance(item, dict):
        raise RequestError(f"Invalid type for 'input[{i}]': expected an object.", f"input[{i}]")
    kind = item.get("type", "message")
    if kind == "message" or (kind is None and "role" in item):
        role = item.get("role", "user")
        if not isinstance(role, str) or role not in ROLES:
            raise RequestError(f"Invalid value: '{role}'. Supported values are: 'assistant', 'system', "
                               f"'developer', and 'user'.", f"input[{i}].role")
        return Message(ROLES[role], text_of(item.get("content")))
    if kind in ("function_call_output", "custom_tool_call_output"):
        output = item.get("output")
        return Message("tool", text_of(output), item.get("call_id") if isinstance(item.get("call_id"), str) else None)
    if kind in ("function_call", "custom_tool_call"):
        return Message("assistant", "")
    return None


def _tools(tools: list) -> tuple:
    """(user tools, server tool types); namespaces contribute their inner tools."""
    user, server = [], []
    for tool in tools:
        if isinstance(tool, str):  # a bare name (abbreviated tool lists)
            user.append(ToolDef(tool))
        elif isinstance(tool, dict):
            kind = tool.get("type", "function")
            if kind in USER_TOOL_TYPES and isinstance(tool.get("name"), str):
                user.append(ToolDef(tool["name"], tool.get("description"), tool.get("parameters"), kind))
            elif kind == "namespace" and isinstance(tool.get("tools"), list):
                inner, inner_server = _tools(tool["tools"])
                user.extend(replace(t, namespace=t.namespace or tool.get("name")) for t in inner)
                server.extend(inner_server)
            elif isinstance(kind, str):
                server.append(kind)
    return user, server


def _usage(c: Completion) -> dict:
    return {
        "input_tokens": c.input_tokens,
        "input_tokens_details": {"cached_tokens": c.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": c.output_tokens,
        "output_tokens_details": {"reasoning_tokens": c.reasoning_tokens},
        "total_tokens": c.input_tokens + c.output_tokens,
    }
