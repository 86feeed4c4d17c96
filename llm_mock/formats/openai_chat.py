"""OpenAI Chat Completions: `POST /v1/chat/completions` (protocol-notes §2)."""
from __future__ import annotations

import time
from typing import Optional

from .. import catalog
from ..framing import SSE
from ..logprobs import check_range, compute, groups, spelled, with_bytes
from ..replies import Completion, ErrorReply
from ..request import Message, MockRequest, RequestError, ToolDef, finish, optional, require, text_of
from .base import Call, Events, FormatAdapter, Frame, Route, deltas, dumps, openai_error_body, quote, random_id

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant",
         "tool": "tool", "function": "tool"}
FINGERPRINT = "fp_" + "6c1d2e3f4a"


class ChatCompletions(FormatAdapter):
    name = "openai"
    routes = (Route("POST", "/v1/chat/completions"),
              Route("GET", "/v1/models", catalog.list_models, by_headers=True),
              Route("GET", "/v1/models/{model}", catalog.get_model, by_headers=True))
    framing = SSE(terminator=b"data: [DONE]\n\n")

    def parse(self, body: dict, call: Call) -> MockRequest:
        model = require(body, "model", str, "a string")
        raw_messages = require(body, "messages", list, "an array")
        if not raw_messages:
            raise RequestError("Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages")
        messages = [_message(m, i) for i, m in enumerate(raw_messages)]
        tools = [_tool(t, i) for i, t in enumerate(optional(body, "tools", list, "an array", []))]
        n = optional(body, "n", int, "an integer", 1)
        if not 1 <= n <= 128:
            raise RequestError(f"Invalid 'n': integer {n} is out of range; expected 1 to 128.", "n")
        stream_options = optional(body, "stream_options", dict, "an object", {})
        limit = optional(body, "max_completion_tokens", int, "an integer",
                         optional(body, "max_tokens", int, "an integer"))
        request = MockRequest(
            format=self.name, model=model, stream=optional(body, "stream", bool, "a boolean", False),
            tools=[t for t in tools if t], tool_names=tuple(t.name for t in tools if t),
            headers=dict(call.headers), path=call.target, raw=body, max_tokens=limit, n=n,
            include_usage=bool(stream_options.get("include_usage")),
        )
        if "logprobs" in body or "top_logprobs" in body:
            request.logprobs = _logprobs_asked(body)
        return finish(request, messages)

    # -- JSON --------------------------------------------------------------------------------
    def render_json(self, request: MockRequest, c: Completion) -> dict:
        message: dict = {"role": "assistant", "content": c.text if c.emits_text else None, "refusal": None,
                         "annotations": []}
        if c.tools:
            message["tool_calls"] = [_tool_call(t, _call_id(t)) for t in c.tools]
        logprobs = None if request.logprobs is None else {
            "content": with_bytes(compute(c.text, request.logprobs, c.logprobs)) if c.emits_text else None,
            "refusal": None}
        choices = [{"index": i, "message": message, "logprobs": logprobs, "finish_reason": c.finish}
                   for i in range(request.n)]
        return {
            "id": random_id("chatcmpl-", 29), "object": "chat.completion", "created": int(time.time()),
            "model": request.model, "choices": choices, "usage": _usage(c),
            "service_tier": "default", "system_fingerprint": FINGERPRINT,
        }

    # -- SSE ---------------------------------------------------------------------------------
    def render_events(self, request: MockRequest, c: Completion) -> Events:
        envelope = f'{{"id":"{random_id("chatcmpl-", 29)}","object":"chat.completion.chunk","created":' \
                   f'{int(time.time())},"model":{quote(request.model)},"service_tier":"default",' \
                   f'"system_fingerprint":"{FINGERPRINT}"'  # every chunk's members before `choices`
        prefix = "data: " + envelope + ',"choices":[{"index":'
        suffix = ',"usage":null}\n\n' if request.include_usage else "}\n\n"
        frames = []
        tool_ids = [_call_id(t) for t in c.tools]  # the same ids in every choice, as n>1 replays one reply

        def chunk(index: int, delta: str, finish_reason: str = "null", chars: int = 0) -> None:
            frames.append(Frame(f'{prefix}{index},"delta":{delta},"logprobs":null,"finish_reason":{finish_reason}}}]'
                                f"{suffix}".encode(), chars))

        for index in range(request.n):
            if c.emits_text and request.logprobs is not None:  # each delta carries its tokens' logprobs
                frames.append(Frame(f'{prefix}{index},"delta":{{"role":"assistant","content":"","refusal":null}},'
                                    f'"logprobs":{{"content":[],"refusal":null}},"finish_reason":null}}]{suffix}'
                                    .encode()))
                for group in groups(compute(c.text, request.logprobs, c.logprobs), c.chunk_size):
                    piece = spelled(group)
                    frames.append(Frame(f'{prefix}{index},"delta":{{"content":{quote(piece)}}},"logprobs":'
                                        f'{{"content":{dumps(with_bytes(group))},"refusal":null}},'
                                        f'"finish_reason":null}}]{suffix}'.encode(), len(piece)))
            elif c.emits_text:
                chunk(index, '{"role":"assistant","content":"","refusal":null}')
                frames.extend(deltas(c.text, c.chunk_size, f'{prefix}{index},"delta":{{"content":',
                                     f'}},"logprobs":null,"finish_reason":null}}]{suffix}'))
            elif not c.tools:  # reasoning only: Chat Completions carries no reasoning, just the role
                chunk(index, '{"role":"assistant","content":null,"refusal":null}')
            for position, (tool, call_id) in enumerate(zip(c.tools, tool_ids, strict=True)):
                first = {"index": position, "id": call_id, "type": "function",
                         "function": {"name": tool.name, "arguments": ""}}
                if position == 0 and not c.emits_text:
                    chunk(index, dumps({"role": "assistant", "content": None, "tool_calls": [first],
                                        "refusal": None}))
                else:
                    chunk(index, dumps({"tool_calls": [first]}))
                for piece in c.chunks(tool.arguments):
                    chunk(index, dumps({"tool_calls": [{"index": position, "function": {"arguments": piece}}]}),
                          chars=len(piece))
        for index in range(request.n):
            chunk(index, "{}", '"' + c.finish + '"')
        if request.include_usage:
            envelope_only = prefix[:prefix.rindex("[")]  # `data: {…,"choices":`
            frames.append(Frame(f'{envelope_only}[],"usage":{dumps(_usage(c))}}}\n\n'.encode()))
        return Events(frames)

    # -- errors ------------------------------------------------------------------------------
    def render_error(self, error: ErrorReply, request_id: str) -> dict:
        return openai_error_body(error)

    def inband_error(self, events: Events, sent: int, error, kind: str) -> list:
        body = openai_error_body(error or ErrorReply(500))
        return [Frame(f"data: {dumps(body)}\n\n".encode())]


def _logprobs_asked(body: dict) -> Optional[int]:
    """Alternatives per token when `logprobs: true` (`top_logprobs`, 0 to 20); None when not asked."""
    wanted = optional(body, "logprobs", bool, "a boolean", False)
    top = optional(body, "top_logprobs", int, "an integer")
    if top is not None:
        check_range(top)
    if top is not None and not wanted:
        raise RequestError("Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' "
                           "is used.", "top_logprobs")
    return (top or 0) if wanted else None


def _message(m, i: int) -> Message:
    if not isinstance(m, dict):
        raise RequestError(f"Invalid type for 'messages[{i}]': expected an object.", f"messages[{i}]")
    role = m.get("role", "user")
    if not isinstance(role, str) or role not in ROLES:
        raise RequestError(f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                           f"'function', 'tool', and 'developer'.", f"messages[{i}].role")
    content = m.get("content")
    if content is not None and not isinstance(content, (str, list)):
        raise RequestError(f"Invalid type for 'messages[{i}].content': expected a string or an array.",
                           f"messages[{i}].content")
    tool_call_id = m.get("tool_call_id")
    return Message(ROLES[role], text_of(content, ("text", "refusal")),
                   tool_call_id if isinstance(tool_call_id, str) else None)


def _tool(t, i: int):
    if not isinstance(t, dict):
        raise RequestError(f"Invalid type for 'tools[{i}]': expected an object.", f"tools[{i}]")
    kind = t.get("type", "function")
    if not isinstance(kind, str):
        raise RequestError(f"Invalid type for 'tools[{i}].type': expected a string.", f"tools[{i}].type")
    nested = t.get(kind)
    spec = nested if isinstance(nested, dict) else t
    name = spec.get("name")
    if not isinstance(name, str):
        return None
    return ToolDef(name, spec.get("description"), spec.get("parameters"), kind)


def _call_id(tool) -> str:
    return tool.id or random_id("call_", 24)


def _tool_call(tool, call_id: str) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": tool.name, "arguments": tool.arguments}}


def _usage(c: Completion) -> dict:
    return {
        "prompt_tokens": c.input_tokens, "completion_tokens": c.output_tokens,
        "total_tokens": c.input_tokens + c.output_tokens,
        "prompt_tokens_details": {"cached_tokens": c.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": c.reasoning_tokens, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }
