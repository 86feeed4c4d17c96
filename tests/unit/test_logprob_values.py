"""The tokenisation shared by usage, truncation and logprobs, and the logprob values, as pure functions."""
from __future__ import annotations

import math
import random

import pytest

from llm_mock.logprobs import LogProb, compute, from_rule, groups, legacy, spelled, with_bytes, without_bytes
from llm_mock.replies import ReplyObject, normalise_reply
from llm_mock.tokens import estimate_tokens, split_tokens, truncate_to_tokens


def test_tokens_are_whole_characters_that_spell_the_text_and_match_the_estimate():
    rng = random.Random(3)
    alphabet = "ab é€😀中\n"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        tokens = split_tokens(text)
        assert "".join(tokens) == text and all(tokens) and len(tokens) == estimate_tokens(text)
        assert len(tokens) <= math.ceil(len(text.encode("utf-8")) / 4)
        for limit in range(len(tokens) + 2):
            assert truncate_to_tokens(text, limit) == "".join(tokens[:limit])


def test_ascii_is_four_characters_a_token():
    assert split_tokens("Hello, world!") == ["Hell", "o, w", "orld", "!"]
    assert estimate_tokens("Hello, world!") == 4 and estimate_tokens("") == 0
    assert split_tokens("a😀") == ["a😀"]  # the second window holds only the emoji's tail


def test_computed_values_are_deterministic_and_probabilities_stay_below_one():
    first, second = compute("The same text twice.", 5), compute("The same text twice.", 5)
    assert [(e.token, e.logprob, e.top) for e in first] == [(e.token, e.logprob, e.top) for e in second]
    for entry in first:
        assert len(entry.top) == 5 and entry.top[0] == (entry.token, entry.logprob)
        assert math.fsum(math.exp(lp) for _, lp in entry.top) <= 1.0
        assert entry.logprob > math.log(0.5) - 1e-9  # the chosen token is the most likely
    assert compute("", 3) == [] and compute(None, 3) == []
    assert all(len(e.top) == 20 for e in compute("x" * 40, 20))


def test_given_entries_are_used_while_they_spell_the_text():
    given = [LogProb("Hel", -0.5, [("Hel", -0.5), ("He", -2.0)]), LogProb("lo!", -0.1, [])]
    entries = compute("Hello!", 1, given)
    assert [(e.token, e.logprob, e.top) for e in entries] == [("Hel", -0.5, [("Hel", -0.5)]), ("lo!", -0.1, [])]
    cut = compute("Hell", 1, given)  # a truncated text keeps the entries that fit, computes the rest
    assert [e.token for e in cut] == ["Hel", "l"] and cut[0].logprob == -0.5


def test_groups_follow_the_chunk_size_in_whole_tokens():
    entries = compute("abcdefghijklmnopqrstuvwxyz", 0)
    assert [spelled(g) for g in groups(entries, 10)] == ["abcdefghijkl", "mnopqrstuvwx", "yz"]
    assert [spelled(g) for g in groups(entries, 0)] == ["abcdefghijklmnopqrstuvwxyz"]
    assert groups([], 4) == []


def test_wire_shapes():
    (entry,) = compute("ü", 2)
    (full,) = with_bytes([entry])
    assert full["bytes"] == [195, 188] and set(full) == {"token", "logprob", "bytes", "top_logprobs"}
    assert all(set(alt) == {"token", "logprob", "bytes"} for alt in full["top_logprobs"])
    (lean,) = without_bytes([entry])
    assert "bytes" not in lean and all(set(alt) == {"token", "logprob"} for alt in lean["top_logprobs"])
    shape = legacy(compute("abcdefgh", 1), offset=3)
    assert shape["tokens"] == ["abcd", "efgh"] and shape["text_offset"] == [3, 7]
    assert [list(top) for top in shape["top_logprobs"]] == [["abcd"], ["efgh"]]
    assert legacy([]) == {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}


def test_rule_logprobs_are_validated():
    entries = from_rule([{"token": "Hi", "logprob": -0.1, "top_logprobs": [{"token": "Yo", "logprob": -2}]}], "Hi")
    assert entries[0].top == [("Yo", -2.0)]
    for bad, text, message in (
            ([{"token": "Hi", "logprob": 0.5}], "Hi", "<= 0"),
            ([{"token": "Hi", "logprob": float("nan")}], "Hi", "<= 0"),
            ([{"token": "Hi", "logprob": -1}], "Hello", "spell"),
            ([{"token": "", "logprob": -1}], "", "non-empty"),
            ([{"token": "Hi", "logprob": -1, "extra": 1}], "Hi", "object"),
            ([{"token": "Hi", "logprob": -1, "top_logprobs": [{"token": "x"}]}], "Hi", "top_logprobs"),
            ("Hi", "Hi", "list")):
        with pytest.raises(ValueError, match=message):
            from_rule(bad, text)
    reply = normalise_reply({"text": "ok", "logprobs": [{"token": "ok", "logprob": -0.2}]})
    assert reply.logprobs[0].token == "ok"
    assert normalise_reply(ReplyObject(text="ok", logprobs=[{"token": "ok", "logprob": 0}])).logprobs[0].logprob == 0
