"""`log_level="all"` means something of its own: the full request and response bodies."""
from __future__ import annotations

import io
import json

import openai

from llm_mock import MockServer
from llm_mock.log import Logger

LONG = "tell me everything " + "word " * 1000


def run(level: str) -> str:
    stream = io.StringIO()
    with MockServer() as server:
        server.log = Logger(level, stream=stream)
        server.when("everything").reply("All of it: " + "detail " * 400, chunk_size=50)
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0,
                               _strict_response_validation=True)
        messages = [{"role": "user", "content": LONG}]
        client.chat.completions.create(model="gpt-4o", messages=messages)
        list(client.chat.completions.create(model="gpt-4o", messages=messages, stream=True))
        client.models.list()
    return stream.getvalue()


def test_all_logs_full_request_and_response_bodies():
    log = run("all")
    requests = [line.split("request body: ", 1)[1] for line in log.splitlines() if "request body: " in line]
    assert len(requests) == 2 and all(json.loads(body)["messages"][0]["content"] == LONG for body in requests)
    responses = [line.split("response body: ", 1)[1] for line in log.splitlines() if "response body: " in line]
    reply = json.loads(responses[0])
    assert reply["choices"][0]["message"]["content"] == "All of it: " + "detail " * 400
    assert "data: [DONE]" in log and log.count('"object":"chat.completion.chunk"') >= 57  # every event
    assert json.loads(responses[-1])["object"] == "list"  # GET /v1/models too


def test_debug_does_not():
    log = run("debug")
    assert "request body: " not in log and "response body: " not in log and "DEBUG" in log
