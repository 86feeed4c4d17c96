"""A drop-in for the project llm_mock replaces: its lifecycle calls may be awaited, as its users'
async code does (the page's two examples themselves run in `test_lifecycle.py`, with and without
`await`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

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


def run(script: str, cwd: Path) -> subprocess.Popen:
    (cwd / "example.py").write_text(textwrap.dedent(script), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "example.py"], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


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
