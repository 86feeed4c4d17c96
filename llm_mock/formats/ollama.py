"""Ollama's native API: `POST /api/chat`, `/api/generate` and the routes its clients probe
(protocol-notes §12). Ollama's OpenAI-compatible `/v1/` routes are the OpenAI formats' own.

Streaming is the server's default (`stream` absent): NDJSON, one object a line, the last with
`done: true`, the done reason, the counts and the durations (nanoseconds, derived from the token
counts so they are the same on every run). `"stream": false`, which the Python client sends
unless told otherwise, gives that last object alone with the whole message in it.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from ..embeddings import embed
from ..framing import NDJSON, Frame, Run
from ..replies import Completion, ErrorReply
from ..request import Message, MockRequest, RequestError, ToolDef, finish
from ..tokens import estimate_tokens
from .base import Answer, Call, Events, FormatAdapter, Route, dumps, json_body, quote, random_id

VERSION = "0.12.6"
ROLES = ("system", "user", "assistant", "tool")
THINK_LEVELS = ("high", "medium", "low")
MESSAGES = {400: "invalid request", 401: "unauthorized", 403: "forbidden", 404: "model not found",
            429: "too many requests", 500: "internal server error",
            503: "server busy, please try again.  maximum pending requests exceeded"}
# name, family, parameter size, quantization, bytes, capabilities
MODELS = (("llama3.2:latest", "llama", "3.2B", "Q4_K_M", 2019393189, ("completion", "tools")),
          ("qwen3:8b", "qwen3", "8.2B", "Q4_K_M", 5225388164, ("completion", "tools", "thinking")),
          ("gpt-oss:20b", "gptoss", "20.9B", "MXFP4", 13780173839, ("completion", "tools", "thinking")),
          ("llava:7b", "llama", "7B", "Q4_0", 4733363377, ("completion", "vision")),
          ("nomic-embed-text:latest", "nomic-bert", "137M", "F16", 274302450, ("embedding",)))
MODIFIED = "2025-09-01T10:00:00.000000Z"
EMBEDDING_SIZE = 768
LOAD_NS, PROMPT_NS, EVAL_NS = 20_000_000, 500_000, 15_000_000  # per load, per prompt token, per output token


def _invalid(field: str, value: Any, kind: str) -> RequestError:
    """The 400 Ollama gives when a field does not decode (Go's JSON error, as it reads)."""
    got = "string" if isinstance(value, str) else "number" if isinstance(value, (int, float)) else \
        "bool" if isinstance(value, bool) else "array" if isinstance(value, list) else "object"
    return RequestError(f"json: cannot unmarshal {got} into Go struct field {field} of type {kind}", field)


def _model_name(body: dict) -> str:
    model = body.get("model", body.get("name"))
    if not isinstance(model, str) or not model:
        raise RequestError("model is required", "model")
    return model


def _text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid(field, value, "string")
    return value


# -- requests --------------------------------------------------------------------------------
def _chat_messages(body: dict) -> list:
    raw = body.get("messages") or []
    if not isinstance(raw, list):
        raise _invalid("ChatRequest.messages", raw, "[]api.Message")
    turns: list = []
    pending: dict = {}  # tool name → ids of the assistant's calls not answered yet
    for m in raw:
        if not isinstance(m, dict):
            raise _invalid("ChatRequest.messages", m, "api.Message")
        role = m.get("role")
        if role not in ROLES:
            raise RequestError(f"invalid message role: {role!r} (expected one of {', '.join(ROLES)})", "role")
        content = _text(m.get("content"), "Message.content")
        images = m.get("images") or []
        if not isinstance(images, list) or not all(isinstance(image, str) for image in images):
            raise _invalid("Message.images", images, "[]api.ImageData")
        tool_calls, tool_name = m.get("tool_calls") or [], m.get("tool_name")
        if not isinstance(tool_calls, list):
            raise _invalid("Message.tool_calls", tool_calls, "[]api.ToolCall")
        if tool_name is not None and not isinstance(tool_name, str):
            raise _invalid("Message.tool_name", tool_name, "string")
        for tool_call in tool_calls:
            function = tool_call.get("function") if isinstance(tool_call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                pending.setdefault(function["name"], []).append(tool_call.get("id"))
        call_id = m.get("tool_call_id")
        if role == "tool" and not isinstance(call_id, str):  # the earliest unanswered call of that name
            call_id = next(iter(pending.get(tool_name, [])), None)
        if role == "tool" and call_id in pending.get(tool_name, []):
            pending[tool_name].remove(call_id)
        turns.append(Message(role, content, call_id if role == "tool" else None))
    return turns


def _generate_messages(body: dict) -> list:
    system, prompt = _text(body.get("system"), "GenerateRequest.system"), \
        _text(body.get("prompt"), "GenerateRequest.prompt")
    return ([Message("system", system)] if system else []) + ([Message("user", prompt)] if prompt else [])


def _tools(body: dict) -> list:
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise _invalid("ChatRequest.tools", tools, "api.Tools")
    defs = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise RequestError("invalid tool: each tool needs a function with a name", "tools")
        defs.append(ToolDef(function["name"], function.get("description"), function.get("parameters")))
    return defs


def _thinks(body: dict) -> bool:
    """Whether thinking is shown: unless `think` is false (a level string turns it on)."""
    think = body.get("think")
    if think is None or isinstance(think, bool):
        return think is not False
    if think not in THINK_LEVELS:
        raise RequestError(f'invalid think value: "{think}" (must be "high", "medium", "low", true, or false)',
                           "think")
    return True


def _is_generate(request: MockRequest) -> bool:
    return request.path.startswith("/api/generate")


def _now() -> str:
    """Now as Ollama writes it, `2025-09-01T10:00:00.000000Z`: `isoformat` with its `+00:00` as `Z`
    (a third of the cost of `strftime`, the same text)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")[:-6] + "Z"


class Ollama(FormatAdapter):
    name = "ollama"
    prefixes = ("/api/",)
    framing = NDJSON()

    def parse(self, body: dict, call: Call) -> MockRequest:
        model = _model_name(body)
        stream = body.get("stream", True)
        if not isinstance(stream, bool):
            raise _invalid("stream", stream, "bool")
        generate = bool(call.route and call.route.options.get("generate"))
        messages = _generate_messages(body) if generate else _chat_messages(body)
        tools = [] if generate else _tools(body)
        options = body.get("options")
        options = {} if options is None else options
        if not isinstance(options, dict):
            raise _invalid("options", options, "map[string]interface {}")
        limit = options.get("num_predict")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
            raise RequestError(f"option \"num_predict\" must be of type integer, got {dumps(limit)}", "num_predict")
        fmt = body.get("format")
        if fmt not in (None, "", "json") and not isinstance(fmt, dict):
            raise RequestError(f"invalid format: {dumps(fmt)}; expected \"json\" or a JSON schema", "format")
        _thinks(body)
        request = MockRequest(
            format=self.name, model=model, stream=stream, tools=tools, tool_names=tuple(t.name for t in tools),
            headers=dict(call.headers), path=call.target, raw=body,
            max_tokens=limit if isinstance(limit, int) and limit > 0 else None,  # -1, -2: no limit
        )
        return finish(request, messages)

    # -- answers -----------------------------------------------------------------------------
    def _final(self, request: MockRequest, c: Completion, created: str, whole: bool) -> dict:
        """The last object: the whole message when not streamed, the counts and durations."""
        head: dict = {"model": request.model, "created_at": created}
        load = not request.messages  # nothing to answer: Ollama only loads the model
        whole = whole and not load
        thinking = c.reasoning if c.reasoning and _thinks(request.raw) else None
        if _is_generate(request):
            head["response"] = (c.text or "") if whole else ""
            if whole and thinking:
                head["thinking"] = thinking
        else:
            message: dict = {"role": "assistant", "content": (c.text or "") if whole else ""}
            if whole and thinking:
                message["thinking"] = thinking
            if whole and c.tools:
                message["tool_calls"] = _tool_calls(c)
            head["message"] = message
        if load:
            return {**head, "done_reason": "load", "done": True}
        prompt_ns, eval_ns = c.input_tokens * PROMPT_NS, c.output_tokens * EVAL_NS
        head.update({"done_reason": "length" if c.finish == "length" else "stop", "done": True})
        if _is_generate(request):
            head["context"] = list(range(1, c.input_tokens + c.output_tokens + 1))[:4096]
        head.update({"total_duration": LOAD_NS + prompt_ns + eval_ns, "load_duration": LOAD_NS,
                     "prompt_eval_count": c.input_tokens, "prompt_eval_duration": prompt_ns,
                     "eval_count": c.output_tokens, "eval_duration": eval_ns})
        return head

    def render_json(self, request: MockRequest, c: Completion) -> dict:
        return self._final(request, c, _now(), True)

    def render_events(self, request: MockRequest, c: Completion) -> Events:
        """Thinking pieces, content pieces, the tool calls whole, then the final object."""
        created = _now()
        head = f'{{"model":{quote(request.model)},"created_at":"{created}",'
        frames: list = []
        if request.messages:
            generate = _is_generate(request)
            thinking = c.reasoning if c.reasoning and _thinks(request.raw) else ""
            size = c.chunk_size
            # a run of lines per kind of piece (made at once: `Run`)
            if generate:
                frames = [Run(thinking, size, f'{head}"response":"","thinking":', ',"done":false}\n'),
                          Run(c.text or "", size, f'{head}"response":', ',"done":false}\n')]
            else:
                message = head + '"message":{"role":"assistant","content":'
                frames = [Run(thinking, size, f'{message}"","thinking":', '},"done":false}\n'),
                          Run(c.text or "", size, message, '},"done":false}\n')]
                if c.tools:
                    frames.append(Frame(f'{message}"","tool_calls":{dumps(_tool_calls(c))}}},"done":false}}\n'
                                        .encode()))
        frames.append(Frame(dumps(self._final(request, c, created, False)).encode() + b"\n"))
        return Events(frames)

    # -- errors ------------------------------------------------------------------------------
    def render_error(self, error: ErrorReply, request_id: str) -> dict:
        return {"error": error.message or MESSAGES.get(error.status, "error")}

    def inband_error(self, events: Events, sent: int, error: Optional[ErrorReply], kind: str) -> list:
        """A started stream stays 200 and ends with one `{"error": …}` line."""
        return [Frame(dumps(self.render_error(error or ErrorReply(500), "")).encode() + b"\n")]


def _tool_calls(c: Completion) -> list:
    return [{"id": tool.id or random_id("call_", 8).lower(),
             "function": {"index": i, "name": tool.name, "arguments": tool.input}} for i, tool in enumerate(c.tools)]


# -- the routes around the completions ---------------------------------------------------------
def _digest(name: str) -> str:
    import hashlib  # on first use: a server start need not load it

    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def _entry(name: str) -> tuple:
    known = [m for m in MODELS if m[0] == name or m[0] == f"{name}:latest"]
    return known[0] if known else (name, "llama", "8.0B", "Q4_K_M", 4920753328, ("completion", "tools"))


def _model(entry: tuple) -> dict:
    name, family, size, quantization, nbytes, _ = entry
    return {"name": name, "model": name, "modified_at": MODIFIED, "size": nbytes, "digest": _digest(name),
            "details": {"parent_model": "", "format": "gguf", "family": family, "families": [family],
                        "parameter_size": size, "quantization_level": quantization}}


def tags(call: Call, adapter: Ollama) -> dict:
    return {"models": [_model(m) for m in MODELS]}


def running(call: Call, adapter: Ollama) -> dict:
    """`GET /api/ps`: the first model, loaded in memory for another five minutes."""
    expires = datetime.fromtimestamp(datetime.now(timezone.utc).timestamp() + 300, timezone.utc)
    entry = _model(MODELS[0])
    entry.pop("modified_at")
    return {"models": [{**entry, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        "size_vram": entry["size"], "context_length": 4096}]}


def show(call: Call, adapter: Ollama) -> dict:
    """`POST /api/show`: any model exists; the known ones with their family and capabilities."""
    name, family, size, quantization, _, capabilities = _entry(_model_name(json_body(call)))
    details = _model((name, family, size, quantization, 0, ()))["details"]
    return {"license": "", "modelfile": f"# Modelfile generated by llm_mock\nFROM {name}\n",
            "parameters": "stop                           \"<|eot_id|>\"", "template": "{{ .Prompt }}",
            "details": details, "model_info": {"general.architecture": family, "general.parameter_count": 0,
                                               f"{family}.context_length": 131072},
            "capabilities": list(capabilities), "modified_at": MODIFIED}


def _inputs(value: Any) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise RequestError("invalid input type", "input")


def embed_route(call: Call, adapter: Ollama) -> dict:
    """`POST /api/embed`: one unit vector per input (`dimensions` when given)."""
    body = json_body(call)
    model, inputs = _model_name(body), _inputs(body.get("input"))
    size = body.get("dimensions") or EMBEDDING_SIZE
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise RequestError("dimensions must be a positive integer", "dimensions")
    count = sum(estimate_tokens(text) for text in inputs)
    return {"model": model, "embeddings": [embed(text, size) for text in inputs],
            "total_duration": LOAD_NS + count * PROMPT_NS, "load_duration": LOAD_NS, "prompt_eval_count": count}


def embeddings_route(call: Call, adapter: Ollama) -> dict:
    """`POST /api/embeddings` (the older route): one vector for `prompt`, empty for no prompt."""
    body = json_body(call)
    _model_name(body)
    prompt = _text(body.get("prompt"), "EmbeddingRequest.prompt")
    return {"embedding": embed(prompt, EMBEDDING_SIZE) if prompt else []}


def pull(call: Call, adapter: Ollama) -> Any:
    """`POST /api/pull`: every model is already here, so a pull succeeds at once."""
    body = json_body(call)
    _model_name(body)
    if body.get("stream", True) is False:
        return {"status": "success"}
    lines = ("pulling manifest", "verifying sha256 digest", "writing manifest", "success")
    return Answer(b"".join(dumps({"status": s}).encode() + b"\n" for s in lines), media_type=NDJSON.media_type)


Ollama.routes = (
    Route("POST", "/api/chat"),
    Route("POST", "/api/generate", options={"generate": True}),
    Route("POST", "/api/embed", embed_route),
    Route("POST", "/api/embeddings", embeddings_route),
    Route("GET", "/api/tags", tags),
    Route("POST", "/api/show", show),
    Route("GET", "/api/ps", running),
    Route("POST", "/api/pull", pull),
    Route("GET", "/api/version", lambda call, adapter: {"version": VERSION}),
    Route("GET", "/", lambda call, adapter: Answer(b"Ollama is running", media_type="text/plain; charset=utf-8")),
)
