"""HTTP error replies (protocol-notes §6-§7): each status maps to the SDK's own exception class with the
vendor's body shape and request id, on every route, streaming or not; retries follow the headers."""
from __future__ import annotations

import time

import anthropic
import openai
import pytest

from llm_mock import ErrorReply
from support.clients import anthropic_client, openai_client
from support.raw_http import raw_post, raw_request
from support.scenarios import assert_id

OPENAI_CLASSES = {400: openai.BadRequestError, 401: openai.AuthenticationError, 403: openai.PermissionDeniedError,
                  404: openai.NotFoundError, 409: openai.ConflictError, 422: openai.UnprocessableEntityError,
                  429: openai.RateLimitError, 500: openai.InternalServerError, 503: openai.InternalServerError}
OPENAI_TYPES = {429: "requests", 500: "server_error", 503: "server_error"}  # else invalid_request_error
ANTHROPIC_CLASSES = {400: anthropic.BadRequestError, 401: anthropic.AuthenticationError,
                     403: anthropic.PermissionDeniedError, 404: anthropic.NotFoundError, 409: anthropic.ConflictError,
                     422: anthropic.UnprocessableEntityError, 429: anthropic.RateLimitError,
                     500: anthropic.InternalServerError, 503: anthropic.ServiceUnavailableError,
                     504: anthropic.GatewayTimeoutError, 529: anthropic.OverloadedError}
ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                   404: "not_found_error", 409: "conflict_error", 429: "rate_limit_error", 500: "api_error",
                   504: "timeout_error", 529: "overloaded_error"}
ANTHROPIC_MODEL = "claude-sonnet-4-6"
ROUTES = ["chat", "responses", "messages"]
PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses", "messages": "/v1/messages"}


def request_body(route: str, say: str = "hi") -> dict:
    if route == "responses":
        return {"model": "gpt-4o-mini", "input": say}
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": say}]}
    return {**body, "model": ANTHROPIC_MODEL, "max_tokens": 64} if route == "messages" else body


def call(route: str, oai, claude, stream: bool = False, say: str = "hi"):
    """One request through the SDK; a stream is read to the end."""
    create = {"chat": oai.chat.completions.create, "responses": oai.responses.create,
              "messages": claude.messages.create}[route]
    result = create(**request_body(route, say), stream=stream)
    return list(result) if stream else result


def request_id_header(route: str) -> str:
    return "request-id" if route == "messages" else "x-request-id"


# -- status → exception class ----------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("route", ["chat", "responses"])
@pytest.mark.parametrize("status", sorted(OPENAI_CLASSES))
def test_openai_status_maps_to_exception(server, oai, claude, route, stream, status):
    server.when("hi").reply(ErrorReply(status, f"boom {status}"))
    with pytest.raises(openai.APIStatusError) as caught:
        call(route, oai, claude, stream)
    error = caught.value
    assert type(error) is OPENAI_CLASSES[status] and error.status_code == status
    assert set(error.body) == {"message", "type", "param", "code"} and error.body["message"] == f"boom {status}"
    assert error.type == error.body["type"] == OPENAI_TYPES.get(status, "invalid_request_error")
    assert error.code == error.body["code"] and error.param is None
    assert f"boom {status}" in error.message
    assert error.request_id == error.response.headers["x-request-id"]
    assert_id(error.request_id, "openai_request")
    assert error.response.headers["content-type"].startswith("application/json")
    assert len(server.history) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("status", sorted(ANTHROPIC_CLASSES))
def test_anthropic_status_maps_to_exception(server, oai, claude, stream, status):
    server.when("hi").reply(ErrorReply(status, f"boom {status}"))
    with pytest.raises(anthropic.APIStatusError) as caught:
        call("messages", oai, claude, stream)
    error = caught.value
    assert type(error) is ANTHROPIC_CLASSES[status] and error.status_code == status
    request_id = error.response.headers["request-id"]
    assert_id(request_id, "anthropic_request")
    assert error.request_id == request_id
    assert error.body == {"type": "error", "error": {"type": error.type, "message": f"boom {status}"},
                          "request_id": request_id}
    assert error.type == ANTHROPIC_TYPES.get(status, error.type) and isinstance(error.type, str)
    assert error.api_message == f"boom {status}"


def test_anthropic_stream_helper_raises_before_the_stream(server, claude):
    server.when("hi").reply(ErrorReply.overloaded())
    with pytest.raises(anthropic.OverloadedError) as caught, \
            claude.messages.stream(**request_body("messages")) as stream:
        stream.get_final_message()
    assert caught.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}


def test_openai_error_fields_are_passed_through(server, oai):
    server.when("hi").reply(ErrorReply(400, "Invalid value for 'temperature'.", type="invalid_request_error",
                                       code="invalid_value", param="temperature"))
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(**request_body("chat"))
    assert caught.value.body == {"message": "Invalid value for 'temperature'.", "type": "invalid_request_error",
                                 "param": "temperature", "code": "invalid_value"}
    assert (caught.value.code, caught.value.param) == ("invalid_value", "temperature")


# -- the ErrorReply helpers ------------------------------------------------------------------------
@pytest.mark.parametrize("route", ROUTES)
def test_rate_limited_sends_retry_headers(server, route):
    server.when("hi").reply(ErrorReply.rate_limited(retry_after=0.01))
    raw = raw_post(server, PATHS[route], request_body(route))
    assert raw.status == 429
    assert (raw.headers["retry-after"], raw.headers["retry-after-ms"]) == ("0.01", "10")
    error = raw.json["error"]
    assert error["message"]
    if route == "messages":
        assert error["type"] == "rate_limit_error"
    else:
        assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")


@pytest.mark.parametrize("route", ROUTES)
def test_overloaded(server, oai, claude, route):
    server.when("hi").reply(ErrorReply.overloaded())
    expected = anthropic.OverloadedError if route == "messages" else openai.InternalServerError
    with pytest.raises(expected) as caught:
        call(route, oai, claude)
    assert caught.value.status_code == 529


# -- next_error and retries ------------------------------------------------------------------------
@pytest.mark.parametrize("route", ROUTES)
def test_next_error_hits_one_request_then_rules_resume(server, oai, claude, route):
    server.when("hi").reply("hello")
    server.next_error(503, "try later")
    with pytest.raises((openai.InternalServerError, anthropic.InternalServerError)):
        call(route, oai, claude)
    assert call(route, oai, claude) is not None
    assert [entry.status for entry in server.history] == [503, 200]


@pytest.mark.parametrize("route", ROUTES)
def test_next_error_is_absorbed_by_the_sdk_retry(server, route):
    server.when("hi").reply("hello")
    server.next_error(429, retry_after=0.01)
    result = call(route, openai_client(server, max_retries=2), anthropic_client(server, max_retries=2))
    text = result.content[0].text if route == "messages" else (
        result.output_text if route == "responses" else result.choices[0].message.content)
    assert text == "hello"
    assert [(e.status, e.headers["x-stainless-retry-count"]) for e in server.history] == [(429, "0"), (200, "1")]


@pytest.mark.parametrize("route", ROUTES)
def test_errors_outlasting_retries_raise_after_three_attempts(server, route):
    server.when("hi").reply(ErrorReply.rate_limited(retry_after=0.01)).times(3)
    server.when("hi").reply("hello")
    started = time.monotonic()
    with pytest.raises((openai.RateLimitError, anthropic.RateLimitError)):
        call(route, openai_client(server, max_retries=2), anthropic_client(server, max_retries=2))
    assert time.monotonic() - started < 1.0  # retry-after honoured: default backoff alone is >= 1.1 s
    assert [e.headers["x-stainless-retry-count"] for e in server.history] == ["0", "1", "2"]
    assert len(server.history) == 3 and {e.status for e in server.history} == {429}
    assert call(route, openai_client(server), anthropic_client(server)) is not None  # rule used up


@pytest.mark.parametrize("route", ROUTES)
def test_should_retry_header_wins_over_status(server, route):
    server.when("final").reply(ErrorReply(500, "final", should_retry=False))
    server.when("transient").reply(ErrorReply(400, "transient", should_retry=True, retry_after=0.01))
    oai, claude = openai_client(server, max_retries=2), anthropic_client(server, max_retries=2)
    with pytest.raises((openai.BadRequestError, anthropic.BadRequestError)) as caught:
        call(route, oai, claude, say="transient")
    assert caught.value.response.headers["x-should-retry"] == "true"
    assert len(server.history) == 3  # a 400 retried because the server said so
    server.history.clear()
    with pytest.raises((openai.InternalServerError, anthropic.InternalServerError)) as caught:
        call(route, oai, claude, say="final")
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(server.history) == 1  # a 500 not retried because the server said so


# -- request ids, unknown routes and methods -------------------------------------------------------
@pytest.mark.parametrize("route", ROUTES)
def test_every_response_carries_a_request_id(server, route):
    server.when("hi").reply("hello")
    server.when("err").reply(ErrorReply(500))
    path, body, failing = PATHS[route], request_body(route), request_body(route, "err")
    header, kind = request_id_header(route), "anthropic_request" if route == "messages" else "openai_request"
    replies = [raw_post(server, path, body), raw_post(server, path, {**body, "stream": True}),
               raw_post(server, path, failing), raw_post(server, path, {**failing, "stream": True}),
               raw_post(server, path, {"model": 5}), raw_request(server, "GET", path)]
    assert [r.status for r in replies] == [200, 200, 500, 500, 400, 405]
    for error in replies[2:]:  # errors are JSON, even for a stream request
        assert error.headers["content-type"].startswith("application/json") and error.json
    ids = [r.headers.get(header) for r in replies]
    for request_id in ids:
        assert_id(request_id, kind)
    assert len(set(ids)) == len(ids)


def test_unknown_path_is_a_404_in_each_vendor_shape(server, oai, claude):
    with pytest.raises(openai.NotFoundError) as caught:
        oai.post("/nope", cast_to=object, body={})
    assert caught.value.body == {"message": "Invalid URL (POST /v1/nope)", "type": "invalid_request_error",
                                 "param": None, "code": None}
    assert_id(caught.value.request_id, "openai_request")
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.post("/v1/nope", cast_to=object, body={})
    assert caught.value.type == "not_found_error" and caught.value.body["type"] == "error"
    assert_id(caught.value.request_id, "anthropic_request")


@pytest.mark.parametrize("route", ROUTES)
def test_wrong_method_is_a_405_in_the_route_shape(server, oai, claude, route):
    path = PATHS[route]
    client = claude if route == "messages" else oai
    with pytest.raises((openai.APIStatusError, anthropic.APIStatusError)) as caught:
        client.get(path if route == "messages" else path[len("/v1"):], cast_to=object)
    error = caught.value
    assert error.status_code == 405 and error.response.headers["allow"] == "POST"
    if route == "messages":
        assert error.body["type"] == "error" and set(error.body["error"]) == {"type", "message"}
        assert error.request_id == error.response.headers["request-id"]
    else:
        assert set(error.body) == {"message", "type", "param", "code"}
        assert error.request_id == error.response.headers["x-request-id"]
