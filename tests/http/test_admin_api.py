"""The admin API over real HTTP: rules in the rule-file dialect, the journal, next error, fallback,
reset, done, the off switch and the token."""
from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import openai
import pytest

from llm_mock import MockServer

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}  # this copy of llm_mock


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


def llm_mock_version():
    import llm_mock

    return llm_mock.__version__


def call(server, method, path, body=None, headers=None, raw=None):
    """(status, parsed JSON or text, headers) of one request to `server`."""
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    sent = {"content-type": "application/json"} if data is not None else {}
    conn.request(method, path, data, {**sent, **(headers or {})})
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    return response.status, value, {k.lower(): v for k, v in response.getheaders()}


def chat(server, text, model="gpt-4o", **kw):
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-test", max_retries=0,
                           _strict_response_validation=True)
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **kw)


def said(server, text, **kw):
    return chat(server, text, **kw).choices[0].message.content


# -- health and rules -----------------------------------------------------------------------------
def test_health_reports_version_rules_and_uptime(server):
    server.when("a").reply("b")
    status, body, headers = call(server, "GET", "/__llm_mock/health")
    assert status == 200 and headers["content-type"] == "application/json"
    assert body["status"] == "ok" and body["version"] == llm_mock_version() and body["rules"] == 1
    assert isinstance(body["uptime_s"], float) and body["uptime_s"] >= 0


def test_a_posted_rule_answers_and_is_listed_with_its_source(server):
    server.when("from python").reply("py")
    status, body, _ = call(server, "POST", "/__llm_mock/rules",
                           {"when": {"message": "/^weather in (\\w+)/i", "model": "gpt-4o"},
                            "reply": "Sunny", "times": 2})
    assert status == 200 and body["added"] == 1
    assert body["rules"][0]["index"] == 1 and body["rules"][0]["remaining"] == 2
    assert said(server, "Weather in Paris?") == "Sunny"
    status, rules, _ = call(server, "GET", "/__llm_mock/rules")
    assert [(r["index"], r["description"], r["remaining"], r["source"]) for r in rules] == [
        (0, '"from python"', None, "api"),
        (1, "{message=/^weather in (\\w+)/i, model=gpt-4o}", 1, "admin"),
    ]
    assert rules[1]["served"] == 1 and rules[1]["id"].startswith("r")


def test_a_document_with_templates_fallback_and_a_sequence(server):
    status, body, _ = call(server, "POST", "/__llm_mock/rules", {
        "templates": {"sunny": {"text": "It is sunny."}},
        "fallback": "nothing for that",
        "rules": [{"when": "weather", "reply": "$sunny"},
                  {"when": "step", "replies": ["one", {"reply": "two", "latency": 0}]},
                  {"when": {"toolName": "get_weather"},
                   "reply": {"tools": [{"name": "get_weather", "args": {"city": "Paris"}}]}}],
    })
    assert status == 200 and body["added"] == 3
    assert said(server, "weather?") == "It is sunny."
    assert [said(server, "step") for _ in range(3)] == ["one", "two", "two"]
    assert said(server, "anything else") == "nothing for that"
    tool = chat(server, "go", tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {}}}])
    assert tool.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_an_array_of_rules_and_rules_marked_first(server):
    server.when("x").reply("python rule")
    status, body, _ = call(server, "POST", "/__llm_mock/rules",
                           [{"when": "x", "reply": "later"}, {"when": "x", "reply": "before all", "first": True}])
    assert status == 200 and [r["index"] for r in body["rules"]] == [0, 2]
    assert said(server, "x") == "before all"


def test_first_puts_the_batch_before_every_rule_in_its_order(server):
    server.when("x").reply("old")
    call(server, "POST", "/__llm_mock/rules?first=true", [{"when": "x", "reply": "new 1"}, {"when": "y", "reply": "2"}])
    _, rules, _ = call(server, "GET", "/__llm_mock/rules")
    assert [r["description"] for r in rules] == ['"x"', '"y"', '"x"'] and rules[2]["source"] == "api"
    assert said(server, "x") == "new 1"


def test_replace_swaps_every_rule_and_keeps_the_fallback_unless_given(server):
    server.when("x").reply("old")
    server.fallback("my fallback")
    status, body, _ = call(server, "POST", "/__llm_mock/rules?replace=true", {"when": "y", "reply": "new"})
    assert status == 200
    assert [r.description for r in server.rules] == ['"y"']
    assert said(server, "x") == "my fallback" and said(server, "y") == "new"
    call(server, "POST", "/__llm_mock/rules?replace=1", {"rules": [], "fallback": "other"})
    assert server.rule_count == 0 and said(server, "y") == "other"


@pytest.mark.parametrize("batch, message, problem", [
    ([{"when": "a", "reply": "ok"}, {"when": {"toolNmae": "x"}, "reply": "y"}],
     "rule 1: when.toolNmae: unknown key; did you mean toolName?", {"rule": 1, "field": "when.toolNmae"}),
    ({"rules": [{"when": "a"}]}, "rule 0: reply: a rule needs exactly one of `reply` or `replies`",
     {"rule": 0, "field": "reply"}),
    ({"when": "a", "reply": "$nope"}, 'rule 0: reply: unknown template "$nope"', {"rule": 0, "field": "reply"}),
    ({"when": "a", "reply": "b", "times": -1}, "rule 0: times: must be a non-negative integer",
     {"rule": 0, "field": "times"}),
    ({"when": {"message": "/([/"}, "reply": "b"}, "rule 0: when.message: invalid regex",
     {"rule": 0, "field": "when.message"}),
    ({"when": {"format": "gemini-ish"}, "reply": "b"}, "rule 0: when.format: must be one of",
     {"rule": 0, "field": "when.format"}),
    ({"rules": [], "fallbak": "x"}, "fallbak: unknown key; did you mean fallback?", {"rule": None, "field": "fallbak"}),
    ("just text", "the top level must be an array of rules or an object", {"rule": None, "field": None}),
])
def test_a_bad_batch_is_a_400_naming_rule_and_field_and_adds_nothing(server, batch, message, problem):
    server.when("keep").reply("kept")
    status, body, _ = call(server, "POST", "/__llm_mock/rules", batch)
    assert status == 400, body
    assert body["error"]["type"] == "invalid_request"
    assert message in body["error"]["message"] and "nothing added" in body["error"]["message"]
    assert {k: body["error"]["problems"][0][k] for k in problem} == problem
    assert [r.description for r in server.rules] == ['"keep"']


def test_every_problem_of_a_batch_is_reported(server):
    status, body, _ = call(server, "POST", "/__llm_mock/rules",
                           [{"when": "a", "reply": 3}, {"when": "b", "reply": "ok"}, {"wen": "c", "reply": "d"}])
    assert status == 400 and body["error"]["message"].startswith("2 problems, nothing added")
    assert [p["rule"] for p in body["error"]["problems"]] == [0, 2]
    assert server.rule_count == 0


@pytest.mark.parametrize("raw, fragment", [
    (b"{not json", "not valid JSON"),
    (b'{"when": "a", "when": "b", "reply": "c"}', 'duplicate key "when"'),
    (b"", "empty"),
    (b"\xff\xfe", "UTF-8"),
])
def test_a_body_that_is_not_json_is_a_400(server, raw, fragment):
    status, body, _ = call(server, "POST", "/__llm_mock/rules", raw=raw)
    assert status == 400 and fragment in body["error"]["message"]


def test_unknown_query_flag_values_are_refused(server):
    status, body, _ = call(server, "POST", "/__llm_mock/rules?first=maybe", {"when": "a", "reply": "b"})
    assert status == 400 and "first" in body["error"]["message"] and server.rule_count == 0


def test_delete_all_one_by_index_and_one_by_id(server):
    for word in ("a", "b", "c", "d"):
        server.when(word).reply(word)
    status, removed, _ = call(server, "DELETE", "/__llm_mock/rules/1")
    assert status == 200 and removed["description"] == '"b"'
    rule_id = call(server, "GET", "/__llm_mock/rules")[1][2]["id"]
    assert call(server, "DELETE", f"/__llm_mock/rules/{rule_id}")[1]["description"] == '"d"'
    assert [r.description for r in server.rules] == ['"a"', '"c"']
    status, body, _ = call(server, "DELETE", "/__llm_mock/rules/7")
    assert status == 404 and "no rule at index 7 (there are 2 rules)" in body["error"]["message"]
    assert call(server, "DELETE", f"/__llm_mock/rules/{rule_id}")[0] == 404
    assert call(server, "DELETE", "/__llm_mock/rules/first")[0] == 400
    server.fallback("fb")
    assert call(server, "DELETE", "/__llm_mock/rules")[1] == {"removed": 2}
    assert server.rule_count == 0 and said(server, "a") == "fb"  # the fallback stays


def test_patch_sets_times_and_moves_first(server):
    server.when("x").reply("one")
    server.when("x").reply("two")
    rule_id = call(server, "GET", "/__llm_mock/rules")[1][1]["id"]
    status, body, _ = call(server, "PATCH", f"/__llm_mock/rules/{rule_id}", {"times": 1, "first": True})
    assert status == 200 and body["index"] == 0 and body["remaining"] == 1
    assert [said(server, "x") for _ in range(2)] == ["two", "one"]
    status, body, _ = call(server, "PATCH", "/__llm_mock/rules/0", {"times": "many"})
    assert status == 400 and "times" in body["error"]["message"]


# -- next error, fallback, reset, done ------------------------------------------------------------
def test_next_error_fails_the_next_request_only(server):
    server.when("hi").reply("hello")
    status, body, _ = call(server, "POST", "/__llm_mock/next-error", {"status": 400, "message": "bad luck"})
    assert status == 200 and body["index"] == 0 and body["source"] == "admin"
    with pytest.raises(openai.BadRequestError, match="bad luck"):
        chat(server, "hi")
    assert said(server, "hi") == "hello"


@pytest.mark.parametrize("body, fragment", [
    ({"message": "x"}, "status: must be an HTTP status"),
    ({"status": 429, "retryAfter": "soon"}, "retryAfter"),
    ({"status": 500, "colour": "red"}, "colour: unknown key"),
    ([500], "must be an object"),
])
def test_a_bad_next_error_is_a_400(server, body, fragment):
    status, answer, _ = call(server, "POST", "/__llm_mock/next-error", body)
    assert status == 400 and fragment in answer["error"]["message"] and server.rule_count == 0


def test_fallback_takes_a_reply_and_null_restores_the_default(server):
    assert call(server, "POST", "/__llm_mock/fallback", "plain text")[0] == 200
    assert said(server, "?") == "plain text"
    call(server, "POST", "/__llm_mock/fallback", {"reply": {"text": "wrapped", "reasoning": "hm"}})
    assert said(server, "?") == "wrapped"
    call(server, "POST", "/__llm_mock/fallback", {"text": "object"})
    assert said(server, "?") == "object"
    status, body, _ = call(server, "POST", "/__llm_mock/fallback", {"txt": "typo"})
    assert status == 400 and "fallback.txt: unknown key; did you mean text?" in body["error"]["message"]
    call(server, "POST", "/__llm_mock/fallback", None, raw=b"null")
    assert said(server, "?") == "llm_mock: no rule matched this request."


def test_reset_clears_rules_and_history(server):
    server.when("a").reply("b")
    said(server, "a")
    assert call(server, "POST", "/__llm_mock/reset", raw=b"")[0] == 200
    assert server.rule_count == 0 and server.history.count() == 0


def test_done_lists_what_is_pending(server):
    call(server, "POST", "/__llm_mock/rules",
         [{"when": "a", "reply": "b", "times": 2}, {"when": "s", "replies": ["1", "2"]}])
    status, body, _ = call(server, "GET", "/__llm_mock/done")
    assert body["done"] is False
    assert [(p["description"], p["remaining"], p["steps"]) for p in body["pending"]] == [
        ('"a"', 2, None), ('"s"', None, 2)]
    said(server, "a"), said(server, "a"), said(server, "s"), said(server, "s")
    assert call(server, "GET", "/__llm_mock/done")[1] == {"done": True, "pending": [], "unused_recordings": []}


# -- the journal ----------------------------------------------------------------------------------
def test_history_lists_requests_newest_last_with_the_normalised_request(server):
    server.when("weather").reply("Sunny")
    chat(server, "weather in Paris?", tools=[{"type": "function", "function": {"name": "get_weather"}}])
    chat(server, "unmatched")
    status, entries, headers = call(server, "GET", "/__llm_mock/history")
    assert status == 200 and headers["x-total-count"] == "2"
    first, second = entries
    assert first["id"] < second["id"]
    assert (first["method"], first["path"], first["format"], first["status"], first["outcome"], first["rule"]) == (
        "POST", "/v1/chat/completions", "openai", 200, "ok", '"weather"')
    assert first["matched"] is True and first["near_misses"] is None and first["duration_ms"] >= 0
    assert first["time"].endswith("Z") and "T" in first["time"]
    request = first["request"]
    assert request["model"] == "gpt-4o" and request["last_message"] == "weather in Paris?"
    assert request["messages"] == [{"role": "user", "content": "weather in Paris?"}]
    assert [t["name"] for t in request["tools"]] == ["get_weather"] and request["system"] == ""
    assert second["rule"] is None and second["matched"] is False


def test_admin_requests_are_not_journaled(server):
    call(server, "GET", "/__llm_mock/health")
    call(server, "GET", "/__llm_mock/nowhere")
    said(server, "x")
    assert server.history.count() == 1
    assert [e["path"] for e in call(server, "GET", "/__llm_mock/history")[1]] == ["/v1/chat/completions"]


def test_history_filters_and_total_count(server):
    server.when("ok").reply("fine")
    server.when("boom").reply({"error": {"status": 400, "message": "no"}})
    said(server, "ok")
    with pytest.raises(openai.BadRequestError):
        chat(server, "boom")
    said(server, "nothing")
    call(server, "POST", "/v1/chat/completions", {"model": 3})
    claude = call(server, "POST", "/v1/messages", {"model": "claude", "max_tokens": 5,
                                                   "messages": [{"role": "user", "content": "ok"}]})
    assert claude[0] == 200

    def ids(query):
        status, entries, headers = call(server, "GET", "/__llm_mock/history" + query)
        assert status == 200, entries
        return [e["request"]["last_message"] if e["request"] else e["status"] for e in entries], \
            int(headers["x-total-count"])

    assert ids("?format=anthropic") == (["ok"], 1)
    assert ids("?status=400") == (["boom", 400], 2)
    assert ids("?status=2xx") == (["ok", "nothing", "ok"], 3)
    assert ids("?outcome=error%20reply") == (["boom"], 1)
    assert ids("?outcome=rejected") == ([400], 1)
    assert ids("?rule=fallback") == (["nothing"], 1)
    assert ids('?rule=%22ok%22') == (["ok", "ok"], 2)
    assert ids("?path=/v1/messages") == (["ok"], 1)
    assert ids("?limit=2") == ([400, "ok"], 5)
    assert ids("?limit=0") == ([], 5)
    all_entries = call(server, "GET", "/__llm_mock/history")[1]
    assert ids(f"?since_id={all_entries[2]['id']}") == ([400, "ok"], 2)
    assert ids(f"?since_id={all_entries[2]['id']}&format=openai") == ([400], 1)
    for bad in ("?status=abc", "?limit=-1", "?since_id=x"):
        status, body, _ = call(server, "GET", "/__llm_mock/history" + bad)
        assert status == 400 and body["error"]["param"] in bad


def test_one_entry_by_id_has_its_headers_raw_body_and_reply(server):
    server.when("hi").reply({"text": "hello", "reasoning": "thinking"})
    said(server, "hi")
    entry_id = server.history.last().id
    status, entry, _ = call(server, "GET", f"/__llm_mock/history/{entry_id}")
    assert status == 200 and entry["id"] == entry_id
    assert json.loads(entry["body"])["messages"] == [{"role": "user", "content": "hi"}]
    assert entry["headers"]["content-type"] == "application/json"
    assert entry["reply"] == {"text": "hello", "reasoning": "thinking"}
    assert call(server, "GET", "/__llm_mock/history/999999999")[0] == 404
    assert call(server, "GET", "/__llm_mock/history/abc")[0] == 404


def test_delete_history(server):
    said(server, "x")
    said(server, "y")
    assert call(server, "DELETE", "/__llm_mock/history")[1] == {"removed": 2}
    assert server.history.count() == 0 and call(server, "GET", "/__llm_mock/history")[1] == []


# -- errors, the off switch, the token ------------------------------------------------------------
def test_wrong_method_and_unknown_paths_answer_in_the_admin_shape(server):
    status, body, headers = call(server, "PUT", "/__llm_mock/rules")
    assert status == 405 and body["error"]["type"] == "method_not_allowed"
    assert "GET" in headers["allow"] and "POST" in headers["allow"]
    status, body, _ = call(server, "GET", "/__llm_mock/nothing-here")
    assert status == 404 and body == {"error": {"message": "Invalid URL (GET /__llm_mock/nothing-here)",
                                                "type": "not_found"}}


def test_admin_off_is_404_and_completions_still_work():
    with MockServer(admin=False) as server:
        status, body, _ = call(server, "GET", "/__llm_mock/health")
        assert status == 404 and "admin API is off" in body["error"]["message"]
        assert call(server, "POST", "/__llm_mock/rules", {"when": "a", "reply": "b"})[0] == 404
        assert server.rule_count == 0
        assert "no rule matched" in said(server, "hello")


def test_a_token_guards_admin_routes_only():
    with MockServer(admin_token="s3cret") as server:
        status, body, headers = call(server, "GET", "/__llm_mock/rules")
        assert status == 401 and body["error"]["type"] == "unauthorized"
        assert headers["www-authenticate"].startswith("Bearer")
        assert call(server, "GET", "/__llm_mock/rules", headers={"authorization": "Bearer wrong"})[0] == 401
        auth = {"authorization": "Bearer s3cret"}
        assert call(server, "POST", "/__llm_mock/rules", {"when": "a", "reply": "b"}, headers=auth)[0] == 200
        assert said(server, "a") == "b"  # no token on completion routes


def test_beyond_loopback_the_admin_api_needs_a_token():
    with pytest.raises(ValueError, match="admin-token"):
        MockServer(host="0.0.0.0")
    MockServer(host="0.0.0.0", admin=False)
    MockServer(host="0.0.0.0", admin_token="t")
    MockServer(host="127.0.0.2")
    MockServer(host="localhost")


def test_the_cli_refuses_to_start_beyond_loopback_without_a_token(tmp_path):
    result = subprocess.run([sys.executable, "-m", "llm_mock", "--host", "0.0.0.0", "--port", "0"],
                            capture_output=True, text=True, timeout=30, cwd=tmp_path, env=ENV)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "without a token" in result.stderr and "--no-admin" in result.stderr


def _start(tmp_path, *args, env=ENV):
    proc = subprocess.Popen([sys.executable, "-m", "llm_mock", "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    lines = [proc.stdout.readline()]
    while lines[-1].strip() and "Ctrl+C" not in lines[-1]:
        lines.append(proc.stdout.readline())
    return proc, "".join(lines)


def _stop(proc):
    proc.terminate()
    proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()


def test_cli_strict_and_token_flags(tmp_path):
    proc, banner = _start(tmp_path, "--strict", env={**ENV, "LLM_MOCK_ADMIN_TOKEN": "from-env"})
    try:
        url = re.search(r"listening on (http://\S+)", banner).group(1)
        assert f"Admin      {url}/__llm_mock/ (Bearer token required)" in banner and "Strict" in banner
        server = type("Server", (), {"url": url})()
        assert call(server, "GET", "/__llm_mock/rules")[0] == 401
        assert call(server, "GET", "/__llm_mock/rules", headers={"authorization": "Bearer from-env"})[0] == 200
        status, body, _ = call(server, "POST", "/v1/chat/completions",
                               {"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        assert status == 404 and body["error"]["message"].startswith("llm_mock: no rule matched")
    finally:
        _stop(proc)


def test_cli_no_admin(tmp_path):
    proc, banner = _start(tmp_path, "--no-admin", "--host", "0.0.0.0")
    try:
        assert "Admin" not in banner
        url = re.search(r"listening on (http://\S+)", banner).group(1)
        assert call(type("Server", (), {"url": url})(), "GET", "/__llm_mock/health")[0] == 404
    finally:
        _stop(proc)


def test_config_values_for_the_admin_api_are_checked(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"strict": "yes"}))
    result = subprocess.run([sys.executable, "-m", "llm_mock"], capture_output=True, text=True, timeout=30,
                            cwd=tmp_path, env=ENV)
    assert result.returncode == 1 and "strict must be true or false" in result.stderr


def test_reading_the_journal_does_not_keep_parsed_requests(server):
    said(server, "x")
    assert call(server, "GET", "/__llm_mock/history")[1][0]["request"]["last_message"] == "x"
    assert server.history.last()._request is None  # still only its raw bytes
