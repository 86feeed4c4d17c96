"""Anthropic Messages: `POST /v1/messages` (protocol-notes §4)."""
from __future__ import annotations

from typing import ClassVar

from ..framing import SSE, Framing, dumps
from ..replies import Completion, ErrorReply, thinking_signature
from ..request import Message, MockRequest, RequestError, ToolDef, finish, optional, require, text_of
from .base import Call, Events, FormatAdapter, Frame, Route, base58_id, deltas, json_body, quote, sse

STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens", "content_filter": "refusal"}
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
               403: "permission_error", 404: "not_found_error", 408: "timeout_error", 409: "conflict_error",
               413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 503: "api_error",
               504: "timeout_error", 529: "overloaded_error"}
EMPTY_BLOCKS = {"thinking": '{"type":"thinking","thinking":"","signature":""}', "text": '{"type":"text","text":""}'}
"""A content block as `content_block_start` opens it (tool_use: the block with empty input)."""
ERROR_MESSAGES = {401: "invalid x-api-key", 429: "Number of requests has exceeded your rate limit.",
                  500: "Internal server error", 529: "Overloaded"}


def count_tokens(call: Call, adapter: Messages) -> dict:
    """`POST /v1/messages/count_tokens`: the estimate a reply's `usage.input_tokens` would report."""
    data = json_body(call)
    data.setdefault("max_tokens", 1)  # the only field count_tokens does not take
    return {"input_tokens": adapter.parse(data, call).input_tokens}


class Messages(FormatAdapter):
    name = "anthropic"
    routes = (Route("POST", "/v1/messages"),
              Route("POST", "/v1/messages/count_tokens", count_tokens))
    prefixes = ("/v1/messages",)
    header_hints = ("anthropic-version", "x-api-key")
    request_id_header = "request-id"
    message_id_prefix = "msg_01"  # Bedrock's ids start msg_bdrk_01, Vertex's msg_vrtx_01
    framing: ClassVar[Framing] = SSE(
        malformed=b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":\n\n')

    def new_request_id(self) -> str:
        return base58_id("req_011", 24)

    def parse(self, body: dict, call: Call) -> MockRequest:
        model = require(body, "model", str, "a string")
        max_tokens = require(body, "max_tokens", int, "an integer")
        if max_tokens < 1:
            raise RequestError("max_tokens: must be greater than or equal to 1", "max_tokens")
        raw_messages = require(body, "messages", list, "an array")
        system = body.get("system")
        if system is not None and not isinstance(system, (str, list)):
            raise RequestError("system: Input should be a valid string or a list of text blocks", "system")
        messages = [Message("system", text_of(system))] if system else []
        for i, m in enumerate(raw_messages):
            messages.extend(_turn(m, i))
        user_tools, server_tools = [], []
        for tool in optional(body, "tools", list, "an array", []):
            if isinstance(tool, str):  # a bare name (abbreviated tool lists)
                user_tools.append(ToolDef(tool))
            elif isinstance(tool, dict) and ("input_schema" in tool or tool.get("type") in (None, "custom")) \
                    and isinstance(tool.get("name"), str):
                user_tools.append(ToolDef(tool["name"], tool.get("description"), tool.get("input_schema"),
                                          tool.get("type") or "custom"))
            elif isinstance(tool, dict) and isinstance(tool.get("type"), str):
                server_tools.append(tool["type"])
        request = MockRequest(
            format=self.name, model=model, stream=optional(body, "stream", bool, "a boolean", False),
            tools=user_tools, tool_names=tuple(t.name for t in user_tools), server_tool_types=tuple(server_tools),
            headers=dict(call.headers), path=call.target, raw=body, max_tokens=max_tokens,
        )
        return finish(request, messages)

    # -- JSON --------------------------------------------------------------------------------
    def _blocks(self, c: Completion) -> list:
        blocks = []
        if c.reasoning:
            blocks.append({"type": "thinking", "thinking": c.reasoning,
                           "signature": c.signature or thinking_signature(c.reasoning)})
        if c.emits_text:
            blocks.append({"type": "text", "text": c.text or ""})
        for tool in c.tools:
            blocks.append({"type": "tool_use", "id": tool.id or base58_id("toolu_01"), "name": tool.name,
                           "input": tool.input})
        return blocks

    def _message(self, request: MockRequest, c: Completion, content: list, final: bool) -> dict:
        return {
            "id": base58_id(self.message_id_prefix), "type": "message", "role": "assistant", "model": request.model,
            "content": content, "stop_reason": STOP_REASONS[c.finish] if final else None,
            "stop_sequence": None, "stop_details": None,
            "usage": {"input_tokens": c.input_tokens, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": c.cached_tokens,
                      "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                      "output_tokens": c.output_tokens if final else 1, "service_tier": "standard"},
        }

    def render_json(self, request: MockRequest, c: Completion) -> dict:
        return self._message(request, c, self._blocks(c), True)

    # -- SSE ---------------------------------------------------------------------------------
    def render_events(self, request: MockRequest, c: Completion) -> Events:
        """The events as the API sends them. The fixed ones are templates, not dicts for `dumps`: the
        same JSON as `_message` and the other dicts give (tests/unit/test_stream_templates.py)."""
        frames = [Frame(f'event: message_start\ndata: {{"type":"message_start","message":{{"id":'
                        f'"{base58_id(self.message_id_prefix)}","type":"message","role":"assistant","model":'
                        f'{quote(request.model)},"content":[],"stop_reason":null,"stop_sequence":null,'
                        f'"stop_details":null,"usage":{{"input_tokens":{c.input_tokens},'
                        f'"cache_creation_input_tokens":0,"cache_read_input_tokens":{c.cached_tokens},'
                        f'"cache_creation":{{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0}},'
                        f'"output_tokens":1,"service_tier":"standard"}}}}}}\n\n'.encode())]

        def block_deltas(index: int, kind: str, key: str, text: str) -> None:
            before = f'event: content_block_delta\ndata: {{"type":"content_block_delta","index":{index},"delta":' \
                     f'{{"type":"{kind}","{key}":'
            frames.extend(deltas(text, c.chunk_size, before, "}}\n\n"))

        for index, block in enumerate(self._blocks(c)):
            kind = block["type"]
            empty = EMPTY_BLOCKS[kind] if kind in EMPTY_BLOCKS else dumps({**block, "input": {}})
            frames.append(Frame(f'event: content_block_start\ndata: {{"type":"content_block_start","index":{index},'
                                f'"content_block":{empty}}}\n\n'.encode()))
            if index == 0:
                frames.append(Frame(b'event: ping\ndata: {"type":"ping"}\n\n'))
            if kind == "thinking":
                block_deltas(index, "thinking_delta", "thinking", block["thinking"])
                frames.append(sse({"type": "content_block_delta", "index": index,
                                   "delta": {"type": "signature_delta", "signature": block["signature"]}},
                                  "content_block_delta"))
            elif kind == "text":
                block_deltas(index, "text_delta", "text", block["text"])
            else:
                frames.append(Frame(f'event: content_block_delta\ndata: {{"type":"content_block_delta","index":{index},'
                                    f'"delta":{{"type":"input_json_delta","partial_json":""}}}}\n\n'.encode()))
                block_deltas(index, "input_json_delta", "partial_json", dumps(block["input"]))
            frames.append(Frame(f'event: content_block_stop\ndata: {{"type":"content_block_stop","index":{index}}}\n\n'
                                .encode()))
        frames.append(Frame(f'event: message_delta\ndata: {{"type":"message_delta","delta":{{"stop_reason":'
                            f'"{STOP_REASONS[c.finish]}","stop_sequence":null,"stop_details":null}},"usage":'
                            f'{{"input_tokens":{c.input_tokens},"cache_creation_input_tokens":0,'
                            f'"cache_read_input_tokens":{c.cached_tokens},"output_tokens":{c.output_tokens}}}}}'
                            f'\n\n'.encode()))
        frames.append(Frame(b'event: message_stop\ndata: {"type":"message_stop"}\n\n'))
        return Events(frames)

    # -- errors ------------------------------------------------------------------------------
    def render_error(self, error: ErrorReply, request_id: str) -> dict:
        kind = error.type
        if kind is None or (kind == "invalid_request_error" and error.status in ERROR_TYPES):
            # the generic refusal type is Anthropic's 400 only: an unknown route is `not_found_error`
            kind = ERROR_TYPES.get(error.status, "api_error" if error.status >= 500 else "invalid_request_error")
        message = error.message or ERROR_MESSAGES.get(error.status, kind.replace("_", " ").capitalize())
        return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}

    def inband_error(self, events: Events, sent: int, error, kind: str) -> list:
        return [sse(self.render_error(error or ErrorReply.overloaded(), events.request_id or self.new_request_id()),
                    "error")]

    def early_end(self, events: Events, sent: int) -> list:
        return [Frame(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')]


def _turn(m, i: int) -> list:
    """One message as normalised turns: tool results become `tool` turns, the rest text."""
    if not isinstance(m, dict):
        raise RequestError(f"messages.{i}: Input should be a valid dictionary", f"messages.{i}")
    role = m.get("role")
    if role not in ("user", "assistant", "system"):
        raise RequestError(f"messages.{i}.role: Input should be 'user' or 'assistant'", f"messages.{i}.role")
    content = m.get("content")
    if isinstance(content, str):
        return [Message(role, content)]
    if not isinstance(content, list):
        raise RequestError(f"messages.{i}.content: Input should be a valid string or list", f"messages.{i}.content")
    turns = []
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            tool_use_id = block.get("tool_use_id")
            turns.append(Message("tool", text_of(block.get("content")),
                                 tool_use_id if isinstance(tool_use_id, str) else None))
    texts = [b for b in content if isinstance(b, dict) and b.get("type") == "text"]
    if texts or not turns:
        turns.append(Message(role, text_of(texts)))
    return turns
