"""A drop-in for the project llm_mock replaces: its page's async examples run with only the import
changed (`llm_mock_api` → `llm_mock`), `await` and all, and serve what they say."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

EXAMPLE_CONFIG = """
import asyncio
from llm_mock import MockServer
# 方式一:从 JSON 配置文件启动
async def main():
    server = await MockServer.from_json_config("config.json")
    await server.run_until_shutdown()
asyncio.run(main())
"""

EXAMPLE_API = """
from llm_mock import MockServer, MockServerOptions
from llm_mock.types.rule import MatchObject
from llm_mock.types.reply import ReplyObject, ToolCall
import asyncio
import re
async def main():
    opts = MockServerOptions(
        port=PORT,
        host="127.0.0.1",
        log_level="info",
        default_latency=50,
        default_chunk_size=50,
    )
    server = MockServer(opts)
    server.fallback("Sorry, no matching rule. Try: hi, weather, joke, step")
    server.when("hello").reply("world!")
    server.when(re.compile(r"^echo", re.IGNORECASE)).reply(
        "Echo mode active — message echoed back"
    )
    server.when(MatchObject(message="model check", model="gpt-4")).reply(
        "This reply only appears when the request model is gpt-4"
    )
    server.when("joke").reply(
        ReplyObject(
            text="Why did the developer go broke? Because he used up all his cache.",
            reasoning="User asked for a joke — pick a programmer-related one.",
        )
    )
    server.when("weather").reply(
        ReplyObject(
            text="Let me check the weather for you.",
            tools=[ToolCall(name="get_weather", args={"location": "Beijing", "unit": "celsius"})],
        )
    )
    server.when("step").reply_sequence([
        "Step 1: Initialize",
        "Step 2: Process",
        "Step 3: Done",
    ])
    server.when("once").reply("This rule fires only once!").times(1)
    print(f"Server running at {server.url}", flush=True)
    await server.run_until_shutdown()
asyncio.run(main())
"""

EXAMPLE_LIFECYCLE = """
import asyncio, json, urllib.request
from llm_mock import MockServer

def ask(url, text):
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()
    request = urllib.request.Request(url + "/v1/chat/completions", body, {"content-type": "application/json"})
    return json.load(urllib.request.urlopen(request))["choices"][0]["message"]["content"]

async def main():
    server = MockServer()
    await server.start()
    count = await server.load("rules.json")
    print("loaded", count, ask(server.url, "ping"), flush=True)
    await server.stop()
    async with MockServer() as other:
        other.when("x").reply("y")
        print("context", await asyncio.to_thread(ask, other.url, "x"), flush=True)
    print("running after", server.running, other.running, flush=True)
asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chat(url: str, text: str, model: str = "gpt-4o") -> str:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": text}]}).encode()
    request = urllib.request.Request(url + "/v1/chat/completions", body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)["choices"][0]["message"]["content"] or ""


def run(script: str, cwd: Path) -> subprocess.Popen:
    (cwd / "example.py").write_text(textwrap.dedent(script), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "example.py"], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_until_serving(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the example never served")


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=10)
    assert process.returncode == 0, output
    return output


def test_the_config_example_runs_as_written_with_await(tmp_path):
    port = free_port()
    (tmp_path / "rules.json").write_text(json.dumps([{"when": "hi", "reply": "hello from the rules"}]))
    (tmp_path / "config.json").write_text(json.dumps({"port": port, "rules": "rules.json", "fallback": "nope"}))
    process = run(EXAMPLE_CONFIG, tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process)
        assert chat(url, "hi") == "hello from the rules"
        assert chat(url, "what now") == "nope"
    finally:
        output = stop(process)
    assert "Traceback" not in output


def test_the_programmatic_example_runs_as_written_with_await(tmp_path):
    port = free_port()
    process = run(EXAMPLE_API.replace("PORT", str(port)), tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process)
        assert chat(url, "hello") == "world!"
        assert chat(url, "echo this") == "Echo mode active — message echoed back"
        assert chat(url, "model check", "gpt-4") == "This reply only appears when the request model is gpt-4"
        assert [chat(url, "step") for _ in range(4)] == ["Step 1: Initialize", "Step 2: Process", "Step 3: Done",
                                                          "Step 3: Done"]
        assert chat(url, "once") == "This rule fires only once!"
        assert chat(url, "once") == "Sorry, no matching rule. Try: hi, weather, joke, step"
    finally:
        output = stop(process)
    assert f"Server running at {url}" in output and "Traceback" not in output


def test_start_load_stop_and_async_with_are_awaitable(tmp_path):
    (tmp_path / "rules.json").write_text(json.dumps([{"when": "ping", "reply": "pong"}]))
    process = run(EXAMPLE_LIFECYCLE, tmp_path)
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert "loaded 1 pong" in output and "context y" in output and "running after False False" in output


def test_run_until_shutdown_awaited_leaves_the_event_loop_free():
    """While `await server.run_until_shutdown()` waits, other tasks of the loop keep running."""
    import asyncio

    from llm_mock import MockServer

    async def main() -> list:
        server = MockServer()
        ticks: list = []

        async def ticker() -> None:
            for _ in range(5):
                ticks.append(time.monotonic())
                await asyncio.sleep(0.02)
            await server.stop()

        task = asyncio.create_task(ticker())
        await server.run_until_shutdown()
        await task
        return ticks

    ticks = asyncio.run(main())
    assert len(ticks) == 5
