"""The wire output under the older SDK generations (`openai<2`, `anthropic<1`) too.

Users run both generations, and their accumulators and strict models differ (protocol-notes §7:
openai 1.x takes the Responses final object verbatim from `response.completed` and indexes output
positionally; anthropic 0.x raises on events before `message_start`). A second virtualenv at
`.venv-sdk-old` holds those SDKs (created once, about 30 s; reused while its stamp matches); the
server runs here and `support/generation_probe.py` drives it from that venv with this repo on
PYTHONPATH, uninstalled. Warm, the module takes about 5 s.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llm_mock import ErrorReply, Fault, MockServer, ReplyObject
from llm_mock.formats.base import OPENAI_ERRORS
from llm_mock.tokens import estimate_tokens
from support import generation_probe
from support.files import REPO
from support.generation_probe import FORMATS, LIMIT, LONG_TEXT, MODES, REASONING, SCENARIOS, TEXT, TOOL_CALLS, prompt

OLD_VENV = REPO / ".venv-sdk-old"
REQUIREMENTS = ("openai<2", "anthropic<1")
STAMP = OLD_VENV / "llm-mock-sdk.stamp"
CHUNK = 4  # characters per delta, so every accumulator joins several pieces
INBAND_AFTER = 8  # characters of text sent before the in-band error
FINISH = {"chat": {"stop": "stop", "tools": "tool_calls", "length": "length"},
          "responses": {"stop": "completed", "tools": "completed", "length": "incomplete"},
          "messages": {"stop": "end_turn", "tools": "tool_use", "length": "max_tokens"}}
SERVER_ERROR = OPENAI_ERRORS[500][2]


def run_or_fail(command: list, what: str, timeout: float) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what}: no result after {timeout:.0f} s ({' '.join(map(str, command))})")
    if done.returncode != 0:
        pytest.fail(f"{what} failed (exit {done.returncode}); the older SDKs come from the package index, "
                    f"which must be reachable:\n{done.stderr[-3000:]}")


def old_sdk_python() -> Path:
    """The python of a virtualenv with the older SDK generations, built unless its stamp matches."""
    python = OLD_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    stamp = f"{' '.join(REQUIREMENTS)} on python {sys.version_info[0]}.{sys.version_info[1]}"
    if python.exists() and STAMP.exists() and STAMP.read_text() == stamp:
        return python
    run_or_fail([sys.executable, "-m", "venv", "--clear", str(OLD_VENV)], f"creating {OLD_VENV}", 300)
    run_or_fail([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *REQUIREMENTS],
                f"pip install {' '.join(REQUIREMENTS)} into {OLD_VENV}", 900)
    STAMP.write_text(stamp)
    return python


def script_rules(server: MockServer) -> None:
    for name, reply in SCENARIOS.items():
        server.when(prompt(name)).reply(reply, chunk_size=CHUNK)
    server.when(prompt("rate_limited")).reply(ErrorReply.rate_limited(retry_after=0.01))
    server.when(prompt("overloaded")).reply(ErrorReply.overloaded())
    server.when(prompt("inband")).reply(ReplyObject(text=TEXT, fault=Fault("error", after_chars=INBAND_AFTER)),
                                        chunk_size=CHUNK)


@pytest.fixture(scope="module")
def probe() -> dict:
    python = old_sdk_python()
    with MockServer() as server:
        script_rules(server)
        try:
            done = subprocess.run([str(python), generation_probe.__file__, server.url],
                                  capture_output=True, text=True, timeout=120, cwd=REPO,
                                  env={**os.environ, "PYTHONPATH": str(REPO)})
        except subprocess.TimeoutExpired:
            pytest.fail("generation_probe.py did not finish in 120 s")
    if done.returncode != 0:
        pytest.fail(f"generation_probe.py failed (exit {done.returncode}):\n{done.stderr[-5000:]}")
    return json.loads(done.stdout)


def observation(probe: dict, key: str) -> dict:
    seen = probe["observed"][key]
    assert seen["error"] is None, f"{key}: the older SDK raised {seen['error']}"
    return seen


def expected(fmt: str, scenario: str) -> dict:
    """Text, tool calls, finish and output tokens the reply `scenario` must show in format `fmt`."""
    reply = SCENARIOS[scenario]
    tools = [[t["name"], t["args"]] for t in reply.get("tools", [])]
    text = LONG_TEXT[:LIMIT * 4] if scenario == "truncated" else reply.get("text")
    finish = "length" if scenario == "truncated" else "tools" if tools else "stop"
    output = estimate_tokens(text) + estimate_tokens(reply.get("reasoning")) + sum(
        estimate_tokens(name + json.dumps(args, separators=(",", ":"))) for name, args in tools)
    return {"text": text, "tools": tools, "finish": FINISH[fmt][finish], "output": output}


def test_the_probe_ran_the_older_generations_on_a_vendored_copy(probe):
    assert probe["versions"]["openai"].startswith("1.")
    assert probe["versions"]["anthropic"].startswith("0.")
    vendored = probe["vendored"]
    assert Path(vendored["file"]).resolve() == REPO / "llm_mock" / "__init__.py"
    assert vendored["installed"] is False and vendored["text"] == "served by a vendored copy"
    assert len(probe["observed"]) == len(FORMATS) * len(MODES) * len(SCENARIOS) + 3 + 2 * len(FORMATS)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "truncated"])
def test_every_mode_sees_the_reply(probe, fmt, scenario):
    want = expected(fmt, scenario)
    usages = []
    for mode in MODES:
        seen = observation(probe, f"{fmt}/{mode}/{scenario}")
        got = {"text": seen["text"], "tools": seen["tools"], "finish": seen["finish"],
               "output": seen["usage"]["output"]}
        assert got == want, f"{fmt}/{mode}/{scenario}"
        usages.append(seen["usage"])
    assert usages[0]["input"] > 0 and usages == [usages[0]] * len(MODES), f"{fmt}/{scenario} usage differs by mode"
    if fmt != "messages":
        assert usages[0]["total"] == usages[0]["input"] + usages[0]["output"]
        assert usages[0]["reasoning"] == estimate_tokens(SCENARIOS[scenario].get("reasoning"))


@pytest.mark.parametrize("fmt", ["responses", "messages"])
def test_reasoning_arrives_as_its_own_item(probe, fmt):
    for mode in MODES:
        seen = observation(probe, f"{fmt}/{mode}/reasoning")
        assert seen["reasoning"] == REASONING, f"{fmt}/{mode}"
        assert seen["items" if fmt == "responses" else "blocks"] == (
            ["reasoning", "message"] if fmt == "responses" else ["thinking", "text"])
        if fmt == "messages":
            assert seen["signed"] is True
    assert observation(probe, "responses/stream/reasoning")["delta_reasoning"] == REASONING


def test_chat_stream_accumulates_like_the_1x_helper(probe):
    for scenario in SCENARIOS:
        raw = observation(probe, f"chat/stream/{scenario}")
        assert raw["roles"] == ["assistant"], scenario  # one role delta, or the helper concatenates it
        assert raw["last_chunk_choices"] == 0, scenario  # the usage chunk comes last
    text_deltas = -(-len(TEXT) // CHUNK)
    assert observation(probe, "chat/stream/text")["chunks"] == 1 + text_deltas + 1 + 1  # role, text, finish, usage
    assert observation(probe, "chat/helper/text")["done"] == [["content", TEXT]]
    assert observation(probe, "chat/helper/tools")["done"] == [[t["name"], t["args"]] for t in TOOL_CALLS]
    assert observation(probe, "chat/helper/empty")["done"] == []
    assert all(observation(probe, f"chat/create/{s}")["choices"] == 1 for s in SCENARIOS)


def test_responses_stream_is_numbered_and_positional(probe):
    items = {"text": ["message"], "reasoning": ["reasoning", "message"], "tools": ["function_call"] * 2,
             "empty": ["message"], "truncated": ["message"]}
    for scenario, kinds in items.items():
        raw = observation(probe, f"responses/stream/{scenario}")
        assert raw["sequence"] is True and raw["first"] == "response.created", scenario
        assert raw["last"] == ("response.incomplete" if scenario == "truncated" else "response.completed")
        assert raw["delta_text"] == (expected("responses", scenario)["text"] or None), scenario
        for mode in MODES:
            if (mode, scenario) != ("helper", "truncated"):
                assert observation(probe, f"responses/{mode}/{scenario}")["items"] == kinds, f"{mode}/{scenario}"


def test_messages_stream_blocks_open_and_close_in_order(probe):
    blocks = {"text": ["text"], "reasoning": ["thinking", "text"], "tools": ["tool_use"] * 2, "empty": ["text"],
              "truncated": ["text"]}
    for scenario, kinds in blocks.items():
        raw = observation(probe, f"messages/stream/{scenario}")
        types = raw["types"]
        assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"], scenario
        assert types.count("content_block_start") == types.count("content_block_stop") == len(kinds)
        for mode in MODES:
            assert observation(probe, f"messages/{mode}/{scenario}")["blocks"] == kinds, f"{mode}/{scenario}"
        helper = observation(probe, f"messages/helper/{scenario}")
        assert helper["text_events"] == (helper["text"] or ""), scenario


@pytest.mark.parametrize("fmt", FORMATS)
def test_max_tokens_truncates_in_every_mode(probe, fmt):
    want = expected(fmt, "truncated")
    assert want["output"] == LIMIT
    refused = {"chat": ("LengthFinishReasonError", "length limit was reached"),
               "responses": ("RuntimeError", "Didn't receive a `response.completed` event.")}
    for mode in MODES:
        key = f"{fmt}/{mode}/truncated"
        seen = probe["observed"][key]
        if mode == "helper" and fmt in refused:  # the 1.x helpers refuse a truncated final object ...
            cls, message = refused[fmt]
            assert seen["error"]["class"] == cls and message in seen["error"]["message"], key
            seen = seen["seen"]  # ... whose content still arrived in full
        else:
            assert seen["error"] is None, f"{key}: the older SDK raised {seen['error']}"
        got = {"text": seen["text"], "tools": seen["tools"], "finish": seen["finish"],
               "output": seen["usage"]["output"]}
        assert got == want, key
        if fmt == "responses":
            assert seen["incomplete"] == "max_output_tokens", key


def test_http_errors_map_to_the_1x_and_0x_classes(probe):
    for key in ("chat/create/rate_limited", "chat/stream/rate_limited"):
        error = probe["observed"][key]["error"]
        assert error["class"] == "RateLimitError" and error["status_code"] == 429, key
        assert error["code"] == "rate_limit_exceeded" and error["request_id"].startswith("req_")
        assert error["body"]["message"] == OPENAI_ERRORS[429][2]
    error = probe["observed"]["messages/create/overloaded"]["error"]
    assert error["class"] == "OverloadedError" and error["status_code"] == 529
    assert error["body"]["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert error["request_id"] == error["body"]["request_id"] and error["request_id"].startswith("req_011")


@pytest.mark.parametrize("mode", ["stream", "helper"])
def test_inband_errors_raise_after_the_text_already_sent(probe, mode):
    before = TEXT[:INBAND_AFTER]
    chat = probe["observed"][f"chat/{mode}/inband"]
    assert chat["error"]["class"] == "APIError" and "status_code" not in chat["error"]
    assert chat["error"]["message"] == SERVER_ERROR and chat["error"]["type"] == "server_error"
    assert chat["seen"]["text"] == before
    responses = probe["observed"][f"responses/{mode}/inband"]
    assert responses["error"]["class"] == "APIError" and responses["error"]["message"] == SERVER_ERROR
    assert responses["seen"]["text"] == before and "response.completed" not in responses["seen"]["types"]
    messages = probe["observed"][f"messages/{mode}/inband"]
    assert messages["error"]["class"] == "APIStatusError" and messages["error"]["status_code"] == 200
    assert messages["error"]["body"]["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    text = messages["seen"]["blocks"][0]["text"] if mode == "stream" else "".join(messages["seen"]["text_events"])
    assert text == before


def test_the_rest_of_the_openai_surface(probe):
    """Embeddings, legacy completions, logprobs and stored Responses under the 1.x SDK."""
    seen = probe["surface"]
    for name, value in seen.items():
        assert value["error"] is None, f"{name}: the older SDK raised {value['error']}"
    assert seen["embeddings"]["lengths"] == [1536, 1536] and seen["embeddings"]["decoded"] == 64
    assert seen["embeddings"]["tokens"] == 2 and seen["embeddings"]["drift"] < 1e-6
    assert seen["completions"]["text"] == seen["completions"]["tokens"] == seen["completions"]["stream"] == TEXT
    assert seen["completions"]["finish"] == "stop"
    logprobs = seen["logprobs"]
    assert logprobs["chat"] == logprobs["helper"] == logprobs["responses"] == TEXT and logprobs["top"] == 2
    assert seen["stored"] == {"retrieved": TEXT, "chained": True, "items": 1, "deleted": 404, "error": None}
