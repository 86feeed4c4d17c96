"""Rule files without a server: JSON, JSON5 and Python files and folders load, and every mistake is
named with its file, rule and field. (The rules answering over HTTP: tests/http/test_rule_files_served.py.)"""
from __future__ import annotations

import os
import sys

import pytest

from llm_mock import ReplyObject
from llm_mock.loader import RuleFileError, check_path, load_path
from support.files import write


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
    ('[{when: {format: "mistral"}, reply: "b"}]',
     "rule 0: when.format: must be one of openai, responses, anthropic, embeddings, completions, gemini, "
     "ollama"),
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
