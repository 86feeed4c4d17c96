"""Gemini API (Google AI Studio REST): `POST /{version}/models/{model}:generateContent` and the
routes around it, as the google-genai SDKs and the Gemini CLI call them (protocol-notes §11).

The API reads every field in lowerCamelCase or snake_case (protobuf JSON), and the Python SDK sends
both, so each field is read in either spelling; what the client wrote (schemas, arguments) is never
renamed. `:streamGenerateContent?alt=sse` streams SSE `data:` lines, without `alt=sse` one JSON array.
"""
from __future__ import annotations

import base64
import functools
import re
from typing import Any, Optional
from urllib.parse import parse_qsl

from ..embeddings import embed
from ..framing import SSE, Frame, JSONArray, Run, last_piece
from ..replies import Completion, ErrorReply
from ..request import Message, MockRequest, RequestError, ToolDef, finish
from .base import Call, Events, FormatAdapter, Route, dumps, json_body, quote, random_id

VERSIONS = ("v1beta", "v1", "v1alpha")
FINISH = {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
          503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED", 529: "UNAVAILABLE"}
MESSAGES = {400: "Request contains an invalid argument.", 401: "Request had invalid authentication credentials.",
            403: "The caller does not have permission", 404: "Requested entity was not found.",
            429: "You exceeded your current quota, please check your plan and billing details.",
            500: "An internal error has occurred. Please retry or report in "
                 "https://developers.generativeai.google/guide/troubleshooting",
            503: "The model is overloaded. Please try again later.",
            504: "Deadline expired before operation could complete."}
MODELS = (("gemini-2.5-pro", "Gemini 2.5 Pro", 65536, True),
          ("gemini-2.5-flash", "Gemini 2.5 Flash", 65536, True),
          ("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", 65536, True),
          ("gemini-2.0-flash", "Gemini 2.0 Flash", 8192, False),
          ("gemini-embedding-001", "Gemini Embedding 001", 1, False))
EMBEDDING_SIZE = 3072  # gemini-embedding-001's default outputDimensionality
_ARRAY = JSONArray()
_SSE_CRLF = SSE(malformed=b'data: {"candidates": [{"content":\r\n\r\n')


@functools.lru_cache(maxsize=64)
def _framing_of(query: str) -> Any:
    """SSE when the query says `alt=sse`, else a JSON array (asked several times a stream; few distinct queries)."""
    return _SSE_CRLF if ("alt", "sse") in parse_qsl(query) else _ARRAY


@functools.lru_cache(maxsize=256)
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@functools.lru_cache(maxsize=256)
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def get(obj: Any, name: str) -> Any:
    """`obj[name]` in lowerCamelCase or its snake_case spelling; None when absent or not an object."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(name)
    return obj.get(_snake(name)) if value is None else value


def _typed(obj: Any, name: str, kind: type, where: str, default: Any = None) -> Any:
    value = get(obj, name)
    if value is None:
        return default
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise RequestError(f"Invalid value at '{where}{_snake(name)}', {dumps(value)[:80]}", where + _snake(name))
    return value


def _model_id(call: Call) -> str:
    model = call.params.get("model", "")
    return model[7:] if model.startswith("models/") else model


# -- requests --------------------------------------------------------------------------------
def _texts(parts: list) -> str:
    return "\n".join(p["text"] for p in parts
                     if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought"))


def _contents(body: dict) -> list:
    """The conversation as normalised turns; a `functionResponse` part is a tool turn."""
    contents = get(body, "contents")
    if not contents:
        raise RequestError("* GenerateContentRequest.contents: contents is not specified", "contents")
    if not isinstance(contents, list):
        raise RequestError(f"Invalid value at 'contents', {dumps(contents)[:80]}", "contents")
    turns: list = []
    call_ids: dict = {}  # function name → ids of the model's calls not answered yet
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        if not isinstance(content, dict):
            raise RequestError(f"Invalid value at '{where}', {dumps(content)[:80]}", where)
        role = content.get("role") or "user"
        if role not in ("user", "model"):
            raise RequestError("Please use a valid role: user, model.", f"{where}.role")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise RequestError(f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.",
                               f"{where}.parts")
        if any(not isinstance(p, dict) for p in parts):
            raise RequestError(f"Invalid value at '{where}.parts': each part must be an object.", f"{where}.parts")
        for part in parts:
            called, answered = get(part, "functionCall"), get(part, "functionResponse")
            if isinstance(called, dict) and isinstance(called.get("name"), str):
                call_ids.setdefault(called["name"], []).append(called.get("id"))
            if answered is not None and (not isinstance(answered, dict) or not isinstance(answered.get("name"), str)):
                raise RequestError(f"* GenerateContentRequest.{where}.parts: function_response needs a name.",
                                   f"{where}.parts")
            if answered is not None:  # without an id: the earliest unanswered call of that name
                pending = call_ids.get(answered["name"], [])
                call_id = answered.get("id") if isinstance(answered.get("id"), str) else next(iter(pending), None)
                if call_id in pending:
                    pending.remove(call_id)
                turns.append(Message("tool", dumps(answered.get("response", {})), call_id))
        text = _texts(parts)
        answers = any(get(p, "functionResponse") is not None for p in parts)
        if text or not answers:
            turns.append(Message("assistant" if role == "model" else "user", text))
    return turns


def _tools(body: dict) -> tuple:
    """User functions (`functionDeclarations`) and the server tools offered (`googleSearch`, …)."""
    functions, server = [], []
    tools = get(body, "tools") or []
    if not isinstance(tools, list):
        raise RequestError(f"Invalid value at 'tools', {dumps(tools)[:80]}", "tools")
    for tool in tools:
        if not isinstance(tool, dict):
            raise RequestError(f"Invalid value at 'tools', {dumps(tool)[:80]}", "tools")
        for key, value in tool.items():
            if _camel(key) != "functionDeclarations":
                server.append(_camel(key))
                continue
            for declaration in value if isinstance(value, list) else ():
                name = declaration.get("name") if isinstance(declaration, dict) else None
                if not isinstance(name, str) or not name:
                    raise RequestError("* GenerateContentRequest.tools[0].function_declarations[0].name: "
                                       "Name cannot be empty.", "tools")
                schema = get(declaration, "parameters") or get(declaration, "parametersJsonSchema")
                functions.append(ToolDef(name, declaration.get("description"), schema))
    return functions, server


def _include_thoughts(body: Any) -> bool:
    return bool(get(get(get(body, "generationConfig"), "thinkingConfig"), "includeThoughts"))


# -- the adapter -----------------------------------------------------------------------------
class Gemini(FormatAdapter):
    name = "gemini"
    prefixes = tuple(f"/{v}/" for v in VERSIONS if v != "v1")
    header_hints = ("x-goog-api-key", "x-goog-api-client")
    framing = _SSE_CRLF

    def new_request_id(self) -> str:
        return random_id("", 22)

    def parse(self, body: dict, call: Call) -> MockRequest:
        messages = []
        system = get(body, "systemInstruction")
        if system is not None:
            if not isinstance(system, dict) or not isinstance(system.get("parts", []), list):
                raise RequestError(f"Invalid value at 'system_instruction', {dumps(system)[:80]}",
                                   "system_instruction")
            if _texts(system.get("parts", [])):
                messages.append(Message("system", _texts(system.get("parts", []))))
        messages.extend(_contents(body))
        functions, server = _tools(body)
        config = _typed(body, "generationConfig", dict, "", {})
        n = _typed(config, "candidateCount", int, "generation_config.", 1)
        if not 1 <= n <= 8:
            raise RequestError("* GenerateContentRequest.generation_config.candidate_count: must be between 1 and 8.",
                               "generation_config.candidate_count")
        limit = _typed(config, "maxOutputTokens", int, "generation_config.")
        if limit is not None and limit < 1:
            raise RequestError("* GenerateContentRequest.generation_config.max_output_tokens: must be positive.",
                               "generation_config.max_output_tokens")
        _typed(config, "thinkingConfig", dict, "generation_config.")
        _typed(body, "toolConfig", dict, "")
        request = MockRequest(
            format=self.name, model=_model_id(call), stream=bool(call.route and call.route.options.get("stream")),
            tools=functions, tool_names=tuple(t.name for t in functions), server_tool_types=tuple(server),
            headers=dict(call.headers), path=call.target, raw=body, max_tokens=limit, n=n,
        )
        return finish(request, messages)

    def framing_for(self, request: MockRequest) -> Any:
        return _framing_of(request.path.partition("?")[2])

    # -- JSON --------------------------------------------------------------------------------
    def _parts(self, request: MockRequest, c: Completion, ids: list) -> list:
        """Thought, text and function-call parts; the thought signature on the thought part, the
        first function call, or else the text."""
        parts: list = []
        signature = c.signature or (_signature(c.reasoning) if c.reasoning else None)  # a recorded one as given
        if c.reasoning and _include_thoughts(request.raw):
            parts.append({"text": c.reasoning, "thought": True, "thoughtSignature": signature})
        if c.emits_text or not (c.tools or parts):
            parts.append({"text": c.text or ""})
            if signature and not c.tools and len(parts) == 1:  # thoughts hidden, no call: on the text
                parts[0]["thoughtSignature"] = signature
        for position, (tool, call_id) in enumerate(zip(c.tools, ids, strict=True)):
            parts.append({"functionCall": {"name": tool.name, "args": tool.input, "id": call_id}})
            if position == 0 and signature:
                parts[-1]["thoughtSignature"] = signature
        return parts

    def render_json(self, request: MockRequest, c: Completion) -> dict:
        parts = self._parts(request, c, _call_ids(c))
        return {"candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": FINISH[c.finish],
                                "index": i} for i in range(request.n)],
                "usageMetadata": _usage(c), "modelVersion": request.model, "responseId": random_id("", 22)}

    # -- streams -----------------------------------------------------------------------------
    def render_events(self, request: MockRequest, c: Completion) -> Events:
        """Each chunk a whole GenerateContentResponse: thoughts and text in pieces, function calls
        whole, the finish reason on a candidate's last chunk, the full usage on the stream's last."""
        array = self.framing_for(request) is _ARRAY
        opening, closing = (",\r\n", "") if array else ("data: ", "\r\n\r\n")
        ids, prompt = _call_ids(c), c.input_tokens
        early = f'{{"promptTokenCount":{prompt},"totalTokenCount":{prompt}}}'  # usage before the end
        tail = f',"modelVersion":{quote(request.model)},"responseId":"{random_id("", 22)}"}}{closing}'
        head = opening + '{"candidates":[{"content":{"parts":'
        parts = self._parts(request, c, ids)
        size = c.chunk_size
        segments: list = []  # per text part: (all its pieces but the last, its last piece, flags, the last's flags)
        for part in parts:  # a piece's JSON after `"text":` is the piece quoted, then the flags
            if "functionCall" in part:
                continue
            flags = ',"thought":true' if part.get("thought") else ""
            signed = f',"thoughtSignature":"{part["thoughtSignature"]}"' if "thoughtSignature" in part else ""
            text = part["text"]
            at = last_piece(text, size)  # an empty text is one empty piece
            segments.append((text[:at], text[at:], flags, flags + signed))
        calls = [p for p in parts if "functionCall" in p]
        if calls:  # the calls, whole, in the last chunk
            last, last_chars = dumps(calls), 0
        else:  # the last text piece is the last chunk's
            rest, piece, flags, last_flags = segments[-1]
            segments[-1] = (rest, None, flags, last_flags)
            last, last_chars = f'[{{"text":{quote(piece)}{last_flags}}}]', len(piece)
        frames: list = []
        before = head + '[{"text":'
        for index in range(request.n):
            after = f'}}],"role":"model"}},"index":{index}}}],"usageMetadata":{early}{tail}'  # all but the last
            for rest, piece, flags, last_flags in segments:
                if rest:
                    frames.append(Run(rest, size, before, flags + after))
                if piece is not None:
                    frames.append(Frame(f"{before}{quote(piece)}{last_flags}{after}".encode(), len(piece)))
            usage = dumps(_usage(c)) if index == request.n - 1 else early
            end = f',"role":"model"}},"finishReason":"{FINISH[c.finish]}","index":{index}}}],"usageMetadata":{usage}'
            frames.append(Frame((head + last + end + tail).encode(), last_chars))
        if array:
            JSONArray.first(frames)
        return Events(frames, context=array)

    # -- errors ------------------------------------------------------------------------------
    def render_error(self, error: ErrorReply, request_id: str) -> dict:
        return google_error(error)

    def inband_error(self, events: Events, sent: int, error: Optional[ErrorReply], kind: str) -> list:
        body = dumps(google_error(error or ErrorReply(500))).encode("utf-8")
        if not events.context:
            return [Frame(b"data: " + body + b"\r\n\r\n")]
        return [Frame((JSONArray.separator if sent else b"") + body), Frame(_ARRAY.terminator)]

    def early_end(self, events: Events, sent: int) -> list:
        return [Frame(_ARRAY.terminator)] if events.context else []

    # -- models (also `GET /v1/models`, shared with OpenAI and Anthropic, by the request's headers) --
    def model_list(self, call: Call) -> dict:
        """One page of the catalogue, honouring `pageSize` and `pageToken` so the SDK's pager ends."""
        try:
            size = max(1, min(int(call.query.get("pageSize", 50)), 1000))
            start = int(call.query.get("pageToken") or 0)
        except ValueError:
            raise RequestError("Invalid value for pageSize or pageToken.", "page_token") from None
        page: dict = {"models": [_model(*m) for m in MODELS[start:start + size]]}
        if start + size < len(MODELS):
            page["nextPageToken"] = str(start + size)
        return page

    def model_get(self, call: Call) -> dict:
        model = _model_id(call)
        if ":" in model:  # `GET …/models/{model}:generateContent`: a method, not a model
            raise RequestError(f"Method not found: {call.method} {call.path.rsplit('/', 1)[-1]}", status=404)
        known = [m for m in MODELS if m[0] == model]
        return _model(*known[0]) if known else _model(model, model, 65536, True)


def google_error(error: ErrorReply) -> dict:
    """Google's error envelope. A `type` in Google's spelling (`FAILED_PRECONDITION`) names the status."""
    code = error.status
    status = error.type if error.type and error.type.isupper() else STATUS.get(
        code, "INTERNAL" if code >= 500 else "INVALID_ARGUMENT")
    details: list = []
    if error.param:
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": error.param, "description": error.message or ""}]})
    if error.retry_after is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": f"{error.retry_after:g}s"})
    return {"error": {"code": code, "message": error.message or MESSAGES.get(code, "Error."), "status": status,
                      "details": details}}


def _call_ids(c: Completion) -> list:
    return [tool.id or random_id("", 8).lower() for tool in c.tools]


def _signature(reasoning: str) -> str:
    """An opaque, stable, valid base64 thought signature (clients echo it back; nobody checks it)."""
    import hashlib  # on first use: a server start need not load it

    return base64.b64encode(b"llm_mock" + hashlib.sha256(reasoning.encode("utf-8")).digest()).decode("ascii")


def _usage(c: Completion) -> dict:
    usage = {"promptTokenCount": c.input_tokens, "candidatesTokenCount": max(c.output_tokens - c.reasoning_tokens, 0),
             "totalTokenCount": c.input_tokens + c.output_tokens,
             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": c.input_tokens}]}
    if c.reasoning_tokens:
        usage["thoughtsTokenCount"] = c.reasoning_tokens
    if c.cached_tokens:
        usage["cachedContentTokenCount"] = c.cached_tokens
    return usage


def _model(model_id: str, display: str, output_limit: int, thinking: bool) -> dict:
    embedding = "embedding" in model_id
    methods = ["embedContent", "countTextTokens", "countTokens"] if embedding else \
        ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
    model: dict = {"name": f"models/{model_id}", "version": "001", "displayName": display,
             "description": f"{display} (served by llm_mock)",
             "inputTokenLimit": 2048 if embedding else 1048576, "outputTokenLimit": output_limit,
             "supportedGenerationMethods": methods}
    if not embedding:
        model.update({"temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2})
    if thinking:
        model["thinking"] = True
    return model


# -- the routes beside generateContent -------------------------------------------------------
def count_tokens(call: Call, adapter: Gemini) -> dict:
    """`:countTokens`: the `promptTokenCount` a generateContent of the same body would report."""
    data = json_body(call)
    inner = get(data, "generateContentRequest")
    total = adapter.parse(inner if isinstance(inner, dict) else data, call).input_tokens
    return {"totalTokens": total, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}


def _embedding(data: Any, where: str) -> dict:
    content = get(data, "content")
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        raise RequestError(f"* {where}content: content is not specified", f"{where}content")
    size = _typed(data, "outputDimensionality", int, where, EMBEDDING_SIZE)
    if not 1 <= size <= EMBEDDING_SIZE:
        raise RequestError(f"* {where}output_dimensionality: must be between 1 and {EMBEDDING_SIZE}.",
                           f"{where}output_dimensionality")
    return {"values": embed(_texts(content["parts"]), size)}


def embed_content(call: Call, adapter: Gemini) -> dict:
    return {"embedding": _embedding(json_body(call), "")}


def batch_embed_contents(call: Call, adapter: Gemini) -> dict:
    requests = get(json_body(call), "requests")
    if not isinstance(requests, list) or not requests:
        raise RequestError("* BatchEmbedContentsRequest.requests: requests is not specified", "requests")
    return {"embeddings": [_embedding(r, f"requests[{i}].") for i, r in enumerate(requests)]}


def _routes() -> tuple:
    routes = []
    for v in VERSIONS:
        base = f"/{v}/models/{{model}}"
        routes += [Route("POST", base + ":generateContent"),
                   Route("POST", base + ":streamGenerateContent", options={"stream": True}),
                   Route("POST", base + ":countTokens", count_tokens),
                   Route("POST", base + ":embedContent", embed_content),
                   Route("POST", base + ":batchEmbedContents", batch_embed_contents)]
        if v != "v1":  # `GET /v1/models…` is the shared listing route, answered here by header hints
            routes += [Route("GET", f"/{v}/models", lambda call, adapter: adapter.model_list(call)),
                       Route("GET", base, lambda call, adapter: adapter.model_get(call))]
    return tuple(routes)


Gemini.routes = _routes()
