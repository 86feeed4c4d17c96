"""The Ollama routes through the official `ollama` Python package: chat, streams, generate, tools,
thinking, embeddings, the model routes, errors and failures."""
from __future__ import annotations

import asyncio
import json

import ollama
import pytest

from llm_mock import ErrorReply, Fault, MockServer, ReplyObject, ToolCall
from llm_mock.embeddings import embed

MODEL = "llama3.2"
HI = [{"role": "user", "content": "hello"}]


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


@pytest.fixture
def client(server):
    return ollama.Client(host=server.url)


def test_chat(server, client):
    server.when({"message": "hello", "system": "kind", "format": "ollama", "model": MODEL}).reply("Hi there!")
    response = client.chat(model=MODEL, messages=[{"role": "system", "content": "Be kind."}, *HI])
    assert response.message.role == "assistant" and response.message.content == "Hi there!"
    assert response.done is True and response.done_reason == "stop" and response.model == MODEL
    assert response.prompt_eval_count > 0 and response.eval_count == 3
    assert response.total_duration == (response.load_duration + response.prompt_eval_duration
                                       + response.eval_duration) > 0
    entry = server.history.last()
    assert entry.format == "ollama" and entry.path == "/api/chat"
    assert json.loads(entry.body)["stream"] is False and entry.request.stream is False


def test_chat_stream(server, client):
    server.when("hello").reply("Hello from a stream", chunk_size=6)
    parts = list(client.chat(model=MODEL, messages=HI, stream=True))
    assert [p.message.content for p in parts] == ["Hello ", "from a", " strea", "m", ""]
    assert [p.done for p in parts] == [False] * 4 + [True]
    assert parts[-1].done_reason == "stop" and parts[-1].eval_count == 5
    assert all(p.eval_count is None for p in parts[:-1])
    assert server.history.last().request.stream is True


def test_async_chat_stream(server):
    server.when("hello").reply("Async hello", chunk_size=5)

    async def run() -> list:
        stream = await ollama.AsyncClient(host=server.url).chat(model=MODEL, messages=HI, stream=True)
        return [part.message.content async for part in stream]

    assert asyncio.run(run()) == ["Async", " hell", "o", ""]


def test_generate(server, client):
    server.when({"message": "a haiku", "system": "poet"}).reply("Autumn moonlight\na worm digs silently")
    response = client.generate(model=MODEL, prompt="write a haiku", system="You are a poet.")
    assert response.response == "Autumn moonlight\na worm digs silently"
    assert response.done and response.done_reason == "stop" and response.context
    pieces = list(client.generate(model=MODEL, prompt="write a haiku", system="poet", stream=True))
    assert "".join(p.response for p in pieces) == response.response and pieces[-1].done
    assert server.history.last().path == "/api/generate"


def test_tools_round_trip(server, client):
    server.when(lambda request: request.messages[-1].role == "tool").reply("It is 11C in Tokyo.")
    server.when_tool("get_weather").reply(ReplyObject(tools=[ToolCall("get_weather", {"city": "Tokyo"})]))

    def get_weather(city: str) -> str:
        """Get the weather for a city.

        Args:
          city: The city name.
        """
        return f"11C in {city}"

    messages = [{"role": "user", "content": "weather in Tokyo?"}]
    first = client.chat(model=MODEL, messages=messages, tools=[get_weather])
    [call] = first.message.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", {"city": "Tokyo"})
    assert first.done_reason == "stop"
    tool = server.history.last().request.tools[0]
    assert tool.name == "get_weather" and tool.parameters["required"] == ["city"]

    messages += [first.message, {"role": "tool", "content": get_weather(**call.function.arguments),
                                 "tool_name": "get_weather"}]
    second = client.chat(model=MODEL, messages=messages, tools=[get_weather])
    assert second.message.content == "It is 11C in Tokyo."
    request = server.history.last().request
    assert [m.role for m in request.messages] == ["user", "assistant", "tool"]
    assert request.messages[-1].content == "11C in Tokyo"


def test_tool_calls_stream_whole(server, client):
    server.when_tool("get_weather").reply(ReplyObject(text="Looking.", tools=[
        ToolCall("get_weather", {"city": "Tokyo"}, "call_a"), ToolCall("get_weather", {"city": "Oslo"})]),
        chunk_size=3)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    parts = list(client.chat(model=MODEL, messages=HI, tools=tools, stream=True))
    with_calls = [p for p in parts if p.message.tool_calls]
    assert len(with_calls) == 1 and not with_calls[0].done
    assert [c.function.arguments["city"] for c in with_calls[0].message.tool_calls] == ["Tokyo", "Oslo"]
    assert "".join(p.message.content for p in parts) == "Looking."


def test_thinking(server, client):
    server.when("puzzle").reply(ReplyObject(reasoning="Two plus two is four.", text="4"), chunk_size=8)
    shown = client.chat(model="qwen3:8b", messages=[{"role": "user", "content": "puzzle"}], think=True)
    assert (shown.message.thinking, shown.message.content) == ("Two plus two is four.", "4")
    hidden = client.chat(model="qwen3:8b", messages=[{"role": "user", "content": "puzzle"}], think=False)
    assert hidden.message.thinking is None and hidden.message.content == "4"
    parts = list(client.chat(model="qwen3:8b", messages=[{"role": "user", "content": "puzzle"}], think="high",
                             stream=True))
    assert "".join(p.message.thinking or "" for p in parts) == "Two plus two is four."
    first_content = min(i for i, p in enumerate(parts) if p.message.content)
    assert all(p.message.thinking for p in parts[:first_content])
    generated = client.generate(model="qwen3:8b", prompt="puzzle", think=True)
    assert (generated.thinking, generated.response) == ("Two plus two is four.", "4")


def test_format_images_and_options(server, client):
    server.when("json").reply('{"ok": true}')
    response = client.chat(model="llava:7b", format={"type": "object"}, options={"temperature": 0, "num_predict": 50},
                           messages=[{"role": "user", "content": "json please", "images": [b"\x89PNG"]}],
                           keep_alive="5m")
    assert json.loads(response.message.content) == {"ok": True}
    body = json.loads(server.history.last().body)
    assert body["format"] == {"type": "object"} and body["messages"][0]["images"]
    assert server.history.last().request.max_tokens == 50
    server.when("long").reply("word " * 40)
    cut = client.chat(model=MODEL, messages=[{"role": "user", "content": "long"}], options={"num_predict": 4})
    assert (cut.done_reason, cut.message.content, cut.eval_count) == ("length", "word word word w", 4)


def test_embed(server, client):
    result = client.embed(model="nomic-embed-text", input=["the cat", "a dog"], dimensions=32)
    assert [list(v) for v in result.embeddings] == [embed("the cat", 32), embed("a dog", 32)]
    assert result.model == "nomic-embed-text" and result.prompt_eval_count > 0
    assert len(client.embed(model="nomic-embed-text", input="one").embeddings[0]) == 768
    legacy = client.embeddings(model="nomic-embed-text", prompt="the cat")
    assert list(legacy.embedding) == embed("the cat", 768)


def test_model_routes(server, client):
    names = [m.model for m in client.list().models]
    assert "llama3.2:latest" in names and "nomic-embed-text:latest" in names
    shown = client.show("qwen3:8b")
    assert "thinking" in shown.capabilities and shown.details.family == "qwen3" and shown.modelinfo
    assert client.show("anything-at-all").capabilities
    [loaded] = client.ps().models
    assert loaded.model == "llama3.2:latest" and loaded.size_vram
    assert client.pull("llama3.2").status == "success"
    assert [p.status for p in client.pull("llama3.2", stream=True)][-1] == "success"


def test_http_error(server, client):
    server.when("missing").reply(ErrorReply(404, "model 'missing' not found"))
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="missing", messages=[{"role": "user", "content": "missing"}])
    assert caught.value.status_code == 404 and caught.value.error == "model 'missing' not found"
    assert str(caught.value) == "model 'missing' not found (status code: 404)"
    server.when("busy").reply(ErrorReply(503))
    with pytest.raises(ollama.ResponseError) as caught:
        list(client.chat(model=MODEL, messages=[{"role": "user", "content": "busy"}], stream=True))
    assert caught.value.status_code == 503 and "server busy" in caught.value.error


def test_bad_request(server, client):
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model=MODEL, messages=HI, think="extreme")
    assert caught.value.status_code == 400 and "invalid think value" in caught.value.error


def test_inband_error_mid_stream(server, client):
    server.when("hello").reply(ReplyObject(text="Hello there", fault=Fault("error", after_events=2,
                                                                           error=ErrorReply(500, "GPU fell off"))),
                               chunk_size=3)
    received = []
    with pytest.raises(ollama.ResponseError) as caught:
        for part in client.chat(model=MODEL, messages=HI, stream=True):
            received.append(part.message.content)
    assert received == ["Hel", "lo "]
    assert caught.value.error == "GPU fell off" and caught.value.status_code == -1


@pytest.mark.parametrize("kind", ["disconnect", "malformed", "reset"])
def test_transport_faults(server, client, kind):
    server.when("hello").reply(ReplyObject(text="Hello there", fault=Fault(kind, after_events=1)), chunk_size=3)
    with pytest.raises(Exception) as caught:
        list(client.chat(model=MODEL, messages=HI, stream=True))
    assert not isinstance(caught.value, AssertionError)
    assert server.history.last().outcome == f"fault {kind}"


def test_truncated_stream_never_says_done(server, client):
    server.when("hello").reply(ReplyObject(text="Hello there", fault=Fault("truncate", after_events=2)),
                               chunk_size=3)
    parts = list(client.chat(model=MODEL, messages=HI, stream=True))
    assert [p.message.content for p in parts] == ["Hel", "lo "] and not any(p.done for p in parts)
