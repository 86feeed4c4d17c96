"""Sessions: own rules, counts, fallback, next errors and journal per session, global rules after;
named by header or path prefix; bounded; through the admin API, in-process handles, the remote
client and pytest-xdist workers on one shared server."""
from __future__ import annotations

import http.client
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import openai
import pytest

from llm_mock import MockServer, RemoteMockServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


def call(server, method, path, body=None, headers=None):
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    data = None if body is None else json.dumps(body).encode()
    conn.request(method, path, data, {"content-type": "application/json", **(headers or {})})
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    return response.status, json.loads(text) if text else None


def said(base, text, session=None, **kw):
    headers = {"x-llm-mock-session": session} if session else None
    client = openai.OpenAI(base_url=base + "/v1", api_key="k", max_retries=0, default_headers=headers,
                           _strict_response_validation=True)
    reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}], **kw)
    return reply.choices[0].message.content


DEFAULT = "llm_mock: no rule matched this request."


def test_a_sessions_rules_answer_only_its_requests_and_global_rules_come_after(server):
    server.when("hi").reply("global hi")
    server.when("bye").reply("global bye")
    assert call(server, "POST", "/__llm_mock/rules?session=w1", {"when": "hi", "reply": "w1 hi"})[0] == 200
    assert said(server.url, "hi", session="w1") == "w1 hi"
    assert said(server.url, "bye", session="w1") == "global bye"
    assert said(server.url, "hi", session="w2") == "global hi"
    assert said(server.url, "hi") == "global hi"


def test_the_path_prefix_names_the_session_and_the_journal_is_the_sessions(server):
    w2 = server.session("w2")
    w2.when("hi").reply("prefixed")
    assert said(server.url + "/session/w2", "hi") == "prefixed"
    assert said(w2.url, "hi") == "prefixed"
    assert server.history.count() == 0 and w2.history.count() == 2
    entry = w2.history.last()
    assert (entry.path, entry.session, entry.rule, entry.last_message) == ("/v1/chat/completions", "w2", '"hi"', "hi")
    status, entries = call(server, "GET", "/__llm_mock/history?session=w2")
    assert [e["session"] for e in entries] == ["w2", "w2"]
    assert call(server, "GET", "/session/w2/__llm_mock/history")[1] == entries
    assert call(server, "GET", "/__llm_mock/history", headers={"x-llm-mock-session": "w2"})[1] == entries
    assert call(server, "GET", "/__llm_mock/history")[1] == []


def test_counts_sequences_fallbacks_and_next_errors_are_per_session(server):
    for name in ("a", "b"):
        session = server.session(name)
        session.when("once").reply(f"{name} once").times(1)
        session.when("step").reply_sequence(["1", "2"])
    server.session("a").fallback("a's fallback")
    server.session("b").next_error(400, "b fails")
    assert said(server.url, "once", "a") == "a once" and said(server.url, "once", "a") == "a's fallback"
    assert said(server.url, "step", "a") == "1" and said(server.url, "step", "a") == "2"
    with pytest.raises(openai.BadRequestError, match="b fails"):
        said(server.url, "step", "b")
    assert said(server.url, "once", "b") == "b once" and said(server.url, "step", "b") == "1"
    assert said(server.url, "once", "b") == DEFAULT  # no fallback of its own: the server's
    assert said(server.url, "nothing") == DEFAULT
    assert server.session("a").is_done() is True and server.session("b").is_done() is False


def test_all_journals_merged_by_id(server):
    said(server.url, "one")
    said(server.url, "two", "s1")
    said(server.url, "three", "s2")
    said(server.url, "four")
    status, entries = call(server, "GET", "/__llm_mock/history?session=*")
    assert [(e["request"]["last_message"], e["session"]) for e in entries] == [
        ("one", None), ("two", "s1"), ("three", "s2"), ("four", None)]
    assert call(server, "POST", "/__llm_mock/rules?session=*", {"when": "a", "reply": "b"})[0] == 400


def test_sessions_are_listed_deleted_and_recreated_empty(server):
    server.session("gone").when("x").reply("y")
    said(server.url, "x", "gone")
    status, sessions = call(server, "GET", "/__llm_mock/sessions")
    assert [(s["session"], s["rules"], s["requests"]) for s in sessions] == [("gone", 1, 1)]
    assert sessions[0]["url"].endswith("/session/gone")
    assert call(server, "DELETE", "/__llm_mock/sessions/gone") == (200, {"removed": "gone", "rules": 1,
                                                                          "requests": 1})
    assert call(server, "DELETE", "/__llm_mock/sessions/gone")[0] == 404
    assert said(server.url, "x", "gone") == DEFAULT
    server.session("other")
    assert call(server, "DELETE", "/__llm_mock/sessions") == (200, {"removed": 2})


def test_reset_of_a_session_keeps_the_server_and_reset_of_the_server_drops_sessions(server):
    server.when("g").reply("global")
    s = server.session("s")
    s.when("x").reply("y")
    said(server.url, "x", "s")
    assert call(server, "POST", "/__llm_mock/reset?session=s", {})[0] == 200
    assert s.rule_count == 0 and s.history.count() == 0 and server.rule_count == 1
    server.reset()
    assert len(server.sessions) == 0


def test_the_number_of_sessions_and_their_journals_are_bounded():
    with MockServer(max_sessions=2, session_history_limit=2, log_level="warning") as server:
        server.log.stream = out = io.StringIO()
        server.session("one").when("x").reply("1")
        server.session("two").when("x").reply("2")
        said(server.url, "x", "one")  # "one" is now the most recently used
        said(server.url, "x", "three")
        assert [s.name for s in server.sessions.all()] == ["one", "three"]
        assert "session two evicted" in out.getvalue()
        for text in ("a", "b", "c"):
            said(server.url, text, "one")
        assert [e.last_message for e in server.session("one").history] == ["b", "c"]


def test_a_bad_session_name_is_a_400_in_the_formats_shape(server):
    with pytest.raises(openai.BadRequestError, match="invalid session name"):
        said(server.url, "x", "has space")
    assert call(server, "GET", "/__llm_mock/rules?session=a/b")[0] == 400
    status, body = call(server, "POST", "/session/%2F/v1/messages", {})
    assert status == 400 and body["type"] == "error" and "invalid session name" in body["error"]["message"]
    assert len(server.sessions) == 0


def test_near_misses_name_a_rule_of_another_session(server):
    server.session("w2").when("weather").reply("sunny")
    server.when("snow").reply("cold")
    said(server.url, "weather?")
    texts = [str(miss) for miss in server.history.last().near_misses]
    assert texts[0] == 'rule 0 of session w2 "weather" (1 of 2 conditions held): session: belongs to session w2'
    said(server.url, "weather?", "w3")
    assert str(server.session("w3").history.last().near_misses[0]).endswith("belongs to session w2")


def test_strict_in_a_session_lists_its_own_rules(server):
    server.session("s").when({"model": "gpt-4-turbo"}).reply("x")
    with pytest.raises(openai.NotFoundError, match=r'rule 0 of session s \{model=gpt-4-turbo\}'):
        said(server.url, "hi", "s", extra_headers={"x-llm-mock-strict": "1"})


def test_strict_without_a_session_points_at_the_sessions_rules(server):
    server.session("s").when("x").reply("y")
    with pytest.raises(openai.NotFoundError, match="There are no rules for it; 1 belong to other sessions"):
        said(server.url, "hi", extra_headers={"x-llm-mock-strict": "1"})


def test_the_remote_client_on_a_session(server):
    server.when("shared").reply("global")
    with RemoteMockServer(server.url, session="r1") as remote:
        remote.when("mine").reply("r1 only")
        assert remote.url == server.url + "/session/r1"
        assert said(remote.url, "mine") == "r1 only" and said(remote.url, "shared") == "global"
        assert said(server.url, "mine") == DEFAULT
        assert remote.history.count() == 2 and [r.description for r in remote.rules] == ['"mine"']
        other = remote.session("r2")
        other.when("mine").reply("r2")
        assert said(other.url, "mine") == "r2"
        remote.reset()
        assert remote.rule_count == 0 and server.rule_count == 1 and other.rule_count == 1
    assert server.sessions.find("r1") is None  # the context manager removed its session


def test_xdist_workers_each_get_a_session_of_one_shared_server(server, tmp_path):
    pytest.importorskip("xdist")
    (tmp_path / "test_workers.py").write_text(textwrap.dedent('''
        import os, time
        import openai
        import pytest

        @pytest.mark.parametrize("n", range(6))
        def test_isolated(llm_mock, n):
            worker = os.environ["PYTEST_XDIST_WORKER"]
            assert llm_mock.session_id == worker and llm_mock.url.endswith("/session/" + worker)
            llm_mock.when("who").reply(worker).times(1)
            time.sleep(0.05)  # let the other worker's rule go in meanwhile
            client = openai.OpenAI(base_url=llm_mock.url + "/v1", api_key="k", max_retries=0)
            reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "who"}])
            assert reply.choices[0].message.content == worker
            assert llm_mock.history.count() == 1 and llm_mock.is_done()
    '''))
    env = {**os.environ, "PYTHONPATH": str(REPO), "LLM_MOCK_URL": server.url}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                             str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout
    assert server.history.count() == 0 and len(server.sessions) == 0  # each worker removed its session
