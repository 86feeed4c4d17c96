"""Anthropic Messages on Amazon Bedrock: `POST /model/{modelId}/invoke` and `/invoke-with-response-stream`.

The same Messages bodies and events as the first-party API (protocol-notes §9): the model id comes from
the path, `anthropic_version` from the body, and a stream is AWS event-stream binary messages, each
carrying one Anthropic event's JSON as base64. Errors are Bedrock's: `{"message": ...}` with the
exception's name in `x-amzn-ErrorType`; a failure inside a stream is an `exception` message. The
SigV4 signature (or a bearer key) is accepted without checking.
"""
from __future__ import annotations

import base64
import binascii
from typing import ClassVar, Optional

from ..framing import EventStream, Frame, Framing
from ..replies import Completion, ErrorReply
from ..request import MockRequest, RequestError
from .anthropic import Messages
from .base import Call, Events, Route, json_body, parse_json_object, uuid4

# The exception each HTTP status stands for (bedrock-runtime service model, 2023-09-30).
EXCEPTIONS = {400: "ValidationException", 401: "UnrecognizedClientException", 403: "AccessDeniedException",
              404: "ResourceNotFoundException", 408: "ModelTimeoutException", 424: "ModelErrorException",
              429: "ThrottlingException", 500: "InternalServerException", 503: "ServiceUnavailableException",
              529: "ServiceUnavailableException"}
MESSAGES = {
    "ValidationException": "Malformed input request, please reformat your input and try again.",
    "UnrecognizedClientException": "The security token included in the request is invalid.",
    "AccessDeniedException": "You don't have access to the model with the specified model ID.",
    "ResourceNotFoundException": "Could not resolve the foundation model from the provided model identifier.",
    "ModelTimeoutException": "Model has timed out in processing the request. Try your request again.",
    "ModelErrorException": "The model returned an error. Try your request again.",
    "ModelStreamErrorException": "The model stream was interrupted. Try your request again.",
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "InternalServerException": "The system encountered an unexpected error during processing. Try your "
                               "request again.",
    "ServiceUnavailableException": "Bedrock is unable to process your request.",
}
# The members of the `ResponseStream` union an in-stream exception can name (botocore needs this spelling).
STREAM_EXCEPTIONS = ("InternalServerException", "ModelStreamErrorException", "ValidationException",
                     "ThrottlingException", "ModelTimeoutException", "ServiceUnavailableException")
ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
_FRAMING = EventStream()


def exception_name(error: ErrorReply) -> str:
    """The Bedrock exception an error stands for: its `type` when that names one, else by status."""
    if error.type and error.type.endswith("Exception"):
        return error.type
    return EXCEPTIONS.get(error.status, "InternalServerException" if error.status >= 500 else "ValidationException")


def count_tokens(call: Call, adapter: BedrockMessages) -> dict:
    """`POST /model/{modelId}/count-tokens` (CountTokens): the InvokeModel body arrives base64-encoded in
    `input.invokeModel.body`; the answer is the `input_tokens` a reply would report."""
    data = json_body(call)
    given = data.get("input")
    invoke = given.get("invokeModel") if isinstance(given, dict) else None
    encoded = invoke.get("body") if isinstance(invoke, dict) else None
    if not isinstance(encoded, str):
        raise RequestError("1 validation error detected: Value at 'input.invokeModel.body' failed to satisfy "
                           "constraint: Member must not be null")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("Value at 'input.invokeModel.body' is not valid base64.") from None
    return {"inputTokens": adapter.parse(parse_json_object(raw, None), call).input_tokens}


class BedrockMessages(Messages):
    transport = "bedrock"
    routes: ClassVar[tuple] = (Route("POST", "/model/{model}/invoke", options={"stream": False}),
              Route("POST", "/model/{model}/invoke-with-response-stream", options={"stream": True}),
              Route("POST", "/model/{model}/count-tokens", count_tokens))
    prefixes: ClassVar[tuple] = ("/model/",)
    header_hints: ClassVar[tuple] = ()
    request_id_header = "x-amzn-requestid"
    message_id_prefix = "msg_bdrk_01"
    framing: ClassVar[Framing] = _FRAMING

    def new_request_id(self) -> str:
        return uuid4()

    def parse(self, body: dict, call: Call) -> MockRequest:
        extraneous = [key for key in ("model", "stream") if key in body]
        problems = [f"#: extraneous key [{key}] is not permitted" for key in extraneous]
        if "anthropic_version" not in body:
            problems.insert(0, "#: required key [anthropic_version] not found")
        if problems:
            raise RequestError(f"Malformed input request: {''.join(problems)}, please reformat your input and "
                               f"try again.")
        options = call.route.options if call.route is not None else {}
        request = super().parse({**body, "model": call.params.get("model", ""),
                                 "stream": bool(options.get("stream"))}, call)
        request.transport = self.transport
        return request

    # -- the stream: the Messages events, each re-framed as an event-stream `chunk` ---------------
    def render_events(self, request: MockRequest, c: Completion) -> Events:
        events = super().render_events(request, c)
        frames = [_reframe(frame) for frame in events.frames[:-1]]  # the last is `message_stop`: Bedrock's
        # carries the invocation metrics (token counts as reported in usage; no latency is measured here)
        frames.append(_FRAMING.frame({"type": "message_stop", "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": c.input_tokens, "outputTokenCount": c.output_tokens,
            "invocationLatency": 0, "firstByteLatency": 0}}))
        return Events(frames, events.context)

    # -- errors ------------------------------------------------------------------------------
    def render_error(self, error: ErrorReply, request_id: str) -> dict:
        return {"message": error.message or MESSAGES.get(exception_name(error), "Error.")}

    def error_headers(self, error: ErrorReply) -> list:
        return [("x-amzn-errortype", exception_name(error) + ERROR_TYPE_SUFFIX)]

    def inband_error(self, events: Events, sent: int, error: Optional[ErrorReply], kind: str) -> list:
        """An `exception` message: ModelStreamErrorException unless the error names (or its status
        stands for) another member of the stream's exception union."""
        name = exception_name(error) if error is not None else "ModelStreamErrorException"
        if name not in STREAM_EXCEPTIONS:
            name = "ModelStreamErrorException"
        message = (error.message if error is not None else None) or MESSAGES[name]
        return [EventStream.exception(name[0].lower() + name[1:], {"message": message})]

    def early_end(self, events: Events, sent: int) -> list:
        return [_reframe(frame) for frame in super().early_end(events, sent)]


def _reframe(frame: Frame) -> Frame:
    """An Anthropic SSE frame (`event: …\\ndata: {json}\\n\\n`) as an event-stream chunk of its JSON."""
    data = frame.data
    start = data.find(b"data: ") + 6
    return EventStream.chunk(data[start:].rstrip(b"\n"), frame.chars)
