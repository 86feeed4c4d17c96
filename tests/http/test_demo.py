"""`llm-mock init`, then `llm-mock start`: every demo keyword shows what its comment promises,
through the official SDKs with strict validation."""
from __future__ import annotations

import json
import time

import pytest

from llm_mock.cli import main
from support.clients import anthropic_client
from test_cli import Served

FALLBACK = ("Sorry, I don't understand. Try: hi, hello, echo, joke, weather, multi tool, step, slow step, once, "
            "three times, long or unknown.")
HELLO = "Hello! 👋 This is llm_mock. How can I help you today?"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    assert main(["init", "-d", str(folder)]) == 0
    with Served(["start", "--config", str(folder / "config.json"), "-p", "0"], cwd=str(folder)) as served:
        assert "Rules      15 loaded" in served.banner and "watching for changes" in served.banner
        yield served
        assert served.stop() == 0


@pytest.fixture
def oai(demo):
    return demo.openai()


@pytest.fixture
def claude(demo):
    return anthropic_client(demo.url)


def chat(client, text, model="gpt-4o"):
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])
    return reply.choices[0]


def respond(client, text):
    return client.responses.create(model="gpt-4.1", input=text)


def message(client, text):
    return client.messages.create(model="claude-mock", max_tokens=1024,
                                  messages=[{"role": "user", "content": text}])


def test_greetings(oai, claude):
    assert chat(oai, "hi there").message.content == HELLO
    assert respond(oai, "Hello!").output_text == HELLO
    assert message(claude, "你好").content[0].text == "你好！我是 llm_mock，一个用于测试的 Mock LLM 服务器。"
    # the word-boundary regex: "this" and "which" contain "hi" but are not greetings
    assert chat(oai, "which of this is it").message.content == FALLBACK


def test_echo_regex(oai):
    assert chat(oai, "echo test 456").message.content.startswith("Echo mode active.")
    assert chat(oai, "please echo").message.content == FALLBACK  # anchored at the start


def test_model_check_matches_exactly_gpt_4(oai):
    assert chat(oai, "model check", model="gpt-4").message.content.startswith("Detected GPT-4 model request")
    assert chat(oai, "model check", model="gpt-4o").message.content == FALLBACK


def test_openai_only_answers_on_chat_completions(oai, claude):
    assert chat(oai, "openai only").message.content.startswith("This reply only appears on the OpenAI")
    assert respond(oai, "openai only").output_text == FALLBACK
    assert message(claude, "openai only").content[0].text == FALLBACK


def test_joke_carries_reasoning_on_responses_and_anthropic(oai, claude):
    joke = "Why did the developer go broke? Because he used up all his cache."
    reasoning = "User wants a programmer joke. Make it short and relatable."
    response = respond(oai, "tell me a joke")
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output[0].summary[0].text == reasoning and response.output_text == joke
    reply = message(claude, "tell me a joke")
    assert [(b.type, getattr(b, "thinking", None) or getattr(b, "text", None)) for b in reply.content] == [
        ("thinking", reasoning), ("text", joke)]
    assert chat(oai, "tell me a joke").message.content == joke  # Chat Completions: the text alone


def test_weather_is_a_tool_call(oai, claude):
    choice = chat(oai, "what's the weather?")
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Looking up the weather for you..."
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Beijing", "unit": "celsius"}
    reply = message(claude, "weather in Beijing")
    assert reply.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "name", None)) for b in reply.content] == [("text", None), ("tool_use", "get_weather")]
    assert reply.content[1].input == {"location": "Beijing", "unit": "celsius"}


def test_multi_tool_gives_two_calls(oai):
    response = respond(oai, "multi tool")
    calls = [item for item in response.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("search_db", {"query": "users"}), ("send_email", {"to": "admin@example.com"})]
    assert response.output_text == "I need to run several tools to answer this."


def timed_stream(client, text):
    started = time.monotonic()
    stream = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}],
                                            stream=True)
    deltas = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    return deltas, time.monotonic() - started


def test_slow_step_paces_each_step_differently(oai):
    deltas, fast = timed_stream(oai, "slow step")
    assert deltas == ["Fast response (no delay)."] and fast < 0.2
    deltas, medium = timed_stream(oai, "slow step")
    assert deltas == ["Medium response (200", "ms delay, chunked)."] and medium >= 0.6
    assert chat(oai, "slow step").message.content == "Slow response (500ms delay, chunked)."


def test_step_sequence_advances_then_repeats(claude):
    texts = [message(claude, "next step").content[0].text for _ in range(4)]
    assert texts == ["Step 1/3 — Initializing...", "Step 2/3 — Processing data...", "Step 3/3 — Done!",
                     "Step 3/3 — Done!"]


def test_once_then_fallback(oai):
    assert chat(oai, "once").message.content.startswith("This rule triggers only ONCE")
    assert chat(oai, "once").message.content == FALLBACK


def test_three_times_then_fallback(oai):
    texts = [respond(oai, "three times").output_text for _ in range(4)]
    assert texts == ["This rule triggers up to 3 times."] * 3 + [FALLBACK]


def test_long_streams_in_50_character_chunks(oai):
    deltas, seconds = timed_stream(oai, "long")
    text = "".join(deltas)
    assert text.startswith("This is a longer response") and text.endswith("watch the chunks arrive in real time.")
    assert len(deltas) == -(-len(text) // 50) and all(len(d) == 50 for d in deltas[:-1])
    assert seconds >= 0.05 * len(deltas)


def test_unknown_uses_the_reasoning_template(oai):
    response = respond(oai, "unknown")
    assert response.output[0].type == "reasoning"
    assert response.output[0].summary[0].text == "User asked something outside my scope."
    assert response.output_text == "Sorry, I can't help with that right now."
    assert chat(oai, "unknown").message.content == "Sorry, I can't help with that right now."


def test_anything_else_gets_the_fallback(claude):
    assert message(claude, "xyzzy").content[0].text == FALLBACK


def test_requests_are_logged_one_line_each(demo, oai):
    chat(oai, "echo logged")
    deadline = time.monotonic() + 2
    while 'POST /v1/chat/completions [json] "echo logged" -> /^echo (.*)$/i 200' not in demo.log():
        assert time.monotonic() < deadline, demo.log()
        time.sleep(0.02)
