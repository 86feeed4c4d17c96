"""The official JavaScript SDKs (openai, @anthropic-ai/sdk) against the server, through their stream
helpers: the second language the wire format must satisfy. Needs Node.js and the npm registry."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from llm_mock import ErrorReply, Fault, MockServer, ReplyObject, ToolCall
from support.files import JS

pytestmark = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason="Node.js and npm are not installed")


@pytest.fixture(scope="module")
def js_sdks() -> Path:
    stamp = JS / "node_modules" / ".installed"
    wanted = (JS / "package.json").read_text()
    if not stamp.exists() or stamp.read_text() != wanted:
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-package-lock"], cwd=JS,
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.fail(f"npm install failed (the npm registry must be reachable):\n{done.stderr[-3000:]}")
        stamp.write_text(wanted)
    return JS


@pytest.fixture(scope="module")
def seen(js_sdks) -> dict:
    with MockServer() as server:
        server.when("plain").reply("Hello from the mock.", chunk_size=4)
        server.when("tools").reply(ReplyObject(text="Calling.", tools=[
            ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_time", {"tz": "CET"})]), chunk_size=5)
        server.when("think").reply(ReplyObject(text="Answer.", reasoning="Let me think about it."), chunk_size=3)
        server.when("overload").reply(ErrorReply.overloaded())
        server.when("ratelimit").reply(ErrorReply.rate_limited(retry_after=0.01))
        server.when("inband").reply(ReplyObject(text="abcdefghijklmnop", fault=Fault("error", after_events=3)),
                                    chunk_size=2)
        server.when("failed").reply(ReplyObject(text="abcdefghijklmnop", fault=Fault("failed", after_events=3)),
                                    chunk_size=2)
        done = subprocess.run(["node", str(js_sdks / "probe.mjs"), server.url], capture_output=True, text=True,
                              timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("mode", ["chat", "chat stream", "resp", "resp stream"])
def test_openai_js_text_tools_and_reasoning(seen, mode):
    assert seen[f"{mode} plain"][0] == "Hello from the mock."
    assert seen[f"{mode} tools"][0] == "Calling."
    assert seen[f"{mode} think"][0] == "Answer."
    if mode.startswith("resp"):
        assert seen[f"{mode} tools"][1] == ["message", "function_call", "function_call"]
        assert seen[f"{mode} think"][1] == ["reasoning", "message"]
    else:
        calls = seen[f"{mode} tools"][1]
        names = [call[0] if isinstance(call, list) else call for call in calls]
        assert names == ["get_weather", "get_time"]
    if mode == "chat stream":
        assert seen["chat stream tools"][1] == [["get_weather", '{"city":"Paris"}'], ["get_time", '{"tz":"CET"}']]


def test_usage_is_the_same_for_every_openai_route_and_mode(seen):
    for case in ("plain", "tools", "think"):
        assert seen[f"chat stream {case}"][2] == seen[f"resp stream {case}"][2] > 0


@pytest.mark.parametrize("mode", ["anth", "anth stream"])
def test_anthropic_js_blocks_and_stop_reasons(seen, mode):
    assert seen[f"{mode} plain"][:2] == [["text"], "end_turn"]
    assert seen[f"{mode} think"][:2] == [["thinking", "text"], "end_turn"]
    assert seen[f"{mode} tools"][1] == "tool_use"
    if mode == "anth stream":
        assert seen["anth stream tools"][0] == ["text", ["tool_use", {"city": "Paris"}], ["tool_use", {"tz": "CET"}]]


def test_errors_raise_each_sdks_own_classes(seen):
    assert seen["anth 529"] == ["OverloadedError", 529]
    assert seen["chat 429"] == ["RateLimitError", 429]
    assert seen["anth inband"][0] == "APIError" and "overloaded_error" in seen["anth inband"][1]
    assert seen["chat inband"][0] == "APIError"
    assert seen["resp failed"] == ["resolved", "failed"]  # ResponseStream resolves with the failed snapshot


def test_anthropic_js_paginates_the_model_list_to_its_end(seen):
    assert len(seen["anth models"]) == 3 == len(set(seen["anth models"]))
