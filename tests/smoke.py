"""A quick check that llm_mock works from a plain copy of the repo on any supported Python.

Standard library only: no SDKs, no pytest, and json5 made unimportable, as in a project that vendors
the package. Serves on a free port and makes one request per route and wire format.

    python3.10 tests/smoke.py        (the repo is found from this file's own place)

Prints one line per failure and a closing `smoke: N passed on Python X.Y.Z`; exits 1 on any failure.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import platform
import struct
import sys
import traceback
import zlib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[0] = REPO  # the repo, not tests/, in front: the package as a vendored copy
sys.modules["json5"] = None  # type: ignore[assignment]  # `import json5` fails, installed or not

import llm_mock  # noqa: E402

TEXT = "Hello from the smoke test, streamed in pieces."
TOOL_TEXT = "Checking the weather."
USER = [{"role": "user", "content": "smoke please"}]


def request(server, method: str, path: str, body: dict | None = None, headers: dict | None = None):
    """(status, content-type, body bytes) of one request on a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else None
        sent = {"content-type": "application/json", **(headers or {})} if data is not None else dict(headers or {})
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        return response.status, response.getheader("content-type", ""), response.read()
    finally:
        connection.close()


def answer(server, path: str, body: dict, headers: dict | None = None) -> dict:
    status, kind, data = request(server, "POST", path, body, headers)
    assert status == 200, f"status {status}: {data[:200]!r}"
    assert kind.startswith("application/json"), kind
    return json.loads(data)


def events(server, path: str, body: dict, headers: dict | None = None) -> list:
    """The JSON payloads of a stream's `data:` lines (Chat Completions' [DONE] kept as the string)."""
    status, kind, data = request(server, "POST", path, dict(body, stream=True), headers)
    assert status == 200, f"status {status}: {data[:200]!r}"
    assert kind.startswith("text/event-stream"), kind
    payloads = []
    for line in data.decode("utf-8").splitlines():
        if line.startswith("data:"):
            value = line[5:].strip()
            payloads.append(value if value == "[DONE]" else json.loads(value))
    assert payloads, "no events"
    return payloads


# -- the checks ------------------------------------------------------------------------------------
ANTHROPIC = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-smoke"}


def chat_json(server):
    reply = answer(server, "/v1/chat/completions", {"model": "gpt-4o", "messages": USER})
    assert reply["object"] == "chat.completion", reply
    assert reply["choices"][0]["message"]["content"] == TEXT
    assert reply["choices"][0]["finish_reason"] == "stop"


def chat_stream(server):
    payloads = events(server, "/v1/chat/completions", {"model": "gpt-4o", "messages": USER})
    assert payloads[-1] == "[DONE]", payloads[-1]
    chunks = [p for p in payloads[:-1] if p["choices"]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == TEXT, text
    assert len([c for c in chunks if c["choices"][0]["delta"].get("content")]) > 1, "not chunked"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def responses_json(server):
    reply = answer(server, "/v1/responses", {"model": "gpt-4.1", "input": "smoke please"})
    assert reply["object"] == "response" and reply["status"] == "completed", reply
    message = [item for item in reply["output"] if item["type"] == "message"][0]
    assert message["content"][0]["text"] == TEXT


def responses_stream(server):
    payloads = events(server, "/v1/responses", {"model": "gpt-4.1", "input": "smoke please"})
    kinds = [p["type"] for p in payloads]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed", kinds
    text = "".join(p["delta"] for p in payloads if p["type"] == "response.output_text.delta")
    assert text == TEXT, text


def messages_json(server):
    reply = answer(server, "/v1/messages", {"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": USER},
                   ANTHROPIC)
    assert reply["type"] == "message" and reply["stop_reason"] == "end_turn", reply
    assert [(block["type"], block["text"]) for block in reply["content"]] == [("text", TEXT)], reply["content"]


def messages_stream(server):
    payloads = events(server, "/v1/messages", {"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": USER},
                      ANTHROPIC)
    kinds = [p["type"] for p in payloads]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop", kinds
    text = "".join(p["delta"].get("text", "") for p in payloads if p["type"] == "content_block_delta")
    assert text == TEXT, text


def tool_call(server):
    reply = answer(server, "/v1/chat/completions", {"model": "gpt-4o", "messages": [
        {"role": "user", "content": "what is the weather in Oslo?"}]})
    message = reply["choices"][0]["message"]
    assert reply["choices"][0]["finish_reason"] == "tool_calls", reply
    assert message["content"] == TOOL_TEXT
    call = message["tool_calls"][0]["function"]
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "Oslo"}


def models(server):
    status, kind, data = request(server, "GET", "/v1/models")
    assert status == 200 and kind.startswith("application/json"), (status, kind)
    listing = json.loads(data)
    assert listing["object"] == "list" and listing["data"], listing
    status, _, data = request(server, "GET", "/v1/models", headers=ANTHROPIC)
    assert status == 200 and "has_more" in json.loads(data), data[:200]


def count_tokens(server):
    reply = answer(server, "/v1/messages/count_tokens", {"model": "claude-sonnet-4-5", "messages": USER}, ANTHROPIC)
    assert isinstance(reply.get("input_tokens"), int) and reply["input_tokens"] > 0, reply


GEMINI = "/v1beta/models/gemini-2.5-flash"
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "smoke please"}]}]}


def gemini_json(server):
    reply = answer(server, GEMINI + ":generateContent", GEMINI_BODY, {"x-goog-api-key": "smoke"})
    candidate = reply["candidates"][0]
    assert candidate["content"]["parts"] == [{"text": TEXT}] and candidate["finishReason"] == "STOP", reply


def gemini_stream(server):
    status, kind, data = request(server, "POST", GEMINI + ":streamGenerateContent?alt=sse", GEMINI_BODY)
    assert status == 200 and kind.startswith("text/event-stream"), (status, kind)
    chunks = [json.loads(e[6:]) for e in data.decode("utf-8").split("\r\n\r\n") if e.startswith("data: ")]
    assert len(chunks) > 1, "not chunked"
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == TEXT
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


def ollama_json(server):
    reply = answer(server, "/api/chat", {"model": "llama3.2", "messages": USER, "stream": False})
    assert reply["message"]["content"] == TEXT and reply["done"] is True, reply


def ollama_stream(server):
    status, kind, data = request(server, "POST", "/api/chat", {"model": "llama3.2", "messages": USER})
    assert status == 200 and kind.startswith("application/x-ndjson"), (status, kind)
    lines = [json.loads(line) for line in data.decode("utf-8").splitlines()]
    assert "".join(line["message"]["content"] for line in lines) == TEXT and len(lines) > 2
    assert lines[-1]["done"] is True and lines[-1]["done_reason"] == "stop"
def embeddings(server):
    reply = answer(server, "/v1/embeddings", {"model": "text-embedding-3-small", "input": ["smoke", "fire"],
                                              "dimensions": 8})
    assert [len(item["embedding"]) for item in reply["data"]] == [8, 8], reply
    assert abs(sum(v * v for v in reply["data"][0]["embedding"]) - 1) < 1e-6


def completions(server):
    reply = answer(server, "/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "smoke please",
                                               "max_tokens": 100, "logprobs": 1})
    choice = reply["choices"][0]
    assert reply["object"] == "text_completion" and choice["text"] == TEXT, reply
    assert "".join(choice["logprobs"]["tokens"]) == TEXT
    payloads = events(server, "/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "smoke please",
                                                  "max_tokens": 100})
    assert payloads[-1] == "[DONE]" and "".join(p["choices"][0]["text"] for p in payloads[:-1]) == TEXT


def stored_responses(server):
    first = answer(server, "/v1/responses", {"model": "gpt-4.1", "input": "smoke please"})
    status, _, data = request(server, "GET", f"/v1/responses/{first['id']}")
    assert status == 200 and json.loads(data)["id"] == first["id"], data[:200]
    chained = {"model": "gpt-4.1", "input": "and again", "previous_response_id": first["id"]}
    count = answer(server, "/v1/responses/input_tokens", chained)
    assert count["input_tokens"] == answer(server, "/v1/responses", chained)["usage"]["input_tokens"], count
    assert request(server, "DELETE", f"/v1/responses/{first['id']}")[0] == 200
    assert request(server, "GET", f"/v1/responses/{first['id']}")[0] == 404


def demo_rules_as_json(server):
    """The plain-JSON demo rules load without json5 and answer like the commented ones."""
    with llm_mock.MockServer() as demo:
        assert demo.load(os.path.join(REPO, "llm_mock", "demo", "rules.json")) == 15
        reply = answer(demo, "/v1/chat/completions", {"model": "gpt-4o", "messages": [
            {"role": "user", "content": "hi there"}]})
        assert reply["choices"][0]["message"]["content"].startswith("Hello!"), reply


def azure(server):
    path = "/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21"
    reply = answer(server, path, {"messages": USER}, {"api-key": "smoke"})
    assert reply["model"] == "my-gpt" and reply["choices"][0]["message"]["content"] == TEXT, reply
    assert reply["choices"][0]["content_filter_results"], reply
    payloads = events(server, path, {"messages": USER}, {"api-key": "smoke"})
    assert payloads[0]["choices"] == [] and payloads[0]["prompt_filter_results"], payloads[0]
    text = "".join(p["choices"][0]["delta"].get("content") or "" for p in payloads[1:-1] if p["choices"])
    assert text == TEXT, text


BEDROCK_MODEL = "/model/anthropic.claude-3-haiku-20240307-v1:0"
BEDROCK_BODY = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 256, "messages": USER}


def bedrock(server):
    reply = answer(server, BEDROCK_MODEL + "/invoke", BEDROCK_BODY)
    assert reply["content"] == [{"type": "text", "text": TEXT}], reply
    status, kind, data = request(server, "POST", BEDROCK_MODEL + "/invoke-with-response-stream", BEDROCK_BODY)
    assert status == 200 and kind == "application/vnd.amazon.eventstream", (status, kind)
    payloads = []
    while data:  # AWS event-stream: lengths, prelude CRC, headers, {"bytes": base64}, message CRC
        total, headers = struct.unpack("!II", data[:8])
        assert struct.unpack("!I", data[8:12])[0] == zlib.crc32(data[:8]), "prelude CRC"
        assert struct.unpack("!I", data[total - 4:total])[0] == zlib.crc32(data[:total - 4]), "message CRC"
        payloads.append(json.loads(base64.b64decode(json.loads(data[12 + headers:total - 4])["bytes"])))
        data = data[total:]
    text = "".join(p["delta"].get("text", "") for p in payloads if p["type"] == "content_block_delta")
    assert text == TEXT and payloads[-1]["type"] == "message_stop", payloads[-1]


def vertex(server):
    path = "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929"
    body = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 256, "messages": USER}
    reply = answer(server, path + ":rawPredict", body, {"authorization": "Bearer smoke"})
    assert reply["content"] == [{"type": "text", "text": TEXT}] and reply["id"].startswith("msg_vrtx_"), reply
    payloads = events(server, path + ":streamRawPredict", body, {"authorization": "Bearer smoke"})
    text = "".join(p["delta"].get("text", "") for p in payloads if p["type"] == "content_block_delta")
    assert text == TEXT, text


CHECKS = [chat_json, chat_stream, responses_json, responses_stream, messages_json, messages_stream, tool_call,
          models, count_tokens, embeddings, completions, stored_responses, gemini_json, gemini_stream,
          ollama_json, ollama_stream, demo_rules_as_json, azure, bedrock, vertex]


def main() -> int:
    passed, failed = 0, []
    with llm_mock.MockServer(port=0, default_chunk_size=8) as server:
        server.when("weather").reply(llm_mock.ReplyObject(
            text=TOOL_TEXT, tools=[llm_mock.ToolCall("get_weather", {"city": "Oslo"})]))
        server.when("smoke").reply(TEXT)
        for check in CHECKS:
            try:
                check(server)
                passed += 1
            except Exception:  # every check runs; each failure is reported with where it failed
                failed.append(check.__name__)
                print(f"FAILED {check.__name__}:\n{traceback.format_exc()}", file=sys.stderr)
    python = f"Python {platform.python_version()}"
    if failed:
        print(f"smoke: {passed} passed, {len(failed)} failed ({', '.join(failed)}) on {python}")
        return 1
    print(f"smoke: {passed} passed on {python}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
