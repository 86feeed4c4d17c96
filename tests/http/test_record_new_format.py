"""Recording a format llm_mock learnt after the recorder was written: defined in this module.

Without an extractor its answers are recorded exactly (the sidecar) and replayed from there; with
one registered (`llm_mock.record.register`) and its stream framing taught to the recorder
(`register_splitter`), the rule holds the text like any other format's.
"""
from __future__ import annotations

import json
import os
import urllib.request
from typing import Any, Optional

import pytest

from llm_mock import MockServer, formats
from llm_mock.formats.base import Call, Events, FormatAdapter, Route
from llm_mock.framing import Frame, Framing
from llm_mock.record import Extractor, extract, register
from llm_mock.record.proxy import SPLITTERS, register_splitter
from llm_mock.replies import Completion, ErrorReply
from llm_mock.request import Message, MockRequest, finish


class Lines(Framing):
    media_type = "text/x-lines"
    terminator = b".\n"

    def frame(self, payload: Any, event: Optional[str] = None, chars: int = 0) -> Frame:
        return Frame(f"> {payload}\n".encode(), chars)


class Say(FormatAdapter):
    name = "say"
    routes = (Route("POST", "/say/{voice}"),)
    framing = Lines()

    def parse(self, body: dict, call: Call) -> MockRequest:
        request = MockRequest(format=self.name, model=call.params["voice"], stream=bool(body.get("stream")),
                              headers=dict(call.headers), path=call.target, raw=body)
        return finish(request, [Message("user", str(body.get("words", "")))])

    def render_json(self, request: MockRequest, completion: Completion) -> Any:
        return {"said": completion.text}

    def render_events(self, request: MockRequest, completion: Completion) -> Events:
        return Events([self.framing.frame(piece, chars=len(piece)) for piece in completion.chunks(completion.text)])

    def render_error(self, error: ErrorReply, request_id: str) -> Any:
        return {"oops": error.message}

    def inband_error(self, events: Events, sent: int, error: Optional[ErrorReply], kind: str) -> list:
        return [Frame(b"! failed\n")]


class SayExtractor(Extractor):
    def from_json(self, body: Any) -> dict:
        return {"text": body["said"]}

    def from_events(self, events: list) -> dict:
        return {"text": "".join(events)}

    def events(self, body: bytes, media_type: str) -> list:
        return [line[2:] for line in body.decode().splitlines() if line.startswith("> ")]


@pytest.fixture
def say():
    adapter = Say()
    formats.register(adapter)
    try:
        yield adapter
    finally:
        formats.unregister(adapter)
        extract.EXTRACTORS.pop("say", None)
        SPLITTERS.pop("text/x-lines", None)


def post(url: str, body: dict) -> bytes:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read()


def record(tmp_path, stream: bool) -> tuple:
    directory = str(tmp_path / "rec")
    body = {"words": "hello", "stream": stream}
    with MockServer() as up, MockServer(record=directory, upstream=up.url) as recorder:
        up.when("hello").reply("Hi there, friend.", chunk_size=4)
        live = post(recorder.url + "/say/calm", body)
    rule_file = next(name for name in os.listdir(directory) if name.endswith((".json5", ".json")))
    with open(os.path.join(directory, rule_file), encoding="utf-8") as handle:
        return directory, body, live, handle.read()


@pytest.mark.parametrize("stream", [False, True])
def test_a_format_without_an_extractor_replays_from_the_sidecar(say, tmp_path, stream):
    directory, body, live, rules = record(tmp_path, stream)
    assert ('text: ""' in rules and "no reader for say answers" in rules) if rules.startswith("//") \
        else '"text": ""' in rules
    with MockServer() as replay:
        replay.load(directory)
        assert post(replay.url + "/say/calm", body) == live
        assert replay.history.last().outcome.startswith("replayed ")


def test_a_format_whose_extractor_is_registered_records_editable_rules(say, tmp_path):
    register("say", SayExtractor())
    register_splitter("text/x-lines", lambda received: [(at, line) for at, data in received
                                                        for line in data.splitlines(keepends=True)])
    directory, body, live, rules = record(tmp_path, True)
    assert "Hi there, friend." in rules
    with MockServer() as replay:
        replay.load(directory)
        assert post(replay.url + "/say/calm", body) == b"> Hi there, friend.\n.\n"  # rendered from the rule
        assert replay.history.last().outcome == "ok"
    with MockServer(replay_timing="recorded") as replay:
        replay.load(directory)
        assert post(replay.url + "/say/calm", body) == live
        assert replay.history.last().outcome.startswith("replayed ")
    sidecar = next(name for name in os.listdir(directory) if name.endswith(".jsonl"))
    with open(os.path.join(directory, sidecar), encoding="utf-8") as handle:
        frames = json.loads(handle.readline())["response"]["frames"]
    assert [frame["data"] for frame in frames] == ["> Hi t\n", "> here\n", "> , fr\n", "> iend\n", "> .\n", ".\n"]
