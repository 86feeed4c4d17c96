"""What a recorded response said, as a rule's `reply`: one extractor per wire format.

An extractor reads the upstream's answer, a JSON body or a stream's events, into the reply keys of
a rule file (snake_case): `text`, `reasoning` and its `signature`, `tools` (`name`, `args`, `id`),
`usage` (`input`, `output`, `reasoning`, `cached`), and a `fault` for a finish that is not a plain
stop (`incomplete` for a length or content-filter stop, `error` / `failed` for an in-band failure).
An HTTP error status becomes `{error: {status, message, type, code, param, retry_after}}` in any
format. A new format adds its extractor with `register(name, extractor)`.
"""
from __future__ import annotations

import base64
import binascii
import json
import struct
from typing import Any, Optional

_INBAND_STATUS = {"overloaded_error": 529, "rate_limit_error": 429, "api_error": 500, "server_error": 500,
                  "rate_limit_exceeded": 429, "invalid_request_error": 400, "timeout_error": 504,
                  "ThrottlingException": 429, "ServiceUnavailableException": 503, "ModelTimeoutException": 408,
                  "RESOURCE_EXHAUSTED": 429, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504}


class Extractor:
    """Reads one format's answers. `events` splits a stream body into (event name, JSON data)
    pairs; the default reads server-sent events and newline-delimited JSON."""

    def from_json(self, body: Any) -> dict:
        raise NotImplementedError

    def from_events(self, events: list) -> dict:
        raise NotImplementedError

    def events(self, body: bytes, media_type: str) -> list:
        if "amazon.eventstream" in media_type:
            return aws_events(body)
        text = body.decode("utf-8", "replace")
        if "event-stream" in media_type:
            return sse_events(text)
        return [(None, data) for data in (_loads(line) for line in text.splitlines() if line.strip())
                if data is not None]


def sse_events(text: str) -> list:
    """(event, data) for every server-sent event whose data is JSON (`[DONE]` and comments skipped)."""
    found = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, lines = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                lines.append(line[5:][1:] if line[5:6] == " " else line[5:])
        data = _loads("\n".join(lines)) if lines else None
        if data is not None:
            found.append((name, data))
    return found


_FIXED = {2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}  # event-stream header value sizes by type (0, 1: none)


def aws_events(body: bytes) -> list:
    """(None, event) for every message of an AWS event stream (Bedrock's invoke-with-response-stream):
    a `chunk`'s base64 `bytes` decoded back to the vendor's JSON event; an `exception` message as an
    `{"type": "error", "error": {"type": <Exception name>, "message": ...}}` event."""
    found, at = [], 0
    while at + 16 <= len(body):
        total, head = struct.unpack_from("!II", body, at)
        if total < 16 or at + total > len(body):
            break
        headers = _aws_headers(body[at + 12: at + 12 + head])
        payload = _loads(body[at + 12 + head: at + total - 4].decode("utf-8", "replace"))
        at += total
        if headers.get(":message-type") == "exception":
            kind = str(headers.get(":exception-type", "internalServerException"))
            found.append((None, {"type": "error", "error": {"type": kind[:1].upper() + kind[1:],
                                                             "message": _dict(payload).get("message", "")}}))
            continue
        encoded = _dict(payload).get("bytes")
        try:
            event = _loads(base64.b64decode(encoded).decode("utf-8", "replace")) if isinstance(encoded, str) else None
        except (binascii.Error, ValueError):
            event = None
        if event is not None:
            found.append((None, event))
    return found


def _aws_headers(data: bytes) -> dict:
    headers: dict = {}
    at = 0
    while at < len(data):
        size = data[at]
        name = data[at + 1: at + 1 + size].decode("utf-8", "replace")
        kind = data[at + 1 + size] if at + 1 + size < len(data) else 0
        at += 2 + size
        if kind in (6, 7):  # bytes, string: a two-byte length first
            length = struct.unpack_from("!H", data, at)[0] if at + 2 <= len(data) else 0
            value: Any = data[at + 2: at + 2 + length]
            headers[name] = value.decode("utf-8", "replace") if kind == 7 else value
            at += 2 + length
        else:
            at += _FIXED.get(kind, 0)
    return headers


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _args(arguments: Any) -> Any:
    """Tool arguments as an object when they are a JSON object, else the string as sent."""
    if isinstance(arguments, dict):
        return arguments
    value = _loads(arguments) if isinstance(arguments, str) else None
    return value if isinstance(value, dict) else (arguments if isinstance(arguments, str) else {})


def _usage(**counts: Any) -> Optional[dict]:
    usage = {k: v for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool)}
    return usage or None


def _reply(text: Optional[str], reasoning: Optional[str] = None, signature: Optional[str] = None,
           tools: Optional[list] = None, usage: Optional[dict] = None, fault: Optional[dict] = None) -> dict:
    reply: dict = {}
    if text or not (tools or reasoning):
        reply["text"] = text or ""
    if reasoning:
        reply["reasoning"] = reasoning
    if signature:
        reply["signature"] = signature
    if tools:
        reply["tools"] = tools
    if usage:  # zero cached or reasoning tokens are what a replay reports anyway: not written
        usage = {k: v for k, v in usage.items() if v or k in ("input", "output") or (k == "reasoning" and reasoning)}
        reply["usage"] = usage
    if fault:
        reply["fault"] = fault
    return reply


def _incomplete(text: Optional[str], content_filter: bool) -> dict:
    fault = {"kind": "incomplete", "after_chars": len(text or "")}
    if content_filter:
        fault["reason"] = "content_filter"
    return fault


def _inband(error: Any, text: str, kind: str = "error") -> dict:
    """A failure inside a started stream, after the text sent so far."""
    error = _dict(error)
    name = error.get("type") if isinstance(error.get("type"), str) else error.get("code")
    status = _INBAND_STATUS.get(name, 500) if isinstance(name, str) else 500
    detail = {"status": status, "message": str(error.get("message") or "")}
    if isinstance(name, str):
        detail["type"] = name
    return {"kind": kind, "after_chars": len(text), "error": detail}


class ChatCompletions(Extractor):
    def from_json(self, body: Any) -> dict:
        choice = _dict((_list(_dict(body).get("choices")) or [{}])[0])
        message = _dict(choice.get("message"))
        tools = [{"name": _dict(call.get("function")).get("name", ""),
                  "args": _args(_dict(call.get("function")).get("arguments")), "id": call.get("id")}
                 for call in map(_dict, _list(message.get("tool_calls")))]
        return self._reply(message.get("content"), message.get("reasoning_content"), tools,
                           choice.get("finish_reason"), _dict(body).get("usage"))

    def from_events(self, events: list) -> dict:
        text: list = []
        reasoning: list = []
        calls: dict = {}
        finish, usage = None, None
        for _, data in events:
            data = _dict(data)
            if "error" in data and "choices" not in data:
                return {**self._reply("".join(text), "".join(reasoning), self._tools(calls), None, usage),
                        "fault": _inband(data["error"], "".join(text))}
            if data.get("usage"):
                usage = data["usage"]
            for choice in map(_dict, _list(data.get("choices"))):
                if choice.get("index", 0) != 0:
                    continue
                delta = _dict(choice.get("delta"))
                text.append(delta.get("content") or "")
                reasoning.append(delta.get("reasoning_content") or "")
                for call in map(_dict, _list(delta.get("tool_calls"))):
                    entry = calls.setdefault(call.get("index", 0), {"id": None, "name": "", "arguments": ""})
                    function = _dict(call.get("function"))
                    entry["id"] = call.get("id") or entry["id"]
                    entry["name"] += function.get("name") or ""
                    entry["arguments"] += function.get("arguments") or ""
                finish = choice.get("finish_reason") or finish
        return self._reply("".join(text), "".join(reasoning), self._tools(calls), finish, usage)

    @staticmethod
    def _tools(calls: dict) -> list:
        return [{"name": c["name"], "args": _args(c["arguments"]), "id": c["id"]} for _, c in sorted(calls.items())]

    @staticmethod
    def _reply(text: Any, reasoning: Any, tools: list, finish: Any, usage: Any) -> dict:
        text = text if isinstance(text, str) else None
        usage = _dict(usage)
        counts = _usage(input=usage.get("prompt_tokens"), output=usage.get("completion_tokens"),
                        reasoning=_dict(usage.get("completion_tokens_details")).get("reasoning_tokens"),
                        cached=_dict(usage.get("prompt_tokens_details")).get("cached_tokens"))
        fault = _incomplete(text, finish == "content_filter") if finish in ("length", "content_filter") else None
        return _reply(text, reasoning if isinstance(reasoning, str) else None, None, tools, counts, fault)


class Responses(Extractor):
    def from_json(self, body: Any) -> dict:
        body = _dict(body)
        text: list = []
        reasoning: list = []
        tools: list = []
        signature = None
        for item in map(_dict, _list(body.get("output"))):
            kind = item.get("type")
            if kind == "reasoning":
                parts = _list(item.get("summary")) or _list(item.get("content"))
                reasoning.extend(str(_dict(p).get("text", "")) for p in parts)
                signature = item.get("encrypted_content") or signature
            elif kind == "message":
                text.extend(str(_dict(p).get("text", "")) for p in _list(item.get("content"))
                            if _dict(p).get("type") == "output_text")
            elif kind == "function_call":
                tools.append({"name": item.get("name", ""), "args": _args(item.get("arguments")),
                              "id": item.get("call_id")})
            elif kind == "custom_tool_call":
                tools.append({"name": item.get("name", ""), "args": str(item.get("input", "")),
                              "id": item.get("call_id")})
        usage = _dict(body.get("usage"))
        counts = _usage(input=usage.get("input_tokens"), output=usage.get("output_tokens"),
                        reasoning=_dict(usage.get("output_tokens_details")).get("reasoning_tokens"),
                        cached=_dict(usage.get("input_tokens_details")).get("cached_tokens"))
        joined = "".join(text)
        fault = None
        if body.get("status") == "incomplete":
            reason = _dict(body.get("incomplete_details")).get("reason")
            fault = _incomplete(joined, reason == "content_filter")
        elif body.get("status") == "failed":
            fault = _inband(body.get("error"), joined, "failed")
        return _reply(joined, "\n\n".join(reasoning), signature if isinstance(signature, str) else None,
                      tools, counts, fault)

    def from_events(self, events: list) -> dict:
        text = []
        for name, data in events:
            data = _dict(data)
            kind = data.get("type") or name
            if kind in ("response.completed", "response.incomplete", "response.failed"):
                return self.from_json(data.get("response"))
            if kind == "response.output_text.delta":
                text.append(str(data.get("delta", "")))
            if kind == "error":
                return {**_reply("".join(text)), "fault": _inband(data.get("error") or data, "".join(text))}
        return _reply("".join(text))


class Messages(Extractor):
    """Anthropic Messages; a stream is put back together into the message it streamed."""

    def from_json(self, body: Any) -> dict:
        body = _dict(body)
        text: list = []
        thinking: list = []
        tools: list = []
        signature = None
        for block in map(_dict, _list(body.get("content"))):
            kind = block.get("type")
            if kind == "text":
                text.append(str(block.get("text", "")))
            elif kind == "thinking":
                thinking.append(str(block.get("thinking", "")))
                signature = block.get("signature") or signature
            elif kind == "tool_use":
                tools.append({"name": block.get("name", ""), "args": _dict(block.get("input")), "id": block.get("id")})
        usage = _dict(body.get("usage"))
        counts = _usage(input=usage.get("input_tokens"), output=usage.get("output_tokens"),
                        cached=usage.get("cache_read_input_tokens") or None)
        stop = body.get("stop_reason")
        joined = "".join(text)
        fault = _incomplete(joined, stop == "refusal") if stop in ("max_tokens", "refusal") else None
        return _reply(joined, "\n\n".join(thinking), signature if isinstance(signature, str) else None,
                      tools, counts, fault)

    def from_events(self, events: list) -> dict:
        message: dict = {"content": [], "usage": {}}
        partial: dict = {}
        for name, data in events:
            data = _dict(data)
            kind = data.get("type") or name
            if kind == "message_start":
                start = _dict(data.get("message"))
                message.update({k: v for k, v in start.items() if k != "content"})
                message["usage"] = dict(_dict(start.get("usage")))
            elif kind == "content_block_start":
                message["content"].append(dict(_dict(data.get("content_block"))))
            elif kind == "content_block_delta" and message["content"]:
                self._delta(message["content"][-1], _dict(data.get("delta")), partial, len(message["content"]) - 1)
            elif kind == "message_delta":
                message.update(_dict(data.get("delta")))
                message["usage"].update(_dict(data.get("usage")))
            elif kind == "error":
                text = "".join(str(b.get("text", "")) for b in message["content"] if b.get("type") == "text")
                return {**self.from_json(message), "fault": _inband(data.get("error"), text)}
        for index, raw in partial.items():
            message["content"][index]["input"] = _loads(raw) if raw else {}
        return self.from_json(message)

    @staticmethod
    def _delta(block: dict, delta: dict, partial: dict, index: int) -> None:
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + str(delta.get("text", ""))
        elif kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + str(delta.get("thinking", ""))
        elif kind == "signature_delta":
            block["signature"] = block.get("signature", "") + str(delta.get("signature", ""))
        elif kind == "input_json_delta":
            partial[index] = partial.get(index, "") + str(delta.get("partial_json", ""))


EXTRACTORS: dict = {"openai": ChatCompletions(), "responses": Responses(), "anthropic": Messages()}


def register(name: str, extractor: Extractor) -> None:
    """Teach the recorder to read format `name`'s answers."""
    EXTRACTORS[name] = extractor


def error_of(status: int, headers: dict, body: bytes) -> dict:
    """An HTTP error answer as a rule's `error`: status, the message and type the body gives (any
    vendor's shape), and the retry headers."""
    data = _loads(body.decode("utf-8", "replace"))
    inner = data.get("error") if isinstance(data, dict) else None
    error = _dict(inner) if isinstance(inner, dict) else _dict(data)
    message = error.get("message") if isinstance(error.get("message"), str) else (
        inner if isinstance(inner, str) else body.decode("utf-8", "replace")[:2000])
    result: dict = {"status": status, "message": message}
    for key in ("type", "code", "param"):
        if isinstance(error.get(key), str):
            result[key] = error[key]
    if "type" not in result and isinstance(error.get("status"), str) and error["status"].isupper():
        result["type"] = error["status"]  # Google's status name (RESOURCE_EXHAUSTED)
    if "type" not in result and headers.get("x-amzn-errortype"):
        result["type"] = headers["x-amzn-errortype"].split(":")[0]  # Bedrock's exception name
    for detail in map(_dict, _list(error.get("details"))):  # Google's RetryInfo
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s") and headers.get("retry-after") is None:
            try:
                result["retry_after"] = float(delay[:-1])
            except ValueError:
                pass
    retry = headers.get("retry-after-ms")
    try:
        if retry is not None:
            result["retry_after"] = float(retry) / 1000
        elif headers.get("retry-after") is not None:
            result["retry_after"] = float(headers["retry-after"])
    except ValueError:
        pass
    if headers.get("x-should-retry") in ("true", "false"):
        result["should_retry"] = headers["x-should-retry"] == "true"
    return result


def reply_of(format: str, status: int, headers: dict, body: bytes, streamed: bool) -> Optional[dict]:
    """The rule reply for one recorded answer; None when the format has no extractor (the sidecar
    still holds the exact answer) or the body cannot be read."""
    if status >= 400:
        return {"error": error_of(status, headers, body)}
    extractor = EXTRACTORS.get(format)
    if extractor is None:
        return None
    if streamed:
        return extractor.from_events(extractor.events(body, headers.get("content-type", "")))
    data = _loads(body.decode("utf-8", "replace"))
    return extractor.from_json(data) if data is not None else None
