"""Rule files: every key behaves exactly as the Python API does, and every mistake is named."""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import sys
import textwrap

import pytest

from llm_mock import Chaos, ErrorReply, Fault, MatchObject, MockServer, ReplyObject, ReplyOptions, ToolCall
from llm_mock.loader import RuleFileError, check_path, load_path

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "rules")


# -- helpers ---------------------------------------------------------------------------------------
def write(folder, name: str, text: str) -> str:
    path = os.path.join(str(folder), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(textwrap.dedent(text))
    return path


def chat(text, stream=False, model="gpt-4o", system=None, tools=(), tool_result=None):
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": text})
    if tool_result:
        messages += [{"role": "assistant", "content": None, "tool_calls": [
            {"id": tool_result, "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": tool_result, "content": "42"}]
    body = {"model": model, "messages": messages, "stream": stream}
    if tools:
        body["tools"] = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
                         for n in tools]
    return "/v1/chat/completions", body


def responses(text, stream=False, model="gpt-4.1", system=None, tools=()):
    body = {"model": model, "input": text, "stream": stream}
    if system:
        body["instructions"] = system
    if tools:
        body["tools"] = [{"type": "function", "name": n, "parameters": {"type": "object"}} for n in tools]
    return "/v1/responses", body


def messages(text, stream=False, model="claude-sonnet-4-5", system=None, tools=(), server_tools=()):
    body = {"model": model, "max_tokens": 1024, "messages": [{"role": "user", "content": text}], "stream": stream}
    if system:
        body["system"] = system
    offered = [{"name": n, "input_schema": {"type": "object"}} for n in tools]
    offered += [{"type": t, "name": "web_search"} for t in server_tools]
    if offered:
        body["tools"] = offered
    return "/v1/messages", body


def every_format(text, **kw):
    """The same message on each route, as JSON and as a stream."""
    return [build(text, stream=stream, **kw) for build in (chat, responses, messages) for stream in (False, True)]


_IDS = re.compile(r"\b(chatcmpl-|resp_|msg_|call_|toolu_|fc_|rs_|req_)[A-Za-z0-9]+")
_TIMES = re.compile(r'"(created|created_at|completed_at)":\d+')


def exchange(server, requests) -> list:
    """Each request's status, content type and body, with generated ids and timestamps blanked."""
    out = []
    for path, body in requests:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
        response = conn.getresponse()
        try:
            text = response.read().decode("utf-8")
        except http.client.IncompleteRead as cut:  # a fault that ends the connection mid-stream
            text = cut.partial.decode("utf-8") + "<cut>"
        conn.close()
        text = _TIMES.sub(r'"\1":0', _IDS.sub(r"\1X", text))
        headers = tuple(sorted((k, v) for k, v in response.getheaders()
                               if k in ("retry-after", "x-should-retry", "x-extra")))
        out.append((path, response.status, response.getheader("content-type"), headers, text))
    return out


def same_behaviour(tmp_path, rules_text: str, api, requests) -> tuple:
    """Serve `rules_text` from a file and `api(server)` through the Python API; both answers, in order."""
    path = write(tmp_path, "rules.json5", rules_text)
    with MockServer(fallback="no match") as from_file, MockServer(fallback="no match") as from_api:
        from_file.load(path)
        api(from_api)
        assert [r.description for r in from_file.rules] == [r.description for r in from_api.rules]
        assert [r.remaining for r in from_file.rules] == [r.remaining for r in from_api.rules]
        return exchange(from_file, requests), exchange(from_api, requests)


def rule_state(server) -> list:
    """What the engine holds for each rule, minus the compiled predicate."""
    return [(r.description, r.resolver, r.options, r.sequence, r.remaining, r.chaos)
            for r in server.engine._rules]


# -- parity: one case per key of the format -------------------------------------------------------
PARITY = [
    pytest.param('[{when: "hello", reply: "Hi there!"}]',
                 lambda s: s.when("hello").reply("Hi there!"),
                 every_format("HELLO you") + every_format("nothing"), id="when-substring"),
    pytest.param(r'[{when: "/^echo (\\w+)$/i", reply: "echoed"}]',
                 lambda s: s.when(re.compile(r"^echo (\w+)$", re.I)).reply("echoed"),
                 every_format("Echo test") + every_format("say echo test"), id="when-regex"),
    pytest.param('[{when: {message: "/weather/i", model: "/^gpt-4o$/", system: "terse"}, reply: "sunny"}]',
                 lambda s: s.when(MatchObject(message=re.compile("weather", re.I), model=re.compile("^gpt-4o$"),
                                              system="terse")).reply("sunny"),
                 [chat("Weather?", system="Be terse."), chat("Weather?", model="gpt-4o-mini", system="Be terse."),
                  chat("Weather?")], id="when-message-model-system"),
    pytest.param('[{when: {message: "x", format: "responses"}, reply: "r"}]',
                 lambda s: s.when(MatchObject(message="x", format="responses")).reply("r"),
                 every_format("x"), id="when-format"),
    pytest.param('[{when: {toolName: "lookup"}, reply: "t"}, {when: {tool_name: "other"}, reply: "o"}]',
                 lambda s: (s.when_tool("lookup").reply("t"), s.when(MatchObject(tool_name="other")).reply("o")),
                 [chat("q", tools=["lookup"]), responses("q", tools=["other"]), messages("q", tools=["lookup"]),
                  chat("q")], id="when-toolName"),
    pytest.param('[{when: {toolCallId: "call_abc"}, reply: "got the result"}]',
                 lambda s: s.when_tool_result("call_abc").reply("got the result"),
                 [chat("q", tool_result="call_abc"), chat("q", tool_result="call_xyz")], id="when-toolCallId"),
    pytest.param('[{when: {server_tool: "web_search_20250305"}, reply: "searching"}]',
                 lambda s: s.when_server_tool("web_search_20250305").reply("searching"),
                 [messages("q", server_tools=["web_search_20250305"]), messages("q")], id="when-serverTool"),
    pytest.param('[{when: "joke", reply: {text: "Ha.", reasoning: "Be brief."}}]',
                 lambda s: s.when("joke").reply(ReplyObject(text="Ha.", reasoning="Be brief.")),
                 every_format("joke"), id="reply-text-reasoning"),
    pytest.param('[{when: "w", reply: {text: "Checking.", tools: [{name: "get_weather", args: {city: "Oslo"},'
                 ' id: "tool-fixed-1"}, {name: "now"}]}}]',
                 lambda s: s.when("w").reply(ReplyObject(text="Checking.", tools=[
                     ToolCall("get_weather", {"city": "Oslo"}, "tool-fixed-1"), ToolCall("now")])),
                 every_format("w"), id="reply-tools"),
    pytest.param('[{when: "u", reply: {text: "counted", usage: {input: 123, output: 45, reasoning: 6, cached: 7}}}]',
                 lambda s: s.when("u").reply(ReplyObject(text="counted", usage={
                     "input": 123, "output": 45, "reasoning": 6, "cached": 7})),
                 every_format("u"), id="reply-usage"),
    pytest.param('[{when: "e", reply: {error: {status: 429, message: "Slow down", type: "rate_limit_error", '
                 'code: "rate_limit_exceeded", param: "model", headers: {"x-extra": "1"}, retryAfter: 2, '
                 'shouldRetry: false}}}]',
                 lambda s: s.when("e").reply(ErrorReply(429, "Slow down", "rate_limit_error", "rate_limit_exceeded",
                                                        "model", {"x-extra": "1"}, 2, False)),
                 every_format("e"), id="reply-error"),
    pytest.param('[{when: "f", reply: {text: "abcdefghij", fault: {kind: "truncate", afterEvents: 3}}},'
                 ' {when: "g", reply: {text: "xyz", fault: {kind: "error", after_chars: 0, '
                 'error: {status: 500, message: "boom"}}}},'
                 ' {when: "h", reply: {text: "abcdefghij", fault: {kind: "incomplete", afterChars: 3, '
                 'reason: "content_filter"}}},'
                 ' {when: "k", reply: {text: "abcdefghij", fault: {kind: "stall", afterEvents: 2, stallMs: 50}}}]',
                 lambda s: (s.when("f").reply(ReplyObject(text="abcdefghij", fault=Fault("truncate", after_events=3))),
                            s.when("g").reply(ReplyObject(text="xyz", fault=Fault(
                                "error", after_chars=0, error=ErrorReply(500, "boom")))),
                            s.when("h").reply(ReplyObject(text="abcdefghij", fault=Fault(
                                "incomplete", after_chars=3, reason="content_filter"))),
                            s.when("k").reply(ReplyObject(text="abcdefghij", fault=Fault(
                                "stall", after_events=2, stall_ms=50)))),
                 [chat("f", stream=True), messages("f", stream=True), chat("g", stream=True),
                  responses("g", stream=True), chat("h"), responses("h", stream=True), chat("k", stream=True)],
                 id="reply-fault"),
    pytest.param('[{when: "p", reply: "one two three four", chunkSize: 4, latency: 1, ttft: 2, '
                 'tokensPerSecond: 5000, jitter: 0}]',
                 lambda s: s.when("p").reply("one two three four", latency=1, chunk_size=4, ttft=2,
                                             tokens_per_second=5000, jitter=0),
                 every_format("p"), id="rule-pacing"),
    pytest.param('[{when: "s", replies: ["first", {text: "second", reasoning: "r"}, '
                 '{reply: "third, in chunks", chunkSize: 3, latency: 1}]}]',
                 lambda s: s.when("s").reply_sequence(["first", ReplyObject(text="second", reasoning="r"),
                                                       ("third, in chunks", ReplyOptions(latency=1, chunk_size=3))]),
                 [chat("s"), responses("s"), messages("s", stream=True), chat("s", stream=True)], id="replies"),
    pytest.param('[{when: "t", reply: "limited", times: 2}]',
                 lambda s: s.when("t").reply("limited").times(2),
                 [chat("t"), messages("t"), responses("t")], id="times"),
    pytest.param('[{when: "s", replies: ["a", "b"], times: 3}]',
                 lambda s: s.when("s").reply_sequence(["a", "b"]).times(3),
                 [chat("s")] * 4, id="replies-times"),
    pytest.param('[{when: "x", reply: "plain"}, {when: "x", reply: "urgent", first: true}]',
                 lambda s: (s.when("x").reply("plain"), s.when("x").reply("urgent").first()),
                 [chat("x")], id="first"),
    pytest.param('{templates: {greet: {text: "Hi!", reasoning: "wave"}}, fallback: "$greet", '
                 'rules: [{when: "hi", reply: "$greet"}, {when: "seq", replies: ["$greet", "$$greet"]}, '
                 '{when: "cost", reply: "$5 please"}]}',
                 lambda s: (s.fallback(ReplyObject(text="Hi!", reasoning="wave")),
                            s.when("hi").reply(ReplyObject(text="Hi!", reasoning="wave")),
                            s.when("seq").reply_sequence([ReplyObject(text="Hi!", reasoning="wave"), "$greet"]),
                            s.when("cost").reply("$5 please")),
                 [messages("hi"), messages("seq"), messages("seq"), chat("cost"), responses("zzz")],
                 id="templates-and-dollar"),
    pytest.param('[{when: "c", reply: "maybe", chaos: {seed: 7, errorRate: 0.4, errorStatuses: [503], '
                 'retryAfter: 1, faults: {truncate: 0.3}}}]',
                 lambda s: s.when("c").reply("maybe").chaos(Chaos(seed=7, error_rate=0.4, error_statuses=(503,),
                                                                  retry_after=1, faults={"truncate": 0.3})),
                 [chat("c", stream=True)] * 8, id="chaos"),
]


@pytest.mark.parametrize("rules_text, api, requests", PARITY)
def test_file_rules_answer_exactly_like_api_rules(tmp_path, rules_text, api, requests):
    from_file, from_api = same_behaviour(tmp_path, rules_text, api, requests)
    assert from_file == from_api
    assert len({entry[1:] for entry in from_file}) > 1 or len(from_file) == 1  # the probes differ


@pytest.mark.parametrize("rules_text, api, requests", PARITY)
def test_file_rules_build_the_same_rule_objects(tmp_path, rules_text, api, requests):
    path = write(tmp_path, "rules.json5", rules_text)
    with MockServer() as from_file, MockServer() as from_api:
        from_file.load(path)
        api(from_api)
        assert rule_state(from_file) == rule_state(from_api)
        assert from_file.engine._fallback == from_api.engine._fallback


def test_parity_probes_see_the_features(tmp_path):
    """Spot checks that the compared answers really carry what the rules say."""
    from_file, _ = same_behaviour(tmp_path, PARITY[10].values[0], PARITY[10].values[1], [chat("e")])
    assert from_file[0][1] == 429
    assert dict(from_file[0][3]) == {"retry-after": "2", "x-should-retry": "false", "x-extra": "1"}
    from_file, _ = same_behaviour(tmp_path, PARITY[12].values[0], PARITY[12].values[1], [chat("p", stream=True)])
    assert '"content":"one "' in from_file[0][4] and '"content":"two "' in from_file[0][4]
    from_file, _ = same_behaviour(tmp_path, PARITY[14].values[0], PARITY[14].values[1], [chat("t")] * 3)
    assert ["limited" in f[4] for f in from_file] == [True, True, False]
    from_file, _ = same_behaviour(tmp_path, PARITY[17].values[0], PARITY[17].values[1],
                                  [chat("seq"), chat("seq"), chat("cost")])
    assert '"content":"Hi!"' in from_file[0][4] and '"content":"$greet"' in from_file[1][4]
    assert '"content":"$5 please"' in from_file[2][4]


# -- file shapes -----------------------------------------------------------------------------------
def test_json_and_json5_and_bare_array_load_the_same(tmp_path):
    a = load_path(write(tmp_path, "a.json", '{"rules": [{"when": "x", "reply": "y", "times": 2}]}'))
    b = load_path(write(tmp_path, "b.json5", "// comment\n[{when: 'x', reply: 'y', times: 2,},]"))
    assert [(r.description, r.resolver, r.remaining) for r in a.rules] == \
           [(r.description, r.resolver, r.remaining) for r in b.rules] == [('"x"', ReplyObject(text="y"), 2)]


def test_directory_loads_recursively_in_sorted_order(tmp_path):
    write(tmp_path, "b.json", '[{"when": "b", "reply": "B"}]')
    write(tmp_path, "a/z.json5", '[{when: "az", reply: "AZ"}]')
    write(tmp_path, "a/b.json5", '{fallback: "from a/b", rules: [{when: "ab", reply: "AB"}]}')
    write(tmp_path, "c.py", 'fallback = "from c"\nrules = [{"when": "c", "reply": "C"}]\n')
    write(tmp_path, "notes.txt", "not rules")
    write(tmp_path, ".hidden.json", "broken {")
    write(tmp_path, "d.json", '[{"when": "d", "reply": "D", "first": true}]')
    loaded = load_path(str(tmp_path))
    assert [r.description for r in loaded.rules] == ['"d"', '"ab"', '"az"', '"b"', '"c"']
    assert loaded.fallback == ReplyObject(text="from c")
    assert [os.path.relpath(f, tmp_path) for f, _ in loaded.files] == ["a/b.json5", "a/z.json5", "b.json", "c.py",
                                                                      "d.json"]


def test_python_rule_file_registers_through_the_builder(tmp_path):
    shutil.copy(os.path.join(FIXTURES, "python_rules.py"), tmp_path)
    with MockServer() as server:
        assert server.load(str(tmp_path / "python_rules.py")) == 5
        # next_error() and .first() rules lead, then the `rules` list, then the rest of register()
        assert [r.description for r in server.rules] == ["(predicate)", '"first!"', '"from list"',
                                                         "/computed \\d+/", "{tool_name=calc}"]
        results = exchange(server, [chat("from list"), chat("from list"), chat("computed 21"),
                                    chat("tool", tools=["calc"]), chat("first!"), chat("nothing")])
    texts = [json.loads(r[4])["choices"][0]["message"]["content"] if r[1] == 200 else r[1] for r in results]
    assert texts == [503, "listed", "doubled: 42", "calc requested", "urgent", "py fallback"]


def test_python_rule_file_errors_name_the_line(tmp_path):
    path = write(tmp_path, "bad.py", "x = 1\nraise RuntimeError('nope')\n")
    _, problems = check_path(path)
    assert [str(p) for p in problems] == [f"{path}: importing it raised RuntimeError: nope (line 2)"]
    path = write(tmp_path, "reg.py", "def register(server):\n    server.when(3)\n")
    assert "register(): raised ValueError: a matcher must be" in str(check_path(path)[1][0])
    path = write(tmp_path, "empty.py", "X = 1\n")
    assert "defines none of `register(server)`, `rules` or `fallback`" in str(check_path(path)[1][0])
    assert not any(name.startswith("_llm_mock_rules_") for name in sys.modules)


# -- errors name the file, the rule and the field --------------------------------------------------
ERRORS = [
    ('[{when: {toolNmae: "x"}, reply: "y"}]', "rule 0: when.toolNmae: unknown key; did you mean toolName?"),
    ('[{when: "a", reply: "b"}, {when: "a", reply: "b", tiems: 2}]', "rule 1: tiems: unknown key; did you mean times?"),
    ('[{when: "a", reply: {text: "b", tools: [{name: "f", argz: {}}]}}]', "rule 0: reply.tools[0].argz: unknown key"),
    ('[{when: "a", reply: {text: 5}}]', "rule 0: reply.text: must be a string, not a number"),
    ('[{when: "a", reply: {error: {status: 99}}}]', "rule 0: reply.error.status: must be an HTTP status"),
    ('[{when: "a", reply: {error: {message: "no status"}}}]', "rule 0: reply.error.status: must be an HTTP status"),
    ('[{when: "a", reply: {fault: {kind: "explode"}}}]', "rule 0: reply.fault.kind: must be one of error,"),
    ('[{when: "a", reply: {usage: {input_tokens: 3}}}]', "rule 0: reply.usage.input_tokens: unknown key"),
    ('[{when: "a", reply: "$missing"}]', 'rule 0: reply: unknown template "$missing"'),
    ('[{when: "a", replies: []}]', "rule 0: replies: must be a non-empty array of replies"),
    ('[{when: "a", replies: ["x", {reply: "y", chunk_size: -1}]}]',
     "rule 0: replies[1].chunk_size: must be a non-negative integer, not -1"),
    ('[{when: "a", replies: ["x", {reply: "y", speed: 1}]}]', "rule 0: replies[1].speed: unknown key"),
    ('[{when: "a", reply: "b", times: 1.5}]', "rule 0: times: must be a non-negative integer, not 1.5"),
    ('[{when: "a", reply: "b", first: "yes"}]', "rule 0: first: must be true or false"),
    ('[{when: "a", reply: "b", latency: -5}]', "rule 0: latency: must be a non-negative number, not -5"),
    ('[{when: "a", reply: "b", tokensPerSecond: 0}]', "rule 0: tokensPerSecond: must be a positive number"),
    ('[{when: "a", reply: "b", chunkSize: 1, chunk_size: 2}]', "rule 0: chunk_size: given twice"),
    ('[{when: "/(open/", reply: "b"}]', "rule 0: when: invalid regex '/(open/'"),
    ('[{when: "/a/q", reply: "b"}]', "rule 0: when: unknown regex flag 'q'"),
    ('[{when: {format: "mistral"}, reply: "b"}]', "rule 0: when.format: must be one of openai, responses, anthropic"),
    ('[{when: {model: 4}, reply: "b"}]', "rule 0: when.model: must be a string, not a number"),
    ('[{when: 5, reply: "b"}]', "rule 0: when: must be a string"),
    ('[{reply: "b"}]', "rule 0: when: missing"),
    ('[{when: "a"}]', "rule 0: reply: a rule needs exactly one of `reply` or `replies`"),
    ('[{when: "a", reply: "b", replies: ["c"]}]', "rule 0: reply: a rule needs exactly one of"),
    ('[{when: "a", reply: null}]', "rule 0: reply: a reply must be a string or an object, not null"),
    ('["just a string"]', "rule 0: a rule must be an object"),
    ('[{when: "a", reply: "b", chaos: {errorRate: 2}}]', "rule 0: chaos: chaos rates must be"),
    ('{rules: [], rulez: []}', "rulez: unknown key; did you mean rules?"),
    ('{rules: {}}', "rules: must be an array of rules, not an object"),
    ('{templates: {t: "$u"}, rules: []}', "templates.t: a template cannot refer to another template"),
    ('{templates: {"bad name": "x"}, rules: []}', "templates.bad name: a template name is"),
    ('{fallback: {txt: "x"}, rules: []}', "fallback.txt: unknown key; did you mean text?"),
    ('42', "the top level must be an array of rules or an object"),
    ('[{when: "a", reply: "b"}', "invalid JSON5: line 1 Unexpected end of input"),
    ('{a: 1, a: 2}', 'invalid JSON5: Duplicate key "a"'),
]


@pytest.mark.parametrize("text, expected", ERRORS, ids=[e[1][:40] for e in ERRORS])
def test_every_error_names_file_rule_and_field(tmp_path, text, expected):
    path = write(tmp_path, "rules.json5", text)
    with pytest.raises(RuleFileError) as caught:
        load_path(path)
    assert str(caught.value.problems[0]).startswith(f"{path}: {expected}"), str(caught.value)


def test_all_problems_of_a_file_are_reported_and_none_of_its_rules_load(tmp_path):
    path = write(tmp_path, "rules.json5", '[{when: "ok", reply: "fine"}, {when: {x: 1}, reply: "y", times: -1},'
                                          ' {when: "z", reply: "$nope"}]')
    loaded, problems = check_path(path)
    assert [(p.rule, p.field) for p in problems] == [(1, "when.x"), (1, "times"), (2, "reply")]
    assert loaded.rules == [] and loaded.files == []


def test_json_file_errors_and_duplicate_keys(tmp_path):
    path = write(tmp_path, "rules.json", '{"rules": [], "rules": []}')
    assert str(check_path(path)[1][0]) == f'{path}: invalid JSON: Duplicate key "rules" found in object'
    path = write(tmp_path, "c.json", '[{"when": "a", "reply": "b"} // no comments in JSON\n]')
    assert str(check_path(path)[1][0]).startswith(f"{path}: invalid JSON: Expecting")


def test_paths_that_are_not_rule_files(tmp_path):
    path = write(tmp_path, "rules.yaml", "- when: x")
    assert str(check_path(path)[1][0]) == \
        f'{path}: unsupported file extension ".yaml" (expected .json5, .json or .py)'
    missing = str(tmp_path / "nope.json5")
    assert str(check_path(missing)[1][0]) == f"{missing}: no such file or directory"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_path(str(empty)) == (load_path(str(empty)), [])


def test_json5_missing_gives_an_install_hint(tmp_path, monkeypatch):
    path = write(tmp_path, "rules.json5", "[]")
    monkeypatch.setitem(sys.modules, "json5", None)  # import json5 now raises ImportError
    assert str(check_path(path)[1][0]) == f"{path}: reading .json5 files needs the json5 package: pip install json5"
    assert load_path(write(tmp_path, "rules.json", '[{"when": "a", "reply": "b"}]')).rules


def test_server_load_refuses_a_broken_file_and_keeps_its_rules(tmp_path):
    path = write(tmp_path, "rules.json5", '[{when: "a", reply: "b"}, {when: "c", rely: "d"}]')
    with MockServer() as server:
        server.when("kept").reply("yes")
        with pytest.raises(RuleFileError, match=r"rule 1: rely: unknown key; did you mean reply\?"):
            server.load(path)
        assert [r.description for r in server.rules] == ['"kept"']
