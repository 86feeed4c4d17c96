"""Anthropic Messages on Google Vertex AI: `…/publishers/anthropic/models/{model}:rawPredict` and
`:streamRawPredict` (protocol-notes §10).

The Messages bodies and SSE events of the first-party API; the model comes from the path and
`anthropic_version` from the body. Errors of the platform (quota, permission, unknown model or
route, unavailable) are Google's `{"error": {"code", "message", "status"}}`; a request body the model
service refuses is answered, as there, in Anthropic's envelope (`invalid_request_error`, 400), and
so is Anthropic's 529 `overloaded_error`. The bearer token is accepted without checking.
"""
from __future__ import annotations

from typing import ClassVar

from ..replies import ErrorReply
from ..request import MockRequest, RequestError
from .anthropic import Messages, count_tokens
from .base import Call, Route, base58_id

_MODELS = "/v1/projects/{project}/locations/{location}/publishers/anthropic/models/"

# Google's canonical status name and a usual message for each HTTP status (google.rpc.Code).
STATUSES = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                             "login cookie or other valid authentication credential."),
    403: ("PERMISSION_DENIED", "Permission 'aiplatform.endpoints.predict' denied on resource (or it may not "
                               "exist)."),
    404: ("NOT_FOUND", "Publisher Model was not found or your project does not have access to it."),
    405: ("UNIMPLEMENTED", "Method not allowed."),
    409: ("ABORTED", "The operation was aborted."),
    429: ("RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_"
                                "base_model. Please submit a quota increase request."),
    499: ("CANCELLED", "The operation was cancelled."),
    500: ("INTERNAL", "Internal error encountered."),
    501: ("UNIMPLEMENTED", "Operation is not implemented, or supported, or enabled."),
    503: ("UNAVAILABLE", "The service is currently unavailable."),
    504: ("DEADLINE_EXCEEDED", "The request deadline was exceeded."),
}


def google_error_body(error: ErrorReply) -> dict:
    """`{"error": {"code", "message", "status"}}`; an upper-case `type` is taken as the status name."""
    status, message = STATUSES.get(error.status, ("INTERNAL" if error.status >= 500 else "FAILED_PRECONDITION",
                                                  "Error."))
    if error.type and error.type.isupper():
        status = error.type
    return {"error": {"code": error.status, "message": error.message or message, "status": status}}


def from_model_service(error: ErrorReply) -> bool:
    """True for the errors Vertex passes on from Claude itself, in Anthropic's envelope: a refused body
    (400), an overload (529), or any error given an Anthropic type other than the generic one."""
    if error.type is None or error.type == "invalid_request_error":
        return error.status in (400, 529)
    return error.type.endswith("_error")


class VertexMessages(Messages):
    transport = "vertex"
    routes: ClassVar[tuple] = (
        Route("POST", _MODELS + "count-tokens:rawPredict", count_tokens),  # the model stays in the body
        Route("POST", _MODELS + "{model}:rawPredict"),
        Route("POST", _MODELS + "{model}:streamRawPredict", options={"stream": True}))
    prefixes: ClassVar[tuple] = ("/v1/projects/",)
    header_hints: ClassVar[tuple] = ()
    message_id_prefix = "msg_vrtx_01"

    def new_request_id(self) -> str:
        return base58_id("req_vrtx_011", 24)

    def parse(self, body: dict, call: Call) -> MockRequest:
        if "anthropic_version" not in body:
            raise RequestError("anthropic_version: Field required", "anthropic_version")
        data = dict(body)
        if "model" in call.params:  # the model is the path's (count-tokens keeps it in the body)
            data["model"] = call.params["model"]
        if call.route is not None and call.route.options.get("stream"):
            data["stream"] = True
        request = super().parse(data, call)
        request.transport = self.transport
        return request

    def render_error(self, error: ErrorReply, request_id: str) -> dict:
        if from_model_service(error):
            return super().render_error(error, request_id)
        return google_error_body(error)
