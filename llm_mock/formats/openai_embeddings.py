"""OpenAI embeddings: `POST /v1/embeddings` (protocol-notes §13).

Each input becomes a user message, so rules match on the input text (`format="embeddings"`;
several inputs are joined by newlines in `last_message`). The vectors come from the rule
(`ReplyObject(embeddings=...)`) or are computed (`llm_mock.embeddings`); a text reply, the fallback
included, is never sent: an embeddings request always gets vectors, or an error.
"""
from __future__ import annotations

from typing import Any

from .. import embeddings
from ..framing import SSE
from ..replies import Completion, ErrorReply
from ..request import Message, MockRequest, RequestError, finish, optional, require
from ..tokens import estimate_tokens
from .base import Call, Events, FormatAdapter, Frame, Route, dumps, openai_error_body

MAX_INPUTS = 2048
MAX_INPUT_TOKENS = 8192
INVALID_INPUT = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."
NO_DIMENSIONS = ("text-embedding-ada-002",)  # models without `dimensions`


class EmbeddingRequest(MockRequest):
    """An embeddings request: its inputs (texts or token-id lists), their length and encoding.
    (A plain subclass: a dataclass would cost every server start ~1 ms to create.)"""

    def __init__(self, *, inputs: list, dimensions: int = embeddings.DEFAULT_DIMENSIONS,
                 encoding_format: str = "float", **request: Any):
        super().__init__(**request)
        self.inputs, self.dimensions, self.encoding_format = inputs, dimensions, encoding_format

    @property
    def input_tokens(self) -> int:
        """`usage.prompt_tokens`: the text estimate of each string, the length of each token list."""
        return sum(len(item) if isinstance(item, list) else estimate_tokens(item) for item in self.inputs)


class Embeddings(FormatAdapter):
    name = "embeddings"
    routes = (Route("POST", "/v1/embeddings"),)
    prefixes = ("/v1/embeddings",)
    framing = SSE()

    def parse(self, body: dict, call: Call) -> MockRequest:
        model = require(body, "model", str, "a string")
        inputs = _inputs(body.get("input"))
        native = embeddings.default_dimensions(model)
        dimensions = optional(body, "dimensions", int, "an integer")
        if dimensions is not None:
            if model in NO_DIMENSIONS:
                raise RequestError("This model does not support specifying dimensions.")
            if dimensions < 1:
                raise RequestError(f"Invalid 'dimensions': integer below minimum value. Expected a value >= 1, "
                                   f"but got {dimensions} instead.", "dimensions", code="integer_below_min_value")
            if dimensions > native:
                raise RequestError(f"Invalid 'dimensions': integer above maximum value. Expected a value <= "
                                   f"{native}, but got {dimensions} instead.", "dimensions",
                                   code="integer_above_max_value")
        encoding = optional(body, "encoding_format", str, "a string", "float")
        if encoding not in ("float", "base64"):
            raise RequestError(f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.",
                               "encoding_format", code="invalid_value")
        texts = [_text(item) for item in inputs]
        for item, text in zip(inputs, texts, strict=True):
            tokens = len(item) if isinstance(item, list) else estimate_tokens(text)
            if tokens > MAX_INPUT_TOKENS:
                raise RequestError(f"This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however you "
                                   f"requested {tokens} tokens ({tokens} in your prompt; 0 for the completion). "
                                   f"Please reduce your prompt; or completion length.")
        request = EmbeddingRequest(
            format=self.name, model=model, stream=False, headers=dict(call.headers), path=call.target, raw=body,
            inputs=inputs, dimensions=dimensions or native, encoding_format=encoding,
        )
        finish(request, [Message("user", text) for text in texts])
        request.last_message = "\n".join(texts)
        return request

    def render_json(self, request: MockRequest, c: Completion) -> dict:
        assert isinstance(request, EmbeddingRequest)
        data = []
        given_vectors = embeddings.vectors_for(c.embeddings, len(request.inputs))
        for index, (item, given) in enumerate(zip(request.inputs, given_vectors, strict=True)):
            if given is not None:
                vector = given
            elif isinstance(item, list):
                vector = embeddings.embed_tokens(item, request.dimensions)
            else:
                vector = embeddings.embed(item, request.dimensions)
            data.append({"object": "embedding", "index": index,
                         "embedding": embeddings.to_base64(vector) if request.encoding_format == "base64"
                         else vector})
        tokens = c.input_tokens
        return {"object": "list", "data": data, "model": request.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    def render_events(self, request: MockRequest, c: Completion) -> Events:
        """Embeddings never stream; a body is one event if a caller insists."""
        return Events([Frame(f"data: {dumps(self.render_json(request, c))}\n\n".encode())])

    def render_error(self, error: ErrorReply, request_id: str) -> dict:
        return openai_error_body(error)

    def inband_error(self, events: Events, sent: int, error, kind: str) -> list:
        return [Frame(f"data: {dumps(openai_error_body(error or ErrorReply(500)))}\n\n".encode())]


def _inputs(value) -> list:
    """The inputs, each a non-empty string or a non-empty list of token ids; the API's 400 otherwise."""
    if value is None:
        raise RequestError("Missing required parameter: 'input'.", "input")
    if isinstance(value, str):
        items: list = [value]
    elif isinstance(value, list) and value and all(_token(v) for v in value):
        items = [value]  # one list of token ids is one input
    elif isinstance(value, list) and 0 < len(value) <= MAX_INPUTS:
        items = value
    else:
        raise RequestError(INVALID_INPUT)
    for item in items:
        if isinstance(item, str):
            if not item:
                raise RequestError(INVALID_INPUT)
        elif not (isinstance(item, list) and item and all(_token(v) for v in item)):
            raise RequestError(INVALID_INPUT)
    if isinstance(value, list) and len(value) > MAX_INPUTS:
        raise RequestError(INVALID_INPUT)
    return items


def _token(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _text(item) -> str:
    """An input as text: a string as is, token ids as words (what rules and the vector see)."""
    return item if isinstance(item, str) else " ".join(str(token) for token in item)
