"""Readers for the dialects beyond OpenAI's chat and Responses and Anthropic's Messages: Gemini,
Ollama, OpenAI embeddings and legacy completions, each registered with `extract.register`.

The cloud transports need no reader of their own: Azure answers in OpenAI's bodies, Bedrock and
Vertex in Anthropic's (Bedrock's event-stream frames are decoded back to Anthropic's events by
`extract.aws_events`), so a recording through them is read by the format's reader.
"""
from __future__ import annotations

import base64
import binascii
import struct
from typing import Any, Optional

from .extract import (
    EXTRACTORS,
    Extractor,
    _args,
    _dict,
    _inband,
    _incomplete,
    _list,
    _loads,
    _reply,
    _usage,
    sse_events,
)

GEMINI_FILTERED = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY")
"""Gemini finish reasons that stop the text for a policy: a content-filter stop."""


def _get(obj: Any, name: str, snake: str) -> Any:
    """A protobuf-JSON field in lowerCamelCase or snake_case."""
    obj = _dict(obj)
    return obj[name] if name in obj else obj.get(snake)


class GenerateContent(Extractor):
    """Gemini's `generateContent` and `streamGenerateContent` (SSE with `?alt=sse`, else one JSON
    array). Every stream chunk is a whole response: parts are concatenated, the last finish reason
    and usage win. Thought parts are the reasoning; the first thought signature is the signature."""

    def events(self, body: bytes, media_type: str) -> list:
        text = body.decode("utf-8", "replace")
        if "event-stream" in media_type:
            return sse_events(text)
        data = _loads(text)
        if isinstance(data, list):
            return [(None, item) for item in data]
        items = (_loads(line.strip().lstrip("[,").rstrip("]")) for line in text.splitlines())
        return [(None, item) for item in items if isinstance(item, dict)]  # an array cut short

    def from_json(self, body: Any) -> dict:
        return self.from_events([(None, body)])

    def from_events(self, events: list) -> dict:
        text: list = []
        thoughts: list = []
        tools: list = []
        signature: Optional[str] = None
        finish: Any = None
        usage: dict = {}
        for _, data in events:
            data = _dict(data)
            if "error" in data and "candidates" not in data:
                joined = "".join(text)
                reply = self._reply(joined, thoughts, signature, tools, usage, finish)
                return {**reply, "fault": _inband(self._error(data["error"]), joined)}
            usage = _dict(_get(data, "usageMetadata", "usage_metadata")) or usage
            candidates = [c for c in map(_dict, _list(data.get("candidates"))) if c.get("index", 0) == 0]
            for candidate in candidates[:1]:
                for part in map(_dict, _list(_dict(candidate.get("content")).get("parts"))):
                    signed = _get(part, "thoughtSignature", "thought_signature")
                    signature = signature or (signed if isinstance(signed, str) else None)
                    call = _get(part, "functionCall", "function_call")
                    if isinstance(call, dict):
                        tools.append({"name": call.get("name", ""), "args": _args(call.get("args")),
                                      "id": call.get("id")})
                    elif isinstance(part.get("text"), str):
                        (thoughts if part.get("thought") else text).append(part["text"])
                finish = _get(candidate, "finishReason", "finish_reason") or finish
        return self._reply("".join(text), thoughts, signature, tools, usage, finish)

    @staticmethod
    def _error(error: Any) -> dict:
        error = _dict(error)
        status = error.get("status")
        return {"type": status, "message": error.get("message", "")} if isinstance(status, str) else error

    @staticmethod
    def _reply(text: str, thoughts: list, signature: Optional[str], tools: list, usage: dict, finish: Any) -> dict:
        thinking = _get(usage, "thoughtsTokenCount", "thoughts_token_count")
        candidates = _get(usage, "candidatesTokenCount", "candidates_token_count")
        output = (candidates or 0) + (thinking or 0) if isinstance(candidates, int) or isinstance(thinking, int) \
            else None
        counts = _usage(input=_get(usage, "promptTokenCount", "prompt_token_count"), output=output,
                        reasoning=thinking, cached=_get(usage, "cachedContentTokenCount", "cached_content_token_count"))
        fault = _incomplete(text, finish in GEMINI_FILTERED) if finish == "MAX_TOKENS" or finish in GEMINI_FILTERED \
            else None
        reply = _reply(text, "".join(thoughts), signature, tools, counts, fault)
        if thinking and not thoughts and "usage" in reply:  # thoughts hidden: their tokens still count
            reply["usage"]["reasoning"] = thinking
        return reply


class OllamaChat(Extractor):
    """Ollama's `/api/chat` and `/api/generate`: the whole answer in one object (`stream: false`),
    or NDJSON pieces whose last (`done: true`) holds the done reason and the counts."""

    def from_json(self, body: Any) -> dict:
        return self.from_events([(None, body)])

    def from_events(self, events: list) -> dict:
        text: list = []
        thinking: list = []
        tools: list = []
        finish, usage = None, None
        for _, data in events:
            data = _dict(data)
            if "error" in data:
                error = data["error"]
                joined = "".join(text)
                reply = self._reply(joined, thinking, tools, finish, usage)
                return {**reply, "fault": _inband(error if isinstance(error, dict) else {"message": str(error)},
                                                  joined)}
            message = _dict(data.get("message"))
            piece = message.get("content") if "message" in data else data.get("response")
            text.append(piece if isinstance(piece, str) else "")
            thought = message.get("thinking") if "message" in data else data.get("thinking")
            thinking.append(thought if isinstance(thought, str) else "")
            for call in map(_dict, _list(message.get("tool_calls"))):
                function = _dict(call.get("function"))
                tools.append({"name": function.get("name", ""), "args": _args(function.get("arguments")),
                              "id": call.get("id")})
            if data.get("done"):
                finish = data.get("done_reason")
                usage = _usage(input=data.get("prompt_eval_count"), output=data.get("eval_count"))
        return self._reply("".join(text), thinking, tools, finish, usage)

    @staticmethod
    def _reply(text: str, thinking: list, tools: list, finish: Any, usage: Optional[dict]) -> dict:
        fault = _incomplete(text, False) if finish == "length" else None
        return _reply(text, "".join(thinking), None, tools, usage, fault)


class LegacyCompletions(Extractor):
    """OpenAI's legacy `/v1/completions`: the first choice's text, its finish reason, the usage."""

    def from_json(self, body: Any) -> dict:
        return self.from_events([(None, body)])

    def from_events(self, events: list) -> dict:
        text: list = []
        finish: Any = None
        usage: dict = {}
        for _, data in events:
            data = _dict(data)
            if "error" in data and "choices" not in data:
                joined = "".join(text)
                return {**self._reply(joined, finish, usage), "fault": _inband(data["error"], joined)}
            usage = _dict(data.get("usage")) or usage
            for choice in map(_dict, _list(data.get("choices"))):
                if choice.get("index", 0) == 0:
                    text.append(choice.get("text") if isinstance(choice.get("text"), str) else "")
                    finish = choice.get("finish_reason") or finish
        return self._reply("".join(text), finish, usage)

    @staticmethod
    def _reply(text: str, finish: Any, usage: dict) -> dict:
        counts = _usage(input=usage.get("prompt_tokens"), output=usage.get("completion_tokens"))
        fault = _incomplete(text, finish == "content_filter") if finish in ("length", "content_filter") else None
        return _reply(text, None, None, None, counts, fault)


class Embeddings(Extractor):
    """OpenAI's `/v1/embeddings`: the vectors in input order (a base64 vector, which the Python SDK
    asks for by default, decoded to its float32 values) and the prompt tokens."""

    def from_json(self, body: Any) -> dict:
        items = sorted(map(_dict, _list(_dict(body).get("data"))), key=lambda item: item.get("index", 0))
        vectors = [self._vector(item.get("embedding")) for item in items]
        reply: dict = {"embeddings": [v for v in vectors if v is not None]}
        prompt = _dict(_dict(body).get("usage")).get("prompt_tokens")
        if isinstance(prompt, int) and not isinstance(prompt, bool):
            reply["usage"] = {"input": prompt}
        return reply

    def from_events(self, events: list) -> dict:
        return self.from_json(events[-1][1] if events else {})

    @staticmethod
    def _vector(value: Any) -> Optional[list]:
        if isinstance(value, list):
            return value
        if isinstance(value, str):
            try:
                raw = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return None
            return list(struct.unpack(f"<{len(raw) // 4}f", raw[: len(raw) // 4 * 4]))
        return None


for _name, _reader in (("gemini", GenerateContent()), ("ollama", OllamaChat()),
                       ("completions", LegacyCompletions()), ("embeddings", Embeddings())):
    EXTRACTORS.setdefault(_name, _reader)
