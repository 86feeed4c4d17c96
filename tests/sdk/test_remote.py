"""RemoteMockServer: the MockServer rule API over the admin API, against a server in another process
(and an in-process one, which is the same over HTTP)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import openai
import pytest

from llm_mock import ErrorReply, Fault, MatchObject, MockServer, RemoteMockServer, ReplyOptions

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


@pytest.fixture
def remote(server):
    with RemoteMockServer(server.url) as r:
        yield r


@pytest.fixture(scope="module")
def process():
    """`llm-mock` in a process of its own; its URL read from the banner."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "llm_mock", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO / "tests")
    line = proc.stdout.readline()
    url = re.search(r"listening on (http://\S+)", line).group(1)
    yield url
    proc.terminate()
    proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()


def client(base, **kw):
    return openai.OpenAI(base_url=base + "/v1", api_key="sk-test", _strict_response_validation=True,
                         **{"max_retries": 0, **kw})


def ask(base, text, **kw):
    return client(base).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}], **kw)


def said(base, text, **kw):
    return ask(base, text, **kw).choices[0].message.content


# -- against a server in another process ----------------------------------------------------------
def test_a_server_in_another_process_scripted_and_inspected(process):
    with RemoteMockServer(process) as remote:
        remote.reset()
        remote.when("hello").reply("Hi from afar").times(1)
        remote.when(re.compile(r"^weather in (\w+)", re.I)).reply({"text": "Sunny", "reasoning": "looked"})
        assert said(remote.url, "hello") == "Hi from afar"
        assert said(remote.url, "Weather in Oslo") == "Sunny"
        assert said(remote.url, "hello") == "llm_mock: no rule matched this request."
        assert remote.history.count() == 3 and len(remote.history) == 3
        last = remote.history.last()
        assert (last.last_message, last.rule, last.status, last.model) == ("hello", None, 200, "gpt-4o")
        assert str(last.near_misses[0]).startswith('used-up rule "hello" (1 of 2 conditions held): '
                                                   "times: used up (1 of 1)")
        assert [e.rule for e in remote.history.where(lambda e: e.rule is not None)] == [
            '"hello"', "/^weather in (\\w+)/i"]
        assert remote.is_done() is True
        assert [(r.description, r.remaining) for r in remote.rules] == [("/^weather in (\\w+)/i", float("inf"))]
        remote.reset()
        assert remote.rule_count == 0 and remote.history.count() == 0


# -- the rule API ---------------------------------------------------------------------------------
def test_times_and_first_before_or_after_reply(server, remote):
    remote.when("x").reply("one").times(1)
    remote.when("x").times(1).reply("two")
    remote.when("x").reply("zero").first().times(1)
    remote.when("x").first().reply("minus").times(1)
    assert [said(server.url, "x") for _ in range(5)] == ["minus", "zero", "one", "two",
                                                         "llm_mock: no rule matched this request."]


def test_sequences_with_options(server, remote):
    remote.when("step").reply_sequence(["a", {"reply": "b", "latency": 1}, ("c", ReplyOptions(chunk_size=1))],
                                       latency=0).times(4)
    assert [said(server.url, "step") for _ in range(4)] == ["a", "b", "c", "c"]
    assert server.rule_count == 0  # used up


def test_tools_errors_faults_and_usage(server, remote):
    remote.when_tool("get_weather").reply({"tools": [{"name": "get_weather", "args": {"city": "Oslo"}, "id": "c1"}]})
    remote.when("limit").reply(ErrorReply(400, "too long", code="context_length_exceeded"))
    remote.when("cut").reply(Fault("incomplete", after_chars=3), latency=0)
    remote.when("count").reply({"text": "ok", "usage": {"input_tokens": 7, "output": 2}})
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    call = ask(server.url, "go", tools=tools).choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == ("c1", "get_weather", {"city": "Oslo"})
    with pytest.raises(openai.BadRequestError) as caught:
        ask(server.url, "limit")
    assert caught.value.code == "context_length_exceeded"
    assert ask(server.url, "count").usage.prompt_tokens == 7
    assert ask(server.url, "cut").choices[0].finish_reason == "length"


def test_next_error_fallback_and_done(server, remote):
    remote.when("hi").reply("hello").times(2)
    remote.next_error(400, "bad luck")
    assert remote.is_done() is False
    with pytest.raises(openai.BadRequestError, match="bad luck"):
        ask(server.url, "hi")
    remote.fallback({"text": "nothing here"})
    assert said(server.url, "?") == "nothing here"
    remote.fallback("$5 off")  # a literal, not a template reference
    assert said(server.url, "?") == "$5 off"
    remote.fallback(None)
    assert said(server.url, "?") == "llm_mock: no rule matched this request."
    said(server.url, "hi"), said(server.url, "hi")
    assert remote.is_done() is True


def test_patterns_travel_as_written(server, remote):
    remote.when("/literal/").reply("slashes")  # a substring that a file would read as a regex
    remote.when(MatchObject(model=re.compile(r"^gpt-4o$"), system="pirate")).reply("arr")
    remote.when({"toolName": "search"}).reply("camel keys")
    assert said(server.url, "a /LITERAL/ path") == "slashes"
    assert said(server.url, "literal") != "slashes"
    reply = client(server.url).chat.completions.create(model="gpt-4o", messages=[
        {"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "arr"
    assert server.rules[1].description == "{model=/^gpt-4o$/, system=pirate}"


def test_callables_cannot_travel_and_nothing_is_sent(server, remote):
    def check_weather(request):
        return True

    with pytest.raises(TypeError, match=r"the matcher <lambda> \(test_remote.py:\d+\) is a Python callable"):
        remote.when(lambda request: True)
    with pytest.raises(TypeError, match=r"the predicate .*check_weather \(test_remote.py:\d+\)"):
        remote.when(MatchObject(message="x", predicate=check_weather))
    with pytest.raises(TypeError, match=r"the reply .*check_weather .*reply with text"):
        remote.when("x").reply(check_weather)
    with pytest.raises(TypeError, match="check_weather"):
        remote.when("x").reply_sequence(["a", check_weather])
    assert server.rule_count == 0


def test_a_rule_the_server_refuses_is_a_value_error(server, remote):
    with pytest.raises(ValueError, match=r"rule 0: when.format: must be one of"):
        remote.when({"format": "klingon"}).reply("x")
    with pytest.raises(ValueError, match="times"):
        remote.when("x").times("3")
    assert server.rule_count == 0


def test_history_entries_have_headers_body_reply_and_the_request(server, remote):
    remote.when("hi").reply({"text": "hello", "tools": [{"name": "t", "args": {"a": 1}}]})
    client(server.url, default_headers={"x-trace": "abc"}).chat.completions.create(
        model="gpt-4o", messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        tools=[{"type": "function", "function": {"name": "t", "description": "a tool", "parameters": {}}}])
    entry = remote.history.last()
    assert entry.headers["x-trace"] == "abc"
    assert json.loads(entry.body)["model"] == "gpt-4o"
    assert entry.reply.text == "hello" and entry.reply.tools[0].name == "t"
    assert entry.request.system_message == "sys" and entry.tool_names == ("t",)
    assert entry.request.tools[0].description == "a tool"
    assert [m.role for m in entry.messages] == ["system", "user"]
    assert remote.history.first().id == entry.id == remote.history.at(0).id
    assert remote.history.filter(rule="fallback") == []
    remote.history.clear()
    assert remote.history.count() == 0 and remote.history.last() is None


def test_load_sends_a_local_rule_file(server, remote, tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"templates": {"t": "from a file"}, "rules": [{"when": "file", "reply": "$t"}]}))
    assert remote.load(str(path)) == 1
    assert said(server.url, "file") == "from a file"
    with pytest.raises(ValueError, match="only .json5 and .json"):
        remote.load(str(tmp_path / "rules.py"))


def test_rule_handles_remove_and_change(server, remote):
    handle = remote.when("x").reply("one")
    handle.times(5)
    assert server.rules[0].remaining == 5
    handle.remove()
    assert server.rule_count == 0


def test_token_and_unreachable_server():
    with MockServer(admin_token="tok") as server:
        with pytest.raises(PermissionError, match="token"):
            RemoteMockServer(server.url, token="").when("x").reply("y")
        with RemoteMockServer(server.url, token="tok") as remote:
            remote.when("x").reply("y")
        assert said(server.url, "x") == "y"
    with pytest.raises(ConnectionError, match="cannot reach the admin API"):
        RemoteMockServer("http://127.0.0.1:9", timeout=2).__enter__()


def test_the_pytest_plugin_uses_the_remote_server(server, tmp_path):
    (tmp_path / "test_uses_remote.py").write_text(textwrap.dedent('''
        import openai
        from llm_mock import RemoteMockServer

        def test_one(llm_mock):
            assert isinstance(llm_mock, RemoteMockServer)
            llm_mock.when("ping").reply("pong")
            client = openai.OpenAI(base_url=llm_mock.url + "/v1", api_key="k", max_retries=0)
            reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "ping"}])
            assert reply.choices[0].message.content == "pong"
            assert llm_mock.history.count() == 1

        def test_two_starts_clean(llm_mock):
            assert llm_mock.rule_count == 0 and llm_mock.history.count() == 0
            llm_mock.when("left").reply("behind")
    '''))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("LLM_MOCK_URL", None)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             f"--llm-mock-url={server.url}", str(tmp_path)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert [rule.description for rule in server.rules] == ['"left"']
