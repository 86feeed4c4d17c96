"""Starting and stopping: random ports, context managers, keyword options, JSON configs, and a
foreground server stopped by a signal (including the Python API example of the documentation)."""
from __future__ import annotations

import asyncio
import http.client
import json
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from llm_mock import MockServer, MockServerOptions
from support.clients import anthropic_client, async_anthropic_client, openai_client, say
from support.files import write_json
from support.raw_http import connect, free_port, post, refuses_connections

# -- in-process lifecycle --------------------------------------------------------------------------


def test_start_listens_on_a_random_port_before_returning():
    server = MockServer()
    with pytest.raises(RuntimeError, match="not running"):
        server.url
    assert server.start() is server
    port = server.port
    try:
        assert server.running and port > 0
        assert server.url == f"http://127.0.0.1:{port}"
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # no wait needed
        assert "no rule matched" in say(server.url, "hi")
    finally:
        server.stop()
    assert not server.running and refuses_connections(port)
    with pytest.raises(RuntimeError, match="not running"):
        server.port


def test_two_servers_get_different_ports():
    with MockServer() as first, MockServer() as second:
        first.when("").reply("first")
        second.when("").reply("second")
        assert first.port != second.port
        assert (say(first.url, "x"), say(second.url, "x")) == ("first", "second")


def test_stop_is_idempotent_and_a_second_start_raises():
    server = MockServer().start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
    finally:
        server.stop()
    server.stop()
    server.start()  # a stopped server can start again
    try:
        assert "no rule matched" in say(server.url, "again")
    finally:
        server.stop()


def test_stop_closes_idle_keep_alive_connections():
    server = MockServer().start()
    conn = connect(server)
    assert post(conn, "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x"}]}).body
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        post(conn, "/v1/chat/completions", b"{}")
    conn.close()


def test_a_fixed_port_is_used_and_known_before_start():
    port = free_port()
    server = MockServer(port=port)
    assert server.url == f"http://127.0.0.1:{port}"
    with server:
        assert server.port == port
        with pytest.raises(OSError):
            MockServer(port=port).start()  # already taken


def test_url_of_a_wildcard_host_is_loopback():
    with MockServer(host="0.0.0.0", admin_token="t") as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert "no rule matched" in say(server.url, "x")


def test_url_of_an_ipv6_host_is_bracketed():
    try:
        server = MockServer(host="::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        assert server.url == f"http://[::1]:{server.port}"
        assert "no rule matched" in say(server.url, "x")
    finally:
        server.stop()


def test_with_block_starts_and_stops():
    with MockServer() as server:
        assert server.running
        port = server.port
        server.when("ping").reply("pong")
        assert say(server.url, "ping") == "pong"
    assert not server.running and refuses_connections(port)


def test_async_with_inside_an_event_loop():
    async def scenario():
        async with MockServer() as server:
            server.when("ping").reply("async pong")
            client = async_anthropic_client(server)
            message = await client.messages.create(model="claude-sonnet-4-6", max_tokens=20,
                                                   messages=[{"role": "user", "content": "ping"}])
            async with client.messages.stream(model="claude-sonnet-4-6", max_tokens=20,
                                              messages=[{"role": "user", "content": "ping"}]) as stream:
                streamed = await stream.get_final_text()
            return server, server.port, message.content[0].text, streamed

    server, port, text, streamed = asyncio.run(scenario())
    assert (text, streamed) == ("async pong", "async pong")
    assert not server.running and refuses_connections(port)


def test_keyword_options_apply():
    with MockServer(port=0, log_level="none", default_latency=0, default_chunk_size=5) as server:
        server.when("chunks").reply("abcdefghijkl")
        server.when("own size").reply("abcdefghijkl", chunk_size=4)
        client = openai_client(server)

        def pieces(text: str) -> list:
            stream = client.chat.completions.create(model="m", stream=True,
                                                    messages=[{"role": "user", "content": text}])
            return [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]

        assert pieces("chunks") == ["abcde", "fghij", "kl"]
        assert pieces("own size") == ["abcd", "efgh", "ijkl"]  # the rule's option wins over the default
    assert MockServer(MockServerOptions(default_chunk_size=3), log_level="debug").options.default_chunk_size == 3
    with pytest.raises(ValueError):
        MockServer(log_level="loud")
    with pytest.raises(TypeError):
        MockServer(colour=True)


# -- JSON configs ----------------------------------------------------------------------------------


def test_from_json_config_with_rules_and_fallback(tmp_path):
    (tmp_path / "rules").mkdir()
    write_json(tmp_path / "rules" / "rules.json", {
        "rules": [
            {"when": "hello", "reply": "from the rule file"},
            {"when": {"model": "gpt-4", "message": "check"}, "reply": {"text": "checked"}, "times": 1},
            {"when": "step", "replies": ["one", "two"]},
        ],
    })
    config = write_json(tmp_path / "config.json", {"port": 0, "log_level": "none", "default_chunk_size": 4,
                                                   "fallback": "config fallback", "rules": "rules/rules.json"})
    server = MockServer.from_json_config(config)
    assert not server.running  # built, not started
    assert server.options.rules == str(tmp_path / "rules" / "rules.json")  # relative to the config file
    assert [r.description for r in server.rules] == ['"hello"', "{model=gpt-4, message=check}", '"step"']
    with server:
        assert say(server.url, "hello there") == "from the rule file"
        assert say(server.url, "check", model="gpt-4o") == "checked"
        assert say(server.url, "check", model="gpt-4o") == "config fallback"
        assert [say(server.url, "step") for _ in range(3)] == ["one", "two", "two"]
        assert server.options.default_chunk_size == 4


def test_the_rule_files_fallback_overrides_the_configs(tmp_path):
    write_json(tmp_path / "rules.json", {"rules": [], "fallback": "file fallback"})
    config = write_json(tmp_path / "config.json", {"fallback": "config fallback", "rules": "rules.json"})
    with MockServer.from_json_config(config) as server:
        assert say(server.url, "anything") == "file fallback"


def test_from_json_config_without_rules(tmp_path):
    config = write_json(tmp_path / "config.json", {"port": 0, "fallback": "only a fallback"})
    with MockServer.from_json_config(config) as server:
        assert server.rule_count == 0
        assert say(server.url, "anything") == "only a fallback"


def test_from_json_config_errors(tmp_path):
    with pytest.raises(RuntimeError, match="Config file not found"):
        MockServer.from_json_config(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{port: 1,}", encoding="utf-8")
    with pytest.raises(RuntimeError, match="Invalid JSON"):
        MockServer.from_json_config(str(tmp_path / "bad.json"))
    with pytest.raises(RuntimeError, match="must be a JSON object at top level, got list"):
        MockServer.from_json_config(write_json(tmp_path / "list.json", [1]))
    with pytest.raises(RuntimeError, match="unknown config key 'prot'"):
        MockServer.from_json_config(write_json(tmp_path / "typo.json", {"prot": 1}))
    with pytest.raises(ValueError, match="no such file"):
        MockServer.from_json_config(write_json(tmp_path / "norules.json", {"rules": "absent.json"}))


# -- run_until_shutdown in a child process ---------------------------------------------------------


def spawn(script: str, cwd) -> subprocess.Popen:
    path = cwd / "serve.py"
    path.write_text(textwrap.dedent(script), encoding="utf-8")
    return subprocess.Popen([sys.executable, "-u", str(path)], cwd=str(cwd), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for_line(process: subprocess.Popen, marker: str, seen: list) -> str:
    """Read the child's output up to the first line containing `marker` (a blocking read, no polling)."""
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            return line
    raise AssertionError(f"the child exited before printing {marker!r}:\n{''.join(seen)}")


def stop_child(process: subprocess.Popen, sig: int, seen: list) -> str:
    process.send_signal(sig)
    try:
        rest, _ = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return "".join(seen) + rest


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_until_shutdown_exits_cleanly_on_a_signal(tmp_path, sig):
    process = spawn("""
        from llm_mock import MockServer

        server = MockServer(log_level="info")
        server.when("ping").reply("pong")
        server.run_until_shutdown()
        print("after shutdown", server.running)
    """, tmp_path)
    seen: list = []
    try:
        url = wait_for_line(process, "Listening on", seen).split("Listening on ")[1].strip()
        assert say(url, "ping") == "pong"
    finally:
        output = stop_child(process, sig, seen)
    assert process.returncode == 0, output
    assert "Shutting down" in output and "Server stopped" in output and "after shutdown False" in output
    assert "Traceback" not in output
    assert refuses_connections(int(url.rsplit(":", 1)[1]))


@pytest.mark.parametrize("awaited", [True, False], ids=["as the seed writes it", "without await"])
def test_from_json_config_then_run_until_shutdown(tmp_path, awaited):
    """The seed page's first way: a server from config.json, in the foreground."""
    write_json(tmp_path / "rules.json", {"rules": [{"when": "hi", "reply": "hello from config"}]})
    write_json(tmp_path / "config.json", {"port": free_port(), "log_level": "info", "rules": "rules.json"})
    script = """
        import asyncio
        from llm_mock import MockServer

        async def main():
            server = await MockServer.from_json_config("config.json")
            await server.run_until_shutdown()

        asyncio.run(main())
    """
    process = spawn(script if awaited else script.replace("await ", ""), tmp_path)
    seen: list = []
    try:
        url = wait_for_line(process, "Listening on", seen).split("Listening on ")[1].strip()
        assert say(url, "hi") == "hello from config"
    finally:
        output = stop_child(process, signal.SIGTERM, seen)
    assert process.returncode == 0, output
    assert "Loaded 1 rule(s)" in output and "Traceback" not in output


# The seed page's second way ("Python API", 方式二), with `llm_mock` in place of `llm_mock_api` and
# its fixed port replaced by PORT; run as written (`await`) and as llm_mock's users write it (no `await`).
PYTHON_API_EXAMPLE = """
import asyncio
from llm_mock import MockServer, MockServerOptions
from llm_mock.types.rule import MatchObject
from llm_mock.types.reply import ReplyObject, ToolCall
import re
async def main():
    # 1. 启动服务器
    opts = MockServerOptions(
        port=PORT,
        host="127.0.0.1",
        log_level="info",
        default_latency=50,
        default_chunk_size=50,
    )
    server = MockServer(opts)
    # 2. 设置 fallback(无规则匹配时的默认回复)
    server.fallback("Sorry, no matching rule. Try: hi, weather, joke, step")
    # 3. 基础字符串匹配 + 文本回复
    server.when("hello").reply("world!")
    # 4. 正则匹配(忽略大小写)
    server.when(re.compile(r"^echo", re.IGNORECASE)).reply(
        "Echo mode active — message echoed back"
    )
    # 5. 对象匹配:按 model 字段筛选
    server.when(MatchObject(message="model check", model="gpt-4")).reply(
        "This reply only appears when the request model is gpt-4"
    )
    # 6. 结构化回复:text + reasoning(思考过程)
    server.when("joke").reply(
        ReplyObject(
            text="Why did the developer go broke? Because he used up all his cache.",
            reasoning="User asked for a joke — pick a programmer-related one.",
        )
    )
    # 7. 结构化回复:工具调用
    server.when("weather").reply(
        ReplyObject(
            text="Let me check the weather for you.",
            tools=[ToolCall(name="get_weather", args={"location": "Beijing", "unit": "celsius"})],
        )
    )
    # 8. 序列回复:每次请求推进到下一条,耗尽后重复最后一条
    server.when("step").reply_sequence([
        "Step 1: Initialize",
        "Step 2: Process",
        "Step 3: Done",
    ])
    # 9. 次数限制:仅匹配 1 次后自动失效
    server.when("once").reply("This rule fires only once!").times(1)
    # 10. 运行服务器
    print(f"Server running at {server.url}")
    await server.run_until_shutdown()
asyncio.run(main())
"""


@pytest.mark.parametrize("awaited", [True, False], ids=["as the seed writes it", "without await"])
def test_the_documented_python_api_example_runs(tmp_path, awaited):
    port = free_port()
    script = PYTHON_API_EXAMPLE if awaited else PYTHON_API_EXAMPLE.replace("await ", "")
    process = spawn(script.replace("port=PORT", f"port={port}"), tmp_path)
    seen: list = []
    try:
        assert wait_for_line(process, "Server running at", seen).strip() == \
            f"Server running at http://127.0.0.1:{port}"
        url = wait_for_line(process, "Listening on", seen).split("Listening on ")[1].strip()
        assert url == f"http://127.0.0.1:{port}"
        check_python_api_example(url)
    finally:
        output = stop_child(process, signal.SIGINT, seen)
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert output.count(" -> ") >= 14  # the info log has a line per request


def check_python_api_example(url: str) -> None:
    oai, claude = openai_client(url), anthropic_client(url)
    assert say(url, "hello") == "world!"
    assert say(url, "ECHO this") == "Echo mode active — message echoed back"
    assert say(url, "say echo") == "Sorry, no matching rule. Try: hi, weather, joke, step"
    assert say(url, "model check", model="gpt-4") == "This reply only appears when the request model is gpt-4"
    assert say(url, "model check", model="o3").startswith("Sorry, no matching rule")
    joke = claude.messages.create(model="claude-sonnet-4-6", max_tokens=500,
                                  messages=[{"role": "user", "content": "tell me a joke"}])
    assert [b.type for b in joke.content] == ["thinking", "text"]
    assert joke.content[0].thinking == "User asked for a joke — pick a programmer-related one."
    assert joke.content[1].text == "Why did the developer go broke? Because he used up all his cache."
    with oai.responses.stream(model="gpt-5", input="a joke please") as stream:  # paced: 50 ms, 50 characters
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas == ["Why did the developer go broke? Because he used up", " all his cache."]
    assert [item.type for item in final.output] == ["reasoning", "message"]
    weather = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "weather?"}])
    call = weather.choices[0].message.tool_calls[0]
    assert weather.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, json.loads(call.function.arguments)) == \
        ("get_weather", {"location": "Beijing", "unit": "celsius"})
    assert [say(url, "step") for _ in range(4)] == \
        ["Step 1: Initialize", "Step 2: Process", "Step 3: Done", "Step 3: Done"]
    assert say(url, "once") == "This rule fires only once!"
    assert say(url, "once").startswith("Sorry, no matching rule")
