"""CORS, off by default: with `cors=True` (or `--cors`) a page on another origin can call the
server as the browser builds of the SDKs do: preflight, then the request, its headers readable."""
from __future__ import annotations

import http.client
import json

import pytest

from llm_mock import MockServer
from llm_mock.cli import _parser, server_options

CHAT = "/v1/chat/completions"
ORIGIN = "http://localhost:5173"
BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
PREFLIGHT = {"origin": ORIGIN, "access-control-request-method": "POST",
             "access-control-request-headers": "authorization,content-type,x-stainless-os,x-stainless-retry-count"}


def call(server, method: str, path: str, headers: dict, body=None) -> tuple:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def cors_of(headers: dict) -> dict:
    return {k: v for k, v in headers.items() if k.startswith("access-control-")}


def test_off_by_default():
    with MockServer() as server:
        status, headers, _ = call(server, "OPTIONS", CHAT, PREFLIGHT)
        assert status == 204 and headers["allow"] == "POST, OPTIONS" and cors_of(headers) == {}
        status, headers, _ = call(server, "POST", CHAT, {"origin": ORIGIN, "content-type": "application/json"}, BODY)
        assert status == 200 and cors_of(headers) == {}


@pytest.fixture(scope="module")
def cors_server():
    with MockServer(cors=True) as server:
        server.when("hi").reply("Hello from the mock")
        yield server


def test_a_preflight_is_answered_with_what_the_browser_asked_for(cors_server):
    status, headers, body = call(cors_server, "OPTIONS", CHAT, {**PREFLIGHT,
                                                                "access-control-request-private-network": "true"})
    assert status == 204 and body == b""
    assert cors_of(headers) == {
        "access-control-allow-origin": ORIGIN,
        "access-control-expose-headers": "*",
        "access-control-allow-methods": "POST, OPTIONS",
        "access-control-allow-headers": PREFLIGHT["access-control-request-headers"],
        "access-control-max-age": "86400",
        "access-control-allow-private-network": "true",
    }
    assert headers["vary"] == "Origin" and headers["allow"] == "POST, OPTIONS"


def test_a_preflight_of_a_get_path(cors_server):
    status, headers, _ = call(cors_server, "OPTIONS", "/v1/models", {"origin": ORIGIN,
                                                                       "access-control-request-method": "GET"})
    assert status == 204 and headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS"
    assert headers["access-control-allow-headers"] == "*"


@pytest.mark.parametrize("stream", [False, True])
def test_every_answer_carries_the_origin_and_exposes_its_headers(cors_server, stream):
    body = json.dumps({**json.loads(BODY), "stream": stream})
    status, headers, data = call(cors_server, "POST", CHAT, {"origin": ORIGIN, "content-type": "application/json",
                                                             "authorization": "Bearer sk"}, body)
    assert status == 200 and b"Hello from the mock" in data
    assert headers["access-control-allow-origin"] == ORIGIN
    assert headers["access-control-expose-headers"] == "*" and headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("method, path, status", [("POST", "/v1/nothing", 404), ("GET", CHAT, 405),
                                                  ("POST", CHAT, 400), ("GET", "/v1/models", 200)])
def test_errors_carry_it_too_so_the_page_can_read_them(cors_server, method, path, status):
    code, headers, _ = call(cors_server, method, path, {"origin": ORIGIN, "content-type": "application/json"},
                            "{" if method == "POST" else None)
    assert code == status and headers["access-control-allow-origin"] == ORIGIN


def test_no_origin_no_cors_headers(cors_server):
    status, headers, _ = call(cors_server, "POST", CHAT, {"content-type": "application/json"}, BODY)
    assert status == 200 and cors_of(headers) == {}


def test_the_command_line_flag_and_the_config_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert server_options(_parser().parse_args(["start", "--cors"])).cors is True
    assert server_options(_parser().parse_args(["start"])).cors is False
    (tmp_path / "config.json").write_text('{"cors": true}')
    assert server_options(_parser().parse_args(["start"])).cors is True
    assert server_options(_parser().parse_args(["start", "--no-cors"])).cors is False
