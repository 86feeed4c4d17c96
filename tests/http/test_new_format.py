"""A wire format is one module plus one registry line: this test module is that module.

It defines a tiny format (its own route, parse, render, error shape and stream framing),
registers it, serves it end to end over HTTP, and removes it again, touching no other file.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Optional

import pytest

from llm_mock import MockServer, formats
from llm_mock.formats.base import Call, Events, FormatAdapter, Route
from llm_mock.framing import Frame, Framing
from llm_mock.replies import Completion, ErrorReply
from llm_mock.request import Message, MockRequest, RequestError, finish


class Lines(Framing):
    """One `> text` line per event, `.` on a line of its own at the end."""

    media_type = "text/x-lines"
    terminator = b".\n"
    malformed = b"?\n"

    def frame(self, payload: Any, event: Optional[str] = None, chars: int = 0) -> Frame:
        return Frame(f"> {payload}\n".encode(), chars)


class Say(FormatAdapter):
    name = "say"
    routes = (Route("POST", "/say/{voice}"),)
    prefixes = ("/say",)
    request_id_header = "x-say-id"
    framing = Lines()

    def parse(self, body: dict, call: Call) -> MockRequest:
        if not isinstance(body.get("words"), str):
            raise RequestError("words: a string is required", "words")
        request = MockRequest(format=self.name, model=call.params["voice"], stream=bool(body.get("stream")),
                              headers=dict(call.headers), path=call.target, raw=body)
        return finish(request, [Message("user", body["words"])])

    def render_json(self, request: MockRequest, completion: Completion) -> Any:
        return {"said": completion.text, "voice": request.model}

    def render_events(self, request: MockRequest, completion: Completion) -> Events:
        return Events([self.framing.frame(piece, chars=len(piece)) for piece in completion.chunks(completion.text)])

    def render_error(self, error: ErrorReply, request_id: str) -> Any:
        return {"oops": error.message or str(error.status)}

    def inband_error(self, events: Events, sent: int, error: Optional[ErrorReply], kind: str) -> list:
        return [Frame(b"! failed\n")]


@pytest.fixture
def say():
    adapter = Say()
    formats.register(adapter)
    try:
        yield adapter
    finally:
        formats.unregister(adapter)


def post(url: str, body: dict) -> tuple:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_a_format_defined_here_is_served_end_to_end_then_removed(say):
    assert "say" in formats.names()
    with MockServer() as server:
        server.when({"message": "hello", "format": "say"}).reply("Hello there, friend", chunk_size=6)
        status, headers, body = post(server.url + "/say/baritone", {"words": "hello"})
        assert status == 200 and json.loads(body) == {"said": "Hello there, friend", "voice": "baritone"}
        assert headers["x-say-id"].startswith("req_")

        status, headers, body = post(server.url + "/say/alto", {"words": "hello", "stream": True})
        assert status == 200 and headers["content-type"] == "text/x-lines"
        assert body == b"> Hello \n> there,\n>  frien\n> d\n.\n"

        status, _, body = post(server.url + "/say/alto", {"words": 3})
        assert status == 400 and json.loads(body) == {"oops": "words: a string is required"}
        status, _, body = post(server.url + "/say", {})
        assert status == 404 and "oops" in json.loads(body)
        entries = server.history.all()
        assert [entry.format for entry in entries] == ["say", "say", "say", None]
        assert entries[0].request.model == "baritone" and entries[0].rule == "{message=hello, format=say}"

    formats.unregister(say)
    try:
        with MockServer() as server:
            status, _, body = post(server.url + "/say/alto", {"words": "hello"})
            assert status == 404 and "error" in json.loads(body)  # OpenAI's shape again: the format is gone
            assert "say" not in formats.names()
    finally:
        formats.register(say)


def test_a_rule_may_name_the_new_format_only_while_it_is_registered(say):
    from llm_mock import MatchObject

    MatchObject(format="say")
    formats.unregister(say)
    try:
        with pytest.raises(ValueError, match="format must be one of"):
            MatchObject(format="say")
    finally:
        formats.register(say)
