"""Rule files know the reply keys `embeddings` and `logprobs` and the formats `embeddings` and
`completions`: good files load, mistakes name the file, rule and field (what `validate` prints)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from llm_mock.loader import check_path, load_path


def write(tmp_path, rules) -> str:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"rules": rules}))
    return str(path)


def test_new_reply_keys_and_formats_load(tmp_path):
    path = write(tmp_path, [
        {"when": {"format": "embeddings", "message": "cat"}, "reply": {"embeddings": [[0.6, 0.8], [1, 0]]}},
        {"when": {"format": "completions"}, "reply": {"text": "Hi!", "logprobs": [
            {"token": "Hi", "logprob": -0.1, "topLogprobs": [{"token": "Yo", "logprob": -3}]},
            {"token": "!", "logprob": -0.01}]}},
    ])
    loaded = load_path(path)
    assert len(loaded.rules) == 2
    assert loaded.rules[0].resolver.embeddings == [[0.6, 0.8], [1, 0]]
    assert [e.token for e in loaded.rules[1].resolver.logprobs] == ["Hi", "!"]


@pytest.mark.parametrize("reply, field, reason", [
    ({"embeddings": "x"}, "reply.embeddings", "must be a vector"),
    ({"embeddings": [[1], ["a"]]}, "reply.embeddings", "vector 1"),
    ({"text": "Hi", "logprobs": [{"token": "Ho", "logprob": -1}]}, "reply.logprobs", "spell"),
    ({"text": "Hi", "logprobs": [{"token": "Hi", "logprob": 1}]}, "reply.logprobs", "<= 0"),
    ({"embedings": [1]}, "reply.embedings", "did you mean embeddings"),
])
def test_mistakes_name_the_field(tmp_path, reply, field, reason):
    _, problems = check_path(write(tmp_path, [{"when": "x", "reply": reply}]))
    (problem,) = problems
    assert problem.rule == 0 and problem.field == field and reason in problem.reason


def test_validate_command_accepts_and_rejects(tmp_path):
    good = write(tmp_path, [{"when": {"format": "embeddings"}, "reply": {"embeddings": [1, 0]}}])
    done = subprocess.run([sys.executable, "-m", "llm_mock", "validate", good], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"when": {"format": "embedding"}, "reply": {"embeddings": [1, 0]}}]))
    done = subprocess.run([sys.executable, "-m", "llm_mock", "validate", str(bad)], capture_output=True, text=True)
    assert done.returncode != 0 and "when.format" in done.stdout + done.stderr
    assert "embeddings" in done.stdout + done.stderr and "completions" in done.stdout + done.stderr
