"""OpenAI Chat Completions, Responses, legacy completions and embeddings on Azure OpenAI
(protocol-notes §8).

Two route families reach the OpenAI bodies: the deployment routes the `AzureOpenAI` client calls
(`/openai/deployments/{deployment}/chat/completions?api-version=…`, where the deployment is the
model unless the body names one, and `/openai/responses?api-version=…`), and the v1 routes
(`/openai/v1/chat/completions`, `/openai/v1/responses`, …) a plain OpenAI client reaches with
`base_url=…/openai/v1/`. The key is accepted in `api-key` or as a bearer token, unchecked.

Chat answers carry Azure's content-filter annotations (all categories `safe`); an Azure chat
stream opens with the chunk that has no choices and only `prompt_filter_results`. Errors are
OpenAI's envelope, with Azure's codes for 401, 404 and 429 (`{"error": {"code": "429", ...}}`);
a deployment route without `api-version` is Azure's 404 `Resource not found`.
"""
from __future__ import annotations

from typing import Any, ClassVar

from .. import catalog
from ..framing import Frame, dumps
from ..replies import Completion, ErrorReply
from ..request import MockRequest, RequestError
from .base import Call, Events, Route, openai_error_body, uuid4
from .openai_chat import ChatCompletions
from .openai_completions import Completions
from .openai_embeddings import Embeddings
from .openai_responses import Responses

_SAFE = {"filtered": False, "severity": "safe"}
_CATEGORIES = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
PROMPT_FILTER = [{"prompt_index": 0, "content_filter_results": {
    **_CATEGORIES, "jailbreak": {"filtered": False, "detected": False}}}]
COMPLETION_FILTER = {**_CATEGORIES, "protected_material_code": {"filtered": False, "detected": False},
                     "protected_material_text": {"filtered": False, "detected": False}}

_FIRST_CHUNK = Frame(("data: " + dumps({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                                        "prompt_filter_results": PROMPT_FILTER}) + "\n\n").encode())
_CHOICE = b'"choices":[{"index":'
_WITH_FILTER = b'"choices":[{"content_filter_results":' + dumps(COMPLETION_FILTER).encode() + b',"index":'
_EMPTY_FILTER = b'"choices":[{"content_filter_results":{},"index":'

MESSAGES = {
    401: "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
         "for an active subscription and use a correct regional API endpoint for your resource.",
    404: "Resource not found",
    429: "Requests to the {operation} Operation under Azure OpenAI API have exceeded token rate limit of your "
         "current OpenAI S0 pricing tier. Please retry after {seconds} second{s}.",
}


def azure_error_body(error: ErrorReply, operation: str) -> dict:
    """OpenAI's envelope; 401, 404 and 429 without an explicit type or code as Azure sends them,
    `{"error": {"code": "<status>", "message": ...}}`."""
    if error.status in MESSAGES and error.code is None and error.type in (None, "invalid_request_error"):
        seconds = int(error.retry_after) if error.retry_after and error.retry_after >= 1 else 1
        message = error.message or MESSAGES[error.status].format(operation=operation, seconds=seconds,
                                                                 s="" if seconds == 1 else "s")
        return {"error": {"code": str(error.status), "message": message}}
    return openai_error_body(error)


def _api_version(call: Call) -> None:
    """Deployment routes need `api-version`; without it Azure answers 404 `Resource not found`."""
    if not call.query.get("api-version"):
        raise RequestError("Resource not found", status=404)


class _OnAzure:
    """What every Azure route shares: the deployment is the model unless the body names one, the
    deployment routes need `api-version`, request ids are UUIDs, errors name Azure's operation."""

    transport: ClassVar[str] = "azure"
    operation: ClassVar[str] = ""

    def new_request_id(self) -> str:
        return uuid4()

    def parse(self, body: dict, call: Call) -> MockRequest:
        if call.route is not None and call.route.options.get("api_version"):
            _api_version(call)
        deployment = call.params.get("deployment")
        if deployment is not None and body.get("model") in (None, ""):
            body = {**body, "model": deployment}
        request = super().parse(body, call)  # type: ignore[misc]
        request.transport = self.transport
        return request

    def render_error(self, error: ErrorReply, request_id: str) -> dict:
        return azure_error_body(error, self.operation)


def _deployment(path: str) -> Route:
    return Route("POST", "/openai/deployments/{deployment}" + path, options={"api_version": True})


class AzureChatCompletions(_OnAzure, ChatCompletions):
    operation = "ChatCompletions_Create"
    routes: ClassVar[tuple] = (
        _deployment("/chat/completions"),
        Route("POST", "/openai/v1/chat/completions"),
        Route("GET", "/openai/models", catalog.list_models),
        Route("GET", "/openai/v1/models", catalog.list_models),
        Route("GET", "/openai/v1/models/{model}", catalog.get_model))
    prefixes: ClassVar[tuple] = ("/openai/",)

    def render_json(self, request: MockRequest, c: Completion) -> dict:
        body = super().render_json(request, c)
        body["prompt_filter_results"] = PROMPT_FILTER
        for choice in body["choices"]:
            choice["content_filter_results"] = COMPLETION_FILTER
        return body

    def render_events(self, request: MockRequest, c: Completion) -> Events:
        """The OpenAI chunks, after the prompt-filter chunk, each choice with its filter results
        (full on text deltas, `{}` on the others)."""
        events = super().render_events(request, c)
        frames: list[Any] = [_FIRST_CHUNK]
        for frame in events.frames:
            data = frame.data
            if _CHOICE in data:
                data = data.replace(_CHOICE, _WITH_FILTER if b'"delta":{"content":' in data else _EMPTY_FILTER, 1)
                frame = Frame(data, frame.chars)
            frames.append(frame)
        return Events(frames, events.context)


class AzureResponses(_OnAzure, Responses):
    operation = "Responses_Create"
    routes: ClassVar[tuple] = (Route("POST", "/openai/responses", options={"api_version": True}),
                               Route("POST", "/openai/v1/responses"))
    prefixes: ClassVar[tuple] = ("/openai/responses", "/openai/v1/responses")


class AzureCompletions(_OnAzure, Completions):
    operation = "Completions_Create"
    routes: ClassVar[tuple] = (_deployment("/completions"), Route("POST", "/openai/v1/completions"))
    prefixes: ClassVar[tuple] = ()


class AzureEmbeddings(_OnAzure, Embeddings):
    operation = "Embeddings_Create"
    routes: ClassVar[tuple] = (_deployment("/embeddings"), Route("POST", "/openai/v1/embeddings"))
    prefixes: ClassVar[tuple] = ()
